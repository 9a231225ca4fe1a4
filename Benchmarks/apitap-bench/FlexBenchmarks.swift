// Flex Gateway lines through the stitcher and the Edge encoding: a deterministic 1,000,000-line corpus of Message
// Logging lines (CloudWatch events, as a Fluent Bit output writes them), stitched in process and by the release
// `apitap stitch --source flex-gateway` as a child process.
import AWS
import Glibc
import Core
import Traffic

/// Four replicas (streams) with requests in flight at once, their lines interleaved in time: nine in ten requests in
/// apitap's layout (seven lines, bodies of 0-2 KB, some with separators and line breaks inside), one in ten in
/// Cequence's (three lines), and one line in fifty the gateway's other logging.
struct FlexCorpus {
    var rng: SplitMix64
    let target: Int
    var produced = 0
    var requests = 0
    var clock: Int64 = 1_777_881_600_000
    /// Lines waiting to be written, per stream, in order, from `heads[stream]` on.
    var pending: [[(Int64, String)]] = Array(repeating: [], count: 4)
    var heads = [Int](repeating: 0, count: 4)
    static let streams = (0..<4).map { "flex-gw-\($0)/flex-gateway-envoy" }

    init(seed: UInt64, lines: Int) { rng = SplitMix64(state: seed); target = lines }

    mutating func next() -> UInt64 { rng.next() }
    mutating func below(_ n: Int) -> Int { rng.below(n) }

    static func prefix(_ ts: Int64, _ id: String, api: String) -> String {
        "\(EpochMillis(ts).iso8601) [flex-gateway-envoy][info] wasm log message-logging-1.default.\(api).default.svc main: [req: \(id)] [accessLog] "
    }

    mutating func body(_ size: Int) -> String {
        var s = "{\"items\":["
        while s.utf8.count < size { s += "{\"sku\":\"SKU-\(below(99_999))\",\"note\":\"a | b=c\",\"qty\":\(below(9))}," }
        return s + "{}]}"
    }

    /// Queues one request's lines on a stream (Before now, After a few ms later).
    mutating func addRequest() {
        requests += 1
        let stream = below(4)
        let id = String(format: "%08x-%04x-4%03x-8%03x-%012llx", requests, below(65_536), below(4_096), below(4_096), next() & 0xFFFF_FFFF_FFFF)
        let t = clock
        let t2 = t + Int64(2 + below(40))
        var lines: [(Int64, String)] = []
        if below(10) == 0 {
            let p = Self.prefix(t, id, api: "payments-api"), q = Self.prefix(t2, id, api: "payments-api")
            lines = [(t, p + "[cequence-req-headers] {\"host\":\"pay.example.com\",\"user-agent\":\"bench/1.0\",\":method\":\"POST\",\":path\":\"/v1/pay\"}"),
                     (t, p + "cequence-req-full Request LOG | reqId=\(id) | Content-Type=application/json | User-Agent=bench/1.0 | Host=pay.example.com | Authorization=NO_AUTHORIZATION | payload=\(body(below(400)))"),
                     (t2, q + "[cequence-res-full] Response LOG | reqId=\(id) | Content-Type=application/json | Content-Length=12 | Content-Encoding=NO_CONTENT_ENCODING | Transfer-Encoding=NO_TRANSFER_ENCODING | Server=envoy | Date=NO_DATE | Accept=NO_ACCEPT | X-Forwarded-For=NO_X_FORWARDED_FOR | X-Request-Id=NO_X_REQUEST_ID | User-Agent=NO_USER_AGENT | Host=NO_HOST | Authorization=NO_AUTHORIZATION | payload={\"ok\":true}")]
        } else {
            let p = Self.prefix(t, id, api: "orders-api"), q = Self.prefix(t2, id, api: "orders-api")
            let post = below(3) == 0
            let method = post ? "POST" : "GET"
            let requestBody = post ? body(below(2_000)) : ""
            lines = [(t, p + "CQ1 \(id) req.line \(method) https HTTP/1.1 /orders/\(below(100_000))?page=\(below(20))"),
                     (t, p + "CQ1 \(id) req.meta \(EpochMillis(t).iso8601) 203.0.113.\(below(250)):\(40_000 + below(20_000)) 10.0.1.9:8081 18845632"),
                     (t, p + "{\"host\":\"api.example.com\",\"user-agent\":\"bench/1.0\",\"accept\":\"application/json\",\"x-forwarded-for\":\"198.51.100.\(below(250))\"\(post ? ",\"content-type\":\"application/json\"" : "")}"),
                     (t, p + "CQ1 \(id) req.body \(requestBody)"),
                     (t2, q + (post ? "201" : "200")),
                     (t2, q + "{\"content-type\":\"application/json\",\"server\":\"envoy\",\"x-envoy-upstream-service-time\":\"\(below(90))\"}"),
                     (t2, q + "CQ1 \(id) res.body \(body(below(1_200)))")]
        }
        pending[stream] += lines
        if below(50) == 0 { pending[stream].append((t, "\(EpochMillis(t).iso8601) [flex-gateway-agent][info] heartbeat")) }
        clock += Int64(below(3))
    }

    /// The next batch of (stream, time, line), in time order within each stream; nil at the end.
    mutating func nextBatch(_ size: Int) -> [(Int, Int64, String)]? {
        guard produced < target else { return nil }
        for s in 0..<4 where heads[s] > 0 {
            pending[s].removeFirst(heads[s])
            heads[s] = 0
        }
        while pending.reduce(0, { $0 + $1.count }) < size * 2 { addRequest() }
        var out: [(Int, Int64, String)] = []
        out.reserveCapacity(size)
        // Lines of the streams merged by time, as FilterLogEvents hands them over.
        while out.count < size, produced < target {
            var best = -1
            for s in 0..<4 where heads[s] < pending[s].count && (best < 0 || pending[s][heads[s]].0 < pending[best][heads[best]].0) { best = s }
            guard best >= 0 else { break }
            let (t, line) = pending[best][heads[best]]
            heads[best] += 1
            out.append((best, t, line))
            produced += 1
        }
        return out
    }
}

/// The corpus as CloudWatch event NDJSON.
func writeFlexCorpus(to path: String, lines: Int = 1_000_000) -> (lines: Int, bytes: Int, requests: Int)? {
    guard let file = fopen(path, "w") else { return nil }
    defer { fclose(file) }
    var corpus = FlexCorpus(seed: 0xF1E7_0000_0000_0001, lines: lines)
    var written = 0, n = 0
    var out: [UInt8] = []
    while let batch = corpus.nextBatch(10_000) {
        out.removeAll(keepingCapacity: true)
        for (stream, t, line) in batch {
            // One writer per line: a writer separates top-level values with commas.
            var w = JSONWriter(capacity: line.utf8.count + 160)
            w.beginObject()
            w.field("logStreamName", FlexCorpus.streams[stream])
            w.field("timestamp", t)
            w.field("message", line)
            w.field("ingestionTime", t + 250)
            w.field("eventId", String(n))
            w.endObject()
            out += w.bytes
            out.append(0x0A)
            n += 1
        }
        guard fwrite(out, 1, out.count, file) == out.count else { return nil }
        written += out.count
    }
    return (n, written, corpus.requests)
}

/// `apitap-bench flex`: the stitcher and the Edge encoding in process (thread CPU), best of `runs`.
func flexStitchBenchmark(runs: Int = 3) -> [(name: String, value: Double, unit: String)] {
    var best: (cpu: Double, lines: Int, transactions: Int, bytes: Int)?
    for _ in 0..<max(1, runs) {
        var corpus = FlexCorpus(seed: 0xF1E7_0000_0000_0001, lines: 1_000_000)
        var stitcher = FlexStitcher(logGroup: LogGroupName("/flex/bench"), region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"))
        var batcher = TransactionBatcher(encoding: .edge(EdgeEncodingOptions(toolVersion: "bench")), filter: nil, maxBytes: 1_048_576, maxRecords: 250)
        let streams = FlexCorpus.streams.map(LogStreamName.init)
        var cpu = 0.0, lines = 0, bytes = 0
        while let batch = corpus.nextBatch(10_000) {
            let start = threadCPUSeconds()
            for (stream, t, line) in batch {
                stitcher.ingest(logStream: streams[stream], timestamp: EpochMillis(t), message: line) { batcher.add($0) }
            }
            for b in batcher.take() { bytes += b.bytes.count }
            cpu += threadCPUSeconds() - start
            lines += batch.count
        }
        let start = threadCPUSeconds()
        stitcher.flushAll { batcher.add($0) }
        batcher.close()
        for b in batcher.take() { bytes += b.bytes.count }
        cpu += threadCPUSeconds() - start
        let transactions = stitcher.counters.traffic.transactionsEmitted
        if best.map({ cpu < $0.cpu }) ?? true { best = (cpu, lines, transactions, bytes) }
    }
    guard let b = best else { return [] }
    return [
        ("flex stitch+Edge encode, in process (thread CPU, best of \(runs))", Double(b.lines) / b.cpu, "lines/s"),
        ("flex stitch+Edge encode, in process", Double(b.transactions) / b.cpu, "transactions/s"),
        ("flex transactions emitted", Double(b.transactions), "transactions"),
        ("flex Edge output", Double(b.bytes) / 1e6, "MB"),
    ]
}

/// `apitap-bench flex-process`: the release `apitap stitch --source flex-gateway` over the corpus on disk, both
/// formats, best wall time of `runs` runs each.
func flexProcessBenchmarks(apitap: String, runs: Int = 3) -> [(name: String, value: Double, unit: String)] {
    let directory = "/tmp/apitap-bench-flex-\(getpid())"
    mkdir(directory, 0o700)
    let input = directory + "/flex.ndjson"
    let output = directory + "/out.ndjson"
    defer { unlink(input); unlink(output); rmdir(directory) }
    guard access(apitap, X_OK) == 0 else {
        print("flex-process: no apitap binary at \(apitap) (make package builds it)")
        return []
    }
    guard let corpus = writeFlexCorpus(to: input) else { print("flex-process: cannot write \(input)"); return [] }
    var rows: [(name: String, value: Double, unit: String)] = [
        ("flex corpus", Double(corpus.lines), "lines"),
        ("flex corpus requests", Double(corpus.requests), "requests"),
        ("flex corpus size", Double(corpus.bytes) / 1e6, "MB NDJSON"),
    ]
    for format in ["edge", "native"] {
        var best: ProcessRun?
        for _ in 0..<max(1, runs) {
            let arguments = ["stitch", "--source", "flex-gateway", "--log-group", "/flex/bench", "--region", "eu-west-2",
                             "--account-id", "123456789012", "--input", input, "--format", format]
            guard let run = runStitchProcess(apitap: apitap, input: input, output: output, format: format, arguments: arguments) else {
                print("flex-process: apitap stitch --source flex-gateway --format \(format) failed")
                return rows
            }
            if best.map({ run.seconds < $0.seconds }) ?? true { best = run }
        }
        guard let r = best else { continue }
        let label = "apitap stitch --source flex-gateway --format \(format) (whole process, wall, best of \(runs))"
        rows += [
            (label, Double(corpus.lines) / r.seconds, "lines/s"),
            (label, Double(corpus.bytes) / r.seconds / 1e6, "MB/s input"),
            ("flex --format \(format) peak RSS", Double(r.peakRSSKiB) / 1024, "MiB"),
            ("flex --format \(format) transactions written", Double(r.lines), "transactions"),
        ]
    }
    return rows
}
