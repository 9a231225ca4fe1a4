// The REST execution-log stitcher: an incremental, pure transform from CloudWatch events to whole transactions.
import AWS
import Core

/// Tuning for the stitcher; the defaults suit a one-minute poll.
public struct StitcherOptions: Sendable {
    /// How far (in log-stream time) a stream must move past `Method completed with status` before the transaction is
    /// emitted. Trailer lines (`AWS Integration Endpoint RequestId`, `X-ray Tracing ID`) follow the marker within the
    /// same millisecond, so a second is plenty; `finishWindow` emits whatever is still held.
    public var trailerHoldMs: Int64 = 1_000
    /// How long (log time) an emitted request id is remembered, so that its trailer lines arriving later, even in the
    /// next window, are absorbed. Set it to at least the poll overlap plus lag: older lines are never read again.
    /// The remembered ids travel in the checkpoint, so a longer retention makes the checkpoint bigger.
    public var tombstoneRetentionMs: Int64 = 5 * 60 * 1_000
    /// Upper bound on remembered ids, whatever their age (bounds memory and checkpoint size on very busy stages).
    public var maxTombstones = 100_000
    /// Resource id → resource path of this stage's REST API (from discovery, `GET /restapis/{id}/resources`). Throttling
    /// lines name the resource by id only; with the map such a transaction still gets its `request.path`.
    public var resourcePaths: [String: String] = [:]
    /// The custom domains mapped to this stage (sorted): a request whose `Host` is one of them gets its base path in
    /// front of the logged path; one without a reliable `Host` is given the first (docs/transaction-format.md).
    public var customDomains: [DomainMapping] = []

    public init(trailerHoldMs: Int64 = 1_000, tombstoneRetentionMs: Int64 = 5 * 60 * 1_000, maxTombstones: Int = 100_000,
                resourcePaths: [String: String] = [:]) {
        self.trailerHoldMs = trailerHoldMs
        self.tombstoneRetentionMs = tombstoneRetentionMs
        self.maxTombstones = maxTombstones
        self.resourcePaths = resourcePaths
    }
}

/// Groups execution-log lines by (log stream, request id) and emits one `Transaction` per request.
///
/// Feed it events in any order the source delivers them (CloudWatch orders by timestamp, interleaving streams and
/// requests). A request is complete at `Method completed with status: N`; it is then *held* until its stream has moved
/// `trailerHoldMs` past the marker, so trailer lines attach to it, and emitted. Trailer lines that arrive after
/// emission are absorbed (the id is remembered), so a request never yields two transactions. Requests still open at
/// the end of a window are exported with `exportState()` and restored in the next tick.
public struct RESTExecutionLogStitcher<Format: ExecutionLogFormat>: Sendable {
    public let logGroup: LogGroupName
    public let region: AWSRegion
    public let accountId: AWSAccountID?
    public let apiId: String?
    public let stage: String?
    public let format: Format
    public let options: StitcherOptions
    public private(set) var counters = TrafficCounters()

    var streams: [StreamState] = []
    var streamIndex: [LogStreamName: Int32] = [:]
    var requests: [RequestKey: PendingRequest] = [:]
    var tombstones = Tombstones<RequestKey>()
    var maxTimestamp = Int64.min
    /// Finished requests are kept in `deferred` instead of being built and emitted (`apitap stitch` builds them on
    /// another thread with a copy of this stitcher's settings: `build` reads nothing that changes).
    var deferBuilding = false
    var deferred: [DeferredTransaction] = []
    var generation: UInt32 = 0
    let fallbackHost: String?

    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, format: Format,
                options: StitcherOptions = StitcherOptions()) {
        self.logGroup = logGroup
        self.region = region
        self.accountId = accountId
        let stage = logGroup.restExecutionLogStage
        self.apiId = stage?.apiId
        self.stage = stage?.stage
        self.format = format
        self.options = options
        self.fallbackHost = stage.map { "\($0.apiId).execute-api.\(region.rawValue).amazonaws.com" }
    }

    /// Requests seen but not yet emitted (open, or complete and held for trailers).
    public var pendingCount: Int { requests.count }

    // MARK: input

    /// Feeds one CloudWatch event. Completed transactions whose trailer hold has passed are handed to `emit`.
    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: UnsafeRawBufferPointer,
                                emit: (Transaction) -> Void) {
        ingest(stream: index(of: logStream), timestamp: timestamp, message: message, emit: emit)
    }

    /// The same for a stream already resolved with `index(of:)` (callers that cache it skip a lookup per event).
    mutating func ingest(stream: Int32, timestamp: EpochMillis, message: UnsafeRawBufferPointer, emit: (Transaction) -> Void) {
        let ts = timestamp.value
        if ts > streams[Int(stream)].maxTimestamp { streams[Int(stream)].maxTimestamp = ts }
        if ts > maxTimestamp { maxTimestamp = ts }
        // A local copy: the closure mutates self, so self.format must not be borrowed across the call.
        let format = self.format
        let parsed = format.parse(message) { line in apply(line, stream: stream, timestamp: ts, emit: emit) }
        if parsed { counters.linesParsed += 1 } else { counters.linesFailed += 1 }
        releaseHeld(stream: stream, emit: emit)
        evictTombstones()
    }

    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: [UInt8], emit: (Transaction) -> Void) {
        message.withUnsafeBytes { ingest(logStream: logStream, timestamp: timestamp, message: $0, emit: emit) }
    }

    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: String, emit: (Transaction) -> Void) {
        var message = message
        message.withUTF8 { ingest(logStream: logStream, timestamp: timestamp, message: UnsafeRawBufferPointer($0), emit: emit) }
    }

    // MARK: flushing

    /// End of a window: emits every completed request still held for trailers. Open requests stay (see `exportState`).
    public mutating func finishWindow(emit: (Transaction) -> Void) {
        let keys = sortedKeys { $0.endTimestamp != nil }
        for key in keys { finish(key, incomplete: false, emit: emit) }
        for i in streams.indices { streams[i].held.removeAll(); streams[i].heldHead = 0 }
    }

    /// Emits, flagged `incomplete`, the open requests whose last line is older than `cutoff`
    /// (the caller passes now − INCOMPLETE_MAX_AGE_SECONDS).
    public mutating func flushIncomplete(olderThan cutoff: EpochMillis, emit: (Transaction) -> Void) {
        let keys = sortedKeys { $0.endTimestamp == nil && $0.lastTimestamp < cutoff.value }
        for key in keys { finish(key, incomplete: true, emit: emit) }
    }

    /// End of input (`apitap stitch`): emits everything, open requests flagged `incomplete`.
    public mutating func flushAll(emit: (Transaction) -> Void) {
        finishWindow(emit: emit)
        let keys = sortedKeys { _ in true }
        for key in keys { finish(key, incomplete: true, emit: emit) }
    }

    /// Adds the counters of this stitcher to the caller's and resets them (per-tick summaries).
    public mutating func takeCounters() -> TrafficCounters {
        defer { counters = TrafficCounters() }
        return counters
    }

    // MARK: internals

    mutating func index(of logStream: LogStreamName) -> Int32 {
        if let i = streamIndex[logStream] { return i }
        let i = Int32(streams.count)
        streams.append(StreamState(name: logStream))
        streamIndex[logStream] = i
        return i
    }

    mutating func apply(_ line: ExecutionLogLine, stream: Int32, timestamp: Int64, emit: (Transaction) -> Void) {
        if line.truncated { counters.linesTruncated += 1 }
        let key = RequestKey(stream: stream, id: RequestIDKey(line.requestId))
        if let i = requests.index(forKey: key) {
            // `opensRequest` first and read in place: a plain read of `values[i]` copies the whole request.
            if line.fact.opensRequest, Self.inPlace(&requests.values[i], { $0.isReopened(by: line.fact) }) {
                // The id was reused by a new request (clients may choose request ids): close the old one first.
                finish(key, incomplete: false, emit: emit)
            } else {
                let completed = requests.values[i].apply(line.fact, truncated: line.truncated, timestamp: timestamp)
                if completed { hold(key, stream: stream, completedAt: timestamp, emit: emit) }
                return
            }
        } else if tombstones.contains(key) {
            guard line.fact.opensRequest else {
                counters.linesAfterEmission += 1
                return
            }
            tombstones.remove(key)
        }
        var pending = PendingRequest(requestId: String(decoding: line.requestId, as: UTF8.self), stream: stream, timestamp: timestamp)
        let completed = pending.apply(line.fact, truncated: line.truncated, timestamp: timestamp)
        requests[key] = pending
        if completed { hold(key, stream: stream, completedAt: timestamp, emit: emit) }
    }

    mutating func hold(_ key: RequestKey, stream: Int32, completedAt: Int64, emit: (Transaction) -> Void) {
        guard options.trailerHoldMs > 0 else {
            finish(key, incomplete: false, emit: emit)
            return
        }
        generation &+= 1
        if let i = requests.index(forKey: key) { requests.values[i].generation = generation }
        streams[Int(stream)].held.append(HeldEntry(id: key.id, generation: generation, completedAt: completedAt))
    }

    mutating func releaseHeld(stream: Int32, emit: (Transaction) -> Void) {
        let s = Int(stream)
        while streams[s].heldHead < streams[s].held.count {
            let entry = streams[s].held[streams[s].heldHead]
            guard streams[s].maxTimestamp > entry.completedAt &+ options.trailerHoldMs else { break }
            streams[s].heldHead += 1
            let key = RequestKey(stream: stream, id: entry.id)
            // The entry is stale if the request was already emitted (window end, id reuse).
            // Read in place (inout): a plain read of `values[i]` would copy the whole pending request.
            if let i = requests.index(forKey: key),
               Self.inPlace(&requests.values[i], { $0.generation == entry.generation && $0.endTimestamp != nil }) {
                finish(key, incomplete: false, emit: emit)
            }
        }
        if streams[s].heldHead > 256, streams[s].heldHead * 2 > streams[s].held.count {
            streams[s].held.removeFirst(streams[s].heldHead)
            streams[s].heldHead = 0
        }
    }

    @inline(__always) static func inPlace<R>(_ pending: inout PendingRequest, _ body: (inout PendingRequest) -> R) -> R {
        body(&pending)
    }

    mutating func finish(_ key: RequestKey, incomplete: Bool, emit: (Transaction) -> Void) {
        guard let pending = requests.removeValue(forKey: key) else { return }
        remember(key, at: max(pending.lastTimestamp, pending.endTimestamp ?? Int64.min))
        guard pending.substantive else {
            counters.fragmentsDropped += 1
            return
        }
        let flagged = incomplete && pending.endTimestamp == nil
        counters.transactionsEmitted += 1
        if flagged { counters.transactionsIncomplete += 1 }
        let streamName = streams[Int(pending.stream)].name
        if deferBuilding {
            deferred.append(DeferredTransaction(pending: pending, incomplete: flagged, streamName: streamName))
            return
        }
        emit(build(pending, incomplete: flagged, streamName: streamName))
    }

    mutating func remember(_ key: RequestKey, at timestamp: Int64) { tombstones.insert(key, at: timestamp) }

    mutating func evictTombstones() {
        tombstones.evict(newest: maxTimestamp, retentionMs: options.tombstoneRetentionMs, maxCount: options.maxTombstones)
    }

    // MARK: rolling back one delivery

    /// What `rollBack` needs to undo everything since `mark()`: the small parts copied (open requests, streams), the
    /// remembered ids by position in their queue (new ones are removed, evicted ones put back). O(open requests), not
    /// O(remembered ids): a warm `awslogs` sandbox marks before every delivery.
    public struct Mark: Sendable {
        fileprivate let streams: [StreamState]
        fileprivate let streamIndex: [LogStreamName: Int32]
        fileprivate let requests: [RequestKey: PendingRequest]
        fileprivate let tombstones: Tombstones<RequestKey>.Mark
        fileprivate let maxTimestamp: Int64
        fileprivate let generation: UInt32
        fileprivate let counters: TrafficCounters
    }

    /// Starts a span of work that `rollBack(to:)` can undo; `commit()` ends it.
    public mutating func mark() -> Mark {
        Mark(streams: streams, streamIndex: streamIndex, requests: requests, tombstones: tombstones.mark(),
             maxTimestamp: maxTimestamp, generation: generation, counters: counters)
    }

    /// Keeps what was done since `mark()`.
    public mutating func commit() {
        tombstones.commit()
        evictTombstones()
    }

    /// Undoes everything since `mark`: the stitcher is as it was then.
    public mutating func rollBack(to mark: Mark) {
        tombstones.rollBack(to: mark.tombstones)
        streams = mark.streams
        streamIndex = mark.streamIndex
        requests = mark.requests
        maxTimestamp = mark.maxTimestamp
        generation = mark.generation
        counters = mark.counters
    }

    /// Keys in a deterministic order (first line time, stream name, request id), so flushed output is reproducible.
    func sortedKeys(where predicate: (PendingRequest) -> Bool) -> [RequestKey] {
        var selected: [(key: RequestKey, first: Int64, id: String)] = []
        for (key, pending) in requests where predicate(pending) { selected.append((key, pending.firstTimestamp, pending.requestId)) }
        selected.sort { a, b in
            if a.first != b.first { return a.first < b.first }
            if a.key.stream != b.key.stream {
                return streams[Int(a.key.stream)].name.rawValue < streams[Int(b.key.stream)].name.rawValue
            }
            return a.id < b.id
        }
        return selected.map(\.key)
    }
}

extension RESTExecutionLogStitcher where Format == TextExecutionLogFormat {
    /// A stitcher for the classic text execution logs.
    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, options: StitcherOptions = StitcherOptions()) {
        self.init(logGroup: logGroup, region: region, accountId: accountId, format: TextExecutionLogFormat(), options: options)
    }
}

struct StreamState: Sendable {
    var name: LogStreamName
    var maxTimestamp = Int64.min
    /// Completed requests waiting for trailers, in completion order.
    var held: [HeldEntry] = []
    var heldHead = 0
    init(name: LogStreamName) { self.name = name }
}

struct HeldEntry: Sendable {
    var id: RequestIDKey
    var generation: UInt32
    var completedAt: Int64
}

/// A finished request whose Transaction is still to be built (`RESTExecutionLogStitcher.deferBuilding`).
struct DeferredTransaction: Sendable {
    let pending: PendingRequest
    let incomplete: Bool
    let streamName: LogStreamName
}
