// The comparison: instances matched across environments by asset and instance label, every dimension compared
// among the environments where it was collected, findings with the values on each side (secrets masked), and the
// production rules on top.
import Core

public struct Evidence: Sendable, Equatable {
    public var environment: String
    public var value: String
    public init(environment: String, value: String) {
        self.environment = environment
        self.value = value
    }
}

public struct Finding: Sendable, Equatable {
    /// Stable across runs (kind, API, subject): what the baseline diff matches on.
    public var id: String
    public var kind: FindingKind
    public var severity: Severity
    /// The API's key (`groupId:assetId/label`); nil for an environment-level finding (automated policies).
    public var api: String?
    public var apiName: String?
    /// The policy key, tier name, application, or production environment the finding is about.
    public var subject: String?
    public var environments: [String]
    public var evidence: [Evidence]
    /// For configuration findings: the paths that differ.
    public var paths: [String]
    public var message: String

    public init(kind: FindingKind, severity: Severity, api: String?, apiName: String?, subject: String?, environments: [String],
                evidence: [Evidence], paths: [String] = [], message: String? = nil, id: String? = nil) {
        self.kind = kind
        self.severity = severity
        self.api = api
        self.apiName = apiName
        self.subject = subject
        self.environments = environments
        self.evidence = evidence
        self.paths = paths
        self.id = id ?? Finding.identity(kind: kind, api: api, subject: subject)
        self.message = message ?? ([kind.title, subject].compactMap { $0 }.joined(separator: ": ")
            + " (" + environments.joined(separator: ", ") + ")")
    }

    public static func identity(kind: FindingKind, api: String?, subject: String?) -> String {
        FNV1a.hex([kind.rawValue, api ?? "", subject ?? ""])
    }
}

public enum APIStatus: String, Sendable { case aligned = "ALIGNED", drift = "DRIFT", threat = "THREAT" }

/// One API across environments: its instance in each environment where it is deployed.
public struct APIView: Sendable {
    public var key: String
    public var groupID: String
    public var assetID: String
    public var name: String
    public var label: String?
    /// Environment label → instance.
    public var instances: [String: InstanceSnapshot]
    public var status: APIStatus
    /// Some part of it, or the API list of an environment, could not be read: ALIGNED then means "aligned as far as
    /// was read".
    public var incomplete: Bool
}

public struct PostureComparison: Sendable {
    public var apis: [APIView]
    public var findings: [Finding]
}

public struct Comparator: Sendable {
    public let rules: PostureRules
    public init(rules: PostureRules) { self.rules = rules }

    public func compare(_ collection: PostureCollection) -> PostureComparison {
        let envs = collection.environments
        var order: [String] = []
        var byAPI: [String: [(env: Int, instance: InstanceSnapshot)]] = [:]
        for (e, env) in envs.enumerated() {
            var seen: [String: Int] = [:]
            for instance in env.instances.value ?? [] {
                var key = instance.apiKey
                let n = seen[key, default: 0] + 1
                seen[key] = n
                if n > 1 { key += "#\(n)" }
                if byAPI[key] == nil { order.append(key) }
                byAPI[key, default: []].append((e, instance))
            }
        }
        let collected = envs.indices.filter { envs[$0].instances.value != nil }
        let missing = collection.missing
        var findings: [Finding] = []
        var views: [APIView] = []
        for key in order {
            let present = byAPI[key]!
            let first = present[0].instance
            var mine = compareAPI(key: key, name: first.assetName, present: present, collected: collected, envs: envs)
            mine.sort(by: Self.ordered)
            let worst = mine.map(\.severity).max()
            let status: APIStatus = worst == .threat ? .threat : worst == .drift ? .drift : .aligned
            var instances: [String: InstanceSnapshot] = [:]
            for p in present { instances[envs[p.env].environment.label] = p.instance }
            // A part of it not read, or an environment whose API list was not read (it may be deployed there).
            let incomplete = missing.contains { $0.api == first.apiKey } || collected.count < envs.count
            views.append(APIView(key: key, groupID: first.groupID, assetID: first.assetID, name: first.assetName, label: first.instanceLabel,
                                 instances: instances, status: status, incomplete: incomplete))
            findings += mine
        }
        // Automated policies belong to an environment, not an API.
        let automated = envs.compactMap { e in e.automatedPolicies.value.map { (e.environment.label, $0) } }
        var envFindings = comparePolicies(api: nil, apiName: nil, entries: automated, automated: true)
        envFindings.sort(by: Self.ordered)
        return PostureComparison(apis: views, findings: findings + envFindings)
    }

    static func ordered(_ a: Finding, _ b: Finding) -> Bool {
        (b.severity.rank, a.api ?? "", a.kind.rawValue, a.subject ?? "") < (a.severity.rank, b.api ?? "", b.kind.rawValue, b.subject ?? "")
    }

    private func finding(_ kind: FindingKind, api: String?, apiName: String?, subject: String?, evidence: [Evidence],
                         paths: [String] = []) -> Finding? {
        guard let severity = rules.severity(kind) else { return nil }
        return Finding(kind: kind, severity: severity, api: api, apiName: apiName, subject: subject,
                       environments: evidence.map(\.environment), evidence: evidence, paths: paths)
    }

    private func compareAPI(key: String, name: String, present: [(env: Int, instance: InstanceSnapshot)], collected: [Int],
                            envs: [EnvironmentSnapshot]) -> [Finding] {
        var out: [Finding] = []
        let label = { (e: Int) in envs[e].environment.label }
        let presentEnvs = Set(present.map(\.env))
        let absent = collected.filter { !presentEnvs.contains($0) }
        if !absent.isEmpty {
            var evidence: [Evidence] = []
            for e in collected {
                if let p = present.first(where: { $0.env == e }) {
                    evidence.append(Evidence(environment: label(e), value: "deployed (instance \(p.instance.id), \(p.instance.assetVersion ?? "no version"))"))
                } else {
                    evidence.append(Evidence(environment: label(e), value: "not deployed"))
                }
            }
            out += [finding(.presence, api: key, apiName: name, subject: nil, evidence: evidence)].compactMap { $0 }
        }
        guard !present.isEmpty else { return out }
        func differing(_ kind: FindingKind, _ value: (InstanceSnapshot) -> String) {
            let values = present.map { Evidence(environment: label($0.env), value: value($0.instance)) }
            if Set(values.map(\.value)).count > 1, let f = finding(kind, api: key, apiName: name, subject: nil, evidence: values) { out.append(f) }
        }
        differing(.version) { $0.assetVersion ?? "-" }
        differing(.status) { $0.status }

        let policies = present.compactMap { p in p.instance.policies.value.map { (label(p.env), $0) } }
        out += comparePolicies(api: key, apiName: name, entries: policies, automated: false)
        let tiers = present.compactMap { p in p.instance.tiers.value.map { (label(p.env), $0) } }
        out += compareTiers(api: key, apiName: name, entries: tiers)
        let contracts = present.compactMap { p in p.instance.contracts.value.map { (label(p.env), $0) } }
        out += compareContracts(api: key, apiName: name, entries: contracts)
        out += productionRules(api: key, apiName: name, present: present, envs: envs)
        return out
    }

    // MARK: - policies

    func comparePolicies(api: String?, apiName: String?, entries: [(String, [PolicySnapshot])], automated: Bool) -> [Finding] {
        guard entries.count >= 2 else { return [] }
        var out: [Finding] = []
        var keys: [String] = []
        var seen = Set<String>()
        for (_, list) in entries { for p in list where seen.insert(p.key).inserted { keys.append(p.key) } }
        for key in keys {
            let holders = entries.compactMap { (env, list) in list.first { $0.key == key }.map { (env, $0) } }
            let display = holders[0].1.displayName
            if holders.count < entries.count {
                let evidence = entries.map { (env, list) -> Evidence in
                    guard let p = list.first(where: { $0.key == key }) else { return Evidence(environment: env, value: "absent") }
                    return Evidence(environment: env, value: "present (\(p.assetVersion ?? "no version"), \(p.disabled ? "disabled" : "enabled"))")
                }
                if let f = finding(automated ? .automatedPolicyMissing : .policyMissing, api: api, apiName: apiName, subject: key, evidence: evidence) {
                    out.append(f)
                }
            }
            guard holders.count >= 2 else { continue }
            let versions = holders.map { Evidence(environment: $0.0, value: $0.1.assetVersion ?? "-") }
            if Set(versions.map(\.value)).count > 1,
               let f = finding(automated ? .automatedPolicyVersion : .policyVersion, api: api, apiName: apiName, subject: key, evidence: versions) {
                out.append(f)
            }
            let states = holders.map { Evidence(environment: $0.0, value: $0.1.disabled ? "disabled" : "enabled") }
            if Set(states.map(\.value)).count > 1,
               let f = finding(automated ? .automatedPolicyDisabled : .policyDisabled, api: api, apiName: apiName, subject: key, evidence: states) {
                out.append(f)
            }
            out += compareConfigurations(api: api, apiName: apiName, key: key, display: display, holders: holders, automated: automated)
        }
        if !automated {
            // Order among the policies every environment has (a missing one is reported above, not again as order).
            let common = keys.filter { k in entries.allSatisfy { $0.1.contains { $0.key == k } } }
            if common.count >= 2 {
                let sequences = entries.map { (env, list) in
                    Evidence(environment: env, value: list.filter { common.contains($0.key) }.map(\.displayName).joined(separator: " > "))
                }
                let raw = Set(entries.map { $0.1.filter { common.contains($0.key) }.map(\.key) })
                if raw.count > 1, let f = finding(.policyOrder, api: api, apiName: apiName, subject: nil, evidence: sequences) { out.append(f) }
            }
        }
        return out
    }

    private func compareConfigurations(api: String?, apiName: String?, key: String, display: String, holders: [(String, PolicySnapshot)],
                                       automated: Bool) -> [Finding] {
        // Only where the configuration was listed (a disabled policy comes without one).
        let known = holders.filter { $0.1.configuration != nil || $0.1.pointcut != nil }
        guard known.count >= 2 else { return [] }
        let flat = known.map { ConfigurationCompare.comparable($0.1) }
        var paths = Set<String>()
        for f in flat { paths.formUnion(f.keys) }
        let differing = paths.sorted().filter { path in Set(flat.map { $0[path].map(\.compactText) ?? "\u{0}absent" }).count > 1 }
        guard !differing.isEmpty else { return [] }
        let policy = known[0].1
        let expected = differing.filter { path in rules.expected.contains { $0.covers(groupID: policy.groupID, assetID: policy.assetID, path: path) } }
        let unexpected = differing.filter { !expected.contains($0) }
        var out: [Finding] = []
        for (kind, chosen) in [(automated ? FindingKind.automatedPolicyConfig : .policyConfig, unexpected), (.policyConfigExpected, expected)]
        where !chosen.isEmpty {
            let evidence = zip(known, flat).map { holder, values in
                Evidence(environment: holder.0, value: chosen.prefix(10).map { path in
                    "\(path)=\(rules.secretKeys.hides(path: path, value: values[path]) ? Secrets.mask : Self.short(values[path]))"
                }.joined(separator: "; ") + (chosen.count > 10 ? "; (\(chosen.count - 10) more)" : ""))
            }
            if let f = finding(kind, api: api, apiName: apiName, subject: key, evidence: evidence, paths: chosen) { out.append(f) }
        }
        return out
    }

    static func short(_ v: JSONValue?) -> String {
        guard let v else { return "(absent)" }
        let text = v.compactText
        return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }

    // MARK: - tiers and contracts

    private func compareTiers(api: String, apiName: String, entries: [(String, [TierSnapshot])]) -> [Finding] {
        guard entries.count >= 2 else { return [] }
        var out: [Finding] = []
        var names: [String] = []
        for (_, list) in entries { for t in list where !names.contains(t.name) { names.append(t.name) } }
        for name in names {
            let holders = entries.compactMap { (env, list) in list.first { $0.name == name }.map { (env, $0) } }
            if holders.count < entries.count {
                let evidence = entries.map { (env, list) in
                    Evidence(environment: env, value: list.first { $0.name == name }.map { "present (\($0.limitsText))" } ?? "absent")
                }
                if let f = finding(.tierMissing, api: api, apiName: apiName, subject: name, evidence: evidence) { out.append(f) }
            }
            let limits = holders.map { Evidence(environment: $0.0, value: $0.1.limits.sorted { ($0.timePeriodMs, $0.maximumRequests) < ($1.timePeriodMs, $1.maximumRequests) }.map(\.text).joined(separator: ", ")) }
            if holders.count >= 2, Set(limits.map(\.value)).count > 1,
               let f = finding(.tierLimits, api: api, apiName: apiName, subject: name, evidence: holders.map { Evidence(environment: $0.0, value: $0.1.limitsText) }) {
                out.append(f)
            }
        }
        return out
    }

    private func compareContracts(api: String, apiName: String, entries: [(String, [ContractSnapshot])]) -> [Finding] {
        guard entries.count >= 2 else { return [] }
        var out: [Finding] = []
        var apps: [String] = []
        for (_, list) in entries { for c in list where !apps.contains(c.application) { apps.append(c.application) } }
        for app in apps {
            let holders = entries.compactMap { (env, list) in list.first { $0.application == app }.map { (env, $0) } }
            if holders.count < entries.count {
                let evidence = entries.map { (env, list) in
                    Evidence(environment: env, value: list.first { $0.application == app }.map { "contracted (\($0.tierName ?? "no tier"))" } ?? "absent")
                }
                if let f = finding(.contractMissing, api: api, apiName: apiName, subject: app, evidence: evidence) { out.append(f) }
            }
            let tiers = holders.map { Evidence(environment: $0.0, value: $0.1.tierName ?? "no tier") }
            if holders.count >= 2, Set(tiers.map(\.value)).count > 1,
               let f = finding(.contractTier, api: api, apiName: apiName, subject: app, evidence: tiers) {
                out.append(f)
            }
        }
        return out
    }

    // MARK: - production rules

    /// A production instance without an (enabled) authentication or rate limiting policy, neither its own nor an
    /// automated one of its environment, while a lower environment's instance has one. Where the automated policies
    /// of the production environment could not be read, nothing is concluded.
    private func productionRules(api: String, apiName: String, present: [(env: Int, instance: InstanceSnapshot)], envs: [EnvironmentSnapshot]) -> [Finding] {
        var out: [Finding] = []
        func has(_ e: Int, _ instance: InstanceSnapshot, _ cls: PolicyClass) -> (Bool?, String) {
            guard let own = instance.policies.value else { return (nil, "") }
            if let p = own.first(where: { !$0.disabled && $0.policyClass == cls }) { return (true, p.displayName) }
            guard let automated = envs[e].automatedPolicies.value else { return (nil, "") }
            if let p = automated.first(where: { !$0.disabled && $0.policyClass == cls }) { return (true, p.displayName + " (automated)") }
            return (false, "")
        }
        for (kind, cls, noun) in [(FindingKind.productionWithoutAuthentication, PolicyClass.authentication, "authentication"),
                                  (.productionWithoutRateLimiting, .rateLimiting, "rate limiting")] {
            let lower = present.filter { !envs[$0.env].environment.isProduction }.compactMap { p -> Evidence? in
                let (h, name) = has(p.env, p.instance, cls)
                return h == true ? Evidence(environment: envs[p.env].environment.label, value: name) : nil
            }
            guard !lower.isEmpty else { continue }
            for p in present where envs[p.env].environment.isProduction {
                let (h, _) = has(p.env, p.instance, cls)
                guard h == false else { continue }
                let prod = envs[p.env].environment.label
                let evidence = [Evidence(environment: prod, value: "no \(noun) policy")] + lower
                if let f = finding(kind, api: api, apiName: apiName, subject: prod, evidence: evidence) { out.append(f) }
            }
        }
        return out
    }
}
