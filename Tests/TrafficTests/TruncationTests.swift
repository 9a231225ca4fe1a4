// Truncated lines: flagged, and truncated bodies replaced by a marker in the body's own content type.
import Testing
@testable import Traffic

@Suite struct TruncationTests {
    @Test func truncatedResponseBodiesBecomeMarkersPerContentType() throws {
        let (all, counters) = try Fixtures.stitch("rest-truncated-bodies.ndjson")
        #expect(all.count == 8)
        let byPath = Dictionary(uniqueKeysWithValues: all.map { ($0.request.path ?? "", $0) })
        let expected: [(String, String)] = [
            ("/export/json", #"{"cq-body-truncated":"true"}"#),
            ("/export/xml", "<cq-body-truncated>true</cq-body-truncated>"),
            ("/export/soap", TruncationMarker.soap11),
            ("/export/form", "cq-body-truncated=true"),
            ("/export/html", TruncationMarker.html),
            ("/export/text", "cq-body-truncated"),
            ("/export/sniffed", #"{"cq-body-truncated":"true"}"#),
        ]
        for (path, marker) in expected {
            let t = try #require(byPath[path], "\(path)")
            #expect(t.response.body?.text == marker, "\(path)")
            #expect(t.response.bodyTruncated, "\(path)")
            #expect(!t.request.bodyTruncated, "\(path)")
            #expect(t.request.headers.value("cq-discovery-only") == "true", "\(path)")
            #expect(t.request.headers.last == NameValuePair("cq-discovery-only", "true"), "\(path)")
            // The endpoint request headers line and the body line.
            #expect(t.truncatedLines == 2, "\(path)")
        }
        #expect(counters.linesTruncated == 2 * 7 + 3)
    }

    @Test func truncatedRequestBodyAndHeaderMap() throws {
        let (all, _) = try Fixtures.stitch("rest-truncated-bodies.ndjson")
        let t = try #require(all.first { $0.request.path == "/import" })
        #expect(t.request.bodyTruncated)
        #expect(t.request.body == #"{"cq-body-truncated":"true"}"#)
        #expect(t.request.headersTruncated)
        #expect(!t.response.bodyTruncated)
        #expect(t.response.body == #"{"accepted":true}"#)
        // Host and X-Forwarded-For were after the cut: the host falls back to the execute-api name, no client IP.
        #expect(t.request.headers.value("Host") == nil)
        #expect(t.request.host == "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com")
        #expect(t.request.clientIp == nil)
        // Headers before the cut are forwarded as logged, the last one partial.
        #expect(t.request.headers.first == NameValuePair("X-Custom-Header-00", String(repeating: "v", count: 30)))
        #expect(t.request.headers.value("cq-discovery-only") == "true")
        #expect(t.truncatedLines == 3)
    }

    @Test func markerKindFromContentTypeOrContent() {
        func kind(_ contentType: String?, _ body: String) -> TruncationMarker.Kind {
            Array(body.utf8).withUnsafeBytes { TruncationMarker.kind(contentType: contentType, truncatedBody: $0) }
        }
        #expect(kind("application/json; charset=utf-8", "x") == .json)
        #expect(kind("application/problem+json", "x") == .json)
        #expect(kind("application/soap+xml", "<a") == .soap12)
        #expect(kind("text/xml", "<s:Envelope xmlns:s=") == .soap11)
        #expect(kind("application/atom+xml", "<feed") == .xml)
        #expect(kind("application/x-www-form-urlencoded", "a=1") == .form)
        #expect(kind("TEXT/HTML", "<p") == .html)
        #expect(kind("text/csv", "a,b") == .text)
        #expect(kind(nil, "  [1,2") == .json)
        #expect(kind(nil, "<!DOCTYPE html><html") == .html)
        #expect(kind(nil, "<root><a>") == .xml)
        #expect(kind(nil, "hello") == .text)
        #expect(kind("application/octet-stream", "{\"a\"") == .json)
    }

    @Test func truncatedSuffixIsRecognisedOnlyAtTheEnd() {
        let format = TextExecutionLogFormat()
        var seen: [Bool] = []
        for message in ["(r) Method request body before transformations: {\"a\":1 [TRUNCATED]",
                        "(r) Method request body before transformations: [TRUNCATED] is fine",
                        "(r) Method request body before transformations: {\"a\":1 [TRUNCATED]\n"] {
            _ = Array(message.utf8).withUnsafeBytes { bytes in format.parse(bytes) { seen.append($0.truncated) } }
        }
        #expect(seen == [true, false, true])
    }
}
