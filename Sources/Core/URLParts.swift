// The parts of an absolute http(s) URL, and the one rule for where a credential may travel in the clear.

/// `scheme://[userinfo@]host[:port][/path][?query][#fragment]`, split without decoding (RFC 3986 §3).
public struct URLParts: Sendable, Equatable {
    public var scheme: String
    public var userinfo: String?
    /// As written; an IPv6 literal keeps its brackets.
    public var host: String
    public var port: Int?

    /// nil when `text` is not an absolute URL with a host (or has white space or control characters in it).
    public init?(_ text: String) {
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return nil }
        guard let sep = text.firstRange(of: "://") else { return nil }
        let scheme = text[..<sep.lowerBound]
        guard let first = scheme.first, first.isLetter,
              scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) else { return nil }
        let rest = text[sep.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        // The last `@` ends the userinfo: `http://127.0.0.1@attacker.example/` goes to attacker.example.
        if let at = authority.lastIndex(of: "@") {
            userinfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        var hostPart = authority
        port = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (0...65_535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            if !digits.isEmpty {
                guard let p = Int(digits), (0...65_535).contains(p) else { return nil }
                port = p
            }
        }
        guard !hostPart.isEmpty else { return nil }
        self.scheme = scheme.lowercased()
        self.host = String(hostPart)
    }

    /// 127.0.0.0/8, `::1`, or the name `localhost` exactly: nothing that merely starts like one.
    public var isLoopbackHost: Bool {
        let h = host.lowercased()
        if h == "localhost" { return true }
        if h.hasPrefix("[") {
            let inner = h.dropFirst().dropLast()
            return inner == "::1" || inner == "0:0:0:0:0:0:0:1"
        }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { o in !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isASCII) && o.allSatisfy(\.isNumber) && Int(o)! <= 255 }
    }

    /// Why a URL that carries a credential (a secret, a token, the entries it protects) may not be used, or nil:
    /// `https://` anywhere, `http://` only to a loopback host.
    public static func credentialProblem(_ text: String) -> String? {
        guard let url = URLParts(text), url.scheme == "https" || url.scheme == "http" else { return "is not an http(s) URL" }
        if url.scheme == "http" && !url.isLoopbackHost {
            return "must be https:// (http:// is accepted only for a loopback host: 127.0.0.0/8, [::1] or localhost)"
        }
        return nil
    }
}

extension URLParts {
    /// Query parameters that carry a credential (compared without case).
    static let credentialParameters: Set<String> = [
        "token", "access_token", "id_token", "refresh_token", "api_key", "apikey", "key", "sig", "signature", "password",
        "passwd", "secret", "client_secret", "code", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    ]

    /// `text` (one URL, or several in a comma list, or prose holding some) with the userinfo of every URL and the values
    /// of credential query parameters replaced by `***`.
    public static func redactingCredentials(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let sep = rest.firstRange(of: "://") {
            out += rest[..<sep.upperBound]
            rest = rest[sep.upperBound...]
            // The URL runs to white space, a comma or a quote (the end of a list item).
            let end = rest.firstIndex { $0 == "," || $0 == " " || $0 == "\"" || $0 == "'" || $0.isNewline } ?? rest.endIndex
            out += redactOne(rest[..<end])
            rest = rest[end...]
        }
        return out + rest
    }

    /// One URL after its `scheme://`.
    static func redactOne(_ afterScheme: Substring) -> String {
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        var authority = afterScheme[..<authorityEnd]
        var result = ""
        if let at = authority.lastIndex(of: "@") {
            result += "***@"
            authority = authority[authority.index(after: at)...]
        }
        result += authority
        let tail = afterScheme[authorityEnd...]
        guard let q = tail.firstIndex(of: "?") else { return result + tail }
        result += tail[...q]
        let queryEnd = tail[q...].firstIndex(of: "#") ?? tail.endIndex
        let pairs = tail[tail.index(after: q)..<queryEnd].split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let eq = pair.firstIndex(of: "=") else { return String(pair) }
            let name = pair[..<eq]
            return credentialParameters.contains(name.lowercased()) ? name + "=***" : String(pair)
        }
        return result + pairs.joined(separator: "&") + tail[queryEnd...]
    }
}
