// The HTML report: one self-contained page (styles and script inline, nothing fetched) with the overview, filters by
// name, environment, group and status, and per API a drill-down of its policies, SLA tiers and contracts with the
// environments side by side. Rendered from a Mustache template; every value is HTML-escaped by the renderer.
import Core

extension PostureReport {
    public func html() -> String {
        // The template is a constant: a parse error is a bug caught by the tests, not an operator's problem.
        guard let template = try? MustacheTemplate(HTMLReport.template) else { return "<!doctype html><p>template error</p>" }
        return template.render(htmlContext())
    }

    public func htmlContext() -> TemplateValue {
        let envs = collection.environments.map(\.environment)
        let unread = unreadEnvironments
        func s(_ text: String) -> TemplateValue { .string(text) }
        var groups: [String] = []
        for api in comparison.apis where !groups.contains(api.groupID) { groups.append(api.groupID) }
        let apis: [TemplateValue] = comparison.apis.enumerated().map { index, api in
            let mine = findings.filter { $0.api == api.key }
            let cells: [TemplateValue] = envs.map { env in
                guard let i = api.instances[env.label] else {
                    return .object(["environment": s(env.label), "deployed": .bool(false), "notRead": .bool(unread.contains(env.label))])
                }
                let policies: TemplateValue = i.policies.value.map { list in .list(list.map { p in
                    .object(["name": s(p.displayName), "version": s(p.assetVersion ?? "-"), "disabled": .bool(p.disabled),
                             "class": s(p.policyClass.rawValue), "order": s(p.order.map(String.init) ?? "-"),
                             "config": s(p.configuration.map { secretKeys.masked($0).compactText } ?? "(not listed)")])
                }) } ?? .bool(false)
                let tiers: TemplateValue = i.tiers.value.map { list in .list(list.map { t in
                    .object(["name": s(t.name), "limits": s(t.limitsText), "status": s(t.status ?? "-")])
                }) } ?? .bool(false)
                let contracts: TemplateValue = i.contracts.value.map { list in .list(list.map { c in
                    .object(["application": s(c.application), "tier": s(c.tierName ?? "-"), "status": s(c.status ?? "-")])
                }) } ?? .bool(false)
                return .object([
                    "environment": s(env.label), "deployed": .bool(true), "version": s(i.assetVersion ?? "-"), "instanceId": s(i.id),
                    "status": s(i.status),
                    "policyCount": s(i.policies.value.map { String($0.count) } ?? "?"),
                    "tierCount": s(i.tiers.value.map { String($0.count) } ?? "?"),
                    "contractCount": s(i.contracts.value.map { String($0.count) } ?? "?"),
                    "policies": policies, "policiesMissing": s(i.policies.missingReason ?? ""),
                    "tiers": tiers, "tiersMissing": s(i.tiers.missingReason ?? ""),
                    "contracts": contracts, "contractsMissing": s(i.contracts.missingReason ?? ""),
                ])
            }
            return .object([
                "anchor": s(String(index)), "key": s(api.key), "name": s(api.name), "label": s(api.label ?? ""),
                "groupId": s(api.groupID), "assetId": s(api.assetID), "status": s(api.status.rawValue), "incomplete": .bool(api.incomplete),
                "searchText": s([api.name, api.assetID, api.label ?? "", api.key].joined(separator: " ").lowercased()),
                "envList": s(envs.filter { api.instances[$0.label] != nil }.map(\.label).joined(separator: "|")),
                "cells": .list(cells), "findingCount": s(String(mine.count)),
                "findings": .list(mine.map(findingContext)), "colspan": s(String(envs.count + 4)),
            ])
        }
        let environmentFindings = findings.filter { $0.api == nil }
        var context: [String: TemplateValue] = [
            "generatedAt": s(generatedAt.iso8601), "headline": s(headline), "complete": .bool(isComplete),
            "missing": .list(collection.missing.map { .object(["text": s($0.text)]) }),
            "environments": .list(envs.map { .object(["label": s($0.label), "isProduction": .bool($0.isProduction)]) }),
            "groups": .list(groups.map(s)), "apis": .list(apis), "apiCount": s(String(comparison.apis.count)),
            "aligned": s(String(count(APIStatus.aligned))), "drift": s(String(count(APIStatus.drift))), "threat": s(String(count(APIStatus.threat))),
            "environmentFindings": .list(environmentFindings.map(findingContext)),
            "hasEnvironmentFindings": .bool(!environmentFindings.isEmpty),
        ]
        if let b = baseline { context["baseline"] = .object(["summary": s(b.summary), "source": s(b.source)]) }
        return .object(context)
    }

    private func findingContext(_ f: Finding) -> TemplateValue {
        var o: [String: TemplateValue] = [
            "severity": .string(f.severity.rawValue), "kind": .string(f.kind.rawValue), "title": .string(f.kind.title),
            "evidence": .list(f.evidence.map { .object(["environment": .string($0.environment), "value": .string($0.value)]) }),
        ]
        if let subject = f.subject { o["subject"] = .string(Self.shortSubject(subject)) }
        return .object(o)
    }
}

public enum HTMLReport {
    public static let template = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API security posture {{generatedAt}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f}
h1{font-size:1.5em;margin:0 0 .3em}
table{border-collapse:collapse}
th,td{border:1px solid #d0d0d5;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f2f2f5}
#filters{margin:1em 0;display:flex;gap:.5em;align-items:center;flex-wrap:wrap}
.status{font-weight:600;padding:.1em .4em;border-radius:3px}
.ALIGNED{background:#dff5e1;color:#17612a}.DRIFT{background:#fff1cc;color:#7a5200}.THREAT{background:#fde0de;color:#9b1c13}
.nd{color:#9b1c13;font-weight:600}.muted,.key{color:#6e6e73;font-size:.85em}
button.open{background:none;border:none;color:#0a58ca;cursor:pointer;font:inherit;padding:0;text-align:left}
.incomplete{background:#fde0de;padding:.5em 1em;border-radius:4px}
li.threat{color:#9b1c13}li.drift{color:#7a5200}
.detail td{background:#fafafc}
pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:.8em}
</style>
</head>
<body>
<header>
<h1>API security posture</h1>
<p id="headline">{{headline}}</p>
{{#baseline}}
<p id="baseline">{{summary}} (baseline {{source}})</p>
{{/baseline}}
{{^complete}}
<div class="incomplete" id="incomplete"><strong>Incomplete collection</strong>: these parts could not be read and are not reported as absent.
<ul>{{#missing}}<li>{{text}}</li>{{/missing}}</ul></div>
{{/complete}}
</header>
<section id="filters">
<input id="filter-name" type="search" placeholder="Filter by name" aria-label="Filter by name">
<select id="filter-env" aria-label="Environment"><option value="">All environments</option>{{#environments}}<option value="{{label}}">{{label}}</option>{{/environments}}</select>
<select id="filter-group" aria-label="Group"><option value="">All groups</option>{{#groups}}<option value="{{.}}">{{.}}</option>{{/groups}}</select>
<select id="filter-status" aria-label="Status"><option value="">Any status</option><option>ALIGNED</option><option>DRIFT</option><option>THREAT</option></select>
<span id="shown"></span>
</section>
<table id="overview">
<thead><tr><th>API</th><th>Group</th>{{#environments}}<th>{{label}}{{#isProduction}} (production){{/isProduction}}</th>{{/environments}}<th>Status</th><th>Findings</th></tr></thead>
<tbody>
{{#apis}}
<tr class="api" id="api-{{anchor}}" data-name="{{searchText}}" data-group="{{groupId}}" data-envs="{{envList}}" data-status="{{status}}" data-detail="detail-{{anchor}}">
<td><button class="open" data-target="detail-{{anchor}}">{{name}}</button><div class="key">{{key}}</div></td>
<td>{{groupId}}</td>
{{#cells}}
<td class="cell">{{#deployed}}<div>{{version}}</div><div class="muted">instance {{instanceId}} · {{status}}</div><div class="muted">{{policyCount}} policies · {{tierCount}} tiers · {{contractCount}} contracts</div>{{/deployed}}{{^deployed}}{{#notRead}}<span class="muted">NOT READ</span>{{/notRead}}{{^notRead}}<span class="nd">NOT DEPLOYED</span>{{/notRead}}{{/deployed}}</td>
{{/cells}}
<td><span class="status {{status}}">{{status}}</span>{{#incomplete}} <span class="muted">(incomplete)</span>{{/incomplete}}</td>
<td>{{findingCount}}</td>
</tr>
<tr class="detail" id="detail-{{anchor}}" hidden>
<td colspan="{{colspan}}">
<table class="drilldown">
<thead><tr><th></th>{{#cells}}<th>{{environment}}</th>{{/cells}}</tr></thead>
<tbody>
<tr class="section-policies"><th>Policies</th>{{#cells}}<td>{{#deployed}}{{#policies}}<div class="policy"><strong>{{name}}</strong> {{version}} · {{class}}{{#disabled}} · <em>disabled</em>{{/disabled}}<pre>{{config}}</pre></div>{{/policies}}{{policiesMissing}}{{/deployed}}{{^deployed}}{{#notRead}}<span class="muted">NOT READ</span>{{/notRead}}{{^notRead}}<span class="nd">NOT DEPLOYED</span>{{/notRead}}{{/deployed}}</td>{{/cells}}</tr>
<tr class="section-tiers"><th>SLA tiers</th>{{#cells}}<td>{{#deployed}}{{#tiers}}<div class="tier"><strong>{{name}}</strong> {{limits}} · {{status}}</div>{{/tiers}}{{tiersMissing}}{{/deployed}}</td>{{/cells}}</tr>
<tr class="section-contracts"><th>Contracts</th>{{#cells}}<td>{{#deployed}}{{#contracts}}<div class="contract"><strong>{{application}}</strong> on {{tier}} · {{status}}</div>{{/contracts}}{{contractsMissing}}{{/deployed}}</td>{{/cells}}</tr>
</tbody>
</table>
<ul class="findings">{{#findings}}<li class="{{severity}}"><strong>{{severity}}</strong> {{title}}{{#subject}}: {{subject}}{{/subject}}<ul>{{#evidence}}<li>{{environment}}: {{value}}</li>{{/evidence}}</ul></li>{{/findings}}</ul>
</td>
</tr>
{{/apis}}
</tbody>
</table>
{{#hasEnvironmentFindings}}
<section id="environment-findings"><h2>Automated policies</h2>
<ul class="findings">{{#environmentFindings}}<li class="{{severity}}"><strong>{{severity}}</strong> {{title}}{{#subject}}: {{subject}}{{/subject}}<ul>{{#evidence}}<li>{{environment}}: {{value}}</li>{{/evidence}}</ul></li>{{/environmentFindings}}</ul>
</section>
{{/hasEnvironmentFindings}}
<script>
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.api'));
  var name = document.getElementById('filter-name'), env = document.getElementById('filter-env');
  var group = document.getElementById('filter-group'), status = document.getElementById('filter-status');
  function apply() {
    var q = name.value.trim().toLowerCase(), e = env.value, g = group.value, s = status.value, shown = 0;
    rows.forEach(function (r) {
      var ok = (!q || r.dataset.name.indexOf(q) >= 0) && (!e || ('|' + r.dataset.envs + '|').indexOf('|' + e + '|') >= 0)
        && (!g || r.dataset.group === g) && (!s || r.dataset.status === s);
      r.hidden = !ok;
      if (!ok) { document.getElementById(r.dataset.detail).hidden = true; } else { shown++; }
    });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' APIs';
  }
  [name, env, group, status].forEach(function (el) { el.addEventListener('input', apply); el.addEventListener('change', apply); });
  Array.prototype.forEach.call(document.querySelectorAll('button.open'), function (b) {
    b.addEventListener('click', function () { var d = document.getElementById(b.dataset.target); d.hidden = !d.hidden; });
  });
  apply();
})();
</script>
</body>
</html>

"""#
}
