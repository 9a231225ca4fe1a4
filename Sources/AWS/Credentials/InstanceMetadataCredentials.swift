// EC2 instance profile credentials through IMDSv2: a session token first (PUT), then the role name and its credentials.
import HTTP
import Core

/// The instance metadata service, version 2 only: IMDSv1 (GET without a token) is never tried, so an instance that
/// requires tokens and one that does not behave the same.
public struct InstanceMetadataSource: Sendable, Equatable, CustomStringConvertible {
    /// No trailing slash.
    public let endpoint: String

    public static let ipv4Endpoint = "http://169.254.169.254"
    public static let ipv6Endpoint = "http://[fd00:ec2::254]"
    /// The longest a session token may live (six hours); one is fetched for every credential fetch anyway.
    public static let tokenTTLSeconds = 21_600
    static let tokenPath = "/latest/api/token"
    static let credentialsPath = "/latest/meta-data/iam/security-credentials/"

    public var description: String { "instance metadata (IMDSv2) at \(endpoint)" }

    /// nil when `AWS_EC2_METADATA_DISABLED=true`. `AWS_EC2_METADATA_SERVICE_ENDPOINT` overrides the address (tests,
    /// a local metadata server), else `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4`, `IPv6`) picks one.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigurationProblems) -> InstanceMetadataSource? {
        func value(_ name: String) -> String? { environment[name].map(trimmed).flatMap { $0.isEmpty ? nil : $0 } }
        var problems: [String] = []
        switch value("AWS_EC2_METADATA_DISABLED")?.lowercased() {
        case nil, "false": break
        case "true": return nil
        default: problems.append("AWS_EC2_METADATA_DISABLED must be true or false")
        }
        var endpoint = ipv4Endpoint
        if let given = value("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            if let parts = URLParts(given), parts.userinfo == nil, parts.scheme == "http" || parts.scheme == "https",
               !given.contains("?"), !given.contains("#") {
                endpoint = given
                while endpoint.hasSuffix("/") { endpoint.removeLast() }
            } else {
                problems.append("AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) URL without user info, query or fragment")
            }
        } else {
            switch value("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")?.lowercased() {
            case nil, "ipv4": break
            case "ipv6": endpoint = ipv6Endpoint
            default: problems.append("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6")
            }
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        return InstanceMetadataSource(endpoint: endpoint)
    }

    /// Token, role name, credentials. Short timeouts: off EC2 nothing answers at the link-local address, and a run
    /// should learn that quickly.
    func fetch(http: HTTPClient, deadline: Deadline) async throws(AWSError) -> AWSCredentials {
        let retry = RetryPolicy(maxAttempts: 2, base: .milliseconds(100), cap: .milliseconds(500))
        func send(_ operation: String, _ request: HTTPRequest) async throws(AWSError) -> HTTPResponse {
            var request = request
            request.timeout = .seconds(2)
            request.connectTimeout = .seconds(1)
            let response: HTTPResponse
            do { response = try await http.send(request, retry: retry, deadline: deadline) } catch {
                throw AWSError.from(httpError: error, service: AWSCredentialError.service, operation: operation)
            }
            guard response.status == 200 else {
                throw AWSError.from(response: response, service: AWSCredentialError.service, operation: operation)
            }
            return response
        }

        let tokenResponse = try await send("IMDSv2 token", HTTPRequest(
            method: .PUT, url: endpoint + Self.tokenPath,
            headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))]))
        let token = trimmed(tokenResponse.bodyText)
        guard !token.isEmpty, !token.contains(where: \.isNewline) else {
            throw AWSError.invalidResponse("IMDSv2 token", "the token answer is empty or more than one line")
        }
        // Anyone holding the token can read the instance's credentials for its lifetime.
        SecretRedactor.shared.register(token)
        let authorized = [HTTPHeader("X-aws-ec2-metadata-token", token)]

        let roles = try await send("IMDSv2 role name", HTTPRequest(method: .GET, url: endpoint + Self.credentialsPath,
                                                                   headers: authorized))
        guard let role = roles.bodyText.split(whereSeparator: \.isNewline).map({ trimmed(String($0)) }).first(where: { !$0.isEmpty })
        else {
            throw AWSError.invalidResponse("IMDSv2 role name", "no IAM role is attached to this instance")
        }
        let answer = try await send("IMDSv2 credentials", HTTPRequest(
            method: .GET, url: endpoint + Self.credentialsPath + URIEncoding.encode(role), headers: authorized))
        let code = (try? JSONReader.parse(answer.body))?["Code"]?.stringValue
        guard code == nil || code == "Success" else {
            throw AWSCredentialError.make("IMDSv2 credentials", code ?? "Failure",
                                          "the metadata service reports \(code ?? "a failure") for role \(role)")
        }
        guard let credentials = CredentialsJSON.parse(answer.body, tokenField: "Token") else {
            throw AWSError.invalidResponse("IMDSv2 credentials", "the answer is not JSON with AccessKeyId and SecretAccessKey")
        }
        return credentials.registeringSecrets()
    }
}
