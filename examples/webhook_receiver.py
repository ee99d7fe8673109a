#!/usr/bin/env python3
"""Prints every webhook Escalator sends and answers 200. Usage: webhook_receiver.py [PORT]"""
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("ESCALATOR_WEBHOOK_SECRET", "").encode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        signature = self.headers.get("x-escalator-signature", "")
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        verdict = "signature ok" if SECRET and hmac.compare_digest(signature, expected) else "signature not checked"
        page = json.loads(body)
        incident = page.get("incident", {})
        print(f"{self.path}: #{incident.get('id')} level {incident.get('level')} "
              f"{incident.get('title')!r} ({verdict})\n  ack: {page.get('ack_url')}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9999
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
