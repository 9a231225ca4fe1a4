// The tick's AWS-backed parts: FilterLogEvents pages, API Gateway discovery, and the API list (inline or in S3).
import AWS
import Pipeline

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

/// Finds what to poll: REST stages with execution logging on, HTTP API stages with a JSON access-log format.
public struct APIGatewayDiscovery: APIDiscovery {
    public let rest: APIGatewayClient
    public let http: APIGatewayV2Client

    public init(rest: APIGatewayClient, http: APIGatewayV2Client) {
        self.rest = rest
        self.http = http
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
                    apiId: api.id, stage: stage.stageName))
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

    public init(_ text: String, s3: S3Client?, region: AWSRegion, cacheSeconds: Int) {
        self.text = text
        self.s3 = s3
        self.region = region
        self.cacheMs = Int64(cacheSeconds) * 1000
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
        return result
    }

    private func load(deadline: Deadline) async throws -> [UInt8] {
        guard text.hasPrefix("s3://") else { return Array(text.utf8) }
        let rest = text.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/"), let s3 else { throw ConfigurationProblem("API_LIST \(text) is not s3://bucket/key") }
        let bucket = String(rest[..<slash]), key = String(rest[rest.index(after: slash)...])
        guard let object = try await s3.getObject(bucket: bucket, key: key, deadline: deadline) else {
            throw ConfigurationProblem("API_LIST \(text) does not exist")
        }
        return object.body
    }
}
