// An organization's checkpoint: the windowed-source part (watermark, keys at its edge, a window cut short) and the
// entries the threshold alert rules still hold.
import Core
import Pipeline

public struct AuditCheckpoint: Sendable, Equatable {
    public typealias InProgress = WindowCheckpoint.InProgress

    public var window: WindowCheckpoint
    /// Entries the threshold alert rules hold (failed logins not yet numerous enough), as of this checkpoint.
    public var alertPending: [PendingAlertEntries]

    /// Every entry with a time at or before this was delivered and acknowledged by every sink.
    public var watermark: EpochMillis { window.watermark }
    /// FNV-1a 64 of the keys read in the last complete window with a time inside the overlap before the watermark.
    public var seen: Set<UInt64> { window.seen }
    /// A window still being paged: continued with the query's own cursor (same startDate/endDate).
    public var inProgress: InProgress? { window.inProgress }

    public init(watermark: EpochMillis, seen: Set<UInt64> = [], inProgress: InProgress? = nil, alertPending: [PendingAlertEntries] = []) {
        window = WindowCheckpoint(watermark: watermark, seen: seen, inProgress: inProgress)
        self.alertPending = alertPending
    }

    /// The document as the export has always written it (`organizationId`, `cursor`, `alertPending`).
    public static let format = WindowCheckpointFormat(ownerKey: "organizationId", positionKey: "cursor")

    public static func storeKey(organizationID: String) -> String { "audit-" + organizationID }

    public func encoded(organizationID: String) -> [UInt8] {
        Self.format.encode(window, owner: organizationID) { Self.writeAlertPending(alertPending, to: &$0) }
    }

    public static func decode(_ bytes: [UInt8]) throws(AnypointError) -> AuditCheckpoint {
        let window: WindowCheckpoint, document: JSONValue
        do { (window, document) = try format.decode(bytes) } catch { throw AnypointError(.decode, error.description) }
        var checkpoint = AuditCheckpoint(watermark: window.watermark, alertPending: try alertPending(in: document))
        checkpoint.window = window
        return checkpoint
    }

    /// The `alertPending` member, written only when some entries are held.
    static func writeAlertPending(_ pending: [PendingAlertEntries], to w: inout JSONWriter) {
        guard !pending.isEmpty else { return }
        w.key("alertPending")
        w.beginArray()
        for p in pending {
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

    static func alertPending(in document: JSONValue) throws(AnypointError) -> [PendingAlertEntries] {
        var pending: [PendingAlertEntries] = []
        for p in document["alertPending"]?.arrayValue ?? [] {
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
        return pending
    }
}

extension WindowCheckpoint.InProgress {
    /// The cursor of the next page to fetch; nil means "the first page" (nothing acknowledged yet).
    public var cursor: String? { position }
}
