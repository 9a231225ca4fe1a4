// Every credential the process holds or derives, masked in everything it logs or returns: one place, one rule.

/// Servers that echo the request in an error body (many proxies and gateways do) would otherwise put an
/// `Authorization` value into the log or the summary. Whoever obtains or derives a credential registers it here (the
/// client secret, its form-encoded and HTTP Basic forms, every token received, collector tokens); the logger and the
/// handlers' answers pass through `redact`. Values shorter than `minimumLength` are not registered: masking them would
/// garble ordinary text, and no real credential is that short.
public final class SecretRedactor: Sendable {
    public static let shared = SecretRedactor()
    public static let minimumLength = 8
    /// Tokens are renewed for the life of a warm sandbox; the oldest are forgotten beyond this many.
    public static let capacity = 64
    public static let mask = "***"

    /// In registration order (the oldest are forgotten first).
    private let values = Locked<[[UInt8]]>([])

    public init() {}

    public func register(_ value: String) {
        let bytes = Array(value.utf8)
        guard bytes.count >= Self.minimumLength else { return }
        values.withLock { list in
            guard !list.contains(bytes) else { return }
            list.append(bytes)
            if list.count > Self.capacity { list.removeFirst(list.count - Self.capacity) }
        }
    }

    public var isEmpty: Bool { values.withLock { $0.isEmpty } }

    public func redact(_ text: String) -> String {
        if isEmpty { return text }
        return String(decoding: redact(Array(text.utf8)), as: UTF8.self)
    }

    public func redact(_ bytes: [UInt8]) -> [UInt8] {
        let list = values.withLock { $0 }
        guard !list.isEmpty else { return bytes }
        var out = bytes
        // Longest first, so a value that contains a shorter one is masked whole.
        for value in list.sorted(by: { $0.count > $1.count }) { out = Self.replacing(value, in: out) }
        return out
    }

    static func replacing(_ needle: [UInt8], in haystack: [UInt8]) -> [UInt8] {
        let n = needle.count
        guard n > 0, haystack.count >= n else { return haystack }
        var out: [UInt8] = []
        var i = 0
        var found = false
        while i <= haystack.count - n {
            if haystack[i] == needle[0], haystack[i..<(i + n)].elementsEqual(needle) {
                if !found { out.reserveCapacity(haystack.count); out.append(contentsOf: haystack[0..<i]); found = true }
                out.append(contentsOf: mask.utf8)
                i += n
                continue
            }
            if found { out.append(haystack[i]) }
            i += 1
        }
        guard found else { return haystack }
        out.append(contentsOf: haystack[i...])
        return out
    }
}
