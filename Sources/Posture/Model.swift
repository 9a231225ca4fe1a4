// What the collection holds: environments, API instances and, per instance, its policies, SLA tiers and contracts,
// each part either collected or missing (with why): a missing part is never read as "absent".
import Core

/// An Anypoint environment, with its organization (or business group) and whether it counts as production.
public struct PostureEnvironment: Sendable, Equatable {
    public var id: String
    public var name: String
    public var organizationID: String
    public var organizationName: String
    /// `isProduction`, `type` production, or a name matching `POSTURE_PRODUCTION_PATTERN`.
    public var isProduction: Bool
    public var type: String?
    /// How reports name it: the environment's name, prefixed by its business group's when several are audited.
    public var label: String

    public init(id: String, name: String, organizationID: String, organizationName: String, isProduction: Bool, type: String?,
                label: String? = nil) {
        self.id = id
        self.name = name
        self.organizationID = organizationID
        self.organizationName = organizationName
        self.isProduction = isProduction
        self.type = type
        self.label = label ?? name
    }
}

/// A part of the collection: what the control plane answered, or why it could not be read.
public enum Collected<Value: Sendable>: Sendable {
    case collected(Value)
    case missing(String)

    public var value: Value? { if case .collected(let v) = self { return v } else { return nil } }
    public var missingReason: String? { if case .missing(let r) = self { return r } else { return nil } }
}

/// How the posture rules see a policy.
public enum PolicyClass: String, Sendable, CaseIterable {
    case authentication
    case rateLimiting = "rate-limiting"
    /// IP allow/block lists: reported on their own, not counted as authentication.
    case network
    /// A MuleSoft policy of another kind (CORS, logging, threat protection...).
    case other
    /// An asset outside MuleSoft's policy group: its class is unknown unless the rules name it.
    case custom
}

/// One policy, normalised from whichever of the three list shapes the control plane answered with.
public struct PolicySnapshot: Sendable, Equatable {
    public var id: String
    public var groupID: String
    public var assetID: String
    public var assetVersion: String?
    public var label: String?
    public var order: Int?
    public var disabled: Bool
    /// The configuration as sent (secrets included: never written out; see `Secrets`). nil when the listing
    /// carried none (a disabled policy is listed without it).
    public var configuration: JSONValue?
    public var pointcut: JSONValue?
    public var policyClass: PolicyClass
    /// `groupId:assetId`, then `/label`, then `#n` for the n-th repeat: the identity across environments.
    public var key: String

    public init(id: String, groupID: String, assetID: String, assetVersion: String?, label: String?, order: Int?, disabled: Bool,
                configuration: JSONValue?, pointcut: JSONValue?, policyClass: PolicyClass, key: String = "") {
        self.id = id
        self.groupID = groupID
        self.assetID = assetID
        self.assetVersion = assetVersion
        self.label = label
        self.order = order
        self.disabled = disabled
        self.configuration = configuration
        self.pointcut = pointcut
        self.policyClass = policyClass
        self.key = key
    }

    /// The name people know it by: the asset id (and label), with the group only when it is not MuleSoft's.
    public var displayName: String {
        var name = groupID == PolicyCatalog.muleSoftGroup ? assetID : "\(groupID):\(assetID)"
        if let label, !label.isEmpty { name += " (\(label))" }
        return name
    }
}

public struct TierLimit: Sendable, Hashable {
    public var maximumRequests: Int64
    public var timePeriodMs: Int64
    public var visible: Bool
    public init(maximumRequests: Int64, timePeriodMs: Int64, visible: Bool) {
        self.maximumRequests = maximumRequests
        self.timePeriodMs = timePeriodMs
        self.visible = visible
    }
    public var text: String { "\(maximumRequests)/\(timePeriodMs)ms" + (visible ? "" : " (hidden)") }
}

public struct TierSnapshot: Sendable, Equatable {
    public var id: String
    public var name: String
    public var limits: [TierLimit]
    public var status: String?
    public var autoApprove: Bool?
    public init(id: String, name: String, limits: [TierLimit], status: String?, autoApprove: Bool?) {
        self.id = id
        self.name = name
        self.limits = limits
        self.status = status
        self.autoApprove = autoApprove
    }
    public var limitsText: String { limits.isEmpty ? "no limits" : limits.map(\.text).joined(separator: ", ") }
}

public struct ContractSnapshot: Sendable, Equatable {
    public var id: String
    /// The application's name, or its core services id when it has none: the identity across environments.
    public var application: String
    public var status: String?
    public var tierName: String?
    public init(id: String, application: String, status: String?, tierName: String?) {
        self.id = id
        self.application = application
        self.status = status
        self.tierName = tierName
    }
}

/// One API instance in one environment.
public struct InstanceSnapshot: Sendable {
    public var id: String
    public var groupID: String
    public var assetID: String
    public var assetName: String
    public var assetVersion: String?
    public var productVersion: String?
    public var instanceLabel: String?
    /// `status` when the listing carries one, else DEPRECATED or ACTIVE from `deprecated`.
    public var status: String
    public var policies: Collected<[PolicySnapshot]>
    public var tiers: Collected<[TierSnapshot]>
    public var contracts: Collected<[ContractSnapshot]>

    public init(id: String, groupID: String, assetID: String, assetName: String, assetVersion: String?, productVersion: String?,
                instanceLabel: String?, status: String, policies: Collected<[PolicySnapshot]> = .missing("not read"),
                tiers: Collected<[TierSnapshot]> = .missing("not read"), contracts: Collected<[ContractSnapshot]> = .missing("not read")) {
        self.id = id
        self.groupID = groupID
        self.assetID = assetID
        self.assetName = assetName
        self.assetVersion = assetVersion
        self.productVersion = productVersion
        self.instanceLabel = instanceLabel
        self.status = status
        self.policies = policies
        self.tiers = tiers
        self.contracts = contracts
    }

    /// Asset (group and id) and instance label, else product version: how one API is recognised across environments.
    public var apiKey: String {
        let label = instanceLabel.flatMap { $0.isEmpty ? nil : $0 } ?? productVersion.map { "v:" + $0 } ?? "-"
        return "\(groupID):\(assetID)/\(label)"
    }
}

public struct EnvironmentSnapshot: Sendable {
    public var environment: PostureEnvironment
    public var instances: Collected<[InstanceSnapshot]>
    public var automatedPolicies: Collected<[PolicySnapshot]>
    public init(environment: PostureEnvironment, instances: Collected<[InstanceSnapshot]>, automatedPolicies: Collected<[PolicySnapshot]>) {
        self.environment = environment
        self.instances = instances
        self.automatedPolicies = automatedPolicies
    }
}

/// What could not be read: the report lists it and the run exits 2.
public struct MissingPart: Sendable, Equatable {
    /// The environment's label, or the organization id when the environment list itself failed.
    public var environment: String
    public var api: String?
    /// `environments`, `apis`, `automated-policies`, `policies`, `tiers`, `contracts`.
    public var part: String
    public var reason: String
    public init(environment: String, api: String?, part: String, reason: String) {
        self.environment = environment
        self.api = api
        self.part = part
        self.reason = reason
    }
    public var text: String { "\(environment)\(api.map { " " + $0 } ?? ""): \(part) could not be read: \(reason)" }
}

public struct PostureCollection: Sendable {
    public var organizations: [(id: String, name: String)]
    public var environments: [EnvironmentSnapshot]
    /// Problems that are not tied to one part (an organization whose environments could not be listed, an
    /// environment asked for that does not exist).
    public var problems: [MissingPart]
    public var requests: Int
    public var startedAt: EpochMillis
    public var durationMs: Int64

    public init(organizations: [(id: String, name: String)], environments: [EnvironmentSnapshot], problems: [MissingPart],
                requests: Int, startedAt: EpochMillis, durationMs: Int64) {
        self.organizations = organizations
        self.environments = environments
        self.problems = problems
        self.requests = requests
        self.startedAt = startedAt
        self.durationMs = durationMs
    }

    /// Every part that is missing, in environment order.
    public var missing: [MissingPart] {
        var out = problems
        for env in environments {
            let label = env.environment.label
            if let r = env.instances.missingReason { out.append(MissingPart(environment: label, api: nil, part: "apis", reason: r)) }
            if let r = env.automatedPolicies.missingReason {
                out.append(MissingPart(environment: label, api: nil, part: "automated-policies", reason: r))
            }
            for i in env.instances.value ?? [] {
                if let r = i.policies.missingReason { out.append(MissingPart(environment: label, api: i.apiKey, part: "policies", reason: r)) }
                if let r = i.tiers.missingReason { out.append(MissingPart(environment: label, api: i.apiKey, part: "tiers", reason: r)) }
                if let r = i.contracts.missingReason { out.append(MissingPart(environment: label, api: i.apiKey, part: "contracts", reason: r)) }
            }
        }
        return out
    }

    public var isComplete: Bool { missing.isEmpty }
}
