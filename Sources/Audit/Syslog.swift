// RFC 5424 messages, and the three ways to carry them: UDP (RFC 5426), TCP and TLS (RFC 6587/5425 octet counting).
import Glibc
import HTTP
import Core

/// Formats one record as an RFC 5424 message (without framing).
public struct SyslogFormatter: Sendable {
    public var facility: Int
    /// HOSTNAME: the control plane the entries came from.
    public var hostname: String
    public static let appName = "apitap"
    /// SD-ID with the documentation enterprise number (RFC 5612); the parameters are the record's key and organization.
    public static let sdID = "anypointAudit@32473"

    public init(facility: Int = 13, hostname: String) {
        self.facility = facility
        self.hostname = SyslogFormatter.header(hostname, max: 255)
    }

    public func format(_ record: ExportRecord, exportedAt: EpochMillis) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(record.json.count + 200)
        let pri = facility * 8 + record.severity.rawValue
        out += Array("<\(pri)>1 ".utf8)
        out += Array(record.filingTime(exportedAt: exportedAt).iso8601.utf8)
        out.append(0x20)
        out += Array(hostname.utf8)
        out.append(0x20)
        out += Array(SyslogFormatter.appName.utf8)
        out += Array(" - ".utf8)
        out += Array(SyslogFormatter.header(record.msgID, max: 32).utf8)
        out += Array(" [\(SyslogFormatter.sdID) key=\"".utf8)
        SyslogFormatter.appendParam(record.key, to: &out)
        out += Array("\" org=\"".utf8)
        SyslogFormatter.appendParam(record.organizationID, to: &out)
        out += Array("\" kind=\"\(record.kind.rawValue)\"] ".utf8)
        out += record.json
        return out
    }

    /// Header fields are printable US-ASCII without spaces, bounded, and `-` when empty.
    static func header(_ s: String, max: Int) -> String {
        var out = ""
        for b in s.utf8.prefix(max) { out.unicodeScalars.append(b > 32 && b < 127 ? Unicode.Scalar(b) : "_") }
        return out.isEmpty ? "-" : out
    }

    /// PARAM-VALUE escapes `"`, `\` and `]`.
    static func appendParam(_ s: String, to out: inout [UInt8]) {
        for b in s.utf8 {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "]") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
    }
}

public struct SyslogTransportError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// A connection that can send framed messages; reopened by the sink when it breaks.
protocol SyslogConnection: AnyObject {
    func send(_ messages: [[UInt8]], deadline: Deadline) throws(SyslogTransportError) -> Int
    func close()
    /// False once the peer closed or the connection failed.
    var isHealthy: Bool { get }
}

/// Resolves and connects a socket (UDP: connected, so errors surface on send).
func connectSocket(host: String, port: UInt16, datagram: Bool, timeoutMs: Int64) throws(SyslogTransportError) -> Int32 {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = datagram ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let first = list else {
        throw SyslogTransportError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
    }
    defer { freeaddrinfo(list) }
    var lastError = "no address"
    var ai: UnsafeMutablePointer<addrinfo>? = first
    while let a = ai {
        let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
        if fd >= 0 {
            var tv = timeval(tv_sec: Int(timeoutMs / 1000), tv_usec: Int((timeoutMs % 1000) * 1000))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if !datagram {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
            lastError = String(cString: strerror(errno))
            Glibc.close(fd)
        }
        ai = a.pointee.ai_next
    }
    throw SyslogTransportError("cannot connect to \(host):\(port): \(lastError)")
}

final class UDPConnection: SyslogConnection {
    private var fd: Int32
    /// RFC 5426: one message per datagram; the largest an IPv4 UDP datagram carries.
    static let maxDatagram = 65_507

    init(host: String, port: UInt16) throws(SyslogTransportError) {
        fd = try connectSocket(host: host, port: port, datagram: true, timeoutMs: 5_000)
    }

    var isHealthy: Bool { fd >= 0 }

    func send(_ messages: [[UInt8]], deadline: Deadline) throws(SyslogTransportError) -> Int {
        var sent = 0
        for m in messages {
            let n = m.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, Self.maxDatagram), 0) }
            guard n >= 0 else {
                // A previous datagram's ICMP "port unreachable" surfaces here as ECONNREFUSED.
                throw SyslogTransportError("UDP send failed after \(sent) message(s): \(String(cString: strerror(errno)))")
            }
            sent += 1
        }
        return sent
    }

    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
    deinit { close() }
}

final class TCPConnection: SyslogConnection {
    private var fd: Int32

    init(host: String, port: UInt16) throws(SyslogTransportError) {
        fd = try connectSocket(host: host, port: port, datagram: false, timeoutMs: 10_000)
    }

    /// A receiver that closed the connection shows it as a readable socket with nothing to read.
    var isHealthy: Bool {
        guard fd >= 0 else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return true }
        if p.revents & Int16(POLLERR | POLLHUP) != 0 { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    }

    func send(_ messages: [[UInt8]], deadline: Deadline) throws(SyslogTransportError) -> Int {
        var buffer: [UInt8] = []
        var sent = 0
        for m in messages {
            buffer += Array("\(m.count) ".utf8)
            buffer += m
        }
        var offset = 0
        while offset < buffer.count {
            if deadline.hasPassed() { throw SyslogTransportError("deadline reached while writing") }
            let n = buffer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw SyslogTransportError("TCP write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        sent = messages.count
        guard isHealthy else { throw SyslogTransportError("the receiver closed the connection") }
        return sent
    }

    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
    deinit { close() }
}

/// Octet-counted syslog frames (RFC 5425) over `HTTP.TLSStream`, the verified TLS stream over libcurl.
final class TLSConnection: SyslogConnection {
    private let stream: TLSStream

    init(host: String, port: UInt16, caFile: String?, timeoutMs: Int64 = 10_000) throws(SyslogTransportError) {
        do { stream = try TLSStream(host: host, port: port, caFile: caFile, timeoutMs: timeoutMs) }
        catch { throw SyslogTransportError(error.description) }
    }

    var isHealthy: Bool { stream.isOpen }

    func send(_ messages: [[UInt8]], deadline: Deadline) throws(SyslogTransportError) -> Int {
        var buffer: [UInt8] = []
        for m in messages {
            buffer += Array("\(m.count) ".utf8)
            buffer += m
        }
        do { try stream.write(buffer, deadline: deadline) } catch { throw SyslogTransportError(error.description) }
        return messages.count
    }

    func close() { stream.close() }
}
