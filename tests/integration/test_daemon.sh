#!/usr/bin/env bash
# The daemon end to end: `candlekeep run` against the fake Twelve Data and a
# real store, driven through its HTTP API and the CLI; shutdown on SIGTERM
# in the middle of a job; a second daemon on one SQLite file refused.
# ck-test: pg
# ck-test: smoke
source "$(dirname "$0")/lib.sh"

KEY="sk-daemon-5e6f7a8b9c"
start_fake_td "$KEY"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

write_config() {
    cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$PORT
token = $1
[log]
level = info
file = $T/daemon.log
[scheduler]
workers = 2
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD ETH/USD
timeframes = M15 H1
calendar = crypto
backfill = 50
INI
}
CFG=(--config "$T/ck.ini")
M15="refresh_candles_M15"
DPID=""

healthy() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 healthy && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { daemon_stop "$DPID"; }
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
# jq_ EXPR: EXPR over the last body (d) must be true.
jq_() { py "import json,sys; d=json.load(open('$T/body')); assert ($1), d"; }
finished_runs_at_least() { # JOB N: job JOB has at least N finished runs
    get "$API/jobs/$1/runs?limit=50" >/dev/null &&
        py "import json; d=json.load(open('$T/body')); assert len([r for r in d['runs'] if r['status']!='running']) >= $2"
}
wait_run() { wait_for 20 finished_runs_at_least "$@"; }
paused_is() { curl -fsS "$API/jobs/$M15" | grep -q "\"paused\": *$1"; }

write_config ""
check "the daemon starts and answers /health" start_daemon
check "startup is logged with the instance" grep -q "started (instance" "$T/daemon.log"

check "GET /health is 200" test "$(get "$API/health")" = 200
check "/health reports database, scheduler, jobs and instance" \
    py "import json; d=json.load(open('$T/body')); assert d['status']=='ok' and d['database']['reachable'] and d['scheduler']['running'] and len([j for j in d['jobs']['list'] if j['id'].startswith('refresh_candles_')])==2 and d['jobs']['count']==len(d['jobs']['list']) and d['instance'], d"

# A manual run through the API (no token configured, loopback listener: allowed).
check "POST run is accepted" test "$(get -X POST "$API/jobs/$M15/run")" = 202
check "the run finishes" wait_run "$M15" 1
check "the run succeeded and says what it stored" \
    jq_ "d['runs'][0]['status']=='ok' and 'stored' in d['runs'][0]['message']"
check "one log line per job run" grep -q "job $M15 ok in" "$T/daemon.log"

check "GET /candles/M15 is 200" test "$(get "$API/candles/M15?symbol=BTC/USD&source=$SRC&limit=5")" = 200
check "candles: newest first, 5 of them, exact strings, volume present for crypto" py "
import json; d=json.load(open('$T/body')); c=d['candles']
assert len(c)==5 and c[0]['time']>c[1]['time'], c
assert all(isinstance(x['close'],str) and x['volume'] is not None for x in c), c
assert c[0]['source']=='$SRC' and c[0]['symbol']=='BTC/USD' and c[0]['timeframe']=='M15', c[0]"
check "candles: a bad timeframe is a 400 naming it" test "$(get "$API/candles/M7")" = 400
check "candles: a bad limit is a 400" test "$(get "$API/candles/M15?limit=5001")" = 400
check "gaps endpoint answers" test "$(get "$API/candles/M15/gaps?symbol=BTC/USD&source=$SRC")" = 200
check "GET /jobs lists both refresh jobs, the alert watch and the digest" py "
import json,urllib.request; ids={j['id'] for j in json.load(urllib.request.urlopen('$API/jobs'))['jobs']}
assert {'refresh_candles_M15','refresh_candles_H1','watch_alerts','digest'} <= ids, ids"
check "unknown job is 404" test "$(get "$API/jobs/nope")" = 404

get "$API/metrics" >/dev/null
if command -v promtool >/dev/null; then
    check "/metrics passes promtool" promtool check metrics <"$T/body"
else
    platform_skip "/metrics passes promtool" "promtool is not installed"
fi
check "/metrics counts ingested candles" grep -q "candles_ingested_total{" "$T/body"
check "/metrics counts job runs" grep -q "job_runs_total{" "$T/body"

# The CLI over the same state while the daemon runs.
ck jobs "${CFG[@]}"
check "jobs exits 0" expect_rc 0
check "jobs lists the schedule" out_has "$M15"
ck jobs pause "$M15" "${CFG[@]}"
check "jobs pause works while the daemon runs" expect_rc 0
check "the API sees the pause" paused_is true
ck jobs resume "$M15" "${CFG[@]}"
check "jobs resume exits 0" expect_rc 0
check "the API sees the resume" paused_is false
ck jobs runs "$M15" --format json "${CFG[@]}"
check "jobs runs exits 0" expect_rc 0
check "jobs runs shows the API-triggered run" py "import json; r=json.load(open('$T/out')); assert r[0]['status']=='ok', r"
ck status "${CFG[@]}"
check "status sees the live daemon" expect_rc 0
check "status names the daemon" out_has "daemons:   1"

# A second daemon on the same SQLite file is refused.
if [[ "$STORE_URL" == sqlite:* ]]; then
    ck run "${CFG[@]}"
    check "a second daemon on one SQLite file exits 1" expect_rc 1
    check "the refusal says why" err_has "another candlekeep daemon"
fi

# SIGTERM in the middle of a run: the run finishes (or is recorded), the database is intact.
# The signal is sent once the run is under way: its row says running and the
# fake provider, answering each request after 2 s, has the first request.
td_reset
td_control '{"delay": 2.0}'
h1_running() {
    get "$API/jobs/refresh_candles_H1/runs?limit=1" >/dev/null &&
        py "import json; d=json.load(open('$T/body')); assert d['runs'] and d['runs'][0]['status']=='running'" &&
        [ "$(td_requests | py "import json,sys; print(len(json.load(sys.stdin)))")" -ge 1 ]
}
check "an H1 run is asked for" test "$(get -X POST "$API/jobs/refresh_candles_H1/run")" = 202
check "the H1 run is under way: running, its first request at the provider" wait_for 20 h1_running
KILLED_AT=$(date -u +%s)
check "SIGTERM stops the daemon with exit 0" stop_daemon
check "shutdown is logged" grep -q "run: stopped" "$T/daemon.log"
ck jobs runs refresh_candles_H1 --format json "${CFG[@]}"
check "jobs runs exits 0" expect_rc 0
check "the interrupted run has a finished history row, finished after the signal" py "
import json,datetime
r=json.load(open('$T/out')); assert r and r[0]['status'] in ('ok','failed') and r[0]['finished'], r
f=datetime.datetime.strptime(r[0]['finished'],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
assert f >= $KILLED_AT, (r[0], $KILLED_AT)"
if [[ "$STORE_URL" == sqlite:* ]]; then
    check "the SQLite file passes integrity_check" test "$(sqlite3 "${STORE_URL#sqlite:}" 'PRAGMA integrity_check')" = ok
fi
td_control '{"delay": 0}'

# With a token, mutating endpoints need it.
write_config "tok-$RANDOM-secret"
TOKEN=$(grep '^token' "$T/ck.ini" | cut -d' ' -f3)
check "the daemon starts with a token" start_daemon
check "POST without the token is 401" test "$(get -X POST "$API/jobs/$M15/pause")" = 401
check "POST with a wrong token is 401" test "$(get -X POST -H 'Authorization: Bearer nope' "$API/jobs/$M15/pause")" = 401
check "POST with the token works" test "$(get -X POST -H "Authorization: Bearer $TOKEN" "$API/jobs/$M15/pause")" = 200

check "the daemon stops with exit 0" stop_daemon
check "the daemon starts again" start_daemon
check "paused after restart" paused_is true
check "the daemon stops with exit 0 again" stop_daemon
check "the token never appears in the log" lacks "$TOKEN" "$T/daemon.log" "$T/daemon.out"
check "the API key never appears in the log" lacks "$KEY" "$T/daemon.log" "$T/daemon.out"

# A bad configuration: refused with the problem named, exit 2.
printf '[scheduler]\nworkers = lots\n' >"$T/bad.ini"
ck run --config "$T/bad.ini"
check "run refuses a bad config with exit 2" expect_rc 2
check "run names the bad key" err_has "key 'workers'"
finish
