// Where checkpoints live (`STATE_URI`): an S3 prefix in Lambda, a directory for local runs.
import Core

public enum StateURI: Sendable, Equatable, CustomStringConvertible {
    /// `prefix` has no leading or trailing slash; it may be empty.
    case s3(bucket: String, prefix: String)
    case file(path: String)

    /// Accepts `s3://bucket[/prefix]` and `file:///absolute/path`.
    public static func parse(_ text: String) throws(ConfigurationProblems) -> StateURI {
        let value = trimmed(text)
        if value.hasPrefix("s3://") {
            let rest = value.dropFirst(5)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let bucket = String(rest[..<slash])
            guard isValidBucketName(bucket) else {
                throw ConfigurationProblems("STATE_URI: \"\(bucket.prefix(70))\" is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
            }
            var prefix = Substring(rest[slash...])
            while prefix.hasPrefix("/") { prefix = prefix.dropFirst() }
            while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
            guard !prefix.contains(where: { $0.isNewline || $0 == "?" || $0 == "#" }) else {
                throw ConfigurationProblems("STATE_URI: the S3 prefix must not contain '?', '#' or line breaks")
            }
            return .s3(bucket: bucket, prefix: String(prefix))
        }
        if value.hasPrefix("file://") {
            let path = String(value.dropFirst(7))
            guard !path.isEmpty, !path.contains(where: \.isNewline) else {
                throw ConfigurationProblems("STATE_URI: file:// needs a directory (file:///tmp/apitap-state)")
            }
            // A relative path would land in whatever the working directory is (read-only /var/task in Lambda).
            guard path.hasPrefix("/") else {
                throw ConfigurationProblems("STATE_URI: file:// needs an absolute directory (file:///tmp/apitap-state), not \"\(path.prefix(60))\"")
            }
            return .file(path: path)
        }
        throw ConfigurationProblems("STATE_URI must be s3://bucket/prefix or file:///directory, not \"\(value.prefix(60))\"")
    }

    public var description: String {
        switch self {
        case .s3(let bucket, let prefix): return "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)")
        case .file(let path): return "file://\(path)"
        }
    }

    static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count), let first = bytes.first, let last = bytes.last else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        return alnum(first) && alnum(last) && !name.contains("..")
            && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}
