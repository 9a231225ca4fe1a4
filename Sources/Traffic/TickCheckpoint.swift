// A log group's checkpoint: the watermark, the events already read inside the overlap, and unfinished requests.
import Core
import Pipeline

public struct TickCheckpoint: Sendable, Equatable {
    /// A window the deadline cut short: the next tick continues it with FilterLogEvents' own token (valid 24 h)
    /// instead of re-reading it, so a large window always makes progress.
    public struct InProgress: Sendable, Equatable {
        public var start: EpochMillis
        public var end: EpochMillis
        public var nextToken: String
        /// Events read so far inside the next window's overlap (see `seen`).
        public var nextSeen: Set<UInt64>
    }

    /// Every event with a timestamp at or before this was read and delivered (or is in `stitcherState`).
    public var watermark: EpochMillis
    /// FNV-1a 64 of the eventIds read with a timestamp inside the overlap before the watermark: a re-read of the
    /// overlap skips them. Hashes keep the checkpoint small (8 bytes an event instead of 56).
    public var seen: Set<UInt64>
    public var inProgress: InProgress?
    /// The stitcher's requests still waiting for their end marker (its exported state, verbatim).
    public var stitcherState: [UInt8]?

    public init(watermark: EpochMillis, seen: Set<UInt64> = [], inProgress: InProgress? = nil, stitcherState: [UInt8]? = nil) {
        self.watermark = watermark
        self.seen = seen
        self.inProgress = inProgress
        self.stitcherState = stitcherState
    }

    public static func eventHash(_ eventId: String) -> UInt64 {
        var state = FNV1a.offsetBasis
        FNV1a.hash(eventId.utf8, into: &state)
        return state
    }

    public func encoded(logGroup: LogGroupName) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + seen.count * 20 + (stitcherState?.count ?? 0))
        w.beginObject()
        w.field("version", 1)
        w.field("logGroup", logGroup.rawValue)
        w.field("watermark", watermark.value)
        w.field("watermarkIso", watermark.iso8601)
        w.key("seen")
        HashSetCoding.write(seen, to: &w)
        w.key("inProgress")
        if let p = inProgress {
            w.beginObject()
            w.field("start", p.start.value)
            w.field("end", p.end.value)
            w.field("nextToken", p.nextToken)
            w.key("nextSeen")
            HashSetCoding.write(p.nextSeen, to: &w)
            w.endObject()
        } else {
            w.null()
        }
        w.key("stitcher")
        if let stitcherState, !stitcherState.isEmpty { w.raw(json: stitcherState) } else { w.null() }
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(ConfigurationProblem) -> TickCheckpoint {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw ConfigurationProblem("checkpoint is not JSON: \(error)") }
        guard json["version"]?.int64Value == 1, let watermark = json["watermark"]?.int64Value else {
            throw ConfigurationProblem("checkpoint has an unknown version or no watermark")
        }
        let seen = HashSetCoding.read(json["seen"])
        var inProgress: InProgress?
        if let p = json["inProgress"], !p.isNull {
            guard let start = p["start"]?.int64Value, let end = p["end"]?.int64Value, let token = p["nextToken"]?.stringValue else {
                throw ConfigurationProblem("checkpoint has an unreadable inProgress window")
            }
            inProgress = InProgress(start: EpochMillis(start), end: EpochMillis(end), nextToken: token, nextSeen: HashSetCoding.read(p["nextSeen"]))
        }
        var state: [UInt8]?
        if let stitcher = json["stitcher"], !stitcher.isNull { state = stitcher.jsonBytes }
        return TickCheckpoint(watermark: EpochMillis(watermark), seen: seen, inProgress: inProgress, stitcherState: state)
    }
}
