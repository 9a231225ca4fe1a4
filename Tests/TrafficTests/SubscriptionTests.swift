// The awslogs path: a subscription payload made by the gzip and base64 tools, stitched and delivered all-or-nothing.
import AWS
import Foundation
import Core
import Pipeline
import Testing
@testable import Traffic

/// Collects what it is given; can be told to refuse.
final class CollectingSink: BatchSink, @unchecked Sendable {
    // Used by one task at a time in these tests.
    var records: [[String: Any]] = []
    var refuse = false

    func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        var report = DeliveryReport()
        for b in batches {
            if refuse { report.failedBatches += 1; report.failedRecords += b.count; continue }
            let array = (try? JSONSerialization.jsonObject(with: Data(b.bytes))) as? [[String: Any]] ?? []
            records += array
            report.deliveredBatches += 1
            report.deliveredRecords += b.count
        }
        return report
    }
}

@Suite struct SubscriptionTests {
    /// `{"awslogs":{"data": base64(gzip(json))}}` built with the command-line tools.
    static func payload(logGroup: String, fixture: String, messageType: String = "DATA_MESSAGE") throws -> (event: [UInt8], stream: String, count: Int) {
        let events = try Fixtures.events(fixture)
        let stream = events.first?.logStream.rawValue ?? "s"
        let logEvents: [[String: Any]] = events.filter { $0.logStream.rawValue == stream }.map {
            ["id": $0.eventId, "timestamp": $0.timestamp.value, "message": $0.message]
        }
        let inner: [String: Any] = ["messageType": messageType, "owner": "123456789012", "logGroup": logGroup, "logStream": stream,
                                    "subscriptionFilters": ["apitap"], "logEvents": logEvents]
        let json = try JSONSerialization.data(withJSONObject: inner)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-sub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try json.write(to: dir.appendingPathComponent("in.json"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "gzip -c '\(dir.path)/in.json' | base64 -w0"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let b64 = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let event = #"{"awslogs":{"data":"\#(b64)"}}"#
        return (Array(event.utf8), stream, logEvents.count)
    }

    func processor() throws -> SubscriptionProcessor {
        SubscriptionProcessor(region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"), filter: try TransactionFilter(),
                              maxBatchBytes: 1_048_576, incompleteMaxAgeSeconds: 300)
    }

    @Test func decodesARealSubscriptionPayloadAndStitchesIt() async throws {
        let group = "API-Gateway-Execution-Logs_a1b2c3d4e5/prod"
        let (event, stream, count) = try Self.payload(logGroup: group, fixture: "rest-200-post-lambda-proxy.ndjson")
        let decoded = try SubscriptionPayload.decode(event: event)
        #expect(decoded.logGroup.rawValue == group)
        #expect(decoded.logStream.rawValue == stream)
        #expect(decoded.events.count == count)
        var p = try processor()
        let sink = CollectingSink()
        let outcome = await p.process(decoded, sink: sink, deadline: .after(milliseconds: 10_000))
        #expect(outcome.delivery.allDelivered)
        #expect(sink.records.count == 1)
        #expect((sink.records.first?["response"] as? [String: Any])?["status"] as? Int == 201)
        #expect(sink.records.first?["id"] as? String == "Vts2pH6ArPEFcuQ=")
    }

    @Test func aFailedDeliveryIsRolledBackSoTheRedeliveryProducesTheSameTransactions() async throws {
        let (event, _, _) = try Self.payload(logGroup: "API-Gateway-Execution-Logs_a1b2c3d4e5/prod", fixture: "rest-200-post-lambda-proxy.ndjson")
        let decoded = try SubscriptionPayload.decode(event: event)
        var p = try processor()
        let sink = CollectingSink()
        sink.refuse = true
        let first = await p.process(decoded, sink: sink, deadline: .after(milliseconds: 10_000))
        #expect(!first.delivery.allDelivered)
        sink.refuse = false
        let second = await p.process(decoded, sink: sink, deadline: .after(milliseconds: 10_000))
        #expect(second.delivery.allDelivered)
        #expect(sink.records.count == 1, "the redelivered payload yields the transaction again, not a tombstone")
    }

    @Test func controlMessagesAreIgnored() async throws {
        let (event, _, _) = try Self.payload(logGroup: "any", fixture: "http-api-access-log.ndjson", messageType: "CONTROL_MESSAGE")
        var p = try processor()
        let sink = CollectingSink()
        let outcome = await p.process(try SubscriptionPayload.decode(event: event), sink: sink, deadline: .after(milliseconds: 1_000))
        #expect(outcome.skipped == "CONTROL_MESSAGE")
        #expect(sink.records.isEmpty)
    }

    @Test func httpAccessLogsAreMappedOneRecordPerTransaction() async throws {
        let (event, _, count) = try Self.payload(logGroup: "/aws/http-api/access", fixture: "http-api-access-log.ndjson")
        var p = try processor()
        let sink = CollectingSink()
        let outcome = await p.process(try SubscriptionPayload.decode(event: event), sink: sink, deadline: .after(milliseconds: 5_000))
        #expect(outcome.counters.linesParsed + outcome.counters.linesFailed == count)
        #expect(sink.records.count == outcome.counters.transactionsEmitted - outcome.counters.filtered.total)
        #expect(sink.records.allSatisfy { ($0["source"] as? [String: Any])?["type"] as? String == "aws-apigateway-http" })
    }

    @Test(arguments: [
        #"{"awslogs":{"data":"!!!"}}"#, #"{"nothing":1}"#, "not json", #"{"awslogs":{"data":"aGVsbG8="}}"#,
    ])
    func badEventsAreErrorsNotCrashes(_ text: String) {
        #expect(throws: SubscriptionPayload.DecodeError.self) { try SubscriptionPayload.decode(event: Array(text.utf8)) }
    }
}

@Suite struct TrafficConfigurationTests {
    @Test func everyProblemIsReportedAtOnce() {
        let (config, problems) = TrafficConfiguration.parse([
            "ENABLE_REST_APIS": "maybe", "UAP_TOKEN_URL": "not a url", "MAX_BATCH_BYTES": "12", "STATE_URI": "ftp://x",
            "CONTENT_TYPE_REGEX": "(unclosed",
        ])
        #expect(config == nil)
        let text = problems.joined(separator: "\n")
        for expected in ["AWS_REGION is not set", "ENABLE_REST_APIS must be true or false", "UAP_TRANSACTIONS_URL is not set",
                         "UAP_TOKEN_URL is not an http(s) URL", "UAP_CLIENT_ID is required", "UAP_CLIENT_SECRET or UAP_CLIENT_SECRET_ARN",
                         "MAX_BATCH_BYTES must be a whole number", "STATE_URI must be", "CONTENT_TYPE_REGEX"] {
            #expect(text.contains(expected), "missing: \(expected)")
        }
    }

    @Test func anInlineAPIListAndTheStateDirectoryAreCheckedAtInit() {
        let problems = TrafficConfiguration.parse(["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false", "API_AUTO_DISCOVERY": "false",
                                                   "API_LIST": #"[{"apiId": 42}]"#, "STATE_URI": "file://relative/state"]).1
        #expect(problems.contains { $0.hasPrefix("API_LIST:") }, "\(problems)")
        #expect(problems.contains { $0.contains("file:// needs an absolute directory") }, "\(problems)")
        let fine = TrafficConfiguration.parse(["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false", "API_AUTO_DISCOVERY": "false",
                                               "API_LIST": #"[{"region":"us-east-1","apiId":"a1b2c3","stage":"prod","type":"rest"}]"#,
                                               "STATE_URI": "file:///tmp/apitap-state"]).1
        #expect(fine.isEmpty, "\(fine)")
    }

    @Test func anUnreadableCABundleIsAnInitProblem() {
        let env = ["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false", "SSL_CERT_FILE": "/nonexistent/bundle.pem"]
        #expect(TrafficConfiguration.parse(env).1 == ["SSL_CERT_FILE /nonexistent/bundle.pem cannot be read (the CA bundle servers are verified against)"])
    }

    @Test func loggingSettingsAreCheckedWithEveryOtherProblem() {
        let problems = TrafficConfiguration.parse(["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false", "LOG_LEVEL": "loud",
                                                   "AWS_LAMBDA_LOG_FORMAT": "xml", "AWS_LAMBDA_LOG_LEVEL": "notice"]).1
        // NOTICE is not one of Lambda's levels: refused like in the template and the deploy .env.
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("AWS_LAMBDA_LOG_LEVEL must be one of") })
        #expect(problems.contains { $0.hasPrefix("LOG_LEVEL must be one of") })
        #expect(problems.contains { $0.hasPrefix("AWS_LAMBDA_LOG_FORMAT must be Text or JSON") })
    }

    @Test func uapURLsTakePlainHTTPOnlyToALoopbackHost() {
        let env = ["AWS_REGION": "us-east-1", "UAP_CLIENT_ID": "id", "UAP_CLIENT_SECRET": "s"]
        var remote = env
        remote["UAP_TRANSACTIONS_URL"] = "http://uap.example.com/api-transactions"
        remote["UAP_TOKEN_URL"] = "http://127.0.0.1@attacker.example/token"
        let problems = TrafficConfiguration.parse(remote).1.joined(separator: "\n")
        #expect(problems.contains("UAP_TRANSACTIONS_URL must be https://"))
        #expect(problems.contains("UAP_TOKEN_URL must be https://"))
        var local = env
        local["UAP_TRANSACTIONS_URL"] = "http://127.0.0.1:8443/api-transactions"
        local["UAP_TOKEN_URL"] = "http://localhost:8443/token"
        #expect(TrafficConfiguration.parse(local).1.isEmpty)
    }

    @Test func aMinimalLocalConfigurationParses() throws {
        let (config, problems) = TrafficConfiguration.parse(["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false", "STATE_URI": "file:///tmp/x"])
        #expect(problems.isEmpty)
        let c = try #require(config)
        #expect(c.enableRest && c.enableHTTP && c.autoDiscovery)
        #expect(c.maxBatchBytes == 1_048_576)
        if case .ndjson(let path) = c.delivery { #expect(path == nil) } else { Issue.record("expected NDJSON delivery") }
    }

    @Test func theSecretNeverAppearsInTheDescription() throws {
        let (config, _) = TrafficConfiguration.parse(["AWS_REGION": "us-east-1", "UAP_TRANSACTIONS_URL": "https://uap.example/tx",
                                                      "UAP_TOKEN_URL": "https://uap.example/token", "UAP_CLIENT_ID": "id",
                                                      "UAP_CLIENT_SECRET": "hunter2-secret"])
        let c = try #require(config)
        guard case .uap(let uap) = c.delivery else { Issue.record("expected UAP"); return }
        #expect(uap.secret?.description == "***")
        #expect(!String(describing: uap.secret as Any).contains("hunter2-secret"))
    }
}
