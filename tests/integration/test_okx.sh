#!/usr/bin/env bash
# OKX end to end: the real binary against the fake OKX
# (tests/helpers/fake_okx.py) and a real store.
#
#   - a first fetch asks market/candles for the latest rows; the candle
#     OKX marks unconfirmed is left out;
#   - an incremental fetch pages with `after` from the newest stored candle;
#   - a backfill older than market/candles keeps goes to history-candles,
#     100 rows a request, then to market/candles once the window is recent;
#   - an unknown instrument (51001) fails its series only;
#   - bad bodies (HTML, truncated, wrong types, NaN, huge numbers, a bad
#     confirm) store nothing;
#   - 50011 (HTTP 429) with Retry-After is a wait stored for every process.
# The clock is pinned (CANDLEKEEP_NOW and the fake's "now") so that every
# count is exact.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_OKX_URL
python3 "$CK_SOURCE_DIR/tests/helpers/fake_okx.py" --port-file "$T/okx.port" 2>"$T/fake.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/okx.port" || { echo "fake OKX did not start" >&2; cat "$T/fake.log" >&2; exit 1; }
OKX_URL="http://127.0.0.1:$(cat "$T/okx.port")"
okx_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$OKX_URL/__control" >/dev/null; }
okx_requests() { curl -fsS "$OKX_URL/__requests"; }
nreqs() { okx_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }

PSRC="${SRC}p"
cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[log]
level = info
; One attempt per fetch: every answer below is the first one's.
[retry]
max_retries = 0
[source.$SRC]
kind = okx
base_url = $OKX_URL
symbols = BTC/USDT NOPE/USDT
timeframes = H1 D1
calendar = crypto
backfill = 50
[source.$PSRC]
kind = okx
base_url = $OKX_URL
symbols = ETH/USDT
timeframes = M1
backfill = 1250
INI
CFG=(--config "$T/ck.ini")

at() { export CANDLEKEEP_NOW=$1; okx_control "{\"now\": \"$1\"}"; }
count_of() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "${3:-$SRC}" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json" &&
        py "import json; print(len(json.load(open('$T/candles.json'))))"
}
# last_request_has PYEXPR: the last request `r` (its query r['query']) satisfies PYEXPR.
last_request_has() { okx_requests | py "import json,sys; r=json.load(sys.stdin)[-1]; q=r['query']; assert $1, r"; }

# 1. First fetch: market/candles, the latest 50; the unconfirmed one is left out by the adapter.
at 2024-03-15T12:07:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the first fetch succeeds" expect_rc 0
check "it stores the 49 confirmed candles" \
    out_has "$SRC BTC/USDT H1: fetched 49, stored 49, rejected 0, forming dropped 0, open gaps 0"
check "it asks market/candles for BTC-USDT 1H, the latest 50" \
    last_request_has "r['path']=='/api/v5/market/candles' and q=={'instId':'BTC-USDT','bar':'1H','limit':'50'}"
check "49 candles are stored" test "$(count_of H1 BTC/USDT)" = 49
check "the newest stored is the last confirmed one, its prices exactly OKX's" py "
import json, urllib.request
c = json.load(open('$T/candles.json'))[-1]
assert c['time'] == '2024-03-15T11:00:00Z', c
row = json.load(urllib.request.urlopen('$OKX_URL/api/v5/market/candles?instId=BTC-USDT&bar=1H&limit=1&after=1710504000000'))['data'][0]
strip = lambda s: s.rstrip('0').rstrip('.') if '.' in s else s
assert row[0] == '1710500400000' and row[8] == '1', row
assert [c[f] for f in ('open', 'high', 'low', 'close', 'volume')] == [strip(v) for v in row[1:6]], (c, row)
"
ck fetch --symbol BTC/USDT --timeframe D1 "${CFG[@]}"
check "D1 succeeds" expect_rc 0
check "D1 asks the UTC days (1Dutc)" last_request_has "q['bar']=='1Dutc'"
check "D1 candles open at 00:00 UTC" py "
import json, subprocess
out = subprocess.run(['$CK_BIN', 'candles', 'D1', '--symbol', 'BTC/USDT', '--source', '$SRC', '--limit', '0', '--format', 'json', '--config', '$T/ck.ini'], capture_output=True, text=True, check=True).stdout
c = json.loads(out)
assert len(c) == 49 and all(x['time'].endswith('T00:00:00Z') for x in c), c[:2]
"

# 2. Incremental: `after` the window's end, from the newest stored candle.
at 2024-03-15T15:07:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the incremental fetch succeeds" expect_rc 0
check "it stores the 3 new confirmed candles" out_has "$SRC BTC/USDT H1: fetched 3, stored 3, rejected 0, forming dropped 0"
check "it asks market/candles for 100 older than 11:00 + 101 hours" \
    last_request_has "r['path']=='/api/v5/market/candles' and q['after']==str(1710500400000+101*3600000) and q['limit']=='100'"
check "52 candles are stored" test "$(count_of H1 BTC/USDT)" = 52

# 3. A backfill of 1,250 M1 candles: history-candles for the old windows, then market/candles.
N0=$(nreqs)
ck fetch --source "$PSRC" "${CFG[@]}"
check "the paged backfill succeeds" expect_rc 0
check "it stores 1,250 candles" \
    out_has "$PSRC ETH/USDT M1: fetched 1250, stored 1250, rejected 0, forming dropped 0, open gaps 0"
check "in 13 requests of 100" test "$(nreqs)" = $((N0 + 13))
check "the three oldest windows from history-candles, the rest from market/candles" py "
import json, urllib.request
r = json.load(urllib.request.urlopen('$OKX_URL/__requests'))[-13:]
paths = [x['path'].rsplit('/', 1)[1] for x in r]
assert paths == ['history-candles'] * 3 + ['candles'] * 10, paths
after = [int(x['query']['after']) for x in r]
assert all(b - a == 100 * 60000 for a, b in zip(after, after[1:])), after
assert all(x['query']['limit'] == '100' for x in r), r
"
check "1,250 M1 candles are stored" test "$(count_of M1 ETH/USDT "$PSRC")" = 1250

# 4. An unknown instrument fails its series only.
at 2024-03-15T16:07:00Z
ck fetch --timeframe H1 "${CFG[@]}"
check "a fetch with one unknown instrument exits 1" expect_rc 1
check "the unknown instrument is named with OKX's answer" \
    err_has "$SRC NOPE/USDT H1: unknown instrument (code 51001, HTTP 200): Instrument ID does not exist"
check "the other symbol is stored" out_has "$SRC BTC/USDT H1: fetched 1, stored 1"

# 5. Bad bodies store nothing and name the series.
at 2024-03-15T18:07:00Z
BEFORE=$(count_of H1 BTC/USDT)
bad_fetch() {
    local what=$1 control=$2 says=$3
    okx_control "$control"
    ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
    check "$what: the fetch exits 1" expect_rc 1
    check "$what: the message names the series and the fault" err_has "$SRC BTC/USDT H1: $says"
    check "$what: nothing is stored" test "$(count_of H1 BTC/USDT)" = "$BEFORE"
    okx_control '{"overrides": []}'
}
bad_fetch "an HTML page" \
    '{"raw": [{"http_status": 200, "content_type": "text/html", "body": "<html><body><h1>Service Unavailable</h1></body></html>"}]}' \
    "HTTP 200: body is not JSON"
bad_fetch "a truncated body" \
    '{"raw": [{"http_status": 200, "body": "{\"code\":\"0\",\"msg\":\"\",\"data\":[[\"1710522000000\",\"67"}]}' \
    "HTTP 200: body is not JSON"
bad_fetch "a price as a JSON number" \
    '{"overrides": [{"symbol": "BTC-USDT", "time": "2024-03-15T17:00:00Z", "field": 2, "value": 67000.5}]}' \
    "row 2024-03-15T17:00:00Z: high is a number, not a string"
bad_fetch "NaN" \
    '{"overrides": [{"symbol": "BTC-USDT", "time": "2024-03-15T16:00:00Z", "field": 3, "value": "NaN"}]}' \
    "row 2024-03-15T16:00:00Z: low 'NaN' is not a decimal"
bad_fetch "a huge number" \
    '{"overrides": [{"symbol": "BTC-USDT", "time": "2024-03-15T16:00:00Z", "field": 4, "value": "123456789012345678901234567890"}]}' \
    "row 2024-03-15T16:00:00Z: close '123456789012345678901234567890' is out of range"
bad_fetch "a confirm that is neither 0 nor 1" \
    '{"overrides": [{"symbol": "BTC-USDT", "time": "2024-03-15T17:00:00Z", "field": 8, "value": "yes"}]}' \
    "row 2024-03-15T17:00:00Z: confirm 'yes' is not \"0\" or \"1\""
bad_fetch "a service failure" '{"errors": [{"code": "50001", "http_status": 503}]}' \
    "provider failure (code 50001, HTTP 503)"

# 6. A candle OKX has not confirmed is left out, though its hour has passed, and comes later.
okx_control '{"confirm_lag": 600}'
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "a fetch right after the close succeeds" expect_rc 0
check "it stores up to 16:00, not the unconfirmed 17:00" out_has "$SRC BTC/USDT H1: fetched 1, stored 1, rejected 0"
at 2024-03-15T18:17:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "ten minutes on, the fetch succeeds" expect_rc 0
check "it stores the now confirmed 17:00" out_has "$SRC BTC/USDT H1: fetched 1, stored 1, rejected 0"
okx_control '{"confirm_lag": 0}'

# 7. 50011 (HTTP 429) with Retry-After: stored, obeyed by the next process and every section.
at 2024-03-15T19:07:00Z
okx_control '{"errors": [{"code": "50011", "headers": {"Retry-After": "3600"}}]}'
N0=$(nreqs)
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "a rate-limited fetch exits 1" expect_rc 1
check "it is reported as OKX's rate limit" err_has "rate limited (code 50011, HTTP 429): Rate limit reached."
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the next process exits 1" expect_rc 1
check "and sends nothing" test "$(nreqs)" = $((N0 + 1))
check "it says the series is deferred for the hour OKX asked" \
    err_has "$SRC BTC/USDT H1: deferred, nothing sent (next request at 2024-03-15T20:07:00Z"
ck fetch --source "$PSRC" "${CFG[@]}"
check "another section of the same venue waits too (one IP)" expect_rc 1
check "and sends nothing either" test "$(nreqs)" = $((N0 + 1))
at 2024-03-15T20:07:01Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "after the wait the fetch goes and succeeds" expect_rc 0
check "it catches up" out_has "$SRC BTC/USDT H1: fetched 2, stored 2"
finish
