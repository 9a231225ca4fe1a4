// One request's state inside libcurl: the configured easy handle, the body it sends, the response it collects.
import CCurl
import Core
import Glibc

/// Called once per process before any handle exists (libcurl's rule: not thread safe).
enum CurlGlobal {
    static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}

/// Collects one response. Lives only on the thread that drives its easy handle.
final class CurlTransfer: @unchecked Sendable {
    let url: String
    private var requestBody: UnsafeMutableRawBufferPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private(set) var status = 0
    private(set) var headers: [HTTPHeader] = []
    private(set) var body: [UInt8] = []
    private var inflater: GzipDecompressor?
    private(set) var decodeError: GzipError?
    let maxBodyBytes: Int

    init(url: String, maxBodyBytes: Int) {
        self.url = url
        self.maxBodyBytes = maxBodyBytes
    }

    deinit {
        requestBody?.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
    }

    /// Applies the request to a (possibly reused) easy handle. Everything a previous request set is reset first.
    func configure(_ handle: UnsafeMutableRawPointer, _ request: HTTPRequest, caBundle: String?, forLoopback: Bool) throws {
        curl_easy_reset(handle)
        var body = request.body
        var headers = request.headers
        if request.gzipBody && !body.isEmpty {
            do { body = try GzipCompressor.compress(body) } catch {
                throw HTTPError(kind: .invalidRequest, url: url, message: "gzip of the request body failed: \(error)")
            }
            headers.removeAll { $0.name.lowercased() == "content-encoding" }
            headers.append(HTTPHeader("Content-Encoding", "gzip"))
        }
        // libcurl would otherwise wait for a 100-continue on large POSTs.
        headers.append(HTTPHeader("Expect", ""))
        for h in headers {
            let line = h.value.isEmpty ? "\(h.name):" : "\(h.name): \(h.value)"
            headerList = curl_slist_append(headerList, line)
        }

        var rc = CURLE_OK
        func check(_ code: CURLcode) { if rc == CURLE_OK { rc = code } }
        check(apitap_easy_setopt_string(handle, CURLOPT_URL, request.url))
        check(apitap_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        check(apitap_easy_setopt_long(handle, CURLOPT_TCP_NODELAY, 1))
        check(apitap_easy_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
        check(apitap_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        check(apitap_easy_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
        check(apitap_easy_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS)))
        check(apitap_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        check(apitap_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        if let caBundle { check(apitap_easy_setopt_string(handle, CURLOPT_CAINFO, caBundle)) }
        if forLoopback { check(apitap_easy_setopt_string(handle, CURLOPT_NOPROXY, "*")) }
        check(apitap_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds)))
        check(apitap_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeout.map { Int($0.milliseconds) } ?? 0))
        check(apitap_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        switch request.method {
        case .GET: check(apitap_easy_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case .HEAD: check(apitap_easy_setopt_long(handle, CURLOPT_NOBODY, 1))
        default:
            if request.method != .POST { check(apitap_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue)) }
            // The body must outlive the transfer: keep our own copy at a fixed address.
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(body.count, 1), alignment: 1)
            body.withUnsafeBytes { copy.copyMemory(from: $0) }
            requestBody = copy
            check(apitap_easy_setopt_long(handle, CURLOPT_POST, 1))
            check(apitap_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, copy.baseAddress))
            check(apitap_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, Int64(body.count)))
        }

        let me = Unmanaged.passUnretained(self).toOpaque()
        check(apitap_easy_setopt_write_callback(handle, curlWrite, me))
        check(apitap_easy_setopt_header_callback(handle, curlHeader, me))
        guard rc == CURLE_OK else {
            throw HTTPError(kind: .invalidRequest, url: url, message: "libcurl rejected an option: \(String(cString: curl_easy_strerror(rc)))")
        }
    }

    fileprivate func receiveHeader(_ line: UnsafeRawBufferPointer) {
        var text = String(decoding: line, as: UTF8.self)
        while let last = text.last, last.isNewline { text.removeLast() }
        if text.hasPrefix("HTTP/") {
            // A new status line (after a 100 Continue, for instance) starts a new header block.
            headers.removeAll()
            let parts = text.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = String(text[..<colon])
        let value = String(text[text.index(after: colon)...]).trimmingSpaces()
        headers.append(HTTPHeader(name, value))
        if name.lowercased() == "content-encoding", value.lowercased().contains("gzip"), inflater == nil {
            inflater = try? GzipDecompressor(limit: maxBodyBytes)
        }
    }

    /// Returns false to make libcurl abort the transfer.
    fileprivate func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if let inflater {
            do { try inflater.append(chunk) } catch let e as GzipError { decodeError = e; return false } catch { return false }
            return true
        }
        guard body.count + chunk.count <= maxBodyBytes else {
            decodeError = GzipError(code: 0, message: "response body exceeds \(maxBodyBytes) bytes")
            return false
        }
        body.append(contentsOf: chunk)
        return true
    }

    /// Turns libcurl's outcome into a response or a typed error.
    func finish(_ code: CURLcode) -> Result<HTTPResponse, HTTPError> {
        if let decodeError {
            return .failure(HTTPError(kind: .decode, url: url, status: status, message: decodeError.message))
        }
        guard code == CURLE_OK else {
            let message = String(cString: curl_easy_strerror(code))
            let kind: HTTPError.Kind
            switch code {
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .connect
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
                 CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR:
                kind = .tls
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: kind = .invalidRequest
            default: kind = .transport
            }
            return .failure(HTTPError(kind: kind, url: url, status: status == 0 ? nil : status, message: message))
        }
        if let inflater {
            do { body = try inflater.finish() } catch {
                return .failure(HTTPError(kind: .decode, url: url, status: status, message: "\(error)"))
            }
            headers.removeAll { $0.name.lowercased() == "content-encoding" }
        }
        return .success(HTTPResponse(status: status, headers: headers, body: body))
    }
}

private func curlWrite(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let user else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    return transfer.receiveBody(UnsafeRawBufferPointer(start: ptr, count: n)) ? n : 0
}

private func curlHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let user else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    transfer.receiveHeader(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}


extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
