// Credentials, region, endpoint overrides and STATE_URI: read once from the environment, every problem reported.
import Foundation
import HTTP
import Core
import Pipeline
import Testing
@testable import AWS

@Suite struct ConfigurationTests {
    @Test func credentialsFromTheEnvironment() throws {
        let c = try AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                                                    "AWS_SESSION_TOKEN": "tok"])
        #expect(c.accessKeyID == "AKIA1" && c.secretAccessKey == "s3cr3t" && c.sessionToken == "tok")
        let noToken = try AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                                                          "AWS_SESSION_TOKEN": ""])
        #expect(noToken.sessionToken == nil)
        #expect(!"\(c)".contains("s3cr3t") && !"\(c)".contains("tok)") && "\(c)".contains("AKIA1"))
    }

    @Test func missingCredentialsNameEveryVariable() {
        #expect(throws: ConfigurationProblems(["AWS_ACCESS_KEY_ID is not set", "AWS_SECRET_ACCESS_KEY is not set"])) {
            try AWSCredentials.fromEnvironment([:])
        }
        #expect(throws: ConfigurationProblems(["AWS_SECRET_ACCESS_KEY is not set"])) {
            try AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "  "])
        }
    }

    @Test(arguments: ["us-east-1", "eu-west-2", "ap-southeast-3", "us-gov-west-1", "cn-north-1", "us-iso-east-1",
                      "us-isob-east-1", "eu-isoe-west-1", "il-central-1"])
    func validRegions(_ name: String) throws {
        #expect(AWSRegion.isValid(name))
        #expect(try AWSRegion(validating: name).rawValue == name)
    }

    @Test(arguments: ["", "us-east", "US-EAST-1", "us_east_1", "us-east-1a", "useast-1", "us-east-1.evil.com",
                      "eu-west-1/x", "e-west-1", "us-gov-west-", "us-xx-west-1"])
    func invalidRegions(_ name: String) {
        #expect(!AWSRegion.isValid(name))
    }

    @Test func regionFromTheEnvironment() throws {
        #expect(try AWSRegion.fromEnvironment(["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"]).rawValue == "eu-west-1")
        #expect(try AWSRegion.fromEnvironment(["AWS_DEFAULT_REGION": "us-west-2"]).rawValue == "us-west-2")
        #expect(try AWSRegion.fromEnvironment(["AWS_REGION": "", "AWS_DEFAULT_REGION": "us-west-2"]).rawValue == "us-west-2")
        #expect(throws: ConfigurationProblems.self) { try AWSRegion.fromEnvironment([:]) }
        #expect(throws: ConfigurationProblems(["AWS_REGION=\"mars-1\" is not a region name (like eu-west-1)"])) {
            try AWSRegion.fromEnvironment(["AWS_REGION": "mars-1"])
        }
    }

    @Test func endpointResolution() throws {
        let region = AWSRegion("eu-west-2")
        let real = try AWSEndpoint.resolve(.cloudWatchLogs, region: region, environment: [:])
        #expect(real.description == "https://logs.eu-west-2.amazonaws.com" && !real.isOverride)
        #expect(try AWSEndpoint.resolve(.s3, region: region, environment: [:]).description == "https://s3.eu-west-2.amazonaws.com")
        #expect(try AWSEndpoint.resolve(.apiGatewayV2, region: region, environment: [:]).description == "https://apigateway.eu-west-2.amazonaws.com")
        #expect(try AWSEndpoint.resolve(.secretsManager, region: AWSRegion("cn-north-1"), environment: [:]).description
                == "https://secretsmanager.cn-north-1.amazonaws.com.cn")

        let env = ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000/", "AWS_ENDPOINT_URL_S3": "http://localhost:9000",
                   "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "https://logs.example.com:8443/base/"]
        let s3 = try AWSEndpoint.resolve(.s3, region: region, environment: env)
        #expect(s3.description == "http://localhost:9000" && s3.isOverride)
        let logs = try AWSEndpoint.resolve(.cloudWatchLogs, region: region, environment: env)
        #expect(logs.host == "logs.example.com" && logs.port == 8443 && logs.basePath == "/base" && logs.authority == "logs.example.com:8443")
        #expect(try AWSEndpoint.resolve(.apiGateway, region: region, environment: env).description == "http://127.0.0.1:5000")
        #expect(AWSEndpoint.parse("https://h:443")?.authority == "h")
        #expect(AWSEndpoint.parse("http://[::1]:5000")?.authority == "[::1]:5000")
    }

    @Test(arguments: ["ftp://h", "http://", "http://user:pw@h", "http://h?x=1", "http://h:99999", "h:5000", "http://h:port"])
    func badOverridesAreErrorsNotFallbacks(_ value: String) {
        #expect(throws: ConfigurationProblems.self) {
            try AWSEndpoint.resolve(.s3, region: AWSRegion("us-east-1"), environment: ["AWS_ENDPOINT_URL": value])
        }
    }

    @Test func clientFromTheEnvironmentReportsEveryProblemAtOnce() throws {
        do {
            // In Lambda only the environment counts (outside it the credential chain would fall back to IMDS).
            _ = try AWSClient.fromEnvironment(["AWS_ENDPOINT_URL_S3": "nonsense", "AWS_LAMBDA_FUNCTION_NAME": "f"], http: sharedHTTP)
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.contains("AWS_ACCESS_KEY_ID is not set"))
            #expect(error.problems.contains("AWS_SECRET_ACCESS_KEY is not set"))
            #expect(error.problems.contains("AWS_REGION (or AWS_DEFAULT_REGION) is not set"))
            #expect(error.problems.contains { $0.hasPrefix("AWS_ENDPOINT_URL_S3 is not") })
        }
        let client = try AWSClient.fromEnvironment(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "eu-west-1",
                                                    "AWS_ENDPOINT_URL": "http://127.0.0.1:1"], http: sharedHTTP)
        #expect(client.endpoint(.secretsManager).description == "http://127.0.0.1:1")
        #expect(!"\(client)".contains("b)"))
    }

    @Test func stateURIs() throws {
        #expect(try StateURI.parse("s3://my-bucket/apitap/state/") == .s3(bucket: "my-bucket", prefix: "apitap/state"))
        #expect(try StateURI.parse("s3://my-bucket") == .s3(bucket: "my-bucket", prefix: ""))
        #expect(try StateURI.parse("file:///tmp/apitap") == .file(path: "/tmp/apitap"))
        #expect(throws: ConfigurationProblems.self, "a relative directory would land in the working directory") {
            try StateURI.parse("file://state")
        }
        #expect(StateURI.s3(bucket: "b-1", prefix: "p").description == "s3://b-1/p")
        for bad in ["", "/tmp/x", "https://b/x", "s3://", "s3://Bad_Bucket/x", "s3://ab/x", "file://", "S3://b/x", "s3://a..b/x"] {
            #expect(throws: ConfigurationProblems.self, "\(bad)") { try StateURI.parse(bad) }
        }
    }
}

@Suite struct StateStoreTests {
    @Test func storesFromStateURIs() async throws {
        let dir = NSTemporaryDirectory() + "apitap-aws-state-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try StateURI.parse("file://" + dir).makeStore(aws: nil)
        #expect(file is FileCheckpointStore)
        _ = try await file.commit(key: "k", bytes: [1], expected: .absent)
        #expect(try await file.load(key: "k").bytes == [1])

        #expect(throws: ConfigurationProblems.self) { _ = try StateURI.s3(bucket: "b-1", prefix: "p").makeStore(aws: nil) }
        let aws = try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"), region: AWSRegion("us-east-1"))
        let s3 = try #require(try StateURI.parse("s3://b-1/p/").makeStore(aws: aws) as? S3CheckpointStore)
        #expect(s3.bucket == "b-1" && s3.objectKey("g/x") == "p/g/x.json")
    }
}
