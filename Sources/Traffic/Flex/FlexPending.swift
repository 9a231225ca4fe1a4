// One request's Message Logging lines while it is being joined: the values as logged, parsed only at emission.

/// A free value (a body, a Cequence line) as logged, and whether the entry limit cut it.
struct FlexValue: Sendable, Equatable {
    var bytes: [UInt8]
    var cut: Bool
}

struct FlexPending: Sendable {
    var requestId: String
    var stream: Int32
    var firstTimestamp: Int64
    var lastTimestamp: Int64
    /// The first layout a line of this request was recognised as.
    var layout: FlexLayout?
    var apiName: [UInt8]?
    /// `<METHOD> <scheme> <version> <target>` (apitap's `req.line`).
    var requestLine: [UInt8]?
    /// `<receivedTs> <remote address> <local address> <API instance id>` (apitap's `req.meta`, `-` for unknown).
    var requestMeta: [UInt8]?
    var requestHeaders: FlexValue?
    var requestBody: FlexValue?
    var status: Int?
    var responseHeaders: FlexValue?
    var responseBody: FlexValue?
    var cequenceRequest: FlexValue?
    var cequenceResponse: FlexValue?
    /// A response-side line has arrived (a bare header map after it belongs to the response).
    var sawResponse = false
    /// Time of the line that ended the response side (apitap's `res.body`, Cequence's `Response LOG`).
    var endTimestamp: Int64?
    /// The message's own request id (`vars.reqId`) differed from the line's `[req: ]` id.
    var idMismatch = false
    var generation: UInt32 = 0

    init(requestId: String, stream: Int32, timestamp: Int64) {
        self.requestId = requestId
        self.stream = stream
        firstTimestamp = timestamp
        lastTimestamp = timestamp
    }

    var sawRequest: Bool {
        requestLine != nil || requestMeta != nil || requestHeaders != nil || requestBody != nil || cequenceRequest != nil
    }

    /// Both sides are in: the response's last line and something of the request.
    var isComplete: Bool { endTimestamp != nil && sawRequest }

    mutating func record(_ message: FlexMessage, value: Slice<UnsafeRawBufferPointer>, cut: Bool, timestamp: Int64) {
        if layout == nil { layout = message.layout }
        if timestamp < firstTimestamp { firstTimestamp = timestamp }
        switch message.field {
        case .requestLine: requestLine = Array(value)
        case .requestMeta: requestMeta = Array(value)
        case .requestHeaders: requestHeaders = FlexValue(bytes: Array(value), cut: cut)
        case .requestBody: requestBody = FlexValue(bytes: Array(value), cut: cut)
        case .responseStatus:
            status = FlexMessageGrammar.status(UnsafeRawBufferPointer(rebasing: value))
            sawResponse = true
        case .responseHeaders:
            responseHeaders = FlexValue(bytes: Array(value), cut: cut)
            sawResponse = true
        case .responseBody:
            responseBody = FlexValue(bytes: Array(value), cut: cut)
            end(at: timestamp)
        case .headerMap:
            // Which side a map without a category belongs to: `:status` says response; otherwise the side that has no
            // map yet, the request's first unless a response line came before (its section is logged first).
            let map = FlexValue(bytes: Array(value), cut: cut)
            let bytes = UnsafeRawBufferPointer(rebasing: value)
            let hasStatus = TextExecutionLogFormat.find("\":status\"", in: bytes) != nil || TextExecutionLogFormat.find(":status=", in: bytes) != nil
            let response = hasStatus || (requestHeaders == nil && responseHeaders == nil ? sawResponse : requestHeaders != nil)
            if response {
                responseHeaders = map
                sawResponse = true
            } else {
                requestHeaders = map
            }
        case .cequenceRequest: cequenceRequest = FlexValue(bytes: Array(value), cut: cut)
        case .cequenceResponse:
            cequenceResponse = FlexValue(bytes: Array(value), cut: cut)
            end(at: timestamp)
        }
    }

    private mutating func end(at timestamp: Int64) {
        sawResponse = true
        endTimestamp = max(endTimestamp ?? timestamp, timestamp)
    }

    /// A record without a prefix that continues the free value `field` (a line break split the message).
    mutating func append(line: UnsafeRawBufferPointer, to field: FlexField, cut: Bool) {
        func extend(_ value: inout FlexValue?) {
            guard var v = value else { return }
            v.bytes.append(0x0A)
            v.bytes.append(contentsOf: line)
            v.cut = v.cut || cut
            value = v
        }
        switch field {
        case .requestBody: extend(&requestBody)
        case .responseBody: extend(&responseBody)
        case .cequenceRequest: extend(&cequenceRequest)
        case .cequenceResponse: extend(&cequenceResponse)
        default: break
        }
    }
}
