// Loading fixture files and running them through the stitcher, shared by the Traffic tests.
import AWS
import Foundation
import Core
@testable import Traffic

enum Fixtures {
    /// Tests/Fixtures, found from this file so tests run from any working directory.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let restLogGroup = LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod")
    static let region = AWSRegion("eu-west-2")
    static let account = AWSAccountID("123456789012")

    struct Event {
        var logStream: LogStreamName
        var timestamp: EpochMillis
        var message: String
        var eventId: String
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    static func events(_ name: String) throws -> [Event] {
        let text = String(decoding: try data(name), as: UTF8.self)
        return try text.split(separator: "\n").map { line in
            let value = try JSONReader.parse(String(line))
            guard let stream = value["logStreamName"]?.stringValue, let ts = value["timestamp"]?.int64Value,
                  let message = value["message"]?.stringValue else { throw FixtureError.badEvent(String(line)) }
            return Event(logStream: LogStreamName(stream), timestamp: EpochMillis(ts), message: message,
                         eventId: value["eventId"]?.stringValue ?? "")
        }
    }

    enum FixtureError: Error { case badEvent(String) }

    static func stitcher(options: StitcherOptions = StitcherOptions()) -> RESTExecutionLogStitcher<TextExecutionLogFormat> {
        RESTExecutionLogStitcher(logGroup: restLogGroup, region: region, accountId: account, options: options)
    }

    /// Stitches the fixtures as one input and flushes at the end, like `apitap stitch`.
    static func stitch(_ names: String..., options: StitcherOptions = StitcherOptions()) throws -> ([Transaction], TrafficCounters) {
        var s = stitcher(options: options)
        var out: [Transaction] = []
        for name in names {
            for e in try events(name) { s.ingest(logStream: e.logStream, timestamp: e.timestamp, message: e.message) { out.append($0) } }
        }
        s.flushAll { out.append($0) }
        return (out, s.counters)
    }

    static func one(_ name: String) throws -> Transaction {
        let (all, _) = try stitch(name)
        guard all.count == 1, let t = all.first else { throw FixtureError.badEvent("expected one transaction, got \(all.count)") }
        return t
    }
}

extension Array where Element == NameValuePair {
    func value(_ name: String) -> String? { first { $0.name.lowercased() == name.lowercased() }?.value }
    func values(_ name: String) -> [String] { filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
    var names: [String] { map(\.name) }
}
