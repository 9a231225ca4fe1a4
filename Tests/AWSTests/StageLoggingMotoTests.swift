// The enable-logging custom resource and the scheduled API refresh against a real moto_server: which stages they
// change, what they record in S3, and that teardown restores exactly what was there. Each test has its own moto
// (API Gateway's account settings and the list of every REST API are account-wide: a shared server would mix tests).
// The Lambda side (the answer PUT to the ResponseURL, its retry, the deadline, a foreign event) is tested through the
// packaged binary in Tests/e2e/run.sh.
import Foundation
import HTTP
import Core
import TestSupport
import Testing
import Traffic
@testable import AWS

@Suite struct StageLoggingMotoTests {
    static let bucket = "apitap-e2e-us-east-1"
    static let key = "state/123456789012/enable-logging/previous-stage-settings.json"
    static let roleArn = "arn:aws:iam::123456789012:role/apitap-apigw-logs-us-east-1"

    /// The stack's properties, as the template passes them; `change` edits them.
    static func event(_ type: String, _ change: (inout [String: String]) -> Void = { _ in }) throws -> CustomResourceEvent {
        var p = ["EnableRestApis": "true", "EnableHttpApis": "true", "RestExecutionLogsAlreadyEnabled": "false",
                 "HttpAccessLogsAlreadyEnabled": "false", "HttpAccessLogGroupName": "/aws/apigateway/apitap-http-access",
                 "HttpAccessLogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access:*",
                 "EnableDefaultStageLogging": "false", "ApiGatewayCloudWatchRoleArn": roleArn,
                 "StateBucket": bucket, "StateKey": key]
        change(&p)
        var w = JSONWriter()
        w.beginObject()
        w.field("RequestType", type)
        w.field("ResponseURL", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x")
        w.field("RequestId", "req-" + type)
        w.field("StackId", "arn:aws:cloudformation:us-east-1:123456789012:stack/apitap-e2e/1")
        w.field("LogicalResourceId", "StageLogging")
        if type != "Create" { w.field("PhysicalResourceId", StageLoggingResource.defaultPhysicalResourceId) }
        w.key("ResourceProperties")
        w.beginObject()
        for (k, v) in p.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        if type == "Update" {
            w.key("OldResourceProperties")
            w.beginObject(); w.field("StateBucket", bucket); w.field("StateKey", key); w.endObject()
        }
        w.endObject()
        return try CustomResourceEvent.decode(w.bytes)
    }

    struct Moto {
        let server: MotoServer
        let aws: AWSClient
        var apigw: APIGatewayClient { APIGatewayClient(aws) }

        static func start() async throws -> Moto {
            let server = try await MotoServer.start()
            let aws = try server.client()
            try await aws.createBucket(StageLoggingMotoTests.bucket)
            return Moto(server: server, aws: aws)
        }

        /// A REST API with a GET on its root and one deployed stage per name, each patched as given
        /// (nil: the stage as created, without execution logging settings). Returns name:stage → apiId/stage.
        func restAPI(_ name: String, _ stages: [(String, (level: String, trace: Bool)?)]) async throws -> [String: String] {
            let created = try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST,
                                                                          path: "/restapis", body: Array(#"{"name":"\#(name)"}"#.utf8)))
            let id = try #require(created["id"]?.stringValue)
            let root = try #require(try await apigw.getResources(restApiId: id).first { $0.path == "/" })
            try await MotoIntegrationTests.mockMethod(aws, apiId: id, resource: root.id, method: "GET")
            var out: [String: String] = [:]
            for (stage, logging) in stages {
                try await MotoIntegrationTests.deploy(aws, apiId: id, stage: stage)
                if let logging { try await set("\(id)/\(stage)", logging.level, logging.trace) }
                out["\(name):\(stage)"] = "\(id)/\(stage)"
            }
            return out
        }

        /// Someone's change to a stage's execution logging (`apiId/stage`).
        func set(_ stage: String, _ level: String, _ trace: Bool) async throws {
            let parts = stage.split(separator: "/").map(String.init)
            _ = try await apigw.updateStage(restApiId: parts[0], stageName: parts[1], patchOperations: [
                .replace("/*/*/logging/loglevel", level), .replace("/*/*/logging/dataTrace", trace ? "true" : "false"),
            ])
        }

        /// Every REST stage's execution logging: `apiId/stage` → "LEVEL/trace" ("-" for a stage without settings).
        func stages() async throws -> [String: String] {
            var out: [String: String] = [:]
            for (api, stage) in try await apigw.allStages() {
                out["\(api.id)/\(stage.stageName)"] = stage.executionLoggingLevel.map { "\($0)/\(stage.dataTraceEnabled)" } ?? "-"
            }
            return out
        }

        func record() async throws -> JSONValue? {
            do {
                let r = try await aws.send(AWSCall(service: .s3, operation: "GetObject", method: .GET,
                                                   path: "/\(StageLoggingMotoTests.bucket)/\(StageLoggingMotoTests.key)"))
                return try JSONReader.parse(r.body)
            } catch let error as AWSError where error.status == 404 {
                return nil
            }
        }

        func accountRole() async throws -> String? {
            try JSONReader.parse(try await aws.restJSONCall(.apiGateway, operation: "GetAccount", method: .GET, path: "/account"))["cloudwatchRoleArn"]?.stringValue
        }

        func run(_ event: CustomResourceEvent) async -> (CustomResourceResponse, StageLoggingOutcome) {
            await StageLoggingResource.run(event, aws: .success(aws), deadline: .after(milliseconds: 60_000), logger: Logger(level: .error))
        }

        /// The api-refresh handler's work with the stack's settings (plus `extra`).
        func refresh(_ extra: [String: String] = [:]) async throws -> StageLoggingOutcome {
            var env = ["ENABLE_REST_APIS": "true", "ENABLE_HTTP_APIS": "true", "ENABLE_DEFAULT_STAGE_LOGGING": "false",
                       "HTTP_ACCESS_LOG_GROUP_ARN": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access",
                       "STAGE_LOGGING_STATE_URI": "s3://\(StageLoggingMotoTests.bucket)/\(StageLoggingMotoTests.key)"]
            env.merge(extra) { $1 }
            let (parsed, problems) = StageLoggingSettings.fromEnvironment(env)
            var settings = try #require(parsed, "\(problems)")
            let manager = StageLoggingManager(backend: AWSStageLoggingBackend(aws), logger: Logger(level: .error))
            try await settings.resolveAPIList(region: aws.region, backend: manager.backend, deadline: .after(milliseconds: 60_000))
            return await manager.apply(settings, mode: .refresh, deadline: .after(milliseconds: 60_000))
        }

        /// REST stages in known states: orders:prod (no settings), orders:dev (OFF), billing:live (INFO with data
        /// trace), billing:errors (ERROR).
        func seed() async throws -> [String: String] {
            var ids = try await restAPI("orders", [("prod", nil), ("dev", ("OFF", false))])
            ids.merge(try await restAPI("billing", [("live", ("INFO", true)), ("errors", ("ERROR", false))])) { $1 }
            return ids
        }
    }

    static func data(_ response: CustomResourceResponse, _ name: String) -> String? { response.data.first { $0.0 == name }?.1 }

    @Test func createUpdateAndDeleteChangeAndRestoreExactlyWhatWasThere() async throws {
        let moto = try await Moto.start()
        defer { moto.server.stop() }
        let ids = try await moto.seed()
        let (prod, dev, live, errs) = (ids["orders:prod"]!, ids["orders:dev"]!, ids["billing:live"]!, ids["billing:errors"]!)
        let roleBefore = try await moto.accountRole()
        #expect(roleBefore == nil)

        let (created, _) = await moto.run(try Self.event("Create"))
        var stages = try await moto.stages()
        #expect(created.success && created.physicalResourceId == StageLoggingResource.defaultPhysicalResourceId, "\(created.reason)")
        #expect([prod, dev, errs].allSatisfy { stages[$0] == "INFO/true" }, "Create turns logging on where it is not INFO: \(stages)")
        #expect(stages[live] == "INFO/true")
        #expect(Self.data(created, "StagesAlreadyOn") == "1" && Self.data(created, "StagesTurnedOn") == "3")
        let record = try #require(try await moto.record())
        let recorded = Dictionary(uniqueKeysWithValues: (record["stages"]?.arrayValue ?? []).map { s in
            ("\(s["apiId"]?.stringValue ?? "")/\(s["stage"]?.stringValue ?? "")", "\(s["loggingLevel"]?.stringValue ?? "-")/\(s["dataTrace"]?.boolValue.map(String.init) ?? "-")")
        })
        #expect(recorded == [prod: "-/-", dev: "OFF/false", errs: "ERROR/false"], "the previous settings of the changed stages")
        let role = try await moto.accountRole()
        #expect(role == Self.roleArn, "the account's CloudWatch role, unset before, is the stack's")

        let (off, _) = await moto.run(try Self.event("Update") { $0["EnableRestApis"] = "false" })
        stages = try await moto.stages()
        #expect(off.success && stages[dev] == "OFF/false" && stages[errs] == "ERROR/false", "REST switched off restores: \(stages)")
        _ = await moto.run(try Self.event("Update"))
        let (again, _) = await moto.run(try Self.event("Update"))
        #expect(again.success && Self.data(again, "StagesTurnedOn") == "0" && Self.data(again, "StagesAlreadyOn") == "4",
                "on again, then a repeated Update changes nothing: \(again.data)")

        let (deleted, _) = await moto.run(try Self.event("Delete"))
        stages = try await moto.stages()
        #expect(deleted.success && deleted.requestId == "req-Delete")
        // API Gateway cannot unset a stage's settings: "none" comes back as OFF without data trace.
        #expect(stages == [prod: "OFF/false", dev: "OFF/false", errs: "ERROR/false", live: "INFO/true"], "Delete restores: \(stages)")
        let left = try await moto.record()
        #expect(left == nil, "Delete removes the record")
    }

    @Test func badPropertiesAndAMissingBucketAreAnsweredNeverLeftHanging() async throws {
        let moto = try await Moto.start()
        defer { moto.server.stop() }
        let ids = try await moto.seed()
        let (bad, _) = await moto.run(try Self.event("Create") { $0["EnableRestApis"] = "maybe"; $0["StateBucket"] = nil })
        #expect(!bad.success && bad.reason.contains("EnableRestApis must be true or false") && bad.reason.contains("StateBucket is missing"),
                "every problem named: \(bad.reason)")
        let (badDelete, _) = await moto.run(try Self.event("Delete") { $0["StateBucket"] = nil })
        #expect(badDelete.success && badDelete.reason.hasPrefix("nothing restored"), "the rollback's Delete never blocks the stack")
        let (noBucket, _) = await moto.run(try Self.event("Create") { $0["StateBucket"] = "apitap-e2e-missing" })
        #expect(!noBucket.success && noBucket.reason.contains("NoSuchBucket") && Self.data(noBucket, "StagesTurnedOn") == "0",
                "a missing state bucket fails before any stage changes: \(noBucket.reason)")
        let stages = try await moto.stages()
        #expect(stages[ids["orders:prod"]!] == "-" && stages[ids["orders:dev"]!] == "OFF/false", "nothing changed: \(stages)")
        let (noAWS, _) = await StageLoggingResource.run(try Self.event("Create"), aws: .failure(ConfigurationProblems("AWS_REGION is not set")),
                                                        deadline: .after(milliseconds: 5_000), logger: Logger(level: .error))
        #expect(!noAWS.success && noAWS.reason.contains("AWS_REGION is not set"))
    }

    @Test func theRefreshTurnsOnNewStagesAndTeardownRestoresThemToo() async throws {
        let moto = try await Moto.start()
        defer { moto.server.stop() }
        let ids = try await moto.seed()
        let (prod, dev, live, errs) = (ids["orders:prod"]!, ids["orders:dev"]!, ids["billing:live"]!, ids["billing:errors"]!)

        let before = try await moto.refresh()
        var stages = try await moto.stages()
        #expect(before.enabled.isEmpty && stages[prod] == "-" && before.notes.contains { $0.contains("nothing changed") },
                "no record yet (the stack's resource has not run): nothing changes, and it says why: \(before.summary())")

        _ = await moto.run(try Self.event("Create"))
        // Created after the deployment: v1 is listed, v2 is left out of API_LIST.
        let added = try await moto.restAPI("inventory", [("v1", nil), ("v2", nil)])
        let (v1, v2) = (added["inventory:v1"]!, added["inventory:v2"]!)
        func entry(_ id: String, region: String = "us-east-1") -> String {
            let p = id.split(separator: "/")
            return #"{"region":"\#(region)","apiId":"\#(p[0])","stage":"\#(p[1])","type":"rest"}"#
        }
        let list = "[" + [entry(v1), entry(prod), entry(dev), entry(live), entry(v2, region: "eu-west-1")].joined(separator: ",") + "]"
        let first = try await moto.refresh(["API_AUTO_DISCOVERY": "false", "API_LIST": list])
        stages = try await moto.stages()
        #expect(stages[v1] == "INFO/true" && stages[v2] == "-" && stages[live] == "INFO/true", "\(stages)")
        #expect(first.enabled.count == 1 && first.alreadyOn == 3 && first.failures.isEmpty, "\(first.summary())")

        try await moto.set(dev, "ERROR", false)
        let second = try await moto.refresh()
        stages = try await moto.stages()
        #expect(stages[dev] == "ERROR/false", "someone else's change is not overwritten")
        #expect(second.notes.contains { $0.contains(dev.split(separator: "/")[0]) && $0.contains("changed by someone else") }, "\(second.notes)")
        #expect(second.enabled.count == 1, "v2, now discovered, is turned on: \(second.summary())")

        _ = await moto.run(try Self.event("Delete"))
        stages = try await moto.stages()
        #expect(stages == [v1: "OFF/false", v2: "OFF/false", prod: "OFF/false", dev: "OFF/false", errs: "ERROR/false", live: "INFO/true"],
                "teardown restores what the refresh and the stack turned on, exactly: \(stages)")
        let after = try await moto.refresh()
        stages = try await moto.stages()
        #expect(after.enabled.isEmpty && stages[v1] == "OFF/false" && after.notes.contains { $0.contains("nothing changed") })
    }
}
