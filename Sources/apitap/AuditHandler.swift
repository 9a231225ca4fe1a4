// The `audit-export` handler: Anypoint audit entries to the configured sinks, checkpointed per organization.
import AWS
import Audit
import LambdaRuntime
import Core
import Pipeline

actor AuditExportHandler: LambdaHandler {
    let exporter: AuditExporter
    let functionName: String

    /// `apitap audit-export`: the caller prints the summary once, so it is logged at DEBUG and no EMF metrics are written.
    let commandLine: Bool

    init(context: InitContext, defaultStateURI: StateURI? = nil, settings: ((AuditConfiguration) -> AuditExportSettings)? = nil,
         commandLine: Bool = false) throws {
        self.commandLine = commandLine
        let (parsed, problems) = AuditConfiguration.parse(context.environment)
        guard let config = parsed else { throw ConfigurationError(problems) }
        do {
            exporter = try AuditSetup.exporter(config, environment: context.environment, logger: context.logger,
                                               defaultStateURI: defaultStateURI, settings: settings?(config))
        } catch {
            throw ConfigurationError(error.problems)
        }
        functionName = context.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "apitap"
        context.logger.info("audit-export configured", config.redactedSummary.map { ($0.0, LogValue.string($0.1)) })
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "audit-export")
        let summary = await exporter.run(deadline: context.deadline)
        let json = summary.json()
        if commandLine {
            context.logger.debug("audit-export summary", [("summary", .json(json))])
        } else {
            context.logger.info("audit-export summary", [("summary", .json(json))])
            // A dry run exports nothing: metrics from it would read as a real export.
            if !summary.dryRun { EmbeddedMetrics.emit(summary, functionName: functionName) }
        }
        guard summary.succeeded else {
            let first = summary.error
                ?? summary.organizations.first { $0.error != nil }.map { "\($0.organizationID): \($0.result.rawValue): \($0.error ?? "")" } ?? ""
            throw FunctionError("AuditExportIncomplete", "not every organization was delivered and committed (the rest is read again next run): \(first)")
        }
        return json
    }
}

/// The export's metrics, as CloudWatch Embedded Metric Format like the tick's: the run's totals with the dimension
/// FunctionName, and one document per sink with FunctionName and Sink (a failing sink must be visible by name).
extension EmbeddedMetrics {
    static func emit(_ summary: AuditExportSummary, functionName: String, now: EpochMillis = .now()) {
        typealias M = EmbeddedMetricFormat.Metric
        let orgs = summary.organizations
        var metrics = [
            M("AuditPages", orgs.reduce(0) { $0 + $1.pages }), M("AuditEntriesRead", orgs.reduce(0) { $0 + $1.entries }),
            M("AuditEntriesExported", orgs.reduce(0) { $0 + $1.exported }),
            M("AuditDuplicatesSkipped", orgs.reduce(0) { $0 + $1.duplicates }),
            M("AuditMalformedEntries", orgs.reduce(0) { $0 + $1.malformed }), M("AuditAlerts", orgs.reduce(0) { $0 + $1.alerts }),
            M("AuditRequests", summary.anypoint.requests), M("AuditWaits503", summary.anypoint.waits503),
            M("AuditWaited503Ms", summary.anypoint.waited503Ms, .milliseconds),
            M("AuditSinkFailedPages", summary.sinks.reduce(0) { $0 + $1.failedPages }),
            M("AuditOrganizationsFailed", orgs.filter { ![.committed, .partial, .idle, .notCommitted].contains($0.result) }.count
                + (summary.error == nil ? 0 : 1)),
            M("AuditDurationMs", summary.durationMs, .milliseconds),
        ]
        // The lag says whether the export keeps up; an organization never committed has none to report.
        if let lag = summary.watermarkLagMs(now: now) { metrics.append(M("AuditWatermarkLagSeconds", lag / 1000, .seconds)) }
        var lines = EmbeddedMetricFormat.line(timestamp: summary.startedAt, dimensions: [("FunctionName", functionName)], metrics: metrics)
        for sink in summary.sinks {
            lines += EmbeddedMetricFormat.line(timestamp: summary.startedAt, dimensions: [("FunctionName", functionName), ("Sink", sink.name)],
                                               metrics: [M("AuditSinkRecordsDelivered", sink.delivered), M("AuditSinkFailedPages", sink.failedPages)])
        }
        EmbeddedMetricFormat.emit(lines)
    }
}
