// A byte-oriented JSON writer: the one way apitap produces JSON on hot paths and at the edges.

/// Appends JSON tokens to a growing byte buffer. It does not check structure (that is the caller's job);
/// it only guarantees correct string escaping and number rendering.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: structure

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"name":` inside an object; the value written next belongs to it.
    public mutating func key(_ name: String) {
        separator()
        JSONWriter.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    // MARK: values

    public mutating func string(_ value: String) { separator(); JSONWriter.appendQuoted(value, to: &bytes) }
    public mutating func string<C: Collection>(utf8 value: C) where C.Element == UInt8 {
        separator(); JSONWriter.appendQuoted(utf8: value, to: &bytes)
    }
    public mutating func int<I: BinaryInteger>(_ value: I) { separator(); bytes.append(contentsOf: String(value).utf8) }
    public mutating func double(_ value: Double) {
        separator()
        if value.isFinite {
            if value == value.rounded(), abs(value) < 1e15 { bytes.append(contentsOf: String(Int64(value)).utf8) }
            else { bytes.append(contentsOf: String(value).utf8) }
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }
    public mutating func bool(_ value: Bool) { separator(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func null() { separator(); bytes.append(contentsOf: "null".utf8) }
    /// Inserts already-serialised JSON as one value (for example an event passed through verbatim).
    public mutating func raw<C: Collection>(json: C) where C.Element == UInt8 { separator(); bytes.append(contentsOf: json) }

    public mutating func optionalString(_ value: String?) { if let value { string(value) } else { null() } }

    // MARK: convenience pairs

    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    public mutating func field(_ name: String, _ value: String?) { key(name); optionalString(value) }
    public mutating func field<I: BinaryInteger>(_ name: String, _ value: I) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Double) { key(name); double(value) }
    public mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separator() {
        let depth = needsComma.count - 1
        if needsComma[depth] { bytes.append(UInt8(ascii: ",")) } else { needsComma[depth] = true }
    }

    // MARK: escaping

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendQuoted(utf8: $0, to: &out) }
    }

    /// Quotes UTF-8 bytes. Invalid UTF-8 is not repaired here: callers decide (log lines are already valid text).
    public static func appendQuoted<C: Collection>(utf8 value: C, to out: inout [UInt8]) where C.Element == UInt8 {
        if let done: Void = value.withContiguousStorageIfAvailable({ appendQuotedFast(UnsafeRawBufferPointer($0), to: &out) }) { return done }
        let copy = Array(value)
        copy.withUnsafeBytes { appendQuotedFast($0, to: &out) }
    }

    static func appendQuotedFast(_ value: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = value.count
        while i < n {
            let byte = value[i]
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") { i += 1; continue }
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[runStart..<i])) }
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
            i += 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[runStart..<n])) }
        out.append(UInt8(ascii: "\""))
    }
}
