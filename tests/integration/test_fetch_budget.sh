#!/usr/bin/env bash
# `candlekeep fetch` and the daemon share one provider path: the rate
# budget and the provider's bans live in the database, so a fetch run by
# hand (or by a script) while the daemon runs can never send what the
# budget does not allow, and a wait the provider asks of it is respected
# by the daemon too.
#
#   - the daemon's refresh uses up the minute's budget: fetch sends nothing
#     and reports every series deferred, with the time of the next token;
#   - earlier fetches recorded in the database use it up: the same;
#   - a 429 with Retry-After received by fetch is stored as a ban; the
#     daemon's next refresh of that source sends nothing;
#   - the budget is the key's: two sections sharing one key draw from one
#     budget, and a ban of the key holds for both.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

PY=$(python3 -c 'import sys; print(sys.executable)')
py() { "$PY" -c "$@"; }

# One key per section, and one shared by two (a budget is the key's).
KEY="sk-budget-1a2b3c4d5e"
KEYC="sk-budget-c-6f7a8b9c"
KEYR="sk-budget-r-0d1e2f3a"
KEYS="sk-budget-s-4b5c6d7e"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW
export RETRY_DELAY_SECONDS=1
start_fake_td "$KEY" "$KEYC" "$KEYR" "$KEYS"

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
BSRC="${SRC}b" # the daemon's budget: 2 a minute, 3 series
CSRC="${SRC}c" # fetches alone: 1 a minute
RSRC="${SRC}r" # the provider's Retry-After
S1SRC="${SRC}s1" # two sections, one key
S2SRC="${SRC}s2"
NEVER="0 0 1 1 *"

{
    daemon_ini_head
    cat <<INI
[retry]
max_retries = 1
[jobs]
refresh_candles_H1 = $NEVER
refresh_candles_D1 = $NEVER
refresh_candles_M30 = $NEVER
refresh_candles_W1 = $NEVER
refresh_timeout = 20s
[source.$BSRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD ETH/USD LTC/USD
timeframes = H1
calendar = crypto
backfill = 10
rate_per_minute = 2
timeout = 5s
[source.$CSRC]
kind = twelvedata
api_key = $KEYC
base_url = $TD_URL
symbols = BTC/USD ETH/USD
timeframes = D1
calendar = crypto
backfill = 10
rate_per_minute = 1
timeout = 5s
[source.$RSRC]
kind = twelvedata
api_key = $KEYR
base_url = $TD_URL
symbols = ETH/USD
timeframes = M30
calendar = crypto
backfill = 10
rate_per_minute = 100
timeout = 5s
[source.$S1SRC]
kind = twelvedata
api_key = $KEYS
base_url = $TD_URL
symbols = BTC/USD
timeframes = W1
calendar = crypto
backfill = 10
rate_per_minute = 1
timeout = 5s
[source.$S2SRC]
kind = twelvedata
api_key = $KEYS
base_url = $TD_URL
symbols = ETH/USD
timeframes = W1
calendar = crypto
backfill = 10
rate_per_minute = 1
timeout = 5s
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

nreqs() { td_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }

up() { curl -fs "$API/health" >/dev/null 2>&1; }
runs_done() {
    curl -fsS "$API/jobs/$1/runs?limit=200" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
# runs_reach JOB N: JOB has at least N finished runs.
runs_reach() {
    local n
    n=$(runs_done "$1") || return 1
    [ "$n" -ge "$2" ]
}
# run_job JOB: run it now and wait (with a deadline) for it to finish; its row in $T/JOB.run.
run_job() {
    local want
    want=$(($(runs_done "$1") + 1))
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/$1/run")" = 202 ] || return 1
    wait_for 60 runs_reach "$1" "$want" || { echo "job $1: no finished run within 60 s" >&2; return 1; }
    curl -fsS "$API/jobs/$1/runs?limit=1" |
        py "import json,sys; print(json.dumps(json.load(sys.stdin)['runs'][0]))" >"$T/$1.run"
}
run_has() { py "import json,sys; r=json.load(open('$T/$1.run')); assert eval(sys.argv[1]), r" "$2"; }

daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up
check "and is still running" kill -0 "$DPID"

# ---- 1. The daemon uses up the minute's budget; fetch then sends nothing.
check "the daemon's H1 refresh finishes" run_job refresh_candles_H1
check "it sent two requests and deferred the third" \
    run_has refresh_candles_H1 "r['status']=='ok' and r['details']['deferred']==1 and r['details']['stored']>0"
check "the fake saw two requests" test "$(nreqs)" = 2
N0=$(nreqs)
ck fetch --source "$BSRC" "${CFG[@]}"
check "fetch with the budget used up exits 1" expect_rc 1
check "fetch sent nothing to the provider" test "$(nreqs)" = "$N0"
for sym in BTC/USD ETH/USD LTC/USD; do
    check "fetch reports $sym deferred" err_has "$BSRC $sym H1: deferred, nothing sent (next request at 20"
done
check "fetch says the budget is used up" err_has "rate budget: 2 of 2 requests of the last minute are used"
ck candles H1 --source "$BSRC" --symbol LTC/USD --format json "${CFG[@]}"
check "candles of the deferred series exits 0" expect_rc 0
no_candles() { py "import json; d=json.load(open('$T/out')); assert d == [], d"; }
check "fetch stored nothing: the deferred series has no candle" no_candles

# ---- 2. Earlier fetches recorded in the database use it up: the same.
N0=$(nreqs)
ck fetch --source "$CSRC" --symbol BTC/USD "${CFG[@]}"
check "the first fetch of a 1-a-minute source succeeds" expect_rc 0
check "it sent one request" test "$(nreqs)" = $((N0 + 1))
ck fetch --source "$CSRC" --symbol ETH/USD "${CFG[@]}"
check "the second fetch in the same minute exits 1" expect_rc 1
check "it is reported deferred" err_has "$CSRC ETH/USD D1: deferred, nothing sent"
check "it sent nothing" test "$(nreqs)" = $((N0 + 1))
check "a deferral is not printed as a result" lacks "ETH/USD" "$T/out"

# ---- 3. A Retry-After received by fetch is a ban the daemon honours.
td_control '{"errors": [{"code": 429, "kind": "minute", "http_status": 429, "headers": {"Retry-After": "3600"}}]}'
N0=$(nreqs)
ck fetch --source "$RSRC" "${CFG[@]}"
check "fetch told to wait an hour exits 1" expect_rc 1
check "it asked once: the wait is longer than fetch may take" test "$(nreqs)" = $((N0 + 1))
check "it reports the series deferred until the provider's time" \
    err_has "$RSRC ETH/USD M30: deferred, nothing sent (next request at 20"
health_ban() {
    get "$API/health" >/dev/null
    py "import json; d=json.load(open('$T/body')); p=[x for x in d['providers'] if x['source']=='$RSRC'][0]; assert p['ban'] and p['ban']['seconds_left'] > 3000, p"
}
check "/health shows the ban fetch stored" health_ban
check "the daemon's refresh of that source finishes" run_job refresh_candles_M30
check "the daemon sent nothing during the ban" test "$(nreqs)" = $((N0 + 1))
check "its run defers the series, not a failure" \
    run_has refresh_candles_M30 "r['status']=='ok' and r['details']['deferred']==1 and 'the provider asked to wait' in r['details']['results'][0]['reason']"
ck fetch --source "$RSRC" "${CFG[@]}"
check "a second fetch during the ban exits 1" expect_rc 1
check "and sends nothing either" test "$(nreqs)" = $((N0 + 1))

# ---- 4. Two sections sharing one key draw from one budget.
N0=$(nreqs)
ck fetch --source "$S1SRC" "${CFG[@]}"
check "the first section's fetch spends the key's one request of the minute" expect_rc 0
check "it sent one request" test "$(nreqs)" = $((N0 + 1))
ck fetch --source "$S2SRC" "${CFG[@]}"
check "the other section of the same key is deferred in that minute" expect_rc 1
check "it says the key's budget is used" err_has "$S2SRC ETH/USD W1: deferred, nothing sent"
check "and sends nothing" test "$(nreqs)" = $((N0 + 1))
shared_budget() {
    get "$API/health" >/dev/null
    py "import json; d=json.load(open('$T/body')); p={x['source']: x for x in d['providers']}; a, b = p['$S1SRC'], p['$S2SRC']; assert a['budget'] == b['budget'] and a['budget'].startswith('twelvedata:key:'), (a, b); assert a['credits']['minute']['used'] == 1, a"
}
check "/health shows both sections on one budget, named by a digest of the key" shared_budget

check "SIGTERM stops the daemon with exit 0" daemon_stop "$DPID"
for k in "$KEY" "$KEYC" "$KEYR" "$KEYS"; do
    check "the API key ${k:0:10}... never appears in any output" lacks "$k" "$T/all.log" "$T/daemon.log" "$T/daemon.out"
done
finish
