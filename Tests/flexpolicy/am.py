#!/usr/bin/env python3
"""Reads and seeds the API Manager double for Tests/flexpolicy/run.sh, as the test's own Connected App (credentials from
AM_CLIENT_ID and AM_CLIENT_SECRET in the environment, never on a command line).

  am.py snapshot PORT                   every automated and per-API policy of every environment, canonical JSON
  am.py ours PORT ENV LABEL             JSON {automated: [...], apis: {api: [...]}}: the Message Logging policies
                                        carrying LABEL (per-API label; automated item names LABEL:...)
  am.py foreign PORT ENV API            creates a foreign automated policy (header-injection) in ENV and a foreign
                                        Message Logging policy (label someone-else) on API; prints their ids
  am.py disable PORT ENV API ID         disables policy ID on API (as someone could in API Manager's UI)
  am.py layout PORT ENV LABEL DOCS      compares the configurationData of our automated policy in ENV with the table
                                        in DOCS (docs/flex-gateway.md); prints "ok N items" or the differences
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ORG = "org-posture"
GROUP = "68ef9520-24e9-4cf2-b2f5-620025690913"
ENVS = ["env-dev", "env-stg", "env-prd"]


def fetch(req):
    """The answer's body; a 429 (the double throttles on request) is retried."""
    for attempt in range(20):
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code != 429 or attempt == 19:
                raise
            time.sleep(0.05)


class AM:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%s" % port
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": os.environ["AM_CLIENT_ID"],
                                       "client_secret": os.environ["AM_CLIENT_SECRET"]}).encode()
        req = urllib.request.Request(self.base + "/accounts/api/v2/oauth2/token", data=form,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.token = json.loads(fetch(req))["access_token"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": "Bearer " + self.token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        text = fetch(urllib.request.Request(self.base + path, data=data, method=method, headers=headers))
        return json.loads(text) if text else None

    def automated(self, env):
        return self.call("GET", "/apimanager/api/v1/organizations/%s/automated-policies?environmentId=%s" % (ORG, env))["automatedPolicies"]

    def apis(self, env):
        out = []
        page = self.call("GET", "/apimanager/api/v1/organizations/%s/environments/%s/apis?limit=100" % (ORG, env))
        for asset in page["assets"]:
            out.extend(a["id"] for a in asset["apis"])
        return sorted(out)

    def policies(self, env, api):
        """Every policy on one API, full (each read by id: the listing's shapes differ)."""
        listing = self.call("GET", "/apimanager/api/v1/organizations/%s/environments/%s/apis/%s/policies?fullInfo=false" % (ORG, env, api))
        if isinstance(listing, dict):
            listing = listing.get("policies", [])
        out = []
        for p in listing:
            pid = p.get("id", p.get("policyId"))
            out.append(self.call("GET", "/apimanager/api/v1/organizations/%s/environments/%s/apis/%s/policies/%s" % (ORG, env, api, pid)))
        return out


def ours_automated(p, label):
    items = (p.get("configurationData") or {}).get("loggingConfiguration") or []
    return p["assetId"] == "message-logging" and bool(items) and all(i["itemName"].startswith(label + ":") for i in items)


def main():
    cmd, port = sys.argv[1], sys.argv[2]
    am = AM(port)
    if cmd == "snapshot":
        snap = {}
        for env in ENVS:
            snap[env] = {"automated": sorted(am.automated(env), key=lambda p: p["id"]),
                         "apis": {str(a): sorted(am.policies(env, a), key=lambda p: p["id"]) for a in am.apis(env)}}
        print(json.dumps(snap, sort_keys=True))
    elif cmd == "ours":
        env, label = sys.argv[3], sys.argv[4]
        out = {"automated": [{"id": p["id"], "assetVersion": p["assetVersion"], "disabled": p["disabled"]}
                             for p in am.automated(env) if ours_automated(p, label)], "apis": {}}
        for a in am.apis(env):
            mine = [{"id": p["id"], "assetVersion": p["assetVersion"], "disabled": p["disabled"]}
                    for p in am.policies(env, a) if p["assetId"] == "message-logging" and p.get("label") == label]
            if mine:
                out["apis"][str(a)] = mine
        print(json.dumps(out, sort_keys=True))
    elif cmd == "foreign":
        env, api = sys.argv[3], sys.argv[4]
        auto = am.call("POST", "/apimanager/api/v1/organizations/%s/automated-policies" % ORG, {
            "ruleOfApplication": {"environmentId": env, "organizationId": ORG, "technologies": ["flexGateway"]},
            "groupId": GROUP, "assetId": "header-injection", "assetVersion": "1.2.0",
            "configurationData": {"inboundHeaders": [{"key": "x-foreign", "value": "1"}]}})
        logging = {"loggingConfiguration": [{"itemName": "someone-else-req", "itemData": {
            "message": "#['someone ' ++ vars.reqId]", "level": "INFO", "firstSection": True}}]}
        per_api = am.call("POST", "/apimanager/api/v1/organizations/%s/environments/%s/apis/%s/policies" % (ORG, env, api), {
            "groupId": GROUP, "assetId": "message-logging", "assetVersion": "2.0.2", "label": "someone-else",
            "configurationData": logging, "pointcutData": None})
        print(auto["id"], per_api["id"])
    elif cmd == "disable":
        env, api, pid = sys.argv[3], sys.argv[4], sys.argv[5]
        am.call("PATCH", "/apimanager/api/v1/organizations/%s/environments/%s/apis/%s/policies/%s" % (ORG, env, api, pid), {"disabled": True})
    elif cmd == "layout":
        env, label, docs = sys.argv[3], sys.argv[4], sys.argv[5]
        rows = []
        row = re.compile(r"^\| (\d) \| `<label>:([a-z.-]+)` \| `(.+)` \| `([A-Za-z0-9.]+)` \| `(firstSection|secondSection)` \|$")
        with open(docs, encoding="utf-8") as f:
            for line in f:
                m = row.match(line.rstrip("\n"))
                if m:
                    rows.append(m.groups())
        mine = [p for p in am.automated(env) if ours_automated(p, label)]
        if len(rows) != 7 or len(mine) != 1:
            print("docs rows %d, our automated policies %d" % (len(rows), len(mine)))
            return 1
        items = mine[0]["configurationData"]["loggingConfiguration"]
        problems = []
        if len(items) != len(rows):
            problems.append("%d items, the docs list %d" % (len(items), len(rows)))
        for (n, name, message, category, section), item in zip(rows, items):
            d = item["itemData"]
            want = {"message": message, "conditional": "#[true]", "category": category, "level": "INFO",
                    "firstSection": section == "firstSection", "secondSection": section == "secondSection"}
            if item["itemName"] != label + ":" + name:
                problems.append("item %s: name %s, the docs say %s:%s" % (n, item["itemName"], label, name))
            if d != want:
                problems.append("item %s: %s, the docs say %s" % (n, json.dumps(d, sort_keys=True), json.dumps(want, sort_keys=True)))
        if problems:
            print("; ".join(problems))
            return 1
        print("ok %d items" % len(items))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
