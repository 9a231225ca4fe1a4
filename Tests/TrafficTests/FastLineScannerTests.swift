// The fast line scanner of `apitap stitch` against the path it replaced (every line through JSONReader): the same
// output bytes and counters over every fixture and over generated lines built to hit each of its refusals.
import Foundation
import Core
import Testing
@testable import Traffic

@Suite struct FastLineScannerTests {
    /// Runs `input` through a session with and without the fast scanner; returns both outputs and counters.
    func both(_ input: [UInt8], logGroup: LogGroupName = Fixtures.restLogGroup, mode: NDJSONStitchSession.Mode = .automatic,
              encoding: TransactionEncoding) throws -> (fast: ([UInt8], TrafficCounters), reader: ([UInt8], TrafficCounters)) {
        func run(_ fast: Bool) throws -> ([UInt8], TrafficCounters) {
            var s = NDJSONStitchSession(logGroup: logGroup, region: Fixtures.region, accountId: Fixtures.account,
                                        filter: try TransactionFilter(), mode: mode, encoding: encoding)
            s.fastLineScanner = fast
            var out: [UInt8] = []
            input.withUnsafeBytes { s.feed($0, output: { out += $0 }) }
            let counters = s.finish(output: { out += $0 })
            return (out, counters)
        }
        return (try run(true), try run(false))
    }

    static let encodings: [TransactionEncoding] = [.native, .edge(EdgeEncodingOptions(toolVersion: "test"))]

    @Test func everyFixtureGivesTheSameBytesBothWays() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.path).filter { $0.hasSuffix(".ndjson") }.sorted()
        #expect(names.count > 30)
        var transactions = 0
        for name in names {
            let input = [UInt8](try Fixtures.data(name))
            let flex = name.hasPrefix("flex-")
            let group = flex ? LogGroupName("/flex/prod") : name.hasPrefix("http-") ? LogGroupName("/aws/apigateway/http") : Fixtures.restLogGroup
            let mode: NDJSONStitchSession.Mode = flex ? .flexGateway(FlexStitcherOptions()) : .automatic
            for encoding in Self.encodings {
                let (fast, reader) = try both(input, logGroup: group, mode: mode, encoding: encoding)
                #expect(fast.0 == reader.0, "\(name): output differs")
                #expect(fast.1 == reader.1, "\(name): counters differ")
                transactions += fast.1.transactionsEmitted
            }
        }
        #expect(transactions > 100, "the fixtures produce transactions")
    }

    /// Lines that take every branch of the scanner: plain, escaped, \u escapes (pairs, lone halves), raw UTF-8,
    /// invalid UTF-8, control characters, repeated, missing and escaped member names, nested values, numbers of
    /// every shape, literals, white space, trailing text.
    static func generatedLines(count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        let streams = ["s1", "stream-2", "caf\\u00e9", "s\\\"q", "ünï"]
        let requestIds = ["11111111-aaaa-4bbb-8ccc-000000000001", "11111111-aaaa-4bbb-8ccc-000000000002", "r3"]
        let bodies = ["{\\\"a\\\":1}", "caf\\u00e9 \\ud83d\\ude00", "lone \\ud83d high", "lone \\ude00 low", "tab\\there",
                      "raw ünïcode ✓", "bad \u{1} control", "slash \\/ and \\\\", "x\\u0000y", "plain text body"]
        let messages = ["HTTP Method: GET, Resource Path: /orders", "Method request path: {}", "Method request query string: {a=b}",
                        "Method request headers: {Host=api.example.com, Content-Type=application/json}",
                        "Method request body before transformations: BODY", "Method response body after transformations: BODY",
                        "Method response headers: {Content-Type=application/json}", "Method completed with status: 200",
                        "Endpoint response body before transformations: BODY"]
        var out: [UInt8] = []
        var ts: Int64 = 1_764_000_000_000
        for _ in 0..<count {
            ts += Int64(rng.next() % 3)
            let stream = streams[Int(rng.next() % UInt64(streams.count))]
            let id = requestIds[Int(rng.next() % UInt64(requestIds.count))]
            var message = "(\(id)) " + messages[Int(rng.next() % UInt64(messages.count))]
            message = message.replacingOccurrences(of: "BODY", with: bodies[Int(rng.next() % UInt64(bodies.count))])
            var timestamp = "\(ts)"
            var members = ["\"logStreamName\":\"\(stream)\"", "\"timestamp\":\(timestamp)", "\"message\":\"\(message)\"",
                           "\"ingestionTime\":\(ts + 300)", "\"eventId\":\"\(rng.next() % 1000)\""]
            var line: String
            switch rng.next() % 24 {
            case 0: timestamp = "\(ts).0"; members[1] = "\"timestamp\":\(timestamp)"
            case 1: members[1] = "\"timestamp\":1.764e12"
            case 2: members[1] = "\"timestamp\":0\(ts)"
            case 3: members[1] = "\"timestamp\":-\(ts)"
            case 4: members[1] = "\"timestamp\":12345678901234567890123"
            case 5: members[1] = "\"timestamp\":\"\(ts)\""
            case 6: members.append("\"message\":\"(\(id)) Method completed with status: 500\"")
            case 7: members.append("\"timestamp\":\(ts + 5)")
            case 8: members[0] = "\"logStream\\u004eame\":\"\(stream)\""
            case 9: members.append("\"extra\":{\"nested\":[1,2,{\"a\":null}]}")
            case 10: members.append("\"flag\":true,\"none\":null,\"no\":false")
            case 11: members.remove(at: 2)
            case 12: members[2] = "\"message\":42"
            case 13: members.append("\"bad\":tru")
            case 14: members.append("\"num\":-0.5e-3")
            case 15: members.append("\"num\":1.")
            case 16: members.shuffle(using: &rng)
            case 17: members[2] = "\"message\":\"(\(id)) unterminated"
            default: break
            }
            line = "{" + members.joined(separator: rng.next() % 5 == 0 ? " , " : ",") + "}"
            switch rng.next() % 20 {
            case 0: line = "  " + line + " \t"
            case 1: line += " x"
            case 2: line = "[" + line + "]"
            case 3: line = "{}"
            default: break
            }
            var bytes = Array(line.utf8)
            if rng.next() % 40 == 0, let i = bytes.lastIndex(of: UInt8(ascii: "e")) { bytes.insert(0xFF, at: i) }  // invalid UTF-8
            out += bytes
            out.append(0x0A)
        }
        return out
    }

    @Test func generatedLinesGiveTheSameBytesBothWays() throws {
        for seed: UInt64 in [1, 2, 3, 0xC0FFEE] {
            let input = Self.generatedLines(count: 3_000, seed: seed)
            for encoding in Self.encodings {
                let (fast, reader) = try both(input, encoding: encoding)
                #expect(fast.0 == reader.0, "seed \(seed): output differs")
                #expect(fast.1 == reader.1, "seed \(seed): counters differ")
                #expect(fast.1.linesFailed > 0 && fast.1.linesParsed > 1_000, "the corpus has both good and bad lines")
            }
        }
    }

    @Test func theScannerReadsWhatJSONReaderReadsOrStepsAside() throws {
        var accepted = 0
        let input = Self.generatedLines(count: 5_000, seed: 7)
        for line in input.split(separator: 0x0A) {
            let bytes = Array(line)
            let fields = bytes.withUnsafeBytes { EventLineScanner.scan($0) }
            guard let fields else { continue }
            accepted += 1
            // Whatever the scanner accepts, JSONReader reads to the same three values.
            let object = try #require(try JSONReader.parse(bytes).objectValue)
            #expect(object["timestamp"]?.int64Value == fields.timestamp)
            var p = fields.logStreamName.start
            let stream = try bytes.withUnsafeBytes { try JSONString.decode($0, at: &p) }
            #expect(object["logStreamName"]?.stringValue == stream)
            p = fields.message.start
            let message = try bytes.withUnsafeBytes { try JSONString.decode($0, at: &p) }
            #expect(object["message"]?.stringValue == message)
        }
        #expect(accepted > 1_000, "many generated lines take the fast path")
    }
}

extension FastLineScannerTests {
    /// `runCounting` reads and stitches on a second thread and encodes on the caller's: the same bytes and counters as
    /// one session on one thread, REST and Flex.
    /// Runs blocking work on a thread of its own, so that it never holds one of the few cooperative threads the other
    /// tests (running in parallel) need.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            if !OSThread.detached({ continuation.resume(with: Result { try body() }) }) {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    @Test func theTwoThreadRunGivesWhatOneSessionGives() async throws {
        try await Self.offThePool { try Self.twoThreadRunMatchesOneSession() }
    }

    static func twoThreadRunMatchesOneSession() throws {
        var rest = Self.generatedLines(count: 20_000, seed: 11)
        for name in ["rest-interleaved-requests.ndjson", "rest-truncated-bodies.ndjson", "rest-filter-content-types-and-static-files.ndjson"] {
            rest += [UInt8](try Fixtures.data(name))
        }
        var flex: [UInt8] = []
        for name in ["flex-apitap-interleaved.ndjson", "flex-cequence-interleaved.ndjson", "flex-apitap-unknown-categories.ndjson"] {
            flex += [UInt8](try Fixtures.data(name))
        }
        let cases: [([UInt8], LogGroupName, NDJSONStitchSession.Mode)] = [
            (rest, Fixtures.restLogGroup, .automatic), (flex, LogGroupName("/flex/prod"), .flexGateway(FlexStitcherOptions())),
        ]
        for (input, group, mode) in cases {
            for encoding in Self.encodings {
                var one = NDJSONStitchSession(logGroup: group, region: Fixtures.region, accountId: Fixtures.account,
                                              filter: try TransactionFilter(), mode: mode, encoding: encoding)
                var expected: [UInt8] = []
                input.withUnsafeBytes { one.feed($0, output: { expected += $0 }) }
                let expectedCounters = one.finish(output: { expected += $0 })
                let path = NSTemporaryDirectory() + "apitap-two-threads-\(UUID().uuidString).ndjson"
                try Data(input).write(to: URL(fileURLWithPath: path))
                defer { try? FileManager.default.removeItem(atPath: path) }
                let fd = open(path, O_RDONLY)
                try #require(fd >= 0)
                defer { close(fd) }
                var out: [UInt8] = []
                let counters = try NDJSONStitchSession.runCounting(logGroup: group, region: Fixtures.region, accountId: Fixtures.account,
                                                                   filter: try TransactionFilter(), mode: mode, encoding: encoding,
                                                                   input: fd, output: { out += $0 })
                #expect(out == expected, "\(group.rawValue): output differs")
                #expect(counters.traffic == expectedCounters, "\(group.rawValue): counters differ")
                #expect(counters.flex == one.flexCounters)
                #expect(expectedCounters.transactionsEmitted > 0)
            }
        }
    }

    @Test func theQueueKeepsOrderAndEndsWhenClosed() async throws {
        try await Self.offThePool { Self.queueKeepsOrder() }
    }

    static func queueKeepsOrder() {
        let queue = BlockingQueue<[Int]>(capacity: 2)
        let producer = OSThread {
            for i in 0..<1_000 { queue.put([i, i]) }
            queue.close()
        }
        #expect(producer != nil)
        var seen: [Int] = []
        while let batch = queue.take() { seen += batch }
        producer?.join()
        #expect(seen == (0..<1_000).flatMap { [$0, $0] })
        #expect(queue.take() == nil)
        #expect(!queue.put([1]), "a closed queue takes nothing more")
    }
}

/// A small deterministic generator (SplitMix64) for reproducible corpora.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
