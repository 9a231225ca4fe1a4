// Temporary credentials kept and renewed on a clock the test moves: before the expiry margin, after expiry, one fetch
// for many callers, and the old credentials used on while a renewal fails.
import Core
import HTTP
import Testing
@testable import AWS

/// A clock that only moves when told to. It starts at the real time, because fakes stamp expirations with it.
final class TestClock: Sendable {
    private let now = Locked(EpochMillis.now())
    var current: EpochMillis { now.value }
    func advance(minutes: Int64 = 0, seconds: Int64 = 0) { now.withLock { $0 = $0.adding(milliseconds: (minutes * 60 + seconds) * 1000) } }
    var closure: @Sendable () -> EpochMillis { { self.current } }
}

/// A scripted credential source: each fetch returns the next key, valid for `lifetime` from the clock's now,
/// or fails while `failing` is set.
final class ScriptedSource: Sendable {
    let clock: TestClock
    let lifetimeMs: Int64
    private let state = Locked((count: 0, failing: false))
    init(clock: TestClock, lifetimeMinutes: Int64 = 60) { self.clock = clock; self.lifetimeMs = lifetimeMinutes * 60_000 }

    var failing: Bool {
        get { state.value.failing }
        set { state.withLock { $0.failing = newValue } }
    }
    var calls: Int { state.value.count }

    func fetch(_ deadline: Deadline) async throws(AWSError) -> AWSCredentials {
        let (n, failing) = state.withLock { s -> (Int, Bool) in s.count += 1; return (s.count, s.failing) }
        if failing { throw AWSCredentialError.make("scripted", "ServiceUnavailable", "down", status: 503) }
        return AWSCredentials(accessKeyID: "ASIA\(n)", secretAccessKey: "secret-\(n)-value", sessionToken: "token-\(n)-value",
                              expiration: clock.current.adding(milliseconds: lifetimeMs))
    }
}

@Suite struct RenewingCredentialProviderTests {
    func make(_ clock: TestClock, _ source: ScriptedSource) -> RenewingCredentialProvider {
        RenewingCredentialProvider("scripted", clock: clock.closure) { deadline async throws(AWSError) in try await source.fetch(deadline) }
    }

    @Test func keptUntilTheMarginThenRenewed() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock)
        let provider = make(clock, source)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1")
        clock.advance(minutes: 54)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1", "6 minutes left: kept")
        clock.advance(minutes: 2)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA2", "4 minutes left: renewed")
        #expect(source.calls == 2)
    }

    @Test func expiredCredentialsAreRenewedBeforeUse() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock, lifetimeMinutes: 8)
        let provider = make(clock, source)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1")
        clock.advance(minutes: 30)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA2")
        // Short-lived credentials renew at half their life (4 of 8 minutes), not 5 minutes before they expire.
        clock.advance(minutes: 3)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA2")
        clock.advance(minutes: 1)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA3")
    }

    @Test func concurrentCallersShareOneFetch() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock)
        let provider = make(clock, source)
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<32 { group.addTask { try await provider.credentials(deadline: .distant).accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(keys == ["ASIA1"])
        #expect(source.calls == 1)
        #expect(await provider.fetches == 1)
    }

    @Test func aFailedRenewalKeepsTheOldCredentialsWhileTheyWork() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock)
        let provider = make(clock, source)
        _ = try await provider.credentials(deadline: .distant)
        source.failing = true
        clock.advance(minutes: 57)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1", "renewal failed, 3 minutes left")
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1")
        #expect(source.calls == 2, "no second try within 30 seconds")
        clock.advance(seconds: 31)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1")
        #expect(source.calls == 3)
        // Once they no longer work, the failure is the caller's.
        clock.advance(minutes: 3)
        await #expect(throws: AWSError.self) { try await provider.credentials(deadline: .distant) }
        source.failing = false
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA5")
    }

    @Test func invalidatedCredentialsAreFetchedAgain() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock)
        let provider = make(clock, source)
        let first = try await provider.credentials(deadline: .distant)
        await provider.invalidate(AWSCredentials(accessKeyID: "OTHER", secretAccessKey: "x"))
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA1", "another key: nothing to forget")
        await provider.invalidate(first)
        #expect(try await provider.credentials(deadline: .distant).accessKeyID == "ASIA2")
    }

    @Test func credentialsAlreadyExpiredOnArrivalAreAnError() async throws {
        let clock = TestClock()
        let provider = RenewingCredentialProvider("stale", clock: clock.closure) { _ async throws(AWSError) in
            AWSCredentials(accessKeyID: "ASIAOLD", secretAccessKey: "s", expiration: clock.current.adding(milliseconds: -60_000))
        }
        do {
            _ = try await provider.credentials(deadline: .distant)
            Issue.record("expired credentials were handed out")
        } catch {
            #expect(error.code == "ExpiredCredentials")
            #expect(error.description.contains("past by this machine's clock"))
        }
    }

    @Test func aTokenAWSCallsExpiredIsRenewedAndTheCallSignedAgain() async throws {
        let clock = TestClock()
        let source = ScriptedSource(clock: clock)
        let provider = make(clock, source)
        let expired = json(400, #"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#)
        let aws = try FakeAWS([expired, json(200, #"{"logGroups":[]}"#)])
        let client = try AWSClient(http: sharedHTTP, credentialProvider: provider, region: AWSRegion("us-east-1"),
                                   environment: ["AWS_ENDPOINT_URL": aws.server.baseURL], retry: fastRetry)
        _ = try await CloudWatchLogsClient(client).describeLogGroups()
        #expect(aws.requests.map { $0.header("X-Amz-Security-Token") } == ["token-1-value", "token-2-value"])

        // Fixed credentials cannot be renewed: the refusal is the caller's after the usual number of attempts.
        let fixed = try FakeAWS([expired])
        let lambda = try AWSClient(http: sharedHTTP, credentials: AWSCredentials(accessKeyID: "ASIAFIXED", secretAccessKey: "s",
                                                                                  sessionToken: "fixed-token"),
                                   region: AWSRegion("us-east-1"), environment: ["AWS_ENDPOINT_URL": fixed.server.baseURL],
                                   retry: fastRetry)
        await #expect(throws: AWSError.self) { _ = try await CloudWatchLogsClient(lambda).describeLogGroups() }
        #expect(fixed.requests.count == fastRetry.maxAttempts)
    }
}
