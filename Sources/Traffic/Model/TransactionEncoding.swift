// The two wire encodings of a Transaction, and the one path every producer takes: filter, encode, batch.
import Core
import Pipeline

/// `UAP_PAYLOAD_FORMAT`: which objects the UAP sink posts.
public enum PayloadFormat: String, Sendable, CaseIterable {
    /// Cequence API Edge's published shape, posted as `{"data":[...]}`.
    case edge
    /// apitap's own documented format (docs/transaction.schema.json), posted as a JSON array.
    case native
}

/// `UAP_CONTENT_ENCODING`: whether batches are gzip-compressed on the wire.
public enum ContentEncoding: String, Sendable, CaseIterable {
    /// No compression: what the published Edge producer sends.
    case identity
    case gzip
}

/// How transactions become wire objects and how a batch of them is wrapped.
public enum TransactionEncoding: Sendable, Equatable {
    case native
    case edge(EdgeEncodingOptions)

    public var envelope: BatchEnvelope {
        switch self {
        case .native: return .array
        case .edge: return .object(arrayKey: "data")
        }
    }

    public var format: PayloadFormat {
        switch self {
        case .native: return .native
        case .edge: return .edge
        }
    }
}

/// What the encoding step did besides producing records.
public struct EncodingCounters: Sendable, Equatable {
    /// Transactions the encoding could not express, by reason (`EdgeUnexpressible`): counted, never posted.
    public var notEncoded: [String: Int] = [:]
    /// Headers left out because their logged name is not an HTTP token (a cut header map).
    public var headersDropped = 0
    public init() {}

    public var notEncodedTotal: Int { notEncoded.values.reduce(0, +) }

    public static func += (a: inout EncodingCounters, b: EncodingCounters) {
        for (k, v) in b.notEncoded { a.notEncoded[k, default: 0] += v }
        a.headersDropped += b.headersDropped
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("notEncoded")
        w.beginObject()
        for (k, v) in notEncoded.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        w.field("headersDropped", headersDropped)
        w.endObject()
    }
}

/// Filter → encode → batch, for the tick, `awslogs` and `apitap stitch` alike.
public struct TransactionBatcher: Sendable {
    public let encoding: TransactionEncoding
    private var filter: TransactionFilter?
    private var batcher: JSONArrayBatcher
    private var scratch: [UInt8] = []
    public private(set) var filtered = FilterCounters()
    public private(set) var counters = EncodingCounters()

    public init(encoding: TransactionEncoding, filter: TransactionFilter?, maxBytes: Int, maxRecords: Int = Int.max) {
        self.encoding = encoding
        self.filter = filter
        batcher = JSONArrayBatcher(maxBytes: maxBytes, maxRecords: maxRecords, envelope: encoding.envelope)
        scratch.reserveCapacity(4096)
    }

    /// Appends one transaction's wire object (no separator) to `out`; false when it cannot be expressed (counted).
    public static func encode(_ t: Transaction, as encoding: TransactionEncoding, into out: inout [UInt8],
                              counters: inout EncodingCounters) -> Bool {
        switch encoding {
        case .native:
            t.encodeJSON(into: &out)
            return true
        case .edge(let options):
            if let reason = t.encodeEdge(into: &out, options: options, droppedHeaders: &counters.headersDropped) {
                counters.notEncoded[reason.rawValue, default: 0] += 1
                return false
            }
            return true
        }
    }

    /// Filters, encodes and adds one transaction; full batches wait in `take()`.
    public mutating func add(_ t: Transaction) {
        if var f = filter {
            // Moved out while it runs: a copy left behind would make every cache insertion copy the caches.
            filter = nil
            let kept = f.keep(t, counters: &filtered)
            filter = f
            guard kept else { return }
        }
        scratch.removeAll(keepingCapacity: true)
        guard Self.encode(t, as: encoding, into: &scratch, counters: &counters) else { return }
        batcher.append(record: scratch)
    }

    /// Ends the open batch.
    public mutating func close() { batcher.close() }

    /// The batches completed so far.
    public mutating func take() -> [Batch] { batcher.take() }

    public var oversizeRecords: Int { batcher.oversizeRecords }
}
