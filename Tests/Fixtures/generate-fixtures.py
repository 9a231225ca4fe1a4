#!/usr/bin/env python3
# Regenerates the execution-log and access-log fixtures in this directory (deterministic; run from anywhere).
import json, os
OUT = os.path.dirname(os.path.abspath(__file__))
API = "a1b2c3d4e5"
STAGE = "prod"
S1 = "e4da3b7fbbce2345d7772b0674a318d5"
S2 = "1679091c5a880faf6fb5e6087eb1b2dc"
counter = [0]

def ev(stream, ts, rid, text):
    counter[0] += 1
    eid = "%056d" % (ts * 1000 + counter[0])
    return {"logStreamName": stream, "timestamp": ts, "message": "(%s) %s" % (rid, text),
            "ingestionTime": ts + 412, "eventId": eid}

def raw(stream, ts, message):
    counter[0] += 1
    return {"logStreamName": stream, "timestamp": ts, "message": message, "ingestionTime": ts + 300, "eventId": "%056d" % (ts * 1000 + counter[0])}

def trunc(text):
    # CloudWatch keeps 1024 bytes of text after the prefix and appends " [TRUNCATED]".
    b = text.encode()
    assert len(b) > 1024, len(b)
    return b[:1024].decode("utf-8", "ignore") + " [TRUNCATED]"

def write(name, events):
    with open(os.path.join(OUT, name), "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

LAMBDA_ARN = "arn:aws:lambda:eu-west-2:123456789012:function:orders-api/invocations"
ENDPOINT_REQ_HEADERS = trunc(("{x-amzn-lambda-integration-tag=%s, Authorization=****************************************************************************************************************************************************************************************************************************************************************************************************************************************************9a1f3e, X-Amz-Date=20251124T101500Z, x-amzn-apigateway-api-id=%s, X-Amz-Source-Arn=arn:aws:execute-api:eu-west-2:123456789012:%s/prod/POST/orders, Accept=application/json, User-Agent=AmazonAPIGateway_%s, X-Amz-Security-Token=IQoJb3JpZ2luX2VjEHQaCWV1LXdlc3QtMiJHMEUCIQDn8QWgZ1mBxS3Q9bV5ZkM0b7i2YkJm0dT4V3N6Zt1m6gIgU2d1b3Ym5aYq9J1kXG6a3mV2Y1zYQpJ6b1o8nN3O7bUqkQMIzP//////////ARAEGgwxMjM0NTY3ODkwMTIiDN3qR6o7Y5Ww9n0Z5CrlAx5g2m5Zr2kq3S3XbU9wM0fY2Wl1n6f2cR4c4Y3Ug9yq0p6kq3S3XbU9wM0fY2Wl1n6f2cR4c4Y3Ug9yq0p6kq3S3XbU9wM0fY2Wl1n6f2cR4c4Y3Ug9yq0p6kq3S3XbU9wM0fY2Wl1n6f2cR4c4Y3Ug9yq0p6" + "Zm9vYmFyYmF6cXV4" * 12 + ", X-Amz-Content-Sha256=UNSIGNED-PAYLOAD}") % ("req", API, API, API))

def success(stream, t, rid, ext, method, path, query, req_headers, req_body, status, resp_body, resp_headers,
            endpoint_headers, latency=20, trailers=True, order_swap=False, usage_plan=True, pathparams="{}"):
    L = []
    L.append(ev(stream, t, rid, "Extended Request Id: %s" % ext))
    if usage_plan:
        L.append(ev(stream, t, rid, "Verifying Usage Plan for request: %s. API Key: **********************************ab12cd API Stage: %s/%s" % (rid, API, STAGE)))
        L.append(ev(stream, t, rid, "API Key **********************************ab12cd authorized because method '%s %s' requires API Key and API Key is not associated with a Usage Plan for API Stage %s/%s: API Key is not required" % (method, path, API, STAGE)))
        L.append(ev(stream, t, rid, "Usage Plan check succeeded for API Key **********************************ab12cd and API Stage %s/%s" % (API, STAGE)))
    L.append(ev(stream, t, rid, "Starting execution for request: %s" % rid))
    L.append(ev(stream, t, rid, "HTTP Method: %s, Resource Path: %s" % (method, path)))
    L.append(ev(stream, t, rid, "Method request path: %s" % pathparams))
    L.append(ev(stream, t, rid, "Method request query string: %s" % query))
    L.append(ev(stream, t, rid, "Method request headers: %s" % req_headers))
    L.append(ev(stream, t, rid, "Method request body before transformations: %s" % req_body))
    L.append(ev(stream, t + 1, rid, "Endpoint request URI: https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/%s" % LAMBDA_ARN))
    L.append(ev(stream, t + 1, rid, "Endpoint request headers: %s" % ENDPOINT_REQ_HEADERS))
    L.append(ev(stream, t + 1, rid, "Endpoint request body after transformations: {\"resource\":\"%s\",\"path\":\"%s\",\"httpMethod\":\"%s\"}" % (path, path, method)))
    L.append(ev(stream, t + 1, rid, "Sending request to https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/%s" % LAMBDA_ARN))
    L.append(ev(stream, t + 1 + latency, rid, "Received response. Status: 200, Integration latency: %d ms" % latency))
    eh = ev(stream, t + 1 + latency, rid, "Endpoint response headers: %s" % endpoint_headers)
    eb = ev(stream, t + 1 + latency, rid, "Endpoint response body before transformations: {\"statusCode\":%d,\"body\":\"...\"}" % status)
    L += [eb, eh] if order_swap else [eh, eb]
    L.append(ev(stream, t + 1 + latency, rid, "Method response body after transformations: %s" % resp_body))
    L.append(ev(stream, t + 1 + latency, rid, "Method response headers: %s" % resp_headers))
    L.append(ev(stream, t + 1 + latency, rid, "Successfully completed execution"))
    L.append(ev(stream, t + 1 + latency, rid, "Method completed with status: %d" % status))
    if trailers:
        L.append(ev(stream, t + 1 + latency, rid, "AWS Integration Endpoint RequestId : 57593f79-3ab7-4c1d-9a7e-%012d" % (t % 10**12)))
        L.append(ev(stream, t + 1 + latency, rid, "X-ray Tracing ID : 1-5c755b5d-%024x" % (t)))
    return L

REQ_HEADERS = "{Accept=application/json, text/plain, */*, CloudFront-Forwarded-Proto=https, CloudFront-Is-Desktop-Viewer=true, Content-Type=application/json, Host=api.example.com, User-Agent=Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15, Via=2.0 a3b1c2d4e5f6.cloudfront.net (CloudFront), X-Amz-Cf-Id=Vts2pH6ArPEFcuQ8bqUZ0k5kGm0xkd0E0l0o0N0sYZc6xq8J4B1Q==, X-Amzn-Trace-Id=Root=1-5c755b5d-7d3a6e2b1c4f8a9b0d2e3f4a, x-api-key=**********************************ab12cd, X-Forwarded-For=203.0.113.9, 54.240.1.1, X-Forwarded-Port=443, X-Forwarded-Proto=https}"
ENDPOINT_RESP_HEADERS = "{Date=Mon, 24 Nov 2025 10:15:00 GMT, Content-Type=application/json, Content-Length=52, Connection=keep-alive, x-amzn-RequestId=57593f79-3ab7-4c1d-9a7e-2f0e5c1d7a11, X-Amz-Executed-Version=$LATEST, X-Amzn-Trace-Id=root=1-5c755b5d-7d3a6e2b1c4f8a9b0d2e3f4a;sampled=0}"
RESP_HEADERS = "{X-Amzn-Trace-Id=Root=1-5c755b5d-7d3a6e2b1c4f8a9b0d2e3f4a;Parent=3b1c2d4e5f6a7b8c;Sampled=0, Content-Type=application/json, Cache-Control=no-store}"

T0 = 1764000000000

# 1. a plain successful POST through a Lambda proxy integration, trailers after the end marker
rid = "6b7f3e1a-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
write("rest-200-post-lambda-proxy.ndjson", success(S1, T0, rid, "Vts2pH6ArPEFcuQ=", "POST", "/orders/42", "{limit=10, q=shoes}",
      REQ_HEADERS, '{"sku":"A-100","quantity":2}', 201, '{"orderId":"42","status":"created"}', RESP_HEADERS, ENDPOINT_RESP_HEADERS))

# 2. map parsing hazards
rid = "0f1e2d3c-4b5a-4968-8776-655443322110"
hz_req = "{Accept=application/json, text/plain, */*, Accept-Language=en-GB,en;q=0.9, Cookie=session=abc123; theme=dark, Host=shop.example.com, If-Modified-Since=Tue, 26 Feb 2019 15:29:33 GMT, X-Forwarded-For=198.51.100.23, 70.132.20.1, 54.240.1.1}"
hz_endpoint = "{Date=Tue, 26 Feb 2019 15:29:33 GMT, Content-Type=text/html; charset=UTF-8, Server=nginx, Set-Cookie=AWSALB=xxx; Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/,AWSALBCORS=yyy; Expires=Wed, 12 Oct 2022 13:14:40 GMT; Path=/; SameSite=None; Secure, Cache-Control=private, max-age=0, s-maxage=60, Vary=Accept-Encoding, Origin}"
hz_resp = "{Set-Cookie=sid=42; Path=/, Domain=example.com, Max-Age=3600; HttpOnly, Content-Type=text/html; charset=UTF-8, WWW-Authenticate=Bearer realm=\"shop\", error=\"invalid_token\", X-Amzn-Trace-Id=Root=1-5c755b5d-0a1b2c3d4e5f60718293a4b5;Sampled=1}"
write("rest-map-parsing-hazards.ndjson", success(S1, T0, rid, "Hz9aB1cDeFgHiJk=", "GET", "/catalog/items", "{filter=color=red, sort=price,desc}",
      hz_req, "", 200, "<html><body>ok</body></html>", hz_resp, hz_endpoint, usage_plan=False))

# 3. interleaving: three requests in one stream, one in another, lines alternate; endpoint body before headers in one
A = success(S1, T0, "11111111-1111-4111-8111-111111111111", "IntAAAAAAAAAAAA=", "GET", "/users/1", "{}", REQ_HEADERS.replace("api.example.com", "a.example.com"), "", 200, '{"id":1}', RESP_HEADERS, ENDPOINT_RESP_HEADERS)
B = success(S1, T0 + 2, "22222222-2222-4222-8222-222222222222", "IntBBBBBBBBBBBB=", "PUT", "/users/2", "{}", REQ_HEADERS.replace("api.example.com", "b.example.com"), '{"name":"b"}', 200, '{"id":2}', RESP_HEADERS, ENDPOINT_RESP_HEADERS, order_swap=True)
C = success(S1, T0 + 3, "33333333-3333-4333-8333-333333333333", "IntCCCCCCCCCCCC=", "DELETE", "/users/3", "{}", REQ_HEADERS.replace("api.example.com", "c.example.com"), "", 204, "", RESP_HEADERS, ENDPOINT_RESP_HEADERS, usage_plan=False)
D = success(S2, T0 + 1, "44444444-4444-4444-8444-444444444444", "IntDDDDDDDDDDDD=", "GET", "/users/4", "{}", REQ_HEADERS.replace("api.example.com", "d.example.com"), "", 200, '{"id":4}', RESP_HEADERS, ENDPOINT_RESP_HEADERS)
# Shuffle lines between the first line and the end marker of A (any order is allowed there).
a_mid = A[1:-3]
a_mid = a_mid[::2] + a_mid[1::2]
A = [A[0]] + a_mid + A[-3:]
inter = []
seqs = [A, B, C, D]
idx = [0, 0, 0, 0]
turn = 0
while any(idx[i] < len(seqs[i]) for i in range(4)):
    i = turn % 4
    turn += 1
    if idx[i] < len(seqs[i]):
        take = 1 + (turn % 3)
        inter += seqs[i][idx[i]:idx[i] + take]
        idx[i] += take
write("rest-interleaved-requests.ndjson", inter)

# 4. lines after the end marker: trailers in the same ms, and one trailer arriving after the request was emitted
rid = "55555555-5555-4555-8555-555555555555"
L = success(S1, T0, rid, "LateTrailerXYZ0=", "GET", "/health", "{}", REQ_HEADERS, "", 200, '{"ok":true}', RESP_HEADERS, ENDPOINT_RESP_HEADERS, trailers=False, usage_plan=False)
end_ts = L[-1]["timestamp"]
L.append(ev(S1, end_ts, rid, "AWS Integration Endpoint RequestId : 9d4b5a3e-1111-4c2a-8f00-aaaaaaaaaaaa"))
# another request moves the stream well past the hold margin ...
L += success(S1, end_ts + 5000, "66666666-6666-4666-8666-666666666666", "NextRequest0000=", "GET", "/health", "{}", REQ_HEADERS, "", 200, '{"ok":true}', RESP_HEADERS, ENDPOINT_RESP_HEADERS, usage_plan=False)
# ... and only then the first request's X-ray line arrives (late ingestion); it must not become a transaction
L.append(ev(S1, end_ts, rid, "X-ray Tracing ID : 1-5c755b5d-0123456789abcdef01234567"))
write("rest-lines-after-end-marker.ndjson", L)

# 5. failure flows
def prelude(stream, t, rid, ext, method, path, headers=REQ_HEADERS, body=""):
    return [ev(stream, t, rid, "Extended Request Id: %s" % ext),
            ev(stream, t, rid, "Starting execution for request: %s" % rid),
            ev(stream, t, rid, "HTTP Method: %s, Resource Path: %s" % (method, path)),
            ev(stream, t, rid, "Method request path: {}"),
            ev(stream, t, rid, "Method request query string: {}"),
            ev(stream, t, rid, "Method request headers: %s" % headers),
            ev(stream, t, rid, "Method request body before transformations: %s" % body)]

rid = "77777777-7777-4777-8777-777777777777"
write("rest-429-throttled.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: Thr0ttledAAAAA="),
    ev(S1, T0, rid, "Verifying Usage Plan for request: %s. API Key: **********************************ab12cd API Stage: %s/%s" % (rid, API, STAGE)),
    ev(S1, T0, rid, "Key throttle limit exceeded for RestApi %s, Stage %s, Resource /orders, HttpMethod POST. Limit: 1.00 Burst: 1" % (API, STAGE)),
    ev(S1, T0, rid, "Method completed with status: 429"),
])

rid = "88888888-8888-4888-8888-888888888888"
L = prelude(S1, T0, rid, "LambdaErr000000=", "POST", "/orders", body='{"sku":"A-100"}')
L += [ev(S1, T0 + 1, rid, "Endpoint request URI: https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/%s" % LAMBDA_ARN),
      ev(S1, T0 + 1, rid, "Sending request to https://lambda.eu-west-2.amazonaws.com/2015-03-31/functions/%s" % LAMBDA_ARN),
      ev(S1, T0 + 38, rid, "Received response. Status: 200, Integration latency: 37 ms"),
      ev(S1, T0 + 38, rid, "Endpoint response headers: {Date=Mon, 24 Nov 2025 10:15:00 GMT, Content-Type=application/json, X-Amz-Function-Error=Unhandled}"),
      ev(S1, T0 + 38, rid, "Endpoint response body before transformations: {\"errorMessage\":\"boom\",\"errorType\":\"Error\"}"),
      ev(S1, T0 + 38, rid, "Lambda execution failed with status 200 due to customer function error: boom. Lambda request id: 57593f79-3ab7-4c1d-9a7e-2f0e5c1d7a11"),
      ev(S1, T0 + 38, rid, "Method completed with status: 502")]
write("rest-502-lambda-error.ndjson", L)

rid = "99999999-9999-4999-8999-999999999999"
L = prelude(S1, T0, rid, "Malformed000000=", "GET", "/orders")
L += [ev(S1, T0 + 12, rid, "Received response. Status: 200, Integration latency: 11 ms"),
      ev(S1, T0 + 12, rid, "Endpoint response body before transformations: hello"),
      ev(S1, T0 + 12, rid, "Execution failed due to configuration error: Malformed Lambda proxy response"),
      ev(S1, T0 + 12, rid, "Method completed with status: 502")]
write("rest-502-malformed-proxy-response.ndjson", L)

rid = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
L = prelude(S1, T0, rid, "Timeout00000000=", "GET", "/reports/slow")
L += [ev(S1, T0 + 1, rid, "Sending request to https://backend.example.com/reports/slow"),
      ev(S1, T0 + 29001, rid, "Execution failed due to a timeout error"),
      ev(S1, T0 + 29001, rid, "Method completed with status: 504")]
write("rest-504-timeout.ndjson", L)

# Constructed, and unlike the real logs in real-rest-authorizer-unauthorized-401.ndjson it ends both requests with a
# `Method completed with status` line: the variant where the logged status confirms the inferred one.
rid = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
rid2 = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
write("rest-authorizer-denied.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: AuthDeny401AAAA="),
    ev(S1, T0, rid, "Starting authorizer: 3k9x1z for request: %s" % rid),
    ev(S1, T0, rid, "Incoming identity: **************************ab12cd"),
    ev(S1, T0 + 5, rid, "Unauthorized request: %s" % rid),
    ev(S1, T0 + 5, rid, "Method completed with status: 401"),
    ev(S1, T0 + 10, rid2, "Extended Request Id: AuthDeny403BBBB="),
    ev(S1, T0 + 10, rid2, "Starting authorizer: 3k9x1z for request: %s" % rid2),
    ev(S1, T0 + 10, rid2, "Incoming identity: **************************cd34ef"),
    ev(S1, T0 + 14, rid2, "Using valid authorizer policy for principal: **************************cd34ef"),
    ev(S1, T0 + 14, rid2, "Successfully completed authorizer execution"),
    ev(S1, T0 + 14, rid2, "Execution failed due to an authorizer error: User is not authorized to access this resource with an explicit deny"),
    ev(S1, T0 + 14, rid2, "Method completed with status: 403"),
])

# 6. multi-line bodies (embedded newlines inside one event)
rid = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
req_body = '{\n  "sku": "A-100",\n  "note": "line one\\nline two"\n}'
resp_body = '<?xml version="1.0"?>\n<order>\n  <id>42</id>\n</order>'
write("rest-multiline-body.ndjson", success(S1, T0, rid, "MultiLine000000=", "POST", "/orders", "{}", REQ_HEADERS, req_body, 200,
      resp_body, "{Content-Type=application/xml}", ENDPOINT_RESP_HEADERS, usage_plan=False))

# 7. truncated bodies, one per content type
def big_json():
    return '{"items":[' + ",".join('{"sku":"SKU-%04d","name":"Widget %d","price":%d.99}' % (i, i, i) for i in range(40)) + "]}"
def big_xml():
    return '<?xml version="1.0"?><orders>' + "".join("<order><id>%d</id><sku>SKU-%04d</sku></order>" % (i, i) for i in range(40)) + "</orders>"
def big_soap():
    return '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><GetOrdersResponse>' + "".join("<order><id>%d</id></order>" % i for i in range(60)) + "</GetOrdersResponse></soapenv:Body></soapenv:Envelope>"
def big_form():
    return "&".join("field%d=value%d" % (i, i) for i in range(120))
def big_html():
    return "<!DOCTYPE html><html><head><title>Orders</title></head><body><table>" + "".join("<tr><td>%d</td><td>Widget</td></tr>" % i for i in range(60)) + "</table></body></html>"
def big_text():
    return "\n".join("line %d of a long plain text report" % i for i in range(60))
cases = [("json", "application/json", big_json()), ("xml", "application/xml", big_xml()),
         ("soap", "text/xml; charset=utf-8", big_soap()), ("form", "application/x-www-form-urlencoded", big_form()),
         ("html", "text/html; charset=UTF-8", big_html()), ("text", "text/plain", big_text()),
         ("sniffed", None, big_json())]
L = []
for n, (kind, ctype, body) in enumerate(cases):
    rid = "eeeeeeee-eeee-4eee-8eee-%012d" % n
    t = T0 + n * 100
    rh = "{Content-Type=%s, X-Amzn-Trace-Id=Root=1-5c755b5d-0a1b2c3d4e5f60718293a4b5}" % ctype if ctype else "{X-Amzn-Trace-Id=Root=1-5c755b5d-0a1b2c3d4e5f60718293a4b5}"
    L += success(S1, t, rid, "Trunc%s%s=" % (kind.capitalize(), "0" * (10 - len(kind))), "GET", "/export/%s" % kind, "{}", REQ_HEADERS, "", 200,
                 trunc(body), rh, "{Date=Mon, 24 Nov 2025 10:15:00 GMT}" if ctype else "{Date=Mon, 24 Nov 2025 10:15:00 GMT}", usage_plan=False)
# a truncated request body (JSON) and a truncated request header map
rid = "eeeeeeee-eeee-4eee-8eee-999999999999"
long_headers = "{" + ", ".join("X-Custom-Header-%02d=%s" % (i, "v" * 30) for i in range(30)) + ", Host=late.example.com, X-Forwarded-For=192.0.2.1}"
L += success(S1, T0 + 5000, rid, "TruncRequest000=", "POST", "/import", "{}", trunc(long_headers), trunc(big_json()), 202,
             '{"accepted":true}', RESP_HEADERS, ENDPOINT_RESP_HEADERS, usage_plan=False)
write("rest-truncated-bodies.ndjson", L)

# 8. incomplete request carried across two windows
rid = "ffffffff-ffff-4fff-8fff-ffffffffffff"
full = success(S1, T0, rid, "CarriedAcross00=", "PATCH", "/carts/7", "{expand=items}", REQ_HEADERS, '{"qty":3}', 200,
               '{"cart":7,"qty":3}', RESP_HEADERS, ENDPOINT_RESP_HEADERS, latency=900)
cut = 10
# a second request that is still open at the end of window 2: it must come out as incomplete at end of input
rid2 = "f0f0f0f0-f0f0-4f0f-8f0f-f0f0f0f0f0f0"
other = prelude(S2, T0 + 950, rid2, "NeverFinished00=", "GET", "/carts/8")
write("rest-incomplete-window-1.ndjson", full[:cut])
write("rest-incomplete-window-2.ndjson", full[cut:] + other)

# 9. unparseable lines mixed with a good request
rid = "12121212-1212-4121-8121-121212121212"
L = [raw(S1, T0, "Some exporter banner without a request id"), raw(S1, T0, "(not a request id prefix"),
     raw(S1, T0, "")]
L += success(S1, T0 + 1, rid, "Unparse00000000=", "GET", "/ping", "{}", "{Host=api.example.com}", "", 200, "pong", "{Content-Type=text/plain}", "{}", usage_plan=False, trailers=False)
write("rest-unparseable-lines.ndjson", L)

# 10. filters: static files and content types
L = []
filt = [("/assets/site.css", "text/css"), ("/img/logo.PNG", "image/png"), ("/api/report", "application/pdf"),
        ("/api/items", "application/json; charset=utf-8"), ("/api/page", "text/html"), ("/api/soap", "application/soap+xml"),
        ("/api/download", "application/octet-stream")]
for n, (path, ctype) in enumerate(filt):
    rid = "abababab-abab-4bab-8bab-%012d" % n
    L += success(S1, T0 + n * 10, rid, "Filter%010d=" % n, "GET", path, "{}", REQ_HEADERS, "", 200, "x",
                 "{Content-Type=%s}" % ctype, "{Date=Mon, 24 Nov 2025 10:15:00 GMT}", usage_plan=False, trailers=False)
# a failure flow has no response content type and is kept
rid = "abababab-abab-4bab-8bab-999999999999"
L += [ev(S1, T0 + 100, rid, "Extended Request Id: FilterThrottle="),
      ev(S1, T0 + 100, rid, "HTTP Method: GET, Resource Path: /api/items"),
      ev(S1, T0 + 100, rid, "Key throttle limit exceeded for RestApi %s, Stage %s, Resource /api/items, HttpMethod GET. Limit: 1.00 Burst: 1" % (API, STAGE)),
      ev(S1, T0 + 100, rid, "Method completed with status: 429")]
write("rest-filter-content-types-and-static-files.ndjson", L)

# 11. HTTP API access log records: console default format plus extra variables, "-" values and non-JSON lines
HS = "3c59dc048e8850243be8079a5c74d079"
recs = [
    {"requestId": "Vx1aBcDeFgHiJkA=", "ip": "203.0.113.9", "requestTime": "24/Nov/2025:10:15:00 +0000", "httpMethod": "GET", "routeKey": "GET /pets/{id}", "status": "200", "protocol": "HTTP/1.1", "responseLength": "87"},
    {"requestId": "Vx1aBcDeFgHiJkB=", "extendedRequestId": "Vx1aBcDeFgHiJkB=", "ip": "198.51.100.23", "requestTime": "24/Nov/2025:10:15:01 +0000", "requestTimeEpoch": "1764000001234", "httpMethod": "POST", "routeKey": "POST /pets", "path": "/pets", "status": "201", "protocol": "HTTP/2.0", "responseLength": "15", "domainName": "pets.example.com", "integrationLatency": "31", "responseLatency": "35", "apiId": "k8s9t0u1v2", "stage": "$default", "accountId": "123456789012"},
    {"requestId": "Vx1aBcDeFgHiJkC=", "ip": "-", "requestTime": "-", "httpMethod": "GET", "routeKey": "$default", "status": "404", "protocol": "-", "responseLength": "-", "path": "-"},
]
L = [raw(HS, T0 + i * 1000, json.dumps(r, separators=(",", ":"))) for i, r in enumerate(recs)]
L.insert(1, raw(HS, T0 + 500, '203.0.113.9 - - [24/Nov/2025:10:15:00 +0000] "GET /pets/1 HTTP/1.1" 200 87'))
L.append(raw(HS, T0 + 5000, '{"requestId": "truncated-json'))
write("http-api-access-log.ndjson", L)

# 12. Gateway-terminal flows. Message texts marked REAL are verbatim from published logs (see SOURCES.md); the
# request ids and surrounding lines of the others are constructed. None of these requests logs an end marker unless
# said so.
import calendar, time

def real(stream, ts, rid, text, eid=None):
    e = ev(stream, ts, rid, text)
    if eid: e["eventId"] = eid
    return e

def uncounted(stream, ts, rid, text):
    # A line added to a fixture after the others were generated: its own event id, so later fixtures keep theirs.
    e = {"logStreamName": stream, "timestamp": ts, "message": "(%s) %s" % (rid, text), "ingestionTime": ts + 412}
    e["eventId"] = "%056d" % (ts * 10000 + 9999)
    return e

def utc(text, fmt="%a %b %d %H:%M:%S %Y"):
    return calendar.timegm(time.strptime(text, fmt)) * 1000

# REAL: API Gateway console test log of a REQUEST authorizer answering "Unauthorized" (no end marker follows).
t = utc("Thu Sep 05 04:56:39 2019")
rid = "29d2b4df-26da-4cae-aeca-f9ef6c338d88"
write("real-rest-authorizer-unauthorized-401.ndjson", [
    # The extended id is the one the same log shows inside the authorizer's request body.
    real(S1, t, rid, "Extended Request Id: fhxNLG5IywMFrSw="),
    real(S1, t, rid, "Starting authorizer: 52u008 for request: %s" % rid),
    real(S1, t, rid, "Incoming identity: {method.request.header.Hash=********aaaaaa}"),
    real(S1, t, rid, "Endpoint request URI: https://lambda.ap-southeast-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:ap-southeast-2:654888109795:function:dev-HashMACSHM-Authorizer/invocations"),
    # The authorizer's event (cut at 1 KiB as published): its methodArn and path name the request's method and path.
    uncounted(S1, t, rid, 'Endpoint request body after transformations: {"type":"REQUEST","methodArn":"arn:aws:execute-api:ap-southeast-2:654888109795:ja8pdvfjf6/ESTestInvoke-stage/GET/","resource":"/","path":"/","httpMethod":"GET","headers":{"Authorizer":"bbbbbbbbbbbb","Hash":"aaaaaaaaaaaaaa"},"multiValueHeaders":{"Authorizer":["bbbbbbbbbbbb"],"Hash":["aaaaaaaaaaaaaa"]},"queryStringParameters":{},"multiValueQueryStringParameters":{},"pathParameters":{},"stageVariables":{},"requestContext":{"resourceId":"test-invoke-resource-id","resourcePath":"/","httpMethod":"GET","extendedRequestId":"fhxNLG5IywMFrSw=","requestTime":"05/Sep/2019:04:56:39 +0000","path":"/","accountId":"654888109795","protocol":"HTTP/1.1","stage":"test-invoke-stage","domainPrefix":"testPrefix","requestTimeEpoch":1567659399581,"requestId":"29d2b4df-26da-4cae-aeca-f9ef6c338d88","identity":{"cognitoIdentityPoolId":null,"cognitoIdentityId":null,"apiKey":"test-invoke-api-key","principalOrgId":null,"cognitoAuthenticationType":null,"userArn":"arn:aws:iam::654888109795:user/an [TRUNCATED]'),
    real(S1, t, rid, "Sending request to https://lambda.ap-southeast-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:ap-southeast-2:654888109795:function:dev-HashMACSHM-Authorizer/invocations"),
    real(S1, t, rid, "Unauthorized request: %s" % rid),
    real(S1, t, rid, "Unauthorized"),
])

# REAL: authorizer misconfiguration, first with the gateway-response line that names the status (WebSocket API
# execution log), then (REAL text, constructed request id) the console form that ends in the exception name.
t = 1593704071881  # 2020-07-02T11:34:31.881-04:00
rid = "PDS1PEC4oAMFpyA="
L = [real(S1, t, rid, "Execution failed due to configuration error: Invalid permissions on Lambda function"),
     real(S1, t + 1, rid, "Execution failed due to configuration error: Authorizer error"),
     real(S1, t + 1, rid, "Gateway response type: AUTHORIZER_CONFIGURATION_ERROR with status code: 500")]
t = utc("Wed Jun 07 17:58:56 2023")
rid = "0c8e2a4b-6f1d-4e3a-9b5c-7d2e1f0a3b4c"
L += [real(S1, t, rid, "Execution failed due to configuration error: API Gateway does not have permission to assume the provided role arn:aws:iam::770646514888:role/lambda_execution_role_Authorize-Registrations-Lambda"),
      real(S1, t, rid, "Execution failed due to configuration error: Authorizer error"),
      real(S1, t, rid, "AuthorizerConfigurationException")]
write("real-rest-authorizer-configuration-error-500.ndjson", L)

# REAL: a usage-plan key throttle, events exactly as published (ids, timestamps, stream); the end marker follows.
S_REAL = "072b030ba126b2f4b2374f342be9ed44"
rid = "4f3e3b0f-39db-11e9-9c2e-5bd7c2de5998"
write("real-rest-key-throttle-429.ndjson", [
    real(S_REAL, 1551194970161, rid, "Extended Request Id: Vts2FFmArPEFh8g=", "34592803782802773986954514236420494137821591878455918592"),
    real(S_REAL, 1551194970161, rid, "Verifying Usage Plan for request: %s. API Key:  API Stage: uwe3g5jm54/Prod" % rid, "34592803782802773986954514236420494137821591878455918593"),
    real(S_REAL, 1551194970162, rid, "Key throttle limit exceeded for RestApi uwe3g5jm54, Stage Prod, Resource k0w8mc, HttpMethod POST. Limit: 1.00 Burst: 1", "34592803782825074732153044859562029856094240239961899010"),
    real(S_REAL, 1551194970162, rid, "Method completed with status: 429", "34592803782825074732153044859562029856094240239961899011"),
])

# Constructed from the real line above: the same throttle without its end marker.
rid = "4f3e3b0f-39db-11e9-9c2e-000000000429"
write("rest-key-throttle-429-without-end-marker.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: Thr0ttledNoEnd="),
    ev(S1, T0, rid, "Key throttle limit exceeded for RestApi %s, Stage %s, Resource k0w8mc, HttpMethod POST. Limit: 1.00 Burst: 1" % (API, STAGE)),
])

# REAL validation message text (console test log); the request around it is constructed. The second request logs
# the failure before its `HTTP Method` line (same millisecond): it must still get its method and path.
VALIDATION = 'Request body does not match model schema for content type application/json: [object has missing required properties (["email","password","repeatPassword"])]'
rid = "c0ffee00-0000-4000-8000-000000000400"
L = prelude(S1, T0, rid, "Validation400AAA=", "POST", "/users", body='{"firstName":"Ada","lastName":"Lovelace"}')
L.append(ev(S1, T0 + 1, rid, VALIDATION))
rid = "c0ffee00-0000-4000-8000-000000000401"
L += [ev(S1, T0 + 20, rid, "Extended Request Id: Validation400BBB="),
      ev(S1, T0 + 20, rid, VALIDATION),
      ev(S1, T0 + 20, rid, "Starting execution for request: %s" % rid),
      ev(S1, T0 + 20, rid, "HTTP Method: POST, Resource Path: /users")]
write("rest-request-validation-400.ndjson", L)

# REAL message text (quoted from execution logs by its author, who elided the masked key); request constructed.
rid = "c0ffee00-0000-4000-8000-000000000403"
write("rest-api-key-not-authorized-403.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: ApiKey403AAAAA="),
    ev(S1, T0, rid, "Verifying Usage Plan for request: %s. API Key: **********************************ab12cd API Stage: zsuvlqr7nb/prod" % rid),
    ev(S1, T0, rid, "API Key **********************************ab12cd not authorized because method 'GET /' requires API Key and API Key is not associated with a Usage Plan for API Stage zsuvlqr7nb/prod: No Usage Plan found for key and API Stage"),
])

# Constructed log lines around REAL response messages: a resource-policy deny and a Lambda authorizer's explicit
# deny (the authorizer lines before it are REAL, from a console test log).
rid = "c0ffee00-0000-4000-8000-000000000413"
rid2 = "c0ffee00-0000-4000-8000-000000000423"
write("rest-policy-and-authorizer-deny-403.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: Policy403AAAAA="),
    ev(S1, T0, rid, "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********3458:zr8nirlpz3/dev/GET/bookmarks/e0a043d2-f6f9-48c0-82b6-8928bd09093b with an explicit deny"),
    ev(S1, T0 + 10, rid2, "Extended Request Id: AuthzDeny403AAA="),
    ev(S1, T0 + 10, rid2, "Starting authorizer: 2egbc3 for request: %s" % rid2),
    ev(S1, T0 + 12, rid2, 'Authorizer result body before parsing: {"principalId":"","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Deny","Resource":["arn:aws:execute-api:us-east-1:989972760655:qyt4c7jmsd/null/*/*"]}]}}'),
    ev(S1, T0 + 12, rid2, "Using valid authorizer policy for principal: "),
    ev(S1, T0 + 12, rid2, "Successfully completed authorizer execution"),
    ev(S1, T0 + 12, rid2, "User is not authorized to access this resource with an explicit deny"),
])

# Constructed: no published execution-log text for a WAF block was found; the line uses the REAL
# `Gateway response type: X with status code: N` form with the WAF_FILTERED response type.
rid = "c0ffee00-0000-4000-8000-000000000433"
write("rest-waf-filtered-403.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: Waf403AAAAAAAA="),
    ev(S1, T0, rid, "Gateway response type: WAF_FILTERED with status code: 403"),
])

# X-ray ids: the bare form is REAL (same published log as the 200 fixture's shape); the Root= form is constructed.
L = success(S1, T0, "c0ffee00-0000-4000-8000-00000000a001", "XrayBare0000000=", "GET", "/a", "{}", REQ_HEADERS, "", 200, "ok",
            "{Content-Type=text/plain}", "{Date=Mon, 24 Nov 2025 10:15:00 GMT}", usage_plan=False, trailers=False)
L.append(ev(S1, T0, "c0ffee00-0000-4000-8000-00000000a001", "X-ray Tracing ID : 1-5c755b5d-07b29b94e632d3da19d88789"))
L += success(S1, T0 + 10, "c0ffee00-0000-4000-8000-00000000a002", "XrayRoot0000000=", "GET", "/b", "{}", REQ_HEADERS, "", 200, "ok",
             "{Content-Type=text/plain}", "{Date=Mon, 24 Nov 2025 10:15:00 GMT}", usage_plan=False, trailers=False)
L.append(ev(S1, T0 + 10, "c0ffee00-0000-4000-8000-00000000a002", "X-ray Tracing ID : Root=1-5c755b5d-07b29b94e632d3da19d88789;Parent=61e6466ca210cdf8;Sampled=1"))
write("rest-xray-trace-id-forms.ndjson", L)
# REAL: a stage execution log (2017) of a request through a TOKEN authorizer, events in published order with their
# published timestamps; the stream name is constructed (not published) and long header/identity lines are left out.
# The authorizer's event names GET /user_info; the usage-plan line names the method resource `ANY /{resource+}`; the
# `HTTP Method` line must win over both.
rid = "cf101403-4a17-11e7-935f-35dfc4618b7d"
t = calendar.timegm(time.strptime("2017-06-05T17:52:57", "%Y-%m-%dT%H:%M:%S")) * 1000
TOKEN_EVENT = 'Endpoint request body after transformations: {"type":"TOKEN","authorizationToken":"24u62kim5mn0slhwigdt7v4ybkwef5 eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE0OTY2ODY5NzYsIm9wYXF1ZV91c2VyX2lkIjoiVWtvVEl3UWlaWnN4MDNTbFU5dF95IiwiY2hhbm5lbF9pZCI6IjcyMzY2OTIiLCJyb2xlIjoidmlld2VyIiwicHVic3ViX3Blcm1zIjp7Imxpc3RlbiI6WyJicm9hZGNhc3QiLCJ3aGlzcGVyLVVrb1RJd1FpWlpzeDAzU2xVOXRfeSJdfX0.V6iFHSvV2t6zJ8GysXqSR4c7lRrL0OR2MG7mDI1BUdE","methodArn":"arn:aws:execute-api:us-west-2:919586034543:oo8kadh853/Test/GET/user_info"}'
S_TOKEN = "5f93f983524def3dca464469d2cf9f3e"
write("real-rest-token-authorizer-200.ndjson", [
    real(S_TOKEN, t + 673, rid, "Starting authorizer: elkw5b for request: %s" % rid),
    real(S_TOKEN, t + 674, rid, "Endpoint request URI: https://lambda.us-west-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:us-west-2:919586034543:function:ExtensionGatewayAuthorizer/invocations"),
    real(S_TOKEN, t + 674, rid, TOKEN_EVENT),
    real(S_TOKEN, t + 701, rid, "Using valid authorizer policy for principal: **********************************************bkwef5"),
    real(S_TOKEN, t + 701, rid, "Successfully completed authorizer execution"),
    real(S_TOKEN, t + 701, rid, "Verifying Usage Plan for request: %s. API Key:  API Stage: oo8kadh853/Test" % rid),
    real(S_TOKEN, t + 701, rid, "API Key  authorized because method 'ANY /{resource+}' does not require API Key. Request will not contribute to throttle or quota limits"),
    real(S_TOKEN, t + 701, rid, "Usage Plan check succeeded for API Key  and API Stage oo8kadh853/Test"),
    real(S_TOKEN, t + 701, rid, "Starting execution for request: %s" % rid),
    real(S_TOKEN, t + 701, rid, "HTTP Method: GET, Resource Path: /user_info"),
    real(S_TOKEN, t + 701, rid, "Method request path: {resource=user_info}"),
    real(S_TOKEN, t + 701, rid, "Method request query string: {}"),
    real(S_TOKEN, t + 701, rid, "Method request body before transformations:"),
    real(S_TOKEN, t + 702, rid, "Endpoint request URI: https://lambda.us-west-2.amazonaws.com/2015-03-31/functions/arn:aws:lambda:us-west-2:919586034543:function:extension_state/invocations"),
    real(S_TOKEN, t + 738, rid, "Endpoint response headers: {x-amzn-Remapped-Content-Length=0, x-amzn-RequestId=cf154484-4a17-11e7-aa36-15f3676da0c2, Connection=keep-alive, Content-Length=183, Date=Mon, 05 Jun 2017 17:52:57 GMT, X-Amzn-Trace-Id=root=1-59359a79-3f2c1fd185751bfd75aaa3b7;sampled=0, Content-Type=application/json}"),
    real(S_TOKEN, t + 738, rid, 'Method response body after transformations: {"ip_address": "89.64.28.236"}'),
    real(S_TOKEN, t + 738, rid, "Method response headers: {Access-Control-Allow-Origin=*, Access-Control-Allow-Headers=X-Muxy-Token, X-Muxy-Extension-Id, X-Amzn-Trace-Id=sampled=0;root=1-59359a79-3f2c1fd185751bfd75aaa3b7}"),
    real(S_TOKEN, t + 738, rid, "Successfully completed execution"),
    real(S_TOKEN, t + 738, rid, "Method completed with status: 200"),
])

# Constructed around the REAL TOKEN event above: the same authorizer call answered "Unauthorized" (the real 401 form),
# then an event cut at 1 KiB inside its methodArn (a long token), which must name nothing.
rid = "c0ffee00-0000-4000-8000-000000000441"
rid2 = "c0ffee00-0000-4000-8000-000000000442"
LONG_TOKEN_EVENT = trunc('Endpoint request body after transformations: {"type":"TOKEN","authorizationToken":"Bearer ' + "eyJhbGciOiJSUzI1NiJ9" * 48 + '","methodArn":"arn:aws:execute-api:eu-west-2:123456789012:a1b2c3d4e5/prod/DELETE/orders/42"}')
write("rest-token-authorizer-401.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: TokenAuth401AA="),
    ev(S1, T0, rid, "Starting authorizer: elkw5b for request: %s" % rid),
    ev(S1, T0, rid, TOKEN_EVENT),
    ev(S1, T0 + 30, rid, "Unauthorized request: %s" % rid),
    ev(S1, T0 + 100, rid2, "Extended Request Id: TokenAuth401BB="),
    ev(S1, T0 + 100, rid2, "Starting authorizer: elkw5b for request: %s" % rid2),
    ev(S1, T0 + 100, rid2, LONG_TOKEN_EVENT),
    ev(S1, T0 + 130, rid2, "Unauthorized request: %s" % rid2),
])

# Constructed with the REAL usage-plan wording (AWS knowledge center; published stage logs): API-key denials name the
# method resource. A template path stays a template; `ANY` is no method; a Lambda authorizer that ran first names the
# request's own method and path, which win.
rid = "c0ffee00-0000-4000-8000-000000000451"
rid2 = "c0ffee00-0000-4000-8000-000000000452"
rid3 = "c0ffee00-0000-4000-8000-000000000453"
NOT_ASSOCIATED = "requires API Key and API Key is not associated with a Usage Plan for API Stage %s/%s: No Usage Plan found for key and API Stage" % (API, STAGE)
write("rest-usage-plan-method-403.ndjson", [
    ev(S1, T0, rid, "Extended Request Id: KeyTemplate403="),
    ev(S1, T0, rid, "Verifying Usage Plan for request: %s. API Key: **********ab12cd API Stage: %s/%s" % (rid, API, STAGE)),
    ev(S1, T0, rid, "API Key **********ab12cd not authorized because method 'POST /orders/{orderId}' " + NOT_ASSOCIATED),
    ev(S1, T0 + 10, rid2, "Extended Request Id: KeyAnyMethod40="),
    ev(S1, T0 + 10, rid2, "Verifying Usage Plan for request: %s. API Key: **********ab12cd API Stage: %s/%s" % (rid2, API, STAGE)),
    ev(S1, T0 + 10, rid2, "API Key **********ab12cd not authorized because method 'ANY /{proxy+}' " + NOT_ASSOCIATED),
    ev(S1, T0 + 20, rid3, "Extended Request Id: KeyAfterAuthz4="),
    ev(S1, T0 + 20, rid3, "Starting authorizer: 62mgrc for request: %s" % rid3),
    ev(S1, T0 + 20, rid3, 'Endpoint request body after transformations: {"type":"TOKEN","authorizationToken":"Bearer abc.def.ghi","methodArn":"arn:aws:execute-api:%s:123456789012:%s/%s/GET/pets/7"}' % ("eu-west-2", API, STAGE)),
    ev(S1, T0 + 25, rid3, "Successfully completed authorizer execution"),
    ev(S1, T0 + 25, rid3, "Verifying Usage Plan for request: %s. API Key: **********ab12cd API Stage: %s/%s" % (rid3, API, STAGE)),
    ev(S1, T0 + 25, rid3, "API Key **********ab12cd not authorized because method 'GET /pets/{petId}' " + NOT_ASSOCIATED),
])

# Constructed: ordinary requests whose other lines name a different method or path. A mapping template that forwards
# a methodArn to the integration, logged before `HTTP Method` (lines of one request may come in any order), and a
# usage-plan line naming the method resource: the logged `HTTP Method` line is what the request was.
rid = "c0ffee00-0000-4000-8000-000000000461"
L = [ev(S1, T0, rid, "Extended Request Id: NeverReplace01="),
     ev(S1, T0, rid, "API Key **********ab12cd authorized because method 'ANY /{proxy+}' does not require API Key. Request will not contribute to throttle or quota limits"),
     ev(S1, T0, rid, 'Endpoint request body after transformations: {"methodArn":"arn:aws:execute-api:eu-west-2:123456789012:%s/%s/GET/admin","path":"/admin","httpMethod":"GET"}' % (API, STAGE)),
     ev(S1, T0, rid, "Starting execution for request: %s" % rid),
     ev(S1, T0, rid, "HTTP Method: POST, Resource Path: /orders/42"),
     ev(S1, T0 + 5, rid, "Method completed with status: 201")]
L += success(S1, T0 + 20, "c0ffee00-0000-4000-8000-000000000462", "NeverReplace02=", "PUT", "/pets/9", "{}", REQ_HEADERS, '{"name":"Rex"}',
             200, '{"ok":true}', "{Content-Type=application/json}", "{Date=Mon, 24 Nov 2025 10:15:00 GMT}", trailers=False)
write("rest-method-hints-never-replace.ndjson", L)

print("ok")
