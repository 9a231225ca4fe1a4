#!/usr/bin/env python3
# Regenerates the Flex Gateway Message Logging fixtures (flex-*.ndjson): CloudWatch events whose messages are Flex
# lines in apitap's layout and in the layout Cequence's published policy produces (deterministic; run from anywhere).
# What is real and what is constructed is in SOURCES.md.
import datetime, json, os

OUT = os.path.dirname(os.path.abspath(__file__))
BASE = 1777881600000  # 2026-05-04T08:00:00Z
STREAM_A = "flex-gw-7d9f-a/flex-gateway-envoy"
STREAM_B = "flex-gw-7d9f-b/flex-gateway-envoy"
API_ID = "18845632"
counter = [0]

# A PDK policy's own line, as published (mulesoft/pdk-custom-policy-examples, spike/README.md): no [accessLog].
REAL_PDK = ("[flex-gateway-envoy][debug] wasm log ingress-http-spike-v1-0-impl-1.default.ingress-http.default.svc main: "
            "[policy: ingress-http-spike-v1-0-impl-1.default][api: ingress-http.default.svc]"
            "[req: 41dfe989-3ee2-4995-b509-0e740204f7b8] Retries: 0")


def iso(ts):
    return datetime.datetime.fromtimestamp(ts / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts % 1000)


def flex(ts, rid, message, api="orders-api", kind="[accessLog] ", level="info"):
    """The documented Message Logging line: <date> [flex-gateway-envoy][<level>] wasm log <policy>.default.<api>.default.svc main: [req: <id>] [accessLog] <message>."""
    return "%s [flex-gateway-envoy][%s] wasm log message-logging-1.default.%s.default.svc main: [req: %s] %s%s" % (
        iso(ts), level, api, rid, kind, message)


def ev(stream, ts, message):
    counter[0] += 1
    return {"logStreamName": stream, "timestamp": ts, "message": message, "ingestionTime": ts + 250,
            "eventId": "%056d" % (ts * 1000 + counter[0])}


def jmap(pairs):
    return json.dumps(dict(pairs), separators=(",", ":"))


def apitap(rid, t, method, target, req_headers, req_body, status, res_headers, res_body, stream=STREAM_A,
           remote="203.0.113.7:51234", local="10.0.1.9:8081", dt=40, api="orders-api", map_text=None):
    """apitap's policy: Before (req.line, req.meta, the request header map, req.body), After (status, the response
    header map, res.body). Returns (timestamp, stream, message) tuples in log order."""
    before = [
        "CQ1 %s req.line %s https HTTP/1.1 %s" % (rid, method, target),
        "CQ1 %s req.meta %s %s %s %s" % (rid, iso(t), remote, local, API_ID),
        map_text[0] if map_text else jmap(req_headers),
        "CQ1 %s req.body %s" % (rid, req_body),
    ]
    after = [str(status), map_text[1] if map_text else jmap(res_headers), "CQ1 %s res.body %s" % (rid, res_body)]
    return [(t, stream, flex(t, rid, m, api=api)) for m in before] + [(t + dt, stream, flex(t + dt, rid, m, api=api)) for m in after]


def cequence(rid, t, req_map, req_fields, res_fields, stream=STREAM_A, dt=35, categories=True, api="payments-api"):
    """Cequence's three configurations: the request header map, `Request LOG | ...` (Before), `Response LOG | ...` (After)."""
    req_full = "Request LOG | reqId=%s | Content-Type=%s | User-Agent=%s | Host=%s | Authorization=%s | payload=%s" % ((rid,) + req_fields)
    res_full = ("Response LOG | reqId=%s | Content-Type=%s | Content-Length=%s | Content-Encoding=%s | Transfer-Encoding=%s | Server=%s"
                " | Date=%s | Accept=%s | X-Forwarded-For=%s | X-Request-Id=%s | User-Agent=%s | Host=%s | Authorization=%s | payload=%s") % ((rid,) + res_fields)
    lines = [
        (t, ("[cequence-req-headers] " if categories else "") + jmap(req_map)),
        (t, ("cequence-req-full " if categories else "") + req_full),
        (t + dt, ("[cequence-res-full] " if categories else "") + res_full),
    ]
    return [(ts, stream, flex(ts, rid, m, api=api)) for ts, m in lines]


def no_res(rid, ctype="application/json", length="NO_CONTENT_LENGTH", encoding="NO_CONTENT_ENCODING", payload="{}"):
    return (ctype, length, encoding, "NO_TRANSFER_ENCODING", "envoy", "Mon, 04 May 2026 08:00:01 GMT", "NO_ACCEPT",
            "NO_X_FORWARDED_FOR", "NO_X_REQUEST_ID", "NO_USER_AGENT", "NO_HOST", "NO_AUTHORIZATION", payload)


def write(name, lines):
    with open(os.path.join(OUT, name), "w") as f:
        for t, stream, message in lines:
            f.write(json.dumps(ev(stream, t, message), separators=(",", ":")) + "\n")


def interleave(*requests):
    """Merges requests' lines by time (stable: ties keep the given order of requests, then lines), as CloudWatch orders them."""
    tagged = []
    for r, lines in enumerate(requests):
        for i, (t, s, m) in enumerate(lines):
            tagged.append((t, r, i, s, m))
    tagged.sort(key=lambda x: (x[0], x[1], x[2]))
    return [(t, s, m) for t, _, _, s, m in tagged]


JSON_REQ = [("host", "api.example.com"), ("user-agent", "curl/8.5.0"), ("accept", "application/json"),
            ("x-forwarded-for", "198.51.100.23, 10.0.0.5")]
JSON_RES = [("content-type", "application/json"), ("server", "envoy"), ("x-envoy-upstream-service-time", "12")]

R1, R2, R3 = "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0001", "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0002", "5d3c1c2a-0d6e-4c41-9a4e-8f3b1d2a0003"


def apitap_fixtures():
    t = BASE
    r1 = apitap(R1, t, "GET", "/orders?status=open&flag&q=a%20b", JSON_REQ, "", 200, JSON_RES, '{"orders":[{"id":42}]}')
    r2 = apitap(R2, t + 5, "POST", "/orders", JSON_REQ + [("content-type", "application/json")], '{"item":"book","qty":2}',
                201, JSON_RES + [("location", "/orders/43")], '{"id":43}', stream=STREAM_B, remote="[2001:db8::7]:40000")
    r3 = apitap(R3, t + 10, "DELETE", "/orders/42", JSON_REQ, "", 204, [("server", "envoy")], "", dt=20)
    agent = [(t + 12, STREAM_A, "%s [flex-gateway-agent][info] connected to the control plane" % iso(t + 12))]
    write("flex-apitap-interleaved.ndjson", interleave(r1, r2, r3, agent))

    # The response's lines come before the request's (written to the log in another order than they happened).
    r4 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000004", t + 100, "PUT", "/orders/7", JSON_REQ + [("content-type", "application/json")],
                '{"qty":3}', 200, JSON_RES, '{"id":7,"qty":3}')
    write("flex-apitap-response-first.ndjson", r4[4:] + r4[:4])

    # Bodies that hold every separator both layouts use, a line break inside one record, and one split into records.
    tricky = 'a | payload=x | Content-Type=text/plain\nCQ1 9b2f0e11 res.status 500 [req: 00000000] [accessLog] {"k=v, x":"y"}'
    r5 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000005", t + 200, "POST", "/notes", JSON_REQ + [("content-type", "text/plain")],
                tricky, 201, [("content-type", "text/plain")], "ok | CQ1 x res.body y")
    split_body = ["line one of three", "line two: [not a prefix]", "line three"]
    r6 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000006", t + 300, "POST", "/notes", JSON_REQ + [("content-type", "text/plain")],
                split_body[0], 200, [("content-type", "text/plain")], "stored")
    # Flex wrote the body's line breaks as record breaks: the continuation records carry no prefix.
    r6 = r6[:4] + [(t + 300, STREAM_A, split_body[1]), (t + 300, STREAM_A, split_body[2])] + r6[4:]
    write("flex-apitap-separators-newlines.ndjson", r5 + r6)

    # Bodies cut at the entry limit: the message is 30,000 bytes long and ends mid-document.
    big = '{"items":[' + ",".join('{"sku":"SKU-%05d","qty":%d}' % (i, i % 7) for i in range(2000)) + "]}"
    r7 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000007", t + 400, "POST", "/bulk", JSON_REQ + [("content-type", "application/json")],
                big, 200, [("content-type", "text/html; charset=utf-8")], "<html><body>" + "<p>row</p>" * 4000 + "</body></html>")
    cut = []
    for ts, s, m in r7:
        if " req.body " in m or " res.body " in m:
            prefix_len = len(m) - len(m.split("] [accessLog] ", 1)[1])
            m = m[:prefix_len + 30000]
        cut.append((ts, s, m))
    write("flex-apitap-cut-30kb.ndjson", cut)

    # A content-encoded response: Flex logs its body blank.
    r8 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000008", t + 500, "GET", "/reports/1", JSON_REQ + [("accept-encoding", "gzip")], "",
                200, JSON_RES + [("content-encoding", "gzip")], "")
    write("flex-apitap-content-encoded.ndjson", r8)

    # A request whose response never comes.
    r9 = apitap("9b2f0e11-2b1c-4d1e-8e0f-000000000009", t + 600, "GET", "/slow", JSON_REQ, "", 0, [], "")
    write("flex-apitap-no-response.ndjson", r9[:4])

    # Lines that are not ours: another item's map under its own category, a field a newer policy might add, a PDK
    # policy's runtime line (real), a runtime line of Message Logging itself, the agent; and one request of ours.
    r10 = "9b2f0e11-2b1c-4d1e-8e0f-000000000010"
    r10_lines = apitap(r10, t + 700, "GET", "/health", JSON_REQ, "", 200, JSON_RES, '{"up":true}')
    others = [
        (t + 700, STREAM_A, flex(t + 700, r10, "[debug-headers] " + jmap(JSON_REQ))),
        (t + 700, STREAM_A, flex(t + 700, r10, "CQ1 %s res.trailers grpc-status=0" % r10)),
        (t + 700, STREAM_A, REAL_PDK),
        (t + 700, STREAM_A, flex(t + 700, r10, "policy applied", kind="")),
        (t + 701, STREAM_A, "%s [flex-gateway-fluent][warn] [output:cloudwatch_logs:cw.0] retrying" % iso(t + 701)),
    ]
    write("flex-apitap-unknown-categories.ndjson", interleave(r10_lines, others))

    # Header maps in the `{name=value, ...}` rendering, categories printed, and Fluent Bit JSON records.
    r11 = "9b2f0e11-2b1c-4d1e-8e0f-000000000011"
    maps = ("[CQ1.req.headers] {host=api.example.com, accept=application/json, text/plain, */*, date=Mon, 04 May 2026 08:00:00 GMT}",
            "[CQ1.res.headers] {content-type=application/json, set-cookie=a=1; Expires=Tue, 05 May 2026 08:00:00 GMT; Path=/}")
    lines = apitap(r11, t + 800, "GET", "/catalog?page=2", None, "", 200, None, '{"page":2}', map_text=maps)
    lines[4] = (lines[4][0], lines[4][1], lines[4][2].replace("[accessLog] 200", "[accessLog] CQ1.res.status 200"))
    records = [(ts, s, json.dumps({"date": iso(ts), "logger": "flex-gateway-envoy", "level": "info", "kind": "accessLog", "log": m},
                                  separators=(",", ":"))) for ts, s, m in lines]
    write("flex-apitap-map-form-fluentbit.ndjson", records)


def cequence_fixtures():
    t = BASE + 10_000
    ra, rb = "c0ffee00-1111-4aaa-8bbb-00000000000a", "c0ffee00-1111-4aaa-8bbb-00000000000b"
    a_map = [(":method", "POST"), (":path", "/v1/pay?x=1"), (":authority", "pay.example.com"), (":scheme", "https"),
             ("content-type", "application/json"), ("user-agent", "curl/8.5.0"), ("authorization", "Bearer abc.def")]
    b_map = [("host", "pay.example.com"), ("accept", "*/*")]
    a = cequence(ra, t, a_map, ("application/json", "curl/8.5.0", "pay.example.com", "Bearer abc.def", '{"amount":10}'),
                 no_res(ra, length="12", payload='{"ok":true}'))
    b = cequence(rb, t + 3, b_map, ("NO_CONTENT_TYPE", "HTTPie/3.2", "pay.example.com", "NO_AUTHORIZATION", "NO_PAYLOAD"),
                 no_res(rb, ctype="text/plain", payload="pong"), stream=STREAM_B, categories=False)
    write("flex-cequence-interleaved.ndjson", interleave(a, b))

    rc = "c0ffee00-1111-4aaa-8bbb-00000000000c"
    c = cequence(rc, t + 100, a_map, ("application/json", "curl/8.5.0", "pay.example.com", "NO_AUTHORIZATION", '{"amount":5}'),
                 no_res(rc, payload='{"ok":false}'))
    write("flex-cequence-response-first.ndjson", c[2:] + c[:2])

    rd = "c0ffee00-1111-4aaa-8bbb-00000000000d"
    d = cequence(rd, t + 200, a_map, ("text/plain", "agent | v2 | x=y", "pay.example.com", "NO_AUTHORIZATION",
                                      "x | Content-Type=a | payload=b\nsecond line | reqId=zzz"),
                 no_res(rd, ctype="text/plain", payload="done | Server=x"))
    write("flex-cequence-separators-newlines.ndjson", d)

    re_ = "c0ffee00-1111-4aaa-8bbb-00000000000e"
    big = '{"rows":[' + ",".join('{"n":%d,"v":"%s"}' % (i, "x" * 20) for i in range(2000)) + "]}"
    e = cequence(re_, t + 300, a_map, ("application/json", "curl/8.5.0", "pay.example.com", "NO_AUTHORIZATION", big),
                 no_res(re_, payload='{"ok":true}'))
    e[1] = (e[1][0], e[1][1], e[1][2][:len(e[1][2]) - len(e[1][2].split("] [accessLog] ", 1)[1]) + 30000])
    write("flex-cequence-cut-30kb.ndjson", e)

    rf = "c0ffee00-1111-4aaa-8bbb-00000000000f"
    f = cequence(rf, t + 400, a_map, ("application/json", "curl/8.5.0", "pay.example.com", "NO_AUTHORIZATION", '{"q":1}'),
                 no_res(rf, encoding="gzip", payload=""))
    write("flex-cequence-content-encoded.ndjson", f)

    rg = "c0ffee00-1111-4aaa-8bbb-000000000010"
    g = cequence(rg, t + 500, a_map, ("application/json", "curl/8.5.0", "pay.example.com", "NO_AUTHORIZATION", '{"q":2}'), no_res(rg))
    write("flex-cequence-no-response.ndjson", g[:2])

    rh = "c0ffee00-1111-4aaa-8bbb-000000000011"
    h = cequence(rh, t + 600, b_map, ("NO_CONTENT_TYPE", "curl/8.5.0", "pay.example.com", "NO_AUTHORIZATION", "NO_PAYLOAD"),
                 no_res(rh, payload="NO_PAYLOAD"))
    others = [
        (t + 600, STREAM_A, flex(t + 600, rh, "[audit-trail] " + jmap(b_map))),
        (t + 600, STREAM_A, flex(t + 600, rh, "[cequence-req-debug] 200")),
        (t + 600, STREAM_A, REAL_PDK),
    ]
    write("flex-cequence-unknown-categories.ndjson", interleave(h, others))


if __name__ == "__main__":
    apitap_fixtures()
    cequence_fixtures()
