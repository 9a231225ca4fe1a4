// A small byte-based JSON parser for single records (NDJSON lines, access-log records, checkpoint state).

/// A parsed JSON value. Numbers that are integers and fit in 64 bits stay exact (`int`); other numbers are `double`.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// The value as an exact integer: an `int`, or a `double` without a fraction that fits in Int64.
    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d):
            guard d.isFinite, d == d.rounded(), d >= -9.2e18, d <= 9.2e18 else { return nil }
            return Int64(d)
        default: return nil
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

/// An object's members in document order (duplicates kept; lookup returns the first).
public struct JSONObject: Sendable, Equatable {
    public var members: [(key: String, value: JSONValue)]

    public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }

    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key { return member.value }
        return nil
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (l, r) in zip(lhs.members, rhs.members) where l.key != r.key || l.value != r.value { return false }
        return true
    }
}

/// Why a document is not JSON, and where (byte offset).
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// JSON into a `JSONValue` tree, with `JSONScanner`'s primitives.
public enum JSONReader {
    /// Nesting limit: our documents are shallow, and an unbounded recursion would let input crash us.
    public static let maxDepth = JSONScanner.maxDepth

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBytes { buffer in Result { () throws(JSONParseError) in try parse(buffer) } }.get()
    }

    public static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBytes { buffer in Result { () throws(JSONParseError) in try parse(buffer) } }.get()
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var scanner = JSONScanner(buffer: buffer)
        scanner.skipWhitespace()
        let value = try scanner.value(depth: 0)
        scanner.skipWhitespace()
        guard scanner.position == buffer.count else { throw scanner.error("trailing characters after the value") }
        return value
    }
}

extension JSONValue {
    /// Writes the value back as compact JSON (member order kept).
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let b): writer.bool(b)
        case .int(let i): writer.int(i)
        case .double(let d): writer.double(d)
        case .string(let s): writer.string(s)
        case .array(let items):
            writer.beginArray()
            for item in items { item.write(to: &writer) }
            writer.endArray()
        case .object(let object):
            writer.beginObject()
            for member in object.members { writer.key(member.key); member.value.write(to: &writer) }
            writer.endObject()
        }
    }

    public var jsonBytes: [UInt8] {
        var w = JSONWriter()
        write(to: &w)
        return w.bytes
    }
}

/// The one JSON string decoder: the reader and the AWS page scanner both call it.
public enum JSONString {
    /// Decodes the string whose opening quote is just before `position`, leaving `position` after the closing quote.
    /// Lone surrogates become U+FFFD; control characters and bad escapes are errors.
    public static func decode(_ buffer: UnsafeRawBufferPointer, at position: inout Int) throws(JSONParseError) -> String {
        let start = position
        // Fast path: most strings have no escapes and can be decoded in place.
        while position < buffer.count {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
                position += 1
                return s
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONParseError(offset: position, reason: "control character in string") }
            position += 1
        }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[start..<position]))
        try unescape(buffer, at: &position, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the decoded bytes of a string's content from `position` (inside the string) to its closing quote, and
    /// leaves `position` after that quote. Escapes become their UTF-8; lone surrogates become U+FFFD (EF BF BD); raw
    /// bytes are copied as they are (the caller decides how to treat invalid UTF-8).
    public static func unescape(_ buffer: UnsafeRawBufferPointer, at position: inout Int, into out: inout [UInt8]) throws(JSONParseError) {
        while position < buffer.count {
            // Plain bytes up to the next quote, backslash or control character are copied as one run.
            var run = position
            while run < buffer.count, buffer[run] >= 0x20, buffer[run] != UInt8(ascii: "\""), buffer[run] != UInt8(ascii: "\\") { run += 1 }
            if run > position {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position..<run]))
                position = run
                guard position < buffer.count else { break }
            }
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") { position += 1; return }
            if byte < 0x20 { throw JSONParseError(offset: position, reason: "control character in string") }
            position += 1
            guard position < buffer.count else { break }
            let escape = buffer[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(buffer, &position)
                if scalar >= 0xD800, scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate; otherwise it is replaced.
                    if buffer.count - position >= 6, buffer[position] == UInt8(ascii: "\\"), buffer[position + 1] == UInt8(ascii: "u") {
                        let save = position
                        position += 2
                        let low = try hex4(buffer, &position)
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
                // Every Unicode.Scalar has a UTF-8 encoding; the fallback only satisfies the optional.
                if let encoded = UTF8.encode(Unicode.Scalar(scalar) ?? "\u{FFFD}") { out.append(contentsOf: encoded) }
                else { out.append(contentsOf: [0xEF, 0xBF, 0xBD]) }
            default: throw JSONParseError(offset: position - 1, reason: "invalid escape")
            }
        }
        throw JSONParseError(offset: position, reason: "unterminated string")
    }

    static func hex4(_ buffer: UnsafeRawBufferPointer, _ position: inout Int) throws(JSONParseError) -> UInt32 {
        guard buffer.count - position >= 4 else { throw JSONParseError(offset: position, reason: "short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[position]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: throw JSONParseError(offset: position, reason: "invalid \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
