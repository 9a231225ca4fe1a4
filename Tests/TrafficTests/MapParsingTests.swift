// The unquoted `{K=V, ...}` map parser against the hazards the reference lists, directly and through a fixture.
import Testing
@testable import Traffic

@Suite struct MapParsingTests {
    func parse(_ text: String, truncated: Bool = false) -> [NameValuePair] {
        ExecutionLogMap.pairs(Array(text.utf8), truncated: truncated)
    }

    @Test func valuesWithCommaSpaceAndEqualsStayWhole() {
        let pairs = parse("{Accept=application/json, text/plain, */*, Date=Tue, 26 Feb 2019 15:29:33 GMT, "
            + "X-Amzn-Trace-Id=Root=1-5c755b5d-abc;Parent=def;Sampled=1, Host=api.example.com}")
        #expect(pairs == [
            NameValuePair("Accept", "application/json, text/plain, */*"),
            NameValuePair("Date", "Tue, 26 Feb 2019 15:29:33 GMT"),
            NameValuePair("X-Amzn-Trace-Id", "Root=1-5c755b5d-abc;Parent=def;Sampled=1"),
            NameValuePair("Host", "api.example.com"),
        ])
    }

    @Test func multiValueSetCookieWithAttributes() {
        let pairs = parse("{Set-Cookie=AWSALB=xxx; Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/,AWSALBCORS=yyy; "
            + "Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/; SameSite=None, Cache-Control=private}")
        #expect(pairs == [
            NameValuePair("Set-Cookie", "AWSALB=xxx; Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/,AWSALBCORS=yyy; "
                + "Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/; SameSite=None"),
            NameValuePair("Cache-Control", "private"),
        ])
    }

    @Test func cookieAttributesAfterCommaContinueSetCookieOnly() {
        let pairs = parse("{Set-Cookie=sid=1, Path=/, Domain=example.com, Max-Age=60, SameSite=Lax, X-Next=1, path=/p}")
        #expect(pairs == [
            NameValuePair("Set-Cookie", "sid=1, Path=/, Domain=example.com, Max-Age=60, SameSite=Lax"),
            NameValuePair("X-Next", "1"),
            // Outside Set-Cookie a `path=` token is a header of its own.
            NameValuePair("path", "/p"),
        ])
    }

    @Test func emptyAndOddMaps() {
        #expect(parse("{}").isEmpty)
        #expect(parse("").isEmpty)
        #expect(parse("null").isEmpty)
        #expect(parse("{A=}") == [NameValuePair("A", "")])
        #expect(parse("{A=1, B=}") == [NameValuePair("A", "1"), NameValuePair("B", "")])
        #expect(parse("{A=x}y}") == [NameValuePair("A", "x}y")])
        #expect(parse("{noequals}") == [NameValuePair("noequals", "")])
    }

    @Test func truncatedMapKeepsTheLastPartialValueAndItsBrace() {
        #expect(parse("{A=1, B=tex", truncated: true) == [NameValuePair("A", "1"), NameValuePair("B", "tex")])
        // Without the closing brace (lost to truncation) a `}` at the cut belongs to the value.
        #expect(parse("{A=1, B={x}", truncated: true) == [NameValuePair("A", "1"), NameValuePair("B", "{x}")])
    }

    @Test func fixtureWithEveryHazard() throws {
        let t = try Fixtures.one("rest-map-parsing-hazards.ndjson")
        let request = t.request.headers
        #expect(request.value("Accept") == "application/json, text/plain, */*")
        #expect(request.value("Accept-Language") == "en-GB,en;q=0.9")
        #expect(request.value("Cookie") == "session=abc123; theme=dark")
        #expect(request.value("If-Modified-Since") == "Tue, 26 Feb 2019 15:29:33 GMT")
        #expect(request.count == 6)
        #expect(t.request.host == "shop.example.com")
        #expect(t.request.clientIp == "198.51.100.23")
        #expect(t.request.query == [NameValuePair("filter", "color=red"), NameValuePair("sort", "price,desc")])

        let response = t.response.headers
        // Method response headers first: one Set-Cookie whose `, Path=/, Domain=..., Max-Age=...` stayed inside it.
        #expect(response.values("Set-Cookie") == ["sid=42; Path=/, Domain=example.com, Max-Age=3600; HttpOnly"])
        #expect(response.value("Content-Type") == "text/html; charset=UTF-8")
        #expect(response.value("WWW-Authenticate") == #"Bearer realm="shop", error="invalid_token""#)
        // Endpoint headers fill in the rest; their own Set-Cookie and Content-Type lose to the method response.
        #expect(response.value("Date") == "Tue, 26 Feb 2019 15:29:33 GMT")
        #expect(response.value("Cache-Control") == "private, max-age=0, s-maxage=60")
        #expect(response.value("Vary") == "Accept-Encoding, Origin")
        #expect(response.value("Server") == "nginx")
        #expect(response.names == ["Set-Cookie", "Content-Type", "WWW-Authenticate", "X-Amzn-Trace-Id", "Date", "Server",
                                   "Cache-Control", "Vary"])
    }
}
