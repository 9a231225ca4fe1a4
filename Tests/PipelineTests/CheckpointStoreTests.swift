// The file checkpoint store: conditional commits, conflicts between runs, atomic replacement.
import Foundation
import Core
import Pipeline
import Testing

@Suite struct CheckpointStoreTests {
    func store() throws -> FileCheckpointStore {
        try FileCheckpointStore(directory: NSTemporaryDirectory() + "apitap-ckpt-\(UUID().uuidString)/state")
    }

    @Test func firstCommitNeedsAbsenceAndLaterOnesTheLastVersion() async throws {
        let s = try store()
        let (none, v0) = try await s.load(key: "API-Gateway-Execution-Logs_abc/prod")
        #expect(none == nil && v0 == .absent)
        let v1 = try await s.commit(key: "API-Gateway-Execution-Logs_abc/prod", bytes: Array("one".utf8), expected: .absent)
        let (bytes, loaded) = try await s.load(key: "API-Gateway-Execution-Logs_abc/prod")
        #expect(bytes == Array("one".utf8) && loaded == v1)
        _ = try await s.commit(key: "API-Gateway-Execution-Logs_abc/prod", bytes: Array("two".utf8), expected: v1)
        #expect(try await s.load(key: "API-Gateway-Execution-Logs_abc/prod").bytes == Array("two".utf8))
    }

    @Test func aStaleVersionIsAConflictAndLeavesTheStoredCheckpointAlone() async throws {
        let s = try store()
        let v1 = try await s.commit(key: "k", bytes: Array("first".utf8), expected: .absent)
        _ = try await s.commit(key: "k", bytes: Array("second".utf8), expected: v1)
        await #expect(throws: CheckpointConflict.self) { try await s.commit(key: "k", bytes: Array("stale".utf8), expected: v1) }
        await #expect(throws: CheckpointConflict.self) { try await s.commit(key: "k", bytes: Array("new".utf8), expected: .absent) }
        #expect(try await s.load(key: "k").bytes == Array("second".utf8))
    }

    @Test func racingRunsCommitOnceEach() async throws {
        let s = try store()
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    do { _ = try await s.commit(key: "race", bytes: Array("run \(i)".utf8), expected: .absent); return true }
                    catch is CheckpointConflict { return false }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
    }

    @Test func fnvIsStableAcrossProcesses() {
        // Published FNV-1a 64 test values.
        #expect(FNV1a.hex(Array("".utf8)) == "cbf29ce484222325")
        #expect(FNV1a.hex(Array("a".utf8)) == "af63dc4c8601ec8c")
        #expect(FNV1a.hex(Array("foobar".utf8)) == "85944171f73967e8")
        #expect(FNV1a.hex(["ab", "c"]) != FNV1a.hex(["a", "bc"]))
    }
}
