// The audit against the strict double's generated organization (3 environments, 60 APIs, every drift kind twice):
// every injected finding is reported and nothing else, through all three policy list shapes, paging by assets,
// 429s and a pace; secrets never reach an output.
import APIManagerDoubles
import Foundation
import HTTP
import Core
import Testing
@testable import Posture

@Suite struct CollectionTests {
    @Test func everyInjectedFindingAndNothingElse() async throws {
        let org = GeneratedOrganization(apis: 60)
        var settings = GeneratedOrganization.settings()
        settings.throttleEvery = 37
        let double = try org.start(settings)
        defer { double.stop() }
        // Pages of 7 assets: 60 APIs take 9 pages per environment, the last one short.
        let (runner, _) = try makeRunner(double, settings: CollectionSettings(concurrency: 6, pageSize: 7))
        let report = await runner.run(deadline: .after(milliseconds: 120_000))

        #expect(report.isComplete, "\(report.collection.missing.prefix(3).map(\.text))")
        #expect(double.stats.badRequests.isEmpty, "\(double.stats.badRequests.prefix(5))")
        #expect(double.stats.throttled > 10, "the 429 path was not exercised")
        #expect(double.stats.byRoute["apis"] == 27)
        #expect(double.stats.maxInFlight <= 6, "more requests in flight than POSTURE_CONCURRENCY allows")
        #expect(report.comparison.apis.count == 60)
        let got = Set(report.findings.map(\.expectedForm))
        let missing = org.expected.subtracting(got), extra = got.subtracting(org.expected)
        #expect(missing.isEmpty, "not reported: \(missing.sorted { $0.description < $1.description })")
        #expect(extra.isEmpty, "false positives: \(extra.sorted { $0.description < $1.description })")
        #expect(report.findings.count == org.expected.count, "a finding is reported twice")
        #expect(org.expected.count == 46)   // 38 drifted APIs (6 with two findings) and the two automated-policy findings
        if let dump = ProcessInfo.processInfo.environment["POSTURE_TEST_DUMP"] {
            for format in ReportFormat.allCases { try Data(report.render(format)).write(to: URL(fileURLWithPath: "\(dump).\(format.rawValue)")) }
        }

        // Statuses: the threats, the drifted, the aligned.
        let threats = Set(org.expected.filter { $0.kind.hasPrefix("production-without") }.compactMap(\.api))
        let drifted = Set(org.expected.compactMap(\.api))
        for api in report.comparison.apis {
            let want: APIStatus = threats.contains(api.key) ? .threat : drifted.contains(api.key) ? .drift : .aligned
            #expect(api.status == want, "\(api.key): \(api.status) instead of \(want)")
        }
        #expect(report.count(APIStatus.aligned) == 60 - drifted.count)
    }

    @Test func secretsNeverReachAnOutput() async throws {
        let org = GeneratedOrganization(apis: 60)
        let double = try org.start()
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let report = await runner.run(deadline: .after(milliseconds: 120_000))
        #expect(report.isComplete)
        #expect(org.secrets.count >= 10)
        for (format, text) in allOutputs(report) {
            for secret in org.secrets { #expect(!text.contains(secret), "\(format) shows a secret") }
            // Not even a part of one (the generator's secrets share this stem).
            #expect(!text.contains("S3cr3t"), "\(format) shows part of a secret")
        }
        // The configuration finding says the password differs, without its values.
        let f = try #require(report.findings.first { $0.kind == .policyConfig && $0.subject?.hasSuffix("http-basic-authentication") == true })
        #expect(f.paths == ["configuration.password"])
        #expect(f.evidence.allSatisfy { $0.value == "configuration.password=***" })
        // The JSON report keeps the structure, masked.
        let json = try JSONReader.parse(report.json())
        let basic = json["apis"]?.arrayValue?.compactMap { $0["instances"]?.arrayValue?.first?["policies"]?.arrayValue }
            .joined().first { $0["assetId"]?.stringValue == "http-basic-authentication" }
        #expect(basic?["configuration"]?["password"]?.stringValue == "***")
        #expect(basic?["configuration"]?["username"]?.stringValue?.hasPrefix("svc-") == true)
    }
}
