// The client core every service client shares: resolve the endpoint, sign, send with retries, turn failures into
// AWSError. Also the three wire protocols' helpers (JSON 1.1, REST-JSON, REST-XML).
import HTTP
import Core

/// One call, before signing. `path` is percent-encoded and relative to the endpoint's base path.
public struct AWSCall: Sendable {
    public var service: AWSService
    public var operation: String
    public var method: HTTPMethod
    public var path: String
    public var query: [(name: String, value: String)]
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    /// S3 virtual-hosted style: the bucket, prepended to the endpoint's host.
    public var hostPrefix: String?
    /// Non-2xx statuses the caller interprets itself (S3's 404 NoSuchKey, 412 PreconditionFailed).
    public var expectedStatuses: Set<Int>

    public init(service: AWSService, operation: String, method: HTTPMethod, path: String,
                query: [(name: String, value: String)] = [], headers: [HTTPHeader] = [], body: [UInt8] = [],
                hostPrefix: String? = nil, expectedStatuses: Set<Int> = []) {
        self.service = service
        self.operation = operation
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.hostPrefix = hostPrefix
        self.expectedStatuses = expectedStatuses
    }
}

/// Credentials, region and endpoints, resolved once (at init, from the environment), plus the HTTP client and the
/// retry policy. A value type: the service clients each keep a copy (and share the credential provider).
public struct AWSClient: Sendable, CustomStringConvertible {
    public let http: HTTPClient
    /// Asked before every signed attempt: temporary credentials are renewed while a run goes on.
    public let credentialProvider: any AWSCredentialProvider
    /// The fixed credentials, when they are fixed (nil when a provider renews them).
    public var credentials: AWSCredentials? { (credentialProvider as? StaticCredentialProvider)?.fixed }
    public let region: AWSRegion
    public let endpoints: [AWSService: AWSEndpoint]
    /// The `AWS_ENDPOINT_URL*` variables, for services outside `AWSService.all` (IAM or STS in tests).
    let endpointEnvironment: [String: String]
    /// Used for transport failures, 408/429/5xx (inside HTTPClient) and for retryable AWS error codes that come
    /// with a 400 (`ThrottlingException`): each of those retries is signed afresh.
    public var retry: RetryPolicy
    /// Sees every retry (for counting and logging): the error is already free of secrets.
    public var onRetry: (@Sendable (AWSError, Duration) -> Void)?
    /// Per attempt; the deadline given to each call shortens it further.
    public var requestTimeout: Duration
    /// The signing clock (tests pin it).
    public var clock: @Sendable () -> EpochMillis

    public init(http: HTTPClient, credentials: AWSCredentials, region: AWSRegion, environment: [String: String] = [:],
                retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(30)) throws(ConfigurationProblems) {
        try self.init(http: http, credentialProvider: StaticCredentialProvider(credentials, source: "given"), region: region,
                      environment: environment, retry: retry, requestTimeout: requestTimeout)
    }

    public init(http: HTTPClient, credentialProvider: any AWSCredentialProvider, region: AWSRegion,
                environment: [String: String] = [:], retry: RetryPolicy = RetryPolicy(),
                requestTimeout: Duration = .seconds(30)) throws(ConfigurationProblems) {
        var endpoints: [AWSService: AWSEndpoint] = [:]
        var problems: [String] = []
        for service in AWSService.all {
            do { endpoints[service] = try AWSEndpoint.resolve(service, region: region, environment: environment) } catch {
                problems.append(contentsOf: error.problems)
            }
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        self.http = http
        self.credentialProvider = credentialProvider
        self.region = region
        self.endpoints = endpoints
        self.endpointEnvironment = environment.filter { $0.key.hasPrefix("AWS_ENDPOINT_URL") }
        self.retry = retry
        self.onRetry = nil
        self.requestTimeout = requestTimeout
        self.clock = { EpochMillis.now() }
    }

    /// Credentials (the standard chain outside Lambda, see `AWSCredentialChain`), region and endpoint overrides from
    /// the environment, with every problem reported at once.
    public static func fromEnvironment(_ environment: [String: String], http: HTTPClient,
                                       retry: RetryPolicy = RetryPolicy()) throws(ConfigurationProblems) -> AWSClient {
        let chain = AWSCredentialChain.resolve(environment, http: http, retry: retry)
        var problems = chain.problems
        let credentials = chain.provider
        let region = chain.region
        // Endpoint overrides are checked even when the region is missing, so that one run shows every mistake.
        for service in AWSService.all {
            do { _ = try AWSEndpoint.resolve(service, region: region ?? AWSRegion("us-east-1"), environment: environment) } catch {
                for p in error.problems where !problems.contains(p) { problems.append(p) }
            }
        }
        guard problems.isEmpty, let credentials, let region else { throw ConfigurationProblems(problems) }
        return try AWSClient(http: http, credentialProvider: credentials, region: region, environment: environment, retry: retry)
    }

    public var description: String { "AWSClient(\(region), \(credentialProvider))" }

    public func endpoint(_ service: AWSService) -> AWSEndpoint {
        if let known = endpoints[service] { return known }
        if let resolved = try? AWSEndpoint.resolve(service, region: region, environment: endpointEnvironment) { return resolved }
        return AWSEndpoint(scheme: "https", host: "\(service.endpointPrefix).\(region.rawValue).\(region.dnsSuffix)",
                                          isOverride: false)
    }

    /// The signed HTTP request for a call, at `time`, with `credentials` (by default the client's fixed ones; `send`
    /// asks the provider).
    public func signedRequest(_ call: AWSCall, at time: EpochMillis, credentials: AWSCredentials? = nil) -> HTTPRequest {
        let credentials = credentials ?? self.credentials ?? AWSCredentials(accessKeyID: "", secretAccessKey: "")
        let endpoint = endpoint(call.service)
        let host = call.hostPrefix.map { "\($0).\(endpoint.host)" } ?? endpoint.host
        var authority = host
        if let port = endpoint.port, port != (endpoint.scheme == "https" ? 443 : 80) { authority += ":\(port)" }
        let path = endpoint.basePath + (call.path.isEmpty ? "/" : call.path)
        var headers = call.headers
        headers.append(HTTPHeader("Host", authority))
        let signer = SigV4Signer(credentials: credentials, region: region.rawValue, service: call.service.signingName,
                                 normalizePath: !call.service.usesS3SigningRules, encodePath: !call.service.usesS3SigningRules,
                                 addContentSHA256Header: call.service.usesS3SigningRules)
        let signature = signer.sign(SigV4Request(method: call.method.rawValue, path: path, query: call.query,
                                                 headers: headers, payloadHash: SigV4Signer.sha256Hex(call.body)),
                                    at: time)
        var sent = signature.headers
        sent.append(HTTPHeader("User-Agent", "apitap"))
        return HTTPRequest(method: call.method,
                           url: endpoint.url(host: host, path: call.path.isEmpty ? "/" : call.path, query: signature.canonicalQuery),
                           headers: sent, body: call.body, timeout: requestTimeout)
    }

    /// Signs and sends, retrying what is worth retrying within `deadline`. A 2xx or an expected status comes back as
    /// a response; anything else is an `AWSError`.
    public func send(_ call: AWSCall, deadline: Deadline = .distant) async throws(AWSError) -> HTTPResponse {
        let service = call.service.displayName
        var attempt = 0
        while true {
            attempt += 1
            let credentials = try await credentialProvider.credentials(deadline: deadline)
            let request = signedRequest(call, at: clock(), credentials: credentials)
            let onRetry = self.onRetry
            let response: HTTPResponse
            do {
                response = try await http.send(request, retry: retry, deadline: deadline) { error, wait in
                    onRetry?(AWSError.from(httpError: error, service: service, operation: call.operation), wait)
                }
            } catch {
                throw AWSError.from(httpError: error, service: service, operation: call.operation)
            }
            if response.isSuccess || call.expectedStatuses.contains(response.status) { return response }
            let failure = AWSError.from(response: response, service: service, operation: call.operation)
            // Temporary credentials revoked or expired early: fetch new ones and try once more.
            if failure.code == "ExpiredToken" || failure.code == "ExpiredTokenException", credentials.sessionToken != nil,
               attempt < retry.maxAttempts {
                await credentialProvider.invalidate(credentials)
                continue
            }
            // HTTPClient already retried 408/429/5xx; what is left retryable here is a throttle sent as a 400.
            guard failure.isRetryable, attempt < retry.maxAttempts else { throw failure }
            let wait = retry.delay(attempt: attempt, retryAfter: response.header("Retry-After"))
            guard wait.milliseconds < deadline.remainingMilliseconds() - 50 else { throw failure }
            onRetry?(failure, wait)
            try? await Task.sleep(for: wait)
        }
    }

    // MARK: protocols

    /// JSON 1.1 (CloudWatch Logs, Secrets Manager): POST / with `X-Amz-Target: <prefix>.<operation>`.
    public func jsonCall(_ service: AWSService, targetPrefix: String, operation: String, body: [UInt8],
                         deadline: Deadline = .distant) async throws(AWSError) -> [UInt8] {
        let call = AWSCall(service: service, operation: operation, method: .POST, path: "/",
                           headers: [HTTPHeader("X-Amz-Target", "\(targetPrefix).\(operation)"),
                                     HTTPHeader("Content-Type", "application/x-amz-json-1.1")],
                           body: body)
        return try await send(call, deadline: deadline).body
    }

    /// REST-JSON (API Gateway): the operation in the method and path, a JSON body when there is one.
    public func restJSONCall(_ service: AWSService, operation: String, method: HTTPMethod, path: String,
                             query: [(name: String, value: String)] = [], body: [UInt8] = [],
                             deadline: Deadline = .distant) async throws(AWSError) -> [UInt8] {
        var headers = [HTTPHeader("Accept", "application/json")]
        if !body.isEmpty || method == .POST || method == .PATCH || method == .PUT {
            headers.append(HTTPHeader("Content-Type", "application/json"))
        }
        let call = AWSCall(service: service, operation: operation, method: method, path: path, query: query,
                           headers: headers, body: body)
        return try await send(call, deadline: deadline).body
    }

    /// Parses a JSON answer, or reports it as an invalid response of `operation`.
    func parseJSON(_ bytes: [UInt8], _ service: AWSService, _ operation: String) throws(AWSError) -> JSONValue {
        do { return try JSONReader.parse(bytes) } catch {
            throw AWSError.invalidResponse(service, operation, "\(error)")
        }
    }
}

extension AWSError {
    static func invalidResponse(_ service: AWSService, _ operation: String, _ reason: String) -> AWSError {
        AWSError(service: service.displayName, operation: operation, status: nil, code: "InvalidResponse",
                 message: reason, isRetryable: false)
    }
}

/// Path segments for REST calls: each one encoded on its own, so an id can never add a segment.
func restPath(_ segments: String...) -> String { URIEncoding.path(segments) }
