#!/usr/bin/env python3
"""Checks the templates' deployment norms that cfn-lint and checkov do not (issue 11): with a customer-managed key
chosen, every log group, secret, function environment, queue and bucket uses it, and with none chosen nothing refers
to a key; every bucket the template creates has access logging (except the access-log bucket itself); every function
a schedule invokes asynchronously has an on-failure destination, and the schedule a dead-letter queue.
Usage: template_norms.py TEMPLATE... ; one line per problem and a count; exit 1 on any."""
import json, sys
from iam_check import resolve


def decided(t, **overrides):
    conditions = dict.fromkeys(t.get("Conditions", {}), True)
    conditions.update(overrides)
    return resolve(t["Resources"], conditions)


def refs_to(node, name):
    """True when node refers to resource `name` (Ref or GetAtt)."""
    if isinstance(node, dict):
        if node.get("Ref") == name or (isinstance(node.get("Fn::GetAtt"), list) and node["Fn::GetAtt"][0] == name):
            return True
        return any(refs_to(v, name) for v in node.values())
    if isinstance(node, list):
        return any(refs_to(v, name) for v in node)
    return False


def check(path):
    t = json.load(open(path))
    problems = []
    if "UseKmsKey" not in t.get("Conditions", {}):
        return [f"{path}: no KmsKey option (condition UseKmsKey)"]
    on = decided(t, UseKmsKey=True, UseFailureDestination=True)
    off = decided(t, UseKmsKey=False)
    needs = {"AWS::Logs::LogGroup": "KmsKeyId", "AWS::SecretsManager::Secret": "KmsKeyId",
             "AWS::Lambda::Function": "KmsKeyArn", "AWS::SQS::Queue": "KmsMasterKeyId"}
    for name, r in on.items():
        key = needs.get(r["Type"])
        if key and key not in r.get("Properties", {}):
            problems.append(f"{path}: {name} ({r['Type']}) ignores the customer-managed key ({key})")
        if r["Type"] == "AWS::SecretsManager::Secret" and "DeletionPolicy" not in r:
            problems.append(f"{path}: {name} has no DeletionPolicy")
    for name, r in off.items():
        key = needs.get(r["Type"])
        if key and key in r.get("Properties", {}):
            problems.append(f"{path}: {name} refers to a key although none was chosen")
    buckets = {n: r for n, r in on.items() if r["Type"] == "AWS::S3::Bucket"}
    log_targets = {n for n in buckets if any(refs_to(r.get("Properties", {}).get("LoggingConfiguration", {}), n)
                                             for r in buckets.values())}
    for name, r in buckets.items():
        props = r.get("Properties", {})
        if name not in log_targets and "LoggingConfiguration" not in props:
            problems.append(f"{path}: bucket {name} has no access logging")
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {x.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for x in rules}
        wanted = "AES256" if name in log_targets else "aws:kms"  # access logs accept SSE-S3 only
        if wanted not in algorithms:
            problems.append(f"{path}: bucket {name} is not encrypted with {wanted} when a key is chosen")
    for name, r in on.items():
        if r["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = r["Properties"]["Target"]
        if "DeadLetterConfig" not in target:
            problems.append(f"{path}: schedule {name} has no dead-letter queue")
        fns = [n for n, f in on.items() if f["Type"] == "AWS::Lambda::Function" and refs_to(target["Arn"], n)]
        for fn in fns:
            configs = [c for c in on.values() if c["Type"] == "AWS::Lambda::EventInvokeConfig"
                       and refs_to(c["Properties"]["FunctionName"], fn)
                       and "OnFailure" in c["Properties"].get("DestinationConfig", {})]
            if not configs:
                problems.append(f"{path}: {fn} is invoked asynchronously by {name} without an on-failure destination")
    return problems


def main():
    problems = [p for path in sys.argv[1:] for p in check(path)]
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
