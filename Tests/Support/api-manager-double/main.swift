// The strict API Manager double as a process, serving a generated organization, for the shell suites and the
// HTML report's browser test:
//   api-manager-double [--port N] [--apis N] [--throttle-every N] [--fail-env ENV_ID:STATUS] [--expected FILE]
//                      [--secrets FILE] [--stats FILE]
// Prints "ready PORT" once it listens. --expected gets one "kind<TAB>api<TAB>subject" line per injected finding
// ("-" for none), --secrets one secret value per line (none may appear in any report). On SIGTERM or SIGINT it writes
// its counters to --stats (JSON) and exits 0.
import APIManagerDoubles
import Glibc
import Core
import Synchronization

let stopRequested = Atomic<Bool>(false)

func fail(_ message: String) -> Never {
    Logger.stderr(Array("api-manager-double: \(message)\n".utf8))
    exit(2)
}

func writeFile(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { fail("cannot write \(path)") }
    do { try FileIO.writeAll(fd, Array(text.utf8)) } catch { fail("cannot write \(path): \(error)") }
    close(fd)
}

func serve() {
    var options: [String: String] = [:]
    var args = CommandLine.arguments.dropFirst()
    while let name = args.popFirst() {
        guard name.hasPrefix("--"), let value = args.popFirst() else { fail("usage: see the header of Tests/Support/api-manager-double/main.swift") }
        options[String(name.dropFirst(2))] = value
    }
    func int(_ name: String, _ fallback: Int) -> Int {
        guard let text = options[name] else { return fallback }
        guard let v = Int(text), v >= 0 else { fail("--\(name) wants a non-negative integer, not \(text)") }
        return v
    }
    let generated = GeneratedOrganization(apis: int("apis", 60))
    var settings = GeneratedOrganization.settings()
    if let n = options["throttle-every"] { settings.throttleEvery = Int(n) ?? 0 }
    if let spec = options["fail-env"] {
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let status = Int(parts[1]) else { fail("--fail-env wants ENV_ID:STATUS") }
        settings.failingEnvironments[String(parts[0])] = status
    }
    let double: APIManagerDouble
    do { double = try generated.start(settings, port: UInt16(int("port", 0))) } catch { fail("cannot listen: \(error)") }
    if let path = options["expected"] {
        writeFile(path, generated.expected.map { "\($0.kind)\t\($0.api ?? "-")\t\($0.subject ?? "-")\n" }.sorted().joined())
    }
    if let path = options["secrets"] { writeFile(path, generated.secrets.map { $0 + "\n" }.joined()) }

    signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
    let ready = Array("ready \(double.server.port)\n".utf8)
    _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    while !stopRequested.load(ordering: .relaxed) { usleep(10_000) }

    let s = double.stats
    var w = JSONWriter()
    w.beginObject()
    w.field("requests", s.requests)
    w.field("tokensIssued", s.tokensIssued)
    w.field("throttled", s.throttled)
    w.field("maxInFlight", s.maxInFlight)
    w.key("badRequests"); w.beginArray(); for b in s.badRequests { w.string(b) }; w.endArray()
    w.key("forbidden"); w.beginArray(); for f in s.forbidden { w.string(f) }; w.endArray()
    w.endObject()
    if let path = options["stats"] { writeFile(path, String(decoding: w.bytes, as: UTF8.self) + "\n") }
    double.server.stop()
}

serve()
