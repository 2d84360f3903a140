#!/usr/bin/env bash
# Export benchmark: `candlekeep export candles` of one long series, to
# show that an export streams (its peak memory does not grow with the
# number of candles) and how fast it goes. A store is filled with N M15
# candles of twelvedata XAU/USD (bench_fill_candles), then exported as CSV,
# as CSV with --gzip and as JSON; for each, the seconds, candles per
# second and the peak RSS of the process (getrusage of the child) are
# printed.
#
# Usage: bench/export.sh [BUILD_DIR]
# Environment:
#   CK_BENCH_URL    benchmark this store (postgresql://...); default a new
#                   SQLite file in a temporary directory
#   CK_BENCH_ROWS   candles in the series (default 10000000)
set -euo pipefail

BUILD=${1:-build}
BIN=$BUILD/candlekeep
FILL=$BUILD/bench/bench_fill_candles
ROWS=${CK_BENCH_ROWS:-10000000}

die() { echo "bench/export: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
[ -x "$FILL" ] || die "no bench_fill_candles at '$FILL' (build first: make build)"

TMP=$(mktemp -d /tmp/ckbenchexp.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
STORE=${CK_BENCH_URL:-sqlite:$TMP/bench.db}
printf '[storage]\nurl = %s\n' "$STORE" >"$TMP/candlekeep.ini"

echo "bench/export: filling the store (${STORE%%:*}) with $ROWS M15 candles"
"$FILL" --url "$STORE" --count "$ROWS" >/dev/null

# run LABEL ARGS...: time `candlekeep export candles ARGS...`; print its figures.
run() {
    local label=$1
    shift
    python3 - "$label" "$ROWS" "$BIN" export candles --config "$TMP/candlekeep.ini" "$@" <<'PY'
import os, resource, subprocess, sys, time
label, rows, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
t0 = time.monotonic()
subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
dt = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
out = argv[argv.index("--out") + 1]
print(f"{label:10s} {rows:>10,d} candles in {dt:6.1f} s = {rows / dt:>10,.0f} candles/s, "
      f"peak RSS {rss / 1024:6.1f} MiB, file {os.path.getsize(out) / 2**20:8.1f} MiB")
PY
}
run csv --format csv --out "$TMP/c.csv"
run csv+gzip --format csv --gzip --out "$TMP/c.csv.gz"
run json --format json --out "$TMP/c.json"
