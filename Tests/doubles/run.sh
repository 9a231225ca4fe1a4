#!/usr/bin/env bash
# Tests of the strict UAP Edge double (Tests/Support/uap_edge_double.py) itself: curl against its rules, so that
# apitap's tests can trust its answers. Token endpoint, batch and single posts, every refusal, gzip, injected faults.
# Prints "ok - ..." / "not ok - ..." lines and ends with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/apitap-doubles-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

double_py="$root/Tests/Support/uap_edge_double.py"
schema="$root/docs/edge-transaction.schema.json"
token_path=/auth/realms/cequence/protocol/openid-connect/token
client_id=doubles-client
client_secret='doubles-s3cret+/=value'
port=0

# start_double NAME ARGS...: starts a double (records in $work/NAME.ndjson, log in $work/NAME.log) and sets port.
# Runs in this shell (never in $(...)), so that its PID reaches the cleanup list.
start_double() {
  local name=$1 p
  shift
  p=$(free_port)
  : >"$work/$name.ndjson"
  python3 "$double_py" --port "$p" --cert "$work/server.pem" --key "$work/server.key" --schema "$schema" \
    --records "$work/$name.ndjson" --client-id "$client_id" --client-secret "$client_secret" "$@" \
    >"$work/$name.log" 2>&1 &
  pids+=("$!")
  wait_for_port "$p" 100 || { echo "the double $name did not start: $(cat "$work/$name.log")" >&2; exit 1; }
  port=$p
}

# req URL CURL-ARGS...: prints the HTTP status ("000" when there was none); the answer's body is in $work/body, its
# headers in $work/headers, curl's exit code in $work/rc and its error text in $work/curl.err.
req() {
  local url=$1 rc=0 code
  shift
  rm -f "$work/body" "$work/headers"
  code=$(curl -sS --max-time 15 --cacert "$work/ca.pem" -o "$work/body" -D "$work/headers" -w '%{http_code}' \
    "$@" "$url" 2>"$work/curl.err") || rc=$?
  touch "$work/body" "$work/headers"
  echo "$rc" >"$work/rc"
  echo "$code"
}

# post PORT PATH FILE CURL-ARGS...: posts FILE as it is; headers come from the caller.
post() {
  local p=$1 path=$2 file=$3
  shift 3
  req "https://127.0.0.1:$p$path" --data-binary "@$file" "$@"
}

# json_auth TOKEN: the two headers of an ordinary transaction post, one argument a line (for mapfile).
json_auth() { printf '%s\n' -H 'Content-Type: application/json' -H "Authorization: Bearer $1"; }

# get_token PORT: prints a fresh access token, fetched with form credentials.
get_token() {
  req "https://127.0.0.1:$1$token_path" -d grant_type=client_credentials --data-urlencode "client_id=$client_id" \
    --data-urlencode "client_secret=$client_secret" >/dev/null
  jget access_token <"$work/body"
}

# basic ID SECRET: the Basic credentials of RFC 6749 §2.3.1 (each form-urlencoded, then base64 of "id:secret").
basic() {
  python3 -c 'import base64, sys, urllib.parse as u; print(base64.b64encode((u.quote_plus(sys.argv[1]) + ":" + u.quote_plus(sys.argv[2])).encode()).decode())' "$1" "$2"
}

# jget KEY...: the value at that key path of the JSON on stdin (JSON text for objects and arrays).
jget() { python3 "$work/jget.py" "$@"; }

# expect NAME STATUS WANT [TEXT]: passes when STATUS is WANT and the answer's body holds TEXT.
expect() {
  local name=$1 code=$2 want=$3 text=${4:-}
  if [ "$code" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" "$work/body"; }; then
    pass "$name"
  else
    fail "$name" "status $code (want $want), want text: $text" "body: $(head -c 400 "$work/body")"
  fi
}

# has_header NAME VALUE: whether the last answer had that header with that value (names compared without case).
# Captured first: `tr | grep -q` under pipefail could fail on SIGPIPE after a match.
has_header() {
  local headers
  headers=$(tr -d '\r' <"$work/headers")
  grep -qix -- "$1: $2" <<<"$headers"
}

write_helpers() {
  cat >"$work/jget.py" <<'EOF'
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
  # Sample transactions in the shape apitap sends, and broken variants of them, as files under $work/cases.
  cat >"$work/cases.py" <<'EOF'
import base64, copy, gzip, json, os, sys, time

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
now = time.time()


def b64(raw):
    return base64.b64encode(raw).decode()


def hdr(name, value):
    return name + ":" + b64(value if isinstance(value, bytes) else value.encode())


def body(raw):
    return {"length": len(raw), "data": b64(raw)}


def compact(v):
    return json.dumps(v, separators=(",", ":"))


full = {
    "timestamp": f"{now - 120:.3f}", "version": "1.0", "transaction-id": "Vts2pH6ArPEFcuQ=",
    "request": {"http-method": "POST", "uri-query-fragment": "/prod/orders?limit=10&q=a%20b", "host": "api.example.com",
                "http-scheme": "https", "http-version": "1.1", "client-ip": "203.0.113.9",
                "connection": {"connection-ip": "203.0.113.9", "server-ip": "0.0.0.0", "connection-port": 51234,
                               "server-port": 443, "transaction-depth": 1},
                "headers": [hdr("content-type", "application/json"), hdr("X-Amzn-Trace-Id", "Root=1-abc")],
                "body": body(b"{}")},
    "response": {"status-code": "200", "headers": [hdr("content-type", "application/json")], "body": body(b'{"ok":true}')},
    "txn-meta-data": {"source_info": {"type": "aws-apigateway-rest", "version": "0.3.0",
                                      "pool_id": "123456789012:eu-west-2", "instance_id": "a1b2c3d4e5/prod"}},
}
minimal = {
    "timestamp": str(int(now - 60)), "version": "1.0", "transaction-id": "txn-minimal",
    "request": {"http-method": "GET", "uri-query-fragment": "/", "host": "api.example.com",
                "connection": {"connection-ip": "2001:db8::1", "server-ip": "::"}, "headers": [], "body": body(b"")},
    "response": {"status-code": "204", "headers": [], "body": body(b"")},
}
binary = copy.deepcopy(full)
binary["transaction-id"] = "txn-binary"
binary["timestamp"] = f"{now - 30:.1f}"
binary["request"]["uri-query-fragment"] = "/prod/files/%E2%9C%93?x=1#frag"
binary["request"]["client-ip"] = "2001:db8::9"
binary["request"]["headers"] = [hdr("X-Empty", ""), hdr("content-type", "application/octet-stream")]
binary["request"]["body"] = body(b"\x00\xff\xfe NUL and invalid UTF-8 \xc3\x28 \x00")
binary["response"]["status-code"] = "599"
good = [full, minimal, binary]


def write(name, text):
    with open(os.path.join(out, name), "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())


def batch(txns):
    return '{"data":[' + ",".join(compact(t) for t in txns) + "]}"


write("valid.json", batch(good))
write("valid.expected.ndjson", "".join(compact(t) + "\n" for t in good))
write("valid.json.gz", gzip.compress(batch(good).encode()))
write("single.json", compact(full))
write("single.expected.ndjson", compact(full) + "\n")
write("pretty.json", json.dumps({"data": [minimal]}, indent=2))
write("pretty.expected.ndjson", compact(minimal) + "\n")
write("binary.body", b"\x00\xff\xfe NUL and invalid UTF-8 \xc3\x28 \x00")


def broken(name, change):
    """A batch of three whose second transaction is changed."""
    t = copy.deepcopy(full)
    change(t)
    write(name + ".json", batch([minimal, t, binary]))


broken("missing-method", lambda t: t["request"].pop("http-method"))
broken("bad-base64-header", lambda t: t["request"]["headers"].__setitem__(0, "content-type:not*base64"))
broken("header-without-colon", lambda t: t["request"]["headers"].append("x-plain"))
broken("header-name-not-token", lambda t: t["request"]["headers"].append("bad name:YQ=="))
broken("noncanonical-base64", lambda t: t["request"]["headers"].append("x-a:YR=="))
broken("length-mismatch", lambda t: t["request"]["body"].update(length=12, data=b64(b"0123456789")))
broken("status-number", lambda t: t["response"].update({"status-code": 200}))
broken("status-newline", lambda t: t["response"].update({"status-code": "200\n"}))
broken("status-600", lambda t: t["response"].update({"status-code": "600"}))
broken("unknown-key", lambda t: t["request"].update({"x-extra": 1}))
broken("unknown-meta", lambda t: t["txn-meta-data"].update({"filter_info": {"filter_name": "x"}}))
broken("bad-ip", lambda t: t["request"]["connection"].update({"connection-ip": "203.0.113.300"}))
broken("ms-timestamp", lambda t: t.update(timestamp=str(int(now * 1000))))
broken("old-timestamp", lambda t: t.update(timestamp="1000000000.5"))
broken("uri-space", lambda t: t["request"].update({"uri-query-fragment": "/a b"}))
broken("uri-bad-percent", lambda t: t["request"].update({"uri-query-fragment": "/a%zz"}))
broken("float-port", lambda t: t["request"]["connection"].update({"server-port": 443.0}))
broken("version-0.1", lambda t: t.update(version="0.1"))
broken("http-version-4", lambda t: t["request"].update({"http-version": "4"}))
write("empty-data.json", '{"data":[]}')
write("bare-array.json", "[" + compact(full) + "]")
write("extra-envelope-key.json", '{"data":[' + compact(full) + '],"meta":{}}')
write("four.json", batch([full, minimal, binary, full]))
write("not-json.json", '{"data":[' + compact(full))
write("duplicate-key.json", '{"data":[' + compact(full) + '],"data":[]}')
write("nan.json", batch([full]).replace('"length":2', '"length":NaN', 1))
write("latin1.json", batch([full]).replace("api.example.com", "api.ex\xe4mple.com", 1).encode("latin-1"))
big = copy.deepcopy(full)
big["request"]["body"] = body(b"x" * 20000)
write("too-big.json", batch([big]))
write("bomb.json.gz", gzip.compress(b" " * 100000))
write("not-gzip.json.gz", b"this is not gzip")
EOF
}

test_tokens() {
  local code now
  code=$(req "https://127.0.0.1:$1$token_path" -d grant_type=client_credentials \
    --data-urlencode "client_id=$client_id" --data-urlencode "client_secret=$client_secret")
  now=$(date +%s)
  if [ "$code" = 200 ] && python3 - "$work/body" "$now" <<'EOF'; then
import base64, json, sys
a = json.load(open(sys.argv[1]))
now = int(sys.argv[2])
parts = a["access_token"].split(".")
assert len(parts) == 3 and all(parts), parts
payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
assert abs(payload["exp"] - (now + 1800)) <= 5, payload
assert (a["expires_in"], a["refresh_expires_in"], a["token_type"], a["not-before-policy"], a["scope"]) == \
    (1800, 0, "Bearer", 0, "profile email"), a
EOF
    pass "form credentials get a JWT-shaped Bearer token with exp = now + 1800 and Keycloak's answer keys"
  else fail "token with form credentials" "status $code" "$(head -c 300 "$work/body")"; fi
  if has_header Cache-Control no-store; then pass "the token answer says Cache-Control: no-store"
  else fail "token Cache-Control" "$(cat "$work/headers")"; fi

  # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic; Keycloak decodes them (keycloak#14347), so a raw
  # '+' in the secret reads as a space.
  code=$(req "https://127.0.0.1:$1$token_path" -H "Authorization: Basic $(basic "$client_id" "$client_secret")" \
    -d grant_type=client_credentials)
  expect "HTTP Basic credentials (form-urlencoded, RFC 6749 §2.3.1) get a token" "$code" 200 '"access_token"'
  code=$(req "https://127.0.0.1:$1$token_path" -u "$client_id:$client_secret" -d grant_type=client_credentials)
  expect "HTTP Basic with the secret's '+' not urlencoded is 401, as with Keycloak" "$code" 401 '"invalid_client"'
  code=$(req "https://127.0.0.1:$1$token_path" -d grant_type=client_credentials \
    --data-urlencode "client_id=$client_id" --data-urlencode "client_secret=wrong")
  expect "a wrong client secret in the form is 401 invalid_client (Keycloak's words)" "$code" 401 \
    '{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}'
  code=$(req "https://127.0.0.1:$1$token_path" -u "$client_id:wrong" -d grant_type=client_credentials)
  expect "a wrong client secret over Basic is 401 invalid_client" "$code" 401 '"invalid_client"'
  code=$(req "https://127.0.0.1:$1$token_path" -u "other:$client_secret" -d grant_type=client_credentials)
  expect "an unknown client id is 401 invalid_client" "$code" 401 '"invalid_client"'
  code=$(req "https://127.0.0.1:$1$token_path" -d grant_type=password \
    --data-urlencode "client_id=$client_id" --data-urlencode "client_secret=$client_secret")
  expect "grant_type=password is 400 unsupported_grant_type" "$code" 400 '"unsupported_grant_type"'
  code=$(req "https://127.0.0.1:$1$token_path" --data-urlencode "client_id=$client_id" \
    --data-urlencode "client_secret=$client_secret")
  expect "a missing grant_type is 400 unsupported_grant_type" "$code" 400 '"unsupported_grant_type"'
  code=$(req "https://127.0.0.1:$1$token_path" -H 'Content-Type: application/json' \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$client_id\"}")
  expect "a JSON token request is 400 invalid_request" "$code" 400 '"invalid_request"'
  code=$(req "https://127.0.0.1:$1/oauth/token" -d grant_type=client_credentials)
  expect "the old /oauth/token path is 404 (only the published Keycloak path)" "$code" 404
  code=$(req "https://127.0.0.1:$1$token_path")
  if [ "$code" = 405 ] && has_header Allow POST; then pass "GET on the token path is 405 with Allow: POST"
  else fail "GET token path" "status $code"; fi
}

test_posts() {
  local p=$1 tok code h=()
  tok=$(get_token "$p")
  mapfile -t h < <(json_auth "$tok")
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "a valid batch of three is 200 {\"accepted\": 3}" "$code" 200 '{"accepted": 3}'
  if cmp -s "$work/A.ndjson" "$work/cases/valid.expected.ndjson"; then
    pass "the batch is recorded byte-for-byte, one transaction a line"
  else fail "records of the valid batch" "$(diff "$work/A.ndjson" "$work/cases/valid.expected.ndjson" | head -5)"; fi
  if python3 - "$work/A.ndjson" "$work/cases/binary.body" <<'EOF'; then
import base64, json, sys
lines = open(sys.argv[1]).read().splitlines()
t = json.loads(lines[2])
assert base64.b64decode(t["request"]["body"]["data"]) == open(sys.argv[2], "rb").read()
EOF
    pass "a body with NUL and invalid UTF-8 bytes is accepted and kept exactly"
  else fail "binary body"; fi

  code=$(post "$p" /api-transaction "$work/cases/single.json" "${h[@]}")
  expect "POST /api-transaction takes one bare transaction: 200 {\"accepted\": 1}" "$code" 200 '{"accepted": 1}'
  if cmp -s <(sed -n '4p' "$work/A.ndjson") "$work/cases/single.expected.ndjson"; then
    pass "the single transaction is recorded byte-for-byte"
  else fail "single record" "$(sed -n '4p' "$work/A.ndjson" | head -c 200)"; fi
  code=$(post "$p" /api-transaction "$work/cases/valid.json" "${h[@]}")
  expect "POST /api-transaction refuses a batch envelope" "$code" 400 "Additional properties are not allowed ('data' was unexpected)"
  code=$(post "$p" /api-transactions "$work/cases/pretty.json" "${h[@]}")
  if [ "$code" = 200 ] && python3 - "$work/A.ndjson" "$work/cases/pretty.expected.ndjson" <<'EOF'; then
import json, sys
assert json.loads(open(sys.argv[1]).read().splitlines()[4]) == json.loads(open(sys.argv[2]).read())
EOF
    pass "a pretty-printed batch is accepted and recorded on one line"
  else fail "pretty batch" "status $code" "$(head -c 300 "$work/body")"; fi
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}" -H 'Transfer-Encoding: chunked')
  expect "a chunked post is read and accepted" "$code" 200 '{"accepted": 3}'

  # Each refusal: case file | status | text the answer must hold. The broken transaction is always data[1].
  local name want text n=0
  while IFS='|' read -r -u 3 name want text; do
    code=$(post "$p" /api-transactions "$work/cases/$name.json" "${h[@]}")
    expect "$name: $want, '$text'" "$code" "$want" "$text"
    n=$((n + 1))
  done 3<<'EOF'
missing-method|400|"data[1].request: 'http-method' is a required property"
bad-base64-header|400|"data[1].request.headers[0]: header 'content-type': value 'not*base64' is not standard padded base64"
header-without-colon|400|"data[1].request.headers[2]: header 'x-plain' has no ':' between name and value"
header-name-not-token|400|data[1].request.headers[2]: header name 'bad name' is not an RFC 7230 token
noncanonical-base64|400|data[1].request.headers[2]: header 'x-a': value 'YR==' is not canonical base64
length-mismatch|400|"data[1].request.body: length 12 does not match 10 decoded bytes"
status-number|400|"data[1].response.status-code: 200 is not of type 'string'"
status-newline|400|data[1].response.status-code: '200\\n' is not a status code of 3 digits 100..599
status-600|400|data[1].response.status-code: '600' is not a status code of 3 digits 100..599
unknown-key|400|"data[1].request: Additional properties are not allowed ('x-extra' was unexpected)"
unknown-meta|400|"data[1].txn-meta-data: Additional properties are not allowed ('filter_info' was unexpected)"
bad-ip|400|"data[1].request.connection.connection-ip: '203.0.113.300' is not an IPv4 or IPv6 address"
ms-timestamp|400|is more than a day in the future (milliseconds instead of seconds?)
old-timestamp|400|"data[1].timestamp: 1000000000.5 is more than ten years ago"
uri-space|400|data[1].request.uri-query-fragment: '/a b' is not an origin-form target
uri-bad-percent|400|data[1].request.uri-query-fragment: '/a%zz' is not an origin-form target
float-port|400|"data[1].request.connection.server-port: 443.0 must be written as an integer"
version-0.1|400|"data[1].version: '1.0' was expected"
http-version-4|400|"data[1].request.http-version: '4' is not one of
empty-data|400|data must be a non-empty array of transactions
bare-array|400|body must be an object with exactly the key 'data', got list
extra-envelope-key|400|body must be an object with exactly the key 'data', got ['data', 'meta']
four|400|data holds 4 transactions, over the limit of 3
not-json|400|body is not strict UTF-8 JSON
duplicate-key|400|duplicate key 'data'
nan|400|NaN is not JSON
latin1|400|body is not strict UTF-8 JSON
too-big|413|is over the limit of 20000
EOF
  [ "$n" -eq 28 ] || fail "the refusal table was not read whole" "$n rows"

  code=$(post "$p" /api-transactions "$work/cases/valid.json.gz" "${h[@]}" -H 'Content-Encoding: gzip')
  expect "gzip without --accept-gzip is 415" "$code" 415 "Content-Encoding gzip is not accepted"
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}" -H 'Content-Encoding: br')
  expect "Content-Encoding br is 415" "$code" 415 "Content-Encoding 'br' is not accepted"
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}" -H 'Content-Encoding: identity')
  expect "Content-Encoding identity is accepted" "$code" 200 '{"accepted": 3}'
  code=$(post "$p" /api-transactions "$work/cases/valid.json" -H 'Content-Type: text/plain' -H "Authorization: Bearer $tok")
  expect "Content-Type text/plain is 415" "$code" 415 "Content-Type must be application/json"
  code=$(post "$p" /api-transactions "$work/cases/valid.json" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json; charset=utf-8')
  expect "Content-Type application/json; charset=utf-8 is accepted" "$code" 200 '{"accepted": 3}'

  code=$(post "$p" /api-transactions "$work/cases/valid.json" -H 'Content-Type: application/json')
  if [ "$code" = 401 ] && has_header WWW-Authenticate 'Bearer error="invalid_token"' && grep -qF 'no bearer token' "$work/body"; then
    pass "no token is 401 with WWW-Authenticate: Bearer error=\"invalid_token\""
  else fail "no token" "status $code" "$(cat "$work/headers" "$work/body")"; fi
  code=$(post "$p" /api-transactions "$work/cases/valid.json" -H 'Content-Type: application/json' -H 'Authorization: Bearer made.up.token')
  expect "an unknown token is 401" "$code" 401 "unknown or revoked token"
  code=$(post "$p" /api-transactions "$work/cases/not-json.json" -H 'Content-Type: text/plain')
  expect "auth is checked before anything else" "$code" 401 "no bearer token"

  code=$(req "https://127.0.0.1:$p/nowhere" -d x)
  expect "an unknown path is 404" "$code" 404 "no such path /nowhere"
  code=$(req "https://127.0.0.1:$p/api-transactions")
  if [ "$code" = 405 ] && has_header Allow POST; then pass "GET /api-transactions is 405 with Allow: POST"
  else fail "GET /api-transactions" "status $code"; fi
  code=$(req "https://127.0.0.1:$p/api-transactions" -X PUT -d x)
  expect "PUT /api-transactions is 405" "$code" 405
}

test_stats() {
  local code
  code=$(req "https://127.0.0.1:$1/_stats")
  if [ "$code" = 200 ] && python3 - "$work/body" <<'EOF'; then
import json, sys
s = json.load(open(sys.argv[1]))
want = {"tokenRequests", "tokensIssued", "tokenRejected", "posts", "accepted", "records", "rejected", "faultsInjected",
        "contentEncodings", "maxBatchTransactionsSeen", "maxBatchBytesSeen", "authorizationHeaders"}
assert want <= set(s), want - set(s)
assert s["accepted"] == 6 and s["records"] == 14, s
assert s["tokensIssued"] == 3 and s["tokenRejected"] == 7 and s["tokenRequests"] == 10, s
assert s["maxBatchTransactionsSeen"] == 4 and s["maxBatchBytesSeen"] > 20000, s
assert s["contentEncodings"]["gzip"] == 1 and s["contentEncodings"]["br"] == 1, s
for reason in ("schema", "semantic", "envelope", "count", "json", "size", "content-type", "content-encoding",
               "token-missing", "token-unknown", "token-client", "token-grant-type", "token-content-type"):
    assert s["rejected"].get(reason, 0) > 0, (reason, s["rejected"])
assert s["faultsInjected"] == [], s
assert s["posts"] - s["authorizationHeaders"] == 2, s
EOF
    pass "GET /_stats counts tokens, posts, records, refusals by reason, encodings and the largest batch"
  else fail "stats" "status $code" "$(head -c 600 "$work/body")"; fi
}

test_gzip() {
  local p=$1 code
  code=$(post "$p" /api-transactions "$work/cases/valid.json.gz" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip')
  expect "with --accept-gzip a gzip batch is 200 (and --no-auth needs no token)" "$code" 200 '{"accepted": 3}'
  if cmp -s "$work/B.ndjson" "$work/cases/valid.expected.ndjson"; then pass "the gunzipped batch is recorded byte-for-byte"
  else fail "gzip records" "$(head -c 300 "$work/B.ndjson")"; fi
  code=$(post "$p" /api-transactions "$work/cases/not-gzip.json.gz" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip')
  expect "a body that is not gzip is 400" "$code" 400 "body is not valid gzip"
  code=$(post "$p" /api-transactions "$work/cases/bomb.json.gz" -H 'Content-Type: application/json' -H 'Content-Encoding: GZIP')
  expect "the size limit counts uncompressed bytes: a small gzip of 100000 bytes is 413" "$code" 413 \
    "body of 100000 bytes (uncompressed) is over the limit of 20000"
  code=$(req "https://127.0.0.1:$p/_stats")
  if [ "$(jget authorizationHeaders <"$work/body")" = 0 ] && [ "$(jget tokenRequests <"$work/body")" = 0 ]; then
    pass "stats show posts without an Authorization header (authorizationHeaders 0)"
  else fail "authorizationHeaders" "$(head -c 400 "$work/body")"; fi
}

test_expiry() {
  local p=$1 tok code h=()
  tok=$(get_token "$p")
  mapfile -t h < <(json_auth "$tok")
  sleep 2
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "with --token-ttl 1 a token is refused two seconds later" "$code" 401 "token expired"
}

test_faults() {
  local p=$1 tok code h=() t0 t1 rc
  tok=$(get_token "$p")
  mapfile -t h < <(json_auth "$tok")
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "fault 500 answers 500" "$code" 500 "injected fault"
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  if [ "$code" = 429 ] && has_header Retry-After 1; then pass "fault 429 answers 429 with Retry-After: 1"
  else fail "fault 429" "status $code" "$(cat "$work/headers")"; fi
  t0=$(date +%s%N)
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  t1=$(date +%s%N)
  if [ "$code" = 200 ] && [ $(((t1 - t0) / 1000000)) -ge 1000 ]; then
    pass "fault slow answers 200 after --slow-seconds ($(((t1 - t0) / 1000000)) ms)"
  else fail "fault slow" "status $code after $(((t1 - t0) / 1000000)) ms"; fi
  for fault in drop reset; do
    code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
    rc=$(cat "$work/rc")
    if [ "$code" = 000 ] && [ "$rc" -ne 0 ]; then
      pass "fault $fault gives curl a connection error (exit $rc: $(head -c 90 "$work/curl.err"))"
    else fail "fault $fault" "status $code, curl exit $rc"; fi
  done
  if grep -qi 'reset' "$work/curl.err"; then pass "fault reset is seen as a connection reset"
  else fail "fault reset is not a reset" "$(cat "$work/curl.err")"; fi
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "fault expire revokes the token: 401" "$code" 401 "unknown or revoked token"
  tok=$(get_token "$p")
  mapfile -t h < <(json_auth "$tok")
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "fault 400 answers 400 (with a fresh token)" "$code" 400 "injected fault"
  code=$(post "$p" /api-transactions "$work/cases/valid.json" "${h[@]}")
  expect "once the faults are spent, posts are accepted" "$code" 200 '{"accepted": 3}'
  code=$(req "https://127.0.0.1:$p/_stats")
  if [ "$(jget faultsInjected <"$work/body")" = '["500", "429", "slow", "drop", "reset", "expire", "400"]' ] &&
    [ "$(jget records <"$work/body")" = 6 ]; then
    pass "the faults were used in order and only accepted posts were recorded"
  else fail "fault stats" "$(head -c 400 "$work/body")"; fi
}

# Nothing secret or bulky reaches the double's logs: only method, path and status.
test_logs() {
  local leaks
  leaks=$(grep -lF -e "$client_secret" -e "eyJ" -e "Vts2pH6ArPEFcuQ=" -e "Bearer" "$work"/*.log || true)
  if [ -z "$leaks" ] && grep -qx 'POST /api-transactions 200' "$work/A.log" && grep -qx 'POST /api-transactions drop' "$work/C.log"; then
    pass "the logs hold method, path and status only (no secret, token or body)"
  else fail "logs" "leaks in: $leaks" "$(head -3 "$work/A.log")"; fi
}

main() {
  command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
  python3 -c 'import jsonschema' 2>/dev/null || { echo "python3 with jsonschema is needed (pip install jsonschema)" >&2; exit 1; }
  make_ca || { echo "openssl could not make the test CA" >&2; exit 1; }
  write_helpers
  python3 "$work/cases.py" "$work/cases"

  start_double A --max-batch-transactions 3 --max-batch-bytes 20000
  test_tokens "$port"
  test_posts "$port"
  test_stats "$port"
  start_double B --accept-gzip --no-auth --max-batch-bytes 20000
  test_gzip "$port"
  start_double D --token-ttl 1
  test_expiry "$port"
  start_double C --faults 500,429,slow,drop,reset,expire,400 --slow-seconds 1
  test_faults "$port"
  test_logs
  summary
}

main "$@"
