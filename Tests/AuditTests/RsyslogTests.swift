// The syslog sink against a real rsyslogd on loopback (UDP, TCP with octet counting, TLS with a test CA): every
// record arrives and rsyslog parses it as RFC 5424.
import AuditDoubles
import Foundation
import Glibc
import Core
import Testing
@testable import Audit

@Suite(.serialized) struct RsyslogTests {
    /// Records of both entry shapes, with actions of every severity, and one alert.
    func records(_ n: Int) throws -> [ExportRecord] {
        let now = EpochMillis.now().value
        let entries = AnypointDouble.history(count: n, from: now - 3_600_000, to: now, prefix: "sys")
        var out: [ExportRecord] = []
        for e in entries {
            let entry = try AuditEntry(raw: e.value.jsonBytes)
            out.append(ExportRecord.entry(entry, organizationID: "org-\"x]", exportedAt: EpochMillis(now), otelAttributes: true))
        }
        let rules = try AlertRuleSet.defaults()
        var evaluator = AlertEvaluator(rules: rules)
        let alerts = evaluator.evaluate(try entries.prefix(50).map { try AuditEntry(raw: $0.value.jsonBytes) }, organizationID: "org-1",
                                        exportedAt: EpochMillis(now))
        if n >= 50 { #expect(!alerts.isEmpty) }
        return out + alerts.prefix(5)
    }

    func check(_ lines: [String], against records: [ExportRecord], facility: Int = 13) throws {
        #expect(lines.count == records.count, "\(lines.count) of \(records.count) arrived")
        var byKey: [String: ExportRecord] = [:]
        for r in records { byKey[r.key] = r }
        var seen = Set<String>()
        for line in lines {
            let f = line.split(separator: "|", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
            try #require(f.count == 6, "not the expected fields: \(line.prefix(200))")
            #expect(f[0] == "1", "rsyslog did not parse an RFC 5424 message: \(line.prefix(200))")
            #expect(f[1] == "apitap")
            let msg = try JSONReader.parse(f[5].trimmingWhitespace())
            let key = try #require(msg["key"]?.stringValue)
            let record = try #require(byKey[key], "unknown key \(key)")
            seen.insert(key)
            #expect(f[2] == SyslogFormatter.header(record.msgID, max: 32))
            #expect(f[3] == String(facility * 8 + record.severity.rawValue))
            #expect(f[4].hasPrefix("[\(SyslogFormatter.sdID) key=\""), "\(f[4])")
            #expect(f[4].contains("org=\"org-\\\"x\\]\"") || f[4].contains("org=\"org-1\""), "\(f[4])")
            #expect(msg.jsonBytes == (try JSONReader.parse(record.json)).jsonBytes, "the message is not the record")
        }
        #expect(seen.count == records.count)
    }

    @Test func udpTCPAndTLSDeliverEveryRecordAsRFC5424() async throws {
        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let records = try records(300)
        let formatter = SyslogFormatter(facility: 13, hostname: "anypoint.mulesoft.com")
        for (name, transport, port) in [("udp", SinkTarget.SyslogTransport.udp, rsyslog.udpPort), ("tcp", .tcp, rsyslog.tcpPort),
                                        ("tls", .tls, rsyslog.tlsPort)] {
            let sink = SyslogSink(transport: transport, host: "127.0.0.1", port: port, formatter: formatter, caFile: rsyslog.caPath)
            var start = 0
            while start < records.count {
                let page = Array(records[start..<min(start + 50, records.count)])
                let r = await sink.deliver(page, exportedAt: .now(), deadline: .after(milliseconds: 10_000))
                #expect(r.ok && r.delivered == page.count, "\(name): \(r.error ?? "")")
                start += 50
                if transport == .udp { try await Task.sleep(for: .milliseconds(20)) }
            }
            await sink.close()
            let lines = try await rsyslog.lines(name, count: records.count)
            try check(lines, against: records)
        }
    }

    @Test func tlsRefusesAServerItCannotVerify() async throws {
        let rsyslog = try Rsyslog()
        defer { rsyslog.stop() }
        let sink = SyslogSink(transport: .tls, host: "127.0.0.1", port: rsyslog.tlsPort,
                              formatter: SyslogFormatter(hostname: "x"), caFile: "/etc/ssl/certs/ca-certificates.crt")
        let r = await sink.deliver(try records(2), exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(!r.ok)
        #expect(r.error?.contains("TLS") == true, "\(r.error ?? "")")
    }

    @Test func aTCPReceiverRestartIsSurvived() async throws {
        let rsyslog = try Rsyslog()
        let sink = SyslogSink(transport: .tcp, host: "127.0.0.1", port: rsyslog.tcpPort, formatter: SyslogFormatter(hostname: "x"))
        let records = try records(20)
        #expect(await sink.deliver(Array(records[0..<10]), exportedAt: .now(), deadline: .after(milliseconds: 5_000)).ok)
        rsyslog.stop()
        // The receiver is gone: the page is not acknowledged (the checkpoint would not move).
        let r = await sink.deliver(Array(records[10..<20]), exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(!r.ok)
    }
}
