// The UAP sink against the strict Edge double: tokens, the Edge envelope and schema, gzip when asked, batch caps, and faults
// that must lose nothing.
import AWS
import Foundation
import HTTP
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite(.serialized) struct UAPSinkTests {
    static let quiet = Logger(level: .fatal, sink: { _ in })

    static let edge = TransactionEncoding.edge(EdgeEncodingOptions(toolVersion: "0.0.0-test"))

    /// `n` valid transactions with distinct ids, batched at `maxBytes` / `maxRecords` in `encoding`.
    static func batches(_ n: Int, maxBytes: Int, maxRecords: Int = 250, idPrefix: String = "t",
                        encoding: TransactionEncoding = edge) -> (batches: [Batch], ids: Set<String>) {
        var batcher = TransactionBatcher(encoding: encoding, filter: nil, maxBytes: maxBytes, maxRecords: maxRecords)
        var ids = Set<String>()
        for i in 0..<n {
            var request = TransactionRequest()
            request.method = "POST"
            request.host = "api.example.com"
            request.path = "/orders/\(i)"
            request.headers = [NameValuePair("Content-Type", "application/json"), NameValuePair("X-Forwarded-For", "203.0.113.9")]
            request.clientIp = "203.0.113.9"
            request.connectionIp = "203.0.113.9"
            request.body = MessageBody(#"{"item":\#(i),"note":"\#(String(repeating: "x", count: i % 300))"}"#)
            var response = TransactionResponse()
            response.status = 200
            response.headers = [NameValuePair("Content-Type", "application/json")]
            response.body = #"{"ok":true}"#
            let id = "\(idPrefix)-\(i)"
            ids.insert(id)
            batcher.add(Transaction(
                id: id,
                source: TransactionSource(type: .restExecutionLog, region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"),
                                          apiId: "a1b2c3d4e5", stage: "prod", logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"),
                                          logStream: LogStreamName("stream-1")),
                requestId: RequestID("req-\(i)"), startTime: EpochMillis(1_763_780_000_000 + Int64(i)),
                endTime: EpochMillis(1_763_780_000_020 + Int64(i)), request: request, response: response))
        }
        batcher.close()
        return (batcher.take(), ids)
    }

    static func receivedIds(_ double: UAPDouble) throws -> [String] {
        try double.records().compactMap { $0["transaction-id"] as? String }
    }

    func sink(_ double: UAPDouble, auth: Bool = true, retry: RetryPolicy = RetryPolicy(maxAttempts: 6, base: .milliseconds(20), cap: .milliseconds(200)),
              timeout: Duration = .seconds(30), contentEncoding: ContentEncoding = .identity) throws -> (UAPSink, ClientCredentialsTokenProvider?) {
        let client = try HTTPClient(caBundle: CABundle.resolve(environment: ["SSL_CERT_FILE": double.caPath]))
        let secret = double.clientSecret
        let tokens = auth ? ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: double.tokenURL, clientID: double.clientID) { secret } : nil
        let settings = UAPSinkSettings(transactionsURL: double.transactionsURL, tokens: tokens, maxInFlight: 4, retry: retry,
                                       requestTimeout: timeout, contentEncoding: contentEncoding)
        return (UAPSink(client: client, settings: settings, logger: Self.quiet), tokens)
    }

    @Test func deliversEveryTransactionOnceWithOneToken() async throws {
        let double = try UAPDouble(maxBatchBytes: 65_536)
        let (sink, _) = try sink(double)
        let (batches, ids) = Self.batches(2_500, maxBytes: 65_536)
        #expect(batches.count > 4, "enough batches to have several in flight")
        #expect(batches.allSatisfy { $0.bytes.count <= 65_536 })
        let report = await sink.deliver(batches, deadline: .after(milliseconds: 60_000))
        #expect(report.allDelivered)
        #expect(report.deliveredRecords == 2_500)
        #expect(report.bytesSent == report.bytesRaw, "uncompressed, as the published producer sends")
        let received = try Self.receivedIds(double)
        #expect(received.count == 2_500)
        #expect(Set(received) == ids)
        let stats = try double.stats()
        #expect(stats["tokensIssued"] as? Int == 1, "the token is cached across batches")
        #expect((stats["rejected"] as? [String: Int])?.isEmpty == true)
        #expect((stats["maxBatchTransactionsSeen"] as? Int ?? 0) <= 250)
    }

    @Test func gzipWhenAskedAndTheCountCapHolds() async throws {
        let double = try UAPDouble(maxBatchTransactions: 40, acceptGzip: true)
        let (sink, _) = try sink(double, contentEncoding: .gzip)
        let (batches, ids) = Self.batches(300, maxBytes: 1_048_576, maxRecords: 40)
        #expect(batches.count == 8)
        let report = await sink.deliver(batches, deadline: .after(milliseconds: 60_000))
        #expect(report.allDelivered, "failures: \(report.failures)")
        #expect(report.bytesSent < report.bytesRaw / 3, "bodies go gzip-compressed")
        #expect(Set(try Self.receivedIds(double)) == ids)
        let stats = try double.stats()
        #expect(stats["maxBatchTransactionsSeen"] as? Int == 40)
        #expect((stats["contentEncodings"] as? [String: Int])?["gzip"] == 8)
    }

    @Test func theStrictDoubleRefusesWhatEdgeWouldNot() async throws {
        // gzip to a collector that does not take it, and apitap's native objects: both refused, nothing recorded.
        let double = try UAPDouble()
        let (gzipSink, _) = try sink(double, contentEncoding: .gzip)
        let gz = await gzipSink.deliver(Self.batches(3, maxBytes: 1_048_576).batches, deadline: .after(milliseconds: 20_000))
        #expect(gz.failedBatches == 1 && gz.failures.first?.contains("415") == true, "\(gz.failures)")
        let (plain, _) = try sink(double)
        let native = await plain.deliver(Self.batches(3, maxBytes: 1_048_576, encoding: .native).batches, deadline: .after(milliseconds: 20_000))
        #expect(native.failedBatches == 1 && native.failures.first?.contains("400") == true, "\(native.failures)")
        #expect(try double.records().isEmpty)
    }

    @Test func faultsLoseNothing() async throws {
        let double = try UAPDouble(faults: ["500", "429", "drop", "reset", "slow", "expire", "500"], maxBatchBytes: 65_536, slowSeconds: 2)
        let (sink, _) = try sink(double, timeout: .milliseconds(800))
        let (batches, ids) = Self.batches(1_200, maxBytes: 65_536)
        let report = await sink.deliver(batches, deadline: .after(milliseconds: 60_000))
        #expect(report.allDelivered, "failures: \(report.failures)")
        #expect(report.retries >= 4)
        let received = Set(try Self.receivedIds(double))
        #expect(received == ids, "every transaction arrives; a slow answer may cause a duplicate, never a gap")
        let stats = try double.stats()
        #expect(stats["tokensIssued"] as? Int == 2, "the expired token is replaced once")
        #expect((stats["faultsInjected"] as? [String])?.count == 7)
    }

    @Test func aRefusedBatchIsReportedNotRetried() async throws {
        let double = try UAPDouble(faults: ["400"])
        let (sink, _) = try sink(double)
        let (batches, _) = Self.batches(10, maxBytes: 1_048_576)
        let report = await sink.deliver(batches, deadline: .after(milliseconds: 20_000))
        #expect(report.failedBatches == 1 && report.failedRecords == 10)
        #expect(report.failures.first?.contains("status 400") == true)
        #expect(try double.stats()["posts"] as? Int == 1)
    }

    @Test func badClientSecretFailsWithoutLeakingIt() async throws {
        let double = try UAPDouble()
        let client = try HTTPClient(caBundle: double.caPath)
        let tokens = ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: double.tokenURL, clientID: double.clientID) { "wrong-secret-123" }
        let sink = UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: double.transactionsURL, tokens: tokens), logger: Self.quiet)
        let report = await sink.deliver(Self.batches(3, maxBytes: 1_048_576).batches, deadline: .after(milliseconds: 20_000))
        #expect(!report.allDelivered)
        #expect(report.failures.first?.contains("401") == true)
        #expect(report.failures.allSatisfy { !$0.contains("wrong-secret-123") })
    }

    @Test func basicAuthAtTheTokenEndpointWorksToo() async throws {
        let double = try UAPDouble()
        let client = try HTTPClient(caBundle: double.caPath)
        let secret = double.clientSecret
        let tokens = ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: double.tokenURL, clientID: double.clientID, method: .basic) { secret }
        let token = try await tokens.token(deadline: .after(milliseconds: 10_000))
        #expect(!token.isEmpty)
        #expect(try await tokens.token(deadline: .after(milliseconds: 10_000)) == token)
        #expect(await tokens.fetches == 1)
    }

    @Test func withoutAuthNoAuthorizationHeaderIsSent() async throws {
        let double = try UAPDouble(noAuth: true)
        let (sink, _) = try sink(double, auth: false)
        let report = await sink.deliver(Self.batches(5, maxBytes: 1_048_576).batches, deadline: .after(milliseconds: 20_000))
        #expect(report.allDelivered)
        let stats = try double.stats()
        #expect(stats["authorizationHeaders"] as? Int == 0)
        #expect(stats["tokenRequests"] as? Int == 0)
    }

    @Test func tlsIsVerified() async throws {
        let double = try UAPDouble(noAuth: true)
        let client = try HTTPClient(caBundle: "/etc/ssl/certs/ca-certificates.crt")
        let sink = UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: double.transactionsURL, tokens: nil), logger: Self.quiet)
        let report = await sink.deliver(Self.batches(2, maxBytes: 1_048_576).batches, deadline: .after(milliseconds: 10_000))
        #expect(report.failedBatches == 1)
        #expect(try double.records().isEmpty)
    }

    @Test func batcherKeepsEachBatchUnderTheLimitAndLosesNoRecord() throws {
        var b = JSONArrayBatcher(maxBytes: 100)
        for i in 0..<50 { b.append(record: Array(#"{"i":\#(i),"pad":"\#(String(repeating: "p", count: i * 3))"}"#.utf8)) }
        b.close()
        let batches = b.take()
        var seen: [Int] = []
        for batch in batches {
            let array = try JSONSerialization.jsonObject(with: Data(batch.bytes)) as? [[String: Any]] ?? []
            #expect(array.count == batch.count)
            if batch.count > 1 { #expect(batch.bytes.count <= 100) }
            seen += array.compactMap { $0["i"] as? Int }
        }
        #expect(seen == Array(0..<50))
        #expect(b.oversizeRecords > 0, "records over 98 bytes travel alone and are counted")
    }

    @Test func anEnvelopeCountsAgainstTheByteLimit() throws {
        var b = JSONArrayBatcher(maxBytes: 120, maxRecords: 3, envelope: .object(arrayKey: "data"))
        for i in 0..<20 { b.append(record: Array(#"{"i":\#(i),"pad":"\#(String(repeating: "p", count: i))"}"#.utf8)) }
        b.close()
        var seen: [Int] = []
        for batch in b.take() {
            let object = try JSONSerialization.jsonObject(with: Data(batch.bytes)) as? [String: Any]
            let data = object?["data"] as? [[String: Any]] ?? []
            #expect(data.count == batch.count && batch.count <= 3)
            if batch.count > 1 { #expect(batch.bytes.count <= 120) }
            seen += data.compactMap { $0["i"] as? Int }
        }
        #expect(seen == Array(0..<20))
    }
}
