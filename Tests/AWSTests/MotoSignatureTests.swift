// The signer against an independent verifier: moto_server with signature checking on
// (INITIAL_NO_AUTH_ACTION_COUNT), which recomputes every signature with botocore from the keys it issued.
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS

@Suite struct MotoSignatureTests {
    func expectRejected(_ what: String, codes: Set<String>, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("\(what): a bad signature was accepted")
        } catch let error as AWSError {
            #expect(error.status == 403, "\(what): \(error)")
            #expect(codes.contains(error.code), "\(what): \(error)")
            #expect(!error.isRetryable)
        } catch {
            Issue.record("\(what): \(error)")
        }
    }

    @Test func motoVerifiesOurSignatures() async throws {
        // The first three AWS actions go unchecked: just enough to make a user with an allow-all policy and a key.
        let moto = try await MotoServer.start(environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "3"])
        defer { moto.stop() }
        let bootstrap = try moto.client()
        let (userArn, key) = try await bootstrap.createAllowAllUser("apitap")

        // From the fourth action on, every request is verified: the bootstrap key was never issued by moto.
        await expectRejected("unknown key", codes: ["InvalidClientTokenId"]) {
            _ = try await CloudWatchLogsClient(bootstrap).describeLogGroups()
        }

        // Correctly signed requests of every protocol succeed.
        let good = try moto.client(credentials: key)
        let group = "/apitap/signed/" + uniqueName("g")
        _ = try await good.logs("CreateLogGroup", #"{"logGroupName":"\#(group)"}"#)
        _ = try await good.logs("CreateLogStream", #"{"logGroupName":"\#(group)","logStreamName":"s"}"#)
        let now = EpochMillis.now().value
        _ = try await good.logs("PutLogEvents", #"{"logGroupName":"\#(group)","logStreamName":"s","logEvents":[{"timestamp":\#(now),"message":"hello"}]}"#)
        let page = try await CloudWatchLogsClient(good).filterLogEvents(logGroupName: group, startTime: EpochMillis(now - 1000),
                                                                        endTime: EpochMillis(now + 1000))
        #expect(page.events.map(\.message) == ["hello"])
        #expect(try await CloudWatchLogsClient(good).describeLogGroups(prefix: group).logGroups.count == 1)

        let bucket = uniqueName("apitap-signed")
        try await good.createBucket(bucket)
        let s3 = S3Client(good)
        let store = S3CheckpointStore(s3: s3, bucket: bucket, prefix: "state")
        let v1 = try await store.commit(key: "k/with space", bytes: Array("{}".utf8), expected: .absent)
        _ = try await store.commit(key: "k/with space", bytes: Array("{\"n\":1}".utf8), expected: v1)
        // load() lists the exact key first (a prefix-limited s3:ListBucket gets 403 for a missing key otherwise);
        // moto's verifier cannot check a signed `prefix=state%2Fk%2F...` (see below), so read through a store whose
        // key needs no escaping.
        let flat = S3CheckpointStore(s3: s3, bucket: bucket, prefix: "")
        _ = try await flat.commit(key: "flat-key", bytes: Array("{\"n\":1}".utf8), expected: .absent)
        #expect(try await flat.load(key: "flat-key").bytes == Array("{\"n\":1}".utf8))
        #expect(try await flat.load(key: "missing-key").bytes == nil)
        #expect(try await s3.getObject(bucket: bucket, key: "state/k/with space.json")?.body == Array("{\"n\":1}".utf8))
        // A prefix without reserved characters: moto's verifier re-signs the query after decoding it, so a signed
        // `prefix=state%2F` fails there for every client (boto3 included), while AWS accepts it.
        #expect(try await s3.listObjectsV2(bucket: bucket, prefix: "state", maxKeys: 10).objects.map(\.key) == ["state/k/with space.json"])
        #expect(try await s3.listObjectsV2(bucket: bucket, prefix: "flat", maxKeys: 10).objects.map(\.key) == ["flat-key.json"])

        // API Gateway only through calls with a body: for a bodyless GET, moto's verifier hashes the query
        // parameters (or, without any, the request headers) as if they were the payload, so it refuses correctly
        // signed GETs from every client, boto3 included.
        let apigw = APIGatewayClient(good)
        let api = try JSONReader.parse(try await good.restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST,
                                                                   path: "/restapis", body: Array(#"{"name":"signed"}"#.utf8)))
        let apiId = try #require(api["id"]?.stringValue)
        let rootId = try #require(api["rootResourceId"]?.stringValue)
        _ = try await good.restJSONCall(.apiGateway, operation: "PutMethod", method: .PUT,
                                        path: restPath("restapis", apiId, "resources", rootId, "methods", "GET"),
                                        body: Array(#"{"authorizationType":"NONE"}"#.utf8))
        _ = try await good.restJSONCall(.apiGateway, operation: "PutIntegration", method: .PUT,
                                        path: restPath("restapis", apiId, "resources", rootId, "methods", "GET", "integration"),
                                        body: Array(#"{"type":"MOCK"}"#.utf8))
        _ = try await good.restJSONCall(.apiGateway, operation: "CreateDeployment", method: .POST,
                                        path: restPath("restapis", apiId, "deployments"), body: Array(#"{"stageName":"prod"}"#.utf8))
        let stage = try await apigw.updateStage(restApiId: apiId, stageName: "prod",
                                                patchOperations: [.replace("/*/*/logging/loglevel", "INFO")])
        #expect(stage.executionLoggingLevel == "INFO")

        let secretName = uniqueName("apitap/secret")
        try await good.createSecret(secretName, "v4lue")
        #expect(try await SecretsManagerClient(good).getSecretValue(secretId: secretName).value == "v4lue")

        // The same key id with a wrong secret: moto computes another signature and refuses, for every protocol.
        let forged = try moto.client(credentials: AWSCredentials(accessKeyID: key.accessKeyID, secretAccessKey: key.secretAccessKey + "x"))
        await expectRejected("logs, wrong secret", codes: ["SignatureDoesNotMatch"]) {
            _ = try await CloudWatchLogsClient(forged).filterLogEvents(logGroupName: group, startTime: EpochMillis(0), endTime: EpochMillis(now + 1000))
        }
        await expectRejected("s3, wrong secret", codes: ["SignatureDoesNotMatch"]) {
            _ = try await S3Client(forged).getObject(bucket: bucket, key: "state/k/with space.json")
        }
        await expectRejected("apigateway, wrong secret", codes: ["SignatureDoesNotMatch"]) {
            _ = try await APIGatewayClient(forged).updateStage(restApiId: apiId, stageName: "prod",
                                                               patchOperations: [.replace("/*/*/logging/loglevel", "ERROR")])
        }
        await expectRejected("secretsmanager, wrong secret", codes: ["SignatureDoesNotMatch"]) {
            _ = try await SecretsManagerClient(forged).getSecretValue(secretId: secretName)
        }

        // Changing what was signed after signing is caught: the body (payload hash), a signed header, the query.
        let describe = AWSCall(service: .cloudWatchLogs, operation: "DescribeLogGroups", method: .POST, path: "/",
                               headers: [HTTPHeader("X-Amz-Target", "Logs_20140328.DescribeLogGroups"),
                                         HTTPHeader("Content-Type", "application/x-amz-json-1.1")],
                               body: Array("{}".utf8))
        let signed = good.signedRequest(describe, at: .now())
        #expect(try await sharedHTTP.send(signed).status == 200)
        var otherBody = signed
        otherBody.body = Array(#"{"limit":1}"#.utf8)
        #expect(try await sharedHTTP.send(otherBody).status == 403)
        var otherHeader = signed
        otherHeader.headers = signed.headers.map { $0.name == "X-Amz-Target" ? HTTPHeader($0.name, "Logs_20140328.DescribeLogStreams") : $0 }
        #expect(try await sharedHTTP.send(otherHeader).status == 403)
        let list = good.signedRequest(AWSCall(service: .s3, operation: "ListObjectsV2", method: .GET, path: "/" + bucket,
                                              query: [("list-type", "2"), ("max-keys", "500")]), at: .now())
        #expect(try await sharedHTTP.send(list).status == 200)
        var otherQuery = list
        otherQuery.url = list.url.replacingOccurrences(of: "max-keys=500", with: "max-keys=499")
        #expect(otherQuery.url != list.url)
        #expect(try await sharedHTTP.send(otherQuery).status == 403)

        // Temporary credentials: the session token is sent and checked (moto compares it with the one it issued).
        let trust = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"\#(userArn)"},"Action":"sts:AssumeRole"}]}"#
        _ = try await good.iamCall("CreateRole", [("RoleName", "apitap-role"), ("AssumeRolePolicyDocument", trust)])
        _ = try await good.iamCall("PutRolePolicy", [("RoleName", "apitap-role"), ("PolicyName", "all"), ("PolicyDocument", AWSClient.allowAll)])
        let sts = AWSService(signingName: "sts", endpointPrefix: "sts", environmentSuffix: "STS", displayName: "STS")
        let form = "Action=AssumeRole&Version=2011-06-15&RoleSessionName=apitap&RoleArn="
            + URIEncoding.encode("arn:aws:iam::123456789012:role/apitap-role")
        let assumed = try await good.send(AWSCall(service: sts, operation: "AssumeRole", method: .POST, path: "/",
                                                  headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                                  body: Array(form.utf8))).body
        let token = try #require(XML.firstElementText("SessionToken", in: assumed))
        let temporary = AWSCredentials(accessKeyID: try #require(XML.firstElementText("AccessKeyId", in: assumed)),
                                       secretAccessKey: try #require(XML.firstElementText("SecretAccessKey", in: assumed)),
                                       sessionToken: token)
        #expect(temporary.accessKeyID.hasPrefix("ASIA"))
        #expect(try await SecretsManagerClient(try moto.client(credentials: temporary)).getSecretValue(secretId: secretName).value == "v4lue")
        let wrongToken = AWSCredentials(accessKeyID: temporary.accessKeyID, secretAccessKey: temporary.secretAccessKey,
                                        sessionToken: (temporary.sessionToken ?? "") + "x")
        await expectRejected("wrong session token", codes: ["InvalidClientTokenId"]) {
            _ = try await SecretsManagerClient(try moto.client(credentials: wrongToken)).getSecretValue(secretId: secretName)
        }
    }
}
