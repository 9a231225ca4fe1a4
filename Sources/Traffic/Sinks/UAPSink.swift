// Delivers transaction batches to UAP: bearer token, optional gzip, several in flight, retries inside the deadline.
import Glibc
import HTTP
import Core
import Pipeline

public struct UAPSinkSettings: Sendable {
    public var transactionsURL: String
    /// nil when `UAP_AUTH_ENABLED=false`: no Authorization header is sent.
    public var tokens: ClientCredentialsTokenProvider?
    public var maxInFlight: Int
    public var retry: RetryPolicy
    public var requestTimeout: Duration
    /// `identity` (the published Edge producer sends uncompressed JSON) or `gzip`.
    public var contentEncoding: ContentEncoding

    public init(transactionsURL: String, tokens: ClientCredentialsTokenProvider?, maxInFlight: Int = 4,
                retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(30),
                contentEncoding: ContentEncoding = .identity) {
        self.transactionsURL = transactionsURL
        self.tokens = tokens
        self.contentEncoding = contentEncoding
        self.maxInFlight = max(1, maxInFlight)
        self.retry = retry
        self.requestTimeout = requestTimeout
    }
}

public final class UAPSink: BatchSink {
    private let client: HTTPClient
    private let settings: UAPSinkSettings
    private let logger: Logger

    public init(client: HTTPClient, settings: UAPSinkSettings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    public func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        var report = DeliveryReport()
        // At most maxInFlight posts at once; the next starts as each one ends.
        await forEachConcurrently(batches, limit: settings.maxInFlight, { batch in await self.post(batch, deadline: deadline) }) {
            report += $0
        }
        return report
    }

    func post(_ batch: Batch, deadline: Deadline) async -> DeliveryReport {
        var report = DeliveryReport()
        report.bytesRaw = batch.bytes.count
        var body = batch.bytes
        var headers = [HTTPHeader("Content-Type", "application/json"), HTTPHeader("Accept", "application/json")]
        if settings.contentEncoding == .gzip {
            do { body = try GzipCompressor.compress(batch.bytes) } catch {
                return failed(batch, report, "gzip failed: \(error)")
            }
            headers.append(HTTPHeader("Content-Encoding", "gzip"))
        }
        let started = EpochMillis.now()
        let retries = Locked(0)
        // One fresh token after a 401 (it may have been revoked or expired early); a second 401 is a failure.
        for attempt in 0..<2 {
            var headers = headers
            var token: String?
            if let tokens = settings.tokens {
                do { token = try await tokens.token(deadline: deadline) } catch {
                    return failed(batch, report, String(describing: error))
                }
                headers.append(HTTPHeader("Authorization", "Bearer " + (token ?? "")))
            }
            let request = HTTPRequest(method: .POST, url: settings.transactionsURL, headers: headers, body: body,
                                      timeout: settings.requestTimeout)
            let response: HTTPResponse
            do {
                response = try await client.send(request, retry: settings.retry, deadline: deadline) { error, wait in
                    retries.withLock { $0 += 1 }
                    self.logger.warn("UAP post will be retried", [("error", .string(error.description)), ("waitMs", .int(wait.milliseconds))])
                }
            } catch {
                report.retries += retries.value
                return failed(batch, report, error.description)
            }
            report.retries += retries.value
            retries.withLock { $0 = 0 }
            if response.status == 401, attempt == 0, let tokens = settings.tokens, let token {
                await tokens.invalidate(token)
                logger.info("UAP answered 401: fetching a new token once")
                continue
            }
            guard response.isSuccess else {
                let detail = "status \(response.status): \(String(response.bodyText.prefix(200)))"
                logger.error("UAP refused a batch", [("status", .of(response.status)), ("records", .of(batch.count)),
                                                     ("answer", .string(String(response.bodyText.prefix(200))))])
                return failed(batch, report, detail)
            }
            report.deliveredBatches = 1
            report.deliveredRecords = batch.count
            report.bytesSent = body.count
            report.latenciesMs = [EpochMillis.now().value - started.value]
            return report
        }
        return failed(batch, report, "unauthorized after a token refresh")
    }

    private func failed(_ batch: Batch, _ partial: DeliveryReport, _ why: String) -> DeliveryReport {
        var r = partial
        r.failedBatches = 1
        r.failedRecords = batch.count
        r.failures = [why]
        return r
    }
}

/// `SEND_TO_UAP=false`: transactions as NDJSON on stdout or into a file, for local runs.
public final class NDJSONSink: BatchSink {
    private let fd: Int32

    /// `path` nil writes to stdout; a file is appended to.
    public struct OpenError: Error, CustomStringConvertible, Sendable { public let description: String }

    public init(path: String?) throws(OpenError) {
        if let path {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OpenError(description: "cannot open OUTPUT_FILE \(path): \(String(cString: strerror(errno)))") }
            self.fd = fd
        } else {
            fd = 1
        }
    }

    public func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        var report = DeliveryReport()
        for batch in batches {
            var out: [UInt8] = []
            out.reserveCapacity(batch.bytes.count + batch.count)
            for range in batch.recordRanges {
                out += batch.bytes[range]
                out.append(0x0A)
            }
            if (try? FileIO.writeAll(fd, out)) != nil {
                report.deliveredBatches += 1
                report.deliveredRecords += batch.count
                report.bytesRaw += batch.bytes.count
                report.bytesSent += out.count
            } else {
                report.failedBatches += 1
                report.failedRecords += batch.count
                report.failures.append("write failed: errno \(errno)")
            }
        }
        return report
    }
}
