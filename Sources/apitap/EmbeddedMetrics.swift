// Metrics in CloudWatch Embedded Metric Format, written by the handlers in Lambda (never on the command line).
import Pipeline
import Traffic

enum EmbeddedMetrics {
    static func emit(_ summary: TickSummary, functionName: String) {
        EmbeddedMetricFormat.emit(summary.metricsLine(functionName: functionName))
    }
}
