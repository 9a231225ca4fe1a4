// Just enough XML for S3's answers: the text of simple elements, found by name, entities decoded.

enum XML {
    /// The text of the first `<name>…</name>` (or "" for `<name/>`) in `bytes`, or nil if there is none.
    static func firstElementText<C: RandomAccessCollection>(_ name: String, in bytes: C) -> String?
    where C.Element == UInt8, C.Index == Int {
        elements(name, in: bytes, limit: 1).first.map { decode(bytes[$0]) }
    }

    /// The byte ranges of the contents of every `<name …>…</name>` element, in document order. Elements of the same
    /// name do not nest in S3's answers, so the first closing tag ends each one.
    static func elements<C: RandomAccessCollection>(_ name: String, in bytes: C, limit: Int = .max) -> [Range<Int>]
    where C.Element == UInt8, C.Index == Int {
        let open = Array(("<" + name).utf8)
        let close = Array(("</" + name + ">").utf8)
        var result: [Range<Int>] = []
        var i = bytes.startIndex
        while i < bytes.endIndex, result.count < limit {
            guard let start = find(open, in: bytes, from: i) else { break }
            let after = start + open.count
            guard after < bytes.endIndex else { break }
            let next = bytes[after]
            // `<Key>` must not match `<KeyCount>`.
            guard next == UInt8(ascii: ">") || next == UInt8(ascii: " ") || next == UInt8(ascii: "/") || next == 0x09
                    || next == 0x0A || next == 0x0D else { i = after; continue }
            guard let tagEnd = bytes[after...].firstIndex(of: UInt8(ascii: ">")) else { break }
            if bytes[tagEnd - 1] == UInt8(ascii: "/") {
                result.append(tagEnd + 1..<tagEnd + 1)
                i = tagEnd + 1
                continue
            }
            guard let end = find(close, in: bytes, from: tagEnd + 1) else { break }
            result.append(tagEnd + 1..<end)
            i = end + close.count
        }
        return result
    }

    static func find<C: RandomAccessCollection>(_ needle: [UInt8], in bytes: C, from: Int) -> Int?
    where C.Element == UInt8, C.Index == Int {
        guard let first = needle.first, bytes.endIndex - from >= needle.count else { return nil }
        var i = from
        let last = bytes.endIndex - needle.count
        while i <= last {
            if bytes[i] == first {
                var match = true
                for k in 1..<needle.count where bytes[i + k] != needle[k] { match = false; break }
                if match { return i }
            }
            i += 1
        }
        return nil
    }

    /// Decodes the five named entities, numeric references and CDATA sections.
    static func decode<C: Collection>(_ text: C) -> String where C.Element == UInt8 {
        let bytes = Array(text)
        guard bytes.contains(UInt8(ascii: "&")) || bytes.contains(UInt8(ascii: "<")) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let cdataOpen = Array("<![CDATA[".utf8), cdataClose = Array("]]>".utf8)
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "<"), bytes.count - i >= cdataOpen.count, Array(bytes[i..<i + cdataOpen.count]) == cdataOpen,
               let end = find(cdataClose, in: bytes, from: i + cdataOpen.count) {
                out.append(contentsOf: bytes[(i + cdataOpen.count)..<end])
                i = end + cdataClose.count
                continue
            }
            guard b == UInt8(ascii: "&"), let semi = bytes[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                out.append(b); i += 1; continue
            }
            let entity = String(decoding: bytes[(i + 1)..<semi], as: UTF8.self)
            var replacement: [UInt8]?
            switch entity {
            case "amp": replacement = [UInt8(ascii: "&")]
            case "lt": replacement = [UInt8(ascii: "<")]
            case "gt": replacement = [UInt8(ascii: ">")]
            case "quot": replacement = [UInt8(ascii: "\"")]
            case "apos": replacement = [UInt8(ascii: "'")]
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    replacement = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
                } else if entity.hasPrefix("#") {
                    replacement = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
                }
            }
            if let replacement {
                out.append(contentsOf: replacement)
                i = semi + 1
            } else {
                out.append(b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
