// Streaming gzip compression and decompression over zlib, for request bodies and responses.
import CZlib

/// A zlib failure, with the library's own message when it gave one.
public struct GzipError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "gzip: \(message) (zlib \(code))" }
}

/// Compresses a stream of bytes into one gzip member. Feed with `append`, end with `finish`.
public final class GzipCompressor {
    private var stream = z_stream()
    private var output: [UInt8] = []
    private var finished = false
    private var open = false
    public private(set) var bytesIn = 0

    /// `level` 1 (fast) … 9 (small); 6 is zlib's default and what peers in the field use.
    public init(level: Int32 = 6, expectedOutput: Int = 64 * 1024) throws {
        let rc = apitap_deflate_init_gzip(&stream, level)
        guard rc == Z_OK else { throw GzipError(code: rc, message: "deflateInit2 failed") }
        open = true
        output.reserveCapacity(expectedOutput)
    }

    deinit { if open { deflateEnd(&stream) } }

    public func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBufferPointer { try append($0) } }

    public func append(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        precondition(!finished, "append after finish")
        bytesIn += bytes.count
        try run(bytes, flush: Z_NO_FLUSH)
    }

    /// Ends the member and returns the whole compressed output.
    public func finish() throws -> [UInt8] {
        if !finished {
            try run(UnsafeBufferPointer(start: nil, count: 0), flush: Z_FINISH)
            finished = true
        }
        return output
    }

    /// Bytes produced so far (the trailer is only added by `finish`).
    public var compressedCount: Int { output.count }

    private func run(_ input: UnsafeBufferPointer<UInt8>, flush: Int32) throws {
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = UInt32(input.count)
        var chunk = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            let (rc, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(buf.count)
                let rc = deflate(&stream, flush)
                return (rc, buf.count - Int(stream.avail_out))
            }
            if produced > 0 { output.append(contentsOf: chunk[0..<produced]) }
            if rc == Z_STREAM_END { return }
            guard rc == Z_OK || rc == Z_BUF_ERROR else { throw GzipError(code: rc, message: "deflate failed") }
            // Done when zlib consumed all input and had room to spare (for Z_FINISH we wait for Z_STREAM_END).
            if flush != Z_FINISH && stream.avail_in == 0 && stream.avail_out != 0 { return }
        }
    }

    /// One-shot convenience.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        let c = try GzipCompressor(level: level, expectedOutput: max(64, bytes.count / 4))
        try c.append(bytes)
        return try c.finish()
    }
}

/// Decompresses gzip (or zlib) data as it arrives, for example from a response's write callback.
public final class GzipDecompressor {
    private var stream = z_stream()
    private var open = false
    public private(set) var output: [UInt8] = []
    public private(set) var ended = false
    /// Refuses to inflate past this many bytes (a defence against decompression bombs).
    public let limit: Int

    public init(limit: Int = 256 * 1024 * 1024) throws {
        self.limit = limit
        let rc = apitap_inflate_init_auto(&stream)
        guard rc == Z_OK else { throw GzipError(code: rc, message: "inflateInit2 failed") }
        open = true
    }

    deinit { if open { inflateEnd(&stream) } }

    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        stream.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: UInt8.self).baseAddress)
        stream.avail_in = UInt32(bytes.count)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while stream.avail_in > 0 {
            if ended {
                // Concatenated gzip members are legal: start the next one.
                guard inflateReset(&stream) == Z_OK else { throw GzipError(code: Z_STREAM_ERROR, message: "inflateReset failed") }
                ended = false
            }
            let (rc, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(buf.count)
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (rc, buf.count - Int(stream.avail_out))
            }
            if produced > 0 {
                guard output.count + produced <= limit else {
                    throw GzipError(code: Z_BUF_ERROR, message: "decompressed size exceeds \(limit) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
            }
            switch rc {
            case Z_STREAM_END: ended = true
            case Z_OK: continue
            case Z_BUF_ERROR where produced > 0: continue
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "inflate failed"
                throw GzipError(code: rc, message: msg)
            }
        }
    }

    /// Checks that the stream ended cleanly and returns the plain bytes.
    public func finish() throws -> [UInt8] {
        guard ended else { throw GzipError(code: Z_DATA_ERROR, message: "truncated gzip stream") }
        return output
    }

    public static func decompress(_ bytes: [UInt8], limit: Int = 256 * 1024 * 1024) throws -> [UInt8] {
        let d = try GzipDecompressor(limit: limit)
        try bytes.withUnsafeBytes { try d.append($0) }
        return try d.finish()
    }
}
