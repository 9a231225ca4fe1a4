// Batches of JSON records bounded by bytes, and what a sink reports back about delivering them.
import Core

/// Records wrapped for sending, ready to go. `bytes` is the uncompressed JSON.
public struct Batch: Sendable {
    public let bytes: [UInt8]
    /// Where each record lies inside `bytes` (for sinks that write one record per line).
    public let recordRanges: [Range<Int>]
    public var count: Int { recordRanges.count }
    public init(bytes: [UInt8], recordRanges: [Range<Int>]) { self.bytes = bytes; self.recordRanges = recordRanges }
}

/// What goes around a batch's comma-separated records: a bare array `[...]`, or an object `{"data":[...]}`.
public struct BatchEnvelope: Sendable, Equatable {
    public let prefix: [UInt8]
    public let suffix: [UInt8]
    public init(prefix: String, suffix: String) { self.prefix = Array(prefix.utf8); self.suffix = Array(suffix.utf8) }

    public static let array = BatchEnvelope(prefix: "[", suffix: "]")
    /// `{"<key>":[ ... ]}`.
    public static func object(arrayKey key: String) -> BatchEnvelope { BatchEnvelope(prefix: "{\"\(key)\":[", suffix: "]}") }
}

/// Packs already-encoded JSON records into batches of at most `maxBytes` (whole body, before compression) and
/// `maxRecords` records. A record larger than `maxBytes` on its own still goes out, alone in its batch, and is
/// counted: better an oversize batch than a lost record.
public struct JSONArrayBatcher: Sendable {
    public let maxBytes: Int
    public let maxRecords: Int
    public let envelope: BatchEnvelope
    private var current: [UInt8] = []
    private var ranges: [Range<Int>] = []
    private var currentCount: Int { ranges.count }
    public private(set) var completed: [Batch] = []
    public private(set) var oversizeRecords = 0

    public init(maxBytes: Int, maxRecords: Int = Int.max, envelope: BatchEnvelope = .array) {
        self.maxBytes = max(maxBytes, 64)
        self.maxRecords = max(1, maxRecords)
        self.envelope = envelope
    }

    public mutating func append(record: [UInt8]) {
        let frame = envelope.prefix.count + envelope.suffix.count
        // prefix + record + suffix when alone, `,` + record when joining.
        if currentCount > 0 && (currentCount >= maxRecords || current.count + 1 + record.count + envelope.suffix.count > maxBytes) {
            close()
        }
        if currentCount == 0 {
            current.reserveCapacity(min(maxBytes, 1 << 20))
            current.append(contentsOf: envelope.prefix)
            if record.count + frame > maxBytes { oversizeRecords += 1 }
        } else {
            current.append(UInt8(ascii: ","))
        }
        ranges.append(current.count..<(current.count + record.count))
        current.append(contentsOf: record)
    }

    /// Ends the open batch (if any).
    public mutating func close() {
        guard currentCount > 0 else { return }
        current.append(contentsOf: envelope.suffix)
        completed.append(Batch(bytes: current, recordRanges: ranges))
        current = []
        ranges = []
    }

    /// Takes the completed batches out.
    public mutating func take() -> [Batch] {
        let out = completed
        completed.removeAll()
        return out
    }

    public var pendingCount: Int { currentCount }
}

/// What one delivery achieved: the source may only advance when `failedBatches == 0`.
public struct DeliveryReport: Sendable {
    public var deliveredBatches = 0
    public var failedBatches = 0
    public var deliveredRecords = 0
    public var failedRecords = 0
    public var bytesRaw = 0
    public var bytesSent = 0
    public var retries = 0
    public var latenciesMs: [Int64] = []
    /// Status and first bytes of the answer of each failed batch, for the summary (no secrets in there).
    public var failures: [String] = []

    public init() {}

    public var allDelivered: Bool { failedBatches == 0 }

    public static func += (a: inout DeliveryReport, b: DeliveryReport) {
        a.deliveredBatches += b.deliveredBatches
        a.failedBatches += b.failedBatches
        a.deliveredRecords += b.deliveredRecords
        a.failedRecords += b.failedRecords
        a.bytesRaw += b.bytesRaw
        a.bytesSent += b.bytesSent
        a.retries += b.retries
        a.latenciesMs += b.latenciesMs
        a.failures += b.failures
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("batchesDelivered", deliveredBatches)
        w.field("batchesFailed", failedBatches)
        w.field("recordsDelivered", deliveredRecords)
        w.field("recordsFailed", failedRecords)
        w.field("bytesRaw", bytesRaw)
        w.field("bytesSent", bytesSent)
        w.field("retries", retries)
        let sorted = latenciesMs.sorted()
        w.field("postLatencyP50Ms", sorted.isEmpty ? 0 : sorted[sorted.count / 2])
        w.field("postLatencyMaxMs", sorted.last ?? 0)
        if !failures.isEmpty {
            w.key("failures"); w.beginArray(); for f in failures.prefix(10) { w.string(f) }; w.endArray()
        }
        w.endObject()
    }
}

/// Delivers batches and says which were acknowledged.
public protocol BatchSink: Sendable {
    func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport
}
