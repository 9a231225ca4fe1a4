// The Transaction model: one whole HTTP exchange rebuilt from API Gateway logs, as apitap sends it on.
import AWS
import Core
import Pipeline

/// A header or query parameter, kept in log order (names repeat and case is preserved).
public struct NameValuePair: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// Which kind of log a transaction was rebuilt from.
public enum TransactionSourceType: String, Sendable {
    case restExecutionLog = "aws-apigateway-rest"
    case httpAccessLog = "aws-apigateway-http"
    /// MuleSoft Flex Gateway Message Logging lines.
    case flexGateway = "mulesoft-flex-gateway"
}

public struct TransactionSource: Sendable, Equatable {
    public var type: TransactionSourceType
    public var region: AWSRegion
    public var accountId: AWSAccountID?
    public var apiId: String?
    public var stage: String?
    public var logGroup: LogGroupName
    public var logStream: LogStreamName

    public init(type: TransactionSourceType, region: AWSRegion, accountId: AWSAccountID?, apiId: String?, stage: String?,
                logGroup: LogGroupName, logStream: LogStreamName) {
        self.type = type; self.region = region; self.accountId = accountId; self.apiId = apiId; self.stage = stage
        self.logGroup = logGroup; self.logStream = logStream
    }
}

public struct TransactionRequest: Sendable, Equatable {
    /// nil when the `HTTP Method` line was never seen (the request started before the first window read).
    public var method: String?
    public var scheme: String = "https"
    public var host: String?
    /// The resource path as logged (relative to the stage), without the query.
    public var path: String?
    /// When `host` is a custom domain: its base-path mapping to this stage ("" for the domain's root), which the
    /// client's URL had in front of `path`. nil on the `execute-api` host (whose URL has `/{stage}` there instead).
    public var basePath: String?
    /// Every custom domain mapped to this stage as `domain/basePath`, when there is at least one (native format only).
    public var customDomains: [String] = []
    /// API Gateway's id of the resource (`k0w8mc`), when only that was logged (throttling lines name the resource by id).
    public var resourceId: String?
    public var query: [NameValuePair] = []
    /// The query exactly as the client sent it (still percent-encoded), when the log has it: the Edge target is then
    /// built from it rather than from `query` (which cannot tell `?a` from `?a=`).
    public var rawQuery: String?
    /// nil when the log does not say (REST execution logs never do).
    public var httpVersion: String?
    public var clientIp: String?
    /// The address that opened the connection to API Gateway, when the log shows it: REST, the last hop of
    /// `X-Forwarded-For` (appended by API Gateway's own front end, so not client-controlled); HTTP APIs,
    /// `$context.identity.sourceIp`.
    public var connectionIp: String?
    /// The address that terminated the connection (the gateway's own), when the log shows it (Flex Gateway).
    public var serverIp: String?
    public var headers: [NameValuePair] = []
    /// The header map line was cut by CloudWatch's 1 KiB limit: later headers are missing and the last value may be partial.
    public var headersTruncated = false
    /// nil when no body line was logged; a truncation marker when `bodyTruncated`.
    public var body: MessageBody?
    public var bodyTruncated = false

    public init() {}

    /// The first header with this name, compared case-insensitively (HTTP/2 clients log names in lower case).
    public func header(_ name: String) -> String? { headers.first { asciiCaseInsensitiveEquals($0.name, name) }?.value }
}

public struct TransactionResponse: Sendable, Equatable {
    /// nil only for an incomplete transaction that never logged its final status.
    public var status: Int?
    public var headers: [NameValuePair] = []
    public var headersTruncated = false
    public var body: MessageBody?
    public var bodyTruncated = false
    /// The response length the access log reported (HTTP APIs), when known.
    public var contentLength: Int?

    public init() {}

    public func header(_ name: String) -> String? { headers.first { asciiCaseInsensitiveEquals($0.name, name) }?.value }
}

public struct Transaction: Sendable, Equatable {
    /// Stable across re-sends: the extended request id, else a hash of log group, stream and request id.
    public var id: String
    public var source: TransactionSource
    public var requestId: RequestID
    public var extendedRequestId: String?
    public var startTime: EpochMillis
    public var endTime: EpochMillis
    public var request: TransactionRequest
    public var response: TransactionResponse
    /// The end marker was never seen: emitted because it grew too old or input ended.
    public var incomplete: Bool
    public var integrationLatencyMs: Int?
    public var responseLatencyMs: Int?
    /// The integration's own request id (`AWS Integration Endpoint RequestId`), e.g. the Lambda invocation id.
    public var integrationRequestId: String?
    public var xrayTraceId: String?
    /// The first failure line API Gateway logged (throttling, integration error, timeout, authorizer denial).
    public var error: String?
    /// How many of the request's log lines carried the ` [TRUNCATED]` suffix.
    public var truncatedLines: Int

    public init(id: String, source: TransactionSource, requestId: RequestID, extendedRequestId: String? = nil,
                startTime: EpochMillis, endTime: EpochMillis, request: TransactionRequest, response: TransactionResponse,
                incomplete: Bool = false, integrationLatencyMs: Int? = nil, responseLatencyMs: Int? = nil,
                integrationRequestId: String? = nil, xrayTraceId: String? = nil, error: String? = nil, truncatedLines: Int = 0) {
        self.id = id; self.source = source; self.requestId = requestId; self.extendedRequestId = extendedRequestId
        self.startTime = startTime; self.endTime = endTime; self.request = request; self.response = response
        self.incomplete = incomplete; self.integrationLatencyMs = integrationLatencyMs; self.responseLatencyMs = responseLatencyMs
        self.integrationRequestId = integrationRequestId; self.xrayTraceId = xrayTraceId; self.error = error
        self.truncatedLines = truncatedLines
    }

    /// The id used when no extended request id is known: FNV-1a 64 of log group, stream and request id, in hex.
    public static func fallbackId(logGroup: LogGroupName, logStream: LogStreamName, requestId: RequestID) -> String {
        FNV1a.hex([logGroup.rawValue, logStream.rawValue, requestId.rawValue])
    }
}

func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    for (x, y) in zip(a.utf8, b.utf8) where asciiLower(x) != asciiLower(y) { return false }
    return true
}

@inline(__always) func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
}
