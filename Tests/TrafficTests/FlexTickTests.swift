// Flex Gateway log groups through the tick (the same CloudWatch source, budget and checkpoints as API Gateway's),
// counted apart in the summary; `apitap stitch --source flex-gateway`'s session; the FLEX_* settings.
import AWS
import Foundation
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite struct FlexTickTests {
    static let group = "/flex/prod/access"
    static let target = LogGroupTarget(logGroup: LogGroupName(group), kind: .flex, apiId: nil, stage: nil)

    func runner(_ pager: MemoryPager, _ sink: RecordingSink, store: FileCheckpointStore, flex: FlexStitcherOptions = FlexStitcherOptions()) throws -> TickRunner {
        TickRunner(settings: TickSettings(region: AWSRegion("eu-west-2"), accountId: AWSAccountID("123456789012"), overlapMs: 60_000,
                                          lagMs: 5_000, initialLookbackMs: 600_000, pullMarginMs: 0, flex: flex),
                   pager: pager, store: store, sink: sink, limiter: RateLimiter(perSecond: 1_000), filter: try TransactionFilter(),
                   logger: Logger(level: .fatal, sink: { _ in }))
    }

    func store() throws -> FileCheckpointStore {
        try FileCheckpointStore(directory: NSTemporaryDirectory() + "apitap-flex-tick-\(UUID().uuidString)")
    }

    @Test func aFlexLogGroupIsDeliveredOnceAndCountedApartFromAPIGateway() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager(pageSize: 5)
        pager.add(Self.group, try TickRunnerTests.events("flex-apitap-interleaved.ndjson", base: base))
        pager.add(Self.group, try TickRunnerTests.events("flex-apitap-unknown-categories.ndjson", base: base + 2_000, idPrefix: "u"))
        pager.add(TickRunnerTests.group, try TickRunnerTests.events("rest-429-throttled.ndjson", base: base))
        let sink = RecordingSink()
        let st = try store()
        let r = try runner(pager, sink, store: st)
        let first = await r.run(targets: [Self.target, TickRunnerTests.target], deadline: .distant, now: EpochMillis(base + 60_000))
        #expect(first.allCommitted, "\(String(decoding: first.json(), as: UTF8.self))")
        let flexIds = sink.records.filter { ($0["source"] as? [String: Any])?["type"] as? String == "mulesoft-flex-gateway" }.compactMap { $0["id"] as? String }
        #expect(Set(flexIds) == ["5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0001", "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0002",
                                 "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0003", "9b2f0e11-2b1c-4d1e-8e0f-000000000010"])
        #expect(flexIds.count == 4 && sink.ids.count == 5)

        let json = try #require(try JSONSerialization.jsonObject(with: Data(first.json())) as? [String: Any])
        #expect(json["logGroups"] as? Int == 1 && json["eventsFetched"] as? Int == 4, "API Gateway's counts exclude Flex")
        #expect((json["traffic"] as? [String: Any])?["transactionsEmitted"] as? Int == 1)
        let flex = try #require(json["flex"] as? [String: Any])
        #expect(flex["sources"] as? Int == 1 && flex["eventsFetched"] as? Int == 34)
        let counters = try #require(flex["counters"] as? [String: Any])
        #expect((counters["traffic"] as? [String: Any])?["transactionsEmitted"] as? Int == 4)
        #expect((counters["linesIgnored"] as? [String: Any])?["unknown-category"] as? Int == 1)
        #expect(((flex["delivery"] as? [String: Any])?["recordsDelivered"] as? Int) == 4)

        // The next tick re-reads the overlap and delivers nothing again.
        let second = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 90_000))
        #expect(second.groups.first?.result == .committed && (second.groups.first?.duplicates ?? 0) > 0)
        #expect(sink.ids.count == 5)
    }

    @Test func aRequestSplitAcrossTicksTravelsInTheCheckpoint() async throws {
        let base: Int64 = 1_800_000_000_000
        let events = try TickRunnerTests.events("flex-apitap-response-first.ndjson", base: base)
        let pager = MemoryPager()
        pager.add(Self.group, Array(events.prefix(3)))
        let sink = RecordingSink()
        let st = try store()
        let r = try runner(pager, sink, store: st)
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 10_000))
        #expect(sink.ids.isEmpty)
        let stored = try TickCheckpoint.decode(try #require(try await st.load(key: Self.group).bytes))
        let state = try JSONReader.parse(try #require(stored.stitcherState))
        #expect(state["requests"]?.arrayValue?.count == 1, "the response half waits in the checkpoint")
        pager.add(Self.group, Array(events.dropFirst(3)))
        _ = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 30_000))
        #expect(sink.ids == ["9b2f0e11-2b1c-4d1e-8e0f-000000000004"])
        #expect((sink.records.first?["response"] as? [String: Any])?["status"] as? Int == 200)
    }

    @Test func anUnansweredRequestGoesOutIncompleteOnceTooOld() async throws {
        let base: Int64 = 1_800_000_000_000
        let pager = MemoryPager()
        pager.add(Self.group, try TickRunnerTests.events("flex-apitap-no-response.ndjson", base: base))
        let sink = RecordingSink()
        let r = try runner(pager, sink, store: store())
        let first = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 10_000))
        #expect(sink.ids.isEmpty && first.groups.first?.flex?.traffic.transactionsIncomplete == 0)
        let later = await r.run(targets: [Self.target], deadline: .distant, now: EpochMillis(base + 400_000))
        #expect(sink.records.count == 1 && sink.records.first?["incomplete"] as? Bool == true)
        #expect(later.groups.first?.flex?.traffic.transactionsIncomplete == 1)
    }

    @Test func theOfflineSessionGivesWhatTheStitcherGives() throws {
        let name = "flex-cequence-interleaved.ndjson"
        let (expected, _) = try FlexFixtures.stitch(name)
        var session = NDJSONStitchSession(logGroup: FlexFixtures.group, region: Fixtures.region, accountId: Fixtures.account, filter: nil,
                                          mode: .flexGateway(FlexStitcherOptions()))
        var out: [UInt8] = []
        try Fixtures.data(name).withUnsafeBytes { session.feed($0, output: { out += $0 }) }
        let counters = session.finish(output: { out += $0 })
        var native: [UInt8] = []
        for t in expected { t.encodeJSON(into: &native); native.append(0x0A) }
        #expect(out == native)
        #expect(counters.transactionsEmitted == 2 && session.flexCounters?.layouts == ["cequence": 2])
    }

    @Test func theContentTypeAndExtensionFiltersApplyToFlexTransactions() throws {
        var session = NDJSONStitchSession(logGroup: FlexFixtures.group, region: Fixtures.region, accountId: nil,
                                          filter: try TransactionFilter(contentTypePattern: "^text/plain", excludedExtensionsPattern: "/orders/42$"),
                                          mode: .flexGateway(FlexStitcherOptions()))
        var out: [UInt8] = []
        try Fixtures.data("flex-apitap-interleaved.ndjson").withUnsafeBytes { session.feed($0, output: { out += $0 }) }
        let counters = session.finish(output: { out += $0 })
        // GET and POST answer JSON (dropped by the content type); DELETE /orders/42 has no content type but its path is excluded.
        #expect(counters.filtered.contentType == 2 && counters.filtered.excludedExtension == 1 && out.isEmpty)
    }

    @Test func theSampleEventsStitch() throws {
        let sample = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("events/sample-logs/flex-gateway.ndjson")
        var session = NDJSONStitchSession(logGroup: LogGroupName("flex-gateway"), region: Fixtures.region, accountId: nil, filter: nil,
                                          mode: .flexGateway(FlexStitcherOptions()), encoding: .edge(EdgeEncodingOptions(toolVersion: "t")))
        var out: [UInt8] = []
        try Data(contentsOf: sample).withUnsafeBytes { session.feed($0, output: { out += $0 }) }
        let counters = session.finish(output: { out += $0 })
        // apitap's three requests go out in Edge; Cequence's two lack a status (and one a method): counted, not written.
        #expect(counters.transactionsEmitted == 5 && out.split(separator: 0x0A).count == 3)
        #expect(counters.encoding.notEncoded == ["no-status": 1, "no-method": 1])
    }

    @Test func flexSettingsAreCheckedWithTheOthers() throws {
        let base = ["AWS_REGION": "eu-west-2", "SEND_TO_UAP": "false"]
        var env = base
        env["ENABLE_REST_APIS"] = "false"; env["ENABLE_HTTP_APIS"] = "false"
        #expect(TrafficConfiguration.parse(env).1.contains { $0.contains("FLEX_SOURCE is none: nothing to do") })
        env["FLEX_SOURCE"] = "cloudwatch"
        #expect(TrafficConfiguration.parse(env).1 == ["FLEX_LOG_GROUPS is required when FLEX_SOURCE=cloudwatch (log group names, or a prefix ending in *)"])
        env["FLEX_LOG_GROUPS"] = "/flex/prod, /flex/dev-*"
        let c = try #require(TrafficConfiguration.parse(env).0)
        #expect(c.flex.logGroups == FlexLogGroupPatterns(names: ["/flex/prod"], prefixes: ["/flex/dev-"]) && c.flex.apis == nil)

        var bad = base
        bad["FLEX_SOURCE"] = "anypoint-archive"; bad["FLEX_LOG_GROUPS"] = "bad name*x"; bad["FLEX_APIS"] = "all,123"
        bad["FLEX_ENTRY_LIMIT_BYTES"] = "12"; bad["ANYPOINT_ENV_ID"] = "../x"
        let problems = TrafficConfiguration.parse(bad).1
        for needle in ["FLEX_LOG_GROUPS: 'bad name*x'", "FLEX_LOG_GROUPS is set but FLEX_SOURCE is anypoint-archive", "FLEX_APIS is all or a list",
                       "FLEX_ENTRY_LIMIT_BYTES", "ANYPOINT_CLIENT_ID is required", "ANYPOINT_CLIENT_SECRET or ANYPOINT_CLIENT_SECRET_ARN",
                       "ANYPOINT_ORG_ID is required", "must be ids"] {
            #expect(problems.contains { $0.contains(needle) }, "no problem mentions \(needle): \(problems)")
        }
        var archive = base
        archive.merge(["FLEX_SOURCE": "anypoint-archive", "ANYPOINT_CLIENT_ID": "id", "ANYPOINT_CLIENT_SECRET": "s", "ANYPOINT_ORG_ID": "o-1",
                       "ANYPOINT_ENV_ID": "e-1,e-2", "FLEX_APIS": "18845632, orders-api"]) { $1 }
        let a = try #require(TrafficConfiguration.parse(archive).0)
        #expect(a.flex.archive?.environmentIDs == ["e-1", "e-2"] && a.flex.archive?.archiveURL == FlexConfiguration.defaultArchiveURL)
        #expect(a.flex.apis == ["18845632", "orders-api"] && a.flex.archive?.lagSeconds == 900)
    }

    @Test func prefixesAreListedAndNamesKept() async throws {
        let calls = Locked(0)
        let source = FlexLogGroupSource(FlexLogGroupPatterns(names: ["/flex/a"], prefixes: ["/flex/p-"]), cacheSeconds: 300) { prefix, token, _ in
            calls.withLock { $0 += 1 }
            return token == nil ? (["\(prefix)1", "/flex/a"], "t2") : (["\(prefix)2"], nil)
        }
        let targets = try await source.targets(deadline: .distant)
        #expect(targets.map(\.logGroup.rawValue) == ["/flex/a", "/flex/p-1", "/flex/p-2"] && targets.allSatisfy { $0.kind == .flex })
        _ = try await source.targets(deadline: .distant)
        #expect(calls.value == 2, "listed once per cache period, both pages")
    }
}
