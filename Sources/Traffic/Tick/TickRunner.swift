// One tick: for each log group, read [watermark − overlap, now − lag], stitch, deliver, and only then commit.
import AWS
import Core
import Pipeline

public struct TickSettings: Sendable {
    public var region: AWSRegion
    public var accountId: AWSAccountID?
    public var overlapMs: Int64
    public var lagMs: Int64
    /// Where a log group without a checkpoint starts: this long before now.
    public var initialLookbackMs: Int64
    public var incompleteMaxAgeMs: Int64
    public var maxBatchBytes: Int
    public var maxBatchTransactions: Int
    /// How transactions are written for the sink (Edge for UAP, native for files and stdout).
    public var encoding: TransactionEncoding
    /// Stop pulling when less than this is left before the deadline (delivery and commit need the rest).
    public var pullMarginMs: Int64
    public var logGroupConcurrency: Int
    /// How Flex Gateway log groups are stitched (entry limit, `FLEX_APIS`).
    public var flex: FlexStitcherOptions

    public init(region: AWSRegion, accountId: AWSAccountID?, overlapMs: Int64 = 120_000, lagMs: Int64 = 10_000,
                initialLookbackMs: Int64 = 300_000, incompleteMaxAgeMs: Int64 = 300_000, maxBatchBytes: Int = 1_048_576,
                maxBatchTransactions: Int = 250, encoding: TransactionEncoding = .native,
                pullMarginMs: Int64 = 10_000, logGroupConcurrency: Int = 4, flex: FlexStitcherOptions = FlexStitcherOptions()) {
        self.region = region
        self.accountId = accountId
        self.overlapMs = overlapMs
        self.lagMs = lagMs
        self.initialLookbackMs = initialLookbackMs
        self.incompleteMaxAgeMs = incompleteMaxAgeMs
        self.maxBatchBytes = maxBatchBytes
        self.maxBatchTransactions = maxBatchTransactions
        self.encoding = encoding
        self.pullMarginMs = pullMarginMs
        self.logGroupConcurrency = max(1, logGroupConcurrency)
        self.flex = flex
    }
}

/// What happened to one log group in one tick: the windowed-source outcome (result, window, pages, duplicates,
/// error, notes; read through this type's members) and what the transform and the sink did.
@dynamicMemberLookup
public struct LogGroupOutcome: Sendable {
    public typealias Result = WindowResult

    public var logGroup: LogGroupName
    public var window = WindowOutcome()
    public var streams = Set<String>()
    public var traffic = TrafficCounters()
    public var delivery = DeliveryReport()
    public var processMs: Int64 = 0
    /// Set for a Flex Gateway source: its lines and transactions, counted apart from API Gateway's.
    public var flex: FlexCounters?

    public init(logGroup: LogGroupName) { self.logGroup = logGroup }

    public subscript<T>(dynamicMember path: WritableKeyPath<WindowOutcome, T>) -> T {
        get { window[keyPath: path] }
        set { window[keyPath: path] = newValue }
    }

    public var isFlex: Bool { flex != nil }

    /// Events read (duplicates included).
    public var events: Int { window.records }
    public var pullMs: Int64 { window.readMs }
}

/// Where the tick's transactions went, which decides how the summary names them.
public enum TickSinkKind: String, Sendable {
    /// Posted to UAP: `delivery`.
    case uap
    /// `SEND_TO_UAP=false`: written as NDJSON to stdout or `OUTPUT_FILE`: `written`, nothing is called delivered.
    case ndjson
    /// `--dry-run`: sent nowhere, no checkpoint written: `wouldDeliver`, and results `would-commit`.
    case dryRun = "dry-run"
}

public struct TickSummary: Sendable {
    public var groups: [LogGroupOutcome] = []
    public var sink: TickSinkKind = .uap
    public var notes: [String] = []
    public var discoveryError: String?
    public var startedAt: EpochMillis
    /// Set in subscription mode, with the API Gateway log groups left to the push (not polled).
    public var deliveryMode: String?
    public var pushedLogGroups: [String] = []
    public var durationMs: Int64 = 0

    public init(startedAt: EpochMillis) { self.startedAt = startedAt }

    public var allCommitted: Bool {
        discoveryError == nil && groups.allSatisfy { [.committed, .partial, .idle].contains($0.result) }
    }

    public func json() -> [UInt8] {
        let gateway = groups.filter { !$0.isFlex }
        var w = JSONWriter(capacity: 2048)
        w.beginObject()
        w.field("handler", "tick")
        w.field("startedAt", startedAt.iso8601)
        w.field("durationMs", durationMs)
        if sink != .uap { w.field("sink", sink.rawValue) }
        w.field("logGroups", gateway.count)
        if let deliveryMode {
            // Polled log groups are counted above; those CloudWatch pushes to the awslogs function are listed here.
            w.field("deliveryMode", deliveryMode)
            w.field("logGroupsPushed", pushedLogGroups.count)
            w.key("pushedLogGroups"); w.beginArray(); for g in pushedLogGroups.prefix(100) { w.string(g) }; w.endArray()
        }
        writeTotals(gateway, to: &w)
        var traffic = TrafficCounters()
        for g in gateway { traffic += g.traffic }
        w.key("traffic"); traffic.write(to: &w)
        writeDelivery(gateway, to: &w)
        // Flex Gateway sources apart: their own lines, transactions and failures.
        let flex = groups.filter(\.isFlex)
        if !flex.isEmpty {
            w.key("flex")
            w.beginObject()
            w.field("sources", flex.count)
            writeTotals(flex, to: &w)
            var counters = FlexCounters()
            for g in flex { counters += g.flex ?? FlexCounters() }
            w.key("counters"); counters.write(to: &w)
            writeDelivery(flex, to: &w)
            w.endObject()
        }
        if let discoveryError { w.field("discoveryError", discoveryError) }
        if !notes.isEmpty { w.key("notes"); w.beginArray(); for n in notes { w.string(n) }; w.endArray() }
        let troubled = groups.filter { $0.error != nil }
        if !troubled.isEmpty {
            w.key("errors")
            w.beginArray()
            for g in troubled.prefix(20) {
                w.beginObject(); w.field("logGroup", g.logGroup.rawValue); w.field("result", g.result.rawValue); w.field("error", g.error); w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    /// Results, streams, pages, events and duplicates of `groups`.
    func writeTotals(_ groups: [LogGroupOutcome], to w: inout JSONWriter) {
        var results: [String: Int] = [:]
        var pages = 0, events = 0, duplicates = 0, streams = 0
        for g in groups {
            pages += g.pages; events += g.events; duplicates += g.duplicates; streams += g.streams.count
            // A dry run commits nothing: say what it would have done.
            let name = sink == .dryRun && g.result == .committed ? "would-commit" : g.result.rawValue
            results[name, default: 0] += 1
        }
        w.key("logGroupResults"); w.beginObject(); for (k, v) in results.sorted(by: { $0.key < $1.key }) { w.field(k, v) }; w.endObject()
        w.field("logStreams", streams)
        w.field("pages", pages)
        w.field("eventsFetched", events)
        w.field("duplicatesSkipped", duplicates)
    }

    /// Delivery and timing of `groups`.
    func writeDelivery(_ groups: [LogGroupOutcome], to w: inout JSONWriter) {
        var delivery = DeliveryReport()
        var pullMs: Int64 = 0, processMs: Int64 = 0
        for g in groups { delivery += g.delivery; pullMs += g.pullMs; processMs += g.processMs }
        switch sink {
        case .uap:
            w.key("delivery"); delivery.write(to: &w)
        case .ndjson:
            w.key("written"); w.beginObject()
            w.field("records", delivery.deliveredRecords)
            w.field("bytes", delivery.bytesSent)
            w.field("recordsFailed", delivery.failedRecords)
            if let why = delivery.failures.first { w.field("failure", why) }
            w.endObject()
        case .dryRun:
            w.key("wouldDeliver"); w.beginObject()
            w.field("batches", delivery.deliveredBatches)
            w.field("records", delivery.deliveredRecords)
            w.field("bytes", delivery.bytesRaw)
            w.endObject()
        }
        w.field("pullMs", pullMs)
        w.field("processMs", processMs)
    }
}

public struct TickRunner: Sendable {
    public let settings: TickSettings
    public let pager: any LogEventPager
    public let store: any CheckpointStore
    public let sink: any BatchSink
    public let limiter: RateLimiter
    public let filter: TransactionFilter
    public let logger: Logger

    public init(settings: TickSettings, pager: any LogEventPager, store: any CheckpointStore, sink: any BatchSink,
                limiter: RateLimiter, filter: TransactionFilter, logger: Logger) {
        self.settings = settings
        self.pager = pager
        self.store = store
        self.sink = sink
        self.limiter = limiter
        self.filter = filter
        self.logger = logger
    }

    public func run(targets: [LogGroupTarget], deadline: Deadline, now: EpochMillis = .now()) async -> TickSummary {
        var summary = TickSummary(startedAt: now)
        await forEachConcurrently(targets, limit: settings.logGroupConcurrency, { t in await self.poll(t, deadline: deadline, now: now) }) {
            summary.groups.append($0)
        }
        // Stages of one API share its resource map, and a note about it: say it once.
        for g in summary.groups.sorted(by: { $0.logGroup.rawValue < $1.logGroup.rawValue }) {
            for note in g.notes where !summary.notes.contains(note) { summary.notes.append(note) }
        }
        summary.groups.sort { $0.logGroup.rawValue < $1.logGroup.rawValue }
        summary.durationMs = EpochMillis.now().value - now.value
        return summary
    }

    /// Reads, stitches and delivers one log group's window, then commits its checkpoint.
    func poll(_ target: LogGroupTarget, deadline: Deadline, now: EpochMillis) async -> LogGroupOutcome {
        var outcome = LogGroupOutcome(logGroup: target.logGroup)
        let key = target.logGroup.rawValue
        let log = logger.with("logGroup", key)

        // The transform for this kind of log group, with the API's resource map (cached across ticks) so throttled
        // requests that name only a resource id get a path.
        let pullDeadline = deadline.reserving(milliseconds: settings.pullMarginMs)
        var options = StitcherOptions()
        var notes: [String] = []
        if target.kind == .rest, let source = target.resourcePaths, let apiId = target.apiId {
            let found = await source.resourcePaths(restApiId: apiId, deadline: pullDeadline)
            options.resourcePaths = found.paths
            options.customDomains = found.domains.filter { $0.stage == target.stage }
            if let note = found.note { notes.append(note) }
        }
        var consumer = TickConsumer(target: target, settings: settings, options: options, filter: filter, sink: sink,
                                    deadline: deadline, now: now, logger: log)
        let source = WindowedSource(
            reader: LogGroupReader(pager: pager, logGroup: target.logGroup, limiter: limiter), store: store, key: key, owner: key,
            label: "log group \(key)", positionNoun: "token", format: TickCheckpoint.format,
            policy: WindowPolicy(overlapMs: settings.overlapMs, pullMarginMs: settings.pullMarginMs, commitEachPage: false),
            logger: log)
        let initial = now.adding(milliseconds: -settings.initialLookbackMs - settings.lagMs)
        outcome.window = await source.run(from: .checkpoint(initialWatermark: initial, initialStart: initial.adding(milliseconds: -settings.overlapMs)),
                                          end: now.adding(milliseconds: -settings.lagMs), consumer: &consumer, deadline: deadline)
        outcome.notes = notes + outcome.notes
        outcome.streams = consumer.streams
        outcome.traffic = consumer.traffic
        outcome.delivery = consumer.delivery
        outcome.processMs = consumer.processMs
        if target.kind == .flex { outcome.flex = consumer.flexCounters }
        if outcome.traffic.encoding.notEncodedTotal > 0 {
            log.warn("transactions the payload format cannot express were not sent",
                     outcome.traffic.encoding.notEncoded.sorted { $0.key < $1.key }.map { ($0.key, .of($0.value)) })
        }
        // Progress: one line per log group as it finishes (the summary comes at the end of the whole tick).
        var fields: [(String, LogValue)] = [
            ("result", .string(outcome.result.rawValue)), ("events", .of(outcome.events)), ("pages", .of(outcome.pages)),
            ("duplicates", .of(outcome.duplicates)), ("transactions", .of(outcome.traffic.transactionsEmitted)),
            ("sent", .of(outcome.delivery.deliveredRecords)), ("failed", .of(outcome.delivery.failedRecords)),
            ("retries", .of(outcome.delivery.retries)), ("readMs", .int(outcome.pullMs)), ("processMs", .int(outcome.processMs)),
        ]
        if let error = outcome.error { fields.append(("error", .string(error))) }
        if outcome.result.isSuccess { log.info("log group done", fields) } else { log.warn("log group not committed", fields) }
        return outcome
    }
}

/// FilterLogEvents pages of one log group, under the account's shared request budget.
struct LogGroupReader: WindowReader {
    let pager: any LogEventPager
    let logGroup: LogGroupName
    let limiter: RateLimiter

    func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<LogEvent> {
        while true {
            guard await limiter.acquire(before: deadline) else { throw WindowReadStop.deadline }
            do {
                let page = try await pager.page(logGroup: logGroup, start: start, end: end, nextToken: position, deadline: deadline)
                return WindowPage(records: page.events, next: page.nextToken)
            } catch is ThrottledError {
                await limiter.backOff(.seconds(1))
            } catch is LogGroupNotFoundError {
                // Nothing was ever logged, so there is nothing to read and no position worth keeping.
                throw WindowReadStop.absent(note: "log group \(logGroup) does not exist yet (no request logged since logging was enabled)")
            }
        }
    }

    func identity(of event: LogEvent) -> (hash: UInt64, time: EpochMillis?) { (TickCheckpoint.eventHash(event.eventId), event.timestamp) }
}

/// The tick's transform and sink side for one log group: stitch (REST, Flex) or map (HTTP) fresh events, filter, encode and
/// deliver batches as they fill (a window is never held whole), and carry open requests in the checkpoint.
struct TickConsumer: WindowConsumer {
    let target: LogGroupTarget
    let settings: TickSettings
    let sink: any BatchSink
    let deadline: Deadline
    let now: EpochMillis
    let logger: Logger
    var stitcher: RESTExecutionLogStitcher<TextExecutionLogFormat>
    var mapper: HTTPAccessLogMapper
    var flex: FlexStitcher
    var flexCounters = FlexCounters()
    var batcher: TransactionBatcher
    var streams = Set<String>()
    var traffic = TrafficCounters()
    var delivery = DeliveryReport()
    var processMs: Int64 = 0

    init(target: LogGroupTarget, settings: TickSettings, options: StitcherOptions, filter: TransactionFilter, sink: any BatchSink,
         deadline: Deadline, now: EpochMillis, logger: Logger) {
        self.target = target
        self.settings = settings
        self.sink = sink
        self.deadline = deadline
        self.now = now
        self.logger = logger
        stitcher = RESTExecutionLogStitcher(logGroup: target.logGroup, region: settings.region, accountId: settings.accountId, options: options)
        mapper = HTTPAccessLogMapper(logGroup: target.logGroup, region: settings.region, accountId: settings.accountId,
                                     apiId: target.apiId, stage: target.stage)
        flex = FlexStitcher(logGroup: target.logGroup, region: settings.region, accountId: settings.accountId, options: settings.flex)
        batcher = TransactionBatcher(encoding: settings.encoding, filter: filter, maxBytes: settings.maxBatchBytes,
                                     maxRecords: settings.maxBatchTransactions)
    }

    /// The requests carried over from the last tick.
    mutating func restore(from document: JSONValue, window: PlannedWindow) throws {
        guard let state = TickCheckpoint.stitcherState(in: document) else { return }
        do {
            switch target.kind {
            case .rest: try stitcher.restoreState(state)
            case .flex: try flex.restoreState(state)
            case .http: break
            }
        } catch {
            logger.warn("the carried-over requests could not be restored; they will be emitted incomplete if seen again",
                        [("error", .string(String(describing: error)))])
        }
    }

    mutating func consume(_ events: [LogEvent], window: PlannedWindow) async -> Acknowledgement {
        let processStart = EpochMillis.now()
        var batcher = self.batcher
        let emit: (Transaction) -> Void = { batcher.add($0) }
        for event in events {
            streams.insert(event.logStreamName)
            switch target.kind {
            case .rest: stitcher.ingest(logStream: LogStreamName(event.logStreamName), timestamp: event.timestamp, message: event.message, emit: emit)
            case .http: if let t = mapper.map(logStream: LogStreamName(event.logStreamName), timestamp: event.timestamp, message: event.message) { emit(t) }
            case .flex: flex.ingest(logStream: LogStreamName(event.logStreamName), timestamp: event.timestamp, message: event.message, emit: emit)
            }
        }
        self.batcher = batcher
        processMs += EpochMillis.now().value - processStart.value
        // Full batches go as they fill.
        return await sink.send(self.batcher.take(), deadline: deadline, into: &delivery)
    }

    mutating func finish(window: PlannedWindow, complete: Bool) async -> (Acknowledgement, changed: Bool) {
        var batcher = self.batcher
        let emit: (Transaction) -> Void = { batcher.add($0) }
        let cutoff = now.adding(milliseconds: -settings.incompleteMaxAgeMs)
        switch target.kind {
        case .rest:
            stitcher.flushIncomplete(olderThan: cutoff, emit: emit)
            stitcher.finishWindow(emit: emit)
            traffic = stitcher.takeCounters()
        case .http:
            traffic = mapper.takeCounters()
        case .flex:
            flex.flushIncomplete(olderThan: cutoff, emit: emit)
            flex.finishWindow(emit: emit)
            flexCounters = flex.takeCounters()
            traffic = flexCounters.traffic
        }
        batcher.close()
        traffic.filtered = batcher.filtered
        traffic.encoding = batcher.counters
        flexCounters.traffic = traffic
        self.batcher = batcher
        return (await sink.send(self.batcher.take(), deadline: deadline, into: &delivery), true)
    }

    func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool) {
        switch target.kind {
        case .rest: TickCheckpoint.writeStitcherState(stitcher.exportState(), to: &w)
        case .flex: TickCheckpoint.writeStitcherState(flex.exportState(), to: &w)
        case .http: TickCheckpoint.writeStitcherState(nil, to: &w)
        }
    }
}
