// One audit entry kept verbatim (its raw JSON bytes), with the few fields the export reads from it.
import AWS
import Core
import Pipeline

/// An entry's identity: its `id` when it has one, else a hash of its canonical JSON (so the same entry read twice
/// always gets the same key, whatever the member order or spacing of the answer).
public struct AuditKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// 64-bit FNV-1a of the key, as the checkpoint stores it (8 bytes a key instead of up to 71).
    public var hash64: UInt64 {
        var state = FNV1a.offsetBasis
        FNV1a.hash(rawValue.utf8, into: &state)
        return state
    }
}

public struct AuditEntry: Sendable {
    /// The entry exactly as the service sent it.
    public let raw: [UInt8]
    public let value: JSONValue
    public let key: AuditKey
    public let timestamp: EpochMillis?

    public init(raw: [UInt8]) throws(JSONParseError) {
        self.raw = raw
        value = try JSONReader.parse(raw)
        key = AuditEntry.key(of: value)
        timestamp = AuditEntry.timestamp(of: value)
    }

    /// Reads one entry of a page. Anything that is not a JSON object (invalid JSON, a string, a number, an array)
    /// comes back as `.malformed`: it must still be exported (flagged) and counted, never dropped and never a reason
    /// to stop the organization, since the same page would stop it again on every run.
    public static func read(_ raw: [UInt8]) -> ReadEntry {
        do {
            let entry = try AuditEntry(raw: raw)
            guard case .object = entry.value else {
                return .malformed(MalformedEntry(raw: raw, reason: "a JSON \(kind(of: entry.value)), not an object"))
            }
            return .entry(entry)
        } catch {
            return .malformed(MalformedEntry(raw: raw, reason: "not JSON: \(error)"))
        }
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public static func key(of value: JSONValue) -> AuditKey {
        switch value["id"] {
        case .string(let s) where !s.isEmpty: return AuditKey(s)
        case .int(let i): return AuditKey(String(i))
        default:
            var w = JSONWriter(capacity: 512)
            Canonical.write(value, to: &w)
            return AuditKey("sha256:" + SigV4Signer.sha256Hex(w.bytes))
        }
    }

    /// `timestamp` (the 2017 shape) or `createdAt` (newer clients): epoch milliseconds or an ISO 8601 string.
    public static func timestamp(of value: JSONValue) -> EpochMillis? {
        for name in ["timestamp", "createdAt", "date"] {
            guard let v = value[name] else { continue }
            if let ms = v.int64Value { return EpochMillis(ms < 100_000_000_000 ? ms * 1000 : ms) }
            if let s = v.stringValue {
                if let t = EpochMillis.parseISO8601(s) { return t }
                if let ms = Int64(s) { return EpochMillis(ms) }
            }
        }
        return nil
    }

    public var action: String? { value["action"]?.stringValue }
    public var failed: Bool { value["failed"]?.boolValue ?? false }
    public var platform: String? { value["platform"]?.stringValue }
    public var userId: String? { value["userId"]?.stringValue ?? value["userName"]?.stringValue }
    public var userName: String? { value["userName"]?.stringValue ?? value["userId"]?.stringValue }

    /// The object types named by the entry: flat `objectType` and every nested `objects[].objectType`.
    public var objectTypes: [String] {
        var out: [String] = []
        if let t = value["objectType"]?.stringValue { out.append(t) }
        for o in value["objects"]?.arrayValue ?? [] { if let t = o["objectType"]?.stringValue { out.append(t) } }
        return out
    }

    /// Environment names wherever the known shapes put them.
    public var environmentNames: [String] {
        var out: [String] = []
        for v in [value["environmentName"], value["environment"], value["payload"]?["environmentName"], value["payload"]?["environment"]] {
            if let s = v?.stringValue { out.append(s) }
            if let s = v?["name"]?.stringValue { out.append(s) }
        }
        for o in value["objects"]?.arrayValue ?? [] { if let s = o["environmentName"]?.stringValue { out.append(s) } }
        return out
    }
}

/// What one item of a page's `data` turned out to be.
public enum ReadEntry: Sendable {
    case entry(AuditEntry)
    case malformed(MalformedEntry)

    public var key: AuditKey {
        switch self {
        case .entry(let e): return e.key
        case .malformed(let m): return m.key
        }
    }

    public var timestamp: EpochMillis? {
        if case .entry(let e) = self { return e.timestamp }
        return nil
    }
}

/// An item of `data` that is not a JSON object, kept byte for byte. Its key hashes those bytes (there is no
/// canonical form to hash), so a re-read of the same answer gives the same key.
public struct MalformedEntry: Sendable {
    public let raw: [UInt8]
    public let key: AuditKey
    /// Why it is not an entry, for the log and the record.
    public let reason: String

    public init(raw: [UInt8], reason: String) {
        self.raw = raw
        self.reason = reason
        key = AuditKey("raw:sha256:" + SigV4Signer.sha256Hex(raw))
    }
}

/// Canonical JSON: object members sorted by key (recursively, by UTF-8 bytes), compact, numbers as parsed.
public enum Canonical {
    public static func write(_ value: JSONValue, to w: inout JSONWriter) {
        switch value {
        case .object(let o):
            w.beginObject()
            for m in o.members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                w.key(m.key)
                write(m.value, to: &w)
            }
            w.endObject()
        case .array(let items):
            w.beginArray()
            for item in items { write(item, to: &w) }
            w.endArray()
        default:
            value.write(to: &w)
        }
    }

    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var w = JSONWriter()
        write(value, to: &w)
        return w.bytes
    }
}

/// One answer of the query API: the entries' raw bytes and the cursor (if any).
public struct AuditPage: Sendable {
    public var entries: [[UInt8]]
    public var cursor: String?
    public var total: Int64?

    /// Finds `data` and `cursor` at the top level without re-serialising the entries: each entry's bytes as sent, even
    /// one that is not valid JSON (the export flags and counts it).
    public static func decode(_ body: [UInt8]) throws(JSONParseError) -> AuditPage {
        var page = AuditPage(entries: [], cursor: nil, total: nil)
        try JSONScanner.scan(body) { (s: inout JSONScanner) throws(JSONParseError) in
            try s.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
                switch key {
                case "data":
                    if s.isNull() { return }
                    guard s.peek() == UInt8(ascii: "[") else { throw s.error("data is not an array") }
                    try s.forEachElement { (s: inout JSONScanner) throws(JSONParseError) in
                        page.entries.append(Array(UnsafeRawBufferPointer(rebasing: s.buffer[try s.rawValueRange()])))
                    }
                case "cursor":
                    // A cursor that is not a string (or is empty) is no cursor: the export stops paging.
                    if s.peek() == UInt8(ascii: "\""), case let c = try s.readString(), !c.isEmpty { page.cursor = c } else { try s.skipValue() }
                case "total":
                    // Informational: a total that is not an integer is left out.
                    let start = s.position
                    if let total = try? s.readInt64() { page.total = total } else { s.position = start; try s.skipValue() }
                default:
                    try s.skipValue()
                }
            }
            try s.finish()
        }
        return page
    }
}
