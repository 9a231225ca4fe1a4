// What every windowed source commits: the watermark, the ids read inside the overlap, and a window cut short.
import Core

/// The part of a source's checkpoint the windowed-source mechanism owns. Sources add their own members beside it
/// (the tick's carried-over requests, the audit export's pending alerts) through `WindowCheckpointFormat`.
public struct WindowCheckpoint: Sendable, Equatable {
    /// A window still being read: the next run continues it at `position` instead of starting over, so a window larger
    /// than one run always makes progress.
    public struct InProgress: Sendable, Equatable {
        public var start: EpochMillis
        public var end: EpochMillis
        /// Where the source continues (a FilterLogEvents token, an audit query cursor, an archive file); nil: at the
        /// window's first page (nothing acknowledged yet).
        public var position: String?
        /// Ids (hashed) read so far with a time inside the next window's overlap (see `seen`).
        public var nextSeen: Set<UInt64>
        /// Pages read in this window so far, over every run (bounds a source that never ends a window).
        public var pagesDone: Int

        public init(start: EpochMillis, end: EpochMillis, position: String?, nextSeen: Set<UInt64>, pagesDone: Int = 0) {
            self.start = start
            self.end = end
            self.position = position
            self.nextSeen = nextSeen
            self.pagesDone = pagesDone
        }
    }

    /// Every record with a time at or before this was delivered and acknowledged.
    public var watermark: EpochMillis
    /// FNV-1a 64 of the ids read in the last complete window with a time inside the overlap before the watermark: the
    /// next window re-reads that overlap (for late records) and skips these. Hashes keep checkpoints small.
    public var seen: Set<UInt64>
    public var inProgress: InProgress?

    public init(watermark: EpochMillis, seen: Set<UInt64> = [], inProgress: InProgress? = nil) {
        self.watermark = watermark
        self.seen = seen
        self.inProgress = inProgress
    }

    /// The 64-bit id the checkpoint keeps for a record id.
    public static func hash(_ id: String) -> UInt64 {
        var state = FNV1a.offsetBasis
        FNV1a.hash(id.utf8, into: &state)
        return state
    }
}

/// A stored checkpoint that cannot be used. The run stops for that source rather than restart from "now", which
/// would skip data.
public struct CheckpointFormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How one source spells its checkpoint document. Each source keeps the member names it was first released with, so
/// checkpoints already stored stay readable (and a rolled-back version can still read new ones):
/// `{"version":1, "<owner>": ..., "watermark", "watermarkIso", "seen", "inProgress": {"start", "end", "<position>",
/// "pagesDone", "nextSeen"} | null, <the source's own members>}`.
public struct WindowCheckpointFormat: Sendable {
    /// The member naming what the checkpoint belongs to (`logGroup`, `organizationId`).
    public let ownerKey: String
    /// The member holding `InProgress.position` (`nextToken`, `cursor`).
    public let positionKey: String

    public init(ownerKey: String, positionKey: String) {
        self.ownerKey = ownerKey
        self.positionKey = positionKey
    }

    public static let version: Int64 = 1

    /// The document; `extras` appends the source's own members (key and value pairs) to the open object.
    public func encode(_ c: WindowCheckpoint, owner: String, extraCapacity: Int = 0,
                       extras: (inout JSONWriter) -> Void = { _ in }) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + extraCapacity + (c.seen.count + (c.inProgress?.nextSeen.count ?? 0)) * 20)
        w.beginObject()
        w.field("version", Self.version)
        w.field(ownerKey, owner)
        w.field("watermark", c.watermark.value)
        w.field("watermarkIso", c.watermark.iso8601)
        w.key("seen")
        HashSetCoding.write(c.seen, to: &w)
        w.key("inProgress")
        if let p = c.inProgress {
            w.beginObject()
            w.field("start", p.start.value)
            w.field("end", p.end.value)
            w.field(positionKey, p.position)
            w.field("pagesDone", p.pagesDone)
            w.key("nextSeen")
            HashSetCoding.write(p.nextSeen, to: &w)
            w.endObject()
        } else {
            w.null()
        }
        extras(&w)
        w.endObject()
        return w.bytes
    }

    /// The common part, and the whole document for the source to read its own members from.
    public func decode(_ bytes: [UInt8]) throws(CheckpointFormatError) -> (checkpoint: WindowCheckpoint, document: JSONValue) {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw CheckpointFormatError("checkpoint is not JSON: \(error)") }
        guard json["version"]?.int64Value == Self.version, let watermark = json["watermark"]?.int64Value else {
            throw CheckpointFormatError("checkpoint has an unknown version or no watermark")
        }
        var inProgress: WindowCheckpoint.InProgress?
        if let p = json["inProgress"], !p.isNull {
            guard let start = p["start"]?.int64Value, let end = p["end"]?.int64Value else {
                throw CheckpointFormatError("checkpoint has an unreadable inProgress window")
            }
            // An empty position is the window's start (no source hands out an empty token or cursor).
            let position = p[positionKey]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            inProgress = .init(start: EpochMillis(start), end: EpochMillis(end), position: position,
                               nextSeen: HashSetCoding.read(p["nextSeen"]), pagesDone: Int(p["pagesDone"]?.int64Value ?? 0))
        }
        return (WindowCheckpoint(watermark: EpochMillis(watermark), seen: HashSetCoding.read(json["seen"]), inProgress: inProgress), json)
    }
}
