// `apitap audit-export`: one export run from the command line, the same handler Lambda runs.
import ArgumentParser
import Audit
import HTTP
import LambdaRuntime
import Core

struct AuditExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-export",
        abstract: "Export Anypoint audit entries to the configured sinks now, and commit the checkpoints.",
        discussion: """
        Configured like the Lambda function, from the environment (docs/audit-export.md): ANYPOINT_CLIENT_ID, \
        ANYPOINT_CLIENT_SECRET (or _ARN), AUDIT_SINKS, STATE_URI (default .apitap-state in the current directory). \
        --since replays an explicit window without reading or committing checkpoints (keys are stable, so a \
        replay is harmless downstream). --dry-run queries and evaluates alerts but delivers and commits nothing. \
        Prints the run summary (text at a terminal, JSON otherwise; --output chooses); exits 1 when an organization was not delivered and committed, 2 on bad settings.
        """
    )

    @Option(name: .long, help: "Start of an explicit window (ISO 8601, e.g. 2026-01-01T00:00:00Z); checkpoints are left alone.")
    var since: String?

    @Option(name: .long, help: "End of the window (ISO 8601) instead of now minus AUDIT_LAG_SECONDS.")
    var until: String?

    @Flag(name: .long, help: "Query and evaluate alert rules, but deliver nothing and commit nothing.")
    var dryRun = false

    @Option(name: .long, help: "Summary as json or table (default: table at a terminal, json otherwise).")
    var output: SummaryText.Style?

    @Option(name: .long, help: "Seconds the run may take (its deadline).")
    var timeout: Int = 840

    func run() async throws {
        guard timeout > 0 else { throw usageProblem("--timeout must be positive") }
        let sinceTime = try since.map { s -> EpochMillis in
            guard let t = EpochMillis.parseISO8601(s) else { throw usageProblem("--since is not an ISO 8601 date or time: \(s)") }
            return t
        }
        let untilTime = try until.map { s -> EpochMillis in
            guard let t = EpochMillis.parseISO8601(s) else { throw usageProblem("--until is not an ISO 8601 date or time: \(s)") }
            return t
        }
        if let a = sinceTime, let b = untilTime, b <= a { throw usageProblem("--until must be after --since") }
        let env = ProcessEnvironment.current
        let logger = Logger.fromEnvironment(env)
        let dry = dryRun
        let handler = try configured {
            try AuditExportHandler(
                context: InitContext(environment: env, logger: logger, handlerNames: ["audit-export"]),
                defaultStateURI: localStateURI(),
                settings: { config in
                    var s = AuditExportSettings(config)
                    s.since = sinceTime
                    s.until = untilTime
                    s.dryRun = dry
                    return s
                }, commandLine: true)
        }
        let context = InvocationContext(requestID: LambdaRequestID("cli-audit-export"),
                                        deadline: .after(milliseconds: Int64(timeout) * 1000), logger: logger, environment: env)
        do {
            let summary = try await handler.handle(Array("{}".utf8), context: context)
            let redacted = SecretRedactor.shared.redact(summary)
            if SummaryText.Style.resolve(output) == .table, let text = SummaryText.audit(redacted) { print(text, terminator: "") }
            else { print(String(decoding: redacted, as: UTF8.self)) }
        } catch {
            FileOutput.stderr("error: \(ErrorType.describe(error).message)\n")
            throw ExitCode(1)
        }
    }
}
