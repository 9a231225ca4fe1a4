// A strict fake Runtime API over real HTTP on loopback: scripted /next answers, every post recorded and checked.
import HTTP
import LambdaRuntime
import Core

struct ScriptedNext: Sendable {
    var status = 200
    var headers: [HTTPHeader]
    var body: [UInt8]

    static func invocation(id: String, event: String, deadline: EpochMillis = EpochMillis.now().adding(milliseconds: 60_000),
                           trace: String? = nil, extra: [HTTPHeader] = []) -> ScriptedNext {
        var headers = [HTTPHeader(AmazonHeaders.requestID, id), HTTPHeader(AmazonHeaders.deadline, deadline.description),
                       HTTPHeader(AmazonHeaders.functionARN, "arn:aws:lambda:us-east-1:123456789012:function:apitap")]
        if let trace { headers.append(HTTPHeader(AmazonHeaders.traceID, trace)) }
        headers += extra
        return ScriptedNext(headers: headers, body: Array(event.utf8))
    }
}

struct RecordedPost: Sendable {
    var path: String
    var headers: [HTTPHeader]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}

final class FakeRuntimeAPI: Sendable {
    private let server: LoopbackServer
    private let state: Locked<(queue: [ScriptedNext], posts: [RecordedPost], violations: [String])>

    /// `responseStatus` decides the answer to a response post by request id (default 202).
    init(_ script: [ScriptedNext], responseStatus: @escaping @Sendable (String) -> Int = { _ in 202 }) throws {
        let state = Locked<(queue: [ScriptedNext], posts: [RecordedPost], violations: [String])>((script, [], []))
        self.state = state
        server = try LoopbackServer { request in
            let prefix = "/2018-06-01/runtime/"
            if request.method == "GET" && request.path == prefix + "invocation/next" {
                let next = state.withLock { s -> ScriptedNext? in s.queue.isEmpty ? nil : s.queue.removeFirst() }
                // An exhausted script ends the run the way Lambda ends a sandbox.
                guard let next else { return ServerResponse(status: 500, text: "{\"errorType\":\"ServiceException\"}") }
                return ServerResponse(status: next.status, headers: next.headers, body: next.body)
            }
            guard request.method == "POST", request.path.hasPrefix(prefix) else {
                state.withLock { $0.violations.append("unexpected \(request.method) \(request.path)") }
                return ServerResponse(status: 404, text: "{}")
            }
            state.withLock { $0.posts.append(RecordedPost(path: request.path, headers: request.headers, body: request.body)) }
            let parts = request.path.dropFirst(prefix.count).split(separator: "/")
            // Validate what the real API validates: error posts carry a well-formed type and JSON body.
            if request.path.hasSuffix("/error") {
                let type = request.header(AmazonHeaders.functionErrorType) ?? ""
                let valid = type.wholeMatch(of: /(Runtime|Function)\.[A-Z][a-zA-Z]+/) != nil
                let json = try? JSONReader.parse(request.body)
                if !valid || json?["errorType"]?.stringValue != type || json?["errorMessage"]?.stringValue == nil {
                    state.withLock { $0.violations.append("bad error post: type=\(type) body=\(String(decoding: request.body, as: UTF8.self))") }
                    return ServerResponse(status: 400, text: "{}")
                }
            }
            if parts.count == 3, parts[0] == "invocation", parts[2] == "response" {
                return ServerResponse(status: responseStatus(String(parts[1])), text: "{}")
            }
            return ServerResponse(status: 202, text: "{}")
        }
    }

    var endpoint: String { "127.0.0.1:\(server.port)" }
    var posts: [RecordedPost] { state.withLock { $0.posts } }
    var violations: [String] { state.withLock { $0.violations } }
    var remaining: Int { state.withLock { $0.queue.count } }
    func stop() { server.stop() }
}
