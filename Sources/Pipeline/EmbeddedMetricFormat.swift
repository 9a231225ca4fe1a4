// CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs turns into metrics (shared by every handler).
import Core

public enum EmbeddedMetricFormat {
    public enum Unit: String, Sendable {
        case count = "Count", bytes = "Bytes", milliseconds = "Milliseconds", seconds = "Seconds"
    }

    public struct Metric: Sendable {
        public let name: String
        public let value: Int64
        public let unit: Unit
        public init(_ name: String, _ value: some BinaryInteger, _ unit: Unit = .count) {
            self.name = name
            self.value = Int64(value)
            self.unit = unit
        }
    }

    /// The document, newline-terminated: one dimension set made of every dimension given (their values are top-level
    /// members, so one document carries one value per dimension; a metric per sink needs a document per sink).
    public static func line(namespace: String = "apitap", timestamp: EpochMillis, dimensions: [(name: String, value: String)],
                            metrics: [Metric]) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + metrics.count * 64)
        w.beginObject()
        w.key("_aws")
        w.beginObject()
        w.field("Timestamp", timestamp.value)
        w.key("CloudWatchMetrics")
        w.beginArray()
        w.beginObject()
        w.field("Namespace", namespace)
        w.key("Dimensions"); w.beginArray(); w.beginArray()
        for d in dimensions { w.string(d.name) }
        w.endArray(); w.endArray()
        w.key("Metrics")
        w.beginArray()
        for m in metrics { w.beginObject(); w.field("Name", m.name); w.field("Unit", m.unit.rawValue); w.endObject() }
        w.endArray()
        w.endObject()
        w.endArray()
        w.endObject()
        for d in dimensions { w.field(d.name, d.value) }
        for m in metrics { w.field(m.name, m.value) }
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        return bytes
    }

    /// Lambda sends stdout and stderr to the log group alike; stderr keeps stdout free for NDJSON and summaries in
    /// local runs. A metric line that cannot be written is not worth failing a run for.
    public static func emit(_ line: [UInt8]) {
        try? FileIO.writeAll(2, line)
    }
}
