// Deadline.reserving: the one way handlers keep time back for answering, delivering and committing.
import Core
import Testing

@Suite struct DeadlineTests {
    @Test func reservingKeepsTimeBackAndNeverMoreThanTheShareAsked() {
        let now = EpochMillis(1_000_000)
        let d = Deadline(epoch: now.adding(milliseconds: 60_000))
        #expect(d.reserving(milliseconds: 10_000).remainingMilliseconds(now: now) == 50_000)
        #expect(d.reserving(milliseconds: -5).remainingMilliseconds(now: now) == 60_000, "a negative reserve keeps nothing back")
        #expect(d.reserving(milliseconds: 10_000, atMost: 0.25, now: now).remainingMilliseconds(now: now) == 50_000)
        let short = Deadline(epoch: now.adding(milliseconds: 8_000))
        #expect(short.reserving(milliseconds: 10_000, atMost: 0.25, now: now).remainingMilliseconds(now: now) == 6_000)
        let past = Deadline(epoch: now.adding(milliseconds: -1))
        #expect(past.reserving(milliseconds: 10_000, atMost: 0.25, now: now) == past)
    }
}
