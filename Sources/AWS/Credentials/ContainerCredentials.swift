// Container credentials (ECS task roles, EKS Pod Identity): a GET to the endpoint the environment names.
import HTTP
import Core

/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on the ECS agent at 169.254.170.2) or, when that is unset,
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the `Authorization` value from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
/// (read at every fetch: EKS rotates it) or else `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialSource: Sendable, Equatable, CustomStringConvertible {
    public enum Authorization: Sendable, Equatable { case none, value(String), file(String) }

    public let url: String
    public let authorization: Authorization

    public static let ecsHost = "http://169.254.170.2"
    /// Hosts a plain-http FULL_URI may name besides loopback: the ECS agent and EKS Pod Identity (IPv4 and IPv6).
    public static let linkLocalHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"]

    public var description: String { "container credentials at \(HTTPError.redactURL(url))" }

    /// nil when neither URI variable is set. A URI that could send the token somewhere it should not go is an error.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigurationProblems) -> ContainerCredentialSource? {
        func value(_ name: String) -> String? { environment[name].map(trimmed).flatMap { $0.isEmpty ? nil : $0 } }
        var problems: [String] = []
        let url: String
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            if !relative.hasPrefix("/") || relative.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                problems.append("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with / (it is appended to \(ecsHost))")
            }
            url = ecsHost + relative
        } else if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            url = full
            if let parts = URLParts(full), parts.userinfo == nil, parts.scheme == "https" || parts.scheme == "http" {
                if parts.scheme == "http" && !(parts.isLoopbackHost || linkLocalHosts.contains(parts.host.lowercased())) {
                    problems.append("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https://, or http:// to a loopback address, "
                                    + "169.254.170.2, 169.254.170.23 or [fd00:ec2::23]")
                }
            } else {
                problems.append("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL without user info")
            }
        } else {
            return nil
        }
        var authorization = Authorization.none
        if let file = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            authorization = .file(file)
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].map(trimmed), !token.isEmpty {
            if token.contains(where: \.isNewline) {
                problems.append("AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break")
            }
            SecretRedactor.shared.register(token)
            authorization = .value(token)
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        return ContainerCredentialSource(url: url, authorization: authorization)
    }

    /// One GET; a 200 with `AccessKeyId`, `SecretAccessKey` and (for temporary credentials) `Token` and `Expiration`.
    func fetch(http: HTTPClient, deadline: Deadline) async throws(AWSError) -> AWSCredentials {
        let operation = "container endpoint"
        var headers = [HTTPHeader("Accept", "application/json")]
        switch authorization {
        case .none: break
        case .value(let token): headers.append(HTTPHeader("Authorization", token))
        case .file(let path):
            let bytes: [UInt8]
            do { bytes = try FileIO.read(path: path) } catch {
                throw AWSCredentialError.make(operation, "TokenFileUnreadable",
                                              "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): \(error)")
            }
            let token = trimmed(String(decoding: bytes, as: UTF8.self))
            guard !token.isEmpty, !token.contains(where: \.isNewline) else {
                throw AWSCredentialError.make(operation, "TokenFileInvalid",
                                              "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path) is empty or holds more than one line")
            }
            SecretRedactor.shared.register(token)
            headers.append(HTTPHeader("Authorization", token))
        }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: .GET, url: url, headers: headers, timeout: .seconds(5),
                                                       connectTimeout: .seconds(2)),
                                           retry: RetryPolicy(maxAttempts: 3, base: .milliseconds(100), cap: .seconds(1)),
                                           deadline: deadline)
        } catch {
            throw AWSError.from(httpError: error, service: AWSCredentialError.service, operation: operation)
        }
        guard response.status == 200 else {
            throw AWSError.from(response: response, service: AWSCredentialError.service, operation: operation)
        }
        guard let credentials = CredentialsJSON.parse(response.body, tokenField: "Token") else {
            throw AWSError.invalidResponse(operation, "the answer is not JSON with AccessKeyId and SecretAccessKey (and a valid Expiration, if any)")
        }
        return credentials.registeringSecrets()
    }
}

/// The JSON both the container endpoint and IMDS answer with.
enum CredentialsJSON {
    /// `AccessKeyId` and `SecretAccessKey` are required; `tokenField` and `Expiration` (ISO 8601) are read when
    /// present, and a present `Expiration` must parse.
    static func parse(_ body: [UInt8], tokenField: String) -> AWSCredentials? {
        guard let json = try? JSONReader.parse(body),
              let id = json["AccessKeyId"]?.stringValue, !id.isEmpty,
              let secret = json["SecretAccessKey"]?.stringValue, !secret.isEmpty else { return nil }
        var expiration: EpochMillis?
        if let text = json["Expiration"]?.stringValue {
            guard let parsed = EpochMillis.parseISO8601(text) else { return nil }
            expiration = parsed
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: json[tokenField]?.stringValue,
                              expiration: expiration)
    }
}

extension AWSError {
    static func invalidResponse(_ source: String, _ reason: String) -> AWSError {
        AWSCredentialError.make(source, "InvalidResponse", reason)
    }
}
