// Where each service's requests go: the SDKs' endpoint-override variables, else the regional AWS endpoint.
import Core

/// A service endpoint: scheme, authority and an optional base path (for a proxy that serves AWS under a prefix).
public struct AWSEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    /// Host name or address, without the port (IPv6 addresses keep their brackets).
    public let host: String
    public let port: Int?
    /// "" or a path starting with "/" and not ending with one.
    public let basePath: String
    /// True when the endpoint came from `AWS_ENDPOINT_URL*` (a local peer such as moto): S3 then uses path-style
    /// addressing, because such peers rarely resolve `bucket.host` names.
    public let isOverride: Bool

    public init(scheme: String, host: String, port: Int? = nil, basePath: String = "", isOverride: Bool) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
        self.isOverride = isOverride
    }

    /// The `Host` header value: the port only when it is not the scheme's default, as HTTP clients send it.
    public var authority: String {
        guard let port, port != (scheme == "https" ? 443 : 80) else { return host }
        return "\(host):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)\(basePath)" }

    /// `path` is already percent-encoded; `query` is the encoded query string without `?`.
    func url(host: String? = nil, path: String, query: String) -> String {
        var hostPart = host ?? self.host
        if let port, port != (scheme == "https" ? 443 : 80) { hostPart += ":\(port)" }
        return scheme + "://" + hostPart + basePath + path + (query.isEmpty ? "" : "?" + query)
    }

    /// Parses `http(s)://host[:port][/base]`. User info, queries and fragments are refused: they would either leak
    /// into logs or change what gets signed.
    public static func parse(_ text: String, isOverride: Bool = true) -> AWSEndpoint? {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = text.dropFirst(scheme.count + 3)
        guard !rest.contains("?"), !rest.contains("#"), !rest.contains("@"), !rest.contains(where: { $0 == " " || $0.isNewline }) else { return nil }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var basePath = String(rest[authorityEnd...])
        while basePath.hasSuffix("/") { basePath.removeLast() }
        var host = Substring(authority)
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        }
        if let port, !(1...65535).contains(port) { return nil }
        guard !host.isEmpty else { return nil }
        return AWSEndpoint(scheme: scheme, host: host.lowercased(), port: port, basePath: basePath, isOverride: isOverride)
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL` (the SDK convention), else
    /// `https://{prefix}.{region}.{dnsSuffix}`. An override that is set but not a URL is an error, not a silent fallback
    /// to real AWS.
    public static func resolve(_ service: AWSService, region: AWSRegion,
                               environment: [String: String]) throws(ConfigurationProblems) -> AWSEndpoint {
        for name in ["AWS_ENDPOINT_URL_" + service.environmentSuffix, "AWS_ENDPOINT_URL"] {
            guard let value = environment[name].map(trimmed), !value.isEmpty else { continue }
            guard let endpoint = parse(value) else {
                throw ConfigurationProblems("\(name) is not an http(s) URL without user info, query or fragment")
            }
            return endpoint
        }
        return AWSEndpoint(scheme: "https", host: "\(service.endpointPrefix).\(region.rawValue).\(region.dnsSuffix)",
                           isOverride: false)
    }
}
