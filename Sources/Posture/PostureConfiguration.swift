// The posture audit's settings, parsed once from the environment, every problem reported at once.
import AWS
import Audit
import Core
import HTTP

public struct PostureConfiguration: Sendable {
    public var baseURL: String
    public var clientID: String
    public var secret: SecretReference
    public var organizationIDs: [String]
    public var businessGroups: Bool
    public var environments: [String]
    public var productionPattern: FieldPatternBox?
    public var rules: PostureRules
    /// Where `POSTURE_RULES` came from (for the summary), or nil for the built-in rules.
    public var rulesSource: String?
    public var concurrency: Int
    public var requestsPerMinute: Int
    public var pageSize: Int
    /// The scheduled job's report location (`s3://bucket/prefix` or `file:///dir`); the CLI does not need it.
    public var reportURI: ReportLocation?
    public var sinks: SinkSettings
    public var deadlineMarginSeconds: Int

    /// Parses and validates; `requireReportURI` for the handler (the CLI writes where it is told).
    public static func parse(_ env: [String: String], requireReportURI: Bool) -> (PostureConfiguration?, [String]) {
        var p = SettingParser(env)
        let anypoint = AuditConfiguration.parseAnypoint(&p)
        var pattern: FieldPatternBox?
        if let text = p.string("POSTURE_PRODUCTION_PATTERN") {
            do { pattern = try FieldPatternBox(text) } catch { p.problems.append("POSTURE_PRODUCTION_PATTERN: \(error.description)") }
        }
        var rulesSource: String?
        var rules: PostureRules?
        do { rules = try PostureRules() } catch { p.problems.append("built-in posture rules: \(error)") }
        if let source = p.string("POSTURE_RULES") {
            rulesSource = source.hasPrefix("{") ? "(inline)" : source
            do throws(PostureSettingError) {
                let bytes: [UInt8]
                if source.hasPrefix("{") { bytes = Array(source.utf8) } else {
                    do { bytes = try FileIO.read(path: source) } catch { throw PostureSettingError("POSTURE_RULES: cannot read \(source.prefix(120)): \(error)") }
                }
                rules = try PostureRules.parse(bytes)
            } catch {
                p.problems.append(error.description)
            }
        }
        var report: ReportLocation?
        if let text = p.string("POSTURE_REPORT_URI") {
            switch ReportLocation.parse(text) {
            case .success(let r): report = r
            case .failure(let e): p.problems.append("POSTURE_REPORT_URI: \(e.description)")
            }
        } else if requireReportURI {
            p.problems.append("POSTURE_REPORT_URI is not set (s3://bucket/prefix in Lambda, file:///dir locally): where the reports and the baseline are kept")
        }
        let sinks = AuditConfiguration.parseSinks(&p, required: false)
        if let problem = CABundle.problem(environment: env) { p.problems.append(problem) }
        let businessGroups = p.bool("POSTURE_BUSINESS_GROUPS", default: false), environments = p.list("POSTURE_ENVIRONMENTS")
        let concurrency = p.int("POSTURE_CONCURRENCY", default: 8, range: 1...64)
        let pace = p.int("POSTURE_RATE_LIMIT_PER_MINUTE", default: AuditConfiguration.defaultPace(baseURL: anypoint.baseURL), range: 1...100_000)
        let pageSize = p.int("POSTURE_PAGE_SIZE", default: 100, range: 1...100)
        let margin = p.int("DEADLINE_MARGIN_SECONDS", default: 10, range: 1...300)
        guard p.problems.isEmpty, let rules, let clientID = anypoint.clientID, let secret = anypoint.secret else { return (nil, p.problems) }
        let config = PostureConfiguration(
            baseURL: anypoint.baseURL, clientID: clientID, secret: secret, organizationIDs: anypoint.organizationIDs,
            businessGroups: businessGroups, environments: environments, productionPattern: pattern, rules: rules,
            rulesSource: rulesSource, concurrency: concurrency, requestsPerMinute: pace, pageSize: pageSize,
            reportURI: report, sinks: sinks, deadlineMarginSeconds: margin)
        return (config, [])
    }

    public var collectionSettings: CollectionSettings {
        CollectionSettings(organizationIDs: organizationIDs, businessGroups: businessGroups, environments: environments,
                           productionPattern: productionPattern, concurrency: concurrency, pageSize: pageSize)
    }

    /// For logs and the health handler: no secret values.
    public var redactedSummary: [(String, String)] {
        [("baseURL", baseURL), ("clientID", clientID), ("secret", secret.description),
         ("organizations", organizationIDs.isEmpty ? "(token's own)" : organizationIDs.joined(separator: ",")),
         ("environments", environments.isEmpty ? "(all)" : environments.joined(separator: ",")),
         ("rules", rulesSource ?? "(built-in)"), ("report", reportURI?.description ?? "-"),
         ("sinks", sinks.targets.map(\.description).joined(separator: ",")), ("requestsPerMinute", String(requestsPerMinute))]
    }
}

/// Where reports are kept: an S3 prefix or a local directory.
public enum ReportLocation: Sendable, Equatable, CustomStringConvertible {
    case s3(bucket: String, prefix: String)
    case directory(String)

    public var description: String {
        switch self {
        case .s3(let b, let p): return "s3://\(b)" + (p.isEmpty ? "" : "/\(p)")
        case .directory(let d): return "file://\(d)"
        }
    }

    public static func parse(_ text: String) -> Result<ReportLocation, PostureSettingError> {
        let lower = text.lowercased()
        if lower.hasPrefix("s3://") {
            guard case .success(.s3(let bucket, let prefix)) = SinkTarget.parse(text) else {
                return .failure(PostureSettingError("\(text.prefix(80)) is not s3://bucket/prefix"))
            }
            return .success(.s3(bucket: bucket, prefix: prefix))
        }
        if lower.hasPrefix("file://") {
            var path = String(text.dropFirst(7))
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            guard path.hasPrefix("/") else { return .failure(PostureSettingError("file:// needs an absolute directory (file:///var/reports)")) }
            return .success(.directory(path))
        }
        return .failure(PostureSettingError("\(text.prefix(80)) is neither s3://bucket/prefix nor file:///dir"))
    }
}

public struct PostureSettingError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
