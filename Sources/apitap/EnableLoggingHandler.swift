// The `enable-logging` handler: the CloudFormation custom resource that turns API Gateway stage logging on (Create,
// Update) and restores the recorded settings (Delete), answering CloudFormation's pre-signed ResponseURL every time.
import AWS
import HTTP
import LambdaRuntime
import Core
import Traffic

/// Init does not read any setting that could be wrong: a failed init is never answered on the ResponseURL, and
/// CloudFormation would then wait an hour for the resource. Configuration problems are found per invocation and
/// answered: FAILED for Create and Update, SUCCESS with a note for Delete (a Delete must not block deleting the stack).
struct EnableLoggingHandler: LambdaHandler {
    let environment: [String: String]
    let http: HTTPClient

    init(context: InitContext) throws {
        environment = context.environment
        http = try HTTPClient.configured(environment: environment)
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        let request: CustomResourceEvent
        do { request = try CustomResourceEvent.decode(event) } catch {
            throw FunctionError("InvalidEvent", "\(error)")
        }
        let log = context.logger.with("requestType", request.requestType.rawValue)
        // Keep time to answer: the work stops well before Lambda's deadline (20 s, less for short timeouts).
        let total = context.deadline.remainingMilliseconds()
        let margin = min(20_000, max(total / 4, 1_000))
        let workDeadline = context.deadline.reserving(milliseconds: margin)
        let (response, outcome) = await run(request, deadline: workDeadline, logger: log)
        log.info("enable-logging result", [("status", .string(response.success ? "SUCCESS" : "FAILED")),
                                           ("reason", .string(response.reason)), ("outcome", .json(outcome.json()))])
        do {
            try await CustomResourceResponder.send(response, to: request.responseURL, client: http,
                                                   deadline: context.deadline.reserving(milliseconds: 300))
        } catch {
            // Failing the invocation lets Lambda retry the (asynchronous) invocation: another chance to answer.
            throw FunctionError("ResponseNotDelivered", "the answer to CloudFormation could not be delivered: \(error)")
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("Status", response.success ? "SUCCESS" : "FAILED")
        w.field("Reason", response.reason)
        w.field("PhysicalResourceId", response.physicalResourceId)
        w.key("outcome")
        w.raw(json: outcome.json())
        w.endObject()
        return w.bytes
    }

    func run(_ request: CustomResourceEvent, deadline: Deadline, logger: Logger) async -> (CustomResourceResponse, StageLoggingOutcome) {
        let aws: Result<AWSClient, ConfigurationProblems>
        do { aws = .success(try AWSClient.fromEnvironment(environment, http: http)) } catch { aws = .failure(error) }
        return await StageLoggingResource.run(request, aws: aws, deadline: deadline, logger: logger)
    }
}
