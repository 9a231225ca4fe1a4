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

/// Where a request's status came from, weakest first: a surer source that arrives while the request is held replaces
/// a weaker one, never the other way round.
enum StatusSource: UInt8, Sendable, Comparable {
    case none = 0
    /// Inferred from a line that ends the request at the gateway (`Unauthorized request` is a 401 by default).
    case inferred = 1
    /// `Gateway response type: ... with status code: N`.
    case gatewayResponse = 2
    /// `Method completed with status: N`.
    case methodCompleted = 3

    static func < (a: StatusSource, b: StatusSource) -> Bool { a.rawValue < b.rawValue }
}

/// Where a method or path hint came from, weakest first. Hints are used only when no `HTTP Method` line was seen.
enum HintSource: UInt8, Sendable, Comparable {
    case none = 0
    /// The usage-plan check (`API Key ... because method 'GET /pets/{petId}'`) or a throttling line: they name the
    /// method resource, so the path is a template (or a resource id).
    case methodResource = 1
    /// A Lambda authorizer's event (`methodArn`, REQUEST events' `path`): the request's own method and path.
    case authorizerEvent = 2

    static func < (a: HintSource, b: HintSource) -> Bool { a.rawValue < b.rawValue }
}

/// Values are copied out of the event as raw bytes and decoded only when the transaction is built, so a request that
/// is still open costs a few small arrays, never the whole window.
struct PendingRequest: Sendable {
    var requestId: String
    var stream: Int32
    var firstTimestamp: Int64
    var lastTimestamp: Int64
    /// Set by `Method completed with status` or a line that ends the request at the gateway; non-nil means complete
    /// (held for trailers).
    var endTimestamp: Int64?
    var status: Int?
    var statusSource: StatusSource = .none
    var generation: UInt32 = 0
    /// Seen a line that says what the request was; trailer- or housekeeping-only fragments are never emitted.
    var substantive = false
    var sawStart = false
    /// Seen `Starting execution`: a second one means a new request reused the id.
    var sawStartExecution = false
    var extendedRequestId: [UInt8]?
    var method: [UInt8]?
    var resourcePath: [UInt8]?
    /// The method and path other lines named (see `HintSource`); used only when no `HTTP Method` line was seen.
    var hintMethod: [UInt8]?
    var hintMethodSource: HintSource = .none
    var hintPath: [UInt8]?
    var hintPathSource: HintSource = .none
    /// The resource a throttling line named: an id (`k0w8mc`) or a path.
    var resource: [UInt8]?
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
            sawStartExecution = true
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
            return complete(status: code, source: .methodCompleted, at: timestamp)
        case .terminalFailure(let v, let code):
            substantive = true
            keepFailure(v)
            return complete(status: code, source: .inferred, at: timestamp)
        case .gatewayResponse(let v, let code):
            substantive = true
            keepFailure(v)
            return complete(status: code, source: .gatewayResponse, at: timestamp)
        case .throttled(let v, let m, let r):
            substantive = true
            keepFailure(v)
            if !m.isEmpty { hint(method: Array(m), path: nil, from: .methodResource) }
            if resource == nil, !r.isEmpty { resource = Array(r) }
            return complete(status: 429, source: .inferred, at: timestamp)
        case .usagePlanMethod(let v, let m, let path, let denied):
            if method == nil {
                hint(method: m.isEmpty ? nil : Array(m), path: path.isEmpty ? nil : Array(path), from: .methodResource)
            }
            if denied {
                substantive = true
                keepFailure(v)
                return complete(status: 403, source: .inferred, at: timestamp)
            }
        case .endpointRequestBody(let v):
            // Scanned only while the request has no `HTTP Method` and no authorizer event yet: a request that reached
            // its integration logs `HTTP Method` first, and the integration's body must never stand in for it.
            if method == nil, hintMethodSource < .authorizerEvent, hintPathSource < .authorizerEvent,
               let found = AuthorizerEvent.methodAndPath(v) {
                hint(method: found.method, path: found.path, from: .authorizerEvent)
            }
        case .integrationEndpointRequestId(let v):
            if integrationRequestId == nil { integrationRequestId = Array(v) }
        case .xrayTraceId(let v):
            if xrayTraceId == nil { xrayTraceId = Array(v) }
        case .failure(let v):
            keepFailure(v)
        case .other:
            break
        }
        return false
    }

    /// Keeps a hint from `source` unless one as sure is already known (the first of equal sureness wins).
    mutating func hint(method m: [UInt8]?, path: [UInt8]?, from source: HintSource) {
        if let m, source > hintMethodSource { hintMethod = m; hintMethodSource = source }
        if let path, source > hintPathSource { hintPath = path; hintPathSource = source }
    }

    /// The first failure line wins: it is the cause, later ones (`Authorizer error`, gateway response) are consequences.
    mutating func keepFailure(_ v: UnsafeRawBufferPointer) {
        // Kept short: it is a hint for the operator, not data.
        if failure == nil { failure = Array(v.prefix(512)) }
    }

    /// Records a status from `source`; true when this completed a request that was open (it must then be held).
    mutating func complete(status code: Int, source: StatusSource, at timestamp: Int64) -> Bool {
        guard source > statusSource else { return false }
        status = code
        statusSource = source
        let wasOpen = endTimestamp == nil
        endTimestamp = timestamp
        return wasOpen
    }

    /// Whether an opening line belongs to a new request that reused this completed request's id. Lines of one request
    /// come in any order, so an opener that this request has not seen yet (an `Extended Request Id` logged after the
    /// `Unauthorized request` line, same millisecond) is its own, not a new request's.
    func isReopened(by fact: ExecutionLogFact) -> Bool {
        guard endTimestamp != nil else { return false }
        switch fact {
        case .extendedRequestId(let v):
            guard let mine = extendedRequestId else { return false }
            return !mine.elementsEqual(v)
        case .startExecution:
            return sawStartExecution
        default:
            return false
        }
    }
}
