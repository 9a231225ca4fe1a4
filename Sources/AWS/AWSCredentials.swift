// AWS credentials: an access key pair, a session token for temporary ones and when they expire; the secret never prints.
import Core

/// An access key pair and, for temporary credentials (Lambda's execution role, an assumed role), a session token.
/// `description` shows the access key id only: the secret and the token never reach a log line or an error.
public struct AWSCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?
    /// When temporary credentials stop working (STS, the container endpoint and IMDS say); nil when unknown or never.
    public let expiration: EpochMillis?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: EpochMillis? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken.flatMap { $0.isEmpty ? nil : $0 }
        self.expiration = expiration
    }

    /// Masks the secret parts in every later log line and answer (an endpoint or proxy may echo a request).
    func registeringSecrets() -> AWSCredentials {
        SecretRedactor.shared.register(secretAccessKey)
        if let sessionToken { SecretRedactor.shared.register(sessionToken) }
        return self
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set, `AWS_SESSION_TOKEN`. Every missing variable is
    /// named in one error.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigurationProblems) -> AWSCredentials {
        var problems: [String] = []
        let id = environment["AWS_ACCESS_KEY_ID"].map(trimmed) ?? ""
        let secret = environment["AWS_SECRET_ACCESS_KEY"].map(trimmed) ?? ""
        if id.isEmpty { problems.append("AWS_ACCESS_KEY_ID is not set") }
        if secret.isEmpty { problems.append("AWS_SECRET_ACCESS_KEY is not set") }
        // Header values must not carry line breaks; a pasted key with one would otherwise fail obscurely.
        if id.contains(where: \.isNewline) || secret.contains(where: \.isNewline) {
            problems.append("AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY contains a line break")
        }
        let token = environment["AWS_SESSION_TOKEN"].map(trimmed)
        if let token, token.contains(where: \.isNewline) { problems.append("AWS_SESSION_TOKEN contains a line break") }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        // The session token travels in X-Amz-Security-Token: an endpoint or proxy that echoes the request must not
        // put it (or the secret key) into a log line or an answer.
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token).registeringSecrets()
    }

    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: <redacted>"
            + (sessionToken == nil ? ")" : ", sessionToken: <redacted>)")
    }

    public var debugDescription: String { description }
}

func trimmed(_ s: String) -> String {
    var view = Substring(s)
    while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
    while let last = view.last, last == " " || last == "\t" || last == "\r" || last == "\n" { view = view.dropLast() }
    return String(view)
}
