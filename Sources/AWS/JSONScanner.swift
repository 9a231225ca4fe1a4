// A pull scanner over JSON bytes: reads the fields a client needs straight into its structs, without building a
// tree first (a FilterLogEvents page is up to 1 MB and 10,000 events).

struct JSONScanError: Error, Sendable, CustomStringConvertible {
    let offset: Int
    let reason: String
    var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

struct JSONScanner {
    let bytes: [UInt8]
    private(set) var position = 0
    /// Unknown values are skipped recursively; input must not be able to exhaust the stack.
    static let maxDepth = 128

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func error(_ reason: String) -> JSONScanError { JSONScanError(offset: position, reason: reason) }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    mutating func consume(_ byte: UInt8, _ what: String) throws(JSONScanError) {
        guard peek() == byte else { throw error("expected \(what)") }
        position += 1
    }

    /// At the end: only whitespace may follow the top-level value.
    mutating func finish() throws(JSONScanError) {
        guard peek() == nil else { throw error("trailing characters after the value") }
    }

    // MARK: objects and arrays

    /// Reads an object, calling `body` with each member name; `body` must read or skip exactly that member's value.
    mutating func forEachMember(_ body: (inout JSONScanner, String) throws(JSONScanError) -> Void) throws(JSONScanError) {
        try consume(UInt8(ascii: "{"), "'{'")
        if peek() == UInt8(ascii: "}") { position += 1; return }
        while true {
            let key = try readString()
            try consume(UInt8(ascii: ":"), "':'")
            try body(&self, key)
            guard let c = peek() else { throw error("unexpected end of input in an object") }
            if c == UInt8(ascii: ",") { position += 1; continue }
            if c == UInt8(ascii: "}") { position += 1; return }
            throw error("expected ',' or '}'")
        }
    }

    /// Reads an array, calling `body` for each element; `body` must read or skip exactly one value.
    mutating func forEachElement(_ body: (inout JSONScanner) throws(JSONScanError) -> Void) throws(JSONScanError) {
        try consume(UInt8(ascii: "["), "'['")
        if peek() == UInt8(ascii: "]") { position += 1; return }
        while true {
            try body(&self)
            guard let c = peek() else { throw error("unexpected end of input in an array") }
            if c == UInt8(ascii: ",") { position += 1; continue }
            if c == UInt8(ascii: "]") { position += 1; return }
            throw error("expected ',' or ']'")
        }
    }

    mutating func isNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), bytes.count - position >= 4,
              bytes[position + 1] == UInt8(ascii: "u"), bytes[position + 2] == UInt8(ascii: "l"),
              bytes[position + 3] == UInt8(ascii: "l") else { return false }
        position += 4
        return true
    }

    // MARK: scalars

    mutating func readStringOrNull() throws(JSONScanError) -> String? {
        if isNull() { return nil }
        return try readString()
    }

    mutating func readString() throws(JSONScanError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw error("expected a string") }
        position += 1
        let start = position
        // Fast path: no escapes, decode the bytes in place.
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<position], as: UTF8.self)
                position += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in a string") }
            position += 1
        }
        var out = Array(bytes[start..<position])
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") { position += 1; return String(decoding: out, as: UTF8.self) }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); position += 1; continue }
            position += 1
            guard position < bytes.count else { break }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800, scalar < 0xDC00 {
                    // A high surrogate needs an escaped low one; a lone half becomes U+FFFD.
                    if bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                        let save = position
                        position += 2
                        let low = try hex4()
                        if low >= 0xDC00, low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            position = save
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
            default: throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONScanError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    /// An integer; a number with a fraction or exponent is accepted when it is integral (some peers send 1.7e12).
    mutating func readInt64() throws(JSONScanError) -> Int64 {
        guard let c = peek(), c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else { throw error("expected a number") }
        let start = position
        var negative = false
        if c == UInt8(ascii: "-") { negative = true; position += 1 }
        var value: Int64 = 0
        var digits = 0
        var overflow = false
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[position] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw error("expected digits") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") || bytes[position] | 0x20 == UInt8(ascii: "e") {
            position = start
            let text = try numberText()
            guard let d = Double(text), d.isFinite, d == d.rounded(), abs(d) < 9.2e18 else {
                throw error("expected an integer")
            }
            return Int64(d)
        }
        guard !overflow else { throw error("integer out of range") }
        return negative ? -value : value
    }

    private mutating func numberText() throws(JSONScanError) -> String {
        let start = position
        while position < bytes.count {
            switch bytes[position] {
            case 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                position += 1
            default:
                return String(decoding: bytes[start..<position], as: UTF8.self)
            }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func readBool() throws(JSONScanError) -> Bool {
        guard let c = peek() else { throw error("expected true or false") }
        if c == UInt8(ascii: "t"), bytes.count - position >= 4, Array(bytes[position..<position + 4]) == Array("true".utf8) {
            position += 4; return true
        }
        if c == UInt8(ascii: "f"), bytes.count - position >= 5, Array(bytes[position..<position + 5]) == Array("false".utf8) {
            position += 5; return false
        }
        throw error("expected true or false")
    }

    /// Skips one value of any kind.
    mutating func skipValue(depth: Int = 0) throws(JSONScanError) {
        guard depth < JSONScanner.maxDepth else { throw error("nesting deeper than \(JSONScanner.maxDepth)") }
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "\""): _ = try readString()
        case UInt8(ascii: "{"):
            try forEachMember { (s: inout JSONScanner, _: String) throws(JSONScanError) in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try forEachElement { (s: inout JSONScanner) throws(JSONScanError) in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try readBool()
        case UInt8(ascii: "n"): guard isNull() else { throw error("invalid literal") }
        case UInt8(ascii: "-"), 0x30...0x39: _ = try numberText()
        default: throw error("unexpected character")
        }
    }

    /// The string members named in `keys` of a top-level object (others skipped); for error answers.
    mutating func topLevelStrings(_ keys: Set<String>) throws(JSONScanError) -> [String: String] {
        var found: [String: String] = [:]
        try forEachMember { (s: inout JSONScanner, key: String) throws(JSONScanError) in
            if keys.contains(key), s.peek() == UInt8(ascii: "\"") { found[key] = try s.readString() } else { try s.skipValue() }
        }
        return found
    }
}
