#!/usr/bin/env python3
"""Checks two runs of the posture handler: its answers, the objects in S3 and the records in the file sink.
Usage: check_handler.py INVOKE1.json INVOKE2.json S3-LIST.json FINDINGS.ndjson EXPECTED.tsv"""
import json
import sys


def main():
    first, second = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    keys = sorted(o["Key"] for o in json.load(open(sys.argv[3])).get("Contents", []))
    records = [json.loads(line) for line in open(sys.argv[4])]
    expected = sum(1 for _ in open(sys.argv[5]))
    problems = []
    if not (first["complete"] and not first["baselineFound"] and first["new"] == expected and first["latestUpdated"]):
        problems.append(f"first run: {first}")
    if not (second["complete"] and second["baselineFound"] and second["new"] == 0 and second["resolved"] == 0 and second["latestUpdated"]):
        problems.append(f"second run: {second}")
    dated = [k for k in keys if k.startswith("posture/2")]
    if "posture/latest.json" not in keys or "posture/latest.html" not in keys or len(dated) != 4:
        problems.append(f"objects: {keys}")
    if len(records) != expected or any(r["type"] != "posture-finding" or r["change"] != "new" for r in records):
        problems.append(f"{len(records)} records in the sink, {expected} expected")
    if first["sinks"][0]["delivered"] != expected or second["sinks"][0]["delivered"] != 0:
        problems.append(f"sinks: {first['sinks']} / {second['sinks']}")
    if problems:
        print("; ".join(problems))
        sys.exit(1)
    print(f"{len(keys)} objects in S3, {len(records)} records in the sink, then 0 new and 0 resolved")


main()
