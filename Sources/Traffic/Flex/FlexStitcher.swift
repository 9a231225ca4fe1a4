// The Flex Gateway stitcher: a pure, incremental transform from Message Logging lines to whole transactions.
import AWS
import Core

/// Tuning and filters for the Flex stitcher.
public struct FlexStitcherOptions: Sendable {
    /// A message at least this long was cut at the gateway's entry limit (Cequence: "about 30 KB"; no cut marker is
    /// written), so its free value (a body) is incomplete (`FLEX_ENTRY_LIMIT_BYTES`).
    public var entryLimitBytes: Int
    /// How far (log time) the input must move past a request's last response line before it is emitted, so that its
    /// other lines logged in the same instant still join it; `finishWindow` emits whatever is held.
    public var holdMs: Int64
    /// How long (log time) an emitted request id is remembered, so that a late line of it is absorbed, never a
    /// second transaction. The ids travel in the checkpoint.
    public var tombstoneRetentionMs: Int64
    public var maxTombstones: Int
    /// `FLEX_APIS`: API instance ids or API names to keep; nil keeps every API.
    public var apis: Set<String>?

    public static let defaultEntryLimitBytes = 30_000

    public init(entryLimitBytes: Int = FlexStitcherOptions.defaultEntryLimitBytes, holdMs: Int64 = 1_000,
                tombstoneRetentionMs: Int64 = 5 * 60 * 1_000, maxTombstones: Int = 100_000, apis: Set<String>? = nil) {
        self.entryLimitBytes = entryLimitBytes
        self.holdMs = holdMs
        self.tombstoneRetentionMs = tombstoneRetentionMs
        self.maxTombstones = maxTombstones
        self.apis = apis
    }
}

/// Joins Message Logging lines by request id and emits one `Transaction` per request.
///
/// Lines of many requests interleave, and a request's lines may come in any order (a response before its request).
/// A request is complete once a line of its request side and its response's last line (`res.body`, or Cequence's
/// `Response LOG`) are in; it is then held `holdMs` of log time, so lines logged in the same instant still join it,
/// and emitted. Requests still open at the end of a window are exported with `exportState()` and restored next
/// tick; after `INCOMPLETE_MAX_AGE_SECONDS` without a new line they are emitted flagged `incomplete`.
public struct FlexStitcher: Sendable {
    public let logGroup: LogGroupName
    public let region: AWSRegion
    public let accountId: AWSAccountID?
    public let options: FlexStitcherOptions
    public private(set) var counters = FlexCounters()

    var streams: [LogStreamName] = []
    var streamIndex: [LogStreamName: Int32] = [:]
    /// Per stream, the free value the last line ended in: a line without a prefix right after it continues it (a
    /// message a line break split into records).
    var openValue: [Int32: (key: RequestIDKey, field: FlexField)] = [:]
    var requests: [RequestIDKey: FlexPending] = [:]
    var held: [(key: RequestIDKey, generation: UInt32, completedAt: Int64)] = []
    var heldHead = 0
    var tombstones = Tombstones<RequestIDKey>()
    var maxTimestamp = Int64.min
    var generation: UInt32 = 0

    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, options: FlexStitcherOptions = FlexStitcherOptions()) {
        self.logGroup = logGroup
        self.region = region
        self.accountId = accountId
        self.options = options
    }

    /// Requests seen but not yet emitted.
    public var pendingCount: Int { requests.count }

    // MARK: input

    /// Feeds one record (a CloudWatch event's message, or one line of an archive file). Completed transactions whose
    /// hold has passed are handed to `emit`.
    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: UnsafeRawBufferPointer,
                                emit: (Transaction) -> Void) {
        let stream = index(of: logStream)
        let ts = timestamp.value
        if ts > maxTimestamp { maxTimestamp = ts }
        var start = 0
        while start < message.count, message[start] == 0x20 { start += 1 }
        if start < message.count, message[start] == UInt8(ascii: "{") {
            // A Fluent Bit JSON record: the line is its `log` (or `message`) member.
            guard let line = Self.recordLine(UnsafeRawBufferPointer(rebasing: message[start...])) else {
                counters.traffic.linesFailed += 1
                return
            }
            line.withUnsafeBytes { apply($0, stream: stream, timestamp: ts, emit: emit) }
        } else {
            apply(message, stream: stream, timestamp: ts, emit: emit)
        }
        release(emit: emit)
        evictTombstones()
    }

    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: String, emit: (Transaction) -> Void) {
        var message = message
        message.withUTF8 { ingest(logStream: logStream, timestamp: timestamp, message: UnsafeRawBufferPointer($0), emit: emit) }
    }

    public mutating func ingest(logStream: LogStreamName, timestamp: EpochMillis, message: [UInt8], emit: (Transaction) -> Void) {
        message.withUnsafeBytes { ingest(logStream: logStream, timestamp: timestamp, message: $0, emit: emit) }
    }

    /// The Fluent Bit record keys the line may sit under. Flex's record key names are not documented; `log` is Fluent
    /// Bit's own default, `message`/`msg` what log shippers commonly use.
    static let recordKeys = ["log", "message", "msg"]

    static func recordLine(_ record: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let object = (try? JSONReader.parse(record))?.objectValue else { return nil }
        for key in recordKeys { if case .string(let s)? = object[key] { return Array(s.utf8) } }
        return nil
    }

    // MARK: flushing

    /// End of a window: emits every completed request still held. Open requests stay (see `exportState`).
    public mutating func finishWindow(emit: (Transaction) -> Void) {
        for key in sortedKeys(where: { $0.isComplete }) { finish(key, incomplete: false, emit: emit) }
        held.removeAll()
        heldHead = 0
    }

    /// Emits, flagged `incomplete`, the open requests whose last line is older than `cutoff`.
    public mutating func flushIncomplete(olderThan cutoff: EpochMillis, emit: (Transaction) -> Void) {
        for key in sortedKeys(where: { !$0.isComplete && $0.lastTimestamp < cutoff.value }) { finish(key, incomplete: true, emit: emit) }
    }

    /// End of input (`apitap stitch`): emits everything, open requests flagged `incomplete`.
    public mutating func flushAll(emit: (Transaction) -> Void) {
        finishWindow(emit: emit)
        for key in sortedKeys(where: { _ in true }) { finish(key, incomplete: true, emit: emit) }
    }

    public mutating func takeCounters() -> FlexCounters {
        defer { counters = FlexCounters() }
        return counters
    }

    // MARK: internals

    mutating func index(of logStream: LogStreamName) -> Int32 {
        if let i = streamIndex[logStream] { return i }
        let i = Int32(streams.count)
        streams.append(logStream)
        streamIndex[logStream] = i
        return i
    }

    mutating func apply(_ line: UnsafeRawBufferPointer, stream: Int32, timestamp: Int64, emit: (Transaction) -> Void) {
        guard let located = FlexLogLine.locate(line) else {
            // Without a prefix, right after a free value of this stream: the rest of that value (a line break
            // inside a body split the message). Anything else is the gateway's other logging.
            if let open = openValue[stream], !FlexLogLine.looksLikeLogLine(line), requests[open.key] != nil {
                continueValue(open, with: line, timestamp: timestamp)
                return
            }
            openValue[stream] = nil
            counters.ignore(.notPerRequest)
            return
        }
        openValue[stream] = nil
        let parsed = FlexMessageGrammar.parse(line, message: located.message)
        let message: FlexMessage
        switch parsed {
        case .message(let m): message = m
        case .unknownCategory: counters.ignore(.unknownCategory); return
        case .unknownField: counters.ignore(.unknownField); return
        case .unrecognized: counters.ignore(located.accessLog ? .unrecognized : .runtimeLog); return
        }
        // Only Message Logging lines carry messages of these shapes; a runtime log line that happens to (a policy
        // printing `200`) is not taken unless it is unmistakably ours.
        guard located.accessLog || message.layout != nil else { counters.ignore(.runtimeLog); return }
        counters.traffic.linesParsed += 1
        let idBytes = UnsafeRawBufferPointer(rebasing: line[located.requestId])
        let key = RequestIDKey(idBytes)
        if requests[key] == nil {
            if tombstones.contains(key) {
                counters.traffic.linesAfterEmission += 1
                return
            }
            requests[key] = FlexPending(requestId: String(decoding: idBytes, as: UTF8.self), stream: stream, timestamp: timestamp)
        }
        let cut = located.message.count >= options.entryLimitBytes
        guard let i = requests.index(forKey: key) else { return }
        // Read and changed in place: a plain read of `values[i]` would copy the whole pending request.
        let (wasComplete, isComplete, newMismatch) = Self.inPlace(&requests.values[i]) { p -> (Bool, Bool, Bool) in
            let was = p.isComplete
            p.lastTimestamp = max(p.lastTimestamp, timestamp)
            if p.apiName == nil, let api = located.apiName(in: line) { p.apiName = Array(line[api]) }
            var mismatch = false
            if let echoed = message.echoedRequestId, !p.idMismatch, !UnsafeRawBufferPointer(rebasing: line[echoed]).elementsEqual(idBytes) {
                p.idMismatch = true
                mismatch = true
            }
            p.record(message, value: line[message.value], cut: cut, timestamp: timestamp)
            return (was, p.isComplete, mismatch)
        }
        if newMismatch { counters.requestIdMismatches += 1 }
        if Self.isFreeValue(message.field) { openValue[stream] = (key, message.field) }
        if !wasComplete, isComplete { hold(key, completedAt: timestamp, emit: emit) }
    }

    static func isFreeValue(_ field: FlexField) -> Bool {
        switch field {
        case .requestBody, .responseBody, .cequenceRequest, .cequenceResponse: return true
        default: return false
        }
    }

    mutating func continueValue(_ open: (key: RequestIDKey, field: FlexField), with line: UnsafeRawBufferPointer, timestamp: Int64) {
        counters.linesContinued += 1
        let cut = line.count >= options.entryLimitBytes
        guard let i = requests.index(forKey: open.key) else { return }
        Self.inPlace(&requests.values[i]) { p in
            p.lastTimestamp = max(p.lastTimestamp, timestamp)
            p.append(line: line, to: open.field, cut: cut)
        }
    }

    @inline(__always) static func inPlace<R>(_ pending: inout FlexPending, _ body: (inout FlexPending) -> R) -> R { body(&pending) }

    mutating func hold(_ key: RequestIDKey, completedAt: Int64, emit: (Transaction) -> Void) {
        guard options.holdMs > 0 else {
            finish(key, incomplete: false, emit: emit)
            return
        }
        generation &+= 1
        requests[key]?.generation = generation
        held.append((key, generation, completedAt))
    }

    mutating func release(emit: (Transaction) -> Void) {
        while heldHead < held.count {
            let entry = held[heldHead]
            guard maxTimestamp > entry.completedAt &+ options.holdMs else { break }
            heldHead += 1
            // Stale when the request was already emitted (window end).
            if requests[entry.key]?.generation == entry.generation { finish(entry.key, incomplete: false, emit: emit) }
        }
        if heldHead > 256, heldHead * 2 > held.count {
            held.removeFirst(heldHead)
            heldHead = 0
        }
    }

    mutating func finish(_ key: RequestIDKey, incomplete: Bool, emit: (Transaction) -> Void) {
        guard let pending = requests.removeValue(forKey: key) else { return }
        remember(key, at: pending.lastTimestamp)
        let (transaction, notes) = build(pending, incomplete: incomplete && !pending.isComplete)
        if let apis = options.apis {
            let name = pending.apiName.map { String(decoding: $0, as: UTF8.self) }
            guard transaction.source.apiId.map(apis.contains) == true || name.map(apis.contains) == true else {
                counters.apiFiltered += 1
                return
            }
        }
        counters.traffic.transactionsEmitted += 1
        if transaction.incomplete { counters.traffic.transactionsIncomplete += 1 }
        counters.bodiesCut += notes.bodiesCut
        counters.bodiesEncoded += notes.bodiesEncoded
        counters.layouts[pending.layout?.rawValue ?? "unknown", default: 0] += 1
        emit(transaction)
    }

    mutating func remember(_ key: RequestIDKey, at timestamp: Int64) { tombstones.insert(key, at: timestamp) }

    mutating func evictTombstones() {
        tombstones.evict(newest: maxTimestamp, retentionMs: options.tombstoneRetentionMs, maxCount: options.maxTombstones)
    }

    /// Keys in a deterministic order (first line time, request id), so flushed output is reproducible.
    func sortedKeys(where predicate: (FlexPending) -> Bool) -> [RequestIDKey] {
        var selected: [(key: RequestIDKey, first: Int64, id: String)] = []
        for (key, p) in requests where predicate(p) { selected.append((key, p.firstTimestamp, p.requestId)) }
        selected.sort { ($0.first, $0.id) < ($1.first, $1.id) }
        return selected.map(\.key)
    }
}
