// Typed names for the values the traffic pipeline passes across module boundaries.

/// A CloudWatch Logs log group, e.g. `API-Gateway-Execution-Logs_a1b2c3/prod`.
public struct LogGroupName: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    static let executionLogPrefix = "API-Gateway-Execution-Logs_"

    /// The REST API id and stage named by an execution-log group, or nil if the name is not of that form.
    public var restExecutionLogStage: (apiId: String, stage: String)? {
        guard rawValue.hasPrefix(Self.executionLogPrefix) else { return nil }
        let rest = rawValue.dropFirst(Self.executionLogPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let apiId = String(rest[..<slash])
        let stage = String(rest[rest.index(after: slash)...])
        guard !apiId.isEmpty, !stage.isEmpty else { return nil }
        return (apiId, stage)
    }
}

/// A CloudWatch Logs log stream inside a log group.
public struct LogStreamName: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// API Gateway's `requestId` (`$context.requestId`); clients can choose it, so it is unique only per log stream.
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// An AWS region name such as `eu-west-2`.


