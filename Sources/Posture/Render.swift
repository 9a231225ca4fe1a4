// The report for people: a table for a terminal, Markdown, CSV (one row per finding, RFC 4180), and the HTML page.
import Core

public enum ReportFormat: String, Sendable, CaseIterable {
    case table, json, csv, html, markdown
}

extension PostureReport {
    public func render(_ format: ReportFormat) -> [UInt8] {
        switch format {
        case .json: return json()
        case .table: return Array(table().utf8)
        case .markdown: return Array(markdown().utf8)
        case .csv: return Array(csv().utf8)
        case .html: return Array(html().utf8)
        }
    }

    /// What a cell of the overview shows for an API in an environment.
    func cell(_ api: APIView, _ env: String) -> String {
        guard let i = api.instances[env] else { return unreadEnvironments.contains(env) ? "NOT READ" : "NOT DEPLOYED" }
        return "\(i.assetVersion ?? "-") #\(i.id)"
    }

    var headline: String {
        "API security posture, \(generatedAt.iso8601): \(collection.environments.count) environments, \(comparison.apis.count) APIs: "
            + "\(count(APIStatus.aligned)) ALIGNED, \(count(APIStatus.drift)) DRIFT, \(count(APIStatus.threat)) THREAT; "
            + "findings: \(count(Severity.threat)) threat, \(count(Severity.drift)) drift, \(count(Severity.info)) info"
    }

    /// A policy key without MuleSoft's group id (the policies people know by asset id).
    static func shortSubject(_ subject: String?) -> String {
        guard let subject else { return "-" }
        let prefix = PolicyCatalog.muleSoftGroup + ":"
        return subject.hasPrefix(prefix) ? String(subject.dropFirst(prefix.count)) : subject
    }

    static func evidenceText(_ f: Finding) -> String { f.evidence.map { "\($0.environment): \($0.value)" }.joined(separator: " | ") }

    // MARK: - table

    public func table() -> String {
        var out = headline + "\n"
        if !isComplete {
            out += "\nINCOMPLETE: \(collection.missing.count) part(s) could not be read (they are not reported as absent):\n"
            for m in collection.missing.prefix(50) { out += "  - \(m.text)\n" }
            if collection.missing.count > 50 { out += "  - (\(collection.missing.count - 50) more)\n" }
        }
        let envs = environmentLabels
        var rows = [["API"] + envs + ["STATUS"]]
        for api in comparison.apis {
            rows.append([api.name + (api.label.map { " (\($0))" } ?? "")] + envs.map { cell(api, $0) }
                        + [api.status.rawValue + (api.incomplete ? "?" : "")])
        }
        out += "\n" + Self.columns(rows)
        if !findings.isEmpty {
            out += "\nFINDINGS (\(findings.count))\n"
            var lines = [["SEVERITY", "API", "KIND", "SUBJECT", "EVIDENCE"]]
            for f in findings {
                lines.append([f.severity.rawValue.uppercased(), f.apiName.map { n in n + (f.api.map { " [\($0)]" } ?? "") } ?? "(environment)",
                              f.kind.rawValue, Self.shortSubject(f.subject), Self.evidenceText(f)])
            }
            out += Self.columns(lines)
        }
        if let b = baseline { out += "\nSince \(b.generatedAt ?? b.source): " + b.summary + "\n" }
        return out
    }

    /// Left-aligned columns two spaces apart; the last column is not padded.
    static func columns(_ rows: [[String]]) -> String {
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for r in rows { for (i, c) in r.enumerated() where i < width - 1 { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            for (i, c) in r.enumerated() {
                out += c
                if i < r.count - 1 { out += String(repeating: " ", count: widths[i] - c.count + 2) }
            }
            out += "\n"
        }
        return out
    }

    // MARK: - Markdown

    public func markdown() -> String {
        func esc(_ s: String) -> String {
            var out = ""
            for c in s {
                switch c {
                case "|", "\\", "*", "_", "`", "<", ">", "[", "]": out.append("\\"); out.append(c)
                case "\n", "\r": out.append(" ")
                default: out.append(c)
                }
            }
            return out
        }
        var out = "# API security posture\n\n" + esc(headline) + "\n\n"
        if !isComplete {
            out += "**Incomplete**: \(collection.missing.count) part(s) could not be read:\n\n"
            for m in collection.missing { out += "- " + esc(m.text) + "\n" }
            out += "\n"
        }
        let envs = environmentLabels
        out += "| API | " + envs.map(esc).joined(separator: " | ") + " | Status |\n"
        out += "|---|" + envs.map { _ in "---|" }.joined() + "---|\n"
        for api in comparison.apis {
            out += "| " + esc(api.name + (api.label.map { " (\($0))" } ?? "")) + " | " + envs.map { esc(cell(api, $0)) }.joined(separator: " | ")
                + " | " + api.status.rawValue + (api.incomplete ? " (incomplete)" : "") + " |\n"
        }
        if !findings.isEmpty {
            out += "\n## Findings\n\n| Severity | API | Kind | Subject | Evidence |\n|---|---|---|---|---|\n"
            for f in findings {
                out += "| \(f.severity.rawValue) | \(esc(f.apiName ?? "(environment)")) | \(f.kind.rawValue) | \(esc(Self.shortSubject(f.subject))) | "
                    + esc(Self.evidenceText(f)) + " |\n"
            }
        }
        if let b = baseline { out += "\n" + esc(b.summary) + "\n" }
        return out
    }

    // MARK: - CSV

    /// One row per finding. RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF quoted, quotes doubled.
    /// A field starting with `=`, `+`, `@`, tab or CR gets a leading `'` so a spreadsheet does not run it as a formula.
    public func csv() -> String {
        var out = CSV.row(["id", "severity", "kind", "api", "api_name", "subject", "environments", "evidence", "message"])
        for f in findings {
            out += CSV.row([f.id, f.severity.rawValue, f.kind.rawValue, f.api ?? "", f.apiName ?? "", f.subject ?? "",
                            f.environments.joined(separator: ";"), Self.evidenceText(f), f.message])
        }
        return out
    }
}

public enum CSV {
    public static func field(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, "=+@\t\r".unicodeScalars.contains(first) { v = "'" + v }
        let needsQuotes = v.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }
        guard needsQuotes else { return v }
        var out = "\""
        for c in v.unicodeScalars {
            if c == "\"" { out += "\"\"" } else { out.unicodeScalars.append(c) }
        }
        return out + "\""
    }

    public static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }
}
