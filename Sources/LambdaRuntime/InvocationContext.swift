// What a handler knows about the invocation it serves: ids, deadline, identity, logger.
import Core

public struct LambdaRequestID: Sendable, Hashable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }

    /// What the service sends (UUIDs) and a little more: ASCII letters, digits, `-`, `_` and `.`, at most 128, not only
    /// dots. The id goes into the URL of the answer, so anything else (`/`, `?`, `%`, `..`) could steer the post
    /// elsewhere: such an id is refused, never used.
    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= 128 else { return false }
        var onlyDots = true
        for b in bytes {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"):
                onlyDots = false
            case UInt8(ascii: "."):
                continue
            default:
                return false
            }
        }
        return !onlyDots
    }
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
