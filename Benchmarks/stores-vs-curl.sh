#!/usr/bin/env bash
# The gateway against curl straight to the same `rclone serve s3` (SigV4 by curl's --aws-sigv4), in one run
# (issue 17's measures 4 and 5): one store of SIZE MiB (spool on, spool off, curl: MiB/s, gateway CPU, peak
# RSS), then COUNT stores of 1 MiB with IN_FLIGHT at a time (stores/s, p50, p99 from curl's own timings).
# Usage: Benchmarks/stores-vs-curl.sh [SIZE_MIB] [COUNT] [IN_FLIGHT]   (defaults 1024, 1000, 64)
# RG_BIN: a recording-gateway binary to measure instead of this tree's release build (Benchmarks/bench-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
count=${2:-1000}
in_flight=${3:-64}
source Benchmarks/bench-lib.sh
setup_bench
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/big.mp3"
head -c "$((1024 * 1024))" /dev/urandom >"$work/small.mp3"
cat "$work/big.mp3" "$work/small.mp3" >/dev/null # in the page cache for every client
direct="http://127.0.0.1:$s3_port/bench"
sigv4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "BENCHKEY:$secret")
echo "config.example.json's budget and parts; $(nproc) cores shared by curl, the gateway and rclone"

# $1: label; the rest: curl arguments for one upload of big.mp3. Prints MiB/s, S3's (rclone's) CPU, and the
# gateway's CPU and peak RSS: on a machine whose cores the three share, every CPU-second counts.
one_store() {
  local label=$1
  shift
  local cpu0=0 s3cpu0
  s3cpu0=$(process_cpu_seconds "$s3_pid")
  [ -n "$serve_pid" ] && cpu0=$(process_cpu_seconds "$serve_pid")
  local out
  out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$work/big.mp3" "$@")
  read -r code seconds <<<"$out"
  local rate
  rate=$(python3 -c "print(round($size_mib / $seconds, 1))")
  local s3cpu
  s3cpu=$(python3 -c "print($(process_cpu_seconds "$s3_pid") - $s3cpu0)")
  if [ -n "$serve_pid" ]; then
    local cpu1
    cpu1=$(process_cpu_seconds "$serve_pid")
    printf '%-22s %s  %6.1f MiB/s  S3 CPU %5.2f s  gateway CPU %.2f s  peak RSS %s MiB\n' "$label" "$code" "$rate" "$s3cpu" "$(python3 -c "print($cpu1 - $cpu0)")" "$(process_peak_rss_mib "$serve_pid")"
  else
    printf '%-22s %s  %6.1f MiB/s  S3 CPU %5.2f s\n' "$label" "$code" "$rate" "$s3cpu"
  fi
  echo "$rate" >"$work/rate-$label"
}

echo "== one store of $size_mib MiB"
one_store "curl straight to S3" "${sigv4[@]}" "$direct/direct-big.mp3"
for spool in true false; do
  start_serve "$spool"
  one_store "gateway spool=$spool" "http://127.0.0.1:$port/k/$token/$account/big-$spool.mp3"
  cmp -s "$work/big.mp3" "$work/s3/bench/$account/big-$spool.mp3" || echo "  STORED OBJECT DIFFERS"
  stop_serve
done
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
rate = lambda n: float(open(f"{w}/rate-{n}").read())
curl = rate("curl straight to S3")
print(f"ratio to curl: spool on {rate('gateway spool=true') / curl:.2f}, spool off {rate('gateway spool=false') / curl:.2f}")
PY

echo "== $count stores of 1 MiB, $in_flight in flight"
timed_stores "curl straight to S3" "$direct/direct-small-" "$count" "$in_flight" "${sigv4[@]}"
start_serve true
timed_stores "gateway spool=true" "http://127.0.0.1:$port/k/$token/$account/small-" "$count" "$in_flight"
