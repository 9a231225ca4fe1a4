// The asynchronous HTTP client: many transfers in flight over one curl multi handle, driven by one thread.
import CCurl
import Glibc
import Core
import Synchronization

/// Send requests concurrently from async code. Connections are reused across requests (the multi handle's
/// connection cache); TLS verification is always on, against the CA bundle chosen by `CABundle`.
public final class HTTPClient: Sendable {
    private let engine: MultiEngine
    /// At DEBUG, each request: method, scheme, host and path (never the query, headers or body), status or error, time.
    private let logger: Logger?

    /// The handlers build theirs with `configured(environment:logger:)`; this default (the process environment's CA
    /// bundle) serves tests and tools.
    public init(caBundle: String? = CABundle.resolve(environment: ProcessEnvironment.current),
                maxConnectionsPerHost: Int = 8, maxBodyBytes: Int = 64 * 1024 * 1024, logger: Logger? = nil) throws(HTTPError) {
        engine = try MultiEngine(caBundle: caBundle, maxConnectionsPerHost: maxConnectionsPerHost, maxBodyBytes: maxBodyBytes)
        self.logger = logger.flatMap { $0.isEnabled(.debug) ? $0 : nil }
    }

    /// The client a handler runs on, with the CA bundle its settings name (`SSL_CERT_FILE`, else the system's or the
    /// package's); a client that cannot start is a configuration problem like any other.
    public static func configured(environment: [String: String], logger: Logger? = nil) throws(ConfigurationProblems) -> HTTPClient {
        do { return try HTTPClient(caBundle: CABundle.resolve(environment: environment), logger: logger) } catch {
            throw ConfigurationProblems(["cannot start the HTTP client: \(error)"])
        }
    }

    /// One attempt. A non-2xx status is a response, not an error.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let started = logger == nil ? 0 : EpochMillis.now().value
        let result: Result<HTTPResponse, HTTPError> = await withCheckedContinuation { continuation in
            engine.submit(request, continuation)
        }
        if let logger {
            let target = request.url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
            var fields: [(String, LogValue)] = [("method", .string(request.method.rawValue)), ("url", .string(target)),
                                                ("ms", .int(EpochMillis.now().value - started))]
            switch result {
            case .success(let response): fields.append(("status", .int(Int64(response.status))))
            case .failure(let error): fields.append(("error", .string(error.description)))
            }
            logger.debug("http request", fields)
        }
        return try result.get()
    }

    /// Retries what is worth retrying (408, 429, 5xx, timeouts, resets) with full-jitter backoff, honouring
    /// `Retry-After`, and never sleeping past the deadline. Other statuses come back as they are.
    /// `onRetry` sees each failed attempt (for counting and logging).
    public func send(_ request: HTTPRequest, retry: RetryPolicy, deadline: Deadline,
                     onRetry: (@Sendable (HTTPError, Duration) -> Void)? = nil) async throws(HTTPError) -> HTTPResponse {
        var attempt = 0
        while true {
            var req = request
            // Keep each attempt inside the deadline.
            let left = deadline.remainingMilliseconds()
            if left <= 0 {
                throw HTTPError(kind: .timeout, url: request.url, message: "deadline reached before attempt \(attempt + 1)")
            }
            if let t = req.timeout { req.timeout = .milliseconds(min(t.milliseconds, left)) } else { req.timeout = .milliseconds(left) }

            let failure: HTTPError
            do {
                let response = try await send(req)
                if !RetryPolicy.isRetryableStatus(response.status) { return response }
                failure = HTTPError(kind: .status, url: request.url, status: response.status, body: response.body,
                                    message: "retryable status", response: response)
            } catch {
                guard error.isRetryable else { throw error }
                failure = error
            }
            attempt += 1
            guard attempt < retry.maxAttempts else { throw failure }
            let wait = retry.delay(attempt: attempt, retryAfter: failure.response?.header("Retry-After"))
            guard wait.milliseconds < deadline.remainingMilliseconds() - 50 else { throw failure }
            onRetry?(failure, wait)
            try? await Task.sleep(for: wait)
        }
    }
}

/// Exponential backoff with full jitter (a random wait in [0, min(cap, base·2^attempt)]), at least `Retry-After`.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var base: Duration
    public var cap: Duration

    public init(maxAttempts: Int = 6, base: Duration = .milliseconds(200), cap: Duration = .seconds(20)) {
        self.maxAttempts = maxAttempts
        self.base = base
        self.cap = cap
    }

    public static let none = RetryPolicy(maxAttempts: 1)

    public static func isRetryableStatus(_ status: Int) -> Bool { status == 408 || status == 429 || status >= 500 }

    public func delay(attempt: Int, retryAfter: String?, now: EpochMillis = .now()) -> Duration {
        let ceiling = min(cap.milliseconds, base.milliseconds << Int64(min(attempt, 20)))
        let jittered = Int64.random(in: 0...max(ceiling, 1))
        if let floor = RetryPolicy.retryAfterMilliseconds(retryAfter, now: now) {
            return .milliseconds(max(floor, jittered))
        }
        return .milliseconds(jittered)
    }

    /// `Retry-After` is either delay-seconds or an HTTP date.
    public static func retryAfterMilliseconds(_ value: String?, now: EpochMillis) -> Int64? {
        guard let value = value?.trimmingSpaces(), !value.isEmpty else { return nil }
        if let seconds = Int64(value) { return max(0, seconds) * 1000 }
        if let date = EpochMillis.parseHTTPDate(value) { return max(0, date.value - now.value) }
        return nil
    }
}

/// The process environment as a dictionary, read once at the edge.
public enum ProcessEnvironment {
    public static var current: [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { result[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return result
    }
}

// MARK: - the engine

private struct Submission: @unchecked Sendable {
    let request: HTTPRequest
    let continuation: CheckedContinuation<Result<HTTPResponse, HTTPError>, Never>
}

private final class MultiEngine: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let caBundle: String?
    private let maxBodyBytes: Int
    private let queue = Mutex<[Submission]>([])
    // Touched only by the engine thread.
    private var active: [UnsafeMutableRawPointer: (CurlTransfer, Submission)] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []

    init(caBundle: String?, maxConnectionsPerHost: Int, maxBodyBytes: Int) throws(HTTPError) {
        guard CurlGlobal.initialised, let m = curl_multi_init() else {
            throw HTTPError(kind: .invalidRequest, url: "", message: "libcurl multi handle could not be created")
        }
        multi = m
        self.caBundle = caBundle
        self.maxBodyBytes = maxBodyBytes
        _ = apitap_multi_setopt_long(m, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = apitap_multi_setopt_long(m, CURLMOPT_MAXCONNECTS, maxConnectionsPerHost * 4)
        // The engine lives as long as the process: its thread keeps a strong reference.
        let engine = self
        guard OSThread.detached({ engine.run() }) else {
            throw HTTPError(kind: .invalidRequest, url: "", message: "could not start the HTTP thread")
        }
    }

    func submit(_ request: HTTPRequest, _ continuation: CheckedContinuation<Result<HTTPResponse, HTTPError>, Never>) {
        queue.withLock { $0.append(Submission(request: request, continuation: continuation)) }
        curl_multi_wakeup(multi)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            let batch = queue.withLock { q -> [Submission] in let b = q; q.removeAll(); return b }
            for submission in batch { start(submission) }
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
                let code = msg.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                if let (transfer, submission) = active.removeValue(forKey: easy) {
                    submission.continuation.resume(returning: transfer.finish(code))
                }
                idleHandles.append(easy)
            }
            // curl shortens this wait to its own next timer; new submissions interrupt it via curl_multi_wakeup.
            curl_multi_poll(multi, nil, 0, 10_000, nil)
        }
    }

    private func start(_ submission: Submission) {
        guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
            submission.continuation.resume(returning: .failure(
                HTTPError(kind: .invalidRequest, url: submission.request.url, message: "curl_easy_init failed")))
            return
        }
        let transfer = CurlTransfer(url: submission.request.url, maxBodyBytes: maxBodyBytes)
        do {
            try transfer.configure(easy, submission.request, caBundle: caBundle, forLoopback: false)
        } catch {
            idleHandles.append(easy)
            let e = (error as? HTTPError) ?? HTTPError(kind: .invalidRequest, url: submission.request.url, message: "\(error)")
            submission.continuation.resume(returning: .failure(e))
            return
        }
        active[easy] = (transfer, submission)
        curl_multi_add_handle(multi, easy)
    }
}
