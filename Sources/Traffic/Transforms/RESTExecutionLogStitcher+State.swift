// Carrying open requests across ticks: the stitcher's state as JSON bytes for the checkpoint, and back.
import Core

/// Why saved stitcher state could not be restored.
public struct StitcherStateError: Error, Sendable, CustomStringConvertible {
    public let logGroup: LogGroupName
    public let reason: String
    public var description: String { "stitcher state for \(logGroup): \(reason)" }
}

extension RESTExecutionLogStitcher {
    public static var stateVersion: Int { 1 }

    /// Open and held requests plus the ids already emitted (to keep absorbing their late trailers), as one JSON object.
    /// Small by construction: only the lines a transaction needs are kept.
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
            w.field("logStream", streams[Int(p.stream)].name.rawValue)
            w.field("requestId", p.requestId)
            w.field("firstTime", p.firstTimestamp)
            w.field("lastTime", p.lastTimestamp)
            w.key("endTime"); if let end = p.endTimestamp { w.int(end) } else { w.null() }
            w.key("status"); if let status = p.status { w.int(status) } else { w.null() }
            w.field("statusSource", Int(p.statusSource.rawValue))
            w.field("substantive", p.substantive)
            w.field("sawStart", p.sawStart)
            w.field("sawStartExecution", p.sawStartExecution)
            Self.writeBytes("extendedRequestId", p.extendedRequestId, to: &w)
            Self.writeBytes("method", p.method, to: &w)
            Self.writeBytes("resourcePath", p.resourcePath, to: &w)
            Self.writeBytes("hintMethod", p.hintMethod, to: &w)
            w.field("hintMethodSource", Int(p.hintMethodSource.rawValue))
            Self.writeBytes("hintPath", p.hintPath, to: &w)
            w.field("hintPathSource", Int(p.hintPathSource.rawValue))
            Self.writeBytes("resource", p.resource, to: &w)
            Self.writeBytes("query", p.query, to: &w)
            Self.writeBytes("requestHeaders", p.requestHeaders, to: &w)
            Self.writeBytes("requestBody", p.requestBody, to: &w)
            Self.writeBytes("endpointResponseHeaders", p.endpointResponseHeaders, to: &w)
            Self.writeBytes("responseHeaders", p.responseHeaders, to: &w)
            Self.writeBytes("responseBody", p.responseBody, to: &w)
            Self.writeBytes("integrationRequestId", p.integrationRequestId, to: &w)
            Self.writeBytes("xrayTraceId", p.xrayTraceId, to: &w)
            Self.writeBytes("error", p.failure, to: &w)
            w.key("integrationLatencyMs"); if let ms = p.integrationLatencyMs { w.int(ms) } else { w.null() }
            w.field("truncatedLines", p.truncatedLines)
            w.key("truncated")
            w.beginArray()
            for (part, name) in TruncatedParts.names where p.truncated.contains(part) { w.string(name) }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.key("emitted")
        w.beginArray()
        for entry in tombstones.remembered {
            w.beginArray()
            w.string(streams[Int(entry.key.stream)].name.rawValue)
            w.string(entry.key.id.string)
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
        do { document = try JSONReader.parse(bytes) } catch { throw StitcherStateError(logGroup: logGroup, reason: error.description) }
        guard let object = document.objectValue else { throw failure("not a JSON object") }
        guard object["version"]?.int64Value == Int64(Self.stateVersion) else { throw failure("unknown version") }
        if let saved = object["logGroup"]?.stringValue, saved != logGroup.rawValue {
            throw failure("saved for another log group (\(saved))")
        }
        guard let saved = object["requests"]?.arrayValue, let emitted = object["emitted"]?.arrayValue else {
            throw failure("missing requests or emitted")
        }
        var restored: [(RequestKey, PendingRequest)] = []
        for item in saved {
            guard let r = item.objectValue, let streamName = r["logStream"]?.stringValue, let id = r["requestId"]?.stringValue,
                  let first = r["firstTime"]?.int64Value, let last = r["lastTime"]?.int64Value else {
                throw failure("a request lacks logStream, requestId, firstTime or lastTime")
            }
            let stream = index(of: LogStreamName(streamName))
            var p = PendingRequest(requestId: id, stream: stream, timestamp: first)
            p.lastTimestamp = last
            p.endTimestamp = r["endTime"]?.int64Value
            p.status = r["status"]?.int64Value.map { Int($0) }
            // State saved before status sources existed only ever held `Method completed` statuses.
            p.statusSource = r["statusSource"]?.int64Value.flatMap { StatusSource(rawValue: UInt8(clamping: $0)) }
                ?? (p.status == nil ? .none : .methodCompleted)
            p.substantive = r["substantive"]?.boolValue ?? true
            p.sawStart = r["sawStart"]?.boolValue ?? false
            p.sawStartExecution = r["sawStartExecution"]?.boolValue ?? p.sawStart
            p.extendedRequestId = Self.bytes(r["extendedRequestId"])
            p.method = Self.bytes(r["method"])
            p.resourcePath = Self.bytes(r["resourcePath"])
            p.hintMethod = Self.bytes(r["hintMethod"])
            // State saved before hint sources existed only held throttling lines' methods.
            p.hintMethodSource = r["hintMethodSource"]?.int64Value.flatMap { HintSource(rawValue: UInt8(clamping: $0)) }
                ?? (p.hintMethod == nil ? .none : .methodResource)
            p.hintPath = Self.bytes(r["hintPath"])
            p.hintPathSource = r["hintPathSource"]?.int64Value.flatMap { HintSource(rawValue: UInt8(clamping: $0)) }
                ?? (p.hintPath == nil ? .none : .methodResource)
            p.resource = Self.bytes(r["resource"])
            p.query = Self.bytes(r["query"])
            p.requestHeaders = Self.bytes(r["requestHeaders"])
            p.requestBody = Self.bytes(r["requestBody"])
            p.endpointResponseHeaders = Self.bytes(r["endpointResponseHeaders"])
            p.responseHeaders = Self.bytes(r["responseHeaders"])
            p.responseBody = Self.bytes(r["responseBody"])
            p.integrationRequestId = Self.bytes(r["integrationRequestId"])
            p.xrayTraceId = Self.bytes(r["xrayTraceId"])
            p.failure = Self.bytes(r["error"])
            p.integrationLatencyMs = r["integrationLatencyMs"]?.int64Value.map { Int($0) }
            p.truncatedLines = r["truncatedLines"]?.int64Value.map { Int($0) } ?? 0
            for name in r["truncated"]?.arrayValue ?? [] {
                if let part = TruncatedParts.names.first(where: { $0.1 == name.stringValue })?.0 { p.truncated.insert(part) }
            }
            restored.append((RequestKey(stream: stream, id: RequestIDKey(id)), p))
        }
        for item in emitted {
            guard let e = item.arrayValue, e.count == 3, let streamName = e[0].stringValue, let id = e[1].stringValue,
                  let at = e[2].int64Value else { throw failure("an emitted entry is not [logStream, requestId, time]") }
            remember(RequestKey(stream: index(of: LogStreamName(streamName)), id: RequestIDKey(id)), at: at)
            if at > maxTimestamp { maxTimestamp = at }
        }
        for (key, pending) in restored {
            requests[key] = pending
            let s = Int(key.stream)
            if pending.lastTimestamp > streams[s].maxTimestamp { streams[s].maxTimestamp = pending.lastTimestamp }
            if pending.lastTimestamp > maxTimestamp { maxTimestamp = pending.lastTimestamp }
            if pending.endTimestamp != nil {
                generation &+= 1
                if let i = requests.index(forKey: key) { requests.values[i].generation = generation }
                streams[s].held.append(HeldEntry(id: key.id, generation: generation, completedAt: pending.endTimestamp ?? 0))
            }
        }
    }

    private func failure(_ reason: String) -> StitcherStateError { StitcherStateError(logGroup: logGroup, reason: reason) }

    private static func writeBytes(_ name: String, _ value: [UInt8]?, to w: inout JSONWriter) {
        w.key(name)
        if let value { w.string(Self.text(value)) } else { w.null() }
    }

    private static func bytes(_ value: JSONValue?) -> [UInt8]? {
        guard let s = value?.stringValue else { return nil }
        return Array(s.utf8)
    }
}
