// The EMF document every handler writes: CloudWatch reads metric names, units and dimension values from it.
import Core
import Pipeline
import Testing

@Suite struct EmbeddedMetricFormatTests {
    @Test func oneDocumentNamesItsMetricsAndCarriesTheirValues() throws {
        let line = EmbeddedMetricFormat.line(timestamp: EpochMillis(1_795_000_000_000),
                                             dimensions: [("FunctionName", "audit"), ("Sink", "file:///tmp/a")],
                                             metrics: [.init("AuditEntriesExported", 42), .init("AuditWatermarkLagSeconds", 7, .seconds)])
        #expect(line.last == 0x0A && line.dropLast().allSatisfy { $0 != 0x0A }, "one line")
        let doc = try JSONReader.parse(Array(line.dropLast()))
        let directive = try #require(doc["_aws"]?["CloudWatchMetrics"]?.arrayValue?.first)
        #expect(doc["_aws"]?["Timestamp"]?.int64Value == 1_795_000_000_000)
        #expect(directive["Namespace"]?.stringValue == "apitap")
        #expect(directive["Dimensions"]?.arrayValue?.first?.arrayValue?.compactMap(\.stringValue) == ["FunctionName", "Sink"])
        #expect(directive["Metrics"]?.arrayValue?.compactMap { $0["Unit"]?.stringValue } == ["Count", "Seconds"])
        #expect(doc["FunctionName"]?.stringValue == "audit" && doc["Sink"]?.stringValue == "file:///tmp/a")
        #expect(doc["AuditEntriesExported"]?.int64Value == 42 && doc["AuditWatermarkLagSeconds"]?.int64Value == 7)
    }
}
