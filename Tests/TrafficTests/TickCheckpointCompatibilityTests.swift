// Checkpoints the tick stored before the windowed-source mechanism existed are still read, member for member.
import AWS
import Core
import Pipeline
import Testing
@testable import Traffic

@Suite struct TickCheckpointCompatibilityTests {
    /// Written by the tick of commit e04a5e3 (a window cut short, carrying one open request).
    static let stored = #"{"version":1,"logGroup":"API-Gateway-Execution-Logs_a1b2c3d4e5/prod","watermark":1800000000000,"watermarkIso":"2027-01-15T08:00:00.000Z","seen":["1f","abc"],"inProgress":{"start":1799999880000,"end":1800000050000,"nextToken":"f/3712/ab==","nextSeen":["2a"]},"stitcher":{"version":1,"logGroup":"API-Gateway-Execution-Logs_a1b2c3d4e5/prod","requests":[],"emitted":[["s1","r1",1800000000001]]}}"#

    @Test func aCheckpointOfThePreviousVersionIsRead() throws {
        let c = try TickCheckpoint.decode(Array(Self.stored.utf8))
        #expect(c.watermark == EpochMillis(1_800_000_000_000) && c.seen == [0x1f, 0xabc])
        #expect(c.inProgress == WindowCheckpoint.InProgress(start: EpochMillis(1_799_999_880_000), end: EpochMillis(1_800_000_050_000),
                                                            position: "f/3712/ab==", nextSeen: [0x2a], pagesDone: 0))
        let state = try #require(c.stitcherState)
        var stitcher = RESTExecutionLogStitcher(logGroup: LogGroupName("API-Gateway-Execution-Logs_a1b2c3d4e5/prod"),
                                                region: AWSRegion("eu-west-2"), accountId: nil)
        try stitcher.restoreState(state)
    }

    @Test func aCompleteCheckpointIsWrittenAsThePreviousVersionWroteIt() throws {
        let c = TickCheckpoint(watermark: EpochMillis(1_800_000_000_000), seen: [0x1f])
        let text = String(decoding: c.encoded(logGroup: LogGroupName("g")), as: UTF8.self)
        #expect(text == #"{"version":1,"logGroup":"g","watermark":1800000000000,"watermarkIso":"2027-01-15T08:00:00.000Z","seen":["1f"],"inProgress":null,"stitcher":null}"#)
        #expect(try TickCheckpoint.decode(Array(text.utf8)) == c)
    }
}
