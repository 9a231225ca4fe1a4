#!/usr/bin/env python3
"""Stands in for CloudFormation's pre-signed S3 ResponseURL: records every request (method, path, query, headers,
body) as one JSON line in --out and answers 200. --fail-first N answers the first N requests with 503 (the client
must retry). Loopback only."""
import argparse, json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    a = p.parse_args()
    lock = threading.Lock()
    state = {"failures_left": a.fail_first}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def record(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
            parts = urlsplit(self.path)
            with lock:
                failing = state["failures_left"] > 0
                if failing:
                    state["failures_left"] -= 1
                entry = {"method": self.command, "path": parts.path, "query": parts.query,
                         "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "answered": 503 if failing else 200}
                with open(a.out, "a") as f:
                    f.write(json.dumps(entry) + "\n")
            status = 503 if failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = do_GET = record

    ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
