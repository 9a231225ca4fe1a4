// A verified TLS byte stream over libcurl, for protocols that are not HTTP (syslog over TLS, RFC 5425).
import CCurl
import Core
import Glibc

/// Why a TLS stream could not be opened or written.
public struct TLSStreamError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `CONNECT_ONLY` makes libcurl do the TCP connection and a verified TLS handshake (peer certificate and host name,
/// against `caFile` or the system store), then `curl_easy_send` writes raw bytes over it. Not thread safe: one owner.
public final class TLSStream {
    private var easy: UnsafeMutableRawPointer?
    /// False once a write failed or the stream was closed.
    public private(set) var isOpen = false

    public init(host: String, port: UInt16, caFile: String?, timeoutMs: Int64 = 10_000) throws(TLSStreamError) {
        guard CurlGlobal.initialised, let e = curl_easy_init() else { throw TLSStreamError("libcurl could not be initialised") }
        easy = e
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var rc = CURLE_OK
        func check(_ code: CURLcode) { if rc == CURLE_OK { rc = code } }
        check(apitap_easy_setopt_string(e, CURLOPT_URL, "https://\(hostPart):\(port)/"))
        check(apitap_easy_setopt_long(e, CURLOPT_CONNECT_ONLY, 1))
        check(apitap_easy_setopt_long(e, CURLOPT_NOSIGNAL, 1))
        check(apitap_easy_setopt_long(e, CURLOPT_TCP_NODELAY, 1))
        check(apitap_easy_setopt_long(e, CURLOPT_TCP_KEEPALIVE, 1))
        check(apitap_easy_setopt_long(e, CURLOPT_SSL_VERIFYPEER, 1))
        check(apitap_easy_setopt_long(e, CURLOPT_SSL_VERIFYHOST, 2))
        check(apitap_easy_setopt_string(e, CURLOPT_NOPROXY, "*"))
        check(apitap_easy_setopt_long(e, CURLOPT_CONNECTTIMEOUT_MS, Int(timeoutMs)))
        if let caFile { check(apitap_easy_setopt_string(e, CURLOPT_CAINFO, caFile)) }
        guard rc == CURLE_OK else {
            close()
            throw TLSStreamError("TLS setup failed: \(String(cString: curl_easy_strerror(rc)))")
        }
        let performed = curl_easy_perform(e)
        guard performed == CURLE_OK else {
            close()
            throw TLSStreamError("TLS connection to \(host):\(port) failed: \(String(cString: curl_easy_strerror(performed)))")
        }
        isOpen = true
    }

    /// Writes every byte before `deadline`; a failure closes the stream for good.
    public func write(_ bytes: [UInt8], deadline: Deadline) throws(TLSStreamError) {
        guard let easy, isOpen else { throw TLSStreamError("the TLS connection is closed") }
        var offset = 0
        while offset < bytes.count {
            if deadline.hasPassed() { isOpen = false; throw TLSStreamError("deadline reached while writing") }
            var sent = 0
            let rc = bytes.withUnsafeBytes { curl_easy_send(easy, $0.baseAddress! + offset, $0.count - offset, &sent) }
            if rc == CURLE_AGAIN { usleep(1_000); continue }
            guard rc == CURLE_OK else {
                isOpen = false
                throw TLSStreamError("TLS write failed: \(String(cString: curl_easy_strerror(rc)))")
            }
            offset += sent
        }
    }

    public func close() {
        if let easy { curl_easy_cleanup(easy) }
        easy = nil
        isOpen = false
    }

    deinit { close() }
}
