// A real rsyslogd on loopback for the syslog sink's tests and benchmarks: started unprivileged in the foreground,
// one input per transport (UDP, TCP with octet counting, TLS with a generated test CA), each written to its own file
// with the fields rsyslog parsed out of every message.
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
    let process: Process
    public var caPath: String { directory + "/ca.pem" }

    public init() throws {
        guard let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DoubleFailure("rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (the syslog tests need the real receiver)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")
                || FileManager.default.fileExists(atPath: "/usr/lib/rsyslog/lmnsd_gtls.so") else {
            throw DoubleFailure("rsyslog's TLS driver is missing: apt-get install rsyslog-gnutls")
        }
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
                throw DoubleFailure("rsyslogd exited with \(process.terminationStatus): \(err.prefix(1000))")
            }
            if canConnect(tcpPort) && canConnect(tlsPort) { return }
            usleep(50_000)
        }
        stop()
        throw DoubleFailure("rsyslogd did not open its inputs within 10 s")
    }

    public func stop() {
        guard process.isRunning else { return }
        // Process.waitUntilExit can hang when called from a concurrency thread: poll, then insist.
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<20 where process.isRunning { usleep(50_000) }
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
