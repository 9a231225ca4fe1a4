// The REST execution-log stitcher against fixture logs: success, interleaving, trailers, failures, bodies.
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite struct StitcherTests {
    @Test func successfulLambdaProxyRequest() throws {
        let t = try Fixtures.one("rest-200-post-lambda-proxy.ndjson")
        #expect(t.id == "Vts2pH6ArPEFcuQ=")
        #expect(t.extendedRequestId == "Vts2pH6ArPEFcuQ=")
        #expect(t.requestId == RequestID("6b7f3e1a-2c4d-4e5f-8a9b-0c1d2e3f4a5b"))
        #expect(t.source.type == .restExecutionLog)
        #expect(t.source.apiId == "a1b2c3d4e5")
        #expect(t.source.stage == "prod")
        #expect(t.source.region.rawValue == "eu-west-2")
        #expect(t.source.accountId?.rawValue == "123456789012")
        #expect(t.source.logStream.rawValue == "e4da3b7fbbce2345d7772b0674a318d5")
        #expect(t.startTime.value == 1_764_000_000_000)
        #expect(t.endTime.value == 1_764_000_000_021)
        #expect(t.request.method == "POST")
        #expect(t.request.scheme == "https")
        #expect(t.request.path == "/orders/42")
        #expect(t.request.host == "api.example.com")
        #expect(t.request.clientIp == "203.0.113.9")
        #expect(t.request.query == [NameValuePair("limit", "10"), NameValuePair("q", "shoes")])
        #expect(t.request.headers.names == [
            "Accept", "CloudFront-Forwarded-Proto", "CloudFront-Is-Desktop-Viewer", "Content-Type", "Host", "User-Agent", "Via",
            "X-Amz-Cf-Id", "X-Amzn-Trace-Id", "x-api-key", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
        ])
        #expect(t.request.headers.value("Accept") == "application/json, text/plain, */*")
        #expect(t.request.headers.value("User-Agent")
            == "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15")
        #expect(t.request.headers.value("X-Forwarded-For") == "203.0.113.9, 54.240.1.1")
        #expect(t.request.body == #"{"sku":"A-100","quantity":2}"#)
        #expect(!t.request.bodyTruncated)
        #expect(t.request.headers.value("cq-discovery-only") == nil)
        #expect(t.response.status == 201)
        #expect(t.response.body == #"{"orderId":"42","status":"created"}"#)
        // Method response headers first and winning; endpoint headers only fill in names the method response lacks.
        #expect(t.response.headers.value("X-Amzn-Trace-Id") == "Root=1-5c755b5d-7d3a6e2b1c4f8a9b0d2e3f4a;Parent=3b1c2d4e5f6a7b8c;Sampled=0")
        #expect(t.response.headers.values("X-Amzn-Trace-Id").count == 1)
        #expect(Array(t.response.headers.names.prefix(3)) == ["X-Amzn-Trace-Id", "Content-Type", "Cache-Control"])
        #expect(t.response.headers.value("Date") == "Mon, 24 Nov 2025 10:15:00 GMT")
        #expect(t.response.headers.values("Content-Type") == ["application/json"])
        #expect(t.integrationLatencyMs == 20)
        #expect(t.integrationRequestId == "57593f79-3ab7-4c1d-9a7e-764000000000")
        #expect(t.xrayTraceId?.hasPrefix("1-5c755b5d-") == true)
        #expect(t.error == nil)
        #expect(!t.incomplete)
        // `Endpoint request headers` is cut (long security token): counted, but it is not part of the transaction.
        #expect(t.truncatedLines == 1)
        #expect(!t.response.headersTruncated && !t.request.headersTruncated)
    }

    @Test func interleavedRequestsInTwoStreams() throws {
        let (all, counters) = try Fixtures.stitch("rest-interleaved-requests.ndjson")
        #expect(all.count == 4)
        #expect(counters.linesFailed == 0)
        let byHost = Dictionary(uniqueKeysWithValues: all.map { ($0.request.host ?? "", $0) })
        #expect(byHost["a.example.com"]?.request.path == "/users/1")
        #expect(byHost["a.example.com"]?.response.body == #"{"id":1}"#)
        #expect(byHost["a.example.com"]?.integrationRequestId != nil)
        #expect(byHost["b.example.com"]?.request.method == "PUT")
        #expect(byHost["b.example.com"]?.request.body == #"{"name":"b"}"#)
        #expect(byHost["b.example.com"]?.response.headers.value("Date") == "Mon, 24 Nov 2025 10:15:00 GMT")
        #expect(byHost["c.example.com"]?.response.status == 204)
        #expect(byHost["c.example.com"]?.response.body == "")
        #expect(byHost["d.example.com"]?.source.logStream.rawValue == "1679091c5a880faf6fb5e6087eb1b2dc")
        #expect(Set(all.map(\.id)).count == 4)
        #expect(all.allSatisfy { !$0.incomplete && $0.xrayTraceId != nil })
    }

    @Test func trailerLinesAttachOrAreAbsorbedNeverASecondTransaction() throws {
        let (all, counters) = try Fixtures.stitch("rest-lines-after-end-marker.ndjson")
        #expect(all.count == 2)
        let first = try #require(all.first { $0.requestId.rawValue == "55555555-5555-4555-8555-555555555555" })
        #expect(first.integrationRequestId == "9d4b5a3e-1111-4c2a-8f00-aaaaaaaaaaaa")
        // The X-ray line came after the stream had moved 5 s on: the transaction was gone, the line is absorbed.
        #expect(first.xrayTraceId == nil)
        #expect(counters.linesAfterEmission == 1)
        #expect(counters.transactionsEmitted == 2)
    }

    @Test func trailersAreAbsorbedWhenEmittingOnCompletion() throws {
        let (all, counters) = try Fixtures.stitch("rest-200-post-lambda-proxy.ndjson", options: StitcherOptions(trailerHoldMs: 0))
        #expect(all.count == 1)
        #expect(all.first?.integrationRequestId == nil)
        #expect(counters.linesAfterEmission == 2)
    }

    @Test func transactionIsHeldUntilTheStreamMovesOn() throws {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        let events = try Fixtures.events("rest-200-post-lambda-proxy.ndjson")
        for e in events { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        #expect(out.isEmpty)
        #expect(s.pendingCount == 1)
        let stream = events[0].logStream
        let end = try #require(events.last).timestamp
        s.ingest(logStream: stream, timestamp: end.adding(milliseconds: 500), message: "(x-1) Starting execution for request: x-1") { out.append($0) }
        #expect(out.isEmpty)
        s.ingest(logStream: stream, timestamp: end.adding(milliseconds: 1001), message: "(x-1) Method request path: {}") { out.append($0) }
        #expect(out.count == 1)
        #expect(out.first?.xrayTraceId != nil)
        s.finishWindow { out.append($0) }
        #expect(out.count == 1)
        #expect(s.pendingCount == 1)
    }

    @Test func reusedRequestIdStartsANewTransaction() throws {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        let stream = LogStreamName("s")
        let lines = [
            "(dup) Extended Request Id: first=", "(dup) HTTP Method: GET, Resource Path: /a", "(dup) Method completed with status: 200",
            "(dup) Extended Request Id: second=", "(dup) HTTP Method: GET, Resource Path: /b", "(dup) Method completed with status: 404",
        ]
        for line in lines { s.ingest(logStream: stream, timestamp: EpochMillis(1), message: line) { out.append($0) } }
        s.flushAll { out.append($0) }
        #expect(out.map(\.id) == ["first=", "second="])
        #expect(out.map(\.request.path) == ["/a", "/b"])
        #expect(out.map(\.response.status) == [200, 404])
    }

    @Test func throttled429() throws {
        let t = try Fixtures.one("rest-429-throttled.ndjson")
        #expect(t.response.status == 429)
        #expect(t.response.body == nil)
        #expect(t.response.headers.isEmpty)
        #expect(t.error?.hasPrefix("Key throttle limit exceeded for RestApi a1b2c3d4e5") == true)
        #expect(!t.incomplete)
        // The throttling line names method and resource although no `HTTP Method` line was logged.
        #expect(t.request.method == "POST")
        #expect(t.request.path == "/orders")
        #expect(t.request.resourceId == nil)
        #expect(t.request.host == "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com")
    }

    @Test func lambdaError502() throws {
        let t = try Fixtures.one("rest-502-lambda-error.ndjson")
        #expect(t.response.status == 502)
        #expect(t.response.body == nil)
        #expect(t.response.headers.isEmpty, "the integration's headers never reached the client")
        #expect(t.error?.hasPrefix("Lambda execution failed with status 200 due to customer function error") == true)
        #expect(t.integrationLatencyMs == 37)
        #expect(t.request.method == "POST")
        #expect(t.request.body == #"{"sku":"A-100"}"#)
    }

    @Test func malformedProxyResponse502() throws {
        let t = try Fixtures.one("rest-502-malformed-proxy-response.ndjson")
        #expect(t.response.status == 502)
        #expect(t.response.body == nil)
        #expect(t.error == "Execution failed due to configuration error: Malformed Lambda proxy response")
    }

    @Test func timeout504() throws {
        let t = try Fixtures.one("rest-504-timeout.ndjson")
        #expect(t.response.status == 504)
        #expect(t.response.body == nil)
        #expect(t.error == "Execution failed due to a timeout error")
        #expect(t.endTime.value - t.startTime.value == 29_001)
    }

    @Test func authorizerDenials() throws {
        let (all, _) = try Fixtures.stitch("rest-authorizer-denied.ndjson")
        #expect(all.map(\.response.status) == [401, 403])
        #expect(all.map(\.id) == ["AuthDeny401AAAA=", "AuthDeny403BBBB="])
        #expect(all[0].error == "Unauthorized request: bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
        #expect(all[1].error?.contains("explicit deny") == true)
        #expect(all.allSatisfy { $0.response.body == nil && !$0.incomplete })
    }

    @Test func multiLineBodies() throws {
        let t = try Fixtures.one("rest-multiline-body.ndjson")
        #expect(t.request.body == "{\n  \"sku\": \"A-100\",\n  \"note\": \"line one\\nline two\"\n}")
        #expect(t.response.body == "<?xml version=\"1.0\"?>\n<order>\n  <id>42</id>\n</order>")
        #expect(t.response.headers.value("Content-Type") == "application/xml")
    }

    @Test func unparseableLinesAreCountedNotFatal() throws {
        let (all, counters) = try Fixtures.stitch("rest-unparseable-lines.ndjson")
        #expect(all.count == 1)
        #expect(counters.linesFailed == 3)
        #expect(counters.linesParsed == 18)
        #expect(all.first?.response.body == "pong")
    }

    @Test func fallbackIdIsAStableHash() {
        let id = Transaction.fallbackId(logGroup: Fixtures.restLogGroup, logStream: LogStreamName("e4da3b7fbbce2345d7772b0674a318d5"),
                                        requestId: RequestID("6b7f3e1a-2c4d-4e5f-8a9b-0c1d2e3f4a5b"))
        // Computed independently (FNV-1a 64 over the parts joined by 0xFF), so a change of algorithm is caught.
        #expect(id == "46363e52e3d45b46")
    }

    @Test func withoutExtendedIdTheHashIsTheId() throws {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        let stream = LogStreamName("e4da3b7fbbce2345d7772b0674a318d5")
        for line in ["HTTP Method: GET, Resource Path: /x", "Method completed with status: 200"] {
            s.ingest(logStream: stream, timestamp: EpochMillis(5), message: "(6b7f3e1a-2c4d-4e5f-8a9b-0c1d2e3f4a5b) " + line) { out.append($0) }
        }
        s.flushAll { out.append($0) }
        #expect(out.map(\.id) == ["46363e52e3d45b46"])
    }
}

@Suite struct LineClassificationTests {
    func fact(_ text: String) -> String {
        var result = "unparsed"
        _ = Array(("(r) " + text).utf8).withUnsafeBytes { bytes in
            TextExecutionLogFormat().parse(bytes) { line in
                switch line.fact {
                case .failure: result = "failure"
                case .terminalFailure(_, let status): result = "terminal \(status)"
                case .throttled(_, let m, let r):
                    result = "throttled \(String(decoding: m, as: UTF8.self)) \(String(decoding: r, as: UTF8.self))"
                case .gatewayResponse(_, let status): result = "gateway \(status)"
                case .usagePlanMethod(_, let m, let p, let denied):
                    result = "usage plan \(String(decoding: m, as: UTF8.self))|\(String(decoding: p, as: UTF8.self))\(denied ? " denied" : "")"
                case .endpointRequestBody: result = "endpoint request body"
                case .xrayTraceId(let v): result = "xray \(String(decoding: v, as: UTF8.self))"
                case .completed(let status): result = "completed \(status)"
                case .integrationResponse(let ms): result = "latency \(ms.map(String.init) ?? "nil")"
                case .httpMethod: result = "method"
                case .other: result = "other"
                default: result = "data"
                }
            }
        }
        return result
    }

    @Test func failureAndTimingLines() {
        #expect(fact("Key throttle limit exceeded for RestApi a, Stage s, Resource /r, HttpMethod GET. Limit: 1.00 Burst: 1") == "throttled GET /r")
        #expect(fact("Lambda execution failed with status 200 due to customer function error: boom") == "failure")
        #expect(fact("Execution failed due to configuration error: Malformed Lambda proxy response") == "failure")
        #expect(fact("Execution failed due to a timeout error") == "failure")
        #expect(fact("Unauthorized request: 1234") == "terminal 401")
        #expect(fact("Request body does not match model schema for content type application/json: [object has missing required properties]") == "terminal 400")
        #expect(fact("Usage Plan check succeeded for API Key abc") == "other")
        #expect(fact("Successfully completed execution") == "other")
        #expect(fact("Method completed with status: 200") == "completed 200")
        #expect(fact("Method completed with status: oops") == "other")
        #expect(fact("Received response. Status: 200, Integration latency: 20 ms") == "latency 20")
        #expect(fact("Received response. Integration latency: 40 ms") == "latency 40")
        #expect(fact("HTTP Method: GET, Resource Path: /x") == "method")
    }

    @Test func gatewayTerminalLines() {
        #expect(fact("Execution failed due to configuration error: Authorizer error") == "terminal 500")
        #expect(fact("Execution failed due to an authorizer error: User is not authorized to access this resource with an explicit deny") == "terminal 403")
        #expect(fact("Execution failed due to an authorizer error: boom") == "terminal 500")
        #expect(fact("AuthorizerConfigurationException") == "terminal 500")
        #expect(fact("Authorizer error") == "terminal 500")
        #expect(fact("User is not authorized to access this resource") == "terminal 403")
        #expect(fact("User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:x") == "terminal 403")
        #expect(fact("API Key **ab12cd not authorized because method 'GET /' requires API Key and API Key is not associated with a Usage Plan for API Stage a/b: No Usage Plan found for key and API Stage") == "usage plan GET|/ denied")
        #expect(fact("API Key **ab12cd authorized because method 'GET /' does not require API Key. Request will not contribute to throttle or quota limits") == "usage plan GET|/")
        // Published forms: an empty key prints two spaces; ANY is the method resource's wildcard, not a method.
        #expect(fact("API Key  authorized because method 'ANY /{resource+}' does not require API Key. Request will not contribute to throttle or quota limits") == "usage plan |/{resource+}")
        #expect(fact("API Key **ab12cd not authorized because method 'POST /pets/{petId}' requires API Key") == "usage plan POST|/pets/{petId} denied")
        // A quote that never closes (a cut line) names nothing; a denial without the quoted method is still a 403.
        #expect(fact("API Key **ab12cd not authorized because method 'POST /pets/12") == "usage plan | denied")
        #expect(fact("API Key **ab12cd not authorized for this stage") == "terminal 403")
        #expect(fact("API Key  authorized because method 'get /x' does not require API Key") == "usage plan |")
        #expect(fact("Endpoint request body after transformations: {}") == "endpoint request body")
        #expect(fact("Missing required request parameters: [petId]") == "terminal 400")
        #expect(fact("Gateway response type: AUTHORIZER_CONFIGURATION_ERROR with status code: 500") == "gateway 500")
        #expect(fact("Gateway response type: DEFAULT_4XX") == "other")
        #expect(fact("Key throttle limit exceeded for RestApi uwe3g5jm54, Stage Prod, Resource k0w8mc, HttpMethod POST. Limit: 1.00 Burst: 1") == "throttled POST k0w8mc")
        #expect(fact("Key throttle limit exceeded") == "throttled  ")
        // AWS documents that the request is then served without usage-plan limits: not a failure.
        #expect(fact("Usage Plan check failed due to an internal error") == "other")
    }

    @Test func xrayIdForms() {
        #expect(fact("X-ray Tracing ID : 1-5c755b5d-07b29b94e632d3da19d88789") == "xray 1-5c755b5d-07b29b94e632d3da19d88789")
        #expect(fact("X-ray Tracing ID : Root=1-5c755b5d-07b29b94e632d3da19d88789;Parent=61e6466ca210cdf8;Sampled=1") == "xray 1-5c755b5d-07b29b94e632d3da19d88789")
        #expect(fact("X-ray Tracing ID: Root=1-5c755b5d-07b29b94e632d3da19d88789 ") == "xray 1-5c755b5d-07b29b94e632d3da19d88789")
    }

    @Test func requestIdPrefixIsRequired() {
        let format = TextExecutionLogFormat()
        for message in ["", "()", "(abc)x", "no prefix", "(" + String(repeating: "a", count: 200) + ") text", "(a b) text"] {
            let parsed = Array(message.utf8).withUnsafeBytes { format.parse($0) { _ in } }
            #expect(!parsed, "\(message.prefix(20))")
        }
    }
}

/// `mark()` / `rollBack(to:)` / `commit()`: what a warm `awslogs` sandbox uses to undo a delivery UAP refused.
@Suite struct StitcherRollBackTests {
    func feed(_ s: inout RESTExecutionLogStitcher<TextExecutionLogFormat>, _ events: ArraySlice<Fixtures.Event>) -> [Transaction] {
        var out: [Transaction] = []
        for e in events { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        s.finishWindow { out.append($0) }
        return out
    }

    @Test func aRolledBackSpanLeavesNoTraceAndReplaysTheSame() throws {
        var events: [Fixtures.Event] = []
        for name in ["rest-interleaved-requests.ndjson", "rest-truncated-bodies.ndjson", "rest-lines-after-end-marker.ndjson",
                     "rest-incomplete-window-1.ndjson"] {
            events += try Fixtures.events(name)
        }
        events.sort { $0.timestamp.value < $1.timestamp.value }
        // Few remembered ids, so that the marked span evicts some and must put them back.
        var options = StitcherOptions()
        options.maxTombstones = 3
        for cut in stride(from: 1, to: events.count - 1, by: max(1, events.count / 9)) {
            var straight = Fixtures.stitcher(options: options)
            let expected = feed(&straight, events[0..<cut]).map(\.id) + feed(&straight, events[cut...]).map(\.id)

            var s = Fixtures.stitcher(options: options)
            let before = feed(&s, events[0..<cut]).map(\.id)
            let state = s.exportState()
            let mark = s.mark()
            let refused = feed(&s, events[cut...])
            s.rollBack(to: mark)
            #expect(s.exportState() == state, "cut \(cut): the state is the one before the mark")
            let again = s.mark()
            let replayed = feed(&s, events[cut...])
            s.commit()
            _ = again
            #expect(replayed.map(\.id) == refused.map(\.id), "cut \(cut): the replay gives what the refused delivery gave")
            #expect(before + replayed.map(\.id) == expected, "cut \(cut): the same as without a rollback")
            #expect(s.tombstones.count == min(options.maxTombstones, s.tombstones.queued))
        }
    }
}
