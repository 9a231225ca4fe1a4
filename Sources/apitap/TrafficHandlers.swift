// Adapters from the Lambda runtime to the traffic pipeline: the `awslogs` handler and the sink it delivers to.
import AWS
import HTTP
import LambdaRuntime
import Core
import Pipeline
import Traffic

enum TrafficSetup {
    /// Parses the traffic settings or fails init with every problem (`Runtime.ConfigInvalid`).
    static func configuration(_ env: [String: String]) throws -> TrafficConfiguration {
        let (config, problems) = TrafficConfiguration.parse(env)
        guard let config else { throw ConfigurationError(problems) }
        return config
    }

    /// The sink the configuration names: UAP (with its token provider) or NDJSON. `aws` resolves a secret ARN.
    static func sink(_ config: TrafficConfiguration, logger: Logger, aws: AWSClient? = nil) throws -> any BatchSink {
        switch config.delivery {
        case .ndjson(let path):
            do { return try NDJSONSink(path: path) } catch { throw ConfigurationError([error.description]) }
        case .uap(let uap):
            let client: HTTPClient
            do { client = try HTTPClient(logger: logger) } catch { throw ConfigurationError(["cannot start the HTTP client: \(error)"]) }
            var tokens: ClientCredentialsTokenProvider?
            if uap.authEnabled, let tokenURL = uap.tokenURL, let clientID = uap.clientID, let secret = uap.secret {
                tokens = ClientCredentialsTokenProvider(service: "UAP", client: client, tokenURL: tokenURL, clientID: clientID,
                                                        method: uap.tokenAuthMethod, secret: try secretSource(secret, aws: aws))
            }
            return UAPSink(client: client, settings: UAPSinkSettings(transactionsURL: uap.transactionsURL, tokens: tokens,
                                                                     maxInFlight: uap.maxInFlight,
                                                                     contentEncoding: uap.contentEncoding), logger: logger)
        }
    }

    /// Where the UAP client secret comes from; a Secrets Manager secret is read on first use, then kept in memory.
    static func secretSource(_ reference: SecretReference, aws: AWSClient?) throws -> CachedSecret.Source {
        guard let source = reference.source(aws: aws) else {
            throw ConfigurationError(["UAP_CLIENT_SECRET_ARN needs AWS credentials and a region"])
        }
        return source
    }

    /// The AWS client, logging each retry at INFO (with its reason and wait) and each request at DEBUG.
    static func awsClient(_ env: [String: String], logger: Logger? = nil) throws -> AWSClient {
        do {
            let http = try HTTPClient(logger: logger)
            var client = try AWSClient.fromEnvironment(env, http: http)
            if let logger {
                client.onRetry = { error, wait in
                    logger.info("AWS call will be retried", [("service", .string(error.service)), ("operation", .string(error.operation)),
                                                             ("reason", .string(error.code)), ("waitMs", .int(wait.milliseconds))])
                }
            }
            return client
        } catch let e as AWSConfigurationError {
            throw ConfigurationError(e.problems)
        } catch {
            throw ConfigurationError(["cannot start the AWS client: \(error)"])
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
        filter = config.filter
        processor = SubscriptionProcessor(region: config.region, accountId: config.accountId, filter: filter,
                                          maxBatchBytes: config.maxBatchBytes, maxBatchTransactions: config.maxBatchTransactions,
                                          encoding: config.encoding(toolVersion: ApitapVersion.current),
                                          incompleteMaxAgeSeconds: config.incompleteMaxAgeSeconds)
        // The AWS client resolves UAP_CLIENT_SECRET_ARN (the deployed function has no secret in its environment).
        sink = try TrafficSetup.sink(config, logger: context.logger, aws: try TrafficSetup.awsClient(context.environment))
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

/// `tick`: the scheduled job. Discovers (or lists) the log groups, runs one tick over them, logs and returns the summary.
actor TickHandler: LambdaHandler {
    let config: TrafficConfiguration
    let discovery: any APIDiscovery
    let pager: any LogEventPager
    let store: any CheckpointStore
    let sink: any BatchSink
    let limiter: RateLimiter
    let filter: TransactionFilter
    let logger: Logger
    let functionName: String
    /// `FLEX_SOURCE=cloudwatch`: the Flex Gateway log groups to poll beside API Gateway's.
    let flexGroups: FlexLogGroupSource?
    /// `FLEX_SOURCE=anypoint-archive`: the Anypoint Monitoring archive client (its token and pace live as long as the
    /// sandbox).
    let flexArchive: AnypointArchiveClient?
    /// Where transactions go, for the summary's wording (`--dry-run` sends nothing and commits nothing).
    let sinkKind: TickSinkKind
    /// `DELIVERY_MODE=subscription`: the log groups the `awslogs` function gets pushed, which the tick does not poll.
    let subscribed: SubscribedLogGroups?

    /// `apitap tick`: the caller prints the summary once, so it is logged at DEBUG and no EMF metrics are written.
    let commandLine: Bool

    init(context: InitContext, defaultStateURI: StateURI? = nil, dryRun: Bool = false, commandLine: Bool = false) throws {
        self.commandLine = commandLine
        let env = context.environment
        config = try TrafficSetup.configuration(env)
        let aws = try TrafficSetup.awsClient(env, logger: context.logger)
        guard let state = config.stateURI ?? defaultStateURI else {
            throw ConfigurationError(["STATE_URI is not set (s3://bucket/prefix in Lambda, file:///path locally)"])
        }
        let real: any CheckpointStore
        switch state {
        case .s3(let bucket, let prefix):
            real = S3CheckpointStore(s3: S3Client(aws), bucket: bucket, prefix: prefix)
        case .file(let path):
            do { real = try FileCheckpointStore(directory: path) } catch { throw ConfigurationError([error.description]) }
        }
        store = dryRun ? ReadOnlyCheckpointStore(real) : real
        filter = config.filter
        if config.autoDiscovery {
            discovery = APIGatewayDiscovery(rest: APIGatewayClient(aws), http: APIGatewayV2Client(aws),
                                            resourceCacheSeconds: config.apiListCacheSeconds)
        } else {
            discovery = APIListSource(config.apiList ?? "[]", s3: S3Client(aws), region: config.region,
                                      cacheSeconds: config.apiListCacheSeconds,
                                      resources: RESTResourcePathCache(APIGatewayClient(aws), v2: APIGatewayV2Client(aws),
                                                                                 cacheSeconds: config.apiListCacheSeconds))
        }
        pager = CloudWatchLogsPager(CloudWatchLogsClient(aws))
        switch (config.deliveryMode, config.stageLoggingStateURI) {
        case (.poll, _): subscribed = nil
        case (.subscription, let location?):
            subscribed = SubscribedLogGroups(s3: S3Client(aws), location: location, cacheSeconds: config.apiListCacheSeconds)
        case (.subscription, nil):
            throw ConfigurationError(["DELIVERY_MODE=subscription needs STAGE_LOGGING_STATE_URI (the enable-logging record, which lists the subscribed log groups)"])
        }
        flexGroups = config.flex.source == .cloudwatch
            ? FlexLogGroupSource(config.flex.logGroups, logs: CloudWatchLogsClient(aws), cacheSeconds: config.apiListCacheSeconds) : nil
        if let archive = config.flex.archive {
            let http: HTTPClient
            do { http = try HTTPClient() } catch { throw ConfigurationError(["cannot start the HTTP client: \(error)"]) }
            guard let secret = archive.secret.source(aws: aws) else {
                throw ConfigurationError(["ANYPOINT_CLIENT_SECRET_ARN needs AWS credentials and a region"])
            }
            let tokens = ClientCredentialsTokenProvider(service: "Anypoint", client: http, tokenURL: archive.baseURL + "/accounts/api/v2/oauth2/token",
                                                        clientID: archive.clientID, secret: secret)
            flexArchive = AnypointArchiveClient(archiveURL: archive.archiveURL, http: http, tokens: tokens,
                                                requestsPerMinute: archive.requestsPerMinute)
        } else {
            flexArchive = nil
        }
        if dryRun {
            sink = DryRunSink()
            sinkKind = .dryRun
        } else {
            sink = try TrafficSetup.sink(config, logger: context.logger, aws: aws)
            if case .ndjson = config.delivery { sinkKind = .ndjson } else { sinkKind = .uap }
        }
        // One budget for the life of the sandbox: FilterLogEvents' quota is per account and region.
        limiter = RateLimiter(perSecond: config.logsRequestsPerSecond)
        logger = context.logger
        functionName = env["AWS_LAMBDA_FUNCTION_NAME"] ?? "apitap"
    }

    func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        try ScheduledEvent.check(event, handler: "tick")
        let started = EpochMillis.now()
        // Lambda does not tell a function its account; the invoked function's ARN does.
        let account = config.accountId ?? context.invokedFunctionARN.flatMap(Self.account(fromARN:)).map(AWSAccountID.init)
        let settings = TickSettings(
            region: config.region, accountId: account, overlapMs: Int64(config.pollOverlapSeconds) * 1000,
            lagMs: Int64(config.pollLagSeconds) * 1000, initialLookbackMs: Int64(config.initialLookbackSeconds) * 1000,
            incompleteMaxAgeMs: Int64(config.incompleteMaxAgeSeconds) * 1000, maxBatchBytes: config.maxBatchBytes,
            maxBatchTransactions: config.maxBatchTransactions, encoding: config.encoding(toolVersion: ApitapVersion.current),
            pullMarginMs: Int64(config.deadlineMarginSeconds) * 1000, flex: config.flex.stitcherOptions())
        let runner = TickRunner(settings: settings, pager: pager, store: store, sink: sink, limiter: limiter, filter: filter,
                                logger: context.logger)
        // What to poll: API Gateway's stages (discovered or listed) and the Flex log groups. A source that cannot be
        // listed is reported; the others are still read.
        var targets: [LogGroupTarget] = []
        var notes: [String] = []
        var listingErrors: [String] = []
        if config.enableRest || config.enableHTTP {
            do {
                let found = try await discovery.discover(rest: config.enableRest, http: config.enableHTTP, deadline: context.deadline)
                targets += found.targets
                notes += found.notes
            } catch {
                listingErrors.append(String(describing: error))
            }
        }
        if let flexGroups {
            do {
                // One checkpoint per log group: a group API Gateway logs to is not also read as Flex.
                let gateway = Set(targets.map(\.logGroup.rawValue))
                for t in try await flexGroups.targets(deadline: context.deadline) {
                    if gateway.contains(t.logGroup.rawValue) {
                        notes.append("log group \(t.logGroup.rawValue) is an API Gateway log group; it is not read as Flex Gateway lines")
                    } else {
                        targets.append(t)
                    }
                }
            } catch {
                listingErrors.append("FLEX_LOG_GROUPS could not be listed: \(error)")
            }
        }
        var pushed: [String] = []
        if let subscribed {
            do {
                let split = SubscribedLogGroups.split(targets, pushed: try await subscribed.groups(deadline: context.deadline))
                targets = split.poll
                pushed = split.pushed
            } catch {
                notes.append("DELIVERY_MODE=subscription: the subscribed log groups could not be read (\(error)); every log group is polled this run")
            }
        }
        var summary = await runner.run(targets: targets, deadline: context.deadline, now: started)
        summary.sink = sinkKind
        if subscribed != nil {
            summary.deliveryMode = DeliveryMode.subscription.rawValue
            summary.pushedLogGroups = pushed
        }
        if let flexArchive, let archive = config.flex.archive {
            let source = FlexArchiveSource(client: flexArchive, archive: archive, store: store, sink: sink, filter: filter, logger: context.logger)
            for environment in archive.environmentIDs {
                let outcome = await source.run(environment: environment, settings: settings, deadline: context.deadline, now: started)
                summary.groups.append(outcome)
                for note in outcome.notes where !summary.notes.contains(note) { summary.notes.append(note) }
            }
        }
        summary.durationMs = EpochMillis.now().value - started.value
        // Discovery's notes first, then those of the log groups (the runner's own must not be overwritten).
        summary.notes = notes + summary.notes
        if !listingErrors.isEmpty { summary.discoveryError = listingErrors.joined(separator: "; ") }
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

    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → ACCOUNT.
    static func account(fromARN arn: String) -> String? {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "arn", parts[4].count == 12, parts[4].allSatisfy(\.isNumber) else { return nil }
        return String(parts[4])
    }
}

/// The tick's metrics, as CloudWatch Embedded Metric Format (namespace `apitap`, dimension FunctionName).
enum EmbeddedMetrics {
    static func emit(_ summary: TickSummary, functionName: String) {
        var events = 0, duplicates = 0, delivered = 0, failed = 0, emitted = 0, filtered = 0, incomplete = 0, retries = 0, sent = 0
        var failedGroups = 0
        for g in summary.groups where !g.isFlex {
            events += g.events; duplicates += g.duplicates
            delivered += g.delivery.deliveredRecords; failed += g.delivery.failedRecords; retries += g.delivery.retries
            sent += g.delivery.bytesSent
            emitted += g.traffic.transactionsEmitted; filtered += g.traffic.filtered.total; incomplete += g.traffic.transactionsIncomplete
            if !g.result.isSuccess { failedGroups += 1 }
        }
        typealias M = EmbeddedMetricFormat.Metric
        var metrics = [
            M("EventsFetched", events), M("DuplicatesSkipped", duplicates), M("TransactionsEmitted", emitted),
            M("TransactionsFiltered", filtered), M("TransactionsIncomplete", incomplete), M("TransactionsDelivered", delivered),
            M("TransactionsFailed", failed), M("DeliveryRetries", retries), M("BytesSent", sent, .bytes),
            M("LogGroupsFailed", failedGroups), M("DurationMs", summary.durationMs, .milliseconds),
        ]
        // Flex Gateway apart, and only when it is on (no zero series for a source nobody uses).
        let flex = summary.groups.filter(\.isFlex)
        if !flex.isEmpty {
            var c = FlexCounters()
            var flexDelivered = 0, flexFailed = 0
            for g in flex {
                c += g.flex ?? FlexCounters()
                flexDelivered += g.delivery.deliveredRecords
                flexFailed += g.delivery.failedRecords
            }
            metrics += [
                M("FlexLinesParsed", c.traffic.linesParsed), M("FlexLinesIgnored", c.ignoredTotal), M("FlexLinesFailed", c.traffic.linesFailed),
                M("FlexTransactionsEmitted", c.traffic.transactionsEmitted), M("FlexTransactionsIncomplete", c.traffic.transactionsIncomplete),
                M("FlexTransactionsNotEncoded", c.traffic.encoding.notEncodedTotal), M("FlexTransactionsDelivered", flexDelivered),
                M("FlexTransactionsFailed", flexFailed), M("FlexSourcesFailed", flex.filter { !$0.result.isSuccess }.count),
            ]
        }
        EmbeddedMetricFormat.emit(EmbeddedMetricFormat.line(timestamp: summary.startedAt,
                                                            dimensions: [("FunctionName", functionName)], metrics: metrics))
    }
}
