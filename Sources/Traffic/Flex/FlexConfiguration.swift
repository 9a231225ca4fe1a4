// The Flex Gateway source's settings (FLEX_*, and ANYPOINT_* for the Monitoring archive), parsed with the tick's.
import AWS
import Core

public struct FlexConfiguration: Sendable {
    /// `FLEX_SOURCE`: where the Message Logging lines are read.
    public enum Source: String, Sendable, CaseIterable {
        /// Off (the default).
        case none
        /// CloudWatch Logs groups a self-managed gateway's Fluent Bit output writes to (`FLEX_LOG_GROUPS`).
        case cloudwatch
        /// The Anypoint Monitoring archive (connected or managed gateways).
        case anypointArchive = "anypoint-archive"
    }

    /// The Anypoint Monitoring archive API and what to read from it.
    public struct Archive: Sendable {
        /// The control plane the token comes from (`ANYPOINT_BASE_URL`).
        public var baseURL: String
        /// The archive API (`FLEX_ARCHIVE_URL`).
        public var archiveURL: String
        public var clientID: String
        public var secret: SecretReference
        public var organizationID: String
        public var environmentIDs: [String]
        public var entityType: String
        public var fileType: String
        public var overlapSeconds: Int
        public var lagSeconds: Int
        public var initialLookbackSeconds: Int
        public var requestsPerMinute: Int
    }

    public var source: Source
    public var logGroups: FlexLogGroupPatterns
    /// `FLEX_APIS`: nil is `all`.
    public var apis: Set<String>?
    public var entryLimitBytes: Int
    public var archive: Archive?

    public var enabled: Bool { source != .none }

    public static let defaultArchiveURL = "https://monitoring.anypoint.mulesoft.com/monitoring/archive/api/v1"
    public static let defaultControlPlane = "https://anypoint.mulesoft.com"

    /// Reads the FLEX_* settings (and, for the archive, ANYPOINT_*); problems go to `p`.
    public static func parse(_ p: inout SettingParser) -> FlexConfiguration {
        let source = p.choice("FLEX_SOURCE", default: Source.none)
        var patterns = FlexLogGroupPatterns()
        if let text = p.string("FLEX_LOG_GROUPS") {
            do { patterns = try FlexLogGroupPatterns.parse(text) } catch { p.problems.append(error.description) }
            if source != .cloudwatch { p.problems.append("FLEX_LOG_GROUPS is set but FLEX_SOURCE is \(source.rawValue) (set FLEX_SOURCE=cloudwatch to read them)") }
        } else if source == .cloudwatch {
            p.problems.append("FLEX_LOG_GROUPS is required when FLEX_SOURCE=cloudwatch (log group names, or a prefix ending in *)")
        }
        let options = stitcherOptions(&p)
        var archive: Archive?
        if source == .anypointArchive {
            let base = p.url("ANYPOINT_BASE_URL", required: false) ?? defaultControlPlane
            let archiveURL = p.url("FLEX_ARCHIVE_URL", required: false) ?? defaultArchiveURL
            let clientID = p.string("ANYPOINT_CLIENT_ID")
            if clientID == nil { p.problems.append("ANYPOINT_CLIENT_ID is required when FLEX_SOURCE=anypoint-archive (the Connected App's client id)") }
            let secret = p.secret("ANYPOINT_CLIENT_SECRET")
            if secret == nil { p.problems.append("ANYPOINT_CLIENT_SECRET or ANYPOINT_CLIENT_SECRET_ARN is required when FLEX_SOURCE=anypoint-archive") }
            let org = p.string("ANYPOINT_ORG_ID")
            if org == nil { p.problems.append("ANYPOINT_ORG_ID is required when FLEX_SOURCE=anypoint-archive (the business group whose gateways log)") }
            let envs = p.list("ANYPOINT_ENV_ID")
            if envs.isEmpty { p.problems.append("ANYPOINT_ENV_ID is required when FLEX_SOURCE=anypoint-archive (one environment id, or a comma list)") }
            for id in [org].compactMap({ $0 }) + envs where !isPathSegment(id) {
                p.problems.append("ANYPOINT_ORG_ID and ANYPOINT_ENV_ID must be ids (letters, digits, - and _), not '\(id.prefix(40))'")
            }
            let entityType = p.string("FLEX_ARCHIVE_ENTITY_TYPE") ?? "flex"
            let fileType = p.string("FLEX_ARCHIVE_FILE_TYPE") ?? "logs"
            for (name, value) in [("FLEX_ARCHIVE_ENTITY_TYPE", entityType), ("FLEX_ARCHIVE_FILE_TYPE", fileType)] where !isPathSegment(value) {
                p.problems.append("\(name) must be one path segment (letters, digits, - and _), not '\(value.prefix(40))'")
            }
            let overlap = p.int("FLEX_ARCHIVE_OVERLAP_SECONDS", default: 1_800, range: 0...86_400)
            let lag = p.int("FLEX_ARCHIVE_LAG_SECONDS", default: 900, range: 0...86_400)
            let lookback = p.int("FLEX_ARCHIVE_INITIAL_LOOKBACK_SECONDS", default: 3_600, range: 0...86_400 * 30)
            let rate = p.int("FLEX_ARCHIVE_REQUESTS_PER_MINUTE", default: 50, range: 1...600)
            if let clientID, let secret, let org, !envs.isEmpty {
                archive = Archive(baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base,
                                  archiveURL: archiveURL.hasSuffix("/") ? String(archiveURL.dropLast()) : archiveURL,
                                  clientID: clientID, secret: secret, organizationID: org, environmentIDs: envs,
                                  entityType: entityType, fileType: fileType, overlapSeconds: overlap, lagSeconds: lag,
                                  initialLookbackSeconds: lookback, requestsPerMinute: rate)
            }
        }
        return FlexConfiguration(source: source, logGroups: patterns, apis: options.apis, entryLimitBytes: options.entryLimitBytes,
                                 archive: archive)
    }

    /// `FLEX_APIS` and `FLEX_ENTRY_LIMIT_BYTES`, for the tick and `apitap stitch --source flex-gateway` alike.
    public static func stitcherOptions(_ p: inout SettingParser) -> FlexStitcherOptions {
        var options = FlexStitcherOptions()
        let listed = p.list("FLEX_APIS", unsetMeans: "all")
        if !listed.isEmpty, !(listed.count == 1 && listed[0].lowercased() == "all") {
            if listed.contains(where: { $0.lowercased() == "all" }) { p.problems.append("FLEX_APIS is all or a list of API instance ids or names, not both") }
            options.apis = Set(listed)
        }
        options.entryLimitBytes = p.int("FLEX_ENTRY_LIMIT_BYTES", default: FlexStitcherOptions.defaultEntryLimitBytes, range: 1_024...1_048_576)
        return options
    }

    public func stitcherOptions() -> FlexStitcherOptions { FlexStitcherOptions(entryLimitBytes: entryLimitBytes, apis: apis) }

    static func isPathSegment(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && text.utf8.allSatisfy { PercentEncoding.isUnreserved($0) && $0 != UInt8(ascii: "~") && $0 != UInt8(ascii: ".") }
    }
}

/// `FLEX_LOG_GROUPS`: log group names, and prefixes (an entry ending in `*`) resolved with DescribeLogGroups.
public struct FlexLogGroupPatterns: Sendable, Equatable {
    public var names: [String] = []
    public var prefixes: [String] = []
    public init(names: [String] = [], prefixes: [String] = []) { self.names = names; self.prefixes = prefixes }

    public var isEmpty: Bool { names.isEmpty && prefixes.isEmpty }

    public static func parse(_ text: String) throws(ConfigurationProblem) -> FlexLogGroupPatterns {
        var out = FlexLogGroupPatterns()
        for item in text.split(separator: ",").map({ String($0).trimmingWhitespace() }) where !item.isEmpty {
            let isPrefix = item.hasSuffix("*")
            let name = isPrefix ? String(item.dropLast()) : item
            // CloudWatch's own rule for log group names: 1-512 of [.-_/#A-Za-z0-9].
            guard !name.isEmpty, name.utf8.count <= 512, !name.contains("*"), name.utf8.allSatisfy(isNameByte) else {
                throw ConfigurationProblem("FLEX_LOG_GROUPS: '\(item.prefix(80))' is not a log group name or a prefix ending in * (letters, digits, . - _ / #)")
            }
            if isPrefix { out.prefixes.append(name) } else { out.names.append(name) }
        }
        if out.isEmpty { throw ConfigurationProblem("FLEX_LOG_GROUPS names no log group") }
        return out
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        PercentEncoding.isUnreserved(b) && b != UInt8(ascii: "~") || b == UInt8(ascii: "/") || b == UInt8(ascii: "#")
    }
}

/// The Flex log groups the tick polls: the names as given, and every group whose name starts with a prefix (listed
/// with DescribeLogGroups at most every `cacheSeconds`, kept across warm invocations).
public actor FlexLogGroupSource {
    public typealias Describe = @Sendable (_ prefix: String, _ nextToken: String?, _ deadline: Deadline) async throws -> (names: [String], next: String?)
    private let patterns: FlexLogGroupPatterns
    private let describe: Describe
    private let cacheMs: Int64
    private var cached: (names: [String], at: EpochMillis)?

    public init(_ patterns: FlexLogGroupPatterns, cacheSeconds: Int, describe: @escaping Describe) {
        self.patterns = patterns
        self.cacheMs = Int64(max(0, cacheSeconds)) * 1000
        self.describe = describe
    }

    public init(_ patterns: FlexLogGroupPatterns, logs: CloudWatchLogsClient, cacheSeconds: Int) {
        self.init(patterns, cacheSeconds: cacheSeconds) { prefix, token, deadline in
            let page = try await logs.describeLogGroups(prefix: prefix, nextToken: token, deadline: deadline)
            return (page.logGroups.map(\.name), page.nextToken)
        }
    }

    public func targets(deadline: Deadline) async throws -> [LogGroupTarget] {
        let now = EpochMillis.now()
        var names: [String]
        if let cached, now.value - cached.at.value < cacheMs {
            names = cached.names
        } else {
            names = patterns.names
            for prefix in patterns.prefixes {
                var token: String?
                var pages = 0
                repeat {
                    let page = try await describe(prefix, token, deadline)
                    names += page.names
                    token = page.next
                    pages += 1
                } while token != nil && pages < 100
            }
            cached = (names, now)
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }.sorted().map {
            LogGroupTarget(logGroup: LogGroupName($0), kind: .flex, apiId: nil, stage: nil)
        }
    }
}
