#!/usr/bin/env bash
# API benchmark: the daemon (`candlekeep run`) on a SQLite file holding
# 1,000,000 M15 candles, driven by wrk (2 threads, 32 connections, 10 s)
# with GET /candles/M15?limit=100 and ?limit=1000. Prints requests/s and
# p99 latency of each, and the daemon's resident memory (VmRSS) when idle
# and after the runs. The daemon runs without providers (the source is
# disabled), so nothing but the benchmark touches the database.
#
# Usage: bench/api.sh [CANDLEKEEP_BIN [FILL_BIN]]
#   CANDLEKEEP_BIN  default build/candlekeep
#   FILL_BIN        default bench/bench_fill_candles next to the binary
# Environment:
#   CK_BENCH_DB        a SQLite file to use; filled once if it does not exist,
#                      reused as is otherwise (default: a new temporary file)
#   CK_BENCH_URL       benchmark another store instead (postgresql://...)
#   CK_BENCH_DURATION  seconds per wrk run (default 10)
#   CK_BENCH_CONNECTIONS, CK_BENCH_THREADS  (default 32, 2)
#
# Targets on a 2-core machine: >= 20,000 req/s with p99 < 10 ms at
# limit=100, >= 3,000 req/s at limit=1000, idle RSS < 15 MB.
set -euo pipefail

BIN=${1:-build/candlekeep}
FILL=${2:-$(dirname "$BIN")/bench/bench_fill_candles}
DURATION=${CK_BENCH_DURATION:-10}
CONNS=${CK_BENCH_CONNECTIONS:-32}
THREADS=${CK_BENCH_THREADS:-2}

die() { echo "bench/api: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
[ -x "$FILL" ] || die "no fill helper at '$FILL' (build first: make build)"
command -v wrk >/dev/null || die "wrk is not installed (make deps installs it)"
command -v curl >/dev/null || die "curl is not installed (make deps installs it)"

TMP=$(mktemp -d /tmp/ckbench.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ -n "${CK_BENCH_URL:-}" ]; then
    # Another store (PostgreSQL): filled by upsert every time (idempotent).
    STORE=$CK_BENCH_URL
    echo "bench/api: filling the store with 1,000,000 M15 candles"
    "$FILL" --url "$STORE" --count 1000000 --source twelvedata --symbol XAU/USD --timeframe M15
else
    DB=${CK_BENCH_DB:-$TMP/bench.db}
    STORE="sqlite:$DB"
    if [ ! -s "$DB" ]; then
        echo "bench/api: filling $DB with 1,000,000 M15 candles"
        "$FILL" --url "$STORE" --count 1000000 --source twelvedata --symbol XAU/USD \
            --timeframe M15
    fi
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
cat >"$TMP/candlekeep.ini" <<EOF
[storage]
url = $STORE

[api]
listen = 127.0.0.1:$PORT

[log]
level = warn
file = $TMP/daemon.log

[source.twelvedata]
enabled = false
symbols = XAU/USD
timeframes = M15
EOF

"$BIN" run --config "$TMP/candlekeep.ini" >"$TMP/daemon.out" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$BASE/health"; then break; fi
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/daemon.out" "$TMP/daemon.log" >&2 2>/dev/null; die "the daemon exited"; }
    sleep 0.1
done
curl -s -o /dev/null "$BASE/health" || die "the daemon does not answer on $BASE"
# Every check below must see the series: a wrong config would benchmark 400s.
count=$(curl -s "$BASE/candles/M15?limit=100" | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')
[ "$count" = 100 ] || die "GET /candles/M15?limit=100 did not return 100 candles"

rss() { awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$PID/status"; }
sleep 1
echo "daemon: pid $PID, $BASE, store ${STORE%%://*}, idle RSS $(rss)"

# One wrk run: prints "<label>: N req/s, p99 X (non-2xx: K)".
run_wrk() {
    local label=$1 url=$2 out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url")
    local rps p99 errs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    printf '%-26s %10s req/s   p99 %8s   non-2xx %s\n' "$label" "$rps" "$p99" "${errs:-0}"
}

# A short warm-up so both runs see the page cache and the statement caches warm.
wrk -t"$THREADS" -c"$CONNS" -d2s "$BASE/candles/M15?limit=100" >/dev/null
run_wrk "GET /candles/M15?limit=100" "$BASE/candles/M15?limit=100"
run_wrk "GET /candles/M15?limit=1000" "$BASE/candles/M15?limit=1000"
echo "daemon: RSS after the runs $(rss)"

kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then die "the daemon did not stop on SIGTERM"; fi
wait "$PID" 2>/dev/null || true
PID=
