// Reading settings from the environment once, at the edge, collecting every problem instead of stopping at the first.

/// A setting as the code reads it: its default and the values it takes. Collected as the settings are parsed, so that a
/// test can hold the deploy script's and the template's defaults and ranges against what the function really does.
public struct SettingDeclaration: Sendable, Equatable {
    public enum Values: Sendable, Equatable {
        case bool
        case range(ClosedRange<Int>)
        /// Accepted in any case.
        case choices([String])
        case text
    }
    public let name: String
    /// As text, the way an environment variable would give it; nil when unset means "not set" (no default).
    public let defaultValue: String?
    public let values: Values

    public init(name: String, defaultValue: String?, values: Values) {
        self.name = name
        self.defaultValue = defaultValue
        self.values = values
    }
}

/// Reads settings and collects every problem instead of stopping at the first.
public struct SettingParser {
    public let env: [String: String]
    public var problems: [String] = []
    /// Every setting read so far, with its default and values (first declaration of a name wins).
    public private(set) var declared: [SettingDeclaration] = []
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
        // Logger.fromEnvironment reads these two; INFO when neither is set.
        declare("LOG_LEVEL", LogLevel.info.name, .choices(LogLevel.allCases.map(\.name)))
        declare("AWS_LAMBDA_LOG_LEVEL", nil, .choices(LogLevel.allCases.map(\.name)))
    }

    private mutating func declare(_ name: String, _ value: String?, _ values: SettingDeclaration.Values) {
        declared.append(SettingDeclaration(name: name, defaultValue: value, values: values))
    }

    /// nil when unset or blank (unless `keepEmpty`, where a blank value switches a default off).
    public mutating func string(_ name: String, keepEmpty: Bool = false) -> String? {
        declare(name, nil, .text)
        return text(name, keepEmpty: keepEmpty)
    }

    /// A text setting with a default; with `keepEmpty`, a blank value is kept (it switches the default off).
    public mutating func string(_ name: String, keepEmpty: Bool = false, default value: String) -> String {
        declare(name, value, .text)
        return text(name, keepEmpty: keepEmpty) ?? value
    }

    private func text(_ name: String, keepEmpty: Bool) -> String? {
        guard let raw = env[name] else { return nil }
        let v = raw.trimmingWhitespace()
        return v.isEmpty && !keepEmpty ? nil : v
    }

    /// A comma-separated list; blanks dropped.
    /// `meaning` is what an unset list stands for (such as `all`), for the declaration only.
    public mutating func list(_ name: String, unsetMeans meaning: String? = nil) -> [String] {
        declare(name, meaning, .text)
        guard let v = text(name, keepEmpty: false) else { return [] }
        return v.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    public mutating func bool(_ name: String, default value: Bool) -> Bool {
        declare(name, String(value), .bool)
        guard let v = text(name, keepEmpty: false) else { return value }
        switch v.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: problems.append("\(name) must be true or false (got '\(v)')"); return value
        }
    }

    public mutating func int(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
        declare(name, String(value), .range(range))
        guard let v = text(name, keepEmpty: false) else { return value }
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
        declare(name, value.rawValue, .choices(T.allCases.map(\.rawValue)))
        guard let v = text(name, keepEmpty: false) else { return value }
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
