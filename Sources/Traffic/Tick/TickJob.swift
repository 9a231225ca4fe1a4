// One tick, wired: the parts built from the settings once per sandbox (store, discovery, pager, sink, the shared
// FilterLogEvents budget, the Flex sources) and `run`, which gathers the log groups and reads them.
import AWS
import Core
import HTTP
import Pipeline

public struct TickJob: Sendable {
    public let config: TrafficConfiguration
    let discovery: any APIDiscovery
    let pager: any LogEventPager
    let store: any CheckpointStore
    let sink: any BatchSink
    let limiter: RateLimiter
    let filter: TransactionFilter
    /// `FLEX_SOURCE=cloudwatch`: the Flex Gateway log groups to poll beside API Gateway's.
    let flexGroups: FlexLogGroupSource?
    /// `FLEX_SOURCE=anypoint-archive`: the Anypoint Monitoring archive client (its token and pace live as long as the
    /// sandbox).
    let flexArchive: AnypointArchiveClient?
    /// Where transactions go, for the summary's wording (`--dry-run` sends nothing and commits nothing).
    let sinkKind: TickSinkKind
    /// `DELIVERY_MODE=subscription`: the log groups the `awslogs` function gets pushed, which the tick does not poll.
    let subscribed: SubscribedLogGroups?

    /// Everything the tick needs, from its settings (`environment`, parsed once): every problem at once.
    public init(environment env: [String: String], logger: Logger, defaultStateURI: StateURI? = nil, dryRun: Bool = false)
        throws(ConfigurationProblems) {
        config = try TrafficSetup.configuration(env)
        // One HTTP client (one curl multi thread) for AWS, UAP and the Anypoint archive.
        let http = try HTTPClient.configured(environment: env, logger: logger)
        let aws = try TrafficSetup.awsClient(env, http: http, logger: logger)
        guard let state = config.stateURI ?? defaultStateURI else {
            throw ConfigurationProblems(["STATE_URI is not set (s3://bucket/prefix in Lambda, file:///path locally)"])
        }
        let real: any CheckpointStore
        switch state {
        case .s3(let bucket, let prefix):
            real = S3CheckpointStore(s3: S3Client(aws), bucket: bucket, prefix: prefix)
        case .file(let path):
            do { real = try FileCheckpointStore(directory: path) } catch { throw ConfigurationProblems([error.description]) }
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
            throw ConfigurationProblems(["DELIVERY_MODE=subscription needs STAGE_LOGGING_STATE_URI (the enable-logging record, which lists the subscribed log groups)"])
        }
        flexGroups = config.flex.source == .cloudwatch
            ? FlexLogGroupSource(config.flex.logGroups, logs: CloudWatchLogsClient(aws), cacheSeconds: config.apiListCacheSeconds) : nil
        if let archive = config.flex.archive {
            guard let secret = archive.secret.source(aws: aws) else {
                throw ConfigurationProblems(["ANYPOINT_CLIENT_SECRET_ARN needs AWS credentials and a region"])
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
            sink = try TrafficSetup.sink(config, http: http, logger: logger, aws: aws)
            if case .ndjson = config.delivery { sinkKind = .ndjson } else { sinkKind = .uap }
        }
        // One budget for the life of the sandbox: FilterLogEvents' quota is per account and region.
        limiter = RateLimiter(perSecond: config.logsRequestsPerSecond)
    }

    /// Discovers (or lists) the log groups, polls them and the Flex sources, and returns the summary. `accountId` is
    /// the configured one or the function's own; `toolVersion` goes into the Edge records.
    public func run(accountId: AWSAccountID?, deadline: Deadline, logger: Logger, toolVersion: String) async -> TickSummary {
        let started = EpochMillis.now()
        let settings = TickSettings(
            region: config.region, accountId: accountId, overlapMs: Int64(config.pollOverlapSeconds) * 1000,
            lagMs: Int64(config.pollLagSeconds) * 1000, initialLookbackMs: Int64(config.initialLookbackSeconds) * 1000,
            incompleteMaxAgeMs: Int64(config.incompleteMaxAgeSeconds) * 1000, maxBatchBytes: config.maxBatchBytes,
            maxBatchTransactions: config.maxBatchTransactions, encoding: config.encoding(toolVersion: toolVersion),
            pullMarginMs: Int64(config.deadlineMarginSeconds) * 1000, flex: config.flex.stitcherOptions())
        let runner = TickRunner(settings: settings, pager: pager, store: store, sink: sink, limiter: limiter, filter: filter,
                                logger: logger)
        // What to poll: API Gateway's stages (discovered or listed) and the Flex log groups. A source that cannot be
        // listed is reported; the others are still read.
        var targets: [LogGroupTarget] = []
        var notes: [String] = []
        var listingErrors: [String] = []
        if config.enableRest || config.enableHTTP {
            do {
                let found = try await discovery.discover(rest: config.enableRest, http: config.enableHTTP, deadline: deadline)
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
                for t in try await flexGroups.targets(deadline: deadline) {
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
                let split = SubscribedLogGroups.split(targets, pushed: try await subscribed.groups(deadline: deadline))
                targets = split.poll
                pushed = split.pushed
            } catch {
                notes.append("DELIVERY_MODE=subscription: the subscribed log groups could not be read (\(error)); every log group is polled this run")
            }
        }
        var summary = await runner.run(targets: targets, deadline: deadline, now: started)
        summary.sink = sinkKind
        if subscribed != nil {
            summary.deliveryMode = DeliveryMode.subscription.rawValue
            summary.pushedLogGroups = pushed
        }
        if let flexArchive, let archive = config.flex.archive {
            let source = FlexArchiveSource(client: flexArchive, archive: archive, store: store, sink: sink, filter: filter, logger: logger)
            for environment in archive.environmentIDs {
                let outcome = await source.run(environment: environment, settings: settings, deadline: deadline, now: started)
                summary.groups.append(outcome)
                for note in outcome.notes where !summary.notes.contains(note) { summary.notes.append(note) }
            }
        }
        summary.durationMs = EpochMillis.now().value - started.value
        // Discovery's notes first, then those of the log groups (the runner's own must not be overwritten).
        summary.notes = notes + summary.notes
        if !listingErrors.isEmpty { summary.discoveryError = listingErrors.joined(separator: "; ") }
        return summary
    }
}
