// The API Manager double is strict: what it refuses, and the write side (per-API and automated policies) that the
// Flex Gateway policy script will be tested against.
import APIManagerDoubles
import Foundation
import HTTP
import Core
import Testing

struct DoubleSession {
    let double: APIManagerDouble
    let token: String

    static func start(_ double: APIManagerDouble, client: String = GeneratedOrganization.clientID,
                      secret: String = GeneratedOrganization.clientSecret) async throws -> DoubleSession {
        let body = "grant_type=client_credentials&client_id=\(client)&client_secret=\(secret)"
        let r = try await sharedHTTP.send(HTTPRequest(method: .POST, url: double.baseURL + "/accounts/api/v2/oauth2/token",
                                                      headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8)))
        guard r.status == 200, let token = try JSONReader.parse(r.body)["access_token"]?.stringValue else { throw TestFailure("no token: \(r.status)") }
        return DoubleSession(double: double, token: token)
    }

    func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: JSONValue?) {
        var headers = [HTTPHeader("Authorization", "Bearer " + token)]
        if body != nil { headers.append(HTTPHeader("Content-Type", "application/json")) }
        let r = try await sharedHTTP.send(HTTPRequest(method: method, url: double.baseURL + path, headers: headers, body: Array((body ?? "").utf8)))
        return (r.status, r.body.isEmpty ? nil : try? JSONReader.parse(r.body))
    }
}

@Suite struct DoubleTests {
    static let org = GeneratedOrganization.organization
    static let base = "/apimanager/api/v1/organizations/\(org)"
    static let logging = """
    {"loggingConfiguration":[{"itemName":"cq-req","itemData":{"message":"#['CQ1 ' ++ vars.reqId]","level":"INFO","firstSection":true}}]}
    """

    @Test func readsAreStrict() async throws {
        let double = try GeneratedOrganization(apis: 5).start()
        defer { double.stop() }
        let s = try await DoubleSession.start(double)
        #expect(try await s.send(.GET, Self.base + "/environments/env-dev/apis?limit=101").status == 400)
        #expect(try await s.send(.GET, Self.base + "/environments/env-dev/apis?offset=-1").status == 400)
        #expect(try await s.send(.GET, Self.base + "/environments/env-dev/apis?pageSize=5").status == 400)
        #expect(try await s.send(.GET, Self.base + "/environments/env-nope/apis").status == 404)
        #expect(try await s.send(.GET, Self.base + "/automated-policies").status == 400)
        #expect(try await s.send(.GET, "/apimanager/api/v1/organizations/other-org/automated-policies?environmentId=env-dev").status == 404)
        #expect(try await s.send(.POST, Self.base + "/environments/env-dev/apis").status == 405)
        // Paging counts assets: two pages of 3 and 2 assets.
        let p1 = try await s.send(.GET, Self.base + "/environments/env-dev/apis?offset=0&limit=3")
        let p2 = try await s.send(.GET, Self.base + "/environments/env-dev/apis?offset=3&limit=3")
        #expect(p1.json?["assets"]?.arrayValue?.count == 3 && p2.json?["assets"]?.arrayValue?.count == 2)
        #expect(p1.json?["total"]?.int64Value == 5)
        // Without a token, or with one for nothing.
        let anonymous = try await sharedHTTP.send(HTTPRequest(method: .GET, url: double.baseURL + Self.base + "/environments/env-dev/apis"))
        #expect(anonymous.status == 401)
        // fullInfo=false lists the disabled ones without configuration.
        double.mutate(env: "env-dev", assetID: "api-0") { $0.policies[2].disabled = true }
        let active = try await s.send(.GET, Self.base + "/environments/env-dev/apis/10001/policies?fullInfo=true")
        let all = try await s.send(.GET, Self.base + "/environments/env-dev/apis/10001/policies?fullInfo=false")
        #expect(active.json?.arrayValue?.count == 2 && all.json?.arrayValue?.count == 3)
        #expect(all.json?.arrayValue?.allSatisfy { $0["configurationData"] == nil } == true)
        #expect(try await s.send(.GET, Self.base + "/environments/env-dev/apis/10001/policies?fullInfo=yes").status == 400)
    }

    @Test func automatedPoliciesCreateListPatchDelete() async throws {
        let double = try GeneratedOrganization(apis: 3).start(GeneratedOrganization.settings(extraClients: [
            .init(id: "writer", secret: "writer-secret-value", organization: Self.org, grants: ["env-dev": [.viewPolicies, .managePolicies]]),
        ]))
        defer { double.stop() }
        let reader = try await DoubleSession.start(double)
        let writer = try await DoubleSession.start(double, client: "writer", secret: "writer-secret-value")
        let body = """
        {"ruleOfApplication":{"environmentId":"env-dev","organizationId":"\(Self.org)","technologies":["flexGateway"]},
         "groupId":"\(APIManagerDouble.muleSoftGroup)","assetId":"message-logging","assetVersion":"2.0.2","configurationData":\(Self.logging),
         "order":1,"disabled":false}
        """
        // Read-only clients may not write; the writer may not write elsewhere.
        #expect(try await reader.send(.POST, Self.base + "/automated-policies", body).status == 403)
        #expect(try await writer.send(.POST, Self.base + "/automated-policies", body.replacingOccurrences(of: "env-dev", with: "env-prd")).status == 403)
        let created = try await writer.send(.POST, Self.base + "/automated-policies", body)
        #expect(created.status == 201)
        let id = try #require(created.json?["id"]?.int64Value)
        #expect(try await writer.send(.POST, Self.base + "/automated-policies", body).status == 409)
        let listed = try await writer.send(.GET, Self.base + "/automated-policies?environmentId=env-dev")
        #expect(listed.json?["total"]?.int64Value == 1)
        #expect(listed.json?["automatedPolicies"]?.arrayValue?.first?["ruleOfApplication"]?["environmentId"]?.stringValue == "env-dev")
        let patched = try await writer.send(.PATCH, Self.base + "/automated-policies/\(id)", "{\"order\": null, \"disabled\": true}")
        #expect(patched.status == 200 && patched.json?["disabled"]?.boolValue == true && patched.json?["order"]?.isNull == true)
        #expect(try await writer.send(.DELETE, Self.base + "/automated-policies/\(id)").status == 204)
        #expect(try await writer.send(.GET, Self.base + "/automated-policies/\(id)").status == 404)
        #expect(double.automatedPolicies("env-dev").isEmpty)

        // Bodies the schema or the platform refuses.
        let refused = [
            body.replacingOccurrences(of: "\"environmentId\":\"env-dev\",", with: ""),
            body.replacingOccurrences(of: "[\"flexGateway\"]", with: "[\"flexGateway\",\"mule4\"]"),
            body.replacingOccurrences(of: "[\"flexGateway\"]", with: "[\"mule3\"]"),
            body.replacingOccurrences(of: "\"technologies\"", with: "\"range\":{\"to\":\"1.2.0\"},\"technologies\""),
            body.replacingOccurrences(of: "\"order\":1", with: "\"order\":0"),
            body.replacingOccurrences(of: "\"assetVersion\":\"2.0.2\",", with: ""),
            body.replacingOccurrences(of: "\"label\"", with: "x").replacingOccurrences(of: "\"disabled\":false", with: "\"label\":\"cq\""),
            // Message Logging with flat fields (the platform answers 400, as the Terraform provider learned).
            body.replacingOccurrences(of: Self.logging, with: "{\"message\":\"#[1]\",\"level\":\"INFO\"}"),
            body.replacingOccurrences(of: "\"level\":\"INFO\"", with: "\"level\":\"TRACE\""),
            "not json",
        ]
        for b in refused {
            let r = try await writer.send(.POST, Self.base + "/automated-policies", b)
            #expect(r.status == 400, "accepted: \(b.prefix(160))")
        }
    }

    @Test func perAPIPoliciesCreateListDelete() async throws {
        let double = try GeneratedOrganization(apis: 3).start(GeneratedOrganization.settings(extraClients: [
            .init(id: "writer", secret: "writer-secret-value", organization: Self.org, grants: ["*": [.viewAPIs, .viewPolicies, .managePolicies]]),
        ]))
        defer { double.stop() }
        let s = try await DoubleSession.start(double, client: "writer", secret: "writer-secret-value")
        // Each of the three instances of Development answers in another shape: the new policy shows in each.
        for (apiID, shape) in [(10001, "fullArray"), (10002, "wrapped"), (10003, "compact")] {
            let path = Self.base + "/environments/env-dev/apis/\(apiID)/policies"
            let body = """
            {"configurationData":\(Self.logging),"groupId":"\(APIManagerDouble.muleSoftGroup)","assetId":"message-logging",
             "assetVersion":"2.0.2","label":"cq-message-log","pointcutData":null}
            """
            let created = try await s.send(.POST, path, body)
            #expect(created.status == 201, "\(shape)")
            let id = try #require(created.json?["id"]?.int64Value)
            #expect(try await s.send(.POST, path, body).status == 409)
            #expect(try await s.send(.POST, path + "?allowDuplicated=true", body).status == 201)
            let listed = try await s.send(.GET, path)
            let items = listed.json?.arrayValue ?? listed.json?["policies"]?.arrayValue ?? []
            #expect(items.filter { ($0["id"] ?? $0["policyId"])?.int64Value == id }.count == 1, "\(shape)")
            #expect(try await s.send(.DELETE, path + "/\(id)").status == 204)
            #expect(try await s.send(.DELETE, path + "/\(id)").status == 404)
            // The schema's literal "order:" key is refused (send order), as is a label over 255 characters.
            #expect(try await s.send(.POST, path, body.replacingOccurrences(of: "\"pointcutData\":null", with: "\"order:\":1")).status == 400)
            #expect(try await s.send(.POST, path, body.replacingOccurrences(of: "cq-message-log", with: String(repeating: "x", count: 256))).status == 400)
            #expect(try await s.send(.POST, path, body.replacingOccurrences(of: "null", with: "[{\"methodRegex\":\"GET\"}]")).status == 400)
        }
        #expect(double.stats.forbidden.isEmpty)
    }
}
