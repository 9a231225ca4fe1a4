// A shared request-rate budget (token bucket): several concurrent readers stay under one account-wide quota.
import Core
import Glibc

public actor RateLimiter {
    private let interval: Duration
    private var nextSlot: ContinuousClock.Instant
    private let clock = ContinuousClock()
    public private(set) var waits = 0

    /// `perSecond` requests per second, evenly spaced (no burst: the CloudWatch quota is per second).
    public init(perSecond: Double) {
        interval = .nanoseconds(Int64(1_000_000_000 / max(perSecond, 0.001)))
        nextSlot = ContinuousClock.now
    }

    /// Waits for the next slot; returns false without waiting when the slot would come after `deadline`.
    public func acquire(before deadline: Deadline) async -> Bool {
        let now = clock.now
        let slot = max(now, nextSlot)
        let wait = slot - now
        if wait.milliseconds >= deadline.remainingMilliseconds() { return false }
        nextSlot = slot + interval
        if wait > .zero {
            waits += 1
            try? await Task.sleep(for: wait)
        }
        return true
    }

    /// After a throttling answer: push every later request back by `pause`.
    public func backOff(_ pause: Duration) {
        nextSlot = max(nextSlot, clock.now + pause)
    }
}
