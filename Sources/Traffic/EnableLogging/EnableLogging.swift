// The enable-logging custom resource's logic: turn API Gateway stage logging on where it is not on yet, record what
// each changed stage had before (in S3, before changing it), and put exactly that back on delete.
import AWS
import Core

/// What the template passes as the custom resource's properties (CloudFormation sends every scalar as a string).
public struct StageLoggingSettings: Sendable, Equatable {
    public var enableRest: Bool
    public var enableHTTP: Bool
    public var restAlreadyEnabled: Bool
    public var httpAlreadyEnabled: Bool
    public var enableDefaultStage: Bool
    /// Where HTTP API stages send their access logs (a log group ARN, without the `:*` that `GetAtt Arn` adds).
    public var httpAccessLogGroupArn: String?
    /// The role to put into API Gateway's account settings when the account has none; nil: leave the account alone.
    public var cloudWatchRoleArn: String?
    public var stateBucket: String
    public var stateKey: String
    /// `API_LIST` when auto-discovery is off: inline JSON or an `s3://` URI. Only its stages are touched.
    public var apiList: String?
    /// The stages `apiList` names (`rest/apiId/stage`), once read by `resolveAPIList`; nil: every stage.
    public var listedStages: Set<String>?
    /// `DeliveryMode=subscription`: the subscription filter to put on each enabled stage's log group; nil: poll mode.
    public var subscription: SubscriptionSettings?

    public var manageRest: Bool { enableRest && !restAlreadyEnabled }
    public var manageHTTP: Bool { enableHTTP && !httpAlreadyEnabled }

    /// Whether this configuration wants logging on for a stage of that kind.
    public func wants(_ kind: StageKind, apiId: String, stage: String) -> Bool {
        if stage == "$default" && !enableDefaultStage { return false }
        return collects(kind, apiId: apiId, stage: stage) && (kind == .rest ? manageRest : manageHTTP)
    }

    /// Whether the tick collects a stage's logs when it has them (its kind on, listed), whoever turned its logging on:
    /// the stages whose log groups get a subscription filter. `$default` stages count too: `EnableDefaultStageLogging`
    /// only decides whether apitap turns their logging on.
    public func collects(_ kind: StageKind, apiId: String, stage: String) -> Bool {
        if let listedStages, !listedStages.contains("\(kind.rawValue)/\(apiId)/\(stage)") { return false }
        return kind == .rest ? enableRest : enableHTTP
    }

    /// Reads `apiList` (from S3 through `backend` when it is a URI) into `listedStages`, for the stack's region.
    public mutating func resolveAPIList(region: AWSRegion, backend: any StageLoggingBackend, deadline: Deadline) async throws {
        guard let apiList else { return }
        let bytes: [UInt8]
        if apiList.hasPrefix("s3://") {
            guard let location = S3ObjectLocation.parse(apiList) else {
                throw ConfigurationProblem("API_LIST \(apiList.prefix(80)) is not s3://bucket/key")
            }
            guard let body = try await backend.readObject(bucket: location.bucket, key: location.key, deadline: deadline) else {
                throw ConfigurationProblem("API_LIST \(apiList.prefix(80)) does not exist")
            }
            bytes = body
        } else {
            bytes = Array(apiList.utf8)
        }
        listedStages = Set(try APIList.stages(bytes, region: region).map { "\($0.kind.rawValue)/\($0.apiId)/\($0.stage)" })
    }

    /// Parses `ResourceProperties`; returns every problem at once. The state location alone is enough for a delete,
    /// so it is returned separately when the rest is wrong.
    public static func parse(_ properties: JSONValue?) -> (settings: StageLoggingSettings?, location: (bucket: String, key: String)?,
                                                           problems: [String]) {
        var problems: [String] = []
        guard let properties, properties.objectValue != nil else {
            return (nil, nil, ["ResourceProperties is missing or not an object"])
        }
        func text(_ name: String) -> String? {
            switch properties[name] {
            case .string(let s)?: let t = s.trimmingWhitespace(); return t.isEmpty ? nil : t
            case .bool(let b)?: return b ? "true" : "false"
            case .int(let i)?: return String(i)
            default: return nil
            }
        }
        func flag(_ name: String, _ fallback: Bool) -> Bool {
            guard let value = text(name) else { return fallback }
            switch value.lowercased() {
            case "true": return true
            case "false": return false
            default:
                problems.append("\(name) must be true or false, not \"\(value.prefix(40))\"")
                return fallback
            }
        }
        let bucket = text("StateBucket"), key = text("StateKey")
        if bucket == nil { problems.append("StateBucket is missing (the bucket that keeps the previous stage settings)") }
        if key == nil { problems.append("StateKey is missing (the key of the previous stage settings)") }
        if let key, key.hasPrefix("/") || key.contains("?") || key.contains("#") { problems.append("StateKey \"\(key.prefix(60))\" is not an S3 key") }
        let location = bucket.flatMap { b in key.map { (bucket: b, key: $0) } }
        let subscription = SubscriptionSettings.parse(mode: text("DeliveryMode"), destination: text("SubscriptionDestinationArn"),
                                                      filterName: text("SubscriptionFilterName"), retention: text("LogRetentionDays"),
                                                      problems: &problems)
        let settings = StageLoggingSettings(
            enableRest: flag("EnableRestApis", true), enableHTTP: flag("EnableHttpApis", true),
            restAlreadyEnabled: flag("RestExecutionLogsAlreadyEnabled", false),
            httpAlreadyEnabled: flag("HttpAccessLogsAlreadyEnabled", false),
            enableDefaultStage: flag("EnableDefaultStageLogging", false),
            httpAccessLogGroupArn: text("HttpAccessLogGroupArn").map(Self.withoutWildcardSuffix),
            cloudWatchRoleArn: text("ApiGatewayCloudWatchRoleArn"), stateBucket: bucket ?? "", stateKey: key ?? "",
            apiList: text("ApiList"), listedStages: nil, subscription: subscription)
        if let arn = settings.cloudWatchRoleArn, !arn.hasPrefix("arn:") {
            problems.append("ApiGatewayCloudWatchRoleArn must be a role ARN, not \"\(arn.prefix(60))\"")
        }
        if settings.manageHTTP {
            if let arn = settings.httpAccessLogGroupArn {
                if APIGatewayDiscovery.logGroupName(fromARN: arn) == nil {
                    problems.append("HttpAccessLogGroupArn \"\(arn.prefix(80))\" is not a CloudWatch Logs log group ARN")
                }
            } else {
                problems.append("HttpAccessLogGroupArn is missing (HTTP API stages need a log group for their access logs)")
            }
        }
        return (problems.isEmpty ? settings : nil, location, problems)
    }

    /// The refresh handler's settings: the same values the template gives the custom resource, as environment
    /// variables (`STAGE_LOGGING_STATE_URI` is `s3://bucket/key` of the custom resource's record).
    public static func fromEnvironment(_ env: [String: String]) -> (settings: StageLoggingSettings?, problems: [String]) {
        var members: [(key: String, value: JSONValue)] = []
        let names = [("ENABLE_REST_APIS", "EnableRestApis"), ("ENABLE_HTTP_APIS", "EnableHttpApis"),
                     ("REST_EXECUTION_LOGS_ALREADY_ENABLED", "RestExecutionLogsAlreadyEnabled"),
                     ("HTTP_ACCESS_LOGS_ALREADY_ENABLED", "HttpAccessLogsAlreadyEnabled"),
                     ("ENABLE_DEFAULT_STAGE_LOGGING", "EnableDefaultStageLogging"), ("HTTP_ACCESS_LOG_GROUP_ARN", "HttpAccessLogGroupArn"),
                     ("DELIVERY_MODE", "DeliveryMode"), ("SUBSCRIPTION_DESTINATION_ARN", "SubscriptionDestinationArn"),
                     ("SUBSCRIPTION_FILTER_NAME", "SubscriptionFilterName"), ("LOG_RETENTION_DAYS", "LogRetentionDays")]
        for (variable, property) in names { if let v = env[variable] { members.append((property, .string(v))) } }
        var problems: [String] = []
        if let location = env["STAGE_LOGGING_STATE_URI"].flatMap(S3ObjectLocation.parse) {
            members.append(("StateBucket", .string(location.bucket)))
            members.append(("StateKey", .string(location.key)))
        } else {
            problems.append("STAGE_LOGGING_STATE_URI must be s3://bucket/key (the enable-logging custom resource's record)")
        }
        let discovery = (env["API_AUTO_DISCOVERY"] ?? "true").lowercased()
        if discovery == "false", let list = env["API_LIST"], !list.isEmpty { members.append(("ApiList", .string(list))) }
        let parsed = parse(.object(JSONObject(members)))
        return (problems.isEmpty ? parsed.settings : nil, problems + parsed.problems.map { text in
            // Say the variable, not the property the template would have named.
            names.reduce(text) { t, n in t.replacing(n.1, with: n.0, maxReplacements: 1) }
        })
    }

    static func withoutWildcardSuffix(_ arn: String) -> String { arn.hasSuffix(":*") ? String(arn.dropLast(2)) : arn }
}

public enum StageKind: String, Sendable, Equatable {
    case rest, http
}

/// One stage apitap changed, with what it had before. nil fields were not set at all (API Gateway's defaults:
/// logging OFF, no data trace, no access log).
public struct RecordedStage: Sendable, Equatable {
    public var kind: StageKind
    public var apiId: String
    public var stage: String
    /// REST: the stage-wide (`*/*`) `loggingLevel` and `dataTraceEnabled` before the change.
    public var loggingLevel: String?
    public var dataTrace: Bool?
    /// HTTP: the access-log destination and format before the change (nil: access logging was off).
    public var destinationArn: String?
    public var format: String?

    public var label: String { "\(kind == .rest ? "REST" : "HTTP") API \(apiId) stage \(stage)" }
}

/// What is kept in S3 between Create, Update and Delete: the stages changed and their previous settings. The
/// first recording of a stage wins: a later Create or Update never overwrites it with settings apitap made itself.
public struct StageLoggingRecord: Sendable, Equatable {
    public var stages: [RecordedStage] = []
    /// The role apitap put into API Gateway's account settings (which had none), if it did.
    public var accountRoleSet: String?
    /// The subscription filters apitap put (recorded before putting them): the only ones it ever deletes, and the log
    /// groups the tick leaves to the push.
    public var subscriptions: [RecordedSubscription] = []

    public init(stages: [RecordedStage] = [], accountRoleSet: String? = nil, subscriptions: [RecordedSubscription] = []) {
        self.stages = stages
        self.accountRoleSet = accountRoleSet
        self.subscriptions = subscriptions
    }

    public func subscriptionIndex(_ logGroup: String) -> Int? {
        subscriptions.firstIndex { $0.logGroup == logGroup }
    }

    public func index(_ kind: StageKind, _ apiId: String, _ stage: String) -> Int? {
        stages.firstIndex { $0.kind == kind && $0.apiId == apiId && $0.stage == stage }
    }

    public var isEmpty: Bool { stages.isEmpty && accountRoleSet == nil && subscriptions.isEmpty }

    /// Version 1 without subscription filters, 2 with them: an older apitap refuses a record it would read only in part
    /// (and so never lose the filters when it saves it again).
    public func encode() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("version", subscriptions.isEmpty ? 1 : 2)
        w.field("note", "apitap enable-logging: stage settings before apitap turned logging on; restored when the stack is deleted")
        w.field("accountRoleSet", accountRoleSet)
        w.key("stages")
        w.beginArray()
        for s in stages {
            w.beginObject()
            w.field("kind", s.kind.rawValue)
            w.field("apiId", s.apiId)
            w.field("stage", s.stage)
            switch s.kind {
            case .rest:
                w.field("loggingLevel", s.loggingLevel)
                w.key("dataTrace"); if let t = s.dataTrace { w.bool(t) } else { w.null() }
            case .http:
                w.field("destinationArn", s.destinationArn)
                w.field("format", s.format)
            }
            w.endObject()
        }
        w.endArray()
        if !subscriptions.isEmpty {
            w.key("subscriptions")
            w.beginArray()
            for s in subscriptions {
                w.beginObject()
                w.field("logGroup", s.logGroup)
                w.field("filterName", s.filterName)
                w.field("destinationArn", s.destinationArn)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> StageLoggingRecord {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw ConfigurationProblem("the recorded stage settings are not JSON: \(error)") }
        guard let version = json["version"]?.int64Value, version == 1 || version == 2, let items = json["stages"]?.arrayValue else {
            throw ConfigurationProblem("the recorded stage settings have an unknown layout (version \(json["version"]?.int64Value.map(String.init) ?? "none"))")
        }
        var record = StageLoggingRecord(accountRoleSet: json["accountRoleSet"]?.stringValue)
        for item in items {
            guard let kind = item["kind"]?.stringValue.flatMap(StageKind.init(rawValue:)), let api = item["apiId"]?.stringValue,
                  let stage = item["stage"]?.stringValue else {
                throw ConfigurationProblem("a recorded stage lacks kind, apiId or stage")
            }
            record.stages.append(RecordedStage(kind: kind, apiId: api, stage: stage, loggingLevel: item["loggingLevel"]?.stringValue,
                                               dataTrace: item["dataTrace"]?.boolValue, destinationArn: item["destinationArn"]?.stringValue,
                                               format: item["format"]?.stringValue))
        }
        for item in json["subscriptions"]?.arrayValue ?? [] {
            guard let group = item["logGroup"]?.stringValue, let name = item["filterName"]?.stringValue,
                  let destination = item["destinationArn"]?.stringValue else {
                throw ConfigurationProblem("a recorded subscription filter lacks logGroup, filterName or destinationArn")
            }
            record.subscriptions.append(RecordedSubscription(logGroup: group, filterName: name, destinationArn: destination))
        }
        return record
    }
}

/// The calls the logic needs; `AWSStageLoggingBackend` makes them against API Gateway and S3.
public protocol StageLoggingBackend: Sendable {
    func restStages(deadline: Deadline) async throws -> [(apiId: String, stage: RestStage)]
    func httpStages(deadline: Deadline) async throws -> [(apiId: String, stage: HTTPStage)]
    func setRestLogging(apiId: String, stage: String, level: String, dataTrace: Bool, deadline: Deadline) async throws
    func setHTTPAccessLog(apiId: String, stage: String, destinationArn: String, format: String, deadline: Deadline) async throws
    func deleteHTTPAccessLog(apiId: String, stage: String, deadline: Deadline) async throws
    func accountCloudWatchRole(deadline: Deadline) async throws -> String?
    func setAccountCloudWatchRole(_ arn: String, deadline: Deadline) async throws
    func loadRecord(bucket: String, key: String, deadline: Deadline) async throws -> [UInt8]?
    func saveRecord(bucket: String, key: String, body: [UInt8], deadline: Deadline) async throws
    func deleteRecord(bucket: String, key: String, deadline: Deadline) async throws
    /// An object read as it is (the API list); nil when it does not exist.
    func readObject(bucket: String, key: String, deadline: Deadline) async throws -> [UInt8]?
    /// True for "this API or stage no longer exists" (nothing to change or restore there).
    func isNotFound(_ error: any Error) -> Bool
    /// A log group's subscription filters; nil when the group does not exist.
    func subscriptionFilters(logGroup: String, deadline: Deadline) async throws -> [SubscriptionFilter]?
    func putSubscriptionFilter(_ filter: SubscriptionFilter, deadline: Deadline) async throws
    /// False when the group or the filter was already gone.
    func deleteSubscriptionFilter(logGroup: String, filterName: String, deadline: Deadline) async throws -> Bool
    /// Creates a log group (with a retention when given); false when it already existed.
    func createLogGroup(_ name: String, retentionDays: Int?, deadline: Deadline) async throws -> Bool
    /// True for CloudWatch's "too many subscription filters on this log group".
    func isFilterLimit(_ error: any Error) -> Bool
}

/// What one Create, Update or Delete did. `failures` make a Create or Update fail; a Delete reports them as a note.
public struct StageLoggingOutcome: Sendable {
    public var enabled: [String] = []
    public var alreadyOn = 0
    public var restored: [String] = []
    public var notes: [String] = []
    public var failures: [String] = []
    /// Log groups given apitap's subscription filter by this run, those that already had it, and those whose filter
    /// was removed.
    public var subscribed: [String] = []
    public var subscriptionsAlreadyOn = 0
    public var unsubscribed: [String] = []

    public init() {}

    /// Short: it goes into the CloudFormation response's Reason (the whole response must stay under 4 KiB).
    public func summary(limit: Int = 900) -> String {
        var parts = ["\(enabled.count) stage(s) turned on", "\(alreadyOn) already on", "\(restored.count) restored"]
        if !subscribed.isEmpty || subscriptionsAlreadyOn > 0 || !unsubscribed.isEmpty {
            parts.append("\(subscribed.count) log group(s) subscribed, \(subscriptionsAlreadyOn) already, \(unsubscribed.count) unsubscribed")
        }
        if !failures.isEmpty { parts.append("\(failures.count) failure(s): " + failures.prefix(3).joined(separator: "; ")) }
        if !notes.isEmpty { parts.append("notes: " + notes.prefix(3).joined(separator: "; ") + (notes.count > 3 ? " (+\(notes.count - 3) more)" : "")) }
        let text = parts.joined(separator: "; ")
        return text.count <= limit ? text : String(text.prefix(limit - 3)) + "..."
    }

    public func json() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        for (name, list) in [("enabled", enabled), ("restored", restored), ("notes", notes), ("failures", failures),
                             ("subscribed", subscribed), ("unsubscribed", unsubscribed)] {
            w.key(name); w.beginArray(); for s in list { w.string(s) }; w.endArray()
        }
        w.field("alreadyOn", alreadyOn)
        w.field("subscriptionsAlreadyOn", subscriptionsAlreadyOn)
        w.endObject()
        return w.bytes
    }
}

/// The JSON access-log format set on HTTP API stages: every field the tick's access-log mapper reads.
public enum HTTPAccessLogFormat {
    public static let json = #"{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId","#
        + #""ip":"$context.identity.sourceIp","userAgent":"$context.identity.userAgent","requestTime":"$context.requestTime","#
        + #""requestTimeEpoch":"$context.requestTimeEpoch","httpMethod":"$context.httpMethod","path":"$context.path","#
        + #""routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol","#
        + #""responseLength":"$context.responseLength","responseLatency":"$context.responseLatency","#
        + #""integrationLatency":"$context.integrationLatency","domainName":"$context.domainName","apiId":"$context.apiId","#
        + #""stage":"$context.stage","accountId":"$context.accountId","integrationErrorMessage":"$context.integrationErrorMessage"}"#
}

public struct StageLoggingManager: Sendable {
    public let backend: any StageLoggingBackend
    public let logger: Logger
    /// How long to keep retrying the account setting while IAM makes a new role usable by API Gateway.
    public var roleRetrySeconds: Int64 = 90

    public init(backend: any StageLoggingBackend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    /// Who applies: the stack's custom resource (Create, Update), or the scheduled refresh between stack operations.
    public enum Mode: Sendable, Equatable {
        case stack
        /// Acts only while the stack's record exists (the custom resource writes it on Create and removes it on
        /// Delete), so a refresh that runs during or after a teardown changes nothing; never restores, never touches
        /// the account setting.
        case refresh
    }

    /// Create, Update and the refresh: turn logging on where it is wanted and off; a stack operation also restores
    /// stages no longer wanted. `previousLocation` is the old state location on an Update that moved it.
    public func apply(_ settings: StageLoggingSettings, previousLocation: (bucket: String, key: String)? = nil,
                      mode: Mode = .stack, deadline: Deadline) async -> StageLoggingOutcome {
        var outcome = StageLoggingOutcome()
        var record: StageLoggingRecord
        let existed: Bool
        do {
            let loaded = try await load(settings.stateBucket, settings.stateKey, deadline: deadline)
            existed = loaded != nil
            if mode == .refresh && !existed {
                outcome.notes.append("no record at s3://\(settings.stateBucket)/\(settings.stateKey): the stack's enable-logging resource has not run or was deleted; nothing changed")
                return outcome
            }
            record = loaded ?? StageLoggingRecord()
            if let old = previousLocation, old.bucket != settings.stateBucket || old.key != settings.stateKey,
               let moved = try await load(old.bucket, old.key, deadline: deadline) {
                // The older record holds the true originals.
                for s in moved.stages {
                    if let i = record.index(s.kind, s.apiId, s.stage) { record.stages[i] = s } else { record.stages.append(s) }
                }
                record.accountRoleSet = record.accountRoleSet ?? moved.accountRoleSet
                try await save(record, settings.stateBucket, settings.stateKey, deadline: deadline)
                try? await backend.deleteRecord(bucket: old.bucket, key: old.key, deadline: deadline)
                outcome.notes.append("moved the recorded settings from s3://\(old.bucket)/\(old.key)")
            }
        } catch {
            outcome.failures.append("reading the recorded stage settings at s3://\(settings.stateBucket)/\(settings.stateKey) failed: \(error)")
            return outcome
        }

        if mode == .stack { await setAccountRole(settings, record: &record, outcome: &outcome, deadline: deadline) }

        // Discover, and record every stage about to change before changing any. A recorded stage (apitap turned it on
        // once) whose settings are now neither apitap's nor the recorded originals was changed by someone else after
        // apitap: reported, not overwritten.
        var restChanges: [(apiId: String, stage: String)] = []
        var httpChanges: [(apiId: String, stage: String)] = []
        // Subscription mode: the log groups of collected stages that log (before this run, or turned on by it).
        var pushGroups: [String] = []
        let pushRest = settings.subscription != nil && settings.enableRest
        let pushHTTP = settings.subscription != nil && settings.enableHTTP
        let before = record
        do {
            if settings.manageRest || pushRest {
                for (apiId, stage) in try await backend.restStages(deadline: deadline) {
                    let level = stage.executionLoggingLevel?.uppercased()
                    if pushRest && settings.collects(.rest, apiId: apiId, stage: stage.stageName) && (level == "INFO" || level == "ERROR") {
                        pushGroups.append(SubscriptionSettings.restLogGroup(apiId: apiId, stage: stage.stageName))
                    }
                    guard settings.wants(.rest, apiId: apiId, stage: stage.stageName) else { continue }
                    let trace = stage.methodSettings["*/*"]?.dataTraceEnabled
                    if level == "INFO" && trace == true { outcome.alreadyOn += 1; continue }
                    if let i = record.index(.rest, apiId, stage.stageName) {
                        let original = record.stages[i]
                        if (level ?? "OFF") != (original.loggingLevel?.uppercased() ?? "OFF") || (trace ?? false) != (original.dataTrace ?? false) {
                            outcome.notes.append("REST API \(apiId) stage \(stage.stageName) was changed by someone else after apitap turned its logging on (now \(level ?? "OFF")); left as is")
                            continue
                        }
                    } else {
                        record.stages.append(RecordedStage(kind: .rest, apiId: apiId, stage: stage.stageName,
                                                           loggingLevel: stage.executionLoggingLevel, dataTrace: trace))
                    }
                    restChanges.append((apiId, stage.stageName))
                }
            }
            if settings.manageHTTP || pushHTTP {
                for (apiId, stage) in try await backend.httpStages(deadline: deadline) {
                    if pushHTTP && settings.collects(.http, apiId: apiId, stage: stage.stageName),
                       let current = stage.accessLogSettings, let arn = current.destinationArn,
                       (current.format ?? "").trimmingWhitespace().hasPrefix("{"), let group = APIGatewayDiscovery.logGroupName(fromARN: arn) {
                        pushGroups.append(group)
                    }
                    guard settings.wants(.http, apiId: apiId, stage: stage.stageName) else {
                        if stage.stageName == "$default" && stage.accessLogSettings?.destinationArn == nil {
                            outcome.notes.append("HTTP API \(apiId) stage $default left without access logs (EnableDefaultStageLogging is false)")
                        }
                        continue
                    }
                    let currentDestination = stage.accessLogSettings?.destinationArn
                    if let i = record.index(.http, apiId, stage.stageName), currentDestination != record.stages[i].destinationArn,
                       currentDestination.map(StageLoggingSettings.withoutWildcardSuffix) != settings.httpAccessLogGroupArn {
                        outcome.notes.append("HTTP API \(apiId) stage \(stage.stageName) was changed by someone else after apitap turned its access logs on; left as is")
                        continue
                    }
                    if let current = stage.accessLogSettings, current.destinationArn != nil {
                        outcome.alreadyOn += 1
                        if !(current.format ?? "").trimmingWhitespace().hasPrefix("{") {
                            outcome.notes.append("HTTP API \(apiId) stage \(stage.stageName) already writes access logs in a non-JSON format; left as is (the tick cannot read them)")
                        }
                        continue
                    }
                    if record.index(.http, apiId, stage.stageName) == nil {
                        record.stages.append(RecordedStage(kind: .http, apiId: apiId, stage: stage.stageName,
                                                           destinationArn: stage.accessLogSettings?.destinationArn,
                                                           format: stage.accessLogSettings?.format))
                    }
                    httpChanges.append((apiId, stage.stageName))
                }
            }
            // A stack operation always leaves a record, even an empty one: it is what tells the refresh the stack exists.
            if record != before || !existed { try await save(record, settings.stateBucket, settings.stateKey, deadline: deadline) }
        } catch {
            outcome.failures.append("discovering stages or recording their settings failed: \(error)")
            return outcome
        }

        for change in restChanges {
            let label = "REST API \(change.apiId) stage \(change.stage)"
            do {
                try await backend.setRestLogging(apiId: change.apiId, stage: change.stage, level: "INFO", dataTrace: true, deadline: deadline)
                outcome.enabled.append(label)
                if pushRest { pushGroups.append(SubscriptionSettings.restLogGroup(apiId: change.apiId, stage: change.stage)) }
                logger.info("execution logging turned on", [("api", .string(change.apiId)), ("stage", .string(change.stage))])
            } catch where backend.isNotFound(error) {
                outcome.notes.append("\(label) disappeared before it could be changed")
            } catch {
                outcome.failures.append("\(label): \(error)")
            }
        }
        if !httpChanges.isEmpty, let destination = settings.httpAccessLogGroupArn {
            for change in httpChanges {
                let label = "HTTP API \(change.apiId) stage \(change.stage)"
                do {
                    try await backend.setHTTPAccessLog(apiId: change.apiId, stage: change.stage, destinationArn: destination,
                                                       format: HTTPAccessLogFormat.json, deadline: deadline)
                    outcome.enabled.append(label)
                    if pushHTTP, let group = APIGatewayDiscovery.logGroupName(fromARN: destination) { pushGroups.append(group) }
                    logger.info("access logging turned on", [("api", .string(change.apiId)), ("stage", .string(change.stage))])
                } catch where backend.isNotFound(error) {
                    outcome.notes.append("\(label) disappeared before it could be changed")
                } catch {
                    outcome.failures.append("\(label): \(error)")
                }
            }
        }

        // Subscription filters: a stack operation first removes those no longer wanted (poll mode again, a stage gone
        // or out of scope), then every wanted group gets one.
        await applySubscriptions(settings, groups: pushGroups, mode: mode, record: &record, outcome: &outcome, deadline: deadline)

        // Stages recorded earlier that this configuration no longer wants (a kind switched off, $default excluded).
        let unwanted = record.stages.filter { !settings.wants($0.kind, apiId: $0.apiId, stage: $0.stage) }
        if mode == .stack && !unwanted.isEmpty {
            await restore(unwanted, record: &record, outcome: &outcome, deadline: deadline)
            do { try await save(record, settings.stateBucket, settings.stateKey, deadline: deadline) } catch {
                outcome.failures.append("saving the recorded stage settings failed: \(error)")
            }
        }
        return outcome
    }

    /// Delete: put every recorded stage back. What cannot be restored stays in the record (and is reported).
    public func restoreAll(bucket: String, key: String, deadline: Deadline) async -> StageLoggingOutcome {
        var outcome = StageLoggingOutcome()
        var record: StageLoggingRecord
        do {
            guard let loaded = try await load(bucket, key, deadline: deadline) else {
                outcome.notes.append("no recorded stage settings at s3://\(bucket)/\(key): nothing to restore")
                return outcome
            }
            record = loaded
        } catch {
            outcome.failures.append("reading the recorded stage settings at s3://\(bucket)/\(key) failed: \(error)")
            return outcome
        }
        await restore(record.stages, record: &record, outcome: &outcome, deadline: deadline)
        await unsubscribe(record.subscriptions, record: &record, outcome: &outcome, deadline: deadline)
        if let role = record.accountRoleSet {
            outcome.notes.append("API Gateway's account CloudWatch role stays \(role) (AWS keeps account settings)")
            record.accountRoleSet = nil
        }
        do {
            if record.stages.isEmpty && record.subscriptions.isEmpty {
                try await backend.deleteRecord(bucket: bucket, key: key, deadline: deadline)
            } else {
                try await save(record, bucket, key, deadline: deadline)
                outcome.notes.append("the settings of \(record.stages.count) stage(s) and \(record.subscriptions.count) subscription filter(s) that could not be restored stay in s3://\(bucket)/\(key)")
            }
        } catch {
            outcome.failures.append("updating the recorded stage settings failed: \(error)")
        }
        return outcome
    }

    private func restore(_ stages: [RecordedStage], record: inout StageLoggingRecord, outcome: inout StageLoggingOutcome,
                         deadline: Deadline) async {
        for s in stages {
            if deadline.hasPassed() {
                outcome.failures.append("out of time before restoring \(s.label)")
                continue
            }
            do {
                switch s.kind {
                case .rest:
                    try await backend.setRestLogging(apiId: s.apiId, stage: s.stage, level: s.loggingLevel ?? "OFF",
                                                     dataTrace: s.dataTrace ?? false, deadline: deadline)
                case .http:
                    if let arn = s.destinationArn {
                        try await backend.setHTTPAccessLog(apiId: s.apiId, stage: s.stage, destinationArn: arn, format: s.format ?? "",
                                                           deadline: deadline)
                    } else {
                        try await backend.deleteHTTPAccessLog(apiId: s.apiId, stage: s.stage, deadline: deadline)
                    }
                }
                outcome.restored.append(s.label)
                logger.info("stage logging restored", [("stage", .string(s.label))])
            } catch where backend.isNotFound(error) {
                outcome.notes.append("\(s.label) no longer exists; nothing to restore")
            } catch {
                outcome.failures.append("restoring \(s.label): \(error)")
                continue
            }
            if let i = record.index(s.kind, s.apiId, s.stage) { record.stages.remove(at: i) }
        }
    }

    /// API Gateway needs an account-level CloudWatch role before stages can log. Set only when there is none.
    private func setAccountRole(_ settings: StageLoggingSettings, record: inout StageLoggingRecord,
                                outcome: inout StageLoggingOutcome, deadline: Deadline) async {
        guard let role = settings.cloudWatchRoleArn else { return }
        do {
            if let current = try await backend.accountCloudWatchRole(deadline: deadline) {
                if current != role { outcome.notes.append("API Gateway's account already has CloudWatch role \(current); left as is") }
                return
            }
            // A role created moments ago may not be assumable by API Gateway yet: retry for a while.
            let until = EpochMillis.now().adding(milliseconds: roleRetrySeconds * 1000)
            var wait: Int64 = 2_000
            while true {
                do {
                    try await backend.setAccountCloudWatchRole(role, deadline: deadline)
                    break
                } catch {
                    let now = EpochMillis.now()
                    guard now.adding(milliseconds: wait) < until, deadline.remainingMilliseconds(now: now) > wait + 5_000,
                          !backend.isNotFound(error) else { throw error }
                    logger.warn("setting API Gateway's account CloudWatch role failed; retrying", [("error", .string("\(error)"))])
                    try? await Task.sleep(for: .milliseconds(wait))
                    wait = min(wait * 2, 15_000)
                }
            }
            record.accountRoleSet = role
            outcome.notes.append("set API Gateway's account CloudWatch role to \(role)")
            try await save(record, settings.stateBucket, settings.stateKey, deadline: deadline)
        } catch {
            outcome.failures.append("API Gateway account CloudWatch role: \(error)")
        }
    }

    func load(_ bucket: String, _ key: String, deadline: Deadline) async throws -> StageLoggingRecord? {
        guard let bytes = try await backend.loadRecord(bucket: bucket, key: key, deadline: deadline) else { return nil }
        return try StageLoggingRecord.decode(bytes)
    }

    func save(_ record: StageLoggingRecord, _ bucket: String, _ key: String, deadline: Deadline) async throws {
        try await backend.saveRecord(bucket: bucket, key: key, body: record.encode(), deadline: deadline)
    }
}
