// Resource id → path maps for throttled requests: read once per API per cache period, shared by concurrent stages,
// passed to the stitcher by the tick, and never failing it.
import Foundation
import AWS
import Core
import Testing
@testable import Traffic

/// A fake discovery-side source: a fixed answer per API, counting the calls.
final class FakeResourcePaths: ResourcePathSource, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls: [String] = []
    let answers: [String: ResourcePaths]
    init(_ answers: [String: ResourcePaths]) { self.answers = answers }

    func resourcePaths(restApiId: String, deadline: Deadline) async -> ResourcePaths {
        lock.withLock { calls.append(restApiId) }
        return answers[restApiId] ?? ResourcePaths(paths: [:])
    }
}

struct FetchFailed: Error, CustomStringConvertible { var description: String { "AccessDeniedException: not allowed" } }

@Suite struct ResourcePathTests {
    @Test func aMapIsReadOncePerCachePeriodAndSharedByConcurrentCallers() async {
        let cache = RESTResourcePathCache(cacheSeconds: 300) { id, _ in
            try await Task.sleep(nanoseconds: 20_000_000)
            return [RestResource(id: "k0w8mc", path: "/verifyReceipt"), RestResource(id: "r00t", path: "/")]
        }
        async let a = cache.resourcePaths(restApiId: "api1", deadline: .distant)
        async let b = cache.resourcePaths(restApiId: "api1", deadline: .distant)
        let (first, second) = await (a, b)
        #expect(first.paths == ["k0w8mc": "/verifyReceipt", "r00t": "/"])
        #expect(second == first)
        _ = await cache.resourcePaths(restApiId: "api1", deadline: .distant)
        #expect(await cache.reads == 1, "two concurrent stages and a later tick: one read")
        _ = await cache.resourcePaths(restApiId: "api2", deadline: .distant)
        #expect(await cache.reads == 2, "each API has its own map")
    }

    @Test func aFailedReadIsANoteAnEmptyMapAndIsNotRetriedWithinThePeriod() async {
        let cache = RESTResourcePathCache(cacheSeconds: 300) { _, _ in throw FetchFailed() }
        let found = await cache.resourcePaths(restApiId: "api1", deadline: .distant)
        #expect(found.paths.isEmpty)
        #expect(found.note?.contains("REST API api1: its resources could not be read (AccessDeniedException: not allowed)") == true)
        _ = await cache.resourcePaths(restApiId: "api1", deadline: .distant)
        #expect(await cache.reads == 1)
    }

    @Test func aZeroPeriodReadsEveryTime() async {
        let cache = RESTResourcePathCache(cacheSeconds: 0) { _, _ in [RestResource(id: "a", path: "/a")] }
        _ = await cache.resourcePaths(restApiId: "api1", deadline: .distant)
        _ = await cache.resourcePaths(restApiId: "api1", deadline: .distant)
        #expect(await cache.reads == 2)
    }

    @Test func theAPIListGivesItsRESTTargetsTheSource() async throws {
        let fake = FakeResourcePaths([:])
        let list = APIListSource(#"[{"apiId":"a1","stage":"prod","type":"rest"},{"apiId":"h1","stage":"$default","type":"http","logGroup":"g"}]"#,
                                 s3: nil, region: AWSRegion("eu-west-2"), cacheSeconds: 300, resources: fake)
        let found = try await list.discover(rest: true, http: true, deadline: .distant)
        #expect(found.targets.count == 2)
        #expect(found.targets.first { $0.kind == .rest }?.resourcePaths != nil)
        #expect(found.targets.first { $0.kind == .http }?.resourcePaths == nil)
        #expect(fake.calls.isEmpty, "read lazily, by the tick, not by discovery")
    }

    // MARK: the tick

    static let base: Int64 = 1_800_000_000_000

    func tick(_ source: any ResourcePathSource) async throws -> (TickSummary, RecordingSink) {
        let pager = MemoryPager(pageSize: 50)
        let group = TickRunnerTests.group
        pager.add(group, try TickRunnerTests.events("real-rest-key-throttle-429.ndjson", base: Self.base))
        pager.add(group, try TickRunnerTests.events("rest-200-post-lambda-proxy.ndjson", base: Self.base + 1_000, idPrefix: "b"))
        let sink = RecordingSink()
        let runner = try TickRunnerTests().runner(pager, sink, store: TickRunnerTests().store())
        var target = TickRunnerTests.target
        target.resourcePaths = source
        let summary = await runner.run(targets: [target], deadline: .distant, now: EpochMillis(Self.base + 60_000))
        return (summary, sink)
    }

    static func request(_ sink: RecordingSink, _ id: String) -> [String: Any]? {
        sink.records.first { $0["id"] as? String == id }?["request"] as? [String: Any]
    }

    @Test func theTickPassesTheMapToTheStitcher() async throws {
        let fake = FakeResourcePaths(["a1b2c3d4e5": ResourcePaths(paths: ["k0w8mc": "/verifyReceipt", "zz9": "/orders/{id}"])])
        let (summary, sink) = try await tick(fake)
        #expect(summary.groups.first?.result == .committed)
        #expect(fake.calls == ["a1b2c3d4e5"])
        let throttled = try #require(Self.request(sink, "Vts2FFmArPEFh8g="))
        #expect(throttled["path"] as? String == "/verifyReceipt")
        #expect(throttled["resourceId"] as? String == "k0w8mc")
        // A request that logged its own path keeps it.
        #expect(Self.request(sink, "Vts2pH6ArPEFcuQ=")?["path"] as? String == "/orders/42")
        #expect(summary.notes.isEmpty)
    }

    @Test func aMapThatCannotBeReadIsANoteNotAFailure() async throws {
        let note = "REST API a1b2c3d4e5: its resources could not be read (AccessDeniedException); ..."
        let fake = FakeResourcePaths(["a1b2c3d4e5": ResourcePaths(paths: [:], note: note)])
        let (summary, sink) = try await tick(fake)
        #expect(summary.allCommitted)
        #expect(summary.notes == [note])
        #expect(sink.records.count == 2, "everything is still delivered")
        let throttled = try #require(Self.request(sink, "Vts2FFmArPEFh8g="))
        #expect(throttled["path"] is NSNull)
        #expect(throttled["resourceId"] as? String == "k0w8mc")
    }
}
