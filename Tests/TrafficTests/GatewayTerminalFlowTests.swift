// Requests the gateway answers itself (authorizer, policy, API key, validation, throttling): real logs often end them
// without `Method completed with status`, and they must still come out at the end of the window they were read in.
import AWS
import Pipeline
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
        // The authorizer runs before `HTTP Method` is logged: the log does not say which method or path.
        #expect(t.request.method == nil)
        #expect(t.request.path == nil)
        #expect(t.response.body == nil)
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
