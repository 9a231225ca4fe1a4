// What a handler knows about the invocation it serves: ids, deadline, identity, logger.
import Pipeline

public struct LambdaRequestID: Sendable, Hashable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

public struct InvocationContext: Sendable {
    public let requestID: LambdaRequestID
    public let deadline: Deadline
    public let invokedFunctionARN: String?
    public let traceID: String?
    /// Raw JSON, as the Runtime API passed it (mobile SDK client context).
    public let clientContext: String?
    /// Raw JSON (Cognito identity of mobile callers).
    public let cognitoIdentity: String?
    public let tenantID: String?
    public let logger: Logger
    /// Configuration and names from the process environment, read once at init.
    public let environment: [String: String]

    public init(requestID: LambdaRequestID, deadline: Deadline, invokedFunctionARN: String? = nil, traceID: String? = nil,
                clientContext: String? = nil, cognitoIdentity: String? = nil, tenantID: String? = nil,
                logger: Logger, environment: [String: String] = [:]) {
        self.requestID = requestID
        self.deadline = deadline
        self.invokedFunctionARN = invokedFunctionARN
        self.traceID = traceID
        self.clientContext = clientContext
        self.cognitoIdentity = cognitoIdentity
        self.tenantID = tenantID
        self.logger = logger
        self.environment = environment
    }

    /// Time left before Lambda stops the invocation.
    public func remainingTime(now: EpochMillis = .now()) -> Duration { deadline.remaining(now: now) }
}
