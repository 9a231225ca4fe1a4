// Container credentials (ECS/EKS) against a strict fake endpoint on loopback: the Authorization header, a rotated
// token file, and the endpoint's errors.
import Foundation
import HTTP
import Core
import Testing
@testable import AWS

/// The credential endpoint of the ECS agent / EKS Pod Identity agent: GET on its one path, with the expected
/// `Authorization` value (401 and a JSON error otherwise), answering the documented JSON.
final class FakeContainerEndpoint: Sendable {
    let server: LoopbackServer
    let path = "/v1/credentials"
    private let log = Locked<[ServerRequest]>([])
    private let expected = Locked<String?>(nil)
    private let keys = Locked(0)

    init(token: String?) throws {
        expected.withLock { $0 = token }
        let log = self.log, expected = self.expected, keys = self.keys, path = self.path
        server = try LoopbackServer { request in
            log.withLock { $0.append(request) }
            let json = HTTPHeader("Content-Type", "application/json")
            guard request.path == path else { return ServerResponse(status: 404, headers: [json], text: #"{"code":"NotFound","message":"no such path"}"#) }
            guard request.method == "GET" else { return ServerResponse(status: 405, headers: [json], text: #"{"code":"MethodNotAllowed","message":"GET only"}"#) }
            guard request.header("Authorization") == expected.value else {
                return ServerResponse(status: 401, headers: [json], text: #"{"code":"AccessDeniedException","message":"the authorization token is not valid"}"#)
            }
            let n = keys.withLock { $0 += 1; return $0 }
            let expiration = EpochMillis.now().adding(milliseconds: 3_600_000).iso8601
            return ServerResponse(status: 200, headers: [json], text: """
            {"AccessKeyId":"ASIACONTAINER\(n)","SecretAccessKey":"container-secret-\(n)-value","Token":"container-session-\(n)-token",\
            "Expiration":"\(expiration)","RoleArn":"arn:aws:iam::123456789012:role/task"}
            """)
        }
    }

    func expect(_ token: String?) { expected.withLock { $0 = token } }
    var requests: [ServerRequest] { log.value }
    var url: String { server.baseURL + path }
    deinit { server.stop() }
}

@Suite struct ContainerCredentialTests {
    func provider(_ env: [String: String], clock: TestClock = TestClock()) throws -> any AWSCredentialProvider {
        let r = AWSCredentialChain.resolve(env.with(["AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true"]),
                                           http: sharedHTTP, clock: clock.closure)
        #expect(r.problems == [])
        return try #require(r.provider)
    }

    @Test func theTokenFromTheEnvironmentIsSentAsAuthorization() async throws {
        let token = "Basic container-auth-token-value"
        let endpoint = try FakeContainerEndpoint(token: token)
        let provider = try provider(["AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN": token])
        let credentials = try await provider.credentials(deadline: .after(milliseconds: 10_000))
        #expect(credentials.accessKeyID == "ASIACONTAINER1")
        #expect(credentials.sessionToken == "container-session-1-token")
        #expect(endpoint.requests.first?.header("Authorization") == token)
        #expect(SecretRedactor.shared.redact("Authorization: \(token), container-secret-1-value") == "Authorization: ***, ***")
    }

    @Test func theTokenFileIsReadAtEveryFetchAndWinsOverTheVariable() async throws {
        let dir = NSTemporaryDirectory() + "apitap-container-\(UInt64.random(in: 0..<UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/token"
        try "eks-pod-identity-token-one\n".write(toFile: file, atomically: true, encoding: .utf8)
        let endpoint = try FakeContainerEndpoint(token: "eks-pod-identity-token-one")
        let clock = TestClock()
        let provider = try provider(["AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file,
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-a-file-is-given"], clock: clock)
        #expect(try await provider.credentials(deadline: .after(milliseconds: 10_000)).accessKeyID == "ASIACONTAINER1")

        // The agent rotates the token: the renewal an hour later reads the new one.
        try "eks-pod-identity-token-two".write(toFile: file, atomically: true, encoding: .utf8)
        endpoint.expect("eks-pod-identity-token-two")
        clock.advance(minutes: 58)
        #expect(try await provider.credentials(deadline: .after(milliseconds: 10_000)).accessKeyID == "ASIACONTAINER2")
        #expect(endpoint.requests.map { $0.header("Authorization") } == ["eks-pod-identity-token-one", "eks-pod-identity-token-two"])
    }

    @Test func aRefusedTokenIsTheEndpointsErrorNotTheToken() async throws {
        let endpoint = try FakeContainerEndpoint(token: "the-right-token-value")
        let provider = try provider(["AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url,
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN": "a-wrong-token-value"])
        do {
            _ = try await provider.credentials(deadline: .after(milliseconds: 10_000))
            Issue.record("a refused token gave credentials")
        } catch {
            #expect(error.status == 401)
            #expect(error.code == "AccessDeniedException")
            #expect(error.message == "the authorization token is not valid")
            #expect(!SecretRedactor.shared.redact(error.description).contains("a-wrong-token-value"))
        }
    }

    @Test func aMissingTokenFileIsNamed() async throws {
        let endpoint = try FakeContainerEndpoint(token: nil)
        let provider = try provider(["AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url,
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/nonexistent/apitap/token"])
        do {
            _ = try await provider.credentials(deadline: .after(milliseconds: 10_000))
            Issue.record("no token file, yet credentials")
        } catch {
            #expect(error.code == "TokenFileUnreadable")
            #expect(error.message.contains("/nonexistent/apitap/token"))
        }
        #expect(endpoint.requests.isEmpty)
    }
}
