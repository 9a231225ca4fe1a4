// The tick's AWS-backed parts: FilterLogEvents pages, API Gateway discovery, and the API list (inline or in S3).
import AWS
import Core

/// FilterLogEvents through the CloudWatch Logs client; throttling becomes `ThrottledError` so the tick backs off.
public struct CloudWatchLogsPager: LogEventPager {
    public let logs: CloudWatchLogsClient
    public init(_ logs: CloudWatchLogsClient) { self.logs = logs }

    public func page(logGroup: LogGroupName, start: EpochMillis, end: EpochMillis, nextToken: String?,
                     deadline: Deadline) async throws -> LogEventPage {
        do {
            let page = try await logs.filterLogEvents(logGroupName: logGroup.rawValue, startTime: start, endTime: end,
                                                      nextToken: nextToken, deadline: deadline)
            return LogEventPage(events: page.events, nextToken: page.nextToken)
        } catch where error.code == "ThrottlingException" {
            throw ThrottledError(error.message)
        } catch where error.isResourceNotFound {
            throw LogGroupNotFoundError(logGroup)
        }
    }
}

/// Resource maps read with `GET /restapis/{id}/resources`, lazily (when the tick first polls one of the API's stages),
/// at most once per API per `cacheSeconds`, and kept across warm invocations. A failure (no permission, throttling) is
/// kept as long as a map would be, so a missing permission costs one call per period, and is reported as a note.
/// The custom domains mapped to the API's stages come with it (one account-wide read per period, v1 and v2 merged).
public actor RESTResourcePathCache: ResourcePathSource {
    public typealias Fetch = @Sendable (_ restApiId: String, _ deadline: Deadline) async throws -> [RestResource]
    public typealias FetchDomains = @Sendable (_ deadline: Deadline) async throws -> [DomainMapping]
    private let fetch: Fetch
    private let fetchDomains: FetchDomains?
    private let cacheMs: Int64
    private var entries: [String: (value: ResourcePaths, at: EpochMillis)] = [:]
    /// Stages of one API are polled concurrently: they wait for the same read instead of starting their own.
    private var reading: [String: Task<ResourcePaths, Never>] = [:]
    private var domains: (value: Result<[DomainMapping], DomainReadError>, at: EpochMillis)?
    private var readingDomains: Task<Result<[DomainMapping], DomainReadError>, Never>?
    public private(set) var reads = 0
    public private(set) var domainReads = 0

    struct DomainReadError: Error { let description: String }

    public init(cacheSeconds: Int, fetchDomains: FetchDomains? = nil, fetch: @escaping Fetch) {
        self.fetch = fetch
        self.fetchDomains = fetchDomains
        self.cacheMs = Int64(max(0, cacheSeconds)) * 1000
    }

    /// With `v2`, custom domains are read from both APIs (each lists what was mapped through it).
    public init(_ client: APIGatewayClient, v2: APIGatewayV2Client? = nil, cacheSeconds: Int) {
        self.init(cacheSeconds: cacheSeconds, fetchDomains: { deadline in
            var all = Set(try await client.domainMappings(deadline: deadline))
            if let v2 { all.formUnion(try await v2.domainMappings(deadline: deadline)) }
            return all.sorted()
        }) { id, deadline in try await client.getResources(restApiId: id, deadline: deadline) }
    }

    public func resourcePaths(restApiId: String, deadline: Deadline) async -> ResourcePaths {
        var value: ResourcePaths
        if let entry = entries[restApiId], EpochMillis.now().value - entry.at.value < cacheMs {
            value = entry.value
        } else if let task = reading[restApiId] {
            value = await task.value
        } else {
            reads += 1
            let fetch = self.fetch
            let task = Task { () -> ResourcePaths in
                do {
                    var paths: [String: String] = [:]
                    for r in try await fetch(restApiId, deadline) { paths[r.id] = r.path }
                    return ResourcePaths(paths: paths)
                } catch {
                    return ResourcePaths(paths: [:], note: "REST API \(restApiId): its resources could not be read (\(error)); "
                                         + "throttled requests that name only a resource id are sent without a path until the next try")
                }
            }
            reading[restApiId] = task
            value = await task.value
            reading[restApiId] = nil
            entries[restApiId] = (value, EpochMillis.now())
        }
        switch await domainMappings(deadline: deadline) {
        case .success(let all): value.domains = all.filter { $0.apiId == restApiId }
        case .failure(let e):
            let note = "custom domains could not be read (\(e.description)); transactions carry the execute-api host and stage path until the next try"
            value.note = value.note.map { $0 + "; " + note } ?? note
        }
        return value
    }

    private func domainMappings(deadline: Deadline) async -> Result<[DomainMapping], DomainReadError> {
        guard let fetchDomains else { return .success([]) }
        if let d = domains, EpochMillis.now().value - d.at.value < cacheMs { return d.value }
        if let task = readingDomains { return await task.value }
        domainReads += 1
        let task = Task { () -> Result<[DomainMapping], DomainReadError> in
            do { return .success(try await fetchDomains(deadline)) } catch { return .failure(DomainReadError(description: "\(error)")) }
        }
        readingDomains = task
        let value = await task.value
        readingDomains = nil
        domains = (value, EpochMillis.now())
        return value
    }
}

/// Finds what to poll: REST stages with execution logging on, HTTP API stages with a JSON access-log format.
public struct APIGatewayDiscovery: APIDiscovery {
    public let rest: APIGatewayClient
    public let http: APIGatewayV2Client
    /// Kept by the handler for the life of the sandbox, so the maps outlive one tick.
    public let resources: RESTResourcePathCache

    public init(rest: APIGatewayClient, http: APIGatewayV2Client, resourceCacheSeconds: Int = 300) {
        self.rest = rest
        self.http = http
        self.resources = RESTResourcePathCache(rest, v2: http, cacheSeconds: resourceCacheSeconds)
    }

    public func discover(rest wantRest: Bool, http wantHTTP: Bool, deadline: Deadline) async throws -> DiscoveryResult {
        var result = DiscoveryResult(targets: [])
        if wantRest {
            for (api, stage) in try await rest.allStages(deadline: deadline) {
                let level = stage.executionLoggingLevel?.uppercased() ?? "OFF"
                guard level == "INFO" || level == "ERROR" else {
                    result.notes.append("REST API \(api.id) (\(api.name)) stage \(stage.stageName): execution logging is off; nothing to read")
                    continue
                }
                if level != "INFO" || !stage.dataTraceEnabled {
                    result.notes.append("REST API \(api.id) stage \(stage.stageName): logging \(level) without full request/response data; transactions will lack headers and bodies")
                }
                result.targets.append(LogGroupTarget(
                    logGroup: LogGroupName("API-Gateway-Execution-Logs_\(api.id)/\(stage.stageName)"), kind: .rest,
                    apiId: api.id, stage: stage.stageName, resourcePaths: resources))
            }
        }
        if wantHTTP {
            for (api, stage) in try await http.allHTTPStages(deadline: deadline) {
                guard let settings = stage.accessLogSettings, let arn = settings.destinationArn else {
                    result.notes.append("HTTP API \(api.apiId) (\(api.name)) stage \(stage.stageName): access logging is off; nothing to read")
                    continue
                }
                guard let format = settings.format, format.trimmingWhitespace().hasPrefix("{") else {
                    result.notes.append("HTTP API \(api.apiId) (\(api.name)) stage \(stage.stageName): the access-log format is not JSON; it cannot be read (use a JSON format)")
                    continue
                }
                guard let group = Self.logGroupName(fromARN: arn) else {
                    result.notes.append("HTTP API \(api.apiId) stage \(stage.stageName): \(arn) is not a CloudWatch log group ARN")
                    continue
                }
                result.targets.append(LogGroupTarget(logGroup: LogGroupName(group), kind: .http, apiId: api.apiId,
                                                     stage: stage.stageName))
            }
        }
        // Two stages may log to one group: read it once.
        var seen = Set<String>()
        result.targets = result.targets.filter { seen.insert($0.logGroup.rawValue).inserted }
        return result
    }

    /// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (optionally ending in `:*`) → NAME.
    public static func logGroupName(fromARN arn: String) -> String? {
        let parts = arn.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "logs", parts[5] == "log-group" else { return nil }
        var name = String(parts[6])
        if name.hasSuffix(":*") { name.removeLast(2) }
        return name.isEmpty ? nil : name
    }
}

/// `API_LIST`: inline JSON, or an `s3://bucket/key` read at most every `cacheSeconds` (kept across warm invocations).
public actor APIListSource: APIDiscovery {
    private let text: String
    private let s3: S3Client?
    private let region: AWSRegion
    private let cacheMs: Int64
    private var cached: (result: DiscoveryResult, at: EpochMillis)?
    /// The listed REST APIs' resource maps (nil: throttled requests keep only their resource id).
    public let resources: (any ResourcePathSource)?

    public init(_ text: String, s3: S3Client?, region: AWSRegion, cacheSeconds: Int, resources: (any ResourcePathSource)? = nil) {
        self.text = text
        self.s3 = s3
        self.region = region
        self.cacheMs = Int64(cacheSeconds) * 1000
        self.resources = resources
    }

    public func discover(rest: Bool, http: Bool, deadline: Deadline) async throws -> DiscoveryResult {
        let now = EpochMillis.now()
        var result: DiscoveryResult
        if let cached, now.value - cached.at.value < cacheMs {
            result = cached.result
        } else {
            result = try APIList.parse(try await load(deadline: deadline), region: region)
            cached = (result, now)
        }
        result.targets = result.targets.filter { ($0.kind == .rest && rest) || ($0.kind == .http && http) }
        for i in result.targets.indices where result.targets[i].kind == .rest { result.targets[i].resourcePaths = resources }
        return result
    }

    private func load(deadline: Deadline) async throws -> [UInt8] {
        guard text.hasPrefix("s3://") else { return Array(text.utf8) }
        guard let location = S3ObjectLocation.parse(text), let s3 else { throw ConfigurationProblem("API_LIST \(text) is not s3://bucket/key") }
        guard let object = try await s3.getObject(bucket: location.bucket, key: location.key, deadline: deadline) else {
            throw ConfigurationProblem("API_LIST \(text) does not exist")
        }
        return object.body
    }
}
