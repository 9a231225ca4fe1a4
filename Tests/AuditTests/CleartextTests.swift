// ANYPOINT_BASE_URL and HTTP collector sinks: plain http only to a real loopback host (issue 11).
import Audit
import Testing

@Suite struct CleartextTests {
    static let base = ["ANYPOINT_CLIENT_ID": "id", "ANYPOINT_CLIENT_SECRET": "s", "AUDIT_SINKS": "file:///tmp/a.ndjson"]

    @Test func aLookalikeLoopbackBaseURLIsRefused() {
        for url in ["http://127.0.0.1@attacker.example", "http://127.0.0.1.attacker.example", "http://localhost.attacker.example"] {
            var env = Self.base; env["ANYPOINT_BASE_URL"] = url
            #expect(AuditConfiguration.parse(env).1.contains { $0.contains("ANYPOINT_BASE_URL must be https://") }, "\(url)")
        }
        var local = Self.base; local["ANYPOINT_BASE_URL"] = "http://[::1]:8080"
        #expect(AuditConfiguration.parse(local).1.isEmpty)
    }

    @Test func aLookalikeLoopbackCollectorIsRefused() {
        var env = Self.base; env["AUDIT_SINKS"] = "http://localhost.attacker.example/collector"
        #expect(AuditConfiguration.parse(env).1.contains { $0.contains("collector URL must be https://") })
        env["AUDIT_SINKS"] = "http://127.0.0.1:8088/collector"
        #expect(AuditConfiguration.parse(env).1.isEmpty)
    }
}

/// Issue 11: a configuration that is wrong everywhere is reported whole, alert rules and CA files included.
@Suite struct InitProblemsTests {
    @Test func everyProblemOfAWrongConfigurationIsListedAtOnce() {
        let (config, problems) = AuditConfiguration.parse([
            "ANYPOINT_BASE_URL": "http://evil.example", "AUDIT_SINKS": "syslog+tls://collector.example:6514",
            "AUDIT_ALERT_RULES": "{bad", "LOG_LEVEL": "loud", "STATE_URI": "file://relative",
            "AUDIT_SYSLOG_CA_FILE": "/nonexistent/ca.pem", "SSL_CERT_FILE": "/nonexistent/bundle.pem", "AUDIT_LAG_SECONDS": "soon",
        ])
        #expect(config == nil)
        let expected = ["LOG_LEVEL must be one of", "ANYPOINT_BASE_URL must be https://", "ANYPOINT_CLIENT_ID is not set",
                        "ANYPOINT_CLIENT_SECRET or ANYPOINT_CLIENT_SECRET_ARN", "AUDIT_SYSLOG_CA_FILE /nonexistent/ca.pem cannot be read",
                        "AUDIT_ALERT_RULES is not JSON", "SSL_CERT_FILE /nonexistent/bundle.pem cannot be read",
                        "file:// needs an absolute directory", "AUDIT_LAG_SECONDS must be a whole number"]
        for text in expected { #expect(problems.contains { $0.contains(text) }, "\(text) missing from \(problems)") }
        #expect(problems.count == expected.count, "\(problems)")
    }

    @Test func alertRulesAreCompiledWithTheOtherSettings() {
        var env = CleartextTests.base
        env["AUDIT_ALERT_RULES"] = #"{"rules":[{"name":"x","action":"("}]}"#
        #expect(AuditConfiguration.parse(env).1.contains { $0.hasPrefix("AUDIT_ALERT_RULES") })
        env["AUDIT_ALERT_RULES"] = "/nonexistent/rules.json"
        #expect(AuditConfiguration.parse(env).1.contains { $0.contains("cannot read /nonexistent/rules.json") })
        env["AUDIT_ALERT_RULES"] = #"{"includeDefaults":false,"rules":[{"name":"deletions","severity":"warning","action":"Delete"}]}"#
        let (config, problems) = AuditConfiguration.parse(env)
        #expect(problems.isEmpty, "\(problems)")
        #expect(config?.alertRules.map(\.name) == ["deletions"])
        env["AUDIT_ALERT_RULES"] = nil
        #expect(AuditConfiguration.parse(env).0?.alertRules.isEmpty == false)
    }
}
