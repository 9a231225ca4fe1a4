// The tick's handler logic outside the executable: the EMF line the alarms watch, and the account read from the ARN.
import AWS
import Core
import Pipeline
import Testing
import Traffic

@Suite struct TickMetricsTests {
    private func group(_ name: String, result: WindowResult, events: Int, delivered: Int, failed: Int, flex: FlexCounters? = nil) -> LogGroupOutcome {
        var g = LogGroupOutcome(logGroup: LogGroupName(name))
        g.result = result
        g.records = events
        g.duplicates = 1
        g.delivery.deliveredRecords = delivered
        g.delivery.failedRecords = failed
        g.delivery.retries = 2
        g.delivery.bytesSent = 1000
        g.traffic.transactionsEmitted = delivered + failed
        g.flex = flex
        return g
    }

    private func metrics(_ summary: TickSummary) throws -> JSONValue {
        let line = summary.metricsLine(functionName: "apitap-tick")
        #expect(line.last == 0x0A && line.dropLast().allSatisfy { $0 != 0x0A }, "one line")
        return try JSONReader.parse(Array(line.dropLast()))
    }

    @Test func gatewayGroupsAreSummedAndFailuresCounted() throws {
        var summary = TickSummary(startedAt: EpochMillis(1_795_000_000_000))
        summary.durationMs = 4321
        summary.groups = [group("/a", result: .committed, events: 10, delivered: 7, failed: 0),
                          group("/b", result: .deliveryFailed, events: 5, delivered: 1, failed: 3)]
        let doc = try metrics(summary)
        #expect(doc["FunctionName"]?.stringValue == "apitap-tick")
        #expect(doc["_aws"]?["Timestamp"]?.int64Value == 1_795_000_000_000)
        #expect(doc["EventsFetched"]?.int64Value == 15 && doc["DuplicatesSkipped"]?.int64Value == 2)
        #expect(doc["TransactionsDelivered"]?.int64Value == 8 && doc["TransactionsFailed"]?.int64Value == 3)
        #expect(doc["TransactionsEmitted"]?.int64Value == 11 && doc["DeliveryRetries"]?.int64Value == 4)
        #expect(doc["BytesSent"]?.int64Value == 2000 && doc["LogGroupsFailed"]?.int64Value == 1)
        #expect(doc["DurationMs"]?.int64Value == 4321)
        // No Flex series when no Flex source ran.
        #expect(doc["FlexLinesParsed"] == nil && doc["FlexTransactionsDelivered"] == nil)
        let names = doc["_aws"]?["CloudWatchMetrics"]?.arrayValue?.first?["Metrics"]?.arrayValue?.compactMap { $0["Name"]?.stringValue }
        #expect(names?.contains("LogGroupsFailed") == true && names?.contains("TransactionsDelivered") == true)
    }

    @Test func flexIsCountedApartFromAPIGateway() throws {
        var counters = FlexCounters()
        counters.traffic.linesParsed = 40
        var summary = TickSummary(startedAt: EpochMillis(1_795_000_000_000))
        summary.groups = [group("/gw", result: .committed, events: 10, delivered: 4, failed: 0),
                          group("/flex/a", result: .failed, events: 40, delivered: 9, failed: 1, flex: counters)]
        let doc = try metrics(summary)
        #expect(doc["EventsFetched"]?.int64Value == 10 && doc["TransactionsDelivered"]?.int64Value == 4)
        #expect(doc["LogGroupsFailed"]?.int64Value == 0, "a failed Flex source is FlexSourcesFailed, not a log group")
        #expect(doc["FlexLinesParsed"]?.int64Value == 40 && doc["FlexTransactionsDelivered"]?.int64Value == 9)
        #expect(doc["FlexTransactionsFailed"]?.int64Value == 1 && doc["FlexSourcesFailed"]?.int64Value == 1)
    }

    @Test(arguments: [
        ("arn:aws:lambda:eu-west-1:123456789012:function:apitap-tick", "123456789012"),
        ("arn:aws:lambda:eu-west-1:123456789012:function:apitap-tick:live", "123456789012"),
        ("arn:aws-us-gov:lambda:us-gov-west-1:210987654321:function:f", "210987654321"),
    ])
    func accountFromFunctionARN(arn: String, account: String) {
        #expect(AWSAccountID(functionARN: arn)?.rawValue == account)
    }

    @Test(arguments: ["", "apitap", "arn:aws:lambda:eu-west-1::function:f", "arn:aws:lambda:eu-west-1:12345678901x:function:f",
                      "arn:aws:lambda:eu-west-1:1234567890123:function:f", "aws:lambda:eu-west-1:123456789012:function:f"])
    func noAccountFromAnythingElse(arn: String) {
        #expect(AWSAccountID(functionARN: arn) == nil)
    }
}
