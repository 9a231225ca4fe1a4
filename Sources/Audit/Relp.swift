// The RELP sink (rsyslog's imrelp): each record a RELP "syslog" frame; a page is delivered only when the receiver
// answered every frame of it with 200 (librelp through the CRelp shim, on a thread of its own).
import CRelp
import Glibc
import HTTP
import Core

/// A RELP failure for the operator: the receiver, librelp's code and what librelp said (never a secret: RELP carries
/// none, and the CA file path is not one).
public struct RelpError: Error, Sendable, CustomStringConvertible {
    /// `host:port` of the receiver.
    public let endpoint: String
    /// librelp's code (10000 + n, see `librelp.h`), or the shim's: -1 librelp not loadable, -2 out of memory.
    public let code: Int32
    public let message: String

    public var description: String {
        let known = RelpError.names[code].map { " \($0)" } ?? ""
        return "RELP \(endpoint): \(message) (librelp code \(code)\(known))"
    }

    /// The codes an operator meets, by their `librelp.h` names.
    static let names: [Int32: String] = [
        -1: "NOT_LOADED", -2: "OUT_OF_MEMORY", 10007: "SESSION_BROKEN", 10014: "IO_ERR", 10015: "TIMED_OUT",
        10020: "RSP_STATE_ERR", 10023: "CMD_DISABLED", 10025: "INCOMPAT_OFFERS", 10026: "RQD_FEAT_MISSING",
        10031: "ERR_TLS_SETUP", 10034: "AUTH_ERR_NAME", 10035: "AUTH_NO_CERT", 10036: "AUTH_CERT_INVL",
        10039: "ERR_TLS_HANDS", 10040: "ERR_TLS",
    ]
}

/// TLS for a RELP session: the server's certificate must chain to `caFile` and carry `peerName` (librelp's "name"
/// mode: subjectAltName DNS names, else the common name). imrelp asks every TLS client for a certificate: the
/// client's own certificate and key (files; only their paths pass through here).
public struct RelpTLS: Sendable, Equatable {
    public var caFile: String?
    public var peerName: String
    public var certFile: String?
    public var keyFile: String?
    public init(caFile: String?, peerName: String, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.peerName = peerName
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

public enum RelpLibrary {
    /// Loads librelp once; nil when it loaded, else why not (reported at init when a RELP sink is configured).
    public static func loadProblem() -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        return apitap_relp_load(&buffer, buffer.count) == 0 ? nil : String(cString: buffer)
    }
}

/// One RELP session. Blocking: use it from a thread of its own, one owner at a time.
final class RelpConnection {
    let endpoint: String
    private var handle: OpaquePointer?

    init(host: String, port: UInt16, tls: RelpTLS?, timeoutSeconds: UInt32, window: Int32 = 512) throws(RelpError) {
        endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var code: Int32 = 0
        var buffer = [CChar](repeating: 0, count: 512)
        let h = apitap_relp_open(host, String(port), tls == nil ? 0 : 1, tls?.caFile, tls?.peerName,
                                 tls?.certFile, tls?.keyFile, timeoutSeconds, window,
                                 &code, &buffer, buffer.count)
        guard let h else {
            throw RelpError(endpoint: endpoint, code: code, message: "cannot open a session: " + String(cString: buffer))
        }
        handle = h
    }

    /// Returns once librelp has written the frame; the answer is read later (by later sends, or by `close`).
    func send(_ message: [UInt8]) throws(RelpError) {
        guard let handle else { throw RelpError(endpoint: endpoint, code: 10007, message: "the session is closed") }
        let rc = message.withUnsafeBufferPointer { apitap_relp_send(handle, $0.baseAddress, $0.count) }
        guard rc == 0 else {
            var buffer = [CChar](repeating: 0, count: 512)
            let first = apitap_relp_first_error(handle, &buffer, buffer.count)
            abort()
            throw RelpError(endpoint: endpoint, code: first != 0 ? first : rc,
                            message: first != 0 ? String(cString: buffer) : "sending a frame failed")
        }
    }

    /// The acknowledgement point: RELP "close" and its answer, which the receiver sends only after the answers to
    /// every frame before it; throws if any frame was refused or the session failed at any point.
    func close() throws(RelpError) {
        guard let handle else { throw RelpError(endpoint: endpoint, code: 10007, message: "the session is closed") }
        self.handle = nil
        var buffer = [CChar](repeating: 0, count: 512)
        let rc = apitap_relp_close(handle, &buffer, buffer.count)
        guard rc == 0 else { throw RelpError(endpoint: endpoint, code: rc, message: String(cString: buffer)) }
    }

    func abort() {
        if let handle { apitap_relp_abort(handle) }
        handle = nil
    }

    deinit { abort() }
}

/// `syslog+relp://host:port` and `syslog+relp+tls://host:port`. Each page is one RELP session: open, one frame per
/// record, close. The close is answered only after every frame was answered, so a page that closed cleanly was
/// answered 200 frame by frame. A page that failed is sent again whole on a new session (after 0.25 s, 1 s and 2 s,
/// within the deadline); records the receiver already had arrive twice, with the same key.
public actor RelpSink: AuditSink {
    public nonisolated let name: String
    private let host: String
    private let port: UInt16
    private let tls: RelpTLS?
    private let formatter: SyslogFormatter
    private let retryDelays: [Duration]
    /// Sessions opened again after a failed one (for tests and the summary's curious reader).
    public private(set) var retries = 0

    public init(host: String, port: UInt16, tls: RelpTLS?, formatter: SyslogFormatter,
                retryDelays: [Duration] = [.milliseconds(250), .seconds(1), .seconds(2)]) {
        self.host = host
        self.port = port
        self.tls = tls
        self.formatter = formatter
        self.retryDelays = retryDelays
        name = SinkTarget.relp(host: host, port: port, tls: tls != nil).description
    }

    public func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        guard !records.isEmpty else { return result }
        let started = EpochMillis.now()
        let messages = records.map { formatter.format($0, exportedAt: exportedAt) }
        for attempt in 0...retryDelays.count {
            if attempt > 0 {
                let pause = retryDelays[attempt - 1]
                guard deadline.remaining() > pause + .seconds(1) else { break }
                try? await Task.sleep(for: pause)
                retries += 1
            }
            let (host, port, tls) = (self.host, self.port, self.tls)
            // Bounded by what is left of the deadline: librelp counts whole seconds.
            let timeout = UInt32(max(1, min(30, deadline.remainingMilliseconds() / 1000)))
            let outcome = await RelpSink.onOwnThread {
                RelpSink.sendPage(messages, host: host, port: port, tls: tls, timeoutSeconds: timeout)
            }
            switch outcome {
            case .success(let n):
                result.delivered = n
                result.error = nil
                result.latencyMs = EpochMillis.now().value - started.value
                return result
            case .failure(let error):
                result.error = "\(name): \(error.description)" + (attempt > 0 ? " (attempt \(attempt + 1))" : "")
            }
            if deadline.hasPassed() { break }
        }
        result.latencyMs = EpochMillis.now().value - started.value
        return result
    }

    /// One session for one page: every frame sent, then the close that proves they were all answered.
    static func sendPage(_ messages: [[UInt8]], host: String, port: UInt16, tls: RelpTLS?,
                         timeoutSeconds: UInt32) -> Result<Int, RelpError> {
        do throws(RelpError) {
            let connection = try RelpConnection(host: host, port: port, tls: tls, timeoutSeconds: timeoutSeconds)
            for m in messages { try connection.send(m) }
            try connection.close()
            return .success(messages.count)
        } catch {
            return .failure(error)
        }
    }

    /// librelp blocks (connect, full window, waiting for answers): never on the cooperative pool. A thread per page
    /// costs tens of microseconds against a page's round trips.
    static func onOwnThread(_ body: @escaping @Sendable () -> Result<Int, RelpError>) async -> Result<Int, RelpError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<Int, RelpError>, Never>) in
            do {
                try spawnThread {
                    apitap_relp_block_sigpipe()
                    let r = body()
                    apitap_relp_drain_sigpipe()
                    continuation.resume(returning: r)
                }
            } catch {
                continuation.resume(returning: .failure(RelpError(endpoint: "-", code: -2, message: "no thread: \(error)")))
            }
        }
    }
}
