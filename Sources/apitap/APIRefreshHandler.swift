// The `api-refresh` handler: on its own schedule, turns logging on for API Gateway stages created since the stack's
// enable-logging resource ran, recording them in the same S3 record, so that disable and teardown restore them too.
import AWS
import HTTP
import LambdaRuntime
import Core
import Traffic

struct APIRefreshHandler: LambdaHandler {
    let settings: StageLoggingSettings
    let region: AWSRegion
    let manager: StageLoggingManager

    init(context: InitContext) throws {
        let env = context.environment
        let (parsed, problems) = StageLoggingSettings.fromEnvironment(env)
        var all = problems
        let http = try HTTPClient.configured(environment: env)
        var aws: AWSClient?
        do { aws = try AWSClient.fromEnvironment(env, http: http) } catch { all += error.problems }
        guard all.isEmpty, let parsed, let aws else { throw ConfigurationError(all) }
        settings = parsed
        region = aws.region
        manager = StageLoggingManager(backend: AWSStageLoggingBackend(aws), logger: context.logger)
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "api-refresh")
        let deadline = context.deadline.reserving(milliseconds: 10_000, atMost: 0.25)
        var settings = self.settings
        do { try await settings.resolveAPIList(region: region, backend: manager.backend, deadline: deadline) } catch {
            throw FunctionError("APIListUnreadable", "\(error)")
        }
        let outcome = await manager.apply(settings, mode: .refresh, deadline: deadline)
        let fields: [(String, LogValue)] = [("turnedOn", .int(Int64(outcome.enabled.count))), ("alreadyOn", .int(Int64(outcome.alreadyOn))),
                                            ("notes", .int(Int64(outcome.notes.count))), ("failures", .int(Int64(outcome.failures.count))),
                                            ("outcome", .json(outcome.json()))]
        if outcome.failures.isEmpty {
            context.logger.info("api refresh done: \(outcome.summary())", fields)
        } else {
            context.logger.error("api refresh: not every stage could be changed: \(outcome.summary())", fields)
        }
        for note in outcome.notes { context.logger.warn(note) }
        guard outcome.failures.isEmpty else { throw FunctionError("RefreshIncomplete", outcome.summary()) }
        return outcome.json()
    }
}
