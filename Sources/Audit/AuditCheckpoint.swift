// An organization's checkpoint: the watermark, the keys read at its edge, and the window a deadline cut short.
import Core
import Pipeline

public struct AuditCheckpoint: Sendable, Equatable {
    /// A window still being paged: the next run continues it with the query's own cursor (same startDate/endDate).
    public struct InProgress: Sendable, Equatable {
        public var start: EpochMillis
        public var end: EpochMillis
        /// The cursor of the next page to fetch; nil means "the first page" (nothing acknowledged yet).
        public var cursor: String?
        /// Keys (hashed) read so far with a time inside the next window's overlap.
        public var nextSeen: Set<UInt64>
        public var pagesDone: Int
    }

    /// Every entry with a time at or before this was delivered and acknowledged by every sink.
    public var watermark: EpochMillis
    /// FNV-1a 64 of the keys read in the last complete window with a time inside the overlap before the watermark:
    /// the next window re-reads that overlap (for late entries) and skips these.
    public var seen: Set<UInt64>
    public var inProgress: InProgress?
    /// Entries the threshold alert rules hold (failed logins not yet numerous enough), as of this checkpoint.
    public var alertPending: [PendingAlertEntries]

    public init(watermark: EpochMillis, seen: Set<UInt64> = [], inProgress: InProgress? = nil, alertPending: [PendingAlertEntries] = []) {
        self.watermark = watermark
        self.seen = seen
        self.inProgress = inProgress
        self.alertPending = alertPending
    }

    public static func storeKey(organizationID: String) -> String { "audit-" + organizationID }

    public func encoded(organizationID: String) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + (seen.count + (inProgress?.nextSeen.count ?? 0)) * 20)
        w.beginObject()
        w.field("version", 1)
        w.field("organizationId", organizationID)
        w.field("watermark", watermark.value)
        w.field("watermarkIso", watermark.iso8601)
        w.key("seen")
        HashSetCoding.write(seen, to: &w)
        w.key("inProgress")
        if let p = inProgress {
            w.beginObject()
            w.field("start", p.start.value)
            w.field("end", p.end.value)
            w.field("cursor", p.cursor)
            w.field("pagesDone", p.pagesDone)
            w.key("nextSeen")
            HashSetCoding.write(p.nextSeen, to: &w)
            w.endObject()
        } else {
            w.null()
        }
        if !alertPending.isEmpty {
            w.key("alertPending")
            w.beginArray()
            for p in alertPending {
                w.beginObject()
                w.field("rule", p.rule)
                w.field("user", p.user)
                w.key("entries")
                w.beginArray()
                for e in p.entries { w.raw(json: e.raw) }
                w.endArray()
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(AnypointError) -> AuditCheckpoint {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw AnypointError(.decode, "checkpoint is not JSON: \(error)") }
        guard json["version"]?.int64Value == 1, let watermark = json["watermark"]?.int64Value else {
            throw AnypointError(.decode, "checkpoint has an unknown version or no watermark")
        }
        var inProgress: InProgress?
        if let p = json["inProgress"], !p.isNull {
            guard let start = p["start"]?.int64Value, let end = p["end"]?.int64Value else {
                throw AnypointError(.decode, "checkpoint has an unreadable inProgress window")
            }
            inProgress = InProgress(start: EpochMillis(start), end: EpochMillis(end), cursor: p["cursor"]?.stringValue,
                                    nextSeen: HashSetCoding.read(p["nextSeen"]), pagesDone: Int(p["pagesDone"]?.int64Value ?? 0))
        }
        var pending: [PendingAlertEntries] = []
        for p in json["alertPending"]?.arrayValue ?? [] {
            guard let rule = p["rule"]?.stringValue, let user = p["user"]?.stringValue, let list = p["entries"]?.arrayValue else {
                throw AnypointError(.decode, "checkpoint has an unreadable alertPending item")
            }
            var entries: [AuditEntry] = []
            for e in list {
                do { entries.append(try AuditEntry(raw: e.jsonBytes)) } catch {
                    throw AnypointError(.decode, "checkpoint has an unreadable alertPending entry")
                }
            }
            pending.append(PendingAlertEntries(rule: rule, user: user, entries: entries))
        }
        return AuditCheckpoint(watermark: EpochMillis(watermark), seen: HashSetCoding.read(json["seen"]), inProgress: inProgress,
                               alertPending: pending)
    }
}
