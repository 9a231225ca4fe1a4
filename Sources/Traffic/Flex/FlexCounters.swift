// Counters for the run summary: what the Flex stitcher did with its lines, apart from API Gateway's.
import Core

public struct FlexCounters: Sendable, Equatable {
    /// Why a line was not used.
    public enum Ignored: String, Sendable, CaseIterable {
        /// No `[req: <id>]`: the gateway's agent, Fluent Bit or runtime lines.
        case notPerRequest = "not-per-request"
        /// A policy's own log line for a request (`[req: ]` without `[accessLog]`).
        case runtimeLog = "runtime-log"
        /// A Message Logging item whose category is neither apitap's nor Cequence's.
        case unknownCategory = "unknown-category"
        /// `CQ1 <id> <field>` with a field this version does not know.
        case unknownField = "unknown-field"
        /// A Message Logging line of neither layout.
        case unrecognized
    }

    /// Lines understood, transactions emitted, filtered, encoded (as for API Gateway's logs).
    public var traffic = TrafficCounters()
    /// Lines not used, by reason.
    public var ignored: [String: Int] = [:]
    /// Records without a prefix joined to the value before them (a line break inside a body split the message).
    public var linesContinued = 0
    /// Requests whose message carried a `vars.reqId` other than the line's `[req: ]` id (joined by the latter).
    public var requestIdMismatches = 0
    /// Bodies cut at the entry limit (replaced by a truncation marker).
    public var bodiesCut = 0
    /// Bodies the gateway could not log because they were content-encoded (sent empty, discovery only).
    public var bodiesEncoded = 0
    /// Transactions of APIs `FLEX_APIS` does not list.
    public var apiFiltered = 0
    /// Transactions emitted per layout (`apitap`, `cequence`).
    public var layouts: [String: Int] = [:]

    public init() {}

    public var ignoredTotal: Int { ignored.values.reduce(0, +) }

    mutating func ignore(_ reason: Ignored) { ignored[reason.rawValue, default: 0] += 1 }

    public static func += (a: inout FlexCounters, b: FlexCounters) {
        a.traffic += b.traffic
        for (k, v) in b.ignored { a.ignored[k, default: 0] += v }
        a.linesContinued += b.linesContinued
        a.requestIdMismatches += b.requestIdMismatches
        a.bodiesCut += b.bodiesCut
        a.bodiesEncoded += b.bodiesEncoded
        a.apiFiltered += b.apiFiltered
        for (k, v) in b.layouts { a.layouts[k, default: 0] += v }
    }

    /// One JSON object: `traffic` (as for API Gateway's logs), then the Flex counters.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("traffic"); traffic.write(to: &w)
        w.key("linesIgnored")
        w.beginObject()
        for (k, v) in ignored.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        w.field("linesContinued", linesContinued)
        w.field("requestIdMismatches", requestIdMismatches)
        w.field("bodiesCut", bodiesCut)
        w.field("bodiesEncoded", bodiesEncoded)
        w.field("apiFiltered", apiFiltered)
        w.key("layouts")
        w.beginObject()
        for (k, v) in layouts.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        w.endObject()
    }
}
