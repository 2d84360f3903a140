#!/usr/bin/env bash
# Retention benchmark with the API under load: a store holding 2,000,000
# M15 candles of twelvedata XAU/USD, half of them older than 90 days, is
# served by a daemon (`candlekeep run`, providers disabled) while
# bench_retention deletes the old half, once per batch size, with a client
# calling GET /candles/M15?limit=100 back to back. Prints the seconds of
# each delete and the client's p50/p99/max before and during it.
#
# Usage: bench/retention.sh [BUILD_DIR]
# Environment:
#   CK_BENCH_URL      benchmark this store (postgresql://...); default a new
#                     SQLite file in a temporary directory
#   CK_BENCH_BATCHES  batch sizes to try (default 1000,10000,100000)
#   CK_BENCH_ROWS     candles in the series (default 2000000)
#
# Targets: SQLite < 1.5 s per 1,000,000 deleted; PostgreSQL about 0.5 s per
# 900,000; the API's p99 during the delete close to its p99 before.
set -euo pipefail

BUILD=${1:-build}
BIN=$BUILD/candlekeep
BENCH=$BUILD/bench/bench_retention
BATCHES=${CK_BENCH_BATCHES:-1000,10000,100000}
ROWS=${CK_BENCH_ROWS:-2000000}

die() { echo "bench/retention: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
[ -x "$BENCH" ] || die "no bench_retention at '$BENCH' (build first: make build)"
command -v curl >/dev/null || die "curl is not installed (make deps installs it)"

TMP=$(mktemp -d /tmp/ckbenchret.XXXXXX)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cleanup() {
    bench_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT

STORE=${CK_BENCH_URL:-sqlite:$TMP/bench.db}
echo "bench/retention: filling the store (${STORE%%:*}) with $ROWS M15 candles"
"$BENCH" --url "$STORE" --rows "$ROWS" --fill-only

bench_daemon daemon "$STORE"
PID=$DPID

"$BENCH" --url "$STORE" --rows "$ROWS" --batches "$BATCHES" --api "$BASE"

bench_stop "$PID"
