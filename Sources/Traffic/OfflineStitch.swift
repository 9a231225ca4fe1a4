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
    private var filter: TransactionFilter?
    private let encoding: TransactionEncoding
    private var carry: [UInt8] = []
    /// The longest input line read; a longer one is skipped to its end and counted in `linesTooLong`.
    private let maxLineBytes: Int
    /// Inside a line already too long: drop bytes until its newline.
    private var skipping = false
    /// CloudWatch events are at most 256 KiB of message; JSON escaping can grow that a few times.
    public static let defaultMaxLineBytes = 4 * 1024 * 1024
    private var out: [UInt8] = []
    /// Output is handed to the sink in chunks of about this size.
    static let flushThreshold = 64 * 1024

    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, filter: TransactionFilter?,
                mode: Mode = .automatic, encoding: TransactionEncoding = .native, options: StitcherOptions = StitcherOptions(),
                maxLineBytes: Int = NDJSONStitchSession.defaultMaxLineBytes) {
        self.encoding = encoding
        self.maxLineBytes = max(1024, maxLineBytes)
        let rest: Bool
        switch mode {
        case .restExecutionLog: rest = true
        case .httpAccessLog: rest = false
        case .automatic: rest = logGroup.restExecutionLogStage != nil
        case .flexGateway: rest = false
        }
        if case .flexGateway(let options) = mode {
            flex = FlexStitcher(logGroup: logGroup, region: region, accountId: accountId, options: options)
        } else if rest {
            stitcher = RESTExecutionLogStitcher(logGroup: logGroup, region: region, accountId: accountId, options: options)
        } else {
            mapper = HTTPAccessLogMapper(logGroup: logGroup, region: region, accountId: accountId, apiId: nil, stage: nil)
        }
        self.filter = filter
        out.reserveCapacity(Self.flushThreshold + 8192)
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
        var i = start
        while i < chunk.count {
            if chunk[i] == 0x0A {
                if i - start > maxLineBytes {
                    countTooLong()
                } else {
                    processLine(UnsafeRawBufferPointer(rebasing: chunk[start..<i]), output: output)
                }
                start = i + 1
            }
            i += 1
        }
        if start < chunk.count {
            carry.append(contentsOf: chunk[start...])
            if carry.count > maxLineBytes { tooLong() }
        }
        if out.count >= Self.flushThreshold { output(out); out.removeAll(keepingCapacity: true) }
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
        if var s = stitcher {
            s.flushAll { write($0) }
            counters += s.takeCounters()
            stitcher = s
        }
        if var m = mapper {
            counters += m.takeCounters()
            mapper = m
        }
        if var f = flex {
            flex = nil
            f.flushAll { write($0) }
            var c = f.takeCounters()
            counters += c.traffic
            c.traffic = counters
            flexCounters = c
            flex = f
        }
        if !out.isEmpty { output(out); out.removeAll() }
        return counters
    }

    private mutating func processLine(_ line: UnsafeRawBufferPointer, output: ([UInt8]) -> Void) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0D || line[end - 1] == 0x20 { end -= 1 }
        guard end > 0 else { return }
        guard let event = try? JSONReader.parse(UnsafeRawBufferPointer(rebasing: line[0..<end])).objectValue,
              let stream = event["logStreamName"]?.stringValue, let timestamp = event["timestamp"]?.int64Value,
              case .string(var message)? = event["message"] else {
            counters.linesFailed += 1
            return
        }
        let logStream = LogStreamName(stream)
        let time = EpochMillis(timestamp)
        if var s = stitcher {
            // Move the stitcher out while it runs so the emit closure can write to self without overlapping access.
            stitcher = nil
            message.withUTF8 { bytes in
                s.ingest(logStream: logStream, timestamp: time, message: UnsafeRawBufferPointer(bytes)) { write($0) }
            }
            stitcher = s
        } else if var f = flex {
            flex = nil
            message.withUTF8 { bytes in
                f.ingest(logStream: logStream, timestamp: time, message: UnsafeRawBufferPointer(bytes)) { write($0) }
            }
            flex = f
        } else if var m = mapper {
            mapper = nil
            if let transaction = message.withUTF8({ m.map(logStream: logStream, timestamp: time, message: UnsafeRawBufferPointer($0)) }) {
                write(transaction)
            }
            mapper = m
        }
    }

    private mutating func write(_ transaction: Transaction) {
        if var f = filter {
            // Moved out while it runs: a copy left behind would make every cache insertion copy the caches.
            filter = nil
            let kept = f.keep(transaction, counters: &counters.filtered)
            filter = f
            guard kept else { return }
        }
        // Exactly the object the UAP sink would put into a batch, one per line.
        if TransactionBatcher.encode(transaction, as: encoding, into: &out, counters: &counters.encoding) { out.append(0x0A) }
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
        var session = NDJSONStitchSession(logGroup: logGroup, region: region, accountId: accountId, filter: filter, mode: mode,
                                          encoding: encoding, maxLineBytes: maxLineBytes)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OfflineStitchError(reason: "reading the input failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), output: output) }
        }
        let traffic = session.finish(output: output)
        return (traffic, session.flexCounters)
    }
}
