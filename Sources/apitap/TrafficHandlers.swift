// Adapters from the Lambda runtime to the traffic pipeline: the `awslogs` handler and the sink it delivers to.
import HTTP
import LambdaRuntime
import Pipeline
import Traffic

enum TrafficSetup {
    /// Parses the traffic settings or fails init with every problem (`Runtime.ConfigInvalid`).
    static func configuration(_ env: [String: String]) throws -> TrafficConfiguration {
        let (config, problems) = TrafficConfiguration.parse(env)
        guard let config else { throw ConfigurationError(problems) }
        return config
    }

    /// The sink the configuration names: UAP (with its token provider) or NDJSON.
    static func sink(_ config: TrafficConfiguration, logger: Logger) throws -> any BatchSink {
        switch config.delivery {
        case .ndjson(let path):
            do { return try NDJSONSink(path: path) } catch { throw ConfigurationError([error.description]) }
        case .uap(let uap):
            let client: HTTPClient
            do { client = try HTTPClient() } catch { throw ConfigurationError(["cannot start the HTTP client: \(error)"]) }
            var tokens: UAPTokenProvider?
            if uap.authEnabled, let tokenURL = uap.tokenURL, let clientID = uap.clientID, let secret = uap.secret {
                tokens = UAPTokenProvider(client: client, tokenURL: tokenURL, clientID: clientID, method: uap.tokenAuthMethod,
                                          secret: try secretSource(secret))
            }
            return UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: uap.transactionsURL, tokens: tokens,
                                                                     maxInFlight: uap.maxInFlight), logger: logger)
        }
    }

    static func secretSource(_ reference: TrafficConfiguration.SecretReference) throws -> UAPTokenProvider.SecretSource {
        switch reference {
        case .value(let value): return { value }
        case .secretsManager(let arn):
            throw ConfigurationError(["UAP_CLIENT_SECRET_ARN (\(arn)) needs the Secrets Manager client, which this build does not have yet; set UAP_CLIENT_SECRET"])
        }
    }
}

/// `awslogs`: CloudWatch Logs subscription events, stitched and delivered as they are pushed.
actor AWSLogsHandler: LambdaHandler {
    private var processor: SubscriptionProcessor
    private let sink: any BatchSink
    private let marginMs: Int64

    init(context: InitContext) throws {
        let config = try TrafficSetup.configuration(context.environment)
        let filter: TransactionFilter
        do { filter = try config.makeFilter() } catch { throw ConfigurationError([error.description]) }
        processor = SubscriptionProcessor(region: config.region, accountId: config.accountId, filter: filter,
                                          maxBatchBytes: config.maxBatchBytes, incompleteMaxAgeSeconds: config.incompleteMaxAgeSeconds)
        sink = try TrafficSetup.sink(config, logger: context.logger)
        marginMs = Int64(config.deadlineMarginSeconds) * 1000
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        let payload: SubscriptionPayload
        do { payload = try SubscriptionPayload.decode(event: event) } catch {
            throw FunctionError("InvalidEvent", error.description)
        }
        // Leave time to answer the Runtime API after the last retry.
        let deadline = Deadline(epoch: context.deadline.epoch.adding(milliseconds: -min(marginMs, 2_000)))
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
