// DeliveryMode=subscription: the enable-logging custom resource and the API refresh put a CloudWatch Logs
// subscription filter on each collected stage's log group, pointing at the `awslogs` function; they record each one
// in the stage-logging record before putting it, and delete exactly those (never a filter someone else made).
import AWS
import Core

/// Where the subscription filters point and what they are called.
public struct SubscriptionSettings: Sendable, Equatable {
    /// The `awslogs` function's ARN.
    public var destinationArn: String
    /// The name apitap's filter has on every log group (one per stack: it tells apitap's filter from others).
    public var filterName: String
    /// The retention of a REST execution log group apitap creates (API Gateway has not written its first line yet).
    public var logRetentionDays: Int?

    public static let defaultFilterName = "apitap"
    /// CloudWatch Logs' allowed retention values.
    public static let retentionDays: Set<Int> = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                                                 2922, 3288, 3653]

    public init(destinationArn: String, filterName: String = defaultFilterName, logRetentionDays: Int? = nil) {
        self.destinationArn = destinationArn
        self.filterName = filterName
        self.logRetentionDays = logRetentionDays
    }

    /// `DeliveryMode` (poll, the default, or subscription) and the settings subscription mode needs; nil in poll mode.
    static func parse(mode: String?, destination: String?, filterName: String?, retention: String?,
                      problems: inout [String]) -> SubscriptionSettings? {
        switch (mode ?? "poll").lowercased() {
        case "poll": return nil
        case "subscription": break
        default:
            problems.append("DeliveryMode must be poll or subscription, not \"\(mode?.prefix(40) ?? "")\"")
            return nil
        }
        var days: Int?
        if let retention {
            if let n = Int(retention), retentionDays.contains(n) { days = n } else {
                problems.append("LogRetentionDays must be one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, ... 3653), not \"\(retention.prefix(20))\"")
            }
        }
        guard let destination else {
            problems.append("SubscriptionDestinationArn is missing (DeliveryMode subscription needs the awslogs function's ARN)")
            return nil
        }
        if !isFunctionARN(destination) {
            problems.append("SubscriptionDestinationArn \"\(destination.prefix(80))\" is not a Lambda function ARN")
        }
        let name = filterName ?? defaultFilterName
        // CloudWatch: 1-512 characters, no ':' or '*'.
        if name.isEmpty || name.utf8.count > 512 || name.contains(":") || name.contains("*") {
            problems.append("SubscriptionFilterName \"\(name.prefix(40))\" must be 1-512 characters without ':' or '*'")
        }
        return SubscriptionSettings(destinationArn: destination, filterName: name, logRetentionDays: days)
    }

    /// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME` (no qualifier: the filter invokes $LATEST).
    static func isFunctionARN(_ arn: String) -> Bool {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 7 && parts[0] == "arn" && parts[1].hasPrefix("aws") && parts[2] == "lambda" && !parts[3].isEmpty
            && parts[4].count == 12 && parts[4].allSatisfy(\.isNumber) && parts[5] == "function" && !parts[6].isEmpty
    }

    /// The execution-log group API Gateway writes a REST stage's lines to.
    public static func restLogGroup(apiId: String, stage: String) -> String { "API-Gateway-Execution-Logs_\(apiId)/\(stage)" }
}

/// One subscription filter apitap put.
public struct RecordedSubscription: Sendable, Equatable {
    public var logGroup: String
    public var filterName: String
    public var destinationArn: String

    public init(logGroup: String, filterName: String, destinationArn: String) {
        self.logGroup = logGroup
        self.filterName = filterName
        self.destinationArn = destinationArn
    }
}

extension StageLoggingManager {
    /// Subscription filters for one apply: a stack operation removes recorded filters that are no longer wanted; then
    /// every wanted log group gets apitap's filter. The refresh only adds.
    func applySubscriptions(_ settings: StageLoggingSettings, groups: [String], mode: Mode, record: inout StageLoggingRecord,
                            outcome: inout StageLoggingOutcome, deadline: Deadline) async {
        var wanted: [String] = []
        var seen = Set<String>()
        if settings.subscription != nil { for g in groups where seen.insert(g).inserted { wanted.append(g) } }
        if mode == .stack {
            let stale = record.subscriptions.filter { s in
                !seen.contains(s.logGroup) || s.destinationArn != settings.subscription?.destinationArn
                    || s.filterName != settings.subscription?.filterName
            }
            if !stale.isEmpty { await unsubscribe(stale, record: &record, outcome: &outcome, deadline: deadline, settings: settings) }
        }
        guard let subscription = settings.subscription else { return }
        for group in wanted {
            await subscribe(group, subscription, settings: settings, record: &record, outcome: &outcome, deadline: deadline)
        }
    }

    /// Puts apitap's filter on one log group, unless it is there already, a filter of that name goes elsewhere (someone
    /// else's), or the group has CloudWatch's 2 filters already: each of those is reported and the tick keeps polling
    /// the group (it skips only recorded groups).
    private func subscribe(_ group: String, _ subscription: SubscriptionSettings, settings: StageLoggingSettings,
                           record: inout StageLoggingRecord, outcome: inout StageLoggingOutcome, deadline: Deadline) async {
        if deadline.hasPassed() {
            outcome.failures.append("out of time before subscribing log group \(group)")
            return
        }
        let mine = RecordedSubscription(logGroup: group, filterName: subscription.filterName, destinationArn: subscription.destinationArn)
        var existing: [SubscriptionFilter]
        do {
            if let filters = try await backend.subscriptionFilters(logGroup: group, deadline: deadline) {
                existing = filters
            } else {
                // API Gateway creates a REST execution-log group at its first line; a filter needs the group now.
                _ = try await backend.createLogGroup(group, retentionDays: subscription.logRetentionDays, deadline: deadline)
                outcome.notes.append("created log group \(group) (API Gateway had not written to it yet) to subscribe it")
                existing = []
            }
        } catch {
            outcome.failures.append("log group \(group): reading its subscription filters failed: \(error)")
            return
        }
        if let same = existing.first(where: { $0.filterName == subscription.filterName }) {
            if same.destinationArn == subscription.destinationArn {
                if record.subscriptionIndex(group) == nil {
                    // apitap's name and apitap's function: a filter put by a run that stopped before recording it.
                    record.subscriptions.append(mine)
                    await saveOrFail(record, settings, outcome: &outcome, what: "recording the subscription of \(group)", deadline: deadline)
                    outcome.notes.append("log group \(group) already had apitap's subscription filter \(subscription.filterName); recorded")
                }
                outcome.subscriptionsAlreadyOn += 1
            } else {
                outcome.notes.append("log group \(group) has a subscription filter named \(same.filterName) that sends to \(same.destinationArn), not to apitap: left as is; the tick keeps polling the group")
                await forget(group, record: &record, settings: settings, outcome: &outcome, deadline: deadline)
            }
            return
        }
        if existing.count >= CloudWatchLogsClient.subscriptionFiltersPerLogGroup {
            outcome.notes.append("log group \(group) already has \(existing.count) subscription filters (\(existing.map(\.filterName).joined(separator: ", "))), CloudWatch's limit per log group: not subscribed; the tick keeps polling it")
            await forget(group, record: &record, settings: settings, outcome: &outcome, deadline: deadline)
            return
        }
        // Recorded before it is put, so a crash in between never leaves a filter nobody removes.
        if record.subscriptionIndex(group) == nil {
            record.subscriptions.append(mine)
            guard await saveOrFail(record, settings, outcome: &outcome, what: "recording the subscription of \(group)", deadline: deadline) else {
                record.subscriptions.removeAll { $0.logGroup == group }
                return
            }
        } else {
            outcome.notes.append("log group \(group): apitap's subscription filter was removed by someone; put again")
        }
        do {
            try await backend.putSubscriptionFilter(SubscriptionFilter(filterName: subscription.filterName, logGroupName: group,
                                                                       destinationArn: subscription.destinationArn), deadline: deadline)
            outcome.subscribed.append(group)
            logger.info("subscription filter put", [("logGroup", .string(group)), ("filter", .string(subscription.filterName))])
        } catch {
            if backend.isFilterLimit(error) {
                outcome.notes.append("log group \(group) reached CloudWatch's limit of 2 subscription filters meanwhile: not subscribed; the tick keeps polling it")
            } else {
                outcome.failures.append("subscribing log group \(group): \(error)")
            }
            // Not in place: the tick must keep polling it.
            await forget(group, record: &record, settings: settings, outcome: &outcome, deadline: deadline)
        }
    }

    /// Deletes recorded filters that are still apitap's (same name, same destination); a filter changed by someone else
    /// is reported and left. Either way it leaves the record; a failed delete stays for the next try.
    func unsubscribe(_ subscriptions: [RecordedSubscription], record: inout StageLoggingRecord, outcome: inout StageLoggingOutcome,
                     deadline: Deadline, settings: StageLoggingSettings? = nil) async {
        for s in subscriptions {
            if deadline.hasPassed() {
                outcome.failures.append("out of time before removing the subscription filter of \(s.logGroup)")
                continue
            }
            do {
                let current = try await backend.subscriptionFilters(logGroup: s.logGroup, deadline: deadline)
                if let filter = current?.first(where: { $0.filterName == s.filterName }) {
                    if filter.destinationArn == s.destinationArn {
                        _ = try await backend.deleteSubscriptionFilter(logGroup: s.logGroup, filterName: s.filterName, deadline: deadline)
                        outcome.unsubscribed.append(s.logGroup)
                        logger.info("subscription filter deleted", [("logGroup", .string(s.logGroup)), ("filter", .string(s.filterName))])
                    } else {
                        outcome.notes.append("log group \(s.logGroup): the subscription filter \(s.filterName) now sends to \(filter.destinationArn) (changed by someone else after apitap); left as is")
                    }
                } else {
                    outcome.notes.append("log group \(s.logGroup): apitap's subscription filter \(s.filterName) was already gone")
                }
            } catch {
                outcome.failures.append("removing the subscription filter of \(s.logGroup): \(error)")
                continue
            }
            record.subscriptions.removeAll { $0.logGroup == s.logGroup && $0.filterName == s.filterName }
        }
        if let settings {
            await saveOrFail(record, settings, outcome: &outcome, what: "saving the recorded subscription filters", deadline: deadline)
        }
    }

    /// Drops a log group from the record (the filter there is not apitap's, or was never put).
    private func forget(_ group: String, record: inout StageLoggingRecord, settings: StageLoggingSettings,
                        outcome: inout StageLoggingOutcome, deadline: Deadline) async {
        guard record.subscriptionIndex(group) != nil else { return }
        record.subscriptions.removeAll { $0.logGroup == group }
        await saveOrFail(record, settings, outcome: &outcome, what: "updating the recorded subscription filters", deadline: deadline)
    }

    @discardableResult
    private func saveOrFail(_ record: StageLoggingRecord, _ settings: StageLoggingSettings, outcome: inout StageLoggingOutcome,
                            what: String, deadline: Deadline) async -> Bool {
        do {
            try await save(record, settings.stateBucket, settings.stateKey, deadline: deadline)
            return true
        } catch {
            outcome.failures.append("\(what) in s3://\(settings.stateBucket)/\(settings.stateKey) failed: \(error)")
            return false
        }
    }
}
