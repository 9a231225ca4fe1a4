// Collection: environments of each organization (and its business groups), every API instance (paged by assets, as
// the API pages), per instance its policies, tiers and contracts, and the automated policies per environment. Requests
// go through the Anypoint client (paced, 401 renewed, 429/503 honoured) a bounded number at a time; a part that cannot
// be read is recorded as missing with the reason, never as empty.
import Audit
import Core
import Pipeline

public struct CollectionSettings: Sendable {
    /// Empty: the token's own organization.
    public var organizationIDs: [String]
    public var businessGroups: Bool
    /// Names (case-insensitive) or ids; empty means every environment. Reports keep this order.
    public var environments: [String]
    public var productionPattern: FieldPatternBox?
    public var concurrency: Int
    /// Assets per page of `GET .../apis` (the API's default and, in our double, its maximum).
    public var pageSize: Int

    public init(organizationIDs: [String] = [], businessGroups: Bool = false, environments: [String] = [],
                productionPattern: FieldPatternBox? = nil, concurrency: Int = 8, pageSize: Int = 100) {
        self.organizationIDs = organizationIDs
        self.businessGroups = businessGroups
        self.environments = environments
        self.productionPattern = productionPattern
        self.concurrency = concurrency
        self.pageSize = pageSize
    }
}

/// A compiled production pattern with its source (for the summary).
public struct FieldPatternBox: Sendable {
    public let source: String
    public let pattern: FieldPattern
    public init(_ source: String) throws(PostureSettingError) {
        self.source = source
        do { pattern = try FieldPattern(source) } catch { throw PostureSettingError(error.description) }
    }
}

/// The API Manager and Access Management reads, decoded.
public struct APIManagerReader: Sendable {
    public let client: AnypointClient
    public let rules: PostureRules
    public init(client: AnypointClient, rules: PostureRules) {
        self.client = client
        self.rules = rules
    }

    static func seg(_ s: String) -> String { PercentEncoding.encode(s, allowed: .pathSegment) }
    static func apimanager(_ org: String) -> String { "/apimanager/api/v1/organizations/\(seg(org))" }
    static func environment(_ org: String, _ env: String) -> String { apimanager(org) + "/environments/\(seg(env))" }

    func json(_ path: String, deadline: Deadline) async throws(AnypointError) -> JSONValue {
        let body = try await client.get(path, deadline: deadline)
        do { return try JSONReader.parse(body) } catch {
            throw AnypointError(.decode, "\(path.split(separator: "?").first ?? "") answered non-JSON: \(error)")
        }
    }

    /// `GET /accounts/api/organizations/{org}/environments` → `{data: [...]}`.
    public func environments(organization org: String, deadline: Deadline) async throws(AnypointError) -> [JSONValue] {
        let json = try await json("/accounts/api/organizations/\(Self.seg(org))/environments", deadline: deadline)
        guard let data = json["data"]?.arrayValue else { throw AnypointError(.decode, "the environments of \(org) come without data[]") }
        return data
    }

    /// The organization's name and its business groups (`subOrganizations`, depth first) from the hierarchy.
    public func hierarchy(organization org: String, deadline: Deadline) async throws(AnypointError) -> (name: String, groups: [(id: String, name: String)]) {
        let json = try await json("/accounts/api/organizations/\(Self.seg(org))/hierarchy", deadline: deadline)
        var groups: [(id: String, name: String)] = []
        func walk(_ node: JSONValue) {
            for child in node["subOrganizations"]?.arrayValue ?? [] {
                if let id = child["id"]?.stringValue { groups.append((id, child["name"]?.stringValue ?? id)) }
                walk(child)
            }
        }
        walk(json)
        return (json["name"]?.stringValue ?? org, groups)
    }

    /// Every instance, page by page: offset and limit count assets, and the last page has fewer than `limit`.
    public func instances(organization org: String, environment env: String, pageSize: Int, deadline: Deadline) async throws(AnypointError) -> [InstanceSnapshot] {
        var out: [InstanceSnapshot] = []
        var offset = 0
        var pages = 0
        while true {
            pages += 1
            guard pages <= 100_000 else { throw AnypointError(.decode, "more than 100,000 pages of APIs in \(env): the listing does not end") }
            let json = try await json(Self.environment(org, env) + "/apis?offset=\(offset)&limit=\(pageSize)", deadline: deadline)
            guard let assets = json["assets"]?.arrayValue else { throw AnypointError(.decode, "the APIs of \(env) come without assets[]") }
            for asset in assets {
                let group = asset["groupId"]?.stringValue ?? "-"
                let assetID = asset["assetId"]?.stringValue ?? "-"
                let name = asset["name"]?.stringValue ?? assetID
                for api in asset["apis"]?.arrayValue ?? [] {
                    guard let id = PolicyNormalizer.scalarText(api["id"]) else { continue }
                    let status = api["status"]?.stringValue ?? (api["deprecated"]?.boolValue == true ? "DEPRECATED" : "ACTIVE")
                    out.append(InstanceSnapshot(id: id, groupID: group, assetID: assetID, assetName: name,
                                                assetVersion: api["assetVersion"]?.stringValue, productVersion: api["productVersion"]?.stringValue,
                                                instanceLabel: api["instanceLabel"]?.stringValue, status: status))
                }
            }
            if assets.count < pageSize { return out }
            offset += assets.count
        }
    }

    func policyList(_ path: String, deadline: Deadline) async throws(AnypointError) -> [PolicySnapshot] {
        let json = try await json(path, deadline: deadline)
        do {
            return try PolicyNormalizer.items(json).map { item throws(PolicyDecodeError) in
                try PolicyNormalizer.policy(item) { rules.classify(groupID: $0, assetID: $1) }
            }
        } catch {
            throw AnypointError(.decode, "\(path.split(separator: "?").first ?? ""): \(error)")
        }
    }

    /// Active policies with their configuration (`fullInfo=true`) merged with every policy, disabled ones included
    /// (`fullInfo=false`): the spec and the clients disagree on the default, so both are asked explicitly.
    public func policies(organization org: String, environment env: String, api: String, deadline: Deadline) async throws(AnypointError) -> [PolicySnapshot] {
        let base = Self.environment(org, env) + "/apis/\(Self.seg(api))/policies"
        let active = try await policyList(base + "?fullInfo=true", deadline: deadline)
        let all = try await policyList(base + "?fullInfo=false", deadline: deadline)
        return PolicyNormalizer.merge(active: active, all: all)
    }

    public func tiers(organization org: String, environment env: String, api: String, deadline: Deadline) async throws(AnypointError) -> [TierSnapshot] {
        let json = try await json(Self.environment(org, env) + "/apis/\(Self.seg(api))/tiers", deadline: deadline)
        guard let tiers = json["tiers"]?.arrayValue else { throw AnypointError(.decode, "the tiers of API \(api) come without tiers[]") }
        return tiers.map { t in
            TierSnapshot(id: PolicyNormalizer.scalarText(t["id"]) ?? "-", name: t["name"]?.stringValue ?? "-",
                         limits: (t["limits"]?.arrayValue ?? []).map {
                             TierLimit(maximumRequests: $0["maximumRequests"]?.int64Value ?? 0,
                                       timePeriodMs: $0["timePeriodInMilliseconds"]?.int64Value ?? 0, visible: $0["visible"]?.boolValue ?? true)
                         },
                         status: t["status"]?.stringValue, autoApprove: t["autoApprove"]?.boolValue)
        }
    }

    public func contracts(organization org: String, environment env: String, api: String, deadline: Deadline) async throws(AnypointError) -> [ContractSnapshot] {
        let json = try await json(Self.environment(org, env) + "/apis/\(Self.seg(api))/contracts", deadline: deadline)
        guard let contracts = json["contracts"]?.arrayValue else { throw AnypointError(.decode, "the contracts of API \(api) come without contracts[]") }
        return contracts.map { c in
            let app = c["application"]?["name"]?.stringValue ?? c["application"]?["coreServicesId"]?.stringValue
                ?? PolicyNormalizer.scalarText(c["applicationId"]) ?? "-"
            return ContractSnapshot(id: PolicyNormalizer.scalarText(c["id"]) ?? "-", application: app, status: c["status"]?.stringValue,
                                    tierName: c["tier"]?["name"]?.stringValue)
        }
    }

    public func automatedPolicies(organization org: String, environment env: String, deadline: Deadline) async throws(AnypointError) -> [PolicySnapshot] {
        let json = try await json(Self.apimanager(org) + "/automated-policies?environmentId=\(PercentEncoding.encode(env, allowed: .queryComponent))",
                                  deadline: deadline)
        guard let items = json["automatedPolicies"]?.arrayValue else {
            throw AnypointError(.decode, "the automated policies of \(env) come without automatedPolicies[]")
        }
        do {
            return PolicyNormalizer.keyed(try items.map { item throws(PolicyDecodeError) in
                try PolicyNormalizer.policy(item) { rules.classify(groupID: $0, assetID: $1) }
            })
        } catch {
            throw AnypointError(.decode, "automated policies of \(env): \(error)")
        }
    }
}

/// One part of the collection: its value, or why it is missing.
func part<T: Sendable>(_ read: () async throws(AnypointError) -> T) async -> Collected<T> {
    do { return .collected(try await read()) } catch { return .missing(error.message) }
}

public struct Collector: Sendable {
    public let reader: APIManagerReader
    public let settings: CollectionSettings
    public let logger: Logger

    public init(reader: APIManagerReader, settings: CollectionSettings, logger: Logger) {
        self.reader = reader
        self.settings = settings
        self.logger = logger
    }

    static func reason(_ error: AnypointError) -> String { error.message }

    public func collect(deadline: Deadline) async -> PostureCollection {
        let started = EpochMillis.now()
        let requestsBefore = await reader.client.counters.requests
        var problems: [MissingPart] = []
        var organizations: [(id: String, name: String)] = []

        // Organizations: the configured ones or the token's, and their business groups when asked.
        var roots = settings.organizationIDs
        if roots.isEmpty {
            do { roots = [try await reader.client.ownOrganization(deadline: deadline)] } catch {
                problems.append(MissingPart(environment: "-", api: nil, part: "organization", reason: "\(error)"))
            }
        }
        for org in roots {
            if settings.businessGroups {
                do {
                    let h = try await reader.hierarchy(organization: org, deadline: deadline)
                    organizations.append((org, h.name))
                    for g in h.groups where !organizations.contains(where: { $0.id == g.id }) { organizations.append(g) }
                } catch {
                    organizations.append((org, org))
                    problems.append(MissingPart(environment: org, api: nil, part: "business-groups", reason: error.message))
                }
            } else {
                organizations.append((org, org))
            }
        }

        // Environments, filtered and ordered.
        var environments: [PostureEnvironment] = []
        for org in organizations {
            do {
                for e in try await reader.environments(organization: org.id, deadline: deadline) {
                    guard let id = e["id"]?.stringValue else { continue }
                    let name = e["name"]?.stringValue ?? id
                    let type = e["type"]?.stringValue
                    let production = e["isProduction"]?.boolValue == true || type?.lowercased() == "production"
                        || settings.productionPattern?.pattern.matches(name) == true
                    environments.append(PostureEnvironment(id: id, name: name, organizationID: org.id, organizationName: org.name,
                                                           isProduction: production, type: type,
                                                           label: organizations.count > 1 ? "\(org.name)/\(name)" : name))
                }
            } catch {
                problems.append(MissingPart(environment: org.id, api: nil, part: "environments", reason: error.message))
            }
        }
        environments = select(environments, problems: &problems)

        // Instances and automated policies per environment, then the three parts per instance, a few at a time.
        let reader = self.reader, pageSize = settings.pageSize
        var snapshots = environments.map { EnvironmentSnapshot(environment: $0, instances: .missing("not read"), automatedPolicies: .missing("not read")) }
        await forEachConcurrently(Array(environments.enumerated()), limit: settings.concurrency, { item -> (Int, Collected<[InstanceSnapshot]>, Collected<[PolicySnapshot]>) in
            let (i, env) = item
            let instances = await part { () async throws(AnypointError) -> [InstanceSnapshot] in try await reader.instances(organization: env.organizationID, environment: env.id, pageSize: pageSize, deadline: deadline) }
            let automated = await part { () async throws(AnypointError) -> [PolicySnapshot] in try await reader.automatedPolicies(organization: env.organizationID, environment: env.id, deadline: deadline) }
            return (i, instances, automated)
        }, collect: { result in
            snapshots[result.0].instances = result.1
            snapshots[result.0].automatedPolicies = result.2
        })

        var jobs: [(env: Int, instance: Int)] = []
        for (e, s) in snapshots.enumerated() { for i in (s.instances.value ?? []).indices { jobs.append((e, i)) } }
        let envs = environments
        let ids = snapshots.map { $0.instances.value?.map(\.id) ?? [] }
        await forEachConcurrently(jobs, limit: settings.concurrency, { job -> (Int, Int, Collected<[PolicySnapshot]>, Collected<[TierSnapshot]>, Collected<[ContractSnapshot]>) in
            let env = envs[job.env]
            let api = ids[job.env][job.instance]
            let org = env.organizationID
            let policies = await part { () async throws(AnypointError) -> [PolicySnapshot] in try await reader.policies(organization: org, environment: env.id, api: api, deadline: deadline) }
            let tiers = await part { () async throws(AnypointError) -> [TierSnapshot] in try await reader.tiers(organization: org, environment: env.id, api: api, deadline: deadline) }
            let contracts = await part { () async throws(AnypointError) -> [ContractSnapshot] in try await reader.contracts(organization: org, environment: env.id, api: api, deadline: deadline) }
            return (job.env, job.instance, policies, tiers, contracts)
        }, collect: { r in
            guard case .collected(var list) = snapshots[r.0].instances else { return }
            list[r.1].policies = r.2
            list[r.1].tiers = r.3
            list[r.1].contracts = r.4
            snapshots[r.0].instances = .collected(list)
        })

        let requests = await reader.client.counters.requests - requestsBefore
        let collection = PostureCollection(organizations: organizations, environments: snapshots, problems: problems, requests: requests,
                                           startedAt: started, durationMs: EpochMillis.now().value - started.value)
        logger.info("posture collection", [("environments", .of(snapshots.count)),
                                           ("instances", .of(snapshots.reduce(0) { $0 + ($1.instances.value?.count ?? 0) })),
                                           ("requests", .of(requests)), ("missing", .of(collection.missing.count)),
                                           ("durationMs", .int(collection.durationMs))])
        return collection
    }

    /// Keeps the environments `settings.environments` names (by id or by name, case-insensitive), in that order;
    /// a name that matches nothing is a problem. Without a filter: lower environments first, production last.
    func select(_ all: [PostureEnvironment], problems: inout [MissingPart]) -> [PostureEnvironment] {
        guard !settings.environments.isEmpty else {
            return all.enumerated().sorted { ($0.element.isProduction ? 1 : 0, $0.offset) < ($1.element.isProduction ? 1 : 0, $1.offset) }.map(\.element)
        }
        var out: [PostureEnvironment] = []
        for wanted in settings.environments {
            let matches = all.filter { $0.id == wanted || $0.name.lowercased() == wanted.lowercased() || $0.label.lowercased() == wanted.lowercased() }
            if matches.isEmpty {
                problems.append(MissingPart(environment: wanted, api: nil, part: "environment", reason: "no environment of that name or id was found"))
            }
            for m in matches where !out.contains(where: { $0.id == m.id }) { out.append(m) }
        }
        return out
    }
}
