// The audit export's throughput from the Anypoint double (in this process, on loopback) to the file sink and to a
// real rsyslog over TCP and over RELP (every frame answered before a page counts), and the pacer's accuracy against control planes limited to 700 and to 40 requests a minute.
import Audit
import AuditDoubles
import Glibc
import HTTP
import Core
import Pipeline

typealias Rows = [(name: String, value: Double, unit: String)]

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

private func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// One export of `entries` entries (both shapes, default alert rules, a file checkpoint) into `sink`, unpaced.
private func export(entries: Int, sink: any AuditSink, http: HTTPClient, label: String) async throws -> (summary: AuditExportSummary, wall: Double, cpu: Double) {
    let double = try AnypointDouble()
    let now = EpochMillis.now().value
    double.add("org-1", AnypointDouble.history(count: entries, from: now - 3 * 86_400_000, to: now - 120_000, prefix: label))
    let s = double.settings
    let tokens = AnypointClient.tokenProvider(http: http, baseURL: double.baseURL, clientID: s.clientID, secret: { s.clientSecret })
    let client = AnypointClient(baseURL: double.baseURL, http: http, tokens: tokens, requestsPerMinute: 100_000)
    let store = try FileCheckpointStore(directory: "/tmp/apitap-bench-audit-\(getpid())-\(label)")
    let exporter = AuditExporter(client: client, tokens: tokens, store: store, sinks: [sink], rules: try AlertRuleSet.defaults(),
                                 settings: AuditExportSettings(overlapMs: 600_000, lagMs: 0, start: .ago(milliseconds: 4 * 86_400_000),
                                                               pullMarginMs: 0),
                                 organizations: ["org-1"], logger: Logger(level: .error))
    let clock = ContinuousClock()
    let cpu0 = processCPUSeconds()
    let t0 = clock.now
    let summary = await exporter.run(deadline: .after(milliseconds: 600_000))
    return (summary, seconds(clock.now - t0), processCPUSeconds() - cpu0)
}

func auditThroughputBenchmarks(entries: Int = 100_000) async -> Rows {
    var rows: Rows = []
    do {
        let http = try HTTPClient()
        let path = "/tmp/apitap-bench-audit-\(getpid()).ndjson"
        unlink(path)
        let file = try await export(entries: entries, sink: FileSink(path: path), http: http, label: "file")
        let delivered = Double(file.summary.sinks.first?.delivered ?? 0)
        rows += [
            ("audit → file: entries exported", Double(file.summary.organizations.first?.exported ?? 0), "entries"),
            ("audit → file: throughput (wall; double, export and fsync share the 2 cores)", Double(entries) / file.wall, "entries/s"),
            ("audit → file: records written (entries + alerts)", delivered, "records"),
            ("audit → file: process CPU per entry (double included)", file.cpu / Double(entries) * 1e6, "µs"),
        ]
        unlink(path)

        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let sink = SyslogSink(transport: .tcp, host: "127.0.0.1", port: rsyslog.tcpPort,
                              formatter: SyslogFormatter(facility: 13, hostname: "anypoint.mulesoft.com"))
        let tcp = try await throughRsyslog(rsyslog, entries: entries, sink: sink, http: http, label: "tcp", name: "TCP",
                                           acknowledged: "until acknowledged by the socket") { await sink.close() }
        rows += tcp.rows

        // The same export over RELP: a page is acknowledged only when rsyslog answered each of its frames.
        let relp = RelpSink(host: "127.0.0.1", port: rsyslog.relpPort, tls: nil,
                            formatter: SyslogFormatter(facility: 13, hostname: "anypoint.mulesoft.com"))
        let relpRun = try await throughRsyslog(rsyslog, entries: entries, sink: relp, http: http, label: "relp", name: "RELP",
                                               acknowledged: "until rsyslog answered every frame (200)") {}
        rows += relpRun.rows
        rows.append(("audit → rsyslog RELP vs TCP (written every record)", relpRun.perSecond / tcp.perSecond, "×"))
    } catch {
        print("audit throughput: \(error)")
    }
    return rows
}

/// Control planes side by side, limited to 700 and to 40 requests per minute (503 for the rest of the minute once
/// spent), each paced by the client at the default 85 % of its limit, and (to show the 503 path) at the limit itself.
/// Starts on a minute boundary and runs `minutes` whole minutes; counts what each double received in each minute.
func auditPacerBenchmark(minutes: Int = 2) async -> Rows {
    var rows: Rows = []
    do {
        let http = try HTTPClient()
        let now = EpochMillis.now().value
        let us = AuditConfiguration.usBaseURL, eu = AuditConfiguration.euBaseURL
        let planes: [(name: String, limit: Int, pace: Int)] = [
            ("US", AuditConfiguration.controlPlaneLimit(baseURL: us), AuditConfiguration.defaultPace(baseURL: us)),
            ("EU", AuditConfiguration.controlPlaneLimit(baseURL: eu), AuditConfiguration.defaultPace(baseURL: eu)),
            ("US at the limit", AuditConfiguration.controlPlaneLimit(baseURL: us), AuditConfiguration.controlPlaneLimit(baseURL: us)),
            ("EU at the limit", AuditConfiguration.controlPlaneLimit(baseURL: eu), AuditConfiguration.controlPlaneLimit(baseURL: eu)),
        ]
        var doubles: [AnypointDouble] = []
        for plane in planes {
            var settings = AnypointDouble.Settings()
            settings.budgetPerWindow = plane.limit
            let double = try AnypointDouble(settings)
            double.add("org-1", AnypointDouble.history(count: 2_000, from: now - 86_400_000, to: now - 60_000, prefix: plane.name))
            doubles.append(double)
        }
        let start = (EpochMillis.now().value / 60_000 + 1) * 60_000
        usleep(useconds_t((start - EpochMillis.now().value) * 1000))
        let end = start + Int64(minutes) * 60_000
        await withTaskGroup(of: Void.self) { group in
            for (i, plane) in planes.enumerated() {
                let double = doubles[i]
                let pace = plane.pace
                group.addTask {
                    let s = double.settings
                    let tokens = AnypointClient.tokenProvider(http: http, baseURL: double.baseURL, clientID: s.clientID, secret: { s.clientSecret })
                    let client = AnypointClient(baseURL: double.baseURL, http: http, tokens: tokens, requestsPerMinute: pace)
                    var cursor: String?
                    let deadline = Deadline(epoch: EpochMillis(end))
                    while !deadline.hasPassed() {
                        let q = AuditQuery(organizationID: "org-1", start: EpochMillis(now - 86_400_000), end: EpochMillis(now), limit: 1, cursor: cursor)
                        guard let page = try? await client.query(q, deadline: deadline) else { break }
                        cursor = page.entries.isEmpty ? nil : page.cursor
                    }
                }
            }
        }
        for (i, plane) in planes.enumerated() {
            let stats = doubles[i].stats
            let counts = (0..<minutes).map { min(plane.limit, stats.requestsPerWindow[start + Int64($0) * 60_000, default: 0]) }
            rows += [
                ("pacer \(plane.name) (limit \(plane.limit)/min, paced at \(plane.pace)): requests answered 200 in each whole minute",
                 Double(counts.min() ?? 0), "at least; per minute \(counts.map(String.init).joined(separator: ", "))"),
                ("pacer \(plane.name): 503 answers", Double(stats.throttled), "503s"),
            ]
        }
    } catch {
        print("audit pacer: \(error)")
    }
    return rows
}

/// Exports `entries` to rsyslog through `sink`, then waits (at most 60 s more) until rsyslog wrote every record to its
/// `label` file. `perSecond` is entries per second until then.
private func throughRsyslog(_ rsyslog: Rsyslog, entries: Int, sink: any AuditSink, http: HTTPClient, label: String, name: String,
                            acknowledged: String, afterExport: () async -> Void) async throws
    -> (rows: [(name: String, value: Double, unit: String)], perSecond: Double) {
    let clock = ContinuousClock()
    let t0 = clock.now
    let run = try await export(entries: entries, sink: sink, http: http, label: label)
    await afterExport()
    let sent = run.summary.sinks.first?.delivered ?? 0
    while rsyslog.lineCount(label) < sent && clock.now - t0 < .seconds(Int64(run.wall) + 60) { usleep(20_000) }
    let landed = rsyslog.lineCount(label)
    let perSecond = Double(entries) / seconds(clock.now - t0)
    return ([
        ("audit → rsyslog \(name): entries exported", Double(run.summary.organizations.first?.exported ?? 0), "entries"),
        ("audit → rsyslog \(name): throughput, \(acknowledged)", Double(entries) / run.wall, "entries/s"),
        ("audit → rsyslog \(name): throughput, until rsyslog wrote every record", perSecond, "entries/s"),
        ("audit → rsyslog \(name): records written by rsyslog / sent", Double(landed) / Double(max(1, sent)), "(1 = all)"),
    ], perSecond)
}
