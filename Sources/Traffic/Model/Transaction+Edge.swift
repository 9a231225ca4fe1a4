// The UAP Edge encoding of a Transaction: the object Cequence's API Edge ingests (docs/transaction-format.md, "Edge").
import Glibc
import HTTP
import Core

/// What the Edge encoding needs beyond the transaction itself.
public struct EdgeEncodingOptions: Sendable, Equatable {
    /// apitap's version, sent as `txn-meta-data.source_info.version`.
    public var toolVersion: String
    /// Sent for a required address (`connection-ip`, `server-ip`) the logs do not give. `0.0.0.0` is the
    /// "unspecified" address (RFC 1122), so a consumer can tell it from a real one (`UAP_EDGE_UNKNOWN_IP`).
    public var unknownAddress: String

    public static let defaultUnknownAddress = "0.0.0.0"

    public static func isValidAddress(_ text: String) -> Bool { IPAddress.isValid(text) }

    public init(toolVersion: String, unknownAddress: String = EdgeEncodingOptions.defaultUnknownAddress) {
        self.toolVersion = toolVersion
        self.unknownAddress = unknownAddress
    }
}

/// Why a transaction cannot be written in the Edge format (a required field has no value). Such a transaction is
/// counted and never posted half-formed.
public enum EdgeUnexpressible: String, Sendable, CaseIterable {
    /// `http-method` is required; the `HTTP Method` line was never seen.
    case noMethod = "no-method"
    /// `uri-query-fragment` is required; no path was logged.
    case noPath = "no-path"
    /// `status-code`: the request never logged how it ended (an incomplete transaction).
    case noStatus = "no-status"
}

extension Transaction {
    public static let edgeVersion = "1.0"

    /// Appends this transaction as one Edge object to `out` and returns nil, or returns why it cannot be expressed
    /// (and appends nothing). `droppedHeaders` counts headers whose logged name is not an HTTP token (a cut map).
    public func encodeEdge(into out: inout [UInt8], options: EdgeEncodingOptions, droppedHeaders: inout Int) -> EdgeUnexpressible? {
        guard let method = request.method, !method.isEmpty else { return .noMethod }
        guard let path = request.path, !path.isEmpty else { return .noPath }
        guard let status = response.status else { return .noStatus }

        var w = JSONWriter(capacity: 0)
        swap(&w.bytes, &out)
        defer { swap(&w.bytes, &out) }
        w.beginObject()
        w.key("timestamp"); w.raw(json: Self.edgeTimestamp(startTime))
        w.field("version", Self.edgeVersion)
        w.field("transaction-id", id)

        w.key("request")
        w.beginObject()
        w.field("http-method", method)
        w.key("uri-query-fragment"); w.string(utf8: edgeTarget(path: path))
        if let host = request.host, !host.isEmpty { w.field("host", host) }
        w.field("http-scheme", request.scheme)
        if let version = request.httpVersion.flatMap(Self.edgeHTTPVersion) { w.field("http-version", version) }
        if let client = request.clientIp, IPAddress.isValid(client) { w.field("client-ip", client) }
        w.key("connection")
        w.beginObject()
        w.field("connection-ip", request.connectionIp.flatMap { IPAddress.isValid($0) ? $0 : nil } ?? options.unknownAddress)
        // API Gateway never logs the address that terminated the connection; Flex Gateway can.
        w.field("server-ip", request.serverIp.flatMap { IPAddress.isValid($0) ? $0 : nil } ?? options.unknownAddress)
        w.endObject()
        w.key("headers"); Self.writeEdgeHeaders(request.headers, bodyTruncated: request.bodyTruncated, to: &w, dropped: &droppedHeaders)
        w.key("body"); Self.writeEdgeBody(request.body, to: &w)
        w.endObject()

        w.key("response")
        w.beginObject()
        w.field("status-code", String(status))
        w.key("headers"); Self.writeEdgeHeaders(response.headers, bodyTruncated: response.bodyTruncated, to: &w, dropped: &droppedHeaders)
        w.key("body"); Self.writeEdgeBody(response.body, to: &w)
        w.endObject()

        w.key("txn-meta-data")
        w.beginObject()
        w.key("source_info")
        w.beginObject()
        w.field("type", source.type.rawValue)
        w.field("version", options.toolVersion)
        w.field("pool_id", source.accountId.map { "\($0.rawValue):\(source.region.rawValue)" } ?? source.region.rawValue)
        w.field("instance_id", source.apiId.map { api in source.stage.map { "\(api)/\($0)" } ?? api } ?? source.logGroup.rawValue)
        w.endObject()
        w.endObject()
        w.endObject()
        return nil
    }

    /// The request target the client sent: path and query, percent-encoded per RFC 3986.
    /// REST execution logs give the path relative to the stage; on the API's own `execute-api` host the client's URL
    /// had `/{stage}` in front of it, and on a custom domain the base-path mapping (from discovery): either is put back.
    func edgeTarget(path: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count + 32)
        if let basePath = request.basePath {
            if !basePath.isEmpty {
                out.append(UInt8(ascii: "/"))
                PercentEncoding.append(basePath, to: &out, allowed: .path, keepEscapes: true)
            }
        } else if source.type == .restExecutionLog, let stage = source.stage, let apiId = source.apiId,
           let host = request.host, Self.isExecuteAPIHost(host, apiId: apiId, region: source.region.rawValue) {
            out.append(UInt8(ascii: "/"))
            PercentEncoding.append(stage, to: &out, allowed: .pathSegment, keepEscapes: false)
        }
        if path.utf8.first != UInt8(ascii: "/") { out.append(UInt8(ascii: "/")) }
        PercentEncoding.append(path, to: &out, allowed: .path, keepEscapes: true)
        // REST logs print query values decoded, so every `%` is literal there; an HTTP API's raw URL is already encoded.
        if let raw = request.rawQuery {
            // As sent: escapes stay, anything a target may not hold is encoded (`?` too, which only normalises it).
            if !raw.isEmpty {
                out.append(UInt8(ascii: "?"))
                PercentEncoding.append(raw, to: &out, allowed: .path, keepEscapes: true)
            }
            return out
        }
        let queryDecoded = source.type == .restExecutionLog
        for (i, pair) in request.query.enumerated() {
            out.append(i == 0 ? UInt8(ascii: "?") : UInt8(ascii: "&"))
            PercentEncoding.append(pair.name, to: &out, allowed: .queryComponent, keepEscapes: !queryDecoded)
            out.append(UInt8(ascii: "="))
            PercentEncoding.append(pair.value, to: &out, allowed: .queryComponent, keepEscapes: !queryDecoded)
        }
        return out
    }

    static func isExecuteAPIHost(_ host: String, apiId: String, region: String) -> Bool {
        asciiCaseInsensitiveEquals(host, "\(apiId).execute-api.\(region).amazonaws.com")
    }

    /// `"1764000000.123"`: epoch seconds with the milliseconds as a fraction, as the published producer sends it.
    static func edgeTimestamp(_ time: EpochMillis) -> [UInt8] {
        let ms = max(0, time.value)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.append(contentsOf: String(ms / 1000).utf8)
        out.append(UInt8(ascii: "."))
        let fraction = Int(ms % 1000)
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// `HTTP/1.1` → `1.1`, `HTTP/2.0` → `2.0`; anything else unknown (omitted, the field is optional).
    static func edgeHTTPVersion(_ logged: String) -> String? {
        var text = Substring(logged)
        if text.hasPrefix("HTTP/") || text.hasPrefix("http/") { text = text.dropFirst(5) }
        switch text {
        case "1.0", "1.1", "2", "2.0", "3", "3.0": return String(text)
        default: return nil
        }
    }

    /// One `"name:base64(value)"` string per logged header, then `cq-body-truncated: true` when this side's body was
    /// cut (the marker Cequence's passive integrations add for a body they truncated).
    static func writeEdgeHeaders(_ headers: [NameValuePair], bodyTruncated: Bool, to w: inout JSONWriter, dropped: inout Int) {
        w.beginArray()
        var item: [UInt8] = []
        for pair in headers {
            guard isToken(pair.name) else { dropped += 1; continue }
            // Names are tokens and base64 needs no escaping: the quoted string goes out as it is.
            item.removeAll(keepingCapacity: true)
            item.append(UInt8(ascii: "\""))
            item.append(contentsOf: pair.name.utf8)
            item.append(UInt8(ascii: ":"))
            var value = pair.value
            value.withUTF8 { Base64.append(UnsafeRawBufferPointer($0), to: &item) }
            item.append(UInt8(ascii: "\""))
            w.raw(json: item)
        }
        if bodyTruncated, !headers.contains(where: { asciiCaseInsensitiveEquals($0.name, "cq-body-truncated") }) {
            w.raw(json: Array(#""cq-body-truncated:dHJ1ZQ==""#.utf8))
        }
        w.endArray()
    }

    static func writeEdgeBody(_ body: MessageBody?, to w: inout JSONWriter) {
        w.beginObject()
        w.field("length", body?.count ?? 0)
        w.key("data")
        var quoted: [UInt8] = [UInt8(ascii: "\"")]
        if let body { body.bytes.withUnsafeBytes { Base64.append($0, to: &quoted) } }
        quoted.append(UInt8(ascii: "\""))
        w.raw(json: quoted)
        w.endObject()
    }

    /// RFC 7230 token: what an Edge header name must be.
    static func isToken(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.allSatisfy(ExecutionLogMap.isTokenByte)
    }
}

/// IP address literals, checked with the C library's parser (the only thing Edge's address fields may hold).
enum IPAddress {
    static func isValid(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 45 else { return false }
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { raw in
            inet_pton(AF_INET, text, raw.baseAddress) == 1 || inet_pton(AF_INET6, text, raw.baseAddress) == 1
        }
    }
}
