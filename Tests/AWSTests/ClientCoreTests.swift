// The client core against a loopback fake: request shape, retries of throttles, typed errors, addressing.
import Foundation
import HTTP
import Core
import Synchronization
import Testing
@testable import AWS

@Suite struct ClientCoreTests {
    @Test func jsonCallShapeAndSignature() async throws {
        let fake = try FakeAWS([json(200, #"{"events":[],"nextToken":null}"#)])
        let logs = CloudWatchLogsClient(try fake.client())
        let page = try await logs.filterLogEvents(logGroupName: "g", startTime: EpochMillis(1), endTime: EpochMillis(2), limit: 10)
        #expect(page.events.isEmpty && page.nextToken == nil)
        let r = try #require(fake.requests.first)
        #expect(r.method == "POST" && r.target == "/")
        #expect(r.header("X-Amz-Target") == "Logs_20140328.FilterLogEvents")
        #expect(r.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(r.header("Host") == "127.0.0.1:\(fake.server.port)")
        #expect(r.header("x-amz-content-sha256") == nil)
        let auth = try #require(r.header("Authorization"))
        #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/"))
        #expect(auth.contains("/us-east-1/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="))
        let body = try JSONReader.parse(r.body)
        #expect(body["logGroupName"]?.stringValue == "g" && body["startTime"]?.int64Value == 1 && body["endTime"]?.int64Value == 2)
        #expect(body["limit"]?.int64Value == 10 && body["interleaved"]?.boolValue == true && body["nextToken"] == nil)
    }

    @Test func throttlingIsRetriedAndSignedAfresh() async throws {
        let throttle = json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
        let fake = try FakeAWS([throttle, throttle, json(200, #"{"events":[{"eventId":"1","timestamp":5,"message":"m","logStreamName":"s","ingestionTime":6}]}"#)])
        var aws = try fake.client()
        let retries = Mutex<[String]>([])
        aws.onRetry = { error, _ in retries.withLock { $0.append(error.code) } }
        let page = try await CloudWatchLogsClient(aws).filterLogEvents(logGroupName: "g", startTime: EpochMillis(0), endTime: EpochMillis(9))
        #expect(page.events.map(\.eventId) == ["1"])
        #expect(fake.requests.count == 3)
        #expect(retries.withLock { $0 } == ["ThrottlingException", "ThrottlingException"])
    }

    @Test func serverErrorsAreRetriedByTheHTTPLayer() async throws {
        let slowDown = ServerResponse(status: 503, text: "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>")
        let fake = try FakeAWS([slowDown, ServerResponse(status: 200, headers: [HTTPHeader("ETag", "\"e1\"")], text: "hello")])
        let object = try await S3Client(try fake.client()).getObject(bucket: "bkt", key: "k")
        #expect(object?.body == Array("hello".utf8) && object?.etag == "\"e1\"")
        #expect(fake.requests.count == 2)
    }

    @Test func exhaustedRetriesGiveTheTypedError() async throws {
        let fake = try FakeAWS([json(400, #"{"__type":"com.amazonaws.logs#ThrottlingException","message":"Rate exceeded"}"#)])
        let logs = CloudWatchLogsClient(try fake.client())
        do {
            _ = try await logs.describeLogGroups()
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "ThrottlingException" && error.status == 400 && error.isRetryable)
            #expect(error.service == "CloudWatch Logs" && error.operation == "DescribeLogGroups")
        }
        #expect(fake.requests.count == fastRetry.maxAttempts)
    }

    @Test func nonRetryableErrorsFailAtOnce() async throws {
        let fake = try FakeAWS([json(400, #"{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}"#)])
        let logs = CloudWatchLogsClient(try fake.client())
        do {
            _ = try await logs.filterLogEvents(logGroupName: "missing", startTime: EpochMillis(0), endTime: EpochMillis(1))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "ResourceNotFoundException" && !error.isRetryable)
            #expect(error.message == "The specified log group does not exist.")
            #expect(!error.description.contains("SECRET-NEVER-PRINTED"))
            #expect(!error.description.contains("Signature="))
        }
        #expect(fake.requests.count == 1)
    }

    @Test func retriesStopAtTheDeadline() async throws {
        let fake = try FakeAWS([json(400, #"{"__type":"ThrottlingException"}"#)])
        let slow = RetryPolicy(maxAttempts: 50, base: .seconds(2), cap: .seconds(10))
        await #expect(throws: AWSError.self) {
            _ = try await CloudWatchLogsClient(try fake.client(retry: slow))
                .describeLogGroups(deadline: Deadline.after(milliseconds: 300))
        }
        // Without the deadline, 50 attempts with 2-10 s waits would take minutes. Waits are fully jittered (0...2 s for
        // the first), so a few may fit in 300 ms; all 50 never do. Counted, not timed: a busy machine stretches wall time.
        #expect(fake.requests.count < slow.maxAttempts)
    }

    @Test func transportFailuresAreTyped() async throws {
        let aws = try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"),
                                region: AWSRegion("us-east-1"), environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:1"],
                                retry: RetryPolicy(maxAttempts: 1))
        do {
            _ = try await SecretsManagerClient(aws).getSecretValue(secretId: "x")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "Transport.connect" && error.status == nil && error.isRetryable)
        }
    }

    @Test func s3PathStyleWithAnOverride() async throws {
        let fake = try FakeAWS([ServerResponse(status: 200, headers: [HTTPHeader("ETag", "\"v2\"")], body: [])])
        let s3 = S3Client(try fake.client())
        let result = try await s3.putObject(bucket: "bkt", key: "dir/a b+c.json", body: Array("{}".utf8), contentType: "application/json",
                                            ifMatch: "\"v1\"")
        #expect(result == .stored(etag: "\"v2\""))
        let r = try #require(fake.requests.first)
        #expect(r.method == "PUT" && r.target == "/bkt/dir/a%20b%2Bc.json")
        #expect(r.header("If-Match") == "\"v1\"" && r.header("If-None-Match") == nil)
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.header("x-amz-content-sha256") == SigV4Signer.sha256Hex(Array("{}".utf8)))
        #expect(r.header("Authorization")?.contains("/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;if-match;x-amz-content-sha256;x-amz-date,") == true)
    }

    @Test func s3StatusesAreDistinctOutcomes() async throws {
        let fake = try FakeAWS([
            ServerResponse(status: 412, text: "<Error><Code>PreconditionFailed</Code></Error>"),
            ServerResponse(status: 409, text: "<Error><Code>ConditionalRequestConflict</Code></Error>"),
            ServerResponse(status: 404, text: "<Error><Code>NoSuchKey</Code></Error>"),
            ServerResponse(status: 404, text: "<Error><Code>NoSuchBucket</Code></Error>"),
        ])
        let s3 = S3Client(try fake.client())
        #expect(try await s3.putObject(bucket: "bkt", key: "k", body: [1], ifNoneMatch: "*") == .preconditionFailed)
        #expect(try await s3.putObject(bucket: "bkt", key: "k", body: [1], ifNoneMatch: "*") == .conflict)
        #expect(try await s3.getObject(bucket: "bkt", key: "k") == nil)
        do {
            _ = try await s3.getObject(bucket: "bkt", key: "k")
            Issue.record("a missing bucket must be an error")
        } catch {
            #expect(error.code == "NoSuchBucket" && error.status == 404)
        }
    }

    @Test func s3VirtualHostedAgainstAWS() throws {
        let aws = try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"),
                                region: AWSRegion("eu-west-1"))
        let s3 = S3Client(aws)
        #expect(s3.address(bucket: "my-bucket", key: "a/b c") == ("my-bucket", "/a/b%20c"))
        #expect(s3.address(bucket: "my.dotted.bucket", key: "k") == (nil, "/my.dotted.bucket/k"))
        let (prefix, path) = s3.address(bucket: "my-bucket", key: "k")
        let request = aws.signedRequest(AWSCall(service: .s3, operation: "GetObject", method: .GET, path: path, hostPrefix: prefix),
                                        at: EpochMillis(0))
        #expect(request.url == "https://my-bucket.s3.eu-west-1.amazonaws.com/k")
        #expect(request.header("Host") == "my-bucket.s3.eu-west-1.amazonaws.com")
    }

    @Test func secretValuesNeverPrint() async throws {
        let fake = try FakeAWS([json(200, #"{"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:x","Name":"x","SecretString":"hunter2","VersionId":"v"}"#)])
        let secret = try await SecretsManagerClient(try fake.client()).getSecretValue(secretId: "x")
        #expect(secret.value == "hunter2")
        var dumped = ""
        dump(secret, to: &dumped)
        for text in ["\(secret)", String(reflecting: secret), dumped, "\([secret])"] { #expect(!text.contains("hunter2")) }
        let r = try #require(fake.requests.first)
        #expect(r.header("X-Amz-Target") == "secretsmanager.GetSecretValue")
        #expect(try JSONReader.parse(r.body)["SecretId"]?.stringValue == "x")
    }

    @Test func restJSONPathsEncodeEachSegment() async throws {
        let fake = try FakeAWS([ServerResponse(status: 200, text: #"{"item":[{"stageName":"prod","methodSettings":{"*/*":{"loggingLevel":"INFO","dataTraceEnabled":true,"metricsEnabled":false}},"accessLogSettings":{"destinationArn":"arn:aws:logs:us-east-1:1:log-group:g","format":"{}"}}]}"#)])
        let stages = try await APIGatewayClient(try fake.client()).getStages(restApiId: "a/b?c")
        #expect(fake.requests.first?.target == "/restapis/a%2Fb%3Fc/stages")
        #expect(stages == [RestStage(stageName: "prod", deploymentId: nil,
                                     methodSettings: ["*/*": MethodSetting(loggingLevel: "INFO", dataTraceEnabled: true, metricsEnabled: false)],
                                     accessLogSettings: AccessLogSettings(destinationArn: "arn:aws:logs:us-east-1:1:log-group:g", format: "{}"))])
        #expect(stages.first?.executionLoggingLevel == "INFO" && stages.first?.dataTraceEnabled == true)
    }
}
