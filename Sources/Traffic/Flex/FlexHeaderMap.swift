// A header map as Message Logging renders `#[attributes.headers]`: a JSON object, or the `{name=value, ...}` form.
import Core

/// How Flex renders an object in a message is not documented; both renderings Mule runtimes are seen to print are
/// read. A JSON object is exact (a member whose value is an array gives one header per element); the `{k=v, ...}`
/// form is split as API Gateway's maps are (`ExecutionLogMap`), which keeps `, ` inside values whole where it can.
/// Envoy's pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`) are taken out of the list: they
/// are not headers, and they stand in for the request line and status when the layout logs neither.
struct FlexHeaderMap: Sendable, Equatable {
    var headers: [NameValuePair] = []
    var pseudo: [String: String] = [:]
    /// The map was cut (the entry limit): later headers are missing, the last value may be partial.
    var truncated = false

    init(headers: [NameValuePair] = [], pseudo: [String: String] = [:], truncated: Bool = false) {
        self.headers = headers
        self.pseudo = pseudo
        self.truncated = truncated
    }

    init(parsing text: [UInt8], cut: Bool) {
        truncated = cut
        var all: [NameValuePair] = []
        var i = 0
        while i < text.count, text[i] == 0x20 { i += 1 }
        var j = i + 1
        while j < text.count, text[j] == 0x20 { j += 1 }
        if i < text.count, text[i] == UInt8(ascii: "{"), j < text.count, text[j] == UInt8(ascii: "\"") || text[j] == UInt8(ascii: "}") {
            all = Self.jsonPairs(text, cut: cut)
        } else {
            all = ExecutionLogMap.pairs(text, truncated: cut)
        }
        for pair in all {
            if pair.name.hasPrefix(":") { pseudo[pair.name.lowercased(), default: pair.value] = pair.value } else { headers.append(pair) }
        }
    }

    /// Members in order; a cut object is read as far as its last complete member.
    static func jsonPairs(_ text: [UInt8], cut: Bool) -> [NameValuePair] {
        if !cut, let object = try? JSONReader.parse(text).objectValue {
            var out: [NameValuePair] = []
            for (name, value) in object.members {
                switch value {
                case .array(let items): for item in items { out.append(NameValuePair(name, Self.text(item))) }
                default: out.append(NameValuePair(name, Self.text(value)))
                }
            }
            return out
        }
        // Cut (or not quite JSON): `"name": value` members one by one, until one does not parse.
        var out: [NameValuePair] = []
        var i = text.firstIndex(of: UInt8(ascii: "{")).map { $0 + 1 } ?? text.count
        while i < text.count {
            while i < text.count, text[i] == 0x20 || text[i] == UInt8(ascii: ",") || text[i] == 0x0A { i += 1 }
            guard i < text.count, text[i] == UInt8(ascii: "\""), let nameEnd = stringEnd(text, i) else { break }
            guard let name = (try? JSONReader.parse(Array(text[i..<nameEnd])))?.stringValue else { break }
            i = nameEnd
            while i < text.count, text[i] == 0x20 { i += 1 }
            guard i < text.count, text[i] == UInt8(ascii: ":") else { break }
            i += 1
            while i < text.count, text[i] == 0x20 { i += 1 }
            guard i < text.count, text[i] == UInt8(ascii: "\""), let valueEnd = stringEnd(text, i),
                  let value = (try? JSONReader.parse(Array(text[i..<valueEnd])))?.stringValue else { break }
            out.append(NameValuePair(name, value))
            i = valueEnd
        }
        return out
    }

    /// The index just past the closing quote of the JSON string starting at `start`.
    static func stringEnd(_ text: [UInt8], _ start: Int) -> Int? {
        var i = start + 1
        while i < text.count {
            if text[i] == UInt8(ascii: "\\") { i += 2; continue }
            if text[i] == UInt8(ascii: "\"") { return i + 1 }
            i += 1
        }
        return nil
    }

    static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        case .null: return ""
        default: return String(decoding: value.jsonBytes, as: UTF8.self)
        }
    }
}
