#!/usr/bin/env bash
# Ingestion end to end: the real binary against the fake Twelve Data and a
# real store (SQLite here; PostgreSQL in the pg variant).
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-test-9f8e7d6c5b4a"
# The daily-credit source has a key of its own: a budget (and a day's ban) is the key's.
DAYKEY="sk-test-day-3c2b1a0f9e"
start_fake_td "$KEY" "$DAYKEY"

cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[log]
level = info
; One attempt per fetch: the failures below are each the first answer's. The
; budget is wide: this script replays many fetches within one minute of its
; fake clock (test_fetch_budget.sh is about the budget).
[retry]
max_retries = 0
[source.$SRC]
kind = twelvedata
api_key = \${CK_IT_KEY}
base_url = $TD_URL
symbols = XAU/USD XAG/USD
timeframes = M15 H1
calendar = metals
backfill = 200
rate_per_minute = 1000
[source.${SRC}day]
kind = twelvedata
api_key = $DAYKEY
base_url = $TD_URL
symbols = XAG/USD
timeframes = D1
calendar = metals
backfill = 200
rate_per_minute = 1000
[source.${SRC}fx]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = GBP/USD
timeframes = H1
calendar = forex
holidays = 2024-12-25
backfill = 200
rate_per_minute = 1000
[source.${SRC}nohol]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = GBP/USD
timeframes = H1
calendar = forex
backfill = 200
rate_per_minute = 1000
INI
export CK_IT_KEY=$KEY
unset TWELVE_DATA_API_KEY DATABASE_URL
CFG=(--config "$T/ck.ini")

at() { export CANDLEKEEP_NOW=$1; td_control "{\"now\": \"$1\"}"; }
# candle_json TF SYMBOL [SOURCE]: all stored candles as JSON into $T/candles.json
candle_json() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "${3:-$SRC}" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json"
}
count_of() { candle_json "$@" && py "import json; print(len(json.load(open('$T/candles.json'))))"; }
last_request() { td_requests | py "import json,sys; r=json.load(sys.stdin)[-1]; print(json.dumps(r))"; }
req_field() { td_requests | py "import json,sys; print(json.load(sys.stdin)[-1]['query'].get('$1', '<absent>'))"; }

# 1. First fetch: backfill, forming bar dropped, request shape.
at 2024-03-13T12:07:00Z
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "first fetch succeeds" expect_rc 0
check "first fetch backfills and drops the forming bar" \
    out_has "$SRC XAU/USD M15: fetched 200, stored 199, rejected 0, forming dropped 1, open gaps 0"
check "199 candles stored" test "$(count_of M15 XAU/USD)" = 199
check "newest stored candle is the last closed one" \
    py "import json; c=json.load(open('$T/candles.json')); assert c[-1]['time']=='2024-03-13T11:45:00Z', c[-1]"
check "request asks UTC, ascending, 15min, outputsize=backfill, no start_date" py "
import json,sys
r=json.loads('''$(last_request)''')
q=r['query']
assert q['timezone']=='UTC' and q['order']=='asc' and q['interval']=='15min', q
assert q['outputsize']=='200' and 'start_date' not in q and q['symbol']=='XAU/USD', q
assert r['authorization_present'] and 'apikey' not in q, r
"
check "prices are exact strings and volume is null for metals" py "
import json, urllib.request
c=json.load(open('$T/candles.json'))
req=urllib.request.Request('$TD_URL/time_series?symbol=XAU/USD&interval=15min&timezone=UTC&order=asc&start_date=2024-03-13%2011:45:00&end_date=2024-03-13%2012:00:00', headers={'Authorization':'apikey $KEY'})
raw=json.load(urllib.request.urlopen(req))['values'][0]
mine=c[-1]
strip=lambda s: s.rstrip('0').rstrip('.') if '.' in s else s
for f in ('open','high','low','close'):
    assert isinstance(mine[f], str) and mine[f]==strip(raw[f]), (f, mine[f], raw[f])
assert mine['volume'] is None and mine['source']=='$SRC' and mine['timeframe']=='M15', mine
"

# 2. Incremental fetch: asks only for what is newer.
at 2024-03-13T13:07:00Z
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "fetch XAU/USD exits 0" expect_rc 0
check "incremental fetch stores the 4 new closed candles" out_has "fetched 5, stored 4, rejected 0, forming dropped 1"
check "incremental fetch sends start_date after the newest stored candle" test "$(req_field start_date)" = "2024-03-13 12:00:00"
check "203 candles stored" test "$(count_of M15 XAU/USD)" = 203

# 3. Re-fetch: no duplicates, corrected values replace stored ones.
NEWCLOSE=$(py "import json; c=[x for x in json.load(open('$T/candles.json')) if x['time']=='2024-03-13T12:30:00Z'][0]; print(c['low'])")
td_control "{\"overrides\": [{\"symbol\": \"XAU/USD\", \"interval\": \"15min\", \"datetime\": \"2024-03-13T12:30:00Z\", \"field\": \"close\", \"value\": \"$NEWCLOSE\"}]}"
ck fetch --refetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "refetch succeeds" expect_rc 0
check "refetch creates no duplicates" test "$(count_of M15 XAU/USD)" = 203
check "refetch replaces a corrected value" py "
import json; c=[x for x in json.load(open('$T/candles.json')) if x['time']=='2024-03-13T12:30:00Z'][0]
assert c['close']=='$NEWCLOSE', c"

# 4. An invalid candle (high below low) is rejected, logged and counted; the rest are stored.
at 2024-03-13T13:37:00Z
td_control '{"overrides": [{"symbol": "XAU/USD", "interval": "15min", "datetime": "2024-03-13T13:15:00Z", "field": "high", "value": "1.00"}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "a batch with one invalid candle still succeeds" expect_rc 0
check "the invalid candle is counted" out_has "fetched 3, stored 1, rejected 1, forming dropped 1"
check "the rejection is logged with its reason" err_has "rejected candle at 2024-03-13T13:15:00Z: high 1 is below"
check "candles M15 XAU/USD exits 0" candle_json M15 XAU/USD
check "stored: 13:00, not 13:15" py "
import json; t=[x['time'] for x in json.load(open('$T/candles.json'))]
assert '2024-03-13T13:00:00Z' in t and '2024-03-13T13:15:00Z' not in t, t[-3:]"

# names_series_and TEXT: one line of stderr names XAU/USD, M15 and TEXT.
names_series_and() { grep -F 'XAU/USD' "$T/err" | grep -F 'M15' | grep -qF -- "$1"; }
# 5. Bad values fail the whole response, name the series, and store nothing.
BEFORE=$(count_of M15 XAU/USD)
at 2024-03-13T14:37:00Z
for bad in abc NaN -1 1e999 0; do
    td_control "{\"overrides\": [{\"symbol\": \"XAU/USD\", \"interval\": \"15min\", \"datetime\": \"2024-03-13T14:00:00Z\", \"field\": \"open\", \"value\": \"$bad\"}]}"
    ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
    check "value '$bad' fails the fetch (exit 1)" expect_rc 1
    check "value '$bad' error names the series and the value" \
        names_series_and "'$bad'"
    check "value '$bad' stores nothing" test "$(count_of M15 XAU/USD)" = "$BEFORE"
done
td_control '{"overrides": [{"symbol": "XAU/USD", "interval": "15min", "datetime": "2024-03-13T14:00:00Z", "field": "datetime", "value": "2024-03-13 14:07:00"}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "an unaligned datetime fails the fetch" expect_rc 1
check "an unaligned datetime is named" err_has "2024-03-13 14:07:00"
td_control '{"overrides": []}'

# 6. HTML error pages and truncated bodies.
td_control '{"raw": [{"http_status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "an HTML 502 page fails the fetch" expect_rc 1
check "the HTML failure names the series" err_has "XAU/USD"
td_control '{"raw": [{"http_status": 200, "body": "{\"meta\":{\"symbol\":\"XAU/USD\"},\"values\":[{\"datetime\":\"2024-03-13 14:00:00\",\"open\":\"21"}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "a truncated JSON body fails the fetch" expect_rc 1
check "nothing stored from bad responses" test "$(count_of M15 XAU/USD)" = "$BEFORE"

# 7. Documented error bodies, delivered with HTTP 200.
td_control '{"errors": [{"code": 401}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "a 401 error body with HTTP 200 fails the fetch" expect_rc 1
# A daily 429 bans its source until the provider's day ends: a source of its own.
td_control '{"errors": [{"code": 429, "kind": "day"}]}'
ck fetch --source "${SRC}day" "${CFG[@]}"
check "a daily-credit 429 fails the fetch" expect_rc 1
check "the daily limit is named" grep -qi 'day' "$T/err"
check "the series is reported deferred" err_has "${SRC}day XAG/USD D1: deferred, nothing sent"
td_control '{"errors": [{"code": 404, "message": "**symbol** or **figi** parameter is missing or invalid."}]}'
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "an unknown-symbol error fails the fetch" expect_rc 1

# 8. Nothing new: "No data is available" is zero candles, not a failure.
td_control '{"forming": false}'
at 2024-03-13T14:01:00Z
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "the fetch after errors catches up" expect_rc 0
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "no new data is success" expect_rc 0
check "no new data stores nothing" out_has "fetched 0, stored 0"
td_control '{"forming": true}'

# 9. Gaps: found exactly where the fake left holes; filled when the data arrives.
td_control '{"holes": [{"symbol": "XAU/USD", "interval": "15min", "from": "2024-03-14T02:00:00Z", "to": "2024-03-14T03:00:00Z"}]}'
at 2024-03-14T06:07:00Z
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "fetch over a hole succeeds" expect_rc 0
check "the hole is one open gap (the rejected 13:15 candle came back valid)" out_has "open gaps 1 (new 1, filled 0)"
ck gaps M15 --symbol XAU/USD --source "$SRC" --format json "${CFG[@]}"
check "gaps M15 exits 0" expect_rc 0
check "the hole is in the ledger exactly" py "
import json; g=json.load(open('$T/out'))
h=[x for x in g if x['first']=='2024-03-14T02:00:00Z']
assert len(g)==1 and len(h)==1 and h[0]['last']=='2024-03-14T02:45:00Z' and h[0]['count']==4 and h[0]['state']=='open', g"
ck fetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "fetch XAU/USD exits 0" expect_rc 0
ck gaps M15 --symbol XAU/USD --source "$SRC" --format json "${CFG[@]}"
check "gaps M15 exits 0" expect_rc 0
check "seeing the same gap again does not duplicate it" py "
import json; g=json.load(open('$T/out')); assert len(g)==1, g"
td_control '{"holes": []}'
ck fetch --refetch --symbol XAU/USD --timeframe M15 "${CFG[@]}"
check "fetch XAU/USD exits 0" expect_rc 0
ck gaps M15 --symbol XAU/USD --source "$SRC" --state open --format json "${CFG[@]}"
check "gaps M15 exits 0" expect_rc 0
check "refilled gaps are no longer open" py "import json; g=json.load(open('$T/out')); assert g==[], g"
ck gaps M15 --symbol XAU/USD --source "$SRC" --state filled --format json "${CFG[@]}"
check "gaps M15 exits 0" expect_rc 0
check "refilled gaps are marked filled" py "import json; g=json.load(open('$T/out')); assert len(g)==1 and g[0]['state']=='filled' and g[0]['first']=='2024-03-14T02:00:00Z', g"

# 10. Weekends, the metals pause and both DST switches: no false gaps.
at 2024-03-12T12:07:00Z
ck fetch --symbol XAG/USD --timeframe H1 "${CFG[@]}"
check "fetch XAG/USD exits 0" expect_rc 0
check "H1 across the March DST switch and a weekend: no gaps" out_has "$SRC XAG/USD H1: fetched 200, stored 199, rejected 0, forming dropped 1, open gaps 0"
check "candles H1 XAG/USD exits 0" candle_json H1 XAG/USD
check "no H1 candle in the metals pause or the weekend" py "
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
ny=ZoneInfo('America/New_York')
for c in json.load(open('$T/candles.json')):
    t=datetime.strptime(c['time'],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).astimezone(ny)
    assert t.hour!=17, c
    assert not (t.weekday()==5 or (t.weekday()==4 and t.hour>=17) or (t.weekday()==6 and t.hour<18)), c
"
at 2024-11-05T12:07:00Z
ck fetch --symbol XAG/USD --timeframe M15 "${CFG[@]}"
check "fetch XAG/USD exits 0" expect_rc 0
check "M15 across the November DST switch and a weekend: no gaps" out_has "XAG/USD M15: fetched 200, stored 199, rejected 0, forming dropped 1, open gaps 0"

# 11. Holidays: known to the calendar, no gap; unknown, a gap.
td_control '{"holidays": ["2024-12-25"]}'
at 2024-12-27T12:07:00Z
ck fetch --source "${SRC}fx" "${CFG[@]}"
check "fetch exits 0" expect_rc 0
check "forex over a configured holiday: no gaps" out_has "${SRC}fx GBP/USD H1: fetched 200, stored 199, rejected 0, forming dropped 1, open gaps 0"
ck fetch --source "${SRC}nohol" "${CFG[@]}"
check "fetch exits 0" expect_rc 0
check "forex over an unconfigured holiday: one gap" out_has "${SRC}nohol GBP/USD H1: fetched 200, stored 199, rejected 0, forming dropped 1, open gaps 1"
ck gaps H1 --symbol GBP/USD --source "${SRC}nohol" --days 30 --format json "${CFG[@]}"
check "gaps H1 exits 0" expect_rc 0
check "the holiday gap spans the trading day of 2024-12-25" py "
import json; g=json.load(open('$T/out'))
assert len(g)==1 and g[0]['first']=='2024-12-24T22:00:00Z' and g[0]['last']=='2024-12-25T21:00:00Z' and g[0]['count']==24, g"

# 12. No API key: a clear message, exit non-zero, nothing touched.
cat >"$T/nokey.ini" <<INI
[storage]
url = sqlite:$T/untouched.db
[source.twelvedata]
base_url = $TD_URL
INI
unset CK_IT_KEY
ck fetch --config "$T/nokey.ini"
check "without a key fetch exits 2, a configuration problem" expect_rc 2
check "without a key the message names TWELVE_DATA_API_KEY" err_has "TWELVE_DATA_API_KEY"
check "without a key no database is created" test ! -e "$T/untouched.db"

# 13. The key never appears in any output or log.
check "the API key never appears in any output" lacks "$KEY" "$T/all.log"
check "nor the other key" lacks "$DAYKEY" "$T/all.log"
check "the output log is not empty (the check above looked at something)" test -s "$T/all.log"
finish
