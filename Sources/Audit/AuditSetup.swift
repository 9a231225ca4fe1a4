// Builds the exporter the configuration describes: token provider, client, checkpoint store, sinks, alert rules.
import AWS
import Glibc
import HTTP
import Core
import Pipeline

public enum AuditSetup {
    /// Everything, or every problem found (configuration problems are reported together at init).
    public static func exporter(_ config: AuditConfiguration, environment env: [String: String], logger: Logger,
                                defaultStateURI: StateURI? = nil, settings: AuditExportSettings? = nil,
                                rateWindow: Duration = .seconds(60)) throws(ConfigurationProblems) -> AuditExporter {
        var problems: [String] = []
        let http = try HTTPClient.configured(environment: env)

        // AWS is needed only for a secret ARN, an S3 sink or S3 state.
        let state = config.stateURI ?? defaultStateURI
        if state == nil { problems.append("STATE_URI is not set (s3://bucket/prefix in Lambda, file:///path locally)") }
        var needsAWS = config.sinks.contains { if case .s3 = $0 { return true }; return false }
        if config.secret.needsAWS { needsAWS = true }
        if config.httpToken?.needsAWS == true, config.sinks.contains(where: { if case .http = $0 { return true }; return false }) {
            needsAWS = true
        }
        if case .s3? = state { needsAWS = true }
        var aws: AWSClient?
        if needsAWS {
            do { aws = try AWSClient.fromEnvironment(env, http: http) } catch { problems += error.problems }
        }

        let rules = config.alertRules

        let sinks = makeSinks(SinkSettings(targets: config.sinks, httpToken: config.httpToken, syslogFacility: config.syslogFacility,
                                           maxHTTPBatchBytes: config.maxHTTPBatchBytes),
                              baseURL: config.baseURL, environment: env, http: http, aws: aws, problems: &problems)

        var store: (any CheckpointStore)?
        if let state {
            do { store = try state.makeStore(aws: aws) } catch { if aws != nil || !needsAWS { problems.append("STATE_URI: \(error)") } }
        }
        guard problems.isEmpty, let store else { throw ConfigurationProblems(problems) }
        guard let secretSource = config.secret.source(aws: aws) else {
            throw ConfigurationProblems(["ANYPOINT_CLIENT_SECRET_ARN needs AWS credentials and a region"])
        }
        let tokens = AnypointClient.tokenProvider(http: http, baseURL: config.baseURL, clientID: config.clientID, secret: secretSource)
        let client = AnypointClient(baseURL: config.baseURL, http: http, tokens: tokens, requestsPerMinute: config.requestsPerMinute,
                                    rateWindow: rateWindow)
        return AuditExporter(client: client, tokens: tokens, store: store, sinks: sinks, rules: rules,
                             settings: settings ?? AuditExportSettings(config), organizations: config.organizationIDs, logger: logger)
    }

    /// The sinks `settings` names, built once for any job that delivers records (S3 sinks only when `aws` is given;
    /// a caller that needs one checks AWS first). Problems (a RELP sink without librelp) are appended.
    public static func makeSinks(_ settings: SinkSettings, baseURL: String, environment env: [String: String], http: HTTPClient,
                                 aws: AWSClient?, problems: inout [String]) -> [any AuditSink] {
        let host = baseURL.split(separator: "/").dropFirst().first.map(String.init) ?? "-"
        let formatter = SyslogFormatter(facility: settings.syslogFacility, hostname: host)
        var sinks: [any AuditSink] = []
        for target in settings.targets {
            switch target {
            case .syslog(let transport, let h, let port):
                let ca = env["AUDIT_SYSLOG_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? CABundle.resolve(environment: env)
                sinks.append(SyslogSink(transport: transport, host: h, port: port, formatter: formatter, caFile: ca))
            case .relp(let h, let port, let tls):
                // librelp is loaded only now, for a RELP sink; a zip without it is a setup problem, not a page failure.
                if let problem = RelpLibrary.loadProblem() { problems.append("AUDIT_SINKS \(target): \(problem)"); continue }
                let ca = env["AUDIT_SYSLOG_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? CABundle.resolve(environment: env)
                let cert = env["AUDIT_RELP_CERT_FILE"].flatMap { $0.isEmpty ? nil : $0 }
                let key = env["AUDIT_RELP_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
                sinks.append(RelpSink(host: h, port: port, tls: tls ? RelpTLS(caFile: ca, peerName: h, certFile: cert, keyFile: key) : nil,
                                      formatter: formatter))
            case .s3(let bucket, let prefix):
                if let aws { sinks.append(S3Sink(s3: S3Client(aws), bucket: bucket, prefix: prefix)) }
            case .http(let url):
                let token = settings.httpToken?.source(aws: aws).map { CachedSecret($0) }
                sinks.append(HTTPCollectorSink(url: url, tokenSource: token, client: http, maxBatchBytes: settings.maxHTTPBatchBytes))
            case .file(let path):
                sinks.append(FileSink(path: path))
            }
        }
        return sinks
    }
}

