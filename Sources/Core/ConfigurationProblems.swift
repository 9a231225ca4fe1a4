// The one error for bad configuration: every problem found, at once, each naming its setting.

public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible, Equatable {
    public let problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public init(_ problem: String) { self.problems = [problem] }
    public var description: String { problems.joined(separator: "; ") }
}
