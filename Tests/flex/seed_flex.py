#!/usr/bin/env python3
"""Fills a moto_server CloudWatch Logs group with Flex Gateway Message Logging lines, as a self-managed gateway's
Fluent Bit cloudwatch_logs output would: two replicas (streams), requests interleaved in time, mostly in apitap's
CQ1 layout and some in the layout Cequence's published policy produces, plus the gateway's other logging. Prints
{"group", "requests", "apitap", "cequence", "events"} as JSON.

Usage: seed_flex.py --endpoint http://127.0.0.1:PORT --group NAME [--requests N] [--end-ms EPOCH_MS]
"""
import argparse, datetime, json, os

import boto3


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def line(ts, rid, message, api="orders-api"):
    return "%s [flex-gateway-envoy][info] wasm log message-logging-1.default.%s.default.svc main: [req: %s] [accessLog] %s" % (
        iso(ts), api, rid, message)


def apitap(rid, t, n):
    method, status = [("GET", 200), ("POST", 201), ("PUT", 200), ("DELETE", 204)][n % 4]
    body = '{"order":%d,"note":"a | b=c \\"quoted\\""}' % n if method in ("POST", "PUT") else ""
    req = {"host": "api.example.com", "user-agent": "load/1.0", "x-forwarded-for": "198.51.100.%d" % (n % 250)}
    if body:
        req["content-type"] = "application/json"
    res = {"content-type": "application/json", "server": "envoy"}
    before = ["CQ1 %s req.line %s https HTTP/1.1 /orders/%d?page=%d" % (rid, method, n, n % 7),
              "CQ1 %s req.meta %s 203.0.113.%d:%d 10.0.1.9:8081 18845632" % (rid, iso(t), n % 250, 40000 + n % 20000),
              json.dumps(req, separators=(",", ":")), "CQ1 %s req.body %s" % (rid, body)]
    after = [str(status), json.dumps(res, separators=(",", ":")), "CQ1 %s res.body %s" % (rid, "" if status == 204 else '{"id":%d}' % n)]
    return [(t, line(t, rid, m)) for m in before] + [(t + 40, line(t + 40, rid, m)) for m in after]


def cequence(rid, t, n):
    req = "Request LOG | reqId=%s | Content-Type=NO_CONTENT_TYPE | User-Agent=load/1.0 | Host=pay.example.com | Authorization=NO_AUTHORIZATION | payload=NO_PAYLOAD" % rid
    res = ("Response LOG | reqId=%s | Content-Type=application/json | Content-Length=2 | Content-Encoding=NO_CONTENT_ENCODING"
           " | Transfer-Encoding=NO_TRANSFER_ENCODING | Server=envoy | Date=NO_DATE | Accept=NO_ACCEPT | X-Forwarded-For=NO_X_FORWARDED_FOR"
           " | X-Request-Id=NO_X_REQUEST_ID | User-Agent=NO_USER_AGENT | Host=NO_HOST | Authorization=NO_AUTHORIZATION | payload={}") % rid
    return [(t, line(t, rid, "[cequence-req-headers] {\"host\":\"pay.example.com\"}", api="payments-api")),
            (t, line(t, rid, "cequence-req-full " + req, api="payments-api")),
            (t + 30, line(t + 30, rid, "[cequence-res-full] " + res, api="payments-api"))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--end-ms", type=int, required=True)
    a = p.parse_args()
    logs = boto3.client("logs", endpoint_url=a.endpoint, region_name=a.region,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    streams = {"flex-gw-a/flex-gateway-envoy": [], "flex-gw-b/flex-gateway-envoy": []}
    names = sorted(streams)
    start = a.end_ms - a.requests * 100 - 1000
    counts = {"apitap": 0, "cequence": 0}
    for n in range(a.requests):
        t = start + n * 100
        if n % 10 == 9:
            rid = "c0ffee00-0000-4000-8000-%012d" % n
            events = cequence(rid, t, n)
            counts["cequence"] += 1
        else:
            rid = "5d3c1c2a-0000-4000-8000-%012d" % n
            events = apitap(rid, t, n)
            counts["apitap"] += 1
        streams[names[n % 2]] += events
        if n % 250 == 0:
            streams[names[n % 2]].append((t + 1, "%s [flex-gateway-agent][info] heartbeat" % iso(t + 1)))
    logs.create_log_group(logGroupName=a.group)
    total = 0
    for name, events in streams.items():
        logs.create_log_stream(logGroupName=a.group, logStreamName=name)
        events.sort(key=lambda e: e[0])
        batch = [{"timestamp": ts, "message": m} for ts, m in events]
        for i in range(0, len(batch), 5000):
            logs.put_log_events(logGroupName=a.group, logStreamName=name, logEvents=batch[i:i + 5000])
        total += len(batch)
    print(json.dumps({"group": a.group, "requests": a.requests, "apitap": counts["apitap"], "cequence": counts["cequence"], "events": total}))


if __name__ == "__main__":
    main()
