#!/usr/bin/env python3
"""A strict stand-in for Cequence UAP's token and transaction endpoints, over HTTPS on loopback.

It validates what the real service would: OAuth2 client credentials (form body or HTTP Basic), bearer tokens that
expire, `Content-Type: application/json` with `Content-Encoding: gzip`, the uncompressed size limit, and every
transaction against docs/transaction.schema.json. Faults can be injected in order for the transaction posts:
  500          answer 500
  429          answer 429 with Retry-After: 1
  slow         wait --slow-seconds, then accept (the client may have given up: a re-send must be harmless)
  drop         close the connection without answering
  expire       revoke every token issued so far, then check the request's token (so it fails with 401)
  400          answer 400 (a non-retryable refusal)
Accepted transactions are appended as NDJSON to --records; GET /_stats returns counters as JSON.
"""
import argparse, base64, gzip, json, secrets, socket, ssl, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import jsonschema
except ImportError:  # the test runner installs it; without it validation would silently be weaker
    sys.exit("uap_double: the jsonschema module is required (pip install jsonschema)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--client-id", default="apitap-test")
    p.add_argument("--client-secret", default="s3cr3t-value")
    p.add_argument("--token-ttl", type=int, default=3600)
    p.add_argument("--max-batch-bytes", type=int, default=1048576)
    p.add_argument("--faults", default="")
    p.add_argument("--slow-seconds", type=float, default=3.0)
    p.add_argument("--no-auth", action="store_true", help="accept posts without a token (UAP_AUTH_ENABLED=false)")
    a = p.parse_args()

    schema = json.load(open(a.schema))
    validator = jsonschema.Draft202012Validator(schema)
    lock = threading.Lock()
    state = {"faults": [f for f in a.faults.split(",") if f], "tokens": {}, "stats": {
        "tokenRequests": 0, "tokensIssued": 0, "tokenRejected": 0, "posts": 0, "accepted": 0, "records": 0,
        "rejected": {}, "faultsInjected": [], "authorizationHeaders": 0}}

    def reject(reason):
        with lock:
            state["stats"]["rejected"][reason] = state["stats"]["rejected"].get(reason, 0) + 1

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            if self.path == "/_stats":
                with lock:
                    return self.answer(200, state["stats"])
            self.answer(404, {"error": "not found"})

        def do_POST(self):
            body = self.read_body()
            if self.path == "/oauth/token":
                return self.token(body)
            if self.path == "/api-transactions":
                return self.transactions(body)
            self.answer(404, {"error": "not found"})

        def token(self, body):
            with lock:
                state["stats"]["tokenRequests"] += 1
            if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
                reject("token-content-type")
                return self.answer(400, {"error": "invalid_request"})
            form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
            cid, csec = (form.get("client_id") or [None])[0], (form.get("client_secret") or [None])[0]
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
                cid, csec = urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(csec)
            if (form.get("grant_type") or [None])[0] != "client_credentials":
                reject("grant-type")
                return self.answer(400, {"error": "unsupported_grant_type"})
            if cid != a.client_id or csec != a.client_secret:
                with lock:
                    state["stats"]["tokenRejected"] += 1
                return self.answer(401, {"error": "invalid_client"})
            token = secrets.token_urlsafe(24)
            with lock:
                state["tokens"][token] = time.time() + a.token_ttl
                state["stats"]["tokensIssued"] += 1
            self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": a.token_ttl})

        def transactions(self, body):
            with lock:
                state["stats"]["posts"] += 1
                fault = state["faults"].pop(0) if state["faults"] else None
                if fault:
                    state["stats"]["faultsInjected"].append(fault)
                if self.headers.get("Authorization"):
                    state["stats"]["authorizationHeaders"] += 1
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "500":
                return self.answer(500, {"error": "injected"})
            if fault == "429":
                return self.answer(429, {"error": "slow down"}, [("Retry-After", "1")])
            if fault == "400":
                return self.answer(400, {"error": "injected refusal"})
            if fault == "expire":
                with lock:
                    state["tokens"].clear()
            if not a.no_auth:
                auth = self.headers.get("Authorization", "")
                with lock:
                    expiry = state["tokens"].get(auth[7:]) if auth.startswith("Bearer ") else None
                if expiry is None or expiry < time.time():
                    reject("token")
                    return self.answer(401, {"error": "invalid_token"})
            if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                reject("content-type")
                return self.answer(415, {"error": "expected application/json"})
            if self.headers.get("Content-Encoding") != "gzip":
                reject("content-encoding")
                return self.answer(400, {"error": "expected gzip"})
            try:
                raw = gzip.decompress(body)
            except Exception:
                reject("gzip")
                return self.answer(400, {"error": "bad gzip"})
            if len(raw) > a.max_batch_bytes:
                reject("size")
                return self.answer(413, {"error": f"batch of {len(raw)} bytes over {a.max_batch_bytes}"})
            try:
                batch = json.loads(raw)
            except ValueError:
                reject("json")
                return self.answer(400, {"error": "not JSON"})
            if not isinstance(batch, list) or not batch:
                reject("not-array")
                return self.answer(400, {"error": "expected a non-empty JSON array"})
            for i, t in enumerate(batch):
                errors = sorted(validator.iter_errors(t), key=str)
                if errors:
                    reject("schema")
                    return self.answer(400, {"error": f"transaction {i}: {errors[0].message}"})
            if fault == "slow":
                time.sleep(a.slow_seconds)
            with lock:
                with open(a.records, "a") as f:
                    for t in batch:
                        f.write(json.dumps(t) + "\n")
                state["stats"]["accepted"] += 1
                state["stats"]["records"] += len(batch)
            self.answer(202, {"accepted": len(batch)})

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    # --port 0 lets the kernel pick a free port: report the one we got.
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
