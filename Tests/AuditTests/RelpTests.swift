// The RELP sink against a real rsyslogd with imrelp on loopback: every record arrives and parses as RFC 5424, over
// TLS too; a server that cannot be verified is refused; and a receiver restarted in the middle of an export loses
// nothing.
import AuditDoubles
import Foundation
import Glibc
import Core
import Pipeline
import Testing
import TestSupport
@testable import Audit

@Suite(.serialized) struct RelpTests {
    let syslog = RsyslogTests()

    func deliverInPages(_ records: [ExportRecord], to sink: RelpSink, page: Int = 50) async {
        var start = 0
        while start < records.count {
            let slice = Array(records[start..<min(start + page, records.count)])
            let r = await sink.deliver(slice, exportedAt: .now(), deadline: .after(milliseconds: 20_000))
            #expect(r.ok && r.delivered == slice.count, "\(sink.name): \(r.error ?? "")")
            start += page
        }
    }

    @Test func relpAndRelpOverTLSDeliverEveryRecordAsRFC5424() async throws {
        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let records = try syslog.records(300)
        let formatter = SyslogFormatter(facility: 13, hostname: "anypoint.mulesoft.com")
        let plain = RelpSink(host: "127.0.0.1", port: rsyslog.relpPort, tls: nil, formatter: formatter)
        await deliverInPages(records, to: plain)
        try syslog.check(try await rsyslog.lines("relp", count: records.count), against: records)

        let tls = RelpSink(host: "127.0.0.1", port: rsyslog.relpTLSPort, tls: RelpTLS(caFile: rsyslog.caPath, peerName: "127.0.0.1",
                                                                                        certFile: rsyslog.clientCertPath, keyFile: rsyslog.clientKeyPath),
                           formatter: formatter)
        #expect(tls.name == "syslog+relp+tls://127.0.0.1:\(rsyslog.relpTLSPort)")
        await deliverInPages(records, to: tls)
        try syslog.check(try await rsyslog.lines("relptls", count: records.count), against: records)
        #expect(await plain.retries == 0)
        #expect(await tls.retries == 0)
    }

    @Test func relpOverTLSRefusesAServerItCannotVerify() async throws {
        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let records = try syslog.records(2)
        // Signed by the test CA, checked against the system's CAs.
        let unknownCA = RelpSink(host: "127.0.0.1", port: rsyslog.relpTLSPort,
                                 tls: RelpTLS(caFile: "/etc/ssl/certs/ca-certificates.crt", peerName: "127.0.0.1",
                                              certFile: rsyslog.clientCertPath, keyFile: rsyslog.clientKeyPath),
                                 formatter: SyslogFormatter(hostname: "x"), retryDelays: [])
        let r1 = await unknownCA.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 10_000))
        #expect(!r1.ok && r1.delivered == 0)
        #expect(r1.error?.contains("RELP 127.0.0.1:\(rsyslog.relpTLSPort)") == true && r1.error?.contains("librelp code") == true,
                "\(r1.error ?? "")")
        // The right CA, another name.
        let wrongName = RelpSink(host: "127.0.0.1", port: rsyslog.relpTLSPort, tls: RelpTLS(caFile: rsyslog.caPath, peerName: "siem.example.com",
                                                                                                   certFile: rsyslog.clientCertPath, keyFile: rsyslog.clientKeyPath),
                                 formatter: SyslogFormatter(hostname: "x"), retryDelays: [])
        let r2 = await wrongName.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 10_000))
        #expect(!r2.ok, "a certificate for 127.0.0.1 was accepted as siem.example.com")
        #expect(rsyslog.lineCount("relptls") == 0)
    }

    @Test func nothingListeningFailsThePageWithTheEndpointAndCode() async throws {
        let port = freeLoopbackPort()
        let sink = RelpSink(host: "127.0.0.1", port: port, tls: nil, formatter: SyslogFormatter(hostname: "x"),
                            retryDelays: [.milliseconds(10)])
        let r = await sink.deliver(try syslog.records(3), exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(!r.ok && r.delivered == 0)
        #expect(r.error?.contains("RELP 127.0.0.1:\(port)") == true && r.error?.contains("attempt 2") == true, "\(r.error ?? "")")
    }

    /// The whole export (Anypoint double → exporter → RELP → rsyslogd), with rsyslogd stopped and started again once
    /// it has written 1,500 records, while pages keep coming. Deterministic in what triggers the restart (a record
    /// count, not a sleep); the page it hits varies. Whatever the timing, every record of every committed page is in
    /// rsyslog's file afterwards, each parsed as RFC 5424.
    @Test func aReceiverRestartedMidExportLosesNothing() async throws {
        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let double = try AnypointDouble()
        let now = EpochMillis.now().value
        double.add("org-1", AnypointDouble.history(count: 6_000, from: now - 4 * 86_400_000, to: now - 120_000, prefix: "relp"))
        let relp = RelpSink(host: "127.0.0.1", port: rsyslog.relpPort, tls: nil, formatter: SyslogFormatter(hostname: "anypoint.mulesoft.com"))
        // What the exporter committed, page by page (a page is committed only when both sinks acknowledged it).
        let memory = MemorySink()
        let store = try FileCheckpointStore(directory: try tempDirectory("relp-restart"))
        let exporter = makeExporter(double, store: store, sinks: [relp, memory], rules: try AlertRuleSet.defaults())

        let trigger = 1_500
        let watcher = RestartWatcher(rsyslog, after: trigger)
        watcher.start()
        var runs = 0
        var summaries: [String] = []
        repeat {
            runs += 1
            let summary = await exporter.run(deadline: .after(milliseconds: 120_000))
            summaries.append(String(decoding: summary.json(), as: UTF8.self))
            if summary.organizations.first?.result == .committed, watcher.done { break }
        } while runs < 6
        watcher.wait()
        #expect(watcher.error == nil, "\(watcher.error ?? "")")
        #expect(rsyslog.restarts == 1)
        #expect(watcher.linesAtRestart < 6_000, "the restart came after the export had finished (\(watcher.linesAtRestart) lines)")
        // The restart really hit the export: a session failed and was retried, or a run ended undelivered.
        let retries = await relp.retries
        #expect(retries > 0 || runs > 1, "no failure was seen: \(summaries.map { $0.prefix(600) })")

        let committed = await memory.records
        let entryIdentities = Set(committed.filter { $0.kind == .entry }.map(\.identity))
        #expect(entryIdentities.count == 6_000, "runs: \(summaries.map { $0.prefix(600) })")
        let notExported = missing(double, "org-1", Array(entryIdentities))
        #expect(notExported.isEmpty, "\(notExported.count) entries never committed, e.g. \(notExported.prefix(3))")

        // Every committed record is in rsyslog's file (duplicates of a retried page allowed), parsed as RFC 5424.
        let expectedKeys = Set(committed.map(\.key))
        let lines = try await rsyslog.lines("relp", count: expectedKeys.count, timeout: 30)
        var seen = Set<String>()
        for line in lines {
            let f = line.split(separator: "|", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
            try #require(f.count == 6, "not the expected fields: \(line.prefix(200))")
            #expect(f[0] == "1" && f[1] == "apitap", "rsyslog did not parse an RFC 5424 message: \(line.prefix(200))")
            #expect(f[4].hasPrefix("[\(SyslogFormatter.sdID) key=\""), "\(f[4].prefix(200))")
            let key = try #require(try JSONReader.parse(f[5].trimmingWhitespace())["key"]?.stringValue)
            seen.insert(key)
        }
        let lost = expectedKeys.subtracting(seen)
        #expect(lost.isEmpty, "\(lost.count) of \(expectedKeys.count) committed records never reached rsyslog, e.g. \(Array(lost.prefix(3)))")
        #expect(seen.isSubset(of: expectedKeys) || runs > 1, "rsyslog has records no committed page holds")
        #expect(lines.count - seen.count <= 2 * 250 * (retries + runs), "more duplicates than the retried pages explain")
    }
}

/// Restarts rsyslogd from a thread of its own once its RELP file holds `after` lines.
final class RestartWatcher: @unchecked Sendable {
    private let rsyslog: Rsyslog
    private let after: Int
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var _done = false
    private(set) var error: String?
    private(set) var linesAtRestart = 0

    init(_ rsyslog: Rsyslog, after: Int) {
        self.rsyslog = rsyslog
        self.after = after
    }

    var done: Bool { lock.withLock { _done } }

    func start() {
        Thread.detachNewThread { [self] in
            let end = Date().addingTimeInterval(120)
            while rsyslog.lineCount("relp") < after && Date() < end { usleep(2_000) }
            linesAtRestart = rsyslog.lineCount("relp")
            do { try rsyslog.restart() } catch let e { error = "\(e)" }
            lock.withLock { _done = true }
            finished.signal()
        }
    }

    func wait() { finished.wait() }
}
