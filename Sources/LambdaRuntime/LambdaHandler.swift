// Handlers, the registry that `_HANDLER` picks from, and the errors a handler or its init can report.
import Core

/// One named job. `handle` gets the event bytes and returns the response bytes (JSON).
public protocol LambdaHandler: Sendable {
    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8]
}

/// What init knows: the environment (parsed once into typed configuration by the factory) and the logger.
public struct InitContext: Sendable {
    public let environment: [String: String]
    public let logger: Logger
    public let handlerNames: [String]
    public init(environment: [String: String], logger: Logger, handlerNames: [String]) {
        self.environment = environment
        self.logger = logger
        self.handlerNames = handlerNames
    }
}

public struct HandlerRegistry: Sendable {
    public typealias Factory = @Sendable (InitContext) async throws -> any LambdaHandler
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let factory: Factory
    }
    public private(set) var entries: [Entry] = []

    public init() {}

    public mutating func register(_ name: String, summary: String, factory: @escaping Factory) {
        entries.removeAll { $0.name == name }
        entries.append(Entry(name: name, summary: summary, factory: factory))
    }

    public subscript(name: String) -> Entry? { entries.first { $0.name == name } }
    public var names: [String] { entries.map(\.name) }
}

/// An error the runtime reports with its own type. `errorType` must read `Category.Reason`.
public protocol ReportableError: Error {
    var errorType: String { get }
    var errorMessage: String { get }
}

/// A handler failure: reported as `Function.<reason>`.
public struct FunctionError: ReportableError, CustomStringConvertible {
    public let reason: String
    public let message: String
    public init(_ reason: String, _ message: String) {
        self.reason = reason
        self.message = message
    }
    public var errorType: String { "Function." + ErrorType.sanitise(reason) }
    public var errorMessage: String { message }
    public var description: String { "\(errorType): \(message)" }
}

/// Bad configuration found at init: every problem at once. Reported as `Runtime.ConfigInvalid`.
public struct ConfigurationError: ReportableError, CustomStringConvertible {
    public let problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public init(_ problems: ConfigurationProblems) { self.problems = problems.problems }
    public var errorType: String { "Runtime.ConfigInvalid" }
    public var errorMessage: String { problems.joined(separator: "; ") }
    public var description: String { "invalid configuration: " + errorMessage }
}

public enum ErrorType {
    /// AWS rewrites types outside `(Runtime|Function)\.[A-Z][a-zA-Z]+` to `Runtime.Unknown`: keep ours inside it.
    public static func sanitise(_ reason: String) -> String {
        var s = ""
        for scalar in reason.unicodeScalars where (65...90).contains(scalar.value) || (97...122).contains(scalar.value) {
            s.unicodeScalars.append(s.isEmpty && scalar.value >= 97 ? Unicode.Scalar(scalar.value - 32)! : scalar)
        }
        if s.isEmpty { return "Unknown" }
        return s.count >= 2 ? s : s + "Error"
    }

    /// The type and message the runtime posts for any error a handler throws.
    public static func describe(_ error: any Error) -> (type: String, message: String) {
        if let r = error as? any ReportableError { return (r.errorType, r.errorMessage) }
        return ("Function.UnhandledError", String(describing: error))
    }
}

/// Bad settings found by a module's setup are reported like `ConfigurationError`: `Runtime.ConfigInvalid`.
extension ConfigurationProblems: ReportableError {
    public var errorType: String { "Runtime.ConfigInvalid" }
    public var errorMessage: String { problems.joined(separator: "; ") }
}
