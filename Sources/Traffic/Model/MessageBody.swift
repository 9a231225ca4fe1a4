// A request or response body as the bytes that were logged: the Edge format carries them exactly (base64).

/// Body bytes. Logged bodies are text almost always, but nothing guarantees valid UTF-8 (a gateway logs what the
/// client sent), and the Edge format carries bytes, so the model keeps bytes and decodes text only where text is
/// needed (the native format, filters, tests).
public struct MessageBody: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { self.bytes = Array(text.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    /// The body as text; invalid UTF-8 sequences become U+FFFD (the native format is JSON text, so it cannot do better).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { text }
    public var count: Int { bytes.count }
}
