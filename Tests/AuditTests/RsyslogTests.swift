// The syslog sink against a real rsyslogd on loopback (UDP, TCP with octet counting, TLS with a test CA): every
// record arrives and rsyslog parses it as RFC 5424.
import Foundation
import Glibc
import Pipeline
import Testing
@testable import Audit

/// rsyslogd in the foreground, unprivileged, with one input per transport, each written to its own file with the
/// fields rsyslog parsed out of the message.
final class Rsyslog {
    let directory: String
    let udpPort: UInt16, tcpPort: UInt16, tlsPort: UInt16
    let process: Process
    var caPath: String { directory + "/ca.pem" }

    init() throws {
        guard let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestFailure("rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (the syslog tests need the real receiver)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")
                || FileManager.default.fileExists(atPath: "/usr/lib/rsyslog/lmnsd_gtls.so") else {
            throw TestFailure("rsyslog's TLS driver is missing: apt-get install rsyslog-gnutls")
        }
        directory = try tempDirectory("rsyslog")
        chmod(directory, 0o777)
        let d = directory
        try Rsyslog.shell("""
            set -e; cd '\(d)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=apitap syslog test CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            chmod 644 server.key ca.pem server.pem
            """)
        udpPort = freeLoopbackPort(datagram: true)
        tcpPort = freeLoopbackPort(datagram: false)
        tlsPort = freeLoopbackPort(datagram: false)
        let config = """
            global(workDirectory="\(d)" maxMessageSize="256k"
                   DefaultNetstreamDriverCAFile="\(d)/ca.pem" DefaultNetstreamDriverCertFile="\(d)/server.pem"
                   DefaultNetstreamDriverKeyFile="\(d)/server.key")
            module(load="imudp")
            module(load="imtcp" MaxSessions="50")
            template(name="fields" type="string" string="%protocol-version%|%app-name%|%msgid%|%pri%|%structured-data%|%msg%\\n")
            ruleset(name="udp") { action(type="omfile" file="\(d)/udp.log" template="fields") }
            ruleset(name="tcp") { action(type="omfile" file="\(d)/tcp.log" template="fields") }
            ruleset(name="tls") { action(type="omfile" file="\(d)/tls.log" template="fields") }
            input(type="imudp" address="127.0.0.1" port="\(udpPort)" ruleset="udp")
            input(type="imtcp" address="127.0.0.1" port="\(tcpPort)" ruleset="tcp")
            input(type="imtcp" address="127.0.0.1" port="\(tlsPort)" ruleset="tls"
                  StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
            """
        try config.write(toFile: d + "/rsyslog.conf", atomically: true, encoding: .utf8)
        chmod(d + "/rsyslog.conf", 0o644)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", rsyslogd, "-n", "-f", d + "/rsyslog.conf", "-i", d + "/rsyslogd.pid"]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        let errPipe = Pipe()
        process.standardError = errPipe
        try process.run()
        // Ready when the TCP inputs accept connections.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning {
                let err = String(decoding: errPipe.fileHandleForReading.availableData, as: UTF8.self)
                throw TestFailure("rsyslogd exited with \(process.terminationStatus): \(err.prefix(1000))")
            }
            if canConnect(tcpPort) && canConnect(tlsPort) { return }
            usleep(50_000)
        }
        stop()
        throw TestFailure("rsyslogd did not open its inputs within 10 s")
    }

    func stop() {
        guard process.isRunning else { return }
        // Process.waitUntilExit can hang when called from a concurrency thread: poll, then insist.
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<20 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL); for _ in 0..<40 where process.isRunning { usleep(50_000) } }
    }

    deinit { stop() }

    /// The lines of one input's file once there are `count` of them (or whatever arrived within the timeout).
    func lines(_ name: String, count: Int, timeout: TimeInterval = 10) async throws -> [String] {
        let end = Date().addingTimeInterval(timeout)
        var lines: [String] = []
        while Date() < end {
            let text = (try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").map(String.init)
            if lines.count >= count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return lines
    }

    static func shell(_ script: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("shell step failed: \(script.prefix(200))") }
    }
}

func freeLoopbackPort(datagram: Bool) -> UInt16 {
    let fd = socket(AF_INET, datagram ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return UInt16(bigEndian: addr.sin_port)
}

func canConnect(_ port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

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
