// `apitap tick`: one tick from the command line, the same handler Lambda runs.
import ArgumentParser
import HTTP
import LambdaRuntime
import Core
import Traffic

struct Tick: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one tick now: read API Gateway logs from CloudWatch, deliver transactions, commit checkpoints.",
        discussion: """
        Configured like the Lambda function, from the environment (the function's settings: docs/configuration.md): \
        AWS credentials (environment, AWS_PROFILE, container or instance credentials) and AWS_REGION \
        (AWS_ENDPOINT_URL for a local peer such as moto), UAP_* or SEND_TO_UAP=false, STATE_URI. Without STATE_URI, \
        checkpoints go to .apitap-state in the current directory. The run summary is printed as JSON (on stderr when \
        transactions go to stdout): readable text at a terminal, JSON otherwise (--output chooses). Exits 1 when a log \
        group could not be read, delivered or committed.

        --dry-run reads the logs and stitches them as a real tick would, but sends nothing (no UAP token is asked for) \
        and writes no checkpoint: the summary says what would have been delivered ("wouldDeliver").
        """
    )

    @Option(name: .long, help: "Seconds the tick may run (its deadline).")
    var timeout: Int = 840

    @Flag(name: .long, help: "Read and stitch, but deliver nothing and write no checkpoint; print what would be delivered.")
    var dryRun = false

    @Option(name: .long, help: "Summary as json or table (default: table at a terminal, json otherwise).")
    var output: SummaryText.Style?

    func run() async throws {
        guard timeout > 0 else { throw usageProblem("--timeout must be positive") }
        let env = ProcessEnvironment.current
        let logger = Logger.fromEnvironment(env)
        let handler = try configured {
            try TickHandler(context: InitContext(environment: env, logger: logger, handlerNames: ["tick"]),
                            defaultStateURI: localStateURI(), dryRun: dryRun, commandLine: true)
        }
        let context = InvocationContext(requestID: LambdaRequestID("cli-tick"), deadline: .after(milliseconds: Int64(timeout) * 1000),
                                        logger: logger, environment: env)
        let toStdout = !dryRun && env["SEND_TO_UAP"]?.lowercased() == "false" && (env["OUTPUT_FILE"] ?? "").isEmpty
        do {
            let summary = SecretRedactor.shared.redact(try await handler.handle(Array("{}".utf8), context: context))
            // Transactions on stdout: the summary goes to stderr, and is text when stderr is a terminal.
            let descriptor: Int32 = toStdout ? 2 : 1
            let style = SummaryText.Style.resolve(output, descriptor: descriptor)
            let text = (style == .table ? SummaryText.tick(summary) : nil) ?? String(decoding: summary, as: UTF8.self) + "\n"
            if toStdout { FileOutput.stderr(text) } else { print(text, terminator: "") }
        } catch {
            FileOutput.stderr("error: \(ErrorType.describe(error).message)\n")
            throw ExitCode(1)
        }
    }
}
