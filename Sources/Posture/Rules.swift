// Finding kinds, severities and the rules file (`POSTURE_RULES`): severities per kind, extra policy classes,
// differences expected between environments, and the secret key pattern.
import Audit
import Core

public enum Severity: String, Sendable, Comparable, CaseIterable {
    case info, drift, threat
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
    var rank: Int { switch self { case .info: return 0; case .drift: return 1; case .threat: return 2 } }

    /// How a finding is logged to syslog: a threat is critical, drift a warning, the rest a notice.
    public var syslog: SyslogSeverity {
        switch self {
        case .threat: return .critical
        case .drift: return .warning
        case .info: return .notice
        }
    }
}

public enum FindingKind: String, Sendable, CaseIterable {
    case presence
    case version
    case status
    case policyMissing = "policy-missing"
    case policyVersion = "policy-version"
    case policyConfig = "policy-config"
    case policyConfigExpected = "policy-config-expected"
    case policyOrder = "policy-order"
    case policyDisabled = "policy-disabled"
    case tierMissing = "tier-missing"
    case tierLimits = "tier-limits"
    case contractMissing = "contract-missing"
    case contractTier = "contract-tier"
    case automatedPolicyMissing = "automated-policy-missing"
    case automatedPolicyVersion = "automated-policy-version"
    case automatedPolicyConfig = "automated-policy-config"
    case automatedPolicyDisabled = "automated-policy-disabled"
    case productionWithoutAuthentication = "production-without-authentication"
    case productionWithoutRateLimiting = "production-without-rate-limiting"

    public var defaultSeverity: Severity {
        switch self {
        case .productionWithoutAuthentication, .productionWithoutRateLimiting: return .threat
        case .policyConfigExpected: return .info
        default: return .drift
        }
    }

    public var title: String {
        switch self {
        case .presence: return "deployed in some environments only"
        case .version: return "API version differs"
        case .status: return "API status differs"
        case .policyMissing: return "policy missing"
        case .policyVersion: return "policy version differs"
        case .policyConfig: return "policy configuration differs"
        case .policyConfigExpected: return "policy configuration differs where expected"
        case .policyOrder: return "policy order differs"
        case .policyDisabled: return "policy disabled in some environments"
        case .tierMissing: return "SLA tier missing"
        case .tierLimits: return "SLA tier limits differ"
        case .contractMissing: return "contract missing"
        case .contractTier: return "contract on a different tier"
        case .automatedPolicyMissing: return "automated policy missing"
        case .automatedPolicyVersion: return "automated policy version differs"
        case .automatedPolicyConfig: return "automated policy configuration differs"
        case .automatedPolicyDisabled: return "automated policy disabled in some environments"
        case .productionWithoutAuthentication: return "production without authentication (a lower environment has it)"
        case .productionWithoutRateLimiting: return "production without rate limiting (a lower environment has it)"
        }
    }
}

/// A difference that is expected between environments (a JWKS URL, an issuer): reported as info, not drift.
public struct ExpectedDifference: Sendable {
    /// `assetId` or `groupId:assetId`.
    public var asset: String
    /// A flattened path (`configuration.jwksUrl`) or its beginning (`configuration.endpoints`); `configuration.` is
    /// added when the path does not start with it or with `pointcut`.
    public var path: String

    public func covers(groupID: String, assetID: String, path candidate: String) -> Bool {
        guard asset == assetID || asset == "\(groupID):\(assetID)" else { return false }
        let full = path.hasPrefix("configuration") || path.hasPrefix("pointcut") ? path : "configuration." + path
        return candidate == full || candidate.hasPrefix(full + ".") || candidate.hasPrefix(full + "[")
    }
}

public struct PostureRules: Sendable {
    /// Per kind: a severity, or nil when the rules switch the kind off.
    public var severities: [FindingKind: Severity?] = [:]
    public var extraAuthentication: Set<String> = []
    public var extraRateLimiting: Set<String> = []
    public var expected: [ExpectedDifference] = []
    public var secretKeys: SecretKeys

    public init() throws(PostureSettingError) { secretKeys = try SecretKeys() }

    public func severity(_ kind: FindingKind) -> Severity? {
        if let s = severities[kind] { return s }
        return kind.defaultSeverity
    }

    public func classify(groupID: String, assetID: String) -> PolicyClass {
        PolicyCatalog.classify(groupID: groupID, assetID: assetID, extraAuthentication: extraAuthentication, extraRateLimiting: extraRateLimiting)
    }

    /// `{"severities": {"policy-order": "info", "version": "off"}, "authenticationAssets": ["my-group:my-auth"],
    /// "rateLimitingAssets": [], "expectedDifferences": [{"asset": "jwt-validation", "path": "jwksUrl"}],
    /// "secretKeyPattern": "(?i)secret|password"}`: unknown members are refused, so a typo does not pass silently.
    public static func parse(_ bytes: [UInt8]) throws(PostureSettingError) -> PostureRules {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw PostureSettingError("POSTURE_RULES is not JSON: \(error)") }
        guard let object = json.objectValue else { throw PostureSettingError("POSTURE_RULES must be a JSON object") }
        let known: Set<String> = ["severities", "authenticationAssets", "rateLimitingAssets", "expectedDifferences", "secretKeyPattern"]
        for m in object.members where !known.contains(m.key) {
            throw PostureSettingError("POSTURE_RULES: unknown member \"\(m.key)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        var rules = try PostureRules()
        if let s = json["secretKeyPattern"] {
            guard let text = s.stringValue else { throw PostureSettingError("POSTURE_RULES: secretKeyPattern must be a string") }
            do { rules.secretKeys = try SecretKeys(pattern: text) } catch { throw PostureSettingError("POSTURE_RULES secretKeyPattern: \(error)") }
        }
        if let s = json["severities"] {
            guard let members = s.objectValue?.members else { throw PostureSettingError("POSTURE_RULES: severities must be an object") }
            for m in members {
                guard let kind = FindingKind(rawValue: m.key) else {
                    throw PostureSettingError("POSTURE_RULES: unknown finding kind \"\(m.key)\" (known: \(FindingKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard let text = m.value.stringValue else { throw PostureSettingError("POSTURE_RULES: severity of \(m.key) must be a string") }
                if text.lowercased() == "off" { rules.severities[kind] = .some(nil); continue }
                guard let severity = Severity(rawValue: text.lowercased()) else {
                    throw PostureSettingError("POSTURE_RULES: severity of \(m.key) must be threat, drift, info or off (got \"\(text.prefix(20))\")")
                }
                rules.severities[kind] = .some(severity)
            }
        }
        func strings(_ name: String) throws(PostureSettingError) -> Set<String> {
            guard let v = json[name] else { return [] }
            guard let items = v.arrayValue, items.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw PostureSettingError("POSTURE_RULES: \(name) must be an array of asset ids (assetId or groupId:assetId)")
            }
            return Set(items.compactMap(\.stringValue))
        }
        rules.extraAuthentication = try strings("authenticationAssets")
        rules.extraRateLimiting = try strings("rateLimitingAssets")
        if let e = json["expectedDifferences"] {
            guard let items = e.arrayValue else { throw PostureSettingError("POSTURE_RULES: expectedDifferences must be an array") }
            for (i, item) in items.enumerated() {
                guard let asset = item["asset"]?.stringValue, !asset.isEmpty, let path = item["path"]?.stringValue, !path.isEmpty else {
                    throw PostureSettingError("POSTURE_RULES: expectedDifferences item \(i + 1) needs asset and path")
                }
                rules.expected.append(ExpectedDifference(asset: asset, path: path))
            }
        }
        return rules
    }
}
