// The shared `config` and `credentials` files (~/.aws), parsed by the rules the AWS SDKs share, errors by file and line.
import Core

/// The profiles of one shared file: profile name → properties (names lower-cased, values trimmed).
///
/// The rules are those of the SDKs' common parser test suite: `[profile NAME]` (or `[default]`) in `config`,
/// `[NAME]` in `credentials`; `#` and `;` start a comment at the start of a line, after a section header, or after
/// white space in a value; an indented line continues the property above it (its value joined with a line break), or,
/// under a property with an empty value, defines a sub-property (`s3 =` then `  name = value`). Sections and
/// properties whose names are not valid are ignored, not errors. A repeated profile merges; a repeated property keeps
/// the last value. In `config`, `[profile default]` wins over `[default]`.
///
/// Errors name the file and the line, never the line's text: it may hold a secret key.
public struct AWSProfileFile: Sendable, Equatable {
    public enum Kind: Sendable { case config, credentials }

    public var profiles: [String: [String: String]]

    public init(profiles: [String: [String: String]] = [:]) { self.profiles = profiles }

    public static func parse(_ text: String, path: String, kind: Kind) throws(ConfigurationProblems) -> AWSProfileFile {
        var problems: [String] = []
        var profiles: [String: [String: String]] = [:]
        // `[default]` in `config` counts only when there is no `[profile default]`.
        var plainDefault: [String: String]?
        var sawPrefixedDefault = false

        var section: Section?
        // The property continuation lines extend: its name (nil when ignored) and whether it opened sub-properties.
        var property: (name: String?, hasSubProperties: Bool)?

        func store(_ name: String, _ value: String) {
            guard case .profile(let profile, let plain)? = section else { return }
            if plain { plainDefault?[name] = value } else { profiles[profile, default: [:]][name] = value }
        }
        func value(_ name: String) -> String? {
            guard case .profile(let profile, let plain)? = section else { return nil }
            return plain ? plainDefault?[name] : profiles[profile]?[name]
        }

        var number = 0
        // "\r\n" is one Character in Swift: it has to be named as a separator of its own.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let content = line.trimmingBlanks()
            if content.isEmpty || content.hasPrefix("#") || content.hasPrefix(";") { continue }
            let place = "\(path) line \(number)"

            if line.first == " " || line.first == "\t" {
                // A continuation of the property above, or one of its sub-properties.
                guard section != nil else { problems.append("\(place): expected a profile definition"); continue }
                guard let open = property else {
                    problems.append("\(place): expected a property definition, found a continuation line")
                    continue
                }
                if open.hasSubProperties {
                    guard let eq = content.firstIndex(of: "=") else {
                        problems.append("\(place): expected an '=' sign defining a sub-property")
                        continue
                    }
                    if content[..<eq].trimmingBlanks().isEmpty {
                        problems.append("\(place): sub-property did not have a name")
                        continue
                    }
                }
                if let name = open.name { store(name, (value(name) ?? "") + "\n" + content) }
                continue
            }

            if line.first == "[" {
                property = nil
                guard let close = line.firstIndex(of: "]") else {
                    problems.append("\(place): profile definition must end with ']'")
                    section = .ignored
                    continue
                }
                let after = line[line.index(after: close)...].trimmingBlanks()
                guard after.isEmpty || after.hasPrefix("#") || after.hasPrefix(";") else {
                    problems.append("\(place): unexpected text after the profile definition's ']'")
                    section = .ignored
                    continue
                }
                section = sectionNamed(line[line.index(after: line.startIndex)..<close].trimmingBlanks(), kind: kind)
                if case .profile("default", let plain)? = section {
                    if plain { if plainDefault == nil { plainDefault = [:] } } else { sawPrefixedDefault = true }
                }
                if case .profile(let name, false)? = section, profiles[name] == nil { profiles[name] = [:] }
                continue
            }

            guard section != nil else { problems.append("\(place): expected a profile definition"); continue }
            guard let eq = line.firstIndex(of: "=") else {
                problems.append("\(place): expected an '=' sign defining a property")
                property = nil
                continue
            }
            let name = line[..<eq].trimmingBlanks().lowercased()
            guard !name.isEmpty else {
                problems.append("\(place): property did not have a name")
                property = nil
                continue
            }
            let text = withoutTrailingComment(line[line.index(after: eq)...]).trimmingBlanks()
            let valid = name.utf8.allSatisfy(isNameByte)
            property = (valid ? name : nil, text.isEmpty)
            if valid { store(name, text) }
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        if kind == .config, !sawPrefixedDefault, let plainDefault { profiles["default"] = plainDefault }
        return AWSProfileFile(profiles: profiles)
    }

    /// What a section header names: a profile (and whether it is `config`'s unprefixed `[default]`), or nothing of
    /// ours (`[sso-session x]`, `[services x]`, an invalid name).
    static func sectionNamed(_ header: String, kind: Kind) -> Section {
        let name: String
        var plainDefault = false
        switch kind {
        case .credentials:
            name = header
        case .config:
            if header == "default" {
                name = header
                plainDefault = true
            } else if header.hasPrefix("profile"), let next = header.dropFirst(7).first, next == " " || next == "\t" {
                name = header.dropFirst(7).trimmingBlanks()
            } else {
                return .ignored
            }
        }
        guard !name.isEmpty, name.utf8.allSatisfy(isProfileNameByte) else { return .ignored }
        return .profile(name, plainDefault: plainDefault)
    }

    enum Section: Equatable { case profile(String, plainDefault: Bool), ignored }

    /// `value # comment` and `value ; comment` lose the comment; `value#x` and `value;x` keep it (no white space).
    static func withoutTrailingComment(_ text: Substring) -> Substring {
        var previousBlank = false
        for index in text.indices {
            let c = text[index]
            if previousBlank, c == "#" || c == ";" { return text[..<index] }
            previousBlank = c == " " || c == "\t"
        }
        return text
    }

    /// Letters, digits and `-/.%@_:+`.
    static func isProfileNameByte(_ b: UInt8) -> Bool {
        isNameByte(b) || b == UInt8(ascii: "/") || b == UInt8(ascii: ".") || b == UInt8(ascii: "%")
            || b == UInt8(ascii: "@") || b == UInt8(ascii: ":") || b == UInt8(ascii: "+")
    }

    /// Letters, digits, `-` and `_` (property names).
    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-")
            || b == UInt8(ascii: "_")
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingBlanks() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
