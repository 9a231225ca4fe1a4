// Standard base64 (RFC 4648 §4): HTTP Basic credentials, and the awslogs subscription payload.

public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends the base64 of `bytes` to `out` (no allocation beyond `out`'s growth): the Edge encoder's hot path.
    public static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let n = bytes.count
        guard n > 0 else { return }
        let outCount = (n + 2) / 3 * 4
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: outCount))
        alphabet.withUnsafeBufferPointer { table in
            out.withUnsafeMutableBufferPointer { dst in
                var i = 0, o = start
                while i + 2 < n {
                    let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                    dst[o] = table[Int(v >> 18 & 63)]; dst[o + 1] = table[Int(v >> 12 & 63)]
                    dst[o + 2] = table[Int(v >> 6 & 63)]; dst[o + 3] = table[Int(v & 63)]
                    i += 3; o += 4
                }
                if n - i == 1 {
                    let v = UInt32(bytes[i]) << 16
                    dst[o] = table[Int(v >> 18 & 63)]; dst[o + 1] = table[Int(v >> 12 & 63)]
                    dst[o + 2] = UInt8(ascii: "="); dst[o + 3] = UInt8(ascii: "=")
                } else if n - i == 2 {
                    let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                    dst[o] = table[Int(v >> 18 & 63)]; dst[o + 1] = table[Int(v >> 12 & 63)]
                    dst[o + 2] = table[Int(v >> 6 & 63)]; dst[o + 3] = UInt8(ascii: "=")
                }
            }
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard base64 (whitespace ignored); nil on anything else.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0, padding = 0
        for c in text {
            if c == UInt8(ascii: "=") { padding += 1; continue }
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            guard padding == 0 else { return nil }
            let v = table[Int(c)]
            guard v != 0xFF else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return padding <= 2 ? out : nil
    }
}
