// The AWS tests' moto_server instances (one per kind, shared by the tests) and their clients.
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import AWS

/// One server per kind per test process; tests share it and keep apart by unique resource names.
actor MotoServers {
    static let shared = MotoServers()
    private var plainTask: Task<MotoServer, Error>?

    /// A server without signature checking, reset once when it starts.
    func plain() async throws -> MotoServer {
        if plainTask == nil {
            plainTask = Task {
                let server = try await MotoServer.start()
                try await server.reset()
                return server
            }
        }
        return try await plainTask!.value
    }
}

/// A name no other test uses on the shared server.
func uniqueName(_ prefix: String) -> String {
    prefix + "-" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
}

extension MotoServer {
    func client(credentials: AWSCredentials = AWSCredentials(accessKeyID: "testing", secretAccessKey: "testing"),
                retry: RetryPolicy = RetryPolicy(maxAttempts: 2, base: .milliseconds(50), cap: .milliseconds(200))) throws -> AWSClient {
        try AWSClient(http: sharedHTTP, credentials: credentials, region: AWSRegion("us-east-1"),
                      environment: ["AWS_ENDPOINT_URL": endpoint], retry: retry)
    }
}

/// Calls the tests need for seeding, through the same client core (JSON 1.1, REST-JSON, S3, IAM's query protocol).
extension AWSClient {
    func logs(_ operation: String, _ body: String) async throws -> JSONValue {
        let bytes = try await jsonCall(.cloudWatchLogs, targetPrefix: "Logs_20140328", operation: operation, body: Array(body.utf8))
        return bytes.isEmpty ? .null : try JSONReader.parse(bytes)
    }

    func createBucket(_ bucket: String) async throws {
        _ = try await send(AWSCall(service: .s3, operation: "CreateBucket", method: .PUT, path: "/" + bucket))
    }

    func createSecret(_ name: String, _ value: String) async throws {
        var w = JSONWriter()
        w.beginObject(); w.field("Name", name); w.field("SecretString", value); w.endObject()
        _ = try await jsonCall(.secretsManager, targetPrefix: "secretsmanager", operation: "CreateSecret", body: w.bytes)
    }

    static let allowAll = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#

    /// An IAM user with an allow-all policy and one access key (three IAM actions): the identity the signature-checking
    /// tests sign with.
    func createAllowAllUser(_ name: String) async throws -> (arn: String, key: AWSCredentials) {
        let user = try await iamCall("CreateUser", [("UserName", name)])
        let arn = try #require(XML.firstElementText("Arn", in: user))
        _ = try await iamCall("PutUserPolicy", [("UserName", name), ("PolicyName", "all"), ("PolicyDocument", Self.allowAll)])
        let keyXML = try await iamCall("CreateAccessKey", [("UserName", name)])
        return (arn, AWSCredentials(accessKeyID: try #require(XML.firstElementText("AccessKeyId", in: keyXML)),
                                    secretAccessKey: try #require(XML.firstElementText("SecretAccessKey", in: keyXML))))
    }

    static let iam = AWSService(signingName: "iam", endpointPrefix: "iam", environmentSuffix: "IAM", displayName: "IAM")

    /// IAM speaks the query protocol: a form-encoded POST, an XML answer.
    func iamCall(_ action: String, _ parameters: [(String, String)]) async throws -> [UInt8] {
        let form = ([("Action", action), ("Version", "2010-05-08")] + parameters)
            .map { URIEncoding.encode($0.0) + "=" + URIEncoding.encode($0.1) }.joined(separator: "&")
        return try await send(AWSCall(service: Self.iam, operation: action, method: .POST, path: "/",
                                      headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                      body: Array(form.utf8))).body
    }
}
