// The `posture` handler: the cross-environment posture audit, reports to S3 (or a directory), new and resolved
// findings to the sinks of AUDIT_SINKS, the previous report kept as the baseline.
import Audit
import AWS
import LambdaRuntime
import Core
import Pipeline
import Posture

actor PostureHandler: LambdaHandler {
    let job: PostureJob
    let functionName: String
    let marginMs: Int64

    init(context: InitContext) throws {
        let (parsed, problems) = PostureConfiguration.parse(context.environment, requireReportURI: true)
        guard let config = parsed, let location = config.reportURI else { throw ConfigurationError(problems) }
        let setup: PostureSetup
        do { setup = try PostureSetup(config, environment: context.environment, logger: context.logger) } catch {
            throw ConfigurationError(error.problems)
        }
        var setupProblems: [String] = []
        let sinks = AuditSetup.makeSinks(config.sinks, baseURL: config.baseURL, environment: context.environment, http: setup.http,
                                         aws: setup.aws, problems: &setupProblems)
        let store: any ReportStore
        switch location {
        case .s3(let bucket, let prefix):
            guard let aws = setup.aws else { throw ConfigurationError(["POSTURE_REPORT_URI s3:// needs AWS credentials and a region"]) }
            store = S3ReportStore(s3: S3Client(aws), bucket: bucket, prefix: prefix)
        case .directory(let path):
            store = DirectoryReportStore(directory: path)
        }
        guard setupProblems.isEmpty else { throw ConfigurationError(setupProblems) }
        job = PostureJob(runner: setup.runner, store: store, sinks: sinks, logger: context.logger)
        functionName = context.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "apitap"
        marginMs = Int64(config.deadlineMarginSeconds) * 1000
        context.logger.info("posture configured", config.redactedSummary.map { ($0.0, LogValue.string($0.1)) })
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "posture")
        let deadline = context.deadline.reserving(milliseconds: marginMs)
        let summary = await job.run(deadline: deadline)
        let json = summary.json()
        context.logger.info("posture summary", [("summary", .json(json))])
        EmbeddedMetrics.emit(summary, functionName: functionName)
        guard summary.succeeded else {
            throw FunctionError(summary.report.isComplete ? "PostureFailed" : "PostureIncomplete", summary.error ?? "")
        }
        return json
    }
}

extension EmbeddedMetrics {
    /// The audit's figures as CloudWatch metrics (dimension FunctionName): an alarm on PostureThreats or
    /// PostureMissingParts needs no log query.
    static func emit(_ summary: PostureJobSummary, functionName: String) {
        typealias M = EmbeddedMetricFormat.Metric
        let r = summary.report
        let metrics = [
            M("PostureAPIs", r.comparison.apis.count), M("PostureThreats", r.count(Severity.threat)), M("PostureDrift", r.count(Severity.drift)),
            M("PostureNewFindings", summary.report.baseline?.new.count ?? r.findings.count),
            M("PostureResolvedFindings", summary.report.baseline?.resolved.count ?? 0),
            M("PostureMissingParts", r.collection.missing.count), M("PostureRequests", r.collection.requests),
            M("PostureDurationMs", r.collection.durationMs, .milliseconds),
        ]
        EmbeddedMetricFormat.emit(EmbeddedMetricFormat.line(timestamp: r.generatedAt, dimensions: [("FunctionName", functionName)], metrics: metrics))
    }
}
