// The `audit-export` handler: Anypoint audit entries to the configured sinks, checkpointed per organization.
import Audit
import LambdaRuntime
import Pipeline

actor AuditExportHandler: LambdaHandler {
    let exporter: AuditExporter

    init(context: InitContext, defaultStateURI: String? = nil, settings: ((AuditConfiguration) -> AuditExportSettings)? = nil) throws {
        let (parsed, problems) = AuditConfiguration.parse(context.environment)
        guard let config = parsed else { throw ConfigurationError(problems) }
        do {
            exporter = try AuditSetup.exporter(config, environment: context.environment, logger: context.logger,
                                               defaultStateURI: defaultStateURI, settings: settings?(config))
        } catch {
            throw ConfigurationError(error.problems)
        }
        context.logger.info("audit-export configured", config.redactedSummary.map { ($0.0, LogValue.string($0.1)) })
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "audit-export")
        let summary = await exporter.run(deadline: context.deadline)
        let json = summary.json()
        context.logger.info("audit-export summary", [("summary", .json(json))])
        guard summary.succeeded else {
            let first = summary.error
                ?? summary.organizations.first { $0.error != nil }.map { "\($0.organizationID): \($0.result.rawValue): \($0.error ?? "")" } ?? ""
            throw FunctionError("AuditExportIncomplete", "not every organization was delivered and committed (the rest is read again next run): \(first)")
        }
        return json
    }
}
