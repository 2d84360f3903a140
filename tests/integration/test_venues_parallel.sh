#!/usr/bin/env bash
# Several providers side by side: each feed fetches on its own, so a
# provider that hangs does not hold up another provider's refresh of the
# same timeframe. The slow provider's fake holds its answer until told to
# let go; the fast provider's candles must be stored while it still holds.
#
# Prints the fast provider's time from the run's start to its candles
# stored (a figure, not an assertion).
# ck-test: pg
source "$(dirname "$0")/lib.sh"

unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW
KEY="sk-venues-5e4d3c2b1a"
start_fake slow fake_twelvedata.py --api-key "$KEY"
start_fake fast fake_twelvedata.py --api-key "$KEY"
SLOW=$(cat "$T/slow.url")
FAST=$(cat "$T/fast.url")
fake_ctl "$FAST" '{"limits": "unlimited"}'
fake_ctl "$SLOW" '{"limits": "unlimited", "hold": true}'

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
NEVER="0 0 1 1 *"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_M15 = $NEVER
refresh_candles_H1 = $NEVER
refresh_candles_H4 = $NEVER
refresh_candles_D1 = $NEVER
refresh_timeout = 300s
[source.${SRC}slow]
kind = twelvedata
api_key = $KEY
base_url = $SLOW
symbols = BTC/USD
timeframes = H1
calendar = crypto
backfill = 10
timeout = 290s
rate_per_minute = 100
[source.${SRC}fast]
kind = twelvedata
api_key = $KEY
base_url = $FAST
symbols = BTC/USD ETH/USD
timeframes = H1
calendar = crypto
backfill = 10
rate_per_minute = 100
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

up() { curl -fs "$API/health" >/dev/null 2>&1; }
held() { curl -fsS "$SLOW/__control" | py "import json,sys; assert json.load(sys.stdin)['held'] == $1"; }
# stored SOURCE SYMBOL: the series has candles in the database.
stored() {
    curl -fsS "$API/candles/H1?source=$1&symbol=$2&limit=1" |
        py "import json,sys; d=json.load(sys.stdin); assert len(d['candles']) == 1, d"
}
finished_runs() {
    curl -fsS "$API/jobs/refresh_candles_H1/runs?limit=5" |
        py "import json,sys; print(len([r for r in json.load(sys.stdin)['runs'] if r['status']!='running']))"
}
one_finished() { [ "$(finished_runs)" -ge 1 ]; }
last_run_has() {
    curl -fsS "$API/jobs/refresh_candles_H1/runs?limit=1" |
        py "import json,sys; r=json.load(sys.stdin)['runs'][0]; assert eval(sys.argv[1]), r" "$1"
}

daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up

T0=$(date +%s.%N)
check "the H1 refresh starts" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/refresh_candles_H1/run")" = 202
check "the slow provider holds the request it got" wait_for 30 held 1
check "the fast provider's BTC/USD is stored meanwhile" wait_for 60 stored "${SRC}fast" BTC/USD
check "and its ETH/USD" wait_for 60 stored "${SRC}fast" ETH/USD
T1=$(date +%s.%N)
check "the slow provider still holds its request then" held 1
check "the slow provider's series has nothing stored yet" curl -fsS -o "$T/slow.json" "$API/candles/H1?source=${SRC}slow&symbol=BTC/USD&limit=1"
check "(no candle in the answer)" py "import json; d=json.load(open('$T/slow.json')); assert d['candles'] == [], d"
check "the run is still going" test "$(finished_runs)" = 0
py "print('# the fast provider: run start to both series stored in %.2f s while the other provider hung' % ($T1 - $T0))"

fake_ctl "$SLOW" '{"hold": false}'
check "the run finishes once the slow provider answers" wait_for 60 one_finished
check "it stored both providers' series" \
    last_run_has "r['status']=='ok' and r['details']['series']==3 and r['details']['failed']==0 and r['details']['stored']>0"
check "the slow provider's series is stored now" stored "${SRC}slow" BTC/USD

check "SIGTERM stops the daemon with exit 0" daemon_stop "$DPID"
check "the API key never appears in any output" lacks "$KEY" "$T/daemon.log" "$T/daemon.out"
finish
