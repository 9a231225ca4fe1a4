// CloudWatch Logs over JSON 1.1: FilterLogEvents (the tick's source), DescribeLogGroups, and the calls that create
// log groups and wire subscription filters to the `awslogs` function (DELIVERY_MODE=subscription).
import HTTP
import Core

/// One event of a FilterLogEvents page.
public struct LogEvent: Sendable, Equatable {
    public var logStreamName: String
    public var timestamp: EpochMillis
    public var message: String
    public var ingestionTime: EpochMillis
    /// Stable per event: the de-duplication key inside the overlap.
    public var eventId: String

    public init(logStreamName: String, timestamp: EpochMillis, message: String, ingestionTime: EpochMillis, eventId: String) {
        self.logStreamName = logStreamName
        self.timestamp = timestamp
        self.message = message
        self.ingestionTime = ingestionTime
        self.eventId = eventId
    }
}

/// A page may be empty while `nextToken` is set: keep paging until it is nil.
public struct FilterLogEventsPage: Sendable {
    public var events: [LogEvent]
    public var nextToken: String?
}

public struct LogGroup: Sendable, Equatable {
    public var name: String
    public var arn: String?
    public var creationTime: EpochMillis?
    public var retentionInDays: Int?
    public var storedBytes: Int64?
}

public struct LogGroupsPage: Sendable {
    public var logGroups: [LogGroup]
    public var nextToken: String?
}

/// One subscription filter of a log group (DescribeSubscriptionFilters). CloudWatch allows 2 per log group.
public struct SubscriptionFilter: Sendable, Equatable {
    public var filterName: String
    public var logGroupName: String
    public var filterPattern: String
    public var destinationArn: String
    public var roleArn: String?

    public init(filterName: String, logGroupName: String, filterPattern: String = "", destinationArn: String, roleArn: String? = nil) {
        self.filterName = filterName
        self.logGroupName = logGroupName
        self.filterPattern = filterPattern
        self.destinationArn = destinationArn
        self.roleArn = roleArn
    }
}

public struct CloudWatchLogsClient: Sendable {
    /// CloudWatch Logs' limit: at most this many subscription filters per log group.
    public static let subscriptionFiltersPerLogGroup = 2

    public let aws: AWSClient
    static let targetPrefix = "Logs_20140328"

    public init(_ aws: AWSClient) { self.aws = aws }

    /// One page of events with `startTime <= timestamp <= endTime` (both inclusive). `interleaved` is sent as true:
    /// AWS has ignored it (always interleaving) since 2019, and local peers such as moto then order by time as AWS
    /// does instead of stream by stream.
    public func filterLogEvents(logGroupName: String, startTime: EpochMillis, endTime: EpochMillis,
                                nextToken: String? = nil, limit: Int? = nil, logStreamNamePrefix: String? = nil,
                                deadline: Deadline = .distant) async throws(AWSError) -> FilterLogEventsPage {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("logGroupName", logGroupName)
        w.field("startTime", startTime.value)
        w.field("endTime", endTime.value)
        if let nextToken { w.field("nextToken", nextToken) }
        if let limit { w.field("limit", limit) }
        if let logStreamNamePrefix { w.field("logStreamNamePrefix", logStreamNamePrefix) }
        w.field("interleaved", true)
        w.endObject()
        let body = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "FilterLogEvents",
                                          body: w.bytes, deadline: deadline)
        do { return try Self.decodeFilterLogEvents(body) } catch {
            throw AWSError.invalidResponse(.cloudWatchLogs, "FilterLogEvents", "\(error) (log group \(logGroupName))")
        }
    }

    /// Decodes a page straight from the bytes: no intermediate tree for up to 10,000 events.
    static func decodeFilterLogEvents(_ bytes: [UInt8]) throws(JSONParseError) -> FilterLogEventsPage {
        var page = FilterLogEventsPage(events: [], nextToken: nil)
        try JSONScanner.scan(bytes) { (scanner: inout JSONScanner) throws(JSONParseError) in
        try scanner.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
            switch key {
            case "events":
                if s.isNull() { return }
                try s.forEachElement { (s: inout JSONScanner) throws(JSONParseError) in
                    var event = LogEvent(logStreamName: "", timestamp: EpochMillis(0), message: "",
                                         ingestionTime: EpochMillis(0), eventId: "")
                    var sawId = false
                    try s.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
                        switch key {
                        case "logStreamName": event.logStreamName = try s.readStringOrNull() ?? ""
                        case "timestamp": event.timestamp = EpochMillis(s.isNull() ? 0 : try s.readInt64())
                        case "message": event.message = try s.readStringOrNull() ?? ""
                        case "ingestionTime": event.ingestionTime = EpochMillis(s.isNull() ? 0 : try s.readInt64())
                        case "eventId":
                            if let id = try s.readStringOrNull() { event.eventId = id; sawId = true }
                        default: try s.skipValue()
                        }
                    }
                    // Without an id the event cannot be de-duplicated; AWS always sends one.
                    guard sawId else { throw s.error("event without eventId") }
                    page.events.append(event)
                }
            case "nextToken":
                page.nextToken = try s.readStringOrNull()
            default:
                try s.skipValue()
            }
        }
        try scanner.finish()
        }
        if page.nextToken?.isEmpty == true { page.nextToken = nil }
        return page
    }

    public func describeLogGroups(prefix: String? = nil, nextToken: String? = nil, limit: Int? = nil,
                                  deadline: Deadline = .distant) async throws(AWSError) -> LogGroupsPage {
        var w = JSONWriter()
        w.beginObject()
        if let prefix { w.field("logGroupNamePrefix", prefix) }
        if let nextToken { w.field("nextToken", nextToken) }
        if let limit { w.field("limit", limit) }
        w.endObject()
        let body = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "DescribeLogGroups",
                                          body: w.bytes, deadline: deadline)
        let json = try aws.parseJSON(body, .cloudWatchLogs, "DescribeLogGroups")
        var page = LogGroupsPage(logGroups: [], nextToken: json["nextToken"]?.stringValue)
        for item in json["logGroups"]?.arrayValue ?? [] {
            guard let name = item["logGroupName"]?.stringValue else { continue }
            page.logGroups.append(LogGroup(name: name, arn: item["arn"]?.stringValue,
                                           creationTime: item["creationTime"]?.int64Value.map(EpochMillis.init),
                                           retentionInDays: item["retentionInDays"]?.int64Value.map { Int($0) },
                                           storedBytes: item["storedBytes"]?.int64Value))
        }
        if page.nextToken?.isEmpty == true { page.nextToken = nil }
        return page
    }

    /// CreateLogGroup. Returns false when the group already exists (`ResourceAlreadyExistsException`).
    @discardableResult
    public func createLogGroup(_ name: String, deadline: Deadline = .distant) async throws(AWSError) -> Bool {
        var w = JSONWriter()
        w.beginObject(); w.field("logGroupName", name); w.endObject()
        do {
            _ = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "CreateLogGroup", body: w.bytes,
                                       deadline: deadline)
            return true
        } catch where error.code == "ResourceAlreadyExistsException" {
            return false
        }
    }

    /// PutRetentionPolicy: how long the group keeps events (one of CloudWatch's allowed day counts).
    public func putRetentionPolicy(_ name: String, days: Int, deadline: Deadline = .distant) async throws(AWSError) {
        var w = JSONWriter()
        w.beginObject(); w.field("logGroupName", name); w.field("retentionInDays", days); w.endObject()
        _ = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "PutRetentionPolicy", body: w.bytes,
                                   deadline: deadline)
    }

    /// Every subscription filter of a log group (at most 2, so one page in practice; pages are followed anyway).
    /// Throws `ResourceNotFoundException` when the group does not exist.
    public func describeSubscriptionFilters(logGroupName: String, deadline: Deadline = .distant) async throws(AWSError) -> [SubscriptionFilter] {
        var filters: [SubscriptionFilter] = []
        var token: String?
        var pages = 0
        repeat {
            var w = JSONWriter()
            w.beginObject()
            w.field("logGroupName", logGroupName)
            if let token { w.field("nextToken", token) }
            w.endObject()
            let body = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "DescribeSubscriptionFilters",
                                              body: w.bytes, deadline: deadline)
            let json = try aws.parseJSON(body, .cloudWatchLogs, "DescribeSubscriptionFilters")
            for item in json["subscriptionFilters"]?.arrayValue ?? [] {
                guard let name = item["filterName"]?.stringValue, let destination = item["destinationArn"]?.stringValue else {
                    throw AWSError.invalidResponse(.cloudWatchLogs, "DescribeSubscriptionFilters",
                                                   "a filter without filterName or destinationArn (log group \(logGroupName))")
                }
                filters.append(SubscriptionFilter(filterName: name, logGroupName: item["logGroupName"]?.stringValue ?? logGroupName,
                                                  filterPattern: item["filterPattern"]?.stringValue ?? "", destinationArn: destination,
                                                  roleArn: item["roleArn"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }))
            }
            token = json["nextToken"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
        } while token != nil && pages < 10
        return filters
    }

    /// PutSubscriptionFilter: creates the filter, or replaces the one of that name. `filterPattern` "" sends every
    /// event. No role for a Lambda destination (the function's resource policy lets CloudWatch Logs invoke it).
    /// CloudWatch answers `LimitExceededException` for a third filter on a group.
    public func putSubscriptionFilter(_ filter: SubscriptionFilter, deadline: Deadline = .distant) async throws(AWSError) {
        var w = JSONWriter()
        w.beginObject()
        w.field("logGroupName", filter.logGroupName)
        w.field("filterName", filter.filterName)
        w.field("filterPattern", filter.filterPattern)
        w.field("destinationArn", filter.destinationArn)
        if let role = filter.roleArn { w.field("roleArn", role) }
        w.endObject()
        _ = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "PutSubscriptionFilter", body: w.bytes,
                                   deadline: deadline)
    }

    /// DeleteSubscriptionFilter. Throws `ResourceNotFoundException` when the group or the filter does not exist.
    public func deleteSubscriptionFilter(logGroupName: String, filterName: String, deadline: Deadline = .distant) async throws(AWSError) {
        var w = JSONWriter()
        w.beginObject(); w.field("logGroupName", logGroupName); w.field("filterName", filterName); w.endObject()
        _ = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: Self.targetPrefix, operation: "DeleteSubscriptionFilter", body: w.bytes,
                                   deadline: deadline)
    }
}
