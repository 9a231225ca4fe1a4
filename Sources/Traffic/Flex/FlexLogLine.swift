// Flex Gateway log lines: the envoy/wasm prefix, `[req: <id>]`, the kind marker, and the Message Logging message.

/// Where the parts of one Flex Gateway log line lie (byte offsets into the line).
///
/// Message Logging lines look like (docs.mulesoft.com, "Message Logging Policy"):
/// `<date> [flex-gateway-envoy][info] wasm log <policy>.default.<api>.default.svc main: [req: <uuid>] [accessLog] <message>`
/// and PDK policies' lines carry `[policy: ...][api: ...][req: <uuid>]` before their text. A Fluent Bit output
/// template may put its own `[date][logger][level][kind]` groups in front. What is relied on: the first `[req: `
/// (the prefix is fixed-format and comes before any message text, so a body that contains `[req: ` cannot be taken
/// for it), an `[accessLog]` group before or right after it, and the message after the groups that follow the id.
struct FlexLogLine: Sendable {
    var requestId: Range<Int>
    /// The fixed prefix before `[req: `.
    var prefix: Range<Int>
    /// The line is the Message Logging policy's (`[accessLog]`), not a runtime log of a policy.
    var accessLog: Bool
    var message: Range<Int>

    static let requestMarker: StaticString = "[req: "
    static let accessLogMarker: StaticString = "[accessLog]"
    static let runtimeLogMarker: StaticString = "[runtimeLog]"
    /// Request ids are UUIDs; anything much longer is not an id.
    static let maxRequestIdBytes = 128

    /// Locates the parts of `line`, or nil when it carries no `[req: <id>]` (not a per-request Flex line).
    static func locate(_ line: UnsafeRawBufferPointer) -> FlexLogLine? {
        guard let marker = TextExecutionLogFormat.find(requestMarker, in: line) else { return nil }
        let idStart = marker + requestMarker.utf8CodeUnitCount
        var idEnd = idStart
        while idEnd < line.count, idEnd - idStart <= maxRequestIdBytes, line[idEnd] != UInt8(ascii: "]") {
            if line[idEnd] == 0x20 || line[idEnd] == 0x0A { return nil }
            idEnd += 1
        }
        guard idEnd < line.count, line[idEnd] == UInt8(ascii: "]"), idEnd > idStart else { return nil }
        let prefix = UnsafeRawBufferPointer(rebasing: line[0..<marker])
        var accessLog = TextExecutionLogFormat.find(accessLogMarker, in: prefix) != nil
        // The kind group right after the id (the documented place); a category in brackets is part of the message.
        var p = idEnd + 1
        while true {
            var q = p
            while q < line.count, line[q] == 0x20 { q += 1 }
            let rest = UnsafeRawBufferPointer(rebasing: line[q...])
            if startsWith(rest, accessLogMarker) {
                accessLog = true
                p = q + accessLogMarker.utf8CodeUnitCount
            } else if startsWith(rest, runtimeLogMarker) {
                p = q + runtimeLogMarker.utf8CodeUnitCount
            } else {
                p = q
                break
            }
        }
        var end = line.count
        if end > p, line[end - 1] == 0x0A { end -= 1 }
        if end > p, line[end - 1] == 0x0D { end -= 1 }
        return FlexLogLine(requestId: idStart..<idEnd, prefix: 0..<marker, accessLog: accessLog, message: p..<max(p, end))
    }

    /// The API's name from `[api: <name>]` (its `.default.svc` suffix dropped), else the `<api>` of the wasm logger name
    /// `<policy>.default.<api>.default.svc`, when present (read once per request, not per line).
    func apiName(in line: UnsafeRawBufferPointer) -> Range<Int>? { Self.apiName(in: UnsafeRawBufferPointer(rebasing: line[prefix])) }

    static func apiName(in prefix: UnsafeRawBufferPointer) -> Range<Int>? {
        if let group = TextExecutionLogFormat.find("[api: ", in: prefix) {
            let start = group + 6
            guard let close = prefix[start...].firstIndex(of: UInt8(ascii: "]")) else { return nil }
            return trimmingService(prefix, start..<close)
        }
        guard let wasm = TextExecutionLogFormat.find("wasm log ", in: prefix) else { return nil }
        let start = wasm + 9
        var end = start
        while end < prefix.count, prefix[end] != 0x20 { end += 1 }
        let name = UnsafeRawBufferPointer(rebasing: prefix[start..<end])
        guard let dot = TextExecutionLogFormat.find(".default.", in: name) else { return nil }
        return trimmingService(prefix, (start + dot + 9)..<end)
    }

    private static func trimmingService(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int>? {
        let suffix: StaticString = ".default.svc"
        let n = suffix.utf8CodeUnitCount
        var r = range
        if r.count > n, startsWith(UnsafeRawBufferPointer(rebasing: bytes[(r.upperBound - n)..<r.upperBound]), suffix) {
            r = r.lowerBound..<(r.upperBound - n)
        }
        return r.isEmpty ? nil : r
    }

    @inline(__always) static func startsWith(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        let p = prefix.utf8Start
        for i in 0..<n where bytes[i] != p[i] { return false }
        return true
    }

    /// A line of the gateway's own loggers (`[flex-gateway-envoy]`, `-agent`, `-fluent`) near its start: never the
    /// continuation of a message that a line break split.
    static func looksLikeLogLine(_ line: UnsafeRawBufferPointer) -> Bool {
        TextExecutionLogFormat.find("[flex-gateway-", in: UnsafeRawBufferPointer(rebasing: line[0..<min(line.count, 96)])) != nil
    }
}
