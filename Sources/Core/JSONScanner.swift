// The one JSON tokenizer: a pull scanner over bytes in place. Clients read the fields they need straight into their
// structs (a FilterLogEvents page is up to 1 MB and 10,000 events; an audit page keeps its entries' raw bytes), and
// `JSONReader` builds a `JSONValue` tree with the same primitives.

/// Reads JSON from a buffer it does not own: use it inside `scan(_:_:)` (or `withUnsafeBytes`).
public struct JSONScanner {
    public let buffer: UnsafeRawBufferPointer
    public var position = 0
    /// Nesting limit: our documents are shallow, and an unbounded recursion would let input crash us.
    public static let maxDepth = 256

    public init(buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// Runs `body` with a scanner over `bytes`.
    public static func scan<R>(_ bytes: [UInt8], _ body: (inout JSONScanner) throws(JSONParseError) -> R) throws(JSONParseError) -> R {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> R in
                var scanner = JSONScanner(buffer: raw)
                return try body(&scanner)
            }
        }.get()
    }

    public func error(_ reason: String) -> JSONParseError { JSONParseError(offset: position, reason: reason) }

    public mutating func skipWhitespace() {
        while position < buffer.count {
            switch buffer[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < buffer.count ? buffer[position] : nil
    }

    public mutating func consume(_ byte: UInt8, _ what: String) throws(JSONParseError) {
        guard peek() == byte else { throw error("expected \(what)") }
        position += 1
    }

    /// At the end: only whitespace may follow the top-level value.
    public mutating func finish() throws(JSONParseError) {
        guard peek() == nil else { throw error("trailing characters after the value") }
    }

    // MARK: objects and arrays

    /// Reads an object, calling `body` with each member name; `body` must read or skip exactly that member's value.
    public mutating func forEachMember(_ body: (inout JSONScanner, String) throws(JSONParseError) -> Void) throws(JSONParseError) {
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
    public mutating func forEachElement(_ body: (inout JSONScanner) throws(JSONParseError) -> Void) throws(JSONParseError) {
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

    public mutating func isNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), buffer.count - position >= 4,
              buffer[position + 1] == UInt8(ascii: "u"), buffer[position + 2] == UInt8(ascii: "l"),
              buffer[position + 3] == UInt8(ascii: "l") else { return false }
        position += 4
        return true
    }

    // MARK: scalars

    public mutating func readStringOrNull() throws(JSONParseError) -> String? {
        if isNull() { return nil }
        return try readString()
    }

    public mutating func readString() throws(JSONParseError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw error("expected a string") }
        position += 1
        return try JSONString.decode(buffer, at: &position)
    }

    /// An integer; a number with a fraction or exponent is accepted when it is integral (some peers send 1.7e12).
    public mutating func readInt64() throws(JSONParseError) -> Int64 {
        guard let c = peek(), c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else { throw error("expected a number") }
        let start = position
        var negative = false
        if c == UInt8(ascii: "-") { negative = true; position += 1 }
        var value: Int64 = 0
        var digits = 0
        var overflow = false
        while position < buffer.count, buffer[position] >= 0x30, buffer[position] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(buffer[position] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw error("expected digits") }
        if position < buffer.count, buffer[position] == UInt8(ascii: ".") || buffer[position] | 0x20 == UInt8(ascii: "e") {
            position = start
            let text = numberText()
            guard let d = Double(text), d.isFinite, d == d.rounded(), abs(d) < 9.2e18 else {
                throw error("expected an integer")
            }
            return Int64(d)
        }
        guard !overflow else { throw error("integer out of range") }
        return negative ? -value : value
    }

    private mutating func numberText() -> String {
        let start = position
        while position < buffer.count {
            switch buffer[position] {
            case 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                position += 1
            default:
                return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
            }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
    }

    public mutating func readBool() throws(JSONParseError) -> Bool {
        guard let c = peek() else { throw error("expected true or false") }
        if c == UInt8(ascii: "t"), (try? literal("true")) != nil { return true }
        if c == UInt8(ascii: "f"), (try? literal("false")) != nil { return false }
        throw error("expected true or false")
    }

    /// Skips one value of any kind (strings are checked, not decoded).
    public mutating func skipValue(depth: Int = 0) throws(JSONParseError) {
        guard depth < JSONScanner.maxDepth else { throw error("nesting deeper than \(JSONScanner.maxDepth)") }
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"):
            try forEachMember { (s: inout JSONScanner, _: String) throws(JSONParseError) in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try forEachElement { (s: inout JSONScanner) throws(JSONParseError) in try s.skipValue(depth: depth + 1) }
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try readBool()
        case UInt8(ascii: "n"): guard isNull() else { throw error("invalid literal") }
        case UInt8(ascii: "-"), 0x30...0x39: _ = try numberToken()
        default: throw error("unexpected character")
        }
    }

    /// Skips one value and returns where it lies in the buffer (its bytes as sent).
    public mutating func valueRange() throws(JSONParseError) -> Range<Int> {
        _ = peek()
        let start = position
        try skipValue()
        return start..<position
    }

    /// The bytes of one value found by its strings and brackets alone, without checking what is inside (nested
    /// iteratively, so depth cannot exhaust the stack): for a list whose items are kept as sent even when one of
    /// them is not valid JSON (an audit page's entries).
    public mutating func rawValueRange() throws(JSONParseError) -> Range<Int> {
        guard peek() != nil else { throw error("unexpected end of input") }
        let start = position
        var depth = 0
        repeat {
            guard position < buffer.count else { throw error("unexpected end of input") }
            switch buffer[position] {
            case UInt8(ascii: "\""):
                position += 1
                while true {
                    guard position < buffer.count else { throw error("unterminated string") }
                    let c = buffer[position]
                    position += c == UInt8(ascii: "\\") ? 2 : 1
                    if c == UInt8(ascii: "\"") { break }
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                position += 1
                guard depth <= JSONScanner.maxDepth else { throw error("nesting deeper than \(JSONScanner.maxDepth)") }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                position += 1
                guard depth >= 0 else { throw error("unbalanced brackets") }
            default:
                if depth == 0 {
                    // A scalar at the top: it runs to the next delimiter.
                    while position < buffer.count {
                        switch buffer[position] {
                        case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D: break
                        default: position += 1; continue
                        }
                        break
                    }
                } else {
                    position += 1
                }
            }
        } while depth > 0
        guard position > start, position <= buffer.count else { throw error("empty value") }
        return start..<position
    }

    /// A string, checked (no control characters, known escapes, four hex digits after \\u) without building it.
    mutating func skipString() throws(JSONParseError) {
        position += 1
        while position < buffer.count {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") { position += 1; return }
            if byte < 0x20 { throw error("control character in string") }
            position += 1
            guard byte == UInt8(ascii: "\\") else { continue }
            guard position < buffer.count else { break }
            switch buffer[position] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                position += 1
            case UInt8(ascii: "u"):
                position += 1
                _ = try JSONString.hex4(buffer, &position)
            default: throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    /// The string members named in `keys` of a top-level object (others skipped); for error answers.
    public mutating func topLevelStrings(_ keys: Set<String>) throws(JSONParseError) -> [String: String] {
        var found: [String: String] = [:]
        try forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
            if keys.contains(key), s.peek() == UInt8(ascii: "\"") { found[key] = try s.readString() } else { try s.skipValue() }
        }
        return found
    }

    // MARK: the tree (JSONReader)

    /// One value as a tree; `position` must be at its first byte (no whitespace before it).
    public mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < JSONScanner.maxDepth else { throw error("nesting deeper than \(JSONScanner.maxDepth)") }
        guard position < buffer.count else { throw error("unexpected end of input") }
        switch buffer[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): position += 1; return .string(try JSONString.decode(buffer, at: &position))
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard buffer.count - position >= count else { throw error("unexpected end of input") }
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
        for i in 0..<count where buffer[position + i] != expected[i] { throw error("invalid literal") }
        position += count
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < buffer.count, buffer[position] == UInt8(ascii: "}") { position += 1; return .object(JSONObject(members)) }
        while true {
            skipWhitespace()
            guard position < buffer.count, buffer[position] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            position += 1
            let key = try JSONString.decode(buffer, at: &position)
            skipWhitespace()
            guard position < buffer.count, buffer[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard position < buffer.count else { throw error("unexpected end of input") }
            if buffer[position] == UInt8(ascii: ",") { position += 1; continue }
            if buffer[position] == UInt8(ascii: "}") { position += 1; return .object(JSONObject(members)) }
            throw error("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < buffer.count, buffer[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard position < buffer.count else { throw error("unexpected end of input") }
            if buffer[position] == UInt8(ascii: ",") { position += 1; continue }
            if buffer[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            throw error("expected ',' or ']'")
        }
    }

    /// A number by the JSON grammar: an integer when it is one and fits, else a double.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let (range, isInteger) = try numberToken()
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
        if isInteger, let exact = Int64(text) { return .int(exact) }
        guard let double = Double(text) else { throw error("number out of range") }
        return .double(double)
    }

    /// Where a number lies, checked by the JSON grammar (nothing converted), and whether it is written as an integer.
    mutating func numberToken() throws(JSONParseError) -> (range: Range<Int>, isInteger: Bool) {
        let start = position
        var isInteger = true
        if buffer[position] == UInt8(ascii: "-") { position += 1 }
        let digitsStart = position
        while position < buffer.count, buffer[position] >= 0x30, buffer[position] <= 0x39 { position += 1 }
        guard position > digitsStart else { throw error("expected digits") }
        if buffer[digitsStart] == 0x30, position - digitsStart > 1 { throw error("leading zero") }
        if position < buffer.count, buffer[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            let fractionStart = position
            while position < buffer.count, buffer[position] >= 0x30, buffer[position] <= 0x39 { position += 1 }
            guard position > fractionStart else { throw error("expected fraction digits") }
        }
        if position < buffer.count, buffer[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if position < buffer.count, buffer[position] == UInt8(ascii: "+") || buffer[position] == UInt8(ascii: "-") { position += 1 }
            let exponentStart = position
            while position < buffer.count, buffer[position] >= 0x30, buffer[position] <= 0x39 { position += 1 }
            guard position > exponentStart else { throw error("expected exponent digits") }
        }
        return (start..<position, isInteger)
    }
}
