#!/usr/bin/env python3
"""A TCP proxy that passes at most RATE bytes per second (all connections together) from client to
server: an S3 endpoint slower than the gateway's clients. RATE 0: no limit (an S3 that a test cuts off by
killing the proxy and brings back by starting it again). Usage: throttle-proxy.py LISTEN_PORT TARGET_PORT RATE"""
import asyncio
import os
import signal
import sys
import time

# Started from a test runner whose threads may block SIGTERM: stop on it, whatever was inherited.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

listen_port, target_port, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


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
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer, rate > 0), pipe(server_reader, client_writer, False))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
