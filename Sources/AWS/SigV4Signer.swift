// AWS Signature Version 4 for requests signed in the Authorization header.
import Crypto
import Glibc
import HTTP
import Core

/// What gets signed. `path` is the path as it goes on the request line (already percent-encoded by the caller, or,
/// in the test suite, raw); `query` holds decoded name/value pairs, which the signer encodes and sorts (the same
/// string is then sent, so what is signed is what the server sees).
public struct SigV4Request: Sendable {
    public var method: String
    public var path: String
    public var query: [(name: String, value: String)]
    /// Must include `Host`. Every header given is signed, except those a proxy or the HTTP library may change.
    public var headers: [HTTPHeader]
    /// Lower-case hex SHA-256 of the body.
    public var payloadHash: String

    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [HTTPHeader],
                payloadHash: String) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }
}

/// The outcome of signing, with every intermediate step (the test suite checks each). `description` leaves out the
/// signature and the Authorization header: they are credentials for the next few minutes.
public struct SigV4Signature: Sendable, CustomStringConvertible {
    public let canonicalRequest: String
    public let stringToSign: String
    public let signature: String
    public let signedHeaders: String
    public let authorization: String
    /// The encoded, sorted query string to send (without `?`).
    public let canonicalQuery: String
    /// The request's headers plus `X-Amz-Date`, `X-Amz-Security-Token`, `x-amz-content-sha256` (S3) and
    /// `Authorization`: what to send.
    public let headers: [HTTPHeader]

    public var description: String { "SigV4Signature(signedHeaders: \(signedHeaders), signature: <redacted>)" }
}

public struct SigV4Signer: Sendable, CustomStringConvertible {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: AWSCredentials
    public let region: String
    public let service: String
    /// Remove `.`/`..`/empty segments before signing (every service but S3).
    public let normalizePath: Bool
    /// Percent-encode the path (as sent) once more for the canonical request (every service but S3, which signs
    /// the path exactly as sent).
    public let encodePath: Bool
    /// Send and sign `x-amz-content-sha256` (S3 requires it).
    public let addContentSHA256Header: Bool

    public init(credentials: AWSCredentials, region: String, service: String,
                normalizePath: Bool? = nil, encodePath: Bool? = nil, addContentSHA256Header: Bool? = nil) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizePath = normalizePath ?? (service != "s3")
        self.encodePath = encodePath ?? (service != "s3")
        self.addContentSHA256Header = addContentSHA256Header ?? (service == "s3")
    }

    public var description: String { "SigV4Signer(\(service)/\(region), \(credentials))" }

    /// Headers that intermediaries or libcurl may rewrite or drop: signing them would make valid requests fail.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id", "connection"]

    public static func sha256Hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return Hex.lower(hasher.finalize())
    }

    public func sign(_ request: SigV4Request, at time: EpochMillis) -> SigV4Signature {
        let amzDate = SigV4Signer.amzDate(time)
        let day = String(amzDate.prefix(8))

        var headers = request.headers.filter {
            let lower = $0.name.lowercased()
            return lower != "x-amz-date" && lower != "authorization"
                && !(addContentSHA256Header && lower == "x-amz-content-sha256")
                && !(credentials.sessionToken != nil && lower == "x-amz-security-token")
        }
        headers.append(HTTPHeader("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken { headers.append(HTTPHeader("X-Amz-Security-Token", token)) }
        if addContentSHA256Header { headers.append(HTTPHeader("x-amz-content-sha256", request.payloadHash)) }

        // Canonical headers: lower-case names, sorted; values trimmed with inner runs of spaces collapsed; repeated
        // names joined with commas in the order given.
        var byName: [String: [String]] = [:]
        var order: [String] = []
        for header in headers {
            let name = header.name.lowercased()
            if SigV4Signer.unsignedHeaders.contains(name) { continue }
            if byName[name] == nil { order.append(name) }
            byName[name, default: []].append(SigV4Signer.canonicalHeaderValue(header.value))
        }
        order.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var canonicalHeaders = ""
        for name in order { canonicalHeaders += name + ":" + (byName[name] ?? []).joined(separator: ",") + "\n" }
        let signedHeaders = order.joined(separator: ";")

        var canonicalURI = request.path.isEmpty ? "/" : request.path
        if normalizePath { canonicalURI = URIEncoding.normalizePath(canonicalURI) }
        // Encoding the path as sent encodes it a second time, as SigV4 requires for every service but S3.
        if encodePath { canonicalURI = URIEncoding.encode(canonicalURI, keepSlash: true) }
        let canonicalQuery = SigV4Signer.canonicalQuery(request.query)

        let canonicalRequest = request.method.uppercased() + "\n" + canonicalURI + "\n" + canonicalQuery + "\n"
            + canonicalHeaders + "\n" + signedHeaders + "\n" + request.payloadHash
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = SigV4Signer.algorithm + "\n" + amzDate + "\n" + scope + "\n"
            + SigV4Signer.sha256Hex(Array(canonicalRequest.utf8))

        let key = signingKey(day: day)
        let signature = Hex.lower(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "\(SigV4Signer.algorithm) Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        headers.append(HTTPHeader("Authorization", authorization))
        return SigV4Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                              signedHeaders: signedHeaders, authorization: authorization,
                              canonicalQuery: canonicalQuery, headers: headers)
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// Names and values encoded (everything but unreserved characters), sorted by name then value.
    public static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
        let encoded = items.map { (URIEncoding.encode($0.name), URIEncoding.encode($0.value)) }
        let sorted = encoded.sorted { a, b in
            if a.0 != b.0 { return Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8)) }
            return Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
        }
        return sorted.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
    }

    static func canonicalHeaderValue(_ value: String) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for b in value.utf8 {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(0x20); pendingSpace = false }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func amzDate(_ time: EpochMillis) -> String {
        var t = time_t(time.value >= 0 ? time.value / 1000 : (time.value - 999) / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }
}
