// A partial collection (an environment failing, a scope missing) says what is missing, concludes nothing about it
// and exits 2; the baseline diff finds new and resolved findings; exit codes follow --fail-on.
import APIManagerDoubles
import Foundation
import HTTP
import Core
import Testing
@testable import Posture

@Suite struct PartialAndBaselineTests {
    @Test func aFailingEnvironmentIsMissingNotAbsent() async throws {
        let org = GeneratedOrganization(apis: 60)
        var settings = GeneratedOrganization.settings()
        settings.failingEnvironments["env-stg"] = 500
        let double = try org.start(settings)
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let report = await runner.run(deadline: .after(milliseconds: 120_000))

        #expect(!report.isComplete)
        #expect(PostureExit.code(report, failOn: nil) == 2)
        #expect(PostureExit.code(report, failOn: .threat) == 2)
        let missing = report.collection.missing
        #expect(missing.contains { $0.environment == "Staging" && $0.part == "apis" && $0.reason.contains("500") }, "\(missing.map(\.text))")
        #expect(missing.contains { $0.environment == "Staging" && $0.part == "automated-policies" })
        // Nothing is concluded about Staging: no finding names it, and no API is "not deployed" there.
        #expect(!report.findings.contains { $0.environments.contains("Staging") }, "\(report.findings.filter { $0.environments.contains("Staging") }.map(\.message))")
        #expect(!report.findings.contains { $0.kind == .presence })
        #expect(report.comparison.apis.allSatisfy { $0.incomplete })
        // What Development and Production show is still found (drifts that do not involve Staging).
        let got = Set(report.findings.map(\.expectedForm))
        for kind in ["version", "status", "policy-disabled", "tier-missing", "production-without-authentication"] {
            #expect(got.contains { $0.kind == kind }, "\(kind) between Development and Production was not found")
        }
        // Staging is "not read", never "not deployed".
        #expect(report.table().contains("NOT READ") && !report.table().contains("NOT DEPLOYED"))
        #expect(report.html().contains("NOT READ") && !report.html().contains(">NOT DEPLOYED<"))
        // Every format says so.
        for (format, text) in allOutputs(report) where format != "csv" {
            #expect(text.contains("Staging") && (text.lowercased().contains("incomplete") || text.contains("\"complete\":false")), "\(format) does not say what is missing")
        }
    }

    @Test func aMissingScopeMakesThatPartMissing() async throws {
        let org = GeneratedOrganization(apis: 60)
        let limited = APIManagerDouble.Client(id: "no-contracts-in-prod", secret: "limited-secret-value", organization: GeneratedOrganization.organization,
                                              grants: ["env-dev": [.viewAPIs, .viewPolicies, .viewContracts],
                                                       "env-stg": [.viewAPIs, .viewPolicies, .viewContracts],
                                                       "env-prd": [.viewAPIs, .viewPolicies]])
        let double = try org.start(GeneratedOrganization.settings(extraClients: [limited]))
        defer { double.stop() }
        let (runner, _) = try makeRunner(double, clientID: limited.id, secret: limited.secret)
        let report = await runner.run(deadline: .after(milliseconds: 120_000))
        #expect(!report.isComplete)
        let missing = report.collection.missing
        // Tiers and contracts of every Production instance: 2 × 60.
        #expect(missing.count == 120, "\(missing.prefix(3).map(\.text))")
        #expect(missing.allSatisfy { $0.environment == "Production" && ($0.part == "tiers" || $0.part == "contracts") && $0.reason.contains("403") })
        #expect(!report.findings.contains { ($0.kind == .tierMissing || $0.kind == .contractTier) && $0.environments.contains("Production") })
        // The contract missing in Staging is still found between Development and Staging.
        #expect(report.findings.contains { $0.kind == .contractMissing })
        #expect(report.comparison.apis.allSatisfy { $0.incomplete })
    }

    @Test func baselineDiffAndExitCodes() async throws {
        let org = GeneratedOrganization(apis: 60)
        let double = try org.start()
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let first = await runner.run(deadline: .after(milliseconds: 120_000))
        #expect(PostureExit.code(first, failOn: nil) == 0)
        #expect(PostureExit.code(first, failOn: .threat) == 1)
        #expect(PostureExit.code(first, failOn: .drift) == 1)
        let baseline = try BaselineReport.parse(first.json())
        #expect(baseline.findings.map(\.id) == first.findings.map(\.id))

        // Fix a threat (rate limiting back in Production), break an aligned API (its Gold tier gone in Staging).
        let fixed = try #require(org.drifts.first { $0.value == .rateLimitMissingInProduction }?.key)
        let broken = try #require((0..<60).first { org.drifts[$0] == nil })
        let rateLimiting = try #require(org.instances["env-dev"]?.first { $0.assetID == "api-\(fixed)" }?.policies.first { $0.assetID == "rate-limiting" })
        double.mutate(env: "env-prd", assetID: "api-\(fixed)") { i in
            var p = rateLimiting
            p.id = 0
            i.policies.append(p)
        }
        double.mutate(env: "env-stg", assetID: "api-\(broken)") { i in i.tiers.removeAll { $0.name == "Gold" } }

        let second = await runner.run(deadline: .after(milliseconds: 120_000), baseline: ("first.json", baseline))
        let diff = try #require(second.baseline)
        #expect(diff.new.map(\.expectedForm) == [ExpectedFinding("tier-missing", api: GeneratedOrganization.apiKey(broken), subject: "Gold")])
        #expect(Set(diff.resolved.map(\.expectedForm)) == [
            ExpectedFinding("policy-missing", api: GeneratedOrganization.apiKey(fixed), subject: "\(APIManagerDouble.muleSoftGroup):rate-limiting"),
            ExpectedFinding("production-without-rate-limiting", api: GeneratedOrganization.apiKey(fixed), subject: "Production"),
        ])
        #expect(diff.changed.isEmpty && diff.notRechecked.isEmpty)
        #expect(diff.unchanged == first.findings.count - 2)
        #expect(diff.summary == "Summary: 1 new, 2 resolved, 0 changed, \(first.findings.count - 2) unchanged")
        for (format, text) in allOutputs(second) where format != "csv" { #expect(text.contains("1 new, 2 resolved"), "\(format)") }

        // A third run against the second with Staging down: nothing about Staging is called resolved.
        double.update { $0.failingEnvironments["env-stg"] = 503 }
        let third = await runner.run(deadline: .after(milliseconds: 120_000),
                                     baseline: ("second.json", try BaselineReport.parse(second.json())))
        let partial = try #require(third.baseline)
        #expect(!partial.resolved.contains { $0.environments.contains("Staging") }, "\(partial.resolved.map(\.message))")
        #expect(partial.notRechecked.contains { $0.kind == .tierMissing && $0.api == GeneratedOrganization.apiKey(broken) })
        #expect(PostureExit.code(third, failOn: .threat) == 2)
    }

    @Test func aBaselineThatIsNotAReportIsRefused() throws {
        #expect(throws: BaselineError.self) { try BaselineReport.parse(Array("{\"findings\":[]}".utf8)) }
        #expect(throws: BaselineError.self) { try BaselineReport.parse(Array("not json".utf8)) }
        let bad = "{\"schema\":\"apitap.posture/v1\",\"findings\":[{\"id\":\"x\",\"kind\":\"no-such-kind\",\"severity\":\"drift\"}]}"
        #expect(throws: BaselineError.self) { try BaselineReport.parse(Array(bad.utf8)) }
    }
}

@Suite struct OrganizationTests {
    /// An organization with a business group below it, each with two environments; the group's Production differs.
    static func twoGroups() throws -> APIManagerDouble {
        var settings = APIManagerDouble.Settings()
        settings.organizations = [.init(id: "root-org", name: "Root"), .init(id: "bg-eu", name: "EU", parent: "root-org")]
        settings.clients = [.init(id: "c", secret: "client-secret-value", organization: "root-org", grants: ["*": [.viewAPIs, .viewPolicies, .viewContracts]])]
        let double = try APIManagerDouble(settings)
        let base = GeneratedOrganization(apis: 3, driftedAPIs: 0).instances["env-dev"]!
        for (org, prefix) in [("root-org", "r"), ("bg-eu", "eu")] {
            double.add(.init(id: "\(prefix)-sbx", name: "Sandbox", organizationID: org, isProduction: false, type: "sandbox"), instances: base)
            var prod = base
            // API 0 has two authentication policies (client id and HTTP Basic): both gone in the EU group's Live.
            if org == "bg-eu" { prod[0].policies.removeAll { $0.assetID == "client-id-enforcement" || $0.assetID == "http-basic-authentication" } }
            double.add(.init(id: "\(prefix)-live", name: "Live", organizationID: org, isProduction: false, type: "sandbox"), instances: prod)
        }
        return double
    }

    @Test func businessGroupsAreAuditedWhenAsked() async throws {
        let double = try Self.twoGroups()
        defer { double.stop() }
        // The token's own organization only: two environments, aligned.
        let (own, _) = try makeRunner(double, clientID: "c", secret: "client-secret-value")
        let ownReport = await own.run(deadline: .after(milliseconds: 60_000))
        #expect(ownReport.isComplete && ownReport.environmentLabels == ["Sandbox", "Live"] && ownReport.findings.isEmpty)
        // With business groups, and "Live" counted as production by the pattern: the EU group's Live lacks authentication.
        let settings = CollectionSettings(businessGroups: true, productionPattern: try FieldPatternBox("(?i)^live$"), concurrency: 4)
        let (all, _) = try makeRunner(double, clientID: "c", secret: "client-secret-value", settings: settings)
        let report = await all.run(deadline: .after(milliseconds: 60_000))
        #expect(report.isComplete)
        #expect(report.environmentLabels == ["Root/Sandbox", "EU/Sandbox", "Root/Live", "EU/Live"])
        #expect(report.collection.organizations.map(\.name) == ["Root", "EU"])
        let kinds = Set(report.findings.map { "\($0.kind.rawValue) \($0.subject ?? "-")" })
        #expect(kinds == ["policy-missing \(APIManagerDouble.muleSoftGroup):client-id-enforcement",
                          "policy-missing \(APIManagerDouble.muleSoftGroup):http-basic-authentication", "production-without-authentication EU/Live"])
        #expect(double.stats.byRoute["hierarchy"] == 1)
    }

    @Test func environmentsAreChosenByNameOrIdInThatOrder() async throws {
        let double = try GeneratedOrganization(apis: 60).start()
        defer { double.stop() }
        let (runner, _) = try makeRunner(double, settings: CollectionSettings(environments: ["env-prd", "development", "Nowhere"], concurrency: 6))
        let report = await runner.run(deadline: .after(milliseconds: 60_000))
        #expect(report.environmentLabels == ["Production", "Development"])
        #expect(report.collection.missing.map(\.text) == ["Nowhere: environment could not be read: no environment of that name or id was found"])
        #expect(PostureExit.code(report, failOn: nil) == 2)
        // Only two environments were read: Staging's drifts are not there, Production's are.
        #expect(!report.findings.contains { $0.kind == .presence || $0.kind == .tierLimits })
        #expect(report.findings.contains { $0.kind == .productionWithoutAuthentication })
    }
}
