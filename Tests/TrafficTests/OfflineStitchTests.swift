// `apitap stitch`'s engine: NDJSON events in (in any chunking), NDJSON transactions out, incomplete ones at the end.
import Foundation
import Core
import Testing
@testable import Traffic

@Suite struct OfflineStitchTests {
    func session() throws -> NDJSONStitchSession {
        NDJSONStitchSession(logGroup: Fixtures.restLogGroup, region: Fixtures.region, accountId: Fixtures.account,
                            filter: try TransactionFilter())
    }

    func runInChunks(_ input: [UInt8], chunk: Int, session given: NDJSONStitchSession? = nil) throws -> ([UInt8], TrafficCounters) {
        var s = try given ?? session()
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            let end = min(input.count, i + chunk)
            input[i..<end].withUnsafeBytes { s.feed($0, output: { out += $0 }) }
            i = end
        }
        let counters = s.finish(output: { out += $0 })
        return (out, counters)
    }

    @Test func chunkingDoesNotChangeTheOutput() throws {
        var input: [UInt8] = []
        for name in ["rest-interleaved-requests.ndjson", "rest-truncated-bodies.ndjson", "rest-incomplete-window-1.ndjson",
                     "rest-filter-content-types-and-static-files.ndjson"] {
            input += [UInt8](try Fixtures.data(name))
        }
        let (whole, counters) = try runInChunks(input, chunk: input.count)
        for size in [1, 7, 4096] {
            let (chunked, chunkedCounters) = try runInChunks(input, chunk: size)
            #expect(chunked == whole, "chunk size \(size)")
            #expect(chunkedCounters == counters)
        }
        let lines = whole.split(separator: 0x0A)
        // 4 interleaved + 8 truncated + 1 open (incomplete) + 8 filter cases − 4 filtered.
        #expect(lines.count == 17)
        #expect(counters.transactionsEmitted == 21)
        #expect(counters.transactionsIncomplete == 1)
        #expect(counters.filtered.total == 4)
        let last = try JSONReader.parse(Array(try #require(lines.last)))
        #expect(last["incomplete"] == .bool(true))
        #expect(last["id"] == .string("CarriedAcross00="))
    }

    @Test func badInputLinesAreCounted() throws {
        let input = Array("not json\n{\"logStreamName\":\"s\"}\n\n{\"logStreamName\":\"s\",\"timestamp\":1,\"message\":\"(r) HTTP Method: GET, Resource Path: /x\"}".utf8)
        let (out, counters) = try runInChunks(input, chunk: 5)
        #expect(counters.linesFailed == 2)
        #expect(counters.linesParsed == 1)
        #expect(counters.transactionsIncomplete == 1)
        #expect(out.split(separator: 0x0A).count == 1)
    }

    @Test func anOverLongLineIsSkippedAndCountedInAnyChunking() throws {
        let good = [UInt8](try Fixtures.data("rest-200-post-lambda-proxy.ndjson"))
        let huge = Array(#"{"logStreamName":"s","timestamp":1,"message":"(r) "#.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 5_000)
            + Array("\"}\n".utf8)
        let input = huge + good + huge + huge
        for chunk in [1, 100, 4_096, input.count] {
            let capped = NDJSONStitchSession(logGroup: Fixtures.restLogGroup, region: Fixtures.region, accountId: Fixtures.account,
                                             filter: nil, maxLineBytes: 2_048)
            let (out, counters) = try runInChunks(input, chunk: chunk, session: capped)
            #expect(counters.linesTooLong == 3, "chunk \(chunk)")
            #expect(counters.linesFailed == 3, "chunk \(chunk)")
            #expect(out.split(separator: 0x0A).count == 1, "the good request is still stitched (chunk \(chunk))")
        }
    }

    @Test func runReadsAFileDescriptor() throws {
        let path = Fixtures.directory.appendingPathComponent("rest-200-post-lambda-proxy.ndjson").path
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var out: [UInt8] = []
        let counters = try NDJSONStitchSession.run(logGroup: Fixtures.restLogGroup, region: Fixtures.region, accountId: nil,
                                                   filter: nil, input: fd, output: { out += $0 })
        #expect(counters.transactionsEmitted == 1)
        #expect(counters.linesParsed == 23)
        let t = try JSONReader.parse(Array(out.dropLast()))
        #expect(t["id"] == .string("Vts2pH6ArPEFcuQ="))
        #expect(out.last == 0x0A)
    }

    @Test func httpAccessLogGroupIsMappedNotStitched() throws {
        var s = NDJSONStitchSession(logGroup: LogGroupName("/aws/vendedlogs/http-api/pets"), region: Fixtures.region,
                                    accountId: nil, filter: try TransactionFilter())
        var out: [UInt8] = []
        try Fixtures.data("http-api-access-log.ndjson").withUnsafeBytes { s.feed($0, output: { out += $0 }) }
        let counters = s.finish(output: { out += $0 })
        #expect(out.split(separator: 0x0A).count == 3)
        #expect(counters.linesFailed == 2)
    }
}
