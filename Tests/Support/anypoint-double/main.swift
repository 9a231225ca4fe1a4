// The strict Anypoint double as a process, for shell tests that run `apitap audit-export` and kill it:
//   anypoint-double [--port N] [--orgs a,b] [--entries N] [--days D] [--token-lifetime-ms MS] [--budget N]
//                   [--empty-pages PERCENT] [--empty-run N] [--seed N] [--stall-at-query N] [--stall-ms MS]
//                   [--expected FILE] [--stats FILE]
// Prints "ready PORT" once it listens, and "stalled N" when the query numbered --stall-at-query arrives (it is held
// for --stall-ms, default 120000: the client committed every page before it, so a test can kill it there); on
// SIGTERM or SIGINT writes its counters to --stats and exits 0. --empty-pages makes that percentage of answers empty
// pages that still carry a cursor, in runs of up to --empty-run, chosen by --seed.
// --expected gets one "organization<TAB>identity" line per generated entry (what a complete export must hold).
import AuditDoubles
import Glibc
import Core
import TestSupport

func serve() {
    let process = DoubleProcess(name: "anypoint-double", usage: "see the header of Tests/Support/anypoint-double/main.swift")
    let options = process.options
    let int = process.int
    func fail(_ message: String) -> Never { process.fail(message) }

    var settings = AnypointDouble.Settings()
    settings.organizations = (options["orgs"] ?? "org-1").split(separator: ",").map(String.init)
    settings.tokenLifetimeMs = Int64(int("token-lifetime-ms", 3_600_000))
    settings.budgetPerWindow = int("budget", 1_000_000)
    settings.emptyPagePercent = min(100, int("empty-pages", 0))
    settings.emptyPageMaxRun = max(1, int("empty-run", 3))
    settings.seed = UInt64(int("seed", 1))
    settings.stallAtQuery = options["stall-at-query"] == nil ? nil : max(1, int("stall-at-query", 1))
    settings.stallMs = Int64(int("stall-ms", 120_000))
    let double: AnypointDouble
    do { double = try AnypointDouble(settings, port: UInt16(int("port", 0))) } catch { fail("cannot listen: \(error)") }

    let now = EpochMillis.now().value
    let days = Int64(int("days", 3))
    var expected = ""
    for (n, org) in settings.organizations.enumerated() {
        let history = AnypointDouble.history(count: int("entries", 20_000), from: now - days * 86_400_000, to: now - 120_000,
                                             prefix: org, seed: UInt64(n + 1))
        double.add(org, history)
        for e in history { expected += "\(org)\t\(e.identity)\n" }
    }
    if let path = options["expected"] { process.writeFile(path, expected) }

    process.say("ready \(double.server.port)")
    var stallReported = false
    process.serveUntilStopped {
        if !stallReported, let n = double.stats.stalledAtQuery {
            stallReported = true
            process.say("stalled \(n)")
        }
    }

    let s = double.stats
    var w = JSONWriter()
    w.beginObject()
    w.field("tokensIssued", s.tokensIssued)
    w.field("queries", s.queries)
    w.field("unauthorized", s.unauthorized)
    w.field("throttled", s.throttled)
    w.field("requestsAfter503InSameWindow", s.requestsAfter503InSameWindow)
    w.field("emptyPagesWithCursor", s.emptyPagesWithCursor)
    w.key("badRequests")
    w.beginArray()
    for b in s.badRequests { w.string(b) }
    w.endArray()
    w.endObject()
    if let path = options["stats"] { process.writeFile(path, String(decoding: w.bytes, as: UTF8.self) + "\n") }
    double.server.stop()
}

serve()
