#!/usr/bin/env bash
# The cost of the write-ahead spool on the fast path: 64 concurrent stores of 20 MiB each (curl
# --parallel) into `recording-gateway serve` (release build) and on to `rclone serve s3` on loopback,
# with spool_enabled true and false, alternating in one run. Prints MiB/s per round and the ratio.
# Usage: Benchmarks/spool-cost.sh [ROUNDS] [STORES] [SIZE_MIB]   (defaults 3, 64, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
stores=${2:-64}
size_mib=${3:-20}
source Benchmarks/bench-lib.sh
setup_bench

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/recording.mp3"
total_mib=$((stores * size_mib))
echo "$stores concurrent stores of $size_mib MiB ($total_mib MiB) per round; $(nproc) cores shared by curl, the gateway and rclone"

run_round() { # $1 = spool_enabled, $2 = round
  start_serve "$1"
  args=()
  for i in $(seq 1 "$stores"); do args+=(-T "$work/recording.mp3" -o /dev/null "http://127.0.0.1:$port/k/$token/$account/r$2-$1-$i.mp3"); done
  start=$(date +%s.%N)
  codes=$(curl -sS --no-progress-meter --parallel --parallel-max "$stores" --parallel-immediate -w '%{http_code}\n' "${args[@]}")
  end=$(date +%s.%N)
  cpu=$(process_cpu_seconds "$serve_pid")
  stop_serve
  ok=$(grep -c '^201$' <<<"$codes" || true)
  left=$(find "$work/data/spool" -name '*.spool' | wc -l)
  mibs=$(python3 -c "print(f'{$total_mib / ($end - $start):.1f}')")
  echo "round $2  spool_enabled=$1  $(python3 -c "print(f'{$end - $start:.2f}')") s  $mibs MiB/s  gateway CPU $cpu s  ($ok/$stores answered 201, $left spool files left)" >&2
  echo "$mibs"
  rm -rf "$work/s3/bench"/*
}

on_total=0
off_total=0
for round in $(seq 1 "$rounds"); do
  on=$(run_round true "$round")
  off=$(run_round false "$round")
  on_total=$(python3 -c "print($on_total + $on)")
  off_total=$(python3 -c "print($off_total + $off)")
done
python3 -c "
on, off = $on_total / $rounds, $off_total / $rounds
print(f'mean: spool on {on:.1f} MiB/s, spool off {off:.1f} MiB/s: the spool costs {100 * (1 - on / off):.1f}% of throughput')"
