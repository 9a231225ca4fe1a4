// The `awslogs` path: a CloudWatch Logs subscription payload (base64 of gzip of JSON) through the same stitcher.
import AWS
import HTTP
import Core
import Pipeline

public struct SubscriptionPayload: Sendable {
    public struct Event: Sendable {
        public var id: String
        public var timestamp: EpochMillis
        public var message: String

        public init(id: String, timestamp: EpochMillis, message: String) {
            self.id = id
            self.timestamp = timestamp
            self.message = message
        }
    }
    public var messageType: String
    public var owner: String?
    public var logGroup: LogGroupName
    public var logStream: LogStreamName
    public var events: [Event]

    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public init(messageType: String, owner: String?, logGroup: LogGroupName, logStream: LogStreamName, events: [Event]) {
        self.messageType = messageType
        self.owner = owner
        self.logGroup = logGroup
        self.logStream = logStream
        self.events = events
    }

    /// `{"awslogs":{"data":"<base64(gzip(JSON))>"}}` → the decoded message.
    public static func decode(event: [UInt8]) throws(DecodeError) -> SubscriptionPayload {
        let outer: JSONValue
        do { outer = try JSONReader.parse(event) } catch { throw DecodeError(description: "the event is not JSON: \(error)") }
        guard let data = outer["awslogs"]?["data"]?.stringValue else {
            throw DecodeError(description: "the event has no awslogs.data: not a CloudWatch Logs subscription event")
        }
        guard let compressed = Base64.decode(Array(data.utf8)) else { throw DecodeError(description: "awslogs.data is not base64") }
        let plain: [UInt8]
        do { plain = try GzipDecompressor.decompress(compressed, limit: 64 * 1024 * 1024) } catch {
            throw DecodeError(description: "awslogs.data is not gzip: \(error)")
        }
        let json: JSONValue
        do { json = try JSONReader.parse(plain) } catch { throw DecodeError(description: "the decoded payload is not JSON: \(error)") }
        guard let type = json["messageType"]?.stringValue, let group = json["logGroup"]?.stringValue,
              let stream = json["logStream"]?.stringValue else {
            throw DecodeError(description: "the decoded payload lacks messageType, logGroup or logStream")
        }
        var events: [Event] = []
        for e in json["logEvents"]?.arrayValue ?? [] {
            guard let message = e["message"]?.stringValue, let ts = e["timestamp"]?.int64Value else { continue }
            events.append(Event(id: e["id"]?.stringValue ?? "", timestamp: EpochMillis(ts), message: message))
        }
        return SubscriptionPayload(messageType: type, owner: json["owner"]?.stringValue, logGroup: LogGroupName(group),
                                   logStream: LogStreamName(stream), events: events)
    }
}

/// Keeps one stitcher per log group across warm invocations (a request's lines may arrive in two deliveries).
/// Each delivery is all-or-nothing: if the sink fails, the stitcher state is rolled back and the error makes Lambda
/// redeliver the same payload; the transactions' ids are stable, so a partial earlier delivery only duplicates.
public struct SubscriptionProcessor: Sendable {
    private var restStitchers: [LogGroupName: RESTExecutionLogStitcher<TextExecutionLogFormat>] = [:]
    private let region: AWSRegion
    private let accountId: AWSAccountID?
    private var filter: TransactionFilter
    private let maxBatchBytes: Int
    private let maxBatchTransactions: Int
    private let encoding: TransactionEncoding
    private let incompleteMaxAgeMs: Int64

    public init(region: AWSRegion, accountId: AWSAccountID?, filter: TransactionFilter, maxBatchBytes: Int,
                maxBatchTransactions: Int = 250, encoding: TransactionEncoding = .native, incompleteMaxAgeSeconds: Int) {
        self.region = region
        self.accountId = accountId
        self.filter = filter
        self.maxBatchBytes = maxBatchBytes
        self.maxBatchTransactions = maxBatchTransactions
        self.encoding = encoding
        self.incompleteMaxAgeMs = Int64(incompleteMaxAgeSeconds) * 1000
    }

    public struct Outcome: Sendable {
        public var counters = TrafficCounters()
        public var delivery = DeliveryReport()
        public var skipped: String?
        public var events = 0

        public func json(logGroup: String?) -> [UInt8] {
            var w = JSONWriter()
            w.beginObject()
            w.field("handler", "awslogs")
            w.field("logGroup", logGroup)
            if let skipped { w.field("skipped", skipped) }
            w.field("events", events)
            w.key("traffic"); counters.write(to: &w)
            w.key("delivery"); delivery.write(to: &w)
            w.endObject()
            return w.bytes
        }
    }

    public mutating func process(_ payload: SubscriptionPayload, sink: any BatchSink, deadline: Deadline,
                                 now: EpochMillis = .now()) async -> Outcome {
        var outcome = Outcome()
        outcome.events = payload.events.count
        // CONTROL_MESSAGE is CloudWatch checking that the destination is reachable.
        guard payload.messageType == "DATA_MESSAGE" else { outcome.skipped = payload.messageType; return outcome }
        var batcher = TransactionBatcher(encoding: encoding, filter: filter, maxBytes: maxBatchBytes, maxRecords: maxBatchTransactions)
        let emit: (Transaction) -> Void = { t in batcher.add(t) }
        var mark: RESTExecutionLogStitcher<TextExecutionLogFormat>.Mark?
        if payload.logGroup.restExecutionLogStage != nil {
            var stitcher = restStitchers.removeValue(forKey: payload.logGroup)
                ?? RESTExecutionLogStitcher(logGroup: payload.logGroup, region: region, accountId: accountId)
            mark = stitcher.mark()
            for e in payload.events { stitcher.ingest(logStream: payload.logStream, timestamp: e.timestamp, message: e.message, emit: emit) }
            stitcher.flushIncomplete(olderThan: now.adding(milliseconds: -incompleteMaxAgeMs), emit: emit)
            stitcher.finishWindow(emit: emit)
            outcome.counters = stitcher.takeCounters()
            restStitchers[payload.logGroup] = stitcher
        } else {
            var mapper = HTTPAccessLogMapper(logGroup: payload.logGroup, region: region, accountId: accountId, apiId: nil, stage: nil)
            for e in payload.events {
                if let t = mapper.map(logStream: payload.logStream, timestamp: e.timestamp, message: e.message) { emit(t) }
            }
            outcome.counters = mapper.takeCounters()
        }
        outcome.counters.filtered = batcher.filtered
        outcome.counters.encoding = batcher.counters
        batcher.close()
        outcome.delivery = await sink.deliver(batcher.take(), deadline: deadline)
        if let mark, var stitcher = restStitchers.removeValue(forKey: payload.logGroup) {
            // A failed delivery is undone so that the redelivered payload stitches the same transactions again.
            if outcome.delivery.allDelivered { stitcher.commit() } else { stitcher.rollBack(to: mark) }
            restStitchers[payload.logGroup] = stitcher
        }
        return outcome
    }
}
