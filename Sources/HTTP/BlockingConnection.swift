// One reused easy handle driven synchronously: for the Lambda Runtime API, where every call is sequential.
import CCurl

/// Keeps one connection open across calls (libcurl's per-handle connection cache). Not thread safe: one owner.
public final class BlockingConnection {
    private let handle: UnsafeMutableRawPointer
    private let caBundle: String?
    private let loopback: Bool
    private let maxBodyBytes: Int

    /// `loopback` disables any proxy, as the Runtime API must never go through one.
    public init(caBundle: String? = nil, loopback: Bool = false, maxBodyBytes: Int = 64 * 1024 * 1024) throws(HTTPError) {
        guard CurlGlobal.initialised, let h = curl_easy_init() else {
            throw HTTPError(kind: .invalidRequest, url: "", message: "libcurl could not be initialised")
        }
        handle = h
        self.caBundle = caBundle
        self.loopback = loopback
        self.maxBodyBytes = maxBodyBytes
    }

    deinit { curl_easy_cleanup(handle) }

    /// Performs the request; a non-2xx status is returned, not thrown (callers decide what it means).
    public func perform(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let transfer = CurlTransfer(url: request.url, maxBodyBytes: maxBodyBytes)
        do { try transfer.configure(handle, request, caBundle: caBundle, forLoopback: loopback) }
        catch let e as HTTPError { throw e }
        catch { throw HTTPError(kind: .invalidRequest, url: request.url, message: "\(error)") }
        let code = curl_easy_perform(handle)
        switch transfer.finish(code) {
        case .success(let response): return response
        case .failure(let error): throw error
        }
    }
}
