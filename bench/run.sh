#!/usr/bin/env bash
# Run the benchmarks built in BUILD_DIR (default: build) and print their
# figures. Extra arguments go to each benchmark, e.g. a store URL:
#   bench/run.sh build postgresql://ck@127.0.0.1:5432/ck
set -euo pipefail
BUILD=${1:-build}
shift || true

benches=("$BUILD"/bench/bench_*)
if [ ! -x "${benches[0]}" ]; then
    echo "bench: no benchmarks in '$BUILD' (build first: make build)" >&2
    exit 1
fi
for b in "${benches[@]}"; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b") =="
    "$b" "$@"
done
