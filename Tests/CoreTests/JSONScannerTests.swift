// The one tokenizer's pull side: what the AWS page decoders and the audit page reader rely on.
import Core
import Testing

@Suite struct JSONScannerTests {
    private func scan<R>(_ text: String, _ body: (inout JSONScanner) throws(JSONParseError) -> R) throws(JSONParseError) -> R {
        try JSONScanner.scan(Array(text.utf8), body)
    }

    @Test func membersAndElementsAreReadInPlace() throws {
        var names: [String] = [], numbers: [Int64] = []
        try scan(#" {"a": [1, 2.0e0, -3], "b": "x\u00e9\n", "c": null, "d": true} "#) { (s: inout JSONScanner) throws(JSONParseError) in
            try s.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
                names.append(key)
                switch key {
                case "a": try s.forEachElement { (s: inout JSONScanner) throws(JSONParseError) in numbers.append(try s.readInt64()) }
                case "b": #expect(try s.readString() == "xé\n")
                case "c": #expect(try s.readStringOrNull() == nil)
                default: #expect(try s.readBool())
                }
            }
            try s.finish()
        }
        #expect(names == ["a", "b", "c", "d"] && numbers == [1, 2, -3])
    }

    @Test func aSkippedValueIsCheckedAndItsRangeIsWhereItLies() throws {
        let text = #"{"skip": {"x": ["a\"b", {"y": -1.5e3}], "z": "\ud83d\ude00"}, "keep": 1}"#
        let range = try scan(text) { (s: inout JSONScanner) throws(JSONParseError) -> Range<Int> in
            try s.consume(UInt8(ascii: "{"), "'{'")
            _ = try s.readString()
            try s.consume(UInt8(ascii: ":"), "':'")
            return try s.valueRange()
        }
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[range], as: UTF8.self) == #"{"x": ["a\"b", {"y": -1.5e3}], "z": "\ud83d\ude00"}"#)
        for bad in [#"["a\qb"]"#, "[\"a\u{01}\"]", #"["\u12G4"]"#, #"["open"#, "[tru]", "[01]"] {
            #expect(throws: JSONParseError.self, "\(bad)") {
                try scan(bad) { (s: inout JSONScanner) throws(JSONParseError) in try s.skipValue() }
            }
        }
    }

    @Test func aRawRangeKeepsAnItemThatIsNotJSONAsSent() throws {
        let items = [#"{"id":"broken",}"#, #""just text""#, "NaN", "42", #"{"s":"a]}\"b"}"#]
        let text = "[" + items.joined(separator: ", ") + "]"
        let found = try scan(text) { (s: inout JSONScanner) throws(JSONParseError) -> [String] in
            var out: [String] = []
            try s.forEachElement { (s: inout JSONScanner) throws(JSONParseError) in
                out.append(String(decoding: UnsafeRawBufferPointer(rebasing: s.buffer[try s.rawValueRange()]), as: UTF8.self))
            }
            return out
        }
        #expect(found == items)
        // Only strings and the bracket count are looked at: an unterminated string or a stray closer still fails.
        for bad in [#"[{"a":"x]"#, "[}]", "[{"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try scan(bad) { (s: inout JSONScanner) throws(JSONParseError) in
                try s.forEachElement { (s: inout JSONScanner) throws(JSONParseError) in _ = try s.rawValueRange() }
            } }
        }
    }

    @Test func theTreeAndThePullSideAgree() throws {
        let text = #"{"n": -12, "f": 0.5, "s": "\ud83d\ude00", "a": [true, false, null], "o": {}}"#
        let tree = try JSONReader.parse(text)
        #expect(tree["n"]?.int64Value == -12 && tree["f"] == .double(0.5) && tree["s"]?.stringValue == "😀")
        let n = try scan(text) { (s: inout JSONScanner) throws(JSONParseError) -> Int64? in
            var n: Int64?
            try s.forEachMember { (s: inout JSONScanner, key: String) throws(JSONParseError) in
                if key == "n" { n = try s.readInt64() } else { try s.skipValue() }
            }
            return n
        }
        #expect(n == tree["n"]?.int64Value)
        #expect(throws: JSONParseError.self) { try JSONReader.parse(String(repeating: "[", count: JSONScanner.maxDepth + 1)) }
    }
}
