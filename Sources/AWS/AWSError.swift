// A failed AWS call, typed: which service and operation, which status and error code, and whether to retry.
import Core
import HTTP

/// What went wrong with an AWS call, for the operator and for retry decisions. `message` is at most the first
/// 200 bytes of what AWS said; nothing from our own request (headers, body, signature) is ever included.
public struct AWSError: Error, Sendable, CustomStringConvertible {
    public let service: String
    public let operation: String
    /// nil when no HTTP answer arrived (connection refused, timeout, TLS).
    public let status: Int?
    /// AWS's error code (`ThrottlingException`, `NoSuchKey`, ...), or `Transport.<kind>` without an answer.
    public let code: String
    public let message: String
    public let isRetryable: Bool
    /// `x-amzn-RequestId` / `x-amz-request-id`, for a support case.
    public let requestID: String?

    public init(service: String, operation: String, status: Int?, code: String, message: String,
                isRetryable: Bool? = nil, requestID: String? = nil) {
        self.service = service
        self.operation = operation
        self.status = status
        self.code = code
        self.message = String(decoding: message.utf8.prefix(200), as: UTF8.self)
        self.isRetryable = isRetryable ?? AWSError.isRetryable(code: code, status: status)
        self.requestID = requestID
    }

    public var description: String {
        var text = "\(service) \(operation) failed"
        if let status { text += ": HTTP \(status)" }
        text += " \(code)"
        if !message.isEmpty { text += ": \(message)" }
        if let requestID { text += " (request id \(requestID))" }
        return text
    }

    /// Error codes that mean "slow down or try again" whatever the status (CloudWatch throttles with a 400).
    public static let retryableCodes: Set<String> = [
        "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
        "RequestThrottled", "RequestThrottledException", "SlowDown", "RequestTimeout", "RequestTimeoutException",
        "ServiceUnavailable", "ServiceUnavailableException", "InternalError", "InternalFailure",
        "InternalServiceError", "InternalServerError", "PriorRequestNotComplete", "EC2ThrottledException",
        "ProvisionedThroughputExceededException", "BandwidthLimitExceeded", "IDPCommunicationError",
    ]

    /// The named resource does not exist (CloudWatch Logs answers `ResourceNotFoundException` with HTTP 400, API Gateway
    /// `NotFoundException` with 404).
    public var isResourceNotFound: Bool {
        code == "ResourceNotFoundException" || code == "NotFoundException" || code == "NotFound"
    }

    public static func isRetryable(code: String, status: Int?) -> Bool {
        if retryableCodes.contains(code) { return true }
        guard let status else { return false }
        return status == 408 || status == 429 || status >= 500
    }

    /// Reads the error out of an AWS answer, whatever its protocol: JSON (`__type`, `code`, `message`), the
    /// `x-amzn-ErrorType` header (REST-JSON), or XML (`<Error><Code>`; moto also answers JSON-protocol calls so).
    public static func from(response: HTTPResponse, service: String, operation: String) -> AWSError {
        var code = ""
        var message = ""
        if let header = response.header("x-amzn-ErrorType") { code = cleanCode(header) }
        let body = response.body
        let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 })
        if first == UInt8(ascii: "{") {
            if let fields = try? JSONScanner.scan(body, { (scanner: inout JSONScanner) throws(JSONParseError) in
                try scanner.topLevelStrings(["__type", "code", "Code", "message", "Message", "errorMessage"])
            }) {
                if code.isEmpty { code = cleanCode(fields["__type"] ?? fields["code"] ?? fields["Code"] ?? "") }
                message = fields["message"] ?? fields["Message"] ?? fields["errorMessage"] ?? ""
            }
        } else if first == UInt8(ascii: "<") {
            if code.isEmpty { code = XML.firstElementText("Code", in: body) ?? "" }
            message = XML.firstElementText("Message", in: body) ?? ""
        }
        if code.isEmpty { code = defaultCode(status: response.status) }
        if message.isEmpty, first != UInt8(ascii: "{"), first != UInt8(ascii: "<") {
            message = String(decoding: body.prefix(200), as: UTF8.self)
        }
        let requestID = response.header("x-amzn-RequestId") ?? response.header("x-amz-request-id")
        return AWSError(service: service, operation: operation, status: response.status, code: code,
                        message: message.map { $0.isNewline ? " " : $0 }.reduce(into: "") { $0.append($1) },
                        requestID: requestID)
    }

    /// No answer at all (or one that HTTPClient gave up on after its own retries).
    public static func from(httpError error: HTTPError, service: String, operation: String) -> AWSError {
        if error.kind == .status, let response = error.response {
            return from(response: response, service: service, operation: operation)
        }
        return AWSError(service: service, operation: operation, status: error.status,
                        code: "Transport.\(error.kind.rawValue)", message: error.description,
                        isRetryable: error.isRetryable)
    }

    /// `com.amazonaws.logs#ResourceNotFoundException` and `NotFoundException:http://internal...` both mean the part
    /// after `#` and before `:`.
    static func cleanCode(_ raw: String) -> String {
        var code = Substring(raw)
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        return trimmed(String(code))
    }

    static func defaultCode(status: Int) -> String {
        switch status {
        case 400: return "BadRequest"
        case 403: return "AccessDenied"
        case 404: return "NotFound"
        case 412: return "PreconditionFailed"
        case 429: return "TooManyRequestsException"
        case 500...599: return "ServiceUnavailable"
        default: return "HTTP\(status)"
        }
    }
}
