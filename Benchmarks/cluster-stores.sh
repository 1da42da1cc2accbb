#!/usr/bin/env bash
# Stores on PostgreSQL against SQLite, and through two gateways behind nginx (issue 13), in one run:
# COUNT stores of 1 MiB with IN_FLIGHT at a time (curl --parallel) into `rclone serve s3`, through
#   1. one release `serve` on SQLite (the default),
#   2. one `serve` on PostgreSQL (Debian's, started here as the postgres user on a free port),
#   3. two `serve` on that PostgreSQL behind nginx (round robin, bodies streamed),
# printing stores/s, p50 and p99 (curl's own timings) and the answers.
# Usage: Benchmarks/cluster-stores.sh [COUNT] [IN_FLIGHT]   (defaults 1000, 64)
# RG_BIN: a recording-gateway binary to measure instead of this tree's release build (Benchmarks/bench-lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
in_flight=${2:-64}
source Benchmarks/bench-lib.sh
start_rclone
head -c "$((1024 * 1024))" /dev/urandom >"$work/small.mp3"

# PostgreSQL, as the test command starts it.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
pg_port=$(free_port)
pg_work=$(mktemp -d /tmp/rg-bench-postgres.XXXXXX)
chown postgres "$pg_work"
setpriv --reuid=postgres --regid=postgres --clear-groups "$pg_bin/initdb" -D "$pg_work/data" -U rg --auth=trust >/dev/null
setpriv --reuid=postgres --regid=postgres --clear-groups "$pg_bin/postgres" -D "$pg_work/data" -p "$pg_port" \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$pg_work" >"$work/postgres.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do psql "postgres://rg@127.0.0.1:$pg_port/postgres" -qtAc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
psql "postgres://rg@127.0.0.1:$pg_port/postgres" -qc 'CREATE DATABASE bench'
database_url="postgres://rg@127.0.0.1:$pg_port/bench"
openssl rand -base64 32 >"$work/cluster.key"
trap 'bench_cleanup; rm -rf "$pg_work"' EXIT

# $1: name, $2: port, $3: database pairs (or ""); writes $work/$1.json.
node_config() {
  cat >"$work/$1.json" <<JSON
{"listen": "127.0.0.1:$2", "admin_listen": "127.0.0.1:0", "public_base_url": "https://recordings.example.com", "data_dir": "$work/$1",
 "log_level": "warning", "spool_min_free_bytes": 0${3:+, $3}}
JSON
}

# $1: config; adds the account (on rclone) and prints its token.
add_account() {
  printf %s "$secret" | RG_MASTER_KEY=$(cat "$work/cluster.key") "$bin" accounts add --config "$1" --account-id "$account" --name Bench \
    --bucket bench --host "127.0.0.1:$s3_port" --scheme http --path-style --access-key-id BENCHKEY --secret-access-key-stdin --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# $@: configs; starts a serve on each (the cluster's key in the environment), their pids in serve_pids.
serve_pids=()
start_nodes() {
  serve_pids=()
  for config in "$@"; do
    RG_MASTER_KEY=$(cat "$work/cluster.key") "$bin" serve --config "$config" >>"$work/serve.log" 2>&1 &
    serve_pids+=($!)
    pids+=($!)
  done
}
stop_nodes() {
  for pid in "${serve_pids[@]}"; do kill "$pid" && wait "$pid" || true; done
}

account=4a9b2c3d4e5f60718293a4b5c6d7e8f9
echo "$count stores of 1 MiB, $in_flight in flight; $(nproc) cores shared by curl, the gateways, PostgreSQL, nginx and rclone"

port_sqlite=$(free_port)
node_config sqlite "$port_sqlite" ""
token=$(add_account "$work/sqlite.json")
start_nodes "$work/sqlite.json"
wait_for_gateway "$port_sqlite"
timed_stores "one gateway, SQLite" "http://127.0.0.1:$port_sqlite/k/$token/$account/sqlite-" "$count" "$in_flight"
stop_nodes

port_a=$(free_port)
port_b=$(free_port)
node_config node-a "$port_a" "\"database_url\": \"$database_url\", \"node_id\": \"node-a\""
node_config node-b "$port_b" "\"database_url\": \"$database_url\", \"node_id\": \"node-b\""
token=$(add_account "$work/node-a.json")
start_nodes "$work/node-a.json"
wait_for_gateway "$port_a"
timed_stores "one gateway, PostgreSQL" "http://127.0.0.1:$port_a/k/$token/$account/postgres-" "$count" "$in_flight"
stop_nodes

start_nginx "127.0.0.1:$port_a" "127.0.0.1:$port_b"
start_nodes "$work/node-a.json" "$work/node-b.json"
wait_for_gateway "$port_a"
wait_for_gateway "$port_b"
wait_for_gateway "$nginx_port"
timed_stores "two gateways, PostgreSQL, nginx" "http://127.0.0.1:$nginx_port/k/$token/$account/cluster-" "$count" "$in_flight"
stop_nodes
landed=$(find "$work/s3/bench/$account" -name '*.mp3' | wc -l)
echo "objects in S3: $landed of $((3 * count))"
