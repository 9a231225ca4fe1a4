// From settings to the parts the tick and awslogs run on: the configuration, the sink, the AWS client.
import AWS
import Core
import HTTP
import Pipeline

/// Builds what the traffic handlers run on from their settings; every problem is a `ConfigurationProblems`.
public enum TrafficSetup {
    /// Parses the traffic settings, or every problem found.
    public static func configuration(_ env: [String: String]) throws(ConfigurationProblems) -> TrafficConfiguration {
        let (config, problems) = TrafficConfiguration.parse(env)
        guard let config else { throw ConfigurationProblems(problems) }
        return config
    }

    /// The sink the configuration names: UAP (with its token provider) or NDJSON. `aws` resolves a secret ARN.
    public static func sink(_ config: TrafficConfiguration, http client: HTTPClient, logger: Logger,
                            aws: AWSClient? = nil) throws(ConfigurationProblems) -> any BatchSink {
        switch config.delivery {
        case .ndjson(let path):
            do { return try NDJSONSink(path: path) } catch { throw ConfigurationProblems([error.description]) }
        case .uap(let uap):
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
    public static func secretSource(_ reference: SecretReference, aws: AWSClient?) throws(ConfigurationProblems) -> CachedSecret.Source {
        guard let source = reference.source(aws: aws) else {
            throw ConfigurationProblems(["UAP_CLIENT_SECRET_ARN needs AWS credentials and a region"])
        }
        return source
    }

    /// The AWS client on `http`, logging each retry at INFO (with its reason and wait) and each request at DEBUG.
    public static func awsClient(_ env: [String: String], http: HTTPClient, logger: Logger? = nil) throws(ConfigurationProblems) -> AWSClient {
        var client = try AWSClient.fromEnvironment(env, http: http)
        if let logger {
            client.onRetry = { error, wait in
                logger.info("AWS call will be retried", [("service", .string(error.service)), ("operation", .string(error.operation)),
                                                         ("reason", .string(error.code)), ("waitMs", .int(wait.milliseconds))])
            }
        }
        return client
    }
}
