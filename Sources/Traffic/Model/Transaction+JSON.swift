// The wire encoding of a Transaction (docs/transaction-format.md): one JSON object, appended to a byte buffer.
import Core

extension Transaction {
    /// Version of the wire format, written as `formatVersion` so consumers can tell future changes apart.
    public static let formatVersion = 1

    /// Appends this transaction as one JSON object (no trailing newline) to `buffer`.
    public func encodeJSON(into buffer: inout [UInt8]) {
        var w = JSONWriter(capacity: 0)
        // Swap rather than copy: the writer appends straight into the caller's buffer.
        swap(&w.bytes, &buffer)
        write(to: &w)
        swap(&w.bytes, &buffer)
    }

    /// This transaction as a standalone JSON document.
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2048)
        encodeJSON(into: &out)
        return out
    }

    /// Writes the transaction as the next value of `w`.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("formatVersion", Transaction.formatVersion)
        w.field("id", id)
        w.key("source")
        w.beginObject()
        w.field("type", source.type.rawValue)
        w.field("region", source.region.rawValue)
        w.field("accountId", source.accountId?.rawValue)
        w.field("apiId", source.apiId)
        w.field("stage", source.stage)
        w.field("logGroup", source.logGroup.rawValue)
        w.field("logStream", source.logStream.rawValue)
        w.endObject()
        w.field("requestId", requestId.rawValue)
        w.field("extendedRequestId", extendedRequestId)
        w.field("startTime", startTime.value)
        w.field("endTime", endTime.value)

        w.key("request")
        w.beginObject()
        w.field("method", request.method)
        w.field("scheme", request.scheme)
        w.field("host", request.host)
        w.field("path", request.path)
        w.field("resourceId", request.resourceId)
        // Only when the stage has custom domains: outputs of stages without any stay as they were.
        if !request.customDomains.isEmpty {
            w.field("basePath", request.basePath)
            w.key("customDomains"); w.beginArray(); for d in request.customDomains { w.string(d) }; w.endArray()
        }
        w.key("query"); writePairs(request.query, to: &w)
        w.field("httpVersion", request.httpVersion)
        w.field("clientIp", request.clientIp)
        w.field("connectionIp", request.connectionIp)
        if let server = request.serverIp { w.field("serverIp", server) }
        w.key("headers"); writePairs(request.headers, to: &w)
        w.field("headersTruncated", request.headersTruncated)
        w.key("body"); writeBody(request.body, to: &w)
        w.field("bodyTruncated", request.bodyTruncated)
        w.endObject()

        w.key("response")
        w.beginObject()
        w.key("status"); if let status = response.status { w.int(status) } else { w.null() }
        w.key("headers"); writePairs(response.headers, to: &w)
        w.field("headersTruncated", response.headersTruncated)
        w.key("body"); writeBody(response.body, to: &w)
        w.field("bodyTruncated", response.bodyTruncated)
        w.key("contentLength"); if let length = response.contentLength { w.int(length) } else { w.null() }
        w.endObject()

        w.field("incomplete", incomplete)
        w.key("integrationLatencyMs"); if let ms = integrationLatencyMs { w.int(ms) } else { w.null() }
        w.key("responseLatencyMs"); if let ms = responseLatencyMs { w.int(ms) } else { w.null() }
        w.field("integrationRequestId", integrationRequestId)
        w.field("xrayTraceId", xrayTraceId)
        w.field("error", error)
        w.field("truncatedLines", truncatedLines)
        w.endObject()
    }

    /// Body bytes as a JSON string. Invalid UTF-8 becomes U+FFFD: JSON text cannot carry it (the Edge format can).
    private func writeBody(_ body: MessageBody?, to w: inout JSONWriter) {
        guard let body else { w.null(); return }
        if Self.isValidUTF8(body.bytes) { w.string(utf8: body.bytes) } else { w.string(body.text) }
    }

    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        // Fast path: ASCII only.
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    private func writePairs(_ pairs: [NameValuePair], to w: inout JSONWriter) {
        w.beginArray()
        for pair in pairs {
            w.beginArray()
            w.string(pair.name)
            w.string(pair.value)
            w.endArray()
        }
        w.endArray()
    }
}
