// `apitap stitch`: FilterLogEvents events as NDJSON in, transactions as NDJSON (native or Edge) out, in bounded memory.
import AWS
import Glibc
import Core

/// Why the offline stitch stopped.
public struct OfflineStitchError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Reads NDJSON event objects `{logStreamName, timestamp, message, ingestionTime, eventId}` chunk by chunk, stitches
/// (REST execution logs) or maps (HTTP API access logs) them, filters, and writes one transaction per line.
/// Memory is bounded by the open requests and one input line, never the whole input.
public struct NDJSONStitchSession {
    public enum Mode: Sendable {
        case restExecutionLog
        case httpAccessLog
        /// REST when the log group is named `API-Gateway-Execution-Logs_{apiId}/{stage}`, HTTP API access log otherwise.
        case automatic
        /// MuleSoft Flex Gateway Message Logging lines.
        case flexGateway(FlexStitcherOptions)
    }

    public private(set) var counters = TrafficCounters()
    private var stitcher: RESTExecutionLogStitcher<TextExecutionLogFormat>?
    private var mapper: HTTPAccessLogMapper?
    private var flex: FlexStitcher?
    /// The Flex stitcher's own counters (`.flexGateway` only), complete after `finish`.
    public private(set) var flexCounters: FlexCounters?
    /// Filters and encodes what the transform emits; nil when transactions are handed off instead (`handoff`).
    private var writer: TransactionWriter?
    /// Transactions for another thread to filter and encode (`runCounting` with two threads).
    private var handoff: [Emitted] = []
    private var carry: [UInt8] = []
    /// The longest input line read; a longer one is skipped to its end and counted in `linesTooLong`.
    private let maxLineBytes: Int
    /// Inside a line already too long: drop bytes until its newline.
    private var skipping = false
    /// CloudWatch events are at most 256 KiB of message; JSON escaping can grow that a few times.
    public static let defaultMaxLineBytes = 4 * 1024 * 1024
    /// False: every line goes through `JSONReader` (the path before the fast scanner). Tests and the fuzzer compare the
    /// two byte for byte; the fast path must never change a result.
    public var fastLineScanner = true
    /// Decoded message bytes of the current line (reused).
    private var scratch: [UInt8]? = []
    /// Stream names already seen on the fast path, by the FNV-1a hash of their bytes; the last one matched first.
    private var streams: [(bytes: [UInt8], name: LogStreamName, stitcherIndex: Int32?)] = []
    private var streamsByHash: [UInt64: [Int]] = [:]
    private var lastStream: Int?
    /// Output is handed to the sink in chunks of about this size.
    static let flushThreshold = 64 * 1024

    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, filter: TransactionFilter?,
                mode: Mode = .automatic, encoding: TransactionEncoding = .native, options: StitcherOptions = StitcherOptions(),
                maxLineBytes: Int = NDJSONStitchSession.defaultMaxLineBytes) {
        self.init(logGroup: logGroup, region: region, accountId: accountId, mode: mode, options: options, maxLineBytes: maxLineBytes,
                  writer: TransactionWriter(filter: filter, encoding: encoding))
    }

    /// `writer` nil: transactions are collected for `takeHandoff()` instead of being written.
    init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, mode: Mode, options: StitcherOptions,
         maxLineBytes: Int, writer: TransactionWriter?) {
        self.writer = writer
        self.maxLineBytes = max(1024, maxLineBytes)
        if case .flexGateway(let options) = mode {
            flex = FlexStitcher(logGroup: logGroup, region: region, accountId: accountId, options: options)
        } else if Self.stitchesREST(mode, logGroup) {
            stitcher = RESTExecutionLogStitcher(logGroup: logGroup, region: region, accountId: accountId, options: options)
            // Handed off: the writer's thread builds the transactions.
            stitcher?.deferBuilding = writer == nil
        } else {
            mapper = HTTPAccessLogMapper(logGroup: logGroup, region: region, accountId: accountId, apiId: nil, stage: nil)
        }
    }

    /// Whether `mode` reads `logGroup` with the REST execution-log stitcher.
    static func stitchesREST(_ mode: Mode, _ logGroup: LogGroupName) -> Bool {
        switch mode {
        case .restExecutionLog: true
        case .automatic: logGroup.restExecutionLogStage != nil
        case .httpAccessLog, .flexGateway: false
        }
    }

    /// The transactions emitted since the last call (handoff mode).
    mutating func takeHandoff() -> [Emitted] {
        defer { handoff.removeAll(keepingCapacity: true) }
        return handoff
    }

    /// Feeds the next chunk of input; complete lines are processed, a partial last line waits for the next chunk.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, output: ([UInt8]) -> Void) {
        var start = 0
        if skipping {
            // The rest of a line that was already too long: nothing of it is kept.
            guard let newline = chunk.firstIndex(of: 0x0A) else { return }
            skipping = false
            start = newline + 1
        } else if !carry.isEmpty {
            guard let newline = chunk.firstIndex(of: 0x0A) else {
                carry.append(contentsOf: chunk)
                if carry.count > maxLineBytes { tooLong() }
                return
            }
            if carry.count + newline > maxLineBytes {
                carry.removeAll(keepingCapacity: false)
                countTooLong()
            } else {
                carry.append(contentsOf: chunk[0..<newline])
                let line = carry
                carry.removeAll(keepingCapacity: true)
                line.withUnsafeBytes { processLine($0, output: output) }
            }
            start = newline + 1
        }
        if let base = chunk.baseAddress {
            // memchr finds each newline (vectorised in the C library).
            while start < chunk.count, let hit = memchr(base + start, 0x0A, chunk.count - start) {
                let i = base.distance(to: UnsafeRawPointer(hit))
                if i - start > maxLineBytes {
                    countTooLong()
                } else {
                    processLine(UnsafeRawBufferPointer(rebasing: chunk[start..<i]), output: output)
                }
                start = i + 1
            }
        }
        if start < chunk.count {
            carry.append(contentsOf: chunk[start...])
            if carry.count > maxLineBytes { tooLong() }
        }
        if (writer?.out.count ?? 0) >= Self.flushThreshold { output(writer!.out); writer!.out.removeAll(keepingCapacity: true) }
    }

    /// The line being read passed `maxLineBytes`: drop it (and the rest of it, as it arrives) and count it.
    private mutating func tooLong() {
        carry.removeAll(keepingCapacity: false)
        skipping = true
        countTooLong()
    }

    private mutating func countTooLong() {
        counters.linesFailed += 1
        counters.linesTooLong += 1
    }

    /// End of input: processes a last line without newline and emits open requests flagged `incomplete`.
    public mutating func finish(output: ([UInt8]) -> Void) -> TrafficCounters {
        if !carry.isEmpty {
            let line = carry
            carry.removeAll()
            line.withUnsafeBytes { processLine($0, output: output) }
        }
        if var s = stitcher.take() {
            s.flushAll { write($0) }
            takeDeferred(&s)
            counters += s.takeCounters()
            stitcher = s
        }
        if var m = mapper.take() {
            counters += m.takeCounters()
            mapper = m
        }
        var flexTaken: FlexCounters?
        if var f = flex.take() {
            f.flushAll { write($0) }
            flexTaken = f.takeCounters()
            flex = f
        }
        if writer != nil {
            counters += writer!.counters
            writer!.counters = TrafficCounters()
        }
        if var c = flexTaken {
            counters += c.traffic
            c.traffic = counters
            flexCounters = c
        }
        if let out = writer?.out, !out.isEmpty { output(out); writer!.out.removeAll() }
        return counters
    }

    private mutating func processLine(_ line: UnsafeRawBufferPointer, output: ([UInt8]) -> Void) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0D || line[end - 1] == 0x20 { end -= 1 }
        guard end > 0 else { return }
        let body = UnsafeRawBufferPointer(rebasing: line[0..<end])
        // The fast path reads the three members in place; what it cannot read exactly goes to JSONReader below.
        if fastLineScanner, let fields = EventLineScanner.scan(body) {
            let cached = stream(body, fields.logStreamName)
            let name = streams[cached].name
            let time = EpochMillis(fields.timestamp)
            let m = fields.message
            if !m.escaped && m.ascii {
                ingest(name, cached: cached, time, UnsafeRawBufferPointer(rebasing: body[m.start..<m.end]))
            } else if m.ascii {
                // Escapes decode to valid UTF-8: the bytes are what a String would hold.
                var decoded = scratch.take() ?? []
                decoded.removeAll(keepingCapacity: true)
                var position = m.start
                do { try JSONString.unescape(body, at: &position, into: &decoded) } catch { counters.linesFailed += 1; return }
                decoded.withUnsafeBytes { ingest(name, cached: cached, time, $0) }
                scratch = decoded
            } else {
                // Raw UTF-8 goes through String, which repairs invalid sequences as JSONReader's path does.
                var position = m.start
                guard var message = try? JSONString.decode(body, at: &position) else { counters.linesFailed += 1; return }
                message.withUTF8 { ingest(name, cached: cached, time, UnsafeRawBufferPointer($0)) }
            }
            return
        }
        guard let event = try? JSONReader.parse(body).objectValue,
              let stream = event["logStreamName"]?.stringValue, let timestamp = event["timestamp"]?.int64Value,
              case .string(var message)? = event["message"] else {
            counters.linesFailed += 1
            return
        }
        let logStream = LogStreamName(stream)
        message.withUTF8 { ingest(logStream, EpochMillis(timestamp), UnsafeRawBufferPointer($0)) }
    }

    /// The stream of a fast-path line, made once per distinct name: its bytes are looked up, not decoded, and the
    /// REST stitcher's index for it is kept beside it.
    private mutating func stream(_ body: UnsafeRawBufferPointer, _ span: JSONStringSpan) -> Int {
        let raw = UnsafeRawBufferPointer(rebasing: body[span.start..<span.end])
        func same(_ i: Int) -> Bool {
            streams[i].bytes.count == raw.count
                && (raw.isEmpty || streams[i].bytes.withUnsafeBytes { memcmp($0.baseAddress!, raw.baseAddress!, raw.count) == 0 })
        }
        if let last = lastStream, same(last) { return last }
        let hash = Self.wordHash(raw)
        for i in streamsByHash[hash, default: []] where same(i) {
            lastStream = i
            return i
        }
        let name: LogStreamName
        if span.escaped || !span.ascii {
            var position = span.start
            name = LogStreamName((try? JSONString.decode(body, at: &position)) ?? String(decoding: raw, as: UTF8.self))
        } else {
            name = LogStreamName(String(decoding: raw, as: UTF8.self))
        }
        streams.append((Array(raw), name, nil))
        streamsByHash[hash, default: []].append(streams.count - 1)
        lastStream = streams.count - 1
        return streams.count - 1
    }

    /// A quick hash of a stream name's bytes, eight at a time (a collision only costs a comparison).
    static func wordHash(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var h = FNV1a.offsetBasis ^ UInt64(raw.count)
        var i = 0
        while raw.count - i >= 8 {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* FNV1a.prime
            h ^= h >> 29
            i += 8
        }
        while i < raw.count { h = (h ^ UInt64(raw[i])) &* FNV1a.prime; i += 1 }
        return h
    }

    /// One event to whichever transform this session runs (`cached`: an entry of `streams`, fast path only).
    private mutating func ingest(_ logStream: LogStreamName, cached: Int? = nil, _ time: EpochMillis, _ message: UnsafeRawBufferPointer) {
        // The transform is mutated in place; what it emits is collected in a local (the closure must not touch self
        // while the transform, part of self, is being mutated) and written after.
        var emitted: [Transaction] = []
        if stitcher != nil {
            if let cached {
                let index = streams[cached].stitcherIndex ?? stitcher!.index(of: logStream)
                streams[cached].stitcherIndex = index
                stitcher!.ingest(stream: index, timestamp: time, message: message) { emitted.append($0) }
            } else {
                stitcher!.ingest(logStream: logStream, timestamp: time, message: message) { emitted.append($0) }
            }
            if !stitcher!.deferred.isEmpty {
                for d in stitcher!.deferred { handoff.append(.deferred(d)) }
                stitcher!.deferred.removeAll(keepingCapacity: true)
            }
        } else if flex != nil {
            flex!.ingest(logStream: logStream, timestamp: time, message: message) { emitted.append($0) }
        } else if mapper != nil {
            if let transaction = mapper!.map(logStream: logStream, timestamp: time, message: message) { emitted.append(transaction) }
        }
        for transaction in emitted { write(transaction) }
    }

    private mutating func write(_ transaction: Transaction) {
        if writer != nil { writer!.write(transaction) } else { handoff.append(.built(transaction)) }
    }

    /// The REST stitcher's finished requests, still to be built, in the order it finished them.
    private mutating func takeDeferred(_ s: inout RESTExecutionLogStitcher<TextExecutionLogFormat>) {
        for d in s.deferred { handoff.append(.deferred(d)) }
        s.deferred.removeAll(keepingCapacity: true)
    }

    /// Reads `input` to its end, writing NDJSON transactions to `output`; returns the run's counters.
    public static func run(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, filter: TransactionFilter?,
                           mode: Mode = .automatic, encoding: TransactionEncoding = .native,
                           maxLineBytes: Int = NDJSONStitchSession.defaultMaxLineBytes, input: Int32,
                           output: ([UInt8]) -> Void) throws(OfflineStitchError) -> TrafficCounters {
        try runCounting(logGroup: logGroup, region: region, accountId: accountId, filter: filter, mode: mode, encoding: encoding,
                        maxLineBytes: maxLineBytes, input: input, output: output).traffic
    }

    /// The same, and the Flex stitcher's counters when `mode` is `.flexGateway`.
    public static func runCounting(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, filter: TransactionFilter?,
                           mode: Mode = .automatic, encoding: TransactionEncoding = .native,
                           maxLineBytes: Int = NDJSONStitchSession.defaultMaxLineBytes, input: Int32,
                           output: ([UInt8]) -> Void) throws(OfflineStitchError) -> (traffic: TrafficCounters, flex: FlexCounters?) {
        var writer = TransactionWriter(filter: filter, encoding: encoding)
        // Two threads: a second one reads, scans and stitches; this one filters, encodes and writes, in the order the
        // transactions were emitted (one FIFO queue), so the output is the same as on one thread.
        if stitchesREST(mode, logGroup) {
            writer.builder = RESTExecutionLogStitcher(logGroup: logGroup, region: region, accountId: accountId, options: StitcherOptions())
        }
        let queue = BlockingQueue<[Emitted]>(capacity: 8)
        let result = Locked<Result<(TrafficCounters, FlexCounters?), OfflineStitchError>?>(nil)
        let reader = OSThread {
            defer { queue.close() }
            var session = NDJSONStitchSession(logGroup: logGroup, region: region, accountId: accountId, mode: mode,
                                              options: StitcherOptions(), maxLineBytes: maxLineBytes, writer: nil)
            let outcome = Result { () throws(OfflineStitchError) in
                try readAll(input) { chunk in
                    session.feed(chunk, output: { _ in })
                    let batch = session.takeHandoff()
                    if !batch.isEmpty { queue.put(batch) }
                }
                let traffic = session.finish(output: { _ in })
                let last = session.takeHandoff()
                if !last.isEmpty { queue.put(last) }
                return (traffic, session.flexCounters)
            }
            result.withLock { $0 = outcome }
        }
        guard let reader else {
            // No second thread to be had: the same work on this one.
            var session = NDJSONStitchSession(logGroup: logGroup, region: region, accountId: accountId, mode: mode,
                                              options: StitcherOptions(), maxLineBytes: maxLineBytes, writer: writer)
            try readAll(input) { session.feed($0, output: output) }
            let traffic = session.finish(output: output)
            return (traffic, session.flexCounters)
        }
        while let batch = queue.take() {
            for emitted in batch { writer.write(emitted) }
            if writer.out.count >= flushThreshold { output(writer.out); writer.out.removeAll(keepingCapacity: true) }
        }
        reader.join()
        if !writer.out.isEmpty { output(writer.out) }
        guard let outcome = result.value else { throw OfflineStitchError(reason: "the reading thread ended without a result") }
        var (traffic, flex) = try outcome.get()
        traffic += writer.counters
        flex?.traffic += writer.counters
        return (traffic, flex)
    }

    /// Reads `input` to its end in large chunks.
    static func readAll(_ input: Int32, _ body: (UnsafeRawBufferPointer) -> Void) throws(OfflineStitchError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OfflineStitchError(reason: "reading the input failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return }
            buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}

/// Filters and encodes transactions into NDJSON, one per line: exactly the objects the UAP sink would batch.
struct TransactionWriter: Sendable {
    var filter: TransactionFilter?
    let encoding: TransactionEncoding
    /// Only `filtered` and `encoding` move here.
    var counters = TrafficCounters()
    var out: [UInt8] = []
    /// Builds the REST stitcher's deferred requests (the same settings as the stitcher that finished them).
    var builder: RESTExecutionLogStitcher<TextExecutionLogFormat>?

    init(filter: TransactionFilter?, encoding: TransactionEncoding) {
        self.filter = filter
        self.encoding = encoding
        out.reserveCapacity(NDJSONStitchSession.flushThreshold + 8192)
    }

    mutating func write(_ emitted: Emitted) {
        switch emitted {
        case .built(let transaction): write(transaction)
        case .deferred(let d): write(builder!.build(d.pending, incomplete: d.incomplete, streamName: d.streamName))
        }
    }

    mutating func write(_ transaction: Transaction) {
        if filter != nil, !filter!.keep(transaction, counters: &counters.filtered) { return }
        if TransactionBatcher.encode(transaction, as: encoding, into: &out, counters: &counters.encoding) { out.append(0x0A) }
    }
}

/// What a handing-off session passes to the writer's thread, in emission order.
enum Emitted: Sendable {
    case built(Transaction)
    case deferred(DeferredTransaction)
}
