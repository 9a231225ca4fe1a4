// The Flex Gateway stitcher over the flex-*.ndjson fixtures: both layouts, interleaving, responses before requests,
// separators and line breaks inside values, 30 KB cuts, content-encoded bodies, requests without a response,
// other logging ignored and counted; then the Edge and native encodings of what it builds.
import AWS
import Foundation
import Core
import Testing
@testable import Traffic

enum FlexFixtures {
    static let group = LogGroupName("/flex/prod/access")

    static func stitcher(_ options: FlexStitcherOptions = FlexStitcherOptions()) -> FlexStitcher {
        FlexStitcher(logGroup: group, region: Fixtures.region, accountId: Fixtures.account, options: options)
    }

    /// The fixtures as one input, flushed at the end like `apitap stitch`.
    static func stitch(_ names: String..., options: FlexStitcherOptions = FlexStitcherOptions()) throws -> ([Transaction], FlexCounters) {
        var s = stitcher(options)
        var out: [Transaction] = []
        for name in names {
            for e in try Fixtures.events(name) { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        }
        s.flushAll { out.append($0) }
        return (out, s.counters)
    }

    static func one(_ name: String) throws -> Transaction {
        let (all, _) = try stitch(name)
        guard all.count == 1, let t = all.first else { throw Fixtures.FixtureError.badEvent("\(name): \(all.count) transactions") }
        return t
    }

    static let all = [
        "flex-apitap-interleaved.ndjson", "flex-apitap-response-first.ndjson", "flex-apitap-separators-newlines.ndjson",
        "flex-apitap-cut-30kb.ndjson", "flex-apitap-content-encoded.ndjson", "flex-apitap-no-response.ndjson",
        "flex-apitap-unknown-categories.ndjson", "flex-apitap-map-form-fluentbit.ndjson",
        "flex-cequence-interleaved.ndjson", "flex-cequence-response-first.ndjson", "flex-cequence-separators-newlines.ndjson",
        "flex-cequence-cut-30kb.ndjson", "flex-cequence-content-encoded.ndjson", "flex-cequence-no-response.ndjson",
        "flex-cequence-unknown-categories.ndjson",
    ]
}

@Suite struct FlexStitcherTests {
    static let jsonRequest = [NameValuePair("host", "api.example.com"), NameValuePair("user-agent", "curl/8.5.0"),
                              NameValuePair("accept", "application/json"), NameValuePair("x-forwarded-for", "198.51.100.23, 10.0.0.5")]
    static let jsonResponse = [NameValuePair("content-type", "application/json"), NameValuePair("server", "envoy"),
                               NameValuePair("x-envoy-upstream-service-time", "12")]

    // MARK: apitap's layout

    @Test func interleavedRequestsOfTwoReplicasComeOutWhole() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-interleaved.ndjson")
        #expect(all.map(\.id) == ["5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0001", "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0002",
                                  "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0003"])
        let get = all[0]
        #expect(get.request.method == "GET" && get.request.scheme == "https" && get.request.httpVersion == "HTTP/1.1")
        #expect(get.request.path == "/orders" && get.request.rawQuery == "status=open&flag&q=a%20b")
        #expect(get.request.query == [NameValuePair("status", "open"), NameValuePair("flag", ""), NameValuePair("q", "a%20b")])
        #expect(get.request.host == "api.example.com" && get.request.headers == Self.jsonRequest)
        #expect(get.request.clientIp == "198.51.100.23" && get.request.connectionIp == "203.0.113.7" && get.request.serverIp == "10.0.1.9")
        #expect(get.request.body == MessageBody("") && !get.request.bodyTruncated)
        #expect(get.response.status == 200 && get.response.headers == Self.jsonResponse)
        #expect(get.response.body == MessageBody(#"{"orders":[{"id":42}]}"#))
        #expect(get.source.type == .flexGateway && get.source.apiId == "18845632" && get.source.logGroup == FlexFixtures.group)
        #expect(get.source.logStream.rawValue == "flex-gw-7d9f-a/flex-gateway-envoy")
        #expect(get.startTime == EpochMillis(1_777_881_600_000) && get.endTime == EpochMillis(1_777_881_600_040) && !get.incomplete)

        let post = all[1]
        #expect(post.request.method == "POST" && post.request.connectionIp == "2001:db8::7")
        #expect(post.request.body == MessageBody(#"{"item":"book","qty":2}"#) && post.response.status == 201)
        #expect(post.source.logStream.rawValue == "flex-gw-7d9f-b/flex-gateway-envoy")
        #expect(post.response.headers.value("location") == "/orders/43")
        #expect(all[2].response.status == 204 && all[2].response.body == MessageBody(""))

        #expect(counters.traffic.linesParsed == 21 && counters.traffic.transactionsEmitted == 3 && counters.traffic.transactionsIncomplete == 0)
        #expect(counters.ignored == ["not-per-request": 1] && counters.layouts == ["apitap": 3] && counters.requestIdMismatches == 0)
    }

    @Test func aResponseLoggedBeforeItsRequestStillJoinsItAndEachMapKeepsItsSide() throws {
        let t = try FlexFixtures.one("flex-apitap-response-first.ndjson")
        #expect(t.request.method == "PUT" && t.request.path == "/orders/7" && t.response.status == 200 && !t.incomplete)
        #expect(t.request.headers.value("content-type") == "application/json" && t.request.headers.value("host") == "api.example.com")
        #expect(t.response.headers == Self.jsonResponse)
        #expect(t.request.body == MessageBody(#"{"qty":3}"#) && t.response.body == MessageBody(#"{"id":7,"qty":3}"#))
    }

    @Test func separatorsAndLineBreaksInsideBodiesAreKeptByteForByte() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-separators-newlines.ndjson")
        #expect(all.count == 2)
        let tricky = "a | payload=x | Content-Type=text/plain\nCQ1 9b2f0e11 res.status 500 [req: 00000000] [accessLog] {\"k=v, x\":\"y\"}"
        #expect(all[0].request.body == MessageBody(tricky))
        #expect(all[0].response.status == 201 && all[0].response.body == MessageBody("ok | CQ1 x res.body y"))
        // A body whose line breaks became record breaks: the records without a prefix continue it.
        #expect(all[1].request.body == MessageBody("line one of three\nline two: [not a prefix]\nline three"))
        #expect(all[1].response.body == MessageBody("stored") && all[1].response.status == 200)
        #expect(counters.linesContinued == 2 && counters.ignoredTotal == 0)
    }

    @Test func bodiesCutAtTheEntryLimitBecomeMarkersOfTheirContentType() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-cut-30kb.ndjson")
        let t = try #require(all.first)
        #expect(t.request.bodyTruncated && t.request.body == MessageBody(TruncationMarker.json))
        #expect(t.response.bodyTruncated && t.response.body == MessageBody(TruncationMarker.html))
        #expect(t.request.headers.value("cq-discovery-only") == "true" && t.response.status == 200)
        #expect(counters.bodiesCut == 2)
        // The limit is a setting: raised above the messages' length, nothing counts as cut.
        let (raised, _) = try FlexFixtures.stitch("flex-apitap-cut-30kb.ndjson", options: FlexStitcherOptions(entryLimitBytes: 64_000))
        #expect(raised.first?.request.bodyTruncated == false && raised.first?.request.body?.count ?? 0 > 29_000)
    }

    @Test func aContentEncodedBodyComesOutEmptyAndDiscoveryOnly() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-content-encoded.ndjson")
        let t = try #require(all.first)
        #expect(t.response.headers.value("content-encoding") == "gzip" && t.response.body == MessageBody(""))
        #expect(t.request.headers.value("cq-discovery-only") == "true" && !t.response.bodyTruncated)
        #expect(counters.bodiesEncoded == 1)
    }

    @Test func aRequestWhoseResponseNeverComesIsEmittedIncomplete() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-no-response.ndjson")
        let t = try #require(all.first)
        #expect(t.incomplete && t.response.status == nil && t.request.method == "GET" && t.request.path == "/slow")
        #expect(counters.traffic.transactionsIncomplete == 1)
        // In a tick it waits: nothing at the end of the window, emitted once older than the cutoff.
        var s = FlexFixtures.stitcher()
        var out: [Transaction] = []
        for e in try Fixtures.events("flex-apitap-no-response.ndjson") { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        s.finishWindow { out.append($0) }
        s.flushIncomplete(olderThan: EpochMillis(1_777_881_600_000)) { out.append($0) }
        #expect(out.isEmpty && s.pendingCount == 1)
        s.flushIncomplete(olderThan: EpochMillis(1_777_881_900_000)) { out.append($0) }
        #expect(out.count == 1 && out.first?.incomplete == true && s.pendingCount == 0)
    }

    @Test func otherLoggingIsIgnoredAndCountedByReason() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-apitap-unknown-categories.ndjson")
        let t = try #require(all.first)
        #expect(all.count == 1 && t.response.headers == Self.jsonResponse && t.request.headers == Self.jsonRequest)
        #expect(counters.ignored == ["unknown-category": 1, "unknown-field": 1, "runtime-log": 2, "not-per-request": 1])
        #expect(counters.traffic.linesParsed == 7)
    }

    @Test func mapRenderingsCategoriesAndFluentBitRecordsAreRead() throws {
        let t = try FlexFixtures.one("flex-apitap-map-form-fluentbit.ndjson")
        #expect(t.request.headers == [NameValuePair("host", "api.example.com"), NameValuePair("accept", "application/json, text/plain, */*"),
                                      NameValuePair("date", "Mon, 04 May 2026 08:00:00 GMT")])
        #expect(t.response.headers == [NameValuePair("content-type", "application/json"),
                                       NameValuePair("set-cookie", "a=1; Expires=Tue, 05 May 2026 08:00:00 GMT; Path=/")])
        #expect(t.response.status == 200 && t.request.path == "/catalog" && t.request.rawQuery == "page=2")
    }

    // MARK: Cequence's published layout

    @Test func cequencesThreeConfigurationsAreJoinedWithOrWithoutCategories() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-cequence-interleaved.ndjson")
        #expect(all.count == 2 && counters.layouts == ["cequence": 2])
        let a = all[0]
        // Its header map carries Envoy's pseudo-headers: method, path and host come from them.
        #expect(a.request.method == "POST" && a.request.path == "/v1/pay" && a.request.rawQuery == "x=1" && a.request.host == "pay.example.com")
        #expect(a.request.headers.names == ["content-type", "user-agent", "authorization", "Host"])
        #expect(a.request.body == MessageBody(#"{"amount":10}"#))
        #expect(a.response.status == nil, "the layout logs no status")
        #expect(a.response.headers == [NameValuePair("Content-Type", "application/json"), NameValuePair("Content-Length", "12"),
                                       NameValuePair("Server", "envoy"), NameValuePair("Date", "Mon, 04 May 2026 08:00:01 GMT")])
        #expect(a.response.body == MessageBody(#"{"ok":true}"#) && !a.incomplete)
        let b = all[1]
        #expect(b.request.method == nil && b.request.host == "pay.example.com")
        #expect(b.request.headers == [NameValuePair("host", "pay.example.com"), NameValuePair("accept", "*/*"), NameValuePair("User-Agent", "HTTPie/3.2")])
        #expect(b.request.body == nil, "NO_PAYLOAD is Cequence's stand-in for no payload")
        #expect(b.response.body == MessageBody("pong") && b.response.headers.value("content-type") == "text/plain")
    }

    @Test func cequenceResponseBeforeRequest() throws {
        let t = try FlexFixtures.one("flex-cequence-response-first.ndjson")
        #expect(!t.incomplete && t.request.method == "POST" && t.request.body == MessageBody(#"{"amount":5}"#))
        #expect(t.response.body == MessageBody(#"{"ok":false}"#))
    }

    @Test func cequenceValuesHoldingTheSeparatorAreSplitAtTheNextPublishedKey() throws {
        let t = try FlexFixtures.one("flex-cequence-separators-newlines.ndjson")
        // The map names the user agent already: the Request LOG's value is not added a second time.
        #expect(t.request.headers.values("user-agent") == ["curl/8.5.0"])
        #expect(t.request.body == MessageBody("x | Content-Type=a | payload=b\nsecond line | reqId=zzz"))
        #expect(t.response.body == MessageBody("done | Server=x") && t.response.headers.value("server") == "envoy")
        // A value with ` | ` and `x=` inside is read whole: it ends only at the next published key.
        let items = Array("Request LOG | reqId=r | Content-Type=text/plain | User-Agent=agent | v2 | x=y | Host=h | Authorization=NO_AUTHORIZATION | payload=p".utf8)
        let parsed = items.withUnsafeBytes { text in
            FlexMessageGrammar.cequenceItems(text, response: false).map { ($0.key, String(decoding: UnsafeRawBufferPointer(rebasing: text[$0.value]), as: UTF8.self)) }
        }
        #expect(parsed.map(\.0) == ["reqId", "Content-Type", "User-Agent", "Host", "Authorization", "payload"])
        #expect(parsed[2].1 == "agent | v2 | x=y" && parsed[5].1 == "p")
    }

    @Test func cequenceCutContentEncodedAndUnansweredRequests() throws {
        let (cut, cutCounters) = try FlexFixtures.stitch("flex-cequence-cut-30kb.ndjson")
        #expect(cut.first?.request.bodyTruncated == true && cut.first?.request.body == MessageBody(TruncationMarker.json))
        #expect(cut.first?.response.body == MessageBody(#"{"ok":true}"#) && cutCounters.bodiesCut == 1)
        let encoded = try FlexFixtures.one("flex-cequence-content-encoded.ndjson")
        #expect(encoded.response.headers.value("content-encoding") == "gzip" && encoded.response.body == MessageBody(""))
        #expect(encoded.request.headers.value("cq-discovery-only") == "true")
        let open = try FlexFixtures.one("flex-cequence-no-response.ndjson")
        #expect(open.incomplete && open.response.body == nil && open.request.body == MessageBody(#"{"q":2}"#))
    }

    @Test func cequenceLinesUnderOtherCategoriesAreIgnored() throws {
        let (all, counters) = try FlexFixtures.stitch("flex-cequence-unknown-categories.ndjson")
        #expect(all.count == 1 && all.first?.request.body == nil && all.first?.response.body == nil)
        #expect(counters.ignored == ["unknown-category": 2, "runtime-log": 1])
    }

    // MARK: joining

    @Test func theRequestIdIsTheJoinKeyAcrossStreamsAndAMismatchedEchoIsCounted() throws {
        var s = FlexFixtures.stitcher()
        var out: [Transaction] = []
        let id = "aaaaaaaa-0000-4000-8000-000000000001"
        func line(_ message: String) -> String {
            "2026-05-04T08:00:00.000Z [flex-gateway-envoy][info] wasm log ml.default.api-x.default.svc main: [req: \(id)] [accessLog] \(message)"
        }
        s.ingest(logStream: LogStreamName("a"), timestamp: EpochMillis(1_000), message: line("CQ1 \(id) req.line GET https HTTP/1.1 /x")) { out.append($0) }
        s.ingest(logStream: LogStreamName("b"), timestamp: EpochMillis(1_010), message: line("CQ1 other-id res.status 200")) { out.append($0) }
        s.ingest(logStream: LogStreamName("b"), timestamp: EpochMillis(1_020), message: line("CQ1 \(id) res.body ok")) { out.append($0) }
        #expect(out.isEmpty, "held for lines of the same instant")
        s.ingest(logStream: LogStreamName("c"), timestamp: EpochMillis(2_500), message: "[flex-gateway-agent][info] tick") { out.append($0) }
        #expect(out.count == 1 && out.first?.response.status == 200 && out.first?.source.apiId == "api-x")
        #expect(s.counters.requestIdMismatches == 1)
        // A late line of an emitted request is absorbed, never a second transaction.
        s.ingest(logStream: LogStreamName("a"), timestamp: EpochMillis(2_600), message: line("CQ1 \(id) res.body again")) { out.append($0) }
        s.flushAll { out.append($0) }
        #expect(out.count == 1 && s.counters.traffic.linesAfterEmission == 1)
    }

    @Test func aRequestLoggedByBothPoliciesIsOneTransaction() throws {
        var s = FlexFixtures.stitcher()
        var out: [Transaction] = []
        let id = "bbbbbbbb-0000-4000-8000-000000000002"
        let lines = [
            "CQ1 \(id) req.line POST https HTTP/1.1 /pay", "[cequence-req-headers] {\"host\":\"h\"}",
            "cequence-req-full Request LOG | reqId=\(id) | Content-Type=NO_CONTENT_TYPE | User-Agent=u | Host=h | Authorization=NO_AUTHORIZATION | payload=p",
            "CQ1 \(id) req.body p", "201", "CQ1 \(id) res.body done",
            "[cequence-res-full] Response LOG | reqId=\(id) | Content-Type=text/plain | Content-Length=4 | Content-Encoding=NO_CONTENT_ENCODING | Transfer-Encoding=NO_TRANSFER_ENCODING | Server=envoy | Date=NO_DATE | Accept=NO_ACCEPT | X-Forwarded-For=NO_X_FORWARDED_FOR | X-Request-Id=NO_X_REQUEST_ID | User-Agent=NO_USER_AGENT | Host=NO_HOST | Authorization=NO_AUTHORIZATION | payload=done",
        ]
        for (i, m) in lines.enumerated() {
            let text = "2026-05-04T08:00:00.000Z [flex-gateway-envoy][info] wasm log ml.default.api.default.svc main: [req: \(id)] [accessLog] \(m)"
            s.ingest(logStream: LogStreamName("a"), timestamp: EpochMillis(1_000 + Int64(i)), message: text) { out.append($0) }
        }
        s.flushAll { out.append($0) }
        #expect(out.count == 1 && out.first?.response.status == 201 && out.first?.request.method == "POST")
        #expect(out.first?.request.body == MessageBody("p") && out.first?.response.body == MessageBody("done"))
        #expect(out.first?.response.headers.value("content-type") == "text/plain")
    }

    @Test func openRequestsTravelThroughTheExportedState() throws {
        let events = try Fixtures.events("flex-apitap-interleaved.ndjson")
        var whole: [Transaction] = []
        var a = FlexFixtures.stitcher()
        for e in events { a.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { whole.append($0) } }
        a.flushAll { whole.append($0) }

        // Cut the input anywhere: state out, state in, the rest: the same transactions.
        for cut in stride(from: 1, to: events.count, by: 3) {
            var out: [Transaction] = []
            var first = FlexFixtures.stitcher()
            for e in events[..<cut] { first.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
            let state = first.exportState()
            var second = FlexFixtures.stitcher()
            try second.restoreState(state)
            for e in events[cut...] { second.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
            second.flushAll { out.append($0) }
            #expect(out == whole, "cut at \(cut)")
        }
        var other = FlexStitcher(logGroup: LogGroupName("/flex/other"), region: Fixtures.region, accountId: nil)
        #expect(throws: StitcherStateError.self) { try other.restoreState(FlexFixtures.stitcher().exportState()) }
    }

    @Test func flexAPIsKeepsTheListedInstancesOrNames() throws {
        let (byId, c1) = try FlexFixtures.stitch("flex-apitap-interleaved.ndjson", options: FlexStitcherOptions(apis: ["18845632"]))
        #expect(byId.count == 3 && c1.apiFiltered == 0)
        let (other, c2) = try FlexFixtures.stitch("flex-apitap-interleaved.ndjson", options: FlexStitcherOptions(apis: ["99999"]))
        #expect(other.isEmpty && c2.apiFiltered == 3)
        let (byName, _) = try FlexFixtures.stitch("flex-cequence-interleaved.ndjson", options: FlexStitcherOptions(apis: ["payments-api"]))
        #expect(byName.count == 2, "Cequence's layout names no instance id: the API name from the line prefix counts")
    }

    @Test func linePrefixesAreLocatedWithoutTrustingTheMessage() throws {
        func locate(_ text: String) -> (id: String, api: String?, access: Bool, message: String)? {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { b in
                FlexLogLine.locate(b).map { l in
                    (String(decoding: b[l.requestId], as: UTF8.self), l.apiName(in: b).map { String(decoding: b[$0], as: UTF8.self) }, l.accessLog,
                     String(decoding: b[l.message], as: UTF8.self))
                }
            }
        }
        let pdk = try #require(locate("[flex-gateway-envoy][debug] wasm log p.default.ingress-http.default.svc main: [policy: p.default][api: ingress-http.default.svc][req: 41dfe989] Retries: 0"))
        #expect(pdk.id == "41dfe989" && pdk.api == "ingress-http" && !pdk.access && pdk.message == "Retries: 0")
        let template = try #require(locate("[2026-05-04][flex-gateway-envoy][info][accessLog] wasm log ml.default.a.default.svc main: [req: r1] CQ1 r1 res.body [req: r2] x\n"))
        #expect(template.id == "r1" && template.access && template.message == "CQ1 r1 res.body [req: r2] x")
        #expect(locate("a body with no prefix at all") == nil)
        #expect(locate("[req: has space] x") == nil)
    }

    // MARK: encodings

    static func encoded(_ format: PayloadFormat) throws -> (ndjson: [UInt8], lines: Int, counters: EncodingCounters) {
        var out: [UInt8] = []
        var lines = 0
        var counters = EncodingCounters()
        let encoding: TransactionEncoding = format == .edge ? .edge(EdgeEncodingOptions(toolVersion: "test")) : .native
        for name in FlexFixtures.all {
            let (all, _) = try FlexFixtures.stitch(name)
            for t in all where TransactionBatcher.encode(t, as: encoding, into: &out, counters: &counters) {
                out.append(0x0A)
                lines += 1
            }
        }
        return (out, lines, counters)
    }

    @Test func everyFixtureValidatesAgainstBothSchemas() throws {
        let (edge, edgeLines, counters) = try Self.encoded(.edge)
        // apitap's layout: everything but the request that never got its response. Cequence's: only what
        // pseudo-headers and a status make expressible, which its layout never logs.
        #expect(edgeLines == 10, "\(counters.notEncoded)")
        #expect(counters.notEncoded == ["no-status": 7, "no-method": 2], "\(counters.notEncoded)")
        let (status, output) = try EncodingTests.validateWithPython(schema: "edge-transaction.schema.json", ndjson: edge,
                                                                     extra: EdgeEncodingTests.doubleChecks + """

                                                                         assert t["txn-meta-data"]["source_info"]["type"] == "mulesoft-flex-gateway"
                                                                     """)
        #expect(status == 0 && output.trimmingCharacters(in: .whitespacesAndNewlines) == String(edgeLines), "\(output)")
        let (native, nativeLines, _) = try Self.encoded(.native)
        let (nativeStatus, nativeOutput) = try EncodingTests.validateWithPython(schema: "transaction.schema.json", ndjson: native)
        #expect(nativeStatus == 0 && nativeOutput.trimmingCharacters(in: .whitespacesAndNewlines) == String(nativeLines), "\(nativeOutput)")
        #expect(nativeLines == 19)
    }

    @Test func theEdgeObjectCarriesTheRawTargetAndTheGatewaysAddresses() throws {
        let (all, _) = try FlexFixtures.stitch("flex-apitap-interleaved.ndjson", "flex-apitap-cut-30kb.ndjson")
        var out: [UInt8] = []
        var dropped = 0
        #expect(all[0].encodeEdge(into: &out, options: EdgeEncodingOptions(toolVersion: "t"), droppedHeaders: &dropped) == nil)
        let edge = try JSONReader.parse(out)
        #expect(edge["transaction-id"]?.stringValue == "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0001")
        #expect(edge["request"]?["uri-query-fragment"]?.stringValue == "/orders?status=open&flag&q=a%20b")
        #expect(edge["request"]?["http-version"]?.stringValue == "1.1" && edge["request"]?["client-ip"]?.stringValue == "198.51.100.23")
        #expect(edge["request"]?["connection"]?["connection-ip"]?.stringValue == "203.0.113.7")
        #expect(edge["request"]?["connection"]?["server-ip"]?.stringValue == "10.0.1.9")
        #expect(edge["response"]?["status-code"]?.stringValue == "200" && edge["timestamp"]?.stringValue == "1777881600.000")
        #expect(edge["txn-meta-data"]?["source_info"]?["instance_id"]?.stringValue == "18845632")
        let cut = try #require(all.last)
        out = []
        _ = cut.encodeEdge(into: &out, options: EdgeEncodingOptions(toolVersion: "t"), droppedHeaders: &dropped)
        let cutEdge = try JSONReader.parse(out)
        for side in ["request", "response"] {
            #expect(cutEdge[side]?["headers"]?.arrayValue?.contains(.string("cq-body-truncated:dHJ1ZQ==")) == true, "\(side)")
        }
    }
}
