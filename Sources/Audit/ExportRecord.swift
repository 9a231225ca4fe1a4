// What the sinks receive: an exported entry `{key, organizationId, timestamp, exportedAt, entry}` or an alert.
import Core

/// RFC 5424 severities (lower is more severe).
public enum SyslogSeverity: Int, Sendable, Comparable, CaseIterable {
    case emergency = 0, alert, critical, error, warning, notice, informational, debug
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var name: String {
        ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"][rawValue]
    }
    public init?(name: String) {
        switch name.lowercased() {
        case "emergency", "emerg": self = .emergency
        case "alert": self = .alert
        case "critical", "crit": self = .critical
        case "error", "err": self = .error
        case "warning", "warn": self = .warning
        case "notice": self = .notice
        case "info", "informational": self = .informational
        case "debug": self = .debug
        default: return nil
        }
    }

    /// Deletes, removals, revocations and failed logins are warnings; other failed actions notices; the rest info.
    public static func of(_ entry: AuditEntry) -> SyslogSeverity {
        let action = (entry.action ?? "").lowercased()
        if entry.failed && (action.contains("login") || action.contains("auth")) { return .warning }
        for word in ["delete", "remove", "revoke", "undeploy", "disable"] where action.contains(word) { return .warning }
        if entry.failed { return .notice }
        return .informational
    }
}

public struct ExportRecord: Sendable {
    /// `finding`: a posture finding that appeared or was resolved since the previous report.
    public enum Kind: String, Sendable { case entry, alert, finding }
    public let kind: Kind
    public let key: String
    public let organizationID: String
    /// The entry's time (or, for an alert, its latest entry's); nil when the entry carries none.
    public let timestamp: EpochMillis?
    /// For syslog's MSGID: the entry's action, or `alert`.
    public let msgID: String
    public let severity: SyslogSeverity
    /// The record as one compact JSON object.
    public let json: [UInt8]

    public init(kind: Kind, key: String, organizationID: String, timestamp: EpochMillis?, msgID: String,
                severity: SyslogSeverity, json: [UInt8]) {
        self.kind = kind
        self.key = key
        self.organizationID = organizationID
        self.timestamp = timestamp
        self.msgID = msgID
        self.severity = severity
        self.json = json
    }

    public static func entry(_ entry: AuditEntry, organizationID: String, exportedAt: EpochMillis, otelAttributes: Bool) -> ExportRecord {
        var w = JSONWriter(capacity: entry.raw.count + 200)
        w.beginObject()
        w.field("key", entry.key.rawValue)
        w.field("organizationId", organizationID)
        w.field("timestamp", entry.timestamp?.iso8601)
        w.field("exportedAt", exportedAt.iso8601)
        w.key("entry")
        w.raw(json: entry.raw)
        if otelAttributes {
            w.key("attributes")
            w.beginObject()
            w.field("mulesoft.audit.id", entry.key.rawValue)
            w.field("mulesoft.audit.action", entry.action)
            w.endObject()
        }
        w.endObject()
        return ExportRecord(kind: .entry, key: entry.key.rawValue, organizationID: organizationID, timestamp: entry.timestamp,
                            msgID: entry.action ?? "-", severity: SyslogSeverity.of(entry), json: w.bytes)
    }

    /// An item of a page that is not a JSON object: its bytes as a JSON string under `raw` (invalid UTF-8 becomes
    /// U+FFFD), flagged `"malformed":true` so a consumer can find it, in place of `entry`.
    public static func malformed(_ m: MalformedEntry, organizationID: String, exportedAt: EpochMillis, otelAttributes: Bool) -> ExportRecord {
        var w = JSONWriter(capacity: m.raw.count + 300)
        w.beginObject()
        w.field("key", m.key.rawValue)
        w.field("organizationId", organizationID)
        w.field("timestamp", nil as String?)
        w.field("exportedAt", exportedAt.iso8601)
        w.field("malformed", true)
        w.field("reason", m.reason)
        w.field("raw", String(decoding: m.raw, as: UTF8.self))
        if otelAttributes {
            w.key("attributes")
            w.beginObject()
            w.field("mulesoft.audit.id", m.key.rawValue)
            w.endObject()
        }
        w.endObject()
        return ExportRecord(kind: .entry, key: m.key.rawValue, organizationID: organizationID, timestamp: nil,
                            msgID: "malformed-entry", severity: .warning, json: w.bytes)
    }

    /// The time used to file the record (S3 paths, syslog TIMESTAMP): the entry's own, else when it was exported.
    public func filingTime(exportedAt: EpochMillis) -> EpochMillis { timestamp ?? exportedAt }
}
