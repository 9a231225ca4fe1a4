// `apitap stitch`: FilterLogEvents NDJSON in, transactions NDJSON out, offline, with the same stitcher as the tick.
import AWS
import ArgumentParser
import Glibc
import HTTP
import Core
import Traffic

struct Stitch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stitch exported CloudWatch events (NDJSON) into transactions (NDJSON), offline.",
        discussion: """
        Input lines are FilterLogEvents event objects: {"logStreamName","timestamp","message","ingestionTime","eventId"} \
        (for example from `aws logs filter-log-events ... | jq -c '.events[]'`). Log groups named \
        API-Gateway-Execution-Logs_{apiId}/{stage} are stitched as REST execution logs; any other as HTTP API access logs. \
        Requests still incomplete at the end of the input are written flagged "incomplete". A summary goes to stderr. \
        CONTENT_TYPE_REGEX and EXCLUDED_EXTENSIONS_REGEX apply as in the tick unless --no-filter. \
        --format edge writes exactly the objects the UAP sink puts into a batch's "data" array; transactions that \
        format cannot express (no method, path or status) are counted in the summary, not written. \
        --source flex-gateway reads MuleSoft Flex Gateway Message Logging lines instead (apitap's layout or \
        Cequence's, docs/flex-gateway.md), with FLEX_APIS and FLEX_ENTRY_LIMIT_BYTES as in the tick. \
        --gzip compresses the output as the UAP sink compresses batches (UAP_CONTENT_ENCODING=gzip, zlib level 6): one \
        gzip member per MiB of NDJSON, which zcat and gzip -d read as one stream. Exits 1 when the input cannot be \
        read or the output cannot be written.
        """
    )

    /// What wrote the events.
    enum Source: String, ExpressibleByArgument, CaseIterable {
        case apiGateway = "api-gateway"
        case flexGateway = "flex-gateway"
    }

    @Option(name: .long, help: "What wrote the events: api-gateway (REST execution or HTTP API access logs) or flex-gateway.")
    var source: Source = .apiGateway

    @Option(name: .long, help: "The log group the events come from (required for api-gateway; flex-gateway: default flex-gateway).")
    var logGroup: String?

    @Option(name: .long, help: "NDJSON input file (default: stdin).")
    var input: String?

    @Option(name: .long, help: "AWS region of the API (default: AWS_REGION, else us-east-1).")
    var region: String?

    @Option(name: .long, help: "AWS account id to put in each transaction's source.")
    var accountId: String?

    @Flag(name: .long, help: "Write every transaction, ignoring the content-type and extension filters.")
    var noFilter = false

    @Option(name: .long, help: "Output format: native (apitap's documented format) or edge (UAP API Edge objects).")
    var format: PayloadFormat = .native

    @Option(name: .long, help: "Longest input line read (bytes); longer lines are skipped and counted as failed (default 4 MiB).")
    var maxLineBytes: Int = NDJSONStitchSession.defaultMaxLineBytes

    @Flag(name: .long, help: "Gzip the output, one member per MiB of NDJSON (as the UAP sink compresses a batch).")
    var gzip = false

    func run() throws {
        let env = ProcessEnvironment.current
        var filter: TransactionFilter?
        if !noFilter {
            do {
                filter = try TransactionFilter(
                    contentTypePattern: env["CONTENT_TYPE_REGEX"] ?? TransactionFilter.defaultContentTypePattern,
                    excludedExtensionsPattern: env["EXCLUDED_EXTENSIONS_REGEX"] ?? TransactionFilter.defaultExcludedExtensionsPattern)
            } catch { throw usageProblem(error.description) }
        }
        let fd: Int32
        if let input {
            fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw usageProblem("cannot read \(input): \(String(cString: strerror(errno)))") }
        } else {
            fd = 0
        }
        defer { if fd != 0 { close(fd) } }
        guard maxLineBytes >= 1024 else { throw usageProblem("--max-line-bytes must be at least 1024") }
        let encoding = try encoding(env)
        let mode = try mode(env)
        guard let group = logGroup ?? (source == .flexGateway ? "flex-gateway" : nil) else {
            throw usageProblem("--log-group is required with --source api-gateway")
        }
        let counters: (traffic: TrafficCounters, flex: FlexCounters?)
        var sink = StitchOutput(gzip: gzip)
        do {
            counters = try NDJSONStitchSession.runCounting(
                logGroup: LogGroupName(group), region: AWSRegion(region ?? env["AWS_REGION"] ?? "us-east-1"),
                accountId: accountId.map(AWSAccountID.init), filter: filter, mode: mode, encoding: encoding, maxLineBytes: maxLineBytes,
                input: fd) { sink.write($0) }
            sink.finish()
        } catch {
            FileOutput.stderr("error: \(error)\n")
            throw ExitCode(1)
        }
        if let failure = sink.failure {
            FileOutput.stderr("error: writing the output failed: \(failure)\n")
            throw ExitCode(1)
        }
        var w = JSONWriter()
        if let flex = counters.flex { flex.write(to: &w) } else { counters.traffic.write(to: &w) }
        if counters.traffic.encoding.notEncodedTotal > 0 {
            FileOutput.stderr("stitch: \(counters.traffic.encoding.notEncodedTotal) transaction(s) the \(format.rawValue) format cannot express were not written\n")
        }
        FileOutput.stderr("stitch: " + w.string + "\n")
    }

    /// How the events are read; Flex's settings come from the environment, checked as the tick checks them.
    func mode(_ env: [String: String]) throws(ExitCode) -> NDJSONStitchSession.Mode {
        guard source == .flexGateway else { return .automatic }
        var p = SettingParser(env)
        let options = FlexConfiguration.stitcherOptions(&p)
        guard p.problems.isEmpty else { throw usageProblem(p.problems.joined(separator: "; ")) }
        return .flexGateway(options)
    }

    func encoding(_ env: [String: String]) throws(ExitCode) -> TransactionEncoding {
        switch format {
        case .native: return .native
        case .edge:
            let unknown = env["UAP_EDGE_UNKNOWN_IP"] ?? EdgeEncodingOptions.defaultUnknownAddress
            guard EdgeEncodingOptions.isValidAddress(unknown) else {
                throw usageProblem("UAP_EDGE_UNKNOWN_IP must be an IPv4 or IPv6 address")
            }
            return .edge(EdgeEncodingOptions(toolVersion: ApitapVersion.current, unknownAddress: unknown))
        }
    }
}

extension PayloadFormat: ExpressibleByArgument {}

/// Where `apitap stitch` writes: stdout, as NDJSON or as gzip members of about a MiB of NDJSON each. Compression runs
/// on a thread of its own (members are written in order). The first failure is kept (and nothing more is written) so
/// that the command can exit 1 instead of losing output silently.
struct StitchOutput {
    let gzip: Bool
    private var pending: [UInt8] = []
    private var failure_: String?
    private let compressor: Compressor?
    static let memberBytes = 1 << 20

    /// The compressing thread: takes MiB chunks, writes gzip members.
    final class Compressor: Sendable {
        let queue = BlockingQueue<[UInt8]>(capacity: 4)
        let failure = Locked<String?>(nil)
        private let thread: OSThread?

        init() {
            let queue = self.queue, failure = self.failure
            thread = OSThread {
                while let chunk = queue.take() {
                    guard failure.value == nil else { continue }
                    do { try FileIO.writeAll(1, try GzipCompressor.compress(chunk)) } catch { failure.withLock { $0 = "\(error)" } }
                }
            }
        }

        /// Hands a chunk over, or compresses it here when no thread could be started.
        func submit(_ chunk: [UInt8]) {
            if thread != nil {
                queue.put(chunk)
            } else if failure.value == nil {
                do { try FileIO.writeAll(1, try GzipCompressor.compress(chunk)) } catch { failure.withLock { $0 = "\(error)" } }
            }
        }

        func finish() {
            queue.close()
            thread?.join()
        }
    }

    init(gzip: Bool) {
        self.gzip = gzip
        compressor = gzip ? Compressor() : nil
    }

    var failure: String? { failure_ ?? compressor?.failure.value }

    mutating func write(_ bytes: [UInt8]) {
        guard failure_ == nil else { return }
        guard let compressor else {
            do { try FileIO.writeAll(1, bytes) } catch { failure_ = "\(error)" }
            return
        }
        pending += bytes
        if pending.count >= Self.memberBytes {
            compressor.submit(pending)
            pending.removeAll(keepingCapacity: true)
        }
    }

    mutating func finish() {
        guard let compressor else { return }
        if !pending.isEmpty { compressor.submit(pending) }
        pending.removeAll()
        compressor.finish()
    }
}
