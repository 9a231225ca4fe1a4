// Alert rules evaluated on each page: dangerous changes and repeated failed logins become records of their own.
import Core

public struct AlertRuleError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// A pattern over one field of an entry (a regular expression, searched anywhere in the value).
public struct FieldPattern: @unchecked Sendable {
    // @unchecked: Regex is not Sendable, but a compiled pattern is never mutated (the cache has its own lock).
    public let source: String
    private let regex: Regex<AnyRegexOutput>
    /// Field values come from small vocabularies (actions, object types, environment names), and a regex search
    /// costs microseconds: remember the answers, up to `cacheLimit` distinct values.
    private let cache = Locked<[String: Bool]>([:])
    static let cacheLimit = 4_096

    public init(_ source: String) throws(AlertRuleError) {
        self.source = source
        do { regex = try Regex(source) } catch { throw AlertRuleError("'\(source)' is not a regular expression: \(error)") }
    }

    public func matches(_ value: String) -> Bool {
        if let known = cache.withLock({ $0[value] }) { return known }
        let result = (try? regex.firstMatch(in: value)) != nil
        cache.withLock { c in
            if c.count >= Self.cacheLimit { c.removeAll(keepingCapacity: true) }
            c[value] = result
        }
        return result
    }
    public func matchesAny(_ values: [String]) -> Bool { values.contains { matches($0) } }
}

public struct AlertRule: Sendable {
    public enum Kind: Sendable {
        /// Every matching entry is an alert.
        case each
        /// `count` matching entries of one user within `windowMs` are one alert.
        case threshold(count: Int, windowMs: Int64)
    }

    public var name: String
    public var description: String
    public var severity: SyslogSeverity
    public var kind: Kind
    public var action: FieldPattern?
    public var objectType: FieldPattern?
    public var platform: FieldPattern?
    /// Only entries whose environment name matches (the production pattern, for the built-in rules).
    public var environment: FieldPattern?
    public var failed: Bool?

    public func matches(_ e: AuditEntry) -> Bool {
        if let failed, e.failed != failed { return false }
        if let action, !action.matches(e.action ?? "") { return false }
        if let objectType, !objectType.matchesAny(e.objectTypes) { return false }
        if let platform, !platform.matches(e.platform ?? "") { return false }
        if let environment, !environment.matchesAny(e.environmentNames) { return false }
        return true
    }
}

public struct AlertRuleSet: Sendable {
    public var rules: [AlertRule]
    public static let defaultProductionPattern = "(?i)(^|[^a-z])prod"

    /// The built-in rules (see docs/audit-export.md).
    public static func defaults(productionPattern: String = defaultProductionPattern) throws(AlertRuleError) -> [AlertRule] {
        let prod = try FieldPattern(productionPattern)
        return [
            AlertRule(name: "repeated-failed-logins", description: "5 or more failed logins by one user within 10 minutes",
                      severity: .error, kind: .threshold(count: 5, windowMs: 600_000),
                      action: try FieldPattern("(?i)log ?in|sign ?in|auth"), failed: true),
            AlertRule(name: "production-policy-changed", description: "a policy removed or edited in a production environment",
                      severity: .critical, kind: .each, action: try FieldPattern("(?i)delete|remove|edit|update|modify|disable|unapply"),
                      objectType: try FieldPattern("(?i)polic"), environment: prod),
            AlertRule(name: "production-application-deployed-or-stopped",
                      description: "an application deployed, stopped or deleted in a production environment",
                      severity: .warning, kind: .each, action: try FieldPattern("(?i)deploy|stop|start|restart|delete|undeploy"),
                      objectType: try FieldPattern("(?i)application|deployment|^app$"), environment: prod),
            AlertRule(name: "production-contract-revoked", description: "a contract revoked or deleted in a production environment",
                      severity: .error, kind: .each, action: try FieldPattern("(?i)revoke|delete|remove"),
                      objectType: try FieldPattern("(?i)contract"), environment: prod),
            AlertRule(name: "privileges-granted", description: "a user, role or connected app created or granted permissions",
                      severity: .warning, kind: .each, action: try FieldPattern("(?i)create|grant|add|assign|invite"),
                      objectType: try FieldPattern("(?i)user|role|connected ?app|client|permission|team|member")),
        ]
    }

    /// `{"includeDefaults": true, "productionPattern": "...", "disable": ["name"], "rules": [{...}]}`.
    public static func parse(_ bytes: [UInt8]) throws(AlertRuleError) -> AlertRuleSet {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw AlertRuleError("AUDIT_ALERT_RULES is not JSON: \(error)") }
        guard json.objectValue != nil else { throw AlertRuleError("AUDIT_ALERT_RULES must be a JSON object") }
        let production = json["productionPattern"]?.stringValue ?? defaultProductionPattern
        var rules = json["includeDefaults"]?.boolValue == false ? [] : try defaults(productionPattern: production)
        let disabled = Set((json["disable"]?.arrayValue ?? []).compactMap(\.stringValue))
        rules.removeAll { disabled.contains($0.name) }
        let prod = try FieldPattern(production)
        for (i, r) in (json["rules"]?.arrayValue ?? []).enumerated() {
            guard let name = r["name"]?.stringValue, !name.isEmpty else { throw AlertRuleError("rule \(i + 1) has no name") }
            let severityName = r["severity"]?.stringValue ?? "warning"
            guard let severity = SyslogSeverity(name: severityName), severity <= .warning else {
                throw AlertRuleError("rule \(name): severity must be warning, error, critical, alert or emergency")
            }
            var kind = AlertRule.Kind.each
            if let count = r["threshold"]?.int64Value {
                guard count >= 1, let window = r["windowSeconds"]?.int64Value, window >= 1 else {
                    throw AlertRuleError("rule \(name): a threshold needs windowSeconds (both at least 1)")
                }
                kind = .threshold(count: Int(count), windowMs: window * 1000)
            }
            func pattern(_ field: String) throws(AlertRuleError) -> FieldPattern? {
                guard let s = r[field]?.stringValue else { return nil }
                do { return try FieldPattern(s) } catch { throw AlertRuleError("rule \(name), \(field): \(error.description)") }
            }
            var env = try pattern("environment")
            if r["productionOnly"]?.boolValue == true { env = prod }
            let rule = AlertRule(name: name, description: r["description"]?.stringValue ?? name, severity: severity, kind: kind,
                                 action: try pattern("action"), objectType: try pattern("objectType"),
                                 platform: try pattern("platform"), environment: env, failed: r["failed"]?.boolValue)
            rules.removeAll { $0.name == name }
            rules.append(rule)
        }
        return AlertRuleSet(rules: rules)
    }
}

/// The entries a threshold rule is holding for one user, waiting for enough of them to fire.
public struct PendingAlertEntries: Sendable, Equatable {
    public var rule: String
    public var user: String
    public var entries: [AuditEntry]
    public init(rule: String, user: String, entries: [AuditEntry]) {
        self.rule = rule
        self.user = user
        self.entries = entries
    }
    public static func == (a: Self, b: Self) -> Bool {
        a.rule == b.rule && a.user == b.user && a.entries.map(\.raw) == b.entries.map(\.raw)
    }
}

/// Applies the rules page by page; threshold rules keep each user's recent matches, and the checkpoint carries
/// them to the next run.
public struct AlertEvaluator: Sendable {
    public let rules: [AlertRule]
    private var recent: [String: [AuditEntry]] = [:]

    public init(rules: [AlertRule]) { self.rules = rules }

    private static func slot(_ rule: String, _ organizationID: String, _ user: String) -> String {
        rule + "\u{1F}" + organizationID + "\u{1F}" + user
    }

    /// What the threshold rules hold for one organization, without entries that can no longer count: older than
    /// the rule's window before `horizon` (the newest time the next run can still read). The checkpoint carries it,
    /// so that failed logins split across two runs still add up.
    public func pending(organizationID: String, horizon: EpochMillis) -> [PendingAlertEntries] {
        var out: [PendingAlertEntries] = []
        for rule in rules {
            guard case .threshold(_, let windowMs) = rule.kind else { continue }
            let prefix = Self.slot(rule.name, organizationID, "")
            for (slot, list) in recent where slot.hasPrefix(prefix) {
                let kept = list.filter { ($0.timestamp ?? horizon).value >= horizon.value - windowMs }
                if !kept.isEmpty { out.append(PendingAlertEntries(rule: rule.name, user: String(slot.dropFirst(prefix.count)), entries: kept)) }
            }
        }
        return out.sorted { ($0.rule, $0.user) < ($1.rule, $1.user) }
    }

    /// Replaces what the threshold rules hold for `organizationID` with a checkpoint's `pending` (rules that no
    /// longer exist, or are no longer thresholds, are dropped).
    public mutating func restore(_ pending: [PendingAlertEntries], organizationID: String) {
        let marker = "\u{1F}" + organizationID + "\u{1F}"
        for slot in recent.keys where slot.contains(marker) { recent[slot] = nil }
        for p in pending {
            guard let rule = rules.first(where: { $0.name == p.rule }), case .threshold = rule.kind else { continue }
            recent[Self.slot(p.rule, organizationID, p.user)] = p.entries
        }
    }

    public mutating func evaluate(_ entries: [AuditEntry], organizationID: String, exportedAt: EpochMillis) -> [ExportRecord] {
        var out: [ExportRecord] = []
        for rule in rules {
            for e in entries where rule.matches(e) {
                switch rule.kind {
                case .each:
                    out.append(Self.record(rule, [e], organizationID: organizationID, exportedAt: exportedAt))
                case .threshold(let count, let windowMs):
                    let slot = Self.slot(rule.name, organizationID, e.userName ?? "-")
                    var list = recent[slot, default: []]
                    list.append(e)
                    let latest = e.timestamp ?? exportedAt
                    list.removeAll { ($0.timestamp ?? exportedAt).value < latest.value - windowMs }
                    if list.count >= count {
                        out.append(Self.record(rule, list, organizationID: organizationID, exportedAt: exportedAt))
                        list.removeAll()
                    }
                    recent[slot] = list
                }
            }
        }
        return out
    }

    static func record(_ rule: AlertRule, _ entries: [AuditEntry], organizationID: String, exportedAt: EpochMillis) -> ExportRecord {
        // The same rule over the same entries always has the same key: a replayed alert is recognisable.
        let key = "alert:" + FNV1a.hex([rule.name] + entries.map(\.key.rawValue))
        let time = entries.compactMap(\.timestamp).max()
        var w = JSONWriter(capacity: 512 + entries.reduce(0) { $0 + $1.raw.count })
        w.beginObject()
        w.field("type", "alert")
        w.field("key", key)
        w.field("rule", rule.name)
        w.field("severity", rule.severity.name)
        w.field("description", rule.description)
        w.field("organizationId", organizationID)
        w.field("timestamp", time?.iso8601)
        w.field("exportedAt", exportedAt.iso8601)
        w.key("entryKeys"); w.beginArray(); for e in entries { w.string(e.key.rawValue) }; w.endArray()
        w.key("entries"); w.beginArray(); for e in entries { w.raw(json: e.raw) }; w.endArray()
        w.endObject()
        return ExportRecord(kind: .alert, key: key, organizationID: organizationID, timestamp: time, msgID: "alert:" + rule.name,
                            severity: rule.severity, json: w.bytes)
    }
}
