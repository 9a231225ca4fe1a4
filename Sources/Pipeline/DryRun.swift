// `--dry-run`: the source reads and the transform runs as usual, but nothing leaves the process and no checkpoint
// moves. The sink acknowledges and counts; the store reads the real checkpoints and keeps commits to itself.
import Core

/// Acknowledges every batch without sending it, and counts what would have been sent.
public struct DryRunSink: BatchSink {
    public init() {}

    public func deliver(_ batches: [Batch], deadline: Deadline) async -> DeliveryReport {
        var report = DeliveryReport()
        for batch in batches {
            report.deliveredBatches += 1
            report.deliveredRecords += batch.count
            report.bytesRaw += batch.bytes.count
        }
        return report
    }
}

/// Reads checkpoints from `base` and never writes to it: a commit answers as if it had been made.
public struct ReadOnlyCheckpointStore: CheckpointStore {
    public let base: any CheckpointStore

    public init(_ base: any CheckpointStore) { self.base = base }

    public func load(key: String) async throws -> (bytes: [UInt8]?, version: CheckpointVersion) {
        try await base.load(key: key)
    }

    public func commit(key: String, bytes: [UInt8], expected: CheckpointVersion) async throws -> CheckpointVersion {
        expected
    }
}
