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

    public init(region: AWSRegion, accountId: AWSAccountID?, overlapMs: Int64 = 120_000, lagMs: Int64 = 10_000,
                initialLookbackMs: Int64 = 300_000, incompleteMaxAgeMs: Int64 = 300_000, maxBatchBytes: Int = 1_048_576,
                maxBatchTransactions: Int = 250, encoding: TransactionEncoding = .native,
                pullMarginMs: Int64 = 10_000, logGroupConcurrency: Int = 4) {
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
    }
}

/// What happened to one log group in one tick.
public struct LogGroupOutcome: Sendable {
    public enum Result: String, Sendable {
        /// The whole window was delivered and committed.
        case committed
        /// The deadline came first: what was read up to the last event was delivered and committed.
        case partial
        /// Nothing new in the window.
        case idle
        /// Delivery failed: nothing committed, the window is read again next tick.
        case deliveryFailed
        /// Another run committed first: this run's work is left to it (ids are stable, duplicates are harmless).
        case conflict
        /// Reading or committing failed.
        case failed
    }

    public var logGroup: LogGroupName
    public var result: Result = .idle
    public var windowStart: EpochMillis?
    public var windowEnd: EpochMillis?
    public var pages = 0
    public var events = 0
    public var duplicates = 0
    public var streams = Set<String>()
    public var traffic = TrafficCounters()
    public var delivery = DeliveryReport()
    public var pullMs: Int64 = 0
    public var processMs: Int64 = 0
    public var error: String?
    /// Things the operator should know that are not failures (merged into `TickSummary.notes`).
    public var notes: [String] = []

    public init(logGroup: LogGroupName) { self.logGroup = logGroup }
}

public struct TickSummary: Sendable {
    public var groups: [LogGroupOutcome] = []
    public var notes: [String] = []
    public var discoveryError: String?
    public var startedAt: EpochMillis
    public var durationMs: Int64 = 0

    public init(startedAt: EpochMillis) { self.startedAt = startedAt }

    public var allCommitted: Bool {
        discoveryError == nil && groups.allSatisfy { [.committed, .partial, .idle].contains($0.result) }
    }

    public func json() -> [UInt8] {
        var traffic = TrafficCounters()
        var delivery = DeliveryReport()
        var pages = 0, events = 0, duplicates = 0, streams = 0
        var pullMs: Int64 = 0, processMs: Int64 = 0
        var results: [String: Int] = [:]
        for g in groups {
            traffic += g.traffic
            delivery += g.delivery
            pages += g.pages; events += g.events; duplicates += g.duplicates; streams += g.streams.count
            pullMs += g.pullMs; processMs += g.processMs
            results[g.result.rawValue, default: 0] += 1
        }
        var w = JSONWriter(capacity: 2048)
        w.beginObject()
        w.field("handler", "tick")
        w.field("startedAt", startedAt.iso8601)
        w.field("durationMs", durationMs)
        w.field("logGroups", groups.count)
        w.key("logGroupResults"); w.beginObject(); for (k, v) in results.sorted(by: { $0.key < $1.key }) { w.field(k, v) }; w.endObject()
        w.field("logStreams", streams)
        w.field("pages", pages)
        w.field("eventsFetched", events)
        w.field("duplicatesSkipped", duplicates)
        w.key("traffic"); traffic.write(to: &w)
        w.key("delivery"); delivery.write(to: &w)
        w.field("pullMs", pullMs)
        w.field("processMs", processMs)
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

    /// Sends `batches`; false (with the outcome marked) when any was not acknowledged.
    private func deliver(_ batches: [Batch], into outcome: inout LogGroupOutcome, deadline: Deadline) async -> Bool {
        guard !batches.isEmpty else { return true }
        let report = await sink.deliver(batches, deadline: deadline)
        outcome.delivery += report
        guard report.allDelivered else {
            outcome.result = .deliveryFailed
            outcome.error = report.failures.first
            return false
        }
        return true
    }

    /// Reads, stitches and delivers one log group's window, then commits its checkpoint.
    func poll(_ target: LogGroupTarget, deadline: Deadline, now: EpochMillis) async -> LogGroupOutcome {
        var outcome = LogGroupOutcome(logGroup: target.logGroup)
        let key = target.logGroup.rawValue
        let log = logger.with("logGroup", key)

        // 1. The checkpoint, and the window it implies.
        let loaded: (bytes: [UInt8]?, version: CheckpointVersion)
        do { loaded = try await store.load(key: key) } catch {
            outcome.result = .failed
            outcome.error = "loading the checkpoint failed: \(error)"
            return outcome
        }
        var checkpoint = TickCheckpoint(watermark: now.adding(milliseconds: -settings.initialLookbackMs - settings.lagMs))
        if let bytes = loaded.bytes {
            do { checkpoint = try TickCheckpoint.decode(bytes) } catch {
                // A checkpoint we cannot read must not silently restart from "now": that would skip data.
                outcome.result = .failed
                outcome.error = "the stored checkpoint cannot be read (\(error)); fix or delete it"
                return outcome
            }
        }
        // A window cut short last time is continued with its token; otherwise a new one starts `overlap` back.
        var start = checkpoint.watermark.adding(milliseconds: -settings.overlapMs)
        var end = now.adding(milliseconds: -settings.lagMs)
        var token: String?
        var nextSeen = Set<UInt64>()
        if let p = checkpoint.inProgress {
            start = p.start; end = p.end; token = p.nextToken; nextSeen = p.nextSeen
        }
        outcome.windowStart = start
        outcome.windowEnd = end
        guard end > checkpoint.watermark else { return outcome }

        // 2. The transform for this kind of log group, with the requests carried over from the last tick, and the
        // API's resource map (cached across ticks) so throttled requests that name only a resource id get a path.
        let pullDeadline = Deadline(epoch: deadline.epoch.adding(milliseconds: -settings.pullMarginMs))
        var options = StitcherOptions()
        if target.kind == .rest, let source = target.resourcePaths, let apiId = target.apiId {
            let found = await source.resourcePaths(restApiId: apiId, deadline: pullDeadline)
            options.resourcePaths = found.paths
            options.customDomains = found.domains.filter { $0.stage == target.stage }
            if let note = found.note { outcome.notes.append(note) }
        }
        var stitcher = RESTExecutionLogStitcher(logGroup: target.logGroup, region: settings.region, accountId: settings.accountId,
                                                options: options)
        var mapper = HTTPAccessLogMapper(logGroup: target.logGroup, region: settings.region, accountId: settings.accountId,
                                         apiId: target.apiId, stage: target.stage)
        if target.kind == .rest, let state = checkpoint.stitcherState {
            do { try stitcher.restoreState(state) } catch {
                log.warn("the carried-over requests could not be restored; they will be emitted incomplete if seen again",
                         [("error", .string(String(describing: error)))])
            }
        }
        var batcher = TransactionBatcher(encoding: settings.encoding, filter: filter, maxBytes: settings.maxBatchBytes,
                                         maxRecords: settings.maxBatchTransactions)
        let emit: (Transaction) -> Void = { t in batcher.add(t) }

        // 3. Every page until no nextToken, or until the deadline is near.
        // Events read inside the next window's overlap: the next window skips them when it re-reads them.
        let nextSeenFrom = end.value - settings.overlapMs
        var complete = false
        var resumedToken = token != nil
        while true {
            guard await limiter.acquire(before: pullDeadline) else { break }
            let pullStart = EpochMillis.now()
            let page: LogEventPage
            do {
                page = try await pager.page(logGroup: target.logGroup, start: start, end: end, nextToken: token, deadline: pullDeadline)
            } catch is ThrottledError {
                await limiter.backOff(.seconds(1))
                continue
            } catch is LogGroupNotFoundError {
                // Nothing was ever logged, so there is nothing to read and no position worth keeping.
                outcome.result = .idle
                outcome.notes.append("log group \(key) does not exist yet (no request logged since logging was enabled)")
                return outcome
            } catch where resumedToken {
                // The stored token expired (they live 24 h): read the whole window again; ids are stable.
                log.warn("the stored nextToken was refused; re-reading the window", [("error", .string(String(describing: error)))])
                token = nil
                resumedToken = false
                continue
            } catch {
                outcome.result = .failed
                outcome.error = "reading events failed: \(error)"
                return outcome
            }
            outcome.pullMs += EpochMillis.now().value - pullStart.value
            outcome.pages += 1
            let processStart = EpochMillis.now()
            for event in page.events {
                outcome.events += 1
                let h = TickCheckpoint.eventHash(event.eventId)
                if event.timestamp.value >= nextSeenFrom { nextSeen.insert(h) }
                if checkpoint.seen.contains(h) { outcome.duplicates += 1; continue }
                outcome.streams.insert(event.logStreamName)
                switch target.kind {
                case .rest: stitcher.ingest(logStream: LogStreamName(event.logStreamName), timestamp: event.timestamp, message: event.message, emit: emit)
                case .http: if let t = mapper.map(logStream: LogStreamName(event.logStreamName), timestamp: event.timestamp, message: event.message) { emit(t) }
                }
            }
            outcome.processMs += EpochMillis.now().value - processStart.value
            // Deliver full batches as they fill: the window is never held in memory as a whole.
            guard await deliver(batcher.take(), into: &outcome, deadline: deadline) else { return outcome }
            resumedToken = false
            guard let next = page.nextToken else { complete = true; break }
            token = next
        }
        if !complete && outcome.pages == 0 {
            outcome.error = "the deadline came before any page was read"
            return outcome
        }

        if target.kind == .rest {
            stitcher.flushIncomplete(olderThan: now.adding(milliseconds: -settings.incompleteMaxAgeMs), emit: emit)
            stitcher.finishWindow(emit: emit)
            outcome.traffic = stitcher.takeCounters()
        } else {
            outcome.traffic = mapper.takeCounters()
        }
        outcome.traffic.filtered = batcher.filtered
        outcome.traffic.encoding = batcher.counters
        if outcome.traffic.encoding.notEncodedTotal > 0 {
            log.warn("transactions the payload format cannot express were not sent",
                     outcome.traffic.encoding.notEncoded.sorted { $0.key < $1.key }.map { ($0.key, .of($0.value)) })
        }
        batcher.close()
        guard await deliver(batcher.take(), into: &outcome, deadline: deadline) else { return outcome }

        // 4. Everything read was acknowledged: move the watermark (or the window's token), conditionally.
        let state = target.kind == .rest ? stitcher.exportState() : nil
        let next: TickCheckpoint
        if complete {
            next = TickCheckpoint(watermark: end, seen: nextSeen, stitcherState: state)
        } else {
            next = TickCheckpoint(watermark: checkpoint.watermark, seen: checkpoint.seen,
                                  inProgress: .init(start: start, end: end, nextToken: token ?? "", nextSeen: nextSeen), stitcherState: state)
        }
        do {
            _ = try await store.commit(key: key, bytes: next.encoded(logGroup: target.logGroup), expected: loaded.version)
            outcome.result = complete ? .committed : .partial
        } catch let conflict as CheckpointConflict {
            outcome.result = .conflict
            outcome.error = conflict.description
        } catch {
            outcome.result = .failed
            outcome.error = "committing the checkpoint failed: \(error)"
        }
        return outcome
    }
}
