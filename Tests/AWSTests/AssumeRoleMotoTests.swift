// A profile's role_arn + source_profile against moto_server with signature checking on: AssumeRole must be signed
// with the source profile's key, its answer parsed, and the assumed credentials used for S3 and CloudWatch Logs.
// (Renewal on expiry is driven by a clock the test moves; moto stamps real time, so that is in AssumeRoleRenewalTests.)
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS

@Suite struct AssumeRoleMotoTests {
    /// A moto that checks signatures from its sixth action on, with a user (allow-all, one access key) and a role
    /// that trusts it (allow-all). Returns the user's key.
    func start() async throws -> (MotoServer, AWSCredentials) {
        let moto = try await MotoServer.start(environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "5"])
        let bootstrap = try moto.client()
        let (userArn, key) = try await bootstrap.createAllowAllUser("laptop")
        let trust = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"\#(userArn)"},"Action":"sts:AssumeRole"}]}"#
        _ = try await bootstrap.iamCall("CreateRole", [("RoleName", "apitap-reader"), ("AssumeRolePolicyDocument", trust)])
        _ = try await bootstrap.iamCall("PutRolePolicy", [("RoleName", "apitap-reader"), ("PolicyName", "all"), ("PolicyDocument", AWSClient.allowAll)])
        return (moto, key)
    }

    func files(_ key: AWSCredentials) throws -> SharedFiles {
        try SharedFiles(credentials: """
        [laptop]
        aws_access_key_id = \(key.accessKeyID)
        aws_secret_access_key = \(key.secretAccessKey)
        """, config: """
        [profile reader]
        role_arn = arn:aws:iam::123456789012:role/apitap-reader
        source_profile = laptop
        role_session_name = apitap-moto-test
        duration_seconds = 900
        region = us-east-1
        """)
    }

    func listBuckets(_ client: AWSClient) async throws -> [String] {
        let body = try await client.send(AWSCall(service: .s3, operation: "ListBuckets", method: .GET, path: "/")).body
        return XML.elements("Name", in: body).map { XML.decode(body[$0]) }
    }

    @Test func theAssumedRoleIsSignedParsedUsedAndRenewed() async throws {
        let (moto, key) = try await start()
        defer { moto.stop() }
        let shared = try files(key)
        let env = shared.environment.with(["AWS_PROFILE": "reader", "AWS_ENDPOINT_URL": moto.endpoint])
        let resolution = AWSCredentialChain.resolve(env, http: sharedHTTP)
        #expect(resolution.problems == [])
        #expect(resolution.region == AWSRegion("us-east-1"), "the profile's region")
        let provider = try #require(resolution.provider as? RenewingCredentialProvider)
        let client = try AWSClient(http: sharedHTTP, credentialProvider: provider, region: try #require(resolution.region),
                                   environment: env)

        // moto verified AssumeRole's signature (made with the laptop key) and then each call's (with the role's).
        let before = EpochMillis.now()
        let bucket = uniqueName("apitap-assumed")
        try await client.createBucket(bucket)
        #expect(try await listBuckets(client).contains(bucket))
        _ = try await CloudWatchLogsClient(client).describeLogGroups()
        let first = try await provider.credentials(deadline: .distant)
        let after = EpochMillis.now()
        #expect(first.accessKeyID.hasPrefix("ASIA"))
        #expect(first.accessKeyID != key.accessKeyID)
        #expect(first.sessionToken != nil)
        // DurationSeconds=900 was sent and the Expiration read back (moto stamps it in whole seconds).
        let expiration = try #require(first.expiration)
        #expect(expiration.value >= before.value + 900_000 - 1000 && expiration.value <= after.value + 900_000)
        #expect(await provider.fetches == 1, "one AssumeRole for all those calls")
        #expect(SecretRedactor.shared.redact(first.secretAccessKey + " " + (first.sessionToken ?? "")) == "*** ***")

        // Renewed (here because AWS said the token expired): the role is assumed again and moto accepts the new key.
        await provider.invalidate(first)
        #expect(try await listBuckets(client).contains(bucket))
        #expect(await provider.fetches == 2)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID != first.accessKeyID)

        // The public path: AWSClient.fromEnvironment with AWS_PROFILE, as `apitap tick` builds it.
        let cli = try AWSClient.fromEnvironment(env, http: sharedHTTP)
        #expect(try await listBuckets(cli).contains(bucket))
    }

    @Test func aWrongSourceKeyIsSTSsRefusalNamingTheProfileNotTheSecret() async throws {
        let (moto, key) = try await start()
        defer { moto.stop() }
        let wrongSecret = key.secretAccessKey + "-but-wrong"
        let shared = try files(AWSCredentials(accessKeyID: key.accessKeyID, secretAccessKey: wrongSecret))
        let env = shared.environment.with(["AWS_PROFILE": "reader", "AWS_ENDPOINT_URL": moto.endpoint])
        var client = try AWSClient.fromEnvironment(env, http: sharedHTTP)
        client.retry = .none
        do {
            _ = try await listBuckets(client)
            Issue.record("a wrongly signed AssumeRole was accepted")
        } catch let error as AWSError {
            #expect(error.service == "STS")
            #expect(error.operation == "AssumeRole for profile \"reader\"")
            #expect(error.status == 403)
            #expect(error.code == "SignatureDoesNotMatch")
            #expect(!error.description.contains(wrongSecret))
        }
    }
}
