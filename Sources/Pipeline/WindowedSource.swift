// The windowed-source mechanism every scheduled source shares: read [watermark − overlap, now − lag] page by page,
// resume a window a deadline cut short, skip what the overlap already delivered, and commit only what was acknowledged.
import Core

/// What happened to one source (a log group, an organization, an archive) in one run.
public enum WindowResult: String, Sendable {
    /// The whole window was delivered and committed.
    case committed
    /// The deadline came first: everything read was delivered and committed; the next run continues the window.
    case partial
    /// Nothing to read (the window would be empty, or the source does not exist yet).
    case idle
    /// A sink did not acknowledge: nothing past the last commit is committed; that part is read again next run.
    case deliveryFailed
    /// Another run committed first: this run's work is left to it (ids are stable, duplicates are harmless).
    case conflict
    /// Reading or committing failed.
    case failed
    /// The run was cancelled; what was in flight is read again next run.
    case cancelled
    /// A replay or a dry run: nothing committed by design.
    case notCommitted

    /// Nothing was left undelivered or uncommitted that should have been.
    public var isSuccess: Bool { [.committed, .partial, .idle, .notCommitted].contains(self) }
}

/// One page of a window.
public struct WindowPage<Record: Sendable>: Sendable {
    public var records: [Record]
    /// Where the next page starts; nil when this page ends the window. A page may be empty and still carry one.
    public var next: String?
    public init(records: [Record], next: String?) { self.records = records; self.next = next }
}

/// Thrown by a reader for the two endings that are not failures.
public enum WindowReadStop: Error, Sendable {
    /// No time is left for another read: deliver and commit what was read.
    case deadline
    /// The source does not exist (yet): nothing to read and nothing worth committing; the note says why.
    case absent(note: String)
}

/// Reads one page of a window. Pacing, throttling and the source's own retries belong here.
public protocol WindowReader: Sendable {
    associatedtype Record: Sendable
    /// The page of `[start, end]` (both inclusive) at `position` (nil: the first). Throws `WindowReadStop` for the
    /// deadline or a missing source; any other error fails the run (or, for a position stored by an earlier run,
    /// restarts the window: stored positions expire).
    func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<Record>
    /// The record's id, hashed (`WindowCheckpoint.hash`), and the time that places it in the window (nil: unknown,
    /// kept as if at the window's edge).
    func identity(of record: Record) -> (hash: UInt64, time: EpochMillis?)
}

/// What a consumer says after delivering.
public enum Acknowledgement: Sendable, Equatable {
    case acknowledged
    /// A sink refused or failed: the run stops and commits nothing more.
    case failed(String)
    case cancelled
    /// Nothing of this page was handed on (no time left to fetch what it names): the run stops before it, commits
    /// what came before, and the next run reads it again.
    case deferred
}

extension BatchSink {
    /// Sends `batches` for a window consumer, adds what happened to `report`, and says whether all were acknowledged.
    public func send(_ batches: [Batch], deadline: Deadline, into report: inout DeliveryReport) async -> Acknowledgement {
        guard !batches.isEmpty else { return .acknowledged }
        let r = await deliver(batches, deadline: deadline)
        report += r
        return r.allDelivered ? .acknowledged : .failed(r.failures.first ?? "a batch was not acknowledged")
    }
}

/// The window a run reads (the checkpoint's, continued, or the next one).
public struct PlannedWindow: Sendable, Equatable {
    public var start: EpochMillis
    public var end: EpochMillis
    /// Everything at or before this was delivered before this run.
    public var watermark: EpochMillis
    /// A window an earlier run began (continued at its stored position).
    public var resumed: Bool
    public init(start: EpochMillis, end: EpochMillis, watermark: EpochMillis, resumed: Bool) {
        self.start = start; self.end = end; self.watermark = watermark; self.resumed = resumed
    }
}

/// The transform and sink side of a windowed source: it turns fresh records into deliveries and says when they were
/// acknowledged, and owns the source's own part of the checkpoint.
public protocol WindowConsumer {
    associatedtype Record
    /// Reads the source's own members of the stored checkpoint (called before the first page when checkpoints are
    /// used). A throw stops the run: the checkpoint cannot be used as it is.
    mutating func restore(from document: JSONValue, window: PlannedWindow) throws
    /// The fresh records of one page (duplicates already removed), in page order: process them and deliver what is
    /// ready. Everything handed over so far must be acknowledged before the mechanism commits.
    mutating func consume(_ records: [Record], window: PlannedWindow) async -> Acknowledgement
    /// The run stops reading (`complete`: the window ended): deliver what must go before the commit. Returns the
    /// acknowledgement, and whether the consumer's state changed (then it is committed even when pages commit on
    /// their own).
    mutating func finish(window: PlannedWindow, complete: Bool) async -> (Acknowledgement, changed: Bool)
    /// Appends the source's own members to the checkpoint about to be committed.
    func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool)
}

extension WindowConsumer {
    public mutating func restore(from document: JSONValue, window: PlannedWindow) throws {}
    public mutating func finish(window: PlannedWindow, complete: Bool) async -> (Acknowledgement, changed: Bool) { (.acknowledged, false) }
    public func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool) {}
}

/// How a source runs its windows.
public struct WindowPolicy: Sendable {
    public var overlapMs: Int64
    /// Stop reading when less than this is left before the deadline (delivery and commit need the rest).
    public var pullMarginMs: Int64
    /// Commit after every acknowledged page (sources whose pages are costly to read again), or once at the end.
    public var commitEachPage: Bool
    /// Also skip records seen twice in one run (sources whose pages can repeat records), not only the overlap's.
    public var deduplicateWithinRun: Bool
    /// More pages than this in one window, over all its runs, means the source is looping: stop. nil: no bound.
    public var maxPagesPerWindow: Int?
    /// The setting that raises the bound, named in the error.
    public var maxPagesSetting: String

    public init(overlapMs: Int64, pullMarginMs: Int64, commitEachPage: Bool, deduplicateWithinRun: Bool = false,
                maxPagesPerWindow: Int? = nil, maxPagesSetting: String = "") {
        self.overlapMs = overlapMs
        self.pullMarginMs = pullMarginMs
        self.commitEachPage = commitEachPage
        self.deduplicateWithinRun = deduplicateWithinRun
        self.maxPagesPerWindow = maxPagesPerWindow
        self.maxPagesSetting = maxPagesSetting
    }
}

/// Where a run's window comes from.
public enum WindowStart: Sendable {
    /// The stored checkpoint (continued or the next window), committed after acknowledgement. Without a checkpoint
    /// the first window is `[initialStart, end]` and moves the watermark from `initialWatermark`.
    case checkpoint(initialWatermark: EpochMillis, initialStart: EpochMillis)
    /// An explicit window (a replay): no checkpoint is read or committed.
    case explicit(start: EpochMillis)
    /// The checkpoint's window, but nothing is committed (a dry run).
    case dryRun(initialWatermark: EpochMillis, initialStart: EpochMillis)
}

/// What one run of one source did, for its summary.
public struct WindowOutcome: Sendable {
    public var result: WindowResult = .idle
    public var windowStart: EpochMillis?
    public var windowEnd: EpochMillis?
    public var resumed = false
    public var pages = 0
    /// Records read, duplicates included.
    public var records = 0
    public var duplicates = 0
    /// Time spent in the reader (pacing included).
    public var readMs: Int64 = 0
    /// Everything up to here is delivered and committed (after this run); nil when the run commits nothing.
    public var watermark: EpochMillis?
    public var error: String?
    /// Things the operator should know that are not failures.
    public var notes: [String] = []
    public init() {}
}

/// One source's run: the mechanism that `TickRunner`, `AuditExporter` and the Flex archive source share.
public struct WindowedSource<Reader: WindowReader>: Sendable {
    public let reader: Reader
    public let store: any CheckpointStore
    /// The checkpoint's key in the store.
    public let key: String
    /// What the checkpoint belongs to (its owner member).
    public let owner: String
    /// How the source is named in errors ("log group X", "organization Y").
    public let label: String
    /// How the source calls its positions in errors ("cursor", "token").
    public let positionNoun: String
    public let format: WindowCheckpointFormat
    public let policy: WindowPolicy
    public let logger: Logger

    public init(reader: Reader, store: any CheckpointStore, key: String, owner: String, label: String, positionNoun: String,
                format: WindowCheckpointFormat, policy: WindowPolicy, logger: Logger) {
        self.reader = reader
        self.store = store
        self.key = key
        self.owner = owner
        self.label = label
        self.positionNoun = positionNoun
        self.format = format
        self.policy = policy
        self.logger = logger
    }

    /// Reads the window ending at `end`, hands fresh records to `consumer`, and commits what it acknowledged.
    public func run<C: WindowConsumer>(from origin: WindowStart, end defaultEnd: EpochMillis, consumer: inout C,
                                       deadline: Deadline) async -> WindowOutcome where C.Record == Reader.Record {
        var outcome = WindowOutcome()
        let commits: Bool
        var initial: (watermark: EpochMillis, start: EpochMillis)?
        switch origin {
        case .checkpoint(let w, let s): commits = true; initial = (w, s)
        case .dryRun(let w, let s): commits = false; initial = (w, s)
        case .explicit: commits = false
        }

        // 1. Where to read: the checkpoint's window (continued, or the next one), or the explicit one.
        var version = CheckpointVersion.absent
        var stored: (checkpoint: WindowCheckpoint, document: JSONValue)?
        if initial != nil {
            do {
                let loaded = try await store.load(key: key)
                version = loaded.version
                if let bytes = loaded.bytes { stored = try format.decode(bytes) }
            } catch {
                // An unreadable checkpoint must not silently restart from the beginning (that would skip or duplicate).
                outcome.result = .failed
                outcome.error = "the checkpoint \(key) cannot be loaded or read (\(error)); fix or delete it"
                return outcome
            }
        }
        var window: PlannedWindow
        var position: String?
        var nextSeen = Set<UInt64>()
        var pagesDone = 0
        let seen = stored?.checkpoint.seen ?? []
        if case .explicit(let start) = origin {
            window = PlannedWindow(start: start, end: defaultEnd, watermark: start, resumed: false)
        } else if let cp = stored?.checkpoint, let p = cp.inProgress {
            window = PlannedWindow(start: p.start, end: p.end, watermark: cp.watermark, resumed: true)
            position = p.position; nextSeen = p.nextSeen; pagesDone = p.pagesDone
        } else if let cp = stored?.checkpoint {
            window = PlannedWindow(start: cp.watermark.adding(milliseconds: -policy.overlapMs), end: defaultEnd,
                                   watermark: cp.watermark, resumed: false)
        } else {
            let i = initial ?? (defaultEnd, defaultEnd)
            window = PlannedWindow(start: i.start, end: defaultEnd, watermark: i.watermark, resumed: false)
        }
        outcome.windowStart = window.start
        outcome.windowEnd = window.end
        outcome.resumed = window.resumed
        if commits { outcome.watermark = window.watermark }
        if let document = stored?.document, initial != nil {
            do { try consumer.restore(from: document, window: window) } catch {
                outcome.result = .failed
                outcome.error = "the checkpoint \(key) cannot be read (\(error)); fix or delete it"
                return outcome
            }
        }
        guard window.end > window.start, window.resumed || stored == nil || window.end > window.watermark else { return outcome }

        // 2. Page after page, for as long as the source hands out a next position. Two guards keep a looping source
        //    from paging forever: a position this run has already seen, and more pages than the policy's bound.
        let pullDeadline = deadline.reserving(milliseconds: policy.pullMarginMs)
        let nextSeenFrom = window.end.value - policy.overlapMs
        var runSeen = Set<UInt64>()
        var resumedPosition = position != nil
        var complete = false
        var positionsSeen: [UInt64: Int] = [:]
        if let p = position { positionsSeen[WindowCheckpoint.hash(p)] = pagesDone }
        let windowText = "\(label), window [\(window.start.iso8601), \(window.end.iso8601)]"

        func commit(complete: Bool) async -> Bool {
            let next: WindowCheckpoint
            if complete {
                next = WindowCheckpoint(watermark: window.end, seen: nextSeen)
            } else {
                next = WindowCheckpoint(watermark: window.watermark, seen: seen,
                                        inProgress: .init(start: window.start, end: window.end, position: position,
                                                          nextSeen: nextSeen, pagesDone: pagesDone))
            }
            let bytes = format.encode(next, owner: owner) { consumer.writeCheckpointMembers(to: &$0, window: window, complete: complete) }
            do {
                version = try await store.commit(key: key, bytes: bytes, expected: version)
            } catch let conflict as CheckpointConflict {
                outcome.result = .conflict
                outcome.error = conflict.description
                return false
            } catch {
                outcome.result = .failed
                outcome.error = "\(windowText), page \(pagesDone): committing the checkpoint failed: \(error)"
                return false
            }
            if complete { outcome.watermark = window.end }
            return true
        }

        reading: while true {
            if Task.isCancelled { outcome.result = .cancelled; return outcome }
            if pullDeadline.hasPassed() { break }
            if let bound = policy.maxPagesPerWindow, pagesDone >= bound {
                outcome.result = .failed
                outcome.error = "\(windowText): \(pagesDone) pages without an answer that ends the window "
                    + "(\(policy.maxPagesSetting)=\(bound)); the source keeps sending \(positionNoun)s (last \(Self.hint(position))). "
                    + "Nothing committed past page \(pagesDone). If the window really holds more pages, raise \(policy.maxPagesSetting)"
                return outcome
            }
            let readStart = EpochMillis.now()
            let page: WindowPage<Reader.Record>
            do {
                page = try await reader.read(start: window.start, end: window.end, position: position, deadline: pullDeadline)
            } catch WindowReadStop.deadline {
                break
            } catch WindowReadStop.absent(let note) {
                outcome.result = .idle
                outcome.notes.append(note)
                return outcome
            } catch where resumedPosition {
                // A stored position the source no longer accepts (they expire): read the window from its start again.
                // Records of the pages already delivered come again, with the same ids.
                logger.warn("the stored \(positionNoun) was refused; re-reading the window", [("error", .string(String(describing: error)))])
                position = nil
                resumedPosition = false
                pagesDone = 0
                positionsSeen = [:]
                continue
            } catch {
                if Task.isCancelled { outcome.result = .cancelled; return outcome }
                outcome.result = .failed
                outcome.error = "\(windowText), page \(pagesDone + 1): \(error)"
                return outcome
            }
            outcome.readMs += EpochMillis.now().value - readStart.value
            resumedPosition = false
            if let next = page.next {
                let h = WindowCheckpoint.hash(next)
                if let first = positionsSeen[h] {
                    // Following it would fetch the same pages again, without end. The page that brought it is neither
                    // delivered nor committed: the checkpoint stays at the last page known to be good.
                    outcome.result = .failed
                    outcome.error = "\(windowText): page \(pagesDone + 1) came back with \(positionNoun) \(Self.hint(next)), "
                        + "which page \(first) already brought: the source is repeating itself. Stopped; nothing "
                        + "committed past page \(pagesDone)"
                    return outcome
                }
                positionsSeen[h] = pagesDone + 1
            }
            outcome.pages += 1
            pagesDone += 1

            // 3. De-duplicate: ids the last window read inside the overlap (and, if asked, ids seen earlier this run).
            var fresh: [Reader.Record] = []
            fresh.reserveCapacity(page.records.count)
            for record in page.records {
                outcome.records += 1
                let (h, time) = reader.identity(of: record)
                if (time?.value ?? Int64.max) >= nextSeenFrom { nextSeen.insert(h) }
                if seen.contains(h) { outcome.duplicates += 1; continue }
                if policy.deduplicateWithinRun, !runSeen.insert(h).inserted { outcome.duplicates += 1; continue }
                fresh.append(record)
            }
            complete = page.next == nil

            // 4. Deliver; the checkpoint moves only past what was acknowledged.
            let ack = await consumer.consume(fresh, window: window)
            if Self.stops(ack, &outcome, where: "\(windowText), page \(pagesDone)") { return outcome }
            if ack == .deferred {
                pagesDone -= 1
                complete = false
                break reading
            }
            position = page.next
            if commits && policy.commitEachPage {
                guard await commit(complete: complete) else { return outcome }
            }
            if complete { break }
        }
        if !complete && outcome.pages == 0 {
            outcome.result = commits ? .partial : .notCommitted
            outcome.error = "the deadline came before any page was read"
            return outcome
        }

        // 5. The end of this run's reading: what the consumer still holds goes out, then the last commit.
        let (ack, changed) = await consumer.finish(window: window, complete: complete)
        if Self.stops(ack, &outcome, where: windowText) { return outcome }
        if commits && (!policy.commitEachPage || changed) {
            guard await commit(complete: complete) else { return outcome }
        }
        outcome.result = !commits ? .notCommitted : complete ? .committed : .partial
        return outcome
    }

    /// Whether `ack` ends the run (a failed delivery, a cancellation), and then what the outcome says.
    static func stops(_ ack: Acknowledgement, _ outcome: inout WindowOutcome, where place: String) -> Bool {
        switch ack {
        case .acknowledged, .deferred:
            return false
        case .failed(let why):
            outcome.result = .deliveryFailed
            outcome.error = "\(place): \(why)"
            return true
        case .cancelled:
            outcome.result = .cancelled
            return true
        }
    }

    /// A position's first characters, enough to tell positions apart in an error (they are opaque and can be long).
    public static func hint(_ position: String?) -> String {
        guard let position else { return "none" }
        return position.count <= 12 ? "'\(position)'" : "'\(position.prefix(12))…'"
    }
}
