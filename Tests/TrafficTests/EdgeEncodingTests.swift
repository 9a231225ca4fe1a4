// The UAP Edge encoding: fixtures against docs/edge-transaction.schema.json, golden objects decoded back to the logged
// values, request targets, what cannot be expressed, the batch envelope, and a round-trip property over random input.
import AWS
import Foundation
import HTTP
import Core
import PropertyBased
import Testing
@testable import Traffic

@Suite struct EdgeEncodingTests {
    static let options = EdgeEncodingOptions(toolVersion: "9.9.9-test")
    static let edge = TransactionEncoding.edge(options)

    static func edgeObject(_ t: Transaction) throws -> JSONValue {
        var out: [UInt8] = []
        var dropped = 0
        let reason = t.encodeEdge(into: &out, options: options, droppedHeaders: &dropped)
        #expect(reason == nil, "\(t.id) cannot be expressed: \(String(describing: reason))")
        return try JSONReader.parse(out)
    }

    /// Every transaction the fixtures produce.
    static func fixtureTransactions() throws -> [Transaction] {
        var all: [Transaction] = []
        for name in EncodingTests.allRESTFixtures { all += try Fixtures.stitch(name).0 }
        var mapper = HTTPAccessLogMapper(logGroup: LogGroupName("http-logs"), region: Fixtures.region, accountId: nil, apiId: nil, stage: nil)
        for e in try Fixtures.events("http-api-access-log.ndjson") {
            if let t = mapper.map(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { all.append(t) }
        }
        return all
    }

    /// Every fixture transaction encoded as Edge objects, one per line; and how many were left out.
    static func encodedFixtures() throws -> (ndjson: [UInt8], lines: Int, counters: EncodingCounters) {
        var out: [UInt8] = []
        var counters = EncodingCounters()
        var lines = 0
        for t in try fixtureTransactions() where TransactionBatcher.encode(t, as: edge, into: &out, counters: &counters) {
            out.append(0x0A)
            lines += 1
        }
        return (out, lines, counters)
    }

    /// `"name:base64"` strings decoded to (name, value bytes).
    static func headers(_ value: JSONValue?) throws -> [(String, [UInt8])] {
        try (value?.arrayValue ?? []).map { item in
            let text = try #require(item.stringValue)
            let colon = try #require(text.firstIndex(of: ":"))
            let decoded = try #require(Base64.decode(Array(text[text.index(after: colon)...].utf8)), "bad base64 in \(text)")
            return (String(text[..<colon]), decoded)
        }
    }

    static func body(_ value: JSONValue?) throws -> [UInt8] {
        let data = try #require(value?["data"]?.stringValue)
        let bytes = try #require(Base64.decode(Array(data.utf8)))
        #expect(value?["length"]?.int64Value == Int64(bytes.count), "length must be the decoded byte count")
        return bytes
    }

    static func schema() throws -> JSONValue {
        try JSONReader.parse([UInt8](try Data(contentsOf: EncodingTests.docs.appendingPathComponent("edge-transaction.schema.json"))))
    }

    // MARK: schema

    @Test func everyFixtureEncodesAndMatchesTheEdgeSchemaStructurally() throws {
        let schema = try Self.schema()
        let (ndjson, lines, counters) = try Self.encodedFixtures()
        #expect(lines > 30)
        // Exactly the transactions without a method, a path or a status are left out, each counted under its reason.
        var expected: [String: Int] = [:]
        for t in try Self.fixtureTransactions() {
            if t.request.method == nil { expected["no-method", default: 0] += 1 }
            else if t.request.path == nil { expected["no-path", default: 0] += 1 }
            else if t.response.status == nil { expected["no-status", default: 0] += 1 }
        }
        #expect(counters.notEncoded == expected)
        #expect(counters.notEncodedTotal < 20, "most fixture transactions can be expressed: \(counters.notEncoded)")
        var problems: [String] = []
        for line in ndjson.split(separator: 0x0A) {
            EncodingTests.check(try JSONReader.parse(Array(line)), against: schema, root: schema, path: "$", problems: &problems)
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
    }

    /// What the Edge double checks beyond the schema (base64, lengths, addresses), as a Python `semantic(t)`; a caller
    /// may append more indented lines to it.
    static let doubleChecks = """
        import base64, ipaddress
        def semantic(t):
            for side in ("request", "response"):
                for h in t[side]["headers"]:
                    name, _, value = h.partition(":")
                    base64.b64decode(value, validate=True)
                body = t[side]["body"]
                assert len(base64.b64decode(body["data"], validate=True)) == body["length"], "length"
            ipaddress.ip_address(t["request"]["connection"]["connection-ip"])
            ipaddress.ip_address(t["request"]["connection"]["server-ip"])
            if "client-ip" in t["request"]: ipaddress.ip_address(t["request"]["client-ip"])
        """

    @Test func everyFixtureValidatesWithJSONSchemaAndTheDoublesChecks() throws {
        let (ndjson, lines, _) = try Self.encodedFixtures()
        let (status, output) = try EncodingTests.validateWithPython(schema: "edge-transaction.schema.json", ndjson: ndjson,
                                                                     extra: Self.doubleChecks)
        #expect(status == 0, "\(output)")
        #expect(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) == lines, "\(output)")
    }

    // MARK: golden objects

    @Test func lambdaProxyPostDecodesBackToTheLoggedValues() throws {
        let t = try Fixtures.one("rest-200-post-lambda-proxy.ndjson")
        let o = try Self.edgeObject(t)
        #expect(o["timestamp"] == .string("1764000000.000"))
        #expect(o["version"] == .string("1.0"))
        #expect(o["transaction-id"] == .string("Vts2pH6ArPEFcuQ="))
        let request = try #require(o["request"])
        #expect(request["http-method"] == .string("POST"))
        // Custom domain (Host header): the base-path mapping is not in the logs, so the path is as logged.
        #expect(request["uri-query-fragment"] == .string("/orders/42?limit=10&q=shoes"))
        #expect(request["host"] == .string("api.example.com"))
        #expect(request["http-scheme"] == .string("https"))
        #expect(request["http-version"] == nil, "REST execution logs never say")
        #expect(request["client-ip"] == .string("203.0.113.9"), "first hop of X-Forwarded-For")
        #expect(request["connection"]?["connection-ip"] == .string("54.240.1.1"), "last hop: what connected to API Gateway")
        #expect(request["connection"]?["server-ip"] == .string("0.0.0.0"))
        let requestHeaders = try Self.headers(request["headers"])
        #expect(requestHeaders.map(\.0) == t.request.headers.map(\.name))
        #expect(requestHeaders.map { String(decoding: $0.1, as: UTF8.self) } == t.request.headers.map(\.value))
        #expect(requestHeaders.first { $0.0 == "Accept" }.map { String(decoding: $0.1, as: UTF8.self) } == "application/json, text/plain, */*")
        #expect(String(decoding: try Self.body(request["body"]), as: UTF8.self) == #"{"sku":"A-100","quantity":2}"#)
        let response = try #require(o["response"])
        #expect(response["status-code"] == .string("201"))
        let responseHeaders = try Self.headers(response["headers"])
        #expect(responseHeaders.map(\.0) == t.response.headers.map(\.name))
        #expect(String(decoding: try Self.body(response["body"]), as: UTF8.self) == #"{"orderId":"42","status":"created"}"#)
        let info = try #require(o["txn-meta-data"]?["source_info"])
        #expect(info["type"] == .string("aws-apigateway-rest"))
        #expect(info["version"] == .string("9.9.9-test"))
        #expect(info["pool_id"] == .string("123456789012:eu-west-2"))
        #expect(info["instance_id"] == .string("a1b2c3d4e5/prod"))
    }

    @Test func httpAPIRecordKeepsItsDiscoveryMarkers() throws {
        var mapper = HTTPAccessLogMapper(logGroup: LogGroupName("http-logs"), region: Fixtures.region, accountId: nil, apiId: nil, stage: nil)
        let events = try Fixtures.events("http-api-access-log.ndjson")
        let t = try #require(events.lazy.compactMap { mapper.map(logStream: $0.logStream, timestamp: $0.timestamp, message: $0.message) }
            .first { $0.id == "Vx1aBcDeFgHiJkB=" })
        let o = try Self.edgeObject(t)
        #expect(o["timestamp"] == .string("1764000001.234"), "requestTimeEpoch, with its milliseconds")
        #expect(o["request"]?["uri-query-fragment"] == .string("/pets"))
        #expect(o["request"]?["host"] == .string("pets.example.com"))
        #expect(o["request"]?["http-version"] == .string("2.0"), "HTTP/2.0 from $context.protocol")
        #expect(o["request"]?["connection"]?["connection-ip"] == .string("198.51.100.23"), "sourceIp")
        let headers = try Self.headers(o["request"]?["headers"])
        #expect(headers.map(\.0) == ["cq-discovery-only"])
        #expect(headers.first.map { String(decoding: $0.1, as: UTF8.self) } == "true")
        #expect(String(decoding: try Self.body(o["request"]?["body"]), as: UTF8.self) == #"{"cq-endpoints-only":"true"}"#)
        #expect(o["response"]?["status-code"] == .string("201"))
        #expect(try Self.body(o["response"]?["body"]).isEmpty)
        #expect(o["txn-meta-data"]?["source_info"]?["instance_id"] == .string("k8s9t0u1v2/$default"))
        #expect(o["txn-meta-data"]?["source_info"]?["pool_id"] == .string("123456789012:eu-west-2"))
    }

    @Test func aTruncatedBodyIsMarkedOnItsOwnSide() throws {
        let (all, _) = try Fixtures.stitch("rest-truncated-bodies.ndjson")
        let responseCut = try #require(all.first { $0.response.bodyTruncated && !$0.request.bodyTruncated })
        let o = try Self.edgeObject(responseCut)
        let responseHeaders = try Self.headers(o["response"]?["headers"])
        let requestHeaders = try Self.headers(o["request"]?["headers"])
        #expect(responseHeaders.filter { $0.0 == "cq-body-truncated" }.map { String(decoding: $0.1, as: UTF8.self) } == ["true"])
        #expect(!requestHeaders.contains { $0.0 == "cq-body-truncated" })
        #expect(requestHeaders.contains { $0.0 == "cq-discovery-only" && $0.1 == Array("true".utf8) })
        #expect(try Self.body(o["response"]?["body"]) == responseCut.response.body?.bytes, "the marker document, not half a body")
        let requestCut = try #require(all.first { $0.request.bodyTruncated })
        let r = try Self.edgeObject(requestCut)
        #expect(try Self.headers(r["request"]?["headers"]).contains { $0.0 == "cq-body-truncated" })
    }

    // MARK: request targets

    static func transaction(host: String?, path: String, query: [NameValuePair] = [], type: TransactionSourceType = .restExecutionLog) -> Transaction {
        var request = TransactionRequest()
        request.method = "GET"
        request.host = host
        request.path = path
        request.query = query
        var response = TransactionResponse()
        response.status = 200
        let source = TransactionSource(type: type, region: AWSRegion("eu-west-2"), accountId: nil, apiId: "a1b2c3d4e5", stage: "prod",
                                       logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"), logStream: LogStreamName("s"))
        return Transaction(id: "t", source: source, requestId: RequestID("r"), startTime: EpochMillis(1_764_000_000_007),
                           endTime: EpochMillis(1_764_000_000_010), request: request, response: response)
    }

    @Test func theStageIsPutBackOnTheExecuteAPIHostOnly() throws {
        let own = try Self.edgeObject(Self.transaction(host: "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com", path: "/orders"))
        #expect(own["request"]?["uri-query-fragment"] == .string("/prod/orders"))
        let custom = try Self.edgeObject(Self.transaction(host: "api.example.com", path: "/orders"))
        #expect(custom["request"]?["uri-query-fragment"] == .string("/orders"))
        #expect(own["timestamp"] == .string("1764000000.007"))
    }

    @Test func queryValuesLoggedDecodedArePercentEncoded() throws {
        let t = Self.transaction(host: "api.example.com", path: "/search/caf\u{e9} menu", query: [
            NameValuePair("q", "a b&c=d"), NameValuePair("pct", "100%"), NameValuePair("empty", ""), NameValuePair("ü", "ß/?"),
        ])
        let o = try Self.edgeObject(t)
        #expect(o["request"]?["uri-query-fragment"] == .string("/search/caf%C3%A9%20menu?q=a%20b%26c%3Dd&pct=100%25&empty=&%C3%BC=%C3%9F/?"))
    }

    @Test func anHTTPAPIRawQueryKeepsItsEscapes() throws {
        let t = Self.transaction(host: "x.example.com", path: "/p%2Fq", query: [NameValuePair("a", "b%20c")], type: .httpAccessLog)
        #expect(try Self.edgeObject(t)["request"]?["uri-query-fragment"] == .string("/p%2Fq?a=b%20c"))
    }

    // MARK: what cannot be expressed

    @Test func aTransactionWithoutMethodPathOrStatusIsCountedNotSent() throws {
        var noMethod = Self.transaction(host: "h", path: "/a"); noMethod.request.method = nil
        var noPath = Self.transaction(host: "h", path: "/a"); noPath.request.path = nil
        var noStatus = Self.transaction(host: "h", path: "/a"); noStatus.response.status = nil; noStatus.incomplete = true
        var batcher = TransactionBatcher(encoding: Self.edge, filter: nil, maxBytes: 65_536)
        for t in [noMethod, noPath, noStatus, Self.transaction(host: "h", path: "/ok")] { batcher.add(t) }
        batcher.close()
        let batches = batcher.take()
        #expect(batches.count == 1)
        #expect(batches.first?.count == 1)
        #expect(batcher.counters.notEncoded == ["no-method": 1, "no-path": 1, "no-status": 1])
        // The native format expresses all of them.
        var native = TransactionBatcher(encoding: .native, filter: nil, maxBytes: 65_536)
        for t in [noMethod, noPath, noStatus] { native.add(t) }
        native.close()
        #expect(native.take().first?.count == 3)
    }

    @Test func aHeaderNameThatIsNotATokenIsDroppedAndCounted() throws {
        var t = Self.transaction(host: "h", path: "/a")
        t.request.headers = [NameValuePair("Good", "1"), NameValuePair("bad name", "2"), NameValuePair("", "3")]
        var out: [UInt8] = []
        var dropped = 0
        #expect(t.encodeEdge(into: &out, options: Self.options, droppedHeaders: &dropped) == nil)
        #expect(dropped == 2)
        #expect(try Self.headers(try JSONReader.parse(out)["request"]?["headers"]).map(\.0) == ["Good"])
    }

    @Test func aClientIPThatIsNotAnAddressIsLeftOut() throws {
        var t = Self.transaction(host: "h", path: "/a")
        t.request.clientIp = "unknown"
        t.request.connectionIp = "not-an-ip"
        let o = try Self.edgeObject(t)
        #expect(o["request"]?["client-ip"] == nil)
        #expect(o["request"]?["connection"]?["connection-ip"] == .string("0.0.0.0"))
        t.request.clientIp = "2001:db8::1"
        #expect(try Self.edgeObject(t)["request"]?["client-ip"] == .string("2001:db8::1"))
    }

    // MARK: batches

    @Test func batchesAreDataEnvelopesCappedByCountAndBytes() throws {
        var batcher = TransactionBatcher(encoding: Self.edge, filter: nil, maxBytes: 20_000, maxRecords: 7)
        for i in 0..<100 { batcher.add(Self.transaction(host: "h", path: "/items/\(i)")) }
        batcher.close()
        let batches = batcher.take()
        #expect(batches.reduce(0) { $0 + $1.count } == 100)
        #expect(batches.allSatisfy { $0.count <= 7 })
        for batch in batches {
            let document = try JSONReader.parse(batch.bytes)
            #expect(document.objectValue?.members.map(\.key) == ["data"])
            #expect(document["data"]?.arrayValue?.count == batch.count)
            for range in batch.recordRanges { _ = try JSONReader.parse(Array(batch.bytes[range])) }
        }
        var small = TransactionBatcher(encoding: Self.edge, filter: nil, maxBytes: 4_096, maxRecords: 250)
        for i in 0..<100 { small.add(Self.transaction(host: "h", path: "/items/\(i)")) }
        small.close()
        let bySize = small.take()
        #expect(bySize.count > 1)
        #expect(bySize.allSatisfy { $0.bytes.count <= 4_096 })
        #expect(bySize.reduce(0) { $0 + $1.count } == 100)
    }

    // MARK: round trip

    static let tokenBytes = Array("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    @Test func anyTransactionRoundTripsThroughTheEdgeEncoding() async throws {
        let name = Gen<Int>.int(in: 0...(Self.tokenBytes.count - 1)).array(of: 1...12)
            .map { String(decoding: $0.map { Self.tokenBytes[$0] }, as: UTF8.self) }
        let value = Gen<UInt32>.value(in: 0...0x2FFFF).array(of: 0...24)
            .map { String(String.UnicodeScalarView($0.compactMap(Unicode.Scalar.init))) }
        let headers = zip(name, value).array(of: 0...8)
        // Any bytes at all: NUL, invalid UTF-8, lone continuation bytes.
        let body = Gen<UInt8>.value(in: 0...255).array(of: 0...300).optional
        await propertyCheck(count: 300, input: headers, headers, body, body) { reqHeaders, respHeaders, reqBody, respBody in
            var t = Self.transaction(host: "h", path: "/r")
            t.request.headers = reqHeaders.map { NameValuePair($0.0, $0.1) }
            t.response.headers = respHeaders.map { NameValuePair($0.0, $0.1) }
            t.request.body = reqBody.map(MessageBody.init)
            t.response.body = respBody.map(MessageBody.init)
            let o = try Self.edgeObject(t)
            let rh = try Self.headers(o["request"]?["headers"])
            #expect(rh.map(\.0) == reqHeaders.map(\.0))
            #expect(rh.map(\.1) == reqHeaders.map { Array($0.1.utf8) })
            let sh = try Self.headers(o["response"]?["headers"])
            #expect(sh.map(\.1) == respHeaders.map { Array($0.1.utf8) })
            #expect(try Self.body(o["request"]?["body"]) == (reqBody ?? []))
            #expect(try Self.body(o["response"]?["body"]) == (respBody ?? []))
        }
    }

    @Test func anyRequestTargetDecodesBackToThePathAndQuery() async throws {
        let text = Gen<UInt32>.value(in: 0x20...0x2FF).array(of: 0...16)
            .map { String(String.UnicodeScalarView($0.compactMap(Unicode.Scalar.init))) }
        let pairs = zip(text, text).array(of: 0...5)
        await propertyCheck(count: 300, input: text, pairs) { pathText, query in
            let path = "/" + pathText.replacingOccurrences(of: "%", with: "pct")
            let t = Self.transaction(host: "api.example.com", path: path, query: query.map { NameValuePair($0.0, $0.1) })
            let target = try #require(try Self.edgeObject(t)["request"]?["uri-query-fragment"]?.stringValue)
            #expect(target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }, "\(target)")
            let (decodedPath, rest) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) } ?? (target, "")
            #expect(decodedPath.removingPercentEncoding == path)
            let decodedQuery: [(String, String)] = rest.isEmpty ? [] : rest.split(separator: "&", omittingEmptySubsequences: false).map { item in
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]).removingPercentEncoding ?? "?", String(parts.count > 1 ? parts[1] : "").removingPercentEncoding ?? "?")
            }
            #expect(decodedQuery.map { $0.0 } == query.map { $0.0 })
            #expect(decodedQuery.map { $0.1 } == query.map { $0.1 })
        }
    }
}
