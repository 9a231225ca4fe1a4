// An in-process Runtime API on loopback that serves one event: `apitap invoke` runs the real loop against it.
import HTTP
import Core

/// What the local Runtime API saw the runtime post.
public enum LocalOutcome: Sendable, Equatable {
    case response([UInt8])
    case error(type: String, body: [UInt8])
    case initError(type: String, body: [UInt8])
}

public final class LocalRuntimeAPI: Sendable {
    /// Sent with the 500 that answers `/next` once the one event was served, so the runtime ends quietly (exit 0).
    public static let overHeader = "apitap-local-run"
    private let server: LoopbackServer
    private let state: Locked<(served: Bool, outcome: LocalOutcome?)>
    public let requestID: String

    /// Serves `event` once, with a deadline `timeout` from the first `/next`; later `/next` calls get 500.
    public init(event: [UInt8], timeout: Duration = .seconds(900), functionName: String = "apitap-local",
                region: String = "us-east-1", port: UInt16 = 0) throws(HTTPError) {
        let id = LocalRuntimeAPI.makeRequestID()
        let state = Locked<(served: Bool, outcome: LocalOutcome?)>((false, nil))
        self.state = state
        self.requestID = id
        let arn = "arn:aws:lambda:\(region):000000000000:function:\(functionName)"
        server = try LoopbackServer(port: port) { request in
            switch (request.method, request.path) {
            case ("GET", RuntimeAPIPaths.next):
                let first = state.withLock { s -> Bool in let f = !s.served; s.served = true; return f }
                guard first else {
                    return ServerResponse(status: 500, headers: [HTTPHeader(LocalRuntimeAPI.overHeader, "over")],
                                          text: "{\"errorMessage\":\"local run is over\"}")
                }
                let deadline = EpochMillis.now().adding(milliseconds: timeout.milliseconds)
                return ServerResponse(status: 200, headers: [
                    HTTPHeader(AmazonHeaders.requestID, id),
                    HTTPHeader(AmazonHeaders.deadline, deadline.description),
                    HTTPHeader(AmazonHeaders.functionARN, arn),
                    HTTPHeader(AmazonHeaders.traceID, "Root=1-00000000-000000000000000000000000;Sampled=0"),
                    HTTPHeader("Content-Type", "application/json"),
                ], body: event)
            case ("POST", RuntimeAPIPaths.response(id)):
                state.withLock { $0.outcome = .response(request.body) }
                return ServerResponse(status: 202, text: "{\"status\":\"OK\"}")
            case ("POST", RuntimeAPIPaths.error(id)):
                state.withLock { $0.outcome = .error(type: request.header(AmazonHeaders.functionErrorType) ?? "Runtime.Unknown", body: request.body) }
                return ServerResponse(status: 202, text: "{\"status\":\"OK\"}")
            case ("POST", RuntimeAPIPaths.initError):
                state.withLock { $0.outcome = .initError(type: request.header(AmazonHeaders.functionErrorType) ?? "Runtime.Unknown", body: request.body) }
                return ServerResponse(status: 202, text: "{\"status\":\"OK\"}")
            default:
                return ServerResponse(status: 404, text: "{\"errorMessage\":\"unknown path\"}")
            }
        }
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` carries it.
    public var endpoint: String { "127.0.0.1:\(server.port)" }
    public var outcome: LocalOutcome? { state.withLock { $0.outcome } }
    public func stop() { server.stop() }

    /// Waits for the runtime's answer, up to `timeout`.
    public func waitForOutcome(timeout: Duration) async -> LocalOutcome? {
        let end = EpochMillis.now().adding(milliseconds: timeout.milliseconds)
        while EpochMillis.now() < end {
            if let outcome { return outcome }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return outcome
    }

    static func makeRequestID() -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for i in 0..<32 {
            if [8, 12, 16, 20].contains(i) { s.append("-") }
            s.append(hex[Int.random(in: 0..<16)])
        }
        return s
    }
}
