// Where a client's credentials come from: fixed ones, or temporary ones fetched once and renewed before they expire.
import Core

/// The seam between the client core and the credential sources. A client asks before every signed attempt, so a
/// long run keeps working across renewals.
public protocol AWSCredentialProvider: Sendable, CustomStringConvertible {
    /// Credentials good for the next request. A source that cannot give any fails with an `AWSError` whose service
    /// is `AWSCredentialError.service` (or STS's own error, for an assumed role).
    func credentials(deadline: Deadline) async throws(AWSError) -> AWSCredentials
    /// AWS refused `credentials` as expired: forget them, so that the next call fetches new ones.
    func invalidate(_ credentials: AWSCredentials) async
}

/// Errors of the credential sources, in the shape every caller already handles.
public enum AWSCredentialError {
    public static let service = "AWS credentials"

    static func make(_ source: String, _ code: String, _ message: String, status: Int? = nil,
                     retryable: Bool = false) -> AWSError {
        AWSError(service: service, operation: source, status: status, code: code, message: message, isRetryable: retryable)
    }
}

/// Credentials that never change: the environment's (Lambda's), or an access key in a profile.
public struct StaticCredentialProvider: AWSCredentialProvider {
    public let fixed: AWSCredentials
    /// Where they came from, for `description` (`environment`, `profile "dev"`).
    public let source: String

    public init(_ credentials: AWSCredentials, source: String) {
        self.fixed = credentials
        self.source = source
    }

    public func credentials(deadline: Deadline) async throws(AWSError) -> AWSCredentials { fixed }
    public func invalidate(_ credentials: AWSCredentials) async {}
    public var description: String { "\(source): \(fixed)" }
}

/// Temporary credentials (an assumed role, the container endpoint, IMDS): fetched on first use, kept, and renewed a
/// few minutes before they expire. Concurrent callers share one fetch. If a renewal fails while the old credentials
/// still work, they are used on and the renewal is tried again a little later; once they no longer work, the
/// failure is the caller's.
public actor RenewingCredentialProvider: AWSCredentialProvider {
    public typealias Fetch = @Sendable (Deadline) async throws(AWSError) -> AWSCredentials

    /// Renew this long before the expiration (at most half the lifetime, for short-lived credentials).
    public static let renewalMarginMs: Int64 = 5 * 60_000
    /// Credentials this close to their expiration are not used: a request signed now may arrive later.
    public static let minimumValidityMs: Int64 = 15_000
    /// After a failed renewal, the old credentials are used without trying again for this long.
    public static let retryAfterFailureMs: Int64 = 30_000
    /// Credentials given without an expiration are fetched again after this long.
    public static let unknownLifetimeMs: Int64 = 15 * 60_000

    public nonisolated let description: String
    private let fetch: Fetch
    private let clock: @Sendable () -> EpochMillis
    private var current: (credentials: AWSCredentials, renewAt: EpochMillis, usableUntil: EpochMillis)?
    private var retryAt: EpochMillis?
    private var inFlight: Task<Result<AWSCredentials, AWSError>, Never>?
    /// Fetch attempts so far, failed ones included (tests check single-flight and renewal with it).
    public private(set) var fetches = 0

    /// `clock` decides when credentials are renewed (tests move it instead of waiting); signing keeps its own.
    public init(_ description: String, clock: @escaping @Sendable () -> EpochMillis = { EpochMillis.now() },
                fetch: @escaping Fetch) {
        self.description = description
        self.clock = clock
        self.fetch = fetch
    }

    public func credentials(deadline: Deadline) async throws(AWSError) -> AWSCredentials {
        let now = clock()
        if let current {
            if now < current.renewAt { return current.credentials }
            if let retryAt, now < retryAt, now < current.usableUntil { return current.credentials }
        }
        let task: Task<Result<AWSCredentials, AWSError>, Never>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { await self.renew(deadline: deadline) }
            inFlight = task
        }
        return try await task.value.get()
    }

    public func invalidate(_ credentials: AWSCredentials) {
        if current?.credentials.accessKeyID == credentials.accessKeyID { current = nil }
    }

    private func renew(deadline: Deadline) async -> Result<AWSCredentials, AWSError> {
        defer { inFlight = nil }
        fetches += 1
        let started = clock()
        do throws(AWSError) {
            let fresh = try await fetch(deadline)
            let expiration = fresh.expiration ?? started.adding(milliseconds: Self.unknownLifetimeMs)
            let usableUntil = expiration.adding(milliseconds: -Self.minimumValidityMs)
            guard clock() < usableUntil else {
                // Usually a clock that is far off: AWS would refuse requests signed with it too.
                throw AWSCredentialError.make(description, "ExpiredCredentials",
                                              "the source gave credentials that expire at \(expiration.iso8601), "
                                                  + "which is past by this machine's clock (\(clock().iso8601))")
            }
            let margin = min(Self.renewalMarginMs, (expiration.value - started.value) / 2)
            current = (fresh, expiration.adding(milliseconds: -margin), usableUntil)
            retryAt = nil
            return .success(fresh)
        } catch {
            let now = clock()
            if let current, now < current.usableUntil {
                retryAt = now.adding(milliseconds: Self.retryAfterFailureMs)
                return .success(current.credentials)
            }
            return .failure(error)
        }
    }
}
