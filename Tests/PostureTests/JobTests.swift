// The scheduled job against moto's S3 and a file sink: dated and latest reports, the previous report as baseline,
// new and resolved findings as records; a partial run or a failing sink leaves the baseline alone.
import APIManagerDoubles
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS
@testable import Audit
@testable import Posture

@Suite struct JobTests {
    static func records(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONReader.parse(String($0)) }
    }

    @Test func reportsInS3FindingsToTheSinkBaselineKept() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let aws = try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "testing", secretAccessKey: "testing"),
                                region: AWSRegion("us-east-1"), environment: ["AWS_ENDPOINT_URL": moto.endpoint])
        _ = try await aws.send(AWSCall(service: .s3, operation: "CreateBucket", method: .PUT, path: "/posture-reports"))
        let s3 = S3Client(aws)
        let org = GeneratedOrganization(apis: 60)
        let double = try org.start()
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let sinkPath = try tempDirectory("job") + "/findings.ndjson"
        let job = PostureJob(runner: runner, store: S3ReportStore(s3: s3, bucket: "posture-reports", prefix: "posture"),
                             sinks: [FileSink(path: sinkPath)], logger: Logger(level: .error))

        // First run: no baseline, every finding is new.
        let first = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(first.succeeded, "\(first.error ?? "")")
        #expect(!first.baselineFound && first.latestUpdated)
        let keys = try await s3.listObjectsV2(bucket: "posture-reports", prefix: "posture/").objects.map(\.key).sorted()
        #expect(keys.count == 4, "\(keys)")
        #expect(keys.contains("posture/latest.json") && keys.contains("posture/latest.html"))
        let dated = PostureJob.datedKey(first.report.generatedAt, ext: "json")
        #expect(keys.contains("posture/" + dated) && dated.hasPrefix(String(first.report.generatedAt.iso8601.prefix(4)) + "/"))
        var records = try Self.records(sinkPath)
        #expect(records.count == org.expected.count)
        #expect(records.allSatisfy { $0["type"]?.stringValue == "posture-finding" && $0["change"]?.stringValue == "new" })
        #expect(Set(records.compactMap { $0["finding"]?["id"]?.stringValue }) == Set(first.report.findings.map(\.id)))
        for key in keys {
            let body = try #require(try await s3.getObject(bucket: "posture-reports", key: key)).body
            let text = String(decoding: body, as: UTF8.self)
            #expect(!org.secrets.contains { text.contains($0) }, "\(key) shows a secret")
        }

        // `apitap posture --baseline s3://...` reads the same object.
        let fromS3 = try await BaselineSource.load("s3://posture-reports/posture/latest.json", aws: aws, deadline: .after(milliseconds: 10_000))
        #expect(fromS3.findings.map(\.id) == first.report.findings.map(\.id))
        await #expect(throws: BaselineError.self) {
            try await BaselineSource.load("s3://posture-reports/posture/none.json", aws: aws, deadline: .after(milliseconds: 10_000))
        }
        await #expect(throws: BaselineError.self) { try await BaselineSource.load("s3://posture-reports", aws: aws, deadline: .after(milliseconds: 10_000)) }

        // Second run: one drift fixed, one introduced.
        let fixed = try #require(org.drifts.first { $0.value == .tierLimits }?.key)
        let broken = try #require((0..<60).first { org.drifts[$0] == nil })
        double.mutate(env: "env-stg", assetID: "api-\(fixed)") { $0.tiers[1].limits = [(1_000, 3_600_000, true)] }
        double.mutate(env: "env-prd", assetID: "api-\(broken)") { $0.contracts.removeAll() }
        let second = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(second.succeeded && second.baselineFound && second.latestUpdated, "\(second.error ?? "")")
        records = try Self.records(sinkPath)
        let added = records.dropFirst(org.expected.count)
        #expect(added.filter { $0["change"]?.stringValue == "new" }.compactMap { $0["finding"]?["kind"]?.stringValue }.sorted()
                == ["contract-missing", "contract-missing"])
        #expect(added.filter { $0["change"]?.stringValue == "resolved" }.compactMap { $0["finding"]?["subject"]?.stringValue } == ["Silver"])
        let latest = try #require(try await s3.getObject(bucket: "posture-reports", key: "posture/latest.json")).body
        #expect(try BaselineReport.parse(latest).generatedAt == second.report.generatedAt.iso8601)

        // Third run with Staging down: the report is kept under its date, the baseline and the sink are left alone.
        double.update { $0.failingEnvironments["env-stg"] = 500 }
        let third = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(!third.succeeded && !third.latestUpdated)
        #expect(third.error?.contains("incomplete") == true)
        #expect(try Self.records(sinkPath).count == records.count)
        let unchanged = try #require(try await s3.getObject(bucket: "posture-reports", key: "posture/latest.json")).body
        #expect(unchanged == latest)
        #expect(try await s3.listObjectsV2(bucket: "posture-reports", prefix: "posture/").objects.count == 8)

        // A sink that cannot take the records: the baseline stays, so the next run sends them again.
        double.update { $0.failingEnvironments = [:] }
        double.mutate(env: "env-stg", assetID: "api-\(fixed)") { $0.tiers[1].limits = [(7, 1_000, true)] }
        let failing = PostureJob(runner: runner, store: S3ReportStore(s3: s3, bucket: "posture-reports", prefix: "posture"),
                                 sinks: [FileSink(path: "/nonexistent-directory/findings.ndjson")], logger: Logger(level: .error))
        let fourth = await failing.run(deadline: .after(milliseconds: 120_000))
        #expect(!fourth.succeeded && !fourth.latestUpdated)
        #expect(try #require(try await s3.getObject(bucket: "posture-reports", key: "posture/latest.json")).body == latest)
        let retried = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(retried.succeeded)
        let again = try Self.records(sinkPath).dropFirst(records.count)
        #expect(again.map { $0["change"]?.stringValue } == ["new"])
        #expect(again.first?["finding"]?["kind"]?.stringValue == "tier-limits")
    }

    @Test func aDirectoryStoreWorksTheSame() async throws {
        let double = try GeneratedOrganization(apis: 60).start()
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let dir = try tempDirectory("dir-store")
        let job = PostureJob(runner: runner, store: DirectoryReportStore(directory: dir + "/reports"), sinks: [], logger: Logger(level: .error))
        let run = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(run.succeeded)
        let latest = try BaselineReport.parse(FileIO.read(path: dir + "/reports/latest.json"))
        #expect(latest.findings.count == run.report.findings.count)
        #expect(FileManager.default.fileExists(atPath: dir + "/reports/" + PostureJob.datedKey(run.report.generatedAt, ext: "html")))
        let again = await job.run(deadline: .after(milliseconds: 120_000))
        #expect(again.baselineFound && again.report.baseline?.new.isEmpty == true && again.report.baseline?.unchanged == run.report.findings.count)
    }
}
