// API Gateway v2 (HTTP and WebSocket APIs): list APIs and stages for discovery.
import HTTP
import Core

public struct HTTPAPI: Sendable, Equatable {
    public var apiId: String
    public var name: String
    /// `HTTP` or `WEBSOCKET`.
    public var protocolType: String
    public var apiEndpoint: String?
}

public struct HTTPAPIsPage: Sendable {
    public var items: [HTTPAPI]
    public var nextToken: String?
}

public struct HTTPStage: Sendable, Equatable {
    public var stageName: String
    public var accessLogSettings: AccessLogSettings?
}

public struct HTTPStagesPage: Sendable {
    public var items: [HTTPStage]
    public var nextToken: String?
}

/// Listing only: moto does not implement v2 UpdateStage, and apitap's enable path for HTTP APIs runs in the CLI.
public struct APIGatewayV2Client: Sendable {
    public let aws: AWSClient

    public init(_ aws: AWSClient) { self.aws = aws }

    /// GET /v2/apis.
    public func getApis(nextToken: String? = nil, maxResults: Int? = nil,
                        deadline: Deadline = .distant) async throws(AWSError) -> HTTPAPIsPage {
        var query: [(name: String, value: String)] = []
        if let nextToken { query.append(("nextToken", nextToken)) }
        if let maxResults { query.append(("maxResults", String(maxResults))) }
        let body = try await aws.restJSONCall(.apiGatewayV2, operation: "GetApis", method: .GET, path: "/v2/apis",
                                              query: query, deadline: deadline)
        let json = try aws.parseJSON(body, .apiGatewayV2, "GetApis")
        var page = HTTPAPIsPage(items: [], nextToken: json["nextToken"]?.stringValue)
        for item in json["items"]?.arrayValue ?? [] {
            guard let id = item["apiId"]?.stringValue else { continue }
            page.items.append(HTTPAPI(apiId: id, name: item["name"]?.stringValue ?? "",
                                      protocolType: item["protocolType"]?.stringValue ?? "",
                                      apiEndpoint: item["apiEndpoint"]?.stringValue))
        }
        if page.nextToken?.isEmpty == true { page.nextToken = nil }
        return page
    }

    /// GET /v2/apis/{apiId}/stages.
    public func getStages(apiId: String, nextToken: String? = nil,
                          deadline: Deadline = .distant) async throws(AWSError) -> HTTPStagesPage {
        var query: [(name: String, value: String)] = []
        if let nextToken { query.append(("nextToken", nextToken)) }
        let body = try await aws.restJSONCall(.apiGatewayV2, operation: "GetStages", method: .GET,
                                              path: restPath("v2", "apis", apiId, "stages"), query: query, deadline: deadline)
        let json = try aws.parseJSON(body, .apiGatewayV2, "GetStages")
        var page = HTTPStagesPage(items: [], nextToken: json["nextToken"]?.stringValue)
        for item in json["items"]?.arrayValue ?? [] {
            guard let name = item["stageName"]?.stringValue else { continue }
            page.items.append(HTTPStage(stageName: name,
                                        accessLogSettings: APIGatewayClient.accessLogSettings(item["accessLogSettings"])))
        }
        if page.nextToken?.isEmpty == true { page.nextToken = nil }
        return page
    }

    /// Every stage of every HTTP API (WebSocket APIs left out) in the region, following both listings' pages.
    public func allHTTPStages(deadline: Deadline = .distant) async throws(AWSError) -> [(api: HTTPAPI, stage: HTTPStage)] {
        var out: [(api: HTTPAPI, stage: HTTPStage)] = []
        var token: String?
        repeat {
            let page = try await getApis(nextToken: token, deadline: deadline)
            for api in page.items where api.protocolType.uppercased() == "HTTP" {
                var stageToken: String?
                repeat {
                    let stages = try await getStages(apiId: api.apiId, nextToken: stageToken, deadline: deadline)
                    for stage in stages.items { out.append((api, stage)) }
                    stageToken = stages.nextToken
                } while stageToken != nil
            }
            token = page.nextToken
        } while token != nil
        return out
    }
}
