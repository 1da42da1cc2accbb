#!/usr/bin/env bash
# The process's memory under concurrent stores (issue 17): N stores of SIZE MiB at once (curl --parallel)
# into `recording-gateway serve` (release build) and on to `rclone serve s3` on loopback, with the spool
# on and then off, and a memory budget of BUDGET MiB. Prints, per setting: the serve process's peak RSS
# (VmHWM from /proc), its CPU, the answers, and whether every object landed byte-identical.
# Usage: Benchmarks/concurrent-stores.sh [STORES] [SIZE_MIB] [BUDGET_MIB]   (defaults 256, 9, 64)
# RG_LOG_LEVEL: serve's log level (default warning); RG_SERVE_LOG_DIR: keep each run's serve log there.
# RG_BIN: a recording-gateway binary to measure instead of this tree's release build (Benchmarks/bench-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
stores=${1:-256}
size_mib=${2:-9}
budget_mib=${3:-64}
source Benchmarks/bench-lib.sh
# Every store waits its turn: the measure is the memory, not the admission limit.
limits="\"memory_budget_bytes\": $((budget_mib * 1024 * 1024)), \"admission_timeout_seconds\": 600"
setup_bench "$limits"

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/recording.mp3"
echo "$stores concurrent stores of $size_mib MiB, memory_budget_bytes $budget_mib MiB (admission_timeout_seconds 600: every store waits its turn); $(nproc) cores shared by curl, the gateway and rclone"

for spool in true false; do
  start_serve "$spool" "$limits"
  idle=$(process_rss_mib "$serve_pid")
  # curl takes at most 300 parallel transfers (above that --parallel-max falls back to 50), so the stores
  # are shared among curl processes of at most 256 each, all started at once.
  start=$(date +%s.%N)
  curls=()
  for first in $(seq 1 256 "$stores"); do
    last=$((first + 255 < stores ? first + 255 : stores))
    args=()
    for i in $(seq "$first" "$last"); do args+=(-T "$work/recording.mp3" -o /dev/null "http://127.0.0.1:$port/k/$token/$account/c-$spool-$i.mp3"); done
    curl -sS --no-progress-meter --parallel --parallel-max 256 --parallel-immediate -w '%{http_code}\n' "${args[@]}" >"$work/codes-$first" || true &
    curls+=($!)
    pids+=($!)
  done
  wait "${curls[@]}"
  codes=$(cat "$work"/codes-*)
  rm -f "$work"/codes-*
  end=$(date +%s.%N)
  hwm=$(process_peak_rss_mib "$serve_pid")
  cpu=$(process_cpu_seconds "$serve_pid")
  stop_serve
  if [ -n "${RG_SERVE_LOG_DIR:-}" ]; then cp "$work/serve.log" "$RG_SERVE_LOG_DIR/concurrent-stores-spool-$spool.log"; fi
  ok=$(grep -c '^201$' <<<"$codes" || true)
  landed=0
  for i in $(seq 1 "$stores"); do cmp -s "$work/recording.mp3" "$work/s3/bench/$account/c-$spool-$i.mp3" && landed=$((landed + 1)); done
  printf 'spool_enabled=%-5s  peak RSS %s MiB (idle %s)  %.2f s  gateway CPU %s s  %d/%d answered 201  %d/%d landed byte-identical  answers: %s\n' \
    "$spool" "$hwm" "$idle" "$(python3 -c "print($end - $start)")" "$cpu" "$ok" "$stores" "$landed" "$stores" "$(sort <<<"$codes" | uniq -c | tr -s ' \n' ' ')"
  rm -rf "$work/s3/bench"/*
done
