// The S3 archive sink against moto_server: object names by organization/date/hour, gzip NDJSON content, and a
// replay that overwrites instead of adding objects.
import AuditDoubles
import Foundation
import Glibc
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS
@testable import Audit

extension MotoServer {
    func client() throws -> AWSClient {
        try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "testing", secretAccessKey: "testing"),
                      region: AWSRegion("us-east-1"), environment: ["AWS_ENDPOINT_URL": endpoint])
    }
}

@Suite struct S3SinkTests {
    @Test func objectsByOrganizationAndHourGzipNDJSONAndIdempotentReplay() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let aws = try moto.client()
        _ = try await aws.send(AWSCall(service: .s3, operation: "CreateBucket", method: .PUT, path: "/audit-archive"))
        let s3 = S3Client(aws)
        let sink = S3Sink(s3: s3, bucket: "audit-archive", prefix: "anypoint/audit")

        // Two organizations, entries across three hours, and one alert.
        let base: Int64 = 1_795_000_000_000 - 1_795_000_000_000 % 3_600_000   // an hour boundary
        var records: [ExportRecord] = []
        for org in ["org-a", "org-b"] {
            for e in AnypointDouble.history(count: 90, from: base, to: base + 3 * 3_600_000 - 2_000, prefix: org) {
                records.append(.entry(try AuditEntry(raw: e.value.jsonBytes), organizationID: org, exportedAt: .now(), otelAttributes: false))
            }
        }
        var evaluator = AlertEvaluator(rules: try AlertRuleSet.defaults())
        let alerts = evaluator.evaluate(try AnypointDouble.history(count: 40, from: base, to: base + 1_000, prefix: "al").map {
            try AuditEntry(raw: $0.value.jsonBytes) }, organizationID: "org-a", exportedAt: .now())
        records += alerts.prefix(1)

        let first = await sink.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 20_000))
        #expect(first.ok && first.delivered == records.count, "\(first.error ?? "")")
        let listed = try await s3.listObjectsV2(bucket: "audit-archive", prefix: "anypoint/audit/").objects
        #expect(listed.count == 7, "\(listed.map(\.key))")   // 2 orgs × 3 hours + 1 alert object
        let hour = EpochMillis(base).iso8601
        let datePath = "\(hour.prefix(4))/\(hour.dropFirst(5).prefix(2))/\(hour.dropFirst(8).prefix(2))/\(hour.dropFirst(11).prefix(2))"
        #expect(listed.contains { $0.key.hasPrefix("anypoint/audit/org-a/\(datePath)/entry-") && $0.key.hasSuffix(".ndjson.gz") })
        #expect(listed.contains { $0.key.hasPrefix("anypoint/audit/org-a/") && $0.key.contains("/alert-") })

        // Every record is in exactly one object, as one NDJSON line, and in the right organization/hour.
        var keys: [String] = []
        for object in listed {
            let body = try #require(try await s3.getObject(bucket: "audit-archive", key: object.key)).body
            #expect(body.prefix(2) == [0x1F, 0x8B], "not gzip")
            let text = String(decoding: try GzipDecompressor.decompress(body), as: UTF8.self)
            for line in text.split(separator: "\n") {
                let json = try JSONReader.parse(String(line))
                let key = try #require(json["key"]?.stringValue)
                keys.append(key)
                let org = try #require(json["organizationId"]?.stringValue)
                #expect(object.key.hasPrefix("anypoint/audit/\(org)/"))
                if let t = json["timestamp"]?.stringValue, json["type"] == nil {
                    let iso = String(t.prefix(13))   // 2026-11-22T03
                    #expect(object.key.contains("/\(iso.prefix(4))/\(iso.dropFirst(5).prefix(2))/\(iso.dropFirst(8).prefix(2))/\(iso.suffix(2))/"))
                }
            }
        }
        #expect(keys.sorted() == records.map(\.key).sorted())

        // A replay of the same page (a crash before the commit) writes the same names: no new objects.
        let replay = await sink.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 20_000))
        #expect(replay.ok)
        let after = try await s3.listObjectsV2(bucket: "audit-archive", prefix: "anypoint/audit/").objects
        #expect(Set(after.map(\.key)) == Set(listed.map(\.key)))

        // A missing bucket is a failed delivery, not a silent loss.
        let broken = S3Sink(s3: s3, bucket: "no-such-bucket", prefix: "x")
        let r = await broken.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 10_000))
        #expect(!r.ok)
    }
}
