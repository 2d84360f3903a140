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
#   CK_BENCH_ROUNDS   turns of the reference and the job on PostgreSQL (default 3)
#
# On PostgreSQL, the reference follows: the old half put back, then deleted
# by one DELETE statement from psql (the whole job in one transaction), on
# the same server and data, with wrk on one connection keeping the API
# busy as bench_retention's client does; it takes turns with the job at the
# default batch (10,000), and the medians and their ratio are printed.
#
# Targets: SQLite < 1.5 s per 1,000,000 deleted; PostgreSQL no slower than
# the one statement; the API's p99 during the delete close to its p99
# before.
set -euo pipefail

BUILD=${1:-build}
BIN=$BUILD/candlekeep
BENCH=$BUILD/bench/bench_retention
BATCHES=${CK_BENCH_BATCHES:-1000,10000,100000}
ROWS=${CK_BENCH_ROWS:-2000000}
ROUNDS=${CK_BENCH_ROUNDS:-3}

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

# The reference on PostgreSQL: the same rows deleted by one statement, in
# turns with the job at its default batch, ROUNDS times; the medians compared.
reference() {
    local out n
    "$BENCH" --url "$STORE" --rows "$ROWS" --fill-only >/dev/null
    wrk -t1 -c1 -d120s "$BASE/candles/M15?limit=100" >/dev/null &
    WRK=$!
    # bench_retention's series: one M15 candle every 900 s from 1990-01-01; the old half goes.
    out=$(psql "$STORE" -qAt -v ON_ERROR_STOP=1 2>&1 <<SQL
VACUUM ANALYZE candles;
\\timing on
DELETE FROM candles WHERE series_id = (SELECT id FROM series WHERE source = 'twelvedata'
    AND symbol = 'XAU/USD' AND timeframe = 'M15') AND open_time < to_timestamp($((631152000 + ROWS / 2 * 900)));
\\timing off
\\echo deleted :ROW_COUNT
SQL
) || die "the reference DELETE failed: $out"
    kill "$WRK" 2>/dev/null || :
    wait "$WRK" 2>/dev/null || :
    n=$(awk '/^deleted/ { print $2 }' <<<"$out")
    [ "$n" = $((ROWS / 2)) ] || die "the reference DELETE removed $n rows, expected $((ROWS / 2))"
    REF_S=$(awk '/^Time:/ { printf "%.3f", $2 / 1000 }' <<<"$out")
}
if [[ $STORE == postgres* ]] && command -v psql >/dev/null && command -v wrk >/dev/null; then
    JOB=() REF=()
    for _ in $(seq 1 "$ROUNDS"); do
        reference
        REF+=("$REF_S")
        "$BENCH" --url "$STORE" --rows "$ROWS" --batches 10000 --api "$BASE" >"$TMP/run.txt"
        JOB+=("$(awk '/ batch / { for (i = 1; i <= NF; i++) if ($i == "s") print $(i - 1) }' "$TMP/run.txt")")
    done
    job=$(median "${JOB[@]}") ref=$(median "${REF[@]}")
    echo "reference, $ROUNDS rounds in turns: one DELETE statement (psql) $ref s, the job at batch 10000 $job s: $(ratio "$job" "$ref")x"
    echo "  runs (s): one statement ${REF[*]}; batch 10000 ${JOB[*]}"
fi

bench_stop "$PID"
