// Reading settings from the environment once, at the edge, collecting every problem instead of stopping at the first.

/// Reads settings and collects every problem instead of stopping at the first.
public struct SettingParser {
    public let env: [String: String]
    public var problems: [String] = []
    /// The logging settings every handler shares are checked here, so that each handler's list of problems has them.
    public init(_ env: [String: String]) {
        self.env = env
        for name in ["AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"] {
            if let v = env[name]?.trimmingWhitespace(), !v.isEmpty, LogLevel(name: v) == nil {
                problems.append("\(name) must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (got '\(v.prefix(20))')")
            }
        }
        if let v = env["AWS_LAMBDA_LOG_FORMAT"]?.trimmingWhitespace(), !v.isEmpty, LogFormat(name: v) == nil {
            problems.append("AWS_LAMBDA_LOG_FORMAT must be Text or JSON (got '\(v.prefix(20))')")
        }
    }

    /// nil when unset or blank (unless `keepEmpty`, where a blank value switches a default off).
    public mutating func string(_ name: String, keepEmpty: Bool = false) -> String? {
        guard let raw = env[name] else { return nil }
        let v = raw.trimmingWhitespace()
        return v.isEmpty && !keepEmpty ? nil : v
    }

    /// A comma-separated list; blanks dropped.
    public mutating func list(_ name: String) -> [String] {
        guard let v = string(name) else { return [] }
        return v.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    public mutating func bool(_ name: String, default value: Bool) -> Bool {
        guard let v = string(name) else { return value }
        switch v.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: problems.append("\(name) must be true or false (got '\(v)')"); return value
        }
    }

    public mutating func int(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
        guard let v = string(name) else { return value }
        guard let n = Int(v), range.contains(n) else {
            problems.append("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound) (got '\(v)')")
            return value
        }
        return n
    }

    public mutating func url(_ name: String, required: Bool) -> String? {
        guard let v = string(name) else {
            if required { problems.append("\(name) is not set") }
            return nil
        }
        // Every URL setting here carries a credential or the data it protects: one rule for all of them.
        if let problem = URLParts.credentialProblem(v) {
            problems.append("\(name) \(problem)")
            return nil
        }
        return v
    }

    public mutating func choice<T: RawRepresentable & CaseIterable>(_ name: String, default value: T) -> T where T.RawValue == String {
        guard let v = string(name) else { return value }
        guard let c = T(rawValue: v.lowercased()) else {
            problems.append("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(v)')")
            return value
        }
        return c
    }
}



extension String {
    /// Without leading and trailing whitespace (no Foundation here).
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
