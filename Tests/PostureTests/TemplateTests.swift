// The HTML report's Mustache renderer against swift-mustache (the reference implementation): the report's own
// template over a real report renders to the same bytes, and so do the spec's tricky cases (standalone lines,
// inverted sections, escaping, dotted names, the implicit iterator).
import APIManagerDoubles
import Foundation
import Mustache
import Testing
@testable import Posture

/// The same context as swift-mustache takes it: dictionaries, arrays, strings and booleans.
func foundationValue(_ v: TemplateValue) -> Any {
    switch v {
    case .string(let s): return s
    case .bool(let b): return b
    case .list(let items): return items.map(foundationValue)
    case .object(let o): return o.mapValues(foundationValue)
    }
}

func reference(_ template: String, _ value: TemplateValue) throws -> String {
    try Mustache.MustacheTemplate(string: template).render(foundationValue(value))
}

@Suite struct TemplateTests {
    @Test func theReportTemplateRendersAsSwiftMustacheRendersIt() async throws {
        let org = GeneratedOrganization(apis: 60)
        var settings = GeneratedOrganization.settings()
        settings.failingEnvironments["env-stg"] = 500   // the "incomplete" block too
        let double = try org.start(settings)
        defer { double.stop() }
        let (runner, _) = try makeRunner(double)
        let report = await runner.run(deadline: .after(milliseconds: 120_000))
        let ours = report.html()
        let theirs = try reference(HTMLReport.template, report.htmlContext())
        #expect(ours.count > 50_000)
        if ours != theirs {
            let a = Array(ours.utf8), b = Array(theirs.utf8)
            let at = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            Issue.record("the renderings differ at byte \(at): ours …\(String(decoding: a[max(0, at - 80)..<min(a.count, at + 80)], as: UTF8.self))… theirs …\(String(decoding: b[max(0, at - 80)..<min(b.count, at + 80)], as: UTF8.self))…")
        }
    }

    @Test(arguments: [
        "a{{x}}b{{{x}}}c{{& x}}",
        "{{#list}}\n  <li>{{name}}</li>\n{{/list}}\ndone\n",
        "  {{#flag}}\nyes\n  {{/flag}}\n  {{^flag}}\nno\n  {{/flag}}\n",
        "{{! a comment }}\n{{#obj}}{{inner.deep}}{{outer}}{{/obj}}",
        "{{#names}}{{.}},{{/names}}|{{^empty}}none{{/empty}}",
        "{{#list}}{{#on}}[{{name}}]{{/on}}{{/list}} {{#text}}t={{text}}{{/text}}",
        "line {{#flag}}inline{{/flag}} end\r\n{{#flag}}\r\ncrlf\r\n{{/flag}}\r\n",
    ])
    func specCasesMatchTheReference(_ template: String) throws {
        let value = TemplateValue.object([
            "x": .string("<a href=\"q\">'&'</a>"), "flag": .bool(true), "empty": .list([]), "text": .string("T"),
            "outer": .string("O"), "names": .list([.string("a"), .string("b<")]),
            "obj": .object(["inner": .object(["deep": .string("D")])]),
            "list": .list([.object(["name": .string("one"), "on": .bool(true)]), .object(["name": .string("two"), "on": .bool(false)])]),
        ])
        #expect(try Posture.MustacheTemplate(template).render(value) == (try reference(template, value)))
    }

    @Test func unsupportedOrBrokenTemplatesAreRefused() {
        for t in ["{{>partial}}", "{{=<% %>=}}", "{{#a}}", "{{/a}}", "{{#a}}{{/b}}", "{{x"] {
            #expect(throws: TemplateError.self, "\(t)") { try Posture.MustacheTemplate(t) }
        }
    }
}
