// The method and path a Lambda authorizer's event names, for requests the gateway ends before `HTTP Method` is logged.

/// With full request/response logging, API Gateway logs the call to a Lambda authorizer like an integration call; its
/// `Endpoint request body after transformations` is the authorizer event, which carries
/// `"methodArn":"arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}"` (TOKEN and REQUEST
/// authorizers) and, for REQUEST authorizers, the request's `"httpMethod"` and `"path"`. An authorizer that denies the
/// request ends it there, so this is the only place its method and path are logged.
///
/// Only top-level string values that close inside the line are read: a line cut at 1 KiB may end inside a value, and
/// half a path is not the path. Values with JSON escapes are not decoded (API Gateway writes these values plainly);
/// they are refused rather than guessed.
enum AuthorizerEvent {
    /// The method and path when `body` is an authorizer event (it has a top-level `methodArn`) that states them.
    static func methodAndPath(_ body: UnsafeRawBufferPointer) -> (method: [UInt8]?, path: [UInt8]?)? {
        var methodArn: Range<Int>?, path: Range<Int>?, httpMethod: Range<Int>?
        scanTopLevelStrings(body) { key, value in
            if methodArn == nil, equals(body, key, "methodArn") { methodArn = value }
            else if path == nil, equals(body, key, "path") { path = value }
            else if httpMethod == nil, equals(body, key, "httpMethod") { httpMethod = value }
        }
        guard let methodArn else { return nil }
        let arn = parseMethodArn(UnsafeRawBufferPointer(rebasing: body[methodArn]))
        var method = arn?.method
        if method == nil, let httpMethod, isMethod(UnsafeRawBufferPointer(rebasing: body[httpMethod])) {
            method = Array(body[httpMethod])
        }
        // A REQUEST event's `path` is the request's own path; the ARN's is the same path after the stage.
        var resultPath = arn?.path
        if let path, isPath(UnsafeRawBufferPointer(rebasing: body[path])) { resultPath = Array(body[path]) }
        guard method != nil || resultPath != nil else { return nil }
        return (method, resultPath)
    }

    /// `arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}` → METHOD and `/` + path.
    static func parseMethodArn(_ arn: UnsafeRawBufferPointer) -> (method: [UInt8]?, path: [UInt8]?)? {
        guard arn.count > 4, arn[0] == UInt8(ascii: "a"), arn[1] == UInt8(ascii: "r"), arn[2] == UInt8(ascii: "n"),
              arn[3] == UInt8(ascii: ":") else { return nil }
        for b in arn where b == UInt8(ascii: "\\") { return nil }
        var i = 0, colons = 0
        while i < arn.count, colons < 5 { if arn[i] == UInt8(ascii: ":") { colons += 1 }; i += 1 }
        guard colons == 5 else { return nil }
        // apiId, then stage, then METHOD, each ended by `/`; the rest is the path without its leading `/`.
        var fields: [Int] = []
        var j = i
        while j < arn.count, fields.count < 3 { if arn[j] == UInt8(ascii: "/") { fields.append(j) }; j += 1 }
        guard fields.count == 3 else { return nil }
        let method = UnsafeRawBufferPointer(rebasing: arn[(fields[1] + 1)..<fields[2]])
        var path: [UInt8] = [UInt8(ascii: "/")]
        path += arn[(fields[2] + 1)...]
        let validPath = path.withUnsafeBytes { isPath($0) }
        guard isMethod(method) || validPath else { return nil }
        return (isMethod(method) ? Array(method) : nil, validPath ? path : nil)
    }

    /// An upper-case token other than `ANY` (a method resource's wildcard, not what a client sends).
    static func isMethod(_ v: UnsafeRawBufferPointer) -> Bool {
        guard !v.isEmpty, v.count <= 16 else { return false }
        for b in v where b < UInt8(ascii: "A") || b > UInt8(ascii: "Z") { return false }
        return !(v.count == 3 && v[0] == UInt8(ascii: "A") && v[1] == UInt8(ascii: "N") && v[2] == UInt8(ascii: "Y"))
    }

    /// Starts with `/`; no spaces, controls, quotes or backslashes (an escaped value is not decoded here).
    static func isPath(_ v: UnsafeRawBufferPointer) -> Bool {
        guard let first = v.first, first == UInt8(ascii: "/") else { return false }
        for b in v where b <= 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return false }
        return true
    }

    static func equals(_ body: UnsafeRawBufferPointer, _ range: Range<Int>, _ key: StaticString) -> Bool {
        guard range.count == key.utf8CodeUnitCount else { return false }
        let p = key.utf8Start
        for k in 0..<range.count where body[range.lowerBound + k] != p[k] { return false }
        return true
    }

    /// Calls `found(key, value)` for each `"key":"value"` pair of the top-level object whose value is a string that
    /// closes inside `body` (ranges exclude the quotes). Nested objects and arrays are skipped; stops at a cut string.
    static func scanTopLevelStrings(_ body: UnsafeRawBufferPointer, _ found: (Range<Int>, Range<Int>) -> Void) {
        var depth = 0
        var expectKey = false
        var key: Range<Int>?
        var i = 0
        let n = body.count
        while i < n {
            let b = body[i]
            switch b {
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < n, body[j] != UInt8(ascii: "\"") { j += body[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < n else { return }
                let string = (i + 1)..<j
                if depth == 1 {
                    if expectKey { key = string; expectKey = false }
                    else if let k = key { found(k, string); key = nil }
                }
                i = j + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 1 { expectKey = b == UInt8(ascii: "{") } else if depth == 2 { key = nil }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth <= 0 { return }
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true; key = nil }
            case UInt8(ascii: ":"), 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                // A number, `true`, `false` or `null` value: the key had no string value.
                if depth == 1, !expectKey { key = nil }
                if depth == 0 { return }
            }
            i += 1
        }
    }
}
