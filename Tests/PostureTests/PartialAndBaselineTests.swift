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
        // What Development and Production show is still found (drifts that do not involve Staging).
        let got = Set(report.findings.map(\.expectedForm))
        for kind in ["version", "status", "policy-disabled", "tier-missing", "production-without-authentication"] {
            #expect(got.contains { $0.kind == kind }, "\(kind) between Development and Production was not found")
        }
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
