// Requests, responses and errors of the one HTTP client apitap uses.

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

public enum HTTPMethod: String, Sendable {
    case GET, POST, PUT, DELETE, HEAD, PATCH
}

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    /// gzip the body and add `Content-Encoding: gzip`.
    public var gzipBody: Bool
    /// Whole-transfer limit; nil means none (the Runtime API's `/next` must never time out).
    public var timeout: Duration?
    public var connectTimeout: Duration

    public init(method: HTTPMethod = .GET, url: String, headers: [HTTPHeader] = [], body: [UInt8] = [],
                gzipBody: Bool = false, timeout: Duration? = .seconds(30), connectTimeout: Duration = .seconds(3)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.gzipBody = gzipBody
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    /// The body, already decompressed when the server sent `Content-Encoding: gzip`.
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// What went wrong with a request, for the operator: which URL (without its query, which may carry
/// a signature), which status, and the first bytes of the answer. Never request headers or bodies.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case invalidRequest, connect, timeout, tls, transport, status, decode
    }

    public let kind: Kind
    public let url: String
    public let status: Int?
    public let bodyPrefix: String
    public let message: String
    /// The response that produced a `.status` error, for callers that inspect `Retry-After` and the like.
    public let response: HTTPResponse?

    public init(kind: Kind, url: String, status: Int? = nil, body: [UInt8] = [], message: String, response: HTTPResponse? = nil) {
        self.kind = kind
        self.url = HTTPError.redact(url)
        self.status = status
        self.bodyPrefix = HTTPError.prefix(body)
        self.message = message
        self.response = response
    }

    public var description: String {
        var text = "HTTP \(kind.rawValue) error for \(url)"
        if let status { text += ": status \(status)" }
        if !message.isEmpty { text += ": \(message)" }
        if !bodyPrefix.isEmpty { text += "; answer begins: \(bodyPrefix)" }
        return text
    }

    /// Timeouts, resets, 408, 429 and 5xx are worth another try; other 4xx are not.
    public var isRetryable: Bool {
        switch kind {
        case .connect, .timeout, .transport: return true
        case .status: return status.map { $0 == 408 || $0 == 429 || $0 >= 500 } ?? false
        case .tls, .invalidRequest, .decode: return false
        }
    }

    /// A URL as it may appear in logs and errors: no query, fragment or user info.
    public static func redactURL(_ url: String) -> String { redact(url) }

    static func redact(_ url: String) -> String {
        var base = url
        if let q = base.firstIndex(where: { $0 == "?" || $0 == "#" }) { base = String(base[..<q]) }
        // Drop any user:password@ part.
        let chars = Array(base)
        if let colon = (0..<max(chars.count - 2, 0)).first(where: { chars[$0] == ":" && chars[$0 + 1] == "/" && chars[$0 + 2] == "/" }) {
            let authorityStart = colon + 3
            let authorityEnd = chars[authorityStart...].firstIndex(of: "/") ?? chars.count
            if let at = chars[authorityStart..<authorityEnd].lastIndex(of: "@") {
                base = String(chars[..<authorityStart]) + String(chars[(at + 1)...])
            }
        }
        return base
    }

    static func prefix(_ body: [UInt8], limit: Int = 200) -> String {
        let text = String(decoding: body.prefix(limit), as: UTF8.self)
        return text.map { $0.isNewline ? " " : $0 }.reduce(into: "") { $0.append($1) }
    }
}
