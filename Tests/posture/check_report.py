#!/usr/bin/env python3
"""Compares a posture JSON report's findings with the double's injected ones (kind, api, subject per line, "-" for
none), in both directions. Prints a one-line summary; exits 1 with the differences."""
import json
import os
import sys

import jsonschema


def main():
    report = json.load(open(sys.argv[1]))
    schema = json.load(open(os.path.join(os.path.dirname(__file__), "../../docs/posture-report.schema.json")))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(report), key=lambda e: list(e.path))
    if errors:
        print(f"the report does not follow docs/posture-report.schema.json: {errors[0].message} at {list(errors[0].path)}")
        sys.exit(1)
    expected = set()
    for line in open(sys.argv[2]):
        kind, api, subject = line.rstrip("\n").split("\t")
        expected.add((kind, api, subject))
    found = [(f["kind"], f["api"] or "-", f["subject"] or "-") for f in report["findings"]]
    problems = []
    if len(found) != len(set(found)):
        problems.append("a finding is reported twice")
    missing, extra = expected - set(found), set(found) - expected
    if missing:
        problems.append(f"not reported: {sorted(missing)[:5]}")
    if extra:
        problems.append(f"false positives: {sorted(extra)[:5]}")
    if not report["complete"]:
        problems.append(f"incomplete: {report['missing'][:3]}")
    summary = report["summary"]
    if problems:
        print("; ".join(problems))
        sys.exit(1)
    print(f"valid against the schema; {len(found)} findings over {summary['apis']} APIs: {summary['aligned']} aligned, {summary['drift']} drift, {summary['threat']} threat")


main()
