#!/usr/bin/env bash
# API benchmark: the daemon (`candlekeep run`) over 1,000,000 M15 candles,
# driven by wrk (2 threads, 32 connections, 10 s a run, three rounds) with
# GET /candles/M15?limit=100 and ?limit=1000, side by side in one run with
# nginx serving the very same response bytes from files (the limit of an
# HTTP server on this machine), and, when a PostgreSQL URL is given, the
# daemon on PostgreSQL holding the same candles. The servers take turns,
# round after round, so that a noisy moment of the machine falls on one
# run, not on one server. Prints the median requests/s and the median p99
# latency of each over the rounds, the ratios (candlekeep / nginx; PostgreSQL / SQLite),
# and the daemon's resident memory (VmRSS) when idle and after the runs.
# The daemons run without providers (the source is disabled), so nothing
# but the benchmark touches the database.
#
# Usage: bench/api.sh [CANDLEKEEP_BIN [FILL_BIN]]
#   CANDLEKEEP_BIN  default build/candlekeep
#   FILL_BIN        default bench/bench_fill_candles next to the binary
# Environment:
#   CK_BENCH_DB        a SQLite file to use; filled once if it does not exist,
#                      reused as is otherwise (default: a new temporary file)
#   CK_BENCH_URL       also benchmark this PostgreSQL store (postgresql://...),
#                      filled by upsert (idempotent)
#   CK_BENCH_DURATION  seconds per wrk run (default 10)
#   CK_BENCH_ROUNDS    runs of each server per request (default 3)
#   CK_BENCH_CONNECTIONS, CK_BENCH_THREADS  (default 32, 2)
#
# Targets on a 2-core machine: limit=100 at >= 0.7x nginx with p99 <= 2 ms,
# limit=1000 at >= 0.5x nginx; PostgreSQL >= 0.8x SQLite; idle RSS < 10 MB.
set -euo pipefail

BIN=${1:-build/candlekeep}
FILL=${2:-$(dirname "$BIN")/bench/bench_fill_candles}
DURATION=${CK_BENCH_DURATION:-10}
ROUNDS=${CK_BENCH_ROUNDS:-3}
CONNS=${CK_BENCH_CONNECTIONS:-32}
THREADS=${CK_BENCH_THREADS:-2}
LIMITS=(100 1000)

die() { echo "bench/api: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
[ -x "$FILL" ] || die "no fill helper at '$FILL' (build first: make build)"
command -v wrk >/dev/null || die "wrk is not installed (make deps installs it)"
command -v curl >/dev/null || die "curl is not installed (make deps installs it)"
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || :)

TMP=$(mktemp -d /tmp/ckbench.XXXXXX)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cleanup() {
    bench_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT

rss() { awk '/^VmRSS:/ { printf "%.1f MB", $2 / 1024 }' "/proc/$1/status"; }

# run_wrk URL: one wrk run; sets RPS and P99_MS.
run_wrk() {
    local out errs
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1")
    RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    P99_MS=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        printf "%.2f", v }' <<<"$out")
    errs=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    [ -z "$errs" ] || die "wrk got $errs non-2xx answers from $1"
}
# rounds NAME URL: appends this run's requests/s and p99 (ms) to NAME_RPS and NAME_P99.
rounds() {
    run_wrk "$2"
    case $1 in
        NG) NG_RPS+=("$RPS") NG_P99+=("$P99_MS") ;;
        SQ) SQ_RPS+=("$RPS") SQ_P99+=("$P99_MS") ;;
        PG) PG_RPS+=("$RPS") PG_P99+=("$P99_MS") ;;
    esac
}

# --- SQLite daemon ---
DB=${CK_BENCH_DB:-$TMP/bench.db}
if [ ! -s "$DB" ]; then
    echo "bench/api: filling $DB with 1,000,000 M15 candles"
    "$FILL" --url "sqlite:$DB" --count 1000000 --source twelvedata --symbol XAU/USD --timeframe M15
fi
bench_daemon sqlite "sqlite:$DB"
SQ_BASE=$BASE SQ_PID=$DPID
sleep 1
echo "daemon (SQLite): pid $SQ_PID, idle RSS $(rss "$SQ_PID")"

# --- nginx serving the same bytes ---
NG_BASE=
if [ -n "$NGINX" ]; then
    mkdir -p "$TMP/www" "$TMP/nginx"
    chmod 755 "$TMP" "$TMP/www"
    for l in "${LIMITS[@]}"; do
        curl -fsS -o "$TMP/www/l$l.json" "$SQ_BASE/candles/M15?limit=$l"
        chmod 644 "$TMP/www/l$l.json"
    done
    NG_PORT=$(bench_free_port)
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    default_type application/json;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server { listen 127.0.0.1:$NG_PORT; root $TMP/www; }
}
EOF
    "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" &
    BENCH_PIDS+=($!)
    NG_BASE="http://127.0.0.1:$NG_PORT"
    for _ in $(seq 1 100); do curl -fso /dev/null "$NG_BASE/l100.json" && break; sleep 0.1; done
    cmp -s <(curl -fsS "$NG_BASE/l100.json") "$TMP/www/l100.json" || die "nginx does not serve the bytes"
else
    echo "bench/api: nginx is not installed (make bench installs nginx-light): no comparison"
fi

# --- PostgreSQL daemon ---
PG_BASE=
if [ -n "${CK_BENCH_URL:-}" ]; then
    echo "bench/api: filling the PostgreSQL store with 1,000,000 M15 candles"
    "$FILL" --url "$CK_BENCH_URL" --count 1000000 --source twelvedata --symbol XAU/USD --timeframe M15
    bench_daemon postgresql "$CK_BENCH_URL"
    PG_BASE=$BASE PG_PID=$DPID
fi

# A short warm-up of each server, so every run sees caches warm.
for b in "$SQ_BASE" "$PG_BASE"; do
    [ -n "$b" ] && wrk -t"$THREADS" -c"$CONNS" -d2s "$b/candles/M15?limit=100" >/dev/null
done
[ -n "$NG_BASE" ] && wrk -t"$THREADS" -c"$CONNS" -d2s "$NG_BASE/l100.json" >/dev/null

printf '\nmedian of %s rounds\n' "$ROUNDS"
printf '%-28s %16s %28s %36s\n' "wrk -t$THREADS -c$CONNS -d${DURATION}s" "nginx" "candlekeep SQLite (x nginx)" "candlekeep PostgreSQL (x SQLite)"
for l in "${LIMITS[@]}"; do
    NG_RPS=() NG_P99=() SQ_RPS=() SQ_P99=() PG_RPS=() PG_P99=()
    for _ in $(seq 1 "$ROUNDS"); do
        [ -n "$NG_BASE" ] && rounds NG "$NG_BASE/l$l.json"
        rounds SQ "$SQ_BASE/candles/M15?limit=$l"
        [ -n "$PG_BASE" ] && rounds PG "$PG_BASE/candles/M15?limit=$l"
    done
    ng="-" ngr=0 pg="-"
    if [ -n "$NG_BASE" ]; then
        ngr=$(median "${NG_RPS[@]}")
        ng="$ngr p99 $(median "${NG_P99[@]}")ms"
    fi
    sqr=$(median "${SQ_RPS[@]}")
    sq="$sqr p99 $(median "${SQ_P99[@]}")ms ($(ratio "$sqr" "$ngr"))"
    if [ -n "$PG_BASE" ]; then
        pgr=$(median "${PG_RPS[@]}")
        pg="$pgr p99 $(median "${PG_P99[@]}")ms ($(ratio "$pgr" "$sqr"))"
    fi
    printf '%-28s %16s %28s %36s\n' "GET /candles/M15?limit=$l" "$ng" "$sq" "$pg"
    echo "  runs (req/s): nginx ${NG_RPS[*]:--}; SQLite ${SQ_RPS[*]}; PostgreSQL ${PG_RPS[*]:--}"
done
echo
echo "daemon (SQLite): RSS after the runs $(rss "$SQ_PID")"
[ -n "$PG_BASE" ] && echo "daemon (PostgreSQL): RSS after the runs $(rss "$PG_PID")"
exit 0
