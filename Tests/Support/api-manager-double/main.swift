// The strict API Manager double as a process, serving a generated organization, for the shell suites and the
// HTML report's browser test:
//   api-manager-double [--port N] [--apis N] [--throttle-every N] [--fail-env ENV_ID:STATUS] [--expected FILE]
//                      [--secrets FILE] [--stats FILE] [--client ID:SECRET:SCOPES]
// Prints "ready PORT" once it listens. --client adds a Connected App with SCOPES (a comma list of view-apis,
// view-policies, manage-policies, view-contracts, or all) in every environment, next to the read-only posture client. --expected gets one "kind<TAB>api<TAB>subject" line per injected finding
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
    var extra: [APIManagerDouble.Client] = []
    if let spec = options["client"] {
        let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { fail("--client wants ID:SECRET:SCOPES") }
        let names: [String: APIManagerScope] = ["view-apis": .viewAPIs, "view-policies": .viewPolicies, "manage-policies": .managePolicies,
                                                "view-contracts": .viewContracts]
        var scopes = Set<APIManagerScope>()
        for name in parts[2].split(separator: ",").map(String.init) {
            if name == "all" { scopes.formUnion(APIManagerScope.allCases); continue }
            guard let scope = names[name] else { fail("--client: unknown scope \(name)") }
            scopes.insert(scope)
        }
        extra.append(APIManagerDouble.Client(id: parts[0], secret: parts[1], organization: GeneratedOrganization.organization, grants: ["*": scopes]))
    }
    var settings = GeneratedOrganization.settings(extraClients: extra)
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
    // Calls answered, by route ("automated-policies.create", "policy.patch", ...): what a run read and wrote.
    w.key("byRoute"); w.beginObject(); for (route, n) in s.byRoute.sorted(by: { $0.key < $1.key }) { w.field(route, n) }; w.endObject()
    w.endObject()
    if let path = options["stats"] { process.writeFile(path, String(decoding: w.bytes, as: UTF8.self) + "\n") }
    double.server.stop()
}

serve()
