// HTTP API access-log records: one JSON record, one discovery-only transaction; `-` is missing; non-JSON is counted.
import Core
import Testing
@testable import Traffic

@Suite struct HTTPAccessLogTests {
    func mapFixture() throws -> ([Transaction], TrafficCounters) {
        var mapper = HTTPAccessLogMapper(logGroup: LogGroupName("http-logs"), region: Fixtures.region, accountId: Fixtures.account,
                                         apiId: "p3t5s7a9b1", stage: "$default")
        var out: [Transaction] = []
        for e in try Fixtures.events("http-api-access-log.ndjson") {
            if let t = mapper.map(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append(t) }
        }
        return (out, mapper.counters)
    }

    @Test func consoleDefaultFormat() throws {
        let (all, counters) = try mapFixture()
        #expect(all.count == 3)
        #expect(counters.linesParsed == 3)
        #expect(counters.linesFailed == 2)
        let t = all[0]
        #expect(t.source.type == .httpAccessLog)
        #expect(t.source.apiId == "p3t5s7a9b1")
        #expect(t.requestId.rawValue == "Vx1aBcDeFgHiJkA=")
        #expect(t.id == "02187e4d59263c47")
        #expect(t.request.method == "GET")
        #expect(t.request.path == "/pets/{id}")
        #expect(t.request.httpVersion == "HTTP/1.1")
        #expect(t.request.clientIp == "203.0.113.9")
        #expect(t.request.host == "p3t5s7a9b1.execute-api.eu-west-2.amazonaws.com")
        #expect(t.request.headers == [NameValuePair("cq-discovery-only", "true")])
        #expect(t.request.body == #"{"cq-endpoints-only":"true"}"#)
        #expect(t.response.status == 200)
        #expect(t.response.contentLength == 87)
        #expect(t.response.body == nil)
        // 24/Nov/2025:10:15:00 +0000
        #expect(t.startTime == EpochMillis(1_763_979_300_000))
    }

    @Test func richerFormatWins() throws {
        let (all, _) = try mapFixture()
        let t = all[1]
        #expect(t.id == "Vx1aBcDeFgHiJkB=")
        #expect(t.request.path == "/pets")
        #expect(t.request.host == "pets.example.com")
        #expect(t.request.httpVersion == "HTTP/2.0")
        #expect(t.startTime == EpochMillis(1_764_000_001_234))
        #expect(t.endTime == EpochMillis(1_764_000_001_269))
        #expect(t.integrationLatencyMs == 31)
        #expect(t.responseLatencyMs == 35)
        #expect(t.source.apiId == "k8s9t0u1v2")
        #expect(t.response.status == 201)
    }

    @Test func dashMeansMissing() throws {
        let (all, _) = try mapFixture()
        let t = all[2]
        #expect(t.request.clientIp == nil)
        #expect(t.request.httpVersion == nil)
        #expect(t.request.path == nil)
        #expect(t.response.contentLength == nil)
        #expect(t.response.status == 404)
        // No time in the record: the event's timestamp.
        #expect(t.startTime == EpochMillis(1_764_000_002_000))
    }

    @Test func commonLogTime() {
        #expect(HTTPAccessLogMapper.parseCommonLogTime("26/Feb/2019:15:29:33 +0000") == EpochMillis(1_551_194_973_000))
        #expect(HTTPAccessLogMapper.parseCommonLogTime("26/Feb/2019:16:29:33 +0100") == EpochMillis(1_551_194_973_000))
        #expect(HTTPAccessLogMapper.parseCommonLogTime("26/Foo/2019:15:29:33 +0000") == nil)
        #expect(HTTPAccessLogMapper.parseCommonLogTime("-") == nil)
    }

    @Test func notJSONIsAFailureNotACrash() {
        var mapper = HTTPAccessLogMapper(logGroup: LogGroupName("g"), region: Fixtures.region, accountId: nil, apiId: nil, stage: nil)
        for message in ["", "[1,2]", "{\"ip\":\"1.2.3.4\"}", "{{{{", String(repeating: "[", count: 10_000)] {
            #expect(mapper.map(logStream: LogStreamName("s"), timestamp: EpochMillis(0), message: message) == nil)
        }
        #expect(mapper.counters.linesFailed == 5)
    }
}
