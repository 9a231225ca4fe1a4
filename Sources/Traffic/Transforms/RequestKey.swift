// The stitcher's grouping key, (log stream, request id), built from the line's bytes without allocating.

/// Request ids are UUIDs (36 bytes), so they are stored inline; the rare longer id falls back to a String.
/// This keeps the per-line lookup free of heap allocation, which matters at a million lines per second.
struct RequestIDKey: Hashable, Sendable {
    static let inlineCapacity = 48
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    private var count: Int
    private var long: String?

    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        if bytes.count <= Self.inlineCapacity {
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: bytes) }
            long = nil
        } else {
            long = String(decoding: bytes, as: UTF8.self)
        }
    }

    init(_ text: String) {
        var text = text
        self = text.withUTF8 { RequestIDKey(UnsafeRawBufferPointer($0)) }
    }

    var string: String {
        if let long { return long }
        var copy = words
        return withUnsafeBytes(of: &copy) { String(decoding: UnsafeRawBufferPointer(rebasing: $0[0..<count]), as: UTF8.self) }
    }

    static func == (a: RequestIDKey, b: RequestIDKey) -> Bool {
        a.count == b.count && a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2
            && a.words.3 == b.words.3 && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.long == b.long
    }

    func hash(into hasher: inout Hasher) {
        if let long { hasher.combine(long); return }
        // One call over the inline bytes (and the length): cheaper than a combine per word.
        var block = (words, count)
        withUnsafeBytes(of: &block) { hasher.combine(bytes: $0) }
    }
}

struct RequestKey: Hashable, Sendable {
    var stream: Int32
    var id: RequestIDKey
}
