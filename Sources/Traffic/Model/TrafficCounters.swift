// Counters for the run summary: what the stitcher, the access-log mapper and the filters did with their input.
import Core

/// Transactions the filters dropped, by reason.
public struct FilterCounters: Sendable, Equatable {
    /// The response content type did not match `CONTENT_TYPE_REGEX`.
    public var contentType = 0
    /// The path matched `EXCLUDED_EXTENSIONS_REGEX` (static files).
    public var excludedExtension = 0
    public init() {}
    public var total: Int { contentType + excludedExtension }
}

public struct TrafficCounters: Sendable, Equatable {
    /// Events (execution-log lines or access-log records) understood.
    public var linesParsed = 0
    /// Events not understood: no `(requestId) ` prefix, an access-log record that is not a JSON object, ...
    public var linesFailed = 0
    /// Of `linesFailed`, input lines longer than the cap (`apitap stitch --max-line-bytes`), skipped unread.
    public var linesTooLong = 0
    /// Lines carrying the ` [TRUNCATED]` suffix.
    public var linesTruncated = 0
    /// Lines for a request already emitted (late trailers such as the X-ray id): absorbed, never a second transaction.
    public var linesAfterEmission = 0
    /// Requests flushed with nothing but trailer or housekeeping lines: dropped, not emitted.
    public var fragmentsDropped = 0
    /// Transactions produced (including incomplete ones), before filtering.
    public var transactionsEmitted = 0
    /// Of `transactionsEmitted`, those flagged `incomplete`.
    public var transactionsIncomplete = 0
    public var filtered = FilterCounters()
    /// Transactions the wire encoding could not express, and headers it left out.
    public var encoding = EncodingCounters()

    public init() {}

    public static func += (lhs: inout TrafficCounters, rhs: TrafficCounters) {
        lhs.linesParsed += rhs.linesParsed
        lhs.linesFailed += rhs.linesFailed
        lhs.linesTooLong += rhs.linesTooLong
        lhs.linesTruncated += rhs.linesTruncated
        lhs.linesAfterEmission += rhs.linesAfterEmission
        lhs.fragmentsDropped += rhs.fragmentsDropped
        lhs.transactionsEmitted += rhs.transactionsEmitted
        lhs.transactionsIncomplete += rhs.transactionsIncomplete
        lhs.filtered.contentType += rhs.filtered.contentType
        lhs.filtered.excludedExtension += rhs.filtered.excludedExtension
        lhs.encoding += rhs.encoding
    }

    /// Writes the counters as one JSON object value (for the run summary).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("linesParsed", linesParsed)
        w.field("linesFailed", linesFailed)
        if linesTooLong > 0 { w.field("linesTooLong", linesTooLong) }
        w.field("linesTruncated", linesTruncated)
        w.field("linesAfterEmission", linesAfterEmission)
        w.field("fragmentsDropped", fragmentsDropped)
        w.field("transactionsEmitted", transactionsEmitted)
        w.field("transactionsIncomplete", transactionsIncomplete)
        w.key("filtered")
        w.beginObject()
        w.field("contentType", filtered.contentType)
        w.field("excludedExtension", filtered.excludedExtension)
        w.endObject()
        w.key("encoding"); encoding.write(to: &w)
        w.endObject()
    }
}
