// The audit export's settings, parsed once from the environment into typed values, every problem reported at once.
import AWS
import Glibc
import HTTP
import Core

/// Where the first run of an organization starts: a fixed moment, or this long before now.
public enum AuditStart: Sendable, Equatable {
    case at(EpochMillis)
    case ago(milliseconds: Int64)

    public func resolve(now: EpochMillis) -> EpochMillis {
        switch self {
        case .at(let t): return t
        case .ago(let ms): return now.adding(milliseconds: -ms)
        }
    }

    /// An ISO 8601 date or date-time (`2026-01-01`, `2026-01-01T00:00:00Z`) or duration (`P1D`, `PT6H`, `P1DT12H`).
    public static func parse(_ text: String) -> AuditStart? {
        if text.hasPrefix("P") || text.hasPrefix("p") { return ISODuration.milliseconds(text).map { .ago(milliseconds: $0) } }
        return EpochMillis.parseISO8601(text).map { .at($0) }
    }
}

/// ISO 8601 durations with days, hours, minutes and seconds (weeks too); months and years are ambiguous: refused.
public enum ISODuration {
    public static func milliseconds(_ text: String) -> Int64? {
        let upper = Array(text.uppercased().utf8)
        guard upper.first == UInt8(ascii: "P"), upper.count > 1 else { return nil }
        var total: Int64 = 0
        var number: Int64? = nil
        var inTime = false
        var sawUnit = false
        for b in upper.dropFirst() {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let (m, o1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (v, o2) = m.addingReportingOverflow(Int64(b - 48))
                guard !o1, !o2 else { return nil }
                number = v
            case UInt8(ascii: "T"):
                guard !inTime, number == nil else { return nil }
                inTime = true
            default:
                guard let n = number else { return nil }
                let unit: Int64
                switch (b, inTime) {
                case (UInt8(ascii: "W"), false): unit = 7 * 86_400_000
                case (UInt8(ascii: "D"), false): unit = 86_400_000
                case (UInt8(ascii: "H"), true): unit = 3_600_000
                case (UInt8(ascii: "M"), true): unit = 60_000
                case (UInt8(ascii: "S"), true): unit = 1_000
                default: return nil
                }
                let (m, o) = n.multipliedReportingOverflow(by: unit)
                guard !o else { return nil }
                total += m
                number = nil
                sawUnit = true
            }
        }
        return sawUnit && number == nil ? total : nil
    }
}

/// The Audit Log Query filters (ANDed by the service). Only fields MuleSoft's OpenAPI spec confirms, plus
/// `environmentIds` (used by its own clients); `subactions` is not confirmed, so it is not offered.
public struct AuditFilters: Sendable, Equatable {
    public var platforms: [String] = []
    public var objectTypes: [String] = []
    public var actions: [String] = []
    public var environmentIds: [String] = []
    public var userIds: [String] = []
    public var objectIds: [String] = []
    public init() {}
}

/// A configured destination. Parsed from one item of `AUDIT_SINKS`.
public enum SinkTarget: Sendable, Equatable, CustomStringConvertible {
    public enum SyslogTransport: String, Sendable { case udp, tcp, tls }
    case syslog(SyslogTransport, host: String, port: UInt16)
    /// RELP (rsyslog's imrelp): application-level acknowledgements; `tls` verifies the server against the CA file.
    case relp(host: String, port: UInt16, tls: Bool)
    case s3(bucket: String, prefix: String)
    case http(url: String)
    case file(path: String)

    public var description: String {
        switch self {
        case .syslog(let t, let host, let port): return "syslog+\(t.rawValue)://\(host):\(port)"
        case .relp(let host, let port, let tls): return "syslog+relp\(tls ? "+tls" : "")://\(host):\(port)"
        case .s3(let bucket, let prefix): return "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)")
        case .http(let url): return HTTPError.redactURL(url)
        case .file(let path): return "file://\(path)"
        }
    }

    public static func parse(_ text: String) -> Result<SinkTarget, SinkParseError> {
        let value = text.trimmingWhitespace()
        let lower = value.lowercased()
        for transport in [SyslogTransport.udp, .tcp, .tls] {
            let scheme = "syslog+\(transport.rawValue)://"
            guard lower.hasPrefix(scheme) else { continue }
            return hostPort(value, scheme: scheme).map { .syslog(transport, host: $0.host, port: $0.port) }
        }
        for (scheme, tls) in [("syslog+relp://", false), ("syslog+relp+tls://", true)] where lower.hasPrefix(scheme) {
            return hostPort(value, scheme: scheme).map { .relp(host: $0.host, port: $0.port, tls: tls) }
        }
        if lower.hasPrefix("s3://") {
            let rest = value.dropFirst(5)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let bucket = String(rest[..<slash])
            guard bucket.count >= 3, bucket.count <= 63,
                  bucket.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }) else {
                return .failure(SinkParseError("s3:// sink: \"\(bucket.prefix(70))\" is not an S3 bucket name"))
            }
            var prefix = Substring(rest[slash...])
            while prefix.hasPrefix("/") { prefix = prefix.dropFirst() }
            while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
            return .success(.s3(bucket: bucket, prefix: String(prefix)))
        }
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            guard value.count > 8, !value.contains(" ") else { return .failure(SinkParseError("\(value.prefix(80)) is not a URL")) }
            return .success(.http(url: value))
        }
        if lower.hasPrefix("file://") {
            let path = String(value.dropFirst(7))
            guard !path.isEmpty else { return .failure(SinkParseError("file:// sink needs a path (file:///tmp/audit.ndjson)")) }
            return .success(.file(path: path))
        }
        return .failure(SinkParseError("unknown sink \"\(HTTPError.redactURL(value).prefix(80))\" (syslog+udp://, syslog+tcp://, syslog+tls://, syslog+relp://, syslog+relp+tls://, s3://, https://, file://)"))
    }

    /// `host:port` after the scheme (IPv6 in brackets), trailing slashes ignored.
    static func hostPort(_ value: String, scheme: String) -> Result<(host: String, port: UInt16), SinkParseError> {
        var rest = Substring(value.dropFirst(scheme.count))
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else {
            return .failure(SinkParseError("\(scheme)host:port needs a port (\(value.prefix(80)))"))
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("/"), !host.contains("@") else {
            return .failure(SinkParseError("\(scheme)host:port has no usable host (\(value.prefix(80)))"))
        }
        return .success((host, port))
    }

    /// Sinks that verify a server against `AUDIT_SYSLOG_CA_FILE`.
    var usesSyslogCA: Bool {
        switch self {
        case .syslog(.tls, _, _), .relp(_, _, true): return true
        default: return false
        }
    }
}

public struct SinkParseError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// The sinks of `AUDIT_SINKS` and what building them needs.
public struct SinkSettings: Sendable {
    public var targets: [SinkTarget]
    /// The collector's token (`AUDIT_HTTP_TOKEN`, or `AUDIT_HTTP_TOKEN_ARN` in Secrets Manager).
    public var httpToken: SecretReference?
    public var syslogFacility: Int
    public var maxHTTPBatchBytes: Int
    public init(targets: [SinkTarget], httpToken: SecretReference? = nil, syslogFacility: Int = 13, maxHTTPBatchBytes: Int = 1_000_000) {
        self.targets = targets
        self.httpToken = httpToken
        self.syslogFacility = syslogFacility
        self.maxHTTPBatchBytes = maxHTTPBatchBytes
    }
}

public struct AuditConfiguration: Sendable {

    public static let usBaseURL = "https://anypoint.mulesoft.com"
    public static let euBaseURL = "https://eu1.anypoint.mulesoft.com"
    public static let govBaseURL = "https://gov.anypoint.mulesoft.com"

    public var baseURL: String
    public var clientID: String
    public var secret: SecretReference
    /// Empty: the token's own organization (`GET /accounts/api/me`).
    public var organizationIDs: [String]
    public var overlapSeconds: Int
    public var lagSeconds: Int
    public var start: AuditStart
    public var filters: AuditFilters
    /// Requests per minute the pacer allows (the control plane's limit minus headroom, unless overridden).
    public var requestsPerMinute: Int
    public var sinks: [SinkTarget]
    /// The collector's token (`AUDIT_HTTP_TOKEN`, or `AUDIT_HTTP_TOKEN_ARN` in Secrets Manager).
    public var httpToken: SecretReference?
    public var otelAttributes: Bool
    /// `AUDIT_ALERT_RULES` (a file or inline JSON), or the built-in rules; read and compiled with the other settings.
    public var alertRules: [AlertRule]
    public var stateURI: StateURI?
    public var deadlineMarginSeconds: Int
    public var syslogFacility: Int
    public var maxHTTPBatchBytes: Int
    /// A window that takes more pages than this is a control plane looping (fresh cursors, no end): the organization
    /// stops with an error instead of paging forever.
    public var maxPagesPerWindow: Int

    /// 100,000 pages hold 20 million entries at the page limit (200): only a backfill of a very busy organization
    /// comes near it, and it then says which setting to raise. At the default pace it is hours of requests.
    public static let defaultMaxPagesPerWindow = 100_000

    /// The control plane's published limit (requests per minute per source IP) for a base URL.
    public static func controlPlaneLimit(baseURL: String) -> Int {
        let host = baseURL.lowercased()
        if host.contains("eu1.anypoint") || host.contains("gov.anypoint") { return 40 }
        return 700
    }

    /// What the pacer allows by default: 85% of the limit (the budget is per source IP, shared with other callers).
    public static func defaultPace(baseURL: String) -> Int { controlPlaneLimit(baseURL: baseURL) * 85 / 100 }

    /// Parses and validates; the configuration, or nil with every problem found.
    public static func parse(_ env: [String: String]) -> (AuditConfiguration?, [String]) {
        var p = SettingParser(env)
        let anypoint = parseAnypoint(&p)
        let base = anypoint.baseURL, clientID: String? = anypoint.clientID, secret: SecretReference? = anypoint.secret
        let orgs = anypoint.organizationIDs
        let start: AuditStart
        if let text = p.string("AUDIT_START") {
            if let s = AuditStart.parse(text) { start = s } else {
                p.problems.append("AUDIT_START must be an ISO 8601 date or date-time (2026-01-01T00:00:00Z) or a duration (P1D, PT6H), not '\(text.prefix(40))'")
                start = .ago(milliseconds: 86_400_000)
            }
        } else {
            start = .ago(milliseconds: 86_400_000)
        }
        var filters = AuditFilters()
        filters.platforms = p.list("AUDIT_PLATFORMS")
        filters.objectTypes = p.list("AUDIT_OBJECT_TYPES")
        filters.actions = p.list("AUDIT_ACTIONS")
        filters.environmentIds = p.list("AUDIT_ENVIRONMENT_IDS")
        filters.userIds = p.list("AUDIT_USER_IDS")
        filters.objectIds = p.list("AUDIT_OBJECT_IDS")
        // An operator who sets it expects it to narrow the export; silently ignoring it would export more than asked.
        if p.string("AUDIT_SUBACTIONS") != nil {
            p.problems.append("AUDIT_SUBACTIONS is not supported: the Audit Log Query API does not confirm a subactions filter (use AUDIT_ACTIONS, AUDIT_OBJECT_TYPES or AUDIT_OBJECT_IDS)")
        }
        let sinkSettings = parseSinks(&p, required: true)
        let sinks = sinkSettings.targets, httpToken = sinkSettings.httpToken
        let alertRules = readAlertRules(p.string("AUDIT_ALERT_RULES"), problems: &p.problems)
        if let problem = CABundle.problem(environment: env) { p.problems.append(problem) }
        var stateURI: StateURI?
        if let text = p.string("STATE_URI") {
            do { stateURI = try StateURI.parse(text) } catch { p.problems.append(error.description) }
        }
        let defaultPace = defaultPace(baseURL: base)
        let config = AuditConfiguration(
            baseURL: base, clientID: clientID ?? "", secret: secret ?? .value(""), organizationIDs: orgs,
            overlapSeconds: p.int("AUDIT_OVERLAP_SECONDS", default: 600, range: 0...86_400),
            lagSeconds: p.int("AUDIT_LAG_SECONDS", default: 60, range: 0...3_600),
            start: start, filters: filters,
            requestsPerMinute: p.int("AUDIT_RATE_LIMIT_PER_MINUTE", default: defaultPace, range: 1...100_000),
            sinks: sinks, httpToken: httpToken,
            otelAttributes: p.bool("AUDIT_OTEL_ATTRIBUTES", default: false),
            alertRules: alertRules, stateURI: stateURI,
            deadlineMarginSeconds: p.int("DEADLINE_MARGIN_SECONDS", default: 10, range: 1...300),
            syslogFacility: sinkSettings.syslogFacility, maxHTTPBatchBytes: sinkSettings.maxHTTPBatchBytes,
            maxPagesPerWindow: p.int("AUDIT_MAX_PAGES_PER_WINDOW", default: defaultMaxPagesPerWindow, range: 10...100_000_000))
        return p.problems.isEmpty ? (config, []) : (nil, p.problems)
    }

    /// The control plane and the Connected App (`ANYPOINT_*`), read the same way by every job that talks to Anypoint.
    public static func parseAnypoint(_ p: inout SettingParser) -> (baseURL: String, clientID: String?, secret: SecretReference?, organizationIDs: [String]) {
        var base = p.string("ANYPOINT_BASE_URL") ?? usBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        let lowerBase = base.lowercased()
        if !(lowerBase.hasPrefix("https://") || lowerBase.hasPrefix("http://")) || base.count < 10 || base.contains(" ") {
            p.problems.append("ANYPOINT_BASE_URL is not an http(s) URL (US \(usBaseURL), EU \(euBaseURL), Gov \(govBaseURL))")
        } else if lowerBase.hasPrefix("http://") && !isLoopback(lowerBase) {
            // The client secret and everything read would cross the network in the clear.
            p.problems.append("ANYPOINT_BASE_URL must be https:// (http:// is accepted for 127.0.0.1 and localhost only)")
        }
        let clientID = p.string("ANYPOINT_CLIENT_ID")
        if clientID == nil { p.problems.append("ANYPOINT_CLIENT_ID is not set (the Connected App's client id)") }
        let secret = p.secret("ANYPOINT_CLIENT_SECRET")
        if secret == nil { p.problems.append("ANYPOINT_CLIENT_SECRET or ANYPOINT_CLIENT_SECRET_ARN is required") }
        return (base, clientID, secret, p.list("ANYPOINT_ORG_IDS"))
    }

    /// `AUDIT_SINKS` and the settings of its sinks, read the same way by every job that delivers records to them (the
    /// audit export, the posture audit's findings).
    public static func parseSinks(_ p: inout SettingParser, required: Bool) -> SinkSettings {
        var sinks: [SinkTarget] = []
        let sinkItems = p.list("AUDIT_SINKS")
        if sinkItems.isEmpty && required { p.problems.append("AUDIT_SINKS is not set (a comma list: syslog+tcp://host:port, syslog+relp://host:port, s3://bucket/prefix, https://collector, file:///path)") }
        for item in sinkItems {
            switch SinkTarget.parse(item) {
            case .success(let s): sinks.append(s)
            case .failure(let e): p.problems.append("AUDIT_SINKS: \(e.description)")
            }
        }
        // A CA file that cannot be read would only show at the first delivery, as a TLS failure: say so now.
        if let ca = p.string("AUDIT_SYSLOG_CA_FILE"), sinks.contains(where: \.usesSyslogCA), access(ca, R_OK) != 0 {
            p.problems.append("AUDIT_SYSLOG_CA_FILE \(ca.prefix(120)) cannot be read (the CA for syslog+tls:// and syslog+relp+tls:// sinks)")
        }
        // imrelp over TLS asks the client for a certificate: both files or neither.
        let relpCert = p.string("AUDIT_RELP_CERT_FILE"), relpKey = p.string("AUDIT_RELP_KEY_FILE")
        if (relpCert == nil) != (relpKey == nil) {
            p.problems.append("AUDIT_RELP_CERT_FILE and AUDIT_RELP_KEY_FILE go together (the client certificate for syslog+relp+tls://)")
        }
        for (name, path) in [("AUDIT_RELP_CERT_FILE", relpCert), ("AUDIT_RELP_KEY_FILE", relpKey)] {
            if let path, access(path, R_OK) != 0 { p.problems.append("\(name) \(path.prefix(120)) cannot be read") }
        }
        let httpToken = p.secret("AUDIT_HTTP_TOKEN")
        if sinks.contains(where: { if case .http(let u) = $0 { return u.lowercased().hasPrefix("http://") && !Self.isLoopback(u) }; return false }) {
            p.problems.append("AUDIT_SINKS: a collector URL must be https:// (http:// is accepted for 127.0.0.1 and localhost only)")
        }
        return SinkSettings(targets: sinks, httpToken: httpToken,
                            syslogFacility: p.int("AUDIT_SYSLOG_FACILITY", default: 13, range: 0...23),
                            maxHTTPBatchBytes: p.int("AUDIT_HTTP_MAX_BATCH_BYTES", default: 1_000_000, range: 4_096...10_000_000))
    }

    /// The rules a source names (inline JSON starting with `{`, else a file), or the built-in ones; a problem is listed
    /// with the other settings' instead of surfacing after they are fixed.
    static func readAlertRules(_ source: String?, problems: inout [String]) -> [AlertRule] {
        do {
            guard let source else { return try AlertRuleSet.defaults() }
            let bytes: [UInt8]
            if source.hasPrefix("{") { bytes = Array(source.utf8) } else {
                do { bytes = try FileIO.read(path: source, limit: 1 << 20) } catch {
                    throw AlertRuleError("cannot read \(source.prefix(120)): \(error) (a rules file is at most 1 MiB)")
                }
            }
            return try AlertRuleSet.parse(bytes).rules
        } catch {
            let text = "\(error)"
            problems.append(text.hasPrefix("AUDIT_ALERT_RULES") ? text : "AUDIT_ALERT_RULES: \(text)")
            return []
        }
    }

    /// Decided on the parsed host (`http://127.0.0.1@attacker.example/` is not loopback), by the one shared rule.
    static func isLoopback(_ url: String) -> Bool { URLParts(url)?.isLoopbackHost ?? false }

    /// For logs and the health handler: no secret values.
    public var redactedSummary: [(String, String)] {
        [("baseURL", baseURL), ("clientID", clientID), ("secret", secret.description),
         ("organizations", organizationIDs.isEmpty ? "(token's own)" : organizationIDs.joined(separator: ",")),
         ("sinks", sinks.map(\.description).joined(separator: ",")), ("requestsPerMinute", String(requestsPerMinute))]
    }
}
