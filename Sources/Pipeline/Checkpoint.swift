// Where a source's checkpoint lives, committed only after delivery, and never by two runs at once.
import Core
import Glibc

/// The version of a stored checkpoint a commit is conditional on (an S3 ETag, a file's content hash).
public enum CheckpointVersion: Sendable, Equatable {
    /// Nothing stored yet: commit only if it is still absent (`If-None-Match: *`).
    case absent
    /// Commit only if the stored version is still this one (`If-Match`).
    case version(String)
}

/// Another run committed first: this run's window must be abandoned (it will be re-read), not merged.
public struct CheckpointConflict: Error, CustomStringConvertible, Sendable {
    public let key: String
    public init(key: String) { self.key = key }
    public var description: String { "checkpoint \(key) was committed by another run in the meantime" }
}

public struct CheckpointStoreError: Error, CustomStringConvertible, Sendable {
    public let key: String
    public let message: String
    public init(key: String, message: String) { self.key = key; self.message = message }
    public var description: String { "checkpoint \(key): \(message)" }
}

public protocol CheckpointStore: Sendable {
    /// The stored bytes (nil when there are none yet) and the version to commit against.
    func load(key: String) async throws -> (bytes: [UInt8]?, version: CheckpointVersion)
    /// Writes `bytes` only if the stored version is still `expected`; throws `CheckpointConflict` otherwise.
    /// Returns the new version.
    func commit(key: String, bytes: [UInt8], expected: CheckpointVersion) async throws -> CheckpointVersion
}

/// Checkpoints as files under a directory (`STATE_URI=file:///path`), for local runs. Conditional writes hold an
/// exclusive `flock` on a lock file beside the checkpoint and compare content hashes; the write is atomic (rename).
public struct FileCheckpointStore: CheckpointStore {
    public let directory: String

    public init(directory: String) throws(CheckpointStoreError) {
        self.directory = directory
        if mkdirAll(directory) != 0 {
            throw CheckpointStoreError(key: directory, message: "cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }

    func path(_ key: String) -> String {
        // Keys are log group names and the like: readable, flat, and one file per key (percent-encoding is injective).
        var safe = ""
        for b in key.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"):
                safe.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                safe.unicodeScalars.append("%")
                safe.unicodeScalars.append(hex[Int(b >> 4)])
                safe.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return directory + "/" + safe + ".json"
    }

    public func load(key: String) async throws -> (bytes: [UInt8]?, version: CheckpointVersion) {
        guard let bytes = try readIfPresent(path(key), key: key) else { return (nil, .absent) }
        return (bytes, .version(FNV1a.hex(bytes)))
    }

    public func commit(key: String, bytes: [UInt8], expected: CheckpointVersion) async throws -> CheckpointVersion {
        let file = path(key)
        let lock = open(file + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw CheckpointStoreError(key: key, message: "cannot open the lock file") }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw CheckpointStoreError(key: key, message: "cannot lock") }
        let current = try readIfPresent(file, key: key).map { CheckpointVersion.version(FNV1a.hex($0)) } ?? .absent
        guard current == expected else { throw CheckpointConflict(key: key) }
        let temp = file + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointStoreError(key: key, message: "cannot write \(temp)") }
        do { try FileIO.writeAll(fd, bytes) } catch {
            close(fd)
            throw CheckpointStoreError(key: key, message: "cannot write \(temp): \(error)")
        }
        guard fsync(fd) == 0, close(fd) == 0, rename(temp, file) == 0 else {
            throw CheckpointStoreError(key: key, message: "cannot replace \(file): \(String(cString: strerror(errno)))")
        }
        return .version(FNV1a.hex(bytes))
    }

    private func readIfPresent(_ file: String, key: String) throws -> [UInt8]? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw CheckpointStoreError(key: key, message: "cannot read \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        do { return try FileIO.readAll(fd) } catch { throw CheckpointStoreError(key: key, message: "cannot read \(file): \(error)") }
    }
}

/// `mkdir -p`.
func mkdirAll(_ path: String) -> Int32 {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST { return -1 }
    }
    return 0
}

/// Sets of 64-bit hashes as checkpoints store them: a JSON array of hex strings, sorted (stable files, small diffs).
public enum HashSetCoding {
    public static func write(_ hashes: Set<UInt64>, to w: inout JSONWriter) {
        w.beginArray()
        for h in hashes.sorted() { w.string(String(h, radix: 16)) }
        w.endArray()
    }

    /// Entries that are not hex strings are ignored (an old or hand-edited file must not stop a run).
    public static func read(_ value: JSONValue?) -> Set<UInt64> {
        var out = Set<UInt64>()
        for item in value?.arrayValue ?? [] {
            if let s = item.stringValue, let h = UInt64(s, radix: 16) { out.insert(h) }
        }
        return out
    }
}
