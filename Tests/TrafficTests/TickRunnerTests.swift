// The tick's core over an in-memory CloudWatch: exactly-once in clean runs, nothing lost on failures, partial windows,
// carried-over requests, concurrent runs, and pages that are empty but not last.
import Foundation
import AWS
import Core
import Pipeline
import Testing
@testable import Traffic

/// Serves FilterLogEvents pages from memory, sorted by timestamp like CloudWatch, `pageSize` events a page, with an
/// empty page carrying a token after every page, and optional throttling of the first call.
final class MemoryPager: LogEventPager, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String: [LogEvent]] = [:]
    let pageSize: Int
    var throttleFirst: Bool
    private(set) var calls = 0

    init(pageSize: Int = 7, throttleFirst: Bool = false) { self.pageSize = pageSize; self.throttleFirst = throttleFirst }

    func add(_ group: String, _ new: [LogEvent]) { lock.withLock { events[group, default: []] += new } }

    func page(logGroup: LogGroupName, start: EpochMillis, end: EpochMillis, nextToken: String?, deadline: Deadline) async throws -> LogEventPage {
        try lock.withLock {
            calls += 1
            if throttleFirst { throttleFirst = false; throw ThrottledError("Rate exceeded") }
            let all = (events[logGroup.rawValue] ?? []).filter { $0.timestamp >= start && $0.timestamp <= end }
                .sorted { ($0.timestamp, $0.eventId) < ($1.timestamp, $1.eventId) }
            // Token "n:e" = offset n, e = this is the empty page before offset n.
            var offset = 0
            if let t = nextToken {
                let parts = t.split(separator: ":")
                offset = Int(parts[0]) ?? 0
                if parts.count == 2 { return LogEventPage(events: [], nextToken: "\(offset)") }
            }
            let slice = Array(all.dropFirst(offset).prefix(pageSize))
            let next = offset + slice.count
            return LogEventPage(events: slice, nextToken: next < all.count ? "\(next):e" : nil)
        }
    }
}

/// A MemoryPager that answers like CloudWatchLogsPager for a log group API Gateway has not created yet.
struct MissingGroupPager: LogEventPager {
    let missing: String
    let inner = MemoryPager()

    func page(logGroup: LogGroupName, start: EpochMillis, end: EpochMillis, nextToken: String?, deadline: Deadline) async throws -> LogEventPage {
        if logGroup.rawValue == missing { throw LogGroupNotFoundError(logGroup) }
        return try await inner.page(logGroup: logGroup, start: start, end: end, nextToken: nextToken, deadline: deadline)
    }
}

final class RecordingSink: BatchSink, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var ids: [String] = []
    private(set) var records: [[String: Any]] = []
    var failNext = 0

    func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        lock.withLock {
            var r = DeliveryReport()
            for b in batches {
                if failNext > 0 { failNext -= 1; r.failedBatches += 1; r.failedRecords += b.count; r.failures.append("status 503: injected"); continue }
                let array = (try? JSONSerialization.jsonObject(with: Data(b.bytes))) as? [[String: Any]] ?? []
                records += array
                ids += array.compactMap { $0["id"] as? String }
                r.deliveredBatches += 1
                r.deliveredRecords += b.count
            }
            return r
        }
    }
}

@Suite struct TickRunnerTests {
    static let group = "API-Gateway-Execution-Logs_a1b2c3d4e5/prod"
    static let target = LogGroupTarget(logGroup: LogGroupName(group), kind: .rest, apiId: "a1b2c3d4e5", stage: "prod")

    /// Fixture events moved so that the first one is at `base`.
    static func events(_ fixture: String, base: Int64, idPrefix: String = "") throws -> [LogEvent] {
        let raw = try Fixtures.events(fixture)
        let first = raw.map(\.timestamp.value).min() ?? 0
        return raw.map { LogEvent(logStreamName: $0.logStream.rawValue, timestamp: EpochMillis($0.timestamp.value - first + base),
                                  message: $0.message, ingestionTime: EpochMillis($0.timestamp.value - first + base + 500),
                                  eventId: idPrefix + $0.eventId) }
    }

    func runner(_ pager: MemoryPager, _ sink: RecordingSink, store: FileCheckpointStore, overlap: Int64 = 60_000,
                lookback: Int64 = 600_000, margin: Int64 = 0, pager override: (any LogEventPager)? = nil) throws -> TickRunner {
        TickRunner(settings: TickSettings(region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"), overlapMs: overlap,
                                          lagMs: 5_000, initialLookbackMs: lookback, pullMarginMs: margin),
                   pager: override ?? pager, store: store, sink: sink, limiter: RateLimiter(perSecond: 1_000), filter: try TransactionFilter(),
                   logger: Logger(level: .fatal, sink: { _ in }))
    }

    func store() throws -> FileCheckpointStore {
        try FileCheckpointStore(directory: NSTemporaryDirectory() + "apitap-tick-\(UUID().uuidString)")
    }

    @Test func deliversEveryRequestOnceAndASecondTickNothing() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager(pageSize: 7, throttleFirst: true)
        pager.add(Self.group, try Self.events("rest-interleaved-requests.ndjson", base: base))
        pager.add(Self.group, try Self.events("rest-429-throttled.ndjson", base: base + 2_000, idPrefix: "b"))
        let sink = RecordingSink()
        let r = try runner(pager, sink, store: store())
        let now = EpochMillis(base + 60_000)
        let first = await r.run(targets: [Self.target], deadline: .distant, now: now)
        #expect(first.groups.first?.result == .committed, "\(first.groups.first?.error ?? "")")
        #expect(first.groups.first!.pages > 2, "several pages, empty ones included")
        #expect(sink.ids.count == 5)
        #expect(Set(sink.ids).count == 5)
        let second = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 90_000))
        #expect(second.groups.first?.result == .committed)
        #expect(second.groups.first!.duplicates > 0, "the overlap is re-read and skipped by event id")
        #expect(sink.ids.count == 5, "nothing new is delivered")
        let json = try JSONSerialization.jsonObject(with: Data(first.json())) as? [String: Any]
        #expect(json?["eventsFetched"] as? Int == first.groups.first?.events)
    }

    @Test func aDryRunReadsTheRealCheckpointsAndWritesNone() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        pager.add(Self.group, try Self.events("rest-interleaved-requests.ndjson", base: base))
        let st = try store()
        let dry = TickRunner(settings: try runner(pager, RecordingSink(), store: st).settings, pager: pager,
                             store: ReadOnlyCheckpointStore(st), sink: DryRunSink(), limiter: RateLimiter(perSecond: 1_000),
                             filter: try TransactionFilter(), logger: Logger(level: .fatal, sink: { _ in }))
        var first = await dry.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 60_000))
        first.sink = .dryRun
        #expect(first.groups.first?.result == .committed && first.groups.first?.delivery.deliveredRecords == 4)
        #expect(try FileManager.default.contentsOfDirectory(atPath: st.directory).isEmpty, "no checkpoint written")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(first.json())) as? [String: Any])
        #expect(json["sink"] as? String == "dry-run" && json["delivery"] == nil)
        #expect((json["wouldDeliver"] as? [String: Any])?["records"] as? Int == 4)
        #expect((json["logGroupResults"] as? [String: Any])?["would-commit"] as? Int == 1)
        // The same window again: nothing was committed, so everything would be delivered again.
        let again = await dry.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 60_000))
        #expect(again.groups.first?.delivery.deliveredRecords == 4 && again.groups.first?.duplicates == 0)
        // Written to a file, transactions are "written", not "delivered".
        first.sink = .ndjson
        let written = try #require(try JSONSerialization.jsonObject(with: Data(first.json())) as? [String: Any])
        #expect((written["written"] as? [String: Any])?["records"] as? Int == 4 && written["delivery"] == nil)
    }

    @Test func lateEventsInsideTheOverlapAreDeliveredOnce() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        let all = try Self.events("rest-interleaved-requests.ndjson", base: base)
        // The last request's lines arrive late: after the first tick has read the window.
        let lateStream = all.last!.logStreamName
        pager.add(Self.group, all.filter { $0.logStreamName != lateStream || $0.timestamp.value < all.last!.timestamp.value - 30 })
        let sink = RecordingSink()
        let r = try runner(pager, sink, store: store())
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 20_000))
        let before = Set(sink.ids)
        pager.add(Self.group, all.filter { $0.logStreamName == lateStream && $0.timestamp.value >= all.last!.timestamp.value - 30 })
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 50_000))
        #expect(sink.ids.count == Set(sink.ids).count, "no transaction twice")
        #expect(Set(sink.ids).isSuperset(of: before))
        #expect(Set(sink.ids).count == 4, "every request of the fixture arrives, the late one included")
    }

    @Test func aFailedDeliveryCommitsNothingAndTheNextTickDeliversIt() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        pager.add(Self.group, try Self.events("rest-interleaved-requests.ndjson", base: base))
        let sink = RecordingSink()
        sink.failNext = 1
        let st = try store()
        let r = try runner(pager, sink, store: st)
        let first = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 60_000))
        #expect(first.groups.first?.result == .deliveryFailed)
        #expect(!first.allCommitted)
        #expect(try await st.load(key: Self.group).bytes == nil, "no checkpoint after a failed delivery")
        let second = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 61_000))
        #expect(second.groups.first?.result == .committed)
        #expect(Set(sink.ids).count == 4)
    }

    @Test func aRequestCutByTheWindowEdgeIsCarriedToTheNextTick() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        let events = try Self.events("rest-200-post-lambda-proxy.ndjson", base: base)
        let half = events.count / 2
        pager.add(Self.group, Array(events[..<half]))
        let sink = RecordingSink()
        let st = try store()
        let r = try runner(pager, sink, store: st)
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 6_000))
        #expect(sink.ids.isEmpty)
        let stored = try TickCheckpoint.decode(try #require(try await st.load(key: Self.group).bytes))
        #expect(stored.stitcherState != nil, "the unfinished request is in the checkpoint")
        pager.add(Self.group, Array(events[half...]))
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 30_000))
        #expect(sink.ids == ["Vts2pH6ArPEFcuQ="])
        let t = try #require(sink.records.first)
        #expect(t["incomplete"] as? Bool == false)
        #expect((t["response"] as? [String: Any])?["status"] as? Int == 201)
    }

    @Test func aRequestThatNeverEndsIsEmittedIncompleteOnceTooOld() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        let events = try Self.events("rest-200-post-lambda-proxy.ndjson", base: base)
        pager.add(Self.group, Array(events.prefix(6)))
        let sink = RecordingSink()
        let r = try runner(pager, sink, store: store())
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 10_000))
        #expect(sink.ids.isEmpty)
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 400_000))
        #expect(sink.records.count == 1)
        #expect(sink.records.first?["incomplete"] as? Bool == true)
    }

    @Test func aWindowCutShortByTheDeadlineCommitsWhatWasReadAndTheRestFollows() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager(pageSize: 2)
        var all: [LogEvent] = []
        for i in 0..<6 { all += try Self.events("rest-429-throttled.ndjson", base: base + Int64(i) * 1_000, idPrefix: "w\(i)-") }
        // Each fixture copy keeps its request id: give each copy its own stream so they stay distinct requests.
        all = all.map { e in
            LogEvent(logStreamName: "stream-\(e.eventId.prefix(3))", timestamp: e.timestamp, message: e.message,
                     ingestionTime: e.ingestionTime, eventId: e.eventId)
        }
        pager.add(Self.group, all)
        let sink = RecordingSink()
        let st = try store()
        // 10 calls a second (half of them empty pages) and 1 s per tick: a few events per tick, never the whole window.
        let r = TickRunner(settings: TickSettings(region: AWSRegion("eu-west-2"), accountId: nil, overlapMs: 60_000, lagMs: 1_000,
                                                  initialLookbackMs: 600_000, pullMarginMs: 0),
                           pager: pager, store: st, sink: sink, limiter: RateLimiter(perSecond: 10), filter: try TransactionFilter(),
                           logger: Logger(level: .fatal, sink: { _ in }))
        var results: [LogGroupOutcome.Result] = []
        while results.count < 40 {
            let s = await r.run(targets: [Self.target], deadline: .after(milliseconds: 1_000), now: EpochMillis(base + 30_000))
            results.append(s.groups.first?.result ?? .failed)
            if results.last == .committed { break }
        }
        #expect(results.contains(.partial), "the deadline cut at least one window short: \(results)")
        #expect(results.last == .committed)
        // The copies share the fixture's extended request id (so their transaction ids coincide): tell them apart by stream.
        let streams = sink.records.compactMap { ($0["source"] as? [String: Any])?["logStream"] as? String }
        #expect(Set(streams).count == 6, "every request arrives across the partial ticks")
        #expect(streams.count == 6, "and none twice")
    }

    @Test func twoRunsCommittingTogetherConflictOnce() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        pager.add(Self.group, try Self.events("rest-interleaved-requests.ndjson", base: base))
        let st = try store()
        let a = try runner(pager, RecordingSink(), store: st)
        let b = try runner(pager, RecordingSink(), store: st)
        async let x = a.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 60_000))
        async let y = b.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 60_000))
        let results = [await x, await y].compactMap { $0.groups.first?.result }
        #expect(results.filter { $0 == .committed }.count >= 1)
        #expect(results.allSatisfy { $0 == .committed || $0 == .conflict })
    }

    @Test func anUnreadableCheckpointStopsThatLogGroupLoudly() async throws {
        let st = try store()
        _ = try await st.commit(key: Self.group, bytes: Array("garbage".utf8), expected: .absent)
        let pager = MemoryPager()
        pager.add(Self.group, try Self.events("rest-interleaved-requests.ndjson", base: 1_800_000_000_000))
        let sink = RecordingSink()
        let s = await (try runner(pager, sink, store: st)).run(targets: [Self.target], deadline: .distant, now: EpochMillis(1_800_000_060_000))
        #expect(s.groups.first?.result == .failed)
        #expect(s.groups.first?.error?.contains("checkpoint") == true)
        #expect(sink.ids.isEmpty)
    }

    @Test func aLogGroupThatDoesNotExistYetIsAnEmptySourceWithANote() async throws {
        let st = try store()
        let pager = MissingGroupPager(missing: Self.group)
        let sink = RecordingSink()
        let other = LogGroupTarget(logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/dev"), kind: .rest, apiId: "a1b2c3d4e5", stage: "dev")
        pager.inner.add(other.logGroup.rawValue, try Self.events("rest-429-throttled.ndjson", base: 1_800_000_000_000))
        let s = await (try runner(pager.inner, sink, store: st, pager: pager)).run(targets: [Self.target, other], deadline: .distant,
                                                                                   now: EpochMillis(1_800_000_060_000))
        let missing = try #require(s.groups.first { $0.logGroup.rawValue == Self.group })
        #expect(missing.result == .idle)
        #expect(missing.error == nil)
        #expect(s.notes == ["log group \(Self.group) does not exist yet (no request logged since logging was enabled)"])
        #expect(s.allCommitted, "an empty source is not a failed tick")
        #expect(sink.ids.count == 1, "the other log group is read as usual")
        // Nothing to remember: no checkpoint is written for the missing group.
        #expect(try await st.load(key: Self.group).bytes == nil)
        let json = String(decoding: s.json(), as: UTF8.self)
        #expect(json.contains("does not exist yet"))
    }

    @Test func httpAccessLogGroupsAreMapped() async throws {
        let base: Int64 = 1_800_000_000_000
        let group = "/aws/apigateway/http-access"
        let pager = MemoryPager()
        pager.add(group, try Self.events("http-api-access-log.ndjson", base: base))
        let sink = RecordingSink()
        let s = await (try runner(pager, sink, store: store())).run(
            targets: [LogGroupTarget(logGroup: LogGroupName(group), kind: .http, apiId: "h1", stage: "$default")],
            deadline: .distant, now: EpochMillis(base + 60_000))
        #expect(s.groups.first?.result == .committed)
        #expect(!sink.records.isEmpty)
        #expect(sink.records.allSatisfy { ($0["source"] as? [String: Any])?["type"] as? String == "aws-apigateway-http" })
    }

    @Test func apiListParsing() throws {
        let list = #"[{"region":"eu-west-2","apiId":"a1","stage":"prod","type":"rest"},{"region":"us-east-1","apiId":"zz","stage":"p","type":"rest"},{"apiId":"h1","stage":"$default","type":"http","logGroup":"/aws/h1"}]"#
        let r = try APIList.parse(Array(list.utf8), region: AWSRegion("eu-west-2"))
        #expect(r.targets.map(\.logGroup.rawValue) == ["API-Gateway-Execution-Logs_a1/prod", "/aws/h1"])
        #expect(throws: ConfigurationProblem.self) { try APIList.parse(Array(#"[{"apiId":"x"}]"#.utf8), region: AWSRegion("eu-west-2")) }
    }
}
