// The wire encoding: valid JSON, every field the schema requires, and python-jsonschema validation of fixture output.
import Foundation
import Core
import Testing
@testable import Traffic

@Suite struct EncodingTests {
    static let allRESTFixtures = [
        "rest-200-post-lambda-proxy.ndjson", "rest-map-parsing-hazards.ndjson", "rest-interleaved-requests.ndjson",
        "rest-lines-after-end-marker.ndjson", "rest-429-throttled.ndjson", "rest-502-lambda-error.ndjson",
        "rest-502-malformed-proxy-response.ndjson", "rest-504-timeout.ndjson", "rest-authorizer-denied.ndjson",
        "rest-multiline-body.ndjson", "rest-truncated-bodies.ndjson", "rest-unparseable-lines.ndjson",
        "rest-filter-content-types-and-static-files.ndjson", "rest-incomplete-window-2.ndjson",
        "real-rest-authorizer-unauthorized-401.ndjson", "real-rest-authorizer-configuration-error-500.ndjson",
        "real-rest-key-throttle-429.ndjson", "rest-key-throttle-429-without-end-marker.ndjson",
        "rest-request-validation-400.ndjson", "rest-api-key-not-authorized-403.ndjson",
        "rest-policy-and-authorizer-deny-403.ndjson", "rest-waf-filtered-403.ndjson", "rest-xray-trace-id-forms.ndjson",
        "real-rest-token-authorizer-200.ndjson", "rest-token-authorizer-401.ndjson", "rest-usage-plan-method-403.ndjson",
        "rest-method-hints-never-replace.ndjson",
    ]

    /// Every transaction the fixtures produce, REST and HTTP API, encoded as NDJSON.
    static func encodedFixtures() throws -> [UInt8] {
        var out: [UInt8] = []
        for name in allRESTFixtures {
            let (all, _) = try Fixtures.stitch(name)
            for t in all { t.encodeJSON(into: &out); out.append(0x0A) }
        }
        var mapper = HTTPAccessLogMapper(logGroup: LogGroupName("http-logs"), region: Fixtures.region, accountId: nil, apiId: nil, stage: nil)
        for e in try Fixtures.events("http-api-access-log.ndjson") {
            if let t = mapper.map(logStream: e.logStream, timestamp: e.timestamp, message: e.message) {
                t.encodeJSON(into: &out); out.append(0x0A)
            }
        }
        return out
    }

    static func schema() throws -> JSONValue {
        let url = docs.appendingPathComponent("transaction.schema.json")
        return try JSONReader.parse([UInt8](try Data(contentsOf: url)))
    }

    /// Checks `required`, `properties` (recursing, following local `$ref`s) and basic types against the schema.
    static func check(_ value: JSONValue, against schema: JSONValue, root: JSONValue, path: String, problems: inout [String]) {
        var schema = schema
        if let ref = schema["$ref"]?.stringValue, ref.hasPrefix("#/$defs/"), let target = root["$defs"]?[String(ref.dropFirst(8))] {
            schema = target
        }
        if let types = schema["type"] {
            let allowed = types.arrayValue?.compactMap(\.stringValue) ?? [types.stringValue ?? ""]
            let actual: String
            switch value {
            case .null: actual = "null"
            case .bool: actual = "boolean"
            case .int: actual = "integer"
            case .double: actual = "number"
            case .string: actual = "string"
            case .array: actual = "array"
            case .object: actual = "object"
            }
            if !allowed.contains(actual) { problems.append("\(path): \(actual) is not \(allowed)") }
        }
        if let object = value.objectValue {
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                problems.append("\(path): missing \(name)")
            }
            let properties = schema["properties"]?.objectValue
            for member in object.members {
                if let sub = properties?[member.key] {
                    check(member.value, against: sub, root: root, path: path + "." + member.key, problems: &problems)
                } else if schema["additionalProperties"]?.boolValue == false {
                    problems.append("\(path): unexpected \(member.key)")
                }
            }
        }
        if let array = value.arrayValue, let items = schema["items"] {
            for (i, item) in array.enumerated() { check(item, against: items, root: root, path: "\(path)[\(i)]", problems: &problems) }
        }
    }

    @Test func encodedFixturesMatchTheSchemaStructurally() throws {
        let schema = try Self.schema()
        let lines = try Self.encodedFixtures().split(separator: 0x0A)
        #expect(lines.count > 30)
        var problems: [String] = []
        for line in lines {
            let value = try JSONReader.parse(Array(line))
            Self.check(value, against: schema, root: schema, path: "$", problems: &problems)
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
    }

    @Test func schemaCheckCatchesAMissingField() throws {
        let schema = try Self.schema()
        let (all, _) = try Fixtures.stitch("rest-429-throttled.ndjson")
        let encoded = String(decoding: try #require(all.first).jsonBytes, as: UTF8.self)
        let broken = try JSONReader.parse(encoded.replacingOccurrences(of: "\"incomplete\":false,", with: ""))
        var problems: [String] = []
        Self.check(broken, against: schema, root: schema, path: "$", problems: &problems)
        #expect(problems == ["$: missing incomplete"])
    }

    /// The repository's docs/ folder (the schemas live there).
    static let docs = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs")

    /// Validates each NDJSON line with python-jsonschema against `docs/<schema>`, then with `semantic(t)` when `extra`
    /// defines it. Returns the exit status and what the script printed (the line count, or the first problem).
    /// The jsonschema module is installed by `make test` (scripts/dev/deps.sh); without it this fails, never skips.
    static func validateWithPython(schema: String, ndjson: [UInt8], extra: String = "") throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("apitap-\(schema)-\(getpid())-\(UUID().uuidString).ndjson")
        try Data(ndjson).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        \(extra)
        check = globals().get("semantic")
        n = 0
        for line in open(sys.argv[2]):
            n += 1
            t = json.loads(line)
            for error in validator.iter_errors(t):
                print("line %d: %s at %s" % (n, error.message, list(error.absolute_path)))
                sys.exit(1)
            if check:
                try:
                    check(t)
                except Exception as e:
                    print("line %d: %r" % (n, e))
                    sys.exit(1)
        print(n)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, docs.appendingPathComponent(schema).path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func encodedFixturesValidateWithJSONSchema() throws {
        let (status, output) = try Self.validateWithPython(schema: "transaction.schema.json", ndjson: try Self.encodedFixtures())
        #expect(status == 0, "\(output)")
        #expect(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 30, "\(output)")
    }

    @Test func encodingEscapesAndAppends() throws {
        let t = try Fixtures.one("rest-multiline-body.ndjson")
        var buffer = Array("prefix".utf8)
        t.encodeJSON(into: &buffer)
        #expect(Array(buffer.prefix(6)) == Array("prefix".utf8))
        let decoded = try JSONReader.parse(Array(buffer.dropFirst(6)))
        #expect(decoded["request"]?["body"]?.stringValue == t.request.body?.text)
        #expect(decoded["request"]?["headers"]?.arrayValue?.first == .array([.string("Accept"), .string("application/json, text/plain, */*")]))
        #expect(decoded["response"]?["status"] == .int(200))
        #expect(decoded["source"]?["type"] == .string("aws-apigateway-rest"))
        #expect(decoded["startTime"] == .int(1_764_000_000_000))
    }
}
