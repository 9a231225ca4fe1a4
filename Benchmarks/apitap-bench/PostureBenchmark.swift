// The posture audit's collection and comparison for 3 environments × 500 APIs against the API Manager double (in
// this process, on loopback, unpaced), with the number of requests made, and the time to render each format.
import APIManagerDoubles
import Audit
import Glibc
import HTTP
import Core
import Posture

func postureBenchmark(apis: Int = 500) async -> Rows {
    var rows: Rows = []
    do {
        let http = try HTTPClient()
        let org = GeneratedOrganization(apis: apis)
        let double = try org.start()
        defer { double.stop() }
        let tokens = AnypointClient.tokenProvider(http: http, baseURL: double.baseURL, clientID: GeneratedOrganization.clientID,
                                                  secret: { GeneratedOrganization.clientSecret })
        let client = AnypointClient(baseURL: double.baseURL, http: http, tokens: tokens, requestsPerMinute: 10_000_000,
                                    serviceUnavailableIsRateWindow: false)
        let rules = try PostureRules()
        let collector = Collector(reader: APIManagerReader(client: client, rules: rules), settings: CollectionSettings(concurrency: 8),
                                  logger: Logger(level: .error))
        let clock = ContinuousClock()
        let t0 = clock.now
        let collection = await collector.collect(deadline: .after(milliseconds: 600_000))
        let t1 = clock.now
        let comparison = Comparator(rules: rules).compare(collection)
        let t2 = clock.now
        let report = PostureReport(collection: collection, comparison: comparison, secretKeys: rules.secretKeys)
        let instances = collection.environments.reduce(0) { $0 + ($1.instances.value?.count ?? 0) }
        let wanted = Set(org.expected.map { "\($0.kind) \($0.api ?? "-") \($0.subject ?? "-")" })
        let got = Set(report.findings.map { "\($0.kind.rawValue) \($0.api ?? "-") \($0.subject ?? "-")" })
        rows += [
            ("posture 3 × \(apis) APIs: instances collected", Double(instances), "instances (complete: \(collection.isComplete))"),
            ("posture 3 × \(apis) APIs: requests made", Double(collection.requests),
             "requests (the double counted \(double.stats.requests), at most \(double.stats.maxInFlight) at once)"),
            ("posture 3 × \(apis) APIs: collection (unpaced, 8 in flight)", seconds(t1 - t0), "s"),
            ("posture 3 × \(apis) APIs: the same at the default US pace (595/min)", Double(collection.requests) / 595 * 60, "s (computed)"),
            ("posture 3 × \(apis) APIs: comparison", seconds(t2 - t1) * 1000, "ms"),
            ("posture 3 × \(apis) APIs: findings (injected \(org.expected.count), all found and nothing else: \(wanted == got))",
             Double(report.findings.count), "findings"),
        ]
        for format in ReportFormat.allCases {
            let s = clock.now
            let bytes = report.render(format)
            rows.append(("posture 3 × \(apis) APIs: render \(format.rawValue) (\(bytes.count / 1024) KiB)", seconds(clock.now - s) * 1000, "ms"))
        }
    } catch {
        print("posture benchmark: \(error)")
    }
    return rows
}
