// Fuzz targets for what apitap reads from outside: NDJSON for `stitch` (REST execution logs, HTTP API access logs,
// both wire encodings), the handlers' events, and the settings. The first input byte picks the target.
//
// Built two ways (scripts/dev/fuzz.sh):
// - with `-sanitize=fuzzer,address -D APITAP_LIBFUZZER`: libFuzzer supplies `main` and calls the entry point below;
// - without: a replayer (`apitap-fuzz FILE|DIR...`) that runs every corpus file once, so the seeds and every crash
//   ever found stay regression tests in the ordinary build.
// A target must never crash, hang or grow without bound, whatever the bytes; what it returns is not checked here
// (the unit tests do that).
import AWS
import Audit
import Core
import LambdaRuntime
import Posture
import Traffic

enum FuzzTarget: UInt8, CaseIterable {
    case stitchREST = 0, stitchHTTP, events, trafficSettings, auditSettings, postureSettings, postureJSON

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let rest = UnsafeRawBufferPointer(rebasing: data.dropFirst())
        switch FuzzTarget(rawValue: first % UInt8(allCases.count))! {
        case .stitchREST: stitch(rest, logGroup: "API-Gateway-Execution-Logs_a1b2c3d4e5/prod", split: Int(first >> 3))
        case .stitchHTTP: stitch(rest, logGroup: "/aws/apigateway/apitap-http-access", split: Int(first >> 3))
        case .events: events(Array(rest))
        case .trafficSettings: _ = TrafficConfiguration.parse(environment(rest))
        case .auditSettings: _ = AuditConfiguration.parse(environment(rest))
        case .postureSettings: _ = PostureConfiguration.parse(environment(rest), requireReportURI: true)
        case .postureJSON: postureJSON(Array(rest))
        }
    }

    /// The input as NDJSON, fed in two chunks cut at a point the first byte chooses (lines split across reads),
    /// through both encodings.
    static func stitch(_ bytes: UnsafeRawBufferPointer, logGroup: String, split: Int) {
        for encoding in [TransactionEncoding.native, .edge(EdgeEncodingOptions(toolVersion: "fuzz"))] {
            // The fast line scanner and JSONReader alone must give the same bytes and counters.
            var outputs: [[UInt8]] = []
            var counters: [TrafficCounters] = []
            for fast in [true, false] {
                var session = NDJSONStitchSession(logGroup: LogGroupName(logGroup), region: AWSRegion("us-east-1"),
                                                  accountId: AWSAccountID("123456789012"), filter: nil, encoding: encoding,
                                                  maxLineBytes: 4096)
                session.fastLineScanner = fast
                let cut = bytes.isEmpty ? 0 : (split * 97) % (bytes.count + 1)
                var produced: [UInt8] = []
                session.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<cut])) { produced += $0 }
                session.feed(UnsafeRawBufferPointer(rebasing: bytes[cut...])) { produced += $0 }
                counters.append(session.finish { produced += $0 })
                // Output grows with input, never without bound: each line yields at most a few transactions.
                precondition(produced.count <= 64 * (bytes.count + 1) + 1_000_000, "output \(produced.count) bytes for \(bytes.count) of input")
                outputs.append(produced)
            }
            precondition(outputs[0] == outputs[1] && counters[0] == counters[1], "the fast line scanner changed the result")
        }
    }

    /// Every event decoder a handler runs on its invocation payload.
    static func events(_ bytes: [UInt8]) {
        for handler in ["tick", "audit-export", "posture"] { _ = try? ScheduledEvent.check(bytes, handler: handler) }
        _ = try? SubscriptionPayload.decode(event: bytes)
        _ = try? CustomResourceEvent.decode(bytes)
        _ = try? JSONReader.parse(bytes)
        _ = AuditEntry.read(bytes)
    }

    /// What the posture audit reads as JSON: a rules file, a baseline report, a policy listing (all three shapes) and
    /// the configurations it canonicalises, flattens and masks.
    static func postureJSON(_ bytes: [UInt8]) {
        _ = try? PostureRules.parse(bytes)
        _ = try? BaselineReport.parse(bytes)
        guard let json = try? JSONReader.parse(bytes) else { return }
        let keys = try? SecretKeys()
        for item in (try? PolicyNormalizer.items(json)) ?? [json] {
            guard let p = try? PolicyNormalizer.policy(item, classify: { _, _ in .other }) else { continue }
            let flat = ConfigurationCompare.comparable(p)
            for (path, value) in flat { _ = keys?.hides(path: path, value: value) }
            if let c = p.configuration { _ = keys?.masked(c) }
        }
    }

    /// `KEY=VALUE` lines. Names are the settings' own, so the fuzzer reaches the validation of each.
    static func environment(_ bytes: UnsafeRawBufferPointer) -> [String: String] {
        var env: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...])
            // A path the settings would open: only the fuzzer's own scratch names, never the machine's files.
            if value.hasPrefix("/") { value = "/nonexistent" + value }
            env[String(line[..<eq])] = value
        }
        return env
    }
}

import Glibc

#if APITAP_LIBFUZZER
/// libFuzzer's driver (SwiftPM links an executable's `main` under another name, so libFuzzer's own `main` is not
/// used: ours hands the command line to the driver).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The entry point libFuzzer's runtime expects to find (the driver is given the same function).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@main
enum Fuzzer {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#else

@main
enum Replayer {
    static func main() {
        var files: [String] = []
        for arg in CommandLine.arguments.dropFirst() { files += expand(arg) }
        for path in files {
            guard let bytes = try? FileIO.read(path: path) else { print("apitap-fuzz: cannot read \(path)"); exit(2) }
            bytes.withUnsafeBytes { FuzzTarget.run($0) }
        }
        print("apitap-fuzz: replayed \(files.count) input(s)")
    }

    /// A directory's regular files (sorted), or the path itself.
    static func expand(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [path] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }
}
#endif
