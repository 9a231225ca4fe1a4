// The same setting, three places: the deploy scripts' `.env` checks and defaults (scripts/lib/settings.sh, aws.sh),
// the template's parameters (template/apitap.json), and what the function does when the template sets its
// environment (TrafficConfiguration). A default or range that differs between them means a deployment that behaves
// otherwise than its documentation; this test finds it.
import Core
import Foundation
import Testing
import Traffic

@Suite struct DeploySettingsAgreementTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// What the deploy script checks: `check_bool NAME DEFAULT`, `check_enum NAME DEFAULT VALUE...`,
    /// `check_int_range NAME DEFAULT MIN MAX`.
    struct ScriptCheck: Equatable {
        var defaultValue: String
        var values: SettingDeclaration.Values
    }

    static func scriptChecks() throws -> [String: ScriptCheck] {
        var checks: [String: ScriptCheck] = [:]
        for line in try text("scripts/lib/settings.sh").split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let i = words.firstIndex(where: { ["check_bool", "check_enum", "check_int_range"].contains($0) }),
                  words.count > i + 2, words[i + 1].allSatisfy({ $0.isUppercase || $0 == "_" || $0.isNumber }) else { continue }
            let name = words[i + 1], def = words[i + 2], rest = Array(words[(i + 3)...])
            switch words[i] {
            case "check_bool": checks[name] = ScriptCheck(defaultValue: def, values: .bool)
            case "check_enum": checks[name] = ScriptCheck(defaultValue: def, values: .choices(rest))
            default:
                guard rest.count >= 2, let lo = Int(rest[0]), let hi = Int(rest[1]) else { continue }
                checks[name] = ScriptCheck(defaultValue: def, values: .range(lo...hi))
            }
        }
        return checks
    }

    /// `--arg Parameter "$(cfg NAME [DEFAULT])"` in `stack_parameters_json`: parameter → (setting, default).
    static func stackParameters() throws -> [String: (setting: String, defaultValue: String)] {
        let pattern = try NSRegularExpression(pattern: #"--arg (\w+) "\$\(cfg (\w+)(?: ("[^"]*"|[^ )|]+))?"#)
        let script = try text("scripts/lib/aws.sh")
        let start = try #require(script.range(of: "stack_parameters_json() {"))
        let end = try #require(script.range(of: "\n}\n", range: start.upperBound..<script.endIndex))
        let source = String(script[start.lowerBound..<end.lowerBound])
        var out: [String: (String, String)] = [:]
        for m in pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
            func group(_ n: Int) -> String? { Range(m.range(at: n), in: source).map { String(source[$0]) } }
            guard let parameter = group(1), let setting = group(2) else { continue }
            out[parameter] = (setting, (group(3) ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        }
        return out
    }

    static func template() throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("template/apitap.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func string(_ value: Any?) -> String? {
        switch value {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return nil
        }
    }

    /// Every setting the tick's configuration reads, over the switches that make it read more.
    static func swiftSettings() -> [String: SettingDeclaration] {
        var all: [String: SettingDeclaration] = [:]
        for env in [[:], ["FLEX_SOURCE": "anypoint-archive"], ["FLEX_SOURCE": "cloudwatch"]] {
            for d in TrafficConfiguration.declaredSettings(env) where all[d.name] == nil { all[d.name] = d }
        }
        return all
    }

    static func same(_ a: String, _ b: String, _ values: SettingDeclaration.Values) -> Bool {
        switch values {
        case .bool, .choices: a.lowercased() == b.lowercased()
        case .range, .text: a == b
        }
    }

    static func sameValues(_ a: SettingDeclaration.Values, _ b: SettingDeclaration.Values) -> Bool {
        switch (a, b) {
        case (.choices(let x), .choices(let y)): Set(x.map { $0.lowercased() }) == Set(y.map { $0.lowercased() })
        default: a == b
        }
    }

    @Test func theReadersFindWhatTheyShould() throws {
        // Guards against a parser that silently finds nothing (and so checks nothing).
        let checks = try Self.scriptChecks()
        #expect(checks["MAX_BATCH_TRANSACTIONS"] == ScriptCheck(defaultValue: "250", values: .range(1...10_000)))
        #expect(checks["DELIVERY_MODE"] == ScriptCheck(defaultValue: "poll", values: .choices(["poll", "subscription"])))
        #expect(checks["UAP_AUTH_ENABLED"] == ScriptCheck(defaultValue: "true", values: .bool))
        let stack = try Self.stackParameters()
        #expect(stack["MaxBatchTransactions"]?.setting == "MAX_BATCH_TRANSACTIONS" && stack["MaxBatchTransactions"]?.defaultValue == "250")
        #expect(stack["ScheduleExpression"]?.defaultValue == "rate(1 minute)")
        #expect(stack.count >= 30, "parameters found: \(stack.count)")
        let swift = Self.swiftSettings()
        #expect(swift["MAX_BATCH_TRANSACTIONS"] == SettingDeclaration(name: "MAX_BATCH_TRANSACTIONS", defaultValue: "250", values: .range(1...10_000)))
        #expect(swift["FLEX_ARCHIVE_LAG_SECONDS"] != nil && swift["LOG_LEVEL"]?.defaultValue == "INFO")
    }

    /// The script's check, the default it passes to the stack, and the template parameter say the same.
    @Test func theDeployScriptAndTheTemplateAgree() throws {
        let checks = try Self.scriptChecks()
        let stack = try Self.stackParameters()
        let parameters = try #require(try Self.template()["Parameters"] as? [String: [String: Any]])
        var compared = 0
        for (parameter, passed) in stack.sorted(by: { $0.key < $1.key }) {
            let spec = try #require(parameters[parameter], "aws.sh passes \(parameter), which the template does not declare")
            if let templateDefault = Self.string(spec["Default"]) {
                #expect(templateDefault == passed.defaultValue || (parameter == "LogLevel" && templateDefault == passed.defaultValue.uppercased()),
                        "\(passed.setting): the script passes '\(passed.defaultValue)' by default, \(parameter) defaults to '\(templateDefault)'")
            }
            guard let check = checks[passed.setting] else { continue }
            compared += 1
            #expect(check.defaultValue == passed.defaultValue, "\(passed.setting): checked with default '\(check.defaultValue)', passed with '\(passed.defaultValue)'")
            let allowed = (spec["AllowedValues"] as? [Any])?.compactMap(Self.string)
            switch check.values {
            case .bool:
                #expect(allowed.map(Set.init) == ["true", "false"], "\(parameter) allows \(allowed ?? []) for a true/false setting")
            case .choices(let values):
                #expect(allowed.map(Set.init) == Set(values), "\(parameter) allows \(allowed ?? []); the script allows \(values)")
            case .range(let r):
                #expect(Self.string(spec["MinValue"]) == String(r.lowerBound) && Self.string(spec["MaxValue"]) == String(r.upperBound),
                        "\(parameter) is \(spec["MinValue"] ?? "-")...\(spec["MaxValue"] ?? "-"); the script checks \(r)")
            case .text: break
            }
        }
        #expect(compared >= 10, "settings checked by the script and passed to the stack: \(compared)")
    }

    /// Where the template sets a function's variable from a parameter, the parameter's default makes the function
    /// behave as its own default does, and the values the template lets through are the ones the function takes.
    @Test func theTemplateGivesTheFunctionItsOwnDefaults() throws {
        let template = try Self.template()
        let parameters = try #require(template["Parameters"] as? [String: [String: Any]])
        let resources = try #require(template["Resources"] as? [String: [String: Any]])
        let swift = Self.swiftSettings()
        let checks = try Self.scriptChecks()
        var compared = 0
        for name in ["TickFunction", "AwsLogsFunction"] {
            let properties = try #require(resources[name]?["Properties"] as? [String: Any])
            let variables = try #require((properties["Environment"] as? [String: Any])?["Variables"] as? [String: Any])
            for (variable, value) in variables.sorted(by: { $0.key < $1.key }) {
                guard let declared = swift[variable] else { continue }
                // {"Ref": P}: always set. {"Fn::If": [C, {"Ref": P}, {"Ref": "AWS::NoValue"}]}: unset when P is empty.
                var parameter: String?, unsetWhenEmpty = false
                if let ref = (value as? [String: Any])?["Ref"] as? String {
                    parameter = ref
                } else if let branches = (value as? [String: Any])?["Fn::If"] as? [Any], branches.count == 3,
                          ((branches[2] as? [String: Any])?["Ref"] as? String) == "AWS::NoValue" {
                    parameter = (branches[1] as? [String: Any])?["Ref"] as? String
                    unsetWhenEmpty = true
                }
                guard let parameter, let spec = parameters[parameter] else { continue }
                compared += 1
                let templateDefault = Self.string(spec["Default"]) ?? ""
                if unsetWhenEmpty && templateDefault.isEmpty {
                    // Unset: the function uses its own default, whatever it is.
                } else if let own = declared.defaultValue {
                    #expect(Self.same(templateDefault, own, declared.values),
                            "\(name).\(variable): the template sets '\(templateDefault)' by default (\(parameter)); the function's own default is '\(own)'")
                } else {
                    #expect(templateDefault.isEmpty, "\(name).\(variable): the template sets '\(templateDefault)'; the function has no default")
                }
                let allowed = (spec["AllowedValues"] as? [Any])?.compactMap(Self.string)
                switch declared.values {
                case .bool:
                    #expect(allowed.map(Set.init) == ["true", "false"], "\(parameter) allows \(allowed ?? []) for the true/false \(variable)")
                case .choices(let values):
                    #expect(allowed.map { Self.sameValues(.choices($0), .choices(values)) } ?? false,
                            "\(parameter) allows \(allowed ?? []); \(variable) takes \(values)")
                case .range(let r):
                    let lo = Self.string(spec["MinValue"]).flatMap { Int($0) }, hi = Self.string(spec["MaxValue"]).flatMap { Int($0) }
                    #expect(lo == r.lowerBound && hi == r.upperBound, "\(parameter) is \(lo.map(String.init) ?? "-")...\(hi.map(String.init) ?? "-"); \(variable) takes \(r)")
                case .text: break
                }
                // And the deploy script's check, where it has one, says what the function says.
                if let check = checks[variable] {
                    #expect(check.defaultValue.isEmpty || Self.same(check.defaultValue, declared.defaultValue ?? "", declared.values),
                            "\(variable): the script's default '\(check.defaultValue)', the function's '\(declared.defaultValue ?? "none")'")
                    #expect(Self.sameValues(check.values, declared.values), "\(variable): the script allows \(check.values), the function \(declared.values)")
                }
            }
        }
        #expect(compared >= 20, "function variables compared: \(compared)")
    }
}
