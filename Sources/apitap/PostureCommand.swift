// `apitap posture`: the cross-environment posture audit from the command line, for a person or a CI job.
import ArgumentParser
import AWS
import Glibc
import LambdaRuntime
import Core
import HTTP
import Posture

extension ReportFormat: ExpressibleByArgument {}

struct PostureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "posture",
        abstract: "Compare each API's policies, SLA tiers and contracts across Anypoint environments and report drift.",
        discussion: """
        Configured from the environment like the Lambda function (docs/posture.md): ANYPOINT_CLIENT_ID, \
        ANYPOINT_CLIENT_SECRET (or _ARN), ANYPOINT_ORG_IDS, POSTURE_ENVIRONMENTS, POSTURE_RULES. The report goes to \
        stdout or --output; a summary of what is missing and of the baseline diff goes to stderr. Exit codes: 0 \
        nothing at or above --fail-on (without it: a complete run), 1 findings at or above it, 2 the audit could not \
        complete (bad settings, an unreadable baseline, or parts of the collection missing: the report still says \
        which).
        """
    )

    @Option(name: .long, help: "Environments to compare, by name or id (comma list; overrides POSTURE_ENVIRONMENTS).")
    var environments: String?

    @Option(name: .long, help: "table, json, csv, html or markdown.")
    var format: ReportFormat = .table

    @Option(name: .long, help: "Write the report to this file instead of stdout.")
    var output: String?

    @Option(name: .long, help: "An earlier JSON report (a file or s3://bucket/key): say what changed since.")
    var baseline: String?

    @Option(name: .long, help: "Exit 1 when a finding is at or above this severity: threat, drift or info.")
    var failOn: String?

    @Option(name: .long, help: "Seconds the run may take (its deadline).")
    var timeout: Int = 840

    func run() async throws {
        guard timeout > 0 else { throw usageProblem("--timeout must be positive") }
        let threshold = try failOn.map { text -> Severity in
            guard let s = Severity(rawValue: text.lowercased()) else { throw usageProblem("--fail-on must be threat, drift or info") }
            return s
        }
        var env = ProcessEnvironment.current
        if let environments { env["POSTURE_ENVIRONMENTS"] = environments }
        let logger = Logger.fromEnvironment(env)
        let (parsed, problems) = PostureConfiguration.parse(env, requireReportURI: false)
        guard let config = parsed else { throw invalidConfiguration(problems) }
        let setup: PostureSetup
        do throws(ConfigurationProblems) {
            setup = try PostureSetup(config, environment: env, logger: logger, needsAWS: baseline?.lowercased().hasPrefix("s3://") == true)
        } catch {
            throw invalidConfiguration(error.problems)
        }
        let deadline = Deadline.after(milliseconds: Int64(timeout) * 1000)
        var base: (source: String, report: BaselineReport)?
        if let baseline {
            do { base = (baseline, try await BaselineSource.load(baseline, aws: setup.aws, deadline: deadline)) } catch {
                FileOutput.stderr("error: \(error.description)\n")
                throw ExitCode(2)
            }
        }
        let report = await setup.runner.run(deadline: deadline, baseline: base)
        let bytes = report.render(format)
        if let output {
            do { try DirectoryReportStore.writeFile(output, bytes) } catch {
                FileOutput.stderr("error: cannot write \(output): \(error)\n")
                throw ExitCode(2)
            }
        } else {
            do { try FileIO.writeAll(1, bytes) } catch { throw ExitCode(2) }
        }
        if !report.isComplete {
            FileOutput.stderr("incomplete: \(report.collection.missing.count) part(s) could not be read (not reported as absent):\n"
                              + report.collection.missing.prefix(20).map { "  - \($0.text)\n" }.joined())
        }
        if let b = report.baseline { FileOutput.stderr(b.summary + "\n") }
        let code = PostureExit.code(report, failOn: threshold)
        if code != 0 { throw ExitCode(code) }
    }
}
