// What the doubles share when they run as processes for the shell suites: `--name value` options, failing with a
// message (exit 2), writing a file whole, saying a line on stdout, and serving until SIGTERM or SIGINT.
import Glibc
import Core
import Synchronization

private let stopRequested = Atomic<Bool>(false)

public struct DoubleProcess: Sendable {
    public let name: String
    public let options: [String: String]

    /// Reads `--name value` pairs from the command line; anything else fails with a pointer to `usage`.
    public init(name: String, usage: String) {
        self.name = name
        var options: [String: String] = [:]
        var args = CommandLine.arguments.dropFirst()
        while let option = args.popFirst() {
            guard option.hasPrefix("--"), let value = args.popFirst() else {
                Logger.stderr(Array("\(name): usage: \(usage)\n".utf8))
                exit(2)
            }
            options[String(option.dropFirst(2))] = value
        }
        self.options = options
    }

    public func fail(_ message: String) -> Never {
        Logger.stderr(Array("\(name): \(message)\n".utf8))
        exit(2)
    }

    /// A non-negative integer option, or `fallback` when it is not given.
    public func int(_ option: String, _ fallback: Int) -> Int {
        guard let text = options[option] else { return fallback }
        guard let v = Int(text), v >= 0 else { fail("--\(option) wants a non-negative integer, not \(text)") }
        return v
    }

    public func writeFile(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot write \(path)") }
        do { try FileIO.writeAll(fd, Array(text.utf8)) } catch { fail("cannot write \(path): \(error)") }
        close(fd)
    }

    /// One line on stdout, unbuffered (the shell suites wait for "ready PORT").
    public func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    /// Returns once SIGTERM or SIGINT arrives, calling `poll` every 10 ms until then.
    public func serveUntilStopped(poll: () -> Void = {}) {
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        while !stopRequested.load(ordering: .relaxed) {
            poll()
            usleep(10_000)
        }
    }
}
