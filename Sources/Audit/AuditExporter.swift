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

public struct OrganizationOutcome: Sendable {
    public enum Result: String, Sendable {
        /// The whole window was delivered and committed.
        case committed
        /// The deadline came first: every page read was delivered and committed; the next run continues the window.
        case partial
        /// Nothing to read yet (the window would be empty).
        case idle
        /// A sink did not acknowledge a page: that page is read again next run.
        case deliveryFailed
        /// Another run committed first.
        case conflict
        /// Reading or committing failed.
        case failed
        /// The run was cancelled; the page in flight (if any) is read again next run.
        case cancelled
        /// `--dry-run` or an explicit `--since` window: nothing committed by design.
        case notCommitted
    }

    public var organizationID: String
    public var result: Result = .idle
    public var windowStart: EpochMillis?
    public var windowEnd: EpochMillis?
    public var resumed = false
    public var pages = 0
    public var entries = 0
    public var exported = 0
    public var duplicates = 0
    /// Items of `data` that were not JSON objects (exported flagged, counted here).
    public var malformed = 0
    public var alerts = 0
    /// 503 answers (rate window spent) met while paging this organization, and how long they made it wait.
    public var waits503 = 0
    public var waited503Ms: Int64 = 0
    /// Everything up to here is delivered and committed (after this run); nil when the run commits nothing.
    public var watermark: EpochMillis?
    public var error: String?

    public init(organizationID: String) { self.organizationID = organizationID }

    /// How far the committed watermark trails `now` (the export's lag, for the operator).
    public func watermarkLagMs(now: EpochMillis) -> Int64? { watermark.map { max(0, now.value - $0.value) } }
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
        let commits = settings.since == nil && !settings.dryRun
        let log = logger.with("organizationId", org)

        // 1. Where to read: the checkpoint's window (continued, or the next one), or the explicit one.
        var version = CheckpointVersion.absent
        var checkpoint: AuditCheckpoint?
        if settings.since == nil {
            do {
                let loaded = try await store.load(key: storeKey)
                version = loaded.version
                if let bytes = loaded.bytes { checkpoint = try AuditCheckpoint.decode(bytes) }
            } catch {
                // An unreadable checkpoint must not silently restart from AUDIT_START (that would duplicate or skip).
                outcome.result = .failed
                outcome.error = "loading the checkpoint \(storeKey) failed: \(error); fix or delete it"
                return outcome
            }
        }
        let defaultEnd = settings.until ?? now.adding(milliseconds: -settings.lagMs)
        var start: EpochMillis, end: EpochMillis, cursor: String?
        var nextSeen = Set<UInt64>()
        var pagesDone = 0
        let seen = checkpoint?.seen ?? []
        let watermark: EpochMillis
        if let since = settings.since {
            start = since; end = defaultEnd; watermark = since
        } else if let cp = checkpoint, let p = cp.inProgress {
            start = p.start; end = p.end; cursor = p.cursor; nextSeen = p.nextSeen; pagesDone = p.pagesDone
            watermark = cp.watermark
            outcome.resumed = true
        } else if let cp = checkpoint {
            watermark = cp.watermark
            start = cp.watermark.adding(milliseconds: -settings.overlapMs); end = defaultEnd
        } else {
            watermark = settings.start.resolve(now: now)
            start = watermark; end = defaultEnd
        }
        outcome.windowStart = start
        outcome.windowEnd = end
        if commits { outcome.watermark = watermark }
        if commits { evaluator.restore(checkpoint?.alertPending ?? [], organizationID: org) }
        guard end > start, outcome.resumed || settings.since != nil || checkpoint == nil || end > watermark else { return outcome }

        // 2. Page after page with the same window, for as long as the answer carries a cursor. An empty page may
        //    still carry one (entries the service filtered out can fill a page): only an answer without a cursor
        //    ends the window. Two guards keep a looping control plane from paging forever: a cursor this run has
        //    already seen, and more pages than AUDIT_MAX_PAGES_PER_WINDOW.
        let pullDeadline = Deadline(epoch: deadline.epoch.adding(milliseconds: -settings.pullMarginMs))
        let nextSeenFrom = end.value - settings.overlapMs
        var windowKeys = Set<AuditKey>()
        var resumedCursor = cursor != nil
        var complete = false
        // Hashed cursors (8 bytes each, whatever their length) → the page that brought them.
        var cursorsSeen: [UInt64: Int] = [:]
        if let c = cursor { cursorsSeen[AuditKey(c).hash64] = pagesDone }
        func windowText() -> String { "organization \(org), window [\(start.iso8601), \(end.iso8601)]" }
        while true {
            if Task.isCancelled { outcome.result = .cancelled; return outcome }
            if pullDeadline.hasPassed() { break }
            guard pagesDone < settings.maxPagesPerWindow else {
                outcome.result = .failed
                outcome.error = "\(windowText()): \(pagesDone) pages without an answer that ends the window "
                    + "(AUDIT_MAX_PAGES_PER_WINDOW=\(settings.maxPagesPerWindow)); the control plane keeps sending cursors "
                    + "(last \(Self.hint(cursor))). Nothing committed past page \(pagesDone). If the window really holds more "
                    + "than \(settings.maxPagesPerWindow * settings.pageLimit) entries, raise AUDIT_MAX_PAGES_PER_WINDOW"
                return outcome
            }
            let query = AuditQuery(organizationID: org, start: start, end: end, filters: settings.filters,
                                   limit: settings.pageLimit, cursor: cursor)
            let page: AuditPage
            do {
                page = try await client.query(query, deadline: pullDeadline)
            } catch let e as AnypointError where e.kind == .deadline {
                break
            } catch where resumedCursor {
                // A stored cursor the service no longer accepts: read the window from its start again. Entries of
                // the pages already delivered come again, with the same keys.
                log.warn("the stored cursor was refused; re-reading the window", [("error", .string(String(describing: error)))])
                cursor = nil
                resumedCursor = false
                pagesDone = 0
                cursorsSeen = [:]
                continue
            } catch {
                if Task.isCancelled { outcome.result = .cancelled; return outcome }
                outcome.result = .failed
                outcome.error = "\(windowText()), page \(pagesDone + 1): \(error)"
                return outcome
            }
            resumedCursor = false
            if let next = page.cursor {
                let h = AuditKey(next).hash64
                if let first = cursorsSeen[h] {
                    // Following it would fetch the same pages again, without end. The page that brought it is neither
                    // delivered nor committed: the checkpoint stays at the last page known to be good.
                    outcome.result = .failed
                    outcome.error = "\(windowText()): page \(pagesDone + 1) came back with cursor \(Self.hint(next)), "
                        + "which page \(first) already brought: the control plane is repeating itself. Stopped; nothing "
                        + "committed past page \(pagesDone)"
                    return outcome
                }
                cursorsSeen[h] = pagesDone + 1
            }
            outcome.pages += 1
            pagesDone += 1
            let exportedAt = EpochMillis.now()
            var fresh: [AuditEntry] = []
            var records: [ExportRecord] = []
            records.reserveCapacity(page.entries.count)
            for raw in page.entries {
                let read = AuditEntry.read(raw)
                outcome.entries += 1
                let h = read.key.hash64
                // Entries without a time of their own are kept as edge keys too: the next overlap may show them again.
                if (read.timestamp?.value ?? Int64.max) >= nextSeenFrom { nextSeen.insert(h) }
                if seen.contains(h) || windowKeys.contains(read.key) { outcome.duplicates += 1; continue }
                windowKeys.insert(read.key)
                switch read {
                case .entry(let entry):
                    fresh.append(entry)
                    records.append(.entry(entry, organizationID: org, exportedAt: exportedAt, otelAttributes: settings.otelAttributes))
                case .malformed(let m):
                    outcome.malformed += 1
                    log.warn("an entry is not a JSON object; exported flagged as malformed",
                             [("page", .of(pagesDone)), ("key", .string(m.key.rawValue)), ("reason", .string(m.reason)),
                              ("start", .string(String(decoding: m.raw.prefix(80), as: UTF8.self)))])
                    records.append(.malformed(m, organizationID: org, exportedAt: exportedAt, otelAttributes: settings.otelAttributes))
                }
            }
            let alerts = evaluator.evaluate(fresh, organizationID: org, exportedAt: exportedAt)
            records += alerts
            outcome.alerts += alerts.count
            // Nothing to send back: the window is done (a last page with entries but no cursor ends it too).
            complete = page.cursor == nil

            // 3. Every sink must acknowledge the page before the checkpoint moves.
            if !settings.dryRun && !records.isEmpty {
                let results = await deliver(records, exportedAt: exportedAt, deadline: deadline)
                var failures: [String] = []
                for (i, r) in results.enumerated() {
                    stats[i].delivered += r.delivered
                    stats[i].latenciesMs.append(r.latencyMs)
                    if let e = r.error { stats[i].failedPages += 1; stats[i].lastError = e; failures.append(e) }
                    for warning in r.warnings {
                        stats[i].warnings += 1
                        log.warn("sink warning", [("sink", .string(stats[i].name)), ("warning", .string(warning))])
                    }
                }
                if !failures.isEmpty {
                    outcome.result = .deliveryFailed
                    outcome.error = "\(windowText()), page \(pagesDone): " + failures.joined(separator: "; ")
                    return outcome
                }
                if Task.isCancelled { outcome.result = .cancelled; return outcome }
            }
            outcome.exported += records.count - alerts.count

            // 4. Commit: the finished window moves the watermark; otherwise the cursor of the next page is kept.
            if commits {
                let next: AuditCheckpoint
                let pending = evaluator.pending(organizationID: org, horizon: end.adding(milliseconds: -settings.overlapMs))
                if complete {
                    next = AuditCheckpoint(watermark: end, seen: nextSeen, alertPending: pending)
                } else {
                    next = AuditCheckpoint(watermark: watermark, seen: seen,
                                           inProgress: .init(start: start, end: end, cursor: page.cursor, nextSeen: nextSeen,
                                                             pagesDone: pagesDone),
                                           alertPending: pending)
                }
                do {
                    version = try await store.commit(key: storeKey, bytes: next.encoded(organizationID: org), expected: version)
                } catch let conflict as CheckpointConflict {
                    outcome.result = .conflict
                    outcome.error = conflict.description
                    return outcome
                } catch {
                    outcome.result = .failed
                    outcome.error = "\(windowText()), page \(pagesDone): committing the checkpoint failed: \(error)"
                    return outcome
                }
                if complete { outcome.watermark = end }
            }
            if complete { break }
            cursor = page.cursor
        }
        if !commits { outcome.result = .notCommitted }
        else if complete { outcome.result = .committed }
        else if outcome.pages == 0 && !outcome.resumed { outcome.result = .partial; outcome.error = "the deadline came before any page was read" }
        else { outcome.result = .partial }
        return outcome
    }

    /// A cursor's first characters, enough to tell cursors apart in an error (cursors are opaque and can be long).
    static func hint(_ cursor: String?) -> String {
        guard let cursor else { return "none" }
        return cursor.count <= 12 ? "'\(cursor)'" : "'\(cursor.prefix(12))…'"
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
