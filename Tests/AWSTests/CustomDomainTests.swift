// Custom domains (issue 12): discovery reads v1 base-path mappings and v2 API mappings from moto, and a REST
// transaction then carries the host and path the client used.
import Core
import Foundation
import TestSupport
import Testing
import Traffic
@testable import AWS

@Suite struct CustomDomainTests {
    /// A REST API with a deployed stage `prod` mapped by two v1 domains (base path `shop`, and the root of a domain
    /// whose name sorts first), and an HTTP API mapped by a v2 domain under `shop/v1` (moto keeps v2 mappings to v2
    /// APIs only; AWS also lets them name REST APIs, which the v1 listing then shows too).
    static func seed(_ aws: AWSClient) async throws -> (apiId: String, httpApiId: String, v1: String, root: String, v2: String) {
        let api = try await aws.restJSONCall(.apiGateway, operation: "CreateRestApi", method: .POST, path: "/restapis",
                                             body: Array(#"{"name":"\#(uniqueName("domains"))"}"#.utf8))
        let apiId = try #require(try aws.parseJSON(api, .apiGateway, "CreateRestApi")["id"]?.stringValue)
        let resources = try await APIGatewayClient(aws).getResources(restApiId: apiId)
        try await MotoIntegrationTests.mockMethod(aws, apiId: apiId, resource: resources[0].id, method: "GET")
        try await MotoIntegrationTests.deploy(aws, apiId: apiId, stage: "prod")
        let v1 = "api.example.com", root = "a-" + uniqueName("root") + ".example.com", v2 = "h-" + uniqueName("v2") + ".example.com"
        for (domain, basePath) in [(v1, "shop"), (root, "")] {
            _ = try await aws.restJSONCall(.apiGateway, operation: "CreateDomainName", method: .POST, path: "/domainnames",
                                           body: Array(#"{"domainName":"\#(domain)","regionalCertificateArn":"arn:aws:acm:us-east-1:123456789012:certificate/x"}"#.utf8))
            _ = try await aws.restJSONCall(.apiGateway, operation: "CreateBasePathMapping", method: .POST,
                                           path: restPath("domainnames", domain, "basepathmappings"),
                                           body: Array(#"{"basePath":"\#(basePath)","restApiId":"\#(apiId)","stage":"prod"}"#.utf8))
        }
        let http = try await aws.restJSONCall(.apiGatewayV2, operation: "CreateApi", method: .POST, path: "/v2/apis",
                                              body: Array(#"{"name":"\#(uniqueName("http"))","protocolType":"HTTP"}"#.utf8))
        let httpApiId = try #require(try aws.parseJSON(http, .apiGatewayV2, "CreateApi")["apiId"]?.stringValue)
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "CreateStage", method: .POST, path: restPath("v2", "apis", httpApiId, "stages"),
                                       body: Array(#"{"stageName":"$default"}"#.utf8))
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "CreateDomainName", method: .POST, path: "/v2/domainnames",
                                       body: Array(#"{"domainName":"\#(v2)"}"#.utf8))
        _ = try await aws.restJSONCall(.apiGatewayV2, operation: "CreateApiMapping", method: .POST,
                                       path: restPath("v2", "domainnames", v2, "apimappings"),
                                       body: Array(#"{"apiId":"\#(httpApiId)","apiMappingKey":"shop/v1","stage":"$default"}"#.utf8))
        return (apiId, httpApiId, v1, root, v2)
    }

    @Test func mappingsFromBothAPIsReachTheTransaction() async throws {
        let moto = try await MotoServers.shared.plain()
        let aws = try moto.client()
        let (apiId, httpApiId, v1, root, v2) = try await Self.seed(aws)

        #expect(try await APIGatewayV2Client(aws).domainMappings().contains(
            DomainMapping(domainName: v2, apiId: httpApiId, stage: "$default", basePath: "shop/v1")))
        let cache = RESTResourcePathCache(APIGatewayClient(aws), v2: APIGatewayV2Client(aws), cacheSeconds: 300)
        let found = await cache.resourcePaths(restApiId: apiId, deadline: .after(milliseconds: 30_000))
        #expect(found.note == nil, "\(found.note ?? "")")
        #expect(found.domains == [DomainMapping(domainName: root, apiId: apiId, stage: "prod", basePath: "(none)"),
                                  DomainMapping(domainName: v1, apiId: apiId, stage: "prod", basePath: "shop")])
        _ = await cache.resourcePaths(restApiId: apiId, deadline: .after(milliseconds: 30_000))
        #expect(await cache.domainReads == 1, "the account's domains are read once per cache period")

        // The fixture's request names Host api.example.com and Resource Path /orders/42.
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let fixture = try String(contentsOf: fixtures.appendingPathComponent("rest-200-post-lambda-proxy.ndjson"), encoding: .utf8)
        let withHost = try Self.edgeTargets(fixture, domains: found.domains)
        #expect(withHost == ["api.example.com https://api.example.com/shop/orders/42?limit=10&q=shoes"], "\(withHost)")
        // Without a Host header the first domain by name is the client's host (here mapped at its root).
        let withoutHost = try Self.edgeTargets(fixture.replacingOccurrences(of: "Host=api.example.com, ", with: ""), domains: found.domains)
        #expect(withoutHost == ["\(root) https://\(root)/orders/42?limit=10&q=shoes"], "\(withoutHost)")
        // No mapping: the path as logged.
        let none = try Self.edgeTargets(fixture, domains: [])
        #expect(none == ["api.example.com https://api.example.com/orders/42?limit=10&q=shoes"], "\(none)")
    }

    /// Stitches NDJSON in the Edge format with the stage's domains; "host https://host/target" per transaction.
    static func edgeTargets(_ ndjson: String, domains: [DomainMapping]) throws -> [String] {
        var options = StitcherOptions()
        options.customDomains = domains
        var session = NDJSONStitchSession(logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"), region: AWSRegion("us-east-1"),
                                          accountId: nil, filter: nil, encoding: .edge(EdgeEncodingOptions(toolVersion: "test")),
                                          options: options)
        var out: [UInt8] = []
        Array(ndjson.utf8).withUnsafeBytes { session.feed($0) { out += $0 } }
        _ = session.finish { out += $0 }
        return try String(decoding: out, as: UTF8.self).split(separator: "\n").map { line in
            let json = try JSONReader.parse(Array(line.utf8))
            let request = try #require(json["request"])
            let host = try #require(request["host"]?.stringValue)
            return "\(host) https://\(host)\(request["uri-query-fragment"]?.stringValue ?? "?")"
        }
    }
}
