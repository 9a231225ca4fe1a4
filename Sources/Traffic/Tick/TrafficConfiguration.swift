// The tick's and awslogs' settings, parsed once from the environment into typed values, every problem reported at once.
import AWS
import HTTP
import Core

public struct TrafficConfiguration: Sendable {
    public enum Delivery: Sendable {
        case uap(UAP)
        /// `SEND_TO_UAP=false`: NDJSON to stdout, or to `OUTPUT_FILE`.
        case ndjson(path: String?)
    }

    public struct UAP: Sendable {
        public var transactionsURL: String
        public var authEnabled: Bool
        public var tokenURL: String?
        public var clientID: String?
        public var secret: SecretReference?
        public var tokenAuthMethod: TokenAuthMethod
        public var maxInFlight: Int
        public var payloadFormat: PayloadFormat
        public var contentEncoding: ContentEncoding
    }

    public var region: AWSRegion
    public var accountId: AWSAccountID?
    public var enableRest: Bool
    public var enableHTTP: Bool
    public var autoDiscovery: Bool
    public var apiList: String?
    public var apiListCacheSeconds: Int
    public var pollOverlapSeconds: Int
    public var pollLagSeconds: Int
    public var logsRequestsPerSecond: Double
    public var incompleteMaxAgeSeconds: Int
    /// Where a log group without a checkpoint starts reading: this long before now.
    public var initialLookbackSeconds: Int
    public var contentTypeRegex: String?
    public var excludedExtensionsRegex: String?
    /// The content-type and extension filter, compiled once from the two patterns above.
    public var filter: TransactionFilter
    public var maxBatchBytes: Int
    public var maxBatchTransactions: Int
    /// Sent for a required Edge address the logs do not give (`UAP_EDGE_UNKNOWN_IP`).
    public var edgeUnknownAddress: String
    public var delivery: Delivery
    public var stateURI: StateURI?
    /// Stop pulling when less than this is left before the deadline.
    public var deadlineMarginSeconds: Int
    /// The Flex Gateway source (`FLEX_SOURCE`, off by default).
    public var flex: FlexConfiguration
    /// `DELIVERY_MODE`: poll every API Gateway log group (default), or leave those with apitap's subscription filter
    /// to the `awslogs` function.
    public var deliveryMode: DeliveryMode = .poll
    /// `STAGE_LOGGING_STATE_URI`: the enable-logging record, which lists the subscribed log groups.
    public var stageLoggingStateURI: S3ObjectLocation?

    /// Parses and validates; returns the configuration, or nil with every problem found.
    public static func parse(_ env: [String: String]) -> (TrafficConfiguration?, [String]) {
        var p = SettingParser(env)
        let config = read(&p)
        return p.problems.isEmpty ? (config, []) : (nil, p.problems)
    }

    /// The settings the tick reads with `env` (some are read only when others say so: UAP's when `SEND_TO_UAP` is
    /// true, the archive's when `FLEX_SOURCE=anypoint-archive`), each with its default and values.
    public static func declaredSettings(_ env: [String: String] = [:]) -> [SettingDeclaration] {
        var p = SettingParser(env)
        _ = read(&p)
        return p.declared
    }

    private static func read(_ p: inout SettingParser) -> TrafficConfiguration {
        let env = p.env
        let region = p.string("AWS_REGION") ?? p.string("AWS_DEFAULT_REGION")
        if region == nil { p.problems.append("AWS_REGION is not set") }
        let enableRest = p.bool("ENABLE_REST_APIS", default: true)
        let enableHTTP = p.bool("ENABLE_HTTP_APIS", default: true)
        let flex = FlexConfiguration.parse(&p)
        if !enableRest && !enableHTTP && !flex.enabled {
            p.problems.append("ENABLE_REST_APIS and ENABLE_HTTP_APIS are both false and FLEX_SOURCE is none: nothing to do")
        }
        let autoDiscovery = p.bool("API_AUTO_DISCOVERY", default: true)
        let apiList = p.string("API_LIST")
        if !autoDiscovery && apiList == nil { p.problems.append("API_LIST is required when API_AUTO_DISCOVERY=false") }
        if let apiList, !apiList.hasPrefix("s3://"), !apiList.hasPrefix("["), !apiList.hasPrefix("{") {
            p.problems.append("API_LIST must be inline JSON or an s3:// URI")
        } else if let apiList, !apiList.hasPrefix("s3://") {
            // An inline list is read now, so that a typo fails init with the other problems, not the first tick.
            do { _ = try APIList.parse(Array(apiList.utf8), region: AWSRegion(region ?? "us-east-1")) } catch {
                p.problems.append("API_LIST: \(error)")
            }
        }
        let sendToUAP = p.bool("SEND_TO_UAP", default: true)
        var delivery: Delivery = .ndjson(path: p.string("OUTPUT_FILE"))
        if sendToUAP {
            let url = p.url("UAP_TRANSACTIONS_URL", required: true)
            let auth = p.bool("UAP_AUTH_ENABLED", default: true)
            var tokenURL: String?, clientID: String?, secret: SecretReference?
            if auth {
                tokenURL = p.url("UAP_TOKEN_URL", required: true)
                clientID = p.string("UAP_CLIENT_ID")
                if clientID == nil { p.problems.append("UAP_CLIENT_ID is required when UAP_AUTH_ENABLED=true") }
                secret = p.secret("UAP_CLIENT_SECRET")
                if secret == nil { p.problems.append("UAP_CLIENT_SECRET or UAP_CLIENT_SECRET_ARN is required when UAP_AUTH_ENABLED=true") }
            }
            let method = p.choice("UAP_TOKEN_AUTH_METHOD", default: TokenAuthMethod.body)
            let inFlight = p.int("UAP_MAX_IN_FLIGHT", default: 4, range: 1...32)
            let format = p.choice("UAP_PAYLOAD_FORMAT", default: PayloadFormat.edge)
            let encoding = p.choice("UAP_CONTENT_ENCODING", default: ContentEncoding.identity)
            if let url { delivery = .uap(UAP(transactionsURL: url, authEnabled: auth, tokenURL: tokenURL, clientID: clientID,
                                              secret: secret, tokenAuthMethod: method, maxInFlight: inFlight,
                                              payloadFormat: format, contentEncoding: encoding)) }
        }
        var stateURI: StateURI?
        if let text = p.string("STATE_URI") {
            // Checked with every other setting, before anything is created.
            do { stateURI = try StateURI.parse(text) } catch { p.problems.append(error.description) }
        }
        let contentType = p.string("CONTENT_TYPE_REGEX", keepEmpty: true, default: TransactionFilter.defaultContentTypePattern)
        let excluded = p.string("EXCLUDED_EXTENSIONS_REGEX", keepEmpty: true, default: TransactionFilter.defaultExcludedExtensionsPattern)
        var filter: TransactionFilter?
        do { filter = try TransactionFilter(contentTypePattern: contentType, excludedExtensionsPattern: excluded) } catch {
            p.problems.append(error.description)
        }
        if let problem = CABundle.problem(environment: env) { p.problems.append(problem) }
        let unknownAddress = p.string("UAP_EDGE_UNKNOWN_IP", default: EdgeEncodingOptions.defaultUnknownAddress)
        if !IPAddress.isValid(unknownAddress) { p.problems.append("UAP_EDGE_UNKNOWN_IP must be an IPv4 or IPv6 address") }
        let deliveryMode = p.choice("DELIVERY_MODE", default: DeliveryMode.poll)
        var stageLoggingState: S3ObjectLocation?
        if let uri = p.string("STAGE_LOGGING_STATE_URI") {
            stageLoggingState = S3ObjectLocation.parse(uri)
            if stageLoggingState == nil { p.problems.append("STAGE_LOGGING_STATE_URI must be s3://bucket/key (got '\(uri.prefix(80))')") }
        }
        var config = TrafficConfiguration(
            region: AWSRegion(region ?? ""), accountId: p.string("AWS_ACCOUNT_ID").map(AWSAccountID.init),
            enableRest: enableRest, enableHTTP: enableHTTP, autoDiscovery: autoDiscovery, apiList: apiList,
            apiListCacheSeconds: p.int("API_LIST_CACHE_SECONDS", default: 300, range: 0...86_400),
            pollOverlapSeconds: p.int("POLL_OVERLAP_SECONDS", default: 120, range: 0...3_600),
            pollLagSeconds: p.int("POLL_LAG_SECONDS", default: 10, range: 0...600),
            logsRequestsPerSecond: Double(p.int("LOGS_REQUESTS_PER_SECOND", default: 5, range: 1...100)),
            incompleteMaxAgeSeconds: p.int("INCOMPLETE_MAX_AGE_SECONDS", default: 300, range: 10...86_400),
            initialLookbackSeconds: p.int("POLL_INITIAL_LOOKBACK_SECONDS", default: 300, range: 0...86_400 * 14),
            contentTypeRegex: contentType, excludedExtensionsRegex: excluded, filter: filter ?? TransactionFilter.passAll,
            maxBatchBytes: p.int("MAX_BATCH_BYTES", default: 1_048_576, range: 4_096...6_291_456),
            maxBatchTransactions: p.int("MAX_BATCH_TRANSACTIONS", default: 250, range: 1...10_000),
            edgeUnknownAddress: unknownAddress,
            delivery: delivery, stateURI: stateURI,
            deadlineMarginSeconds: p.int("DEADLINE_MARGIN_SECONDS", default: 10, range: 1...300), flex: flex)
        config.deliveryMode = deliveryMode
        config.stageLoggingStateURI = stageLoggingState
        return config
    }

    /// The wire encoding of the configured delivery: the UAP payload format, or native for NDJSON output.
    public func encoding(toolVersion: String) -> TransactionEncoding {
        guard case .uap(let uap) = delivery, uap.payloadFormat == .edge else { return .native }
        return .edge(EdgeEncodingOptions(toolVersion: toolVersion, unknownAddress: edgeUnknownAddress))
    }


}

/// How API Gateway's log lines reach apitap.
public enum DeliveryMode: String, Sendable, CaseIterable {
    /// The tick reads every log group each run.
    case poll
    /// CloudWatch pushes log groups that carry apitap's subscription filter to the `awslogs` function; the tick reads
    /// the rest (and Flex Gateway's).
    case subscription
}
