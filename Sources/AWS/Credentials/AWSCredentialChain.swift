// The standard AWS credential chain for runs outside Lambda: environment, shared profile, container, IMDSv2.
import HTTP
import Core
import Glibc

/// Decides, from configuration alone (no network), where a client's credentials and region come from.
///
/// In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set, and not by `apitap invoke`, which sets `APITAP_LOCAL_INVOKE`) only the
/// environment counts, as before: Lambda puts the execution role's credentials there. Elsewhere the first source that is configured wins, in the SDKs' order:
/// 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`);
/// 2. the profile `AWS_PROFILE` names (else `default`) in the shared `credentials` and `config` files
///    (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, else `~/.aws/`): an access key, or `role_arn` with
///    `source_profile` or `credential_source` through STS AssumeRole;
/// 3. container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`);
/// 4. IMDSv2, unless `AWS_EC2_METADATA_DISABLED=true`.
/// A named profile that is missing or broken is an error, not a reason to fall through to the next source; one that
/// assumes a role with `credential_source = Environment` is used even though the environment's key is set. The
/// region is `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's `region`.
public enum AWSCredentialChain {
    public struct Resolution: Sendable {
        public var provider: (any AWSCredentialProvider)?
        public var region: AWSRegion?
        /// Every problem found; empty when `provider` and `region` are set.
        public var problems: [String]
    }

    /// `clock` decides when temporary credentials are renewed (tests move it); `retry` is used for STS.
    public static func resolve(_ environment: [String: String], http: HTTPClient, retry: RetryPolicy = RetryPolicy(),
                               clock: @escaping @Sendable () -> EpochMillis = { EpochMillis.now() }) -> Resolution {
        var problems: [String] = []
        func value(_ name: String) -> String? { environment[name].map(trimmed).flatMap { $0.isEmpty ? nil : $0 } }

        if value("AWS_LAMBDA_FUNCTION_NAME") != nil, value("APITAP_LOCAL_INVOKE") == nil {
            var resolution = Resolution(provider: nil, region: nil, problems: [])
            do { resolution.provider = StaticCredentialProvider(try AWSCredentials.fromEnvironment(environment), source: "environment") } catch {
                resolution.problems += error.problems
            }
            do { resolution.region = try AWSRegion.fromEnvironment(environment) } catch { resolution.problems += error.problems }
            return resolution
        }

        let hasEnvironmentKeys = value("AWS_ACCESS_KEY_ID") != nil || value("AWS_SECRET_ACCESS_KEY") != nil
        var region: AWSRegion?
        var regionProblem: String?
        do { region = try AWSRegion.fromEnvironment(environment) } catch { regionProblem = error.problems.first }
        let regionIsSet = value("AWS_REGION") != nil || value("AWS_DEFAULT_REGION") != nil

        // The shared files are read only when something is still missing: a broken ~/.aws/config does not stop a run
        // that the environment fully configures.
        let profileName = value("AWS_PROFILE") ?? "default"
        let explicitProfile = value("AWS_PROFILE") != nil
        var shared = SharedProfiles(credentialsPath: nil, configPath: nil, profiles: [:])
        if !hasEnvironmentKeys || !regionIsSet || explicitProfile {
            shared = SharedProfiles.load(environment, problems: &problems)
        }
        // A file that could not be read or parsed: its profiles are unknown, so no further conclusion holds.
        guard problems.isEmpty else { return Resolution(provider: nil, region: region, problems: problems) }
        if !regionIsSet, let name = shared.profiles[profileName]?["region"] {
            if AWSRegion.isValid(name) { region = AWSRegion(name) } else {
                problems.append("profile \"\(profileName)\": region \"\(name.prefix(40))\" is not a region name (like eu-west-1)")
            }
        } else if let regionProblem {
            problems.append(regionIsSet ? regionProblem : regionProblem + ", and profile \"\(profileName)\" has no region")
        }

        var provider: (any AWSCredentialProvider)?
        let resolver = ProfileResolver(environment: environment, shared: shared, http: http, region: region, retry: retry, clock: clock)
        // A profile named on purpose that assumes a role with the environment's key: the environment's key must not
        // win here, or `credential_source = Environment` could never take effect (the AWS CLI reaches it through
        // --profile, which apitap does not have).
        if hasEnvironmentKeys, explicitProfile, let properties = shared.profiles[profileName], properties["role_arn"] != nil,
           properties["credential_source"] == "Environment" {
            provider = resolver.provider(profileName, visited: [], problems: &problems)
            return Resolution(provider: provider, region: region, problems: problems)
        }
        if hasEnvironmentKeys {
            do { provider = StaticCredentialProvider(try AWSCredentials.fromEnvironment(environment), source: "environment") } catch {
                problems += error.problems
            }
            return Resolution(provider: provider, region: region, problems: problems)
        }
        if value("AWS_WEB_IDENTITY_TOKEN_FILE") != nil {
            problems.append("AWS_WEB_IDENTITY_TOKEN_FILE is set, but apitap does not support web identity credentials: "
                            + "use a profile, container credentials or instance metadata (or unset it)")
            return Resolution(provider: nil, region: region, problems: problems)
        }

        if shared.profiles[profileName] != nil {
            let before = problems.count
            provider = resolver.provider(profileName, visited: [], problems: &problems)
            if provider != nil || problems.count > before {
                return Resolution(provider: provider, region: region, problems: problems)
            }
            if explicitProfile {
                problems.append("profile \"\(profileName)\" has no credentials (aws_access_key_id and aws_secret_access_key, "
                                + "or role_arn with source_profile or credential_source)")
                return Resolution(provider: nil, region: region, problems: problems)
            }
        } else if explicitProfile {
            problems.append("AWS_PROFILE=\(profileName): no such profile in \(shared.where)")
            return Resolution(provider: nil, region: region, problems: problems)
        }

        let container: ContainerCredentialSource?
        do { container = try ContainerCredentialSource.fromEnvironment(environment) } catch {
            return Resolution(provider: nil, region: region, problems: problems + error.problems)
        }
        if let container {
            provider = RenewingCredentialProvider(container.description, clock: clock) { deadline async throws(AWSError) in
                try await container.fetch(http: http, deadline: deadline)
            }
            return Resolution(provider: provider, region: region, problems: problems)
        }

        let imds: InstanceMetadataSource?
        do { imds = try InstanceMetadataSource.fromEnvironment(environment) } catch {
            return Resolution(provider: nil, region: region, problems: problems + error.problems)
        }
        let tried = "nothing in the environment (AWS_ACCESS_KEY_ID), profile \"\(profileName)\" (\(shared.where)) "
            + "or container variables (AWS_CONTAINER_CREDENTIALS_*)"
        guard let imds else {
            problems.append("no AWS credentials: \(tried), and AWS_EC2_METADATA_DISABLED=true")
            return Resolution(provider: nil, region: region, problems: problems)
        }
        // The last resort: off EC2 it fails at the first call, and the error says what else was looked for.
        provider = RenewingCredentialProvider(imds.description, clock: clock) { deadline async throws(AWSError) in
            do throws(AWSError) { return try await imds.fetch(http: http, deadline: deadline) } catch {
                throw AWSError(service: error.service, operation: "lookup (\(tried); then \(imds.description))",
                               status: error.status, code: error.code, message: "\(error.operation): \(error.message)",
                               isRetryable: error.isRetryable, requestID: error.requestID)
            }
        }
        return Resolution(provider: provider, region: region, problems: problems)
    }
}

/// The `credentials` and `config` files, read and merged (a property in `credentials` wins).
struct SharedProfiles {
    var credentialsPath: String?
    var configPath: String?
    var profiles: [String: [String: String]]

    /// For messages: which files were looked at.
    var `where`: String {
        let paths = [credentialsPath, configPath].compactMap { $0 }
        return paths.isEmpty ? "no shared files (HOME is not set)" : paths.joined(separator: " or ")
    }

    static func load(_ environment: [String: String], problems: inout [String]) -> SharedProfiles {
        let home = environment["HOME"].map(trimmed).flatMap { $0.isEmpty ? nil : $0 }
        func path(_ variable: String, _ file: String) -> String? {
            if let given = environment[variable].map(trimmed), !given.isEmpty {
                guard given == "~" || given.hasPrefix("~/") else { return given }
                return home.map { $0 + given.dropFirst() } ?? given
            }
            return home.map { $0 + "/.aws/" + file }
        }
        var shared = SharedProfiles(credentialsPath: path("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
                                    configPath: path("AWS_CONFIG_FILE", "config"), profiles: [:])
        let config = read(shared.configPath, kind: .config, problems: &problems)
        let credentials = read(shared.credentialsPath, kind: .credentials, problems: &problems)
        shared.profiles = config.profiles
        for (name, properties) in credentials.profiles {
            shared.profiles[name, default: [:]].merge(properties) { _, fromCredentials in fromCredentials }
        }
        return shared
    }

    /// A missing file is no profile, not an error; one that cannot be read or parsed is.
    static func read(_ path: String?, kind: AWSProfileFile.Kind, problems: inout [String]) -> AWSProfileFile {
        guard let path else { return AWSProfileFile() }
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path: path) } catch {
            if error.errno != ENOENT && error.errno != ENOTDIR { problems.append("cannot read \(path): \(error)") }
            return AWSProfileFile()
        }
        do { return try AWSProfileFile.parse(String(decoding: bytes, as: UTF8.self), path: path, kind: kind) } catch {
            problems += error.problems
            return AWSProfileFile()
        }
    }
}

/// Turns a profile into a provider, following `source_profile` (role chaining) and `credential_source`.
struct ProfileResolver {
    let environment: [String: String]
    let shared: SharedProfiles
    let http: HTTPClient
    let region: AWSRegion?
    let retry: RetryPolicy
    let clock: @Sendable () -> EpochMillis

    static let unsupported = ["credential_process", "sso_session", "sso_start_url", "web_identity_token_file", "login_session"]

    /// nil with no new problem: the profile holds no credentials at all.
    func provider(_ name: String, visited: [String], problems: inout [String]) -> (any AWSCredentialProvider)? {
        let label = "profile \"\(name)\""
        guard let properties = shared.profiles[name] else {
            problems.append("\(label) (source_profile of profile \"\(visited.last ?? "")\") is not in \(shared.where)")
            return nil
        }
        if properties["role_arn"] != nil {
            return assumeRole(name, properties, visited: visited, problems: &problems)
        }
        if properties["aws_access_key_id"] != nil || properties["aws_secret_access_key"] != nil {
            return staticKeys(name, properties, problems: &problems)
        }
        for key in Self.unsupported where properties[key] != nil {
            problems.append("\(label) uses \(key), which apitap does not support: export temporary credentials "
                            + "(aws configure export-credentials --profile \(name) --format env) and run with those")
            return nil
        }
        return nil
    }

    func staticKeys(_ name: String, _ properties: [String: String], problems: inout [String]) -> (any AWSCredentialProvider)? {
        let label = "profile \"\(name)\""
        let before = problems.count
        let id = properties["aws_access_key_id"] ?? "", secret = properties["aws_secret_access_key"] ?? ""
        if id.isEmpty { problems.append("\(label) has no aws_access_key_id") }
        if secret.isEmpty { problems.append("\(label) has no aws_secret_access_key") }
        let token = properties["aws_session_token"]
        if (id + secret + (token ?? "")).contains(where: \.isNewline) {
            problems.append("\(label): a key or token continues on an indented line; each must be on one line")
        }
        guard problems.count == before else { return nil }
        // Only the keys in use are registered: the redactor keeps a bounded list, and a file of many profiles would
        // push out the ones that matter.
        return StaticCredentialProvider(AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token).registeringSecrets(),
                                        source: label)
    }

    func assumeRole(_ name: String, _ properties: [String: String], visited: [String],
                             problems: inout [String]) -> (any AWSCredentialProvider)? {
        let label = "profile \"\(name)\""
        if properties["web_identity_token_file"] != nil {
            problems.append("\(label) uses web_identity_token_file, which apitap does not support")
            return nil
        }
        let settings = AssumeRoleSettings.parse(properties, profile: name, now: clock(), problems: &problems)
        var source: (any AWSCredentialProvider)?
        switch (properties["source_profile"], properties["credential_source"]) {
        case (nil, nil):
            problems.append("\(label) has role_arn but neither source_profile nor credential_source")
        case (.some, .some):
            problems.append("\(label) sets both source_profile and credential_source; keep one")
        case (let sourceProfile?, nil):
            if sourceProfile == name {
                // A profile that names itself assumes the role with its own access key.
                source = staticKeys(name, properties, problems: &problems)
            } else if visited.contains(sourceProfile) {
                problems.append("source_profile loop: " + (visited + [name, sourceProfile]).map { "\"\($0)\"" }.joined(separator: " → "))
            } else {
                let before = problems.count
                source = provider(sourceProfile, visited: visited + [name], problems: &problems)
                if source == nil && problems.count == before {
                    problems.append("profile \"\(sourceProfile)\" (source_profile of \(label)) has no credentials")
                }
            }
        case (nil, let credentialSource?):
            source = self.credentialSource(credentialSource, label: label, problems: &problems)
        }
        guard let settings, let source else { return nil }
        // Without a region the resolution already has a problem and no client is made: the stand-in is never used.
        let region = self.region ?? AWSRegion("us-east-1")
        let sts: AWSClient
        do {
            // An STS override that is not a URL must fail here: the client would otherwise fall back to real AWS.
            _ = try AWSEndpoint.resolve(.sts, region: region, environment: environment)
            sts = try AWSClient(http: http, credentialProvider: source, region: region, environment: environment, retry: retry)
        } catch {
            problems += error.problems
            return nil
        }
        return RenewingCredentialProvider("\(label): role \(settings.roleArn) from \(source.description)", clock: clock) {
            deadline async throws(AWSError) in
            try await AssumeRole.fetch(settings, sts: sts, profile: name, deadline: deadline)
        }
    }

    func credentialSource(_ value: String, label: String, problems: inout [String]) -> (any AWSCredentialProvider)? {
        switch value {
        case "Environment":
            do { return StaticCredentialProvider(try AWSCredentials.fromEnvironment(environment), source: "environment") } catch {
                problems += error.problems.map { "\(label) credential_source=Environment: \($0)" }
            }
        case "EcsContainer":
            do {
                guard let container = try ContainerCredentialSource.fromEnvironment(environment) else {
                    problems.append("\(label) credential_source=EcsContainer: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
                                    + "(or _FULL_URI) is not set")
                    return nil
                }
                let http = self.http
                return RenewingCredentialProvider(container.description, clock: clock) { deadline async throws(AWSError) in
                    try await container.fetch(http: http, deadline: deadline)
                }
            } catch { problems += error.problems }
        case "Ec2InstanceMetadata":
            do {
                guard let imds = try InstanceMetadataSource.fromEnvironment(environment) else {
                    problems.append("\(label) credential_source=Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED=true")
                    return nil
                }
                let http = self.http
                return RenewingCredentialProvider(imds.description, clock: clock) { deadline async throws(AWSError) in
                    try await imds.fetch(http: http, deadline: deadline)
                }
            } catch { problems += error.problems }
        default:
            problems.append("\(label): credential_source must be Environment, Ec2InstanceMetadata or EcsContainer")
        }
        return nil
    }
}
