// Names the Lambda Runtime API (2018-06-01) uses on the wire.

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
    static func segment(_ id: String) -> String {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for b in id.utf8 {
            let unreserved = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            if unreserved { out.append(b) } else { out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0x0F)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
