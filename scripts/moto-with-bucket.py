#!/usr/bin/env python3
"""A private moto server for one test, with its bucket created before it accepts connections.

Usage: moto-with-bucket.py PORT BUCKET
moto keeps everything in memory, so a test that stops "S3" and starts it again would otherwise race
the gateway's replay worker to re-create the bucket. Auth is not enforced (any key pair works).
"""
import signal
import sys
import threading

from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

port, bucket = int(sys.argv[1]), sys.argv[2]
s3_backends["123456789012"]["aws"].create_bucket(bucket, "us-east-1")
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print("ready", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
server.stop()
