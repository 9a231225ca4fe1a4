// The two Message Logging layouts a Flex line's message can be written in: apitap's (`CQ1 ...`) and the one
// Cequence's published policy produces. docs/flex-gateway.md describes both and why ours is unambiguous.

/// Which policy configuration wrote a line.
public enum FlexLayout: String, Sendable {
    /// apitap's policy: `CQ1 <reqId> <field> <value to end of message>`, plus bare header maps and status.
    case apitap
    /// Cequence's published policy: `Request LOG | reqId=... | ... | payload=...`, `Response LOG | ...`, and a bare
    /// request header map.
    case cequence
}

/// What one message says about its request.
enum FlexField: UInt8, Sendable {
    case requestLine, requestMeta, requestHeaders, requestBody
    case responseStatus, responseHeaders, responseBody
    /// A header map whose category is not printed: its side is decided by what the request has already shown.
    case headerMap
    case cequenceRequest, cequenceResponse
}

struct FlexMessage: Sendable {
    var field: FlexField
    /// nil for a bare header map or status without a category (either layout could have written it).
    var layout: FlexLayout?
    /// The field's value (offsets into the line): the rest of the message after the field's fixed tokens.
    var value: Range<Int>
    /// The request id the message itself carries (`vars.reqId`), when it does.
    var echoedRequestId: Range<Int>?
}

enum FlexMessageParse: Sendable {
    case message(FlexMessage)
    /// A category that is neither ours nor Cequence's: another logging item's line.
    case unknownCategory
    /// `CQ1 <id> <field>` with a field this version does not know (a newer policy): ignored.
    case unknownField
    /// Not a message of either layout.
    case unrecognized
}

enum FlexMessageGrammar {
    static let marker: StaticString = "CQ1 "
    static let cequenceRequest: StaticString = "Request LOG |"
    static let cequenceResponse: StaticString = "Response LOG |"

    /// Categories that name a field (bare expressions carry nothing else), and Cequence's, whose content decides.
    static let categories: [(name: StaticString, field: FlexField?, layout: FlexLayout)] = [
        ("CQ1.req.headers", .requestHeaders, .apitap), ("CQ1.res.headers", .responseHeaders, .apitap),
        ("CQ1.res.status", .responseStatus, .apitap), ("CQ1", nil, .apitap),
        ("cequence-req-headers", .requestHeaders, .cequence), ("cequence-req-full", nil, .cequence),
        ("cequence-res-full", nil, .cequence),
    ]

    static let fields: [(name: StaticString, field: FlexField)] = [
        ("req.line", .requestLine), ("req.meta", .requestMeta), ("req.headers", .requestHeaders), ("req.body", .requestBody),
        ("res.status", .responseStatus), ("res.headers", .responseHeaders), ("res.body", .responseBody),
    ]

    static func parse(_ line: UnsafeRawBufferPointer, message: Range<Int>) -> FlexMessageParse {
        var p = message.lowerBound
        let end = message.upperBound
        // 1. A category in front of the message (where Flex prints it is not documented: brackets or a bare word).
        var category: (field: FlexField?, layout: FlexLayout)?
        var unknownCategory = false
        if p < end, line[p] == UInt8(ascii: "[") {
            let limit = min(end, p + 100)
            var close = p + 1
            while close < limit, line[close] != UInt8(ascii: "]"), line[close] != 0x0A { close += 1 }
            if close < limit, line[close] == UInt8(ascii: "]") {
                category = known(UnsafeRawBufferPointer(rebasing: line[(p + 1)..<close]))
                unknownCategory = category == nil
                p = close + 1
                if p < end, line[p] == 0x20 { p += 1 }
            }
        } else {
            for c in categories {
                let n = c.name.utf8CodeUnitCount
                // The bare word `CQ1` is a category only when a `CQ1 ` message follows it; otherwise it is the marker.
                if p + n < end, line[p + n] == 0x20, FlexLogLine.startsWith(UnsafeRawBufferPointer(rebasing: line[p..<end]), c.name),
                   c.field != nil || c.layout != .apitap
                    || FlexLogLine.startsWith(UnsafeRawBufferPointer(rebasing: line[(p + n + 1)..<end]), marker) {
                    category = (c.field, c.layout)
                    p += n + 1
                    break
                }
            }
            if category == nil, FlexLogLine.startsWith(UnsafeRawBufferPointer(rebasing: line[p..<end]), "Default category ") { p += 17 }
        }
        // 2. The content.
        let rest = UnsafeRawBufferPointer(rebasing: line[p..<end])
        if FlexLogLine.startsWith(rest, marker) { return cq1(line, from: p, end: end) }
        if FlexLogLine.startsWith(rest, cequenceRequest) {
            return .message(FlexMessage(field: .cequenceRequest, layout: .cequence, value: p..<end, echoedRequestId: nil))
        }
        if FlexLogLine.startsWith(rest, cequenceResponse) {
            return .message(FlexMessage(field: .cequenceResponse, layout: .cequence, value: p..<end, echoedRequestId: nil))
        }
        if let category, let field = category.field {
            return .message(FlexMessage(field: field, layout: category.layout, value: p..<end, echoedRequestId: nil))
        }
        if unknownCategory { return .unknownCategory }
        if let first = rest.first(where: { $0 != 0x20 }), first == UInt8(ascii: "{") {
            return .message(FlexMessage(field: .headerMap, layout: category?.layout, value: p..<end, echoedRequestId: nil))
        }
        if isStatus(rest) { return .message(FlexMessage(field: .responseStatus, layout: category?.layout, value: p..<end, echoedRequestId: nil)) }
        // A category printed as some other bare word: the content starts after it.
        let head = UnsafeRawBufferPointer(rebasing: line[p..<min(end, p + 96)])
        for needle: StaticString in [" CQ1 ", " Request LOG |", " Response LOG |"] {
            if let at = TextExecutionLogFormat.find(needle, in: head) {
                return parse(line, message: (p + at + 1)..<end)
            }
        }
        return .unrecognized
    }

    private static func known(_ name: UnsafeRawBufferPointer) -> (field: FlexField?, layout: FlexLayout)? {
        for c in categories where name.count == c.name.utf8CodeUnitCount && FlexLogLine.startsWith(name, c.name) {
            return (c.field, c.layout)
        }
        return nil
    }

    /// `CQ1 <reqId> <field>[ <value to end>]`.
    static func cq1(_ line: UnsafeRawBufferPointer, from start: Int, end: Int) -> FlexMessageParse {
        var p = start + marker.utf8CodeUnitCount
        let idStart = p
        while p < end, line[p] != 0x20 { p += 1 }
        let id = idStart..<p
        guard p < end, !id.isEmpty else { return .unrecognized }
        p += 1
        let fieldStart = p
        while p < end, line[p] != 0x20 { p += 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[fieldStart..<p])
        let valueStart = p < end ? p + 1 : p
        for f in fields where name.count == f.name.utf8CodeUnitCount && FlexLogLine.startsWith(name, f.name) {
            return .message(FlexMessage(field: f.field, layout: .apitap, value: valueStart..<end, echoedRequestId: id))
        }
        return name.isEmpty ? .unrecognized : .unknownField
    }

    /// Three digits, 100-599, and nothing else (a bare `#[attributes.statusCode]`).
    static func isStatus(_ text: UnsafeRawBufferPointer) -> Bool {
        status(text) != nil
    }

    static func status(_ text: UnsafeRawBufferPointer) -> Int? {
        var s = 0, e = text.count
        while s < e, text[s] == 0x20 { s += 1 }
        while e > s, text[e - 1] == 0x20 { e -= 1 }
        guard e - s == 3 else { return nil }
        var v = 0
        for i in s..<e {
            guard text[i] >= 0x30, text[i] <= 0x39 else { return nil }
            v = v * 10 + Int(text[i] - 0x30)
        }
        return (100...599).contains(v) ? v : nil
    }

    // MARK: Cequence's `Request LOG | reqId=... | Name=value | ... | payload=...`

    static let cequenceRequestKeys = ["reqId", "Content-Type", "User-Agent", "Host", "Authorization", "payload"]
    static let cequenceResponseKeys = ["reqId", "Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Server",
                                       "Date", "Accept", "X-Forwarded-For", "X-Request-Id", "User-Agent", "Host", "Authorization", "payload"]

    /// The `key=value` items in order. The layout has no escaping, so a value runs to the separator of the key the
    /// published configuration puts next (` | <next>=`), which a header value is very unlikely to contain; a key that
    /// is not in the published order ends at the first ` | <token>=`. `payload` runs to the end of the message, so a
    /// body may hold anything.
    static func cequenceItems(_ text: UnsafeRawBufferPointer, response: Bool) -> [(key: String, value: Range<Int>)] {
        let keys = response ? cequenceResponseKeys : cequenceRequestKeys
        let head: StaticString = response ? "Response LOG | " : "Request LOG | "
        var p = head.utf8CodeUnitCount
        guard text.count >= p else { return [] }
        var items: [(key: String, value: Range<Int>)] = []
        while p < text.count {
            var eq = p
            while eq < text.count, text[eq] != UInt8(ascii: "="), text[eq] != 0x20 { eq += 1 }
            guard eq < text.count, text[eq] == UInt8(ascii: "="), eq > p else { break }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: text[p..<eq]), as: UTF8.self)
            let valueStart = eq + 1
            if key == "payload" {
                items.append((key, valueStart..<text.count))
                break
            }
            var valueEnd: Int?
            if let k = keys.firstIndex(of: key), k + 1 < keys.count {
                valueEnd = find(Array(" | \(keys[k + 1])=".utf8), in: text, from: valueStart)
            }
            if valueEnd == nil { valueEnd = nextSeparator(text, from: valueStart) }
            let stop = valueEnd ?? text.count
            items.append((key, valueStart..<stop))
            p = stop + 3
        }
        return items
    }

    /// The first ` | <token>=` at or after `from`.
    static func nextSeparator(_ text: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i + 3 < text.count {
            if text[i] == 0x20, text[i + 1] == UInt8(ascii: "|"), text[i + 2] == 0x20 {
                var j = i + 3
                while j < text.count, ExecutionLogMap.isTokenByte(text[j]) { j += 1 }
                if j > i + 3, j < text.count, text[j] == UInt8(ascii: "=") { return i }
            }
            i += 1
        }
        return nil
    }

    static func find(_ needle: [UInt8], in text: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from <= text.count else { return nil }
        return needle.withUnsafeBytes { n in
            TextExecutionLogFormat.find(n, in: UnsafeRawBufferPointer(rebasing: text[from...])).map { $0 + from }
        }
    }

    /// Cequence's stand-in for a missing value (`NO_PAYLOAD`, `NO_REQID`, `NO_CONTENT_TYPE`, ...): `NO_` and capitals.
    /// A real value of that shape is lost; the layout cannot tell them apart.
    static func isSentinel(_ value: UnsafeRawBufferPointer) -> Bool {
        guard value.count > 3, FlexLogLine.startsWith(value, "NO_") else { return false }
        return value.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "_") || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
