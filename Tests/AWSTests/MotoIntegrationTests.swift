// The clients against a real moto_server: CloudWatch Logs paging and time bounds, S3 conditional writes and the
// checkpoint store, API Gateway v1/v2 listing and stage patching, Secrets Manager.
import Foundation
import HTTP
import Core
import Pipeline
import TestSupport
import Testing
import Traffic
@testable import AWS

@Suite struct MotoIntegrationTests {
    // MARK: CloudWatch Logs

    /// Puts `count` events 10 ms apart from `base`, alternating between two streams, each batch in time order.
    /// A method with a MOCK integration on `resource`: what a stage needs before it can be deployed.
    static func mockMethod(_ aws: AWSClient, apiId: String, resource: String, method: String) async throws {
        _ = try await aws.restJSONCall(.apiGateway, operation: "PutMethod", method: .PUT,
                                       path: restPath("restapis", apiId, "resources", resource, "methods", method),
                                       body: Array(#"{"authorizationType":"NONE"}"#.utf8))
        _ = try await aws.restJSONCall(.apiGateway, operation: "PutIntegration", method: .PUT,
                                       path: restPath("restapis", apiId, "resources", resource, "methods", method, "integration"),
                                       body: Array(#"{"type":"MOCK"}"#.utf8))
    }

    static func deploy(_ aws: AWSClient, apiId: String, stage: String) async throws {
        _ = try await aws.restJSONCall(.apiGateway, operation: "CreateDeployment", method: .POST,
                                       path: restPath("restapis", apiId, "deployments"), body: Array(#"{"stageName":"\#(stage)"}"#.utf8))
    }

    static func seedLogs(_ aws: AWSClient, group: String, base: Int64, count: Int) async throws -> [(stream: String, ts: Int64, message: String)] {
        _ = try await aws.logs("CreateLogGroup", #"{"logGroupName":"\#(group)"}"#)
        var events: [(stream: String, ts: Int64, message: String)] = []
        for i in 0..<count {
            events.append((i % 2 == 0 ? "s-even" : "s-odd", base + Int64(i) * 10, "event-\(i) \"quoted\" é \\ {Accept=*/*}"))
        }
        for stream in ["s-even", "s-odd"] {
            _ = try await aws.logs("CreateLogStream", #"{"logGroupName":"\#(group)","logStreamName":"\#(stream)"}"#)
            var w = JSONWriter()
            w.beginObject()
            w.field("logGroupName", group)
            w.field("logStreamName", stream)
            w.key("logEvents")
            w.beginArray()
            for e in events where e.stream == stream {
                w.beginObject(); w.field("timestamp", e.ts); w.field("message", e.message); w.endObject()
            }
            w.endArray()
            w.endObject()
            _ = try await aws.jsonCall(.cloudWatchLogs, targetPrefix: "Logs_20140328", operation: "PutLogEvents", body: w.bytes)
        }
        return events
    }

    @Test func filterLogEventsPagesAndBounds() async throws {
        let moto = try await MotoServers.shared.plain()
        let aws = try moto.client()
        let logs = CloudWatchLogsClient(aws)
        let group = "/apitap/test/" + uniqueName("logs")
        // Recent timestamps: moto (like AWS) rejects events older than 14 days.
        let base = EpochMillis.now().value - 600_000
        let seeded = try await Self.seedLogs(aws, group: group, base: base, count: 250)

        var pages = 0
        var token: String?
        var got: [LogEvent] = []
        repeat {
            let page = try await logs.filterLogEvents(logGroupName: group, startTime: EpochMillis(base),
                                                      endTime: EpochMillis(base + 10_000), nextToken: token, limit: 100)
            pages += 1
            got += page.events
            token = page.nextToken
        } while token != nil && pages < 20
        #expect(pages >= 3, "250 events with limit 100 must take several pages")
        #expect(got.count == 250)
        #expect(Set(got.map(\.eventId)).count == 250)
        // With `interleaved` (which the client always sends) moto orders by time across streams, as AWS does.
        #expect(got.map(\.timestamp.value) == got.map(\.timestamp.value).sorted())
        #expect(Set(got.map(\.message)) == Set(seeded.map(\.message)))
        for event in got {
            let source = try #require(seeded.first { $0.message == event.message })
            #expect(event.logStreamName == source.stream && event.timestamp.value == source.ts)
            #expect(event.ingestionTime.value > 0)
        }

        // Both bounds are inclusive: events 10...20 exactly.
        let bounded = try await logs.filterLogEvents(logGroupName: group, startTime: EpochMillis(base + 100), endTime: EpochMillis(base + 200))
        #expect(bounded.events.map(\.timestamp.value).sorted() == (10...20).map { base + Int64($0) * 10 })
        #expect(bounded.nextToken == nil)

        let groups = try await logs.describeLogGroups(prefix: group)
        #expect(groups.logGroups.map(\.name) == [group])
    }

    @Test func missingLogGroupIsATypedError() async throws {
        let logs = CloudWatchLogsClient(try await MotoServers.shared.plain().client())
        do {
            _ = try await logs.filterLogEvents(logGroupName: "/apitap/none/" + uniqueName("x"), startTime: EpochMillis(0), endTime: EpochMillis(1))
            Issue.record("expected ResourceNotFoundException")
        } catch {
            #expect(error.code == "ResourceNotFoundException" && error.status == 400 && !error.isRetryable)
            // CloudWatchLogsPager turns exactly this into LogGroupNotFoundError (an empty source for the tick).
            #expect(error.isResourceNotFound)
        }
    }

    // MARK: S3

    @Test func s3ObjectsAndListing() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let s3 = S3Client(aws)
        let bucket = uniqueName("apitap-s3")
        try await aws.createBucket(bucket)
        #expect(try await s3.getObject(bucket: bucket, key: "missing") == nil)

        let key = "dir/with space+plus/é.json"
        guard case .stored(let etag?) = try await s3.putObject(bucket: bucket, key: key, body: Array(#"{"a":1}"#.utf8),
                                                               contentType: "application/json") else {
            Issue.record("put did not store"); return
        }
        let object = try #require(try await s3.getObject(bucket: bucket, key: key))
        #expect(object.body == Array(#"{"a":1}"#.utf8) && object.etag == etag && object.contentType == "application/json")

        for i in 0..<5 { _ = try await s3.putObject(bucket: bucket, key: "list/\(i)", body: Array("x\(i)".utf8)) }
        var keys: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await s3.listObjectsV2(bucket: bucket, prefix: "list/", continuationToken: token, maxKeys: 2)
            keys += page.objects.map(\.key)
            #expect(page.objects.allSatisfy { $0.size == 2 && $0.etag != nil })
            token = page.isTruncated ? page.nextContinuationToken : nil
            pages += 1
        } while token != nil && pages < 10
        #expect(keys == (0..<5).map { "list/\($0)" } && pages == 3)

        try await s3.deleteObject(bucket: bucket, key: key)
        #expect(try await s3.getObject(bucket: bucket, key: key) == nil)
        try await s3.deleteObject(bucket: bucket, key: key)
    }

    @Test func s3ConditionalWritesAndTheCheckpointStore() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let s3 = S3Client(aws)
        let bucket = uniqueName("apitap-state")
        try await aws.createBucket(bucket)
        let store = S3CheckpointStore(s3: s3, bucket: bucket, prefix: "/state/")
        let key = "API-Gateway-Execution-Logs_abc123/prod"
        #expect(store.objectKey(key) == "state/API-Gateway-Execution-Logs_abc123/prod.json")

        let empty = try await store.load(key: key)
        #expect(empty.bytes == nil && empty.version == .absent)
        let v1 = try await store.commit(key: key, bytes: Array(#"{"w":1}"#.utf8), expected: .absent)
        guard case .version = v1 else { Issue.record("no version"); return }

        // A second run that also saw nothing: If-None-Match: * on an existing key → 412 → conflict.
        await #expect(throws: CheckpointConflict.self) {
            _ = try await store.commit(key: key, bytes: Array(#"{"w":99}"#.utf8), expected: .absent)
        }
        // A stale ETag: wrong If-Match → 412 → conflict.
        await #expect(throws: CheckpointConflict.self) {
            _ = try await store.commit(key: key, bytes: Array(#"{"w":99}"#.utf8), expected: .version("\"0123456789abcdef0123456789abcdef\""))
        }
        let loaded = try await store.load(key: key)
        #expect(loaded.bytes == Array(#"{"w":1}"#.utf8) && loaded.version == v1)

        // The right ETag commits, and the old one is stale from then on.
        let v2 = try await store.commit(key: key, bytes: Array(#"{"w":2}"#.utf8), expected: v1)
        #expect(v2 != v1)
        #expect(try await store.load(key: key).bytes == Array(#"{"w":2}"#.utf8))
        await #expect(throws: CheckpointConflict.self) {
            _ = try await store.commit(key: key, bytes: Array(#"{"w":3}"#.utf8), expected: v1)
        }

        // The raw outcomes, without the store.
        #expect(try await s3.putObject(bucket: bucket, key: "raw", body: [1], ifNoneMatch: "*") != .preconditionFailed)
        #expect(try await s3.putObject(bucket: bucket, key: "raw", body: [2], ifNoneMatch: "*") == .preconditionFailed)
        #expect(try await s3.putObject(bucket: bucket, key: "raw", body: [2], ifMatch: "\"nope\"") == .preconditionFailed)

        // A missing bucket is an error of the store, not an empty checkpoint.
        let lost = S3CheckpointStore(s3: s3, bucket: uniqueName("apitap-missing"), prefix: "")
        await #expect(throws: CheckpointStoreError.self) { _ = try await lost.load(key: key) }
    }

    // MARK: API Gateway

    @Test func restApisStagesAndLoggingPatch() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let apigw = APIGatewayClient(aws)
        let name = uniqueName("rest")
        let created = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST,
                                                                      path: "/restapis", body: Array(#"{"name":"\#(name)"}"#.utf8)))
        let apiId = try #require(created["id"]?.stringValue)
        let resources = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "GetResources", method: .GET,
                                                                        path: restPath("restapis", apiId, "resources")))
        let rootId = try #require(resources["item"]?.arrayValue?.first { $0["path"]?.stringValue == "/" }?["id"]?.stringValue)
        try await Self.mockMethod(aws, apiId: apiId, resource: rootId, method: "GET")
        try await Self.deploy(aws, apiId: apiId, stage: "prod")

        var all: [RestAPI] = []
        var position: String?
        var pages = 0
        repeat {
            let page = try await apigw.getRestApis(position: position)
            all += page.items
            position = page.position
            pages += 1
        } while position != nil && pages < 20
        #expect(all.contains(RestAPI(id: apiId, name: name)))

        let before = try await apigw.getStages(restApiId: apiId)
        #expect(before.map(\.stageName) == ["prod"])
        #expect(before.first?.executionLoggingLevel != "INFO")

        let patched = try await apigw.updateStage(restApiId: apiId, stageName: "prod", patchOperations: [
            .replace("/*/*/logging/loglevel", "INFO"), .replace("/*/*/logging/dataTrace", "true"),
        ])
        #expect(patched.stageName == "prod" && patched.executionLoggingLevel == "INFO" && patched.dataTraceEnabled)
        let after = try #require(try await apigw.getStages(restApiId: apiId).first)
        #expect(after.executionLoggingLevel == "INFO" && after.dataTraceEnabled)

        let child = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateResource", method: .POST,
                                                                    path: restPath("restapis", apiId, "resources", rootId),
                                                                    body: Array(#"{"pathPart":"orders"}"#.utf8)))
        let childId = try #require(child["id"]?.stringValue)
        let listed = try await apigw.getResources(restApiId: apiId)
        #expect(Set(listed) == [RestResource(id: rootId, path: "/"), RestResource(id: childId, path: "/orders")])

        do {
            _ = try await apigw.getStages(restApiId: "doesnotexist")
            Issue.record("expected NotFoundException")
        } catch {
            #expect(error.status == 404 && error.code == "NotFoundException" && !error.isRetryable)
        }
    }

    /// Discovery hands each REST target the API's resource map, read once per cache period; an API whose resources
    /// cannot be read gives a note and an empty map, never an error.
    @Test func discoveryProvidesEachRESTAPIsResourcePaths() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let name = uniqueName("rest-resources")
        let created = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST,
                                                                      path: "/restapis", body: Array(#"{"name":"\#(name)"}"#.utf8)))
        let apiId = try #require(created["id"]?.stringValue)
        let resources = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "GetResources", method: .GET,
                                                                        path: restPath("restapis", apiId, "resources")))
        let rootId = try #require(resources["item"]?.arrayValue?.first { $0["path"]?.stringValue == "/" }?["id"]?.stringValue)
        let orders = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateResource", method: .POST,
                                                                     path: restPath("restapis", apiId, "resources", rootId),
                                                                     body: Array(#"{"pathPart":"orders"}"#.utf8)))
        let ordersId = try #require(orders["id"]?.stringValue)
        let order = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateResource", method: .POST,
                                                                    path: restPath("restapis", apiId, "resources", ordersId),
                                                                    body: Array(#"{"pathPart":"{orderId}"}"#.utf8)))
        let orderId = try #require(order["id"]?.stringValue)
        for resource in [rootId, orderId] {
            try await Self.mockMethod(aws, apiId: apiId, resource: resource, method: "POST")
        }
        try await Self.deploy(aws, apiId: apiId, stage: "prod")
        _ = try await APIGatewayClient(aws).updateStage(restApiId: apiId, stageName: "prod", patchOperations: [
            .replace("/*/*/logging/loglevel", "INFO"), .replace("/*/*/logging/dataTrace", "true"),
        ])

        let discovery = APIGatewayDiscovery(rest: APIGatewayClient(aws), http: APIGatewayV2Client(aws), resourceCacheSeconds: 300)
        let found = try await discovery.discover(rest: true, http: false, deadline: .distant)
        let target = try #require(found.targets.first { $0.apiId == apiId })
        #expect(target.logGroup.rawValue == "API-Gateway-Execution-Logs_\(apiId)/prod")
        let source = try #require(target.resourcePaths)
        #expect(await discovery.resources.reads == 0, "discovery itself reads no resources")
        let map = await source.resourcePaths(restApiId: apiId, deadline: .distant)
        #expect(map.note == nil)
        #expect(map.paths == [rootId: "/", ordersId: "/orders", orderId: "/orders/{orderId}"])
        _ = await source.resourcePaths(restApiId: apiId, deadline: .distant)
        #expect(await discovery.resources.reads == 1, "kept for the cache period")

        let missing = await source.resourcePaths(restApiId: "doesnotexist", deadline: .distant)
        #expect(missing.paths.isEmpty)
        #expect(missing.note?.hasPrefix("REST API doesnotexist: its resources could not be read") == true)
    }

    @Test func httpApisAndTheirAccessLogSettings() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let v2 = APIGatewayV2Client(aws)
        let name = uniqueName("http")
        let created = try JSONReader.parse(try await aws.restJSONCall(.apiGatewayV2, operation: "CreateApi", method: .POST, path: "/v2/apis",
                                                                      body: Array(#"{"name":"\#(name)","protocolType":"HTTP"}"#.utf8)))
        let apiId = try #require(created["apiId"]?.stringValue)
        let format = #"{"requestId":"$context.requestId","status":"$context.status"}"#
        var w = JSONWriter()
        w.beginObject()
        w.field("stageName", "$default")
        w.key("accessLogSettings")
        w.beginObject()
        w.field("destinationArn", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/http/\(name)")
        w.field("format", format)
        w.endObject()
        w.endObject()
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "CreateStage", method: .POST,
                                       path: restPath("v2", "apis", apiId, "stages"), body: w.bytes)

        let apis = try await v2.getApis()
        let api = try #require(apis.items.first { $0.apiId == apiId })
        #expect(api.name == name && api.protocolType == "HTTP")
        let stages = try await v2.getStages(apiId: apiId)
        #expect(stages.items == [HTTPStage(stageName: "$default", accessLogSettings: AccessLogSettings(
            destinationArn: "arn:aws:logs:us-east-1:123456789012:log-group:/aws/http/\(name)", format: format))])
    }

    // MARK: Secrets Manager

    @Test func secretValues() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let name = uniqueName("apitap/uap-client-secret")
        try await aws.createSecret(name, "s3cr3t-\"value\"")
        let secret = try await SecretsManagerClient(aws).getSecretValue(secretId: name)
        #expect(secret.value == "s3cr3t-\"value\"")
        do {
            _ = try await SecretsManagerClient(aws).getSecretValue(secretId: uniqueName("missing"))
            Issue.record("expected ResourceNotFoundException")
        } catch {
            #expect(error.code == "ResourceNotFoundException" && !error.isRetryable)
            #expect(!error.description.contains("s3cr3t"))
        }
    }
}
