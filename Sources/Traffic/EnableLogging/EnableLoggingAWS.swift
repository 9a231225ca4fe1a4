// The enable-logging custom resource's calls against AWS: API Gateway stages (v1 and v2), the API Gateway account
// setting, the record in S3, and CloudWatch Logs subscription filters (DeliveryMode=subscription). v2 UpdateStage/DeleteAccessLogSettings and the v1 account calls are not in the AWS
// module (its v2 client lists only), so they are written here over AWSClient's REST-JSON call.
import AWS
import HTTP
import Core

public struct AWSStageLoggingBackend: StageLoggingBackend {
    public let aws: AWSClient
    let rest: APIGatewayClient
    let http: APIGatewayV2Client
    let s3: S3Client
    let logs: CloudWatchLogsClient

    public init(_ aws: AWSClient) {
        self.aws = aws
        rest = APIGatewayClient(aws)
        http = APIGatewayV2Client(aws)
        s3 = S3Client(aws)
        logs = CloudWatchLogsClient(aws)
    }

    public func restStages(deadline: Deadline) async throws -> [(apiId: String, stage: RestStage)] {
        try await rest.allStages(deadline: deadline).map { ($0.api.id, $0.stage) }
    }

    public func httpStages(deadline: Deadline) async throws -> [(apiId: String, stage: HTTPStage)] {
        try await http.allHTTPStages(deadline: deadline).map { ($0.api.apiId, $0.stage) }
    }

    public func setRestLogging(apiId: String, stage: String, level: String, dataTrace: Bool, deadline: Deadline) async throws {
        _ = try await rest.updateStage(restApiId: apiId, stageName: stage, patchOperations: [
            .replace("/*/*/logging/loglevel", level), .replace("/*/*/logging/dataTrace", dataTrace ? "true" : "false"),
        ], deadline: deadline)
    }

    /// v2 UpdateStage: PATCH /v2/apis/{apiId}/stages/{stageName} with the access-log settings.
    public func setHTTPAccessLog(apiId: String, stage: String, destinationArn: String, format: String, deadline: Deadline) async throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("accessLogSettings")
        w.beginObject()
        w.field("destinationArn", destinationArn)
        w.field("format", format)
        w.endObject()
        w.endObject()
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "UpdateStage", method: .PATCH,
                                       path: Self.path("v2", "apis", apiId, "stages", stage), body: w.bytes, deadline: deadline)
    }

    /// v2 DeleteAccessLogSettings: how access logging is switched off (UpdateStage cannot unset it).
    public func deleteHTTPAccessLog(apiId: String, stage: String, deadline: Deadline) async throws {
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "DeleteAccessLogSettings", method: .DELETE,
                                       path: Self.path("v2", "apis", apiId, "stages", stage, "accesslogsettings"), deadline: deadline)
    }

    /// GET /account: the role ARN, or nil when none is set.
    public func accountCloudWatchRole(deadline: Deadline) async throws -> String? {
        let body = try await aws.restJSONCall(.apiGateway, operation: "GetAccount", method: .GET, path: "/account", deadline: deadline)
        let json: JSONValue
        do { json = try JSONReader.parse(body) } catch {
            throw AWSError(service: "API Gateway", operation: "GetAccount", status: nil, code: "InvalidResponse", message: "\(error)",
                           isRetryable: false)
        }
        guard let arn = json["cloudwatchRoleArn"]?.stringValue, !arn.isEmpty else { return nil }
        return arn
    }

    /// PATCH /account replace /cloudwatchRoleArn.
    public func setAccountCloudWatchRole(_ arn: String, deadline: Deadline) async throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("patchOperations")
        w.beginArray()
        w.beginObject(); w.field("op", "replace"); w.field("path", "/cloudwatchRoleArn"); w.field("value", arn); w.endObject()
        w.endArray()
        w.endObject()
        _ = try await aws.restJSONCall(.apiGateway, operation: "UpdateAccount", method: .PATCH, path: "/account", body: w.bytes,
                                       deadline: deadline)
    }

    /// Lists before reading: S3 answers a GetObject of a missing key with 403 (not 404) unless the caller may list the
    /// bucket without a prefix condition, and the role may list only `state/<account>/enable-logging/*` (a
    /// ListObjectsV2 with that prefix is allowed).
    public func loadRecord(bucket: String, key: String, deadline: Deadline) async throws -> [UInt8]? {
        let page = try await s3.listObjectsV2(bucket: bucket, prefix: key, maxKeys: 10, deadline: deadline)
        guard page.objects.contains(where: { $0.key == key }) else { return nil }
        return try await s3.getObject(bucket: bucket, key: key, deadline: deadline)?.body
    }

    public func saveRecord(bucket: String, key: String, body: [UInt8], deadline: Deadline) async throws {
        switch try await s3.putObject(bucket: bucket, key: key, body: body, contentType: "application/json", deadline: deadline) {
        case .stored: return
        case .preconditionFailed, .conflict:
            throw ConfigurationProblem("S3 refused the write of s3://\(bucket)/\(key) (another writer?)")
        }
    }

    public func readObject(bucket: String, key: String, deadline: Deadline) async throws -> [UInt8]? {
        try await s3.getObject(bucket: bucket, key: key, deadline: deadline)?.body
    }

    public func deleteRecord(bucket: String, key: String, deadline: Deadline) async throws {
        try await s3.deleteObject(bucket: bucket, key: key, deadline: deadline)
    }

    public func isNotFound(_ error: any Error) -> Bool {
        guard let e = error as? AWSError else { return false }
        return e.code == "NotFoundException" || (e.status == 404 && e.service.hasPrefix("API Gateway"))
    }

    public func subscriptionFilters(logGroup: String, deadline: Deadline) async throws -> [SubscriptionFilter]? {
        do { return try await logs.describeSubscriptionFilters(logGroupName: logGroup, deadline: deadline) } catch where error.isResourceNotFound {
            return nil
        }
    }

    public func putSubscriptionFilter(_ filter: SubscriptionFilter, deadline: Deadline) async throws {
        try await logs.putSubscriptionFilter(filter, deadline: deadline)
    }

    public func deleteSubscriptionFilter(logGroup: String, filterName: String, deadline: Deadline) async throws -> Bool {
        do {
            try await logs.deleteSubscriptionFilter(logGroupName: logGroup, filterName: filterName, deadline: deadline)
            return true
        } catch where error.isResourceNotFound {
            return false
        }
    }

    public func createLogGroup(_ name: String, retentionDays: Int?, deadline: Deadline) async throws -> Bool {
        let created = try await logs.createLogGroup(name, deadline: deadline)
        if created, let days = retentionDays { try await logs.putRetentionPolicy(name, days: days, deadline: deadline) }
        return created
    }

    public func isFilterLimit(_ error: any Error) -> Bool {
        (error as? AWSError)?.code == "LimitExceededException"
    }

    /// Each segment percent-encoded on its own (RFC 3986 unreserved characters stay), as the AWS module does.
    static func path(_ segments: String...) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for segment in segments {
            out.append(UInt8(ascii: "/"))
            for b in segment.utf8 {
                let unreserved = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                    || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
                if unreserved { out.append(b) } else { out += [0x25, hex[Int(b >> 4)], hex[Int(b & 0x0F)]] }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
