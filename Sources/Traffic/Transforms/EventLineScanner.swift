// The fast path of `apitap stitch`'s input: one pass over an NDJSON line holding a FilterLogEvents event object,
// finding `logStreamName`, `timestamp` and `message` in place, without building a JSON tree or a String per field.
//
// It accepts only what it can read exactly as `JSONReader` would: a flat object (member values are strings, numbers
// or literals), member names without escapes, each of the three members once. Anything else (nested values, escaped
// names, repeated members, malformed text) answers nil and the caller reads the line with `JSONReader`, which decides.
// So the fast path changes speed, never results.
import Core
import Glibc

/// A string member's content (between its quotes) as a span of the line.
struct JSONStringSpan {
    var start: Int
    var end: Int
    /// The content holds backslash escapes (it must be decoded).
    var escaped: Bool
    /// Every raw byte is below 0x80 (no UTF-8 to check or repair).
    var ascii: Bool
}

/// The three members of a FilterLogEvents event that the stitchers use.
struct EventLineFields {
    var logStreamName: JSONStringSpan
    var timestamp: Int64
    var message: JSONStringSpan
}

enum EventLineScanner {
    /// Scans `line` (no trailing newline). Nil: not provably readable here; use `JSONReader`.
    static func scan(_ line: UnsafeRawBufferPointer) -> EventLineFields? {
        guard let base = line.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let count = line.count
        var p = 0
        @inline(__always) func skipSpace() {
            while p < count {
                let b = base[p]
                if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { p += 1 } else { return }
            }
        }
        skipSpace()
        guard p < count, base[p] == UInt8(ascii: "{") else { return nil }
        p += 1
        var stream: JSONStringSpan?
        var message: JSONStringSpan?
        var timestamp: Int64?
        skipSpace()
        if p < count, base[p] == UInt8(ascii: "}") { return nil }
        while true {
            skipSpace()
            guard p < count, base[p] == UInt8(ascii: "\""), let key = stringSpan(base, count, &p), !key.escaped else { return nil }
            let which = member(base, key)
            skipSpace()
            guard p < count, base[p] == UInt8(ascii: ":") else { return nil }
            p += 1
            skipSpace()
            guard p < count else { return nil }
            let c = base[p]
            switch c {
            case UInt8(ascii: "\""):
                guard let value = stringSpan(base, count, &p) else { return nil }
                switch which {
                case 1: guard stream == nil else { return nil }; stream = value
                case 3: guard message == nil else { return nil }; message = value
                case 2: return nil  // a timestamp that is not a number: JSONReader says what it is
                default: break
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = p
                guard let integer = numberEnd(base, count, &p) else { return nil }
                switch which {
                case 2:
                    guard timestamp == nil, integer, let value = int64(base, start, p) else { return nil }
                    timestamp = value
                case 1, 3: return nil
                default: break
                }
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                guard which == 0, literal(base, count, &p) else { return nil }
            default:
                return nil  // nested values and anything malformed
            }
            skipSpace()
            guard p < count else { return nil }
            if base[p] == UInt8(ascii: ",") { p += 1; continue }
            guard base[p] == UInt8(ascii: "}") else { return nil }
            p += 1
            break
        }
        skipSpace()
        guard p == count, let stream, let timestamp, let message else { return nil }
        return EventLineFields(logStreamName: stream, timestamp: timestamp, message: message)
    }

    /// 1 `logStreamName`, 2 `timestamp`, 3 `message`, 0 any other member.
    @inline(__always)
    static func member(_ base: UnsafePointer<UInt8>, _ key: JSONStringSpan) -> Int {
        let n = key.end - key.start
        func equals(_ word: StaticString) -> Bool {
            n == word.utf8CodeUnitCount && memcmp(base + key.start, word.utf8Start, n) == 0
        }
        switch n {
        case 13: return equals("logStreamName") ? 1 : 0
        case 9: return equals("timestamp") ? 2 : 0
        case 7: return equals("message") ? 3 : 0
        default: return 0
        }
    }

    /// At an opening quote: moves past the closing quote and returns the content's span; nil for a control character,
    /// a malformed escape or no closing quote (the errors `JSONString.decode` reports).
    @inline(__always)
    static func stringSpan(_ base: UnsafePointer<UInt8>, _ count: Int, _ p: inout Int) -> JSONStringSpan? {
        p += 1
        let start = p
        var escaped = false
        var high: UInt8 = 0
        while p < count {
            // Sixteen bytes at a time while none of them needs a look: no quote, backslash, control or non-ASCII byte.
            // (Plain 64-bit words: Swift's SIMD types do not compile to vector code here and were 20 times slower.)
            while count - p >= 16 {
                let a = UnsafeRawPointer(base + p).loadUnaligned(as: UInt64.self)
                let b = UnsafeRawPointer(base + p + 8).loadUnaligned(as: UInt64.self)
                if Self.needsLook(a) | Self.needsLook(b) != 0 { break }
                p += 16
            }
            guard p < count else { break }
            let b = base[p]
            if b == UInt8(ascii: "\"") {
                let span = JSONStringSpan(start: start, end: p, escaped: escaped, ascii: high < 0x80)
                p += 1
                return span
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                guard p + 1 < count else { return nil }
                switch base[p + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    p += 2
                case UInt8(ascii: "u"):
                    guard p + 5 < count else { return nil }
                    for i in 2...5 where !isHex(base[p + i]) { return nil }
                    p += 6
                default:
                    return nil
                }
                continue
            }
            if b < 0x20 { return nil }
            high |= b
            p += 1
        }
        return nil
    }

    /// Non-zero when any byte of `w` is `"`, `\\`, below 0x20 or above 0x7F (no false negatives; a false positive
    /// only sends those bytes through the byte loop).
    @inline(__always)
    static func needsLook(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let q = w ^ 0x2222_2222_2222_2222
        let s = w ^ 0x5C5C_5C5C_5C5C_5C5C
        let quote = (q &- ones) & ~q
        let backslash = (s &- ones) & ~s
        let control = (w &- 0x2020_2020_2020_2020) & ~w
        return (quote | backslash | control | w) & highs
    }

    @inline(__always)
    static func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66)
    }

    /// A JSON number's grammar (as `JSONReader` checks it); true when it has neither fraction nor exponent.
    @inline(__always)
    static func numberEnd(_ base: UnsafePointer<UInt8>, _ count: Int, _ p: inout Int) -> Bool? {
        var integer = true
        if base[p] == UInt8(ascii: "-") { p += 1 }
        let digits = p
        while p < count, base[p] >= 0x30, base[p] <= 0x39 { p += 1 }
        guard p > digits else { return nil }
        if base[digits] == 0x30, p - digits > 1 { return nil }
        if p < count, base[p] == UInt8(ascii: ".") {
            integer = false
            p += 1
            let fraction = p
            while p < count, base[p] >= 0x30, base[p] <= 0x39 { p += 1 }
            guard p > fraction else { return nil }
        }
        if p < count, base[p] | 0x20 == UInt8(ascii: "e") {
            integer = false
            p += 1
            if p < count, base[p] == UInt8(ascii: "+") || base[p] == UInt8(ascii: "-") { p += 1 }
            let exponent = p
            while p < count, base[p] >= 0x30, base[p] <= 0x39 { p += 1 }
            guard p > exponent else { return nil }
        }
        return integer
    }

    /// An integer's digits as Int64; nil when it does not fit (JSONReader then reads a double: not a timestamp here).
    @inline(__always)
    static func int64(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int64? {
        var i = start
        let negative = base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard end - i <= 18 else { return nil }  // 18 digits always fit; longer ones go the slow way
        var value: Int64 = 0
        while i < end { value = value * 10 + Int64(base[i] - 0x30); i += 1 }
        return negative ? -value : value
    }

    @inline(__always)
    static func literal(_ base: UnsafePointer<UInt8>, _ count: Int, _ p: inout Int) -> Bool {
        let word: StaticString
        switch base[p] {
        case UInt8(ascii: "t"): word = "true"
        case UInt8(ascii: "f"): word = "false"
        default: word = "null"
        }
        let n = word.utf8CodeUnitCount
        guard count - p >= n, memcmp(base + p, word.utf8Start, n) == 0 else { return false }
        p += n
        return true
    }
}
