// Stitch + encode throughput on a deterministic, generated corpus of 1,000,000 REST execution-log events.
import AWS
import Glibc
import HTTP
import Core
import Traffic

/// CPU time of this thread: the machine may be shared, and wall time would then measure the neighbours.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Generates the corpus chunk by chunk (so the benchmark never holds all of it) and times only the stitcher and the
/// encoder (the filters are timed apart). The machine may be shared, so the figures are the best of `runs` runs and
/// use this thread's CPU time; wall time is reported too.
func stitchBenchmarks(runs: Int = 3, gzip: Bool = false) -> [(name: String, value: Double, unit: String)] {
    var best: StitchRun?
    for _ in 0..<max(1, runs) {
        guard let run = stitchRunOnce(gzip: gzip) else { return [] }
        if best.map({ run.stitchCPU < $0.stitchCPU }) ?? true { best = run }
    }
    guard let r = best else { return [] }
    if gzip {
        return [
            ("stitch+encode+gzip throughput (thread CPU)", Double(r.events) / r.stitchCPU, "events/s"),
            ("gzip ratio (JSON bytes / gzip bytes)", Double(r.outputBytes) / Double(max(1, r.gzipBytes)), "x"),
        ]
    }
    return [
        ("stitch corpus events", Double(r.events), "events"),
        ("stitch corpus requests", Double(r.requests), "requests"),
        ("stitch transactions emitted", Double(r.transactions), "transactions"),
        ("stitch+encode throughput (thread CPU)", Double(r.events) / r.stitchCPU, "events/s"),
        ("stitch+encode throughput (thread CPU)", Double(r.transactions) / r.stitchCPU, "transactions/s"),
        ("stitch+encode output (thread CPU)", Double(r.outputBytes) / r.stitchCPU / 1e6, "MB/s JSON"),
        ("stitch+encode throughput (wall, incl. filter)", Double(r.events) / r.wallSeconds, "events/s"),
        ("filter cost (thread CPU)", r.filterCPU / Double(max(1, r.transactions)) * 1e9, "ns/transaction"),
        ("filter kept", Double(r.kept), "transactions"),
    ]
}

struct StitchRun {
    var events = 0
    var requests = 0
    var transactions = 0
    var kept = 0
    var outputBytes = 0
    var gzipBytes = 0
    var stitchCPU = 0.0
    var filterCPU = 0.0
    var wallSeconds = 0.0
}

/// With `gzip`, every ~1 MiB batch is compressed as the UAP sink does before posting it.
func stitchRunOnce(gzip: Bool = false) -> StitchRun? {
    var corpus = ExecutionLogCorpus(seed: 0x5EED_A417_AB1E_0001, targetEvents: 1_000_000)
    var stitcher = RESTExecutionLogStitcher(logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"),
                                            region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"))
    var filter: TransactionFilter
    do { filter = try TransactionFilter() } catch { return nil }
    var filterCounters = FilterCounters()
    var out: [UInt8] = []
    out.reserveCapacity(2 << 20)
    var run = StitchRun()
    var cpu = 0.0
    let clock = ContinuousClock()
    var wall = Duration.zero

    var chunk = CorpusChunk()
    while corpus.next(into: &chunk, events: 50_000) {
        let start = clock.now
        let cpuStart = threadCPUSeconds()
        chunk.arena.withUnsafeBytes { arena in
            for i in 0..<chunk.count {
                let message = UnsafeRawBufferPointer(rebasing: arena[chunk.offsets[i]..<(chunk.offsets[i] + chunk.lengths[i])])
                stitcher.ingest(logStream: corpus.streams[Int(chunk.streams[i])], timestamp: EpochMillis(chunk.timestamps[i]),
                                message: message) { t in
                    t.encodeJSON(into: &out)
                    out.append(0x0A)
                    run.transactions += 1
                    // A batch is at most ~1 MiB; reuse the buffer as the batcher would.
                    if out.count >= 1 << 20 {
                        run.outputBytes += out.count
                        if gzip { run.gzipBytes += (try? GzipCompressor.compress(out))?.count ?? 0 }
                        out.removeAll(keepingCapacity: true)
                    }
                    // Filters run on the same transactions but are timed apart (they are not part of the target).
                    let filterStart = threadCPUSeconds()
                    if filter.keep(t, counters: &filterCounters) { run.kept += 1 }
                    run.filterCPU += threadCPUSeconds() - filterStart
                }
            }
        }
        wall += clock.now - start
        cpu += threadCPUSeconds() - cpuStart
    }
    let start = clock.now
    let cpuStart = threadCPUSeconds()
    stitcher.flushAll { t in t.encodeJSON(into: &out); out.append(0x0A); run.transactions += 1 }
    run.outputBytes += out.count
    if gzip { run.gzipBytes += (try? GzipCompressor.compress(out))?.count ?? 0 }
    wall += clock.now - start
    cpu += threadCPUSeconds() - cpuStart
    run.events = corpus.emittedEvents
    run.requests = corpus.startedRequests
    run.stitchCPU = cpu - run.filterCPU
    run.wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    return run
}

/// One batch of generated events: messages in one arena, the rest in parallel arrays.
struct CorpusChunk {
    var arena: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int] = []
    var streams: [Int32] = []
    var timestamps: [Int64] = []
    var count: Int { offsets.count }

    mutating func reset() {
        arena.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        streams.removeAll(keepingCapacity: true)
        timestamps.removeAll(keepingCapacity: true)
    }
}

/// SplitMix64: tiny, fast and the same sequence on every platform, which the corpus needs to be reproducible.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func hex(_ digits: Int) -> String {
        let alphabet = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digits)
        var bits = next()
        for i in 0..<digits {
            if i % 16 == 0, i > 0 { bits = next() }
            out.append(alphabet[Int(bits & 0xF)])
            bits >>= 4
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Realistic execution-log traffic: ~20 lines per request, several requests in flight per stream (interleaved),
/// usage plans on some, failures (429/502/504/401) on a few, and some bodies cut at 1 KiB with ` [TRUNCATED]`.
struct ExecutionLogCorpus {
    var rng: SplitMix64
    let targetEvents: Int
    let streams: [LogStreamName]
    var emittedEvents = 0
    var startedRequests = 0
    var clock: Int64 = 1_764_000_000_000
    /// Requests in flight: their remaining lines (as full messages) and their stream.
    var active: [(stream: Int32, lines: [[UInt8]], next: Int)] = []
    let concurrency = 24

    init(seed: UInt64, targetEvents: Int) {
        rng = SplitMix64(state: seed)
        self.targetEvents = targetEvents
        var names: [LogStreamName] = []
        var r = SplitMix64(state: seed ^ 0xABCDEF)
        for _ in 0..<8 { names.append(LogStreamName(r.hex(32))) }
        streams = names
    }

    mutating func next(into chunk: inout CorpusChunk, events: Int) -> Bool {
        chunk.reset()
        while chunk.count < events, emittedEvents < targetEvents {
            while active.count < concurrency { active.append(newRequest()) }
            let pick = rng.below(active.count)
            // Lines of one request come in short bursts, as they do in real streams.
            let burst = 1 + rng.below(3)
            for _ in 0..<burst where active[pick].next < active[pick].lines.count && emittedEvents < targetEvents {
                let line = active[pick].lines[active[pick].next]
                active[pick].next += 1
                chunk.offsets.append(chunk.arena.count)
                chunk.lengths.append(line.count)
                chunk.arena.append(contentsOf: line)
                chunk.streams.append(active[pick].stream)
                chunk.timestamps.append(clock)
                emittedEvents += 1
                if rng.below(4) == 0 { clock += 1 }
            }
            if active[pick].next >= active[pick].lines.count { active.swapAt(pick, active.count - 1); active.removeLast() }
        }
        return chunk.count > 0
    }

    /// Path templates as (before, after) the numeric id; nil `after` means no id.
    static let paths: [(String, String?)] = [("/orders", nil), ("/orders/", ""), ("/users/", "/profile"), ("/catalog/items", nil),
                                             ("/cart", nil), ("/payments/", ""), ("/search", nil), ("/health", nil),
                                             ("/v2/inventory/", ""), ("/auth/session", nil)]
    static let agents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "okhttp/4.12.0", "python-requests/2.32.3", "curl/8.5.0", "Amazon CloudFront",
    ]

    mutating func newRequest() -> (stream: Int32, lines: [[UInt8]], next: Int) {
        startedRequests += 1
        let stream = Int32(rng.below(streams.count))
        let id = "\(rng.hex(8))-\(rng.hex(4))-4\(rng.hex(3))-8\(rng.hex(3))-\(rng.hex(12))"
        let ext = rng.hex(14) + "="
        let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"]
        let method = methods[rng.below(methods.count)]
        let template = Self.paths[rng.below(Self.paths.count)]
        let path = template.1.map { template.0 + String(rng.below(100_000)) + $0 } ?? template.0
        let ip = "\(rng.below(223) + 1).\(rng.below(256)).\(rng.below(256)).\(rng.below(256))"
        let agent = Self.agents[rng.below(Self.agents.count)]
        let trace = "1-\(rng.hex(8))-\(rng.hex(24))"
        var lines: [String] = []
        func add(_ text: String) { lines.append("(\(id)) \(text)") }
        func cut(_ text: String) -> String {
            let bytes = Array(text.utf8)
            return bytes.count > 1024 ? String(decoding: bytes.prefix(1024), as: UTF8.self) + " [TRUNCATED]" : text
        }

        add("Extended Request Id: \(ext)")
        let kind = rng.below(100)
        if kind < 3 {
            // Throttled before anything else happens.
            add("Key throttle limit exceeded for RestApi a1b2c3d4e5, Stage prod, Resource \(path), HttpMethod \(method). Limit: 10.00 Burst: 20")
            add("Method completed with status: 429")
            return (stream, lines.map { Array($0.utf8) }, 0)
        }
        if rng.below(10) < 3 {
            add("Verifying Usage Plan for request: \(id). API Key: **********************************ab12cd API Stage: a1b2c3d4e5/prod")
            add("Usage Plan check succeeded for API Key **********************************ab12cd and API Stage a1b2c3d4e5/prod")
        }
        add("Starting execution for request: \(id)")
        add("HTTP Method: \(method), Resource Path: \(path)")
        add("Method request path: {id=\(rng.below(1000))}")
        add(rng.below(2) == 0 ? "Method request query string: {}" : "Method request query string: {limit=\(rng.below(100)), q=shoes, sort=price,desc}")
        add("Method request headers: {Accept=application/json, text/plain, */*, Accept-Encoding=gzip, deflate, br, "
            + "CloudFront-Forwarded-Proto=https, CloudFront-Is-Desktop-Viewer=true, CloudFront-Viewer-Country=GB, "
            + "Content-Type=application/json, Host=api.example.com, User-Agent=\(agent), "
            + "Via=2.0 \(rng.hex(32)).cloudfront.net (CloudFront), X-Amz-Cf-Id=\(rng.hex(40))==, "
            + "X-Amzn-Trace-Id=Root=\(trace), X-Forwarded-For=\(ip), 130.176.\(rng.below(256)).\(rng.below(256)), "
            + "X-Forwarded-Port=443, X-Forwarded-Proto=https}")
        if kind < 5 {
            add("Unauthorized request: \(id)")
            add("Method completed with status: 401")
            return (stream, lines.map { Array($0.utf8) }, 0)
        }
        let requestBody = method == "GET" || method == "DELETE" ? ""
            : #"{"sku":"SKU-\#(rng.below(10_000))","quantity":\#(rng.below(9) + 1),"note":"please deliver after 6pm"}"#
        add("Method request body before transformations: \(requestBody)")
        add("Endpoint request URI: https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:eu-west-2:123456789012:function:orders/invocations")
        add(cut("Endpoint request headers: {x-amzn-lambda-integration-tag=\(id), Authorization=*****\(rng.hex(6)), "
            + "X-Amz-Date=20251124T101500Z, x-amzn-apigateway-api-id=a1b2c3d4e5, Accept=application/json, "
            + "User-Agent=AmazonAPIGateway_a1b2c3d4e5, X-Amz-Security-Token=\(rng.hex(900))}"))
        add(cut("Endpoint request body after transformations: {\"resource\":\"\(path)\",\"path\":\"\(path)\",\"httpMethod\":\"\(method)\",\"headers\":{\"Accept\":\"application/json\"},\"body\":\(requestBody.isEmpty ? "null" : "\"...\"")}"))
        add("Sending request to https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:eu-west-2:123456789012:function:orders/invocations")
        if kind < 7 {
            add("Execution failed due to a timeout error")
            add("Method completed with status: 504")
            return (stream, lines.map { Array($0.utf8) }, 0)
        }
        add("Received response. Status: 200, Integration latency: \(rng.below(400) + 5) ms")
        if kind < 9 {
            add("Lambda execution failed with status 200 due to customer function error: Task timed out. Lambda request id: \(rng.hex(8))")
            add("Method completed with status: 502")
            return (stream, lines.map { Array($0.utf8) }, 0)
        }
        add("Endpoint response headers: {Date=Mon, 24 Nov 2025 10:15:00 GMT, Content-Type=application/json, Content-Length=\(rng.below(900)), "
            + "Connection=keep-alive, x-amzn-RequestId=\(rng.hex(36)), X-Amz-Executed-Version=$LATEST, X-Amzn-Trace-Id=root=\(trace);sampled=0}")
        let items = rng.below(10) == 0 ? 40 : 1 + rng.below(4)
        var body = #"{"items":["#
        for i in 0..<items {
            if i > 0 { body += "," }
            body += #"{"sku":"SKU-\#(rng.below(10_000))","name":"Widget \#(i)","price":\#(rng.below(500)).99}"#
        }
        body += "]}"
        add(cut("Endpoint response body before transformations: {\"statusCode\":200,\"body\":\"...\"}"))
        add(cut("Method response body after transformations: \(body)"))
        add("Method response headers: {X-Amzn-Trace-Id=Root=\(trace);Parent=\(rng.hex(16));Sampled=0, Content-Type=application/json, "
            + "Set-Cookie=AWSALB=\(rng.hex(20)); Expires=Mon, 01 Dec 2025 10:15:00 GMT; Path=/, Cache-Control=private, max-age=0}")
        add("Successfully completed execution")
        add("Method completed with status: 200")
        add("AWS Integration Endpoint RequestId : \(rng.hex(8))-\(rng.hex(4))-\(rng.hex(4))-\(rng.hex(4))-\(rng.hex(12))")
        add("X-ray Tracing ID : \(trace)")
        return (stream, lines.map { Array($0.utf8) }, 0)
    }
}
