// Shared test helpers: an HTTP client per process, temp directories, recording and failing sinks and stores.
import AuditDoubles
import Foundation
import HTTP
import Core
import Pipeline
@testable import Audit

let sharedHTTP: HTTPClient = {
    do { return try HTTPClient() } catch { fatalError("HTTPClient: \(error)") }
}()

func tempDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-audit-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

/// The identity the double gave an entry (its `id`, or its nested object's id), read back from an exported record.
func identity(ofRecord json: JSONValue) -> String? {
    guard let entry = json["entry"] else { return nil }
    return entry["id"]?.stringValue ?? entry["objects"]?.arrayValue?.first?["objectId"]?.stringValue
}

/// Keeps what it receives; can be told to fail (before storing anything, or after storing part of a page).
actor MemorySink: AuditSink {
    nonisolated let name = "memory://test"
    private(set) var records: [(key: String, identity: String, kind: ExportRecord.Kind, json: [UInt8])] = []
    private(set) var pages = 0
    var failNext = 0
    var failProbability = 0.0
    var rng = SplitMix(seed: 7)

    func setFailure(probability: Double) { failProbability = probability }

    func deliver(_ batch: [ExportRecord], exportedAt: EpochMillis, deadline: Deadline) async -> SinkDelivery {
        var result = SinkDelivery()
        if failNext > 0 || (failProbability > 0 && Double(rng.next() % 10_000) / 10_000 < failProbability) {
            if failNext > 0 { failNext -= 1 }
            // A crash in the middle of delivering: part of the page arrived, the rest did not.
            let part = Int(rng.next() % UInt64(batch.count + 1))
            for r in batch.prefix(part) { store(r) }
            result.error = "injected failure after \(part) record(s)"
            return result
        }
        for r in batch { store(r) }
        pages += 1
        result.delivered = batch.count
        return result
    }

    private func store(_ r: ExportRecord) {
        let json = (try? JSONReader.parse(r.json)) ?? .null
        records.append((r.key, identity(ofRecord: json) ?? "", r.kind, r.json))
    }

    var entryRecords: [(key: String, identity: String, kind: ExportRecord.Kind, json: [UInt8])] { records.filter { $0.kind == .entry } }
}

/// A checkpoint store whose commits can fail at random: a process killed after its sinks acknowledged a page but
/// before the checkpoint was written.
final class FlakyStore: CheckpointStore, @unchecked Sendable {
    let inner: any CheckpointStore
    private let lock = NSLock()
    private var rng = SplitMix(seed: 11)
    var failProbability: Double
    private(set) var injected = 0

    init(_ inner: any CheckpointStore, failProbability: Double) {
        self.inner = inner
        self.failProbability = failProbability
    }

    func load(key: String) async throws -> (bytes: [UInt8]?, version: CheckpointVersion) { try await inner.load(key: key) }

    func commit(key: String, bytes: [UInt8], expected: CheckpointVersion) async throws -> CheckpointVersion {
        let fail: Bool = lock.withLock {
            let f = failProbability > 0 && Double(rng.next() % 10_000) / 10_000 < failProbability
            if f { injected += 1 }
            return f
        }
        if fail { throw CheckpointStoreError(key: key, message: "injected crash before the commit") }
        return try await inner.commit(key: key, bytes: bytes, expected: expected)
    }
}

/// An exporter against the double, with a file checkpoint store and the given sinks.
func makeExporter(_ double: AnypointDouble, store: any CheckpointStore, sinks: [any AuditSink], organizations: [String]? = nil,
                  settings: AuditExportSettings = AuditExportSettings(overlapMs: 600_000, lagMs: 0, start: .ago(milliseconds: 5 * 86_400_000),
                                                                      pullMarginMs: 0),
                  requestsPerMinute: Int = 1_000_000, rateWindow: Duration = .seconds(60),
                  rules: [AlertRule] = []) -> AuditExporter {
    let s = double.settings
    let tokens = AnypointClient.tokenProvider(http: sharedHTTP, baseURL: double.baseURL, clientID: s.clientID, secret: { s.clientSecret })
    let client = AnypointClient(baseURL: double.baseURL, http: sharedHTTP, tokens: tokens, requestsPerMinute: requestsPerMinute,
                                rateWindow: rateWindow, retry: RetryPolicy(maxAttempts: 4, base: .milliseconds(5), cap: .milliseconds(50)))
    return AuditExporter(client: client, tokens: tokens, store: store, sinks: sinks, rules: rules, settings: settings,
                         organizations: organizations ?? s.organizations, logger: Logger(level: .warn))
}

/// Every identity the double holds for `org` must be in `identities`; returns the ones missing.
func missing(_ double: AnypointDouble, _ org: String, _ identities: [String]) -> [String] {
    let got = Set(identities)
    return double.entries(org).map(\.identity).filter { !got.contains($0) }
}

func duplicates(_ identities: [String]) -> [String] {
    var seen = Set<String>(), dups: [String] = []
    for i in identities { if !seen.insert(i).inserted { dups.append(i) } }
    return dups
}
