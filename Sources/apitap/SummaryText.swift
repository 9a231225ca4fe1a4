// Run summaries for a person at a terminal: the same JSON the function returns, said in a few lines.
import ArgumentParser
import Core
import Glibc

enum SummaryText {
    /// How a command prints its summary: JSON (the default when stdout is not a terminal) or text.
    enum Style: String, ExpressibleByArgument, CaseIterable {
        case json, table

        /// `--output` when given, else text at a terminal and JSON otherwise.
        static func resolve(_ given: Style?, descriptor: Int32 = 1) -> Style {
            given ?? (isatty(descriptor) == 1 ? .table : .json)
        }
    }

    /// The tick summary (`TickSummary.json()`) as text; nil when it is not one.
    static func tick(_ json: [UInt8]) -> String? {
        guard let s = try? JSONReader.parse(json), s["handler"]?.stringValue == "tick" else { return nil }
        func int(_ v: JSONValue?) -> Int { Int(v?.int64Value ?? 0) }
        var lines: [String] = []
        let results = s["logGroupResults"]?.objectValue?.members ?? []
        let groups = int(s["logGroups"])
        let committed = results.filter { ["committed", "would-commit", "idle"].contains($0.key) }.reduce(0) { $0 + int($1.value) }
        let seconds = Double(int(s["durationMs"])) / 1000
        let dry = s["sink"]?.stringValue == "dry-run"
        lines.append("apitap tick\(dry ? " (dry run: nothing sent, no checkpoint written)" : ""): "
                     + "\(committed) of \(groups) log group\(groups == 1 ? "" : "s") \(dry ? "read" : "committed") in \(format(seconds)) s"
                     + (results.isEmpty ? "" : " (" + results.map { "\($0.key) \(int($0.value))" }.joined(separator: ", ") + ")"))
        lines.append("  read       \(thousands(int(s["eventsFetched"]))) events in \(thousands(int(s["pages"]))) pages "
                     + "from \(thousands(int(s["logStreams"]))) log streams (\(thousands(int(s["duplicatesSkipped"]))) duplicates skipped)")
        let traffic = s["traffic"]
        let filtered = (traffic?["filtered"]?.objectValue?.members ?? []).reduce(0) { $0 + int($1.value) }
        let notEncoded = (traffic?["encoding"]?["notEncoded"]?.objectValue?.members ?? []).reduce(0) { $0 + int($1.value) }
        lines.append("  stitched   \(thousands(int(traffic?["transactionsEmitted"]))) transactions "
                     + "(\(thousands(int(traffic?["transactionsIncomplete"]))) incomplete, \(thousands(filtered)) filtered out, "
                     + "\(thousands(notEncoded)) the payload format cannot express)")
        lines.append(contentsOf: delivery(s))
        if let pushed = s["logGroupsPushed"]?.int64Value {
            lines.append("  pushed     \(pushed) log group\(pushed == 1 ? "" : "s") delivered by subscription (DELIVERY_MODE=subscription), not polled")
        }
        if let flex = s["flex"] {
            let counters = flex["counters"]?["traffic"]
            lines.append("  flex       \(thousands(int(flex["eventsFetched"]))) lines from \(int(flex["sources"])) source(s): "
                         + "\(thousands(int(counters?["transactionsEmitted"]))) transactions, "
                         + "\(thousands(int(counters?["linesFailed"]))) lines unreadable")
            lines.append(contentsOf: delivery(flex).map { "  " + $0 })
        }
        if let error = s["discoveryError"]?.stringValue { lines.append("  discovery failed: \(error)") }
        let notes = s["notes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !notes.isEmpty {
            lines.append("  notes:")
            lines += notes.map { "    - \($0)" }
        }
        let errors = s["errors"]?.arrayValue ?? []
        if !errors.isEmpty {
            lines.append("  errors:")
            for e in errors {
                lines.append("    - \(e["logGroup"]?.stringValue ?? "?") (\(e["result"]?.stringValue ?? "?")): \(e["error"]?.stringValue ?? "")")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The audit export's summary (`AuditExportSummary.json()`) as text; nil when it is not one.
    static func audit(_ json: [UInt8]) -> String? {
        guard let s = try? JSONReader.parse(json), s["handler"]?.stringValue == "audit-export" else { return nil }
        func int(_ v: JSONValue?) -> Int { Int(v?.int64Value ?? 0) }
        let dry = s["dryRun"]?.boolValue == true
        let orgs = s["organizations"]?.arrayValue ?? []
        let done = orgs.filter { ["committed", "partial", "idle", "notCommitted"].contains($0["result"]?.stringValue ?? "") }.count
        var lines = ["apitap audit-export\(dry ? " (dry run: nothing delivered, no checkpoint committed)" : ""): "
                     + "\(done) of \(orgs.count) organization\(orgs.count == 1 ? "" : "s") done in \(format(Double(int(s["durationMs"])) / 1000)) s"]
        lines.append("  read       \(thousands(int(s["entries"]))) entries in \(thousands(int(s["pages"]))) pages "
                     + "(\(thousands(int(s["duplicatesSkipped"]))) duplicates skipped, \(thousands(int(s["malformedEntries"]))) malformed)")
        if dry {
            lines.append("  would send \(thousands(int(s["wouldExport"]))) entries, \(thousands(int(s["wouldAlert"]))) alerts")
        } else {
            lines.append("  exported   \(thousands(int(s["exported"]))) entries, \(thousands(int(s["alerts"]))) alerts")
        }
        lines.append("  Anypoint   \(thousands(int(s["requests"]))) requests, \(thousands(int(s["retries"]))) retries, "
                     + "\(thousands(int(s["waits503"]))) waits after 503 (\(format(Double(int(s["waited503Ms"])) / 1000)) s)")
        for o in orgs {
            var line = "  - \(o["organizationId"]?.stringValue ?? "?"): \(o["result"]?.stringValue ?? "?")"
            if let start = o["windowStart"]?.stringValue, let end = o["windowEnd"]?.stringValue { line += ", window \(start) to \(end)" }
            if let error = o["error"]?.stringValue { line += ": \(error)" }
            lines.append(line)
        }
        if let error = s["error"]?.stringValue { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The sink's line: delivered to UAP, written to a file or stdout, or what a dry run would have delivered.
    static func delivery(_ s: JSONValue) -> [String] {
        func int(_ v: JSONValue?) -> Int { Int(v?.int64Value ?? 0) }
        if let d = s["delivery"] {
            return ["  delivered  \(thousands(int(d["recordsDelivered"]))) transactions in \(thousands(int(d["batchesDelivered"]))) batches "
                    + "(\(megabytes(int(d["bytesSent"]))) sent), \(thousands(int(d["recordsFailed"]))) failed, "
                    + "\(thousands(int(d["retries"]))) retries"]
        }
        if let w = s["written"] {
            return ["  written    \(thousands(int(w["records"]))) transactions (\(megabytes(int(w["bytes"])))) as NDJSON "
                    + "(SEND_TO_UAP=false: nothing posted), \(thousands(int(w["recordsFailed"]))) failed"]
        }
        if let w = s["wouldDeliver"] {
            return ["  would send \(thousands(int(w["records"]))) transactions in \(thousands(int(w["batches"]))) batches "
                    + "(\(megabytes(int(w["bytes"]))) before compression)"]
        }
        return []
    }

    static func thousands(_ n: Int) -> String {
        let digits = Array(String(abs(n)))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func megabytes(_ bytes: Int) -> String { format(Double(bytes) / 1_000_000) + " MB" }

    /// One decimal place under 100, none above.
    static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
