#!/usr/bin/env bash
# Resilience end to end: the real daemon against fake Twelve Data servers
# that misbehave on request, driven through the API with manual job runs.
#
#   - the rate budget: 12 symbols x 2 timeframes on 8 requests a minute; the
#     fake enforces the limit ("limits") and would answer any excess with
#     a 429 the test sees; what does not fit the job's time is deferred;
#   - a 429 "wait for the next minute" sent with HTTP 200: waited out;
#   - Retry-After obeyed (the fake's request log shows the gap);
#   - 401 not retried; 5xx retried max_retries times, then the run fails
#     naming the operation, the attempts and the last error;
#   - the circuit breaker opens, calls stop reaching the fake, one probe
#     after the recovery time closes it;
#   - a parade of faults (an HTML 502, a reset connection, a hang past the
#     timeout, truncated JSON, wrong types, NaN and negative prices,
#     duplicate rows, a body over the cap): the daemon stays up, stores no
#     invalid candle and loses none, and catches up once the fake behaves;
#   - the most overdue series are fetched first;
#   - a bad symbol does not stop the others, is skipped after its streak
#     and probed now and then;
#   - the database goes away (SQLite: locked by another process; PostgreSQL:
#     the server stopped and started again on the same port): /health 503,
#     the daemon stays up, then 200 and the jobs run again;
#   - a provider's daily ban survives a daemon restart.
#
# Independent scenarios run at the same time on different jobs (one
# timeframe each) and different fakes, so that the minute of waiting the
# budget needs is spent once. Retries use RETRY_DELAY_SECONDS=1.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

# The interpreter itself, not a version manager's wrapper script: the checks run it
# hundreds of times.
PY=$(python3 -c 'import sys; print(sys.executable)')
py() { "$PY" -c "$@"; }

KEY="sk-resil-7c6b5a4f3e"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW
export RETRY_DELAY_SECONDS=1

PGDIR=""
DPID=""
D2PID=""
resil_cleanup() {
    if [ -n "$PGDIR" ]; then
        bash "$CK_SOURCE_DIR/tests/helpers/pg_cluster.sh" stop "$PGDIR" >/dev/null 2>&1 || true
        rm -rf "$PGDIR"
    fi
    cleanup
}
trap resil_cleanup EXIT

# start_named_fake NAME: a fake Twelve Data of its own; its URL in $T/NAME.url.
start_named_fake() {
    "$PY" "$CK_SOURCE_DIR/tests/helpers/fake_twelvedata.py" --port-file "$T/$1.port" \
        --api-key "$KEY" 2>"$T/fake_$1.log" &
    FAKE_PIDS+=($!)
    wait_for 10 test -s "$T/$1.port" || { echo "fake $1 did not start" >&2; exit 1; }
    echo "http://127.0.0.1:$(cat "$T/$1.port")" >"$T/$1.url"
}
start_named_fake bud  # the budget scenario
start_named_fake min  # the minute 429
start_named_fake prov # provider faults, one after the other
start_named_fake sym  # symbols: urgency, isolation
start_named_fake fault # the fault parade
BUD=$(cat "$T/bud.url")
MIN=$(cat "$T/min.url")
PROV=$(cat "$T/prov.url")
SYM=$(cat "$T/sym.url")
FAULT=$(cat "$T/fault.url")
ctl() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$1/__control" >/dev/null; }
reqs() { curl -fsS "$1/__requests"; }
nreqs() { reqs "$1" | py "import json,sys; print(len(json.load(sys.stdin)))"; }

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
BUDSRC="${SRC}b"
MSRC="${SRC}m"
PSRC="${SRC}p"
SSRC="${SRC}s"
USRC="${SRC}u"
FSRC="${SRC}f"
NEVER="0 0 1 1 *"

{
    daemon_ini_head
    cat <<INI
[scheduler]
workers = 7
[retry]
max_retries = 2
max_delay = 10s
[jobs]
refresh_candles_M5 = $NEVER
refresh_candles_M15 = $NEVER
refresh_candles_M30 = $NEVER
refresh_candles_H1 = $NEVER
refresh_candles_H4 = $NEVER
refresh_candles_D1 = $NEVER
refresh_candles_W1 = $NEVER
refresh_timeout = 90s
[source.$BUDSRC]
api_key = $KEY
kind = twelvedata
base_url = $BUD
symbols = BTC/USD ETH/USD LTC/USD SOL/USD XRP/USD ADA/USD DOGE/USD DOT/USD LINK/USD AVAX/USD BCH/USD XLM/USD
timeframes = M15 H1
calendar = crypto
backfill = 10
rate_per_minute = 8
daily_quota = 800
timeout = 5s
[source.$MSRC]
api_key = $KEY
kind = twelvedata
base_url = $MIN
symbols = ETH/USD
timeframes = W1
calendar = crypto
backfill = 10
timeout = 5s
[source.$PSRC]
api_key = $KEY
rate_per_minute = 100
kind = twelvedata
base_url = $PROV
symbols = BTC/USD
timeframes = H4
calendar = crypto
backfill = 10
timeout = 5s
breaker_failures = 3
breaker_recovery = 15s
[source.$SSRC]
api_key = $KEY
rate_per_minute = 100
kind = twelvedata
base_url = $SYM
symbols = BTC/USD FOO/BAR ETH/USD
timeframes = D1
calendar = crypto
backfill = 10
timeout = 5s
symbol_skip_after = 2
symbol_probe_every = 3
[source.$USRC]
api_key = $KEY
rate_per_minute = 100
kind = twelvedata
base_url = $SYM
symbols = LTC/USD ETH/USD BTC/USD
timeframes = M30
calendar = crypto
backfill = 10
timeout = 5s
INI
} >"$T/ck.ini"
cat >>"$T/ck.ini" <<INI
[source.$FSRC]
api_key = $KEY
kind = twelvedata
base_url = $FAULT
symbols = BTC/USD
timeframes = M5
calendar = crypto
backfill = 10
rate_per_minute = 100
timeout = 2s
max_body = 4096
breaker_failures = 100
INI
CFG=(--config "$T/ck.ini")

get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
# jq_ EXPR: EXPR over the last body (d) must be true.
jq_() { py "import json,sys; d=json.load(open('$T/body')); assert ($1), d"; }

answers() { # answers URL: the API answers (200 or 503)
    case $(curl -s -o /dev/null -w '%{http_code}' "$1/health" 2>/dev/null) in 200 | 503) return 0 ;; esac
    kill -0 "$DPID" 2>/dev/null || return 0
    return 1
}
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 answers "$API" && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { daemon_stop "$DPID"; }
alive() { kill -0 "$DPID" 2>/dev/null; }

# Finished runs of a job.
runs_done() {
    curl -fsS "$API/jobs/$1/runs?limit=200" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
# start_run JOB: ask for a run; remembers how many had finished in $T/JOB.before.
start_run() {
    runs_done "$1" >"$T/$1.before"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/$1/run")" = 202 ]
}
# wait_run JOB [SECONDS]: wait for the run start_run asked for; its row in $T/JOB.run.
wait_run() {
    local want=$(($(cat "$T/$1.before") + 1)) i
    if wait_for "${2:-60}" runs_at_least "$1" "$want"; then
        curl -fsS "$API/jobs/$1/runs?limit=1" | py "import json,sys; print(json.dumps(json.load(sys.stdin)['runs'][0]))" >"$T/$1.run"
        return 0
    fi
    echo "job $1: no finished run after ${2:-60}s" >&2
    return 1
}
runs_at_least() { local n; n=$(runs_done "$1") && [ "$n" -ge "$2" ]; }
run_job() { start_run "$1" && wait_run "$@"; }
# run_is JOB STATUS: the last run's status
run_is() { py "import json; r=json.load(open('$T/$1.run')); assert r['status']=='$2', r"; }
run_msg_has() { py "import json,sys; r=json.load(open('$T/$1.run')); assert sys.argv[1] in r['message'], r['message']" "$2"; }
# provider NAME EXPR: evaluate EXPR on /health's provider entry `p`
provider() {
    get "$API/health" >/dev/null
    py "import json,sys; d=json.load(open('$T/body')); p=[x for x in d['providers'] if x['source']==sys.argv[1]][0]; r=($2); assert r, p" "$1"
}
metric() { curl -fsS "$API/metrics" | grep -F "$1" | head -n 1 | awk '{print $NF}'; }

# ---- 0. Seed the urgency source with old data (the CLI fetch draws on its budget too).
NOW=$(date -u +%s)
iso() { py "import datetime; print(datetime.datetime.fromtimestamp($1, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))"; }
seed() { # seed SYMBOL SECONDS_AGO
    local at; at=$(iso $((NOW - $2)))
    ctl "$SYM" "{\"now\": \"$at\"}"
    export CANDLEKEEP_NOW=$at
    ck fetch --source "$USRC" --symbol "$1" --timeframe M30 "${CFG[@]}"
    unset CANDLEKEEP_NOW
    expect_rc 0 || { echo "seeding $1 failed" >&2; cat "$T/err" >&2; return 1; }
}
check "seed ETH/USD 5 hours back" seed ETH/USD 18000
check "seed LTC/USD 1 hour back" seed LTC/USD 3600
curl -fsS -X POST "$SYM/__reset" >/dev/null

start_daemon
check "the daemon starts" alive

# ---- 1. Everything that can run at once.
ctl "$BUD" '{"limits": {"per_minute": 8, "per_day": 800}}'
ctl "$MIN" '{"errors": [{"code": 429, "kind": "minute"}]}'
T_START=$(date +%s)
check "the M15 budget run starts" start_run refresh_candles_M15
check "the H1 budget run starts" start_run refresh_candles_H1
check "a run hit by a minute 429 starts" start_run refresh_candles_W1
check "the urgency run starts" start_run refresh_candles_M30

# Symbol isolation (D1 on the sym fake): FOO/BAR is unknown to the provider.
check "isolation run 1 finishes" run_job refresh_candles_D1
check "one bad symbol fails the run" run_is refresh_candles_D1 failed
check "the failure names the bad symbol" run_msg_has refresh_candles_D1 "FOO/BAR"
check "the failure counts one of three" run_msg_has refresh_candles_D1 "1 of 3 series failed"
check "the other symbols were stored" py "
import json; r=json.load(open('$T/refresh_candles_D1.run')); res=r['details']['results']
ok=sorted(x['symbol'] for x in res if x['status']=='ok'); assert ok==['BTC/USD','ETH/USD'], res"
check "isolation run 2 finishes" run_job refresh_candles_D1
foo_requests() { reqs "$SYM" | py "import json,sys; print(len([r for r in json.load(sys.stdin) if r['query'].get('symbol')=='FOO/BAR']))"; }
foo_requests_are() { local n; n=$(foo_requests) && [ "$n" = "$1" ]; }
check "FOO/BAR asked once per run" foo_requests_are 2
check "isolation run 3: FOO/BAR skipped after 2 failures" run_job refresh_candles_D1
check "a run with only a skipped series is ok" run_is refresh_candles_D1 ok
check "the run says it skipped one" run_msg_has refresh_candles_D1 "skipped 1"
check "run 4 skips it again" run_job refresh_candles_D1
check "skipped series are not asked for" foo_requests_are 2
check "/health lists the skipped series" provider "$SSRC" "[s['symbol'] for s in p['skipped']]==['FOO/BAR'] and p['skipped'][0]['streak']==2 and 'FOO/BAR' not in [s['symbol'] for s in p['failing']]"
check "/health is degraded while a series is skipped" jq_ "d['status']=='degraded'"
check "run 5 probes it (every 3rd cycle)" run_job refresh_candles_D1
check "the probe reached the provider" foo_requests_are 3
check "the probe failed: streak 3" provider "$SSRC" "p['skipped'][0]['streak']==3"
check "series_failure_streak in /metrics" test "$(metric "series_failure_streak{source=\"$SSRC\",symbol=\"FOO/BAR\",timeframe=\"D1\"}")" = 3
check "series_skipped in /metrics" test "$(metric "series_skipped{source=\"$SSRC\",symbol=\"FOO/BAR\",timeframe=\"D1\"}")" = 1
check "good series have no streak" test "$(metric "series_failure_streak{source=\"$SSRC\",symbol=\"BTC/USD\",timeframe=\"D1\"}")" = 0

# Urgency (M30): BTC/USD has no candle, ETH/USD is 5 hours old, LTC/USD 1 hour.
check "the urgency run finishes" wait_run refresh_candles_M30 30
check "the urgency run succeeds" run_is refresh_candles_M30 ok
check "the most overdue series go first" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$SYM/__requests'))
order=[x['query']['symbol'] for x in r if x['query'].get('interval')=='30min']
assert order==['BTC/USD','ETH/USD','LTC/USD'], order"

# Retry-After on a 503: obeyed rather than the 1 s backoff.
ctl "$PROV" '{"raw": [{"http_status": 503, "body": "<html>busy</html>", "content_type": "text/html", "headers": {"Retry-After": "3"}}]}'
N0=$(nreqs "$PROV")
check "the Retry-After run finishes" run_job refresh_candles_H4 30
check "the run after a 503 with Retry-After succeeds" run_is refresh_candles_H4 ok
check "Retry-After: the fake saw the requests 3 s apart" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$PROV/__requests'))[$N0:]
assert len(r)==2 and r[0]['answer']==503 and r[1]['answer']==0, r
gap=r[1]['time']-r[0]['time']; assert 2.9 <= gap < 6, gap"

# 401: not retried.
ctl "$PROV" '{"errors": [{"code": 401}]}'
N0=$(nreqs "$PROV")
check "the 401 run finishes" run_job refresh_candles_H4 30
check "a 401 fails the run" run_is refresh_candles_H4 failed
check "a 401 is not retried" test "$(nreqs "$PROV")" = $((N0 + 1))
check "the 401 is named" run_msg_has refresh_candles_H4 "API key refused"
check "a 401 does not count against the breaker" provider "$PSRC" "p['circuit']['state']=='closed' and p['circuit']['failures']==0"

# 5xx: retried max_retries (2) times, then the run fails naming operation, attempts, error.
# That makes 3 consecutive failures: the breaker opens, and the run right after it
# fails fast without reaching the fake.
ctl "$PROV" '{"errors": [{"code": 500, "times": 3}]}'
N0=$(nreqs "$PROV")
check "the 5xx run finishes" run_job refresh_candles_H4 30
cp "$T/refresh_candles_H4.run" "$T/5xx.run"
N1=$(nreqs "$PROV")
check "a run with the circuit open finishes" run_job refresh_candles_H4 30
check "nothing reached the fake" test "$(nreqs "$PROV")" = "$N1"
check "it fails" run_is refresh_candles_H4 failed
check "it says the circuit is open" run_msg_has refresh_candles_H4 "circuit open"
check "/health shows the open circuit" provider "$PSRC" "p['circuit']['state']=='open' and p['circuit']['failures']==3 and 0 < p['circuit']['next_probe_seconds'] <= 15"
check "circuit_state is 2 in /metrics" test "$(metric "circuit_state{source=\"$PSRC\"}")" = 2
cp "$T/5xx.run" "$T/refresh_candles_H4.run"
check "5xx to the end fails the run" run_is refresh_candles_H4 failed
check "three attempts reached the fake" test "$N1" = $((N0 + 3))
check "the failure names operation and attempts" run_msg_has refresh_candles_H4 "fetch:$PSRC: gave up after 3 attempts"
check "the failure names the last error" run_msg_has refresh_candles_H4 "provider failure (code 500"
check "the retries waited 1 s then 2 s" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$PROV/__requests'))[$N0:]
g1=r[1]['time']-r[0]['time']; g2=r[2]['time']-r[1]['time']
assert 0.95 <= g1 < 2.5 and 1.95 <= g2 < 4 and g2 > g1 + 0.5, (g1,g2)"
check "the breaker's recovery time passes" wait_for 20 provider "$PSRC" "p['circuit']['next_probe_seconds']==0"
N0=$(nreqs "$PROV")
check "after the recovery time, the probe run finishes" run_job refresh_candles_H4 30
check "the probe succeeds" run_is refresh_candles_H4 ok
check "exactly one request went out" test "$(nreqs "$PROV")" = $((N0 + 1))
check "the circuit is closed again" provider "$PSRC" "p['circuit']['state']=='closed'"
check "circuit_state is 0 in /metrics" test "$(metric "circuit_state{source=\"$PSRC\"}")" = 0

# A parade of faults on the M5 job (a fake of its own, a 2 s timeout, a 4 KiB body cap).
check "the fault source starts with candles" run_job refresh_candles_M5 30
check "and succeeds" run_is refresh_candles_M5 ok
# candles_ok: every stored candle is sane; prints how many there are.
candles_ok() {
    curl -fsS "$API/candles/M5?source=$FSRC&symbol=BTC/USD&limit=5000" | py "
import json,sys
c=json.load(sys.stdin)['candles']
t=[x['time'] for x in c]
assert len(t)==len(set(t)), 'duplicate times'
for x in c:
    o,h,l,cl=(float(x[k]) for k in ('open','high','low','close'))
    assert 0<l<=min(o,cl) and max(o,cl)<=h, x
    assert x['time'][14:16] in ('00','05','10','15','20','25','30','35','40','45','50','55'), x
print(len(c))"
}
BEFORE=$(candles_ok)
check "a baseline of valid candles" test "$BEFORE" -ge 9
# raw200 TEXT [CUT]: a control queuing TEXT as the answer (HTTP 200), cut to CUT characters.
raw200() {
    py "import json,sys; t=sys.argv[1]; n=int(sys.argv[2]); print(json.dumps({'raw': [{'http_status': 200, 'body': t[:n] if n else t}]}))" "$1" "${2:-0}"
}
# values ROWS...: a Twelve Data body with these rows ("DATETIME OPEN HIGH LOW CLOSE", JSON values).
values() {
    py "import json,sys
rows=[]
for r in sys.argv[1:]:
    d,t,o,h,l,c=r.split(' ')
    rows.append({'datetime': d+' '+t, 'open': json.loads(o), 'high': json.loads(h), 'low': json.loads(l), 'close': json.loads(c)})
print(json.dumps({'meta': {'symbol': 'BTC/USD', 'interval': '5min'}, 'status': 'ok', 'values': rows}))" "$@"
}
GOOD='2024-01-02 10:00:00 "1.0" "2.0" "0.5" "1.5"'
# fault NAME CONTROL STATUS REQUESTS: queue CONTROL, run, expect STATUS and REQUESTS requests.
fault() {
    local n0 n1 now
    n0=$(nreqs "$FAULT")
    ctl "$FAULT" "$2"
    run_job refresh_candles_M5 30 || return 1
    run_is refresh_candles_M5 "$3" || return 1
    n1=$(nreqs "$FAULT")
    [ "$n1" -eq $((n0 + $4)) ] || { echo "$1: $((n1 - n0)) requests, expected $4" >&2; return 1; }
    alive || { echo "$1: the daemon died" >&2; return 1; }
    now=$(candles_ok) || return 1
    [ "$now" -ge "$BEFORE" ] || { echo "$1: $now candles, had $BEFORE" >&2; return 1; }
}
check "an HTML 502 page is retried" fault html '{"raw": [{"http_status": 502, "body": "<html><h1>502 Bad Gateway</h1></html>", "content_type": "text/html"}]}' ok 2
check "a reset connection is retried" fault reset '{"raw": [{"http_status": 200, "body": "{\"meta\": {}, \"values\": [{\"datetime\": \"2024-01-02 10:00:00\"}]}", "cut": 12}]}' ok 2
check "a hang past the timeout is retried" fault hang '{"raw": [{"http_status": 200, "body": "{}", "delay": 3}]}' ok 2
check "truncated JSON is not retried" fault truncated "$(raw200 "$(values "$GOOD")" 60)" failed 1
check "a wrong type fails the fetch" fault type "$(raw200 "$(values '2024-01-02 10:00:00 5 "2.0" "0.5" "1.5"')")" failed 1
check "NaN fails the fetch" fault nan "$(raw200 "$(values '2024-01-02 10:00:00 "NaN" "2.0" "0.5" "1.5"')")" failed 1
check "a negative price fails the fetch" fault negative "$(raw200 "$(values '2024-01-02 10:00:00 "1.0" "2.0" "-0.5" "1.5"')")" failed 1
check "duplicate rows fail the fetch" fault duplicate "$(raw200 "$(values "$GOOD" "$GOOD")")" failed 1
check "a body over the cap fails the fetch" fault big "$(raw200 "$(head -c 6000 /dev/zero | tr '\0' x)")" failed 1
check "an error body with HTTP 200 is understood" fault err200 '{"errors": [{"code": 500}]}' ok 2
check "the run after the faults catches up" run_job refresh_candles_M5 30
check "and succeeds" run_is refresh_candles_M5 ok
no_loss() { local n; n=$(candles_ok) && [ "$n" -ge "$BEFORE" ]; }
check "no stored candle was lost, none is invalid" no_loss

# The 429 'wait for the next minute' (HTTP 200), waited out on the W1 job.
check "the minute-429 run finishes" wait_run refresh_candles_W1 80
check "the run after a minute 429 succeeds" run_is refresh_candles_W1 ok
check "the second request waited for the next minute" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$MIN/__requests'))
assert len(r)==2 and r[0]['answer']==429 and r[1]['answer']==0, r
t0,t1=r[0]['time'],r[1]['time']
assert t1 >= (int(t0)//60+1)*60 and t1-t0 < 62, (t0,t1)"
check "retries_total counts the retry" test "$(metric "retries_total{operation=\"fetch:$MSRC\"}")" = 1

# The budget: 24 series, 8 requests a minute, 90 s per run: 16 sent, 8 deferred.
check "the M15 budget run finishes" wait_run refresh_candles_M15 100
check "the H1 budget run finishes" wait_run refresh_candles_H1 30
check "the M15 budget run is not a failure" run_is refresh_candles_M15 ok
check "the H1 budget run is not a failure" run_is refresh_candles_H1 ok
check "the fake never saw more than 8 requests in a minute" py "
import json,urllib.request
r=json.load(urllib.request.urlopen('$BUD/__requests'))
assert all(x['answer']==0 for x in r), [x for x in r if x['answer']!=0]
t=sorted(x['time'] for x in r)
per_min={}
for x in t: per_min[int(x)//60]=per_min.get(int(x)//60,0)+1
assert max(per_min.values())<=8, per_min
assert all(sum(1 for y in t if x<=y<x+60)<=8 for x in t), t
assert len(t)==16, len(t)"
check "the rest was deferred" py "
import json
n=sum(json.load(open('$T/'+j+'.run'))['details']['deferred'] for j in ('refresh_candles_M15','refresh_candles_H1'))
assert n==8, n"
check "deferred series are named in /health" provider "$BUDSRC" "len(p['deferred'])==8 and all(s['reason'] for s in p['deferred'])"
check "credits used and left in /health" provider "$BUDSRC" "p['credits']['minute']['limit']==8 and p['credits']['day']['used']==16 and p['credits']['day']['left']==784"
check "deferrals are counted" test "$(metric "series_deferred_total{source=\"$BUDSRC\"}")" = 8
check "credits in /metrics" test "$(metric "provider_credits_used{source=\"$BUDSRC\",window=\"day\"}")" = 16
check "deferrals are logged" grep -q "series deferred" "$T/daemon.log"
check "the budget runs took the second minute" test $(($(date +%s) - T_START)) -ge 60

# ---- 2. The database goes away, and comes back.
if [[ "$STORE_URL" == sqlite:* ]]; then
    DB=${STORE_URL#sqlite:}
    # Another process holds the write lock (past the 5 s busy timeout) until told to let go.
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
    FAKE_PIDS+=("$LOCKER")
    check "another process holds the write lock" wait_for 10 test -s "$T/locked"
    check "/health answers 503 while the database is locked" test "$(get "$API/health")" = 503
    check "/health says why" jq_ "not d['database']['reachable'] and 'lock' in d['database']['error']"
    check "a run is still accepted" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/refresh_candles_H4/run")" = 202
    check "the job skips its cycle and says so" wait_for 30 grep -q 'refresh_candles_H4 skipped this cycle: database unavailable' "$T/daemon.log"
    check "the daemon is still up" alive
    touch "$T/unlock"
    check "the lock is let go" wait "$LOCKER"
else
    # A PostgreSQL of our own, stopped and started again on the same port, under a second daemon.
    PGDIR=$(mktemp -d /tmp/ckpgr.XXXXXX)
    URL2=$(bash "$CK_SOURCE_DIR/tests/helpers/pg_cluster.sh" start "$PGDIR" 2>"$T/pg2.log")
    pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
    pgctl() {
        local bin owner; bin=$(pg_bin); owner=$(cat "$PGDIR/owner")
        if [ -z "$bin" ]; then bin=$(dirname "$(command -v pg_ctl)"); fi
        if [ "$(id -u)" -eq 0 ]; then (cd "$PGDIR" && runuser -u "$owner" -- "$bin/pg_ctl" "$@");
        else (cd "$PGDIR" && "$bin/pg_ctl" "$@"); fi
    }
    PORT2=$(free_port)
    API2="http://127.0.0.1:$PORT2"
    sed -e "s#^url = .*#url = $URL2#" -e "s#^listen = .*#listen = 127.0.0.1:$PORT2#" \
        -e "s#^file = .*#file = $T/daemon2.log#" "$T/ck.ini" >"$T/ck2.ini"
    daemon_start "$T/daemon2.out" run --config "$T/ck2.ini"
    D2PID=$DAEMON_PID
    status_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health")" = "$2" ]; }
    check "a daemon on a PostgreSQL of its own is healthy" wait_for 20 status_is "$API2" 200
    pgctl -D "$PGDIR/data" -m fast -w stop >/dev/null
    check "/health answers 503 while the server is down" test "$(get "$API2/health")" = 503
    check "/health says the database is unreachable" jq_ "not d['database']['reachable'] and d['database']['error']"
    check "a run is still accepted" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API2/jobs/refresh_candles_D1/run")" = 202
    check "the job skips its cycle and says so" wait_for 20 grep -q 'refresh_candles_D1 skipped this cycle: database unavailable' "$T/daemon2.log"
    check "the daemon is still up with the server down" kill -0 "$D2PID"
    pgctl -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null
    check "/health is 200 again once the server is back" wait_for 20 status_is "$API2" 200
    h4_ok() { curl -fsS "$API2/jobs/refresh_candles_H4/runs?limit=5" | grep -q '"status": *"ok"'; }
    check "jobs run again" curl -fsS -o /dev/null -X POST "$API2/jobs/refresh_candles_H4/run"
    check "and succeed" wait_for 30 h4_ok
    check "that daemon stops cleanly" daemon_stop "$D2PID"
fi
status_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health")" = "$2" ]; }
check "/health is 200 again" wait_for 20 status_is "$API" 200
check "a run after the trouble finishes" run_job refresh_candles_H4 30
check "and succeeds" run_is refresh_candles_H4 ok
check "the daemon never went down" alive

# ---- 3. A daily ban survives a restart.
# Within 5 minutes of midnight UTC the ban would end too soon to be seen: ask for an hour.
if [ $((86400 - $(date -u +%s) % 86400)) -lt 300 ]; then
    ctl "$PROV" '{"errors": [{"code": 429, "kind": "day", "headers": {"Retry-After": "3600"}}]}'
else
    ctl "$PROV" '{"errors": [{"code": 429, "kind": "day"}]}'
fi
N0=$(nreqs "$PROV")
check "the run hit by a daily 429 finishes" run_job refresh_candles_H4 30
check "a daily 429 defers, it is not a failure" run_is refresh_candles_H4 ok
check "the run says it deferred" run_msg_has refresh_candles_H4 "deferred 1"
check "one request went out" test "$(nreqs "$PROV")" = $((N0 + 1))
check "/health shows the ban" provider "$PSRC" "p['ban'] and 'daily' in p['ban']['reason'] and p['ban']['seconds_left'] > 60"
ban_metric_over() { local v; v=$(metric "provider_ban_seconds{source=\"$PSRC\"}") && [ "${v%.*}" -gt "$1" ]; }
check "the ban is in /metrics" ban_metric_over 60
check "SIGTERM stops the daemon with exit 0" stop_daemon
start_daemon
check "the restarted daemon still knows the ban" provider "$PSRC" "p['ban'] and p['ban']['seconds_left'] > 60"
check "a run after the restart finishes" run_job refresh_candles_H4 30
check "it defers again" run_msg_has refresh_candles_H4 "deferred 1"
check "the banned provider saw nothing" test "$(nreqs "$PROV")" = $((N0 + 1))
curl -fsS "$API/metrics" >"$T/metrics.txt"
if command -v promtool >/dev/null; then
    check "/metrics passes promtool" promtool check metrics <"$T/metrics.txt"
else
    platform_skip "/metrics passes promtool" "promtool is not installed"
fi
check "the daemon stops with exit 0" stop_daemon
check "the API key never appears in the logs" lacks "$KEY" "$T/daemon.log" "$T/daemon.out"
finish
