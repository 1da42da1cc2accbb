#!/usr/bin/env bash
# GET redirects per second and latency: `wrk` with 64 connections against `recording-gateway serve`
# (release build) on loopback, fetching a KAZOO-style doubled path of a stored recording. The first
# fetch goes through the route (index lookup); later ones are answered from memory on the event loop.
# For comparison the same run measures /healthz, the cheapest request through the whole HTTP stack.
# Usage: Benchmarks/redirects-wrk.sh [SECONDS] [ROUNDS]   (defaults 10, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-3}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null
source Benchmarks/bench-lib.sh
setup_bench
start_serve true

path="$account/0123456789abcdef0123456789abcdef/202611-0123456789abcdef0123456789abcdef/0123456789abcdef0123456789abcdef.mp3"
head -c 1000000 /dev/urandom >"$work/recording.mp3"
curl -fsS -o /dev/null -T "$work/recording.mp3" -H 'Content-Type: audio/mpeg' "http://127.0.0.1:$port/k/$token/$path"
url="http://127.0.0.1:$port/k/$token/$path/$path?call_id=abc&media_type=mp3"
test "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 302
curl -fsSL -o "$work/fetched.mp3" "$url" && cmp "$work/recording.mp3" "$work/fetched.mp3"

echo "wrk -c64 -d${seconds}s against $(nproc) cores shared by wrk and the gateway"
for round in $(seq 1 "$rounds"); do
  for threads in 1 2; do
    result=$(wrk -t"$threads" -c64 -d"${seconds}s" --latency "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$result")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$result")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$result")
    non3xx=$(awk '/Non-2xx or 3xx/ {print $5}' <<<"$result")
    echo "round $round  wrk -t$threads  redirects: $rps/s  p50 $p50  p99 $p99  ${non3xx:+non-2xx/3xx: $non3xx}"
  done
  health=$(wrk -t1 -c64 -d"${seconds}s" --latency "http://127.0.0.1:$port/healthz")
  echo "round $round  wrk -t1  /healthz:  $(awk '/Requests\/sec/ {print $2}' <<<"$health")/s  p99 $(awk '$1 == "99%" {print $2}' <<<"$health")"
done
