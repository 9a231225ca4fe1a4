// FLEX_SOURCE=anypoint-archive against the strict archive double: days listed unordered, a window across midnight,
// files that appear late, 429s and 504s, a deadline in the middle of a window, requests split across files and runs.
import AWS
import FlexDoubles
import Foundation
import HTTP
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite(.serialized) struct FlexArchiveTests {
    /// 2026-05-04T23:30:00Z: windows here cross midnight.
    static let base: Int64 = 1_777_937_400_000

    static func iso(_ ms: Int64) -> String { EpochMillis(ms).iso8601 }

    /// apitap's layout for one request: Before at `t`, After 40 ms later; `split` leaves the After lines out (or
    /// gives only them).
    static func lines(_ id: String, at t: Int64, path: String, part: Part = .whole) -> [String] {
        func line(_ ts: Int64, _ m: String) -> String {
            "\(iso(ts)) [flex-gateway-envoy][info] wasm log ml.default.orders-api.default.svc main: [req: \(id)] [accessLog] \(m)"
        }
        let before = [line(t, "CQ1 \(id) req.line GET https HTTP/1.1 \(path)"),
                      line(t, "CQ1 \(id) req.meta \(iso(t)) 203.0.113.7:5000 10.0.0.9:8081 18845632"),
                      line(t, "{\"host\":\"api.example.com\"}"), line(t, "CQ1 \(id) req.body ")]
        let after = [line(t + 40, "200"), line(t + 40, "{\"content-type\":\"application/json\"}"), line(t + 40, "CQ1 \(id) res.body {\"ok\":true}")]
        switch part {
        case .whole: return before + after
        case .request: return before
        case .response: return after
        }
    }
    enum Part { case whole, request, response }

    static func id(_ n: Int) -> String { String(format: "aa000000-0000-4000-8000-%012d", n) }

    /// `count` files per entity, one every 10 minutes ending at `base`, each with `perFile` requests.
    static func files(entities: [String], count: Int, perFile: Int, from: Int64) -> (files: [AnypointArchiveDouble.File], ids: [String]) {
        var files: [AnypointArchiveDouble.File] = []
        var ids: [String] = []
        var n = 0
        for (e, entity) in entities.enumerated() {
            for f in 0..<count {
                let time = from + Int64(f) * 600_000 + Int64(e) * 1_000
                var text: [String] = []
                for r in 0..<perFile {
                    n += 1
                    ids.append(id(n))
                    text += lines(id(n), at: time - 500_000 + Int64(r) * 1_000, path: "/orders/\(n)")
                }
                let stamp = iso(time - 600_000).prefix(16).replacingOccurrences(of: ":", with: ".")
                files.append(.init(entity: entity, name: String(format: "%08x-0000-4000-8000-%012x.", e, f) + stamp + ".part\(f).txt",
                                   time: time, content: Array((text.joined(separator: "\n") + "\n").utf8)))
            }
        }
        return (files, ids)
    }

    static let entities = ["gw-1_replica-a.b567e4ea", "gw-1_replica-b.b567e4ea"]

    func archive(_ double: AnypointArchiveDouble, lag: Int = 60, overlap: Int = 1_800, secret: String = "archive-secret-value") -> FlexConfiguration.Archive {
        FlexConfiguration.Archive(baseURL: double.baseURL, archiveURL: double.archiveURL, clientID: "archive-client", secret: .value(secret),
                                  organizationID: "org-1", environmentIDs: ["env-1"], entityType: "flex", fileType: "logs",
                                  overlapSeconds: overlap, lagSeconds: lag, initialLookbackSeconds: 7_200, requestsPerMinute: 60_000)
    }

    func source(_ double: AnypointArchiveDouble, _ archive: FlexConfiguration.Archive, store: any CheckpointStore, sink: RecordingSink,
                requestsPerMinute: Int = 60_000) throws -> FlexArchiveSource {
        let http = try HTTPClient()
        let tokens = ClientCredentialsTokenProvider(service: "Anypoint", client: http, tokenURL: archive.baseURL + "/accounts/api/v2/oauth2/token",
                                                    clientID: archive.clientID, secret: { Self.secret(archive) })
        let client = AnypointArchiveClient(archiveURL: archive.archiveURL, http: http, tokens: tokens, requestsPerMinute: requestsPerMinute,
                                           retry: RetryPolicy(maxAttempts: 5, base: .milliseconds(5), cap: .milliseconds(20)))
        return FlexArchiveSource(client: client, archive: archive, store: store, sink: sink, filter: try TransactionFilter(),
                                 logger: Logger(level: .fatal, sink: { _ in }))
    }

    static func secret(_ archive: FlexConfiguration.Archive) -> String {
        if case .value(let v) = archive.secret { return v }
        return ""
    }

    static let settings = TickSettings(region: AWSRegion("eu-west-2"), accountId: nil, incompleteMaxAgeMs: 300_000, pullMarginMs: 0)

    func store() throws -> FileCheckpointStore {
        try FileCheckpointStore(directory: NSTemporaryDirectory() + "apitap-flex-archive-\(UUID().uuidString)")
    }

    @Test func aWindowAcrossMidnightDeliversEveryRequestOnceAndTheNextRunFetchesNothingAgain() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base + 3_600_000)
        // Files from 23:00 to 00:10, the last ones inside the next window's overlap.
        let (files, ids) = Self.files(entities: Self.entities, count: 8, perFile: 3, from: Self.base - 1_800_000)
        double.add(files)
        let sink = RecordingSink()
        let st = try store()
        let s = try source(double, archive(double), store: st, sink: sink)
        let now = EpochMillis(Self.base + 3_600_000)
        let first = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: now)
        #expect(first.result == .committed, "\(first.error ?? "")")
        #expect(Set(sink.ids) == Set(ids) && sink.ids.count == ids.count)
        #expect(double.stats.badRequests.isEmpty, "\(double.stats.badRequests)")
        #expect(double.stats.downloads.count == files.count && double.stats.downloads.values.allSatisfy { $0 == 1 })
        #expect(double.stats.dayListings == 2 * Self.entities.count, "both days of the window, for each replica")
        #expect(first.flex?.traffic.transactionsEmitted == ids.count && first.streams == Set(Self.entities))
        #expect(first.pages == files.count, "a file a page")
        let record = try #require(sink.records.first)
        #expect((record["source"] as? [String: Any])?["logGroup"] as? String == "anypoint-archive/org-1/env-1")

        let second = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: now.adding(milliseconds: 60_000))
        #expect(second.result == .committed && second.duplicates > 0)
        #expect(sink.ids.count == ids.count && double.stats.downloads.values.allSatisfy { $0 == 1 }, "the overlap's files are skipped unread")
    }

    @Test func aFileThatAppearsLateInsideTheOverlapIsDeliveredOnce() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base)
        var (files, ids) = Self.files(entities: [Self.entities[0]], count: 3, perFile: 2, from: Self.base - 1_800_000)
        // The last file was created at base − 600 s but is listed only 20 minutes later.
        files[2].visibleAt = Self.base + 1_200_000
        double.add(files)
        let sink = RecordingSink()
        let s = try source(double, archive(double), store: try store(), sink: sink)
        _ = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base))
        #expect(sink.ids.count == 4)
        double.setClock(Self.base + 1_300_000)
        let later = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base + 1_300_000))
        #expect(later.result == .committed)
        #expect(Set(sink.ids) == Set(ids) && sink.ids.count == ids.count)
        #expect(double.stats.downloads.values.allSatisfy { $0 == 1 })
    }

    @Test func throttlingAndGatewayTimeoutsAreWaitedOut() async throws {
        var settings = AnypointArchiveDouble.Settings()
        settings.throttle = [1, 4, 5]
        settings.gatewayTimeouts = [8]
        let double = try AnypointArchiveDouble(settings, clock: Self.base)
        let (files, ids) = Self.files(entities: Self.entities, count: 2, perFile: 2, from: Self.base - 1_200_000)
        double.add(files)
        let sink = RecordingSink()
        let outcome = await (try source(double, archive(double), store: try store(), sink: sink))
            .run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base))
        #expect(outcome.result == .committed, "\(outcome.error ?? "")")
        #expect(double.stats.throttled == 3 && double.stats.timeouts == 1)
        #expect(Set(sink.ids) == Set(ids) && sink.ids.count == ids.count)
    }

    @Test func aDeadlineInsideTheWindowResumesAtTheNextFileAndLosesNothing() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base)
        let (files, ids) = Self.files(entities: Self.entities, count: 8, perFile: 2, from: Self.base - 5_400_000)
        double.add(files)
        let sink = RecordingSink()
        let st = try store()
        // 10 requests a second: a run of 1.5 s reads a few files, never the 16 files and their listings.
        let s = try source(double, archive(double), store: st, sink: sink, requestsPerMinute: 600)
        var results: [LogGroupOutcome.Result] = []
        while results.count < 30 {
            let o = await s.run(environment: "env-1", settings: Self.settings, deadline: .after(milliseconds: 1_500), now: EpochMillis(Self.base))
            results.append(o.result)
            if o.result == .committed { break }
        }
        #expect(results.contains(.partial) && results.last == .committed, "\(results)")
        #expect(Set(sink.ids) == Set(ids) && sink.ids.count == ids.count, "every request once across the runs")
        #expect(double.stats.downloads.values.allSatisfy { $0 == 1 }, "no file fetched twice")
    }

    @Test func aRequestWhoseHalvesAreInTwoFilesOfTwoRunsIsJoined() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base)
        let entity = Self.entities[0]
        let id = Self.id(999)
        double.add([.init(entity: entity, name: "a.part1.txt", time: Self.base - 150_000,
                          content: Array(Self.lines(id, at: Self.base - 200_000, path: "/split", part: .request).joined(separator: "\n").utf8))])
        let sink = RecordingSink()
        let s = try source(double, archive(double), store: try store(), sink: sink)
        _ = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base))
        #expect(sink.ids.isEmpty)
        double.add([.init(entity: entity, name: "a.part2.txt", time: Self.base - 60_000,
                          content: Array(Self.lines(id, at: Self.base - 200_000, path: "/split", part: .response).joined(separator: "\n").utf8),
                          visibleAt: Self.base + 60_000)])
        double.setClock(Self.base + 120_000)
        _ = await s.run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base + 120_000))
        #expect(sink.ids == [id])
        #expect((sink.records.first?["response"] as? [String: Any])?["status"] as? Int == 200)
    }

    @Test func refusedCredentialsFailTheSourceAndCommitNothing() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base)
        double.add(Self.files(entities: [Self.entities[0]], count: 1, perFile: 1, from: Self.base - 600_000).files)
        let st = try store()
        let o = await (try source(double, archive(double, secret: "wrong"), store: st, sink: RecordingSink()))
            .run(environment: "env-1", settings: Self.settings, deadline: .distant, now: EpochMillis(Self.base))
        #expect(o.result == .failed && o.error?.contains("401") == true, "\(o.error ?? "")")
        #expect(try await st.load(key: "flex-archive-org-1-env-1").bytes == nil)
        #expect(!(o.error ?? "").contains("wrong"), "the secret is never in an error")
    }

    @Test func theDoubleRefusesWhatTheSpecDoesNotAllow() async throws {
        let double = try AnypointArchiveDouble(clock: Self.base)
        let http = try HTTPClient()
        let form = Array("grant_type=client_credentials&client_id=archive-client&client_secret=archive-secret-value".utf8)
        let token = try await http.send(HTTPRequest(method: .POST, url: double.baseURL + "/accounts/api/v2/oauth2/token",
                                                    headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded")], body: form))
        let bearer = try #require(try JSONReader.parse(token.body)["access_token"]?.stringValue)
        func get(_ path: String) async throws -> Int {
            try await http.send(HTTPRequest(method: .GET, url: double.archiveURL + path, headers: [HTTPHeader("Authorization", "Bearer " + bearer)])).status
        }
        let e = "/organizations/org-1/environments/env-1/flex/gw"
        #expect(try await get(e + "/logs/26/05/04") == 400)
        #expect(try await get(e + "/logs/2026/5/04") == 400)
        #expect(try await get(e + "/logs/2026/05/4") == 400)
        #expect(try await get(e + "/metrics/2026/05/04") == 400)
        #expect(try await get("/organizations/org-1/environments/env-1/gateways") == 400)
        #expect(try await get(e + "/logs/2026/05/04?limit=10") == 400)
        #expect(try await get(e + "/logs/2026/05/04/missing.txt") == 404)
        #expect(try await get("/organizations/other/environments") == 200, "no data is an empty list")
        let unauthorized = try await http.send(HTTPRequest(method: .GET, url: double.archiveURL + "/organizations"))
        #expect(unauthorized.status == 401)
        #expect(double.stats.badRequests.count == 6)
    }

    @Test func daysOfAWindow() {
        #expect(FlexArchiveReader.days(from: EpochMillis(Self.base - 3_600_000), to: EpochMillis(Self.base + 3_600_000)) == ["2026/05/04", "2026/05/05"])
        #expect(FlexArchiveReader.days(from: EpochMillis(Self.base), to: EpochMillis(Self.base)) == ["2026/05/04"])
    }
}
