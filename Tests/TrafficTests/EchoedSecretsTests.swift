// Servers that echo the request in their error answers: no credential form may reach a log line or a summary (issue 11).
import AWS
import HTTP
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite(.serialized) struct EchoedSecretsTests {
    /// Answers `status` with the whole request (headers and body) as its body, as many proxies do in their errors.
    static func echo(_ request: ServerRequest, status: Int) -> ServerResponse {
        var text = "\(request.method) \(request.target)\n"
        for h in request.headers { text += "\(h.name): \(h.value)\n" }
        text += String(decoding: request.body, as: UTF8.self)
        return ServerResponse(status: status, text: text)
    }

    final class Captured: Sendable {
        let lines = Locked<[String]>([])
        var logger: Logger { Logger(level: .trace, sink: { bytes in self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }) }
        var text: String { lines.withLock { $0.joined(separator: "\n") } }
    }

    static func batch() -> [Batch] {
        var request = TransactionRequest(); request.method = "GET"; request.path = "/a"; request.host = "h"
        var response = TransactionResponse(); response.status = 200
        let source = TransactionSource(type: .restExecutionLog, region: AWSRegion("eu-west-2"), accountId: nil, apiId: "a", stage: "s",
                                       logGroup: LogGroupName("g"), logStream: LogStreamName("s"))
        var b = TransactionBatcher(encoding: .edge(EdgeEncodingOptions(toolVersion: "t")), filter: nil, maxBytes: 65_536)
        b.add(Transaction(id: "t1", source: source, requestId: RequestID("r"), startTime: EpochMillis(1_764_000_000_000),
                          endTime: EpochMillis(1_764_000_000_001), request: request, response: response))
        b.close()
        return b.take()
    }

    @Test func aTokenEndpointEchoingBasicCredentialsLeaksNothing() async throws {
        let secret = "basic-echo-secret-4f9a7c21"
        let server = try LoopbackServer { Self.echo($0, status: 401) }
        defer { server.stop() }
        let captured = Captured()
        let client = try HTTPClient()
        let tokens = ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: "http://127.0.0.1:\(server.port)/token",
                                                    clientID: "echo-client", method: .basic) { secret }
        let sink = UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: "http://127.0.0.1:\(server.port)/tx", tokens: tokens),
                           logger: captured.logger)
        let report = await sink.deliver(Self.batch(), deadline: .after(milliseconds: 10_000))
        #expect(report.failedBatches == 1)
        let basic = Base64.encode(Array("echo-client:\(secret)".utf8))
        let summary = SecretRedactor.shared.redact(report.failures.joined(separator: "\n"))
        for form in [secret, basic] {
            #expect(!summary.contains(form), "the summary shows \(form)")
            #expect(!captured.text.contains(form), "a log line shows \(form)")
        }
        #expect(summary.contains("***"), "the echo was there, masked: \(summary)")
    }

    @Test func aCollectorEchoingTheBearerTokenLeaksNothing() async throws {
        let secret = "bearer-echo-secret-88d1e0"
        let issued = Locked<[String]>([])
        let server = try LoopbackServer { request in
            if request.target.hasPrefix("/token") {
                let token = "tok-\(issued.withLock { $0.count })-\(UInt64.random(in: 1...UInt64.max))"
                issued.withLock { $0.append(token) }
                return ServerResponse(status: 200, text: #"{"access_token":"\#(token)","expires_in":3600}"#)
            }
            return Self.echo(request, status: 401)
        }
        defer { server.stop() }
        let captured = Captured()
        let client = try HTTPClient()
        let tokens = ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: "http://127.0.0.1:\(server.port)/token",
                                                    clientID: "echo-client") { secret }
        let sink = UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: "http://127.0.0.1:\(server.port)/tx", tokens: tokens),
                           logger: captured.logger)
        let report = await sink.deliver(Self.batch(), deadline: .after(milliseconds: 10_000))
        #expect(report.failedBatches == 1)
        let tokensSeen = issued.withLock { $0 }
        #expect(tokensSeen.count == 2, "a 401 fetches one new token, then gives up")
        let summary = SecretRedactor.shared.redact(report.failures.joined(separator: "\n"))
        for form in tokensSeen + [secret] {
            #expect(!summary.contains(form), "the summary shows \(form)")
            #expect(!captured.text.contains(form), "a log line shows \(form)")
        }
        #expect(captured.text.contains("Bearer ***"), "the echoed header is in the log, masked")
    }
}
