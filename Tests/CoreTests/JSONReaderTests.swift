// The small JSON reader used for NDJSON input, access-log records and checkpoint state.
import Core
import Testing

@Suite struct JSONReaderTests {
    @Test func values() throws {
        let v = try JSONReader.parse(#" {"a":[1,-2,3.5,1e3,true,false,null],"b":{"c":"d"},"e":"","n":9007199254740993} "#)
        #expect(v["a"] == .array([.int(1), .int(-2), .double(3.5), .double(1000), .bool(true), .bool(false), .null]))
        #expect(v["b"]?["c"] == .string("d"))
        #expect(v["e"] == .string(""))
        #expect(v["n"]?.int64Value == 9_007_199_254_740_993)
        #expect(v["missing"] == nil)
    }

    @Test func escapes() throws {
        let v = try JSONReader.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00\ud800x""#)
        #expect(v == .string("a\"b\\c/d\n\té😀\u{FFFD}x"))
    }

    @Test func errorsAreThrownNotCrashes() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "01", "-", "1.", "tru", "{\"a\":1}x", "\"\u{01}\"", "\"\\u12\"",
                    String(repeating: "[", count: 100_000)] {
            #expect(throws: JSONParseError.self, "\(bad.prefix(20))") { try JSONReader.parse(bad) }
        }
    }

    @Test func roundTripsWriterOutput() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("text", "line\none \"quoted\" \u{1} é")
        w.field("n", Int64(-42))
        w.endObject()
        #expect(try JSONReader.parse(w.bytes)["text"] == .string("line\none \"quoted\" \u{1} é"))
        #expect(try JSONReader.parse(w.bytes)["n"] == .int(-42))
    }
}
