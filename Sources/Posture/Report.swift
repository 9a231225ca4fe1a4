// The report: the whole model as JSON (schema `apitap.posture/v1`, docs/posture.md), the baseline read back from an
// earlier report, and what changed since (new, resolved, changed findings), like decK's diff summary.
import Core

public struct BaselineDiff: Sendable {
    /// Where the baseline came from (a path or s3:// URI) and when it was made.
    public var source: String
    public var generatedAt: String?
    public var new: [Finding]
    public var resolved: [Finding]
    /// Still there, with other evidence (a value changed again).
    public var changed: [Finding]
    public var unchanged: Int
    /// Baseline findings about an environment this run could not read completely: neither resolved nor kept.
    public var notRechecked: [Finding]

    public var summary: String {
        "Summary: \(new.count) new, \(resolved.count) resolved, \(changed.count) changed, \(unchanged) unchanged"
            + (notRechecked.isEmpty ? "" : ", \(notRechecked.count) not re-checked (environments not read completely)")
    }

    public static func compute(current: [Finding], baseline: [Finding], source: String, generatedAt: String?,
                               incompleteEnvironments: Set<String>) -> BaselineDiff {
        var before: [String: Finding] = [:]
        for f in baseline { before[f.id] = f }
        let now = Set(current.map(\.id))
        var diff = BaselineDiff(source: source, generatedAt: generatedAt, new: [], resolved: [], changed: [], unchanged: 0, notRechecked: [])
        for f in current {
            if let old = before[f.id] {
                if old.evidence == f.evidence { diff.unchanged += 1 } else { diff.changed.append(f) }
            } else {
                diff.new.append(f)
            }
        }
        for f in baseline where !now.contains(f.id) {
            if f.environments.contains(where: incompleteEnvironments.contains) { diff.notRechecked.append(f) } else { diff.resolved.append(f) }
        }
        return diff
    }
}

public struct BaselineError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// An earlier report, as far as the diff needs it.
public struct BaselineReport: Sendable {
    public var generatedAt: String?
    public var findings: [Finding]

    public static func parse(_ bytes: [UInt8]) throws(BaselineError) -> BaselineReport {
        let json: JSONValue
        do { json = try JSONReader.parse(bytes) } catch { throw BaselineError("the baseline is not JSON: \(error)") }
        guard json["schema"]?.stringValue == PostureReport.schema else {
            throw BaselineError("the baseline is not an apitap posture report (schema \(PostureReport.schema) expected)")
        }
        guard let items = json["findings"]?.arrayValue else { throw BaselineError("the baseline has no findings[]") }
        var findings: [Finding] = []
        for item in items {
            guard let id = item["id"]?.stringValue, let kindText = item["kind"]?.stringValue, let kind = FindingKind(rawValue: kindText),
                  let severity = item["severity"]?.stringValue.flatMap(Severity.init(rawValue:)) else {
                throw BaselineError("a baseline finding lacks id, a known kind or a severity")
            }
            let evidence = (item["evidence"]?.arrayValue ?? []).map {
                Evidence(environment: $0["environment"]?.stringValue ?? "", value: $0["value"]?.stringValue ?? "")
            }
            findings.append(Finding(kind: kind, severity: severity, api: item["api"]?.stringValue, apiName: item["apiName"]?.stringValue,
                                    subject: item["subject"]?.stringValue,
                                    environments: (item["environments"]?.arrayValue ?? []).compactMap(\.stringValue), evidence: evidence,
                                    paths: (item["paths"]?.arrayValue ?? []).compactMap(\.stringValue),
                                    message: item["message"]?.stringValue, id: id))
        }
        return BaselineReport(generatedAt: json["generatedAt"]?.stringValue, findings: findings)
    }
}

public struct PostureReport: Sendable {
    public static let schema = "apitap.posture/v1"
    public var collection: PostureCollection
    public var comparison: PostureComparison
    public var secretKeys: SecretKeys
    public var generatedAt: EpochMillis
    public var baseline: BaselineDiff?

    public init(collection: PostureCollection, comparison: PostureComparison, secretKeys: SecretKeys, generatedAt: EpochMillis = .now(),
                baseline: BaselineDiff? = nil) {
        self.collection = collection
        self.comparison = comparison
        self.secretKeys = secretKeys
        self.generatedAt = generatedAt
        self.baseline = baseline
    }

    public var findings: [Finding] { comparison.findings }
    public var isComplete: Bool { collection.isComplete }
    public var environmentLabels: [String] { collection.environments.map(\.environment.label) }

    /// Environments whose API list could not be read: an API missing there is not "not deployed".
    public var unreadEnvironments: Set<String> {
        Set(collection.environments.filter { $0.instances.value == nil }.map(\.environment.label))
    }

    /// Environments with a part that could not be read (the baseline diff does not resolve findings about them).
    public var incompleteEnvironments: Set<String> { Set(collection.missing.map(\.environment)) }

    public func count(_ severity: Severity) -> Int { findings.filter { $0.severity == severity }.count }
    public func count(_ status: APIStatus) -> Int { comparison.apis.filter { $0.status == status }.count }

    // MARK: - JSON

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 64 * 1024)
        w.beginObject()
        w.field("schema", Self.schema)
        w.field("generatedAt", generatedAt.iso8601)
        w.field("complete", isComplete)
        w.key("summary"); writeSummary(&w)
        w.key("organizations"); w.beginArray()
        for o in collection.organizations { w.beginObject(); w.field("id", o.id); w.field("name", o.name); w.endObject() }
        w.endArray()
        w.key("environments"); w.beginArray()
        for e in collection.environments {
            let env = e.environment
            w.beginObject()
            w.field("label", env.label); w.field("id", env.id); w.field("name", env.name)
            w.field("organizationId", env.organizationID); w.field("organizationName", env.organizationName)
            w.field("isProduction", env.isProduction); w.field("type", env.type)
            w.field("apisCollected", e.instances.value != nil)
            w.key("automatedPolicies")
            if let list = e.automatedPolicies.value { writePolicies(list, &w) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.key("missing"); w.beginArray()
        for m in collection.missing {
            w.beginObject(); w.field("environment", m.environment); w.field("api", m.api); w.field("part", m.part); w.field("reason", m.reason)
            w.endObject()
        }
        w.endArray()
        w.key("apis"); w.beginArray()
        for api in comparison.apis { writeAPI(api, &w) }
        w.endArray()
        w.key("findings"); w.beginArray()
        for f in findings { Self.write(f, &w) }
        w.endArray()
        w.key("baseline")
        if let b = baseline {
            w.beginObject()
            w.field("source", b.source); w.field("generatedAt", b.generatedAt); w.field("summary", b.summary)
            for (name, list) in [("new", b.new), ("resolved", b.resolved), ("changed", b.changed), ("notRechecked", b.notRechecked)] {
                w.key(name); w.beginArray(); for f in list { Self.write(f, &w) }; w.endArray()
            }
            w.field("unchanged", b.unchanged)
            w.endObject()
        } else {
            w.null()
        }
        w.key("collection"); w.beginObject()
        w.field("requests", collection.requests); w.field("durationMs", collection.durationMs); w.field("startedAt", collection.startedAt.iso8601)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    private func writeSummary(_ w: inout JSONWriter) {
        w.beginObject()
        w.field("apis", comparison.apis.count)
        w.field("aligned", count(APIStatus.aligned)); w.field("drift", count(APIStatus.drift)); w.field("threat", count(APIStatus.threat))
        w.key("findings"); w.beginObject()
        for s in Severity.allCases { w.field(s.rawValue, count(s)) }
        w.endObject()
        w.field("missingParts", collection.missing.count)
        w.endObject()
    }

    private func writeAPI(_ api: APIView, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("key", api.key); w.field("name", api.name); w.field("groupId", api.groupID); w.field("assetId", api.assetID)
        w.field("instanceLabel", api.label); w.field("status", api.status.rawValue); w.field("incomplete", api.incomplete)
        w.key("instances"); w.beginArray()
        for label in environmentLabels {
            guard let i = api.instances[label] else { continue }
            w.beginObject()
            w.field("environment", label); w.field("id", i.id); w.field("assetVersion", i.assetVersion)
            w.field("productVersion", i.productVersion); w.field("status", i.status)
            w.key("policies")
            if let list = i.policies.value { writePolicies(list, &w) } else { w.null() }
            w.key("tiers")
            if let tiers = i.tiers.value {
                w.beginArray()
                for t in tiers {
                    w.beginObject()
                    w.field("id", t.id); w.field("name", t.name); w.field("status", t.status)
                    w.key("autoApprove"); if let a = t.autoApprove { w.bool(a) } else { w.null() }
                    w.key("limits"); w.beginArray()
                    for l in t.limits {
                        w.beginObject(); w.field("maximumRequests", l.maximumRequests); w.field("timePeriodInMilliseconds", l.timePeriodMs)
                        w.field("visible", l.visible); w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                }
                w.endArray()
            } else { w.null() }
            w.key("contracts")
            if let contracts = i.contracts.value {
                w.beginArray()
                for c in contracts {
                    w.beginObject(); w.field("id", c.id); w.field("application", c.application); w.field("status", c.status)
                    w.field("tier", c.tierName); w.endObject()
                }
                w.endArray()
            } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.key("findings"); w.beginArray()
        for f in findings where f.api == api.key { w.string(f.id) }
        w.endArray()
        w.endObject()
    }

    /// Configurations are written with every secret-looking member masked.
    private func writePolicies(_ list: [PolicySnapshot], _ w: inout JSONWriter) {
        w.beginArray()
        for p in list {
            w.beginObject()
            w.field("key", p.key); w.field("id", p.id); w.field("name", p.displayName)
            w.field("groupId", p.groupID); w.field("assetId", p.assetID); w.field("assetVersion", p.assetVersion)
            w.field("label", p.label)
            w.key("order"); if let o = p.order { w.int(o) } else { w.null() }
            w.field("disabled", p.disabled); w.field("class", p.policyClass.rawValue)
            w.key("configuration")
            if let c = p.configuration { secretKeys.masked(c).write(to: &w) } else { w.null() }
            w.key("pointcut")
            if let pc = p.pointcut { secretKeys.masked(pc).write(to: &w) } else { w.null() }
            w.endObject()
        }
        w.endArray()
    }

    static func write(_ f: Finding, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", f.id); w.field("kind", f.kind.rawValue); w.field("severity", f.severity.rawValue)
        w.field("api", f.api); w.field("apiName", f.apiName); w.field("subject", f.subject)
        w.key("environments"); w.beginArray(); for e in f.environments { w.string(e) }; w.endArray()
        w.key("evidence"); w.beginArray()
        for e in f.evidence { w.beginObject(); w.field("environment", e.environment); w.field("value", e.value); w.endObject() }
        w.endArray()
        w.key("paths"); w.beginArray(); for p in f.paths { w.string(p) }; w.endArray()
        w.field("message", f.message)
        w.endObject()
    }

    /// One finding as compact JSON (the records sent to the sinks carry it).
    public static func json(_ f: Finding) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        write(f, &w)
        return w.bytes
    }
}
