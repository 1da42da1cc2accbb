#!/usr/bin/env python3
"""A TCP proxy that passes at most RATE bytes per second (all connections together) from client to
server: an S3 endpoint slower than the gateway's clients. RATE 0: no limit (an S3 that a test cuts off by
killing the proxy and brings back by starting it again). With REQUEST_LOG, each request's method and path is
appended to that file as it passes (requests read by their Content-Length): what S3 was asked, counted at S3's side.
Usage: throttle-proxy.py LISTEN_PORT TARGET_PORT RATE [REQUEST_LOG]"""
import asyncio
import os
import signal
import sys
import time

# Started from a test runner whose threads may block SIGTERM: stop on it, whatever was inherited.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

listen_port, target_port, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
request_log = open(sys.argv[4], "a", buffering=1) if len(sys.argv) > 4 else None


class Bucket:
    """A token bucket shared by every connection's upstream direction."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, count):
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate / 10, self.tokens + (now - self.last) * self.rate) - count
            self.last = now
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


bucket = Bucket(rate)


async def pipe(reader, writer, throttled):
    try:
        while True:
            data = await reader.read(16384 if rate else 262144)
            if not data:
                break
            if throttled:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        close(writer)


def close(writer):
    try:
        writer.close()
    except Exception:
        pass


async def log_requests(reader, writer):
    """Relays requests one by one (head, then Content-Length bytes of body), logging each request line."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            request_log.write(" ".join(lines[0].split(" ")[:2]) + "\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            writer.write(head)
            while length > 0:
                data = await reader.read(min(length, 262144))
                if not data:
                    return
                length -= len(data)
                writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
        pass
    finally:
        close(writer)


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    upstream = log_requests(client_reader, server_writer) if request_log else pipe(client_reader, server_writer, rate > 0)
    await asyncio.gather(upstream, pipe(server_reader, client_writer, False))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
