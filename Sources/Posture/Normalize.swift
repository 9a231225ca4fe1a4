// The three policy list shapes made one, the policy classes, and configurations made comparable: canonical JSON,
// flattened to paths, with the keys that hold secrets recognised so that their values are never written out.
import Audit
import Core

/// MuleSoft's policy assets and how the rules classify them (docs/posture.md lists them).
public enum PolicyCatalog {
    public static let muleSoftGroup = "68ef9520-24e9-4cf2-b2f5-620025690913"

    public static let authentication: Set<String> = [
        "client-id-enforcement", "jwt-validation", "http-basic-authentication", "ldap-authentication",
        "external-oauth2-access-token-enforcement", "oauth2-token-introspection", "native-ext-authz",
        "openam-access-token-enforcement", "pingfederate-access-token-enforcement", "openidconnect-access-token-enforcement",
    ]
    public static let rateLimiting: Set<String> = ["rate-limiting", "rate-limiting-sla-based", "spike-control", "a-two-a-token-rate-limit"]
    public static let network: Set<String> = ["ip-allowlist", "ip-blocklist", "ip-whitelist", "ip-blacklist"]

    /// The class of `groupId:assetId`; `extra` holds the rules' own additions (`assetId` or `groupId:assetId`).
    public static func classify(groupID: String, assetID: String, extraAuthentication: Set<String> = [],
                                extraRateLimiting: Set<String> = []) -> PolicyClass {
        let full = "\(groupID):\(assetID)"
        if extraAuthentication.contains(full) || extraAuthentication.contains(assetID) && groupID == muleSoftGroup { return .authentication }
        if extraRateLimiting.contains(full) || extraRateLimiting.contains(assetID) && groupID == muleSoftGroup { return .rateLimiting }
        guard groupID == muleSoftGroup else { return .custom }
        if authentication.contains(assetID) || assetID.hasPrefix("openid") { return .authentication }
        if rateLimiting.contains(assetID) { return .rateLimiting }
        if network.contains(assetID) { return .network }
        return .other
    }
}

public struct PolicyDecodeError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

public enum PolicyNormalizer {
    /// The items of a policy listing, whatever its shape: a plain array, `{"policies": [...]}`, or the compact array.
    public static func items(_ json: JSONValue) throws(PolicyDecodeError) -> [JSONValue] {
        if let list = json.arrayValue { return list }
        if let list = json["policies"]?.arrayValue { return list }
        throw PolicyDecodeError("a policy listing is neither an array nor {\"policies\": [...]}")
    }

    /// `id <- id ?: policyId`; `config <- configurationData ?: configuration`; asset <- top-level fields ?: `template`
    /// ?: `implementationAsset` (the last can name a runtime implementation: only when nothing else does).
    public static func policy(_ item: JSONValue, classify: (String, String) -> PolicyClass) throws(PolicyDecodeError) -> PolicySnapshot {
        guard item.objectValue != nil else { throw PolicyDecodeError("a policy item is not an object") }
        guard let id = scalarText(item["id"]) ?? scalarText(item["policyId"]) else { throw PolicyDecodeError("a policy has neither id nor policyId") }
        let template = item["template"], implementation = item["implementationAsset"]
        let group = item["groupId"]?.stringValue ?? template?["groupId"]?.stringValue ?? implementation?["groupId"]?.stringValue
        let asset = item["assetId"]?.stringValue ?? template?["assetId"]?.stringValue ?? implementation?["assetId"]?.stringValue
        guard let group, let asset else { throw PolicyDecodeError("policy \(id) names no asset (groupId/assetId, template or implementationAsset)") }
        let version = item["assetVersion"]?.stringValue ?? template?["assetVersion"]?.stringValue
            ?? implementation?["version"]?.stringValue ?? implementation?["assetVersion"]?.stringValue
        var configuration = item["configurationData"] ?? item["configuration"]
        if configuration?.isNull == true { configuration = nil }
        var pointcut = item["pointcutData"]
        if pointcut?.isNull == true { pointcut = nil }
        let order = item["order"]?.int64Value.map { Int($0) } ?? item["order:"]?.int64Value.map { Int($0) }
        return PolicySnapshot(id: id, groupID: group, assetID: asset, assetVersion: version, label: item["label"]?.stringValue,
                              order: order, disabled: item["disabled"]?.boolValue ?? false, configuration: configuration,
                              pointcut: pointcut, policyClass: classify(group, asset))
    }

    /// The active listing (`fullInfo=true`: configurations, active only) merged with the complete one (`fullInfo=false`:
    /// active and disabled, without configurations). A policy only in the complete listing, not flagged either way,
    /// is disabled (the active listing leaves disabled ones out).
    public static func merge(active: [PolicySnapshot], all: [PolicySnapshot]) -> [PolicySnapshot] {
        var byID: [String: PolicySnapshot] = [:]
        for p in active { byID[p.id] = p }
        var out: [PolicySnapshot] = []
        var seen = Set<String>()
        for p in all where seen.insert(p.id).inserted {
            if var full = byID[p.id] {
                full.disabled = full.disabled || p.disabled
                if full.order == nil { full.order = p.order }
                out.append(full)
            } else {
                var q = p
                q.disabled = true
                out.append(q)
            }
        }
        for p in active where seen.insert(p.id).inserted { out.append(p) }
        return keyed(out)
    }

    /// Sorts by order (then id) and gives each policy its key; repeats of one asset and label get `#2`, `#3`...
    public static func keyed(_ policies: [PolicySnapshot]) -> [PolicySnapshot] {
        var sorted = policies.sorted { ($0.order ?? Int.max, $0.id) < ($1.order ?? Int.max, $1.id) }
        var counts: [String: Int] = [:]
        for i in sorted.indices {
            var base = "\(sorted[i].groupID):\(sorted[i].assetID)"
            if let label = sorted[i].label, !label.isEmpty { base += "/" + label }
            let n = counts[base, default: 0] + 1
            counts[base] = n
            sorted[i].key = n == 1 ? base : "\(base)#\(n)"
        }
        return sorted
    }

    static func scalarText(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s.isEmpty ? nil : s
        case .int(let i)?: return String(i)
        case .double(let d)?: return String(d)
        default: return nil
        }
    }
}

/// Configurations as comparable values: members sorted, bookkeeping keys left out, flattened to `path = leaf`.
public enum ConfigurationCompare {
    /// Keys that say where or when a policy was stored, not what it does.
    public static let ignoredKeys: Set<String> = ["id", "audit", "apiId", "policyTemplateId", "organizationId", "masterOrganizationId"]

    public static func canonical(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o):
            let members = o.members.filter { !ignoredKeys.contains($0.key) }.sorted { $0.key < $1.key }
                .map { (key: $0.key, value: canonical($0.value)) }
            return .object(JSONObject(members))
        case .array(let items): return .array(items.map(canonical))
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return .int(Int64(d))
        default: return value
        }
    }

    /// Leaves by path (`rateLimits[0].maximumRequests`); an empty object or array is a leaf of its own.
    public static func flatten(_ value: JSONValue, prefix: String = "", into out: inout [String: JSONValue]) {
        switch value {
        case .object(let o) where !o.members.isEmpty:
            for m in o.members { flatten(m.value, prefix: prefix.isEmpty ? m.key : prefix + "." + m.key, into: &out) }
        case .array(let items) where !items.isEmpty:
            for (i, item) in items.enumerated() { flatten(item, prefix: prefix + "[\(i)]", into: &out) }
        default:
            out[prefix.isEmpty ? "$" : prefix] = value
        }
    }

    /// What is compared for a policy: its configuration and pointcut (disabled is a finding of its own).
    public static func comparable(_ p: PolicySnapshot) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        if let c = p.configuration { flatten(canonical(c), prefix: "configuration", into: &out) }
        if let pc = p.pointcut { flatten(canonical(pc), prefix: "pointcut", into: &out) }
        return out
    }
}

/// Which configuration keys hold secrets: their values never leave the process (reports show "***" and that
/// they differ). The default pattern is wide on purpose: masking a harmless value costs little.
public struct SecretKeys: Sendable {
    public static let defaultPattern = "(?i)secret|passw|pwd|token|credential|private|key|cert|signature|salt|auth.*header"
    public let pattern: FieldPattern

    public init(pattern: String = SecretKeys.defaultPattern) throws(PostureSettingError) {
        do { self.pattern = try FieldPattern(pattern) } catch { throw PostureSettingError(error.description) }
    }

    /// Whether any member name on the path looks like a secret's (`a.clientSecret`, `keys[0].value`).
    public func isSecret(path: String) -> Bool {
        var name = ""
        for c in path {
            if c == "." || c == "[" || c == "]" {
                if !name.isEmpty, pattern.matches(name) { return true }
                name = ""
            } else {
                name.append(c)
            }
        }
        return !name.isEmpty && pattern.matches(name)
    }

    /// The value with every string under a member whose name looks like a secret's replaced by "***" (structure,
    /// numbers and booleans kept: `supportCredentials: false` tells something and hides nothing).
    public func masked(_ value: JSONValue, under secret: Bool = false) -> JSONValue {
        switch value {
        case .object(let o):
            return .object(JSONObject(o.members.map { m in (key: m.key, value: masked(m.value, under: secret || pattern.matches(m.key))) }))
        case .array(let items): return .array(items.map { masked($0, under: secret) })
        case .string where secret: return .string(Secrets.mask)
        default: return value
        }
    }

    /// Whether a leaf at `path` is shown as "***": a string under a secret-looking name.
    public func hides(path: String, value: JSONValue?) -> Bool {
        guard case .string? = value else { return false }
        return isSecret(path: path)
    }
}

public enum Secrets {
    public static let mask = "***"
}

extension JSONValue {
    /// Compact JSON text, for evidence.
    public var compactText: String {
        if case .string(let s) = self { return s }
        return String(decoding: jsonBytes, as: UTF8.self)
    }
}
