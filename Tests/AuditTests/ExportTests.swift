// The export loop against the strict double: exactly once in a clean run, nothing lost across crashes, deadlines,
// expiring tokens and 503s, and the overlap re-read without duplicates.
import AuditDoubles
import Foundation
import HTTP
import Core
import Pipeline
import Testing
@testable import Audit

@Suite struct ExportTests {
    static let day: Int64 = 86_400_000

    func history(_ double: AnypointDouble, count: Int, org: String = "org-1", seed: UInt64 = 1) {
        let now = EpochMillis.now().value
        double.add(org, AnypointDouble.history(count: count, from: now - 4 * Self.day, to: now - 120_000, prefix: org, seed: seed))
    }

    @Test func cleanRunDeliversEveryEntryExactlyOnce() async throws {
        let double = try AnypointDouble()
        history(double, count: 20_000)
        let dir = try tempDirectory("clean")
        let store = try FileCheckpointStore(directory: dir)
        let sink = MemorySink()
        let exporter = makeExporter(double, store: store, sinks: [sink])
        let summary = await exporter.run(deadline: .after(milliseconds: 120_000))
        #expect(summary.succeeded, "\(String(decoding: summary.json(), as: UTF8.self))")
        let records = await sink.entryRecords
        let ids = records.map(\.identity)
        #expect(ids.count == 20_000)
        #expect(duplicates(ids).isEmpty)
        #expect(missing(double, "org-1", ids).isEmpty)
        #expect(Set(records.map(\.key)).count == 20_000)
        #expect(double.stats.badRequests.isEmpty, "\(double.stats.badRequests.prefix(3))")
        #expect(summary.organizations.first?.result == .committed)
        #expect(summary.organizations.first?.pages == 101)   // 100 full pages and the empty one that ends the loop

        // Flat entries keep their id as key; nested ones get a content hash; every record carries the entry verbatim.
        let flat = try #require(records.first { $0.identity.hasSuffix("-0") })
        #expect(flat.key == "org-1-0")
        let nested = try #require(records.first { $0.identity == "org-1-1" })
        #expect(nested.key.hasPrefix("sha256:"))
        let record = try JSONReader.parse(nested.json)
        #expect(record["organizationId"]?.stringValue == "org-1")
        #expect(record["entry"]?["objects"]?.arrayValue?.count == 1)
        #expect(record["exportedAt"]?.stringValue != nil && record["timestamp"]?.stringValue != nil)

        // The checkpoint: a finished window, and the keys at its edge.
        let (bytes, _) = try await store.load(key: "audit-org-1")
        let checkpoint = try AuditCheckpoint.decode(try #require(bytes))
        #expect(checkpoint.inProgress == nil)
        #expect(!checkpoint.seen.isEmpty)

        // A second run re-reads the overlap and finds nothing new.
        let again = await exporter.run(deadline: .after(milliseconds: 60_000))
        #expect(again.succeeded)
        #expect(again.organizations.first?.exported == 0)
        #expect(await sink.entryRecords.count == 20_000)

        // Late entries inside the overlap and new ones are delivered once, the rest skipped.
        let now = EpochMillis.now().value
        double.add("org-1", AnypointDouble.history(count: 30, from: checkpoint.watermark.value - 300_000, to: now - 1_000, prefix: "late", seed: 9))
        let third = await exporter.run(deadline: .after(milliseconds: 60_000))
        #expect(third.succeeded)
        #expect(third.organizations.first?.exported == 30)
        #expect((third.organizations.first?.duplicates ?? 0) > 0)
        let all = await sink.entryRecords.map(\.identity)
        #expect(all.count == 20_030 && duplicates(all).isEmpty)
    }

    @Test func backfillSpansInvocationsWithoutGapsOrDuplicates() async throws {
        let double = try AnypointDouble()
        history(double, count: 4_000)
        let store = try FileCheckpointStore(directory: try tempDirectory("deadline"))
        let sink = MemorySink()
        let exporter = makeExporter(double, store: store, sinks: [sink])
        var runs = 0, partial = 0
        while runs < 200 {
            runs += 1
            // A deadline so short that a run manages a page or a few.
            let s = await exporter.run(deadline: .after(milliseconds: 60))
            #expect(s.succeeded, "\(String(decoding: s.json(), as: UTF8.self))")
            if s.organizations.first?.result == .partial { partial += 1 }
            if s.organizations.first?.result == .committed { break }
        }
        #expect(partial >= 2, "the deadline never cut a window short; the test proves nothing")
        let ids = await sink.entryRecords.map(\.identity)
        #expect(missing(double, "org-1", ids).isEmpty)
        #expect(duplicates(ids).isEmpty)
        #expect(double.stats.badRequests.isEmpty, "\(double.stats.badRequests.prefix(3))")
    }

    @Test func crashesAtRandomPointsLoseNothing() async throws {
        let double = try AnypointDouble()
        history(double, count: 6_000)
        let flaky = FlakyStore(try FileCheckpointStore(directory: try tempDirectory("crash")), failProbability: 0.15)
        let sink = MemorySink()
        await sink.setFailure(probability: 0.15)
        let exporter = makeExporter(double, store: flaky, sinks: [sink])
        var rng = SplitMix(seed: 3)
        var runs = 0, cancelled = 0, failed = 0, finished = false
        while runs < 300 && !finished {
            runs += 1
            // Some runs are cancelled at a random moment (the closest an in-process test gets to kill -9).
            let cancelAfter = rng.next() % 3 == 0 ? Int(rng.next() % 40) : nil
            let task = Task { await exporter.run(deadline: .after(milliseconds: 5_000)) }
            if let ms = cancelAfter {
                try await Task.sleep(for: .milliseconds(ms))
                task.cancel()
            }
            let s = await task.value
            let result = s.organizations.first?.result
            if result == .cancelled { cancelled += 1 }
            if result == .deliveryFailed || result == .failed { failed += 1 }
            finished = result == .committed && !task.isCancelled
        }
        #expect(finished, "never completed in \(runs) runs")
        #expect(failed > 0 && flaky.injected > 0, "no crash was injected; the test proves nothing")
        let records = await sink.entryRecords
        let ids = records.map(\.identity)
        #expect(missing(double, "org-1", ids).isEmpty, "entries lost")
        // Duplicates are possible only for pages in flight at a crash, and always with the same key.
        var keysByIdentity: [String: Set<String>] = [:]
        for r in records { keysByIdentity[r.identity, default: []].insert(r.key) }
        #expect(keysByIdentity.values.allSatisfy { $0.count == 1 })
        #expect(duplicates(ids).count <= (failed + cancelled + flaky.injected) * 200)
        #expect(double.stats.badRequests.isEmpty, "\(double.stats.badRequests.prefix(3))")
    }

    @Test func aTokenRevokedMidLoopIsRenewed() async throws {
        var settings = AnypointDouble.Settings()
        settings.tokenLifetimeMs = 4_000        // the server drops tokens early...
        settings.reportedExpiresIn = 3_600      // ...while promising an hour
        let double = try AnypointDouble(settings)
        history(double, count: 3_000)
        let sink = MemorySink()
        // A pacer of 2 requests a second makes the 15 pages outlive a token; 4 s of token life leave room for a slow
        // machine between fetching a token and using it (a 401 on a fresh token is, rightly, a hard error).
        let exporter = makeExporter(double, store: try FileCheckpointStore(directory: try tempDirectory("token")), sinks: [sink],
                                    requestsPerMinute: 2, rateWindow: .seconds(1))
        let s = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(s.succeeded, "\(String(decoding: s.json(), as: UTF8.self))")
        #expect(double.stats.tokensIssued >= 2)
        #expect(s.anypoint.unauthorized >= 1)
        let ids = await sink.entryRecords.map(\.identity)
        #expect(ids.count == 3_000 && duplicates(ids).isEmpty && missing(double, "org-1", ids).isEmpty)
    }

    @Test func aShortLivedTokenIsRenewedBeforeItExpires() async throws {
        var settings = AnypointDouble.Settings()
        // Announced: 2 s. The server honours tokens 2 s longer, so a request sent just before the announced expiry
        // but slowed down by a busy machine is not refused; renewal is still checked (more than one token for ~5 s).
        settings.tokenLifetimeMs = 4_000
        settings.reportedExpiresIn = 2
        let double = try AnypointDouble(settings)
        history(double, count: 2_000)
        let sink = MemorySink()
        let exporter = makeExporter(double, store: try FileCheckpointStore(directory: try tempDirectory("token2")), sinks: [sink],
                                    requestsPerMinute: 2, rateWindow: .seconds(1))
        let s = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(s.succeeded)
        #expect(double.stats.tokensIssued >= 2)
        #expect(double.stats.unauthorized == 0, "the token was used after its announced expiry")
        #expect(await sink.entryRecords.count == 2_000)
    }

    @Test func after503TheLoopWaitsForTheNextWindowAndResumes() async throws {
        var settings = AnypointDouble.Settings()
        // One request per 3-second window: any second request in a window is a 503, however slow the machine.
        settings.rateWindowMs = 3_000
        settings.budgetPerWindow = 1
        let double = try AnypointDouble(settings)
        history(double, count: 1_000)
        let sink = MemorySink()
        // No pacing: the client runs into the limit and must honour the 503 until the (same) window ends.
        let exporter = makeExporter(double, store: try FileCheckpointStore(directory: try tempDirectory("503")), sinks: [sink],
                                    requestsPerMinute: 1_000_000, rateWindow: .seconds(3))
        let s = await exporter.run(deadline: .after(milliseconds: 60_000))
        #expect(s.succeeded, "\(String(decoding: s.json(), as: UTF8.self))")
        #expect(double.stats.throttled >= 2 && s.anypoint.waits503 == double.stats.throttled)
        #expect(double.stats.requestsAfter503InSameWindow == 0, "the client called again before the window ended")
        let ids = await sink.entryRecords.map(\.identity)
        #expect(ids.count == 1_000 && duplicates(ids).isEmpty && missing(double, "org-1", ids).isEmpty)
    }

    @Test func thePacerStaysUnderTheLimit() async throws {
        var settings = AnypointDouble.Settings()
        settings.rateWindowMs = 1_000
        settings.budgetPerWindow = 20
        let double = try AnypointDouble(settings)
        history(double, count: 7_000)   // 36 requests
        let sink = MemorySink()
        let exporter = makeExporter(double, store: try FileCheckpointStore(directory: try tempDirectory("pace")), sinks: [sink],
                                    requestsPerMinute: 17, rateWindow: .seconds(1))
        let s = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(s.succeeded)
        #expect(double.stats.throttled == 0)
        #expect(await sink.entryRecords.count == 7_000)
    }

    @Test func organizationComesFromTheTokenAndFiltersReachTheQuery() async throws {
        let double = try AnypointDouble()
        history(double, count: 1_000)
        let sink = MemorySink()
        var settings = AuditExportSettings(overlapMs: 0, lagMs: 0, start: .ago(milliseconds: 5 * Self.day), pullMarginMs: 0)
        settings.filters.actions = ["Delete", "delete"]
        let exporter = makeExporter(double, store: try FileCheckpointStore(directory: try tempDirectory("me")), sinks: [sink],
                                    organizations: [], settings: settings)
        let s = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(s.succeeded, "\(String(decoding: s.json(), as: UTF8.self))")
        #expect(double.stats.meCalls == 1)
        let expected = double.entries("org-1").filter { ($0.value["action"]?.stringValue ?? "").lowercased() == "delete" }
        #expect(!expected.isEmpty)
        #expect(await sink.entryRecords.count == expected.count)
    }

    @Test func aFailingSinkHoldsTheCheckpointAndEverySinkGetsEverything() async throws {
        let double = try AnypointDouble()
        history(double, count: 1_500)
        let good = MemorySink(), bad = MemorySink()
        await bad.setFailure(probability: 1)
        let store = try FileCheckpointStore(directory: try tempDirectory("failing"))
        let exporter = makeExporter(double, store: store, sinks: [good, bad])
        let first = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(!first.succeeded)
        #expect(first.organizations.first?.result == .deliveryFailed)
        #expect(try await store.load(key: "audit-org-1").bytes == nil)
        await bad.setFailure(probability: 0)
        let second = await exporter.run(deadline: .after(milliseconds: 30_000))
        #expect(second.succeeded)
        #expect(missing(double, "org-1", await bad.entryRecords.map(\.identity)).isEmpty)
        #expect(missing(double, "org-1", await good.entryRecords.map(\.identity)).isEmpty)
        // The good sink saw the first page twice (same keys), nothing more.
        #expect(duplicates(await good.entryRecords.map(\.identity)).count <= 200)
    }
}
