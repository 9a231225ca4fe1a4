// Checkpoints as S3 objects, committed with conditional writes so that two overlapping runs cannot both commit.
import Core
import Pipeline

/// `STATE_URI=s3://bucket/prefix`: one object per checkpoint key (`prefix/key.json`). The version is the object's
/// ETag; a commit is `PutObject` with `If-None-Match: *` when nothing was stored yet and `If-Match: <etag>`
/// otherwise, so a run whose view is stale gets 412 (→ `CheckpointConflict`) instead of overwriting.
public struct S3CheckpointStore: CheckpointStore {
    public let s3: S3Client
    public let bucket: String
    public let prefix: String
    /// Each S3 call's own limit; the caller's invocation deadline is not visible through `CheckpointStore`.
    public let callTimeout: Duration

    public init(s3: S3Client, bucket: String, prefix: String, callTimeout: Duration = .seconds(20)) {
        self.s3 = s3
        self.bucket = bucket
        var p = Substring(prefix)
        while p.hasPrefix("/") { p = p.dropFirst() }
        while p.hasSuffix("/") { p = p.dropLast() }
        self.prefix = String(p)
        self.callTimeout = callTimeout
    }

    public func objectKey(_ key: String) -> String { (prefix.isEmpty ? "" : prefix + "/") + key + ".json" }

    private var deadline: Deadline { Deadline.after(milliseconds: callTimeout.milliseconds) }

    public func load(key: String) async throws -> (bytes: [UInt8]?, version: CheckpointVersion) {
        // A role whose s3:ListBucket is limited to a prefix gets 403, not 404, when it reads a key that does not exist:
        // ask the listing (which that permission allows) whether the checkpoint exists before reading it.
        let name = objectKey(key)
        do {
            let page = try await s3.listObjectsV2(bucket: bucket, prefix: name, maxKeys: 1, deadline: deadline)
            guard page.objects.contains(where: { $0.key == name }) else { return (nil, .absent) }
        } catch {
            throw CheckpointStoreError(key: key, message: "cannot list s3://\(bucket)/\(name): \(error)")
        }
        let object: S3Object?
        do { object = try await s3.getObject(bucket: bucket, key: objectKey(key), deadline: deadline) } catch {
            throw CheckpointStoreError(key: key, message: "cannot read s3://\(bucket)/\(objectKey(key)): \(error)")
        }
        guard let object else { return (nil, .absent) }
        guard let etag = object.etag, !etag.isEmpty else {
            throw CheckpointStoreError(key: key, message: "s3://\(bucket)/\(objectKey(key)) came back without an ETag")
        }
        return (object.body, .version(etag))
    }

    public func commit(key: String, bytes: [UInt8], expected: CheckpointVersion) async throws -> CheckpointVersion {
        let result: S3PutResult
        do {
            switch expected {
            case .absent:
                result = try await s3.putObject(bucket: bucket, key: objectKey(key), body: bytes, contentType: "application/json",
                                                ifNoneMatch: "*", deadline: deadline)
            case .version(let etag):
                result = try await s3.putObject(bucket: bucket, key: objectKey(key), body: bytes, contentType: "application/json",
                                                ifMatch: etag, deadline: deadline)
            }
        } catch {
            throw CheckpointStoreError(key: key, message: "cannot write s3://\(bucket)/\(objectKey(key)): \(error)")
        }
        switch result {
        case .stored(let etag?) where !etag.isEmpty: return .version(etag)
        case .stored:
            throw CheckpointStoreError(key: key, message: "s3://\(bucket)/\(objectKey(key)) was written but no ETag came back")
        case .preconditionFailed, .conflict:
            throw CheckpointConflict(key: key)
        }
    }
}

extension StateURI {
    /// The store this URI names: an `S3CheckpointStore` (which needs the AWS client) or a `FileCheckpointStore`.
    public func makeStore(aws: AWSClient?) throws -> any CheckpointStore {
        switch self {
        case .s3(let bucket, let prefix):
            guard let aws else { throw ConfigurationProblems("STATE_URI \(self) needs AWS credentials and a region") }
            return S3CheckpointStore(s3: S3Client(aws), bucket: bucket, prefix: prefix)
        case .file(let path):
            return try FileCheckpointStore(directory: path)
        }
    }
}
