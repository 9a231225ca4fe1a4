// The AWS services apitap talks to: their signing names, endpoint prefixes and endpoint-override variables.

/// One AWS service as the signer and the endpoint resolver see it.
public struct AWSService: Sendable, Hashable, CustomStringConvertible {
    /// The SigV4 service name in the credential scope (`logs`, `apigateway`, `s3`, `secretsmanager`).
    public let signingName: String
    /// The first label of the regional host name (`logs` in `logs.eu-west-1.amazonaws.com`).
    public let endpointPrefix: String
    /// The suffix of the SDKs' per-service override variable (`AWS_ENDPOINT_URL_<suffix>`): the service id,
    /// upper-cased, spaces as underscores.
    public let environmentSuffix: String
    /// For errors and logs.
    public let displayName: String

    public init(signingName: String, endpointPrefix: String, environmentSuffix: String, displayName: String) {
        self.signingName = signingName
        self.endpointPrefix = endpointPrefix
        self.environmentSuffix = environmentSuffix
        self.displayName = displayName
    }

    public var description: String { displayName }

    /// S3 signs the path as sent (no second encoding, no normalisation) and always sends `x-amz-content-sha256`.
    public var usesS3SigningRules: Bool { signingName == "s3" }

    public static let cloudWatchLogs = AWSService(signingName: "logs", endpointPrefix: "logs",
                                                  environmentSuffix: "CLOUDWATCH_LOGS", displayName: "CloudWatch Logs")
    public static let apiGateway = AWSService(signingName: "apigateway", endpointPrefix: "apigateway",
                                              environmentSuffix: "API_GATEWAY", displayName: "API Gateway")
    /// Same host and signing name as v1; the SDKs give it its own override variable.
    public static let apiGatewayV2 = AWSService(signingName: "apigateway", endpointPrefix: "apigateway",
                                                environmentSuffix: "APIGATEWAYV2", displayName: "API Gateway v2")
    public static let s3 = AWSService(signingName: "s3", endpointPrefix: "s3", environmentSuffix: "S3", displayName: "S3")
    public static let secretsManager = AWSService(signingName: "secretsmanager", endpointPrefix: "secretsmanager",
                                                  environmentSuffix: "SECRETS_MANAGER", displayName: "Secrets Manager")

    public static let all: [AWSService] = [.cloudWatchLogs, .apiGateway, .apiGatewayV2, .s3, .secretsManager]
}
