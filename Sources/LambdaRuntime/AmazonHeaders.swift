// Names the Lambda Runtime API (2018-06-01) uses on the wire.
import Core

public enum AmazonHeaders {
    public static let requestID = "Lambda-Runtime-Aws-Request-Id"
    public static let deadline = "Lambda-Runtime-Deadline-Ms"
    public static let functionARN = "Lambda-Runtime-Invoked-Function-Arn"
    public static let traceID = "Lambda-Runtime-Trace-Id"
    public static let clientContext = "Lambda-Runtime-Client-Context"
    public static let cognitoIdentity = "Lambda-Runtime-Cognito-Identity"
    public static let tenantID = "Lambda-Runtime-Aws-Tenant-Id"
    public static let functionErrorType = "Lambda-Runtime-Function-Error-Type"
    public static let errorContentType = "application/vnd.aws.lambda.error+json"
}

public enum RuntimeAPIPaths {
    public static let version = "2018-06-01"
    public static let next = "/\(version)/runtime/invocation/next"
    public static let initError = "/\(version)/runtime/init/error"
    public static func response(_ id: String) -> String { "/\(version)/runtime/invocation/\(segment(id))/response" }
    public static func error(_ id: String) -> String { "/\(version)/runtime/invocation/\(segment(id))/error" }

    /// The id as one path segment: everything but RFC 3986 unreserved characters percent-encoded, so that even an id
    /// that slipped past validation cannot leave its segment.
    static func segment(_ id: String) -> String { PercentEncoding.encode(id, allowed: .unreserved) }
}
