// The tick's metrics in CloudWatch Embedded Metric Format: what the alarms in the template watch.
import Core
import Pipeline

extension TickSummary {
    /// The tick's metrics as one CloudWatch Embedded Metric Format line (namespace `apitap`, dimension FunctionName).
    public func metricsLine(functionName: String) -> [UInt8] {
        let summary = self
        var events = 0, duplicates = 0, delivered = 0, failed = 0, emitted = 0, filtered = 0, incomplete = 0, retries = 0, sent = 0
        var failedGroups = 0
        for g in summary.groups where !g.isFlex {
            events += g.events; duplicates += g.duplicates
            delivered += g.delivery.deliveredRecords; failed += g.delivery.failedRecords; retries += g.delivery.retries
            sent += g.delivery.bytesSent
            emitted += g.traffic.transactionsEmitted; filtered += g.traffic.filtered.total; incomplete += g.traffic.transactionsIncomplete
            if !g.result.isSuccess { failedGroups += 1 }
        }
        typealias M = EmbeddedMetricFormat.Metric
        var metrics = [
            M("EventsFetched", events), M("DuplicatesSkipped", duplicates), M("TransactionsEmitted", emitted),
            M("TransactionsFiltered", filtered), M("TransactionsIncomplete", incomplete), M("TransactionsDelivered", delivered),
            M("TransactionsFailed", failed), M("DeliveryRetries", retries), M("BytesSent", sent, .bytes),
            M("LogGroupsFailed", failedGroups), M("DurationMs", summary.durationMs, .milliseconds),
        ]
        // Flex Gateway apart, and only when it is on (no zero series for a source nobody uses).
        let flex = summary.groups.filter(\.isFlex)
        if !flex.isEmpty {
            var c = FlexCounters()
            var flexDelivered = 0, flexFailed = 0
            for g in flex {
                c += g.flex ?? FlexCounters()
                flexDelivered += g.delivery.deliveredRecords
                flexFailed += g.delivery.failedRecords
            }
            metrics += [
                M("FlexLinesParsed", c.traffic.linesParsed), M("FlexLinesIgnored", c.ignoredTotal), M("FlexLinesFailed", c.traffic.linesFailed),
                M("FlexTransactionsEmitted", c.traffic.transactionsEmitted), M("FlexTransactionsIncomplete", c.traffic.transactionsIncomplete),
                M("FlexTransactionsNotEncoded", c.traffic.encoding.notEncodedTotal), M("FlexTransactionsDelivered", flexDelivered),
                M("FlexTransactionsFailed", flexFailed), M("FlexSourcesFailed", flex.filter { !$0.result.isSuccess }.count),
            ]
        }
        return EmbeddedMetricFormat.line(timestamp: summary.startedAt, dimensions: [("FunctionName", functionName)], metrics: metrics)
    }
}
