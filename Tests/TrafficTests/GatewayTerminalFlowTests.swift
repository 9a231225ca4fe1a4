// Requests the gateway answers itself (authorizer, policy, API key, validation, throttling): real logs often end them
// without `Method completed with status`, and they must still come out at the end of the window they were read in.
import AWS
import Core
import Testing
@testable import Traffic

@Suite struct GatewayTerminalFlowTests {
    /// One window as the tick reads it: ingest, then `finishWindow`; never `flushAll`, which would hide requests that
    /// only an incomplete flush lets out.
    static func window(_ name: String, options: StitcherOptions = StitcherOptions()) throws -> (out: [Transaction], open: Int) {
        var s = Fixtures.stitcher(options: options)
        var out: [Transaction] = []
        for e in try Fixtures.events(name) { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        s.finishWindow { out.append($0) }
        return (out, s.pendingCount)
    }

    static func one(_ name: String, options: StitcherOptions = StitcherOptions()) throws -> Transaction {
        let (out, open) = try window(name, options: options)
        #expect(open == 0, "\(name): nothing may be carried as an open request")
        try #require(out.count == 1, "\(name): \(out.count) transactions")
        return out[0]
    }

    @Test func realAuthorizerUnauthorizedIsA401WithoutEndMarker() throws {
        let t = try Self.one("real-rest-authorizer-unauthorized-401.ndjson")
        #expect(t.response.status == 401)
        #expect(!t.incomplete)
        #expect(t.error == "Unauthorized request: 29d2b4df-26da-4cae-aeca-f9ef6c338d88")
        #expect(t.id == "fhxNLG5IywMFrSw=")
        // The authorizer runs before `HTTP Method` is logged; its event (REQUEST type: `httpMethod`, `path`, and the
        // `methodArn` `.../ESTestInvoke-stage/GET/`) is the only line that says what the request was.
        #expect(t.request.method == "GET")
        #expect(t.request.path == "/")
        #expect(t.response.body == nil)
        #expect(t.truncatedLines == 1, "the event line was cut at 1 KiB after the values that are read")
    }

    @Test func realTokenAuthorizerRequestKeepsItsLoggedMethodAndPath() throws {
        let t = try Self.one("real-rest-token-authorizer-200.ndjson")
        #expect(t.response.status == 200)
        // The authorizer's methodArn says GET /user_info and the usage-plan line `ANY /{resource+}`: neither replaces
        // the `HTTP Method` line, which comes later.
        #expect(t.request.method == "GET")
        #expect(t.request.path == "/user_info")
        #expect(t.response.body == #"{"ip_address": "89.64.28.236"}"#)
    }

    @Test func tokenAuthorizerDenialGetsMethodAndPathFromTheMethodArn() throws {
        let (out, open) = try Self.window("rest-token-authorizer-401.ndjson")
        #expect(open == 0)
        try #require(out.count == 2)
        #expect(out.map(\.response.status) == [401, 401])
        #expect(out[0].request.method == "GET")
        #expect(out[0].request.path == "/user_info", "the methodArn's path after apiId/stage/METHOD")
        // Cut inside the methodArn: half an ARN names neither method nor path.
        #expect(out[1].request.method == nil)
        #expect(out[1].request.path == nil)
        #expect(out[1].truncatedLines == 1)
    }

    @Test func usagePlanDenialsNameTheMethodResource() throws {
        let (out, open) = try Self.window("rest-usage-plan-method-403.ndjson")
        #expect(open == 0)
        try #require(out.count == 3)
        #expect(out.map(\.response.status) == [403, 403, 403])
        #expect(out[0].request.method == "POST")
        #expect(out[0].request.path == "/orders/{orderId}", "the resource path, a template")
        #expect(out[0].error?.hasPrefix("API Key **********ab12cd not authorized because method 'POST /orders/{orderId}'") == true)
        #expect(out[1].request.method == nil, "ANY is not a method")
        #expect(out[1].request.path == "/{proxy+}")
        // The authorizer ran first and named the request itself: it wins over the method resource's template.
        #expect(out[2].request.method == "GET")
        #expect(out[2].request.path == "/pets/7")
    }

    @Test func ordinaryRequestsNeverHaveTheirLoggedMethodOrPathReplaced() throws {
        let (out, open) = try Self.window("rest-method-hints-never-replace.ndjson")
        #expect(open == 0)
        try #require(out.count == 2)
        #expect(out[0].request.method == "POST")
        #expect(out[0].request.path == "/orders/42")
        #expect(out[1].request.method == "PUT")
        #expect(out[1].request.path == "/pets/9")
        // Every fixture request that logged `HTTP Method: X, Resource Path: /p` keeps exactly X and /p.
        for name in EncodingTests.allRESTFixtures {
            var logged: [String: (String, String)] = [:]
            for e in try Fixtures.events(name) {
                guard let open = e.message.firstIndex(of: ")"), let range = e.message.range(of: ") HTTP Method: ") else { continue }
                let id = String(e.message[e.message.index(after: e.message.startIndex)..<open])
                let rest = e.message[range.upperBound...]
                guard let comma = rest.range(of: ", Resource Path: ") else { continue }
                if logged[id] == nil { logged[id] = (String(rest[..<comma.lowerBound]), String(rest[comma.upperBound...])) }
            }
            for t in try Fixtures.stitch(name).0 {
                guard let (method, path) = logged[t.requestId.rawValue] else { continue }
                #expect(t.request.method == method, "\(name) \(t.requestId.rawValue)")
                #expect(t.request.path == path, "\(name) \(t.requestId.rawValue)")
            }
        }
    }

    @Test func authorizerEventsAreReadOnlyWhenCompleteAndPreferTheRequestPath() {
        func stitched(_ lines: [String]) -> Transaction? {
            var s = Fixtures.stitcher()
            var out: [Transaction] = []
            feed(&s, lines.map { (10, "(r1) " + $0) } + [(10, "(r1) Unauthorized request: r1")], into: &out)
            s.finishWindow { out.append($0) }
            return out.first
        }
        let arn = "arn:aws:execute-api:eu-west-2:123456789012:a1b2c3d4e5/prod"
        // A REQUEST event's `path` is the request's path; it wins over the ARN's.
        var t = stitched([#"Endpoint request body after transformations: {"type":"REQUEST","methodArn":"\#(arn)/GET/pets/7","resource":"/pets/{id}","path":"/v1/pets/7","httpMethod":"GET"}"#])
        #expect(t?.request.method == "GET")
        #expect(t?.request.path == "/v1/pets/7")
        // A `path` nested in another object is not the event's.
        t = stitched([#"Endpoint request body after transformations: {"type":"TOKEN","headers":{"path":"/evil"},"methodArn":"\#(arn)/DELETE/orders/1"}"#])
        #expect(t?.request.method == "DELETE")
        #expect(t?.request.path == "/orders/1")
        // A cut `path` value falls back to the ARN's path.
        t = stitched([#"Endpoint request body after transformations: {"type":"REQUEST","methodArn":"\#(arn)/GET/pets/7","path":"/pets/7 [TRUNCATED]"#])
        #expect(t?.request.path == "/pets/7")
        #expect(t?.request.method == "GET")
        // Escaped values are refused, not guessed.
        t = stitched([#"Endpoint request body after transformations: {"methodArn":"arn:aws:execute-api:r:a:i\/prod\/GET\/x"}"#])
        #expect(t?.request.method == nil)
        #expect(t?.request.path == nil)
        // The first authorizer event wins; an integration body (no methodArn) names nothing.
        t = stitched([#"Endpoint request body after transformations: {"resource":"/x","path":"/x","httpMethod":"POST"}"#,
                      #"Endpoint request body after transformations: {"methodArn":"\#(arn)/PATCH/first"}"#,
                      #"Endpoint request body after transformations: {"methodArn":"\#(arn)/GET/second"}"#])
        #expect(t?.request.method == "PATCH")
        #expect(t?.request.path == "/first")
    }

    @Test func stateCarriesMethodAndPathHints() throws {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) API Key **ab12cd authorized because method 'GET /pets/{petId}' does not require API Key."),
                  (10, #"(r1) Endpoint request body after transformations: {"methodArn":"arn:aws:execute-api:r:1:a/s/GET/pets/3"}"#)],
             into: &out)
        var restored = Fixtures.stitcher()
        try restored.restoreState(s.exportState())
        // A usage-plan line after the restore must not displace the authorizer's hint.
        feed(&restored, [(11, "(r1) API Key **ab12cd not authorized because method 'POST /other' requires API Key")], into: &out)
        restored.finishWindow { out.append($0) }
        #expect(out.count == 1)
        #expect(out.first?.request.method == "GET")
        #expect(out.first?.request.path == "/pets/3")
        #expect(out.first?.response.status == 403)
    }

    @Test func realAuthorizerConfigurationErrorsAre500() throws {
        let (out, open) = try Self.window("real-rest-authorizer-configuration-error-500.ndjson")
        #expect(open == 0)
        try #require(out.count == 2)
        #expect(out.map(\.response.status) == [500, 500])
        #expect(out.allSatisfy { !$0.incomplete && $0.response.body == nil })
        // The first failure is the cause; `Authorizer error` and the gateway response follow from it.
        #expect(out[0].error == "Execution failed due to configuration error: Invalid permissions on Lambda function")
        #expect(out[0].endTime.value == 1_593_704_071_882)
        #expect(out[1].error?.hasPrefix("Execution failed due to configuration error: API Gateway does not have permission") == true)
    }

    @Test func realKeyThrottleNamesMethodAndResourceId() throws {
        let t = try Self.one("real-rest-key-throttle-429.ndjson")
        #expect(t.response.status == 429)
        #expect(!t.incomplete)
        #expect(t.request.method == "POST")
        #expect(t.request.resourceId == "k0w8mc")
        #expect(t.request.path == nil, "only discovery knows which path k0w8mc is")
        #expect(t.error?.hasPrefix("Key throttle limit exceeded for RestApi uwe3g5jm54, Stage Prod, Resource k0w8mc") == true)
        #expect(t.id == "Vts2FFmArPEFh8g=")
    }

    @Test func discoveredResourcePathsFillThePath() throws {
        let options = StitcherOptions(resourcePaths: ["k0w8mc": "/verifyReceipt"])
        let t = try Self.one("real-rest-key-throttle-429.ndjson", options: options)
        #expect(t.request.path == "/verifyReceipt")
        #expect(t.request.resourceId == "k0w8mc")
        let encoded = String(decoding: t.jsonBytes, as: UTF8.self)
        #expect(encoded.contains(#""resourceId":"k0w8mc""#))
    }

    @Test func throttleWithoutEndMarkerIsStillA429() throws {
        let t = try Self.one("rest-key-throttle-429-without-end-marker.ndjson")
        #expect(t.response.status == 429)
        #expect(!t.incomplete)
        #expect(t.request.method == "POST")
        #expect(t.request.resourceId == "k0w8mc")
    }

    @Test func validationFailureIsA400EvenWhenLoggedBeforeTheMethodLine() throws {
        let (out, open) = try Self.window("rest-request-validation-400.ndjson")
        #expect(open == 0)
        try #require(out.count == 2)
        for t in out {
            #expect(t.response.status == 400)
            #expect(!t.incomplete)
            #expect(t.request.method == "POST")
            #expect(t.request.path == "/users")
            #expect(t.error?.hasPrefix("Request body does not match model schema for content type application/json") == true)
        }
        #expect(out.map(\.id) == ["Validation400AAA=", "Validation400BBB="])
        #expect(out[0].request.body == #"{"firstName":"Ada","lastName":"Lovelace"}"#)
    }

    @Test func apiKeyNotAuthorizedIsA403() throws {
        let t = try Self.one("rest-api-key-not-authorized-403.ndjson")
        #expect(t.response.status == 403)
        #expect(!t.incomplete)
        // `... because method 'GET /' requires API Key ...`: the only line that names the method and resource.
        #expect(t.request.method == "GET")
        #expect(t.request.path == "/")
        #expect(t.error?.contains("requires API Key and API Key is not associated with a Usage Plan") == true)
    }

    @Test func resourcePolicyAndAuthorizerDenyAre403() throws {
        let (out, open) = try Self.window("rest-policy-and-authorizer-deny-403.ndjson")
        #expect(open == 0)
        #expect(out.map(\.response.status) == [403, 403])
        #expect(out.allSatisfy { !$0.incomplete })
        #expect(out.first?.error?.hasPrefix("User: anonymous is not authorized to perform: execute-api:Invoke") == true)
        #expect(out.last?.error == "User is not authorized to access this resource with an explicit deny")
    }

    @Test func wafFilteredIsA403() throws {
        let t = try Self.one("rest-waf-filtered-403.ndjson")
        #expect(t.response.status == 403)
        #expect(!t.incomplete)
        #expect(t.error == "Gateway response type: WAF_FILTERED with status code: 403")
    }

    @Test func constructedDenialsWithEndMarkersKeepTheLoggedStatus() throws {
        let (out, open) = try Self.window("rest-authorizer-denied.ndjson")
        #expect(open == 0)
        #expect(out.map(\.response.status) == [401, 403])
    }

    // MARK: the logged status, holding and tombstones

    func feed(_ s: inout RESTExecutionLogStitcher<TextExecutionLogFormat>, _ lines: [(Int64, String)], into out: inout [Transaction]) {
        for (ts, line) in lines { s.ingest(logStream: LogStreamName("s"), timestamp: EpochMillis(ts), message: line) { out.append($0) } }
    }

    @Test func aLoggedStatusArrivingWhileHeldWinsOverTheInferredOne() {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) Extended Request Id: held="), (10, "(r1) Unauthorized request: r1"),
                  (11, "(r1) Method completed with status: 403")], into: &out)
        #expect(out.isEmpty, "held for trailers")
        s.finishWindow { out.append($0) }
        #expect(out.map(\.response.status) == [403])
        #expect(out.first?.endTime.value == 11)
        #expect(out.first?.error == "Unauthorized request: r1")
    }

    @Test func aLaterEndMarkerForAnEmittedRequestIsAbsorbed() {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) Extended Request Id: once="), (10, "(r1) Unauthorized request: r1")], into: &out)
        s.finishWindow { out.append($0) }
        #expect(out.count == 1)
        feed(&s, [(10, "(r1) Method completed with status: 401"), (10, "(r1) X-ray Tracing ID : 1-5c755b5d-07b29b94e632d3da19d88789")],
             into: &out)
        s.finishWindow { out.append($0) }
        s.flushAll { out.append($0) }
        #expect(out.count == 1)
        #expect(s.counters.linesAfterEmission == 2)
    }

    @Test func anOpenerLoggedAfterTheTerminalLineBelongsToTheSameRequest() {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) Unauthorized request: r1"), (10, "(r1) Extended Request Id: late="),
                  (10, "(r1) Starting execution for request: r1")], into: &out)
        s.finishWindow { out.append($0) }
        #expect(out.count == 1)
        #expect(out.first?.id == "late=")
        #expect(out.first?.response.status == 401)
    }

    @Test func integrationFailuresStillWaitForTheLoggedStatus() {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) Extended Request Id: slow="), (10, "(r1) HTTP Method: GET, Resource Path: /slow"),
                  (29_010, "(r1) Execution failed due to a timeout error")], into: &out)
        s.finishWindow { out.append($0) }
        #expect(out.isEmpty, "a timeout is not the end of the request: `Method completed with status: 504` follows")
        feed(&s, [(29_010, "(r1) Method completed with status: 504")], into: &out)
        s.finishWindow { out.append($0) }
        #expect(out.map(\.response.status) == [504])
    }

    @Test func stateCarriesTheStatusSourceAndThrottleHints() throws {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        feed(&s, [(10, "(r1) Key throttle limit exceeded for RestApi a, Stage s, Resource k0w8mc, HttpMethod POST. Limit: 1.00 Burst: 1")],
             into: &out)
        var restored = Fixtures.stitcher()
        try restored.restoreState(s.exportState())
        feed(&restored, [(10, "(r1) Method completed with status: 429")], into: &out)
        restored.finishWindow { out.append($0) }
        #expect(out.count == 1)
        #expect(out.first?.request.method == "POST")
        #expect(out.first?.request.resourceId == "k0w8mc")
        #expect(out.first?.response.status == 429)
    }

    // MARK: X-ray ids

    @Test func bothXrayFormsGiveTheSameTraceId() throws {
        let (out, _) = try Self.window("rest-xray-trace-id-forms.ndjson")
        #expect(out.map(\.xrayTraceId) == ["1-5c755b5d-07b29b94e632d3da19d88789", "1-5c755b5d-07b29b94e632d3da19d88789"])
    }
}
