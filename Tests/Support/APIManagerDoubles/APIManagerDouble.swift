// A strict Anypoint API Manager (and the Access Management calls around it) on loopback: client-credentials tokens,
// environments and business groups, API instances paged by assets (offset and limit count assets), policies in the
// three list shapes seen in the wild, SLA tiers, contracts, automated policies; scopes checked per environment; 429s
// and failing environments on demand. The write side (per-API and automated policies: create, list, patch, delete,
// bodies validated as the published schemas say) is here too, for the Flex Gateway policy script's tests.
import Glibc
import HTTP
import Core
import AuditDoubles

public enum APIManagerScope: String, Sendable, CaseIterable {
    case viewAPIs = "View APIs Configuration"
    case viewPolicies = "View Policies"
    case managePolicies = "Manage Policies"
    case viewContracts = "View Contracts"
}

/// The three shapes a policy listing comes in (docs/posture.md, the reference's §5).
public enum PolicyListShape: Int, Sendable, CaseIterable {
    /// A plain array of full objects (`id`, `configurationData`, top-level asset fields).
    case fullArray = 0
    /// `{"policies": [...]}` with `policyId`, `configuration` and a `template` object.
    case wrapped = 1
    /// The compact array: `policyId`, `configuration` and `implementationAsset` only.
    case compact = 2
}

public final class APIManagerDouble: Sendable {
    public static let muleSoftGroup = "68ef9520-24e9-4cf2-b2f5-620025690913"

    public struct Client: Sendable {
        public var id: String
        public var secret: String
        public var organization: String
        /// Environment id → scopes granted there; "*" applies to every environment.
        public var grants: [String: Set<APIManagerScope>]
        public init(id: String, secret: String, organization: String, grants: [String: Set<APIManagerScope>]) {
            self.id = id
            self.secret = secret
            self.organization = organization
            self.grants = grants
        }
        func allowed(_ scope: APIManagerScope, env: String) -> Bool {
            grants[env]?.contains(scope) == true || grants["*"]?.contains(scope) == true
        }
    }

    public struct Organization: Sendable {
        public var id: String
        public var name: String
        public var parent: String?
        public init(id: String, name: String, parent: String? = nil) {
            self.id = id
            self.name = name
            self.parent = parent
        }
    }

    public struct Environment: Sendable {
        public var id: String
        public var name: String
        public var organizationID: String
        public var isProduction: Bool
        public var type: String
        public init(id: String, name: String, organizationID: String, isProduction: Bool, type: String) {
            self.id = id
            self.name = name
            self.organizationID = organizationID
            self.isProduction = isProduction
            self.type = type
        }
    }

    public struct Policy: Sendable {
        public var id: Int
        public var groupID: String
        public var assetID: String
        public var assetVersion: String
        public var label: String?
        public var order: Int
        public var disabled: Bool
        public var configuration: JSONValue
        public var pointcut: JSONValue?
        public init(id: Int = 0, groupID: String = APIManagerDouble.muleSoftGroup, assetID: String, assetVersion: String, label: String? = nil,
                    order: Int, disabled: Bool = false, configuration: JSONValue, pointcut: JSONValue? = nil) {
            self.id = id
            self.groupID = groupID
            self.assetID = assetID
            self.assetVersion = assetVersion
            self.label = label
            self.order = order
            self.disabled = disabled
            self.configuration = configuration
            self.pointcut = pointcut
        }
    }

    public struct Tier: Sendable {
        public var id: Int
        public var name: String
        /// (maximumRequests, timePeriodInMilliseconds, visible)
        public var limits: [(Int64, Int64, Bool)]
        public var status = "ACTIVE"
        public var autoApprove = false
        public init(id: Int = 0, name: String, limits: [(Int64, Int64, Bool)]) {
            self.id = id
            self.name = name
            self.limits = limits
        }
    }

    public struct Contract: Sendable {
        public var id: Int
        public var application: String
        public var tier: String?
        public var status = "APPROVED"
        public init(id: Int = 0, application: String, tier: String?) {
            self.id = id
            self.application = application
            self.tier = tier
        }
    }

    public struct Instance: Sendable {
        public var id: Int
        public var groupID: String
        public var assetID: String
        public var assetName: String
        public var assetVersion: String
        public var productVersion: String
        public var instanceLabel: String?
        public var deprecated = false
        public var shape: PolicyListShape
        public var policies: [Policy]
        public var tiers: [Tier]
        public var contracts: [Contract]
        public init(id: Int, groupID: String, assetID: String, assetName: String, assetVersion: String, productVersion: String,
                    instanceLabel: String?, shape: PolicyListShape, policies: [Policy], tiers: [Tier], contracts: [Contract]) {
            self.id = id
            self.groupID = groupID
            self.assetID = assetID
            self.assetName = assetName
            self.assetVersion = assetVersion
            self.productVersion = productVersion
            self.instanceLabel = instanceLabel
            self.shape = shape
            self.policies = policies
            self.tiers = tiers
            self.contracts = contracts
        }
    }

    public struct AutomatedPolicy: Sendable {
        public var id: Int
        public var organizationID: String
        public var environmentID: String
        public var technologies: [String]?
        public var range: JSONValue?
        public var groupID: String
        public var assetID: String
        public var assetVersion: String
        public var configuration: JSONValue
        public var pointcut: JSONValue?
        public var order: Int?
        public var disabled: Bool
        public init(id: Int = 0, organizationID: String, environmentID: String, technologies: [String]? = nil, range: JSONValue? = nil,
                    groupID: String = APIManagerDouble.muleSoftGroup, assetID: String, assetVersion: String, configuration: JSONValue,
                    pointcut: JSONValue? = nil, order: Int? = nil, disabled: Bool = false) {
            self.id = id
            self.organizationID = organizationID
            self.environmentID = environmentID
            self.technologies = technologies
            self.range = range
            self.groupID = groupID
            self.assetID = assetID
            self.assetVersion = assetVersion
            self.configuration = configuration
            self.pointcut = pointcut
            self.order = order
            self.disabled = disabled
        }
    }

    public struct Settings: Sendable {
        public var clients: [Client] = []
        public var organizations: [Organization] = []
        public var tokenLifetimeMs: Int64 = 3_600_000
        /// Every n-th API request (tokens excluded) is answered 429 (before any other check).
        public var throttleEvery: Int?
        /// Sent with each 429 (seconds); nil sends none, as the API Manager documents none.
        public var retryAfterSeconds: Int?
        /// Environment id → the status every API Manager request about it is answered with (a broken environment).
        public var failingEnvironments: [String: Int] = [:]
        /// The largest `limit` the APIs listing takes.
        public var maxPageSize = 100
        public init() {}
    }

    public struct Stats: Sendable {
        public var tokensIssued = 0
        public var requests = 0
        public var byRoute: [String: Int] = [:]
        public var throttled = 0
        public var forbidden: [String] = []
        public var badRequests: [String] = []
        public var inFlight = 0
        public var maxInFlight = 0
    }

    struct State {
        var settings: Settings
        var environments: [Environment] = []
        var instances: [String: [Instance]] = [:]
        var automated: [AutomatedPolicy] = []
        var tokens: [String: (client: String, expires: Int64)] = [:]
        var nextID = 900_000
        var stats = Stats()
        var counter = 0
    }

    public let server: LoopbackServer
    let state: Locked<State>
    public var baseURL: String { server.baseURL }
    public var stats: Stats { state.value.stats }
    public var settings: Settings { state.value.settings }

    public init(_ settings: Settings, port: UInt16 = 0) throws {
        let state = Locked(State(settings: settings))
        self.state = state
        server = try LoopbackServer(port: port) { request in APIManagerDouble.handle(request, state) }
    }

    deinit { server.stop() }

    public func stop() { server.stop() }

    public func update(_ body: @Sendable (inout Settings) -> Void) { state.withLock { body(&$0.settings) } }

    /// Adds an environment and its instances (policy, tier and contract ids are assigned here when 0).
    public func add(_ env: Environment, instances: [Instance]) {
        state.withLock { s in
            s.environments.append(env)
            var list = instances
            for i in list.indices {
                for p in list[i].policies.indices where list[i].policies[p].id == 0 { s.nextID += 1; list[i].policies[p].id = s.nextID }
                for t in list[i].tiers.indices where list[i].tiers[t].id == 0 { s.nextID += 1; list[i].tiers[t].id = s.nextID }
                for c in list[i].contracts.indices where list[i].contracts[c].id == 0 { s.nextID += 1; list[i].contracts[c].id = s.nextID }
            }
            s.instances[env.id, default: []] += list
        }
    }

    public func addAutomated(_ policy: AutomatedPolicy) {
        state.withLock { s in
            var p = policy
            if p.id == 0 { s.nextID += 1; p.id = s.nextID }
            s.automated.append(p)
        }
    }

    public func instances(_ env: String) -> [Instance] { state.value.instances[env] ?? [] }

    /// Changes an instance in place (a drift fixed or introduced between two runs); new policies get ids.
    public func mutate(env: String, assetID: String, _ body: @Sendable (inout Instance) -> Void) {
        state.withLock { s in
            guard let at = s.instances[env]?.firstIndex(where: { $0.assetID == assetID }) else { return }
            body(&s.instances[env]![at])
            for p in s.instances[env]![at].policies.indices where s.instances[env]![at].policies[p].id == 0 {
                s.nextID += 1
                s.instances[env]![at].policies[p].id = s.nextID
            }
        }
    }
    public func automatedPolicies(_ env: String) -> [AutomatedPolicy] { state.value.automated.filter { $0.environmentID == env } }

    // MARK: - serving

    static func json(_ status: Int, _ body: [UInt8], headers: [HTTPHeader] = []) -> ServerResponse {
        ServerResponse(status: status, headers: [HTTPHeader("Content-Type", "application/json")] + headers, body: body)
    }
    static func message(_ status: Int, _ text: String) -> ServerResponse {
        var w = JSONWriter()
        w.beginObject(); w.field("message", text); w.endObject()
        return json(status, w.bytes)
    }
    static func bad(_ state: Locked<State>, _ status: Int, _ why: String) -> ServerResponse {
        state.withLock { $0.stats.badRequests.append(why) }
        return message(status, why)
    }

    /// Query parameters, percent-decoded; nil when a name repeats.
    static func query(_ target: String) -> [String: String]? {
        guard let q = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var out: [String: String] = [:]
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { percentDecode(String($0)) }
            guard out[kv[0]] == nil else { return nil }
            out[kv[0]] = kv.count == 2 ? kv[1] : ""
        }
        return out
    }

    static func handle(_ request: ServerRequest, _ state: Locked<State>) -> ServerResponse {
        let now = EpochMillis.now().value
        if request.path == "/accounts/api/v2/oauth2/token" {
            guard request.method == "POST" else { return message(405, "Method Not Allowed") }
            return token(request, state, now)
        }
        // Every other call: counted, maybe throttled, then authenticated.
        let gate: (response: ServerResponse?, client: Client?) = state.withLock { s in
            s.stats.requests += 1
            s.counter += 1
            if let n = s.settings.throttleEvery, n > 0, s.counter % n == 0 {
                s.stats.throttled += 1
                var headers = [HTTPHeader("X-RateLimit-Limit", String(n - 1)), HTTPHeader("X-RateLimit-Remaining", "0")]
                if let ra = s.settings.retryAfterSeconds { headers.append(HTTPHeader("Retry-After", String(ra))) }
                return (json(429, Array("{\"message\":\"Too Many Requests\"}".utf8), headers: headers), nil)
            }
            guard let auth = request.header("Authorization"), auth.hasPrefix("Bearer "),
                  let t = s.tokens[String(auth.dropFirst(7))], t.expires > now,
                  let client = s.settings.clients.first(where: { $0.id == t.client }) else {
                return (message(401, "Unauthorized"), nil)
            }
            s.stats.inFlight += 1
            s.stats.maxInFlight = max(s.stats.maxInFlight, s.stats.inFlight)
            return (nil, client)
        }
        if let response = gate.response { return response }
        defer { state.withLock { $0.stats.inFlight -= 1 } }
        // A moment of work, so that concurrent requests overlap as they do against a real server.
        usleep(200)
        return route(request, gate.client!, state)
    }

    static func token(_ request: ServerRequest, _ state: Locked<State>, _ now: Int64) -> ServerResponse {
        guard let form = tokenForm(request) else { return bad(state, 415, "token: form encoding expected") }
        return state.withLock { s in
            guard form["grant_type"] == "client_credentials",
                  let client = s.settings.clients.first(where: { $0.id == form["client_id"] && $0.secret == form["client_secret"] }) else {
                s.stats.badRequests.append("token: bad credentials")
                return json(401, Array("{\"error\":\"invalid_client\"}".utf8))
            }
            s.stats.tokensIssued += 1
            let token = "amtok-\(s.stats.tokensIssued)-\(UInt32.random(in: 0...UInt32.max))"
            s.tokens[token] = (client.id, now + s.settings.tokenLifetimeMs)
            return json(200, Array("{\"access_token\":\"\(token)\",\"token_type\":\"bearer\",\"expires_in\":\(s.settings.tokenLifetimeMs / 1000)}".utf8))
        }
    }

    /// The organizations a client sees: its own and every business group below it.
    static func visible(_ client: Client, _ s: State) -> Set<String> {
        var out: Set<String> = [client.organization]
        var grew = true
        while grew {
            grew = false
            for o in s.settings.organizations where o.parent.map(out.contains) == true && !out.contains(o.id) { out.insert(o.id); grew = true }
        }
        return out
    }

    static func route(_ request: ServerRequest, _ client: Client, _ state: Locked<State>) -> ServerResponse {
        let parts = request.path.split(separator: "/").map(String.init)
        let method = request.method
        func count(_ route: String) { state.withLock { $0.stats.byRoute[route, default: 0] += 1 } }
        guard let query = query(request.target) else { return bad(state, 400, "a query parameter repeats") }

        if parts == ["accounts", "api", "me"] {
            guard method == "GET" else { return message(405, "Method Not Allowed") }
            count("me")
            var w = JSONWriter()
            w.beginObject(); w.key("client"); w.beginObject(); w.field("client_id", client.id); w.field("org_id", client.organization)
            w.endObject(); w.endObject()
            return json(200, w.bytes)
        }
        if parts.count == 5, parts[0] == "accounts", parts[1] == "api", parts[2] == "organizations" {
            let org = parts[3]
            let s = state.value
            guard s.settings.organizations.contains(where: { $0.id == org }) else { return bad(state, 404, "no organization \(org)") }
            guard visible(client, s).contains(org) else {
                state.withLock { $0.stats.forbidden.append("\(parts[4]) of \(org)") }
                return message(403, "Forbidden")
            }
            guard method == "GET" else { return message(405, "Method Not Allowed") }
            switch parts[4] {
            case "environments":
                count("environments")
                var w = JSONWriter()
                let envs = s.environments.filter { $0.organizationID == org }
                w.beginObject(); w.key("data"); w.beginArray()
                for e in envs {
                    w.beginObject(); w.field("id", e.id); w.field("organizationId", e.organizationID); w.field("name", e.name)
                    w.field("isProduction", e.isProduction); w.field("type", e.type); w.field("clientId", "env-client-" + e.id); w.endObject()
                }
                w.endArray(); w.field("total", envs.count); w.endObject()
                return json(200, w.bytes)
            case "hierarchy":
                count("hierarchy")
                var w = JSONWriter()
                func node(_ id: String) {
                    let o = s.settings.organizations.first { $0.id == id }!
                    w.beginObject(); w.field("id", o.id); w.field("name", o.name); w.field("parentId", o.parent)
                    w.key("subOrganizations"); w.beginArray()
                    for child in s.settings.organizations where child.parent == id { node(child.id) }
                    w.endArray(); w.endObject()
                }
                node(org)
                return json(200, w.bytes)
            default:
                return bad(state, 404, "no route \(method) \(request.path)")
            }
        }
        guard parts.count >= 5, parts[0] == "apimanager", parts[1] == "api", parts[2] == "v1", parts[3] == "organizations" else {
            return bad(state, 404, "no route \(method) \(request.path)")
        }
        let org = parts[4]
        guard state.value.settings.organizations.contains(where: { $0.id == org }) else { return bad(state, 404, "no organization \(org)") }
        guard visible(client, state.value).contains(org) else {
            state.withLock { $0.stats.forbidden.append("API Manager of \(org)") }
            return message(403, "Forbidden")
        }
        let rest = Array(parts.dropFirst(5))
        if rest.first == "automated-policies" {
            return automated(request, rest, query: query, org: org, client: client, state, count: count)
        }
        guard rest.count >= 3, rest[0] == "environments", rest[2] == "apis" else { return bad(state, 404, "no route \(method) \(request.path)") }
        let env = rest[1]
        guard let environment = state.value.environments.first(where: { $0.id == env && $0.organizationID == org }) else {
            return bad(state, 404, "no environment \(env) in \(org)")
        }
        if let status = state.value.settings.failingEnvironments[env] { return message(status, "environment \(environment.name) is unavailable") }
        return apis(request, Array(rest.dropFirst(3)), query: query, env: env, client: client, state, count: count)
    }

    static func forbid(_ state: Locked<State>, _ client: Client, _ scope: APIManagerScope, _ env: String) -> ServerResponse? {
        guard !client.allowed(scope, env: env) else { return nil }
        state.withLock { $0.stats.forbidden.append("\(scope.rawValue) on \(env)") }
        return message(403, "The Connected App lacks the scope \(scope.rawValue) on this environment")
    }

    static func known(_ query: [String: String], _ names: Set<String>, _ state: Locked<State>) -> ServerResponse? {
        for name in query.keys where !names.contains(name) { return bad(state, 400, "unknown query parameter \(name)") }
        return nil
    }

    static func boolParam(_ query: [String: String], _ name: String) -> Bool?? {
        guard let v = query[name] else { return .some(nil) }
        switch v { case "true": return .some(true); case "false": return .some(false); default: return nil }
    }

    // MARK: - APIs, policies, tiers, contracts

    static func apis(_ request: ServerRequest, _ rest: [String], query: [String: String], env: String, client: Client, _ state: Locked<State>,
                     count: (String) -> Void) -> ServerResponse {
        let method = request.method
        if rest.isEmpty {
            guard method == "GET" else { return message(405, "Method Not Allowed") }
            if let denied = forbid(state, client, .viewAPIs, env) { return denied }
            if let r = known(query, ["query", "instanceLabel", "productVersion", "filters", "offset", "limit", "sort", "ascending"], state) { return r }
            guard let offset = Int(query["offset"] ?? "0"), offset >= 0 else { return bad(state, 400, "offset must be a non-negative integer") }
            guard let limit = Int(query["limit"] ?? "100"), limit >= 1, limit <= state.value.settings.maxPageSize else {
                return bad(state, 400, "limit must be 1...\(state.value.settings.maxPageSize)")
            }
            count("apis")
            let instances = state.value.instances[env] ?? []
            // Grouped by asset, assets sorted by name: offset and limit count assets, not instances.
            var assets: [(key: String, name: String, list: [Instance])] = []
            for i in instances {
                let key = i.groupID + ":" + i.assetID
                if let at = assets.firstIndex(where: { $0.key == key }) { assets[at].list.append(i) } else { assets.append((key, i.assetName, [i])) }
            }
            assets.sort { ($0.name, $0.key) < ($1.name, $1.key) }
            let page = assets.dropFirst(offset).prefix(limit)
            var w = JSONWriter(capacity: 4096)
            w.beginObject(); w.field("total", assets.count); w.key("assets"); w.beginArray()
            for a in page {
                let first = a.list[0]
                w.beginObject()
                w.field("id", 500_000 + stableNumber(a.key)); w.field("name", a.name); w.field("groupId", first.groupID)
                w.field("assetId", first.assetID); w.field("masterOrganizationId", "master"); w.field("organizationId", "org")
                w.field("totalApis", a.list.count)
                w.key("apis"); w.beginArray()
                for i in a.list {
                    w.beginObject()
                    w.field("id", i.id); w.field("instanceLabel", i.instanceLabel); w.field("assetVersion", i.assetVersion)
                    w.field("productVersion", i.productVersion); w.key("tags"); w.beginArray(); w.endArray(); w.field("order", 1)
                    w.field("deprecated", i.deprecated); w.field("lastActiveDate", "2026-11-30T10:00:00.000Z")
                    w.field("endpointUri", "https://\(i.assetID).example/\(env)"); w.field("environmentId", env)
                    w.field("activeContractsCount", i.contracts.count)
                    w.key("audit"); w.beginObject(); w.key("created"); w.beginObject(); w.field("date", "2026-01-01T00:00:00.000Z"); w.endObject(); w.endObject()
                    w.endObject()
                }
                w.endArray(); w.endObject()
            }
            w.endArray(); w.endObject()
            return json(200, w.bytes)
        }
        guard let apiID = Int(rest[0]), let instance = state.value.instances[env]?.first(where: { $0.id == apiID }) else {
            return bad(state, 404, "no API \(rest[0]) in \(env)")
        }
        if rest.count == 1 {
            guard method == "GET" else { return message(405, "Method Not Allowed") }
            if let denied = forbid(state, client, .viewAPIs, env) { return denied }
            if let r = known(query, ["includeProxyConfiguration", "includeTlsContexts"], state) { return r }
            count("api")
            var w = JSONWriter()
            w.beginObject(); w.field("id", instance.id); w.field("groupId", instance.groupID); w.field("assetId", instance.assetID)
            w.field("assetVersion", instance.assetVersion); w.field("productVersion", instance.productVersion)
            w.field("instanceLabel", instance.instanceLabel); w.field("technology", "flexGateway")
            w.field("status", instance.deprecated ? "deprecated" : "active"); w.endObject()
            return json(200, w.bytes)
        }
        switch rest[1] {
        case "policies": return policies(request, Array(rest.dropFirst(2)), query: query, env: env, api: apiID, client: client, state, count: count)
        case "tiers":
            guard rest.count == 2, method == "GET" else { return message(405, "Method Not Allowed") }
            if let denied = forbid(state, client, .viewContracts, env) { return denied }
            if let r = known(query, ["active", "limit", "offset"], state) { return r }
            guard let active = boolParam(query, "active") else { return bad(state, 400, "active must be true or false") }
            count("tiers")
            let tiers = instance.tiers.filter { active != true || $0.status == "ACTIVE" }
            var w = JSONWriter()
            w.beginObject(); w.field("total", tiers.count); w.key("tiers"); w.beginArray()
            for t in tiers {
                w.beginObject(); w.field("id", t.id); w.field("name", t.name); w.field("description", "\(t.name) tier")
                w.key("limits"); w.beginArray()
                for l in t.limits {
                    w.beginObject(); w.field("maximumRequests", l.0); w.field("timePeriodInMilliseconds", l.1); w.field("visible", l.2); w.endObject()
                }
                w.endArray()
                w.field("status", t.status); w.field("autoApprove", t.autoApprove); w.field("applicationCount", 0); w.field("apiId", instance.id)
                w.endObject()
            }
            w.endArray(); w.endObject()
            return json(200, w.bytes)
        case "contracts":
            guard rest.count == 2, method == "GET" else { return message(405, "Method Not Allowed") }
            if let denied = forbid(state, client, .viewContracts, env) { return denied }
            if let r = known(query, ["includeExtraApplicationData", "includeExtraRedirections", "coreServicesId", "status"], state) { return r }
            count("contracts")
            var w = JSONWriter()
            let tierID = { (name: String?) in instance.tiers.first { $0.name == name }?.id }
            w.beginObject(); w.field("total", instance.contracts.count); w.key("contracts"); w.beginArray()
            for c in instance.contracts {
                w.beginObject(); w.field("id", c.id); w.field("status", c.status); w.field("approvedDate", "2026-02-01T00:00:00.000Z")
                w.field("applicationId", stableNumber(c.application))
                w.key("application"); w.beginObject(); w.field("id", stableNumber(c.application)); w.field("name", c.application)
                w.field("coreServicesId", "cs-" + c.application); w.endObject()
                if let t = c.tier, let id = tierID(t) {
                    w.field("tierId", id); w.key("tier"); w.beginObject(); w.field("id", id); w.field("name", t); w.endObject()
                } else {
                    w.key("tierId"); w.null(); w.key("tier"); w.null()
                }
                w.field("apiId", instance.id); w.endObject()
            }
            w.endArray(); w.endObject()
            return json(200, w.bytes)
        default:
            return bad(state, 404, "no route \(method) \(request.path)")
        }
    }

    static func writePolicy(_ p: Policy, shape: PolicyListShape, full: Bool, api: Int, _ w: inout JSONWriter) {
        w.beginObject()
        switch shape {
        case .fullArray:
            w.field("id", p.id); w.field("policyTemplateId", String(300 + p.assetID.count)); w.field("groupId", p.groupID)
            w.field("assetId", p.assetID); w.field("assetVersion", p.assetVersion); w.field("order", p.order); w.field("disabled", p.disabled)
            if full { w.key("configurationData"); p.configuration.write(to: &w) }
            w.key("pointcutData"); if let pc = p.pointcut { pc.write(to: &w) } else { w.null() }
            w.key("implementationAsset"); w.beginObject(); w.field("groupId", p.groupID); w.field("assetId", p.assetID + "-flex")
            w.field("version", p.assetVersion); w.field("technology", "flexGateway"); w.endObject()
            w.field("type", "system"); w.field("apiId", api)
            w.key("audit"); w.beginObject(); w.key("created"); w.beginObject(); w.field("date", "2026-01-01T00:00:00.000Z"); w.endObject(); w.endObject()
        case .wrapped:
            w.field("policyId", p.id); w.field("policyTemplateId", String(300 + p.assetID.count)); w.field("type", "system"); w.field("order", p.order)
            w.key("pointcutData"); if let pc = p.pointcut { pc.write(to: &w) } else { w.null() }
            if full { w.key("configuration"); p.configuration.write(to: &w) }
            w.key("template"); w.beginObject(); w.field("groupId", p.groupID); w.field("assetId", p.assetID); w.field("assetVersion", p.assetVersion)
            w.endObject()
        case .compact:
            w.field("policyId", p.id); w.field("order", p.order)
            if full { w.key("configuration"); p.configuration.write(to: &w) }
            if let pc = p.pointcut { w.key("pointcutData"); pc.write(to: &w) }
            w.key("implementationAsset"); w.beginObject(); w.field("groupId", p.groupID); w.field("assetId", p.assetID)
            w.field("version", p.assetVersion); w.field("technology", "flexGateway"); w.endObject()
        }
        if let label = p.label { w.field("label", label) }
        w.endObject()
    }

    static func policies(_ request: ServerRequest, _ rest: [String], query: [String: String], env: String, api: Int, client: Client,
                         _ state: Locked<State>, count: (String) -> Void) -> ServerResponse {
        let method = request.method
        func instance() -> Instance? { state.value.instances[env]?.first { $0.id == api } }
        if rest.isEmpty {
            switch method {
            case "GET":
                if let denied = forbid(state, client, .viewPolicies, env) { return denied }
                if let r = known(query, ["fullInfo", "standalone", "version"], state) { return r }
                guard let full = boolParam(query, "fullInfo") else { return bad(state, 400, "fullInfo must be true or false") }
                if let v = query["version"], v != "v1" && v != "v2" { return bad(state, 400, "version must be v1 or v2") }
                if request.header("if-modified-since") != nil { return bad(state, 400, "if-modified-since is not modelled by this double") }
                guard let i = instance() else { return bad(state, 404, "no API") }
                count("policies")
                // fullInfo=true (the spec's default): active policies with configuration; false: every policy, none.
                let withConfig = full ?? true
                let list = i.policies.filter { !withConfig || !$0.disabled }.sorted { $0.order < $1.order }
                var w = JSONWriter(capacity: 2048)
                if i.shape == .wrapped { w.beginObject(); w.key("policies") }
                w.beginArray()
                for p in list { writePolicy(p, shape: i.shape, full: withConfig, api: api, &w) }
                w.endArray()
                if i.shape == .wrapped { w.endObject() }
                return json(200, w.bytes)
            case "POST":
                if let denied = forbid(state, client, .managePolicies, env) { return denied }
                if let r = known(query, ["allowDuplicated"], state) { return r }
                guard let dup = boolParam(query, "allowDuplicated") else { return bad(state, 400, "allowDuplicated must be true or false") }
                let policy: Policy
                switch validatePolicyBody(request.body, creating: true, existing: nil) {
                case .failure(let why): return bad(state, 400, why)
                case .success(let p): policy = p
                }
                count("policies.create")
                return state.withLock { s -> ServerResponse in
                    guard let at = s.instances[env]?.firstIndex(where: { $0.id == api }) else { return message(404, "no API") }
                    let current = s.instances[env]![at].policies
                    if dup != true, current.contains(where: { $0.groupID == policy.groupID && $0.assetID == policy.assetID && $0.label == policy.label }) {
                        s.stats.badRequests.append("duplicate policy \(policy.assetID)")
                        return message(409, "The policy \(policy.assetID) is already applied to this API")
                    }
                    s.nextID += 1
                    var p = policy
                    p.id = s.nextID
                    if p.order == 0 { p.order = (current.map(\.order).max() ?? 0) + 1 }
                    s.instances[env]![at].policies.append(p)
                    var w = JSONWriter()
                    writePolicy(p, shape: .fullArray, full: true, api: api, &w)
                    return json(201, w.bytes)
                }
            default: return message(405, "Method Not Allowed")
            }
        }
        guard rest.count == 1, let pid = Int(rest[0]) else { return bad(state, 404, "no route \(method) \(request.path)") }
        guard let existing = instance()?.policies.first(where: { $0.id == pid }) else { return bad(state, 404, "no policy \(rest[0])") }
        switch method {
        case "GET":
            if let denied = forbid(state, client, .viewPolicies, env) { return denied }
            count("policy")
            var w = JSONWriter()
            writePolicy(existing, shape: .fullArray, full: true, api: api, &w)
            return json(200, w.bytes)
        case "PATCH":
            if let denied = forbid(state, client, .managePolicies, env) { return denied }
            let updated: Policy
            switch validatePolicyBody(request.body, creating: false, existing: existing) {
            case .failure(let why): return bad(state, 400, why)
            case .success(let p): updated = p
            }
            count("policy.patch")
            state.withLock { s in
                guard let at = s.instances[env]?.firstIndex(where: { $0.id == api }),
                      let pi = s.instances[env]![at].policies.firstIndex(where: { $0.id == pid }) else { return }
                s.instances[env]![at].policies[pi] = updated
            }
            var w = JSONWriter()
            writePolicy(updated, shape: .fullArray, full: true, api: api, &w)
            return json(200, w.bytes)
        case "DELETE":
            if let denied = forbid(state, client, .managePolicies, env) { return denied }
            count("policy.delete")
            state.withLock { s in
                guard let at = s.instances[env]?.firstIndex(where: { $0.id == api }) else { return }
                s.instances[env]![at].policies.removeAll { $0.id == pid }
            }
            return ServerResponse(status: 204)
        default: return message(405, "Method Not Allowed")
        }
    }

    // MARK: - automated policies

    static func automated(_ request: ServerRequest, _ rest: [String], query: [String: String], org: String, client: Client, _ state: Locked<State>,
                          count: (String) -> Void) -> ServerResponse {
        let method = request.method
        if rest.count == 1 {
            switch method {
            case "GET", "HEAD":
                if let r = known(query, ["environmentId", "runtimeVersion", "offset", "limit"], state) { return r }
                guard let env = query["environmentId"], !env.isEmpty else { return bad(state, 400, "environmentId is required") }
                guard state.value.environments.contains(where: { $0.id == env && $0.organizationID == org }) else {
                    return bad(state, 404, "no environment \(env) in \(org)")
                }
                if let status = state.value.settings.failingEnvironments[env] { return message(status, "environment unavailable") }
                if let denied = forbid(state, client, .viewPolicies, env) { return denied }
                count("automated-policies")
                let list = state.value.automated.filter { $0.environmentID == env && $0.organizationID == org }
                if method == "HEAD" { return ServerResponse(status: 200, headers: [HTTPHeader("X-Total-Count", String(list.count))]) }
                var w = JSONWriter(capacity: 2048)
                w.beginObject(); w.key("automatedPolicies"); w.beginArray()
                for p in list { writeAutomated(p, &w) }
                w.endArray(); w.field("total", list.count); w.endObject()
                return json(200, w.bytes)
            case "POST":
                if let r = known(query, [], state) { return r }
                let policy: AutomatedPolicy
                switch validateAutomatedBody(request.body, org: org, existing: nil) {
                case .failure(let why): return bad(state, 400, why)
                case .success(let p): policy = p
                }
                guard state.value.environments.contains(where: { $0.id == policy.environmentID && $0.organizationID == org }) else {
                    return bad(state, 400, "ruleOfApplication.environmentId \(policy.environmentID) is not an environment of \(org)")
                }
                if let denied = forbid(state, client, .managePolicies, policy.environmentID) { return denied }
                count("automated-policies.create")
                return state.withLock { s -> ServerResponse in
                    if s.automated.contains(where: { $0.environmentID == policy.environmentID && $0.groupID == policy.groupID && $0.assetID == policy.assetID }) {
                        s.stats.badRequests.append("automated policy conflict \(policy.assetID)")
                        return message(409, "An automated policy for \(policy.assetID) already exists in this environment")
                    }
                    s.nextID += 1
                    var p = policy
                    p.id = s.nextID
                    s.automated.append(p)
                    return json(201, Array("{\"id\":\(p.id),\"message\":\"Automated policy created\"}".utf8))
                }
            default: return message(405, "Method Not Allowed")
            }
        }
        guard rest.count >= 2, let id = Int(rest[1]) else { return bad(state, 404, "no route \(method) \(request.path)") }
        guard let existing = state.value.automated.first(where: { $0.id == id && $0.organizationID == org }) else {
            return bad(state, 404, "no automated policy \(rest[1])")
        }
        if rest.count == 3 && rest[2] == "apis" {
            guard method == "GET" else { return message(405, "Method Not Allowed") }
            if let denied = forbid(state, client, .viewPolicies, existing.environmentID) { return denied }
            if let r = known(query, ["type", "deployedOnly", "runtimes", "offset", "limit"], state) { return r }
            count("automated-policy.apis")
            let instances = state.value.instances[existing.environmentID] ?? []
            var w = JSONWriter()
            w.beginObject(); w.field("total", instances.count); w.key("apis"); w.beginArray()
            for i in instances {
                w.beginObject(); w.field("id", i.id); w.field("isPublic", false); w.field("groupId", i.groupID); w.field("assetId", i.assetID)
                w.field("assetVersion", i.assetVersion); w.field("productVersion", i.productVersion); w.field("environmentId", existing.environmentID)
                w.field("instanceLabel", i.instanceLabel); w.endObject()
            }
            w.endArray(); w.endObject()
            return json(200, w.bytes)
        }
        guard rest.count == 2 else { return bad(state, 404, "no route \(method) \(request.path)") }
        switch method {
        case "GET":
            if let denied = forbid(state, client, .viewPolicies, existing.environmentID) { return denied }
            count("automated-policy")
            var w = JSONWriter()
            writeAutomated(existing, &w)
            return json(200, w.bytes)
        case "PATCH":
            if let denied = forbid(state, client, .managePolicies, existing.environmentID) { return denied }
            let updated: AutomatedPolicy
            switch validateAutomatedBody(request.body, org: org, existing: existing) {
            case .failure(let why): return bad(state, 400, why)
            case .success(let p): updated = p
            }
            count("automated-policy.patch")
            state.withLock { s in if let at = s.automated.firstIndex(where: { $0.id == id }) { s.automated[at] = updated } }
            var w = JSONWriter()
            writeAutomated(updated, &w)
            return json(200, w.bytes)
        case "DELETE":
            if let denied = forbid(state, client, .managePolicies, existing.environmentID) { return denied }
            count("automated-policy.delete")
            state.withLock { $0.automated.removeAll { $0.id == id } }
            return ServerResponse(status: 204)
        default: return message(405, "Method Not Allowed")
        }
    }

    static func writeAutomated(_ p: AutomatedPolicy, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", p.id)
        w.key("ruleOfApplication"); w.beginObject(); w.field("organizationId", p.organizationID); w.field("environmentId", p.environmentID)
        if let t = p.technologies { w.key("technologies"); w.beginArray(); for x in t { w.string(x) }; w.endArray() }
        w.key("range"); if let r = p.range { r.write(to: &w) } else { w.null() }
        w.endObject()
        w.field("policyTemplateId", String(400 + p.assetID.count)); w.field("groupId", p.groupID); w.field("assetId", p.assetID)
        w.field("assetVersion", p.assetVersion); w.key("configurationData"); p.configuration.write(to: &w)
        w.key("pointcutData"); if let pc = p.pointcut { pc.write(to: &w) } else { w.null() }
        w.key("order"); if let o = p.order { w.int(o) } else { w.null() }
        w.field("disabled", p.disabled)
        w.key("audit"); w.beginObject(); w.key("created"); w.beginObject(); w.field("date", "2026-01-01T00:00:00.000Z"); w.endObject(); w.endObject()
        w.endObject()
    }
}

/// A number derived from a name, the same in every run (Swift's hashValue is seeded per process).
func stableNumber(_ s: String) -> Int { Int(FNV1a.hex([s]).prefix(5), radix: 16)! }
