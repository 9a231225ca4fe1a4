// A generated organization for the posture audit's tests and benchmark: three environments (Development, Staging,
// Production) and N APIs, identical everywhere except for drifts injected on purpose, each with the findings it must
// produce: the tests compare what the audit reports with this list, in both directions.
import Core

public struct ExpectedFinding: Sendable, Hashable, CustomStringConvertible {
    public var kind: String
    public var api: String?
    public var subject: String?
    public init(_ kind: String, api: String?, subject: String?) {
        self.kind = kind
        self.api = api
        self.subject = subject
    }
    public var description: String { "\(kind) \(api ?? "(environment)") \(subject ?? "-")" }
}

public enum Drift: String, Sendable, CaseIterable {
    case presence, version, status
    case policyMissingLower, rateLimitMissingInProduction, authenticationMissingInProduction, authenticationReplacedInProduction
    case policyConfig, secretConfig, policyVersion, policyDisabled, authenticationDisabledInProduction, policyOrder
    case labelledRepeatConfig, pointcut
    case tierMissing, tierLimits, contractMissing, contractTier
}

public struct GeneratedOrganization: Sendable {
    public static let organization = "org-posture"
    public static let environments: [APIManagerDouble.Environment] = [
        .init(id: "env-dev", name: "Development", organizationID: organization, isProduction: false, type: "sandbox"),
        .init(id: "env-stg", name: "Staging", organizationID: organization, isProduction: false, type: "sandbox"),
        .init(id: "env-prd", name: "Production", organizationID: organization, isProduction: true, type: "production"),
    ]
    public static let clientID = "posture-client"
    public static let clientSecret = "posture-client-secret-value"
    static let group = APIManagerDouble.muleSoftGroup

    /// Environment id → instances.
    public var instances: [String: [APIManagerDouble.Instance]]
    public var automated: [APIManagerDouble.AutomatedPolicy]
    public var expected: Set<ExpectedFinding>
    /// Every secret value placed in a policy configuration: none may appear in any output.
    public var secrets: [String]
    /// API index → the drift injected there (the rest are aligned).
    public var drifts: [Int: Drift]

    public static func apiKey(_ i: Int) -> String { "group-\(i % 3):api-\(i)/v1" }
    static func policyKey(_ asset: String, label: String? = nil) -> String { "\(group):\(asset)" + (label.map { "/" + $0 } ?? "") }

    /// `apis` APIs; the first `2 × Drift.allCases.count` get one drift each (every kind twice), the rest none.
    public init(apis: Int, driftedAPIs: Int? = nil) {
        var instances: [String: [APIManagerDouble.Instance]] = [:]
        var expected = Set<ExpectedFinding>()
        var secrets: [String] = []
        var drifts: [Int: Drift] = [:]
        let kinds = Drift.allCases
        let drifted = min(apis, driftedAPIs ?? 2 * kinds.count)
        for i in 0..<drifted { drifts[i] = kinds[i % kinds.count] }

        for i in 0..<apis {
            let drift = drifts[i]
            let key = Self.apiKey(i)
            func expect(_ kind: String, _ subject: String? = nil) { expected.insert(ExpectedFinding(kind, api: key, subject: subject)) }
            let basicAuth = drift == .secretConfig || drift == .authenticationReplacedInProduction || (drift == nil && i % 4 == 0)
            let labelled = drift == .labelledRepeatConfig || (drift == nil && i % 5 == 1)
            for (e, env) in Self.environments.enumerated() {
                let prod = env.id == "env-prd", staging = env.id == "env-stg", dev = env.id == "env-dev"
                if drift == .presence && staging { continue }
                var policies: [APIManagerDouble.Policy] = [
                    .init(assetID: "client-id-enforcement", assetVersion: "1.3.2", order: 1, configuration: Self.obj([
                        ("credentialsOriginHasHttpBasicAuthenticationHeader", .string("customExpression")),
                        ("clientIdExpression", .string("#[attributes.headers['client_id']]")),
                        ("clientSecretExpression", .string("#[attributes.headers['client_secret']]")),
                    ])),
                    .init(assetID: "rate-limiting", assetVersion: "1.4.0", order: 2, configuration: Self.obj([
                        ("rateLimits", .array([Self.obj([("maximumRequests", .int(1000)), ("timePeriodInMilliseconds", .int(60000))])])),
                        ("keySelector", .string("#[attributes.queryParams['identifier']]")),
                        ("exposeHeaders", .bool(false)), ("clusterizable", .bool(true)),
                    ])),
                    .init(assetID: "cors", assetVersion: "1.3.0", order: 3, configuration: Self.obj([
                        ("publicResource", .bool(true)), ("supportCredentials", .bool(false)), ("originGroups", .array([])),
                    ])),
                ]
                if basicAuth {
                    var password = "S3cr3t-pw-\(i)-do-not-print"
                    if drift == .secretConfig && prod { password = "S3cr3t-pw-\(i)-prod-do-not-print" }
                    if !secrets.contains(password) { secrets.append(password) }
                    policies.append(.init(assetID: "http-basic-authentication", assetVersion: "1.3.1", order: 4, configuration: Self.obj([
                        ("username", .string("svc-\(i)")), ("password", .string(password)),
                    ])))
                }
                if labelled {
                    policies.append(.init(assetID: "header-injection", assetVersion: "1.2.0", label: "first", order: 5, configuration: Self.obj([
                        ("inboundHeaders", .array([Self.obj([("key", .string("x-first")), ("value", .string("1"))])])),
                    ])))
                    let value = drift == .labelledRepeatConfig && staging ? "stage" : "2"
                    policies.append(.init(assetID: "header-injection", assetVersion: "1.2.0", label: "second", order: 6, configuration: Self.obj([
                        ("outboundHeaders", .array([Self.obj([("name", .string("x-second")), ("value", .string(value))])])),
                    ])))
                }
                var tiers: [APIManagerDouble.Tier] = [
                    .init(name: "Gold", limits: [(10_000, 3_600_000, true)]),
                    .init(name: "Silver", limits: [(1_000, 3_600_000, true)]),
                ]
                var contracts: [APIManagerDouble.Contract] = [
                    .init(application: "billing-app", tier: "Silver"), .init(application: "partner-portal", tier: "Silver"),
                ]
                var version = "1.0.\(i % 5)"
                var deprecated = false
                switch drift {
                case .version? where prod: version = "2.0.0"
                case .status? where prod: deprecated = true
                case .policyMissingLower? where dev: policies.removeAll { $0.assetID == "cors" }
                case .rateLimitMissingInProduction? where prod: policies.removeAll { $0.assetID == "rate-limiting" }
                case .authenticationMissingInProduction? where prod, .authenticationReplacedInProduction? where prod:
                    policies.removeAll { $0.assetID == "client-id-enforcement" }
                case .policyConfig? where prod:
                    policies[1].configuration = Self.obj([
                        ("rateLimits", .array([Self.obj([("maximumRequests", .int(100)), ("timePeriodInMilliseconds", .int(60000))])])),
                        ("keySelector", .string("#[attributes.queryParams['identifier']]")),
                        ("exposeHeaders", .bool(false)), ("clusterizable", .bool(true)),
                    ])
                case .policyVersion? where staging: policies[1].assetVersion = "1.3.0"
                case .policyDisabled? where prod: policies[2].disabled = true
                case .authenticationDisabledInProduction? where prod: policies[0].disabled = true
                case .policyOrder? where staging: policies[0].order = 2; policies[1].order = 1
                case .pointcut? where prod: policies[0].pointcut = .array([Self.obj([("methodRegex", .string("GET|POST")), ("uriTemplateRegex", .string("/orders.*"))])])
                case .tierMissing? where prod: tiers.removeAll { $0.name == "Gold" }
                case .tierLimits? where staging: tiers[1].limits = [(500, 3_600_000, true)]
                case .contractMissing? where staging: contracts.removeAll { $0.application == "partner-portal" }
                case .contractTier? where prod: contracts[0].tier = "Gold"
                default: break
                }
                instances[env.id, default: []].append(APIManagerDouble.Instance(
                    id: 10_000 * (e + 1) + i + 1, groupID: "group-\(i % 3)", assetID: "api-\(i)", assetName: "API \(i) orders",
                    assetVersion: version, productVersion: "v1", instanceLabel: "v1",
                    shape: PolicyListShape(rawValue: (i + e) % 3)!, policies: policies, tiers: tiers, contracts: contracts))
                instances[env.id]![instances[env.id]!.count - 1].deprecated = deprecated
            }
            switch drift {
            case .presence?: expect("presence")
            case .version?: expect("version")
            case .status?: expect("status")
            case .policyMissingLower?: expect("policy-missing", Self.policyKey("cors"))
            case .rateLimitMissingInProduction?:
                expect("policy-missing", Self.policyKey("rate-limiting")); expect("production-without-rate-limiting", "Production")
            case .authenticationMissingInProduction?:
                expect("policy-missing", Self.policyKey("client-id-enforcement")); expect("production-without-authentication", "Production")
            case .authenticationReplacedInProduction?:
                // Production still has HTTP Basic: a missing policy, not a threat.
                expect("policy-missing", Self.policyKey("client-id-enforcement"))
            case .policyConfig?: expect("policy-config", Self.policyKey("rate-limiting"))
            case .secretConfig?: expect("policy-config", Self.policyKey("http-basic-authentication"))
            case .policyVersion?: expect("policy-version", Self.policyKey("rate-limiting"))
            case .policyDisabled?: expect("policy-disabled", Self.policyKey("cors"))
            case .authenticationDisabledInProduction?:
                expect("policy-disabled", Self.policyKey("client-id-enforcement")); expect("production-without-authentication", "Production")
            case .policyOrder?: expect("policy-order")
            case .labelledRepeatConfig?: expect("policy-config", Self.policyKey("header-injection", label: "second"))
            case .pointcut?: expect("policy-config", Self.policyKey("client-id-enforcement"))
            case .tierMissing?: expect("tier-missing", "Gold")
            case .tierLimits?: expect("tier-limits", "Silver")
            case .contractMissing?: expect("contract-missing", "partner-portal")
            case .contractTier?: expect("contract-tier", "billing-app")
            case nil: break
            }
        }
        // Automated policies: Message Logging in Staging and Production (configured differently), none in Development.
        func logging(_ env: String, level: String) -> APIManagerDouble.AutomatedPolicy {
            .init(organizationID: Self.organization, environmentID: env, technologies: ["flexGateway"], assetID: "message-logging",
                  assetVersion: "2.0.2", configuration: Self.obj([("loggingConfiguration", .array([Self.obj([
                      ("itemName", .string("cq-req")),
                      ("itemData", Self.obj([("message", .string("#['CQ1 ' ++ vars.reqId]")), ("level", .string(level)), ("firstSection", .bool(true))])),
                  ])]))]), order: 1)
        }
        automated = [logging("env-stg", level: "DEBUG"), logging("env-prd", level: "INFO")]
        expected.insert(ExpectedFinding("automated-policy-missing", api: nil, subject: Self.policyKey("message-logging")))
        expected.insert(ExpectedFinding("automated-policy-config", api: nil, subject: Self.policyKey("message-logging")))
        self.instances = instances
        self.expected = expected
        self.secrets = secrets
        self.drifts = drifts
    }

    static func obj(_ members: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(members.map { (key: $0.0, value: $0.1) })) }

    /// The double's settings for this organization: one client with every read scope everywhere (plus `extraClients`).
    public static func settings(extraClients: [APIManagerDouble.Client] = []) -> APIManagerDouble.Settings {
        var s = APIManagerDouble.Settings()
        s.organizations = [APIManagerDouble.Organization(id: organization, name: "Posture Org")]
        s.clients = [APIManagerDouble.Client(id: clientID, secret: clientSecret, organization: organization,
                                             grants: ["*": [.viewAPIs, .viewPolicies, .viewContracts]])] + extraClients
        return s
    }

    /// A double serving this organization.
    public func start(_ settings: APIManagerDouble.Settings = GeneratedOrganization.settings(), port: UInt16 = 0) throws -> APIManagerDouble {
        let double = try APIManagerDouble(settings, port: port)
        for env in Self.environments { double.add(env, instances: instances[env.id] ?? []) }
        for p in automated { double.addAutomated(p) }
        return double
    }
}
