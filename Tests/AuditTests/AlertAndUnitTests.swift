// Alert rules on fixture entries, and the small parts: keys, windows, configuration, page decoding, collectors.
import AuditDoubles
import Foundation
import HTTP
import Core
import TestSupport
import Testing
@testable import Audit

/// Fixture entries (NDJSON), named by what they should trigger.
enum AlertFixtures {
    static let failedLogins = (0..<6).map { i in
        "{\"action\":\"Login\",\"failed\":true,\"userName\":\"mallory\",\"timestamp\":\(1_795_000_000_000 + Int64(i) * 30_000),\"platform\":\"accounts\",\"objects\":[{\"objectId\":\"l\(i)\",\"objectType\":\"user\"}]}"
    }
    static let spreadFailedLogins = (0..<6).map { i in
        "{\"action\":\"Login\",\"failed\":true,\"userName\":\"bob\",\"timestamp\":\(1_795_000_000_000 + Int64(i) * 900_000)}"
    }
    static let productionPolicyRemoved = "{\"id\":\"p1\",\"action\":\"Delete\",\"objectType\":\"policy\",\"objectName\":\"rate-limiting\",\"environmentName\":\"Production\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    static let sandboxPolicyRemoved = "{\"id\":\"p2\",\"action\":\"Delete\",\"objectType\":\"policy\",\"environmentName\":\"Sandbox\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    static let productionAppStopped = "{\"id\":\"a1\",\"action\":\"Stop\",\"objectType\":\"application\",\"environmentName\":\"prod-eu\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    static let productionContractRevoked = "{\"id\":\"c1\",\"action\":\"Revoke\",\"objectType\":\"contract\",\"environmentName\":\"Production\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    static let roleGranted = "{\"action\":\"grant\",\"timestamp\":1795000000000,\"objects\":[{\"objectId\":\"r1\",\"objectType\":\"role\"}]}"
    static let connectedAppCreated = "{\"id\":\"ca1\",\"action\":\"Create\",\"objectType\":\"connectedApp\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    static let harmless = "{\"id\":\"h1\",\"action\":\"View\",\"objectType\":\"api\",\"environmentName\":\"Production\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
    /// "Reproduction" must not count as production.
    static let notProduction = "{\"id\":\"n1\",\"action\":\"Delete\",\"objectType\":\"policy\",\"environmentName\":\"reproduction-lab\",\"createdAt\":\"2026-11-22T01:00:00Z\"}"
}

func entry(_ text: String) throws -> AuditEntry { try AuditEntry(raw: Array(text.utf8)) }

@Suite struct AlertTests {
    func alerts(_ texts: [String], rules: [AlertRule]? = nil) throws -> [(rule: String, severity: String, keys: [String])] {
        var evaluator = AlertEvaluator(rules: try rules ?? AlertRuleSet.defaults())
        return try evaluator.evaluate(texts.map(entry), organizationID: "org-1", exportedAt: EpochMillis(1_795_000_000_000)).map { r in
            let json = try JSONReader.parse(r.json)
            return (json["rule"]?.stringValue ?? "", json["severity"]?.stringValue ?? "",
                    (json["entryKeys"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
    }

    @Test func builtInRulesOnFixtures() throws {
        let fired = try alerts(AlertFixtures.failedLogins + [AlertFixtures.productionPolicyRemoved, AlertFixtures.sandboxPolicyRemoved,
                                                               AlertFixtures.productionAppStopped, AlertFixtures.productionContractRevoked,
                                                               AlertFixtures.roleGranted, AlertFixtures.connectedAppCreated,
                                                               AlertFixtures.harmless, AlertFixtures.notProduction])
        let names = fired.map(\.rule)
        #expect(names.filter { $0 == "repeated-failed-logins" }.count == 1)
        #expect(fired.first { $0.rule == "repeated-failed-logins" }?.keys.count == 5)
        #expect(fired.first { $0.rule == "production-policy-changed" }?.keys == ["p1"])
        #expect(names.filter { $0 == "production-policy-changed" }.count == 1, "sandbox or 'reproduction' counted as production")
        #expect(fired.first { $0.rule == "production-application-deployed-or-stopped" }?.keys == ["a1"])
        #expect(fired.first { $0.rule == "production-contract-revoked" }?.keys == ["c1"])
        #expect(fired.first { $0.rule == "production-contract-revoked" }?.severity == "error")
        #expect(fired.filter { $0.rule == "privileges-granted" }.count == 2)
        #expect(!fired.contains { $0.keys.contains("h1") })
    }

    @Test func failedLoginsSpreadOverTimeDoNotFire() throws {
        #expect(try alerts(AlertFixtures.spreadFailedLogins).isEmpty)
    }

    @Test func thresholdStateCarriesAcrossPages() throws {
        var evaluator = AlertEvaluator(rules: try AlertRuleSet.defaults())
        let entries = try AlertFixtures.failedLogins.map(entry)
        #expect(evaluator.evaluate(Array(entries.prefix(3)), organizationID: "o", exportedAt: .now()).isEmpty)
        #expect(evaluator.evaluate(Array(entries.dropFirst(3)), organizationID: "o", exportedAt: .now()).count == 1)
    }

    @Test func thresholdStateCarriesAcrossRunsInTheCheckpoint() throws {
        let rules = try AlertRuleSet.defaults()
        let entries = try AlertFixtures.failedLogins.map(entry)
        var first = AlertEvaluator(rules: rules)
        #expect(first.evaluate(Array(entries.prefix(3)), organizationID: "o", exportedAt: .now()).isEmpty)
        let horizon = EpochMillis(1_795_000_000_000 + 60_000)
        let pending = first.pending(organizationID: "o", horizon: horizon)
        #expect(pending.map(\.user) == ["mallory"] && pending.first?.entries.count == 3)
        #expect(first.pending(organizationID: "other", horizon: horizon).isEmpty)
        // Through the checkpoint's JSON, into the next run's evaluator.
        let bytes = AuditCheckpoint(watermark: horizon, alertPending: pending).encoded(organizationID: "o")
        let decoded = try AuditCheckpoint.decode(bytes)
        #expect(decoded.alertPending == pending)
        var second = AlertEvaluator(rules: rules)
        second.restore(decoded.alertPending, organizationID: "o")
        let fired = second.evaluate(Array(entries.dropFirst(3)), organizationID: "o", exportedAt: .now())
        #expect(fired.count == 1)
        #expect(second.pending(organizationID: "o", horizon: horizon).flatMap(\.entries).count == 1, "the sixth waits for more")
        // Entries older than the window before the horizon are not carried: they can no longer add up.
        #expect(first.pending(organizationID: "o", horizon: EpochMillis(1_795_000_000_000 + 700_000)).isEmpty)
        // A rule that is gone drops what it held.
        var third = AlertEvaluator(rules: rules.filter { $0.name != "repeated-failed-logins" })
        third.restore(pending, organizationID: "o")
        #expect(third.pending(organizationID: "o", horizon: horizon).isEmpty)
    }

    @Test func rulesFileAddsDisablesAndOverrides() throws {
        let file = """
            {"productionPattern": "(?i)^live$", "disable": ["privileges-granted"],
             "rules": [{"name": "any-view", "severity": "warning", "action": "(?i)^view$"},
                       {"name": "live-deletes", "severity": "critical", "action": "(?i)delete", "productionOnly": true}]}
            """
        let set = try AlertRuleSet.parse(Array(file.utf8))
        #expect(!set.rules.contains { $0.name == "privileges-granted" })
        let live = "{\"id\":\"x\",\"action\":\"Delete\",\"objectType\":\"api\",\"environmentName\":\"live\"}"
        let fired = try alerts([AlertFixtures.harmless, AlertFixtures.roleGranted, live, AlertFixtures.productionPolicyRemoved], rules: set.rules)
        #expect(fired.contains { $0.rule == "any-view" && $0.keys == ["h1"] })
        #expect(fired.contains { $0.rule == "live-deletes" && $0.keys == ["x"] })
        #expect(!fired.contains { $0.rule == "live-deletes" && $0.keys == ["p1"] })
        #expect(!fired.contains { $0.rule == "privileges-granted" })
        #expect(throws: AlertRuleError.self) { try AlertRuleSet.parse(Array("{\"rules\":[{\"name\":\"x\",\"action\":\"(\"}]}".utf8)) }
        #expect(throws: AlertRuleError.self) { try AlertRuleSet.parse(Array("{\"rules\":[{\"name\":\"x\",\"severity\":\"info\"}]}".utf8)) }
    }

    @Test func alertRecordsHaveStableKeysAndWarningSeverity() throws {
        var a = AlertEvaluator(rules: try AlertRuleSet.defaults())
        var b = AlertEvaluator(rules: try AlertRuleSet.defaults())
        let x = a.evaluate([try entry(AlertFixtures.productionPolicyRemoved)], organizationID: "o", exportedAt: EpochMillis(1))
        let y = b.evaluate([try entry(AlertFixtures.productionPolicyRemoved)], organizationID: "o", exportedAt: EpochMillis(2))
        #expect(x.count == 1 && x.first?.key == y.first?.key)
        #expect(x.allSatisfy { $0.severity <= .warning && $0.kind == .alert })
    }
}

@Suite struct UnitTests {
    @Test func keysAreIdsOrCanonicalHashes() throws {
        #expect(try entry("{\"id\":\"abc\",\"action\":\"x\"}").key.rawValue == "abc")
        #expect(try entry("{\"id\":42}").key.rawValue == "42")
        let a = try entry("{\"b\":1,\"a\":{\"y\":[1,2,{\"q\":\"é\",\"p\":null}],\"x\":true}}")
        let b = try entry("{ \"a\" : {\"x\":true, \"y\":[1,2,{\"p\":null,\"q\":\"\\u00e9\"}]}, \"b\": 1 }")
        #expect(a.key == b.key && a.key.rawValue.hasPrefix("sha256:"))
        #expect(String(decoding: Canonical.bytes(a.value), as: UTF8.self) == "{\"a\":{\"x\":true,\"y\":[1,2,{\"p\":null,\"q\":\"é\"}]},\"b\":1}")
        #expect(try entry("{\"b\":2,\"a\":{}}").key != a.key)
        #expect(try entry("{\"timestamp\":1490707240999}").timestamp == EpochMillis(1_490_707_240_999))
        #expect(try entry("{\"createdAt\":\"2017-03-28T13:20:40.999Z\"}").timestamp == EpochMillis(1_490_707_240_999))
    }

    @Test func pagesKeepEntriesVerbatim() throws {
        let body = "{\"total\":2, \"data\":[ {\"b\":1,  \"a\":\"x\\\"]}\"} ,{\"id\":\"2\",\"n\":[[],{}]}],\"cursor\":\"abc\"}"
        let page = try AuditPage.decode(Array(body.utf8))
        #expect(page.entries.map { String(decoding: $0, as: UTF8.self) } == ["{\"b\":1,  \"a\":\"x\\\"]}\"}", "{\"id\":\"2\",\"n\":[[],{}]}"])
        #expect(page.cursor == "abc" && page.total == 2)
        let last = try AuditPage.decode(Array("{\"data\":[],\"cursor\":null}".utf8))
        #expect(last.entries.isEmpty && last.cursor == nil)
        #expect(throws: JSONParseError.self) { try AuditPage.decode(Array("{\"data\":[{\"a\":1}".utf8)) }
        #expect(throws: JSONParseError.self) { try AuditPage.decode(Array("{\"data\":{}}".utf8)) }
    }

    @Test func startsAndDurations() {
        #expect(ISODuration.milliseconds("P1D") == 86_400_000)
        #expect(ISODuration.milliseconds("PT6H") == 21_600_000)
        #expect(ISODuration.milliseconds("P1DT1H30M15S") == Int64(91_815_000))
        #expect(ISODuration.milliseconds("P2W") == Int64(1_209_600_000))
        #expect(ISODuration.milliseconds("P1M") == nil)   // months are ambiguous
        #expect(ISODuration.milliseconds("PT") == nil && ISODuration.milliseconds("P1H") == nil)
        #expect(AuditStart.parse("2026-01-01") == .at(EpochMillis.parseISO8601("2026-01-01T00:00:00Z")!))
        #expect(AuditStart.parse("PT6H") == .ago(milliseconds: 21_600_000))
        #expect(AuditStart.parse("yesterday") == nil)
    }

    @Test func configurationReportsEveryProblemAtOnce() {
        let (config, problems) = AuditConfiguration.parse([
            "ANYPOINT_BASE_URL": "ftp://x", "AUDIT_START": "soon", "AUDIT_SINKS": "syslog+tcp://host, gopher://x, s3://A_B",
            "AUDIT_OVERLAP_SECONDS": "-1", "AUDIT_OTEL_ATTRIBUTES": "maybe", "STATE_URI": "/tmp/x",
        ])
        #expect(config == nil)
        for needle in ["ANYPOINT_BASE_URL", "ANYPOINT_CLIENT_ID", "ANYPOINT_CLIENT_SECRET", "AUDIT_START", "needs a port", "unknown sink",
                       "bucket", "AUDIT_OVERLAP_SECONDS", "AUDIT_OTEL_ATTRIBUTES", "STATE_URI"] {
            #expect(problems.contains { $0.contains(needle) }, "no problem mentions \(needle): \(problems)")
        }
    }

    @Test func configurationDefaultsAndControlPlanes() throws {
        let env = ["ANYPOINT_CLIENT_ID": "id", "ANYPOINT_CLIENT_SECRET": "s", "AUDIT_SINKS": "file:///tmp/a.ndjson,syslog+tls://siem.example.com:6514",
                   "ANYPOINT_ORG_IDS": "o1, o2"]
        let (us, p1) = AuditConfiguration.parse(env)
        #expect(p1.isEmpty)
        let c = try #require(us)
        #expect(c.baseURL == "https://anypoint.mulesoft.com" && c.requestsPerMinute == 595 && c.organizationIDs == ["o1", "o2"])
        #expect(c.sinks == [.file(path: "/tmp/a.ndjson"), .syslog(.tls, host: "siem.example.com", port: 6514)])
        var eu = env; eu["ANYPOINT_BASE_URL"] = "https://eu1.anypoint.mulesoft.com/"
        #expect(AuditConfiguration.parse(eu).0?.requestsPerMinute == 34)
        var gov = env; gov["ANYPOINT_BASE_URL"] = "https://gov.anypoint.mulesoft.com"; gov["AUDIT_RATE_LIMIT_PER_MINUTE"] = "20"
        #expect(AuditConfiguration.parse(gov).0?.requestsPerMinute == 20)
        #expect(!c.redactedSummary.contains { $0.1.contains("\"s\"") || $0.1 == "s" })
    }

    @Test func relpSinksParseAndTheirTLSFilesAreCheckedAtOnce() throws {
        let env = ["ANYPOINT_CLIENT_ID": "id", "ANYPOINT_CLIENT_SECRET": "s",
                   "AUDIT_SINKS": "syslog+relp://siem.example.com:2514, SYSLOG+RELP+TLS://[::1]:20514/"]
        let c = try #require(AuditConfiguration.parse(env).0)
        #expect(c.sinks == [.relp(host: "siem.example.com", port: 2514, tls: false), .relp(host: "::1", port: 20514, tls: true)])
        #expect(c.sinks.map(\.description) == ["syslog+relp://siem.example.com:2514", "syslog+relp+tls://::1:20514"])
        var bad = env
        bad["AUDIT_SINKS"] = "syslog+relp://nohost, syslog+relp+tls://siem.example.com:20514"
        bad["AUDIT_SYSLOG_CA_FILE"] = "/nonexistent/ca.pem"
        bad["AUDIT_RELP_CERT_FILE"] = "/nonexistent/client.pem"
        let problems = AuditConfiguration.parse(bad).1
        for needle in ["syslog+relp://host:port needs a port", "AUDIT_SYSLOG_CA_FILE", "AUDIT_RELP_CERT_FILE and AUDIT_RELP_KEY_FILE go together",
                       "AUDIT_RELP_CERT_FILE /nonexistent/client.pem cannot be read"] {
            #expect(problems.contains { $0.contains(needle) }, "no problem mentions \(needle): \(problems)")
        }
    }

    @Test func secretsAndPlainHTTPAreHandledSafely() throws {
        let env = ["ANYPOINT_CLIENT_ID": "id", "ANYPOINT_CLIENT_SECRET": "s", "AUDIT_SINKS": "https://collector.example.com/services/collector"]
        var arn = env; arn["AUDIT_HTTP_TOKEN_ARN"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hec"; arn["AUDIT_HTTP_TOKEN"] = "plain"
        let c = try #require(AuditConfiguration.parse(arn).0)
        guard case .secretsManager(let id)? = c.httpToken else { Issue.record("AUDIT_HTTP_TOKEN_ARN did not win over AUDIT_HTTP_TOKEN"); return }
        #expect(id.hasSuffix(":secret:hec"))
        var plain = env; plain["ANYPOINT_BASE_URL"] = "http://anypoint.example.com"
        #expect(AuditConfiguration.parse(plain).1.contains { $0.contains("ANYPOINT_BASE_URL must be https://") })
        var local = env; local["ANYPOINT_BASE_URL"] = "http://127.0.0.1:8080"
        #expect(AuditConfiguration.parse(local).1.isEmpty)
    }

    @Test func aFileSinkCutsOffAPartialLineLeftByAKilledRun() async throws {
        let dir = try tempDirectory("torn")
        let path = dir + "/out.ndjson"
        let records = try [AlertFixtures.productionPolicyRemoved, AlertFixtures.harmless].map {
            ExportRecord.entry(try entry($0), organizationID: "o", exportedAt: EpochMillis(0), otelAttributes: false)
        }
        let sink = FileSink(path: path)
        #expect(await sink.deliver([records[0]], exportedAt: .now(), deadline: .after(milliseconds: 5_000)).warnings.isEmpty)
        // A killed run wrote part of its next record.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(records[1].json.prefix(25)))
        handle.closeFile()
        let r = await sink.deliver([records[1]], exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(r.ok && r.delivered == 1)
        #expect(r.warnings.count == 1 && r.warnings[0].contains("25 byte"), "\(r.warnings)")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines { #expect((try? JSONReader.parse(Array(line.utf8))) != nil, "not JSON: \(line.prefix(80))") }
        // A file that is nothing but a fragment is emptied first.
        try Data(records[0].json.prefix(10)).write(to: URL(fileURLWithPath: dir + "/fragment.ndjson"))
        let f = await FileSink(path: dir + "/fragment.ndjson").deliver([records[0]], exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(f.ok && f.warnings.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/fragment.ndjson")) == Data(records[0].json + [0x0A]))
    }

    @Test func aRecordTooLongForOneUDPDatagramIsReported() async throws {
        let big = "{\"id\":\"big\",\"action\":\"Update\",\"payload\":\"" + String(repeating: "x", count: 70_000) + "\"}"
        let record = ExportRecord.entry(try entry(big), organizationID: "o", exportedAt: EpochMillis(0), otelAttributes: false)
        let sink = SyslogSink(transport: .udp, host: "127.0.0.1", port: freeLoopbackPort(datagram: true), formatter: SyslogFormatter(hostname: "h"))
        let r = await sink.deliver([record], exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(r.warnings.count == 1 && r.warnings[0].contains("cut to fit one UDP datagram"), "\(r.warnings)")
    }

    @Test func tokensAreRenewedAheadOfTheirExpiry() {
        #expect(ClientCredentialsTokenProvider.renewAfterMs(lifetimeSeconds: 3_600) == 3_540_000)   // a minute early
        #expect(ClientCredentialsTokenProvider.renewAfterMs(lifetimeSeconds: 300) == 270_000)       // a tenth early
        #expect(ClientCredentialsTokenProvider.renewAfterMs(lifetimeSeconds: 20) == 15_000)         // at least 5 s early
        #expect(ClientCredentialsTokenProvider.renewAfterMs(lifetimeSeconds: 4) == 2_000)           // at most half
        #expect(ClientCredentialsTokenProvider.renewAfterMs(lifetimeSeconds: -1) == 0)
    }

    @Test func syslogMessagesFollowRFC5424() throws {
        let e = try entry(AlertFixtures.productionPolicyRemoved)
        let r = ExportRecord.entry(e, organizationID: "o]1", exportedAt: EpochMillis(0), otelAttributes: true)
        let text = String(decoding: SyslogFormatter(facility: 13, hostname: "anypoint.mulesoft.com").format(r, exportedAt: EpochMillis(0)), as: UTF8.self)
        #expect(text.hasPrefix("<108>1 2026-11-22T01:00:00.000Z anypoint.mulesoft.com apitap - Delete [anypointAudit@32473 key=\"p1\" org=\"o\\]1\" kind=\"entry\"] {"))
        let json = try JSONReader.parse(String(text[text.firstIndex(of: "{")!...]))
        #expect(json["attributes"]?["mulesoft.audit.id"]?.stringValue == "p1")
        #expect(json["attributes"]?["mulesoft.audit.action"]?.stringValue == "Delete")
        #expect(SyslogSeverity.of(try entry("{\"action\":\"Login\",\"failed\":true}")) == .warning)
        #expect(SyslogSeverity.of(try entry("{\"action\":\"View\"}")) == .informational)
        #expect(SyslogFormatter.header("a b\u{7F}" + String(repeating: "x", count: 40), max: 32).count == 32)
    }

    @Test func httpCollectorSpeaksHECAndGenericJSON() async throws {
        let received = Locked<[(path: String, auth: String?, body: [UInt8])]>([])
        let server = try LoopbackServer { req in
            received.withLock { $0.append((req.path, req.header("Authorization"), req.body)) }
            return ServerResponse(status: 200, text: "{\"text\":\"Success\",\"code\":0}")
        }
        defer { server.stop() }
        let records = try (0..<5).map { i in
            ExportRecord.entry(try entry("{\"id\":\"k\(i)\",\"action\":\"x\",\"timestamp\":1795000000000}"), organizationID: "o",
                               exportedAt: .now(), otelAttributes: false)
        }
        let hec = HTTPCollectorSink(url: server.baseURL + "/services/collector/event", token: "hec-token", client: sharedHTTP)
        #expect(await hec.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 5_000)).delivered == 5)
        let generic = HTTPCollectorSink(url: server.baseURL + "/ingest", token: "bearer-token", client: sharedHTTP, maxBatchBytes: 4_096)
        #expect(await generic.deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 5_000)).delivered == 5)
        let got = received.value
        #expect(got.count == 2)
        #expect(got[0].auth == "Splunk hec-token" && got[1].auth == "Bearer bearer-token")
        let events = String(decoding: got[0].body, as: UTF8.self).split(separator: "\n").map { try? JSONReader.parse(String($0)) }
        #expect(events.count == 5 && events.allSatisfy { $0?["event"]?["key"] != nil && $0?["time"]?.int64Value == 1_795_000_000 })
        #expect(try JSONReader.parse(got[1].body).arrayValue?.count == 5)

        let refusing = try LoopbackServer { _ in ServerResponse(status: 403, text: "{\"text\":\"Invalid token\"}") }
        defer { refusing.stop() }
        let r = await HTTPCollectorSink(url: refusing.baseURL + "/services/collector", token: "t", client: sharedHTTP)
            .deliver(records, exportedAt: .now(), deadline: .after(milliseconds: 5_000))
        #expect(!r.ok && r.error?.contains("403") == true && r.error?.contains("hec-token") == false)
    }

    /// The whole path from the environment: configuration, setup, file sink and file checkpoints, via the double.
    @Test func fromTheEnvironmentToAnNDJSONFile() async throws {
        let double = try AnypointDouble()
        let now = EpochMillis.now().value
        double.add("org-1", AnypointDouble.history(count: 450, from: now - 3_600_000, to: now - 90_000, prefix: "env"))
        let dir = try tempDirectory("env")
        let env = ["ANYPOINT_BASE_URL": double.baseURL, "ANYPOINT_CLIENT_ID": double.settings.clientID,
                   "ANYPOINT_CLIENT_SECRET": double.settings.clientSecret, "AUDIT_SINKS": "file://\(dir)/audit.ndjson",
                   "STATE_URI": "file://\(dir)/state", "AUDIT_START": "PT2H", "AUDIT_LAG_SECONDS": "60", "AUDIT_OTEL_ATTRIBUTES": "true"]
        let (config, problems) = AuditConfiguration.parse(env)
        #expect(problems.isEmpty)
        let exporter = try AuditSetup.exporter(try #require(config), environment: env, logger: Logger(level: .warn))
        let s = await exporter.run(deadline: .after(milliseconds: 90_000))
        #expect(s.succeeded, "\(String(decoding: s.json(), as: UTF8.self))")
        let lines = try String(contentsOfFile: dir + "/audit.ndjson", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONReader.parse(String($0)) }.filter { $0["type"] == nil }
        #expect(records.count == 450)
        #expect(records.allSatisfy { $0["attributes"]?["mulesoft.audit.id"]?.stringValue == $0["key"]?.stringValue })
        #expect(FileManager.default.fileExists(atPath: dir + "/state/audit-org-1.json"))
        #expect(double.stats.meCalls == 1)   // no ANYPOINT_ORG_IDS: the token's organization
    }
}
