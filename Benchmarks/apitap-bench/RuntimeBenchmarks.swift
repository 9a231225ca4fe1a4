// Cold start (exec of the packaged bootstrap → first GET /next) and peak RSS of an idle warm runtime.
import Glibc
import HTTP
import LambdaRuntime
import Core

struct RuntimeBenchmarks {
    let stage: String

    func run(samples: Int = 20) -> [(name: String, value: Double, unit: String)] {
        let bootstrap = stage + "/bootstrap"
        guard access(bootstrap, X_OK) == 0 else {
            print("runtime: no packaged bootstrap at \(bootstrap) (run make package)")
            return []
        }
        var starts: [Double] = []
        for _ in 0..<samples {
            if let ms = coldStart(bootstrap) { starts.append(ms) }
        }
        starts.sort()
        var rows: [(String, Double, String)] = []
        if !starts.isEmpty {
            rows.append(("cold start, exec to first GET /next (median of \(starts.count))", starts[starts.count / 2], "ms"))
            rows.append(("cold start, fastest", starts[0], "ms"))
            rows.append(("cold start, slowest", starts[starts.count - 1], "ms"))
        }
        if let kib = idleWarmPeakRSS(bootstrap) { rows.append(("peak RSS of an idle warm runtime", Double(kib) / 1024, "MB")) }
        return rows
    }

    /// Milliseconds from just before posix_spawn to the arrival of the first `/next`.
    func coldStart(_ bootstrap: String) -> Double? {
        let arrived = Locked<Int64?>(nil)
        guard let server = try? LoopbackServer(handler: { request in
            if request.path == RuntimeAPIPaths.next {
                arrived.withLock { if $0 == nil { $0 = monotonicNanoseconds() } }
            }
            return ServerResponse(status: 500, text: "{}")  // tells the runtime to exit
        }) else { return nil }
        defer { server.stop() }
        let env = ["AWS_LAMBDA_RUNTIME_API=127.0.0.1:\(server.port)", "_HANDLER=health", "LAMBDA_TASK_ROOT=" + stage,
                   "AWS_LAMBDA_LOG_LEVEL=FATAL"]
        let start = monotonicNanoseconds()
        guard let pid = spawn(bootstrap, env: env) else { return nil }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return arrived.value.map { Double($0 - start) / 1e6 }
    }

    /// Serves one health invocation, then reads VmHWM while the runtime waits on its next `/next`.
    func idleWarmPeakRSS(_ bootstrap: String) -> Int? {
        let nexts = Locked(0)
        guard let server = try? LoopbackServer(handler: { request in
            if request.path == RuntimeAPIPaths.next {
                let n = nexts.withLock { c -> Int in c += 1; return c }
                if n == 1 {
                    return ServerResponse(status: 200, headers: [
                        HTTPHeader(AmazonHeaders.requestID, "bench-1"),
                        HTTPHeader(AmazonHeaders.deadline, EpochMillis.now().adding(milliseconds: 30_000).description),
                    ], text: "{}")
                }
                usleep(1_500_000)  // idle, warm, waiting for work
                return ServerResponse(status: 500, text: "{}")
            }
            return ServerResponse(status: 202, text: "{}")
        }) else { return nil }
        defer { server.stop() }
        let env = ["AWS_LAMBDA_RUNTIME_API=127.0.0.1:\(server.port)", "_HANDLER=health", "LAMBDA_TASK_ROOT=" + stage,
                   "AWS_LAMBDA_LOG_LEVEL=FATAL"]
        guard let pid = spawn(bootstrap, env: env) else { return nil }
        while nexts.value < 2 { usleep(10_000) }
        usleep(500_000)
        let kib = vmHWM(pid)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return kib
    }

    func spawn(_ path: String, env: [String]) -> pid_t? {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        return posix_spawn(&pid, path, nil, nil, argv, envp) == 0 ? pid : nil
    }

    func vmHWM(_ pid: pid_t) -> Int? {
        guard let f = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("VmHWM:") { return Int(s.split(separator: " ").dropFirst().first ?? "") }
        }
        return nil
    }
}

func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
