// The one rule for URLs that carry credentials: https anywhere, http only to a loopback host, decided on the parsed host.
import Core
import Testing

@Suite struct URLPartsTests {
    @Test func lookalikesOfLoopbackAreNotLoopback() {
        for bypass in ["http://127.0.0.1@attacker.example/x", "http://127.0.0.1.attacker.example/x", "http://localhost.attacker.example/x",
                       "http://localhost@attacker.example:8080/", "http://user:pw@127.0.0.1@evil.example/", "http://[::1].evil.example/",
                       "http://127.0.0.1:80@evil.example/", "http://0x7f.0.0.1/", "http://127.1/", "http://127.0.0.256/"] {
            #expect(URLParts.credentialProblem(bypass) != nil, "\(bypass) was accepted")
        }
    }

    @Test func realLoopbackAndHTTPSAreAccepted() {
        for ok in ["http://127.0.0.1:8080/token", "http://127.9.8.7/", "http://localhost/x", "http://LOCALHOST:1/", "http://[::1]:443/a",
                   "http://user@127.0.0.1/", "https://uap.example.com/api-transactions", "https://10.0.0.1:9443/x?y=1#z"] {
            #expect(URLParts.credentialProblem(ok) == nil, "\(ok) was refused")
        }
    }

    @Test func notURLsAtAll() {
        for bad in ["", "not a url", "uap.example.com/x", "ftp://x.example/", "https://", "https://:443/", "https://h:99999/",
                    "https://h x/", "https://h/\u{0}", "https://[::1/"] {
            #expect(URLParts.credentialProblem(bad) != nil, "\(bad) was accepted")
        }
    }

    @Test func partsAreSplitWhereRFC3986SplitsThem() throws {
        let u = try #require(URLParts("HTTPS://a:b@Host.Example:8443/p?q#f"))
        #expect(u.scheme == "https" && u.userinfo == "a:b" && u.host == "Host.Example" && u.port == 8443)
        let v6 = try #require(URLParts("http://[2001:db8::1]:80/"))
        #expect(v6.host == "[2001:db8::1]" && v6.port == 80 && !v6.isLoopbackHost)
    }
}

@Suite struct URLRedactionTests {
    @Test func userinfoAndCredentialParametersOfEveryURLAreMasked() {
        let list = "https://u:p@a.example/x?token=t1&page=2, syslog+tls://v:w@siem:6514,https://s3.example/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2F1#f"
        let out = URLParts.redactingCredentials(list)
        #expect(out == "https://***@a.example/x?token=***&page=2, syslog+tls://***@siem:6514,https://s3.example/k?X-Amz-Signature=***&X-Amz-Credential=***#f")
        for secret in ["u:p", "t1", "v:w", "abc", "AKIA"] { #expect(!out.contains(secret), "\(secret) in \(out)") }
        #expect(URLParts.redactingCredentials("plain text, no url") == "plain text, no url")
        #expect(URLParts.redactingCredentials("https://h/p?access_token=zz") == "https://h/p?access_token=***")
    }
}
