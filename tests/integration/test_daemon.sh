#!/usr/bin/env bash
# The daemon end to end: `candlekeep run` against the fake Twelve Data and a
# real store, driven through its HTTP API and the CLI; shutdown on SIGTERM
# in the middle of a job; a second daemon on one SQLite file refused.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-daemon-5e6f7a8b9c"
start_fake_td "$KEY"
PORT=$(py "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
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

start_daemon() {
    "$CK_BIN" run "${CFG[@]}" >"$T/daemon.out" 2>&1 &
    DPID=$!
    FAKE_PIDS+=("$DPID")
    for _ in $(seq 1 200); do
        curl -fs "$API/health" >/dev/null 2>&1 && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.05
    done
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { kill -TERM "$DPID"; wait "$DPID"; DRC=$?; }
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
jq_() { py "import json,sys; d=json.load(open('$T/body')); print($1)"; }
wait_run() { # wait until job $1 has >= $2 finished runs
    for _ in $(seq 1 200); do
        get "$API/jobs/$1/runs?limit=50" >/dev/null
        [ "$(jq_ "len([r for r in d['runs'] if r['status']!='running'])")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

write_config ""
start_daemon
check "daemon starts and answers /health" test -n "$DPID"
check "startup is logged with the instance" grep -q "started (instance" "$T/daemon.log"

check "GET /health is 200" test "$(get "$API/health")" = 200
check "/health reports database, scheduler, jobs and instance" \
    py "import json; d=json.load(open('$T/body')); assert d['status']=='ok' and d['database']['reachable'] and d['scheduler']['running'] and len([j for j in d['jobs']['list'] if j['id'].startswith('refresh_candles_')])==2 and d['jobs']['count']==len(d['jobs']['list']) and d['instance'], d"

# A manual run through the API (no token configured, loopback listener: allowed).
check "POST run is accepted" test "$(get -X POST "$API/jobs/$M15/run")" = 202
check "the run finishes" wait_run "$M15" 1
check "the run succeeded and says what it stored" \
    jq_ "(lambda r: (r['status']=='ok' and 'stored' in r['message']) or sys.exit(r))(d['runs'][0])"
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
check "/metrics passes promtool" bash -c "promtool check metrics < '$T/body'"
check "/metrics counts ingested candles" grep -q "candles_ingested_total{" "$T/body"
check "/metrics counts job runs" grep -q "job_runs_total{" "$T/body"

# The CLI over the same state while the daemon runs.
ck jobs "${CFG[@]}"
check "jobs lists the schedule" out_has "$M15"
ck jobs pause "$M15" "${CFG[@]}"
check "jobs pause works while the daemon runs" expect_rc 0
check "the API sees the pause" bash -c "curl -s $API/jobs/$M15 | grep -q '\"paused\": *true'"
ck jobs resume "$M15" "${CFG[@]}"
ck jobs runs "$M15" --format json "${CFG[@]}"
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
td_control '{"delay": 2.0}'
get -X POST "$API/jobs/refresh_candles_H1/run" >/dev/null
sleep 0.5
stop_daemon
check "SIGTERM stops the daemon with exit 0" test "$DRC" = 0
check "shutdown is logged" grep -q "run: stopped" "$T/daemon.log"
ck jobs runs refresh_candles_H1 --format json "${CFG[@]}"
check "the interrupted run has a finished history row" py "
import json; r=json.load(open('$T/out')); assert r and r[0]['status'] in ('ok','failed') and r[0]['finished'], r"
if [[ "$STORE_URL" == sqlite:* ]]; then
    check "the SQLite file passes integrity_check" bash -c "[ \"\$(sqlite3 '${STORE_URL#sqlite:}' 'PRAGMA integrity_check')\" = ok ]"
fi
td_control '{"delay": 0}'

# With a token, mutating endpoints need it.
write_config "tok-$RANDOM-secret"
TOKEN=$(grep '^token' "$T/ck.ini" | cut -d' ' -f3)
start_daemon
check "POST without the token is 401" test "$(get -X POST "$API/jobs/$M15/pause")" = 401
check "POST with a wrong token is 401" test "$(get -X POST -H 'Authorization: Bearer nope' "$API/jobs/$M15/pause")" = 401
check "POST with the token works" test "$(get -X POST -H "Authorization: Bearer $TOKEN" "$API/jobs/$M15/pause")" = 200

stop_daemon
start_daemon
check "paused after restart" bash -c "curl -s $API/jobs/$M15 | grep -q '\"paused\": *true'"
stop_daemon
check "the token never appears in the log" bash -c "! grep -qF '$TOKEN' '$T/daemon.log' '$T/daemon.out'"
check "the API key never appears in the log" bash -c "! grep -qF '$KEY' '$T/daemon.log' '$T/daemon.out'"

# A bad configuration: refused with the problem named, exit 2.
printf '[scheduler]\nworkers = lots\n' >"$T/bad.ini"
ck run --config "$T/bad.ini"
check "run refuses a bad config with exit 2" expect_rc 2
check "run names the bad key" err_has "key 'workers'"
finish
