#!/usr/bin/env bash
# Alerts end to end: the real daemon, a fake Twelve Data that fails on
# command, a strict fake Telegram Bot API and a fake ping endpoint.
#
#   - five failing refresh runs: exactly one Telegram "firing" message,
#     whose error text (from the provider) arrives escaped;
#   - a success: the resolved message, held for the cooldown; a relapse
#     and recovery within the cooldown are one episode: nothing more;
#   - Telegram answering 502, then recovering: delivered once;
#   - an alert raised while Telegram is down, the daemon stopped, Telegram
#     back, the daemon started: delivered once;
#   - a provider's circuit breaker opens: its alert goes out, the failing
#     job's alert (inhibited by it) does not, until the breaker closes
#     while the job still fails;
#   - an open gap: one "gap" alert from the watch job;
#   - the digest job sends a digest; `digest --print` shows what the
#     database holds (signals, the retention run, jobs, newest candles,
#     open gaps, credits, the database's size);
#   - the database goes away (SQLite: another process holds the write
#     lock; PostgreSQL: the database refuses connections): the "database"
#     alert goes out directly, and its resolution through the outbox;
#   - the heartbeat pings while healthy and logs failures without its URL's
#     path, query or userinfo.
#
# Jobs are run by hand through the API (their schedules never fire).
# ck-test: pg
source "$(dirname "$0")/lib.sh"

PY=$(python3 -c 'import sys; print(sys.executable)')
py() { "$PY" -c "$@"; }

KEY="sk-alerts-5e4d3c2b1a"
TOKEN="424242:AAE-alerts-token-xyz"
CHAT="-1001234567890"
PING_SECRET="uuid-6f1e9d"
PING_TOKEN="ptok-31415"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW \
    OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID ALERT_COOLDOWN_MINUTES
export RETRY_DELAY_SECONDS=1

DPID=""
LOCKER=""
alerts_cleanup() {
    [ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null
    if [ -n "${CK_TEST_STORE_URL:-}" ] && [ -n "${PGDB:-}" ]; then
        admin_sql "ALTER DATABASE \"$PGDB\" ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
    fi
    cleanup
}
trap alerts_cleanup EXIT

start_fake tda fake_twelvedata.py --api-key "$KEY"
start_fake tdb fake_twelvedata.py --api-key "$KEY"
start_fake tg fake_telegram.py --token "$TOKEN"
start_fake ping fake_ping.py
TDA=$(cat "$T/tda.url")
TDB=$(cat "$T/tdb.url")
TG=$(cat "$T/tg.url")
PING=$(cat "$T/ping.url")
ctl() { fake_ctl "$@"; }

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
ASRC="${SRC}a"
BSRC="${SRC}b"
NEVER="0 0 1 1 *"
COOLDOWN=60

{
    daemon_ini_head
    cat <<INI
[scheduler]
workers = 3
[retry]
max_retries = 10
max_delay = 2s
[jobs]
refresh_candles_M15 = $NEVER
refresh_candles_H1 = $NEVER
refresh_candles_H4 = $NEVER
refresh_candles_D1 = $NEVER
watch_alerts = $NEVER
refresh_timeout = 60s
[digest]
schedule = $NEVER
[alerts]
failure_threshold = 3
cooldown = ${COOLDOWN}s
repeat_interval = 0
[alerts.telegram]
bot_token = $TOKEN
chat_id = $CHAT
base_url = $TG
[heartbeat]
url = http://hb:pw-hb-77@127.0.0.1:$(cat "$T/ping.port")/ping/$PING_SECRET?token=$PING_TOKEN
interval = 10s
[source.$ASRC]
kind = twelvedata
api_key = $KEY
base_url = $TDA
symbols = BTC/USD
timeframes = M15 H1 D1
calendar = crypto
backfill = 10
rate_per_minute = 100
daily_quota = 800
timeout = 5s
breaker_failures = 100
[source.$BSRC]
kind = twelvedata
api_key = $KEY
base_url = $TDB
symbols = ETH/USD
timeframes = H4
calendar = crypto
backfill = 10
rate_per_minute = 100
timeout = 5s
breaker_failures = 2
# Long enough for three runs and the checks of the open circuit on a loaded machine.
breaker_recovery = 30s
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# ---- helpers
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
up() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 up && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { daemon_stop "$DPID"; }
alive() { kill -0 "$DPID" 2>/dev/null; }
runs_done() {
    curl -fsS "$API/jobs/$1/runs?limit=200" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
# run_job JOB: run it now through the API and wait for its row; the row in $T/JOB.run.
run_job() {
    local want i code
    want=$(($(runs_done "$1") + 1))
    # The previous run's row is written before the scheduler lets go of the job: 409 until then.
    wait_for 5 run_accepted "$1" || { echo "job $1: POST run answered $(cat "$T/post.code")" >&2; return 1; }
    wait_for 60 runs_at_least "$1" "$want" || { echo "job $1: no finished run" >&2; return 1; }
    curl -fsS "$API/jobs/$1/runs?limit=1" | py "import json,sys; print(json.dumps(json.load(sys.stdin)['runs'][0]))" >"$T/$1.run"
}
run_accepted() { curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/$1/run" >"$T/post.code"; [ "$(cat "$T/post.code")" = 202 ]; }
runs_at_least() { local n; n=$(runs_done "$1") && [ "$n" -ge "$2" ]; }
run_is() { py "import json; r=json.load(open('$T/$1.run')); assert r['status']=='$2', r"; }
# runs JOB N STATUS: N runs, each ending STATUS.
runs() { local i; for i in $(seq 1 "$2"); do run_job "$1" && run_is "$1" "$3" || return 1; done; }

# Telegram: the accepted messages; tg_count KEY LABEL counts those about KEY with LABEL
# (FIRING, RESOLVED, DIGEST...). The plain text is "<emoji> LABEL ... \nkey KEY\ntime ...".
tg_msgs() { curl -fsS "$TG/__messages"; }
tg_count() {
    tg_msgs | py "
import json,sys
n=0
for m in json.load(sys.stdin):
    p=m['plain']; first=p.split('\n',1)[0]
    if sys.argv[2] in first.split(' ')[1:3] and ('\nkey '+sys.argv[1]+'\n') in (p+'\n'): n+=1
print(n)" "$1" "$2"
}
# tg_title TITLE LABEL: messages whose first line has LABEL and TITLE.
tg_title() {
    tg_msgs | py "
import json,sys
print(len([m for m in json.load(sys.stdin) if sys.argv[2] in m['plain'].split('\n',1)[0].split(' ')[1:3] and sys.argv[1] in m['plain'].split('\n',1)[0]]))" "$1" "$2"
}
count_is() { [ "$(tg_count "$1" "$2")" = "$3" ]; }
title_is() { [ "$(tg_title "$1" "$2")" = "$3" ]; }
nmsgs_is() { [ "$(tg_msgs | py 'import json,sys; print(len(json.load(sys.stdin)))')" = "$1" ]; }

# SQL on the store: psql for PostgreSQL, python's sqlite3 for SQLite. Rows as a|b lines.
if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    PSQL=$(command -v psql 2>/dev/null || true)
    if [ -z "$PSQL" ]; then for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done; fi
    [ -n "$PSQL" ] || { echo "test_alerts: psql not found" >&2; exit 1; }
    PG=1
    sql() { "$PSQL" "$STORE_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
    admin_sql() { "$PSQL" "$CK_TEST_PG_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
    PGDB=$(sql "SELECT current_database()")
else
    PG=""
    DB=${STORE_URL#sqlite:}
    sql() {
        py "
import sqlite3,sys
c=sqlite3.connect(sys.argv[1], timeout=30)
rows=c.execute(sys.argv[2]).fetchall(); c.commit()
print('\n'.join('|'.join('' if x is None else str(x) for x in r) for r in rows))" "$DB" "$1"
    }
fi
# Rows of the alert outbox not yet sent.
pending() { sql "SELECT count(*) FROM alert_outbox WHERE status = 'pending'"; }
outbox_idle() { [ "$(pending)" = 0 ]; }
alerts_json() { "$CK_BIN" alerts --format json "${CFG[@]}"; }
# alert KEY EXPR: evaluate EXPR on the `candlekeep alerts` row `a` of KEY.
alert() {
    alerts_json >"$T/alerts.json" || return 1
    py "import json,sys; a=[x for x in json.load(open('$T/alerts.json')) if x['key']==sys.argv[1]]; assert a, 'no alert '+sys.argv[1]; a=a[0]; r=($2); assert r, a" "$1"
}

# The gap repair is paused: its requests would race the count of requests
# the digest is checked against (a pause holds the repairs a refresh asks
# for as well as its schedule).
ck jobs pause repair_gaps "${CFG[@]}"
check "the gap repair is paused" expect_rc 0

# ---- 0. Start; the heartbeat fails at first.
ctl "$PING" '{"status": 500}'
check "the daemon starts" start_daemon
check "the heartbeat pings at start" wait_for 10 py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$PING/__requests'))
assert r and r[0]['method']=='GET' and r[0]['path']=='/ping/$PING_SECRET' and r[0]['query']=='token=$PING_TOKEN', r"
check "a failed ping is logged, naming the host only" wait_for 10 grep -q "heartbeat: ping to http://127.0.0.1:$(cat "$T/ping.port") failed: .*500" "$T/daemon.log"
ctl "$PING" '{"status": 200}'

# ---- 1. Five failing runs: one firing message, escaped.
ctl "$TDA" '{"errors": [{"code": 400, "message": "symbol <b>&\"x\"</b> is not available", "times": 5}]}'
check "five failing M15 refreshes" runs refresh_candles_M15 5 failed
check "the failure names the provider's error" py "
import json; r=json.load(open('$T/refresh_candles_M15.run')); assert '<b>&\"x\"</b>' in r['message'], r"
check "the firing message arrives" wait_for 20 count_is job:refresh_candles_M15 FIRING 1
check "the outbox is empty" wait_for 20 outbox_idle
check "exactly one message for five failures" nmsgs_is 1
check "it is titled for the job and says the streak and the error" py "
import json,urllib.request
m=json.load(urllib.request.urlopen('$TG/__messages'))[0]
p=m['plain']
assert 'FIRING [warning] Candle refresh failing' in p, p
assert 'M15 refresh has failed 3 consecutive times' in p, p
assert m['chat_id']=='$CHAT' or str(m['chat_id'])=='$CHAT', m"
check "the error text arrives as text, escaped in the HTML sent" py "
import json,urllib.request
m=json.load(urllib.request.urlopen('$TG/__messages'))[0]
assert '<b>&\"x\"</b>' in m['plain'], m['plain']
assert '<b>&' not in m['text'] and '&lt;b&gt;&amp;' in m['text'], m['text']"
check "the alert is firing, told once" alert job:refresh_candles_M15 "a['state']=='firing' and int(a['times_sent'])==1 and a['severity']=='warning'"

# ---- 2. Recovery, held by the cooldown; a relapse within it is the same episode.
check "a success" runs refresh_candles_M15 1 ok
check "the alert is resolved" alert job:refresh_candles_M15 "a['state']=='resolved'"
ctl "$TDA" '{"errors": [{"code": 400, "message": "flapping", "times": 3}]}'
check "it fails three times again" runs refresh_candles_M15 3 failed
check "and recovers again" runs refresh_candles_M15 1 ok
# The flapping must fit in the cooldown (seconds, tens of seconds on a loaded machine; the cooldown is 60 s).
FLAP_DONE=$(py "import time; print(time.time())")
check "the flapping ended within the cooldown of the firing message" py "
import json,urllib.request
m=json.load(urllib.request.urlopen('$TG/__messages'))
assert len(m)==1 and $FLAP_DONE < m[0]['time'] + $COOLDOWN - 2, (m, $FLAP_DONE)"
check "after the cooldown, one resolved message" wait_for $((COOLDOWN + 15)) count_is job:refresh_candles_M15 RESOLVED 1
# Silence within the cooldown, from the fake's own clock: the message after
# the firing one is the resolved one, sent once the cooldown had passed.
check "nothing was sent within the cooldown" py "
import json,urllib.request
m=json.load(urllib.request.urlopen('$TG/__messages'))
assert len(m)==2 and 'FIRING' in m[0]['plain'].split(chr(10))[0] and 'RESOLVED' in m[1]['plain'].split(chr(10))[0], m
assert m[1]['time'] >= m[0]['time'] + $COOLDOWN - 1.5, (m[0]['time'], m[1]['time'])"
check "it says what succeeded" py "
import json,urllib.request
m=[x for x in json.load(urllib.request.urlopen('$TG/__messages')) if 'RESOLVED' in x['plain'].split('\n')[0]][0]
assert 'M15 refresh succeeded again' in m['plain'], m['plain']"
check "still one firing message for the episode" count_is job:refresh_candles_M15 FIRING 1

# ---- 3. Telegram answers 502 twice, then works: delivered once.
ctl "$TG" '{"fail": [{"kind": "error", "error_code": 502, "times": 2}]}'
ctl "$TDA" '{"errors": [{"code": 400, "message": "**symbol** not found for H1", "times": 3}]}'
check "three failing H1 refreshes" runs refresh_candles_H1 3 failed
check "the H1 alert arrives after the 502s" wait_for 30 count_is job:refresh_candles_H1 FIRING 1
check "the 502s were answered first" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$TG/__requests'))
s=[x['status'] for x in r]
assert s.count(502)==2 and s[-1]==200 and s.index(502) < len(s)-1, s"
check "and it went out once" wait_for 5 outbox_idle
check "one H1 message" count_is job:refresh_candles_H1 FIRING 1

# ---- 4. Raised while Telegram is down; the daemon restarts; delivered once after.
ctl "$TG" '{"down": true}'
ctl "$TDA" '{"errors": [{"code": 400, "message": "**symbol** not found for D1", "times": 3}]}'
check "three failing D1 refreshes" runs refresh_candles_D1 3 failed
d1_tried() { [ "$(sql "SELECT attempts FROM alert_outbox WHERE alert_key = 'job:refresh_candles_D1'")" -ge 1 ]; }
check "the D1 message was tried" wait_for 20 d1_tried
check "the daemon stops cleanly with a message pending" stop_daemon
check "nothing about D1 reached Telegram" count_is job:refresh_candles_D1 FIRING 0
ctl "$TG" '{"down": false}'
check "the daemon starts again" start_daemon
check "after the restart the D1 alert arrives" wait_for 30 count_is job:refresh_candles_D1 FIRING 1
check "the outbox is empty again" wait_for 10 outbox_idle
check "exactly once" count_is job:refresh_candles_D1 FIRING 1

# ---- 5. Inhibition: an open breaker holds back the job alert it causes.
ctl "$TDB" '{"errors": [{"code": 500, "times": 2}, {"code": 400, "message": "**symbol** not found", "times": 1}]}'
check "the first H4 run opens the breaker" runs refresh_candles_H4 1 failed
check "two more fail fast" runs refresh_candles_H4 2 failed
check "the circuit is open" py "
import json,urllib.request
d=json.load(urllib.request.urlopen('$API/health'))
p=[x for x in d['providers'] if x['source']=='$BSRC'][0]; assert p['circuit']['state']!='closed', p"
check "the breaker alert goes out" wait_for 20 count_is "breaker:$BSRC" FIRING 1
check "it is critical" alert "breaker:$BSRC" "a['severity']=='critical' and a['state']=='firing'"
check "the job alert is recorded, held back by the breaker" alert job:refresh_candles_H4 "a['state']=='firing' and a['inhibited_by']=='breaker:$BSRC' and int(a['times_sent'])==0"
check "the outbox has nothing more" wait_for 10 outbox_idle
check "so no job alert reached Telegram" count_is job:refresh_candles_H4 FIRING 0
# After the recovery time the probe gets an answer (a 400): the breaker closes, the job still fails.
probe_due() { py "
import json,urllib.request
d=json.load(urllib.request.urlopen('$API/health'))
assert not [x for x in d['providers'] if x['source']=='$BSRC'][0]['circuit']['next_probe_seconds']"; }
check "the breaker's recovery time passes" wait_for 60 probe_due
check "the probe run fails on the provider's answer" runs refresh_candles_H4 1 failed
check "the breaker alert is resolved" alert "breaker:$BSRC" "a['state']=='resolved'"
check "the job alert, no longer held back, goes out" wait_for 20 count_is job:refresh_candles_H4 FIRING 1
check "a success clears it" runs refresh_candles_H4 1 ok

# ---- 6. An open gap: one alert from the watch job.
ctl "$TDA" "$(py "
import json,time
t=int(time.time())//900*900
fmt=lambda s: time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(s))
print(json.dumps({'holes': [{'symbol': 'BTC/USD', 'interval': '1h', 'from': fmt(t//3600*3600-3*3600), 'to': fmt(t//3600*3600-2*3600)}]}))")"
check "an H1 refresh with a hole succeeds" runs refresh_candles_H1 1 ok
check "the gap is in the ledger" test "$(sql "SELECT count(*) FROM gaps WHERE state = 'open'")" = 1
check "the watch job runs" runs watch_alerts 1 ok
GAPKEY=$(alerts_json | py "import json,sys; print([a['key'] for a in json.load(sys.stdin) if a['key'].startswith('gap:')][0])")
names_series() { [[ "$1" == "gap:$ASRC:BTC/USD:H1:"* ]]; }
check "the gap alert names the series" names_series "$GAPKEY"
check "one gap message goes out" wait_for 20 count_is "$GAPKEY" FIRING 1
check "a second look sends nothing more" runs watch_alerts 1 ok
check "the outbox is empty after it" wait_for 20 outbox_idle
check "still one" count_is "$GAPKEY" FIRING 1

# ---- 7. The digest.
N0=$(tg_title "Health digest" DIGEST)
check "the digest job runs" runs digest 1 ok
check "the digest arrives" wait_for 20 title_is "Health digest" DIGEST $((N0 + 1))
ck digest --send "${CFG[@]}"
check "digest --send exits 0" expect_rc 0
check "digest --send queues one" out_has 'digest queued for 1 channel'
check "and the daemon delivers it" wait_for 20 title_is "Health digest" DIGEST $((N0 + 2))

# Signals and a retention run, written as their jobs would.
NOWS=$(date -u +%s)
DAY0=$((NOWS - NOWS % 86400))
if [ -n "$PG" ]; then
    ts() { echo "to_timestamp($1)"; }
else
    ts() { echo "$(($1 * 1000))"; }
fi
sig() { # sig ID STATUS CREATED
    # An active one's levels are out of the candles' reach: the daemon's
    # detect_outcomes job, which may run before the digest, leaves it active.
    # (PostgreSQL keeps prices as numbers, SQLite as integers in units of 1e-8.)
    local sl=90 tp=110
    if [ "$2" = active ] && [ -n "$PG" ]; then
        sl=0.00000001 tp=10000000000
    elif [ "$2" = active ]; then
        sl=1 tp=1000000000000000000
    fi
    sql "INSERT INTO signals (id, request_hash, source, symbol, timeframe, direction, entry, stop_loss, take_profit, created_at, status, updated_at) VALUES ('$1', 'h$1', '$ASRC', 'BTC/USD', 'M15', 'long', 100, $sl, $tp, $(ts "$3"), '$2', $(ts "$3"))" >/dev/null
}
outcome() { # outcome ID RESULT DECIDED
    sql "INSERT INTO outcomes (signal_id, result, decided_at, created_at) VALUES ('$1', '$2', $(ts "$3"), $(ts "$3"))" >/dev/null
}
sig sig_a1 active "$NOWS"
sig sig_a2 active "$((DAY0 - 3600))"
sig sig_w1 won "$NOWS"
outcome sig_w1 won "$NOWS"
sig sig_l1 lost "$((DAY0 - 7200))"
outcome sig_l1 lost "$((DAY0 + 1))"
sig sig_l2 lost "$((DAY0 - 90000))"
outcome sig_l2 lost "$((DAY0 - 80000))"
if [ -n "$PG" ]; then
    sql "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, status, message, details) VALUES ('retention', 'test', to_timestamp($DAY0 + 10800), to_timestamp($DAY0 + 10800), to_timestamp($DAY0 + 10805), 'ok', 'pruned', '{\"deleted\": {\"M15\": 1200, \"H1\": 0, \"backtests\": 3}, \"bytes_freed\": 4096}')" >/dev/null
else
    sql "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, status, message, details) VALUES ('retention', 'test', $((DAY0 + 10800)), $(((DAY0 + 10800) * 1000)), $(((DAY0 + 10805) * 1000)), 'ok', 'pruned', '{\"deleted\": {\"M15\": 1200, \"H1\": 0, \"backtests\": 3}, \"bytes_freed\": 4096}')" >/dev/null
fi
ck jobs pause refresh_candles_D1 "${CFG[@]}"
check "a job can be paused for the count" expect_rc 0

ck digest "${CFG[@]}"
check "digest without --print or --send is a usage error" expect_rc 2
check "which says so" err_has "say --print or --send"
ck digest --print --send "${CFG[@]}"
check "both at once too" expect_rc 2
ck digest --print "${CFG[@]}"
check "digest --print runs while the daemon does" expect_rc 0
cp "$T/out" "$T/digest.live"
check "it sees the daemon" grep -q "^Scheduler: running (1 daemon)" "$T/digest.live"
check "the daemon stops with exit 0" stop_daemon
ck digest --print "${CFG[@]}"
check "digest --print" expect_rc 0
cp "$T/out" "$T/digest.txt"
check "it has a title" grep -q "^Health digest [0-9-]* [0-9:]* UTC$" "$T/digest.txt"

if [ -n "$PG" ]; then
    SINCE="to_timestamp($DAY0)"
else
    SINCE=$((DAY0 * 1000))
fi
ACTIVE=$(sql "SELECT count(*) FROM signals WHERE status = 'active'")
CREATED=$(sql "SELECT count(*) FROM signals WHERE created_at >= $SINCE")
WON=$(sql "SELECT count(*) FROM outcomes WHERE result = 'won' AND decided_at >= $SINCE")
LOST=$(sql "SELECT count(*) FROM outcomes WHERE result = 'lost' AND decided_at >= $SINCE")
check "the signal counts are the database's" grep -qx "Signals: $ACTIVE active, $CREATED new today" "$T/digest.txt"
check "they are not trivial" test "$ACTIVE/$CREATED/$WON/$LOST" = "2/2/1/1"
check "the outcome counts are the database's" grep -qx "Outcomes today: $WON won, $LOST lost, 0 expired" "$T/digest.txt"
DELETED=$(sql "SELECT details FROM job_runs WHERE job_id = 'retention' ORDER BY id DESC LIMIT 1" |
    py "import json,sys; d=json.load(sys.stdin)['deleted']; print(', '.join('%s %d' % kv for kv in d.items()))")
check "the last retention run's deletions" grep -q "^Retention: last run .* UTC, ok; deleted $DELETED\$" "$T/digest.txt"
ck jobs --format json "${CFG[@]}"
check "jobs exits 0" expect_rc 0
cp "$T/out" "$T/jobs.json"
check "the scheduler line counts the jobs as the CLI lists them" py "
import json,re
j=json.load(open('$T/jobs.json'))
n=len(j); paused=sum(1 for x in j if str(x['paused']).lower()=='true'); failing=sum(1 for x in j if int(x['streak'])>0)
line=[l for l in open('$T/digest.txt') if l.startswith('Scheduler:')][0].strip()
want='Scheduler: no daemon running; %d jobs, %d paused, %d failing, 0 overdue' % (n, paused, failing)
assert line==want, (line, want)
assert paused==2 and failing==1, (paused, failing)"  # repair_gaps and the one paused above
check "the failing job is named with its streak" grep -q "^  failing: refresh_candles_D1 (3 in a row)$" "$T/digest.txt"
for TF in M15 H1 H4; do
    SRCN=$ASRC; SYM=BTC/USD
    [ "$TF" = H4 ] && { SRCN=$BSRC; SYM=ETH/USD; }
    ck candles "$TF" --source "$SRCN" --symbol "$SYM" --limit 1 --format json "${CFG[@]}"
    check "candles $TF exits 0" expect_rc 0
    LATEST=$(py "import json,sys; t=json.load(open('$T/out'))[0]['time']; print(t[:10]+' '+t[11:16]+' UTC')")
    check "the newest $TF candle is the stored one" grep -q "^  $SRCN *$SYM *$TF *$LATEST  age " "$T/digest.txt"
done
check "a series without candles says so" grep -q "^  $ASRC *BTC/USD *D1 *none yet$" "$T/digest.txt"
GAPS=$(sql "SELECT count(*) FROM gaps WHERE state = 'open'")
check "the open gaps are the ledger's" grep -qx "Open gaps: $GAPS" "$T/digest.txt"
check "per series" grep -q "^  $ASRC *BTC/USD *H1 *$GAPS$" "$T/digest.txt"
REQS=$(curl -fsS "$TDA/__requests" | py "import json,sys; print(len(json.load(sys.stdin)))")
check "the credits used today are the requests the provider saw" grep -q "^  $ASRC *$REQS of 800$" "$T/digest.txt"
if [ -n "$PG" ]; then
    SIZE=$(sql "SELECT pg_database_size(current_database())")
    check "the database size is pg_database_size" py "
import re
line=[l for l in open('$T/digest.txt') if l.startswith('Database:')][0]
m=re.search(r'postgresql, .* \((\d+) bytes\); free disk n/a$', line.strip()); assert m, line
assert abs(int(m.group(1)) - $SIZE) <= 65536, (m.group(1), $SIZE)"
else
    SIZE=$(sql "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
    FILESZ=$(stat -c %s "$DB")
    check "the database size is SQLite's pages" grep -q "^Database: sqlite, .* ($SIZE bytes); free disk " "$T/digest.txt"
    check "which is the file's size" test "$SIZE" = "$FILESZ"
    AVAIL=$(df -B1 --output=avail "$(dirname "$DB")" | tail -n 1)
    check "the free disk is the file system's" py "
import re
line=[l for l in open('$T/digest.txt') if l.startswith('Database:')][0]
m=re.search(r'free disk ([0-9.]+) (B|KiB|MiB|GiB|TiB) of', line); assert m, line
u={'B':1,'KiB':2**10,'MiB':2**20,'GiB':2**30,'TiB':2**40}[m.group(2)]
got=float(m.group(1))*u; want=$AVAIL
assert abs(got-want) <= max(0.06*want, 2**20), (got, want)"
fi

# ---- 8. The database goes away: the alert goes out directly, its end through the outbox.
check "the daemon starts for the database scenario" start_daemon
if [ -z "$PG" ]; then
    "$PY" -c "
import os,sqlite3,sys,time
c=sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute('BEGIN IMMEDIATE')
open(sys.argv[2],'w').write('locked')
for _ in range(1200):
    if os.path.exists(sys.argv[3]): break
    time.sleep(0.05)
c.execute('ROLLBACK')" "$DB" "$T/locked" "$T/unlock" &
    LOCKER=$!
    check "another process holds the write lock" wait_for 10 test -s "$T/locked"
    db_back() { touch "$T/unlock"; wait "$LOCKER"; LOCKER=""; }
else
    admin_sql "ALTER DATABASE \"$PGDB\" ALLOW_CONNECTIONS false" >/dev/null
    admin_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$PGDB' AND pid <> pg_backend_pid()" >/dev/null
    db_back() { admin_sql "ALTER DATABASE \"$PGDB\" ALLOW_CONNECTIONS true" >/dev/null; }
fi
check "the database alert goes out while the database is away" wait_for 40 count_is database FIRING 1
check "it is critical and says why" py "
import json,urllib.request
m=[x for x in json.load(urllib.request.urlopen('$TG/__messages')) if '\nkey database' in x['plain']][0]
assert 'FIRING [critical] Database unreachable' in m['plain'] and 'Sent directly' in m['plain'], m['plain']"
check "the daemon stays up" alive
db_back
check "its end goes out through the outbox" wait_for 40 title_is "Database reachable again" RESOLVED 1
check "the outbox holds the record" test "$(sql "SELECT count(*) FROM alert_outbox WHERE kind = 'resolved' AND title = 'Database reachable again' AND status = 'sent'")" = 1
check "the firing message went out once" count_is database FIRING 1

# ---- 9. The heartbeat, with the ping endpoint healthy again.
check "the heartbeat works again" wait_for 30 grep -q "heartbeat: ping to http://127.0.0.1:$(cat "$T/ping.port") works again" "$T/daemon.log"
check "the daemon stops cleanly" stop_daemon
check "no secret in the logs" lacks_re "$PING_SECRET|$PING_TOKEN|pw-hb-77|$TOKEN|$KEY" "$T/daemon.log" "$T/daemon.out"
check "every Telegram request used the right token" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$TG/__requests'))
assert r and all('<wrong>' not in x['path'] for x in r), r"

finish
