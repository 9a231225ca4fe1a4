// `make bench`: throughput of the hot paths (stitching API Gateway's and Flex Gateway's logs, audit export, posture collection), the audit pacer's accuracy, and the runtime's
// cold start, idle memory and package size.
import Glibc
import HTTP
import Core

let arguments = CommandLine.arguments.dropFirst()
let only = Set(arguments.filter { !$0.hasPrefix("--") })
let stage = arguments.first { $0.hasPrefix("--stage=") }.map { String($0.dropFirst("--stage=".count)) } ?? ".build/lambda/stage"
let zipPath = arguments.first { $0.hasPrefix("--zip=") }.map { String($0.dropFirst("--zip=".count)) } ?? ".build/lambda/apitap.zip"
let apitapPath = arguments.first { $0.hasPrefix("--apitap=") }.map { String($0.dropFirst("--apitap=".count)) } ?? ".build/release/apitap"

func report(_ rows: [(name: String, value: Double, unit: String)]) {
    for row in rows {
        let value = row.value >= 100 ? String(Int(row.value.rounded())) : String((row.value * 100).rounded() / 100)
        print("\(row.name): \(value) \(row.unit)")
    }
}

func wanted(_ section: String) -> Bool { only.isEmpty || only.contains(section) }

// Alone in its process (`apitap-bench tick`), so that the peak RSS is the tick's own.
if only.contains("tick") {
    report(await tickBenchmark())
}
// Alone in its process too (`apitap-bench awslogs`): a long run of subscription deliveries, memory sampled as it goes.
if only.contains("awslogs") {
    report(await awslogsBenchmark())
}
if wanted("stitch") {
    report(stitchBenchmarks())
    report(stitchBenchmarks(gzip: true))
}
// Writes ~0.5 GB of corpus to /tmp and runs the release binary: only when asked for (`apitap-bench stitch-process`).
if only.contains("stitch-process") {
    report(stitchProcessBenchmarks(apitap: apitapPath))
}
if wanted("flex") {
    report(flexStitchBenchmark())
}
// Writes ~0.5 GB of Flex lines to /tmp and runs the release binary: only when asked for (`apitap-bench flex-process`).
if only.contains("flex-process") {
    report(flexProcessBenchmarks(apitap: apitapPath))
}
// The Flex corpus alone, for profiling `apitap stitch` by hand: `apitap-bench flex-corpus --out=/tmp/flex.ndjson`.
if only.contains("flex-corpus") {
    let out = arguments.first { $0.hasPrefix("--out=") }.map { String($0.dropFirst("--out=".count)) } ?? "/tmp/apitap-flex-corpus.ndjson"
    if let c = writeFlexCorpus(to: out) { print("flex corpus: \(c.lines) lines, \(c.requests) requests, \(c.bytes) bytes in \(out)") }
}
// The API Gateway corpus alone, for profiling `apitap stitch` by hand: `apitap-bench stitch-corpus --out=/tmp/rest.ndjson`.
if only.contains("stitch-corpus") {
    let out = arguments.first { $0.hasPrefix("--out=") }.map { String($0.dropFirst("--out=".count)) } ?? "/tmp/apitap-rest-corpus.ndjson"
    if let c = writeCorpusNDJSON(to: out) { print("stitch corpus: \(c.events) events, \(c.bytes) bytes in \(out)") }
}
if wanted("audit") {
    report(await auditThroughputBenchmarks())
}
// Whole minutes of wall time: only when asked for (`apitap-bench audit-pacer`).
if only.contains("audit-pacer") {
    report(await auditPacerBenchmark())
}
if wanted("posture") {
    report(await postureBenchmark())
}
if wanted("runtime") {
    report(RuntimeBenchmarks(stage: stage).run())
}
if wanted("package") {
    var st = stat()
    if stat(zipPath, &st) == 0 {
        report([("zip size", Double(st.st_size) / 1_048_576, "MiB")])
    } else {
        print("zip size: no package at \(zipPath) (run make package)")
    }
}
