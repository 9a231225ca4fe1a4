// Shared test helpers: one HTTP client per process, a recording fake AWS on loopback.
import Foundation
import HTTP
import Core
@testable import AWS

/// The HTTP client's engine thread lives as long as the process: share one.
let sharedHTTP: HTTPClient = {
    do { return try HTTPClient() } catch { fatalError("HTTPClient: \(error)") }
}()

let fastRetry = RetryPolicy(maxAttempts: 4, base: .milliseconds(1), cap: .milliseconds(5))

/// A loopback HTTP server that records requests and answers from a script (the last answer repeats).
final class FakeAWS: Sendable {
    let server: LoopbackServer
    private let log = Locked<[ServerRequest]>([])

    init(_ answers: [ServerResponse]) throws {
        let log = self.log
        let script = Locked(answers)
        server = try LoopbackServer { request in
            log.withLock { $0.append(request) }
            return script.withLock { s in s.count > 1 ? s.removeFirst() : (s.first ?? ServerResponse(status: 500)) }
        }
    }

    var requests: [ServerRequest] { log.withLock { $0 } }

    func client(credentials: AWSCredentials = AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "SECRET-NEVER-PRINTED"),
                retry: RetryPolicy = fastRetry) throws -> AWSClient {
        try AWSClient(http: sharedHTTP, credentials: credentials, region: AWSRegion("us-east-1"),
                      environment: ["AWS_ENDPOINT_URL": server.baseURL], retry: retry)
    }

    deinit { server.stop() }
}

func json(_ status: Int, _ text: String, headers: [HTTPHeader] = []) -> ServerResponse {
    ServerResponse(status: status, headers: headers + [HTTPHeader("Content-Type", "application/x-amz-json-1.1")], text: text)
}
