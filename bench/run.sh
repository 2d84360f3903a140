#!/usr/bin/env bash
# `make bench`: every benchmark, with its figures printed.
#  - bench_ingest on a fresh SQLite file and on a throwaway PostgreSQL
#    (upsert of 1,000,000 M15 candles in batches of 5,000, fresh and
#    re-upsert; gap detection over a year of M1);
#  - bench_import: candlekeep import of a generated 1,000,000-line Binance
#    kline file (M1, milliseconds) into a fresh store, then again, on
#    SQLite and on PostgreSQL (read and check, store, gap scan);
#  - bench_signals: signals created one transaction each (the rate at
#    which POST /signals can acknowledge), on SQLite and PostgreSQL;
#  - bench_coverage: the coverage map of 10 series of 1,000,000 M1 candles
#    on SQLite (one extent statement per series);
#  - bench/api.sh: the daemon over 1,000,000 candles under wrk, on SQLite
#    and on PostgreSQL, beside nginx serving the same bytes (ratios);
#  - bench/memory.sh: the daemon's resident memory by kind (libraries,
#    binary, heaps, stacks), idle and after a burst of API reads;
#  - bench/migrate.sh: candlekeep migrate of 1,000,000 candles from SQLite
#    to PostgreSQL, verification included;
#  - bench/backup.sh: candlekeep backup (with its restore drill) and
#    restore of 1,000,000 candles, on SQLite and on PostgreSQL;
#  - bench/export.sh: candlekeep export of 10,000,000 candles as CSV,
#    gzipped CSV and JSON (candles/s and peak RSS), on SQLite;
#  - bench/retention.sh: retention deleting 1,000,000 of 2,000,000 M15
#    candles in batches while the API is read, on SQLite and PostgreSQL;
#  - bench/backfill.sh: `candlekeep backfill` of a year of M1 (525,600
#    candles) from a fake provider with 20 ms latency, on SQLite and PostgreSQL.
# Usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$BUILD/bench/bench_ingest" ] || { echo "bench: build first (make build)" >&2; exit 1; }

echo "== bench_ingest: SQLite =="
"$BUILD/bench/bench_ingest"
echo "== bench_import: SQLite =="
"$BUILD/bench/bench_import"
echo "== bench_coverage: SQLite =="
"$BUILD/bench/bench_coverage"

PGDIR=$(mktemp -d /tmp/ckbenchpg.XXXXXX)
cleanup() { bash "$ROOT/tests/helpers/pg_cluster.sh" stop "$PGDIR" >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
URL=$(bash "$ROOT/tests/helpers/pg_cluster.sh" start "$PGDIR" 2>/dev/null)
echo "== bench_ingest: PostgreSQL (throwaway cluster) =="
"$BUILD/bench/bench_ingest" "$URL"
echo "== bench_import: PostgreSQL =="
"$BUILD/bench/bench_import" "$URL"

echo "== bench_signals: SQLite =="
"$BUILD/bench/bench_signals"
echo "== bench_signals: PostgreSQL (throwaway cluster) =="
"$BUILD/bench/bench_signals" "$URL"

echo "== bench/api: SQLite and PostgreSQL beside nginx =="
CK_BENCH_URL=$URL bash "$ROOT/bench/api.sh" "$BUILD/candlekeep"
echo "== bench/memory: SQLite =="
bash "$ROOT/bench/memory.sh" "$BUILD/candlekeep"
echo "== bench/migrate: SQLite to PostgreSQL =="
bash "$ROOT/bench/migrate.sh" "$BUILD" "$URL"
echo "== bench/backup: SQLite and PostgreSQL =="
bash "$ROOT/bench/backup.sh" "$BUILD" "$URL"
echo "== bench/retention: SQLite =="
bash "$ROOT/bench/retention.sh" "$BUILD"
echo "== bench/retention: PostgreSQL =="
CK_BENCH_URL=$URL bash "$ROOT/bench/retention.sh" "$BUILD"
echo "== bench/backfill: SQLite =="
bash "$ROOT/bench/backfill.sh" "$BUILD/candlekeep"
echo "== bench/backfill: PostgreSQL =="
CK_BENCH_URL=$URL bash "$ROOT/bench/backfill.sh" "$BUILD/candlekeep"
echo "== bench/export: SQLite =="
bash "$ROOT/bench/export.sh" "$BUILD"
