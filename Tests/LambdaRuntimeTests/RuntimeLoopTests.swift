// The runtime loop against the fake Runtime API: success, errors, init errors, 413, 500, missing headers, trace id, deadline.
import Foundation
import HTTP
import LambdaRuntime
import Core
import Testing

/// Behaviour chosen by the event's "action".
struct ScriptHandler: LambdaHandler {
    struct Crash: Error {}
    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        let json = try JSONReader.parse(event)
        switch json["action"]?.stringValue {
        case "fail": throw FunctionError("Boom", "it broke on purpose")
        case "fail-with": throw FunctionError("Boom", json["message"]?.stringValue ?? "")
        case "crash": throw Crash()
        case "trace": return Array((ProcessInfo.processInfo.environment["_X_AMZN_TRACE_ID"] ?? "<unset>").utf8)
        case "remaining": return Array(String(context.remainingTime().components.seconds).utf8)
        case "context":
            var w = JSONWriter()
            w.beginObject()
            w.field("requestId", context.requestID.value)
            w.field("arn", context.invokedFunctionARN)
            w.field("clientContext", context.clientContext)
            w.field("cognitoIdentity", context.cognitoIdentity)
            w.field("tenantId", context.tenantID)
            w.field("deadline", context.deadline.epoch.value)
            w.endObject()
            return w.bytes
        default: return event
        }
    }
}

func registry() -> HandlerRegistry {
    var r = HandlerRegistry()
    r.register("script", summary: "test") { _ in ScriptHandler() }
    r.register("health", summary: "test") { c in HealthHandler(version: "test", handlers: c.handlerNames, summary: ConfigurationSummary(prefixes: [])) }
    r.register("needs-config", summary: "test") { c in
        var problems: [String] = []
        if c.environment["UAP_TOKEN_URL"] == nil { problems.append("UAP_TOKEN_URL is not set") }
        if c.environment["ENABLE_REST_APIS"] != "true" { problems.append("ENABLE_REST_APIS must be true or false") }
        if !problems.isEmpty { throw ConfigurationError(problems) }
        return ScriptHandler()
    }
    return r
}

let quietLogger = Logger(level: .fatal, format: .text, sink: { _ in })

func run(_ api: FakeRuntimeAPI, handler: String, extraEnv: [String: String] = [:], max: Int? = nil) async -> Int32 {
    var env = ["AWS_LAMBDA_RUNTIME_API": api.endpoint, "_HANDLER": handler]
    env.merge(extraEnv) { $1 }
    return await LambdaRuntime.run(registry: registry(), environment: env, logger: quietLogger, maxInvocations: max)
}

@Suite(.serialized) struct RuntimeLoopTests {
    @Test func successPostsTheResponse() async throws {
        let api = try FakeRuntimeAPI([.invocation(id: "req-1", event: #"{"hello":"world"}"#)])
        defer { api.stop() }
        let code = await run(api, handler: "script", max: 1)
        #expect(code == 0)
        #expect(api.posts.count == 1)
        #expect(api.posts.first?.path == "/2018-06-01/runtime/invocation/req-1/response")
        #expect(api.posts.first?.text == #"{"hello":"world"}"#)
        #expect(api.violations.isEmpty)
    }

    @Test func handlerErrorIsPostedAndTheLoopGoesOn() async throws {
        let api = try FakeRuntimeAPI([
            .invocation(id: "a", event: #"{"action":"fail"}"#),
            .invocation(id: "b", event: #"{"action":"crash"}"#),
            .invocation(id: "c", event: #"{"n":3}"#),
        ])
        defer { api.stop() }
        let code = await run(api, handler: "script")
        #expect(code == 1, "the exhausted script answers 500, which must end the loop")
        let posts = api.posts
        #expect(posts.map(\.path) == ["/2018-06-01/runtime/invocation/a/error", "/2018-06-01/runtime/invocation/b/error",
                                      "/2018-06-01/runtime/invocation/c/response"])
        #expect(posts[0].header("Lambda-Runtime-Function-Error-Type") == "Function.Boom")
        #expect(posts[0].header("Content-Type") == "application/vnd.aws.lambda.error+json")
        let body = try JSONReader.parse(posts[0].body)
        #expect(body["errorType"]?.stringValue == "Function.Boom")
        #expect(body["errorMessage"]?.stringValue == "it broke on purpose")
        #expect(body["stackTrace"]?.arrayValue?.isEmpty == true)
        #expect(posts[1].header("Lambda-Runtime-Function-Error-Type") == "Function.UnhandledError")
        #expect(posts[2].text == #"{"n":3}"#)
        #expect(api.violations.isEmpty)
    }

    @Test func unknownHandlerPostsInitErrorAndExitsNonZero() async throws {
        let api = try FakeRuntimeAPI([.invocation(id: "x", event: "{}")])
        defer { api.stop() }
        let code = await run(api, handler: "no-such-handler")
        #expect(code != 0)
        #expect(api.posts.count == 1)
        let post = try #require(api.posts.first)
        #expect(post.path == "/2018-06-01/runtime/init/error")
        #expect(post.header("Lambda-Runtime-Function-Error-Type") == "Runtime.NoSuchHandler")
        #expect(post.text.contains("no-such-handler"))
        #expect(api.remaining == 1, "no invocation may be fetched after an init failure")
    }

    @Test func badConfigurationPostsConfigInvalidWithEveryProblem() async throws {
        let api = try FakeRuntimeAPI([])
        defer { api.stop() }
        let code = await run(api, handler: "needs-config")
        #expect(code != 0)
        let post = try #require(api.posts.first)
        #expect(post.header("Lambda-Runtime-Function-Error-Type") == "Runtime.ConfigInvalid")
        #expect(post.text.contains("UAP_TOKEN_URL is not set"))
        #expect(post.text.contains("ENABLE_REST_APIS must be true or false"))
    }

    @Test func malformedEventBodyIsAnInvocationError() async throws {
        let api = try FakeRuntimeAPI([
            .invocation(id: "m", event: "{not json"),
            .invocation(id: "n", event: "{}"),
        ])
        defer { api.stop() }
        let code = await run(api, handler: "health", max: 2)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/m/error", "/2018-06-01/runtime/invocation/n/response"])
        #expect(api.posts[0].header("Lambda-Runtime-Function-Error-Type") == "Function.InvalidEvent")
        #expect(api.violations.isEmpty)
    }

    @Test func payloadTooLargeIsReportedAsAnErrorAndTheLoopGoesOn() async throws {
        let api = try FakeRuntimeAPI([
            .invocation(id: "big", event: #"{"size":"huge"}"#),
            .invocation(id: "small", event: "{}"),
        ], responseStatus: { $0 == "big" ? 413 : 202 })
        defer { api.stop() }
        let code = await run(api, handler: "script", max: 2)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/big/response", "/2018-06-01/runtime/invocation/big/error",
                                          "/2018-06-01/runtime/invocation/small/response"])
        #expect(api.posts[1].header("Lambda-Runtime-Function-Error-Type") == "Function.ResponseSizeTooLarge")
    }

    @Test func nextAnswering500Exits() async throws {
        let api = try FakeRuntimeAPI([ScriptedNext(status: 500, headers: [], body: Array("{}".utf8)),
                                      .invocation(id: "never", event: "{}")])
        defer { api.stop() }
        let code = await run(api, handler: "script")
        #expect(code != 0)
        #expect(api.posts.isEmpty)
        #expect(api.remaining == 1)
    }

    /// apitap's own local Runtime API ends after its one event: that is the normal end of a local run (exit 0, INFO),
    /// not the FATAL a real Runtime API's 500 is.
    @Test func theLocalRuntimeAPIsEndIsANormalExit() async throws {
        let api = try LocalRuntimeAPI(event: Array(#"{"hello":1}"#.utf8), timeout: .seconds(30))
        defer { api.stop() }
        let lines = Locked<[String]>([])
        let logger = Logger(level: .trace, format: .text, sink: { bytes in lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } })
        let code = await LambdaRuntime.run(registry: registry(), environment: ["_HANDLER": "script", "AWS_LAMBDA_RUNTIME_API": api.endpoint],
                                           logger: logger)
        #expect(code == 0)
        let text = lines.value.joined()
        #expect(text.contains("INFO the local Runtime API has served its one event"), "\(text)")
        #expect(!text.contains("FATAL"), "\(text)")
    }

    @Test func responsePostAnswering500Exits() async throws {
        let api = try FakeRuntimeAPI([.invocation(id: "r", event: "{}"), .invocation(id: "never", event: "{}")],
                                     responseStatus: { _ in 500 })
        defer { api.stop() }
        let code = await run(api, handler: "script")
        #expect(code != 0)
        #expect(api.remaining == 1)
    }

    @Test func missingHeadersAreInvocationErrorsNotCrashes() async throws {
        let noID = ScriptedNext(headers: [HTTPHeader(AmazonHeaders.deadline, "9999999999999")], body: Array("{}".utf8))
        let noDeadline = ScriptedNext(headers: [HTTPHeader(AmazonHeaders.requestID, "no-deadline")], body: Array("{}".utf8))
        let badDeadline = ScriptedNext(headers: [HTTPHeader(AmazonHeaders.requestID, "bad-deadline"),
                                                 HTTPHeader(AmazonHeaders.deadline, "soon")], body: Array("{}".utf8))
        let api = try FakeRuntimeAPI([noID, noDeadline, badDeadline, .invocation(id: "fine", event: "{}")])
        defer { api.stop() }
        let code = await run(api, handler: "script", max: 4)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/no-deadline/error",
                                          "/2018-06-01/runtime/invocation/bad-deadline/error",
                                          "/2018-06-01/runtime/invocation/fine/response"])
        #expect(api.posts[0].header("Lambda-Runtime-Function-Error-Type") == "Runtime.InvalidInvocation")
        #expect(api.violations.isEmpty)
    }

    @Test func aRequestIdThatWouldLeaveItsPathIsRefusedNeverPostedTo() async throws {
        let evil = ["../../../2018-06-01/runtime/init/error?x=1#", "a/b", "..", "id%2F..", String(repeating: "a", count: 129), "sp ace"]
        let api = try FakeRuntimeAPI(evil.map { .invocation(id: $0, event: "{}") } + [.invocation(id: "fine-1.2_3", event: "{}")])
        defer { api.stop() }
        let code = await run(api, handler: "script", max: evil.count + 1)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/fine-1.2_3/response"], "nothing posted for the invalid ids")
        #expect(api.violations.isEmpty)
    }

    @Test func idsArePercentEncodedIntoTheirSegment() {
        #expect(RuntimeAPIPaths.response("a/b?c#d") == "/2018-06-01/runtime/invocation/a%2Fb%3Fc%23d/response")
        #expect(RuntimeAPIPaths.error("8f5c-41") == "/2018-06-01/runtime/invocation/8f5c-41/error")
        #expect(LambdaRequestID.isValid("3f1b0c2e-8a4d-4e3b-9c1a-7d2e5f6a8b9c"))
        #expect(!LambdaRequestID.isValid("...") && !LambdaRequestID.isValid("") && !LambdaRequestID.isValid("a\u{0}b"))
    }

    @Test func aRuntimeAPIThatKeepsAnsweringWithoutAnIdIsLeftNotSpunOn() async throws {
        let noID = ScriptedNext(headers: [HTTPHeader(AmazonHeaders.deadline, "9999999999999")], body: Array("{}".utf8))
        let api = try FakeRuntimeAPI(Array(repeating: noID, count: 15))
        defer { api.stop() }
        let started = EpochMillis.now()
        let code = await run(api, handler: "script")
        let elapsed = EpochMillis.now().value - started.value
        #expect(code == 1, "gives up with a FATAL line")
        #expect(api.remaining == 15 - LambdaRuntime.maxMalformedInARow, "exactly \(LambdaRuntime.maxMalformedInARow) answers read")
        #expect(elapsed >= 1_000, "it backed off between them (took \(elapsed) ms)")
        #expect(api.posts.isEmpty)
    }

    @Test func aNULInANextHeaderIsAMalformedAnswerNotAHang() async throws {
        let bad = ScriptedNext.invocation(id: "nul", event: "{}", extra: [HTTPHeader("Lambda-Runtime-Trace-Id", "Root=1-\u{0}-x")])
        let api = try FakeRuntimeAPI([bad, .invocation(id: "fine", event: "{}")])
        defer { api.stop() }
        // libcurl refuses the answer ("Weird server reply"): a failed /next, retried after a pause; the next one is served.
        let code = await run(api, handler: "script", max: 1)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/fine/response"])
    }

    @Test func aControlByteInANextHeaderIsAMalformedAnswer() async throws {
        let bad = ScriptedNext.invocation(id: "ctl", event: "{}", extra: [HTTPHeader("Lambda-Runtime-Trace-Id", "Root=1-\u{1}-x")])
        let api = try FakeRuntimeAPI([bad, .invocation(id: "fine", event: "{}")])
        defer { api.stop() }
        let code = await run(api, handler: "script", max: 2)
        #expect(code == 0)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/fine/response"], "nothing is answered for it")
    }

    @Test func aRegisteredCredentialNeverLeavesInAnAnswer() async throws {
        SecretRedactor.shared.register("runtime-answer-secret-71c2")
        let api = try FakeRuntimeAPI([.invocation(id: "echo", event: #"{"echo":"token runtime-answer-secret-71c2"}"#),
                                      .invocation(id: "boom", event: #"{"action":"fail-with","message":"runtime-answer-secret-71c2"}"#)])
        defer { api.stop() }
        _ = await run(api, handler: "script", max: 2)
        #expect(api.posts.map(\.path) == ["/2018-06-01/runtime/invocation/echo/response", "/2018-06-01/runtime/invocation/boom/error"])
        #expect(api.posts.allSatisfy { !$0.text.contains("runtime-answer-secret-71c2") }, "\(api.posts.map(\.text))")
    }

    @Test func traceIDIsSetForEveryInvocation() async throws {
        let api = try FakeRuntimeAPI([
            .invocation(id: "t1", event: #"{"action":"trace"}"#, trace: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            .invocation(id: "t2", event: #"{"action":"trace"}"#, trace: "Root=1-aaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbb;Lineage=a87bd80c:1|68fd508a:5;Sampled=0"),
            .invocation(id: "t3", event: #"{"action":"trace"}"#),
        ])
        defer { api.stop() }
        _ = await run(api, handler: "script", max: 3)
        #expect(api.posts.map(\.text) == ["Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
                                          "Root=1-aaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbb;Lineage=a87bd80c:1|68fd508a:5;Sampled=0",
                                          "<unset>"])
    }

    @Test func contextCarriesEveryHeader() async throws {
        let api = try FakeRuntimeAPI([.invocation(id: "ctx", event: #"{"action":"context"}"#, deadline: EpochMillis(4_102_444_800_000), extra: [
            HTTPHeader(AmazonHeaders.clientContext, #"{"client":{"app_title":"x"}}"#),
            HTTPHeader(AmazonHeaders.cognitoIdentity, #"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#),
            HTTPHeader(AmazonHeaders.tenantID, "tenant-42"),
        ])])
        defer { api.stop() }
        _ = await run(api, handler: "script", max: 1)
        let json = try JSONReader.parse(try #require(api.posts.first).body)
        #expect(json["requestId"]?.stringValue == "ctx")
        #expect(json["arn"]?.stringValue == "arn:aws:lambda:us-east-1:123456789012:function:apitap")
        #expect(json["clientContext"]?.stringValue == #"{"client":{"app_title":"x"}}"#)
        #expect(json["cognitoIdentity"]?.stringValue == #"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#)
        #expect(json["tenantId"]?.stringValue == "tenant-42")
        #expect(json["deadline"]?.int64Value == 4_102_444_800_000)
    }

    @Test func remainingTimeFollowsTheDeadlineHeader() async throws {
        let api = try FakeRuntimeAPI([.invocation(id: "d", event: #"{"action":"remaining"}"#,
                                                  deadline: EpochMillis.now().adding(milliseconds: 42_500))])
        defer { api.stop() }
        _ = await run(api, handler: "script", max: 1)
        let seconds = Int(api.posts.first?.text ?? "") ?? -1
        #expect((40...42).contains(seconds))
    }

    @Test func deadlineArithmetic() {
        let deadline = Deadline(epoch: EpochMillis(1_700_000_010_000))
        let context = InvocationContext(requestID: LambdaRequestID("x"), deadline: deadline, logger: quietLogger)
        #expect(context.remainingTime(now: EpochMillis(1_700_000_000_000)) == .seconds(10))
        #expect(deadline.remainingMilliseconds(now: EpochMillis(1_700_000_009_999)) == 1)
        #expect(deadline.hasPassed(now: EpochMillis(1_700_000_010_000)))
        #expect(deadline.remainingMilliseconds(now: EpochMillis(1_700_000_011_000)) == -1000)
    }

    @Test func missingRuntimeAPIVariableFailsCleanly() async {
        let code = await LambdaRuntime.run(registry: registry(), environment: ["_HANDLER": "script"], logger: quietLogger)
        #expect(code == 1)
    }
}

@Suite struct ErrorTypeTests {
    @Test func reasonsAreKeptInsideTheAcceptedPattern() {
        #expect(FunctionError("bad event!", "x").errorType == "Function.Badevent")
        #expect(FunctionError("", "x").errorType == "Function.Unknown")
        #expect(FunctionError("InvalidEvent", "x").errorType == "Function.InvalidEvent")
        #expect(FunctionError("x", "x").errorType == "Function.XError")
    }
}
