// A long `awslogs` run: the 1,000,000-event corpus pushed as CloudWatch Logs subscription deliveries (one stream per
// delivery, as CloudWatch sends them) through one warm SubscriptionProcessor, the way a sandbox serves invocation after
// invocation. What matters is that memory does not grow with the events served: resident memory is sampled after
// each tenth of the run, and must be flat once the remembered request ids reach their retention.
import AWS
import Glibc
import Core
import Pipeline
import Traffic

func awslogsBenchmark(events: Int = 3_000_000, perDelivery: Int = 200) async -> [(name: String, value: Double, unit: String)] {
    var corpus = ExecutionLogCorpus(seed: 0x5EED_A417_AB1E_0001, targetEvents: events)
    var chunk = CorpusChunk()
    guard let filter = try? TransactionFilter() else { return [] }
    var processor = SubscriptionProcessor(region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"), filter: filter,
                                          maxBatchBytes: 1_048_576, incompleteMaxAgeSeconds: 300)
    let group = LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod")
    let sink = DryRunSink()
    var served = 0, deliveries = 0, transactions = 0
    var heapSamples: [Double] = []
    var nextSample = events / 10
    let started = monotonicNanoseconds()
    // The last event's time: the processor ages open requests against it, as a live one would against the clock.
    var now: Int64 = 0
    while corpus.next(into: &chunk, events: 10_000) {
        // Per stream, in order, cut into deliveries of `perDelivery` events.
        var byStream: [Int32: [SubscriptionPayload.Event]] = [:]
        for i in 0..<chunk.count {
            let message = String(decoding: chunk.arena[chunk.offsets[i]..<(chunk.offsets[i] + chunk.lengths[i])], as: UTF8.self)
            byStream[chunk.streams[i], default: []].append(SubscriptionPayload.Event(id: String(served + i), timestamp: EpochMillis(chunk.timestamps[i]),
                                                                                   message: message))
            now = max(now, chunk.timestamps[i])
        }
        served += chunk.count
        for stream in byStream.keys.sorted() {
            let all = byStream[stream]!
            var start = 0
            while start < all.count {
                let end = min(all.count, start + perDelivery)
                let payload = SubscriptionPayload(messageType: "DATA_MESSAGE", owner: "123456789012", logGroup: group,
                                                  logStream: corpus.streams[Int(stream)], events: Array(all[start..<end]))
                let outcome = await processor.process(payload, sink: sink, deadline: Deadline.distant, now: EpochMillis(now))
                transactions += outcome.delivery.deliveredRecords
                deliveries += 1
                start = end
            }
        }
        if served >= nextSample {
            heapSamples.append(residentMiB())
            nextSample += events / 10
        }
    }
    let seconds = Double(monotonicNanoseconds() - started) / 1e9
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    // The corpus moves its clock about 1 ms per 4 events: 3,000,000 events are ~12 minutes of log time, so from the
    // middle on the remembered request ids (5 minutes' worth) are at their steady size and memory must stay flat.
    let middle = heapSamples.count >= 5 ? heapSamples[4] : 0, late = heapSamples.count >= 7 ? heapSamples[6] : 0
    let last = heapSamples.last ?? 0
    return [
        ("awslogs: events through one warm processor", Double(served), "events"),
        ("awslogs: deliveries of \(perDelivery) events", Double(deliveries), "invocations"),
        ("awslogs: transactions acknowledged", Double(transactions), "transactions"),
        ("awslogs: throughput (one thread)", Double(served) / seconds, "events/s"),
        ("awslogs: resident memory at each tenth (MiB): " + heapSamples.map { String(Int($0.rounded())) }.joined(separator: " ")
            + "; at the end", last, "MiB"),
        ("awslogs: resident memory growth over the second half", last - middle, "MiB"),
        ("awslogs: resident memory growth over the last 30 %", last - late, "MiB"),
        ("awslogs: peak RSS", Double(usage.ru_maxrss) / 1024, "MiB"),
    ]
}

/// Resident memory now (`/proc/self/statm`, pages), in MiB.
func residentMiB() -> Double {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) } } }) == 2 else { return 0 }
    return Double(resident * Int(sysconf(Int32(_SC_PAGESIZE)))) / 1_048_576
}
