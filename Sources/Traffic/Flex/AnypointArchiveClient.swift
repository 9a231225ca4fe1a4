// The Anypoint Monitoring archive API (documented in mulesoft-dx, apis/anypoint-monitoring-archive): list entities,
// list a day's files, fetch a file. Paced under the platform's request rate, patient with 429 and 504.
import HTTP
import Core
import Pipeline

/// One archived file of one entity (a gateway replica), as a day's listing names it.
public struct ArchiveFile: Sendable, Equatable {
    public var entity: String
    /// `yyyy/MM/dd`: the folder the listing came from.
    public var day: String
    public var name: String
    /// When the file was created (the listing's `time`).
    public var time: EpochMillis
    public var size: Int64

    public init(entity: String, day: String, name: String, time: EpochMillis, size: Int64) {
        self.entity = entity; self.day = day; self.name = name; self.time = time; self.size = size
    }

    /// Where a window continues after this file: files are read in (time, entity, name) order.
    var position: String {
        let t = String(time.value)
        return String(repeating: "0", count: max(0, 15 - t.count)) + t + "|" + entity + "|" + name
    }
}

/// Why an archive call failed.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case deadline, request, decode }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// What the archive calls cost, for the summary.
public struct ArchiveCounters: Sendable, Equatable {
    public var requests = 0
    public var throttled = 0
    public var retries = 0
    public var unauthorized = 0
    public var filesFetched = 0
    public var bytesFetched = 0
    public init() {}
}

public actor AnypointArchiveClient {
    /// `https://monitoring.anypoint.mulesoft.com/monitoring/archive/api/v1` (or a double's).
    public let archiveURL: String
    private let http: HTTPClient
    private let tokens: ClientCredentialsTokenProvider
    private let pacer: RateLimiter
    private let retry: RetryPolicy
    public private(set) var counters = ArchiveCounters()

    /// `requestsPerMinute` paces every call (the platform answers 429 above about 60 a minute, DEMO).
    public init(archiveURL: String, http: HTTPClient, tokens: ClientCredentialsTokenProvider, requestsPerMinute: Int,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 6, base: .milliseconds(500), cap: .seconds(20))) {
        self.archiveURL = archiveURL
        self.http = http
        self.tokens = tokens
        pacer = RateLimiter(perSecond: Double(max(1, requestsPerMinute)) / 60)
        self.retry = retry
    }

    public func takeCounters() -> ArchiveCounters {
        defer { counters = ArchiveCounters() }
        return counters
    }

    /// The entities (gateway replicas) of a type that have archived data; the documented answer for none is an
    /// empty list.
    public func entities(organization: String, environment: String, entityType: String, deadline: Deadline) async throws(ArchiveError) -> [String] {
        let path = "/organizations/\(organization)/environments/\(environment)/\(entityType)"
        return try Self.ids(try await get(path, deadline: deadline).body, path: path)
    }

    /// The files listed for one day (`yyyy/MM/dd`); none (or a day that is not there) is an empty list.
    public func files(organization: String, environment: String, entityType: String, entity: String, fileType: String,
                      day: String, deadline: Deadline) async throws(ArchiveError) -> [ArchiveFile] {
        let path = "/organizations/\(organization)/environments/\(environment)/\(entityType)/\(Self.segment(entity))/\(fileType)/\(day)"
        let response = try await get(path, deadline: deadline, missingIsEmpty: true)
        guard response.status != 404 else { return [] }
        let json: JSONValue
        do { json = try JSONReader.parse(response.body) } catch { throw ArchiveError(.decode, "\(path) answered non-JSON") }
        guard let items = json["resources"]?.arrayValue else { throw ArchiveError(.decode, "\(path) answered without resources") }
        var out: [ArchiveFile] = []
        for item in items {
            // The spec's example writes `2020-03-05 21:26:55+00:00`; the platform answers `2026-03-30T11:53:07Z`.
            guard let name = item["id"]?.stringValue, let timeText = item["time"]?.stringValue,
                  let time = EpochMillis.parseISO8601(timeText) else {
                throw ArchiveError(.decode, "\(path) lists a file without id or a readable time")
            }
            out.append(ArchiveFile(entity: entity, day: day, name: name, time: time, size: item["size"]?.int64Value ?? -1))
        }
        return out
    }

    /// A file's bytes, or nil when it is gone (404).
    public func content(organization: String, environment: String, entityType: String, fileType: String, file: ArchiveFile,
                        deadline: Deadline) async throws(ArchiveError) -> [UInt8]? {
        let path = "/organizations/\(organization)/environments/\(environment)/\(entityType)/\(Self.segment(file.entity))/\(fileType)/\(file.day)/\(Self.segment(file.name))"
        let response = try await get(path, deadline: deadline, missingIsEmpty: true)
        guard response.status != 404 else { return nil }
        counters.filesFetched += 1
        counters.bytesFetched += response.body.count
        return response.body
    }

    static func segment(_ text: String) -> String {
        var out: [UInt8] = []
        PercentEncoding.append(text, to: &out, allowed: .pathSegment)
        return String(decoding: out, as: UTF8.self)
    }

    static func ids(_ body: [UInt8], path: String) throws(ArchiveError) -> [String] {
        let json: JSONValue
        do { json = try JSONReader.parse(body) } catch { throw ArchiveError(.decode, "\(path) answered non-JSON") }
        guard let items = json["resources"]?.arrayValue else { throw ArchiveError(.decode, "\(path) answered without resources") }
        return items.compactMap { $0["id"]?.stringValue }
    }

    /// Paced and authenticated: 401 → one new token; 429, 504 and other 5xx → backoff (at least `Retry-After`)
    /// inside the deadline. `missingIsEmpty`: a 404 comes back as a response, not an error.
    private func get(_ path: String, deadline: Deadline, missingIsEmpty: Bool = false) async throws(ArchiveError) -> HTTPResponse {
        let url = archiveURL + path
        var attempt = 0
        var renewed = false
        while true {
            guard await pacer.acquire(before: deadline) else { throw ArchiveError(.deadline, "the deadline comes before the next request slot") }
            let token: String
            do { token = try await tokens.token(deadline: deadline) } catch {
                throw ArchiveError(error.deadlineReached ? .deadline : .request, error.message)
            }
            let left = deadline.remainingMilliseconds()
            guard left > 0 else { throw ArchiveError(.deadline, "deadline reached") }
            let request = HTTPRequest(method: .GET, url: url, headers: [HTTPHeader("Authorization", "Bearer " + token), HTTPHeader("Accept", "*/*")],
                                      timeout: .milliseconds(min(30_000, left)), connectTimeout: .seconds(5))
            counters.requests += 1
            let response: HTTPResponse
            do { response = try await http.send(request) } catch {
                attempt += 1
                guard error.isRetryable, attempt < retry.maxAttempts else {
                    throw ArchiveError(.request, "GET \(HTTPError.redactURL(url)) failed: \(error.description)")
                }
                counters.retries += 1
                try await sleep(retry.delay(attempt: attempt, retryAfter: nil), deadline: deadline)
                continue
            }
            switch response.status {
            case 200..<300:
                return response
            case 404 where missingIsEmpty:
                return response
            case 401:
                counters.unauthorized += 1
                await tokens.invalidate(token)
                guard !renewed else {
                    throw ArchiveError(.request, "\(HTTPError.redactURL(url)) answered 401 with a fresh token: check the Connected App's scopes and subscription")
                }
                renewed = true
            default:
                attempt += 1
                if response.status == 429 { counters.throttled += 1 }
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                guard RetryPolicy.isRetryableStatus(response.status), attempt < retry.maxAttempts else {
                    throw ArchiveError(.request, "GET \(HTTPError.redactURL(url)) answered \(response.status): \(text)")
                }
                counters.retries += 1
                let wait = retry.delay(attempt: attempt, retryAfter: response.header("Retry-After"))
                // Every later call waits too: the limit is the platform's, not this call's.
                if response.status == 429 { await pacer.backOff(wait) }
                try await sleep(wait, deadline: deadline)
            }
        }
    }

    private func sleep(_ d: Duration, deadline: Deadline) async throws(ArchiveError) {
        guard d.milliseconds < deadline.remainingMilliseconds() else { throw ArchiveError(.deadline, "a retry would pass the deadline") }
        try? await Task.sleep(for: d)
    }
}
