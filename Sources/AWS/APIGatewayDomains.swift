// Custom domain names and what they map to, from both API Gateway APIs: v1 base-path mappings (REST APIs) and v2 API
// mappings (REST and HTTP APIs). In AWS both list the same domains; reading both and merging keeps a mapping made
// through either API, and a domain one of them does not show.
import Core

/// One path prefix of a custom domain that leads to an API's stage: `https://{domainName}/{basePath}/...`.
public struct DomainMapping: Sendable, Equatable, Hashable, Comparable {
    public var domainName: String
    public var apiId: String
    public var stage: String
    /// Without slashes around it; "" for the domain's root (`(none)` in v1, an empty `ApiMappingKey` in v2).
    public var basePath: String

    public init(domainName: String, apiId: String, stage: String, basePath: String) {
        self.domainName = domainName; self.apiId = apiId; self.stage = stage
        var p = Substring(basePath == "(none)" ? "" : basePath)
        while p.hasPrefix("/") { p = p.dropFirst() }
        while p.hasSuffix("/") { p = p.dropLast() }
        self.basePath = String(p)
    }

    /// By domain, then base path: the order a choice among several mappings follows (documented).
    public static func < (a: Self, b: Self) -> Bool { (a.domainName, a.basePath) < (b.domainName, b.basePath) }
}

/// Follows a listing's pages, stopping if the service hands back a token it already gave.
private func everyPage(tokenKey: String, itemsKey: String,
                       _ call: (String?) async throws(AWSError) -> JSONValue) async throws(AWSError) -> [JSONValue] {
    var items: [JSONValue] = []
    var token: String?
    var seen = Set<String>()
    repeat {
        let json = try await call(token)
        items += json[itemsKey]?.arrayValue ?? []
        token = json[tokenKey]?.stringValue
        if token?.isEmpty == true { token = nil }
        if let t = token, !seen.insert(t).inserted { token = nil }
    } while token != nil
    return items
}

extension APIGatewayClient {
    /// GET /domainnames, then GET /domainnames/{name}/basepathmappings for each (both paged by `position`).
    public func domainMappings(deadline: Deadline = .distant) async throws(AWSError) -> [DomainMapping] {
        let domains = try await everyPage(tokenKey: "position", itemsKey: "item") { (position) throws(AWSError) in
            var query: [(name: String, value: String)] = [("limit", "500")]
            if let position { query.append(("position", position)) }
            let body = try await aws.restJSONCall(.apiGateway, operation: "GetDomainNames", method: .GET, path: "/domainnames",
                                                  query: query, deadline: deadline)
            return try Self.itemsUnderItem(aws.parseJSON(body, .apiGateway, "GetDomainNames"))
        }
        var out: [DomainMapping] = []
        for domain in domains.compactMap({ $0["domainName"]?.stringValue }) {
            let mappings = try await everyPage(tokenKey: "position", itemsKey: "item") { (position) throws(AWSError) in
                var query: [(name: String, value: String)] = [("limit", "500")]
                if let position { query.append(("position", position)) }
                let body = try await aws.restJSONCall(.apiGateway, operation: "GetBasePathMappings", method: .GET,
                                                      path: restPath("domainnames", domain, "basepathmappings"), query: query,
                                                      deadline: deadline)
                return try Self.itemsUnderItem(aws.parseJSON(body, .apiGateway, "GetBasePathMappings"))
            }
            for m in mappings {
                guard let api = m["restApiId"]?.stringValue, let stage = m["stage"]?.stringValue else { continue }
                out.append(DomainMapping(domainName: domain, apiId: api, stage: stage, basePath: m["basePath"]?.stringValue ?? ""))
            }
        }
        return out
    }

    /// v1 listings name their array `item` (the documented shape) or `items` (what some SDKs and moto send).
    static func itemsUnderItem(_ json: JSONValue) -> JSONValue {
        guard json["item"] == nil, let items = json["items"] else { return json }
        var object = json.objectValue ?? JSONObject()
        object.members.append((key: "item", value: items))
        return .object(object)
    }
}

extension APIGatewayV2Client {
    /// GET /v2/domainnames, then GET /v2/domainnames/{name}/apimappings for each (both paged by `nextToken`).
    public func domainMappings(deadline: Deadline = .distant) async throws(AWSError) -> [DomainMapping] {
        let domains = try await everyPage(tokenKey: "nextToken", itemsKey: "items") { (token) throws(AWSError) in
            var query: [(name: String, value: String)] = []
            if let token { query.append(("nextToken", token)) }
            let body = try await aws.restJSONCall(.apiGatewayV2, operation: "GetDomainNames", method: .GET, path: "/v2/domainnames",
                                                  query: query, deadline: deadline)
            return try aws.parseJSON(body, .apiGatewayV2, "GetDomainNames")
        }
        var out: [DomainMapping] = []
        for domain in domains.compactMap({ $0["domainName"]?.stringValue }) {
            let mappings = try await everyPage(tokenKey: "nextToken", itemsKey: "items") { (token) throws(AWSError) in
                var query: [(name: String, value: String)] = []
                if let token { query.append(("nextToken", token)) }
                let body = try await aws.restJSONCall(.apiGatewayV2, operation: "GetApiMappings", method: .GET,
                                                      path: restPath("v2", "domainnames", domain, "apimappings"), query: query,
                                                      deadline: deadline)
                return try aws.parseJSON(body, .apiGatewayV2, "GetApiMappings")
            }
            for m in mappings {
                guard let api = m["apiId"]?.stringValue, let stage = m["stage"]?.stringValue else { continue }
                out.append(DomainMapping(domainName: domain, apiId: api, stage: stage, basePath: m["apiMappingKey"]?.stringValue ?? ""))
            }
        }
        return out
    }
}
