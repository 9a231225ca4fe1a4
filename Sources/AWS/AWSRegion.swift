// The AWS region apitap runs in, read from the environment and checked before it ends up in a host name.
import Core

/// An AWS region name such as `eu-west-2`. It becomes part of host names and of the signature scope, so the
/// validating initialiser accepts only the shape AWS uses (`us-east-1`, `us-gov-west-1`, `cn-north-1`,
/// `us-iso-east-1`, `us-isob-east-1`, `eu-isoe-west-1`).
public struct AWSRegion: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String

    /// Unchecked: for names that are already known to be valid (tests, values AWS itself returned).
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public init(validating name: String) throws(ConfigurationProblems) {
        guard AWSRegion.isValid(name) else {
            throw ConfigurationProblems("AWS region \"\(name.prefix(40))\" is not a region name (like eu-west-1)")
        }
        rawValue = name
    }

    public var description: String { rawValue }

    /// `AWS_REGION` (what Lambda sets), else `AWS_DEFAULT_REGION` (what the CLI and older SDKs read).
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigurationProblems) -> AWSRegion {
        let candidates = [("AWS_REGION", environment["AWS_REGION"]), ("AWS_DEFAULT_REGION", environment["AWS_DEFAULT_REGION"])]
        guard let (name, value) = candidates.first(where: { !(trimmed($0.1 ?? "")).isEmpty }), let value else {
            throw ConfigurationProblems("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
        }
        let region = trimmed(value)
        guard isValid(region) else {
            throw ConfigurationProblems("\(name)=\"\(region.prefix(40))\" is not a region name (like eu-west-1)")
        }
        return AWSRegion(region)
    }

    /// `^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$`
    public static func isValid(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4 else { return false }
        func letters(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A } }
        guard parts[0].utf8.count == 2, letters(parts[0]) else { return false }
        if parts.count == 4 {
            guard parts[1] == "gov" || (parts[1].hasPrefix("iso") && letters(parts[1])) else { return false }
        }
        let direction = parts[parts.count - 2], number = parts[parts.count - 1]
        return letters(direction) && !number.isEmpty && number.utf8.count <= 3 && number.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// The DNS suffix of the region's partition.
    public var dnsSuffix: String {
        if rawValue.hasPrefix("cn-") { return "amazonaws.com.cn" }
        if rawValue.hasPrefix("us-isob-") { return "sc2s.sgov.gov" }
        if rawValue.hasPrefix("us-iso-") { return "c2s.ic.gov" }
        return "amazonaws.com"
    }
}

/// A 12-digit AWS account id.
public struct AWSAccountID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The account of a function's ARN, `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` (Lambda does not
    /// tell a function its account otherwise); nil when the ARN has no 12-digit account.
    public init?(functionARN arn: String) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "arn", parts[4].count == 12, parts[4].allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        rawValue = String(parts[4])
    }
}
