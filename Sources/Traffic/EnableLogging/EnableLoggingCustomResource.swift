// The CloudFormation custom-resource protocol for enable-logging: the request event, the answer PUT to the pre-signed
// ResponseURL, and the rules for what to answer (a Delete never fails the stack; a Create or Update reports why).
import HTTP
import Core

public struct CustomResourceEvent: Sendable {
    public enum RequestType: String, Sendable { case create = "Create", update = "Update", delete = "Delete" }
    public var requestType: RequestType
    public var responseURL: String
    public var stackId: String
    public var requestId: String
    public var logicalResourceId: String
    public var physicalResourceId: String?
    public var properties: JSONValue?
    public var oldProperties: JSONValue?

    /// Fails only when there is nothing to answer to (no ResponseURL) or the event is not a custom-resource request.
    public static func decode(_ bytes: [UInt8]) throws -> CustomResourceEvent {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw ConfigurationProblem("the event is not JSON: \(error)") }
        func text(_ name: String) -> String? { json[name]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
        guard let url = text("ResponseURL") else { throw ConfigurationProblem("the event has no ResponseURL: not a CloudFormation custom-resource request") }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else { throw ConfigurationProblem("ResponseURL is not an http(s) URL") }
        guard let typeText = text("RequestType"), let type = RequestType(rawValue: typeText) else {
            throw ConfigurationProblem("RequestType must be Create, Update or Delete, not \"\(text("RequestType")?.prefix(20) ?? "")\"")
        }
        return CustomResourceEvent(requestType: type, responseURL: url, stackId: text("StackId") ?? "", requestId: text("RequestId") ?? "",
                                   logicalResourceId: text("LogicalResourceId") ?? "", physicalResourceId: text("PhysicalResourceId"),
                                   properties: json["ResourceProperties"], oldProperties: json["OldResourceProperties"])
    }
}

public struct CustomResourceResponse: Sendable, Equatable {
    public var success: Bool
    public var reason: String
    public var physicalResourceId: String
    public var stackId: String
    public var requestId: String
    public var logicalResourceId: String
    /// Values for `Fn::GetAtt` (strings).
    public var data: [(String, String)]

    public init(success: Bool, reason: String, physicalResourceId: String, event: CustomResourceEvent, data: [(String, String)] = []) {
        self.success = success
        self.reason = reason
        self.physicalResourceId = physicalResourceId
        stackId = event.stackId
        requestId = event.requestId
        logicalResourceId = event.logicalResourceId
        self.data = data
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.success == b.success && a.reason == b.reason && a.physicalResourceId == b.physicalResourceId && a.stackId == b.stackId
            && a.requestId == b.requestId && a.logicalResourceId == b.logicalResourceId
            && a.data.map(\.0) == b.data.map(\.0) && a.data.map(\.1) == b.data.map(\.1)
    }

    /// The body CloudFormation reads (at most 4096 bytes: the reason is cut to fit).
    public func body() -> [UInt8] {
        func encode(_ reason: String) -> [UInt8] {
            var w = JSONWriter()
            w.beginObject()
            w.field("Status", success ? "SUCCESS" : "FAILED")
            w.field("Reason", reason)
            w.field("PhysicalResourceId", physicalResourceId)
            w.field("StackId", stackId)
            w.field("RequestId", requestId)
            w.field("LogicalResourceId", logicalResourceId)
            w.field("NoEcho", false)
            w.key("Data")
            w.beginObject()
            for (k, v) in data { w.field(k, v) }
            w.endObject()
            w.endObject()
            return w.bytes
        }
        var text = reason
        var bytes = encode(text)
        while bytes.count > 4000 && !text.isEmpty {
            text = String(text.prefix(max(0, text.count - (bytes.count - 3900)))) + "..."
            bytes = encode(text)
        }
        return bytes
    }
}

public enum CustomResourceResponder {
    /// PUTs the answer to the pre-signed URL. The URL was signed without a Content-Type, so none is sent (curl drops
    /// a header given with an empty value, and adds no form type of its own then). Retries transport failures and
    /// 5xx within `deadline`. The URL carries a signature: errors show it without its query.
    public static func send(_ response: CustomResourceResponse, to url: String, client: HTTPClient,
                            deadline: Deadline) async throws {
        let request = HTTPRequest(method: .PUT, url: url, headers: [HTTPHeader("Content-Type", "")],
                                  body: SecretRedactor.shared.redact(response.body()),
                                  timeout: .seconds(20), connectTimeout: .seconds(5))
        let answer = try await client.send(request, retry: RetryPolicy(maxAttempts: 5, base: .milliseconds(500), cap: .seconds(5)),
                                           deadline: deadline)
        guard answer.isSuccess else {
            throw HTTPError(kind: .status, url: url, status: answer.status, body: answer.body, message: "the ResponseURL refused the answer")
        }
    }
}
