// The rules file (severities, kinds switched off, expected differences, extra classes), the settings (every problem at
// once), the three policy shapes normalised alike, and the CSV quoting.
import APIManagerDoubles
import Audit
import Foundation
import Core
import Testing
@testable import Posture

@Suite struct RulesAndSettingsTests {
    @Test func rulesChangeSeveritiesSwitchKindsOffAndExpectDifferences() async throws {
        let org = GeneratedOrganization(apis: 60)
        let double = try org.start()
        defer { double.stop() }
        let rules = try PostureRules.parse(Array("""
        {"severities": {"policy-order": "info", "tier-limits": "off", "production-without-authentication": "drift"},
         "expectedDifferences": [{"asset": "header-injection", "path": "outboundHeaders"}]}
        """.utf8))
        let (runner, _) = try makeRunner(double, rules: rules)
        let report = await runner.run(deadline: .after(milliseconds: 120_000))
        #expect(report.isComplete)
        #expect(report.findings.filter { $0.kind == .policyOrder }.allSatisfy { $0.severity == .info })
        #expect(report.findings.contains { $0.kind == .policyOrder })
        #expect(!report.findings.contains { $0.kind == .tierLimits })
        #expect(report.findings.filter { $0.kind == .productionWithoutAuthentication }.count == 4)
        #expect(report.findings.filter { $0.kind == .productionWithoutAuthentication }.allSatisfy { $0.severity == .drift })
        // The labelled header-injection drift is expected now: info, its own kind, no plain policy-config for it.
        let expected = report.findings.filter { $0.kind == .policyConfigExpected }
        #expect(expected.count == 2 && expected.allSatisfy { $0.severity == .info && $0.subject?.hasSuffix("header-injection/second") == true })
        #expect(!report.findings.contains { $0.kind == .policyConfig && $0.subject?.contains("header-injection") == true })
        // Only the rate-limiting threats remain: exit 1 on threat.
        #expect(PostureExit.code(report, failOn: .threat) == 1)
        #expect(report.findings.filter { $0.severity == .threat }.allSatisfy { $0.kind == .productionWithoutRateLimiting })
    }

    @Test func customAssetsCanCountAsAuthentication() throws {
        var rules = try PostureRules.parse(Array("{\"authenticationAssets\": [\"acme:token-check\"], \"rateLimitingAssets\": [\"quota\"]}".utf8))
        #expect(rules.classify(groupID: "acme", assetID: "token-check") == .authentication)
        #expect(rules.classify(groupID: "acme", assetID: "other") == .custom)
        #expect(rules.classify(groupID: PolicyCatalog.muleSoftGroup, assetID: "quota") == .rateLimiting)
        #expect(rules.classify(groupID: PolicyCatalog.muleSoftGroup, assetID: "ip-allowlist") == .network)
        #expect(rules.classify(groupID: PolicyCatalog.muleSoftGroup, assetID: "openidconnect-access-token-enforcement") == .authentication)
        rules.extraAuthentication = []
        #expect(rules.classify(groupID: "acme", assetID: "token-check") == .custom)
    }

    @Test func badRulesAreRefusedWithTheReason() {
        for (text, reason) in [("[]", "must be a JSON object"), ("{\"severity\": {}}", "unknown member \"severity\""),
                               ("{\"severities\": {\"nope\": \"info\"}}", "unknown finding kind"),
                               ("{\"severities\": {\"version\": \"loud\"}}", "threat, drift, info or off"),
                               ("{\"expectedDifferences\": [{\"asset\": \"cors\"}]}", "needs asset and path"),
                               ("{\"secretKeyPattern\": \"(\"}", "regular expression")] {
            do {
                _ = try PostureRules.parse(Array(text.utf8))
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error.description)")
            }
        }
    }

    @Test func settingsReportEveryProblemAtOnce() {
        let (config, problems) = PostureConfiguration.parse([
            "ANYPOINT_BASE_URL": "http://anypoint.example.com", "POSTURE_RULES": "{\"bad\": 1}", "POSTURE_CONCURRENCY": "0",
            "POSTURE_PRODUCTION_PATTERN": "(", "POSTURE_REPORT_URI": "ftp://x", "POSTURE_BUSINESS_GROUPS": "maybe", "AUDIT_SINKS": "nope://x",
        ], requireReportURI: true)
        #expect(config == nil)
        for needle in ["ANYPOINT_BASE_URL must be https://", "ANYPOINT_CLIENT_ID", "ANYPOINT_CLIENT_SECRET", "POSTURE_RULES", "POSTURE_CONCURRENCY",
                       "POSTURE_PRODUCTION_PATTERN", "POSTURE_REPORT_URI", "POSTURE_BUSINESS_GROUPS", "AUDIT_SINKS"] {
            #expect(problems.contains { $0.contains(needle) }, "no problem names \(needle): \(problems)")
        }
        let (missingURI, p2) = PostureConfiguration.parse(["ANYPOINT_CLIENT_ID": "a", "ANYPOINT_CLIENT_SECRET": "b"], requireReportURI: true)
        #expect(missingURI == nil && p2 == [p2.first { $0.contains("POSTURE_REPORT_URI") }!])
        let (ok, none) = PostureConfiguration.parse(["ANYPOINT_CLIENT_ID": "a", "ANYPOINT_CLIENT_SECRET": "b", "POSTURE_ENVIRONMENTS": "dev, prod",
                                                     "POSTURE_REPORT_URI": "s3://reports-bucket/posture/"], requireReportURI: true)
        #expect(none.isEmpty)
        #expect(ok?.environments == ["dev", "prod"])
        #expect(ok?.reportURI == .s3(bucket: "reports-bucket", prefix: "posture"))
        #expect(ok?.sinks.targets.isEmpty == true)
        #expect(ok?.requestsPerMinute == 595)
    }

    @Test func theThreeShapesNormaliseAlike() throws {
        let group = PolicyCatalog.muleSoftGroup
        let full = try JSONReader.parse("""
        [{"id": 7, "policyTemplateId": "1", "groupId": "\(group)", "assetId": "rate-limiting", "assetVersion": "1.4.0", "order": 2,
          "disabled": false, "configurationData": {"b": 1.0, "a": [1, 2]}, "pointcutData": null, "audit": {},
          "implementationAsset": {"groupId": "\(group)", "assetId": "rate-limiting-flex", "version": "1.4.0"}}]
        """)
        let wrapped = try JSONReader.parse("""
        {"policies": [{"policyId": 7, "order": 2, "configuration": {"a": [1, 2], "b": 1},
          "template": {"groupId": "\(group)", "assetId": "rate-limiting", "assetVersion": "1.4.0"}}]}
        """)
        let compact = try JSONReader.parse("""
        [{"policyId": "7", "order": 2, "configuration": {"b": 1, "a": [1, 2]},
          "implementationAsset": {"groupId": "\(group)", "assetId": "rate-limiting", "version": "1.4.0", "technology": "flexGateway"}}]
        """)
        let rules = try PostureRules()
        var normalised: [[String: JSONValue]] = []
        for listing in [full, wrapped, compact] {
            let items = try PolicyNormalizer.items(listing)
            let p = try PolicyNormalizer.policy(items[0]) { rules.classify(groupID: $0, assetID: $1) }
            #expect(p.id == "7" && p.assetID == "rate-limiting" && p.assetVersion == "1.4.0" && p.order == 2 && p.policyClass == .rateLimiting)
            normalised.append(ConfigurationCompare.comparable(p))
        }
        #expect(normalised[0] == normalised[1] && normalised[1] == normalised[2])
        #expect(throws: PolicyDecodeError.self) { try PolicyNormalizer.items(JSONReader.parse("{\"data\": []}")) }
        #expect(throws: PolicyDecodeError.self) {
            try PolicyNormalizer.policy(JSONReader.parse("{\"id\": 1}")) { _, _ in .other }
        }
    }

    @Test func csvQuotesAsRFC4180AndDefusesFormulas() {
        #expect(CSV.row(["plain", "a,b", "say \"hi\"", "two\nlines", "=SUM(A1)", "-1"]) == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",'=SUM(A1),-1\r\n")
    }

    @Test func secretKeysAreRecognisedOnEveryLevel() throws {
        let keys = try SecretKeys()
        for path in ["configuration.password", "configuration.clientSecret", "configuration.keys[0].value", "configuration.jwtKey",
                     "configuration.credentials.user", "configuration.privateKeyPem"] {
            #expect(keys.isSecret(path: path), "\(path)")
        }
        for path in ["configuration.rateLimits[0].maximumRequests", "configuration.publicResource", "pointcut[0].methodRegex"] {
            #expect(!keys.isSecret(path: path), "\(path)")
        }
        let masked = keys.masked(try JSONReader.parse("{\"user\": \"u\", \"creds\": {\"password\": \"p\"}, \"list\": [{\"token\": \"t\"}]}"))
        #expect(masked.compactText == "{\"user\":\"u\",\"creds\":{\"password\":\"***\"},\"list\":[{\"token\":\"***\"}]}")
    }
}

@Suite struct RecordTests {
    @Test func findingsBecomeSinkRecordsWithTheirSyslogSeverity() throws {
        let threat = Finding(kind: .productionWithoutAuthentication, severity: .threat, api: "g:a/v1", apiName: "A", subject: "Production",
                             environments: ["Production", "Dev"], evidence: [Evidence(environment: "Production", value: "no authentication policy")])
        let drift = Finding(kind: .tierMissing, severity: .drift, api: "g:a/v1", apiName: "A", subject: "Gold", environments: ["Dev"], evidence: [])
        let info = Finding(kind: .policyConfigExpected, severity: .info, api: "g:b/v1", apiName: "B", subject: "cors", environments: [], evidence: [])
        let gone = Finding(kind: .contractMissing, severity: .drift, api: "g:c/v1", apiName: "C", subject: "app", environments: [], evidence: [])
        var report = PostureReport(
            collection: PostureCollection(organizations: [("org-1", "Org")], environments: [], problems: [], requests: 0, startedAt: .now(), durationMs: 0),
            comparison: PostureComparison(apis: [], findings: [threat, drift, info]), secretKeys: try SecretKeys(), generatedAt: EpochMillis(1_796_400_000_000))
        report.baseline = BaselineDiff(source: "latest.json", generatedAt: "2026-12-03T00:00:00.000Z", new: [threat, drift, info], resolved: [gone],
                                       changed: [], unchanged: 0, notRechecked: [])
        let records = PostureJob.records(report, baselineStamp: "2026-12-03T00:00:00.000Z")
        #expect(records.map(\.severity) == [.critical, .warning, .notice, .informational])
        #expect(records.map(\.msgID) == ["posture:new", "posture:new", "posture:new", "posture:resolved"])
        #expect(records.allSatisfy { $0.kind == .finding && $0.organizationID == "org-1" })
        let json = try JSONReader.parse(records[3].json)
        #expect(json["change"]?.stringValue == "resolved" && json["finding"]?["subject"]?.stringValue == "app")
        // The same change against the same baseline has the same key: a retried run repeats, recognisably.
        #expect(PostureJob.records(report, baselineStamp: "2026-12-03T00:00:00.000Z").map(\.key) == records.map(\.key))
        #expect(Set(records.map(\.key)).count == 4)
        // Syslog: PRI = facility × 8 + severity (local5 = 21: a threat is <170>, critical).
        let line = String(decoding: SyslogFormatter(facility: 21, hostname: "anypoint.mulesoft.com").format(records[0], exportedAt: report.generatedAt), as: UTF8.self)
        #expect(line.contains("<170>1 "), "\(line.prefix(80))")
        #expect(line.contains(" posture:new [") && line.contains("\"kind\":\"production-without-authentication\""))
    }
}
