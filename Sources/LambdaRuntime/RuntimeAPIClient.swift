// The runtime's side of the Lambda Runtime API: next, response, error, init error, over one kept-alive connection.
import HTTP
import Core

/// One event from `/next`, or why there is none.
public enum NextOutcome: Sendable {
    case invocation(Invocation)
    /// The invocation lacks a required header; `requestID` is known when only the deadline is missing.
    case malformed(requestID: String?, reason: String)
    /// The Runtime API asked us to stop (500) or refused the call (403): the process must exit.
    case exit(status: Int, reason: String)
    /// apitap's own local Runtime API has served its one event (`LocalRuntimeAPI`): a normal end, not a failure.
    case localRunOver
}

public struct Invocation: Sendable {
    public let requestID: LambdaRequestID
    public let deadline: Deadline
    public let invokedFunctionARN: String?
    public let traceID: String?
    public let clientContext: String?
    public let cognitoIdentity: String?
    public let tenantID: String?
    public let event: [UInt8]
}

/// How the Runtime API answered a post.
public enum PostOutcome: Sendable, Equatable {
    case accepted
    case payloadTooLarge
    case rejected(status: Int, body: String)
    case exit(status: Int)
}

public final class RuntimeAPIClient {
    private let connection: BlockingConnection
    private let base: String

    /// `endpoint` is `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme.
    public init(endpoint: String) throws(HTTPError) {
        connection = try BlockingConnection(loopback: true)
        base = "http://" + endpoint
    }

    public func next() throws(HTTPError) -> NextOutcome {
        // No total timeout: the sandbox may be frozen between events for any length of time.
        let response = try connection.perform(HTTPRequest(method: .GET, url: base + RuntimeAPIPaths.next,
                                                          timeout: nil, connectTimeout: .seconds(1)))
        guard response.status == 200 else {
            if response.status == 500, response.headers.first(where: { $0.name.lowercased() == LocalRuntimeAPI.overHeader })?.value == "over" {
                return .localRunOver
            }
            return .exit(status: response.status, reason: "GET /next answered \(response.status): \(String(response.bodyText.prefix(200)))")
        }
        // A header that is not valid HTTP (a NUL or another control byte) means the answer cannot be trusted.
        if let bad = response.headers.first(where: { h in (h.name + h.value).utf8.contains { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F } }) {
            return .malformed(requestID: nil, reason: "GET /next answered with a header that is not valid HTTP (\(bad.name.prefix(40)))")
        }
        guard let id = response.header(AmazonHeaders.requestID), !id.isEmpty else {
            return .malformed(requestID: nil, reason: "missing \(AmazonHeaders.requestID) header")
        }
        guard LambdaRequestID.isValid(id) else {
            return .malformed(requestID: nil, reason: "invalid \(AmazonHeaders.requestID) header (\(id.utf8.count) bytes, starting \"\(id.prefix(40).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : "?" }.joined())\")")
        }
        guard let raw = response.header(AmazonHeaders.deadline), let ms = Int64(raw) else {
            return .malformed(requestID: id, reason: "missing or invalid \(AmazonHeaders.deadline) header")
        }
        return .invocation(Invocation(
            requestID: LambdaRequestID(id),
            deadline: Deadline(epoch: EpochMillis(ms)),
            invokedFunctionARN: response.header(AmazonHeaders.functionARN),
            traceID: response.header(AmazonHeaders.traceID),
            clientContext: response.header(AmazonHeaders.clientContext),
            cognitoIdentity: response.header(AmazonHeaders.cognitoIdentity),
            tenantID: response.header(AmazonHeaders.tenantID),
            event: response.body))
    }

    // What a handler returns or reports leaves the process here: every registered credential is masked on the way.
    public func respond(_ id: LambdaRequestID, body: [UInt8]) throws(HTTPError) -> PostOutcome {
        try post(base + RuntimeAPIPaths.response(id.value), headers: [HTTPHeader("Content-Type", "application/json")],
                 body: SecretRedactor.shared.redact(body))
    }

    public func fail(_ id: LambdaRequestID, type: String, message: String) throws(HTTPError) -> PostOutcome {
        try post(base + RuntimeAPIPaths.error(id.value), headers: errorHeaders(type), body: errorBody(type, message))
    }

    public func initError(type: String, message: String) throws(HTTPError) -> PostOutcome {
        try post(base + RuntimeAPIPaths.initError, headers: errorHeaders(type), body: errorBody(type, message))
    }

    private func errorHeaders(_ type: String) -> [HTTPHeader] {
        [HTTPHeader("Content-Type", AmazonHeaders.errorContentType), HTTPHeader(AmazonHeaders.functionErrorType, type)]
    }

    private func errorBody(_ type: String, _ message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("errorMessage", SecretRedactor.shared.redact(message))
        w.field("errorType", type)
        w.key("stackTrace"); w.beginArray(); w.endArray()
        w.endObject()
        return w.bytes
    }

    private func post(_ url: String, headers: [HTTPHeader], body: [UInt8]) throws(HTTPError) -> PostOutcome {
        let response = try connection.perform(HTTPRequest(method: .POST, url: url, headers: headers, body: body,
                                                          timeout: .seconds(30), connectTimeout: .seconds(1)))
        switch response.status {
        case 200..<300: return .accepted
        case 413: return .payloadTooLarge
        case 500...: return .exit(status: response.status)
        default: return .rejected(status: response.status, body: String(response.bodyText.prefix(200)))
        }
    }
}
