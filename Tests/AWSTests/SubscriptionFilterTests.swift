// DELIVERY_MODE=subscription against a real moto_server: the CloudWatch Logs subscription-filter calls, and the
// enable-logging custom resource and API refresh putting, recording and removing apitap's filters (never another's),
// the 2-filter limit reported, and the tick's reading of which groups are pushed.
import Foundation
import HTTP
import Core
import TestSupport
import Testing
import Traffic
@testable import AWS

extension AWSClient {
    static let lambda = AWSService(signingName: "lambda", endpointPrefix: "lambda", environmentSuffix: "LAMBDA", displayName: "Lambda")

    /// A function moto knows (PutSubscriptionFilter checks that a Lambda destination exists); never invoked here.
    func createFunction(_ name: String) async throws -> String {
        let roleName = uniqueName("fn-role")
        let trust = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
        let role = try await iamCall("CreateRole", [("RoleName", roleName), ("AssumeRolePolicyDocument", trust)])
        let roleArn = try #require(XML.firstElementText("Arn", in: role))
        // An empty zip archive: its end-of-central-directory record alone.
        let zip = Base64.encode([0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18))
        var w = JSONWriter()
        w.beginObject()
        w.field("FunctionName", name); w.field("Runtime", "provided.al2023"); w.field("Handler", "awslogs"); w.field("Role", roleArn)
        w.key("Code"); w.beginObject(); w.field("ZipFile", zip); w.endObject()
        w.endObject()
        let body = try await restJSONCall(Self.lambda, operation: "CreateFunction", method: .POST, path: "/2015-03-31/functions", body: w.bytes)
        return try #require(try JSONReader.parse(body)["FunctionArn"]?.stringValue)
    }

    /// A REST API with one MOCK method and `stages` deployed; returns its id.
    func createRestAPI(stages: [String]) async throws -> String {
        let created = try JSONReader.parse(try await restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST,
                                                                  path: "/restapis", body: Array(#"{"name":"\#(uniqueName("subs"))"}"#.utf8)))
        let apiId = try #require(created["id"]?.stringValue)
        let resources = try JSONReader.parse(try await restJSONCall(.apiGateway, operation: "GetResources", method: .GET,
                                                                    path: restPath("restapis", apiId, "resources")))
        let rootId = try #require(resources["item"]?.arrayValue?.first { $0["path"]?.stringValue == "/" }?["id"]?.stringValue)
        try await MotoIntegrationTests.mockMethod(self, apiId: apiId, resource: rootId, method: "GET")
        for stage in stages { try await MotoIntegrationTests.deploy(self, apiId: apiId, stage: stage) }
        return apiId
    }
}

@Suite struct SubscriptionFilterTests {
    @Test func subscriptionFilterCallsAgainstMoto() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let logs = CloudWatchLogsClient(aws)
        let group = "/apitap/subs/" + uniqueName("group")
        let function = try await aws.createFunction(uniqueName("awslogs"))

        #expect(try await logs.createLogGroup(group))
        #expect(try await logs.createLogGroup(group) == false, "an existing group is not an error")
        try await logs.putRetentionPolicy(group, days: 7)
        let described = try await logs.describeLogGroups(prefix: group)
        #expect(described.logGroups.first { $0.name == group }?.retentionInDays == 7)
        #expect(try await logs.describeSubscriptionFilters(logGroupName: group).isEmpty)

        try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: "apitap", logGroupName: group, destinationArn: function))
        try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: "other", logGroupName: group, filterPattern: "ERROR",
                                                                destinationArn: function))
        let filters = try await logs.describeSubscriptionFilters(logGroupName: group)
        #expect(Set(filters.map(\.filterName)) == ["apitap", "other"])
        let mine = try #require(filters.first { $0.filterName == "apitap" })
        #expect(mine.destinationArn == function && mine.filterPattern == "" && mine.logGroupName == group && mine.roleArn == nil)
        #expect(filters.first { $0.filterName == "other" }?.filterPattern == "ERROR")

        // CloudWatch's limit: 2 filters per log group.
        do {
            try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: "third", logGroupName: group, destinationArn: function))
            Issue.record("a third filter must be refused")
        } catch {
            #expect(error.code == "LimitExceededException" && !error.isRetryable, "\(error)")
        }
        // A destination that is not a function moto knows is refused, as AWS refuses one it cannot invoke.
        try await logs.deleteSubscriptionFilter(logGroupName: group, filterName: "other")
        do {
            try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: "ghost", logGroupName: group,
                                                                    destinationArn: function + "-missing"))
            Issue.record("a missing function must be refused")
        } catch {
            #expect(error.code == "InvalidParameterException", "\(error)")
        }
        try await logs.deleteSubscriptionFilter(logGroupName: group, filterName: "apitap")
        #expect(try await logs.describeSubscriptionFilters(logGroupName: group).isEmpty)
        do {
            try await logs.deleteSubscriptionFilter(logGroupName: group, filterName: "apitap")
            Issue.record("deleting a missing filter must fail")
        } catch {
            #expect(error.isResourceNotFound, "\(error)")
        }
        do {
            _ = try await logs.describeSubscriptionFilters(logGroupName: group + "-missing")
            Issue.record("a missing group must fail")
        } catch {
            #expect(error.isResourceNotFound, "\(error)")
        }
    }

    /// The custom resource (stack mode) and the refresh in subscription mode, against moto's API Gateway, CloudWatch
    /// Logs and S3: what is put, recorded, reported, re-put, and removed on poll mode and on Delete.
    @Test func customResourceAndRefreshPutRecordAndRemoveFilters() async throws {
        let aws = try await MotoServers.shared.plain().client()
        let logs = CloudWatchLogsClient(aws)
        let apigw = APIGatewayClient(aws)
        let bucket = uniqueName("subs-state")
        try await aws.createBucket(bucket)
        let awslogs = try await aws.createFunction(uniqueName("apitap-awslogs"))
        let foreign = try await aws.createFunction(uniqueName("someone-else"))
        let filterName = "apitap-awslogs"
        let api = try await aws.createRestAPI(stages: ["fresh", "on", "full", "taken"])
        func group(_ stage: String) -> String { "API-Gateway-Execution-Logs_\(api)/\(stage)" }

        // "on", "full" and "taken" log already (their groups exist); "full" has 2 filters of others, "taken" one named
        // like apitap's that goes elsewhere.
        for stage in ["on", "full", "taken"] {
            _ = try await apigw.updateStage(restApiId: api, stageName: stage, patchOperations: [
                .replace("/*/*/logging/loglevel", "INFO"), .replace("/*/*/logging/dataTrace", "true")])
            _ = try await logs.createLogGroup(group(stage))
        }
        for name in ["siem", "archive"] {
            try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: name, logGroupName: group("full"), destinationArn: foreign))
        }
        try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: filterName, logGroupName: group("taken"), destinationArn: foreign))

        let key = "state/123456789012/enable-logging/previous-stage-settings.json"
        var settings = try #require(StageLoggingSettings.parse(.object(JSONObject([
            ("StateBucket", .string(bucket)), ("StateKey", .string(key)), ("EnableHttpApis", .string("false")),
            ("DeliveryMode", .string("subscription")), ("SubscriptionDestinationArn", .string(awslogs)),
            ("SubscriptionFilterName", .string(filterName)), ("LogRetentionDays", .string("30")),
        ]))).settings)
        // Only this test's stages: the moto server is shared with other tests.
        settings.listedStages = Set(["fresh", "on", "full", "taken", "later"].map { "rest/\(api)/\($0)" })
        let manager = StageLoggingManager(backend: AWSStageLoggingBackend(aws), logger: Logger(level: .fatal, sink: { _ in }))
        func record() async throws -> StageLoggingRecord {
            let object = try #require(try await S3Client(aws).getObject(bucket: bucket, key: key))
            return try StageLoggingRecord.decode(object.body)
        }
        func filters(_ stage: String) async throws -> [String: String] {
            Dictionary(uniqueKeysWithValues: try await logs.describeSubscriptionFilters(logGroupName: group(stage)).map { ($0.filterName, $0.destinationArn) })
        }

        // Create.
        var outcome = await manager.apply(settings, deadline: Deadline.after(milliseconds: 60_000))
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        #expect(outcome.enabled == ["REST API \(api) stage fresh"])
        #expect(Set(outcome.subscribed) == [group("fresh"), group("on")])
        #expect(outcome.notes.contains { $0.contains(group("full")) && $0.contains("siem, archive") && $0.contains("limit") }, "\(outcome.notes)")
        #expect(outcome.notes.contains { $0.contains(group("taken")) && $0.contains(foreign) && $0.contains("left as is") }, "\(outcome.notes)")
        #expect(outcome.notes.contains { $0.contains("created log group \(group("fresh"))") }, "\(outcome.notes)")
        #expect(try await filters("fresh") == [filterName: awslogs])
        #expect(try await filters("on") == [filterName: awslogs])
        #expect(try await filters("full") == ["siem": foreign, "archive": foreign])
        #expect(try await filters("taken") == [filterName: foreign])
        let created = try await logs.describeLogGroups(prefix: group("fresh")).logGroups.first { $0.name == group("fresh") }
        #expect(created?.retentionInDays == 30, "the group apitap creates gets LOG_RETENTION_DAYS")
        var recorded = try await record()
        #expect(Set(recorded.subscriptions.map(\.logGroup)) == [group("fresh"), group("on")])
        #expect(recorded.subscriptions.allSatisfy { $0.filterName == filterName && $0.destinationArn == awslogs })

        // The tick leaves exactly the recorded groups to the push, reading the same record.
        let location = try #require(S3ObjectLocation.parse("s3://\(bucket)/\(key)"))
        let pushed = try await SubscribedLogGroups(s3: S3Client(aws), location: location, cacheSeconds: 0).groups(deadline: .distant)
        #expect(pushed == [group("fresh"), group("on")])
        let targets = ["fresh", "on", "full", "taken"].map {
            LogGroupTarget(logGroup: LogGroupName(group($0)), kind: .rest, apiId: api, stage: $0)
        } + [LogGroupTarget(logGroup: LogGroupName(group("on")), kind: .flex, apiId: nil, stage: nil)]
        let split = SubscribedLogGroups.split(targets, pushed: pushed)
        #expect(split.poll.map(\.logGroup.rawValue) == [group("full"), group("taken"), group("on")], "Flex sources are always polled")
        #expect(split.pushed == [group("fresh"), group("on")])

        // A repeated Update changes nothing.
        outcome = await manager.apply(settings, previousLocation: (bucket, key), deadline: Deadline.after(milliseconds: 60_000))
        #expect(outcome.failures.isEmpty && outcome.subscribed.isEmpty && outcome.subscriptionsAlreadyOn == 2, "\(outcome.json())")

        // The refresh: a stage created since, and apitap's filter deleted by someone, are both subscribed again.
        try await MotoIntegrationTests.deploy(aws, apiId: api, stage: "later")
        try await logs.deleteSubscriptionFilter(logGroupName: group("on"), filterName: filterName)
        outcome = await manager.apply(settings, mode: .refresh, deadline: Deadline.after(milliseconds: 60_000))
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        #expect(outcome.enabled == ["REST API \(api) stage later"])
        #expect(Set(outcome.subscribed) == [group("later"), group("on")])
        #expect(outcome.notes.contains { $0.contains(group("on")) && $0.contains("put again") }, "\(outcome.notes)")
        recorded = try await record()
        #expect(Set(recorded.subscriptions.map(\.logGroup)) == [group("fresh"), group("on"), group("later")])

        // Update back to poll mode: apitap's filters go, the others stay, stages keep logging.
        var poll = settings
        poll.subscription = nil
        outcome = await manager.apply(poll, previousLocation: (bucket, key), deadline: Deadline.after(milliseconds: 60_000))
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        #expect(Set(outcome.unsubscribed) == [group("fresh"), group("on"), group("later")])
        for stage in ["fresh", "on", "later"] { #expect(try await filters(stage).isEmpty) }
        #expect(try await filters("full") == ["siem": foreign, "archive": foreign])
        #expect(try await filters("taken") == [filterName: foreign])
        recorded = try await record()
        #expect(recorded.subscriptions.isEmpty && recorded.stages.count == 2)
        #expect(recorded.encode().starts(with: Array(#"{"version":1"#.utf8)), "a record without filters stays version 1")

        // Subscription again, then someone points apitap's filter elsewhere: Delete leaves that one and removes the rest.
        outcome = await manager.apply(settings, previousLocation: (bucket, key), deadline: Deadline.after(milliseconds: 60_000))
        #expect(Set(outcome.subscribed) == [group("fresh"), group("on"), group("later")], "\(outcome.json())")
        #expect(try await record().encode().starts(with: Array(#"{"version":2"#.utf8)))
        try await logs.deleteSubscriptionFilter(logGroupName: group("later"), filterName: filterName)
        try await logs.putSubscriptionFilter(SubscriptionFilter(filterName: filterName, logGroupName: group("later"), destinationArn: foreign))
        outcome = await manager.restoreAll(bucket: bucket, key: key, deadline: Deadline.after(milliseconds: 60_000))
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        #expect(Set(outcome.unsubscribed) == [group("fresh"), group("on")])
        #expect(outcome.notes.contains { $0.contains(group("later")) && $0.contains("changed by someone else") }, "\(outcome.notes)")
        #expect(try await filters("fresh").isEmpty)
        #expect(try await filters("on").isEmpty)
        #expect(try await filters("later") == [filterName: foreign])
        #expect(try await filters("full") == ["siem": foreign, "archive": foreign])
        #expect(try await S3Client(aws).getObject(bucket: bucket, key: key) == nil, "everything restored: the record is gone")
        let stages = Dictionary(uniqueKeysWithValues: try await apigw.getStages(restApiId: api).map { ($0.stageName, $0.executionLoggingLevel ?? "OFF") })
        #expect(stages["fresh"] == "OFF" && stages["later"] == "OFF" && stages["on"] == "INFO")
    }

    @Test func theTickReadsItsDeliveryMode() throws {
        let base = ["AWS_REGION": "us-east-1", "SEND_TO_UAP": "false"]
        let (poll, none) = TrafficConfiguration.parse(base)
        #expect(none.isEmpty && poll?.deliveryMode == .poll && poll?.stageLoggingStateURI == nil)
        let (subs, problems) = TrafficConfiguration.parse(base.merging(["DELIVERY_MODE": "subscription",
                                                                        "STAGE_LOGGING_STATE_URI": "s3://b/state/1/enable-logging/r.json"]) { $1 })
        #expect(problems.isEmpty, "\(problems)")
        #expect(subs?.deliveryMode == .subscription && subs?.stageLoggingStateURI == S3ObjectLocation.parse("s3://b/state/1/enable-logging/r.json"))
        let (_, bad) = TrafficConfiguration.parse(base.merging(["DELIVERY_MODE": "push", "STAGE_LOGGING_STATE_URI": "b/k"]) { $1 })
        #expect(bad.contains { $0.hasPrefix("DELIVERY_MODE must be one of poll, subscription") }, "\(bad)")
        #expect(bad.contains { $0.hasPrefix("STAGE_LOGGING_STATE_URI must be s3://bucket/key") }, "\(bad)")
    }

    /// The tick reads the record at most every cacheSeconds; a missing record subscribes nothing.
    @Test func subscribedGroupsAreCachedAndAMissingRecordMeansNone() async throws {
        let calls = Locked(0)
        let record = StageLoggingRecord(subscriptions: [RecordedSubscription(logGroup: "g1", filterName: "apitap", destinationArn: "arn")])
        let cached = SubscribedLogGroups(cacheSeconds: 300) { _ in calls.withLock { $0 += 1 }; return record.encode() }
        #expect(try await cached.groups(deadline: .distant) == ["g1"])
        #expect(try await cached.groups(deadline: .distant) == ["g1"])
        #expect(calls.withLock { $0 } == 1)
        #expect(try await SubscribedLogGroups(cacheSeconds: 0) { _ in nil }.groups(deadline: .distant).isEmpty)
        await #expect(throws: (any Error).self) { try await SubscribedLogGroups(cacheSeconds: 0) { _ in Array("{}".utf8) }.groups(deadline: .distant) }
    }

    @Test func subscriptionSettingsAreValidated() {
        let base: [(String, JSONValue)] = [("StateBucket", .string("b")), ("StateKey", .string("k")), ("DeliveryMode", .string("subscription"))]
        var parsed = StageLoggingSettings.parse(.object(JSONObject(base + [("HttpAccessLogGroupArn", .string("arn:aws:logs:us-east-1:123456789012:log-group:g"))])))
        #expect(parsed.settings == nil && parsed.problems.contains { $0.hasPrefix("SubscriptionDestinationArn is missing") })
        parsed = StageLoggingSettings.parse(.object(JSONObject(base + [
            ("HttpAccessLogGroupArn", .string("arn:aws:logs:us-east-1:123456789012:log-group:g")),
            ("SubscriptionDestinationArn", .string("arn:aws:sqs:us-east-1:123456789012:q")), ("SubscriptionFilterName", .string("a:b")),
            ("LogRetentionDays", .string("10"))])))
        #expect(parsed.problems.contains { $0.contains("is not a Lambda function ARN") }, "\(parsed.problems)")
        #expect(parsed.problems.contains { $0.contains("without ':' or '*'") }, "\(parsed.problems)")
        #expect(parsed.problems.contains { $0.hasPrefix("LogRetentionDays must be one of") }, "\(parsed.problems)")
        parsed = StageLoggingSettings.parse(.object(JSONObject([("StateBucket", .string("b")), ("StateKey", .string("k")),
                                                                ("EnableHttpApis", .string("false")), ("DeliveryMode", .string("push"))])))
        #expect(parsed.problems == [#"DeliveryMode must be poll or subscription, not "push""#])
        let env = ["STAGE_LOGGING_STATE_URI": "s3://b/k", "ENABLE_HTTP_APIS": "false", "DELIVERY_MODE": "subscription",
                   "SUBSCRIPTION_DESTINATION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:apitap-awslogs-us-east-1"]
        let fromEnv = StageLoggingSettings.fromEnvironment(env)
        #expect(fromEnv.problems.isEmpty && fromEnv.settings?.subscription?.filterName == "apitap")
        #expect(StageLoggingSettings.fromEnvironment(env.merging(["DELIVERY_MODE": "push"]) { $1 }).problems
                    == [#"DELIVERY_MODE must be poll or subscription, not "push""#])
    }
}
