// The HTTP client against real servers on loopback: bodies, gzip both ways, headers, timeouts, retries, errors.
import Foundation
import HTTP
import TestSupport
import Core
import Testing

@Suite struct HTTPClientTests {
    let client: HTTPClient

    init() throws { client = try HTTPClient(caBundle: nil) }

    @Test func getAndPostWithHeaders() async throws {
        let server = try LoopbackServer { req in
            ServerResponse(status: 200, headers: [HTTPHeader("X-Echo-Method", req.method), HTTPHeader("X-Seen", req.header("X-Test") ?? "")],
                           body: req.body.isEmpty ? Array(req.target.utf8) : req.body)
        }
        defer { server.stop() }
        let get = try await client.send(HTTPRequest(url: server.baseURL + "/a?b=c", headers: [HTTPHeader("X-Test", "yes")]))
        #expect(get.status == 200)
        #expect(get.bodyText == "/a?b=c")
        #expect(get.header("x-echo-method") == "GET")
        #expect(get.header("X-Seen") == "yes")
        let put = try await client.send(HTTPRequest(method: .PUT, url: server.baseURL + "/p", body: Array("payload".utf8)))
        #expect(put.header("X-Echo-Method") == "PUT")
        #expect(put.bodyText == "payload")
    }

    @Test func requestBodiesAreGzippedAndResponsesGunzipped() async throws {
        let plain = Array(String(repeating: #"{"path":"/orders/42","status":200}"#, count: 2000).utf8)
        let server = try LoopbackServer { req in
            guard req.header("Content-Encoding") == "gzip", let body = try? GzipDecompressor.decompress(req.body) else {
                return ServerResponse(status: 400, text: "expected a gzip body")
            }
            let answer = (try? GzipCompressor.compress(body)) ?? []
            return ServerResponse(status: 200, headers: [HTTPHeader("Content-Encoding", "gzip"), HTTPHeader("X-Wire-Bytes", String(req.body.count))], body: answer)
        }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(method: .POST, url: server.baseURL + "/ingest", body: plain, gzipBody: true))
        #expect(response.status == 200)
        #expect(response.body == plain)
        #expect((Int(response.header("X-Wire-Bytes") ?? "") ?? .max) < plain.count / 10)
        #expect(response.header("Content-Encoding") == nil)
    }

    @Test func manyConcurrentRequestsAllComplete() async throws {
        let server = try LoopbackServer { req in ServerResponse(status: 200, body: Array(req.target.utf8)) }
        defer { server.stop() }
        let client = self.client
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<64 {
                group.addTask { (i, try await client.send(HTTPRequest(url: server.baseURL + "/\(i)")).bodyText) }
            }
            var all: [(Int, String)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { "/\($0.0)" == $0.1 })
    }

    @Test func totalTimeoutIsEnforced() async throws {
        // The server answers after 10 s; a 300 ms limit must end the request first. A timeout error (not the late
        // 200) proves it, whatever the machine's load: no wall-clock bound, which busy test threads can stretch.
        let server = try LoopbackServer { _ in usleep(10_000_000); return ServerResponse(status: 200, text: "late") }
        defer { server.stop() }
        await #expect {
            try await client.send(HTTPRequest(url: server.baseURL + "/slow", timeout: .milliseconds(300)))
        } throws: { ($0 as? HTTPError)?.kind == .timeout }
    }

    @Test func refusedConnectionIsAConnectError() async throws {
        let port = freeLoopbackPort()
        await #expect {
            try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
        } throws: { ($0 as? HTTPError)?.kind == .connect && ($0 as? HTTPError)?.isRetryable == true }
    }

    @Test func retriesHonourRetryAfterAndStopOnSuccess() async throws {
        let count = Locked(0)
        let server = try LoopbackServer { _ in
            let n = count.withLock { c -> Int in c += 1; return c }
            switch n {
            case 1: return ServerResponse(status: 429, headers: [HTTPHeader("Retry-After", "1")], text: "slow down")
            case 2: return ServerResponse(status: 503, text: "busy")
            // libcurl itself re-sends once when a reused connection dies; the second drop (on a fresh connection) is ours to retry.
            case 3, 4: return .dropConnection
            default: return ServerResponse(status: 200, text: "ok")
            }
        }
        defer { server.stop() }
        let retries = Locked<[String]>([])
        let start = Date()
        // The deadline only bounds a hang: a loaded 2-core machine stretched the 1 s wait and retries past 10 s.
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/r"),
                                             retry: RetryPolicy(maxAttempts: 5, base: .milliseconds(10), cap: .milliseconds(50)),
                                             deadline: .after(milliseconds: 60_000)) { error, _ in
            retries.withLock { $0.append(error.status.map(String.init) ?? error.kind.rawValue) }
        }
        #expect(response.status == 200)
        #expect(count.value == 5)
        #expect(retries.value == ["429", "503", "transport"])
        #expect(Date().timeIntervalSince(start) >= 1.0, "Retry-After: 1 must be honoured")
    }

    @Test func nonRetryableStatusComesBackAtOnce() async throws {
        let count = Locked(0)
        let server = try LoopbackServer { _ in count.withLock { $0 += 1 }; return ServerResponse(status: 400, text: "bad") }
        defer { server.stop() }
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/"), retry: RetryPolicy(), deadline: .after(milliseconds: 5_000))
        #expect(response.status == 400)
        #expect(count.value == 1)
    }

    @Test func retriesNeverSleepPastTheDeadline() async throws {
        let count = Locked(0)
        let server = try LoopbackServer { _ in
            count.withLock { $0 += 1 }
            return ServerResponse(status: 429, headers: [HTTPHeader("Retry-After", "30")], text: "no")
        }
        defer { server.stop() }
        await #expect {
            try await client.send(HTTPRequest(url: server.baseURL + "/"), retry: RetryPolicy(), deadline: .after(milliseconds: 2_000))
        } throws: { ($0 as? HTTPError)?.status == 429 }
        // Retry-After: 30 lies past the 2 s deadline: the 429 is the answer at once, with no second request (counted,
        // not timed: a busy machine can delay this task's resumption but not add a request).
        #expect(count.value == 1)
    }

    @Test func errorsCarryContextButNoSecrets() {
        let e = HTTPError(kind: .status, url: "https://user:hunter2@example.com/x/y?X-Amz-Signature=abc&token=t",
                          status: 403, body: Array(String(repeating: "z", count: 500).utf8), message: "denied")
        #expect(e.url == "https://example.com/x/y")
        #expect(!e.description.contains("hunter2"))
        #expect(!e.description.contains("Signature"))
        #expect(e.bodyPrefix.count == 200)
        #expect(e.description.contains("403"))
    }

    @Test func retryAfterParsing() {
        let now = EpochMillis(784_111_777_000)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryPolicy.retryAfterMilliseconds("120", now: now) == 120_000)
        #expect(RetryPolicy.retryAfterMilliseconds("Sun, 06 Nov 1994 08:49:47 GMT", now: now) == 10_000)
        #expect(RetryPolicy.retryAfterMilliseconds("soon", now: now) == nil)
        #expect(RetryPolicy.retryAfterMilliseconds(nil, now: now) == nil)
    }
}
