// Which source the credential chain picks, in which order, and how it reports what is wrong (without secrets).
import Foundation
import HTTP
import Core
import Testing
@testable import AWS

/// A directory with `credentials` and `config` files, removed when the test is done.
final class SharedFiles {
    let dir: String
    init(credentials: String? = nil, config: String? = nil) throws {
        dir = NSTemporaryDirectory() + "apitap-creds-\(UInt64.random(in: 0..<UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir + "/.aws", withIntermediateDirectories: true)
        if let credentials { try credentials.write(toFile: dir + "/.aws/credentials", atomically: true, encoding: .utf8) }
        if let config { try config.write(toFile: dir + "/.aws/config", atomically: true, encoding: .utf8) }
    }
    var credentialsPath: String { dir + "/.aws/credentials" }
    var configPath: String { dir + "/.aws/config" }
    /// HOME pointing here; nothing else (so the machine's own ~/.aws and environment never leak in).
    var environment: [String: String] { ["HOME": dir, "AWS_EC2_METADATA_DISABLED": "true"] }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

extension [String: String] {
    func with(_ extra: [String: String]) -> [String: String] { merging(extra) { _, new in new } }
}

@Suite struct CredentialChainTests {
    func resolve(_ env: [String: String]) -> AWSCredentialChain.Resolution {
        AWSCredentialChain.resolve(env, http: sharedHTTP)
    }

    func fixed(_ resolution: AWSCredentialChain.Resolution) -> StaticCredentialProvider? {
        resolution.provider as? StaticCredentialProvider
    }

    static let profiles = """
    [default]
    aws_access_key_id = AKIDDEFAULT
    aws_secret_access_key = default-secret-value

    [dev]
    aws_access_key_id = AKIDDEV
    aws_secret_access_key = dev-secret-value
    aws_session_token = dev-session-token-value
    """

    @Test func theEnvironmentComesFirst() throws {
        let files = try SharedFiles(credentials: Self.profiles)
        let r = resolve(files.environment.with(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret-value",
                                                "AWS_PROFILE": "dev", "AWS_REGION": "eu-west-1"]))
        #expect(r.problems == [])
        #expect(fixed(r)?.fixed.accessKeyID == "AKIDENV")
        #expect(fixed(r)?.source == "environment")
        #expect(r.region == AWSRegion("eu-west-1"))
        // Half a key pair in the environment is a mistake, not a reason to look elsewhere.
        #expect(resolve(files.environment.with(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_REGION": "eu-west-1"])).problems
                == ["AWS_SECRET_ACCESS_KEY is not set"])
    }

    @Test func theDefaultProfileThenTheNamedOne() throws {
        let files = try SharedFiles(credentials: Self.profiles, config: "[default]\nregion = eu-central-1\n[profile dev]\nregion = us-west-2")
        let byDefault = resolve(files.environment)
        #expect(byDefault.problems == [])
        #expect(fixed(byDefault)?.fixed.accessKeyID == "AKIDDEFAULT")
        #expect(byDefault.region == AWSRegion("eu-central-1"), "the profile's region when AWS_REGION is unset")

        let dev = resolve(files.environment.with(["AWS_PROFILE": "dev", "AWS_DEFAULT_REGION": "ap-south-1"]))
        #expect(dev.problems == [])
        #expect(fixed(dev)?.fixed.accessKeyID == "AKIDDEV")
        #expect(fixed(dev)?.fixed.sessionToken == "dev-session-token-value")
        #expect(dev.region == AWSRegion("ap-south-1"), "AWS_DEFAULT_REGION wins over the profile")
        #expect(SecretRedactor.shared.redact("dev-secret-value dev-session-token-value") == "*** ***")
        #expect(!"\(dev.provider!)".contains("dev-secret-value"))
    }

    @Test func explicitFilePathsAndHomeExpansion() throws {
        let files = try SharedFiles()
        try "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other-secret-value"
            .write(toFile: files.dir + "/creds.ini", atomically: true, encoding: .utf8)
        try "[profile other]\nregion = sa-east-1".write(toFile: files.dir + "/conf.ini", atomically: true, encoding: .utf8)
        let r = resolve(files.environment.with(["AWS_PROFILE": "other", "AWS_SHARED_CREDENTIALS_FILE": "~/creds.ini",
                                                "AWS_CONFIG_FILE": files.dir + "/conf.ini"]))
        #expect(r.problems == [])
        #expect(fixed(r)?.fixed.accessKeyID == "AKIDOTHER")
        #expect(r.region == AWSRegion("sa-east-1"))
    }

    @Test func aNamedProfileThatIsMissingOrEmptyIsAnErrorNotAFallThrough() throws {
        let files = try SharedFiles(credentials: Self.profiles, config: "[profile regiononly]\nregion = eu-west-1")
        let env = files.environment.with(["AWS_REGION": "eu-west-1"])
        #expect(resolve(env.with(["AWS_PROFILE": "nope"])).problems
                == ["AWS_PROFILE=nope: no such profile in \(files.credentialsPath) or \(files.configPath)"])
        #expect(resolve(env.with(["AWS_PROFILE": "regiononly"])).problems.first?.hasPrefix("profile \"regiononly\" has no credentials") == true)
    }

    @Test func aBrokenFileNamesItsLineAndHidesTheSecret() throws {
        let secret = "brokenFileSecretValue/1234567890"
        let files = try SharedFiles(credentials: "[default]\naws_access_key_id = AKIDX\naws_secret_access_key: \(secret)\n")
        let r = resolve(files.environment.with(["AWS_REGION": "eu-west-1"]))
        #expect(r.provider == nil)
        #expect(r.problems == ["\(files.credentialsPath) line 3: expected an '=' sign defining a property"])
        #expect(!r.problems.joined().contains(secret))
        // The environment alone needs no shared file: a broken one does not stop such a run.
        let envOnly = resolve(files.environment.with(["AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDENV",
                                                      "AWS_SECRET_ACCESS_KEY": "env-secret-value"]))
        #expect(envOnly.problems == [])
    }

    @Test func profileProblemsAreListedTogether() throws {
        let files = try SharedFiles(credentials: "[half]\naws_access_key_id = AKIDHALF\n", config: """
        [profile half]
        region = mars-1
        [profile role]
        role_arn = not-an-arn
        duration_seconds = 60
        [profile both]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = half
        credential_source = Environment
        [profile loop-a]
        role_arn = arn:aws:iam::123456789012:role/a
        source_profile = loop-b
        [profile loop-b]
        role_arn = arn:aws:iam::123456789012:role/b
        source_profile = loop-a
        [profile sso]
        sso_session = corp
        [profile mfa]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = half
        mfa_serial = arn:aws:iam::123456789012:mfa/u
        [profile weird]
        role_arn = arn:aws:iam::123456789012:role/r
        credential_source = Laptop
        """)
        func problems(_ profile: String) -> [String] {
            resolve(files.environment.with(["AWS_PROFILE": profile, "AWS_REGION": "eu-west-1"])).problems
        }
        #expect(problems("half") == ["profile \"half\" has no aws_secret_access_key"])
        #expect(resolve(files.environment.with(["AWS_PROFILE": "half"])).problems.contains {
            $0.contains("region \"mars-1\" is not a region name")
        })
        let role = problems("role")
        #expect(role.contains { $0.hasPrefix("profile \"role\": role_arn is not a role ARN") })
        #expect(role.contains { $0.hasPrefix("profile \"role\": duration_seconds must be") })
        #expect(role.contains("profile \"role\" has role_arn but neither source_profile nor credential_source"))
        #expect(problems("both") == ["profile \"both\" sets both source_profile and credential_source; keep one"])
        #expect(problems("loop-a") == ["source_profile loop: \"loop-a\" → \"loop-b\" → \"loop-a\""])
        #expect(problems("sso").first?.hasPrefix("profile \"sso\" uses sso_session, which apitap does not support") == true)
        #expect(problems("mfa").contains { $0.hasPrefix("profile \"mfa\": mfa_serial needs an MFA code") })
        #expect(problems("weird") == ["profile \"weird\": credential_source must be Environment, Ec2InstanceMetadata or EcsContainer"])
    }

    @Test func anAssumedRoleIsRenewingAndNamesItsSource() throws {
        let files = try SharedFiles(credentials: Self.profiles, config: """
        [profile ops]
        role_arn = arn:aws:iam::123456789012:role/ops
        source_profile = dev
        [profile self]
        role_arn = arn:aws:iam::123456789012:role/self
        source_profile = self
        aws_access_key_id = AKIDSELF
        aws_secret_access_key = self-secret-value
        [profile from-env]
        role_arn = arn:aws:iam::123456789012:role/env
        credential_source = Environment
        """)
        let env = files.environment.with(["AWS_REGION": "eu-west-1"])
        let ops = resolve(env.with(["AWS_PROFILE": "ops"]))
        #expect(ops.problems == [])
        #expect(ops.provider is RenewingCredentialProvider)
        #expect("\(ops.provider!)" == "profile \"ops\": role arn:aws:iam::123456789012:role/ops from profile \"dev\": "
                + "AWSCredentials(accessKeyID: AKIDDEV, secretAccessKey: <redacted>, sessionToken: <redacted>)")
        #expect("\(resolve(env.with(["AWS_PROFILE": "self"])).provider!)".contains("from profile \"self\": AWSCredentials(accessKeyID: AKIDSELF"))
        // credential_source=Environment takes the key from the environment and the role from the profile, which
        // AWS_PROFILE names: the environment's key does not short-cut it.
        let fromEnv = resolve(env.with(["AWS_PROFILE": "from-env", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret-value"]))
        #expect(fromEnv.problems == [])
        #expect("\(fromEnv.provider!)".hasPrefix("profile \"from-env\": role arn:aws:iam::123456789012:role/env from environment: "))
        #expect(resolve(env.with(["AWS_PROFILE": "from-env"])).problems
                == ["profile \"from-env\" credential_source=Environment: AWS_ACCESS_KEY_ID is not set",
                    "profile \"from-env\" credential_source=Environment: AWS_SECRET_ACCESS_KEY is not set"])
        // A bad STS override is an error, not a silent fall-back to the real STS.
        #expect(resolve(env.with(["AWS_PROFILE": "ops", "AWS_ENDPOINT_URL_STS": "sts.local"])).problems
                == ["AWS_ENDPOINT_URL_STS is not an http(s) URL without user info, query or fragment"])
    }

    @Test func containerThenInstanceMetadataWhenNothingElseIsConfigured() throws {
        let files = try SharedFiles()
        let env = files.environment.with(["AWS_REGION": "eu-west-1"])
        let container = resolve(env.with(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
                                          "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/ignored"]))
        #expect(container.problems == [])
        #expect("\(container.provider!)" == "container credentials at http://169.254.170.2/v2/credentials/abc")

        var imdsEnv = env
        imdsEnv["AWS_EC2_METADATA_DISABLED"] = nil
        #expect("\(resolve(imdsEnv).provider!)" == "instance metadata (IMDSv2) at http://169.254.169.254")
        #expect("\(resolve(imdsEnv.with(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"])).provider!)"
                == "instance metadata (IMDSv2) at http://[fd00:ec2::254]")
        #expect(resolve(imdsEnv.with(["AWS_EC2_METADATA_DISABLED": "maybe"])).problems == ["AWS_EC2_METADATA_DISABLED must be true or false"])

        let nothing = resolve(env)
        #expect(nothing.provider == nil)
        #expect(nothing.problems == ["no AWS credentials: nothing in the environment (AWS_ACCESS_KEY_ID), profile \"default\" "
                                     + "(\(files.credentialsPath) or \(files.configPath)) or container variables "
                                     + "(AWS_CONTAINER_CREDENTIALS_*), and AWS_EC2_METADATA_DISABLED=true"])
    }

    @Test func containerURIsThatCouldLeakTheTokenAreRefused() throws {
        func problems(_ uri: String) -> [String] {
            do {
                _ = try ContainerCredentialSource.fromEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri])
                return []
            } catch { return error.problems }
        }
        for allowed in ["http://127.0.0.1:8080/creds", "http://localhost/get-credentials", "http://[::1]:80/x",
                        "http://169.254.170.2/v2/credentials", "http://169.254.170.23/v1/credentials",
                        "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x"] {
            #expect(problems(allowed) == [], "\(allowed)")
        }
        for refused in ["http://creds.example.com/x", "http://10.0.0.1/x", "http://169.254.169.254/x", "ftp://127.0.0.1/x",
                        "http://user:pw@127.0.0.1/x", "http://127.0.0.1.example.com/x", "not a url"] {
            #expect(problems(refused).count == 1, "\(refused)")
        }
        #expect(throws: ConfigurationProblems.self) {
            try ContainerCredentialSource.fromEnvironment(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "v2/no-slash"])
        }
    }

    @Test func inLambdaOnlyTheEnvironmentCounts() throws {
        let files = try SharedFiles(credentials: Self.profiles)
        let lambda = files.environment.with(["AWS_LAMBDA_FUNCTION_NAME": "apitap", "AWS_REGION": "eu-west-1"])
        #expect(resolve(lambda).problems == ["AWS_ACCESS_KEY_ID is not set", "AWS_SECRET_ACCESS_KEY is not set"])
        let r = resolve(lambda.with(["AWS_ACCESS_KEY_ID": "ASIALAMBDA", "AWS_SECRET_ACCESS_KEY": "lambda-secret-value",
                                     "AWS_SESSION_TOKEN": "lambda-session-token"]))
        #expect(fixed(r)?.fixed.accessKeyID == "ASIALAMBDA")
        // And the client built from it behaves as before.
        let client = try AWSClient.fromEnvironment(lambda.with(["AWS_ACCESS_KEY_ID": "ASIALAMBDA", "AWS_SECRET_ACCESS_KEY": "s"]),
                                                   http: sharedHTTP)
        #expect(client.credentials?.accessKeyID == "ASIALAMBDA")
    }

    @Test func webIdentityIsNotSilentlySkipped() throws {
        let files = try SharedFiles(credentials: Self.profiles)
        let r = resolve(files.environment.with(["AWS_REGION": "eu-west-1", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
                                                "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/x"]))
        #expect(r.problems.first?.hasPrefix("AWS_WEB_IDENTITY_TOKEN_FILE is set, but apitap does not support") == true)
    }
}
