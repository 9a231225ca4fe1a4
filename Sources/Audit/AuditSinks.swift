// The destinations: syslog (UDP, TCP, TLS), S3 archives, an HTTP collector (Splunk HEC or generic JSON), NDJSON files.
import AWS
import Glibc
import HTTP
import Core
import Pipeline

/// What one sink did with one page's records. A page counts as acknowledged only when every sink says so.
public struct SinkDelivery: Sendable {
    public var delivered = 0
    public var error: String?
    public var latencyMs: Int64 = 0
    /// Things the operator should know that did not stop the delivery (logged and counted in the summary).
    public var warnings: [String] = []
    public var ok: Bool { error == nil }
    public init() {}
}

public protocol AuditSink: Sendable {
    /// The sink's URI without secrets.
    var name: String { get }
    func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery
}

// MARK: - syslog

public actor SyslogSink: AuditSink {
    public nonisolated let name: String
    private let transport: SinkTarget.SyslogTransport
    private let host: String
    private let port: UInt16
    private let caFile: String?
    private let formatter: SyslogFormatter
    private var connection: (any SyslogConnection)?
    public private(set) var reconnects = 0

    public init(transport: SinkTarget.SyslogTransport, host: String, port: UInt16, formatter: SyslogFormatter, caFile: String? = nil) {
        self.transport = transport
        self.host = host
        self.port = port
        self.caFile = caFile
        self.formatter = formatter
        name = SinkTarget.syslog(transport, host: host, port: port).description
    }

    private func connect() throws(SyslogTransportError) -> any SyslogConnection {
        switch transport {
        case .udp: return try UDPConnection(host: host, port: port)
        case .tcp: return try TCPConnection(host: host, port: port)
        case .tls: return try TLSConnection(host: host, port: port, caFile: caFile)
        }
    }

    public func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        guard !records.isEmpty else { return result }
        let started = EpochMillis.now()
        let messages = records.map { formatter.format($0, exportedAt: exportedAt) }
        if transport == .udp {
            let long = messages.reduce(0) { $0 + ($1.count > UDPConnection.maxDatagram ? 1 : 0) }
            if long > 0 {
                result.warnings.append("\(name): \(long) record(s) longer than \(UDPConnection.maxDatagram) bytes were cut to fit one UDP "
                                       + "datagram; use syslog+tcp:// or syslog+tls:// to receive them whole")
            }
        }
        // A kept connection may have been closed by the receiver since the last page: one fresh attempt.
        for attempt in 0..<2 {
            do {
                if connection == nil || !(connection?.isHealthy ?? false) {
                    connection?.close()
                    connection = try connect()
                    if attempt > 0 || reconnects > 0 { reconnects += 1 }
                }
                result.delivered = try connection!.send(messages, deadline: deadline)
                result.error = nil
                break
            } catch {
                connection?.close()
                connection = nil
                result.error = "\(name): \(error.description)"
            }
        }
        result.latencyMs = EpochMillis.now().value - started.value
        return result
    }

    public func close() { connection?.close(); connection = nil }
}

// MARK: - NDJSON file

public actor FileSink: AuditSink {
    public nonisolated let name: String
    private let path: String

    public init(path: String) {
        self.path = path
        name = "file://" + path
    }

    public func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        guard !records.isEmpty else { return result }
        let started = EpochMillis.now()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.reduce(0) { $0 + $1.json.count + 1 })
        for r in records { bytes += r.json; bytes.append(0x0A) }
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            result.error = "\(name): cannot open: \(String(cString: strerror(errno)))"
            return result
        }
        defer { close(fd) }
        switch Self.dropTornTail(fd) {
        case .success(let dropped) where dropped > 0:
            result.warnings.append("\(name): removed a partial last line of \(dropped) byte(s) left by an interrupted run "
                                   + "(its page was not acknowledged and is delivered again)")
        case .success: break
        case .failure(let message):
            result.error = "\(name): \(message)"
            return result
        }
        do { try FileIO.writeAll(fd, bytes) } catch {
            result.error = "\(name): write failed: \(error)"
            return result
        }
        guard fsync(fd) == 0 else {
            result.error = "\(name): fsync failed: \(String(cString: strerror(errno)))"
            return result
        }
        result.delivered = records.count
        result.latencyMs = EpochMillis.now().value - started.value
        return result
    }

    enum Repair: Equatable { case success(Int), failure(String) }

    /// A process killed in the middle of a write can leave the file ending in part of a record. That page was
    /// never acknowledged (the checkpoint did not move), so it will be written again whole: cut the fragment off
    /// instead of gluing the next record onto it. Returns how many bytes were removed.
    static func dropTornTail(_ fd: Int32) -> Repair {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure("fstat failed: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size > 0 else { return .success(0) }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var end = size
        while end > 0 {
            let start = max(0, end - chunk.count)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
            guard n == end - start else { return .failure("reading the file's tail failed: \(String(cString: strerror(errno)))") }
            if end == size && chunk[n - 1] == 0x0A { return .success(0) }
            if let nl = chunk[0..<n].lastIndex(of: 0x0A) {
                end = start + nl + 1
                break
            }
            end = start
        }
        guard ftruncate(fd, off_t(end)) == 0 else { return .failure("truncating a partial last line failed: \(String(cString: strerror(errno)))") }
        return .success(size - end)
    }
}

// MARK: - S3 archive

/// gzip NDJSON objects under `prefix/organization/YYYY/MM/DD/HH/`, one per page and hour, named after the records'
/// keys: a replay of the same page writes the same name, so it overwrites instead of adding a duplicate object.
public struct S3Sink: AuditSink {
    public let name: String
    private let s3: S3Client
    private let bucket: String
    private let prefix: String

    public init(s3: S3Client, bucket: String, prefix: String) {
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        name = SinkTarget.s3(bucket: bucket, prefix: prefix).description
    }

    /// The object key for a group of records (all of one organization, kind and hour).
    public static func objectKey(prefix: String, organizationID: String, kind: ExportRecord.Kind, hour: EpochMillis,
                                 firstTime: EpochMillis, keys: [String]) -> String {
        let iso = Array(hour.iso8601.utf8)
        let s = { (a: Int, b: Int) in String(decoding: iso[a..<b], as: UTF8.self) }
        let path = "\(safeSegment(organizationID))/\(s(0, 4))/\(s(5, 7))/\(s(8, 10))/\(s(11, 13))"
        let name = "\(kind.rawValue)-\(firstTime.value)-\(FNV1a.hex(keys)).ndjson.gz"
        return (prefix.isEmpty ? "" : prefix + "/") + path + "/" + name
    }

    static func safeSegment(_ s: String) -> String {
        String(s.unicodeScalars.map { c -> Character in
            let v = c.value
            let ok = (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 45 || v == 95 || v == 46
            return ok ? Character(c) : "_"
        })
    }

    public func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        guard !records.isEmpty else { return result }
        let started = EpochMillis.now()
        struct GroupID: Hashable { let org: String; let kind: ExportRecord.Kind; let hour: Int64 }
        var order: [GroupID] = []
        var groups: [GroupID: [ExportRecord]] = [:]
        for r in records {
            let t = r.filingTime(exportedAt: exportedAt).value
            let id = GroupID(org: r.organizationID, kind: r.kind, hour: t - ((t % 3_600_000) + 3_600_000) % 3_600_000)
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(r)
        }
        for id in order {
            let group = groups[id]!
            var body: [UInt8] = []
            for r in group { body += r.json; body.append(0x0A) }
            let gz: [UInt8]
            do { gz = try GzipCompressor.compress(body) } catch {
                result.error = "\(name): gzip failed: \(error)"
                return result
            }
            let first = group.map { $0.filingTime(exportedAt: exportedAt) }.min() ?? EpochMillis(id.hour)
            let key = S3Sink.objectKey(prefix: prefix, organizationID: id.org, kind: id.kind, hour: EpochMillis(id.hour),
                                       firstTime: first, keys: group.map(\.key))
            do {
                _ = try await s3.putObject(bucket: bucket, key: key, body: gz, contentType: "application/gzip", deadline: deadline)
            } catch {
                result.error = "\(name): PutObject \(key) failed: \(error)"
                return result
            }
            result.delivered += group.count
        }
        result.latencyMs = EpochMillis.now().value - started.value
        return result
    }
}

// MARK: - HTTP collector

/// A Splunk HEC endpoint (`/services/collector...`: `Authorization: Splunk <token>`, one `{"time","event"}` object
/// per record) or a generic JSON collector (a JSON array of records, `Authorization: Bearer <token>`).
public struct HTTPCollectorSink: AuditSink {
    public let name: String
    private let url: String
    private let token: CachedSecret?
    private let client: HTTPClient
    private let isHEC: Bool
    private let maxBatchBytes: Int
    private let retry: RetryPolicy

    public init(url: String, token: String?, client: HTTPClient, maxBatchBytes: Int = 1_000_000,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 5, base: .milliseconds(250), cap: .seconds(10))) {
        self.init(url: url, tokenSource: token.map { t in CachedSecret { t } }, client: client, maxBatchBytes: maxBatchBytes, retry: retry)
    }

    /// `tokenSource` is read on the first delivery (a Secrets Manager secret, say) and kept.
    public init(url: String, tokenSource: CachedSecret?, client: HTTPClient, maxBatchBytes: Int = 1_000_000,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 5, base: .milliseconds(250), cap: .seconds(10))) {
        self.url = url
        self.token = tokenSource
        self.client = client
        self.maxBatchBytes = maxBatchBytes
        self.retry = retry
        name = HTTPError.redactURL(url)
        isHEC = HTTPError.redactURL(url).contains("/services/collector")
    }

    func bodies(_ records: [ExportRecord], exportedAt: EpochMillis) -> [(body: [UInt8], count: Int)] {
        var out: [(body: [UInt8], count: Int)] = []
        if isHEC {
            var current: [UInt8] = []
            var count = 0
            for r in records {
                var w = JSONWriter(capacity: r.json.count + 120)
                w.beginObject()
                let t = r.filingTime(exportedAt: exportedAt).value
                w.key("time"); w.double(Double(t) / 1000)
                switch r.kind {
                case .entry: w.field("source", "anypoint:audit"); w.field("sourcetype", "mulesoft:audit")
                case .alert: w.field("source", "anypoint:audit"); w.field("sourcetype", "mulesoft:audit:alert")
                case .finding: w.field("source", "anypoint:posture"); w.field("sourcetype", "mulesoft:posture:finding")
                }
                w.key("event"); w.raw(json: r.json)
                w.endObject()
                if count > 0 && current.count + w.bytes.count + 1 > maxBatchBytes { out.append((current, count)); current = []; count = 0 }
                if count > 0 { current.append(0x0A) }
                current += w.bytes
                count += 1
            }
            if count > 0 { out.append((current, count)) }
        } else {
            var batcher = JSONArrayBatcher(maxBytes: maxBatchBytes)
            for r in records { batcher.append(record: r.json) }
            batcher.close()
            out = batcher.take().map { ($0.bytes, $0.count) }
        }
        return out
    }

    public func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        guard !records.isEmpty else { return result }
        let started = EpochMillis.now()
        var token: String?
        if let source = self.token {
            do { token = try await source.get() } catch {
                result.error = "\(name): reading the collector token failed: \(error)"
                return result
            }
        }
        for (body, count) in bodies(records, exportedAt: exportedAt) {
            var headers = [HTTPHeader("Content-Type", "application/json")]
            if let token { headers.append(HTTPHeader("Authorization", (isHEC ? "Splunk " : "Bearer ") + token)) }
            let request = HTTPRequest(method: .POST, url: url, headers: headers, body: body, gzipBody: isHEC && body.count > 4096,
                                      timeout: .seconds(30))
            do {
                let response = try await client.send(request, retry: retry, deadline: deadline)
                guard response.isSuccess else {
                    result.error = "\(name) answered \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                    return result
                }
            } catch {
                result.error = "\(name): \(error.description)"
                return result
            }
            result.delivered += count
        }
        result.latencyMs = EpochMillis.now().value - started.value
        return result
    }
}
