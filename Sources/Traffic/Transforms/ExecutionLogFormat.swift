// The parsing strategy for REST execution-log records: a protocol, and the classic text format `(<requestId>) <text>`.

/// What one execution-log line says about its request. Byte views are valid only during the callback.
public enum ExecutionLogFact {
    case extendedRequestId(UnsafeRawBufferPointer)
    case startExecution
    case httpMethod(method: UnsafeRawBufferPointer, resourcePath: UnsafeRawBufferPointer)
    case queryString(UnsafeRawBufferPointer)
    case requestHeaders(UnsafeRawBufferPointer)
    case requestBody(UnsafeRawBufferPointer)
    case endpointResponseHeaders(UnsafeRawBufferPointer)
    case responseBody(UnsafeRawBufferPointer)
    case responseHeaders(UnsafeRawBufferPointer)
    case integrationResponse(latencyMs: Int?)
    /// `Method completed with status: N`: the only reliable end marker.
    case completed(status: Int)
    /// Lines that may follow the end marker and still belong to the request.
    case integrationEndpointRequestId(UnsafeRawBufferPointer)
    case xrayTraceId(UnsafeRawBufferPointer)
    /// Integration failures and timeouts: kept as the transaction's `error`; `Method completed with status` follows.
    case failure(UnsafeRawBufferPointer)
    /// API Gateway answered the client itself (authorizer denial or error, resource policy, API key, request
    /// validation) and real logs often end the request here, without `Method completed with status`. `status` is what
    /// the client got by default gateway response; a logged status that arrives while the request is held wins.
    case terminalFailure(UnsafeRawBufferPointer, status: Int)
    /// `Key throttle limit exceeded for RestApi a, Stage s, Resource r, HttpMethod M. ...`: a terminal 429 that names
    /// the method and the resource (an id such as `k0w8mc`, or a path) even when no `HTTP Method` line was logged.
    case throttled(UnsafeRawBufferPointer, method: UnsafeRawBufferPointer, resource: UnsafeRawBufferPointer)
    /// `Gateway response type: TYPE with status code: N`: the gateway's own answer, with the status it logged.
    case gatewayResponse(UnsafeRawBufferPointer, status: Int)
    /// `API Key ... authorized because method 'GET /pets/{petId}' ...` (usage-plan check, logged before `HTTP Method`):
    /// the method resource's method (`ANY` for an ANY method, then empty here) and resource path (a template). When
    /// `denied` (`... not authorized because ...`) the gateway answers 403 itself and the request ends here.
    case usagePlanMethod(UnsafeRawBufferPointer, method: UnsafeRawBufferPointer, resourcePath: UnsafeRawBufferPointer, denied: Bool)
    /// `Endpoint request body after transformations: ...`: the integration's request, or a Lambda authorizer's event
    /// (which names the request's method and path). Read only when the request has no `HTTP Method` yet.
    case endpointRequestBody(UnsafeRawBufferPointer)
    /// A line of the request we do not need (usage plans, endpoint request, ...).
    case other

    /// Trailer facts alone never make a transaction (they may arrive after the transaction was emitted).
    var isTrailer: Bool {
        switch self {
        case .integrationEndpointRequestId, .xrayTraceId: return true
        default: return false
        }
    }

    /// Facts that open a request: seeing one for a finished request id means a new request reused that id.
    var opensRequest: Bool {
        switch self {
        case .extendedRequestId, .startExecution: return true
        default: return false
        }
    }
}

/// One fact together with the request it belongs to.
public struct ExecutionLogLine {
    public var requestId: UnsafeRawBufferPointer
    public var fact: ExecutionLogFact
    /// CloudWatch cut the line at 1 KiB and appended ` [TRUNCATED]` (already removed from the views).
    public var truncated: Bool

    public init(requestId: UnsafeRawBufferPointer, fact: ExecutionLogFact, truncated: Bool) {
        self.requestId = requestId; self.fact = fact; self.truncated = truncated
    }
}

/// A strategy that turns one CloudWatch event message into facts. The text format below is the classic one; the
/// structured JSON execution logs vended since 2026 have no published schema yet and will be another conformer.
public protocol ExecutionLogFormat: Sendable {
    /// Calls `line` for each fact in `message` (a text event carries exactly one) and returns true, or returns false
    /// without calling it when the message is not in this format.
    func parse(_ message: UnsafeRawBufferPointer, _ line: (ExecutionLogLine) -> Void) -> Bool
}

/// The classic text execution log: every event is `(<requestId>) <text>`, see docs/transaction-format.md.
public struct TextExecutionLogFormat: ExecutionLogFormat {
    public init() {}

    /// Request ids are UUIDs (36 bytes); anything far longer is not a request id prefix.
    static let maxRequestIdLength = 128
    static let truncatedSuffix = Array(" [TRUNCATED]".utf8)

    public func parse(_ message: UnsafeRawBufferPointer, _ line: (ExecutionLogLine) -> Void) -> Bool {
        let count = message.count
        guard count > 3, message[0] == UInt8(ascii: "(") else { return false }
        var close = 1
        let limit = min(count - 1, Self.maxRequestIdLength + 1)
        while close < limit, message[close] != UInt8(ascii: ")") {
            let b = message[close]
            if b == 0x20 || b == 0x0A || b == UInt8(ascii: "(") { return false }
            close += 1
        }
        guard close > 1, close < count - 1, message[close] == UInt8(ascii: ")"), message[close + 1] == 0x20 else { return false }
        let requestId = UnsafeRawBufferPointer(rebasing: message[1..<close])

        var end = count
        // A trailing newline is how some exporters write events; it is not part of the text.
        if end > close + 2, message[end - 1] == 0x0A { end -= 1 }
        var truncated = false
        let suffix = Self.truncatedSuffix
        if end - (close + 2) >= suffix.count {
            var matches = true
            for k in 0..<suffix.count where message[end - suffix.count + k] != suffix[k] { matches = false; break }
            if matches { truncated = true; end -= suffix.count }
        }
        let text = UnsafeRawBufferPointer(rebasing: message[(close + 2)..<end])
        line(ExecutionLogLine(requestId: requestId, fact: Self.classify(text), truncated: truncated))
        return true
    }

    @inline(__always) static func after(_ text: UnsafeRawBufferPointer, _ prefix: StaticString) -> UnsafeRawBufferPointer? {
        let n = prefix.utf8CodeUnitCount
        guard text.count >= n else { return nil }
        let p = prefix.utf8Start
        for i in 0..<n where text[i] != p[i] { return nil }
        return UnsafeRawBufferPointer(rebasing: text[n...])
    }

    static func classify(_ text: UnsafeRawBufferPointer) -> ExecutionLogFact {
        guard let first = text.first else { return .other }
        switch first {
        case UInt8(ascii: "M"):
            if let v = after(text, "Method request headers: ") { return .requestHeaders(v) }
            if let v = after(text, "Method request query string: ") { return .queryString(v) }
            if let v = after(text, "Method request body before transformations: ") { return .requestBody(v) }
            if let v = after(text, "Method request body before transformations:") { return .requestBody(v) }
            if let v = after(text, "Method response body after transformations: ") { return .responseBody(v) }
            if let v = after(text, "Method response body after transformations:") { return .responseBody(v) }
            if let v = after(text, "Method response headers: ") { return .responseHeaders(v) }
            if let v = after(text, "Method completed with status: ") {
                if let status = leadingInt(v) { return .completed(status: status) }
                return .other
            }
            if after(text, "Missing required request parameters") != nil { return .terminalFailure(text, status: 400) }
            return .other
        case UInt8(ascii: "E"):
            if let v = after(text, "Extended Request Id: ") { return .extendedRequestId(trimmed(v)) }
            if let v = after(text, "Endpoint response headers: ") { return .endpointResponseHeaders(v) }
            // Not scanned here: most requests already have their `HTTP Method`, and then the body is never looked at.
            if let v = after(text, "Endpoint request body after transformations: ") { return .endpointRequestBody(v) }
            if let v = after(text, "Execution failed due to ") {
                // Authorizer failures stop the request at the gateway; integration failures (timeouts, Lambda and
                // proxy errors) are followed by `Method completed with status`, whose status is the one to keep.
                if after(v, "an authorizer error") != nil {
                    return .terminalFailure(text, status: find(v, "not authorized to access this resource") != nil ? 403 : 500)
                }
                if find(v, ": Authorizer error") != nil { return .terminalFailure(text, status: 500) }
                return .failure(text)
            }
            if after(text, "Execution failed") != nil { return .failure(text) }
            return .other
        case UInt8(ascii: "H"):
            if let v = after(text, "HTTP Method: ") {
                let marker: StaticString = ", Resource Path: "
                guard let at = find(marker, in: v) else {
                    return .httpMethod(method: trimmed(v), resourcePath: UnsafeRawBufferPointer(rebasing: v[v.count...]))
                }
                return .httpMethod(method: UnsafeRawBufferPointer(rebasing: v[..<at]),
                                   resourcePath: trimmed(UnsafeRawBufferPointer(rebasing: v[(at + marker.utf8CodeUnitCount)...])))
            }
            return .other
        case UInt8(ascii: "G"):
            if let v = after(text, "Gateway response type: ") {
                let marker: StaticString = " with status code: "
                if let at = find(marker, in: v),
                   let status = leadingInt(UnsafeRawBufferPointer(rebasing: v[(at + marker.utf8CodeUnitCount)...])) {
                    return .gatewayResponse(text, status: status)
                }
            }
            return .other
        case UInt8(ascii: "S"):
            if after(text, "Starting execution for request") != nil { return .startExecution }
            return .other
        case UInt8(ascii: "R"):
            if let v = after(text, "Received response. ") {
                let marker: StaticString = "Integration latency: "
                guard let at = find(marker, in: v) else { return .integrationResponse(latencyMs: nil) }
                return .integrationResponse(latencyMs: leadingInt(UnsafeRawBufferPointer(rebasing: v[(at + marker.utf8CodeUnitCount)...])))
            }
            if after(text, "Request validation failed") != nil { return .terminalFailure(text, status: 400) }
            if after(text, "Request body does not match model schema") != nil { return .terminalFailure(text, status: 400) }
            return .other
        case UInt8(ascii: "A"):
            if let v = after(text, "AWS Integration Endpoint RequestId : ") { return .integrationEndpointRequestId(trimmed(v)) }
            if let v = after(text, "AWS Integration Endpoint RequestId: ") { return .integrationEndpointRequestId(trimmed(v)) }
            if after(text, "API Key ") != nil { return usagePlan(text) }
            if after(text, "Authorizer error") != nil { return .terminalFailure(text, status: 500) }
            if after(text, "AuthorizerConfigurationException") != nil { return .terminalFailure(text, status: 500) }
            if after(text, "Authorizer ") != nil, find(text, "fail") != nil { return .failure(text) }
            return .other
        case UInt8(ascii: "X"):
            if let v = after(text, "X-ray Tracing ID : ") { return .xrayTraceId(traceId(v)) }
            if let v = after(text, "X-ray Tracing ID: ") { return .xrayTraceId(traceId(v)) }
            return .other
        case UInt8(ascii: "K"), UInt8(ascii: "L"):
            if after(text, "Key throttle limit exceeded") != nil { return throttled(text) }
            if after(text, "Lambda execution failed") != nil { return .failure(text) }
            return .other
        case UInt8(ascii: "U"):
            if after(text, "Unauthorized request") != nil { return .terminalFailure(text, status: 401) }
            // AWS documents that on this internal error the request is served without usage-plan limits.
            if after(text, "Usage Plan check failed due to an internal error") != nil { return .other }
            if after(text, "Usage Plan check failed") != nil { return .failure(text) }
            // Lambda authorizer deny, resource policy or IAM deny: the gateway answers 403 itself.
            if after(text, "User is not authorized to access this resource") != nil { return .terminalFailure(text, status: 403) }
            if after(text, "User: ") != nil, find(text, "is not authorized") != nil { return .terminalFailure(text, status: 403) }
            return .other
        case UInt8(ascii: "T"):
            if after(text, "Throttl") != nil { return .failure(text) }
            return .other
        default:
            return .other
        }
    }

    /// Splits the throttling line; a line whose fields cannot be found is still a terminal 429, with empty views.
    static func throttled(_ text: UnsafeRawBufferPointer) -> ExecutionLogFact {
        let empty = UnsafeRawBufferPointer(rebasing: text[text.count...])
        var method = empty, resource = empty
        let resourceMarker: StaticString = ", Resource "
        let methodMarker: StaticString = ", HttpMethod "
        if let r = find(resourceMarker, in: text), let m = find(methodMarker, in: text), m > r {
            resource = trimmed(UnsafeRawBufferPointer(rebasing: text[(r + resourceMarker.utf8CodeUnitCount)..<m]))
            let rest = UnsafeRawBufferPointer(rebasing: text[(m + methodMarker.utf8CodeUnitCount)...])
            var end = 0
            // Methods are upper-case tokens; the sentence goes on with `. Limit: ...`.
            while end < rest.count, rest[end] >= UInt8(ascii: "A"), rest[end] <= UInt8(ascii: "Z") { end += 1 }
            method = UnsafeRawBufferPointer(rebasing: rest[..<end])
        }
        return .throttled(text, method: method, resource: resource)
    }

    /// `API Key <masked> [not ]authorized because method 'METHOD /path' ...`. The key is masked or empty (`API Key  authorized`,
    /// two spaces), so the verdict is found by search; a line without the quoted method still counts (403 when denied).
    static func usagePlan(_ text: UnsafeRawBufferPointer) -> ExecutionLogFact {
        let empty = UnsafeRawBufferPointer(rebasing: text[text.count...])
        let marker: StaticString = "authorized because method '"
        guard let at = find(marker, in: text) else {
            if find(text, "not authorized") != nil { return .terminalFailure(text, status: 403) }
            return .other
        }
        let denied = at >= 4 && find("not ", in: UnsafeRawBufferPointer(rebasing: text[(at - 4)..<at])) == 0
        var method = empty, path = empty
        let quoted = UnsafeRawBufferPointer(rebasing: text[(at + marker.utf8CodeUnitCount)...])
        // `METHOD /path'`: an upper-case token, one space, the resource path up to the closing quote. A line cut
        // before the quote closes names no path (the part before the cut may be only part of it).
        var m = 0
        while m < quoted.count, quoted[m] >= UInt8(ascii: "A"), quoted[m] <= UInt8(ascii: "Z") { m += 1 }
        if m > 0, m + 1 < quoted.count, quoted[m] == 0x20, quoted[m + 1] == UInt8(ascii: "/") {
            var end = m + 1
            while end < quoted.count, quoted[end] != UInt8(ascii: "'"), quoted[end] > 0x20 { end += 1 }
            if end < quoted.count, quoted[end] == UInt8(ascii: "'") {
                // `ANY` is the method resource's wildcard, not what the client sent.
                let token = UnsafeRawBufferPointer(rebasing: quoted[..<m])
                if !(m == 3 && token[0] == UInt8(ascii: "A") && token[1] == UInt8(ascii: "N") && token[2] == UInt8(ascii: "Y")) {
                    method = token
                }
                path = UnsafeRawBufferPointer(rebasing: quoted[(m + 1)..<end])
            }
        }
        return .usagePlanMethod(text, method: method, resourcePath: path, denied: denied)
    }

    /// `Root=1-5c755b5d-...;Parent=...;Sampled=1` and `1-5c755b5d-...` name the same trace: keep only the trace id.
    static func traceId(_ text: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var v = trimmed(text)
        if let rest = after(v, "Root=") { v = rest }
        var end = 0
        while end < v.count, v[end] != UInt8(ascii: ";") { end += 1 }
        return trimmed(UnsafeRawBufferPointer(rebasing: v[..<end]))
    }

    static func find(_ needle: StaticString, in haystack: UnsafeRawBufferPointer) -> Int? {
        find(UnsafeRawBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount), in: haystack)
    }

    static func find(_ text: UnsafeRawBufferPointer, _ needle: StaticString) -> Int? { find(needle, in: text) }

    static func find(_ needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Int? {
        let n = needle.count
        guard n > 0, haystack.count >= n else { return nil }
        let first = needle[0]
        var i = 0
        while i <= haystack.count - n {
            if haystack[i] == first {
                var k = 1
                while k < n, haystack[i + k] == needle[k] { k += 1 }
                if k == n { return i }
            }
            i += 1
        }
        return nil
    }

    static func leadingInt(_ text: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i < text.count, text[i] == 0x20 { i += 1 }
        var value = 0
        let start = i
        while i < text.count, text[i] >= 0x30, text[i] <= 0x39, i - start < 12 {
            value = value * 10 + Int(text[i] - 0x30)
            i += 1
        }
        return i > start ? value : nil
    }

    static func trimmed(_ text: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = text.count
        while start < end, text[start] == 0x20 { start += 1 }
        while end > start, text[end - 1] == 0x20 || text[end - 1] == 0x0D || text[end - 1] == 0x0A { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: text[start..<end])
    }
}
