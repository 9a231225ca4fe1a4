// DELIVERY_MODE=subscription on the tick's side: which API Gateway log groups CloudWatch pushes to the `awslogs`
// function (those the stage-logging record lists as carrying apitap's subscription filter), so the tick does not
// also poll them. A group without the filter (the 2-filter limit, someone else's filter) is still polled.
import AWS
import Core

/// Reads the enable-logging record for its subscribed log groups, at most every `cacheSeconds`.
public actor SubscribedLogGroups {
    public typealias Loader = @Sendable (Deadline) async throws -> [UInt8]?
    private let load: Loader
    private let cacheMs: Int64
    private var cached: (groups: Set<String>, at: EpochMillis)?

    public init(cacheSeconds: Int, load: @escaping Loader) {
        self.load = load
        self.cacheMs = Int64(cacheSeconds) * 1000
    }

    /// The record in S3 (a missing record: nothing is subscribed).
    public init(s3: S3Client, location: S3ObjectLocation, cacheSeconds: Int) {
        self.init(cacheSeconds: cacheSeconds) { deadline in
            try await s3.getObject(bucket: location.bucket, key: location.key, deadline: deadline)?.body
        }
    }

    public func groups(deadline: Deadline) async throws -> Set<String> {
        let now = EpochMillis.now()
        if let cached, now.value - cached.at.value < cacheMs { return cached.groups }
        var groups = Set<String>()
        if let bytes = try await load(deadline) {
            groups = Set(try StageLoggingRecord.decode(bytes).subscriptions.map(\.logGroup))
        }
        cached = (groups, now)
        return groups
    }

    /// Splits the tick's API Gateway targets into those it polls and the log groups it leaves to the push.
    public static func split(_ targets: [LogGroupTarget], pushed: Set<String>) -> (poll: [LogGroupTarget], pushed: [String]) {
        var poll: [LogGroupTarget] = []
        var skipped: [String] = []
        for t in targets {
            if t.kind != .flex && pushed.contains(t.logGroup.rawValue) { skipped.append(t.logGroup.rawValue) } else { poll.append(t) }
        }
        return (poll, skipped)
    }
}
