// Real moto_server processes for the integration tests: started on a free loopback port, stopped by PID when the
// test is done or the test process exits (and by a watcher inside the server if this process dies first).
import Foundation
import Glibc
import HTTP
import Core

public struct MotoUnavailable: Error, CustomStringConvertible {
    public let description: String
}

public final class MotoServer: Sendable {
    public let pid: Int32
    public let port: UInt16
    public let logPath: String
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private init(pid: Int32, port: UInt16, logPath: String) {
        self.pid = pid
        self.port = port
        self.logPath = logPath
    }

    /// Runs moto's own entry point (what the `moto_server` script runs) inside a small wrapper whose watcher thread
    /// exits as soon as this test process is gone, so that an aborted run leaves no server behind.
    private static let wrapper = """
    import os, sys, threading, time
    parent = os.getppid()
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
    from moto.server import main
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
    """

    public static func start(environment extra: [String: String] = [:]) async throws -> MotoServer {
        // The tests need the real peer: its absence is a failure with instructions, never a skip.
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/bin/sh")
        probe.arguments = ["-c", "command -v moto_server >/dev/null && python3 -c 'import moto.server' 2>/dev/null"]
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            throw MotoUnavailable(description: "moto_server is not installed (or python3 cannot import moto.server): "
                                  + "install it with `pip install 'moto[server]'` (scripts/dev/deps.sh); the AWS tests need a real peer")
        }

        for _ in 0..<5 {
            let port = freeLoopbackPort(datagram: false)
            let logPath = NSTemporaryDirectory() + "apitap-moto-\(port)-\(getpid()).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", wrapper, String(port)]
            var env = ProcessInfo.processInfo.environment
            for (k, v) in extra { env[k] = v }
            env["AWS_ACCESS_KEY_ID"] = env["AWS_ACCESS_KEY_ID"] ?? "testing"
            env["AWS_SECRET_ACCESS_KEY"] = env["AWS_SECRET_ACCESS_KEY"] ?? "testing"
            process.environment = env
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let server = MotoServer(pid: process.processIdentifier, port: port, logPath: logPath)
            MotoServer.register(server.pid, logPath)
            if try await server.waitUntilReady(process) { return server }
            server.stop()
        }
        throw MotoUnavailable(description: "moto_server did not start on a free port after 5 attempts")
    }

    /// Polls the management API (which moto does not count as an AWS action) until it answers.
    private func waitUntilReady(_ process: Process) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                if log.contains("Address already in use") { return false }
                throw MotoUnavailable(description: "moto_server exited with status \(process.terminationStatus): \(log.suffix(2000))")
            }
            if let r = try? await MotoServer.http.send(HTTPRequest(method: .GET, url: endpoint + "/moto-api/data.json", timeout: .seconds(2))),
               r.status == 200 {
                return true
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw MotoUnavailable(description: "moto_server on port \(port) did not answer within 30 s; log: \(logPath)")
    }

    /// Wipes all state (POST /moto-api/reset).
    public func reset() async throws {
        let r = try await MotoServer.http.send(HTTPRequest(method: .POST, url: endpoint + "/moto-api/reset"))
        guard r.status == 200 else { throw MotoUnavailable(description: "moto reset answered \(r.status)") }
    }

    public func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) != 0 { break }
            usleep(20_000)
        }
        if waitpid(pid, &status, WNOHANG) == 0 { kill(pid, SIGKILL); waitpid(pid, &status, 0) }
        MotoServer.unregister(pid)
        unlink(logPath)
    }

    private static let http: HTTPClient = {
        do { return try HTTPClient() } catch { fatalError("HTTPClient: \(error)") }
    }()

    // Servers still running when the test process exits are stopped then, by PID.
    private static let running = Locked<[(pid: Int32, log: String)]>([])
    private static let atExitInstalled: Bool = {
        atexit {
            for server in MotoServer.running.value {
                kill(server.pid, SIGTERM)
                unlink(server.log)
            }
        }
        return true
    }()

    private static func register(_ pid: Int32, _ log: String) {
        _ = atExitInstalled
        running.withLock { $0.append((pid, log)) }
    }

    private static func unregister(_ pid: Int32) {
        running.withLock { $0.removeAll { $0.pid == pid } }
    }
}
