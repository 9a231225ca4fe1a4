// The command line: one subcommand per job, written for the operator.
import AWS
import ArgumentParser
import Glibc
import HTTP
import LambdaRuntime
import Core

struct CLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apitap",
        abstract: "Mirror API Gateway traffic to Cequence UAP and export Anypoint audit logs (AWS Lambda custom runtime).",
        discussion: """
        Deployed as the `bootstrap` of a provided.al2023 function, apitap runs the handler named by _HANDLER \
        against the Lambda Runtime API. On the command line it runs the same handlers locally.
        """,
        version: ApitapVersion.current,
        subcommands: [Tick.self, AuditExport.self, PostureCommand.self, Invoke.self, RuntimeAPI.self, Stitch.self, Handlers.List.self]
    )
}

extension Handlers {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "handlers", abstract: "List the handlers _HANDLER can name.")
        func run() {
            for entry in Handlers.registry().entries { print("\(entry.name)\t\(entry.summary)") }
        }
    }
}

struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one event through the real runtime loop against an in-process Runtime API on loopback.",
        discussion: """
        Prints the handler's response on stdout and exits 0, or prints the error type and message and exits 1. \
        The handler is --handler, else _HANDLER, else the event file's name when it names a handler \
        (events/health.json runs `health`).
        """
    )

    @Option(name: .long, help: "Event JSON file ('-' reads stdin).")
    var event: String

    @Option(name: .long, help: "Handler to run (see `apitap handlers`).")
    var handler: String?

    @Option(name: .long, help: "Invocation timeout in seconds (the deadline the handler sees).")
    var timeout: Int = 900

    func run() async throws {
        var environment = ProcessEnvironment.current
        let logger = Logger.fromEnvironment(environment)
        let registry = Handlers.registry()
        let body: [UInt8]
        do { body = try readFile(event) } catch {
            throw usageProblem("cannot read the event file \(event): \(error)")
        }
        let fileStem = String(event.split(separator: "/").last ?? "").replacingSuffix(".json")
        guard let name = handler ?? environment["_HANDLER"] ?? (registry[fileStem] != nil ? fileStem : nil) else {
            throw usageProblem("no handler given: use --handler NAME (one of: \(registry.names.joined(separator: ", ")))")
        }
        guard timeout > 0 else { throw usageProblem("--timeout must be positive") }

        let api = try LocalRuntimeAPI(event: body, timeout: .seconds(timeout))
        defer { api.stop() }
        environment["AWS_LAMBDA_RUNTIME_API"] = api.endpoint
        environment["_HANDLER"] = name
        environment["AWS_LAMBDA_FUNCTION_NAME"] = environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "apitap-local"
        // Not Lambda: credentials come from the whole chain (a profile, SSO-less roles, IMDS), not only the environment.
        environment["APITAP_LOCAL_INVOKE"] = "1"
        _ = await LambdaRuntime.run(registry: registry, environment: environment, logger: logger, maxInvocations: 1)

        try report(api.outcome)
    }
}

/// Prints a handler's answer: the response on stdout (exit 0), or the error body plus "error: Type: message" (exit 1).
func report(_ outcome: LocalOutcome?) throws {
        switch outcome {
        case .response(let bytes)?:
            print(String(decoding: bytes, as: UTF8.self))
        case .error(let type, let bytes)?, .initError(let type, let bytes)?:
            print(String(decoding: bytes, as: UTF8.self))
            let message = (try? JSONReader.parse(bytes))?["errorMessage"]?.stringValue ?? ""
            FileOutput.stderr("error: \(type): \(message)\n")
            throw ExitCode(1)
        case nil:
            FileOutput.stderr("error: the runtime exited without answering the invocation\n")
            throw ExitCode(1)
        }
}

struct RuntimeAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime-api",
        abstract: "Serve one event on a local Runtime API for a runtime started separately (for example the packaged bootstrap).",
        discussion: """
        Start this, then start the runtime with AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT. Prints the runtime's answer \
        like `apitap invoke` and exits 0 on a response, 1 on an error or when nothing arrives in time.
        """
    )

    @Option(name: .long, help: "Event JSON file ('-' reads stdin).")
    var event: String

    @Option(name: .long, help: "Loopback port to listen on.")
    var port: Int = 9001

    @Option(name: .long, help: "Seconds to wait for the runtime's answer (also the invocation's deadline).")
    var timeout: Int = 60

    func run() async throws {
        guard (1...65535).contains(port) else { throw usageProblem("--port must be 1-65535") }
        guard timeout > 0 else { throw usageProblem("--timeout must be positive") }
        let body: [UInt8]
        do { body = try readFile(event) } catch { throw usageProblem("cannot read the event file \(event): \(error)") }
        let api = try LocalRuntimeAPI(event: body, timeout: .seconds(timeout), port: UInt16(port))
        defer { api.stop() }
        FileOutput.stderr("runtime-api: listening on \(api.endpoint)\n")
        try report(await api.waitForOutcome(timeout: .seconds(timeout)))
    }
}

/// Local runs keep their checkpoints in `.apitap-state` of the directory they start in, named absolutely
/// (STATE_URI refuses a relative file:// directory).
func localStateURI() -> StateURI {
    var buffer = [CChar](repeating: 0, count: 4096)
    let cwd = getcwd(&buffer, buffer.count) != nil ? String(cString: buffer) : "/tmp"
    return .file(path: (cwd == "/" ? "" : cwd) + "/.apitap-state")
}

enum FileOutput {
    static func stderr(_ text: String) { Logger.stderr(SecretRedactor.shared.redact(Array(text.utf8))) }
}

/// A problem a command finds after parsing (a bad value, an unreadable file): one `error:` line and exit 2.
/// ArgumentParser would print the top-level usage after a `ValidationError` thrown from `run()`, which hides it.
func usageProblem(_ message: String) -> ExitCode {
    FileOutput.stderr("error: \(message)\n")
    return ExitCode(2)
}

/// Bad settings on the command line: every problem, one per line, and exit 2 (as for a bad option).
func invalidConfiguration(_ problems: [String]) -> ExitCode {
    FileOutput.stderr("error: invalid configuration:\n" + problems.map { "  - \($0)\n" }.joined())
    return ExitCode(2)
}

/// Builds a command's handler; bad settings (from the handler or the module's setup) end the command with exit 2.
func configured<T>(_ make: () throws -> T) throws -> T {
    do { return try make() }
    catch let error as ConfigurationError { throw invalidConfiguration(error.problems) }
    catch let error as ConfigurationProblems { throw invalidConfiguration(error.problems) }
}

/// Reads an event file (or stdin for "-"): at most 6 MiB, Lambda's own payload limit, so that `/dev/zero` is an error.
func readFile(_ path: String) throws(FileIOError) -> [UInt8] {
    let limit = 6 * 1024 * 1024
    return path == "-" ? try FileIO.readAll(0, limit: limit) : try FileIO.read(path: path, limit: limit)
}

extension String {
    func replacingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
