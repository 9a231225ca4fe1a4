// The health summary: secrets hidden by name, and credentials inside every URL of a setting (issue 11).
import LambdaRuntime
import Testing

@Suite struct HealthRedactionTests {
    @Test func everyURLInACommaListLosesItsCredentials() {
        let env = ["AUDIT_SINKS": "https://a:b@collector.example/x?token=t0p,syslog+tls://c:d@siem:6514",
                   "UAP_TOKEN_URL": "https://auth.example/t?client_secret=zz", "UAP_CLIENT_SECRET": "hunter2hunter2",
                   "UAP_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "NOT_OURS": "https://q:r@x"]
        let summary = ConfigurationSummary(prefixes: ["UAP_", "AUDIT_"]).redacted(env)
        let text = summary.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        for secret in ["a:b", "t0p", "c:d", "zz", "hunter2hunter2", "q:r"] { #expect(!text.contains(secret), "\(secret) shown:\n\(text)") }
        #expect(text.contains("secret:x"), "an ARN naming a secret is shown")
        #expect(!summary.contains { $0.0 == "NOT_OURS" })
    }
}
