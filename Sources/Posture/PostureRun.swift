// One audit run: collect, compare, diff against a baseline; the exit code the command line and CI read; and the
// wiring from settings (token provider and client shared with the audit export, AWS only when needed).
import AWS
import Audit
import Core
import Glibc
import HTTP

public struct PostureRunner: Sendable {
    public let collector: Collector
    public let comparator: Comparator
    public let rules: PostureRules

    public init(collector: Collector, rules: PostureRules) {
        self.collector = collector
        self.rules = rules
        comparator = Comparator(rules: rules)
    }

    public func run(deadline: Deadline, baseline: (source: String, report: BaselineReport)? = nil) async -> PostureReport {
        let collection = await collector.collect(deadline: deadline)
        let comparison = comparator.compare(collection)
        var report = PostureReport(collection: collection, comparison: comparison, secretKeys: rules.secretKeys)
        if let baseline {
            report.baseline = BaselineDiff.compute(current: comparison.findings, baseline: baseline.report.findings, source: baseline.source,
                                                   generatedAt: baseline.report.generatedAt, incompleteEnvironments: report.incompleteEnvironments)
        }
        return report
    }
}

/// 0: complete and nothing at or above `failOn`; 1: findings at or above it; 2: the collection is incomplete.
public enum PostureExit {
    public static func code(_ report: PostureReport, failOn: Severity?) -> Int32 {
        guard report.isComplete else { return 2 }
        guard let failOn else { return 0 }
        return report.findings.contains { $0.severity >= failOn } ? 1 : 0
    }
}

/// A baseline named on the command line: a file, or `s3://bucket/key`.
public enum BaselineSource {
    public static func load(_ text: String, aws: AWSClient?, deadline: Deadline) async throws(BaselineError) -> BaselineReport {
        if text.lowercased().hasPrefix("s3://") {
            guard let location = S3ObjectLocation.parse(text) else {
                throw BaselineError("--baseline \(text.prefix(80)) is not s3://bucket/key")
            }
            guard let aws else { throw BaselineError("--baseline \(text.prefix(80)) needs AWS credentials and a region") }
            let object: S3Object?
            do { object = try await S3Client(aws).getObject(bucket: location.bucket, key: location.key, deadline: deadline) }
            catch { throw BaselineError("reading the baseline \(text.prefix(120)) failed: \(error)") }
            guard let object else { throw BaselineError("the baseline \(text.prefix(120)) does not exist") }
            return try BaselineReport.parse(object.body)
        }
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path: text) } catch { throw BaselineError("cannot read the baseline \(text.prefix(120)): \(error)") }
        return try BaselineReport.parse(bytes)
    }
}


public struct PostureSetup: Sendable {
    public let runner: PostureRunner
    public let client: AnypointClient
    public let http: HTTPClient
    public let aws: AWSClient?

    /// `needsAWS` adds AWS (for an s3:// baseline or report location) even when the settings alone do not need it.
    public init(_ config: PostureConfiguration, environment env: [String: String], logger: Logger, needsAWS extraAWS: Bool = false,
                rateWindow: Duration = .seconds(60), retry: RetryPolicy = RetryPolicy(maxAttempts: 6, base: .milliseconds(500), cap: .seconds(20)))
        throws(ConfigurationProblems) {
        var problems: [String] = []
        http = try HTTPClient.configured(environment: env)
        var needsAWS = extraAWS || config.secret.needsAWS || config.sinks.targets.contains { if case .s3 = $0 { return true }; return false }
        if case .s3? = config.reportURI { needsAWS = true }
        if config.sinks.httpToken?.needsAWS == true { needsAWS = true }
        var aws: AWSClient?
        if needsAWS {
            do { aws = try AWSClient.fromEnvironment(env, http: http) } catch { problems += error.problems }
        }
        self.aws = aws
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        guard let secret = config.secret.source(aws: aws) else { throw ConfigurationProblems(["ANYPOINT_CLIENT_SECRET_ARN needs AWS credentials and a region"]) }
        let tokens = AnypointClient.tokenProvider(http: http, baseURL: config.baseURL, clientID: config.clientID, secret: secret)
        client = AnypointClient(baseURL: config.baseURL, http: http, tokens: tokens, requestsPerMinute: config.requestsPerMinute,
                                rateWindow: rateWindow, retry: retry, serviceUnavailableIsRateWindow: false)
        let reader = APIManagerReader(client: client, rules: config.rules)
        runner = PostureRunner(collector: Collector(reader: reader, settings: config.collectionSettings, logger: logger), rules: config.rules)
    }
}
