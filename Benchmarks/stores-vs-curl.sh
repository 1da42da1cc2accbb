#!/usr/bin/env bash
# The gateway against curl straight to the same `rclone serve s3` (SigV4 by curl's --aws-sigv4), in one run
# (issue 17's measures 4 and 5): one store of SIZE MiB (spool on, spool off: MiB/s, CPU, peak RSS), then COUNT
# stores of 1 MiB with IN_FLIGHT at a time (stores/s, p50, p99 from curl's own timings). The peers, each measured
# in the same run: curl straight to S3 (one PutObject, as the issue measures), curl through nginx passing requests
# on unbuffered (what any proxy between curl and rclone costs on these cores, before the gateway's own work: the
# payload's SHA-256, the spool, the index) and, for the one large store, curl making the gateway's multipart upload.
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
echo "config.example.json's budget and parts; $(nproc) cores shared by curl, nginx or the gateway, and rclone"
echo "peers: curl straight to S3; curl through nginx, bodies passed on unbuffered (what a proxy costs here);"
echo "curl making the same multipart upload as the gateway (8 MiB parts, 4 at a time) from part files;"
echo "for the small stores, the gateway's libraries (Hummingbird in, AsyncHTTPClient out) passing them on (Passthrough)"

# $1: label; the rest: curl arguments for one upload of big.mp3. Prints MiB/s, S3's (rclone's) CPU, and the CPU of
# what stands between (the gateway, with its peak RSS, or nginx): on a machine whose cores they share, every
# CPU-second counts.
one_store() {
  local label=$1
  shift
  local cpu0 s3cpu0
  s3cpu0=$(process_cpu_seconds "$s3_pid")
  cpu0=$(between_cpu_seconds)
  local out
  out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$work/big.mp3" "$@")
  read -r code seconds <<<"$out"
  local rate s3cpu cpu
  rate=$(python3 -c "print(round($size_mib / $seconds, 1))")
  s3cpu=$(python3 -c "print($(process_cpu_seconds "$s3_pid") - $s3cpu0)")
  cpu=$(python3 -c "print($(between_cpu_seconds) - $cpu0)")
  printf '%-24s %s  %6.1f MiB/s  S3 CPU %5.2f s' "$label" "$code" "$rate" "$s3cpu"
  [ -n "$(between_name)" ] && printf '  %s CPU %.2f s' "$(between_name)" "$cpu"
  [ -n "$serve_pid" ] && printf '  peak RSS %s MiB' "$(process_peak_rss_mib "$serve_pid")"
  printf '\n'
  echo "$rate" >"$work/rate-$label"
}

# $1: label. The same multipart upload the gateway makes, done by curl from big.mp3 split into 8 MiB part files
# beforehand: CreateMultipartUpload, the parts 4 at a time (`--parallel`), CompleteMultipartUpload. rclone serve s3
# streams a multipart upload's parts into one file in part order and holds parts that come early, so this shows
# what the shape alone costs on this server, before any proxying.
curl_multipart() {
  local label=$1 key="$direct/multipart-big.mp3" upload_id start end s3cpu0
  mkdir -p "$work/parts"
  split -b 8M -d -a 4 "$work/big.mp3" "$work/parts/part-"
  cat "$work"/parts/part-* >/dev/null
  local args=() number=0 file
  for file in "$work"/parts/part-*; do
    number=$((number + 1))
    args+=(-T "$file" -o /dev/null "$key?partNumber=$number&uploadId=UPLOAD_ID")
  done
  s3cpu0=$(process_cpu_seconds "$s3_pid")
  start=$(date +%s.%N)
  upload_id=$(curl -sS "${sigv4[@]}" -X POST "$key?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
  curl -sS --no-progress-meter --parallel --parallel-max 4 "${sigv4[@]}" -w '%{url} %header{etag}\n' "${args[@]//UPLOAD_ID/$upload_id}" >"$work/etags"
  python3 - "$work/etags" >"$work/complete.xml" <<'PY'
import re, sys
parts = sorted((int(re.search(r"partNumber=(\d+)", url).group(1)), etag) for url, etag in (l.split() for l in open(sys.argv[1])))
print("<CompleteMultipartUpload>" + "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts) + "</CompleteMultipartUpload>")
PY
  curl -sS -o /dev/null "${sigv4[@]}" -H "x-amz-content-sha256: $(sha256sum "$work/complete.xml" | cut -d' ' -f1)" \
    -X POST --data-binary "@$work/complete.xml" "$key?uploadId=$upload_id"
  end=$(date +%s.%N)
  local rate
  rate=$(python3 -c "print(round($size_mib / ($end - $start), 1))")
  printf '%-24s %s  %6.1f MiB/s  S3 CPU %5.2f s  (%s parts)\n' "$label" "---" "$rate" "$(python3 -c "print($(process_cpu_seconds "$s3_pid") - $s3cpu0)")" "$number"
  echo "$rate" >"$work/rate-$label"
  rm -rf "$work/parts"
}

# Prints each gateway's rate (the rate-LABEL files) over each peer's: the peers' labels in the array peers, the
# gateways' labels as arguments.
ratios() {
  python3 - "$work" "${#peers[@]}" "${peers[@]}" "$@" <<'PY'
import sys
w, count = sys.argv[1], int(sys.argv[2])
peers, gateways = sys.argv[3:3 + count], sys.argv[3 + count:]
rate = lambda n: float(open(f"{w}/rate-{n}").read())
for peer in peers:
    print(f"ratio to {peer + ':':22s}", ", ".join(f"{g} {rate(g) / rate(peer):.2f}" for g in gateways))
PY
}

echo "== one store of $size_mib MiB"
one_store "curl straight to S3" "${sigv4[@]}" "$direct/direct-big.mp3"
start_nginx "127.0.0.1:$s3_port"
one_store "curl via nginx" "${sigv4[@]}" "http://127.0.0.1:$nginx_port/bench/nginx-big.mp3"
stop_process nginx_pid
curl_multipart "curl multipart"
for name in direct nginx multipart; do
  cmp -s "$work/big.mp3" "$work/s3/bench/$name-big.mp3" || echo "  STORED OBJECT DIFFERS ($name)"
done
for spool in true false; do
  start_serve "$spool"
  one_store "gateway spool=$spool" "http://127.0.0.1:$port/k/$token/$account/big-$spool.mp3"
  cmp -s "$work/big.mp3" "$work/s3/bench/$account/big-$spool.mp3" || echo "  STORED OBJECT DIFFERS"
  stop_serve
done
peers=("curl straight to S3" "curl via nginx" "curl multipart")
ratios "gateway spool=true" "gateway spool=false"
rm -f "$work"/s3/bench/*-big.mp3 "$work/s3/bench/$account"/big-*.mp3

# Each run's objects are removed before the next, so that none finds rclone's directory fuller than another did.
# $1: label, $2: the objects' name prefix in rclone's directory, the rest: timed_stores' arguments after the label.
small_stores() {
  local label=$1 objects=$2
  shift 2
  timed_stores "$label" "$@"
  cp "$work/rate" "$work/rate-$label"
  rm -f "$work/s3/bench/$objects"*
}

echo "== $count stores of 1 MiB, $in_flight in flight"
small_stores "curl straight to S3" direct-small- "$direct/direct-small-" "$count" "$in_flight" "${sigv4[@]}"
start_nginx "127.0.0.1:$s3_port"
small_stores "curl via nginx" nginx-small- "http://127.0.0.1:$nginx_port/bench/nginx-small-" "$count" "$in_flight" "${sigv4[@]}"
stop_process nginx_pid
# The gateway's own libraries passing the stores on and nothing else (Benchmarks/Benchmarks/Passthrough): what
# Hummingbird and AsyncHTTPClient cost per store here, before the gateway's own work. It does not answer
# `Expect: 100-continue` (which curl sends for 1 MiB), so curl does not wait for the answer.
swift build -c release --package-path Benchmarks --product Passthrough >/dev/null
passthrough_port=$(free_port)
"$(swift build -c release --package-path Benchmarks --show-bin-path)/Passthrough" "$passthrough_port" "127.0.0.1:$s3_port" \
  >"$work/passthrough.log" 2>&1 &
passthrough_pid=$!
pids+=("$passthrough_pid")
wait_for_port "$passthrough_port"
small_stores "libraries only" passthrough-small- "http://127.0.0.1:$passthrough_port/bench/passthrough-small-" \
  "$count" "$in_flight" "${sigv4[@]}" --expect100-timeout 0.001
stop_process passthrough_pid
start_serve true
small_stores "gateway" "$account/small-" "http://127.0.0.1:$port/k/$token/$account/small-" "$count" "$in_flight"
peers=("curl straight to S3" "curl via nginx" "libraries only")
ratios "gateway"
