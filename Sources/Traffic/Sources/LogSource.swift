// What the tick reads: log groups to poll (from discovery or a list) and pages of CloudWatch events.
import AWS
import Core

/// One log group the tick polls, and how to read it.
public struct LogGroupTarget: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case rest, http
        /// MuleSoft Flex Gateway Message Logging lines (`FLEX_LOG_GROUPS`).
        case flex
    }
    public var logGroup: LogGroupName
    public var kind: Kind
    public var apiId: String?
    public var stage: String?
    /// Where the REST API's resource id → path map comes from (throttling lines name a resource by id only).
    public var resourcePaths: (any ResourcePathSource)?

    public init(logGroup: LogGroupName, kind: Kind, apiId: String?, stage: String?,
                resourcePaths: (any ResourcePathSource)? = nil) {
        self.logGroup = logGroup
        self.kind = kind
        self.apiId = apiId
        self.stage = stage
        self.resourcePaths = resourcePaths
    }

    /// The same log group read the same way; the resource-path source is a service, not part of the identity.
    public static func == (a: LogGroupTarget, b: LogGroupTarget) -> Bool {
        a.logGroup == b.logGroup && a.kind == b.kind && a.apiId == b.apiId && a.stage == b.stage
    }
}

/// A REST API's resource map as the tick gets it: the map (empty when it could not be read) and, then, why.
public struct ResourcePaths: Sendable, Equatable {
    public var paths: [String: String]
    public var note: String?
    /// The custom domains mapped to the API's stages (sorted by domain, then base path).
    public var domains: [DomainMapping]
    public init(paths: [String: String], note: String? = nil, domains: [DomainMapping] = []) {
        self.paths = paths; self.note = note; self.domains = domains
    }
}

/// Resource id → resource path of a REST API (`GET /restapis/{id}/resources`). A throttled request is logged with the
/// resource's id (`Resource k0w8mc`) and no path; with this map it still gets one.
public protocol ResourcePathSource: Sendable {
    /// Never throws: the tick goes on without the map when it cannot be read, and says so in `note`.
    func resourcePaths(restApiId: String, deadline: Deadline) async -> ResourcePaths
}

/// What discovery found, and what it could not use (reported in the summary, never silently ignored).
public struct DiscoveryResult: Sendable {
    public var targets: [LogGroupTarget]
    public var notes: [String]
    public init(targets: [LogGroupTarget], notes: [String] = []) { self.targets = targets; self.notes = notes }
}

public protocol APIDiscovery: Sendable {
    func discover(rest: Bool, http: Bool, deadline: Deadline) async throws -> DiscoveryResult
}

public struct LogEventPage: Sendable {
    public var events: [LogEvent]
    /// More pages follow while this is set (a page may be empty and still carry one).
    public var nextToken: String?
    public init(events: [LogEvent], nextToken: String?) { self.events = events; self.nextToken = nextToken }
}

/// FilterLogEvents over `[start, end]` (both inclusive), one page per call.
public protocol LogEventPager: Sendable {
    func page(logGroup: LogGroupName, start: EpochMillis, end: EpochMillis, nextToken: String?, deadline: Deadline) async throws -> LogEventPage
}

/// Thrown by a pager when the service throttled us and its own retries ran out.
public struct ThrottledError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "throttled: \(message)" }
}

/// Thrown by a pager when the log group does not exist. API Gateway creates a stage's execution-log group on the first
/// request it logs, so a stage whose logging was just turned on has none yet: an empty source, not a failure.
public struct LogGroupNotFoundError: Error, CustomStringConvertible, Sendable {
    public let logGroup: LogGroupName
    public init(_ logGroup: LogGroupName) { self.logGroup = logGroup }
    public var description: String { "log group \(logGroup) does not exist" }
}

/// Parses `API_LIST`: a JSON array of `{region, apiId, stage, type}` (type `rest` or `http`; an HTTP entry may name
/// its `logGroup`). Entries for another region are skipped: each region's function reads its own.
public enum APIList {
    /// One stage the list names.
    public struct Entry: Sendable, Equatable {
        public var kind: StageKind
        public var apiId: String
        public var stage: String
        /// An HTTP API's access-log group, when the entry names it.
        public var logGroup: String?
    }

    /// The list's stages in `region` (entries for other regions are left out), or the first problem.
    public static func stages(_ bytes: [UInt8], region: AWSRegion) throws(ConfigurationProblem) -> [Entry] {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw ConfigurationProblem("API_LIST is not JSON: \(error)") }
        let items: [JSONValue]
        if let array = json.arrayValue { items = array }
        else if let array = json["apis"]?.arrayValue { items = array }
        else { throw ConfigurationProblem("API_LIST must be a JSON array of {region, apiId, stage, type}") }
        var entries: [Entry] = []
        for (i, item) in items.enumerated() {
            guard let apiId = item["apiId"]?.stringValue, let stage = item["stage"]?.stringValue,
                  let type = item["type"]?.stringValue?.lowercased() else {
                throw ConfigurationProblem("API_LIST entry \(i) needs apiId, stage and type")
            }
            guard let kind = StageKind(rawValue: type) else {
                throw ConfigurationProblem("API_LIST entry \(i): type must be rest or http (got \(type))")
            }
            if let r = item["region"]?.stringValue, r != region.rawValue { continue }
            entries.append(Entry(kind: kind, apiId: apiId, stage: stage, logGroup: item["logGroup"]?.stringValue))
        }
        return entries
    }

    public static func parse(_ bytes: [UInt8], region: AWSRegion) throws(ConfigurationProblem) -> DiscoveryResult {
        var targets: [LogGroupTarget] = []
        var notes: [String] = []
        for (i, entry) in try stages(bytes, region: region).enumerated() {
            switch entry.kind {
            case .rest:
                targets.append(LogGroupTarget(logGroup: LogGroupName("API-Gateway-Execution-Logs_\(entry.apiId)/\(entry.stage)"), kind: .rest,
                                              apiId: entry.apiId, stage: entry.stage))
            case .http:
                if let group = entry.logGroup {
                    targets.append(LogGroupTarget(logGroup: LogGroupName(group), kind: .http, apiId: entry.apiId, stage: entry.stage))
                } else {
                    notes.append("API_LIST entry \(i) (\(entry.apiId)/\(entry.stage)) is an HTTP API without logGroup: its access-log group is found by discovery only")
                }
            }
        }
        return DiscoveryResult(targets: targets, notes: notes)
    }
}

public struct ConfigurationProblem: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
