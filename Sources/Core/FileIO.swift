// Whole reads and writes on a file descriptor, retrying short transfers and EINTR: checkpoints, file sinks, the CLI.
import Glibc

public struct FileIOError: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public init(errno: Int32) { self.errno = errno }
    public var description: String { String(cString: strerror(errno)) }
}

public enum FileIO {
    /// Writes every byte of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(FileIOError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(errno: errno)
            }
            if n == 0 { throw FileIOError(errno: EIO) }
            offset += n
        }
    }

    /// Everything `fd` has left to read.
    /// With `limit`, more than that many bytes is `EFBIG` (a settings file named `/dev/zero` must not read forever).
    public static func readAll(_ fd: Int32, limit: Int? = nil) throws(FileIOError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(errno: errno)
            }
            out.append(contentsOf: chunk[0..<n])
            if let limit, out.count > limit { throw FileIOError(errno: EFBIG) }
        }
    }

    /// The whole file at `path`.
    public static func read(path: String, limit: Int? = nil) throws(FileIOError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError(errno: errno) }
        defer { close(fd) }
        return try readAll(fd, limit: limit)
    }
}
