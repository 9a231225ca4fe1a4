// An assumed role that expires is assumed again: a strict fake STS stamps expirations with the clock the test moves,
// and a recording fake AWS shows which key signed each call.
import Foundation
import HTTP
import Core
import Testing
@testable import AWS

/// STS's AssumeRole as the Query API defines it: POST / with a form body (Action, Version 2011-06-15, RoleArn,
/// RoleSessionName, DurationSeconds, ExternalId), signed with SigV4 for the `sts` service; the XML answer, or STS's
/// XML error (`ErrorResponse/Error/Code`) for anything it does not accept.
final class FakeSTS: Sendable {
    let server: LoopbackServer
    private let log = Locked<[(request: ServerRequest, form: [String: String])]>([])
    private let issued = Locked(0)
    let clock: TestClock
    /// Answered with 503 ServiceUnavailable while set.
    let down = Locked(false)

    init(clock: TestClock) throws {
        self.clock = clock
        let log = self.log, issued = self.issued, down = self.down
        server = try LoopbackServer { request in
            let form = FakeSTS.decodeForm(request.body)
            log.withLock { $0.append((request, form)) }
            if down.value { return FakeSTS.error(503, "ServiceUnavailable", "Service is unavailable", type: "Receiver") }
            if let problem = FakeSTS.problem(request, form) { return FakeSTS.error(400, problem.code, problem.message) }
            let n = issued.withLock { $0 += 1; return $0 }
            let duration = Int64(form["DurationSeconds"] ?? "3600")!
            let expiration = clock.current.adding(milliseconds: duration * 1000).iso8601.prefix(19) + "Z"
            return ServerResponse(status: 200, headers: [HTTPHeader("Content-Type", "text/xml")], text: """
            <AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <AssumeRoleResult>
                <SourceIdentity>laptop</SourceIdentity>
                <AssumedRoleUser>
                  <Arn>arn:aws:sts::123456789012:assumed-role/reader/\(form["RoleSessionName"]!)</Arn>
                  <AssumedRoleId>AROA3XFRBF535PLBIFPI4:\(form["RoleSessionName"]!)</AssumedRoleId>
                </AssumedRoleUser>
                <Credentials>
                  <AccessKeyId>ASIAFAKESTS\(n)</AccessKeyId>
                  <SecretAccessKey>fake-sts-secret-\(n)-wJalrXUtnFEMI</SecretAccessKey>
                  <SessionToken>fake-sts-session-\(n)-IQoJb3JpZ2luX2VjEJv</SessionToken>
                  <Expiration>\(expiration)</Expiration>
                </Credentials>
                <PackedPolicySize>6</PackedPolicySize>
              </AssumeRoleResult>
              <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
            </AssumeRoleResponse>
            """)
        }
    }

    var calls: [(request: ServerRequest, form: [String: String])] { log.value }

    static func problem(_ request: ServerRequest, _ form: [String: String]) -> (code: String, message: String)? {
        guard request.method == "POST", request.path == "/" else { return ("InvalidAction", "only POST / is served") }
        guard request.header("Content-Type")?.hasPrefix("application/x-www-form-urlencoded") == true else {
            return ("InvalidParameterValue", "the body must be form-encoded")
        }
        guard let auth = request.header("Authorization"), auth.hasPrefix("AWS4-HMAC-SHA256 Credential="),
              let scope = auth.split(separator: "=").dropFirst().first?.split(separator: ",").first,
              scope.split(separator: "/").count == 5, scope.hasSuffix("/sts/aws4_request"),
              auth.contains("SignedHeaders="), auth.contains("host;"),
              let signature = auth.components(separatedBy: "Signature=").last, signature.count == 64,
              signature.allSatisfy(\.isHexDigit),
              request.header("X-Amz-Date")?.count == 16 else {
            return ("MissingAuthenticationToken", "Request is missing Authentication Token")
        }
        let known: Set<String> = ["Action", "Version", "RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId"]
        if let unknown = form.keys.first(where: { !known.contains($0) }) { return ("InvalidParameterValue", "unknown parameter \(unknown)") }
        guard form["Action"] == "AssumeRole" else { return ("InvalidAction", "Could not find operation \(form["Action"] ?? "")") }
        guard form["Version"] == "2011-06-15" else { return ("InvalidParameterValue", "Version") }
        guard let arn = form["RoleArn"], arn.hasPrefix("arn:aws:iam::"), arn.contains(":role/") else {
            return ("ValidationError", "1 validation error detected: Value at 'roleArn' failed to satisfy constraint")
        }
        guard let name = form["RoleSessionName"], (2...64).contains(name.count) else {
            return ("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint")
        }
        guard let duration = form["DurationSeconds"].flatMap({ Int($0) }), (900...43_200).contains(duration) else {
            return ("ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint")
        }
        return nil
    }

    static func error(_ status: Int, _ code: String, _ message: String, type: String = "Sender") -> ServerResponse {
        ServerResponse(status: status, headers: [HTTPHeader("Content-Type", "text/xml")], text: """
        <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <Error><Type>\(type)</Type><Code>\(code)</Code><Message>\(message)</Message></Error>
          <RequestId>4c5f5f9d-0000-4000-8000-000000000000</RequestId>
        </ErrorResponse>
        """)
    }

    static func decodeForm(_ body: [UInt8]) -> [String: String] {
        var form: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            form[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return form
    }

    deinit { server.stop() }
}

@Suite struct AssumeRoleRenewalTests {
    struct Setup {
        let clock: TestClock
        let sts: FakeSTS
        let aws: FakeAWS
        let files: SharedFiles
        let provider: RenewingCredentialProvider
        let client: AWSClient
    }

    func setup(config: String = """
    [profile reader]
    role_arn = arn:aws:iam::123456789012:role/reader
    source_profile = laptop
    duration_seconds = 900
    external_id = apitap-external-1
    """, profile: String = "reader") throws -> Setup {
        let clock = TestClock()
        let sts = try FakeSTS(clock: clock)
        let aws = try FakeAWS([json(200, #"{"logGroups":[]}"#)])
        let files = try SharedFiles(credentials: "[laptop]\naws_access_key_id = AKIDLAPTOP\naws_secret_access_key = laptop-secret-value\n",
                                    config: config)
        let env = files.environment.with(["AWS_PROFILE": profile, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_STS": sts.server.baseURL,
                                          "AWS_ENDPOINT_URL": aws.server.baseURL])
        let resolution = AWSCredentialChain.resolve(env, http: sharedHTTP, retry: fastRetry, clock: clock.closure)
        #expect(resolution.problems == [])
        let provider = try #require(resolution.provider as? RenewingCredentialProvider)
        let client = try AWSClient(http: sharedHTTP, credentialProvider: provider, region: AWSRegion("eu-west-1"), environment: env)
        return Setup(clock: clock, sts: sts, aws: aws, files: files, provider: provider, client: client)
    }

    /// The key id in the credential scope of each call the fake AWS received.
    func signingKeys(_ aws: FakeAWS) -> [String] {
        aws.requests.compactMap { $0.header("Authorization")?.components(separatedBy: "Credential=").last?.components(separatedBy: "/").first }
    }

    @Test func anExpiredRoleIsAssumedAgainAndTheNewKeySigns() async throws {
        let s = try setup()
        let logs = CloudWatchLogsClient(s.client)
        _ = try await logs.describeLogGroups()
        _ = try await logs.describeLogGroups()
        #expect(s.sts.calls.count == 1)
        let call = try #require(s.sts.calls.first)
        #expect(call.form["RoleArn"] == "arn:aws:iam::123456789012:role/reader")
        #expect(call.form["DurationSeconds"] == "900")
        #expect(call.form["ExternalId"] == "apitap-external-1")
        #expect(call.form["RoleSessionName"]?.hasPrefix("apitap-") == true)
        #expect(call.request.header("Authorization")?.contains("Credential=AKIDLAPTOP/") == true, "signed with the source profile's key")
        #expect(call.request.header("Authorization")?.contains("/eu-west-1/sts/aws4_request") == true)

        // 16 minutes later the 15-minute credentials have expired: the next call assumes the role again.
        s.clock.advance(minutes: 16)
        _ = try await logs.describeLogGroups()
        #expect(s.sts.calls.count == 2)
        #expect(signingKeys(s.aws) == ["ASIAFAKESTS1", "ASIAFAKESTS1", "ASIAFAKESTS2"])
        #expect(s.aws.requests.last?.header("X-Amz-Security-Token") == "fake-sts-session-2-IQoJb3JpZ2luX2VjEJv")

        // 11 minutes on, 4 are left: renewed before expiry (the margin is 5 minutes).
        s.clock.advance(minutes: 11)
        _ = try await logs.describeLogGroups()
        #expect(signingKeys(s.aws).last == "ASIAFAKESTS3")
        #expect(SecretRedactor.shared.redact("fake-sts-secret-3-wJalrXUtnFEMI") == "***")
    }

    @Test func manyConcurrentCallsAssumeTheRoleOnce() async throws {
        let s = try setup()
        let client = s.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 { group.addTask { _ = try await CloudWatchLogsClient(client).describeLogGroups() } }
            try await group.waitForAll()
        }
        #expect(s.sts.calls.count == 1)
        #expect(Set(signingKeys(s.aws)) == ["ASIAFAKESTS1"])
    }

    @Test func whileSTSIsDownTheOldRoleCredentialsServeUntilTheyExpire() async throws {
        let s = try setup()
        let logs = CloudWatchLogsClient(s.client)
        _ = try await logs.describeLogGroups()
        s.sts.down.withLock { $0 = true }
        s.clock.advance(minutes: 12)
        _ = try await logs.describeLogGroups()
        #expect(signingKeys(s.aws).last == "ASIAFAKESTS1", "3 minutes left: the old key still signs")
        s.clock.advance(minutes: 4)
        do {
            _ = try await logs.describeLogGroups()
            Issue.record("signed with expired credentials")
        } catch {
            #expect(error.service == "STS")
            #expect(error.status == 503)
            #expect(error.code == "ServiceUnavailable")
            #expect(error.operation == "AssumeRole for profile \"reader\"")
        }
        s.sts.down.withLock { $0 = false }
        _ = try await logs.describeLogGroups()
        #expect(signingKeys(s.aws).last == "ASIAFAKESTS2")
    }

    @Test func aRoleAssumedFromAnAssumedRole() async throws {
        let s = try setup(config: """
        [profile hop1]
        role_arn = arn:aws:iam::123456789012:role/hop1
        source_profile = laptop
        [profile hop2]
        role_arn = arn:aws:iam::123456789012:role/hop2
        source_profile = hop1
        role_session_name = second-hop
        """, profile: "hop2")
        _ = try await CloudWatchLogsClient(s.client).describeLogGroups()
        let calls = s.sts.calls
        #expect(calls.map { $0.form["RoleArn"] } == ["arn:aws:iam::123456789012:role/hop1", "arn:aws:iam::123456789012:role/hop2"])
        #expect(calls[0].request.header("Authorization")?.contains("Credential=AKIDLAPTOP/") == true)
        #expect(calls[1].request.header("Authorization")?.contains("Credential=ASIAFAKESTS1/") == true)
        #expect(calls[1].request.header("X-Amz-Security-Token") == "fake-sts-session-1-IQoJb3JpZ2luX2VjEJv")
        #expect(calls[1].form["RoleSessionName"] == "second-hop")
        #expect(calls[1].form["DurationSeconds"] == "3600")
        #expect(signingKeys(s.aws) == ["ASIAFAKESTS2"])
    }

    @Test func anAnswerWithoutCredentialsIsAnInvalidResponse() {
        #expect(AssumeRole.parse(Array("<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>".utf8)) == nil)
        let noToken = "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey><Expiration>2026-01-01T00:00:00Z</Expiration></Credentials>"
        #expect(AssumeRole.parse(Array(noToken.utf8)) == nil)
        let good = "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S&amp;</SecretAccessKey><SessionToken>T</SessionToken>"
            + "<Expiration>2026-01-01T00:00:00.000Z</Expiration></Credentials>"
        let parsed = AssumeRole.parse(Array(good.utf8))
        #expect(parsed?.secretAccessKey == "S&")
        #expect(parsed?.expiration == EpochMillis.parseISO8601("2026-01-01T00:00:00Z"))
    }
}
