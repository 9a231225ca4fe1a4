#!/usr/bin/env python3
"""Checks an audit export written by the file sink against what the Anypoint double generated.

  check_export.py EXPECTED OUT [--max-duplicates N] [--alerts-like OTHER_OUT]

EXPECTED holds "organization<TAB>identity" per generated entry. Every line of OUT must be one whole JSON record;
every expected entry must be there; an entry may repeat at most --max-duplicates times in all, and a repeat must
carry the key it had the first time. With --alerts-like, the alert keys must be the same set as in OTHER_OUT.
Prints one line of counts; exits 1 with the reasons on any failure.
"""
import argparse
import json
import sys


def identity(entry):
    if isinstance(entry.get("id"), str):
        return entry["id"]
    objects = entry.get("objects") or [{}]
    return objects[0].get("objectId")


def read(path):
    entries, alerts, problems = [], [], []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("the file does not end with a newline (a torn last record)")
    for n, line in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"line {n} is not one JSON record: {line[:120]!r}")
            continue
        if record.get("type") == "alert":
            alerts.append(record["key"])
            continue
        for field in ("key", "organizationId", "exportedAt", "entry"):
            if field not in record:
                problems.append(f"line {n} has no {field}")
        entries.append((record.get("organizationId"), identity(record.get("entry") or {}), record.get("key")))
    return entries, alerts, problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("expected")
    p.add_argument("out")
    p.add_argument("--max-duplicates", type=int, default=0)
    p.add_argument("--alerts-like")
    a = p.parse_args()
    expected = set()
    with open(a.expected) as f:
        for line in f:
            org, ident = line.rstrip("\n").split("\t")
            expected.add((org, ident))
    entries, alerts, problems = read(a.out)
    keys, duplicates = {}, 0
    for org, ident, key in entries:
        if (org, ident) in keys:
            duplicates += 1
            if keys[(org, ident)] != key:
                problems.append(f"{org}/{ident} came again with another key ({keys[(org, ident)]} then {key})")
        else:
            keys[(org, ident)] = key
    missing = expected - set(keys)
    unknown = set(keys) - expected
    if missing:
        problems.append(f"{len(missing)} entries missing, e.g. {sorted(missing)[:3]}")
    if unknown:
        problems.append(f"{len(unknown)} entries the double never generated, e.g. {sorted(unknown)[:3]}")
    if duplicates > a.max_duplicates:
        problems.append(f"{duplicates} duplicate entries (at most {a.max_duplicates} allowed)")
    if a.alerts_like:
        _, other, _ = read(a.alerts_like)
        if set(alerts) != set(other):
            problems.append(f"alerts differ from the clean run: {len(set(alerts) - set(other))} extra, "
                            f"{len(set(other) - set(alerts))} missing")
    print(f"entries={len(keys)} expected={len(expected)} duplicates={duplicates} alerts={len(set(alerts))}")
    for problem in problems:
        print("  " + problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
