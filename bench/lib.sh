#!/usr/bin/env bash
# What the benchmark scripts that run a daemon share. Source it after
# setting TMP (a scratch directory), BIN (the candlekeep binary) and die().
# The daemons started here are stopped by bench_cleanup (call it from the
# script's EXIT trap) if the script has not stopped them itself.

BENCH_PIDS=()

# bench_free_port: a free TCP port on 127.0.0.1.
bench_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_daemon NAME STORE: `candlekeep run` on STORE with no provider (the
# twelvedata XAU/USD M15 series only served, never fetched), its API on a
# free port, a warn-level log in $TMP/NAME.log; waits until it answers and
# serves 100 candles of the series (a wrong config would benchmark 400s).
# Sets BASE (http://127.0.0.1:PORT) and DPID.
bench_daemon() {
    local name=$1 store=$2 port count
    port=$(bench_free_port)
    BASE="http://127.0.0.1:$port"
    cat >"$TMP/$name.ini" <<INI
[storage]
url = $store

[api]
listen = 127.0.0.1:$port

[log]
level = warn
file = $TMP/$name.log

[source.twelvedata]
enabled = false
symbols = XAU/USD
timeframes = M15
INI
    "$BIN" run --config "$TMP/$name.ini" >"$TMP/$name.out" 2>&1 &
    DPID=$!
    BENCH_PIDS+=("$DPID")
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null "$BASE/health"; then break; fi
        kill -0 "$DPID" 2>/dev/null || { cat "$TMP/$name.out" "$TMP/$name.log" >&2 2>/dev/null; die "the $name daemon exited"; }
        sleep 0.1
    done
    curl -s -o /dev/null "$BASE/health" || die "the $name daemon does not answer on $BASE"
    count=$(curl -s "$BASE/candles/M15?limit=100" | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')
    [ "$count" = 100 ] || die "GET /candles/M15?limit=100 on the $name daemon did not return 100 candles"
}

# bench_stop PID: SIGTERM, then up to 10 s for it to exit; dies unless it
# exits with status 0.
bench_stop() {
    local pid=$1 rc=0 p keep=()
    kill -TERM "$pid" 2>/dev/null || :
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "the daemon did not stop on SIGTERM"
    wait "$pid" || rc=$?
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
    [ "$rc" = 0 ] || die "the daemon exited with status $rc"
}

# bench_cleanup: stop (TERM, then KILL) what is still running.
bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || :
    done
}

# median N...: the median of the numbers (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# ratio A B: A / B to two decimals, "-" when B is not positive.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
