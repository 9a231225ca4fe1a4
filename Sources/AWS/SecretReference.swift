// A secret setting: the value itself (`NAME`) or a Secrets Manager secret holding it (`NAME_ARN`), for the UAP
// client secret, the Anypoint client secret and the audit collector token alike.
import HTTP
import Core

public enum SecretReference: Sendable, CustomStringConvertible {
    case value(String)
    /// A Secrets Manager ARN (or name), read on first use.
    case secretsManager(String)

    /// Never the value.
    public var description: String {
        switch self {
        case .value: return "***"
        case .secretsManager(let arn): return arn
        }
    }

    public var needsAWS: Bool { if case .secretsManager = self { return true }; return false }

    /// Where the secret comes from: the value, or Secrets Manager through `aws` (nil when `aws` is needed and
    /// missing). The caller's `CachedSecret` or token provider keeps what was read.
    public func source(aws: AWSClient?) -> CachedSecret.Source? {
        switch self {
        case .value(let value): return { value }
        case .secretsManager(let arn):
            guard let aws else { return nil }
            let secrets = SecretsManagerClient(aws)
            return {
                do { return try await secrets.getSecretValue(secretId: arn).value } catch {
                    throw AWSSecretError(description: "reading the secret \(arn) from Secrets Manager failed: \(error)")
                }
            }
        }
    }
}

public struct AWSSecretError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension SettingParser {
    /// `NAME_ARN` (wins) or `NAME`; nil when neither is set.
    public mutating func secret(_ name: String) -> SecretReference? {
        if let arn = string(name + "_ARN") { return .secretsManager(arn) }
        return string(name).map { .value($0) }
    }
}
