// The `awslogs` handler: CloudWatch Logs subscription pushes through the traffic pipeline.
import AWS
import LambdaRuntime
import Core
import HTTP
import Pipeline
import Traffic

/// `awslogs`: CloudWatch Logs subscription events, stitched and delivered as they are pushed.
actor AWSLogsHandler: LambdaHandler {
    private var processor: SubscriptionProcessor
    private let sink: any BatchSink
    private let marginMs: Int64

    init(context: InitContext) throws {
        let config = try TrafficSetup.configuration(context.environment)
        processor = SubscriptionProcessor(region: config.region, accountId: config.accountId, filter: config.filter,
                                          maxBatchBytes: config.maxBatchBytes, maxBatchTransactions: config.maxBatchTransactions,
                                          encoding: config.encoding(toolVersion: ApitapVersion.current),
                                          incompleteMaxAgeSeconds: config.incompleteMaxAgeSeconds)
        // One HTTP client for AWS and UAP. The AWS client resolves UAP_CLIENT_SECRET_ARN (the deployed function has no
        // secret in its environment).
        let http = try HTTPClient.configured(environment: context.environment, logger: context.logger)
        sink = try TrafficSetup.sink(config, http: http, logger: context.logger,
                                     aws: try TrafficSetup.awsClient(context.environment, http: http))
        marginMs = Int64(config.deadlineMarginSeconds) * 1000
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        let payload: SubscriptionPayload
        do { payload = try SubscriptionPayload.decode(event: event) } catch {
            throw FunctionError("InvalidEvent", error.description)
        }
        // Leave time to answer the Runtime API after the last retry.
        let deadline = context.deadline.reserving(milliseconds: min(marginMs, 2_000))
        // Invocations of one sandbox never overlap, so taking the processor out and putting it back is safe.
        var working = processor
        let outcome = await working.process(payload, sink: sink, deadline: deadline)
        processor = working
        let summary = outcome.json(logGroup: payload.logGroup.rawValue)
        context.logger.info("awslogs summary", [("summary", .json(summary))])
        guard outcome.delivery.allDelivered else {
            // Failing the invocation makes Lambda deliver the same payload again (ids are stable).
            throw FunctionError("DeliveryFailed", "\(outcome.delivery.failedBatches) batch(es) not acknowledged: "
                                + (outcome.delivery.failures.first ?? ""))
        }
        return summary
    }
}
