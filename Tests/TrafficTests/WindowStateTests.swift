// Requests open at the end of a window: exported with the checkpoint, restored, completed in the next window.
import Core
import Testing
@testable import Traffic

@Suite struct WindowStateTests {
    func run(_ s: inout RESTExecutionLogStitcher<TextExecutionLogFormat>, _ fixture: String) throws -> [Transaction] {
        var out: [Transaction] = []
        for e in try Fixtures.events(fixture) { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        return out
    }

    @Test func incompleteRequestCarriedAcrossTwoWindows() throws {
        var first = Fixtures.stitcher()
        var emitted = try run(&first, "rest-incomplete-window-1.ndjson")
        first.finishWindow { emitted.append($0) }
        #expect(emitted.isEmpty)
        #expect(first.pendingCount == 1)
        let state = first.exportState()

        var second = Fixtures.stitcher()
        try second.restoreState(state)
        #expect(second.pendingCount == 1)
        emitted = try run(&second, "rest-incomplete-window-2.ndjson")
        second.finishWindow { emitted.append($0) }
        #expect(emitted.count == 1)
        let t = try #require(emitted.first)
        #expect(t.id == "CarriedAcross00=")
        #expect(t.request.method == "PATCH")
        #expect(t.request.path == "/carts/7")
        #expect(t.request.query == [NameValuePair("expand", "items")])
        #expect(t.request.body == #"{"qty":3}"#)
        #expect(t.request.host == "api.example.com")
        #expect(t.response.status == 200)
        #expect(t.response.body == #"{"cart":7,"qty":3}"#)
        #expect(t.integrationLatencyMs == 900)
        #expect(t.startTime.value == 1_764_000_000_000)
        #expect(!t.incomplete)

        // The same request stitched in one go gives the same transaction.
        let (whole, _) = try Fixtures.stitch("rest-incomplete-window-1.ndjson", "rest-incomplete-window-2.ndjson")
        #expect(whole.first { $0.id == t.id } == t)

        // The other request never finishes: out as incomplete at end of input, after another round trip of state.
        var third = Fixtures.stitcher()
        try third.restoreState(second.exportState())
        var rest: [Transaction] = []
        third.flushAll { rest.append($0) }
        #expect(rest.count == 1)
        let open = try #require(rest.first)
        #expect(open.incomplete)
        #expect(open.id == "NeverFinished00=")
        #expect(open.request.path == "/carts/8")
        #expect(open.response.status == nil)
        #expect(third.counters.transactionsIncomplete == 1)
    }

    @Test func flushIncompleteOnlyTakesOldRequests() throws {
        var s = Fixtures.stitcher()
        let stream = LogStreamName("s1")
        var out: [Transaction] = []
        s.ingest(logStream: stream, timestamp: EpochMillis(1_000), message: "(old) HTTP Method: GET, Resource Path: /old") { out.append($0) }
        s.ingest(logStream: stream, timestamp: EpochMillis(60_000), message: "(new) HTTP Method: GET, Resource Path: /new") { out.append($0) }
        s.flushIncomplete(olderThan: EpochMillis(30_000)) { out.append($0) }
        #expect(out.map(\.request.path) == ["/old"])
        #expect(out.allSatisfy { $0.incomplete })
        #expect(s.pendingCount == 1)
        // A late line of the flushed request is absorbed, not turned into a second transaction.
        s.ingest(logStream: stream, timestamp: EpochMillis(61_000), message: "(old) Method completed with status: 200") { out.append($0) }
        s.flushAll { out.append($0) }
        #expect(out.map(\.request.path) == ["/old", "/new"])
        #expect(s.counters.linesAfterEmission == 1)
    }

    @Test func emittedIdsSurviveTheCheckpointSoLateTrailersStayAbsorbed() throws {
        var first = Fixtures.stitcher()
        var out = try run(&first, "rest-200-post-lambda-proxy.ndjson")
        first.finishWindow { out.append($0) }
        #expect(out.count == 1)
        var second = Fixtures.stitcher()
        try second.restoreState(first.exportState())
        second.ingest(logStream: LogStreamName("e4da3b7fbbce2345d7772b0674a318d5"), timestamp: EpochMillis(1_764_000_000_021),
                      message: "(6b7f3e1a-2c4d-4e5f-8a9b-0c1d2e3f4a5b) X-ray Tracing ID : 1-late") { out.append($0) }
        second.flushAll { out.append($0) }
        #expect(out.count == 1)
        #expect(second.counters.linesAfterEmission == 1)
    }

    @Test func trailerOnlyFragmentsAreDroppedNotEmitted() {
        var s = Fixtures.stitcher()
        var out: [Transaction] = []
        s.ingest(logStream: LogStreamName("s"), timestamp: EpochMillis(1), message: "(lost) X-ray Tracing ID : 1-abc") { out.append($0) }
        s.flushAll { out.append($0) }
        #expect(out.isEmpty)
        #expect(s.counters.fragmentsDropped == 1)
    }

    @Test func badStateIsReportedWithTheLogGroup() {
        var s = Fixtures.stitcher()
        #expect(throws: StitcherStateError.self) { try s.restoreState(Array("not json".utf8)) }
        #expect(throws: StitcherStateError.self) { try s.restoreState(Array(#"{"version":99,"requests":[],"emitted":[]}"#.utf8)) }
        #expect(throws: StitcherStateError.self) {
            try s.restoreState(Array(#"{"version":1,"logGroup":"other","requests":[],"emitted":[]}"#.utf8))
        }
        do {
            try s.restoreState(Array(#"{"version":1,"requests":[{"requestId":"x"}],"emitted":[]}"#.utf8))
            Issue.record("restore should have failed")
        } catch {
            #expect(error.description.contains("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"))
        }
    }
}
