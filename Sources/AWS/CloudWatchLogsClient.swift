// CloudWatch Logs: FilterLogEvents (the tick's source) and DescribeLogGroups, over JSON 1.1.
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

public struct CloudWatchLogsClient: Sendable {
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
    static func decodeFilterLogEvents(_ bytes: [UInt8]) throws(JSONScanError) -> FilterLogEventsPage {
        var scanner = JSONScanner(bytes)
        var page = FilterLogEventsPage(events: [], nextToken: nil)
        try scanner.forEachMember { (s: inout JSONScanner, key: String) throws(JSONScanError) in
            switch key {
            case "events":
                if s.isNull() { return }
                try s.forEachElement { (s: inout JSONScanner) throws(JSONScanError) in
                    var event = LogEvent(logStreamName: "", timestamp: EpochMillis(0), message: "",
                                         ingestionTime: EpochMillis(0), eventId: "")
                    var sawId = false
                    try s.forEachMember { (s: inout JSONScanner, key: String) throws(JSONScanError) in
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
}
