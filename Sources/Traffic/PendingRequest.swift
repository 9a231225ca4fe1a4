// What the stitcher keeps of a request between its first line and its emission: raw bytes of the lines it needs.

/// Parts of a request whose line was cut at 1 KiB.
struct TruncatedParts: OptionSet, Sendable {
    let rawValue: UInt8
    static let query = TruncatedParts(rawValue: 1 << 0)
    static let requestHeaders = TruncatedParts(rawValue: 1 << 1)
    static let requestBody = TruncatedParts(rawValue: 1 << 2)
    static let endpointResponseHeaders = TruncatedParts(rawValue: 1 << 3)
    static let responseHeaders = TruncatedParts(rawValue: 1 << 4)
    static let responseBody = TruncatedParts(rawValue: 1 << 5)
    static let resourcePath = TruncatedParts(rawValue: 1 << 6)

    static let names: [(TruncatedParts, String)] = [
        (.query, "query"), (.requestHeaders, "requestHeaders"), (.requestBody, "requestBody"),
        (.endpointResponseHeaders, "endpointResponseHeaders"), (.responseHeaders, "responseHeaders"),
        (.responseBody, "responseBody"), (.resourcePath, "resourcePath"),
    ]
}

/// Values are copied out of the event as raw bytes and decoded only when the transaction is built, so a request that
/// is still open costs a few small arrays, never the whole window.
struct PendingRequest: Sendable {
    var requestId: String
    var stream: Int32
    var firstTimestamp: Int64
    var lastTimestamp: Int64
    /// Set by `Method completed with status`; non-nil means complete (held for trailers).
    var endTimestamp: Int64?
    var status: Int?
    var generation: UInt32 = 0
    /// Seen a line that says what the request was; trailer- or housekeeping-only fragments are never emitted.
    var substantive = false
    var sawStart = false
    var extendedRequestId: [UInt8]?
    var method: [UInt8]?
    var resourcePath: [UInt8]?
    var query: [UInt8]?
    var requestHeaders: [UInt8]?
    var requestBody: [UInt8]?
    var endpointResponseHeaders: [UInt8]?
    var responseHeaders: [UInt8]?
    var responseBody: [UInt8]?
    var truncated: TruncatedParts = []
    var integrationLatencyMs: Int?
    var integrationRequestId: [UInt8]?
    var xrayTraceId: [UInt8]?
    var failure: [UInt8]?
    var truncatedLines = 0

    init(requestId: String, stream: Int32, timestamp: Int64) {
        self.requestId = requestId
        self.stream = stream
        self.firstTimestamp = timestamp
        self.lastTimestamp = timestamp
    }

    /// Records one fact. Returns true when this line completed the request.
    /// The first occurrence of a value wins: a repeated line (re-delivered event) must not change the transaction.
    mutating func apply(_ fact: ExecutionLogFact, truncated lineTruncated: Bool, timestamp: Int64) -> Bool {
        if timestamp < firstTimestamp { firstTimestamp = timestamp }
        if lineTruncated { truncatedLines += 1 }
        switch fact {
        case .integrationEndpointRequestId, .xrayTraceId:
            break
        default:
            if timestamp > lastTimestamp { lastTimestamp = timestamp }
        }
        switch fact {
        case .extendedRequestId(let v):
            if extendedRequestId == nil { extendedRequestId = Array(v) }
            substantive = true
            sawStart = true
        case .startExecution:
            substantive = true
            sawStart = true
        case .httpMethod(let m, let path):
            if method == nil {
                method = Array(m)
                resourcePath = Array(path)
                if lineTruncated { truncated.insert(.resourcePath) }
            }
            substantive = true
        case .queryString(let v):
            if query == nil { query = Array(v); if lineTruncated { truncated.insert(.query) } }
        case .requestHeaders(let v):
            if requestHeaders == nil { requestHeaders = Array(v); if lineTruncated { truncated.insert(.requestHeaders) } }
            substantive = true
        case .requestBody(let v):
            if requestBody == nil { requestBody = Array(v); if lineTruncated { truncated.insert(.requestBody) } }
        case .endpointResponseHeaders(let v):
            if endpointResponseHeaders == nil {
                endpointResponseHeaders = Array(v)
                if lineTruncated { truncated.insert(.endpointResponseHeaders) }
            }
        case .responseBody(let v):
            if responseBody == nil { responseBody = Array(v); if lineTruncated { truncated.insert(.responseBody) } }
        case .responseHeaders(let v):
            if responseHeaders == nil { responseHeaders = Array(v); if lineTruncated { truncated.insert(.responseHeaders) } }
        case .integrationResponse(let latency):
            if integrationLatencyMs == nil { integrationLatencyMs = latency }
        case .completed(let code):
            substantive = true
            if endTimestamp == nil {
                endTimestamp = timestamp
                status = code
                return true
            }
        case .integrationEndpointRequestId(let v):
            if integrationRequestId == nil { integrationRequestId = Array(v) }
        case .xrayTraceId(let v):
            if xrayTraceId == nil { xrayTraceId = Array(v) }
        case .failure(let v):
            // Kept short: it is a hint for the operator, not data.
            if failure == nil { failure = Array(v.prefix(512)) }
        case .other:
            break
        }
        return false
    }
}
