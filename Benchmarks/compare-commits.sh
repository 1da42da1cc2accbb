#!/usr/bin/env bash
# The store and redirect benchmarks of two commits side by side in one run: each commit's release
# build of recording-gateway, measured by this tree's scripts (spool-cost.sh: 64 concurrent 20 MiB
# stores, spool on and off; redirects-wrk.sh: wrk redirects and /healthz), alternating rounds so that
# the machine's drift falls on both.
# Usage: Benchmarks/compare-commits.sh BASE [HEAD] [ROUNDS]   (HEAD defaults to the current commit, ROUNDS to 2)
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(git rev-parse --short "${1:?give the commit to compare with}")
head=$(git rev-parse --short "${2:-HEAD}")
rounds=${3:-2}

build() { # $1 = commit; prints the path of its release binary
  local tree=".build-compare-$1"
  if [ ! -d "$tree/src" ]; then
    mkdir -p "$tree"
    git worktree add --detach "$tree/src" "$1" >/dev/null 2>&1
  fi
  (cd "$tree/src" && swift build -c release --scratch-path ../release --product recording-gateway >/dev/null)
  echo "$tree/release/release/recording-gateway"
}
cleanup() {
  for commit in "$base" "$head"; do git worktree remove --force ".build-compare-$commit/src" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

echo "building $base and $head (release)"
base_bin=$(build "$base")
head_bin=$(build "$head")
for round in $(seq 1 "$rounds"); do
  for commit in "$base" "$head"; do
    bin=$base_bin
    [ "$commit" = "$head" ] && bin=$head_bin
    echo "== round $round, $commit: stores (spool-cost.sh 1)"
    RG_BIN="$PWD/$bin" Benchmarks/spool-cost.sh 1
    echo "== round $round, $commit: redirects (redirects-wrk.sh 10 1)"
    RG_BIN="$PWD/$bin" Benchmarks/redirects-wrk.sh 10 1
  done
done
