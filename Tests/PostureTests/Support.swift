// Shared helpers: an HTTP client per process, a runner against a double, temp directories.
import APIManagerDoubles
import Foundation
import HTTP
import Core
import Audit
@testable import Posture

let sharedHTTP: HTTPClient = {
    do { return try HTTPClient() } catch { fatalError("HTTPClient: \(error)") }
}()

struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

func tempDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-posture-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A runner against `double` with quick retries (a 429 waits milliseconds, not seconds).
func makeRunner(_ double: APIManagerDouble, clientID: String = GeneratedOrganization.clientID,
                secret: String = GeneratedOrganization.clientSecret, settings: CollectionSettings = CollectionSettings(concurrency: 6),
                rules: PostureRules? = nil) throws -> (PostureRunner, AnypointClient) {
    let tokens = AnypointClient.tokenProvider(http: sharedHTTP, baseURL: double.baseURL, clientID: clientID, secret: { secret })
    let client = AnypointClient(baseURL: double.baseURL, http: sharedHTTP, tokens: tokens, requestsPerMinute: 1_000_000,
                                retry: RetryPolicy(maxAttempts: 6, base: .milliseconds(2), cap: .milliseconds(20)), serviceUnavailableIsRateWindow: false)
    let r = try rules ?? PostureRules()
    let collector = Collector(reader: APIManagerReader(client: client, rules: r), settings: settings, logger: Logger(level: .error))
    return (PostureRunner(collector: collector, rules: r), client)
}

extension Finding {
    var expectedForm: ExpectedFinding { ExpectedFinding(kind.rawValue, api: api, subject: subject) }
}

/// Every byte of every format, for the leak checks.
func allOutputs(_ report: PostureReport) -> [(String, String)] {
    ReportFormat.allCases.map { ($0.rawValue, String(decoding: report.render($0), as: UTF8.self)) }
}
