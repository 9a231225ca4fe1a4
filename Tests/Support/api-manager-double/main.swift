// The strict API Manager double as a process, serving a generated organization, for the shell suites and the
// HTML report's browser test:
//   api-manager-double [--port N] [--apis N] [--throttle-every N] [--fail-env ENV_ID:STATUS] [--expected FILE]
//                      [--secrets FILE] [--stats FILE]
// Prints "ready PORT" once it listens. --expected gets one "kind<TAB>api<TAB>subject" line per injected finding
// ("-" for none), --secrets one secret value per line (none may appear in any report). On SIGTERM or SIGINT it writes
// its counters to --stats (JSON) and exits 0.
import APIManagerDoubles
import Core
import TestSupport

func serve() {
    let process = DoubleProcess(name: "api-manager-double", usage: "see the header of Tests/Support/api-manager-double/main.swift")
    let options = process.options
    let int = process.int
    func fail(_ message: String) -> Never { process.fail(message) }
    let generated = GeneratedOrganization(apis: int("apis", 60))
    var settings = GeneratedOrganization.settings()
    if options["throttle-every"] != nil { settings.throttleEvery = int("throttle-every", 0) }
    if let spec = options["fail-env"] {
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let status = Int(parts[1]) else { fail("--fail-env wants ENV_ID:STATUS") }
        settings.failingEnvironments[String(parts[0])] = status
    }
    let double: APIManagerDouble
    do { double = try generated.start(settings, port: UInt16(int("port", 0))) } catch { fail("cannot listen: \(error)") }
    if let path = options["expected"] {
        process.writeFile(path, generated.expected.map { "\($0.kind)\t\($0.api ?? "-")\t\($0.subject ?? "-")\n" }.sorted().joined())
    }
    if let path = options["secrets"] { process.writeFile(path, generated.secrets.map { $0 + "\n" }.joined()) }

    process.say("ready \(double.server.port)")
    process.serveUntilStopped()

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
    if let path = options["stats"] { process.writeFile(path, String(decoding: w.bytes, as: UTF8.self) + "\n") }
    double.server.stop()
}

serve()
