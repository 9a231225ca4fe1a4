// Whole-process stitch: what a user runs. The 1M-event corpus as FilterLogEvents NDJSON on disk, then
// `apitap stitch --format native|edge` as a child process (read → stitch → filter → encode → write), timed on the wall
// clock, with the child's peak RSS and output size.
import Glibc
import Core

/// Writes the corpus once as NDJSON event objects (`aws logs filter-log-events ... | jq -c '.events[]'`).
func writeCorpusNDJSON(to path: String, events: Int = 1_000_000) -> (events: Int, bytes: Int)? {
    guard let file = fopen(path, "w") else { return nil }
    defer { fclose(file) }
    var corpus = ExecutionLogCorpus(seed: 0x5EED_A417_AB1E_0001, targetEvents: events)
    var chunk = CorpusChunk()
    var written = 0
    var n = 0
    var line: [UInt8] = []
    line.reserveCapacity(4096)
    while corpus.next(into: &chunk, events: 50_000) {
        for i in 0..<chunk.count {
            let message = chunk.arena[chunk.offsets[i]..<(chunk.offsets[i] + chunk.lengths[i])]
            var w = JSONWriter(capacity: 0)
            swap(&w.bytes, &line)
            w.bytes.removeAll(keepingCapacity: true)
            w.beginObject()
            w.field("logStreamName", corpus.streams[Int(chunk.streams[i])].rawValue)
            w.field("timestamp", chunk.timestamps[i])
            w.key("message"); w.string(utf8: message)
            w.field("ingestionTime", chunk.timestamps[i] + 300)
            w.field("eventId", String(n))
            w.endObject()
            w.bytes.append(0x0A)
            swap(&w.bytes, &line)
            guard fwrite(line, 1, line.count, file) == line.count else { return nil }
            written += line.count
            n += 1
        }
    }
    return (n, written)
}

struct ProcessRun {
    var seconds: Double
    var peakRSSKiB: Int
    var outputBytes: Int
    var lines: Int
}

/// Runs `apitap stitch` over `input` (or `apitap` with `arguments`), its stdout into `output`; nil when it cannot start
/// or fails.
func runStitchProcess(apitap: String, input: String, output: String, format: String, extra: [String] = [],
                      arguments: [String]? = nil) -> ProcessRun? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let args = [apitap] + (arguments ?? ["stitch", "--log-group", "API-Gateway-Execution-Logs_a1b2c3d4e5/prod", "--region", "eu-west-2",
                                         "--account-id", "123456789012", "--input", input, "--format", format] + extra)
    let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var pid: pid_t = 0
    let start = monotonicNanoseconds()
    guard posix_spawn(&pid, apitap, &actions, nil, argv, envp) == 0 else { return nil }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { return nil }
    let seconds = Double(monotonicNanoseconds() - start) / 1e9
    guard status == 0 else { return nil }
    var st = stat()
    guard stat(output, &st) == 0, let file = fopen(output, "r") else { return nil }
    defer { fclose(file) }
    var lines = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        for i in 0..<n where buffer[i] == 0x0A { lines += 1 }
    }
    return ProcessRun(seconds: seconds, peakRSSKiB: usage.ru_maxrss, outputBytes: Int(st.st_size), lines: lines)
}

/// `apitap-bench stitch-process`: both formats, best wall time of `runs` runs each (the machine may be shared).
func stitchProcessBenchmarks(apitap: String, runs: Int = 3) -> [(name: String, value: Double, unit: String)] {
    let directory = "/tmp/apitap-bench-\(getpid())"
    mkdir(directory, 0o700)
    let input = directory + "/corpus.ndjson"
    let output = directory + "/out.ndjson"
    defer { unlink(input); unlink(output); rmdir(directory) }
    guard access(apitap, X_OK) == 0 else {
        print("stitch-process: no apitap binary at \(apitap) (make package builds it)")
        return []
    }
    guard let corpus = writeCorpusNDJSON(to: input) else { print("stitch-process: cannot write \(input)"); return [] }
    var rows: [(name: String, value: Double, unit: String)] = [
        ("whole-process corpus", Double(corpus.events), "events"),
        ("whole-process corpus size", Double(corpus.bytes) / 1e6, "MB NDJSON"),
    ]
    var perTransaction: [String: Double] = [:]
    // native, edge, and edge with the output gzipped as the UAP sink gzips a batch (`--gzip`).
    for (format, extra) in [("native", [String]()), ("edge", []), ("edge", ["--gzip"])] {
        let name = "apitap stitch --format \(format)" + extra.map { " " + $0 }.joined()
        var best: ProcessRun?
        for _ in 0..<max(1, runs) {
            guard let run = runStitchProcess(apitap: apitap, input: input, output: output, format: format, extra: extra) else {
                print("stitch-process: \(name) failed")
                return rows
            }
            if best.map({ run.seconds < $0.seconds }) ?? true { best = run }
        }
        guard let r = best else { continue }
        let label = "\(name) (whole process, wall, best of \(runs))"
        rows += [
            (label, Double(corpus.events) / r.seconds, "events/s"),
            (label, Double(corpus.bytes) / r.seconds / 1e6, "MB/s input"),
            (label, r.seconds * 1e9 / Double(corpus.events), "ns/event"),
            ("\(name) peak RSS", Double(r.peakRSSKiB) / 1024, "MiB"),
        ]
        if extra.isEmpty {
            rows += [
                ("\(name) transactions written", Double(r.lines), "transactions"),
                ("\(name) bytes per transaction", Double(r.outputBytes) / Double(max(1, r.lines)), "bytes"),
            ]
            perTransaction[format] = Double(r.outputBytes) / Double(max(1, r.lines))
        } else {
            rows.append(("\(name) output size", Double(r.outputBytes) / 1e6, "MB gzip"))
        }
    }
    if let edge = perTransaction["edge"], let native = perTransaction["native"] {
        rows.append(("Edge bytes per transaction / native", edge / native, "x"))
    }
    return rows
}
