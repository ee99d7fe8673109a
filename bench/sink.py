#!/usr/bin/env python3
"""A fast webhook sink for the benchmarks: answers every HTTP/1.1 request with
`200 OK` (keep-alive, empty body) and counts them. Standard library only.

Usage: sink.py PORT STATS_FILE

It parses just enough HTTP to find request boundaries (headers up to the blank
line, then Content-Length bytes of body; chunked bodies are handled too), so
pipelined and keep-alive requests are answered correctly. On SIGTERM/SIGINT
it writes `requests=N` to STATS_FILE and exits.
"""
import asyncio
import signal
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
COUNT = 0


class Sink(asyncio.Protocol):
    __slots__ = ("transport", "buf", "need")

    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()
        self.need = -1  # body bytes still expected for the current request; -1: reading headers

    def data_received(self, data):
        global COUNT
        buf = self.buf
        buf += data
        answered = 0
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = bytes(buf[:end]).lower()
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
                del buf[:cut]
            else:
                if len(buf) < self.need:
                    break
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


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
