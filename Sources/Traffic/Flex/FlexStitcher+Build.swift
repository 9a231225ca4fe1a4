// Turns a joined Flex request into a Transaction: the request line, addresses, header maps, Cequence's items,
// truncation markers and content-encoded bodies.
import Core

extension FlexStitcher {
    typealias REST = RESTExecutionLogStitcher<TextExecutionLogFormat>

    /// What building noticed, for the counters.
    struct BuildNotes {
        var bodiesCut = 0
        var bodiesEncoded = 0
    }

    func build(_ p: FlexPending, incomplete: Bool) -> (Transaction, BuildNotes) {
        var notes = BuildNotes()
        var request = TransactionRequest()
        var response = TransactionResponse()
        var target: String?

        // `req.line`: METHOD scheme version target (the target last: it runs to the end of the message).
        if let line = p.requestLine {
            let parts = Self.tokens(line, count: 3)
            if parts.count == 4 {
                request.method = Self.present(parts[0])
                if let scheme = Self.present(parts[1])?.lowercased(), scheme == "http" || scheme == "https" { request.scheme = scheme }
                request.httpVersion = Self.present(parts[2])
                target = Self.present(parts[3])
            }
        }
        // `req.meta`: receivedTs remoteAddress localAddress apiId (`-` for what the gateway did not know).
        var receivedAt: EpochMillis?
        var apiId: String?
        if let meta = p.requestMeta {
            let parts = Self.tokens(meta, count: 3)
            if parts.count >= 1 { receivedAt = Self.present(parts[0]).flatMap(EpochMillis.parseISO8601) }
            if parts.count >= 2 { request.connectionIp = Self.present(parts[1]).flatMap(Self.address) }
            if parts.count >= 3 { request.serverIp = Self.present(parts[2]).flatMap(Self.address) }
            if parts.count >= 4 { apiId = Self.present(parts[3]) }
        }

        var requestMap = p.requestHeaders.map { FlexHeaderMap(parsing: $0.bytes, cut: $0.cut) } ?? FlexHeaderMap()
        var responseMap = p.responseHeaders.map { FlexHeaderMap(parsing: $0.bytes, cut: $0.cut) } ?? FlexHeaderMap()
        var requestBody = p.requestBody
        var responseBody = p.responseBody
        if let c = p.cequenceRequest { Self.readCequence(c, response: false, into: &requestMap, body: &requestBody) }
        if let c = p.cequenceResponse { Self.readCequence(c, response: true, into: &responseMap, body: &responseBody) }

        // Layouts that log no request line may still show Envoy's pseudo-headers in their maps.
        if request.method == nil { request.method = requestMap.pseudo[":method"] }
        if target == nil { target = requestMap.pseudo[":path"] }
        if let scheme = requestMap.pseudo[":scheme"]?.lowercased(), p.requestLine == nil, scheme == "http" || scheme == "https" {
            request.scheme = scheme
        }
        request.headers = requestMap.headers
        request.headersTruncated = requestMap.truncated
        request.host = REST.reliableValue("host", in: request.headers, truncated: request.headersTruncated) ?? requestMap.pseudo[":authority"]
        if let target {
            let q = target.firstIndex(of: "?")
            request.path = String(target[..<(q ?? target.endIndex)])
            if let q {
                let raw = String(target[target.index(after: q)...])
                request.rawQuery = raw
                request.query = raw.isEmpty ? [] : HTTPAccessLogMapper.queryPairs(raw)
            }
        }
        if let forwarded = REST.reliableValue("x-forwarded-for", in: request.headers, truncated: request.headersTruncated),
           let first = REST.firstHop(forwarded), IPAddress.isValid(first) {
            request.clientIp = first
        }

        response.status = p.status ?? responseMap.pseudo[":status"].flatMap { Int($0) }.flatMap { (100...599).contains($0) ? $0 : nil }
        response.headers = responseMap.headers
        response.headersTruncated = responseMap.truncated

        let discoveryOnly = Self.body(requestBody, headers: request.headers, into: &request.body, truncated: &request.bodyTruncated, notes: &notes)
        let responseOnly = Self.body(responseBody, headers: response.headers, into: &response.body, truncated: &response.bodyTruncated, notes: &notes)
        if discoveryOnly || responseOnly, REST.headerIndex("cq-discovery-only", in: request.headers) == nil {
            request.headers.append(REST.discoveryOnlyHeader)
        }

        let stream = streams[Int(p.stream)]
        let source = TransactionSource(type: .flexGateway, region: region, accountId: accountId,
                                       apiId: apiId ?? p.apiName.map { String(decoding: $0, as: UTF8.self) }, stage: nil,
                                       logGroup: logGroup, logStream: stream)
        let transaction = Transaction(
            id: p.requestId, source: source, requestId: RequestID(p.requestId),
            startTime: receivedAt ?? EpochMillis(p.firstTimestamp), endTime: EpochMillis(p.endTimestamp ?? p.lastTimestamp),
            request: request, response: response, incomplete: incomplete)
        return (transaction, notes)
    }

    /// Sets one side's body: as logged; a truncation marker when the entry limit cut it; empty when the side is
    /// content-encoded (Flex cannot log such a body). Returns true when the transaction is for discovery only.
    static func body(_ value: FlexValue?, headers: [NameValuePair], into body: inout MessageBody?, truncated: inout Bool,
                     notes: inout BuildNotes) -> Bool {
        if let encoding = REST.reliableValue("content-encoding", in: headers, truncated: false), !asciiCaseInsensitiveEquals(encoding, "identity") {
            body = MessageBody([])
            notes.bodiesEncoded += 1
            return true
        }
        guard let value else { return false }
        if value.cut {
            body = REST.marker(for: value.bytes, contentType: REST.reliableValue("content-type", in: headers, truncated: false))
            truncated = true
            notes.bodiesCut += 1
            return true
        }
        body = MessageBody(value.bytes)
        return false
    }

    /// Cequence's `Request LOG | ...` / `Response LOG | ...`: the named headers (those the header map lacks), and the
    /// payload. `NO_*` stand-ins are left out.
    static func readCequence(_ c: FlexValue, response: Bool, into map: inout FlexHeaderMap, body: inout FlexValue?) {
        c.bytes.withUnsafeBytes { text in
            for item in FlexMessageGrammar.cequenceItems(text, response: response) {
                let value = UnsafeRawBufferPointer(rebasing: text[item.value])
                if FlexMessageGrammar.isSentinel(value) { continue }
                switch item.key {
                case "reqId": continue
                case "payload":
                    // Only the payload can reach the end of the entry, so only it can have been cut.
                    if body == nil { body = FlexValue(bytes: Array(value), cut: c.cut) }
                default:
                    if value.isEmpty || REST.headerIndex(item.key, in: map.headers) != nil { continue }
                    map.headers.append(NameValuePair(item.key, String(decoding: value, as: UTF8.self)))
                }
            }
        }
    }

    /// The first `count` space-separated tokens and the rest (which may hold spaces).
    static func tokens(_ bytes: [UInt8], count: Int) -> [String] {
        var out: [String] = []
        var start = 0
        for i in bytes.indices where bytes[i] == 0x20 && out.count < count {
            out.append(String(decoding: bytes[start..<i], as: UTF8.self))
            start = i + 1
        }
        out.append(String(decoding: bytes[start...], as: UTF8.self))
        return out
    }

    /// `-` and the empty string mean "not known".
    static func present(_ token: String) -> String? { token.isEmpty || token == "-" ? nil : token }

    /// The IP address of `10.0.0.1:51234`, `/10.0.0.1:51234`, `[2001:db8::1]:443` or a bare address.
    static func address(_ text: String) -> String? {
        var t = Substring(text)
        if t.hasPrefix("/") { t = t.dropFirst() }
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            return String(t[t.index(after: t.startIndex)..<close])
        }
        let colons = t.filter { $0 == ":" }.count
        if colons == 1, let colon = t.firstIndex(of: ":") { t = t[..<colon] }
        return t.isEmpty ? nil : String(t)
    }
}
