// API Gateway (v1, REST APIs): list APIs and stages for discovery; patch a stage for the enable-logging resource.
import HTTP
import Core

public struct RestAPI: Sendable, Equatable {
    public var id: String
    public var name: String
}

public struct RestAPIsPage: Sendable {
    public var items: [RestAPI]
    /// Pass back as `position` for the next page; nil on the last one.
    public var position: String?
}

/// A resource of a REST API: execution logs name it by `id` in some lines (throttling), by `path` in others.
public struct RestResource: Sendable, Hashable {
    public var id: String
    /// The resource template (`/orders/{id}`), relative to the stage.
    public var path: String

    /// Public so other modules can stand in for the service in tests (a fake discovery).
    public init(id: String, path: String) { self.id = id; self.path = path }
}

/// A stage's `methodSettings` entry (`*/*` holds the stage-wide defaults).
public struct MethodSetting: Sendable, Equatable {
    /// `OFF`, `ERROR` or `INFO`.
    public var loggingLevel: String?
    public var dataTraceEnabled: Bool?
    public var metricsEnabled: Bool?
}

public struct AccessLogSettings: Sendable, Equatable {
    public var destinationArn: String?
    public var format: String?
}

public struct RestStage: Sendable, Equatable {
    public var stageName: String
    public var deploymentId: String?
    /// Keyed by `resourcePath/httpMethod`, `*/*` for all methods.
    public var methodSettings: [String: MethodSetting]
    public var accessLogSettings: AccessLogSettings?

    /// Execution logging as the stage-wide setting (`*/*`) has it.
    public var executionLoggingLevel: String? { methodSettings["*/*"]?.loggingLevel }
    public var dataTraceEnabled: Bool { methodSettings["*/*"]?.dataTraceEnabled ?? false }
}

/// One JSON Patch operation as API Gateway takes it (`replace /*/*/logging/loglevel INFO`).
public struct PatchOperation: Sendable, Equatable {
    public var op: String
    public var path: String
    public var value: String?
    public var from: String?

    public init(op: String, path: String, value: String? = nil, from: String? = nil) {
        self.op = op
        self.path = path
        self.value = value
        self.from = from
    }

    public static func replace(_ path: String, _ value: String) -> PatchOperation { PatchOperation(op: "replace", path: path, value: value) }
}

public struct APIGatewayClient: Sendable {
    public let aws: AWSClient

    public init(_ aws: AWSClient) { self.aws = aws }

    /// GET /restapis. `limit` is at most 500 (AWS's default page is 25); nil leaves it to the service.
    public func getRestApis(position: String? = nil, limit: Int? = 500,
                            deadline: Deadline = .distant) async throws(AWSError) -> RestAPIsPage {
        var query: [(name: String, value: String)] = []
        if let limit { query.append(("limit", String(limit))) }
        if let position { query.append(("position", position)) }
        let body = try await aws.restJSONCall(.apiGateway, operation: "GetRestApis", method: .GET, path: "/restapis",
                                              query: query, deadline: deadline)
        let json = try aws.parseJSON(body, .apiGateway, "GetRestApis")
        var page = RestAPIsPage(items: [], position: json["position"]?.stringValue)
        // The JSON member is `item` (the SDK model renames it `items`); accept both.
        for item in (json["item"] ?? json["items"])?.arrayValue ?? [] {
            guard let id = item["id"]?.stringValue else { continue }
            page.items.append(RestAPI(id: id, name: item["name"]?.stringValue ?? ""))
        }
        if page.position?.isEmpty == true { page.position = nil }
        return page
    }

    /// GET /restapis/{id}/stages (not paginated).
    public func getStages(restApiId: String, deadline: Deadline = .distant) async throws(AWSError) -> [RestStage] {
        let body = try await aws.restJSONCall(.apiGateway, operation: "GetStages", method: .GET,
                                              path: restPath("restapis", restApiId, "stages"), deadline: deadline)
        let json = try aws.parseJSON(body, .apiGateway, "GetStages")
        return ((json["item"] ?? json["items"])?.arrayValue ?? []).compactMap(Self.stage)
    }

    /// GET /restapis/{id}/resources, every page (`position`), 500 a page.
    public func getResources(restApiId: String, deadline: Deadline = .distant) async throws(AWSError) -> [RestResource] {
        var out: [RestResource] = []
        var position: String?
        var seen = Set<String>()
        repeat {
            var query: [(name: String, value: String)] = [("limit", "500")]
            if let position { query.append(("position", position)) }
            let body = try await aws.restJSONCall(.apiGateway, operation: "GetResources", method: .GET,
                                                  path: restPath("restapis", restApiId, "resources"), query: query, deadline: deadline)
            let json = try aws.parseJSON(body, .apiGateway, "GetResources")
            for item in (json["item"] ?? json["items"])?.arrayValue ?? [] {
                guard let id = item["id"]?.stringValue, let path = item["path"]?.stringValue else { continue }
                out.append(RestResource(id: id, path: path))
            }
            position = json["position"]?.stringValue
            if position?.isEmpty == true { position = nil }
            // A service that hands back a token it already gave would otherwise page forever.
            if let p = position, !seen.insert(p).inserted { position = nil }
        } while position != nil
        return out
    }

    /// Every stage of every REST API in the region, following GetRestApis' pages.
    public func allStages(deadline: Deadline = .distant) async throws(AWSError) -> [(api: RestAPI, stage: RestStage)] {
        var out: [(api: RestAPI, stage: RestStage)] = []
        var position: String?
        repeat {
            let page = try await getRestApis(position: position, deadline: deadline)
            for api in page.items {
                for stage in try await getStages(restApiId: api.id, deadline: deadline) { out.append((api, stage)) }
            }
            position = page.position
        } while position != nil
        return out
    }

    /// PATCH /restapis/{id}/stages/{stage}; returns the stage as updated.
    public func updateStage(restApiId: String, stageName: String, patchOperations: [PatchOperation],
                            deadline: Deadline = .distant) async throws(AWSError) -> RestStage {
        var w = JSONWriter()
        w.beginObject()
        w.key("patchOperations")
        w.beginArray()
        for op in patchOperations {
            w.beginObject()
            w.field("op", op.op)
            w.field("path", op.path)
            if let value = op.value { w.field("value", value) }
            if let from = op.from { w.field("from", from) }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        let body = try await aws.restJSONCall(.apiGateway, operation: "UpdateStage", method: .PATCH,
                                              path: restPath("restapis", restApiId, "stages", stageName),
                                              body: w.bytes, deadline: deadline)
        let json = try aws.parseJSON(body, .apiGateway, "UpdateStage")
        guard let stage = Self.stage(json) else {
            throw AWSError.invalidResponse(.apiGateway, "UpdateStage", "the answer has no stageName")
        }
        return stage
    }

    static func stage(_ json: JSONValue) -> RestStage? {
        guard let name = json["stageName"]?.stringValue else { return nil }
        var settings: [String: MethodSetting] = [:]
        for member in json["methodSettings"]?.objectValue?.members ?? [] {
            settings[member.key] = MethodSetting(loggingLevel: member.value["loggingLevel"]?.stringValue,
                                                 dataTraceEnabled: member.value["dataTraceEnabled"]?.boolValue,
                                                 metricsEnabled: member.value["metricsEnabled"]?.boolValue)
        }
        return RestStage(stageName: name, deploymentId: json["deploymentId"]?.stringValue, methodSettings: settings,
                         accessLogSettings: accessLogSettings(json["accessLogSettings"]))
    }

    static func accessLogSettings(_ json: JSONValue?) -> AccessLogSettings? {
        guard let json, json.objectValue != nil else { return nil }
        let settings = AccessLogSettings(destinationArn: json["destinationArn"]?.stringValue, format: json["format"]?.stringValue)
        return settings.destinationArn == nil && settings.format == nil ? nil : settings
    }
}
