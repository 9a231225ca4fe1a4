// OAuth2 client-credentials tokens (RFC 6749 §4.4), for UAP and for Anypoint Connected Apps: one fetch at a time,
// cached across invocations until shortly before `expires_in`, forgotten on a 401 so the next call renews it.
import Core

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1): in the form body, or HTTP Basic.
public enum TokenAuthMethod: String, Sendable, CaseIterable {
    case body, basic
}

public struct TokenError: Error, CustomStringConvertible, Sendable {
    /// Whose token (`UAP`, `Anypoint`): the start of every message.
    public let service: String
    public let message: String
    /// The deadline came before a token could be had (not a fault of the credentials or the endpoint).
    public let deadlineReached: Bool
    public init(service: String, message: String, deadlineReached: Bool = false) {
        self.service = service
        self.message = message
        self.deadlineReached = deadlineReached
    }
    public var description: String { "\(service) token: " + message }
}

/// A secret read on first use (from Secrets Manager, say) and kept for the life of the process.
public actor CachedSecret {
    public typealias Source = @Sendable () async throws -> String
    private let source: Source
    private var value: String?

    public init(_ source: @escaping Source) { self.source = source }

    public func get() async throws -> String {
        if let value { return value }
        let v = try await source()
        // Every secret read this way (client secrets, collector tokens) is masked in logs and answers from now on.
        SecretRedactor.shared.register(v)
        SecretRedactor.shared.register(FormEncoding.encode(v))
        value = v
        return v
    }
}

public actor ClientCredentialsTokenProvider {
    public typealias SecretSource = CachedSecret.Source

    public let service: String
    private let client: HTTPClient
    private let tokenURL: String
    private let clientID: String
    private let secret: CachedSecret
    private let method: TokenAuthMethod
    private let retry: RetryPolicy
    private var cached: (token: String, refreshAt: EpochMillis)?
    /// The fetch under way: concurrent callers wait for it instead of each fetching a token of its own.
    private var inFlight: Task<String, any Error>?
    public private(set) var fetches = 0

    /// `retry` covers the token endpoint's 429 (with Retry-After) and 5xx answers, inside the caller's deadline.
    public init(service: String, client: HTTPClient, tokenURL: String, clientID: String, method: TokenAuthMethod = .body,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 5, base: .milliseconds(250), cap: .seconds(10)),
                secret: @escaping SecretSource) {
        self.service = service
        self.client = client
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.secret = CachedSecret(secret)
        self.method = method
        self.retry = retry
    }

    /// A token with time left, from the cache when possible.
    public func token(deadline: Deadline, now: EpochMillis = .now()) async throws(TokenError) -> String {
        if let cached, now < cached.refreshAt { return cached.token }
        let task: Task<String, any Error>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { try await self.fetch(deadline: deadline) }
            inFlight = task
        }
        defer { if inFlight == task { inFlight = nil } }
        do { return try await task.value } catch let e as TokenError { throw e } catch {
            throw TokenError(service: service, message: "\(error)")
        }
    }

    /// The server refused `token` (401): the next call fetches a new one (unless another caller already did).
    public func invalidate(_ token: String) {
        if cached?.token == token { cached = nil }
    }

    private func fetch(deadline: Deadline) async throws(TokenError) -> String {
        let secret: String
        do { secret = try await self.secret.get() } catch {
            throw TokenError(service: service, message: "reading the client secret failed: \(error)")
        }
        var headers = [HTTPHeader("Content-Type", "application/x-www-form-urlencoded"), HTTPHeader("Accept", "application/json")]
        var form = "grant_type=client_credentials"
        switch method {
        case .body:
            form += "&client_id=" + FormEncoding.encode(clientID) + "&client_secret=" + FormEncoding.encode(secret)
        case .basic:
            let pair = FormEncoding.encode(clientID) + ":" + FormEncoding.encode(secret)
            let basic = Base64.encode(Array(pair.utf8))
            SecretRedactor.shared.register(basic)
            headers.append(HTTPHeader("Authorization", "Basic " + basic))
        }
        let requested = EpochMillis.now()
        let response: HTTPResponse
        do {
            response = try await client.send(HTTPRequest(method: .POST, url: tokenURL, headers: headers, body: Array(form.utf8),
                                                         timeout: .seconds(15)), retry: retry, deadline: deadline)
        } catch {
            let late = deadline.remainingMilliseconds() <= 50
            throw TokenError(service: service, message: late ? "the deadline came during the token request"
                                                             : "token request failed: \(error.description)", deadlineReached: late)
        }
        fetches += 1
        guard response.isSuccess else {
            // The answer may echo the request: show only its beginning, and never the secret.
            let text = SecretRedactor.shared.redact(String(response.bodyText.prefix(200)).replacingAll(secret, with: "***"))
            throw TokenError(service: service, message: "token endpoint \(HTTPError.redactURL(tokenURL)) answered \(response.status): \(text)")
        }
        let json: JSONValue
        do { json = try JSONReader.parse(response.body) } catch {
            throw TokenError(service: service, message: "token endpoint answered \(response.status) with non-JSON")
        }
        guard let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw TokenError(service: service, message: "the token endpoint's answer has no access_token")
        }
        // Current and previous tokens stay masked: a later error body may echo either.
        SecretRedactor.shared.register(token)
        // expires_in is a number by the RFC; some servers send a string. No lifetime given: assume a short 5 minutes.
        let lifetime = json["expires_in"]?.int64Value ?? json["expires_in"]?.stringValue.flatMap { Int64($0) } ?? 300
        cached = (token, requested.adding(milliseconds: Self.renewAfterMs(lifetimeSeconds: lifetime)))
        return token
    }

    /// Renew early, so that a token never expires between the check and its use: a tenth of the lifetime, at least
    /// 5 s and at most a minute, and never more than half of it. A token revoked even earlier still gets a 401.
    public static func renewAfterMs(lifetimeSeconds: Int64) -> Int64 {
        let lifetimeMs = max(0, lifetimeSeconds) * 1000
        let margin = min(min(60_000, max(5_000, lifetimeMs / 10)), lifetimeMs / 2)
        return lifetimeMs - margin
    }
}

/// application/x-www-form-urlencoded, as RFC 6749 asks for client credentials.
public enum FormEncoding {
    public static func encode(_ s: String) -> String {
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

extension String {
    func replacingAll(_ needle: String, with replacement: String) -> String {
        guard !needle.isEmpty else { return self }
        return self.split(separator: needle, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
