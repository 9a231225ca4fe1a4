// Percent-encoding as SigV4 defines it (RFC 3986 unreserved characters stay, everything else is %XX upper-case),
// over the shared encoder in Core.

import Core

enum URIEncoding {
    /// Encodes every byte of the UTF-8 form except the unreserved ones (and `/` when `keepSlash`).
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        PercentEncoding.encode(text, allowed: keepSlash ? .unreservedAndSlash : .unreserved)
    }

    /// One encoded path segment per element, joined with "/" after a leading "/".
    static func path(_ segments: [String]) -> String {
        "/" + segments.map { encode($0) }.joined(separator: "/")
    }

    /// Removes `.` and `..` segments and empty segments (`//`), keeping a trailing slash, as the SigV4 reference
    /// implementations normalise non-S3 paths.
    static func normalizePath(_ path: String) -> String {
        var stack: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { _ = stack.popLast(); continue }
            stack.append(segment)
        }
        var result = "/" + stack.joined(separator: "/")
        if path.hasSuffix("/") && result != "/" { result += "/" }
        return result
    }
}

enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func lower<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
