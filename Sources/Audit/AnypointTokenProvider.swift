// Connected App tokens (client credentials): cached until shortly before `expires_in`, one fetch at a time, renewed on 401.
import HTTP
import Pipeline

public struct AnypointError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case token, request, decode, deadline }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "Anypoint \(kind.rawValue): \(message)" }
}

public actor AnypointTokenProvider {
    public typealias SecretSource = @Sendable () async throws -> String

    private let client: HTTPClient
    private let tokenURL: String
    private let clientID: String
    private let secretSource: SecretSource
    private var secret: String?
    private var cached: (token: String, refreshAt: EpochMillis)?
    /// The fetch under way: concurrent callers share it instead of each fetching a token.
    private var inFlight: Task<String, any Error>?
    public private(set) var fetches = 0

    public init(client: HTTPClient, baseURL: String, clientID: String, secret: @escaping SecretSource) {
        self.client = client
        self.tokenURL = baseURL + "/accounts/api/v2/oauth2/token"
        self.clientID = clientID
        self.secretSource = secret
    }

    /// A token with time left, from the cache when possible.
    public func token(deadline: Deadline) async throws -> String {
        if let cached, EpochMillis.now() < cached.refreshAt { return cached.token }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.fetch(deadline: deadline) }
        inFlight = task
        defer { inFlight = nil }
        return try await task.value
    }

    /// The server refused `token` (401): the next call fetches a new one (unless another caller already did).
    public func invalidate(_ token: String) {
        if cached?.token == token { cached = nil }
    }

    private func fetch(deadline: Deadline) async throws -> String {
        if secret == nil {
            do { secret = try await secretSource() } catch {
                throw AnypointError(.token, "reading the client secret failed: \(error)")
            }
        }
        let secret = self.secret ?? ""
        let form = "grant_type=client_credentials&client_id=" + Form.encode(clientID) + "&client_secret=" + Form.encode(secret)
        let request = HTTPRequest(method: .POST, url: tokenURL,
                                  headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"),
                                            HTTPHeader("Accept", "application/json")],
                                  body: Array(form.utf8), timeout: .seconds(15))
        let requested = EpochMillis.now()
        let response: HTTPResponse
        do {
            // 429 (with X-RateLimit-Reset / Retry-After) and 5xx are retried inside the deadline.
            response = try await client.send(request, retry: RetryPolicy(maxAttempts: 5, base: .milliseconds(250), cap: .seconds(10)),
                                             deadline: deadline)
        } catch {
            if deadline.remainingMilliseconds() <= 50 { throw AnypointError(.deadline, "the deadline came during the token request") }
            throw AnypointError(.token, "token request failed: \(error.description)")
        }
        fetches += 1
        guard response.isSuccess else {
            var text = String(response.bodyText.prefix(200))
            if !secret.isEmpty { text = text.split(separator: secret, omittingEmptySubsequences: false).joined(separator: "***") }
            throw AnypointError(.token, "\(HTTPError.redactURL(tokenURL)) answered \(response.status): \(text)")
        }
        let json: JSONValue
        do { json = try JSONReader.parse(response.body) } catch {
            throw AnypointError(.token, "\(HTTPError.redactURL(tokenURL)) answered \(response.status) with non-JSON")
        }
        guard let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw AnypointError(.token, "the token answer has no access_token")
        }
        // No published lifetime: trust expires_in; without one, assume a short 5 minutes rather than a long guess.
        let lifetime = json["expires_in"]?.int64Value ?? json["expires_in"]?.stringValue.flatMap { Int64($0) } ?? 300
        // Renew early (10% of the lifetime, at most a minute) so that a token never expires between check and use;
        // a token revoked earlier still gets a 401, which renews it.
        let lifetimeMs = max(0, lifetime) * 1000
        let margin = min(60_000, lifetimeMs / 10)
        cached = (token, requested.adding(milliseconds: lifetimeMs - margin))
        return token
    }
}

/// application/x-www-form-urlencoded (RFC 6749 client credentials).
enum Form {
    static func encode(_ s: String) -> String {
        var out = ""
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }
}
