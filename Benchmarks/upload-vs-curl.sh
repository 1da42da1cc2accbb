#!/usr/bin/env bash
# One 1 GiB stream to `rclone serve s3` on loopback: MultipartUploader (64 MiB budget) and
# `curl -T` of the same file as one PutObject, side by side in one run. Prints both figures.
# Usage: Benchmarks/upload-vs-curl.sh [SIZE_MIB] [ROUNDS] [PARALLEL_PARTS]   (defaults 1024, 2, 4)
set -euo pipefail
cd "$(dirname "$0")"
size_mib=${1:-1024}
rounds=${2:-2}
parallel=${3:-4}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } >/dev/null
swift build -c release --product UploadBenchmark >/dev/null
bin=$(swift build -c release --show-bin-path)/UploadBenchmark

RCLONE=$(command -v rclone || python3 -c 'import sysconfig,os; print(os.path.join(sysconfig.get_path("scripts"), "rclone"))')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export RG_BENCH_ACCESS_KEY=BENCHKEY RG_BENCH_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
mkdir -p "$work/data/bench"
"$RCLONE" serve s3 --addr "127.0.0.1:$port" --auth-key "$RG_BENCH_ACCESS_KEY,$RG_BENCH_SECRET_KEY" "$work/data" >"$work/rclone.log" 2>&1 &
pid=$!
sleep 0.5
endpoint="http://127.0.0.1:$port"

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/body"
cat "$work/body" >/dev/null  # in the page cache for both
echo "body: $size_mib MiB; rclone serve s3 at $endpoint (data in $work/data)"
for round in $(seq 1 "$rounds"); do
  url=$("$bin" presign-put "$endpoint" bench "curl-$round.bin")
  curl_out=$( { /usr/bin/time -f '%U %S' curl --silent --show-error --output /dev/null --write-out '%{http_code} %{time_total} %{speed_upload} ' -T "$work/body" "$url"; } 2>&1 | tr '\n' ' ')
  read -r code seconds speed cpu_user cpu_sys <<<"$curl_out"
  printf 'round %d curl -T:  HTTP %s, %.2f s = %.1f MiB/s (CPU %.2f s)\n' "$round" "$code" "$seconds" "$(python3 -c "print($speed/1048576)")" "$(python3 -c "print($cpu_user+$cpu_sys)")"
  rm -f "$work/data/bench/curl-$round.bin"
  printf 'round %d ' "$round"
  "$bin" upload "$endpoint" bench "uploader-$round.bin" "$work/body" 64 8 "$parallel"
  cmp -s "$work/body" "$work/data/bench/uploader-$round.bin" && echo "         stored object identical to the source" || echo "         STORED OBJECT DIFFERS"
  rm -f "$work/data/bench/uploader-$round.bin"
done
