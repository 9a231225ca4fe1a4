#!/usr/bin/env python3
"""A strict stand-in for Cequence UAP's Keycloak token endpoint and API Edge ingestion, over HTTPS on loopback.

Authority: /work/shared/reference/uap-edge-format.md (§ numbers below). It refuses what it does not understand, so
that apitap's tests fail on anything the published evidence does not support. Where the reference is silent, this
double chooses, and says so here (the lead documents these):
  - Answers: Edge's status codes and bodies are not published (§2, §13.7). Chosen: 200 {"accepted": N}; 400
    {"error":"bad_request","message":"<where>: <first problem>"}, e.g. "data[3].request.body: length 12 does not
    match 10 decoded bytes"; 401 {"error":"invalid_token","error_description":...} with WWW-Authenticate: Bearer
    error="invalid_token"; 413 "payload_too_large" for size; 415 "unsupported_media_type" for media type or content
    coding; 404 / 405 (with Allow) for other paths / methods; 400 "framing" for a bad Content-Length. Chunked
    request bodies are read like any other.
  - Check order on a transaction post: auth, Content-Type, Content-Encoding, size, JSON, envelope, count, each
    transaction (schema, then semantic checks). The first problem found is the answer.
  - Compression (§2: none published): gzip is refused with 415 unless --accept-gzip; identity may be sent as no
    header or as "identity"; content-coding names are compared case-insensitively; any other coding is 415.
  - Limits (§2: none published): --max-batch-bytes counts the uncompressed body (default 1 MiB, then 413);
    --max-batch-transactions defaults to 250 ([KONG] max_batch_size), more is 400.
  - JSON is strict: UTF-8 only (no BOM), no NaN/Infinity, no duplicate keys, no lone surrogate escapes.
  - Base64 must be canonical (re-encoding the decoded bytes gives the same text); body length must equal the
    decoded byte count (§6 INFERRED); ports and depths must be written as JSON integers, not 443.0.
  - timestamp must be epoch seconds within the last ten years and at most one day ahead (§3, §13.8).
  - Records: each accepted transaction is written exactly as its bytes arrived (after gunzip), one per line; a raw
    CR or LF in it (only possible as JSON whitespace) becomes a space so that the file stays NDJSON. A batch is
    recorded whole or not at all; POST /api-transaction records its one object the same way.
  - Stats: contentEncodings counts every transaction post as it arrived (before auth); maxBatchBytesSeen is the
    largest uncompressed body that passed auth and media checks; tokenRejected counts every refused token request;
    authorizationHeaders counts transaction posts that carried an Authorization header (for --no-auth tests).
  - Token endpoint (§1): only the published Keycloak path. Checks in order: Content-Type
    application/x-www-form-urlencoded (400 invalid_request), grant_type=client_credentials (400
    unsupported_grant_type), client credentials from the form or HTTP Basic (form-urlencoded inside Basic as
    RFC 6749 §2.3.1 says; when both are given they must name the same client), else 401 invalid_client.
    The token is JWT-shaped (RS256 header, payload with exp/iat/jti/iss/azp/scope, random signature); it is not
    signed for real: only this double can check it. Tokens expire --token-ttl seconds after issue.
Faults (--faults, consumed in order by transaction posts, before any check):
  500     answer 500
  429     answer 429 with Retry-After: 1
  slow    after the checks wait --slow-seconds, then record and answer as usual (recorded even if the client gave up
          meanwhile, as a real server that finished the work would: a re-send must be harmless)
  drop    close the connection without answering (TCP FIN, no TLS close_notify)
  reset   close the connection with SO_LINGER 0 (TCP RST)
  expire  revoke every token issued so far, then check as usual (so the post gets 401)
  400     answer 400
GET /_stats returns counters as JSON. Only method, path (without query) and status are logged, on stderr.
"""
import argparse
import base64
import binascii
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import jsonschema
    import jsonschema.validators
except ImportError:  # without it validation would silently be weaker
    sys.exit("uap_edge_double: the jsonschema module is required (pip install jsonschema)")

TOKEN_PATH = "/auth/realms/cequence/protocol/openid-connect/token"
BATCH_PATH = "/api-transactions"
SINGLE_PATH = "/api-transaction"
STATS_PATH = "/_stats"
FAULTS = {"500", "429", "slow", "drop", "reset", "expire", "400"}
TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
B64_RE = re.compile(r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
HARD_BODY_CAP = 256 * 1024 * 1024  # what we read at all, whatever the limit: protects the test machine
TEN_YEARS = 10 * 365.25 * 86400


class Problem(Exception):
    """A refusal: HTTP status, reason for the stats and the message of the answer."""

    def __init__(self, status, reason, message, error="bad_request"):
        super().__init__(message)
        self.status, self.reason, self.message, self.error = status, reason, message, error


def ecma_pattern(validator, pattern, instance, schema):
    # JSON Schema patterns are ECMA-262, where '$' matches only at the very end; Python's also matches before a
    # final newline, which would let "200\n" through.
    if not validator.is_type(instance, "string"):
        return
    m = re.search(pattern, instance)
    if m is None or (pattern.endswith("$") and m.end() != len(instance)):
        yield jsonschema.ValidationError(f"{short(instance)} does not match {pattern!r}")


def short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(" + str(len(text)) + " chars)"


def where(prefix, path):
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(transaction)"


def header_problem(item):
    """Why a header string is wrong, in words (None when it is right)."""
    name, sep, value = item.partition(":")
    if not sep:
        return f"header {short(item)} has no ':' between name and value"
    if not TOKEN_RE.fullmatch(name):
        return f"header name {short(name)} is not an RFC 7230 token"
    problem = base64_problem(value)
    return f"header {name!r}: value {problem}" if problem else None


def base64_problem(text):
    if not B64_RE.fullmatch(text):
        return f"{short(text)} is not standard padded base64"
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return f"{short(text)} is not standard padded base64"
    if base64.b64encode(raw).decode() != text:
        return f"{short(text)} is not canonical base64 (non-zero padding bits)"
    return None


def pattern_message(path, instance):
    """A plain-words reason for a pattern failure, by the field it is in."""
    last = path[-1] if path else None
    parent = path[-2] if len(path) > 1 else None
    if parent == "headers":
        return header_problem(instance) or f"header {short(instance)} is malformed"
    if last == "data":
        return base64_problem(instance) or f"{short(instance)} is not standard padded base64"
    if last == "timestamp":
        return f"{short(instance)} is not epoch seconds as a string (digits, optionally '.' and 1-3 digits)"
    if last == "status-code":
        return f"{short(instance)} is not a status code of 3 digits 100..599"
    if last == "http-method":
        return f"{short(instance)} is not an RFC 7230 token"
    if last == "uri-query-fragment":
        return (f"{short(instance)} is not an origin-form target ('/' first, printable ASCII without spaces, "
                "'%' followed by 2 hex digits)")
    if last in ("client-ip", "connection-ip", "server-ip"):
        return f"{short(instance)} is not an IP address"
    return f"{short(instance)} is malformed"


def semantic_problem(t):
    """Checks the schema cannot express, on a transaction the schema accepted: (path, message) or None."""
    ts = float(t["timestamp"])
    now = time.time()
    if ts < now - TEN_YEARS:
        return ["timestamp"], f"{t['timestamp']} is more than ten years ago"
    if ts > now + 86400:
        hint = " (milliseconds instead of seconds?)" if ts > now * 100 else ""
        return ["timestamp"], f"{t['timestamp']} is more than a day in the future{hint}"
    req, resp = t["request"], t["response"]
    ips = [(["request", "client-ip"], req.get("client-ip"))]
    ips += [(["request", "connection", k], req["connection"].get(k)) for k in ("connection-ip", "server-ip")]
    for path, value in ips:
        if value is None:
            continue
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return path, f"{short(value)} is not an IPv4 or IPv6 address"
    for k in ("connection-port", "server-port", "transaction-depth"):
        if k in req["connection"] and not isinstance(req["connection"][k], int):
            return ["request", "connection", k], f"{req['connection'][k]!r} must be written as an integer"
    for side, obj in (("request", req), ("response", resp)):
        for i, item in enumerate(obj["headers"]):
            problem = header_problem(item)
            if problem:
                return [side, "headers", i], problem
        body = obj["body"]
        if not isinstance(body["length"], int):
            return [side, "body", "length"], f"{body['length']!r} must be written as an integer"
        problem = base64_problem(body["data"])
        if problem:
            return [side, "body", "data"], problem
        n = len(base64.b64decode(body["data"], validate=True))
        if body["length"] != n:
            return [side, "body"], f"length {body['length']} does not match {n} decoded bytes"
    code = int(resp["status-code"])
    if not 100 <= code <= 599:
        return ["response", "status-code"], f"{code} is not in 100..599"
    return None


def strict_json(text):
    """Parses JSON that real services would also parse: no NaN/Infinity, no duplicate keys, no lone surrogates."""

    def pairs(items):
        obj = {}
        for k, v in items:
            if k in obj:
                raise ValueError(f"duplicate key {k!r}")
            obj[k] = v
        return obj

    def constant(name):
        raise ValueError(f"{name} is not JSON")

    value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    check_unicode(value)
    return value


def check_unicode(value):
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"string {short(v)} holds a lone surrogate escape") from None
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


WS = " \t\r\n"


def element_spans(text):
    """The exact text of each element of the `data` array of an envelope already known to be {"data": [...]}."""
    dec = json.JSONDecoder()
    i = skip(text, 0)
    assert text[i] == "{"
    i = skip(text, i + 1)
    _, i = dec.raw_decode(text, i)  # the key, however it is escaped
    i = skip(text, i)
    assert text[i] == ":"
    i = skip(text, i + 1)
    assert text[i] == "["
    i = skip(text, i + 1)
    spans = []
    while text[i] != "]":
        _, end = dec.raw_decode(text, i)
        spans.append(text[i:end])
        i = skip(text, end)
        if text[i] == ",":
            i = skip(text, i + 1)
    return spans


def skip(text, i):
    while i < len(text) and text[i] in WS:
        i += 1
    return i


def gunzip(data, cap):
    """Decompresses every gzip member of data, stopping once more than cap bytes come out."""
    out = bytearray()
    rest = data
    if not rest:
        raise ValueError("empty gzip body")
    while rest:
        d = zlib.decompressobj(wbits=31)
        out += d.decompress(rest, cap + 1 - len(out))
        if len(out) > cap:
            return bytes(out)
        if not d.eof:
            raise ValueError("truncated gzip stream")
        rest = d.unused_data
    return bytes(out)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="0 = let the kernel pick; 'ready PORT' goes to stdout")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--schema", default=os.path.join(here, "..", "..", "docs", "edge-transaction.schema.json"))
    p.add_argument("--records", required=True, help="accepted transactions are appended here as NDJSON")
    p.add_argument("--client-id", default="apitap-test")
    p.add_argument("--client-secret", default="s3cr3t-value")
    p.add_argument("--token-ttl", type=int, default=1800, help="seconds (Keycloak/Edge default 1800)")
    p.add_argument("--max-batch-bytes", type=int, default=1048576, help="uncompressed body limit (else 413)")
    p.add_argument("--max-batch-transactions", type=int, default=250, help="more is 400 ([KONG] max_batch_size)")
    p.add_argument("--accept-gzip", action="store_true", help="accept Content-Encoding: gzip (else 415)")
    p.add_argument("--faults", default="", help="comma list of " + ",".join(sorted(FAULTS)))
    p.add_argument("--slow-seconds", type=float, default=3.0)
    p.add_argument("--no-auth", action="store_true", help="accept transaction posts without a token")
    a = p.parse_args()

    faults = [f.strip() for f in a.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        sys.exit(f"uap_edge_double: unknown faults {unknown}; known: {sorted(FAULTS)}")
    with open(a.schema) as f:
        schema = json.load(f)
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    validator = jsonschema.validators.extend(base, {"pattern": ecma_pattern})(schema)

    lock = threading.Lock()
    tokens = {}  # token -> expiry (epoch seconds)
    stats = {"tokenRequests": 0, "tokensIssued": 0, "tokenRejected": 0, "posts": 0, "accepted": 0, "records": 0,
             "rejected": {}, "faultsInjected": [], "contentEncodings": {}, "maxBatchTransactionsSeen": 0,
             "maxBatchBytesSeen": 0, "authorizationHeaders": 0}

    def count_rejected(reason):
        with lock:
            stats["rejected"][reason] = stats["rejected"].get(reason, 0) + 1

    def check_transaction(t, prefix):
        if not isinstance(t, dict):
            raise Problem(400, "transaction", f"{where(prefix, [])}: expected a JSON object, got {short(t)}")
        errors = list(validator.iter_errors(t))
        if errors:
            key = lambda e: ([(0, x, "") if isinstance(x, int) else (1, 0, x) for x in e.absolute_path], e.validator)
            e = sorted(errors, key=key)[0]
            path = list(e.absolute_path)
            message = pattern_message(path, e.instance) if e.validator == "pattern" else e.message
            raise Problem(400, "schema", f"{where(prefix, path)}: {message[:300]}")
        found = semantic_problem(t)
        if found:
            raise Problem(400, "semantic", f"{where(prefix, found[0])}: {found[1]}")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "uap-edge-double"
        sys_version = ""

        def log_message(self, *args):
            pass  # the default would write the request line; we log less, below

        def log_request(self, code="-", size="-"):
            self.log_line(getattr(code, "value", code))

        def log_line(self, outcome):
            # Before the request line is parsed (e.g. a 414 for an overlong one) there is no command or path yet.
            path = urllib.parse.urlsplit(getattr(self, "path", "") or "").path or "-"
            sys.stderr.write(f"{self.command or '-'} {path} {outcome}\n")
            sys.stderr.flush()

        def answer(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def refuse(self, problem, headers=()):
            count_rejected(problem.reason)
            error = {413: "payload_too_large", 415: "unsupported_media_type"}.get(problem.status, problem.error)
            self.answer(problem.status, {"error": error, "message": problem.message}, headers)

        def route(self):
            return urllib.parse.urlsplit(self.path).path

        def read_body(self):
            """The request body (Content-Length or chunked), or None after answering 400/413 (and closing)."""
            try:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        if size < 0 or len(out) + size > HARD_BODY_CAP:
                            raise OverflowError
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                if n < 0:
                    raise ValueError(n)
                if n > HARD_BODY_CAP:
                    raise OverflowError
                return self.rfile.read(n) if n else b""
            except OverflowError:
                problem = Problem(413, "size", f"body over {HARD_BODY_CAP} bytes")
            except ValueError:
                problem = Problem(400, "framing", "bad Content-Length or chunked framing")
            self.close_connection = True
            self.refuse(problem, [("Connection", "close")])
            return None

        # Methods: POST on the three POST paths, GET on the stats; the rest 405 on known paths, 404 elsewhere.
        def do_POST(self):
            path = self.route()
            if path not in (TOKEN_PATH, BATCH_PATH, SINGLE_PATH):
                return self.not_here()
            body = self.read_body()
            if body is None:
                return
            if path == TOKEN_PATH:
                return self.token(body.decode("utf-8", "replace"))
            return self.transactions(body, batch=path == BATCH_PATH)

        def do_GET(self):
            if self.route() == STATS_PATH:
                with lock:
                    return self.answer(200, json.loads(json.dumps(stats)))
            self.not_here()

        def not_here(self):
            path = self.route()
            allowed = {TOKEN_PATH: "POST", BATCH_PATH: "POST", SINGLE_PATH: "POST", STATS_PATH: "GET"}.get(path)
            self.close_connection = True  # the body, if any, is left unread
            if allowed:
                self.answer(405, {"error": "method_not_allowed", "message": f"{self.command} {path}: use {allowed}"},
                            [("Allow", allowed), ("Connection", "close")])
            else:
                self.answer(404, {"error": "not_found", "message": f"no such path {path}"}, [("Connection", "close")])

        do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = not_here

        def token(self, body):
            with lock:
                stats["tokenRequests"] += 1
            try:
                cid = self.client(body)
            except Problem as problem:
                with lock:
                    stats["tokenRejected"] += 1
                count_rejected(problem.reason)
                return self.answer(problem.status, {"error": problem.error, "error_description": problem.message},
                                   [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
            now = int(time.time())
            header = {"alg": "RS256", "typ": "JWT", "kid": "uap-edge-double"}
            host = self.headers.get("Host", "127.0.0.1")
            payload = {"exp": now + a.token_ttl, "iat": now, "jti": secrets.token_hex(16),
                       "iss": f"https://{host}/auth/realms/cequence", "typ": "Bearer", "azp": cid,
                       "scope": "profile email", "clientId": cid}
            token = ".".join([b64url(json.dumps(header, separators=(",", ":")).encode()),
                              b64url(json.dumps(payload, separators=(",", ":")).encode()),
                              b64url(secrets.token_bytes(64))])
            with lock:
                tokens[token] = time.time() + a.token_ttl
                stats["tokensIssued"] += 1
            self.answer(200, {"access_token": token, "expires_in": a.token_ttl, "refresh_expires_in": 0,
                              "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"},
                        [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

        def client(self, form_text):
            """Checks a token request and returns its client id, or raises the Problem to answer."""
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise Problem(400, "token-content-type", "Content-Type must be application/x-www-form-urlencoded",
                              "invalid_request")
            form = urllib.parse.parse_qs(form_text, keep_blank_values=True)
            first = lambda k: (form.get(k) or [None])[0]
            if first("grant_type") != "client_credentials":
                raise Problem(400, "token-grant-type", "grant_type must be client_credentials", "unsupported_grant_type")
            invalid = Problem(401, "token-client", "Invalid client or Invalid client credentials", "invalid_client")
            cid, secret = first("client_id"), first("client_secret")
            auth = self.headers.get("Authorization", "")
            if auth[:6].lower() == "basic ":
                try:
                    bid, sep, bsecret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
                except (binascii.Error, ValueError):
                    raise invalid from None
                if not sep:
                    raise invalid
                bid, bsecret = urllib.parse.unquote_plus(bid), urllib.parse.unquote_plus(bsecret)
                if cid is not None and cid != bid:
                    raise invalid
                cid, secret = bid, bsecret if secret is None or secret == bsecret else None
            if cid != a.client_id or secret is None or not secrets.compare_digest(secret, a.client_secret):
                raise invalid
            return cid

        def transactions(self, body, batch):
            with lock:
                stats["posts"] += 1
                fault = faults.pop(0) if faults else None
                if fault:
                    stats["faultsInjected"].append(fault)
                coding = self.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
                if "Authorization" in self.headers:
                    stats["authorizationHeaders"] += 1
                stats["contentEncodings"][coding] = stats["contentEncodings"].get(coding, 0) + 1
            if fault in ("drop", "reset"):
                self.log_line(fault)
                self.close_connection = True
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()  # the socket really closes only when no file object is left on it
                    self.connection.close()
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "500":
                return self.answer(500, {"error": "internal_error", "message": "injected fault"})
            if fault == "429":
                return self.answer(429, {"error": "too_many_requests", "message": "injected fault"},
                                   [("Retry-After", "1")])
            if fault == "400":
                return self.answer(400, {"error": "bad_request", "message": "injected fault"})
            if fault == "expire":
                with lock:
                    tokens.clear()
            try:
                spans = self.check_post(body, coding, batch)
            except Problem as problem:
                extra = [("WWW-Authenticate", 'Bearer error="invalid_token"')] if problem.status == 401 else []
                if problem.status == 401:
                    count_rejected(problem.reason)
                    return self.answer(401, {"error": "invalid_token", "error_description": problem.message}, extra)
                return self.refuse(problem)
            if fault == "slow":
                time.sleep(a.slow_seconds)
            with lock:
                with open(a.records, "a", encoding="utf-8") as f:
                    for s in spans:
                        f.write(s.replace("\r", " ").replace("\n", " ") + "\n")
                stats["accepted"] += 1
                stats["records"] += len(spans)
            self.answer(200, {"accepted": len(spans)})

        def check_post(self, body, coding, batch):
            """Every check of a transaction post, in order; returns the exact text of each transaction."""
            if not a.no_auth:
                auth = self.headers.get("Authorization", "")
                if auth[:7].lower() != "bearer " or not auth[7:].strip():
                    raise Problem(401, "token-missing", "no bearer token")
                with lock:
                    expiry = tokens.get(auth[7:].strip())
                if expiry is None:
                    raise Problem(401, "token-unknown", "unknown or revoked token")
                if expiry <= time.time():
                    raise Problem(401, "token-expired", "token expired")
            ctype = self.headers.get("Content-Type", "")
            media, _, params = ctype.partition(";")
            if media.strip().lower() != "application/json":
                raise Problem(415, "content-type", f"Content-Type must be application/json, not {short(ctype)}")
            charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", params, re.I)
            if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
                raise Problem(415, "content-type", f"charset {charset.group(1)!r}: only UTF-8 is accepted")
            if coding == "gzip" and not a.accept_gzip:
                raise Problem(415, "content-encoding", "Content-Encoding gzip is not accepted (no compression is "
                              "published for API Edge); send identity")
            if coding not in ("identity", "gzip"):
                raise Problem(415, "content-encoding", f"Content-Encoding {coding!r} is not accepted")
            raw = body
            if coding == "gzip":
                try:
                    raw = gunzip(body, max(a.max_batch_bytes, 64 * 1024 * 1024))
                except (ValueError, zlib.error) as e:
                    raise Problem(400, "gzip", f"body is not valid gzip: {e}") from None
            with lock:
                stats["maxBatchBytesSeen"] = max(stats["maxBatchBytesSeen"], len(raw))
            if len(raw) > a.max_batch_bytes:
                raise Problem(413, "size", f"body of {len(raw)} bytes (uncompressed) is over the limit of "
                              f"{a.max_batch_bytes}")
            try:
                if raw.startswith(b"\xef\xbb\xbf"):
                    raise ValueError("byte order mark")
                text = raw.decode("utf-8")
                doc = strict_json(text)
            except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                raise Problem(400, "json", f"body is not strict UTF-8 JSON: {str(e)[:200]}") from None
            if not batch:
                check_transaction(doc, "")
                return [text.strip(WS)]
            if not isinstance(doc, dict) or list(doc) != ["data"]:
                keys = list(doc) if isinstance(doc, dict) else type(doc).__name__
                raise Problem(400, "envelope", f"body must be an object with exactly the key 'data', got {keys}")
            data = doc["data"]
            if not isinstance(data, list) or not data:
                raise Problem(400, "envelope", "data must be a non-empty array of transactions")
            with lock:
                stats["maxBatchTransactionsSeen"] = max(stats["maxBatchTransactionsSeen"], len(data))
            if len(data) > a.max_batch_transactions:
                raise Problem(400, "count", f"data holds {len(data)} transactions, over the limit of "
                              f"{a.max_batch_transactions}")
            for i, t in enumerate(data):
                check_transaction(t, f"data[{i}]")
            return element_spans(text)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request, client_address):
            # The TLS handshake runs here, in the connection's thread: a silent client cannot stall the others.
            request.settimeout(60)
            try:
                tls = ctx.wrap_socket(request, server_side=True)
            except OSError:
                return
            try:
                self.RequestHandlerClass(tls, client_address, self)
            except OSError:
                pass
            finally:
                try:
                    tls.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                tls.close()

    server = Server(("127.0.0.1", a.port), Handler)
    # --port 0 lets the kernel pick a free port: report the one we got.
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
