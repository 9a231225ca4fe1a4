// The windowed-source mechanism on its own: window planning, resuming a window cut short, de-duplication inside the
// overlap, commits only after acknowledgement, expired positions, looping sources, replays and dry runs.
import Foundation
import Core
import Pipeline
import Testing

/// Records `(id, time)` served `pageSize` a page from memory, positions "p<offset>"; can refuse a stored position,
/// repeat a position, and stop for the deadline after a number of reads.
final class MemoryWindowReader: WindowReader, @unchecked Sendable {
    struct Item: Sendable, Equatable { let id: String; let time: Int64 }
    private let lock = NSLock()
    var items: [Item] = []
    var pageSize = 3
    var refusePositions = Set<String>()
    var repeatAfterReads: Int?
    var deadlineAfterReads: Int?
    private(set) var reads = 0

    func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<Item> {
        try lock.withLock {
            if let limit = deadlineAfterReads, reads >= limit { throw WindowReadStop.deadline }
            reads += 1
            // A stored position expires once; the same offset handed out again by this run is fresh.
            if let p = position, refusePositions.remove(p) != nil { throw CheckpointStoreError(key: p, message: "expired") }
            let inWindow = items.filter { $0.time >= start.value && $0.time <= end.value }.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
            let offset = position.flatMap { Int($0.dropFirst()) } ?? 0
            let slice = Array(inWindow.dropFirst(offset).prefix(pageSize))
            let next = offset + slice.count
            if let r = repeatAfterReads, reads > r { return WindowPage(records: slice, next: position ?? "p0") }
            return WindowPage(records: slice, next: next < inWindow.count ? "p\(next)" : nil)
        }
    }

    func identity(of record: Item) -> (hash: UInt64, time: EpochMillis?) { (WindowCheckpoint.hash(record.id), EpochMillis(record.time)) }
}

/// Collects what it is given; can refuse a delivery, and keeps a counter as its own checkpoint member.
struct CollectingConsumer: WindowConsumer {
    var delivered: [String] = []
    var failNext = 0
    var finished = 0
    var restoredCount: Int64?

    mutating func restore(from document: JSONValue, window: PlannedWindow) throws {
        restoredCount = document["delivered"]?.int64Value
    }

    mutating func consume(_ records: [MemoryWindowReader.Item], window: PlannedWindow) async -> Acknowledgement {
        if failNext > 0 { failNext -= 1; return .failed("status 503: injected") }
        delivered += records.map(\.id)
        return .acknowledged
    }

    mutating func finish(window: PlannedWindow, complete: Bool) async -> (Acknowledgement, changed: Bool) {
        finished += 1
        return (.acknowledged, false)
    }

    func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool) {
        w.field("delivered", Int64(delivered.count) + (restoredCount ?? 0))
    }
}

@Suite struct WindowedSourceTests {
    static let base: Int64 = 1_800_000_000_000
    static let format = WindowCheckpointFormat(ownerKey: "owner", positionKey: "position")

    func store() throws -> FileCheckpointStore {
        try FileCheckpointStore(directory: NSTemporaryDirectory() + "apitap-window-\(UUID().uuidString)")
    }

    func source(_ reader: MemoryWindowReader, _ store: FileCheckpointStore, commitEachPage: Bool = true, maxPages: Int? = nil,
                dedupe: Bool = false) -> WindowedSource<MemoryWindowReader> {
        WindowedSource(reader: reader, store: store, key: "k", owner: "o", label: "source o", positionNoun: "position",
                       format: Self.format,
                       policy: WindowPolicy(overlapMs: 10_000, pullMarginMs: 0, commitEachPage: commitEachPage, deduplicateWithinRun: dedupe,
                                            maxPagesPerWindow: maxPages, maxPagesSetting: "TEST_MAX_PAGES"),
                       logger: Logger(level: .fatal, sink: { _ in }))
    }

    func items(_ count: Int, from: Int64, step: Int64 = 1_000, prefix: String = "e") -> [MemoryWindowReader.Item] {
        (0..<count).map { MemoryWindowReader.Item(id: "\(prefix)\($0)", time: from + Int64($0) * step) }
    }

    func stored(_ store: FileCheckpointStore) async throws -> (checkpoint: WindowCheckpoint, document: JSONValue) {
        try Self.format.decode(try #require(try await store.load(key: "k").bytes))
    }

    @Test func aFirstWindowStartsAtTheInitialPointAndTheNextOneOverlapsWithoutDuplicates() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(10, from: Self.base, step: 2_000)
        let st = try store()
        let s = source(reader, st)
        var consumer = CollectingConsumer()
        let end = EpochMillis(Self.base + 20_000)
        let first = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 5_000)),
                                end: end, consumer: &consumer, deadline: .distant)
        #expect(first.result == .committed && first.windowStart == EpochMillis(Self.base - 5_000) && first.pages == 4)
        #expect(consumer.delivered == (0..<10).map { "e\($0)" })
        let cp = try await stored(st)
        #expect(cp.checkpoint.watermark == end && cp.checkpoint.inProgress == nil)
        // Records at or after end − overlap (10 s) are remembered for the next window's re-read of the overlap.
        #expect(cp.checkpoint.seen == Set((5..<10).map { WindowCheckpoint.hash("e\($0)") }))
        #expect(cp.document["delivered"]?.int64Value == 10)

        // Late records inside the overlap come once; the rest of the overlap is skipped.
        reader.items += [MemoryWindowReader.Item(id: "late", time: Self.base + 15_000), MemoryWindowReader.Item(id: "new", time: Self.base + 25_000)]
        var next = CollectingConsumer()
        let second = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                                 end: EpochMillis(Self.base + 30_000), consumer: &next, deadline: .distant)
        #expect(second.result == .committed && second.windowStart == EpochMillis(Self.base + 10_000))
        #expect(next.delivered == ["late", "new"] && second.duplicates == 5)
        #expect(next.restoredCount == 10, "the consumer's own member is handed back")
        #expect(try await stored(st).document["delivered"]?.int64Value == 12)
    }

    @Test func theOverlapsOwnRecordsAreSkippedByIdAndCounted() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(6, from: Self.base, step: 3_000)
        let st = try store()
        let s = source(reader, st)
        var a = CollectingConsumer()
        _ = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base), initialStart: EpochMillis(Self.base)),
                        end: EpochMillis(Self.base + 16_000), consumer: &a, deadline: .distant)
        var b = CollectingConsumer()
        let o = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                            end: EpochMillis(Self.base + 40_000), consumer: &b, deadline: .distant)
        // The overlap [6 s, 16 s] holds e2..e5: read again, skipped.
        #expect(o.duplicates == 4 && b.delivered.isEmpty && a.delivered.count == 6)
    }

    @Test func aWindowCutShortIsResumedAtItsPositionWithItsEdgeIds() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(9, from: Self.base)
        reader.deadlineAfterReads = 2
        let st = try store()
        let s = source(reader, st, commitEachPage: false)
        var a = CollectingConsumer()
        let first = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                                end: EpochMillis(Self.base + 10_000), consumer: &a, deadline: .distant)
        #expect(first.result == .partial && a.delivered.count == 6 && a.finished == 1)
        let cp = try await stored(st).checkpoint
        #expect(cp.inProgress?.position == "p6" && cp.inProgress?.pagesDone == 2 && cp.watermark == EpochMillis(Self.base - 1))
        #expect(cp.inProgress?.nextSeen.count == 6, "every record read is inside the next window's overlap here")

        reader.deadlineAfterReads = nil
        var b = CollectingConsumer()
        let second = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                                 end: EpochMillis(Self.base + 99_000), consumer: &b, deadline: .distant)
        #expect(second.resumed && second.result == .committed && second.windowEnd == EpochMillis(Self.base + 10_000))
        #expect(b.delivered == ["e6", "e7", "e8"])
        let done = try await stored(st).checkpoint
        #expect(done.inProgress == nil && done.watermark == EpochMillis(Self.base + 10_000) && done.seen.count == 9)
    }

    @Test func nothingIsCommittedPastARefusedDelivery() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(7, from: Self.base)
        let st = try store()
        let s = source(reader, st)
        let a = CollectingConsumer()
        // Two pages are acknowledged and committed, the third is refused.
        var consumer = FailingOnThird(inner: a)
        let o = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                            end: EpochMillis(Self.base + 10_000), consumer: &consumer, deadline: .distant)
        #expect(o.result == .deliveryFailed && o.error?.contains("page 3: status 503") == true)
        let cp = try await stored(st).checkpoint
        #expect(cp.inProgress?.position == "p6" && cp.inProgress?.pagesDone == 2)
        var b = CollectingConsumer()
        _ = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                        end: EpochMillis(Self.base + 10_000), consumer: &b, deadline: .distant)
        #expect(consumer.inner.delivered + b.delivered == (0..<7).map { "e\($0)" })
    }

    struct FailingOnThird: WindowConsumer {
        var inner: CollectingConsumer
        var calls = 0
        mutating func consume(_ records: [MemoryWindowReader.Item], window: PlannedWindow) async -> Acknowledgement {
            calls += 1
            if calls == 3 { return .failed("status 503: injected") }
            return await inner.consume(records, window: window)
        }
    }

    @Test func anExpiredStoredPositionRestartsTheWindow() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(5, from: Self.base)
        reader.deadlineAfterReads = 1
        let st = try store()
        let s = source(reader, st)
        var a = CollectingConsumer()
        _ = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                        end: EpochMillis(Self.base + 10_000), consumer: &a, deadline: .distant)
        #expect(try await stored(st).checkpoint.inProgress?.position == "p3")
        reader.deadlineAfterReads = nil
        reader.refusePositions = ["p3"]
        var b = CollectingConsumer()
        let o = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                            end: EpochMillis(Self.base + 10_000), consumer: &b, deadline: .distant)
        #expect(o.result == .committed)
        #expect(b.delivered == ["e0", "e1", "e2", "e3", "e4"], "the window is read again from its start")
    }

    @Test func aRepeatedPositionStopsTheSourceAndCommitsNothingPastIt() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(12, from: Self.base)
        reader.repeatAfterReads = 2
        let st = try store()
        var a = CollectingConsumer()
        let o = await source(reader, st).run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                                            end: EpochMillis(Self.base + 20_000), consumer: &a, deadline: .distant)
        #expect(o.result == .failed)
        #expect(o.error?.contains("which page 2 already brought") == true && o.error?.contains("position 'p6'") == true, "\(o.error ?? "")")
        #expect(try await stored(st).checkpoint.inProgress?.pagesDone == 2)
        #expect(a.delivered.count == 6)
    }

    @Test func thePageBoundCountsTheWindowsPagesAcrossRuns() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(30, from: Self.base)
        reader.pageSize = 1
        let st = try store()
        let s = source(reader, st, maxPages: 4)
        var a = CollectingConsumer()
        let o = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                            end: EpochMillis(Self.base + 40_000), consumer: &a, deadline: .distant)
        #expect(o.result == .failed && o.pages == 4 && o.error?.contains("TEST_MAX_PAGES=4") == true)
        let reads = reader.reads
        var b = CollectingConsumer()
        let again = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                                end: EpochMillis(Self.base + 40_000), consumer: &b, deadline: .distant)
        #expect(again.result == .failed && again.pages == 0 && reader.reads == reads)
    }

    @Test func duplicatesWithinOneRunAreSkippedWhenAsked() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(4, from: Self.base) + [MemoryWindowReader.Item(id: "e1", time: Self.base + 5_000)]
        var a = CollectingConsumer()
        let o = await source(reader, try store(), dedupe: true).run(
            from: .checkpoint(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
            end: EpochMillis(Self.base + 10_000), consumer: &a, deadline: .distant)
        #expect(a.delivered == ["e0", "e1", "e2", "e3"] && o.duplicates == 1)
    }

    @Test func aReplayAndADryRunCommitNothing() async throws {
        let reader = MemoryWindowReader()
        reader.items = items(4, from: Self.base)
        let st = try store()
        let s = source(reader, st)
        var a = CollectingConsumer()
        let replay = await s.run(from: .explicit(start: EpochMillis(Self.base)), end: EpochMillis(Self.base + 10_000), consumer: &a, deadline: .distant)
        #expect(replay.result == .notCommitted && a.delivered.count == 4 && replay.watermark == nil)
        var b = CollectingConsumer()
        let dry = await s.run(from: .dryRun(initialWatermark: EpochMillis(Self.base - 1), initialStart: EpochMillis(Self.base - 1)),
                              end: EpochMillis(Self.base + 10_000), consumer: &b, deadline: .distant)
        #expect(dry.result == .notCommitted && b.delivered.count == 4)
        #expect(try await st.load(key: "k").bytes == nil)
    }

    @Test func anEmptyWindowIsIdleAndAnUnreadableCheckpointFailsLoudly() async throws {
        let reader = MemoryWindowReader()
        let st = try store()
        let s = source(reader, st)
        var a = CollectingConsumer()
        _ = await s.run(from: .checkpoint(initialWatermark: EpochMillis(Self.base), initialStart: EpochMillis(Self.base)),
                        end: EpochMillis(Self.base + 1_000), consumer: &a, deadline: .distant)
        let idle = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                               end: EpochMillis(Self.base + 1_000), consumer: &a, deadline: .distant)
        #expect(idle.result == .idle && reader.reads == 1)

        let broken = try store()
        _ = try await broken.commit(key: "k", bytes: Array("{\"version\":7}".utf8), expected: .absent)
        let o = await source(reader, broken).run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)),
                                                 end: EpochMillis(Self.base), consumer: &a, deadline: .distant)
        #expect(o.result == .failed && o.error?.contains("fix or delete it") == true)
    }

    @Test func aMissingSourceIsIdleWithItsNoteAndNoCheckpoint() async throws {
        struct Absent: WindowReader {
            func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<MemoryWindowReader.Item> {
                throw WindowReadStop.absent(note: "not there yet")
            }
            func identity(of record: MemoryWindowReader.Item) -> (hash: UInt64, time: EpochMillis?) { (0, nil) }
        }
        let st = try store()
        let s = WindowedSource(reader: Absent(), store: st, key: "k", owner: "o", label: "x", positionNoun: "token", format: Self.format,
                               policy: WindowPolicy(overlapMs: 0, pullMarginMs: 0, commitEachPage: false), logger: Logger(level: .fatal, sink: { _ in }))
        var a = CollectingConsumer()
        let o = await s.run(from: .checkpoint(initialWatermark: EpochMillis(0), initialStart: EpochMillis(0)), end: EpochMillis(10),
                            consumer: &a, deadline: .distant)
        #expect(o.result == .idle && o.notes == ["not there yet"] && o.error == nil)
        #expect(try await st.load(key: "k").bytes == nil)
    }

    @Test func theFormatKeepsEachSourcesMemberNamesAndReadsPositionsBack() throws {
        let c = WindowCheckpoint(watermark: EpochMillis(5), seen: [0xabc],
                                 inProgress: .init(start: EpochMillis(1), end: EpochMillis(9), position: "tok", nextSeen: [0x1f], pagesDone: 2))
        let bytes = Self.format.encode(c, owner: "own") { $0.field("mine", 1) }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"version":1,"owner":"own","watermark":5,"#))
        #expect(text.contains(#""inProgress":{"start":1,"end":9,"position":"tok","pagesDone":2,"nextSeen":["1f"]},"mine":1}"#))
        let (back, document) = try Self.format.decode(bytes)
        #expect(back == c && document["mine"]?.int64Value == 1)
        // An empty position means the window's first page.
        let empty = try Self.format.decode(Array(#"{"version":1,"watermark":5,"seen":[],"inProgress":{"start":1,"end":9,"position":"","nextSeen":[]}}"#.utf8))
        #expect(empty.checkpoint.inProgress?.position == nil && empty.checkpoint.inProgress?.pagesDone == 0)
    }
}
