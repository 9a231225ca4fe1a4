// Decoding AWS answers: error bodies of every protocol, FilterLogEvents pages, S3 listings.
import Glibc
import HTTP
import Core
import Testing
@testable import AWS

@Suite struct ProtocolTests {
    @Test func jsonErrors() {
        let r = HTTPResponse(status: 400, headers: [HTTPHeader("x-amzn-RequestId", "req-1")],
                             body: Array(#"{"__type":"com.amazonaws.logs#ThrottlingException","message":"Rate exceeded"}"#.utf8))
        let e = AWSError.from(response: r, service: "CloudWatch Logs", operation: "FilterLogEvents")
        #expect(e.code == "ThrottlingException" && e.message == "Rate exceeded" && e.status == 400 && e.isRetryable)
        #expect(e.requestID == "req-1")
        #expect(e.description == "CloudWatch Logs FilterLogEvents failed: HTTP 400 ThrottlingException: Rate exceeded (request id req-1)")

        let nf = AWSError.from(response: HTTPResponse(status: 400, body: Array(#"{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}"#.utf8)),
                               service: "CloudWatch Logs", operation: "FilterLogEvents")
        #expect(nf.code == "ResourceNotFoundException" && !nf.isRetryable)
    }

    @Test func restJSONErrorsUseTheHeader() {
        let r = HTTPResponse(status: 404, headers: [HTTPHeader("x-amzn-ErrorType", "NotFoundException:http://internal.amazon.com/coral/com.amazonaws.backplane.controlplane/")],
                             body: Array(#"{"message":"Invalid API identifier specified"}"#.utf8))
        let e = AWSError.from(response: r, service: "API Gateway", operation: "GetStages")
        #expect(e.code == "NotFoundException" && e.message == "Invalid API identifier specified" && !e.isRetryable)
        let t = AWSError.from(response: HTTPResponse(status: 429, headers: [HTTPHeader("x-amzn-ErrorType", "TooManyRequestsException")]),
                              service: "API Gateway", operation: "GetRestApis")
        #expect(t.code == "TooManyRequestsException" && t.isRetryable)
    }

    @Test func xmlErrors() {
        let body = #"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate &amp; retry.</Message><RequestId>r</RequestId></Error>"#
        let e = AWSError.from(response: HTTPResponse(status: 503, body: Array(body.utf8)), service: "S3", operation: "PutObject")
        #expect(e.code == "SlowDown" && e.message == "Please reduce your request rate & retry." && e.isRetryable)
        let moto = #"<?xml version="1.0" encoding="utf-8"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>"#
        let s = AWSError.from(response: HTTPResponse(status: 403, body: Array(moto.utf8)), service: "CloudWatch Logs", operation: "DescribeLogGroups")
        #expect(s.code == "SignatureDoesNotMatch" && !s.isRetryable)
        let timeout = AWSError.from(response: HTTPResponse(status: 400, body: Array("<Error><Code>RequestTimeout</Code></Error>".utf8)),
                                    service: "S3", operation: "PutObject")
        #expect(timeout.isRetryable)
    }

    @Test func unparseableErrorsKeepTheFirst200Bytes() {
        let long = String(repeating: "x", count: 500)
        let e = AWSError.from(response: HTTPResponse(status: 502, body: Array(long.utf8)), service: "S3", operation: "GetObject")
        #expect(e.code == "ServiceUnavailable" && e.message.utf8.count == 200 && e.isRetryable)
        let transport = AWSError.from(httpError: HTTPError(kind: .connect, url: "http://127.0.0.1:1/?X-Amz-Signature=abc", message: "refused"),
                                      service: "S3", operation: "GetObject")
        #expect(transport.code == "Transport.connect" && transport.isRetryable && transport.status == nil)
        #expect(!transport.description.contains("abc"))
    }

    @Test func filterLogEventsPage() throws {
        let json = #"""
        {"events":[{"logStreamName":"s1","timestamp":1700000000000,"message":"(a1) Method request headers: {Accept=*/*, X=\"q\"}\n\u00e9\ud83d\ude00","ingestionTime":1700000000500,"eventId":"3765"},
                   {"eventId":"3766","ingestionTime":1700000000600,"message":"plain","timestamp":1700000000001,"logStreamName":"s2","extra":{"nested":[1,2,{"x":null}]}}],
         "searchedLogStreams":[{"logStreamName":"s1","searchedCompletely":true}],"nextToken":"tok/+="}
        """#
        let page = try CloudWatchLogsClient.decodeFilterLogEvents(Array(json.utf8))
        #expect(page.nextToken == "tok/+=")
        #expect(page.events.count == 2)
        #expect(page.events[0] == LogEvent(logStreamName: "s1", timestamp: EpochMillis(1_700_000_000_000),
                                           message: "(a1) Method request headers: {Accept=*/*, X=\"q\"}\né😀",
                                           ingestionTime: EpochMillis(1_700_000_000_500), eventId: "3765"))
        #expect(page.events[1].logStreamName == "s2" && page.events[1].message == "plain" && page.events[1].timestamp.value == 1_700_000_000_001)

        let empty = try CloudWatchLogsClient.decodeFilterLogEvents(Array(#"{"events":[],"searchedLogStreams":[],"nextToken":"more"}"#.utf8))
        #expect(empty.events.isEmpty && empty.nextToken == "more")
        let last = try CloudWatchLogsClient.decodeFilterLogEvents(Array(#"{"events":[]}"#.utf8))
        #expect(last.nextToken == nil)
    }

    @Test(arguments: [#"{"events":[{"message":"x"}]}"#, #"{"events":[{"eventId":"1",}]}"#, #"{"events":[1,2"#,
                      #"{"events":"x"}"#, #"{"nextToken":"a" "b"}"#, #"{"events":[]} trailing"#,
                      String(repeating: "[", count: 500), #"{"events":[{"eventId":"1","timestamp":99999999999999999999}]}"#])
    func malformedPagesAreErrors(_ text: String) {
        #expect(throws: JSONParseError.self) { try CloudWatchLogsClient.decodeFilterLogEvents(Array(text.utf8)) }
    }

    @Test func aFullSizePageDecodes() throws {
        // 10,000 events of about 100 bytes with escapes: the shape of the biggest page AWS sends.
        var text = #"{"events":["#
        for i in 0..<10_000 {
            if i > 0 { text += "," }
            text += #"{"logStreamName":"stream-\#(i % 7)","timestamp":\#(1_700_000_000_000 + i),"message":"(req-\#(i)) Method request body before transformations: {\"id\":\#(i)}\n","ingestionTime":\#(1_700_000_001_000 + i),"eventId":"\#(100_000 + i)"}"#
        }
        text += #"],"nextToken":"n"}"#
        let bytes = Array(text.utf8)
        // CPU time of this thread, not wall time: other tests and processes on a busy machine do not count.
        let start = threadCPUSeconds()
        let page = try CloudWatchLogsClient.decodeFilterLogEvents(bytes)
        let elapsed = threadCPUSeconds() - start
        #expect(page.events.count == 10_000)
        #expect(page.events[9_999].message == "(req-9999) Method request body before transformations: {\"id\":9999}\n")
        #expect(page.events[9_999].eventId == "109999")
        // A debug build is far slower than release; this only catches something pathological (quadratic work).
        #expect(elapsed < 5, "decoding \(bytes.count) bytes took \(elapsed) s of CPU")
    }

    @Test func s3Listing() {
        let xml = #"""
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
        <IsTruncated>true</IsTruncated><Contents><Key>p/a&amp;b.json</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
        <Contents><Key>p/c</Key><ETag>"def"</ETag><Size>0</Size></Contents><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
        """#
        let page = S3Client.decodeList(Array(xml.utf8))
        #expect(page.objects == [S3ObjectSummary(key: "p/a&b.json", etag: "\"abc\"", size: 12),
                                 S3ObjectSummary(key: "p/c", etag: "\"def\"", size: 0)])
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        let done = S3Client.decodeList(Array("<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>".utf8))
        #expect(done.objects.isEmpty && !done.isTruncated && done.nextContinuationToken == nil)
    }

    @Test func xmlEntities() {
        #expect(XML.decode(Array("a&lt;b&gt;&quot;&apos;&#65;&#x42;&unknown;&".utf8)) == "a<b>\"'AB&unknown;&")
        #expect(XML.decode(Array("<![CDATA[<x>&amp;]]>".utf8)) == "<x>&amp;")
        #expect(XML.firstElementText("Key", in: Array("<KeyCount>1</KeyCount><Key>k</Key>".utf8)) == "k")
        #expect(XML.firstElementText("Key", in: Array("<Key/>".utf8)) == "")
    }
}

/// CPU seconds the calling thread has used.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
