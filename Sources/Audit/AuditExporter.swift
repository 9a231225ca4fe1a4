// One export run: for each organization, page through [watermark − overlap, now − lag], deliver each page to every
// sink, and commit the checkpoint only once all of them acknowledged it.
import HTTP
import Core
import Pipeline

public struct AuditExportSettings: Sendable {
    public var overlapMs: Int64
    public var lagMs: Int64
    public var start: AuditStart
    public var filters: AuditFilters
    public var pageLimit: Int
    /// Stop fetching when less than this is left before the deadline (delivery and commit need the rest).
    public var pullMarginMs: Int64
    public var otelAttributes: Bool
    /// `--since`: an explicit window that neither reads nor commits checkpoints (a replay; keys are stable).
    public var since: EpochMillis?
    /// `--until`: the window ends here instead of at now − lag.
    public var until: EpochMillis?
    /// Query and evaluate, but deliver nothing and commit nothing.
    public var dryRun: Bool
    /// More pages than this in one window (across runs) means the control plane is looping: stop the organization.
    public var maxPagesPerWindow: Int

    public init(overlapMs: Int64 = 600_000, lagMs: Int64 = 60_000, start: AuditStart = .ago(milliseconds: 86_400_000),
                filters: AuditFilters = AuditFilters(), pageLimit: Int = 200, pullMarginMs: Int64 = 10_000,
                otelAttributes: Bool = false, since: EpochMillis? = nil, until: EpochMillis? = nil, dryRun: Bool = false,
                maxPagesPerWindow: Int = AuditConfiguration.defaultMaxPagesPerWindow) {
        self.overlapMs = overlapMs
        self.lagMs = lagMs
        self.start = start
        self.filters = filters
        self.pageLimit = max(1, min(200, pageLimit))
        self.pullMarginMs = pullMarginMs
        self.otelAttributes = otelAttributes
        self.since = since
        self.until = until
        self.dryRun = dryRun
        self.maxPagesPerWindow = max(1, maxPagesPerWindow)
    }

    public init(_ c: AuditConfiguration) {
        self.init(overlapMs: Int64(c.overlapSeconds) * 1000, lagMs: Int64(c.lagSeconds) * 1000, start: c.start,
                  filters: c.filters, pullMarginMs: Int64(c.deadlineMarginSeconds) * 1000, otelAttributes: c.otelAttributes,
                  maxPagesPerWindow: c.maxPagesPerWindow)
    }
}

/// What happened to one organization in one run: the windowed-source outcome (result, window, pages, duplicates,
/// watermark, error; read through this type's members) and what the export did with the entries.
@dynamicMemberLookup
public struct OrganizationOutcome: Sendable {
    public typealias Result = WindowResult

    public var organizationID: String
    public var window = WindowOutcome()
    public var exported = 0
    /// Items of `data` that were not JSON objects (exported flagged, counted here).
    public var malformed = 0
    public var alerts = 0
    /// 503 answers (rate window spent) met while paging this organization, and how long they made it wait.
    public var waits503 = 0
    public var waited503Ms: Int64 = 0

    public init(organizationID: String) { self.organizationID = organizationID }

    public subscript<T>(dynamicMember path: WritableKeyPath<WindowOutcome, T>) -> T {
        get { window[keyPath: path] }
        set { window[keyPath: path] = newValue }
    }

    /// Entries read (duplicates included).
    public var entries: Int { window.records }

    /// How far the committed watermark trails `now` (the export's lag, for the operator).
    public func watermarkLagMs(now: EpochMillis) -> Int64? { window.watermark.map { max(0, now.value - $0.value) } }
}

public struct SinkStats: Sendable {
    public var name: String
    public var delivered = 0
    public var failedPages = 0
    public var latenciesMs: [Int64] = []
    public var lastError: String?
    public var warnings = 0
}

public struct AuditExportSummary: Sendable {
    public var startedAt: EpochMillis
    public var durationMs: Int64 = 0
    public var organizations: [OrganizationOutcome] = []
    public var sinks: [SinkStats] = []
    public var anypoint = AnypointCounters()
    public var tokenFetches = 0
    public var error: String?
    public var dryRun = false

    public init(startedAt: EpochMillis) { self.startedAt = startedAt }

    /// Nothing left undelivered or uncommitted that should have been.
    public var succeeded: Bool {
        error == nil && organizations.allSatisfy { [.committed, .partial, .idle, .notCommitted].contains($0.result) }
    }

    /// In a dry run nothing was exported: the counts say what a real run would have done, and are named so.
    public var exportedName: String { dryRun ? "wouldExport" : "exported" }
    public var alertsName: String { dryRun ? "wouldAlert" : "alerts" }

    /// The largest watermark lag over the organizations that have one.
    public func watermarkLagMs(now: EpochMillis) -> Int64? { organizations.compactMap { $0.watermarkLagMs(now: now) }.max() }

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        func p50(_ l: [Int64]) -> Int64 { let s = l.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
        w.beginObject()
        w.field("handler", "audit-export")
        w.field("startedAt", startedAt.iso8601)
        w.field("durationMs", durationMs)
        if dryRun {
            w.field("dryRun", true)
            w.field("note", "dry run: nothing was delivered and no checkpoint was committed")
        }
        w.field("pages", organizations.reduce(0) { $0 + $1.pages })
        w.field("entries", organizations.reduce(0) { $0 + $1.entries })
        w.field(exportedName, organizations.reduce(0) { $0 + $1.exported })
        w.field("duplicatesSkipped", organizations.reduce(0) { $0 + $1.duplicates })
        w.field("malformedEntries", organizations.reduce(0) { $0 + $1.malformed })
        w.field(alertsName, organizations.reduce(0) { $0 + $1.alerts })
        w.field("requests", anypoint.requests)
        w.field("waits503", anypoint.waits503)
        w.field("waited503Ms", anypoint.waited503Ms)
        w.field("unauthorizedRenewals", anypoint.unauthorized)
        w.field("retries", anypoint.retries)
        w.field("tokenFetches", tokenFetches)
        w.field("queryLatencyP50Ms", p50(anypoint.latenciesMs))
        w.field("queryLatencyMaxMs", anypoint.latenciesMs.max() ?? 0)
        w.key("organizations")
        w.beginArray()
        for o in organizations {
            w.beginObject()
            w.field("organizationId", o.organizationID)
            w.field("result", o.result.rawValue)
            w.field("windowStart", o.windowStart?.iso8601)
            w.field("windowEnd", o.windowEnd?.iso8601)
            w.field("resumed", o.resumed)
            w.field("pages", o.pages)
            w.field("entries", o.entries)
            w.field(exportedName, o.exported)
            w.field("duplicatesSkipped", o.duplicates)
            w.field("malformedEntries", o.malformed)
            w.field(alertsName, o.alerts)
            w.field("waits503", o.waits503)
            if let wm = o.watermark { w.field("watermark", wm.iso8601) }
            if let e = o.error { w.field("error", e) }
            w.endObject()
        }
        w.endArray()
        w.key("sinks")
        w.beginObject()
        // A dry run delivers nothing: zero counts per sink would read as a failure.
        for s in sinks where !dryRun {
            w.key(s.name)
            w.beginObject()
            w.field("delivered", s.delivered)
            w.field("failedPages", s.failedPages)
            if s.warnings > 0 { w.field("warnings", s.warnings) }
            w.field("latencyP50Ms", p50(s.latenciesMs))
            w.field("latencyMaxMs", s.latenciesMs.max() ?? 0)
            if let e = s.lastError { w.field("lastError", e) }
            w.endObject()
        }
        w.endObject()
        if let error { w.field("error", error) }
        w.endObject()
        return w.bytes
    }
}

public struct AuditExporter: Sendable {
    public let client: AnypointClient
    public let tokens: ClientCredentialsTokenProvider
    public let store: any CheckpointStore
    public let sinks: [any AuditSink]
    public let rules: [AlertRule]
    public let settings: AuditExportSettings
    /// Empty: the token's own organization.
    public let organizations: [String]
    public let logger: Logger

    public init(client: AnypointClient, tokens: ClientCredentialsTokenProvider, store: any CheckpointStore, sinks: [any AuditSink],
                rules: [AlertRule], settings: AuditExportSettings, organizations: [String], logger: Logger) {
        self.client = client
        self.tokens = tokens
        self.store = store
        self.sinks = sinks
        self.rules = rules
        self.settings = settings
        self.organizations = organizations
        self.logger = logger
    }

    public func run(deadline: Deadline, now: EpochMillis = .now()) async -> AuditExportSummary {
        var summary = AuditExportSummary(startedAt: now)
        summary.dryRun = settings.dryRun
        var stats = sinks.map { SinkStats(name: $0.name) }
        let fetchesBefore = await tokens.fetches
        var orgs = organizations
        if orgs.isEmpty {
            do { orgs = [try await client.ownOrganization(deadline: deadline)] } catch {
                summary.error = "finding the token's organization failed: \(error)"
            }
        }
        var evaluator = AlertEvaluator(rules: rules)
        for org in orgs {
            let before = await client.counters
            var outcome = await export(org, deadline: deadline, now: now, evaluator: &evaluator, stats: &stats)
            let after = await client.counters
            outcome.waits503 = after.waits503 - before.waits503
            outcome.waited503Ms = after.waited503Ms - before.waited503Ms
            logWindow(outcome)
            summary.organizations.append(outcome)
            if Task.isCancelled { break }
        }
        summary.sinks = stats
        summary.anypoint = await client.takeCounters()
        summary.tokenFetches = await tokens.fetches - fetchesBefore
        summary.durationMs = EpochMillis.now().value - now.value
        return summary
    }

    /// One INFO line per organization and window as soon as it is done, so a long run shows its progress.
    func logWindow(_ o: OrganizationOutcome) {
        var fields: [(String, LogValue)] = [
            ("organizationId", .string(o.organizationID)), ("result", .string(o.result.rawValue)),
            ("windowStart", .string(o.windowStart?.iso8601 ?? "-")), ("windowEnd", .string(o.windowEnd?.iso8601 ?? "-")),
            ("resumed", .bool(o.resumed)), ("pages", .of(o.pages)), ("entries", .of(o.entries)),
            (settings.dryRun ? "wouldExport" : "exported", .of(o.exported)), ("duplicatesSkipped", .of(o.duplicates)),
            ("malformedEntries", .of(o.malformed)), ("waits503", .of(o.waits503)), ("waited503Ms", .of(o.waited503Ms)),
        ]
        if let lag = o.watermarkLagMs(now: .now()) { fields.append(("watermarkLagSeconds", .of(lag / 1000))) }
        if let e = o.error { fields.append(("error", .string(e))) }
        logger.info(settings.dryRun ? "audit window (dry run: nothing delivered or committed)" : "audit window", fields)
    }

    func export(_ org: String, deadline: Deadline, now: EpochMillis, evaluator: inout AlertEvaluator,
                stats: inout [SinkStats]) async -> OrganizationOutcome {
        var outcome = OrganizationOutcome(organizationID: org)
        let storeKey = AuditCheckpoint.storeKey(organizationID: org)
        let log = logger.with("organizationId", org)
        var consumer = AuditConsumer(exporter: self, organizationID: org, evaluator: evaluator, stats: stats, deadline: deadline, logger: log)
        let source = WindowedSource(
            reader: AuditPageReader(client: client, organizationID: org, filters: settings.filters, limit: settings.pageLimit),
            store: store, key: storeKey, owner: org, label: "organization \(org)", positionNoun: "cursor", format: AuditCheckpoint.format,
            policy: WindowPolicy(overlapMs: settings.overlapMs, pullMarginMs: settings.pullMarginMs, commitEachPage: true,
                                 deduplicateWithinRun: true, maxPagesPerWindow: settings.maxPagesPerWindow,
                                 maxPagesSetting: "AUDIT_MAX_PAGES_PER_WINDOW"),
            logger: log)
        // Where to read: the checkpoint's window (continued, or the next one), or the explicit one.
        let first = settings.start.resolve(now: now)
        let origin: WindowStart = settings.since.map { .explicit(start: $0) }
            ?? (settings.dryRun ? .dryRun(initialWatermark: first, initialStart: first) : .checkpoint(initialWatermark: first, initialStart: first))
        outcome.window = await source.run(from: origin, end: settings.until ?? now.adding(milliseconds: -settings.lagMs),
                                          consumer: &consumer, deadline: deadline)
        evaluator = consumer.evaluator
        stats = consumer.stats
        outcome.exported = consumer.exported
        outcome.malformed = consumer.malformed
        outcome.alerts = consumer.alerts
        return outcome
    }

    func deliver(_ records: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> [SinkDelivery] {
        var results = [SinkDelivery](repeating: SinkDelivery(), count: sinks.count)
        await withTaskGroup(of: (Int, SinkDelivery).self) { group in
            for (i, sink) in sinks.enumerated() {
                group.addTask { (i, await sink.deliver(records, exportedAt: exportedAt, deadline: deadline)) }
            }
            for await (i, r) in group { results[i] = r }
        }
        return results
    }
}

/// One page of the Audit Log Query API: the same window, the cursor as the position.
struct AuditPageReader: WindowReader {
    let client: AnypointClient
    let organizationID: String
    let filters: AuditFilters
    let limit: Int

    func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<ReadEntry> {
        let query = AuditQuery(organizationID: organizationID, start: start, end: end, filters: filters, limit: limit, cursor: position)
        let page: AuditPage
        do { page = try await client.query(query, deadline: deadline) } catch let e as AnypointError where e.kind == .deadline {
            throw WindowReadStop.deadline
        }
        // An empty page may still carry a cursor (entries the service filtered out can fill a page): only an answer
        // without one ends the window.
        return WindowPage(records: page.entries.map(AuditEntry.read), next: page.cursor)
    }

    /// Entries without a time of their own are kept as edge keys: the next overlap may show them again.
    func identity(of entry: ReadEntry) -> (hash: UInt64, time: EpochMillis?) { (entry.key.hash64, entry.timestamp) }
}

/// The export's side of a window: records and alerts for the fresh entries of a page, delivered to every sink, and
/// the alert rules' held entries in the checkpoint.
struct AuditConsumer: WindowConsumer {
    let exporter: AuditExporter
    let organizationID: String
    var evaluator: AlertEvaluator
    var stats: [SinkStats]
    let deadline: Deadline
    let logger: Logger
    var exported = 0
    var malformed = 0
    var alerts = 0
    var pages = 0

    var settings: AuditExportSettings { exporter.settings }

    mutating func restore(from document: JSONValue, window: PlannedWindow) throws {
        // A dry run delivers nothing, so what the rules hold stays as the last real run left it.
        guard !settings.dryRun else { return }
        evaluator.restore(try AuditCheckpoint.alertPending(in: document), organizationID: organizationID)
    }

    mutating func consume(_ entries: [ReadEntry], window: PlannedWindow) async -> Acknowledgement {
        pages += 1
        let exportedAt = EpochMillis.now()
        var fresh: [AuditEntry] = []
        var records: [ExportRecord] = []
        records.reserveCapacity(entries.count)
        for read in entries {
            switch read {
            case .entry(let entry):
                fresh.append(entry)
                records.append(.entry(entry, organizationID: organizationID, exportedAt: exportedAt, otelAttributes: settings.otelAttributes))
            case .malformed(let m):
                malformed += 1
                logger.warn("an entry is not a JSON object; exported flagged as malformed",
                            [("page", .of(pages)), ("key", .string(m.key.rawValue)), ("reason", .string(m.reason)),
                             ("start", .string(String(decoding: m.raw.prefix(80), as: UTF8.self)))])
                records.append(.malformed(m, organizationID: organizationID, exportedAt: exportedAt, otelAttributes: settings.otelAttributes))
            }
        }
        let raised = evaluator.evaluate(fresh, organizationID: organizationID, exportedAt: exportedAt)
        records += raised
        alerts += raised.count

        // Every sink must acknowledge the page before the checkpoint moves.
        if !settings.dryRun && !records.isEmpty {
            let results = await exporter.deliver(records, exportedAt: exportedAt, deadline: deadline)
            var failures: [String] = []
            for (i, r) in results.enumerated() {
                stats[i].delivered += r.delivered
                stats[i].latenciesMs.append(r.latencyMs)
                if let e = r.error { stats[i].failedPages += 1; stats[i].lastError = e; failures.append(e) }
                for warning in r.warnings {
                    stats[i].warnings += 1
                    logger.warn("sink warning", [("sink", .string(stats[i].name)), ("warning", .string(warning))])
                }
            }
            if !failures.isEmpty { return .failed(failures.joined(separator: "; ")) }
            if Task.isCancelled { return .cancelled }
        }
        exported += records.count - raised.count
        return .acknowledged
    }

    func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool) {
        let horizon = window.end.adding(milliseconds: -settings.overlapMs)
        AuditCheckpoint.writeAlertPending(evaluator.pending(organizationID: organizationID, horizon: horizon), to: &w)
    }
}
