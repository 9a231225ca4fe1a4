// Peak memory of a whole tick over the 1,000,000-event corpus: pages of 10,000 through the real TickRunner.
import AWS
import Glibc
import HTTP
import Core
import Pipeline
import Traffic

/// Serves the generated corpus as FilterLogEvents pages, generating each page on demand (the corpus is never whole).
final class CorpusPager: LogEventPager, @unchecked Sendable {
    private var corpus: ExecutionLogCorpus
    private var chunk = CorpusChunk()
    private var served = 0

    init(events: Int) { corpus = ExecutionLogCorpus(seed: 0x5EED_A417_AB1E_0001, targetEvents: events) }

    func page(logGroup: LogGroupName, start: EpochMillis, end: EpochMillis, nextToken: String?, deadline: Deadline) async throws -> LogEventPage {
        guard corpus.next(into: &chunk, events: 10_000) else { return LogEventPage(events: [], nextToken: nil) }
        var events: [LogEvent] = []
        events.reserveCapacity(chunk.count)
        chunk.arena.withUnsafeBytes { arena in
            for i in 0..<chunk.count {
                let bytes = UnsafeRawBufferPointer(rebasing: arena[chunk.offsets[i]..<(chunk.offsets[i] + chunk.lengths[i])])
                served += 1
                events.append(LogEvent(logStreamName: corpus.streams[Int(chunk.streams[i])].rawValue,
                                       timestamp: EpochMillis(chunk.timestamps[i]), message: String(decoding: bytes, as: UTF8.self),
                                       ingestionTime: EpochMillis(chunk.timestamps[i]), eventId: "e\(served)"))
            }
        }
        return LogEventPage(events: events, nextToken: "page-\(served)")
    }
}

/// Acknowledges everything, counting, as a UAP that answers at once would.
struct CountingSink: BatchSink {
    let count = Locked((batches: 0, records: 0, bytes: 0))
    func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        var r = DeliveryReport()
        for b in batches {
            // gzip each batch as the UAP sink does, so the memory of compression is included.
            let body = (try? GzipCompressor.compress(b.bytes)) ?? []
            r.deliveredBatches += 1; r.deliveredRecords += b.count; r.bytesRaw += b.bytes.count; r.bytesSent += body.count
        }
        count.withLock { $0.batches += r.deliveredBatches; $0.records += r.deliveredRecords; $0.bytes += r.bytesSent }
        return r
    }
}

func tickBenchmark() async -> [(name: String, value: Double, unit: String)] {
    let directory = "/tmp/apitap-bench-tick-\(getpid())"
    guard let store = try? FileCheckpointStore(directory: directory), let filter = try? TransactionFilter() else { return [] }
    let sink = CountingSink()
    // The corpus spans about 3 hours of timestamps: a window over all of it.
    let runner = TickRunner(
        settings: TickSettings(region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"), overlapMs: 120_000, lagMs: 0,
                               initialLookbackMs: 1_000_000_000, pullMarginMs: 0),
        pager: CorpusPager(events: 1_000_000), store: store, sink: sink, limiter: RateLimiter(perSecond: 1_000_000),
        filter: filter, logger: Logger(level: .error))
    let clock = ContinuousClock()
    let start = clock.now
    let summary = await runner.run(
        targets: [LogGroupTarget(logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"), kind: .rest, apiId: "a1b2c3d4e5", stage: "prod")],
        deadline: .distant, now: EpochMillis(1_764_000_000_000 + 86_400_000))
    let elapsed = clock.now - start
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let group = summary.groups.first
    if group?.result != .committed { print("tick over the corpus: \(String(decoding: summary.json(), as: UTF8.self))") }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return [
        ("tick over the corpus: result", group?.result == .committed ? 1 : 0, "(1 = committed)"),
        ("tick over the corpus: events", Double(group?.events ?? 0), "events"),
        ("tick over the corpus: transactions delivered", Double(sink.count.value.records), "transactions"),
        ("tick over the corpus: throughput (wall, incl. gzip)", Double(group?.events ?? 0) / seconds, "events/s"),
        ("tick over the corpus: peak RSS", Double(usage.ru_maxrss) / 1024, "MB"),
    ]
}
