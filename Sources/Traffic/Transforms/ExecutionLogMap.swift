// Splits API Gateway's unquoted `{Key=Value, Key2=Value2}` map rendering without breaking values that contain `, ` or `=`.

/// The map text API Gateway prints for headers, query strings and path parameters has no quoting, so
/// `Accept=application/json, text/plain, */*` and `Date=Tue, 26 Feb 2019 15:29:33 GMT` look like several entries to a
/// naive `", "` split. We split only where `, ` is followed by an RFC 7230 token and `=`, and even then not when the
/// token is a known parameter of the current header (cookie attributes for Set-Cookie, directives for Cache-Control,
/// auth parameters for WWW-Authenticate, ...), because those headers legitimately carry `, name=` inside one value.
enum ExecutionLogMap {
    /// Calls `entry(nameRange, valueRange)` (offsets into `text`) for each entry in order.
    /// `truncated`: the line lost its end, so a trailing `}` belongs to a value, not to the map.
    static func forEach(_ text: UnsafeRawBufferPointer, truncated: Bool, _ entry: (Range<Int>, Range<Int>) -> Void) {
        var start = 0
        var end = text.count
        while start < end, text[start] == 0x20 { start += 1 }
        guard start < end, text[start] == UInt8(ascii: "{") else {
            // Not a map (API Gateway prints `{}` for an empty one); nothing we can split reliably.
            return
        }
        start += 1
        if !truncated {
            while end > start, text[end - 1] == 0x20 || text[end - 1] == 0x0A || text[end - 1] == 0x0D { end -= 1 }
            if end > start, text[end - 1] == UInt8(ascii: "}") { end -= 1 }
        }
        guard start < end else { return }

        // The first name runs to the first `=`.
        var nameStart = start
        var nameEnd = start
        while nameEnd < end, text[nameEnd] != UInt8(ascii: "=") { nameEnd += 1 }
        if nameEnd == end {
            entry(nameStart..<end, end..<end)
            return
        }
        var valueStart = nameEnd + 1
        var i = valueStart
        while i + 1 < end {
            if text[i] == UInt8(ascii: ","), text[i + 1] == 0x20 {
                var j = i + 2
                while j < end, isTokenByte(text[j]) { j += 1 }
                if j > i + 2, j < end, text[j] == UInt8(ascii: "="),
                   !continuesValue(name: UnsafeRawBufferPointer(rebasing: text[nameStart..<nameEnd]),
                                   candidate: UnsafeRawBufferPointer(rebasing: text[(i + 2)..<j])) {
                    entry(nameStart..<nameEnd, valueStart..<i)
                    nameStart = i + 2
                    nameEnd = j
                    valueStart = j + 1
                    i = valueStart
                    continue
                }
            }
            i += 1
        }
        entry(nameStart..<nameEnd, valueStart..<end)
    }

    /// RFC 7230 `tchar`.
    @inline(__always) static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    // Parameters that may follow `, ` inside one value of the named header (lower case).
    private static let cookieAttributes: [[UInt8]] =
        ["expires", "path", "domain", "max-age", "samesite", "secure", "httponly", "partitioned", "priority"].map { Array($0.utf8) }
    private static let cacheDirectives: [[UInt8]] =
        ["max-age", "s-maxage", "stale-while-revalidate", "stale-if-error", "no-cache", "private", "min-fresh", "max-stale"]
            .map { Array($0.utf8) }
    private static let authParameters: [[UInt8]] =
        ["realm", "error", "error_description", "error_uri", "scope", "charset", "username", "nonce", "uri", "response",
         "qop", "nc", "cnonce", "opaque", "algorithm", "stale", "domain", "userhash", "resource_metadata"].map { Array($0.utf8) }
    private static let keepAliveParameters: [[UInt8]] = ["timeout", "max"].map { Array($0.utf8) }
    private static let forwardedParameters: [[UInt8]] = ["for"].map { Array($0.utf8) }
    private static let preferParameters: [[UInt8]] = ["return", "wait", "handling"].map { Array($0.utf8) }

    static func continuesValue(name: UnsafeRawBufferPointer, candidate: UnsafeRawBufferPointer) -> Bool {
        let list: [[UInt8]]
        if equalsLowercase(name, "set-cookie") { list = cookieAttributes }
        else if equalsLowercase(name, "cache-control") { list = cacheDirectives }
        else if equalsLowercase(name, "www-authenticate") || equalsLowercase(name, "proxy-authenticate")
                    || equalsLowercase(name, "authorization") || equalsLowercase(name, "proxy-authorization") { list = authParameters }
        else if equalsLowercase(name, "keep-alive") { list = keepAliveParameters }
        else if equalsLowercase(name, "forwarded") { list = forwardedParameters }
        else if equalsLowercase(name, "prefer") { list = preferParameters }
        else { return false }
        for word in list where equalsLowercase(candidate, word) { return true }
        return false
    }

    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        guard bytes.count == count else { return false }
        let p = lower.utf8Start
        for i in 0..<count where asciiLower(bytes[i]) != p[i] { return false }
        return true
    }

    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lower: [UInt8]) -> Bool {
        guard bytes.count == lower.count else { return false }
        for i in 0..<lower.count where asciiLower(bytes[i]) != lower[i] { return false }
        return true
    }

    /// The entries as strings, in order.
    static func pairs(_ text: [UInt8], truncated: Bool) -> [NameValuePair] {
        var result: [NameValuePair] = []
        text.withUnsafeBytes { buffer in
            forEach(buffer, truncated: truncated) { name, value in
                result.append(NameValuePair(String(decoding: UnsafeRawBufferPointer(rebasing: buffer[name]), as: UTF8.self),
                                            String(decoding: UnsafeRawBufferPointer(rebasing: buffer[value]), as: UTF8.self)))
            }
        }
        return result
    }
}
