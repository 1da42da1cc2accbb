#!/usr/bin/env bash
# How fast a spooled backlog drains after an S3 outage, next to live stores in the same run (issue 16):
# a release `serve` (spool on, replay_base_delay_seconds 1, the rest config.example.json's), one account on
# `rclone serve s3` behind a TCP proxy. For each backlog size: COUNT live stores of 1 MiB (IN_FLIGHT at a time,
# S3 up: stores/s); the proxy killed (S3 cut off) and COUNT more stores (answered 202); the proxy started again
# and the time until the queue is empty (every row stored), with the gateway's CPU and peak RSS.
# Usage: Benchmarks/replay-drain.sh [COUNT...]   (default 100 1000 5000; IN_FLIGHT=64)
# RG_BIN: a recording-gateway binary to measure instead of this tree's release build (Benchmarks/bench-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 5000)
in_flight=${IN_FLIGHT:-64}
source Benchmarks/bench-lib.sh
start_rclone
rclone_port=$s3_port
proxy_port=$(free_port)
proxy_pid=""
start_proxy() {
  python3 scripts/throttle-proxy.py "$proxy_port" "$rclone_port" 0 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$proxy_port),0.2)" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
stop_proxy() { kill "$proxy_pid" && wait "$proxy_pid" 2>/dev/null || true; }
start_proxy
pairs='"replay_base_delay_seconds": 1'
write_config true "$pairs"
s3_port=$proxy_port add_bench_account "$work/config.json"
start_serve true "$pairs"
head -c "$((1024 * 1024))" /dev/urandom >"$work/small.mp3"
echo "1 MiB recordings, $in_flight stores in flight; $(nproc) cores shared by curl, the gateway, the proxy and rclone"

# Waits until no row is pending or uploading; prints the seconds it took.
drain_seconds() {
  python3 - "$work/data/gateway.sqlite" <<'PY'
import sqlite3, sys, time
start = time.monotonic()
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
while db.execute("SELECT count(*) FROM upload_queue WHERE state IN ('pending', 'uploading')").fetchone()[0] > 0:
    time.sleep(0.02)
print(f"{time.monotonic() - start:.2f}")
PY
}

printf '%8s  %12s  %12s  %10s  %12s  %8s  %12s  %s\n' backlog "live/s" "spooled/s" "drain s" "replays/s" ratio "drain CPU s" "peak RSS"
for count in "${counts[@]}"; do
  live=$(timed_stores live "http://127.0.0.1:$port/k/$token/$account/live-$count-" "$count" "$in_flight")
  live_rate=$(cat "$work/rate")
  stop_proxy
  spooled=$(timed_stores spooled "http://127.0.0.1:$port/k/$token/$account/backlog-$count-" "$count" "$in_flight")
  spool_rate=$(cat "$work/rate")
  cpu0=$(process_cpu_seconds "$serve_pid")
  start_proxy
  drain=$(drain_seconds)
  cpu1=$(process_cpu_seconds "$serve_pid")
  landed=$(find "$work/s3/bench/$account" -name "backlog-$count-*.mp3" | wc -l)
  python3 -c "
live, drain, count = $live_rate, $drain, $count
rate = count / drain
print(f'{count:8d}  {live:12.1f}  {$spool_rate:12.1f}  {drain:10.2f}  {rate:12.1f}  {rate / live:8.2f}  {$cpu1 - $cpu0:12.2f}  $(process_peak_rss_mib "$serve_pid") MiB')"
  [ "$landed" = "$count" ] || printf '  ONLY %s OF %s IN S3\n  %s\n  %s\n' "$landed" "$count" "$live" "$spooled"
  cmp -s "$work/small.mp3" "$work/s3/bench/$account/backlog-$count-1.mp3" || echo "  A REPLAYED OBJECT DIFFERS"
done
