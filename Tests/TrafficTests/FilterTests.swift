// CONTENT_TYPE_REGEX and EXCLUDED_EXTENSIONS_REGEX: what is kept, what is dropped and why.
import AWS
import Testing
@testable import Traffic

@Suite struct FilterTests {
    @Test func defaultFiltersOnFixture() throws {
        let (all, _) = try Fixtures.stitch("rest-filter-content-types-and-static-files.ndjson")
        #expect(all.count == 8)
        var filter = try TransactionFilter()
        var counters = FilterCounters()
        let kept = all.filter { filter.keep($0, counters: &counters) }
        #expect(kept.map { $0.request.path ?? "" } == ["/api/items", "/api/page", "/api/soap", "/api/items"])
        // The throttled request has no response content type and is kept.
        #expect(kept.last?.response.status == 429)
        #expect(counters.excludedExtension == 2)
        #expect(counters.contentType == 2)
    }

    @Test func verdictReasons() throws {
        var filter = try TransactionFilter()
        func transaction(path: String?, contentType: String?) -> Transaction {
            var request = TransactionRequest()
            request.path = path
            var response = TransactionResponse()
            if let contentType { response.headers = [NameValuePair("content-type", contentType)] }
            let source = TransactionSource(type: .restExecutionLog, region: AWSRegion("us-east-1"), accountId: nil, apiId: nil,
                                           stage: nil, logGroup: LogGroupName("g"), logStream: LogStreamName("s"))
            return Transaction(id: "x", source: source, requestId: RequestID("r"), startTime: .init(0), endTime: .init(0),
                               request: request, response: response)
        }
        #expect(filter.verdict(for: transaction(path: "/a/b.js", contentType: "application/json")) == .dropExcludedExtension)
        #expect(filter.verdict(for: transaction(path: "/fonts/x.woff2", contentType: nil)) == .dropExcludedExtension)
        #expect(filter.verdict(for: transaction(path: "/js/api", contentType: "application/json")) == .keep)
        #expect(filter.verdict(for: transaction(path: "/x", contentType: "application/vnd.api+json")) == .keep)
        #expect(filter.verdict(for: transaction(path: "/x", contentType: "application/x-www-form-urlencoded")) == .keep)
        #expect(filter.verdict(for: transaction(path: "/x", contentType: "text/plain; charset=utf-8")) == .keep)
        #expect(filter.verdict(for: transaction(path: "/x", contentType: "image/jpeg")) == .dropContentType)
        #expect(filter.verdict(for: transaction(path: nil, contentType: nil)) == .keep)
        // Cached answers are the same answers.
        #expect(filter.verdict(for: transaction(path: "/a/b.js", contentType: "application/json")) == .dropExcludedExtension)

        var custom = try TransactionFilter(contentTypePattern: "^application/json", excludedExtensionsPattern: nil)
        #expect(custom.verdict(for: transaction(path: "/a/b.js", contentType: "application/json")) == .keep)
        #expect(custom.verdict(for: transaction(path: "/a", contentType: "text/html")) == .dropContentType)
    }

    @Test func invalidPatternNamesTheSetting() {
        do {
            _ = try TransactionFilter(contentTypePattern: "(unclosed", excludedExtensionsPattern: nil)
            Issue.record("an invalid pattern was accepted")
        } catch {
            #expect(error.setting == "CONTENT_TYPE_REGEX")
            #expect(error.description.contains("(unclosed"))
        }
    }
}
