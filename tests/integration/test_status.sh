#!/usr/bin/env bash
# `candlekeep status` and GET /health are one report: with a daemon running
# on the fake Twelve Data, a job paused and a refresh done, `status --format
# json` and /health agree on every job (count, paused, overdue, failing,
# streak, next run), every series (latest, age) and every provider (rate
# budget, ban, circuit); status shows the providers. Both read the clock
# pinned by CANDLEKEEP_NOW, so ages compare exactly.
#
# The circuit breaker lives in the daemon, which records its state in the
# database: closed from the start, then open once the fake fails, /health
# and status say the same; a restarted daemon keeps the circuit open.
#
# Then `candlekeep jobs run detect_outcomes` settles a signal whose
# take-profit was touched and queues exactly one outcome notice, which the
# daemon delivers to the fake Telegram.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-status-1a2b3c4d"
TOKEN="777002:AAH-status-SECRET-token"
start_fake_td "$KEY"
python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" \
    --token "$TOKEN" 2>"$T/fake_tg.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || { echo "fake Telegram did not start" >&2; cat "$T/fake_tg.log" >&2; exit 1; }
TG_URL="http://127.0.0.1:$(cat "$T/tg.port")"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

{
    daemon_ini_head
    cat <<INI
[retry]
max_retries = 0
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
detect_outcomes = 0 0 1 1 *
[alerts.telegram]
bot_token = $TOKEN
chat_id = -1001234567890
base_url = $TG_URL
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD ETH/USD
timeframes = M15 H1
calendar = crypto
rate_per_minute = 8
daily_quota = 800
backfill = 50
breaker_failures = 1
breaker_recovery = 10m
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
# One pinned clock for the daemon and the commands: a minute ahead, so
# that nothing fetched is in its future.
PIN=$(py "import datetime; print((datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=60)).strftime('%Y-%m-%dT%H:%M:%SZ'))")

up() { curl -fs "$API/health" >/dev/null 2>&1; }
CANDLEKEEP_NOW=$PIN daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up

get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
# has_finished_run JOB: JOB has a finished run.
has_finished_run() {
    [ "$(get "$API/jobs/$1/runs?limit=5")" = 200 ] || return 1
    py "import json,sys; d=json.load(open('$T/body')); sys.exit(0 if [r for r in d['runs'] if r['status']!='running'] else 1)"
}

check "a refresh is accepted" test "$(get -X POST "$API/jobs/refresh_candles_M15/run")" = 202
check "the refresh finishes" wait_for 30 has_finished_run refresh_candles_M15
ck jobs pause refresh_candles_H1 "${CFG[@]}"
check "jobs pause exits 0" expect_rc 0

check "GET /health answers" test "$(get "$API/health")" = 200
cp "$T/body" "$T/health.json"
CANDLEKEEP_NOW=$PIN ck status --format json "${CFG[@]}"
check "status --format json exits 0 with a daemon alive" expect_rc 0
cp "$T/out" "$T/status.json"

check "status and /health agree on the jobs" py "
import json
h=json.load(open('$T/health.json'))['jobs']; s=json.load(open('$T/status.json'))['jobs']
for k in ('count','paused','overdue','failing'):
    assert h[k]==s[k], (k, h[k], s[k])
assert h['count']==19 and h['paused']==1, h
key=lambda j: (j['id'], j['paused'], j['overdue'], j['streak'], j['next_run'])
assert sorted(map(key,h['list']))==sorted(map(key,s['list'])), (h['list'], s['list'])
"
check "status and /health agree on the series" py "
import json
h=json.load(open('$T/health.json'))['series']; s=json.load(open('$T/status.json'))['series']
key=lambda e: (e['source'], e['symbol'], e['timeframe'], e['latest'], e['age_seconds'])
assert len(h)==4 and sorted(map(key,h))==sorted(map(key,s)), (h, s)
assert any(e['latest'] for e in h) and all(e['age_seconds'] is None or e['age_seconds']>=0 for e in h), h
"
check "status and /health agree on the providers' budgets and bans" py "
import json
h=json.load(open('$T/health.json'))['providers']; s=json.load(open('$T/status.json'))['providers']
assert [p['source'] for p in h]==[p['source'] for p in s]==['$SRC'], (h, s)
for a,b in zip(h,s):
    assert a['credits']==b['credits'] and a['credits']['day']['used']>=1, (a['credits'], b['credits'])
    assert a['ban']==b['ban'] and a['deferred']==b['deferred'] and a['skipped']==b['skipped'], (a, b)
"
check "status and /health agree on the closed circuit" py "
import json
a=json.load(open('$T/health.json'))['providers'][0]['circuit']
b=json.load(open('$T/status.json'))['providers'][0]['circuit']
assert a==b, (a, b)
assert a=={'state': 'closed', 'failures': 0, 'next_probe_seconds': None, 'recovery_seconds': 600}, a
"
ck status "${CFG[@]}"
check "status exits 0" expect_rc 0
check "status shows the jobs as /health counts them" out_has "jobs:      19 (paused 1,"
check "status shows the providers" out_has "providers: 1"
check "status names the provider, its circuit and its budget" out_has "  $SRC: circuit closed, minute "

# The provider fails once (breaker_failures = 1, no retries): the circuit opens.
# circuit_is WHERE STATE: the circuit of /health (WHERE=health) or status is STATE.
circuit_is() {
    if [ "$1" = health ]; then
        get "$API/health" >/dev/null || return 1
        cp "$T/body" "$T/c.json"
    else
        CANDLEKEEP_NOW=$PIN ck_out status --format json "${CFG[@]}" >"$T/c.json" || return 1
    fi
    py "import json,sys; sys.exit(0 if json.load(open('$T/c.json'))['providers'][0]['circuit']['state']=='$2' else 1)"
}
td_control '{"errors": [{"code": 500, "message": "upstream down", "times": 1}]}'
check "a refresh with the provider down is accepted" test "$(get -X POST "$API/jobs/refresh_candles_M15/run")" = 202
check "/health shows the circuit open" wait_for 30 circuit_is health open
cp "$T/c.json" "$T/health.json"
CANDLEKEEP_NOW=$PIN ck status --format json "${CFG[@]}"
check "status --format json exits 0 with the circuit open" expect_rc 0
cp "$T/out" "$T/status.json"
check "status and /health agree on the open circuit" py "
import json
h=json.load(open('$T/health.json')); s=json.load(open('$T/status.json'))
a=h['providers'][0]['circuit']; b=s['providers'][0]['circuit']
assert a['state']==b['state']=='open', (a, b)
assert a['failures']==b['failures']==1, (a, b)
assert a['recovery_seconds']==b['recovery_seconds']==600, (a, b)
# Read a moment apart: the wait for the probe may differ by the second it ticked.
assert 0 < b['next_probe_seconds'] <= a['next_probe_seconds'] <= b['next_probe_seconds'] + 2, (a, b)
assert h['status']==s['status']=='degraded', (h['status'], s['status'])
"
ck status "${CFG[@]}"
check "status exits 0 with the circuit open" expect_rc 0
check "status shows the open circuit" out_has "  $SRC: circuit open, minute "

# A restarted daemon takes the recorded circuit back: still open, before any request.
N0=$(td_requests | py "import json,sys; print(len(json.load(sys.stdin)))")
check "the daemon stops with exit 0 for a restart" daemon_stop "$DPID"
CANDLEKEEP_NOW=$PIN daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up again" wait_for 20 up
check "the restarted daemon's /health shows the circuit still open" circuit_is health open
check "the restarted daemon's status agrees" circuit_is status open
check "a refresh with the circuit open is accepted" test "$(get -X POST "$API/jobs/refresh_candles_M15/run")" = 202
has_failed_runs() {
    [ "$(get "$API/jobs/refresh_candles_M15/runs?limit=10")" = 200 ] || return 1
    py "import json,sys; d=json.load(open('$T/body')); sys.exit(0 if len([r for r in d['runs'] if r['status']=='failed'])>=$1 else 1)"
}
check "the refresh fails fast" wait_for 30 has_failed_runs 2
check "nothing reached the fake" test "$(td_requests | py "import json,sys; print(len(json.load(sys.stdin)))")" = "$N0"

# A long signal opened six hours ago whose take-profit every candle touches.
SIG_AT=$(py "import datetime; print((datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=6)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
CANDLEKEEP_NOW=$SIG_AT ck signals add --source "$SRC" --symbol BTC/USD --timeframe M15 \
    --direction long --entry 1 --stop-loss 0.5 --take-profit 2 --ttl 48h "${CFG[@]}"
check "the signal is stored" expect_rc 0
ck jobs run detect_outcomes "${CFG[@]}"
check "jobs run detect_outcomes exits 0" expect_rc 0
check "it settled the signal" out_has 'won 1,'
won_messages() { curl -fsS "$TG_URL/__messages" | py "import json,sys; print(len([m for m in json.load(sys.stdin) if 'won' in m['text']]))"; }
won_delivered() {
    local n
    n=$(won_messages) || return 1
    [ "$n" -ge 1 ]
}
check "the daemon delivers the outcome notice" wait_for 30 won_delivered
ck jobs run detect_outcomes "${CFG[@]}"
check "a second jobs run detect_outcomes exits 0" expect_rc 0
check "a second run settles nothing" out_has 'won 0,'
check "Telegram got exactly one outcome notice" test "$(won_messages)" = 1

check "the daemon stops with exit 0" daemon_stop "$DPID"
finish
