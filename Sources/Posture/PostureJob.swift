// The scheduled job: run the audit against the previous report (`latest.json`), write the JSON and HTML reports under
// a dated key, send new and resolved findings to the sinks, and only then make this report the next baseline.
import AWS
import Audit
import Core
import Glibc

/// Where reports are read and written: an S3 prefix or a local directory.
public protocol ReportStore: Sendable {
    var name: String { get }
    func read(_ key: String, deadline: Deadline) async throws -> [UInt8]?
    func write(_ key: String, _ bytes: [UInt8], contentType: String, deadline: Deadline) async throws
}

public struct S3ReportStore: ReportStore {
    let s3: S3Client
    let bucket: String
    let prefix: String
    public var name: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") }
    public init(s3: S3Client, bucket: String, prefix: String) {
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
    }
    func full(_ key: String) -> String { prefix.isEmpty ? key : prefix + "/" + key }
    public func read(_ key: String, deadline: Deadline) async throws -> [UInt8]? {
        try await s3.getObject(bucket: bucket, key: full(key), deadline: deadline)?.body
    }
    public func write(_ key: String, _ bytes: [UInt8], contentType: String, deadline: Deadline) async throws {
        _ = try await s3.putObject(bucket: bucket, key: full(key), body: bytes, contentType: contentType, deadline: deadline)
    }
}

public struct DirectoryReportStore: ReportStore {
    let directory: String
    public var name: String { "file://" + directory }
    public init(directory: String) { self.directory = directory }

    public func read(_ key: String, deadline: Deadline) async throws -> [UInt8]? {
        let path = directory + "/" + key
        guard access(path, F_OK) == 0 else { return nil }
        return try FileIO.read(path: path)
    }

    /// Written to a temporary name and renamed: a reader never sees half a report.
    public func write(_ key: String, _ bytes: [UInt8], contentType: String, deadline: Deadline) async throws {
        let path = directory + "/" + key
        var dir = ""
        for part in path.split(separator: "/").dropLast() {
            dir += "/" + part
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw PostureSettingError("cannot create \(dir): \(String(cString: strerror(errno)))") }
        }
        try Self.writeFile(path, bytes)
    }

    /// The whole file or nothing: a temporary name, fsync, rename.
    public static func writeFile(_ path: String, _ bytes: [UInt8]) throws(PostureSettingError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PostureSettingError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        do { try FileIO.writeAll(fd, bytes) } catch { close(fd); unlink(tmp); throw PostureSettingError("cannot write \(tmp): \(error)") }
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else { unlink(tmp); throw PostureSettingError("cannot rename \(tmp): \(String(cString: strerror(errno)))") }
    }
}

public struct PostureJobSummary: Sendable {
    public var report: PostureReport
    public var reportKeys: [String] = []
    public var baselineKey: String?
    public var baselineFound = false
    public var sinks: [(name: String, delivered: Int, error: String?)] = []
    public var latestUpdated = false
    public var error: String?
    public var succeeded: Bool { error == nil }

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        w.beginObject()
        w.field("complete", report.isComplete)
        w.field("apis", report.comparison.apis.count)
        w.key("status"); w.beginObject()
        for s in [APIStatus.aligned, .drift, .threat] { w.field(s.rawValue, report.count(s)) }
        w.endObject()
        w.key("findings"); w.beginObject()
        for s in Severity.allCases { w.field(s.rawValue, report.count(s)) }
        w.endObject()
        w.field("baselineFound", baselineFound)
        w.field("new", report.baseline?.new.count ?? report.findings.count)
        w.field("resolved", report.baseline?.resolved.count ?? 0)
        w.key("reports"); w.beginArray(); for k in reportKeys { w.string(k) }; w.endArray()
        w.field("latestUpdated", latestUpdated)
        w.key("sinks"); w.beginArray()
        for s in sinks { w.beginObject(); w.field("name", s.name); w.field("delivered", s.delivered); w.field("error", s.error); w.endObject() }
        w.endArray()
        w.key("missing"); w.beginArray()
        for m in report.collection.missing.prefix(20) { w.string(m.text) }
        w.endArray()
        w.field("missingParts", report.collection.missing.count)
        w.field("requests", report.collection.requests)
        w.field("durationMs", report.collection.durationMs)
        w.field("error", error)
        w.endObject()
        return w.bytes
    }
}

public struct PostureJob: Sendable {
    public let runner: PostureRunner
    public let store: any ReportStore
    public let sinks: [any AuditSink]
    public let logger: Logger
    public static let latestJSON = "latest.json"
    public static let latestHTML = "latest.html"

    public init(runner: PostureRunner, store: any ReportStore, sinks: [any AuditSink], logger: Logger) {
        self.runner = runner
        self.store = store
        self.sinks = sinks
        self.logger = logger
    }

    /// Dated keys: `YYYY/MM/DD/posture-YYYYMMDDTHHMMSS.mmmZ.json` (and `.html`); milliseconds keep two runs in one
    /// second apart.
    public static func datedKey(_ t: EpochMillis, ext: String) -> String {
        let iso = Array(t.iso8601.utf8)   // 2026-12-04T18:05:25.123Z
        let s = { (a: Int, b: Int) in String(decoding: iso[a..<b], as: UTF8.self) }
        return "\(s(0, 4))/\(s(5, 7))/\(s(8, 10))/posture-\(s(0, 4))\(s(5, 7))\(s(8, 10))T\(s(11, 13))\(s(14, 16))\(s(17, 19)).\(s(20, 23))Z.\(ext)"
    }

    public func run(deadline: Deadline) async -> PostureJobSummary {
        // The previous report is the baseline; an unreadable one is an error (silently starting over would re-send
        // every finding as new).
        var baseline: (source: String, report: BaselineReport)?
        var baselineError: String?
        do {
            if let bytes = try await store.read(Self.latestJSON, deadline: deadline) {
                baseline = (store.name + "/" + Self.latestJSON, try BaselineReport.parse(bytes))
            }
        } catch {
            baselineError = "reading the baseline \(store.name)/\(Self.latestJSON) failed: \(error)"
        }
        // Keep time for writing the reports and delivering the findings after a collection cut short by the deadline.
        let reserve = min(15_000, deadline.remainingMilliseconds() / 4)
        let report = await runner.run(deadline: deadline.reserving(milliseconds: reserve), baseline: baseline)
        var summary = PostureJobSummary(report: report)
        summary.baselineFound = baseline != nil
        if let baselineError { summary.error = baselineError; return summary }

        let json = report.json(), html = Array(report.html().utf8)
        let jsonKey = Self.datedKey(report.generatedAt, ext: "json"), htmlKey = Self.datedKey(report.generatedAt, ext: "html")
        do {
            try await store.write(jsonKey, json, contentType: "application/json", deadline: deadline)
            try await store.write(htmlKey, html, contentType: "text/html; charset=utf-8", deadline: deadline)
            summary.reportKeys = [jsonKey, htmlKey]
        } catch {
            summary.error = "writing the report to \(store.name) failed: \(error)"
            return summary
        }
        guard report.isComplete else {
            // A partial report is kept under its date, but it is not a baseline: the parts it lacks would all come
            // back as "new" next time. Nothing is sent either.
            summary.error = "the collection is incomplete (\(report.collection.missing.count) part(s) missing; first: "
                + (report.collection.missing.first?.text ?? "-") + "): the report was written, the baseline kept, no finding sent"
            return summary
        }

        let records = Self.records(report, baselineStamp: baseline?.report.generatedAt ?? "none")
        var delivered = true
        for sink in sinks {
            let r = await sink.deliver(records, exportedAt: report.generatedAt, deadline: deadline)
            summary.sinks.append((sink.name, r.delivered, r.error))
            for w in r.warnings { logger.warn(w) }
            if !r.ok { delivered = false }
        }
        guard delivered else {
            // The baseline stays, so the next run finds the same changes and sends them again (same keys).
            summary.error = "a sink did not take the findings: " + (summary.sinks.compactMap(\.error).first ?? "")
            return summary
        }
        do {
            try await store.write(Self.latestJSON, json, contentType: "application/json", deadline: deadline)
            try await store.write(Self.latestHTML, html, contentType: "text/html; charset=utf-8", deadline: deadline)
            summary.latestUpdated = true
            summary.reportKeys += [Self.latestJSON, Self.latestHTML]
        } catch {
            summary.error = "updating \(store.name)/\(Self.latestJSON) failed: \(error)"
        }
        return summary
    }

    /// New and resolved findings as sink records (syslog MSGID `posture:new` or `posture:resolved`: RFC 5424 allows 32
    /// characters, fewer than some kinds have; the kind is in the record). The key depends on the change, the finding and the baseline it was
    /// found against: a retried run (the baseline not yet replaced) sends the same keys.
    public static func records(_ report: PostureReport, baselineStamp: String) -> [ExportRecord] {
        let diff = report.baseline
        let new = diff?.new ?? report.findings
        let resolved = diff?.resolved ?? []
        let organization = report.collection.organizations.first?.id ?? "-"
        var out: [ExportRecord] = []
        for (change, list) in [("new", new), ("resolved", resolved)] {
            for f in list {
                let key = "posture:" + FNV1a.hex([change, f.id, baselineStamp])
                var w = JSONWriter(capacity: 1024)
                w.beginObject()
                w.field("type", "posture-finding")
                w.field("key", key)
                w.field("change", change)
                w.field("generatedAt", report.generatedAt.iso8601)
                w.field("baselineGeneratedAt", diff?.generatedAt)
                w.field("organizationId", organization)
                w.key("finding"); w.raw(json: PostureReport.json(f))
                w.endObject()
                out.append(ExportRecord(kind: .finding, key: key, organizationID: organization, timestamp: report.generatedAt,
                                        msgID: "posture:" + change, severity: change == "resolved" ? .informational : f.severity.syslog,
                                        json: w.bytes))
            }
        }
        return out
    }
}
