// S3 over REST-XML: get, conditional put, delete and list, for checkpoints, API lists and audit exports.
import HTTP
import Core

public struct S3Object: Sendable {
    public var body: [UInt8]
    /// As S3 sends it, quotes included: pass it back unchanged in `If-Match`.
    public var etag: String?
    public var contentType: String?
}

public enum S3PutResult: Sendable, Equatable {
    case stored(etag: String?)
    /// 412: `If-Match` named another version, or `If-None-Match: *` found the key already there.
    case preconditionFailed
    /// 409 ConditionalRequestConflict: another conditional write to the key was in flight.
    case conflict
}

public struct S3ObjectSummary: Sendable, Equatable {
    public var key: String
    public var etag: String?
    public var size: Int64?
}

public struct S3ListPage: Sendable {
    public var objects: [S3ObjectSummary]
    public var isTruncated: Bool
    public var nextContinuationToken: String?
}

/// Addressing: with an endpoint override (a local peer) always path-style (`host/bucket/key`), because such peers
/// rarely resolve `bucket.host`; against AWS virtual-hosted style (`bucket.s3.region.amazonaws.com/key`), which AWS
/// recommends, except for bucket names that are not one DNS label (dots break the TLS wildcard), which fall back
/// to path-style.
public struct S3Client: Sendable {
    public let aws: AWSClient

    public init(_ aws: AWSClient) { self.aws = aws }

    func address(bucket: String, key: String?) -> (hostPrefix: String?, path: String) {
        let keyPath = key.map { URIEncoding.encode($0, keepSlash: true) } ?? ""
        if !aws.endpoint(.s3).isOverride, S3Client.isVirtualHostable(bucket) {
            return (bucket, "/" + keyPath)
        }
        return (nil, "/" + URIEncoding.encode(bucket) + (key == nil ? "" : "/" + keyPath))
    }

    static func isVirtualHostable(_ bucket: String) -> Bool {
        let bytes = Array(bucket.utf8)
        guard (3...63).contains(bytes.count), let first = bytes.first, let last = bytes.last else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        return alnum(first) && alnum(last) && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// nil when the key does not exist (404 NoSuchKey); a missing bucket or a denied read is an error.
    public func getObject(bucket: String, key: String, deadline: Deadline = .distant) async throws(AWSError) -> S3Object? {
        let (hostPrefix, path) = address(bucket: bucket, key: key)
        let call = AWSCall(service: .s3, operation: "GetObject", method: .GET, path: path, hostPrefix: hostPrefix,
                           expectedStatuses: [404])
        let response = try await aws.send(call, deadline: deadline)
        if response.status == 404 {
            let error = AWSError.from(response: response, service: "S3", operation: "GetObject")
            if error.code == "NoSuchKey" { return nil }
            throw error
        }
        return S3Object(body: response.body, etag: response.header("ETag"), contentType: response.header("Content-Type"))
    }

    /// A conditional write when `ifMatch` (an ETag) or `ifNoneMatch` (`*`) is given.
    public func putObject(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream",
                          ifMatch: String? = nil, ifNoneMatch: String? = nil,
                          deadline: Deadline = .distant) async throws(AWSError) -> S3PutResult {
        let (hostPrefix, path) = address(bucket: bucket, key: key)
        var headers = [HTTPHeader("Content-Type", contentType)]
        if let ifMatch { headers.append(HTTPHeader("If-Match", ifMatch)) }
        if let ifNoneMatch { headers.append(HTTPHeader("If-None-Match", ifNoneMatch)) }
        let call = AWSCall(service: .s3, operation: "PutObject", method: .PUT, path: path, headers: headers, body: body,
                           hostPrefix: hostPrefix, expectedStatuses: [409, 412])
        let response = try await aws.send(call, deadline: deadline)
        switch response.status {
        case 412: return .preconditionFailed
        case 409:
            let error = AWSError.from(response: response, service: "S3", operation: "PutObject")
            if error.code == "ConditionalRequestConflict" { return .conflict }
            throw error
        default: return .stored(etag: response.header("ETag"))
        }
    }

    /// Deleting a key that does not exist succeeds, as in S3.
    public func deleteObject(bucket: String, key: String, deadline: Deadline = .distant) async throws(AWSError) {
        let (hostPrefix, path) = address(bucket: bucket, key: key)
        _ = try await aws.send(AWSCall(service: .s3, operation: "DeleteObject", method: .DELETE, path: path,
                                       hostPrefix: hostPrefix), deadline: deadline)
    }

    public func listObjectsV2(bucket: String, prefix: String? = nil, continuationToken: String? = nil,
                              maxKeys: Int? = nil, deadline: Deadline = .distant) async throws(AWSError) -> S3ListPage {
        let (hostPrefix, path) = address(bucket: bucket, key: nil)
        var query: [(name: String, value: String)] = [("list-type", "2")]
        if let prefix { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        let response = try await aws.send(AWSCall(service: .s3, operation: "ListObjectsV2", method: .GET,
                                                  path: path, query: query, hostPrefix: hostPrefix),
                                          deadline: deadline)
        return Self.decodeList(response.body)
    }

    static func decodeList(_ body: [UInt8]) -> S3ListPage {
        var page = S3ListPage(objects: [], isTruncated: false, nextContinuationToken: nil)
        let contents = XML.elements("Contents", in: body)
        for range in contents {
            let block = body[range]
            guard let key = XML.firstElementText("Key", in: block) else { continue }
            page.objects.append(S3ObjectSummary(key: key, etag: XML.firstElementText("ETag", in: block),
                                                size: XML.firstElementText("Size", in: block).flatMap { Int64($0) }))
        }
        // Top-level fields only: blank out the Contents blocks so that nothing inside them can match.
        var outside = body
        for range in contents { for i in range { outside[i] = 0x20 } }
        page.isTruncated = XML.firstElementText("IsTruncated", in: outside) == "true"
        page.nextContinuationToken = XML.firstElementText("NextContinuationToken", in: outside).flatMap { $0.isEmpty ? nil : $0 }
        return page
    }
}

/// `s3://bucket/key`: one object's location, as settings name it (API_LIST, a baseline report, the stage record).
public struct S3ObjectLocation: Sendable, Equatable {
    public var bucket: String
    public var key: String

    /// nil unless the text is `s3://` (any case), a bucket, `/` and a non-empty key.
    public static func parse(_ text: String) -> S3ObjectLocation? {
        guard text.lowercased().hasPrefix("s3://") else { return nil }
        let rest = text.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest.index(after: slash) < rest.endIndex else { return nil }
        return S3ObjectLocation(bucket: String(rest[..<slash]), key: String(rest[rest.index(after: slash)...]))
    }
}
