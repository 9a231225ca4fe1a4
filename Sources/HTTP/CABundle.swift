// Picks the CA bundle libcurl verifies servers against; verification itself is never switched off.
import Glibc

public enum CABundle {
    static let amazonLinux = "/etc/pki/tls/certs/ca-bundle.crt"
    static let debian = "/etc/ssl/certs/ca-certificates.crt"

    /// `SSL_CERT_FILE` if set, else the Amazon Linux path, else the Debian path, else the bundle shipped in the zip.
    public static func resolve(environment: [String: String]) -> String? {
        if let explicit = environment["SSL_CERT_FILE"], !explicit.isEmpty { return explicit }
        var candidates = [amazonLinux, debian]
        if let root = environment["LAMBDA_TASK_ROOT"], !root.isEmpty { candidates.append(root + "/certs/ca-bundle.crt") }
        if let exe = executableDirectory() { candidates.append(exe + "/../certs/ca-bundle.crt") }
        return candidates.first { access($0, R_OK) == 0 }
    }

    /// A CA setting that would only fail at the first TLS handshake, said at init: an `SSL_CERT_FILE` that cannot be
    /// read, or no bundle anywhere.
    public static func problem(environment: [String: String]) -> String? {
        if let explicit = environment["SSL_CERT_FILE"], !explicit.isEmpty {
            return access(explicit, R_OK) == 0 ? nil
                : "SSL_CERT_FILE \(explicit.prefix(120)) cannot be read (the CA bundle servers are verified against)"
        }
        return resolve(environment: environment) == nil
            ? "no CA bundle found (\(amazonLinux), \(debian) or certs/ca-bundle.crt in the zip): set SSL_CERT_FILE" : nil
    }

    static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}
