// The `tick` handler: the scheduled job, and `apitap tick` on the command line.
import AWS
import LambdaRuntime
import Core
import Traffic

/// `tick`: the scheduled job. Runs the wired `TickJob`, logs and returns its summary, fails the invocation when a log
/// group was not read and committed.
actor TickHandler: LambdaHandler {
    let job: TickJob
    let functionName: String
    /// `apitap tick`: the caller prints the summary once, so it is logged at DEBUG and no EMF metrics are written.
    let commandLine: Bool

    init(context: InitContext, defaultStateURI: StateURI? = nil, dryRun: Bool = false, commandLine: Bool = false) throws {
        self.commandLine = commandLine
        job = try TickJob(environment: context.environment, logger: context.logger, defaultStateURI: defaultStateURI, dryRun: dryRun)
        functionName = context.environment["AWS_LAMBDA_FUNCTION_NAME"] ?? "apitap"
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "tick")
        // Lambda does not tell a function its account; the invoked function's ARN does.
        let account = job.config.accountId ?? context.invokedFunctionARN.flatMap(AWSAccountID.init(functionARN:))
        let summary = await job.run(accountId: account, deadline: context.deadline, logger: context.logger,
                                    toolVersion: ApitapVersion.current)
        let json = summary.json()
        if commandLine {
            context.logger.debug("tick summary", [("summary", .json(json))])
        } else {
            context.logger.info("tick summary", [("summary", .json(json))])
            EmbeddedMetrics.emit(summary, functionName: functionName)
        }
        guard summary.allCommitted else {
            if let discoveryError = summary.discoveryError, summary.groups.isEmpty {
                throw FunctionError("DiscoveryFailed", "no log group was read: the log groups could not be listed: \(discoveryError)")
            }
            let first = summary.discoveryError ?? summary.groups.first { $0.error != nil }.flatMap { "\($0.logGroup.rawValue): \($0.error ?? "")" } ?? ""
            throw FunctionError("TickIncomplete", "not every log group was read and committed (it is read again next tick): \(first)")
        }
        return json
    }
}
