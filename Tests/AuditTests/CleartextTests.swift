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
