#!/usr/bin/env python3
"""Pages and circuit breakers (issue 10, item 1): the three reproductions of
the issue, run against any `escalator` binary on SQLite, so an old build and
a new one can be compared in one run. Standard library only.

Usage: breakers.py BIN [BIN...]

For each binary it prints, per scenario:
  dead+healthy  ten incidents page carol, whose webhook refuses connections;
                then one pages dave, whose receiver is healthy: how long
                dave's page took (or that it never came), and how many of
                carol's pages were given up.
  blip          twenty incidents page erin, whose receiver answers 503 to its
                first five requests: how many incidents reached her.
  burst         5 000 incidents page frank at once; his receiver (20 ms an
                answer) is down for the first 3 s: how many pages were
                delivered, failed, or still pending once nothing moves.
"""
import http.server
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A webhook receiver; `answer(n)` picks the status of the n-th request."""

    def __init__(self, answer, delay=0.0):
        self.got = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    n = len(outer.got) + 1
                    status = answer(n)
                    try:
                        incident = json.loads(body)["incident"]["id"]
                    except Exception:
                        incident = None
                    outer.got.append((incident, status, time.monotonic()))
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self):
        with self.lock:
            return {i for i, s, _ in self.got if 200 <= s < 300}

    def close(self):
        self.server.shutdown()


def config(users):
    """users: (name, url, key) — one service and policy per user."""
    y = "users:\n"
    for name, url, _ in users:
        y += f"  - id: {name}\n    contact_methods:\n      - {{id: hook, type: webhook, url: \"{url}\"}}\n"
    y += "escalation_policies:\n"
    for name, _, _ in users:
        y += f"  - id: {name}-p\n    levels:\n      - targets: [{{user: {name}}}]\n        escalate_after: 1h\n"
    y += "services:\n"
    for name, _, key in users:
        y += f"  - id: {name}-svc\n    escalation_policy: {name}-p\n    integrations:\n      - {{type: events_v2, key: \"{key}\"}}\n"
    return y


class Server:
    def __init__(self, binary, users, work):
        self.db = os.path.join(work, f"db-{time.monotonic_ns()}.db")
        cfg = os.path.join(work, "escalator.yaml")
        with open(cfg, "w") as f:
            f.write(config(users))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", cfg, "--database", f"sqlite://{self.db}",
             "--listen", f"127.0.0.1:{port}", "--webhook-secret", "s", "--events-rate-limit", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            if "listening on" in line:
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def trigger(self, key, dedup):
        body = json.dumps({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                           "payload": {"summary": dedup, "source": "bench", "severity": "critical"}}).encode()
        req = urllib.request.Request(self.url + "/v2/enqueue", data=body,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202, r.status

    def counts(self):
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return dict(con.execute("SELECT status, COUNT(*) FROM notifications GROUP BY status"))
        finally:
            con.close()

    def settle(self, total, within):
        """Waits until no notification is pending or sending (or `within` s)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            c = self.counts()
            if c.get("pending", 0) + c.get("sending", 0) == 0 and sum(c.values()) >= total:
                return c, True
            time.sleep(0.5)
        return self.counts(), False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def dead_and_healthy(binary, work):
    live = Receiver(lambda n: 200)
    dead = f"http://127.0.0.1:{free_port()}/carol"
    s = Server(binary, [("carol", dead, "c" * 32), ("dave", live.url("/dave"), "d" * 32)], work)
    try:
        for i in range(10):
            s.trigger("c" * 32, f"dead-{i}")
        time.sleep(2)  # carol's pages fail and her breaker opens
        t0 = time.monotonic()
        s.trigger("d" * 32, "live")
        while time.monotonic() - t0 < 10 and not live.got:
            time.sleep(0.01)
        took = f"{(live.got[0][2] - t0) * 1000:.0f} ms" if live.got else "never (10 s)"
        c = s.counts()
        return f"dave paged after {took}; notifications {c}"
    finally:
        s.stop()
        live.close()


def blip(binary, work):
    r = Receiver(lambda n: 503 if n <= 5 else 200)
    s = Server(binary, [("erin", r.url("/erin"), "e" * 32)], work)
    try:
        for i in range(20):
            s.trigger("e" * 32, f"blip-{i}")
        c, done = s.settle(20, 90)
        return f"{len(r.delivered())} of 20 incidents reached erin; notifications {c}{'' if done else ' (still moving after 90 s)'}"
    finally:
        s.stop()
        r.close()


def burst(binary, work, n=5000):
    start = [None]

    def answer(k):
        if start[0] is None:
            start[0] = time.monotonic()
        return 503 if time.monotonic() - start[0] < 3 else 200

    r = Receiver(answer, delay=0.02)
    s = Server(binary, [("frank", r.url("/frank"), "f" * 32)], work)
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: s.trigger("f" * 32, f"burst-{i}"), range(n)))
        c, done = s.settle(n, 300)
        return (f"{len(r.delivered())} of {n} incidents reached frank; notifications {c}; "
                f"{time.monotonic() - t0:.1f} s{'' if done else ' (not settled after 300 s)'}")
    finally:
        s.stop()
        r.close()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for binary in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as work:
            print(f"== {binary}", flush=True)
            for name, run in [("dead+healthy", dead_and_healthy), ("blip", blip), ("burst", burst)]:
                print(f"{name}: {run(binary, work)}", flush=True)


if __name__ == "__main__":
    main()
