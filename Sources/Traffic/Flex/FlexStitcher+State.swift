// Carrying open Flex requests across ticks: the stitcher's state as JSON for the checkpoint, and back.
import Core

extension FlexStitcher {
    public static var stateVersion: Int { 1 }

    /// Open and held requests, as logged, plus the ids already emitted (to keep absorbing their late lines).
    public func exportState() -> [UInt8] {
        var w = JSONWriter(capacity: 256 + requests.count * 1024)
        w.beginObject()
        w.field("version", Self.stateVersion)
        w.field("logGroup", logGroup.rawValue)
        w.key("requests")
        w.beginArray()
        for key in sortedKeys(where: { _ in true }) {
            guard let p = requests[key] else { continue }
            w.beginObject()
            w.field("requestId", p.requestId)
            w.field("logStream", streams[Int(p.stream)].rawValue)
            w.field("firstTime", p.firstTimestamp)
            w.field("lastTime", p.lastTimestamp)
            w.key("endTime"); if let end = p.endTimestamp { w.int(end) } else { w.null() }
            w.field("layout", p.layout?.rawValue)
            Self.write("apiName", p.apiName, to: &w)
            Self.write("requestLine", p.requestLine, to: &w)
            Self.write("requestMeta", p.requestMeta, to: &w)
            Self.write("requestHeaders", p.requestHeaders, to: &w)
            Self.write("requestBody", p.requestBody, to: &w)
            w.key("status"); if let status = p.status { w.int(status) } else { w.null() }
            Self.write("responseHeaders", p.responseHeaders, to: &w)
            Self.write("responseBody", p.responseBody, to: &w)
            Self.write("cequenceRequest", p.cequenceRequest, to: &w)
            Self.write("cequenceResponse", p.cequenceResponse, to: &w)
            w.field("sawResponse", p.sawResponse)
            w.field("idMismatch", p.idMismatch)
            w.endObject()
        }
        w.endArray()
        w.key("emitted")
        w.beginArray()
        for entry in tombstones.remembered {
            w.beginArray()
            w.string(entry.key.string)
            w.int(entry.at)
            w.endArray()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// Adds saved state (from `exportState`) to this stitcher; call it before ingesting the next window.
    public mutating func restoreState(_ bytes: [UInt8]) throws(StitcherStateError) {
        let document: JSONValue
        do { document = try JSONReader.parse(bytes) } catch { throw failure(error.description) }
        guard document["version"]?.int64Value == Int64(Self.stateVersion) else { throw failure("unknown version") }
        if let saved = document["logGroup"]?.stringValue, saved != logGroup.rawValue { throw failure("saved for another source (\(saved))") }
        guard let saved = document["requests"]?.arrayValue, let emitted = document["emitted"]?.arrayValue else {
            throw failure("missing requests or emitted")
        }
        var restored: [(RequestIDKey, FlexPending)] = []
        for r in saved {
            guard let id = r["requestId"]?.stringValue, let streamName = r["logStream"]?.stringValue,
                  let first = r["firstTime"]?.int64Value, let last = r["lastTime"]?.int64Value else {
                throw failure("a request lacks requestId, logStream, firstTime or lastTime")
            }
            var p = FlexPending(requestId: id, stream: index(of: LogStreamName(streamName)), timestamp: first)
            p.lastTimestamp = last
            p.endTimestamp = r["endTime"]?.int64Value
            p.layout = r["layout"]?.stringValue.flatMap(FlexLayout.init(rawValue:))
            p.apiName = Self.bytes(r["apiName"])
            p.requestLine = Self.bytes(r["requestLine"])
            p.requestMeta = Self.bytes(r["requestMeta"])
            p.requestHeaders = Self.value(r["requestHeaders"])
            p.requestBody = Self.value(r["requestBody"])
            p.status = r["status"]?.int64Value.map { Int($0) }
            p.responseHeaders = Self.value(r["responseHeaders"])
            p.responseBody = Self.value(r["responseBody"])
            p.cequenceRequest = Self.value(r["cequenceRequest"])
            p.cequenceResponse = Self.value(r["cequenceResponse"])
            p.sawResponse = r["sawResponse"]?.boolValue ?? (p.endTimestamp != nil)
            p.idMismatch = r["idMismatch"]?.boolValue ?? false
            restored.append((RequestIDKey(id), p))
        }
        for e in emitted {
            guard let item = e.arrayValue, item.count == 2, let id = item[0].stringValue, let at = item[1].int64Value else {
                throw failure("an emitted entry is not [requestId, time]")
            }
            remember(RequestIDKey(id), at: at)
            if at > maxTimestamp { maxTimestamp = at }
        }
        for (key, p) in restored {
            requests[key] = p
            if p.lastTimestamp > maxTimestamp { maxTimestamp = p.lastTimestamp }
            if p.isComplete {
                generation &+= 1
                requests[key]?.generation = generation
                held.append((key, generation, p.endTimestamp ?? p.lastTimestamp))
            }
        }
    }

    private func failure(_ reason: String) -> StitcherStateError { StitcherStateError(logGroup: logGroup, reason: reason) }

    private static func write(_ name: String, _ value: [UInt8]?, to w: inout JSONWriter) {
        w.key(name)
        // Repaired to valid UTF-8: an archive file may hold any bytes, a checkpoint must stay JSON.
        if let value { w.string(String(decoding: value, as: UTF8.self)) } else { w.null() }
    }

    private static func write(_ name: String, _ value: FlexValue?, to w: inout JSONWriter) {
        w.key(name)
        guard let value else { w.null(); return }
        w.beginObject()
        w.key("text"); w.string(String(decoding: value.bytes, as: UTF8.self))
        w.field("cut", value.cut)
        w.endObject()
    }

    private static func bytes(_ value: JSONValue?) -> [UInt8]? { value?.stringValue.map { Array($0.utf8) } }

    private static func value(_ value: JSONValue?) -> FlexValue? {
        guard let text = value?["text"]?.stringValue else { return nil }
        return FlexValue(bytes: Array(text.utf8), cut: value?["cut"]?.boolValue ?? false)
    }
}
