// Checkpoints the audit export stored before the windowed-source mechanism existed are still read, and written alike.
import Core
import Pipeline
import Testing
@testable import Audit

@Suite struct AuditCheckpointCompatibilityTests {
    /// Written by the export of commit e04a5e3: a window cut short after three pages, one rule holding an entry.
    static let stored = #"{"version":1,"organizationId":"org-1","watermark":1800000000000,"watermarkIso":"2027-01-15T08:00:00.000Z","seen":["abc"],"inProgress":{"start":1799999400000,"end":1800000060000,"cursor":"c-3","pagesDone":3,"nextSeen":["2a"]},"alertPending":[{"rule":"failed-logins","user":"ann","entries":[{"id":"e1","timestamp":"2027-01-15T07:59:00.000Z","action":"Login"}]}]}"#

    @Test func aCheckpointOfThePreviousVersionIsReadAndWrittenBackIdentically() throws {
        let c = try AuditCheckpoint.decode(Array(Self.stored.utf8))
        #expect(c.watermark == EpochMillis(1_800_000_000_000) && c.seen == [0xabc])
        #expect(c.inProgress?.cursor == "c-3" && c.inProgress?.pagesDone == 3 && c.inProgress?.nextSeen == [0x2a])
        #expect(c.alertPending.first?.rule == "failed-logins" && c.alertPending.first?.entries.count == 1)
        #expect(String(decoding: c.encoded(organizationID: "org-1"), as: UTF8.self) == Self.stored)
    }

    @Test func aFirstPageCursorIsNull() throws {
        let text = #"{"version":1,"organizationId":"o","watermark":5,"watermarkIso":"1970-01-01T00:00:00.005Z","seen":[],"inProgress":{"start":1,"end":9,"cursor":null,"pagesDone":0,"nextSeen":[]}}"#
        let c = try AuditCheckpoint.decode(Array(text.utf8))
        #expect(c.inProgress != nil && c.inProgress?.cursor == nil)
        #expect(String(decoding: c.encoded(organizationID: "o"), as: UTF8.self) == text)
    }
}
