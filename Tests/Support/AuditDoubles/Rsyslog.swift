// A real rsyslogd on loopback for the syslog sinks' tests and benchmarks: started unprivileged in the foreground,
// one input per transport (UDP, TCP with octet counting, TLS and RELP over TLS with a generated test CA, RELP), each
// written to its own file with the fields rsyslog parsed out of every message; it can be restarted on the same ports.
import Foundation
import Glibc
import TestSupport

public struct DoubleFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// rsyslogd in the foreground, unprivileged, with one input per transport, each written to its own file with the
/// fields rsyslog parsed out of the message.
public final class Rsyslog {
    public let directory: String
    public let udpPort: UInt16, tcpPort: UInt16, tlsPort: UInt16
    /// imrelp, plain and over TLS (the test CA's server certificate, clients not asked for one).
    public let relpPort: UInt16, relpTLSPort: UInt16
    private let rsyslogd: String
    private var process: Process
    /// How many times `restart()` started a new rsyslogd.
    public private(set) var restarts = 0
    public var caPath: String { directory + "/ca.pem" }
    /// A client certificate signed by the test CA (imrelp over TLS asks clients for one).
    public var clientCertPath: String { directory + "/client.pem" }
    public var clientKeyPath: String { directory + "/client.key" }

    public init() throws {
        guard let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DoubleFailure("rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (the syslog tests need the real receiver)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")
                || FileManager.default.fileExists(atPath: "/usr/lib/rsyslog/lmnsd_gtls.so") else {
            throw DoubleFailure("rsyslog's TLS driver is missing: apt-get install rsyslog-gnutls")
        }
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so")
                || FileManager.default.fileExists(atPath: "/usr/lib/rsyslog/imrelp.so") else {
            throw DoubleFailure("rsyslog's RELP input is missing: apt-get install rsyslog-relp")
        }
        self.rsyslogd = rsyslogd
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-rsyslog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o777)
        let d = directory
        try Rsyslog.shell("""
            set -e; cd '\(d)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=apitap syslog test CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=apitap-client' 2>/dev/null
            printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.cnf
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.cnf 2>/dev/null
            chmod 644 server.key ca.pem server.pem client.pem client.key
            """)
        udpPort = freeLoopbackPort(datagram: true)
        tcpPort = freeLoopbackPort(datagram: false)
        tlsPort = freeLoopbackPort(datagram: false)
        relpPort = freeLoopbackPort(datagram: false)
        relpTLSPort = freeLoopbackPort(datagram: false)
        // A long shutdown timeout: what imrelp acknowledged must reach the file when rsyslogd is stopped (SIGTERM)
        // mid-export, as it does on a receiver configured for RELP (the default drops the queue after 1.5 s).
        let config = """
            global(workDirectory="\(d)" maxMessageSize="256k"
                   DefaultNetstreamDriverCAFile="\(d)/ca.pem" DefaultNetstreamDriverCertFile="\(d)/server.pem"
                   DefaultNetstreamDriverKeyFile="\(d)/server.key")
            module(load="imudp")
            module(load="imtcp" MaxSessions="50")
            module(load="imrelp")
            main_queue(queue.timeoutShutdown="20000")
            template(name="fields" type="string" string="%protocol-version%|%app-name%|%msgid%|%pri%|%structured-data%|%msg%\\n")
            ruleset(name="udp") { action(type="omfile" file="\(d)/udp.log" template="fields") }
            ruleset(name="tcp") { action(type="omfile" file="\(d)/tcp.log" template="fields") }
            ruleset(name="tls") { action(type="omfile" file="\(d)/tls.log" template="fields") }
            ruleset(name="relp") { action(type="omfile" file="\(d)/relp.log" template="fields") }
            ruleset(name="relptls") { action(type="omfile" file="\(d)/relptls.log" template="fields") }
            input(type="imudp" address="127.0.0.1" port="\(udpPort)" ruleset="udp")
            input(type="imtcp" address="127.0.0.1" port="\(tcpPort)" ruleset="tcp")
            input(type="imtcp" address="127.0.0.1" port="\(tlsPort)" ruleset="tls"
                  StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
            input(type="imrelp" address="127.0.0.1" port="\(relpPort)" ruleset="relp" maxDataSize="256k")
            input(type="imrelp" address="127.0.0.1" port="\(relpTLSPort)" ruleset="relptls" maxDataSize="256k"
                  tls="on" tls.caCert="\(d)/ca.pem" tls.myCert="\(d)/server.pem" tls.myPrivKey="\(d)/server.key"
                  tls.authMode="certvalid")
            """
        try config.write(toFile: d + "/rsyslog.conf", atomically: true, encoding: .utf8)
        chmod(d + "/rsyslog.conf", 0o644)
        process = try Rsyslog.launch(rsyslogd, directory: d)
        try waitUntilReady()
    }

    private static func launch(_ rsyslogd: String, directory d: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", rsyslogd, "-n", "-f", d + "/rsyslog.conf", "-i", d + "/rsyslogd.pid"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        FileManager.default.createFile(atPath: d + "/rsyslogd.err", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: d + "/rsyslogd.err")
        try process.run()
        return process
    }

    /// Ready when every TCP input (RELP included) accepts connections.
    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning {
                let err = (try? String(contentsOfFile: directory + "/rsyslogd.err", encoding: .utf8)) ?? ""
                throw DoubleFailure("rsyslogd exited with \(process.terminationStatus): \(err.prefix(1000))")
            }
            if canConnect(tcpPort) && canConnect(tlsPort) && canConnect(relpPort) && canConnect(relpTLSPort) { return }
            usleep(50_000)
        }
        stop()
        throw DoubleFailure("rsyslogd did not open its inputs within 10 s")
    }

    /// Stops rsyslogd (SIGTERM: it writes out what it acknowledged) and starts a new one with the same
    /// configuration, ports and output files; returns once the new one accepts connections.
    public func restart() throws {
        stop(graceSeconds: 20)
        process = try Rsyslog.launch(rsyslogd, directory: directory)
        restarts += 1
        try waitUntilReady()
    }

    public func stop(graceSeconds: Int = 1) {
        guard process.isRunning else { return }
        // Process.waitUntilExit can hang when called from a concurrency thread: poll, then insist.
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<(graceSeconds * 20) where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL); for _ in 0..<40 where process.isRunning { usleep(50_000) } }
    }

    deinit { stop() }

    /// The lines of one input's file once there are `count` of them (or whatever arrived within the timeout).
    public func lines(_ name: String, count: Int, timeout: TimeInterval = 10) async throws -> [String] {
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

    /// How many lines one input's file holds now (counted without decoding them).
    public func lineCount(_ name: String) -> Int {
        let fd = open(directory + "/\(name).log", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var lines = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return lines }
            for i in 0..<n where buffer[i] == 0x0A { lines += 1 }
        }
    }

    public static func shell(_ script: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw DoubleFailure("shell step failed: \(script.prefix(200))") }
    }
}
