#!/usr/bin/env python3
"""A fast webhook sink for the benchmarks: answers every HTTP/1.1 request with
`200 OK` (keep-alive, empty body) and counts them. Standard library only.

Usage: sink.py PORT STATS_FILE [ARRIVALS_FILE]

With ARRIVALS_FILE it also writes one line per request, `<ns> <key>`: the
wall-clock time (`time.time_ns()`) when the read that completed the request
returned, and its `Idempotency-Key` header (or, failing that, the body's
`idempotency_key`; `-` if neither). The time is taken once per read, before
parsing, so it is the arrival of the bytes at the sink, not the end of the
sink's own work. The file is flushed when the sink exits.

It parses just enough HTTP to find request boundaries (headers up to the blank
line, then Content-Length bytes of body; chunked bodies are handled too), so
pipelined and keep-alive requests are answered correctly. On SIGTERM/SIGINT
it writes `requests=N` to STATS_FILE and exits.
"""
import asyncio
import re
import signal
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
COUNT = 0
ARRIVALS = None  # the arrivals file, when asked for
BODY_KEY = re.compile(rb'"idempotency_key"\s*:\s*"([^"]*)"')


def request_key(head_raw, head, body):
    """The request's idempotency key: header first, then the JSON body."""
    i = head.find(b"\r\nidempotency-key:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        return head_raw[i + 18 : j if j >= 0 else len(head)].strip().decode("ascii", "replace")
    m = BODY_KEY.search(body or b"")
    return m.group(1).decode("utf-8", "replace") if m else "-"


class Sink(asyncio.Protocol):
    __slots__ = ("transport", "buf", "need", "heads")

    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()
        self.need = -1  # body bytes still expected for the current request; -1: reading headers
        self.heads = None  # (raw, lowercased) headers of the current request, when logging

    def data_received(self, data):
        global COUNT
        now = time.time_ns() if ARRIVALS else 0
        buf = self.buf
        buf += data
        answered = 0
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head_raw = bytes(buf[:end])
                head = head_raw.lower()
                if ARRIVALS:
                    self.heads = (head_raw, head)
                del buf[: end + 4]
                length = 0
                i = head.find(b"\r\ncontent-length:")
                if i >= 0:
                    j = head.find(b"\r\n", i + 2)
                    length = int(head[i + 17 : j if j >= 0 else len(head)].strip())
                elif b"\r\ntransfer-encoding: chunked" in head:
                    length = -2  # chunked: wait for the terminating chunk
                self.need = length
            if self.need == -2:
                end = buf.find(b"\r\n0\r\n\r\n")
                if end < 0 and not buf.startswith(b"0\r\n\r\n"):
                    break
                cut = end + 7 if end >= 0 else 5
                if ARRIVALS:
                    ARRIVALS.write(f"{now} {request_key(*self.heads, bytes(buf[:cut]))}\n")
                del buf[:cut]
            else:
                if len(buf) < self.need:
                    break
                if ARRIVALS:
                    ARRIVALS.write(f"{now} {request_key(*self.heads, bytes(buf[: self.need]))}\n")
                del buf[: self.need]
            self.need = -1
            answered += 1
        if answered:
            COUNT += answered
            self.transport.write(RESPONSE * answered)


async def main(port, stats_file):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024, reuse_address=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    print(f"sink listening on 127.0.0.1:{port}", flush=True)
    await stop
    server.close()
    with open(stats_file, "w") as f:
        f.write(f"requests={COUNT}\n")
    if ARRIVALS:
        ARRIVALS.close()


if __name__ == "__main__":
    if len(sys.argv) > 3:
        ARRIVALS = open(sys.argv[3], "w", buffering=1 << 20)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
