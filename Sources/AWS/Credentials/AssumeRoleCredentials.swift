// A profile's `role_arn` through STS AssumeRole: a SigV4-signed Query API call, its XML answer read into credentials.
import HTTP
import Core

extension AWSService {
    /// Regional by default (`sts.<region>.amazonaws.com`), as current SDKs call it; `AWS_ENDPOINT_URL_STS` overrides.
    public static let sts = AWSService(signingName: "sts", endpointPrefix: "sts", environmentSuffix: "STS", displayName: "STS")
}

/// What AssumeRole is asked for, from a profile's `role_arn`, `role_session_name`, `duration_seconds`, `external_id`.
public struct AssumeRoleSettings: Sendable, Equatable {
    public var roleArn: String
    public var sessionName: String
    public var durationSeconds: Int
    public var externalID: String?

    public static let defaultDurationSeconds = 3600
    /// STS's own bounds; a role's maximum session may be lower than 43200, which STS then reports.
    public static let durationRange = 900...43_200

    public init(roleArn: String, sessionName: String, durationSeconds: Int = defaultDurationSeconds, externalID: String? = nil) {
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.durationSeconds = durationSeconds
        self.externalID = externalID
    }

    /// The profile's settings, each checked against STS's documented constraints; `problems` names the profile.
    static func parse(_ properties: [String: String], profile: String, now: EpochMillis,
                      problems: inout [String]) -> AssumeRoleSettings? {
        let label = "profile \"\(profile)\""
        var ok = true
        let arn = properties["role_arn"] ?? ""
        if !(arn.hasPrefix("arn:") && arn.contains(":role/") && (20...2048).contains(arn.utf8.count)) {
            problems.append("\(label): role_arn is not a role ARN (arn:aws:iam::123456789012:role/name)")
            ok = false
        }
        // The default names the tool and the moment, so that CloudTrail shows who assumed the role and when.
        var session = "apitap-\(now.value)"
        if let given = properties["role_session_name"] {
            session = given
            if !((2...64).contains(given.utf8.count) && given.utf8.allSatisfy(isSessionNameByte)) {
                problems.append("\(label): role_session_name must be 2-64 characters of letters, digits and +=,.@_-")
                ok = false
            }
        }
        var duration = defaultDurationSeconds
        if let given = properties["duration_seconds"] {
            if let seconds = Int(given), durationRange.contains(seconds) { duration = seconds } else {
                problems.append("\(label): duration_seconds must be a whole number of seconds from 900 to 43200")
                ok = false
            }
        }
        let external = properties["external_id"]
        if let external, !((2...1224).contains(external.utf8.count) && external.utf8.allSatisfy(isExternalIDByte)) {
            problems.append("\(label): external_id must be 2-1224 characters of letters, digits and +=,.@:/_-")
            ok = false
        }
        if properties["mfa_serial"] != nil {
            problems.append("\(label): mfa_serial needs an MFA code typed in, which apitap cannot ask for; export temporary "
                            + "credentials (aws configure export-credentials --profile \(profile) --format env) and run with those")
            ok = false
        }
        return ok ? AssumeRoleSettings(roleArn: arn, sessionName: session, durationSeconds: duration, externalID: external) : nil
    }

    static func isSessionNameByte(_ b: UInt8) -> Bool {
        AWSProfileFile.isNameByte(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: "=") || b == UInt8(ascii: ",")
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "@")
    }

    static func isExternalIDByte(_ b: UInt8) -> Bool {
        isSessionNameByte(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: "/")
    }
}

enum AssumeRole {
    /// Calls AssumeRole with `sts` (a client signing with the source credentials) and reads the credentials out of
    /// the answer. Failures keep STS's status, code and message, with the profile named in the operation.
    static func fetch(_ settings: AssumeRoleSettings, sts: AWSClient, profile: String,
                      deadline: Deadline) async throws(AWSError) -> AWSCredentials {
        var form: [(String, String)] = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", settings.roleArn),
                                        ("RoleSessionName", settings.sessionName),
                                        ("DurationSeconds", String(settings.durationSeconds))]
        if let external = settings.externalID { form.append(("ExternalId", external)) }
        let body = form.map { URIEncoding.encode($0.0) + "=" + URIEncoding.encode($0.1) }.joined(separator: "&")
        let operation = "AssumeRole for profile \"\(profile)\""
        let call = AWSCall(service: .sts, operation: operation, method: .POST, path: "/",
                           headers: [HTTPHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                           body: Array(body.utf8))
        let answer = try await sts.send(call, deadline: deadline).body
        guard let credentials = parse(answer) else {
            throw AWSError.invalidResponse(.sts, operation, "the answer has no complete Credentials element")
        }
        return credentials.registeringSecrets()
    }

    /// `AssumeRoleResponse/AssumeRoleResult/Credentials`: `AccessKeyId`, `SecretAccessKey`, `SessionToken` and
    /// `Expiration` (ISO 8601), all required.
    static func parse(_ body: [UInt8]) -> AWSCredentials? {
        guard let range = XML.elements("Credentials", in: body, limit: 1).first else { return nil }
        let inner = Array(body[range])
        guard let id = XML.firstElementText("AccessKeyId", in: inner), !id.isEmpty,
              let secret = XML.firstElementText("SecretAccessKey", in: inner), !secret.isEmpty,
              let token = XML.firstElementText("SessionToken", in: inner), !token.isEmpty,
              let expiration = XML.firstElementText("Expiration", in: inner).flatMap({ EpochMillis.parseISO8601($0.trimmingBlanks()) })
        else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
