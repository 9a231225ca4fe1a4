// IMDSv2 credentials against a strict fake metadata service on loopback, then used to sign a request.
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS

/// The parts of the EC2 instance metadata service the credential provider uses, as strict as the real one with
/// `HttpTokens=required`: a token only by PUT with a TTL header of 1-21600 seconds (400 otherwise, 403 through a
/// proxy); every GET without a valid token is 401; unknown paths 404, other methods 405.
final class FakeInstanceMetadata: Sendable {
    let server: LoopbackServer
    let role: String
    private let log = Locked<[ServerRequest]>([])
    private let issued = Locked<[String]>([])
    private let keys = Locked(0)
    let expiresInMinutes: Int64

    init(role: String = "apitap-instance-role", expiresInMinutes: Int64 = 360) throws {
        self.role = role
        self.expiresInMinutes = expiresInMinutes
        let log = self.log, issued = self.issued, keys = self.keys
        server = try LoopbackServer { request in
            log.withLock { $0.append(request) }
            return FakeInstanceMetadata.answer(request, role: role, expiresInMinutes: expiresInMinutes, issued: issued, keys: keys)
        }
    }

    var requests: [ServerRequest] { log.value }
    var environment: [String: String] { ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.baseURL + "/"] }

    static func answer(_ request: ServerRequest, role: String, expiresInMinutes: Int64, issued: Locked<[String]>,
                       keys: Locked<Int>) -> ServerResponse {
        let text = { (status: Int, body: String) in ServerResponse(status: status, headers: [HTTPHeader("Content-Type", "text/plain")], text: body) }
        if request.path == "/latest/api/token" {
            guard request.method == "PUT" else { return text(405, "") }
            if request.header("X-Forwarded-For") != nil { return text(403, "") }
            guard let ttl = request.header("X-aws-ec2-metadata-token-ttl-seconds").flatMap({ Int($0) }), (1...21_600).contains(ttl) else {
                return text(400, "")
            }
            let token = "AQAEA" + String(UInt64.random(in: 0..<UInt64.max), radix: 36) + "-imds-token"
            issued.withLock { $0.append(token) }
            return ServerResponse(status: 200, headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", String(ttl))], text: token)
        }
        guard request.path.hasPrefix("/latest/meta-data/") else { return text(404, "") }
        guard request.method == "GET" else { return text(405, "") }
        guard let token = request.header("X-aws-ec2-metadata-token"), issued.value.contains(token) else { return text(401, "") }
        switch request.path {
        case "/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials":
            return text(200, role)
        case "/latest/meta-data/iam/security-credentials/" + role:
            let n = keys.withLock { $0 += 1; return $0 }
            let now = EpochMillis.now()
            let body = """
            {
              "Code" : "Success",
              "LastUpdated" : "\(now.iso8601.prefix(19))Z",
              "Type" : "AWS-HMAC",
              "AccessKeyId" : "ASIAIMDS\(n)",
              "SecretAccessKey" : "imds-secret-\(n)-wJalrXUtnFEMI",
              "Token" : "imds-session-token-\(n)-IQoJb3JpZ2luX2Vj",
              "Expiration" : "\(now.adding(milliseconds: expiresInMinutes * 60_000).iso8601.prefix(19))Z"
            }
            """
            return text(200, body)
        default:
            return text(404, "")
        }
    }

    deinit { server.stop() }
}

@Suite struct InstanceMetadataCredentialTests {
    func provider(_ env: [String: String]) throws -> any AWSCredentialProvider {
        let r = AWSCredentialChain.resolve(env.with(["AWS_REGION": "eu-west-1"]), http: sharedHTTP)
        #expect(r.problems == [])
        return try #require(r.provider)
    }

    @Test func theFakeRefusesWhatIMDSRefuses() async throws {
        let imds = try FakeInstanceMetadata()
        let base = imds.server.baseURL
        #expect(try await sharedHTTP.send(HTTPRequest(method: .GET, url: base + "/latest/meta-data/iam/security-credentials/")).status == 401)
        #expect(try await sharedHTTP.send(HTTPRequest(method: .PUT, url: base + "/latest/api/token")).status == 400)
        #expect(try await sharedHTTP.send(HTTPRequest(method: .PUT, url: base + "/latest/api/token",
                                                      headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", "21601")])).status == 400)
        #expect(try await sharedHTTP.send(HTTPRequest(method: .GET, url: base + "/latest/meta-data/iam/security-credentials/",
                                                      headers: [HTTPHeader("X-aws-ec2-metadata-token", "forged")])).status == 401)
    }

    @Test func tokenThenRoleThenCredentialsAndTheyAreUsedToSign() async throws {
        let imds = try FakeInstanceMetadata()
        let provider = try provider(imds.environment)
        #expect("\(provider)" == "instance metadata (IMDSv2) at \(imds.server.baseURL)")
        let credentials = try await provider.credentials(deadline: .after(milliseconds: 10_000))
        #expect(credentials.accessKeyID == "ASIAIMDS1")
        #expect(credentials.sessionToken == "imds-session-token-1-IQoJb3JpZ2luX2Vj")
        #expect(credentials.expiration != nil)

        let seen = imds.requests
        #expect(seen.map { "\($0.method) \($0.path)" } == ["PUT /latest/api/token",
                                                           "GET /latest/meta-data/iam/security-credentials/",
                                                           "GET /latest/meta-data/iam/security-credentials/apitap-instance-role"])
        #expect(seen[0].header("X-aws-ec2-metadata-token-ttl-seconds") == "21600")
        let token = try #require(seen[1].header("X-aws-ec2-metadata-token"))
        #expect(seen[2].header("X-aws-ec2-metadata-token") == token)
        #expect(SecretRedactor.shared.redact("\(token) imds-secret-1-wJalrXUtnFEMI imds-session-token-1-IQoJb3JpZ2luX2Vj") == "*** *** ***")

        // Kept, not fetched again, and used to sign: the key id in the credential scope, the token in its header.
        let aws = try FakeAWS([json(200, #"{"logGroups":[]}"#)])
        let client = try AWSClient(http: sharedHTTP, credentialProvider: provider, region: AWSRegion("eu-west-1"),
                                   environment: ["AWS_ENDPOINT_URL": aws.server.baseURL])
        _ = try await CloudWatchLogsClient(client).describeLogGroups()
        #expect(imds.requests.count == 3)
        let signed = try #require(aws.requests.first)
        #expect(signed.header("Authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=ASIAIMDS1/") == true)
        #expect(signed.header("X-Amz-Security-Token") == "imds-session-token-1-IQoJb3JpZ2luX2Vj")
    }

    @Test func offEC2TheFirstCallFailsAndSaysWhatWasLookedFor() async throws {
        let port = freeLoopbackPort()
        let provider = try provider(["HOME": "/nonexistent-apitap-home", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)"])
        do {
            _ = try await provider.credentials(deadline: .after(milliseconds: 10_000))
            Issue.record("credentials from nowhere")
        } catch {
            #expect(error.service == AWSCredentialError.service)
            #expect(error.description.contains("nothing in the environment (AWS_ACCESS_KEY_ID), profile \"default\""))
            #expect(error.description.contains("IMDSv2 token"))
            #expect(error.code.hasPrefix("Transport."))
        }
    }

    @Test func anInstanceWithoutARoleIsReported() async throws {
        let imds = try FakeInstanceMetadata(role: "")
        do {
            _ = try await provider(imds.environment).credentials(deadline: .after(milliseconds: 10_000))
            Issue.record("credentials without a role")
        } catch {
            #expect("\(error)".contains("no IAM role is attached to this instance"))
        }
    }

    @Test func endpointSettingsAreChecked() {
        for bad in ["169.254.169.254", "http://user@127.0.0.1", "http://127.0.0.1/?x=1"] {
            #expect(throws: ConfigurationProblems.self, "\(bad)") {
                try InstanceMetadataSource.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": bad])
            }
        }
        #expect(throws: ConfigurationProblems.self) {
            try InstanceMetadataSource.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"])
        }
        #expect((try? InstanceMetadataSource.fromEnvironment(["AWS_EC2_METADATA_DISABLED": "TRUE"])) == .some(nil))
    }
}
