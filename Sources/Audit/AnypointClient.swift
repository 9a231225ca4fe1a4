// The control plane calls the export makes: who am I, and one page of the Audit Log Query API, paced and retried.
import HTTP
import Core
import Pipeline

/// One query: the window (both ends inclusive), the filters, and the cursor of the page to fetch.
public struct AuditQuery: Sendable, Equatable {
    public var organizationID: String
    public var start: EpochMillis
    public var end: EpochMillis
    public var filters: AuditFilters
    public var limit: Int
    public var cursor: String?

    public init(organizationID: String, start: EpochMillis, end: EpochMillis, filters: AuditFilters = AuditFilters(),
                limit: Int = 200, cursor: String? = nil) {
        self.organizationID = organizationID
        self.start = start
        self.end = end
        self.filters = filters
        self.limit = limit
        self.cursor = cursor
    }

    public var body: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("startDate", start.value)
        w.field("endDate", end.value)
        w.field("ascending", true)
        w.field("limit", limit)
        func list(_ name: String, _ values: [String]) {
            guard !values.isEmpty else { return }
            w.key(name); w.beginArray(); for v in values { w.string(v) }; w.endArray()
        }
        list("platforms", filters.platforms)
        list("objectTypes", filters.objectTypes)
        list("actions", filters.actions)
        list("environmentIds", filters.environmentIds)
        list("userIds", filters.userIds)
        list("objectIds", filters.objectIds)
        if let cursor { w.field("cursor", cursor) }
        w.endObject()
        return w.bytes
    }
}

/// Counters the summary reports.
public struct AnypointCounters: Sendable {
    public var requests = 0
    public var waits503 = 0
    public var waited503Ms: Int64 = 0
    public var unauthorized = 0
    public var retries = 0
    public var latenciesMs: [Int64] = []
    public init() {}
}

public actor AnypointClient {
    public let baseURL: String
    private let http: HTTPClient
    private let tokens: ClientCredentialsTokenProvider
    private let pacer: RateLimiter
    /// The length of the control plane's rate window (a minute; tests shorten it).
    private let rateWindowMs: Int64
    private let retry: RetryPolicy
    /// The Audit Log Query API answers 503 until the rate window ends; other APIs (API Manager) mean "unavailable",
    /// retried with backoff like a 429.
    private let serviceUnavailableIsRateWindow: Bool
    public private(set) var counters = AnypointCounters()

    public init(baseURL: String, http: HTTPClient, tokens: ClientCredentialsTokenProvider, requestsPerMinute: Int,
                rateWindow: Duration = .seconds(60), retry: RetryPolicy = RetryPolicy(maxAttempts: 6, base: .milliseconds(500), cap: .seconds(20)),
                serviceUnavailableIsRateWindow: Bool = true) {
        self.serviceUnavailableIsRateWindow = serviceUnavailableIsRateWindow
        self.baseURL = baseURL
        self.http = http
        self.tokens = tokens
        self.rateWindowMs = max(1, rateWindow.milliseconds)
        pacer = RateLimiter(perSecond: Double(requestsPerMinute) * 1000 / Double(max(1, rateWindow.milliseconds)))
        self.retry = retry
    }

    /// Connected App tokens from the control plane's token endpoint (client id and secret in the form body).
    public static func tokenProvider(http: HTTPClient, baseURL: String, clientID: String,
                                     secret: @escaping CachedSecret.Source) -> ClientCredentialsTokenProvider {
        ClientCredentialsTokenProvider(service: "Anypoint", client: http, tokenURL: baseURL + "/accounts/api/v2/oauth2/token",
                                       clientID: clientID, secret: secret)
    }

    public func takeCounters() -> AnypointCounters {
        let c = counters
        counters = AnypointCounters()
        return c
    }

    /// The organizations the token belongs to (`GET /accounts/api/me`): a Connected App's `client.org_id`, or a
    /// user's `user.organization.id`.
    public func ownOrganization(deadline: Deadline) async throws -> String {
        let body = try await call(.GET, path: "/accounts/api/me", body: [], deadline: deadline)
        let json: JSONValue
        do { json = try JSONReader.parse(body) } catch { throw AnypointError(.decode, "/accounts/api/me answered non-JSON") }
        for candidate in [json["client"]?["org_id"], json["user"]?["organization"]?["id"], json["organization"]?["id"],
                          json["organizationId"], json["user"]?["organizationId"]] {
            if let id = candidate?.stringValue, !id.isEmpty { return id }
        }
        throw AnypointError(.decode, "/accounts/api/me names no organization; set ANYPOINT_ORG_IDS")
    }

    /// One page of `POST /audit/v2/organizations/{org}/query?cursorPagination=true`.
    public func query(_ q: AuditQuery, deadline: Deadline) async throws -> AuditPage {
        let path = "/audit/v2/organizations/\(FormEncoding.encode(q.organizationID))/query?cursorPagination=true"
        let body = try await call(.POST, path: path, body: q.body, deadline: deadline)
        do { return try AuditPage.decode(body) } catch {
            throw AnypointError(.decode, "the audit query answer for \(q.organizationID) is not the expected JSON (\(error))")
        }
    }

    /// `GET path` (relative to the control plane), with the same pacing, token renewal and retries as every other call:
    /// for callers outside the audit export (the posture audit's API Manager reads).
    public func get(_ path: String, deadline: Deadline) async throws(AnypointError) -> [UInt8] {
        do { return try await call(.GET, path: path, body: [], deadline: deadline) } catch let e as AnypointError { throw e } catch {
            throw AnypointError(.request, "GET \(path): \(error)")
        }
    }

    /// Paced, authenticated, and patient in the ways this control plane needs: 401 → a new token; 503 → the rate
    /// window is spent, wait for its end; 429/5xx/transport → backoff. Throws `.deadline` when waiting would pass it.
    func call(_ method: HTTPMethod, path: String, body: [UInt8], deadline: Deadline) async throws -> [UInt8] {
        let url = baseURL + path
        var attempt = 0
        var renewed = false
        while true {
            guard await pacer.acquire(before: deadline) else {
                throw AnypointError(.deadline, "the deadline comes before the pacer's next slot")
            }
            let token: String
            do { token = try await tokens.token(deadline: deadline) } catch {
                throw AnypointError(error.deadlineReached ? .deadline : .token, error.message)
            }
            var headers = [HTTPHeader("Authorization", "Bearer " + token), HTTPHeader("Accept", "application/json")]
            if method == .POST { headers.append(HTTPHeader("Content-Type", "application/json")) }
            let left = deadline.remainingMilliseconds()
            guard left > 0 else { throw AnypointError(.deadline, "deadline reached") }
            let request = HTTPRequest(method: method, url: url, headers: headers, body: body,
                                      timeout: .milliseconds(min(30_000, left)), connectTimeout: .seconds(5))
            let started = EpochMillis.now()
            counters.requests += 1
            let response: HTTPResponse
            do {
                response = try await http.send(request)
            } catch {
                attempt += 1
                guard error.isRetryable, attempt < retry.maxAttempts else {
                    throw AnypointError(.request, "\(method.rawValue) \(HTTPError.redactURL(url)) failed: \(error.description)")
                }
                counters.retries += 1
                try await sleep(retry.delay(attempt: attempt, retryAfter: nil), deadline: deadline)
                continue
            }
            counters.latenciesMs.append(EpochMillis.now().value - started.value)
            switch response.status {
            case 200..<300:
                return response.body
            case 401:
                counters.unauthorized += 1
                await tokens.invalidate(token)
                guard !renewed else {
                    throw AnypointError(.request, "\(HTTPError.redactURL(url)) answered 401 with a freshly issued token: check the Connected App's scopes")
                }
                renewed = true
                continue
            case 503 where serviceUnavailableIsRateWindow:
                // Over the per-IP limit, the control plane answers 503 until its minute ends: wait for the next one.
                let now = EpochMillis.now().value
                var wait = rateWindowMs - (now % rateWindowMs) + min(250, rateWindowMs / 20)
                if let ra = RetryPolicy.retryAfterMilliseconds(response.header("Retry-After"), now: EpochMillis(now)) { wait = max(wait, ra) }
                counters.waits503 += 1
                counters.waited503Ms += wait
                await pacer.backOff(.milliseconds(wait))
                guard wait < deadline.remainingMilliseconds() else {
                    throw AnypointError(.deadline, "503 (rate window spent) and the next window begins after the deadline")
                }
                continue
            default:
                attempt += 1
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                guard RetryPolicy.isRetryableStatus(response.status), attempt < retry.maxAttempts else {
                    throw AnypointError(.request, "\(method.rawValue) \(HTTPError.redactURL(url)) answered \(response.status): \(text)")
                }
                counters.retries += 1
                try await sleep(retry.delay(attempt: attempt, retryAfter: response.header("Retry-After")), deadline: deadline)
            }
        }
    }

    private func sleep(_ d: Duration, deadline: Deadline) async throws {
        guard d.milliseconds < deadline.remainingMilliseconds() else { throw AnypointError(.deadline, "a retry would pass the deadline") }
        try await Task.sleep(for: d)
    }
}
