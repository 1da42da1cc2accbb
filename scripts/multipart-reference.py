#!/usr/bin/env python3
"""An independent multipart/form-data parser for the gateway's differential test: reads DIR/N.boundary and
DIR/N.body for every N, parses each body with PyPI's `multipart` package (not the gateway's code), and prints
one JSON object per body: {"n": N, "parts": [{"name", "content_type", "data" (base64)}]} or {"n": N, "error": "..."}."""
import base64, json, os, sys

import multipart

directory = sys.argv[1]
names = sorted(int(f.split(".")[0]) for f in os.listdir(directory) if f.endswith(".body"))
for n in names:
    boundary = open(os.path.join(directory, f"{n}.boundary")).read()
    body = open(os.path.join(directory, f"{n}.body"), "rb").read()
    parser = multipart.PushMultipartParser(boundary, strict=False, max_header_size=16384, max_segment_count=100)
    parts, current = [], None
    try:
        for event in list(parser.parse(body)) + list(parser.parse(b"")):
            if isinstance(event, multipart.MultipartSegment):
                current = {"name": event.name, "content_type": event.content_type, "data": bytearray()}
            elif event is None:
                current["data"] = base64.b64encode(bytes(current["data"])).decode()
                parts.append(current)
            else:
                current["data"] += event
        if not parser.closed:
            raise ValueError("no closing boundary")
        print(json.dumps({"n": n, "parts": parts}))
    except Exception as error:  # any refusal: the gateway must refuse the same body
        print(json.dumps({"n": n, "error": str(error)}))
