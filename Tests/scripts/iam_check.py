#!/usr/bin/env python3
"""Lists every IAM statement of every template, with every combination of its conditions (checkov skips statements
built with Fn::If), and fails on a wildcard action, a NotAction, or a `*` resource outside the short list of actions
AWS allows only on `*`. Usage: iam_check.py TEMPLATE... ; prints one line per problem and a count; exit 1 on any."""
import itertools, json, sys

# Actions that support no resource-level permission: AWS requires Resource "*" for them (CloudWatch Logs vended-log
# delivery, which API Gateway access logging to a log group uses, and the account-wide log resource policy).
# X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) have no resource type either.
STAR_ONLY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
             "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"}


def resolve(node, conditions):
    """The template with every Fn::If decided and AWS::NoValue removed."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return None
        out = {}
        for k, v in node.items():
            r = resolve(v, conditions)
            if r is not None:
                out[k] = r
        return out
    if isinstance(node, list):
        return [r for r in (resolve(v, conditions) for v in node) if r is not None]
    return node


def statements(node, path=""):
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield path, node
        for k, v in node.items():
            yield from statements(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from statements(v, f"{path}[{i}]")


def as_list(v):
    return v if isinstance(v, list) else [v]


def if_conditions(node):
    """The condition names every Fn::If inside node decides on."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            yield node["Fn::If"][0]
        for v in node.values():
            yield from if_conditions(v)
    elif isinstance(node, list):
        for v in node:
            yield from if_conditions(v)


def check(path, template):
    t = json.load(open(path))
    all_names = sorted(t.get("Conditions", {}))
    # Only the conditions an IAM resource's own statements depend on change what it grants: every combination of
    # those is tried for each resource (the others stay on), so a template with many conditions is still checked
    # exhaustively, resource by resource.
    iam = {k: v for k, v in t.get("Resources", {}).items() if v.get("Type", "").startswith("AWS::IAM::")
           or v.get("Type") in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy")}
    problems, seen = set(), 0
    for resource_name, resource in iam.items():
        names = sorted(set(if_conditions(resource)))
        if len(names) > 14:
            sys.exit(f"{path}: {len(names)} conditions decide the IAM statements of {resource_name}; the exhaustive check stops at 14")
        for values in itertools.product([True, False], repeat=len(names)):
            decided = dict.fromkeys(all_names, True) | dict(zip(names, values))
            resolved = resolve({resource_name: resource}, decided)
            for where, s in statements(resolved):
                seen += 1
                if s.get("Effect") != "Allow" or "Principal" in s:
                    continue  # trust policies and denies grant nothing here
                if "NotAction" in s:
                    problems.add(f"{path}{where}: NotAction grants everything else")
                actions = [a for a in as_list(s.get("Action", [])) if isinstance(a, str)]
                for a in actions:
                    if a == "*" or a.endswith(":*"):
                        problems.add(f"{path}{where}: wildcard action {a}")
                if "NotResource" in s:
                    problems.add(f"{path}{where}: NotResource")
                if any(r == "*" for r in as_list(s.get("Resource", []))):
                    extra = [a for a in actions if a not in STAR_ONLY]
                    if extra:
                        problems.add(f"{path}{where}: Resource \"*\" for {', '.join(extra)}")
    return problems, seen


def main():
    total = []
    for path in sys.argv[1:]:
        problems, seen = check(path, None)
        if seen == 0:
            total.append(f"{path}: no IAM statement found (is the check reading the template?)")
        total += sorted(problems)
        print(f"{path}: {seen} statement(s) checked over every combination of conditions")
    for p in total:
        print(p)
    print(f"{len(total)} problem(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
