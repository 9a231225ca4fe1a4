// Secrets Manager: read one secret's string (the UAP client secret), which never prints.
import HTTP
import Core

/// A secret value. `description`, `debugDescription` and reflection (`dump`) show no part of it.
public struct SecretString: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

public struct SecretsManagerClient: Sendable {
    public let aws: AWSClient

    public init(_ aws: AWSClient) { self.aws = aws }

    /// The `SecretString` of the current version. A secret stored as binary only is an error (apitap's secrets are
    /// strings).
    public func getSecretValue(secretId: String, deadline: Deadline = .distant) async throws(AWSError) -> SecretString {
        var w = JSONWriter()
        w.beginObject()
        w.field("SecretId", secretId)
        w.endObject()
        let body = try await aws.jsonCall(.secretsManager, targetPrefix: "secretsmanager", operation: "GetSecretValue",
                                          body: w.bytes, deadline: deadline)
        // Only the one member is read; the parse error (if any) carries an offset, never the content.
        var secret: String?
        do {
            try JSONScanner.scan(body) { (scanner: inout JSONScanner) throws(JSONParseError) in
                try scanner.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
                    if key == "SecretString" { secret = try s.readStringOrNull() } else { try s.skipValue() }
                }
            }
        } catch {
            throw AWSError.invalidResponse(.secretsManager, "GetSecretValue", "the answer is not JSON (at byte \(error.offset))")
        }
        guard let secret else {
            throw AWSError.invalidResponse(.secretsManager, "GetSecretValue", "secret \(secretId) has no SecretString (binary secrets are not supported)")
        }
        return SecretString(secret)
    }
}
