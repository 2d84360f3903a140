#!/usr/bin/env bash
# History without holes, through the real daemon and the fake Twelve Data:
#
#   1. A series last fetched 61 days ago (the fake's clock and candlekeep's
#      moved back) with a hole the provider had then (planted in the fake):
#      the fetch records it as provider_no_data.
#   2. The daemon comes back with a budget of one request a minute: the
#      catch-up refresh pages, is deferred after its first page, and what it
#      could not fetch yet is an open gap with reason fetch_pending; the
#      repair the new gap starts asks nothing (no budget) and changes no
#      reason.
#   3. With the budget back, the next refresh catches up to the present: the
#      pending gap is filled.
#   4. The provider has the planted hole again: the repair_gaps job asks for
#      exactly that window (the fake's request log shows it and nothing
#      else) and fills it: no candle the fake has is missing, nothing open.
#   5. A window the fake never serves: `candlekeep gaps repair` at moved
#      clocks (CANDLEKEEP_NOW) asks for it at its first attempt, not again
#      before the next one is due, and after the third empty answer a day
#      after the first the gap is unfillable; the alert watch tells the
#      operators of it exactly once.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-test-repair-1"
KEY2="sk-test-repair-2"
TOKEN="777003:AAH-repair-SECRET-token"
start_fake_td "$KEY" "$KEY2"
python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" \
    --token "$TOKEN" 2>"$T/fake_tg.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || { echo "fake Telegram did not start" >&2; cat "$T/fake_tg.log" >&2; exit 1; }
TG_URL="http://127.0.0.1:$(cat "$T/tg.port")"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW

# write_config RATE_PER_MINUTE
write_config() {
    {
        daemon_ini_head
        cat <<INI
[retry]
max_retries = 0
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
repair_gaps = 0 0 1 1 *
scan_history = 0 0 1 1 *
refresh_timeout = 5s
[alerts.telegram]
bot_token = $TOKEN
chat_id = -1001234567890
base_url = $TG_URL
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = M15
calendar = crypto
rate_per_minute = $1
daily_quota = 100000
backfill = 200
[source.${SRC}u]
kind = twelvedata
api_key = $KEY2
base_url = $TD_URL
symbols = ETH/USD
timeframes = H1
calendar = crypto
rate_per_minute = 1000
daily_quota = 100000
backfill = 50
INI
    } >"$T/ck.ini"
}
CFG=(--config "$T/ck.ini")
iso() { py "import datetime; print(datetime.datetime.fromtimestamp($1, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))"; }
# td_time T: T as the Twelve Data request parameters spell it.
td_time() { py "import datetime; print(datetime.datetime.fromtimestamp($1, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S'))"; }
# rc_out CODE TEXT: the last ck exited CODE and printed TEXT.
rc_out() { expect_rc "$1" && out_has "$2"; }
get() { curl -sS -o "$T/body" -w '%{http_code}' "$@"; }
up() { curl -fs "$API/health" >/dev/null 2>&1; }
# runs_finished JOB N: JOB has at least N finished runs.
runs_finished() {
    [ "$(get "$API/jobs/$1/runs?limit=50")" = 200 ] || return 1
    py "import json,sys; d=json.load(open('$T/body')); sys.exit(0 if len([r for r in d['runs'] if r['status']!='running'])>=$2 else 1)"
}
# run_job JOB: start JOB through the API and wait for its run to finish.
run_job() {
    local before
    [ "$(get "$API/jobs/$1/runs?limit=50")" = 200 ] || return 1
    before=$(py "import json; d=json.load(open('$T/body')); print(len([r for r in d['runs'] if r['status']!='running']))")
    [ "$(get -X POST "$API/jobs/$1/run")" = 202 ] || return 1
    wait_for 60 runs_finished "$1" $((before + 1))
}
last_run() { curl -fsS "$API/jobs/$1/runs?limit=1" | py "import json,sys; r=json.load(sys.stdin)['runs'][0]; print(r['status'], r['message'])"; }
# ledger SOURCE SYMBOL TF STATE: the gap records (JSON) of one series in STATE.
ledger() {
    ck_out gaps "$3" --symbol "$2" --source "$1" --days 400 --state "$4" --format json "${CFG[@]}"
}

NOW=$(date +%s)
Q=$((NOW / 900 * 900))
OUT=$((Q - 61 * 86400))    # the series' last fetch: 61 days ago
H1=$((OUT - 100 * 900))   # a 4-candle hole the provider had then
td_control "{\"limits\": \"unlimited\", \"now\": \"$(iso $((OUT + 60)))\",
  \"holes\": [{\"symbol\": \"BTC/USD\", \"interval\": \"15min\",
               \"from\": \"$(iso $H1)\", \"to\": \"$(iso $((H1 + 4 * 900)))\"}]}"
write_config 1

# 1. The last fetch before the outage.
CANDLEKEEP_NOW=$(iso $((OUT + 60))) ck fetch --source "$SRC" "${CFG[@]}"
check "the fetch 61 days ago succeeds" expect_rc 0
ledger "$SRC" BTC/USD M15 open >"$T/open1.json"
check "the hole it saw is open, provider_no_data" py "
import json; g=json.load(open('$T/open1.json'))
assert [(x['count'], x['reason']) for x in g]==[(4, 'provider_no_data')], g"

# 2. The outage ends; one request a minute.
td_control '{"now": null, "holes": []}'
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up
check "the catch-up refresh runs" run_job refresh_candles_M15
# A page is a window of 5,000 periods after the newest stored candle; the
# fake reads end_date as exclusive, so the window holds 4,999 of them.
check "it stores its first page and is deferred after it" py "
import sys; s=sys.argv[1]; assert 'stored 4999,' in s and 'deferred 1' in s, s" "$(last_run refresh_candles_M15)"
check "the repair the new gap starts has run" wait_for 30 runs_finished repair_gaps 1
ledger "$SRC" BTC/USD M15 open >"$T/open2.json"
check "what was not fetched yet is one open fetch_pending gap up to the newest candle" py "
import json
g=sorted((x['reason'], x['count'], x['last']) for x in json.load(open('$T/open2.json')))
assert [r for r, _, _ in g]==['fetch_pending', 'provider_no_data'], g
pending=g[0]
assert pending[1] > 800, g   # 61 days of M15 less one page of 5000
"
check "the daemon stops" daemon_stop "$DPID"

# 3. The budget is back: the next refresh is current.
write_config 1000
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes back" wait_for 20 up
check "the next refresh runs" run_job refresh_candles_M15
check "it succeeds" py "import sys; s=sys.argv[1]; assert s.startswith('ok '), s" "$(last_run refresh_candles_M15)"
ledger "$SRC" BTC/USD M15 open >"$T/open3.json"
check "the pending gap is filled; the old hole is still open" py "
import json
g=[(x['reason'], x['count']) for x in json.load(open('$T/open3.json'))]
assert g==[('provider_no_data', 4)], g"

# 4. The provider has the hole's candles now: the job fetches exactly them.
td_reset
td_control '{"limits": "unlimited"}'
check "the repair job runs" run_job repair_gaps
check "it fills one gap" py "import sys; s=sys.argv[1]; assert s.startswith('ok 1 gaps: filled 1'), s" "$(last_run repair_gaps)"
td_requests >"$T/req4.json"
check "the fake saw one request, for exactly the hole's window" py "
import json
r=json.load(open('$T/req4.json'))
q=[(x['query'].get('symbol'), x['query'].get('interval'), x['query'].get('start_date'),
    x['query'].get('end_date')) for x in r]
assert q==[('BTC/USD', '15min', '$(td_time $H1)', '$(td_time $((H1 + 4 * 900)))')], q"
ledger "$SRC" BTC/USD M15 open >"$T/open4.json"
check "nothing is open in the ledger" py "
import json; g=json.load(open('$T/open4.json')); assert g==[], g"
check "the API lists the filled gaps with their reasons" test "$(get "$API/candles/M15/gaps?symbol=BTC/USD&source=$SRC&days=400&state=filled")" = 200
check "the pending one and the planted hole" py "
import json
g=sorted((x['state'], x['reason']) for x in json.load(open('$T/body'))['gaps'])
assert g==[('filled', 'fetch_pending'), ('filled', 'provider_no_data')], g"
check "the history scan runs" run_job scan_history
check "it scans the stored series and finds nothing new" py "
import sys; s=sys.argv[1]; assert s.startswith('ok 1 series scanned: 0 open gaps, 0 new'), s" "$(last_run scan_history)"
ck candles M15 --symbol BTC/USD --source "$SRC" --limit 0 --order asc --format json "${CFG[@]}"
check "candles exits 0" expect_rc 0
check "no candle the fake has is missing, from the first to the newest" py "
import json,datetime
c=[int(datetime.datetime.strptime(x['time'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp())
   for x in json.load(open('$T/out'))]
assert c==list(range(c[0], c[-1] + 900, 900)), 'holes in the stored candles'
assert c[0] <= $H1 - 90 * 900 and c[-1] >= $Q - 2 * 900, (c[0], c[-1])
assert len(c) > 61 * 96, len(c)"

# 5. A window the fake never serves.
U0=$((Q / 3600 * 3600 - 26 * 3600))
H2=$((Q / 3600 * 3600 - 40 * 3600))
td_reset
td_control "{\"limits\": \"unlimited\", \"now\": \"$(iso $((U0 + 60)))\",
  \"holes\": [{\"symbol\": \"ETH/USD\", \"interval\": \"1h\",
               \"from\": \"$(iso $H2)\", \"to\": \"$(iso $((H2 + 2 * 3600)))\"}]}"
CANDLEKEEP_NOW=$(iso $((U0 + 60))) ck fetch --source "${SRC}u" "${CFG[@]}"
check "the ETH/USD fetch succeeds" expect_rc 0
td_control '{"now": null}'
# repair_at SECONDS-AFTER-U0: `gaps repair` of the ETH/USD source then.
repair_at() {
    CANDLEKEEP_NOW=$(iso $((U0 + 3600 + $1))) ck gaps repair --source "${SRC}u" "${CFG[@]}"
}
repair_at 0
check "first attempt: the gap stays open" rc_out 0 "1 gaps: filled 0, still open 1, unfillable 0"
repair_at $((6 * 3600))
check "six hours later the next attempt is not due" rc_out 0 "0 gaps: filled 0, still open 0, unfillable 0, failed 0, deferred 0, not due 1"
repair_at $((12 * 3600))
check "second attempt: still open" rc_out 0 "1 gaps: filled 0, still open 1, unfillable 0"
ledger "${SRC}u" ETH/USD H1 open >"$T/open5.json"
check "the gap says the provider had no data" py "
import json; g=[(x['reason'], x['count']) for x in json.load(open('$T/open5.json'))]
assert g==[('provider_no_data', 2)], g"
repair_at $((24 * 3600))
check "third attempt, a day after the first: unfillable" rc_out 0 "1 gaps: filled 0, still open 0, unfillable 1"
repair_at $((36 * 3600))
check "an unfillable gap is not taken again" rc_out 0 "0 gaps: filled 0, still open 0, unfillable 0"
ledger "${SRC}u" ETH/USD H1 unfillable >"$T/unf.json"
check "the ledger holds it as unfillable" py "
import json; g=[(x['state'], x['count']) for x in json.load(open('$T/unf.json'))]
assert g==[('unfillable', 2)], g"
td_requests >"$T/req5.json"
check "the fake was asked for that window three times, and nothing else after the fetch" py "
import json
r=json.load(open('$T/req5.json'))[1:]
q=[(x['query'].get('symbol'), x['query'].get('start_date'), x['query'].get('end_date')) for x in r]
assert q==[('ETH/USD', '$(td_time $H2)', '$(td_time $((H2 + 2 * 3600)))')] * 3, q"
tg_count() {
    curl -fsS "$TG_URL/__messages" | py "
import json,sys; m=[x for x in json.load(sys.stdin) if 'Unfillable gap in ETH/USD H1' in x.get('text', '')]
print(len(m))"
}
tg_is() { [ "$(tg_count)" = "$1" ]; }
check "the alert watch runs" run_job watch_alerts
check "the operators are told" wait_for 30 tg_is 1
check "the alert watch runs again" run_job watch_alerts
check "the daemon stops" daemon_stop "$DPID"
check "they were told once" tg_is 1
check "no secret in the logs" lacks "$TOKEN" "$T/daemon.log" "$T/all.log"
finish
