// A logic-less Mustache renderer for the HTML report: variables (HTML-escaped, or raw with {{{ }}} and {{& }}),
// sections over lists, objects and booleans, inverted sections, comments, dotted names and `.`, with the spec's
// standalone-line rule. Partials, lambdas and delimiter changes are refused. swift-mustache is the reference: a test
// renders the report's template with both and compares them. It is not linked here because it imports Foundation,
// which would add ~21 MiB of ICU to the package (docs/posture.md).

public indirect enum TemplateValue: Sendable {
    case string(String)
    case bool(Bool)
    case list([TemplateValue])
    case object([String: TemplateValue])

    var truthy: Bool {
        switch self {
        case .bool(let b): return b
        case .list(let l): return !l.isEmpty
        // A string is truthy even when empty, as swift-mustache has it: leave a key out to make a section false.
        case .string, .object: return true
        }
    }
}

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

public struct MustacheTemplate: Sendable {
    indirect enum Node: Sendable {
        case text(String)
        case variable([String], escaped: Bool)
        case section([String], inverted: Bool, [Node])
    }

    let nodes: [Node]

    public init(_ source: String) throws(TemplateError) {
        let chars = Array(source.unicodeScalars)
        var i = 0
        var text = ""
        // Stack of open sections: name, inverted, nodes so far, and the nodes of the enclosing level.
        var stack: [(path: [String], inverted: Bool, outer: [Node])] = []
        var current: [Node] = []
        var lineHasOther = false   // a variable or non-blank text on the current line (it cannot be standalone)

        func flush() { if !text.isEmpty { current.append(.text(text)); text = "" } }
        func startsWith(_ s: String, at p: Int) -> Bool {
            let u = Array(s.unicodeScalars)
            guard p + u.count <= chars.count else { return false }
            for k in 0..<u.count where chars[p + k] != u[k] { return false }
            return true
        }
        func path(_ name: String) -> [String] { name == "." ? ["."] : name.split(separator: ".").map(String.init) }

        while i < chars.count {
            guard startsWith("{{", at: i) else {
                let c = chars[i]
                text.unicodeScalars.append(c)
                if c == "\n" { lineHasOther = false } else if c != " " && c != "\t" { lineHasOther = true }
                i += 1
                continue
            }
            var kind: Unicode.Scalar = " "
            var close = "}}"
            var j = i + 2
            if startsWith("{{{", at: i) { kind = "{"; close = "}}}"; j = i + 3 }
            else if j < chars.count, "#^/!&>=".unicodeScalars.contains(chars[j]) { kind = chars[j]; j += 1 }
            var end = j
            while end < chars.count && !startsWith(close, at: end) { end += 1 }
            guard end < chars.count else { throw TemplateError("unclosed tag at offset \(i)") }
            var name = String(String.UnicodeScalarView(chars[j..<end]))
            while name.first == " " { name.removeFirst() }
            while name.last == " " { name.removeLast() }
            let after = end + close.unicodeScalars.count
            switch kind {
            case ">": throw TemplateError("partials are not supported ({{>\(name)}})")
            case "=": throw TemplateError("delimiter changes are not supported")
            case " ", "{", "&":
                guard !name.isEmpty else { throw TemplateError("empty tag at offset \(i)") }
                flush()
                current.append(.variable(path(name), escaped: kind == " "))
                lineHasOther = true
                i = after
                continue
            default: break
            }
            // Section, inverted, end or comment: a line holding only this tag disappears whole (the spec's rule).
            var lineEnd = after
            while lineEnd < chars.count && (chars[lineEnd] == " " || chars[lineEnd] == "\t") { lineEnd += 1 }
            let endsLine = lineEnd == chars.count || chars[lineEnd] == "\n" || (chars[lineEnd] == "\r" && lineEnd + 1 < chars.count && chars[lineEnd + 1] == "\n")
            var next = after
            if !lineHasOther && endsLine {
                while let last = text.unicodeScalars.last, last == " " || last == "\t" { text.unicodeScalars.removeLast() }
                next = lineEnd == chars.count ? lineEnd : lineEnd + (chars[lineEnd] == "\r" ? 2 : 1)
            } else {
                lineHasOther = true
            }
            flush()
            switch kind {
            case "#", "^":
                guard !name.isEmpty else { throw TemplateError("section without a name at offset \(i)") }
                stack.append((path(name), kind == "^", current))
                current = []
            case "/":
                guard let open = stack.popLast() else { throw TemplateError("{{/\(name)}} closes nothing") }
                guard open.path == path(name) else { throw TemplateError("{{/\(name)}} closes {{#\(open.path.joined(separator: "."))}}") }
                let section = Node.section(open.path, inverted: open.inverted, current)
                current = open.outer + [section]
            default: break   // a comment
            }
            i = next
        }
        flush()
        if let open = stack.last { throw TemplateError("{{#\(open.path.joined(separator: "."))}} is not closed") }
        nodes = current
    }

    public func render(_ value: TemplateValue) -> String {
        var out = ""
        Self.render(nodes, stack: [value], into: &out)
        return out
    }

    static func lookup(_ path: [String], _ stack: [TemplateValue]) -> TemplateValue? {
        if path == ["."] { return stack.last }
        for frame in stack.reversed() {
            guard case .object(let o) = frame, var v = o[path[0]] else { continue }
            for part in path.dropFirst() {
                guard case .object(let inner) = v, let next = inner[part] else { return nil }
                v = next
            }
            return v
        }
        return nil
    }

    static func render(_ nodes: [Node], stack: [TemplateValue], into out: inout String) {
        for node in nodes {
            switch node {
            case .text(let t): out += t
            case .variable(let path, let escaped):
                guard let v = lookup(path, stack) else { continue }
                let text: String
                switch v {
                case .string(let s): text = s
                case .bool(let b): text = b ? "true" : "false"
                case .list, .object: text = ""
                }
                out += escaped ? htmlEscape(text) : text
            case .section(let path, let inverted, let body):
                let v = lookup(path, stack)
                let truthy = v?.truthy ?? false
                if inverted {
                    if !truthy { render(body, stack: stack, into: &out) }
                    continue
                }
                guard truthy, let v else { continue }
                switch v {
                case .list(let items): for item in items { render(body, stack: stack + [item], into: &out) }
                case .object: render(body, stack: stack + [v], into: &out)
                default: render(body, stack: stack, into: &out)
                }
            }
        }
    }

    /// `& < > " '`, as swift-mustache escapes them.
    public static func htmlEscape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
