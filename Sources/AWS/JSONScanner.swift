// A pull scanner over JSON bytes: reads the fields a client needs straight into its structs, without building a
// tree first (a FilterLogEvents page is up to 1 MB and 10,000 events).
import Core

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
        var at = position
        let result = bytes.withUnsafeBytes { buffer -> Result<String, JSONParseError> in
            do throws(JSONParseError) { return .success(try JSONString.decode(buffer, at: &at)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let s): position = at; return s
        case .failure(let e): position = e.offset; throw error(e.reason)
        }
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
