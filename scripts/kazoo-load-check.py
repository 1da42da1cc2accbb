#!/usr/bin/env python3
"""A short run of the KAZOO load harness (Benchmarks' kazoo-load) against a real `serve` and `rclone serve s3`,
then against rclone directly, checking the harness itself:
  - its counts equal what landed: as many objects in the bucket as stores it counts ok, with as many bytes;
  - every fetch it made came back and compared equal, and a fetch really compares: with one byte of every
    stored object flipped in the bucket, --verify-only counts every recording mismatched;
  - its JSON has the documented fields, and compare mode flags a figure 30% worse than a baseline;
  - its HTML report opens in headless chromium without script errors, with every chart drawn.
Usage: kazoo-load-check.py --binary GATEWAY --kazoo-load HARNESS --rclone RCLONE [--screenshots DIR]
Exit status 1 when a check fails. Servers are stopped by their PIDs."""
import argparse, base64, json, os, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

import headless_browser

parser = argparse.ArgumentParser()
parser.add_argument("--binary", required=True)
parser.add_argument("--kazoo-load", required=True)
parser.add_argument("--rclone", required=True)
parser.add_argument("--screenshots")
args = parser.parse_args()

work = tempfile.mkdtemp(prefix="rg-kazoo-load-")
children = []
failures = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(argv, log, **kwargs):
    process = subprocess.Popen(argv, stdout=open(os.path.join(work, log), "ab"), stderr=subprocess.STDOUT, **kwargs)
    children.append(process)
    return process


def stop_all():
    for process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        failures.append(what)


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered {url}")


def objects(directory):
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return found


def harness(extra, label, env=None):
    report, page = os.path.join(work, label + ".json"), os.path.join(work, label + ".html")
    argv = [args.kazoo_load, "--label", label, "--json", report, "--html", page] + extra
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    print(result.stdout.strip())
    if result.returncode != 0:
        print(result.stderr)
        raise SystemExit(f"kazoo-load exited with {result.returncode}")
    return json.load(open(report)), page


def field(report, path):
    value = report
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


try:
    access, secret = "LOADCHECKKEY", secrets.token_hex(20)
    for bucket in ("load", "direct"):
        os.makedirs(os.path.join(work, "s3", bucket))
    s3_port = free_port()
    start([args.rclone, "serve", "s3", "--addr", f"127.0.0.1:{s3_port}", "--auth-key", f"{access},{secret}",
           os.path.join(work, "s3")], "rclone.log")
    port = free_port()
    config = os.path.join(work, "config.json")
    json.dump({"listen": f"127.0.0.1:{port}", "admin_listen": "127.0.0.1:0", "public_base_url": "https://recordings.example.com",
               "data_dir": os.path.join(work, "data"), "log_level": "warning", "spool_min_free_bytes": 0}, open(config, "w"))
    account = "5b1c2d3e4f5061728394a5b6c7d8e9f0"
    env = dict(os.environ, RG_MASTER_KEY="")
    added = subprocess.run([args.binary, "accounts", "add", "--config", config, "--account-id", account, "--name", "Load check",
                            "--bucket", "load", "--host", f"127.0.0.1:{s3_port}", "--scheme", "http", "--path-style",
                            "--access-key-id", access, "--secret-access-key-stdin", "--json"],
                           input=secret, capture_output=True, text=True, env=env, check=True)
    token = json.loads(added.stdout)["token"]
    serve = start([args.binary, "serve", "--config", config], "serve.log", env=env)
    wait_for(f"http://127.0.0.1:{port}/healthz")

    # Gateway mode: every form and format, half the recordings fetched back.
    gateway_load = ["--storage-url", f"http://127.0.0.1:{port}/k/{token}", "--account-id", account, "--calls-per-second", "8",
                    "--duration-seconds", "6", "--median-seconds", "20", "--sigma", "0.8", "--multipart-share", "0.3",
                    "--base64-share", "0.3", "--wav-share", "0.2", "--fetch-share", "0.5", "--fetch-delay-min", "0.5",
                    "--fetch-delay-max", "2"]
    report, page = harness(gateway_load + ["--window-seconds", "1", "--gateway-pid", str(serve.pid)], "gateway")
    for name in ["stores.ok", "stores.failed", "stores.attempted", "stores.per_second", "stores.answers", "stores.latency_ms.p50",
                 "stores.latency_ms.p90", "stores.latency_ms.p99", "stores.latency_ms.p999", "stores.latency_ms.max",
                 "fetches.ok", "fetches.failed", "fetches.mismatched", "fetches.latency_ms.p99", "bytes_stored", "mib_per_second",
                 "rss_mib.peak", "rss_mib.start", "rss_mib.hwm", "cpu_seconds", "cpu_cores", "series", "process"]:
        check(field(report, name) is not None, f"the JSON has {name}")
    stored = report["stores"]["ok"]
    check(stored > 20 and stored == report["stores"]["attempted"] and report["stores"]["failed"] == 0,
          f"every store was answered 2xx ({stored} of {report['stores']['attempted']})")
    # 202s land when their replay does: wait until the bucket holds as many objects as stores were counted.
    deadline = time.time() + 60
    while len(objects(os.path.join(work, "s3", "load"))) < stored and time.time() < deadline:
        time.sleep(0.5)
    landed = objects(os.path.join(work, "s3", "load"))
    check(len(landed) == stored, f"the bucket holds as many objects as stores counted ok ({len(landed)} = {stored})")
    check(sum(os.path.getsize(p) for p in landed) == report["bytes_stored"],
          f"their bytes add up to bytes_stored ({report['bytes_stored']})")
    check(report["fetches"]["ok"] > 5 and report["fetches"]["failed"] == 0 and report["fetches"]["mismatched"] == 0,
          f"every fetch came back equal ({report['fetches']['ok']} fetched, {report['fetches']['mismatched']} mismatched)")
    check(report["rss_mib"]["peak"] > 5 and report["cpu_seconds"] > 0, "the gateway's RSS and CPU were read from /proc")

    # A fetch really compares: flip one byte of every stored object, then fetch them all back through the gateway.
    for path in landed:
        with open(path, "r+b") as file:
            file.seek(os.path.getsize(path) // 2)
            byte = file.read(1)
            file.seek(-1, 1)
            file.write(bytes([byte[0] ^ 0xFF]))
    verified, _ = harness(gateway_load + ["--verify-only"], "verify")
    check(verified["fetches"]["ok"] == 0 and verified["fetches"]["mismatched"] == stored,
          f"--verify-only fetches every recording of the run and finds each flipped byte ({verified['fetches']['mismatched']})")

    # Direct mode: the same load to rclone itself with presigned URLs.
    direct, direct_page = harness(["--direct-s3", f"http://127.0.0.1:{s3_port}", "--bucket", "direct", "--account-id", account,
                                   "--calls-per-second", "8", "--duration-seconds", "3", "--median-seconds", "20",
                                   "--fetch-share", "0.5", "--fetch-delay-min", "0.2", "--fetch-delay-max", "1"], "direct",
                                  env=dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret))
    direct_landed = objects(os.path.join(work, "s3", "direct"))
    check(direct["stores"]["ok"] == direct["stores"]["attempted"] == len(direct_landed) > 5,
          f"direct mode: every presigned PUT landed ({len(direct_landed)} of {direct['stores']['attempted']})")
    check(direct["fetches"]["ok"] > 2 and direct["fetches"]["mismatched"] == 0, "direct mode: presigned GETs compare equal")

    # Compare mode: a baseline made from the run, the run against it (no regression), then the run with its store
    # p99 30% worse (flagged, exit status 1).
    baseline = os.path.join(work, "baseline.json")
    subprocess.run([args.kazoo_load, "compare", "--write", "--baseline", baseline, os.path.join(work, "gateway.json")],
                   check=True, capture_output=True)
    same = subprocess.run([args.kazoo_load, "compare", "--baseline", baseline, os.path.join(work, "gateway.json")],
                          capture_output=True, text=True)
    worse_report = dict(report, stores=dict(report["stores"], latency_ms=dict(report["stores"]["latency_ms"])))
    worse_report["stores"]["latency_ms"]["p99"] = report["stores"]["latency_ms"]["p99"] * 1.3 + 1
    json.dump(worse_report, open(os.path.join(work, "worse.json"), "w"))
    worse = subprocess.run([args.kazoo_load, "compare", "--baseline", baseline, os.path.join(work, "worse.json")],
                           capture_output=True, text=True)
    check(same.returncode == 0 and "REGRESSION" not in same.stdout, "compare: the run against its own baseline flags nothing")
    flagged = next((line for line in worse.stdout.splitlines() if "REGRESSION" in line), "")
    check(worse.returncode == 1 and "stores.latency_ms.p99" in flagged, f"compare: a store p99 30% worse is flagged and exits 1 ({flagged.strip()})")

    # The HTML report in a real browser.
    browser = headless_browser.Browser()
    try:
        for domain in ("Runtime", "Page", "Log"):
            browser.call(domain + ".enable")
        browser.viewport(1280, mobile=False)
        browser.call("Page.navigate", url="file://" + page)
        browser.wait_for("document.readyState === 'complete'", "the report")
        charts = browser.evaluate("""[...document.querySelectorAll('svg.chart')].map(svg => ({
            title: svg.querySelector('title').textContent,
            drawn: [...svg.querySelectorAll('polyline.series')].filter(p => p.points.numberOfItems > 1 &&
                   p.getBoundingClientRect().width > 100).length}))""")
        print(json.dumps(charts))
        check(len(charts) == 5 and all(c["drawn"] >= 1 for c in charts),
              f"the report draws its five charts (latency, rate, bytes, RSS, CPU): {[c['title'] for c in charts]}")
        rows = browser.evaluate("document.querySelectorAll('table tr').length")
        check(rows >= 6, f"the report's tables have the figures ({rows} rows)")
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            browser.screenshot(os.path.join(args.screenshots, "kazoo-load-report.png"))
        errors = headless_browser.script_errors(browser.events)
        check(not errors, f"no script errors ({errors})")
    finally:
        browser.close()
    html = open(page).read()
    check("http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and token not in html,
          "the report loads nothing from the network and carries no token")
finally:
    stop_all()
    shutil.rmtree(work, ignore_errors=True)

print("kazoo-load check: " + ("every check ok" if not failures else f"{len(failures)} FAILED"))
sys.exit(1 if failures else 0)
