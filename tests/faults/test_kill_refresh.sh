#!/usr/bin/env bash
# kill -9 in the middle of refreshes, again and again, on SQLite. Each
# round moves the clock (the daemon's and the provider's) on by 300 hours,
# so every refresh has 300 new H1 candles of each of twelve symbols to
# store, asks for one, and kills the daemon once the provider has seen a
# round-dependent number of its requests. On odd rounds the provider holds
# each answer a second (the kill lands while requests wait); on even
# ones it answers at once and the kill lands wherever the run is, storing
# an answer among others. After the rounds a last run completes. Then the
# file passes integrity_check, no candle is stored twice, every series is
# whole from its first candle to the last closed hour, the killed runs are
# failed ("interrupted: its daemon died") and none is left running.
source "$(dirname "$0")/../integration/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN CANDLEKEEP_CONFIG

if [[ "$STORE_URL" != sqlite:* ]]; then
    echo "skipped: $(basename "$0") checks the SQLite file itself" >&2
    exit 77
fi
ROUNDS=${CK_FAULT_ROUNDS:-10}
DB=${STORE_URL#sqlite:}
KEY="sk-killrefresh-5d7f9a1c"
start_fake_td "$KEY"
td_control '{"limits": "unlimited", "forming": false}'
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
SYMBOLS="BTC/USD ETH/USD LTC/USD SOL/USD XRP/USD ADA/USD DOGE/USD DOT/USD LINK/USD AVAX/USD BCH/USD XLM/USD"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_H1 = 0 0 1 1 *
[digest]
schedule = 0 0 1 1 *
[retry]
max_retries = 0
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = $SYMBOLS
timeframes = H1
calendar = crypto
backfill = 300
rate_per_minute = 100000
daily_quota = 0
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
H1="refresh_candles_H1"
T0=1704067200 # 2024-01-01T00:00:00Z
DPID=""

iso() { py "import datetime; print(datetime.datetime.fromtimestamp($1, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))"; }
# set_clock ROUND: the daemon and the provider at T0 + ROUND * 300 hours.
set_clock() {
    NOW=$(iso $((T0 + $1 * 300 * 3600)))
    export CANDLEKEEP_NOW=$NOW
    td_control "{\"now\": \"$NOW\"}"
}
healthy() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 healthy && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
requests() { td_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }
requests_at_least() { [ "$(requests)" -ge "$1" ]; }
run_asked() { [ "$(curl -sS -o "$T/body" -w '%{http_code}' -X POST "$API/jobs/$H1/run")" = 202 ]; }
sql() { sqlite3 "$DB" "$1"; }
# runs_are PYEXPR: the job's runs (newest first) make PYEXPR true.
runs_are() {
    curl -fsS -o "$T/runs" "$API/jobs/$H1/runs?limit=100" &&
        py "import json; runs=json.load(open('$T/runs'))['runs']; assert ($1), runs"
}

for r in $(seq 1 "$ROUNDS"); do
    set_clock "$r"
    check "round $r: the daemon starts" start_daemon
    SEEN=$(requests)
    if [ $((r % 2)) -eq 1 ]; then
        td_control '{"delay": 1}'
        AT=$((SEEN + 1 + (r * 5) % 12)) # the 1st to the 12th request
    else
        td_control '{"delay": 0}'
        AT=$((SEEN + 1 + r % 5)) # the 1st to the 5th: the run goes on after the kill
    fi
    check "round $r: a refresh is asked for" run_asked
    check "round $r: the provider has seen $((AT - SEEN)) of its requests" wait_for 30 requests_at_least "$AT"
    check "round $r: kill -9 ends the daemon" daemon_kill "$DPID"
done

set_clock $((ROUNDS + 1))
td_control '{"delay": 0}'
check "the daemon starts after the last kill" start_daemon
check "a last refresh is asked for" run_asked
last_ok() { runs_are "runs[0]['status']=='ok'" 2>/dev/null; }
check "it finishes and succeeds" wait_for 60 last_ok
check "no run is left running" runs_are "all(x['status']!='running' for x in runs)"
# killed_runs_failed: of the runs before the last, those that did not
# finish (at least every held one) are failed, and say their daemon died.
killed_runs_failed() {
    py "
import json
runs=json.load(open('$T/runs'))['runs'][1:]
assert len(runs)==$ROUNDS, runs
killed=[x for x in runs if x['status']!='ok']
assert len(killed) >= ($ROUNDS + 1) // 2, [(x['id'], x['status']) for x in runs]
assert all(x['status']=='failed' and x['message']=='interrupted: its daemon died' and x['finished'] for x in killed), killed
print('# %d of $ROUNDS kills landed in a run' % len(killed))"
}
check "the killed runs are failed: their daemon died" killed_runs_failed
check "the daemon stops with exit 0" daemon_stop "$DPID"

check "the SQLite file passes integrity_check" test "$(sql 'PRAGMA integrity_check')" = ok
check "no candle is stored twice" test "$(sql 'SELECT count(*) FROM (SELECT 1 FROM candles GROUP BY series_id, open_time HAVING count(*) > 1)')" = 0
LAST=$((T0 + (ROUNDS + 1) * 300 * 3600 - 3600))
whole() {
    py "
import sqlite3
db=sqlite3.connect('$DB')
rows=db.execute('SELECT series_id, count(*), min(open_time), max(open_time) FROM candles GROUP BY series_id').fetchall()
assert len(rows)==12, rows
for sid,n,lo,hi in rows:
    assert hi==$LAST, (sid, hi, $LAST)
    assert n==(hi-lo)//3600+1, (sid, n, lo, hi)"
}
check "every series is whole up to the last closed hour" whole
finish
