// gzip over zlib must interoperate with the gzip tool both ways, streaming included.
import Foundation
import HTTP
import Testing

@Suite struct GzipTests {
    static func sample(_ size: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        let words = ["GET", "/orders/42", "application/json", "{\"a\":1}", "Accept", "X-Forwarded-For", "203.0.113.9", "\n"]
        var out: [UInt8] = []
        while out.count < size { out += Array(words[Int.random(in: 0..<words.count, using: &g)].utf8) }
        return Array(out.prefix(size))
    }

    @Test(arguments: [0, 1, 1000, 300_000])
    func ourGzipIsReadByGzipTool(size: Int) throws {
        let plain = Self.sample(size)
        let compressed = try GzipCompressor.compress(plain)
        let result = try sh("gzip -dc", input: Data(compressed))
        #expect(result.status == 0, "gzip -d said: \(result.stderr)")
        #expect([UInt8](result.stdout) == plain)
    }

    @Test func streamingAppendsMatchOneShot() throws {
        let plain = Self.sample(200_000)
        let c = try GzipCompressor()
        var i = 0
        while i < plain.count {
            let end = min(i + 7_919, plain.count)
            try c.append(Array(plain[i..<end]))
            i = end
        }
        let out = try c.finish()
        let result = try sh("gzip -dc", input: Data(out))
        #expect([UInt8](result.stdout) == plain)
        #expect(c.bytesIn == plain.count)
    }

    @Test func gzipToolOutputIsReadByUs() throws {
        let plain = Self.sample(150_000)
        let result = try sh("gzip -c", input: Data(plain))
        #expect(try GzipDecompressor.decompress([UInt8](result.stdout)) == plain)
    }

    @Test func decompressorTakesArbitraryChunksAndConcatenatedMembers() throws {
        let a = Self.sample(50_000), b = Self.sample(10_000)
        let stream = try GzipCompressor.compress(a) + GzipCompressor.compress(b)
        let d = try GzipDecompressor()
        var i = 0
        while i < stream.count {
            let end = min(i + 333, stream.count)
            try Array(stream[i..<end]).withUnsafeBytes { try d.append($0) }
            i = end
        }
        #expect(try d.finish() == a + b)
    }

    @Test func truncatedOrCorruptInputIsAnErrorNotACrash() throws {
        let compressed = try GzipCompressor.compress(Self.sample(10_000))
        #expect(throws: GzipError.self) { try GzipDecompressor.decompress(Array(compressed.prefix(compressed.count / 2))) }
        var corrupt = compressed
        corrupt[20] ^= 0xFF
        corrupt[21] ^= 0xFF
        #expect(throws: GzipError.self) { try GzipDecompressor.decompress(corrupt) }
        #expect(throws: GzipError.self) { try GzipDecompressor.decompress(Array("not gzip at all".utf8)) }
    }

    @Test func decompressionBombIsRefused() throws {
        let compressed = try GzipCompressor.compress([UInt8](repeating: 0, count: 2_000_000))
        #expect(throws: GzipError.self) { try GzipDecompressor.decompress(compressed, limit: 1_000_000) }
    }
}
