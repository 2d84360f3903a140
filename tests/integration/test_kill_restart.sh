#!/usr/bin/env bash
# A daemon killed with -9 in the middle of a D1 refresh, on SQLite: the one
# that takes its place knows the dead one's leases are a dead process's
# (SQLite allows one daemon per file), so a manual run asked for right after
# the restart runs rather than being refused for the job's whole timeout,
# and the killed run is marked failed at once rather than by a later sweep.
source "$(dirname "$0")/lib.sh"

if [[ "$STORE_URL" != sqlite:* ]]; then
    echo "skipped: $(basename "$0") is about SQLite's one daemon per file" >&2
    exit 77
fi

KEY="sk-killrestart-2c4e6a8b"
start_fake_td "$KEY"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

# The job never fires by itself during the test; its timeout is a day, so the
# dead run's lease would hold the job for a day and 5 seconds.
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_D1 = 0 0 1 1 *
refresh_timeout = 24h
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = D1
calendar = crypto
backfill = 20
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
D1="refresh_candles_D1"
DPID=""

healthy() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 healthy && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
# runs_are PYEXPR: the job's history (runs, newest first) makes PYEXPR true.
runs_are() {
    get "$API/jobs/$D1/runs?limit=10" >/dev/null &&
        py "import json; runs=json.load(open('$T/body'))['runs']; assert ($1), runs"
}
requests_at_provider() { [ "$(td_requests | py "import json,sys; print(len(json.load(sys.stdin)))")" -ge "$1" ]; }
d1_running() { runs_are "len(runs)==1 and runs[0]['status']=='running'" && requests_at_provider 1; }

check "the daemon starts" start_daemon

# The provider holds its answer, so the kill lands while the run is under way:
# its row says running and the provider has its first request.
td_control '{"delay": 120}'
check "a D1 run is asked for" test "$(get -X POST "$API/jobs/$D1/run")" = 202
check "the D1 run is under way: running, its first request at the provider" wait_for 20 d1_running
check "kill -9 ends the daemon" daemon_kill "$DPID"
td_control '{"delay": 0}'

check "the daemon starts again" start_daemon
check "a manual run right after the restart is accepted" test "$(get -X POST "$API/jobs/$D1/run")" = 202
check "that run finishes" wait_for 20 runs_are "len(runs)==2 and runs[0]['status']!='running'"
check "it ran (not skipped as running in another process) and succeeded" \
    runs_are "runs[0]['status']=='ok' and 'stored' in runs[0]['message']"
check "the killed run is failed: its daemon died" \
    runs_are "runs[1]['status']=='failed' and runs[1]['message']=='interrupted: its daemon died' and runs[1]['finished']"
check "the takeover is logged" grep -q "daemon that died" "$T/daemon.log"

# The CLI sees the same history.
ck jobs runs "$D1" --format json "${CFG[@]}"
check "jobs runs exits 0" expect_rc 0
check "jobs runs shows the run and the killed one" \
    py "import json; r=json.load(open('$T/out')); assert [x['status'] for x in r]==['ok','failed'], r"

check "the daemon stops with exit 0" daemon_stop "$DPID"
check "the SQLite file passes integrity_check" test "$(sqlite3 "${STORE_URL#sqlite:}" 'PRAGMA integrity_check')" = ok
finish
