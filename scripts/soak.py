#!/usr/bin/env python3
"""A soak: a release `serve` under a mixed KAZOO-like load for a given time while its S3 (`rclone serve s3`
behind a TCP proxy) is cut off and restored every 20-40 s, by killing the proxy and starting it again.

Load (6 clients): raw stores of 1 KB-300 KB and of 2-12 MiB (multipart uploads), KAZOO multipart stores,
multipart+base64 stores, GETs with KAZOO's doubled path and metadata query (the redirect followed when S3 is
up), HEADs, admin calls (/api/status, /api/accounts, /api/queue, /metrics). At the end, with S3 back, it waits
for the queue to drain and checks:
  - every acknowledged recording (201 or 202) is in the bucket, byte for byte (read from rclone's directory);
  - the peak RSS (VmHWM) stayed within idle RSS + memory_budget_bytes + 32 MiB;
  - RSS and open file descriptors did not grow: the last window against the first (10 minutes each, or a
    third of the run when shorter, after a warm-up of a tenth of the run, at most a minute): RSS at most 10% +
    8 MiB higher (25% + 16 MiB for windows under 5 minutes, which still hold the allocator's warm-up), files at
    most 16 more;
  - no 5xx but the documented 503s (with Retry-After), no 4xx, every acknowledged recording fetchable.
Prints the figures and writes them as JSON (--report). Exit status 1 when a check fails.
Usage: soak.py --binary PATH --rclone PATH [--seconds 120] [--report FILE] [--budget-mib 128] [--rate 0]"""
import argparse, base64, hashlib, http.client, json, os, random, shutil, signal, socket, statistics, subprocess, sys
import tempfile, threading, time, urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--binary", required=True)
parser.add_argument("--rclone", required=True)
parser.add_argument("--seconds", type=float, default=120)
parser.add_argument("--report")
parser.add_argument("--budget-mib", type=int, default=128)
parser.add_argument("--clients", type=int, default=6)
# 0: every client sends its next request as soon as the last is answered (the most this machine carries). With S3
# away half the time, that load outgrows what the gateway can replay, and the queue grows all run long; a rate the
# gateway can catch up with keeps the run steady, so that RSS at its end and at its start are comparable.
parser.add_argument("--rate", type=float, default=0, help="requests per second, all clients together (0: no pause)")
args = parser.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="rg-soak-")
children = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def start(name, argv, **kwargs):
    log = open(os.path.join(work, name + ".log"), "ab")
    children[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    return children[name]


def stop(name, sig=signal.SIGTERM):
    process = children.pop(name, None)
    if process and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_all():
    for name in list(children):
        stop(name)


signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(1)))

# S3: rclone serve s3 on a directory, reached only through the proxy the soak cuts.
access, secret, bucket = "SOAKACCESSKEY", base64.urlsafe_b64encode(os.urandom(24)).decode(), "soak"
os.makedirs(os.path.join(work, "s3", bucket))
rclone_port, proxy_port, port, admin_port = free_port(), free_port(), free_port(), free_port()
start("rclone", [args.rclone, "serve", "s3", "--addr", f"127.0.0.1:{rclone_port}", "--auth-key", f"{access},{secret}",
                 os.path.join(work, "s3")])
wait_for_port(rclone_port)


def proxy_up():
    start("proxy", [sys.executable, os.path.join(here, "throttle-proxy.py"), str(proxy_port), str(rclone_port), "0"])
    wait_for_port(proxy_port)


proxy_up()

admin_token = base64.urlsafe_b64encode(os.urandom(24)).decode()
config = {"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin_port}", "public_base_url": f"http://127.0.0.1:{port}",
          "data_dir": os.path.join(work, "data"), "memory_budget_bytes": args.budget_mib * 1024 * 1024,
          "spool_min_free_bytes": 0, "replay_base_delay_seconds": 1, "replay_max_delay_seconds": 5,
          "s3_retry_max_attempts": 2, "admin_token": admin_token, "log_level": "notice"}
config_path = os.path.join(work, "config.json")
json.dump(config, open(config_path, "w"))
environment = dict(os.environ, RG_MASTER_KEY="")
account_id = "50a450a450a450a450a450a450a450a4"
added = subprocess.run([args.binary, "accounts", "add", "--config", config_path, "--account-id", account_id, "--name", "Soak clinic",
                        "--bucket", bucket, "--host", f"127.0.0.1:{proxy_port}", "--scheme", "http", "--path-style",
                        "--access-key-id", access, "--secret-access-key-stdin", "--json"],
                       input=secret.encode(), capture_output=True, env=environment)
if added.returncode != 0:
    raise SystemExit("accounts add failed: " + added.stderr.decode())
token = json.loads(added.stdout)["token"]
serve = start("serve", [args.binary, "serve", "--config", config_path], env=environment)
wait_for_port(port)
wait_for_port(admin_port)


def proc(field):
    with open(f"/proc/{serve.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds():
    return len(os.listdir(f"/proc/{serve.pid}/fd"))


def request(method, path, body=None, headers=None, target_port=port, host="127.0.0.1", timeout=120):
    connection = http.client.HTTPConnection(host, target_port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
    finally:
        connection.close()


# Warm up with one store, then the idle figures.
status, _, text = request("PUT", f"/k/{token}/{account_id}/warm/warm.mp3", b"warm", {"Content-Type": "audio/mpeg"})
if status != 201:
    raise SystemExit(f"the warm-up store answered {status}: {text[:200]}")
time.sleep(1)
idle_mib = proc("VmRSS")
bound_mib = idle_mib + args.budget_mib + 32

lock = threading.Lock()
acknowledged = {}  # object key -> sha256 hex
answers = {}  # "store 201", "get 302", ...
problems = []
samples = []  # (seconds since start, rss MiB, fds)
queue_depths = []  # the retry queue's depth (rg_queue_depth), every 10 s: whether the load is steady
memory_maps = []  # resident memory by kind of mapping, every minute
stop_load = threading.Event()
s3_up = threading.Event()
s3_up.set()
cuts = []


def count(what):
    with lock:
        answers[what] = answers.get(what, 0) + 1


def problem(text):
    with lock:
        if len(problems) < 50:
            problems.append(text)


def recording(size, rng):
    head = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    return head + rng.randbytes(max(0, size - len(head)))


def multipart(boundary, name, content_type, data, doc_id):
    doc = json.dumps({"id": doc_id, "name": "call recording", "duration_ms": 60000}).encode()
    b = boundary.encode()
    return (b"\r\n--" + b + b"\r\ncontent-disposition: form-data; name=" + doc_id.encode() + b"\r\ncontent-type: application/json\r\n\r\n"
            + doc + b"\r\n--" + b + b"\r\ncontent-disposition: form-data; name=" + name.encode() + b"\r\ncontent-type: "
            + content_type.encode() + b"\r\n\r\n" + data + b"\r\n--" + b + b"--")


def store(rng, worker, n):
    form = rng.choices(["small", "large", "multipart", "base64"], [45, 10, 30, 15])[0]
    size = rng.randint(2 * 1024 * 1024, 12 * 1024 * 1024) if form == "large" else rng.randint(1000, 300_000)
    data = recording(size, rng)
    doc_id = f"202612-{worker:02x}{n:030x}"
    name = f"{rng.getrandbits(128):032x}.mp3"
    segment = f"{account_id}/owner{worker}/{doc_id}/{name}"
    headers = {"Content-Type": "audio/mpeg"}
    body = data
    if form in ("multipart", "base64"):
        boundary = base64.urlsafe_b64encode(rng.randbytes(48)).decode()
        body = multipart(boundary, name, "audio/mpeg", base64.b64encode(data) if form == "base64" else data, doc_id)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    headers["Content-Length"] = str(len(body))
    try:
        status, response_headers, text = request("PUT", f"/k/{token}/{segment}", body, headers)
    except (OSError, http.client.HTTPException) as error:
        count("store connection-error")
        problem(f"store {segment}: {error}")
        return None
    count(f"store {status}")
    if status in (201, 202):
        with lock:
            acknowledged[segment] = hashlib.sha256(data).hexdigest()
        return segment
    if status == 503 and "retry-after" in response_headers:
        return None
    problem(f"store {form} {segment}: {status} {text[:200]!r}")
    return None


def fetch(rng, segment, method):
    path = f"/k/{token}/{segment}/{segment}?call_id=soak{rng.getrandbits(32)}&duration_ms=60000"
    try:
        status, headers, body = request(method, path)
    except (OSError, http.client.HTTPException) as error:
        count(f"{method.lower()} connection-error")
        problem(f"{method} {segment}: {error}")
        return
    count(f"{method.lower()} {status}")
    if status in (200, 302):
        if status == 302 and method == "GET" and s3_up.is_set():
            location = urllib.parse.urlsplit(headers["location"])
            try:
                redirected, _, data = request("GET", location.path + "?" + location.query, target_port=location.port)
            except (OSError, http.client.HTTPException):
                return  # S3 was cut off in between (before or during S3's answer: IncompleteRead)
            if redirected == 200 and hashlib.sha256(data).hexdigest() != acknowledged[segment]:
                problem(f"GET {segment}: S3's bytes differ")
            count(f"s3-get {redirected}")
        elif status == 200 and method == "GET" and hashlib.sha256(body).hexdigest() != acknowledged[segment]:
            problem(f"GET {segment}: the gateway's bytes differ")
        return
    if status == 503 and "retry-after" in headers:
        return
    problem(f"{method} {segment}: {status} {body[:200]!r}")


def admin(rng):
    path = rng.choice(["/api/status", "/api/accounts", "/api/queue", "/metrics"])
    try:
        status, _, body = request("GET", path, headers={"Authorization": f"Bearer {admin_token}"}, target_port=admin_port)
    except (OSError, http.client.HTTPException) as error:
        problem(f"admin {path}: {error}")
        return
    count(f"admin {status}")
    if status != 200:
        problem(f"admin {path}: {status} {body[:200]!r}")


def client(worker):
    rng = random.Random(worker * 7919 + int(time.time()))
    mine = []
    n = 0
    interval = args.clients / args.rate if args.rate > 0 else 0
    due = time.time()
    while not stop_load.is_set():
        if interval:
            # Open loop: each request at its time; a late one goes at once, without a burst to catch up.
            due = max(due + interval, time.time() - interval)
            if stop_load.wait(max(0, due - time.time())):
                break
        roll = rng.random()
        if roll < 0.55 or not mine:
            n += 1
            segment = store(rng, worker, n)
            if segment:
                mine.append(segment)
        elif roll < 0.80:
            fetch(rng, rng.choice(mine), "GET")
        elif roll < 0.92:
            fetch(rng, rng.choice(mine), "HEAD")
        else:
            admin(rng)


def metric(name):
    _, _, body = request("GET", "/metrics", target_port=admin_port, timeout=10)
    line = next((l for l in body.decode().splitlines() if l.startswith(name + " ")), name + " 0")
    return float(line.split()[-1])


def queue_depth():
    return metric("rg_queue_depth")


def memory_map():
    """Resident MiB by kind of mapping: the heap (and its size), other anonymous memory (mmap'd buffers, thread
    stacks), the executable and libraries, the database's shared memory, anything else."""
    kinds, kind = {}, None
    with open(f"/proc/{serve.pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields[0]) > 8 and not fields[0].endswith(":"):
                name = fields[5] if len(fields) > 5 else ""
                if name == "[heap]":
                    kind = "heap"
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    kinds["heap_size"] = kinds.get("heap_size", 0) + (end - start) // 1024
                elif name == "" or name.startswith("[stack"):
                    kind = "anonymous"
                elif name.endswith("-shm"):
                    kind = "sqlite_shm"
                elif name.startswith("/"):
                    kind = "files"
                else:
                    kind = "other"
            elif fields[0] == "Rss:":
                kinds[kind] = kinds.get(kind, 0) + int(fields[1])
    return {k: round(v / 1024, 1) for k, v in sorted(kinds.items())}


def sampler(started):
    while not stop_load.is_set():
        try:
            samples.append((time.time() - started, proc("VmRSS"), fds()))
        except OSError:
            problem("serve is gone")
            return
        if len(samples) % 30 == 1:
            try:
                memory = {"minute": round((time.time() - started) / 60), "rss": round(samples[-1][1], 1)} | memory_map()
                memory["sqlite"] = round(metric("rg_sqlite_memory_bytes") / 2**20, 1)
                memory_maps.append(memory)
                print("memory", json.dumps(memory), flush=True)
            except Exception as error:
                print("memory sample failed:", error, flush=True)
        if len(samples) % 5 == 1:
            try:
                queue_depths.append(queue_depth())
            except Exception:  # a busy admin listener is no problem of the soak's
                pass
        time.sleep(2)


def flapper(started):
    rng = random.Random()
    while not stop_load.wait(rng.uniform(20, 40)):
        if s3_up.is_set():
            s3_up.clear()
            stop("proxy", signal.SIGKILL)
            cuts.append(round(time.time() - started))
        else:
            proxy_up()
            s3_up.set()


started = time.time()
threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
threads += [threading.Thread(target=sampler, args=(started,)), threading.Thread(target=flapper, args=(started,))]
for thread in threads:
    thread.start()
try:
    time.sleep(args.seconds)
finally:
    stop_load.set()
    for thread in threads:
        thread.join()
load_seconds = time.time() - started
if not s3_up.is_set():
    proxy_up()
    s3_up.set()

# S3 is back: the queue drains, then every acknowledged recording must be in the bucket.
drain_started = time.time()
depth = None
while time.time() - drain_started < 600:
    depth = queue_depth()
    if depth == 0:
        break
    time.sleep(1)
drain_seconds = time.time() - drain_started
missing, differ = [], []
for segment, digest in acknowledged.items():
    path = os.path.join(work, "s3", bucket, segment)
    if not os.path.exists(path):
        missing.append(segment)
    elif hashlib.sha256(open(path, "rb").read()).hexdigest() != digest:
        differ.append(segment)

peak_mib = proc("VmHWM")
# Where the memory is once idle: RSS after the drain (the gateway hands the allocator's free pages back every 30 s).
time.sleep(5)
rss_idle_end = proc("VmRSS")
memory_after_drain = memory_map() | {"sqlite": round(metric("rg_sqlite_memory_bytes") / 2**20, 1)}
warm = min(60, load_seconds / 10)
window = min(600, (load_seconds - warm) / 3)
first = [s for s in samples if warm <= s[0] < warm + window]
last = [s for s in samples if s[0] >= load_seconds - window]
rss_first, rss_last = statistics.median(s[1] for s in first), statistics.median(s[1] for s in last)
fd_first, fd_last = statistics.median(s[2] for s in first), statistics.median(s[2] for s in last)
# Windows of 5 minutes or more: at most 10% + 8 MiB. A short run's windows still hold the allocator's warm-up.
growth_percent, growth_mib = (10, 8) if window >= 300 else (25, 16)
stop("serve")
serve_status = serve.returncode
stop_all()

stores = {k: v for k, v in answers.items() if k.startswith("store")}
report = {
    "seconds": round(load_seconds), "rate": args.rate, "s3_cut_at_seconds": cuts, "answers": answers,
    "acknowledged": len(acknowledged), "landed": len(acknowledged) - len(missing) - len(differ),
    "missing": len(missing), "different": len(differ), "drain_seconds": round(drain_seconds, 1), "queue_depth_at_end": depth,
    "rss_mib": {"idle": round(idle_mib, 1), "peak": round(peak_mib, 1), "bound": round(bound_mib, 1),
                "first_window": round(rss_first, 1), "last_window": round(rss_last, 1), "idle_after_drain": round(rss_idle_end, 1),
                "every_minute": [round(s[1]) for s in samples[::30]]},
    "fds": {"first_window": fd_first, "last_window": fd_last}, "window_seconds": round(window),
    "queue_depth_every_minute": [round(d) for d in queue_depths[::6]], "memory_every_minute": memory_maps,
    "memory_after_drain": memory_after_drain,
    "serve_exit_status": serve_status, "problems": problems,
}
checks = {
    "every acknowledged recording landed byte for byte": not missing and not differ and depth == 0,
    "peak RSS within the bound": peak_mib <= bound_mib,
    f"RSS did not grow (last window at most {growth_percent}% + {growth_mib} MiB above the first)":
        rss_last <= rss_first * (1 + growth_percent / 100) + growth_mib,
    "open files did not grow (last window at most 16 above the first)": fd_last <= fd_first + 16,
    "no 4xx, no 5xx but 503 with Retry-After, no connection errors, fetches whole": not problems,
    "S3 was cut off and restored": len(cuts) >= 1,
    "recordings were acknowledged both ways (201 and 202)": stores.get("store 201", 0) > 0 and stores.get("store 202", 0) > 0,
    "serve stopped cleanly on SIGTERM": serve_status == 0,
}
report["checks"] = checks
print(json.dumps(report, indent=2))
if args.report:
    json.dump(report, open(args.report, "w"), indent=2)
failed = [name for name, ok in checks.items() if not ok]
for name, ok in checks.items():
    print(("ok      " if ok else "FAILED  ") + name)
if failed:
    # The logs and the database stay for a look; the bucket and the spool (gigabytes after a long run) do not.
    shutil.rmtree(os.path.join(work, "s3"), ignore_errors=True)
    shutil.rmtree(os.path.join(work, "data", "spool"), ignore_errors=True)
    print(f"logs kept in {work}")
    sys.exit(1)
subprocess.run(["rm", "-rf", work])
