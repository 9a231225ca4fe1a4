// RFC 3986 percent-encoding: the one encoder for SigV4 paths and queries, Runtime API ids and Edge request targets.

public enum PercentEncoding {
    /// Which bytes stay as they are; every other byte becomes `%XX` (upper-case hex).
    public enum Allowed: Sendable {
        /// Unreserved only (ALPHA DIGIT `-` `.` `_` `~`): a query name or value for SigV4, one path segment of an id.
        case unreserved
        /// Unreserved and `/`: an S3 key or a SigV4 canonical path.
        case unreservedAndSlash
        /// `pchar` and `/`: unreserved, sub-delims, `:` and `@`.
        case path
        /// One segment: `pchar` without `/`.
        case pathSegment
        /// A query name or value: unreserved plus the sub-delims that do not delimit pairs, `:`, `@`, `/` and `?`.
        case queryComponent
    }

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    @inline(__always) public static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
    }

    @inline(__always) static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
    }

    @inline(__always) static func isAllowed(_ b: UInt8, _ allowed: Allowed) -> Bool {
        if isUnreserved(b) { return true }
        switch allowed {
        case .unreserved: return false
        case .unreservedAndSlash: return b == UInt8(ascii: "/")
        case .path, .pathSegment, .queryComponent: break
        }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        case UInt8(ascii: "&"), UInt8(ascii: "="), UInt8(ascii: "+"):
            return allowed != .queryComponent
        case UInt8(ascii: "/"):
            return allowed != .pathSegment
        case UInt8(ascii: "?"):
            return allowed == .queryComponent
        default:
            return false
        }
    }

    /// Appends `text` encoded. `keepEscapes`: a `%` followed by two hex digits is an escape already and stays.
    public static func append(_ text: String, to out: inout [UInt8], allowed: Allowed, keepEscapes: Bool = false) {
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if isAllowed(b, allowed) {
                out.append(b)
            } else if b == UInt8(ascii: "%"), keepEscapes, i + 2 < bytes.count, isHex(bytes[i + 1]), isHex(bytes[i + 2]) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
            i += 1
        }
    }

    public static func encode(_ text: String, allowed: Allowed, keepEscapes: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        append(text, to: &out, allowed: allowed, keepEscapes: keepEscapes)
        return String(decoding: out, as: UTF8.self)
    }
}
