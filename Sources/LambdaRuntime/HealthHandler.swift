// The `health` handler: version, handler list and a redacted summary of the configuration the process sees.
import Core

public struct HealthHandler: LambdaHandler {
    public let version: String
    public let handlers: [String]
    /// Which settings the answer shows (the application's own), secrets hidden.
    public let summary: ConfigurationSummary

    public init(version: String, handlers: [String], summary: ConfigurationSummary) {
        self.version = version
        self.handlers = handlers
        self.summary = summary
    }

    public func handle(_ event: [UInt8], context: InvocationContext) async throws -> [UInt8] {
        // Any JSON is a valid health probe; anything else is a caller's mistake worth telling apart.
        if !event.isEmpty {
            do { _ = try JSONReader.parse(event) } catch {
                throw FunctionError("InvalidEvent", "the event is not JSON: \(error)")
            }
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("status", "ok")
        w.field("version", version)
        w.key("handlers"); w.beginArray(); for h in handlers { w.string(h) }; w.endArray()
        w.field("requestId", context.requestID.value)
        w.field("remainingTimeMs", context.deadline.remainingMilliseconds())
        w.key("configuration")
        w.beginObject()
        for (key, value) in summary.redacted(context.environment) { w.field(key, value) }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

/// Which settings the summary shows (the application says: by prefix and by name), and how secrets are hidden.
public struct ConfigurationSummary: Sendable {
    public var prefixes: [String]
    public var names: Set<String>
    /// The runtime's own settings, always shown.
    public static let runtimeNames: Set<String> = ["AWS_REGION", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME",
                                                   "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                                   "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "_HANDLER", "SSL_CERT_FILE"]
    static let secretWords = ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE"]

    public init(prefixes: [String], names: Set<String> = []) {
        self.prefixes = prefixes
        self.names = names.union(Self.runtimeNames)
    }

    /// The settings shown, sorted by name; secret values become `***` (an ARN naming a secret is shown).
    public func redacted(_ env: [String: String]) -> [(String, String)] {
        env.filter { key, _ in names.contains(key) || prefixes.contains { key.hasPrefix($0) } }
            .map { key, value in (key, Self.redact(key: key, value: value)) }
            .sorted { $0.0 < $1.0 }
    }

    public static func redact(key: String, value: String) -> String {
        let upper = key.uppercased()
        if upper.hasSuffix("_ARN") { return value }
        if secretWords.contains(where: { upper.contains($0) }) || upper.hasSuffix("_KEY") { return value.isEmpty ? "" : "***" }
        // Credentials in URLs: user:pass@ and token-like query parameters, in every URL of a comma list.
        return URLParts.redactingCredentials(value)
    }
}
