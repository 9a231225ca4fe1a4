// OAuth2 client-credentials tokens for UAP: fetched once, cached across invocations until shortly before expiry.
import HTTP
import Pipeline

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1): in the form body, or HTTP Basic.
public enum TokenAuthMethod: String, Sendable, CaseIterable {
    case body, basic
}

public struct TokenError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { "UAP token: " + message }
}

public actor UAPTokenProvider {
    public typealias SecretSource = @Sendable () async throws -> String

    private let client: HTTPClient
    private let tokenURL: String
    private let clientID: String
    private let secretSource: SecretSource
    private let method: TokenAuthMethod
    private let retry: RetryPolicy
    private var secret: String?
    private var cached: (token: String, refreshAt: EpochMillis)?
    /// The fetch under way: concurrent callers wait for it instead of each fetching a token of its own.
    private var inFlight: Task<String, any Error>?
    public private(set) var fetches = 0

    public init(client: HTTPClient, tokenURL: String, clientID: String, method: TokenAuthMethod = .body,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 4), secret: @escaping SecretSource) {
        self.client = client
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.secretSource = secret
        self.method = method
        self.retry = retry
    }

    /// A valid token, from the cache when it has time left.
    public func token(deadline: Deadline, now: EpochMillis = .now()) async throws -> String {
        if let cached, now < cached.refreshAt { return cached.token }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.fetch(deadline: deadline, now: now) }
        inFlight = task
        defer { inFlight = nil }
        return try await task.value
    }

    /// The server refused `token` (401): forget it so the next call fetches a new one.
    public func invalidate(_ token: String) {
        if cached?.token == token { cached = nil }
    }

    private func fetch(deadline: Deadline, now: EpochMillis) async throws -> String {
        if secret == nil { secret = try await secretSource() }
        let secret = self.secret ?? ""
        var headers = [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"), HTTPHeader("Accept", "application/json")]
        var form = "grant_type=client_credentials"
        switch method {
        case .body:
            form += "&client_id=" + FormEncoding.encode(clientID) + "&client_secret=" + FormEncoding.encode(secret)
        case .basic:
            let pair = FormEncoding.encode(clientID) + ":" + FormEncoding.encode(secret)
            headers.append(HTTPHeader("Authorization", "Basic " + Base64.encode(Array(pair.utf8))))
        }
        let response: HTTPResponse
        do {
            response = try await client.send(HTTPRequest(method: .POST, url: tokenURL, headers: headers, body: Array(form.utf8),
                                                         timeout: .seconds(10)), retry: retry, deadline: deadline)
        } catch {
            throw TokenError(message: "token request failed: \(error.description)")
        }
        fetches += 1
        guard response.isSuccess else {
            // The answer may echo the request; show only its beginning and never our secret.
            let prefix = String(response.bodyText.prefix(200)).replacingAll(secret, with: "***")
            throw TokenError(message: "token endpoint \(HTTPError.redactURL(tokenURL)) answered \(response.status): \(prefix)")
        }
        let json: JSONValue
        do { json = try JSONReader.parse(response.body) } catch {
            throw TokenError(message: "token endpoint answered non-JSON (\(response.status))")
        }
        guard let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw TokenError(message: "token endpoint answer has no access_token")
        }
        // expires_in is a number by the RFC; some servers send a string. Unknown lifetime: assume 5 minutes.
        let lifetime = json["expires_in"]?.int64Value ?? json["expires_in"]?.stringValue.flatMap { Int64($0) } ?? 300
        // Renew early: 10% of the lifetime, at least 30 s, so a token never expires in flight.
        let margin = max(30, lifetime / 10)
        cached = (token, now.adding(milliseconds: max(0, lifetime - margin) * 1000))
        return token
    }
}

/// application/x-www-form-urlencoded, as RFC 6749 asks for client credentials.
public enum FormEncoding {
    public static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }
}

public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
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

extension String {
    func replacingAll(_ needle: String, with replacement: String) -> String {
        guard !needle.isEmpty else { return self }
        return self.split(separator: needle, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
