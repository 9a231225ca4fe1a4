// A small blocking HTTP/1.1 server on 127.0.0.1: the in-process Runtime API of `apitap invoke`, and test fakes.
import Core
import Glibc
import Synchronization

public struct ServerRequest: Sendable {
    public var method: String
    /// Path and query as sent (`/2018-06-01/runtime/invocation/next`).
    public var target: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
    public var path: String { target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target }
}

public struct ServerResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    /// Close the connection without answering (simulates a reset for tests).
    public var drop: Bool = false

    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
    public init(status: Int, headers: [HTTPHeader] = [], text: String) {
        self.init(status: status, headers: headers, body: Array(text.utf8))
    }
    public static var dropConnection: ServerResponse { var r = ServerResponse(status: 0); r.drop = true; return r }
}

/// Serves each connection on its own thread; handlers may block (a long-polled `/next` does).
public final class LoopbackServer: Sendable {
    public typealias Handler = @Sendable (ServerRequest) -> ServerResponse
    public let port: UInt16
    private let listener: Int32
    private let state: Mutex<(stopped: Bool, connections: Set<Int32>)>
    private let handler: Handler

    public init(port: UInt16 = 0, handler: @escaping Handler) throws(HTTPError) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPError(kind: .connect, url: "http://127.0.0.1", message: "socket: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let e = errno
            close(fd)
            throw HTTPError(kind: .connect, url: "http://127.0.0.1:\(port)", message: "bind/listen: errno \(e)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.listener = fd
        self.state = Mutex((stopped: false, connections: []))
        self.handler = handler
        let me = self
        try spawnThread { me.acceptLoop() }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting and closes open connections; blocked handlers finish on their own.
    public func stop() {
        let open = state.withLock { s -> Set<Int32> in
            if s.stopped { return [] }
            s.stopped = true
            return s.connections
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let accepted = state.withLock { s -> Bool in
                if s.stopped { return false }
                s.connections.insert(fd)
                return true
            }
            guard accepted else { close(fd); return }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let me = self
            do { try spawnThread { me.serve(fd) } } catch { close(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            state.withLock { _ = $0.connections.remove(fd) }
            close(fd)
        }
        var reader = SocketReader(fd: fd)
        while let request = reader.readRequest() {
            let response = handler(request)
            if response.drop { shutdown(fd, Int32(SHUT_RDWR)); return }
            let closeAfter = request.header("Connection")?.lowercased() == "close"
            guard write(response, to: fd, close: closeAfter), !closeAfter else { return }
        }
    }

    private func write(_ response: ServerResponse, to fd: Int32, close: Bool) -> Bool {
        var head = "HTTP/1.1 \(response.status) \(LoopbackServer.reason(response.status))\r\n"
        for h in response.headers where h.name.lowercased() != "content-length" { head += "\(h.name): \(h.value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\n"
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: response.body)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { if errno == EINTR { continue }; return false }
            offset += n
        }
        return true
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 412: return "Precondition Failed"
        case 413: return "Payload Too Large"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status"
        }
    }
}

/// Reads HTTP/1.1 requests (Content-Length or chunked bodies) from a connected socket.
struct SocketReader {
    let fd: Int32
    var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    private mutating func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer.append(contentsOf: chunk[0..<n]); return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    private mutating func readLine() -> String? {
        while true {
            if let i = indexOfCRLF() {
                let line = String(decoding: buffer[0..<i], as: UTF8.self)
                buffer.removeFirst(i + 2)
                return line
            }
            guard buffer.count < 1_048_576, fill() else { return nil }
        }
    }

    private func indexOfCRLF() -> Int? {
        guard buffer.count >= 2 else { return nil }
        for i in 0..<(buffer.count - 1) where buffer[i] == 13 && buffer[i + 1] == 10 { return i }
        return nil
    }

    private mutating func readBytes(_ count: Int) -> [UInt8]? {
        while buffer.count < count { guard fill() else { return nil } }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    mutating func readRequest() -> ServerRequest? {
        guard let requestLine = readLine() else { return nil }
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3 else { return nil }
        var headers: [HTTPHeader] = []
        while let line = readLine() {
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append(HTTPHeader(String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        let request = ServerRequest(method: String(parts[0]), target: String(parts[1]), headers: headers, body: [])
        var body: [UInt8] = []
        if request.header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            while true {
                guard let sizeLine = readLine(), let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { return nil }
                if size == 0 {
                    while let trailer = readLine(), !trailer.isEmpty {}
                    break
                }
                guard let chunk = readBytes(size), readLine() != nil else { return nil }
                body.append(contentsOf: chunk)
            }
        } else if let length = request.header("Content-Length").flatMap({ Int($0) }), length > 0 {
            guard let b = readBytes(length) else { return nil }
            body = b
        }
        return ServerRequest(method: request.method, target: request.target, headers: headers, body: body)
    }
}

/// Runs a closure on a new detached thread.
public func spawnThread(_ body: @escaping @Sendable () -> Void) throws(HTTPError) {
    guard OSThread.detached(body) else { throw HTTPError(kind: .invalidRequest, url: "", message: "pthread_create failed") }
}
