#!/usr/bin/env bash
# Bybit end to end: the real binary against the fake Bybit
# (tests/helpers/fake_bybit.py) and a real store.
#
#   - a first fetch backfills, asking category=spot and the latest rows,
#     and the forming candle is dropped;
#   - an incremental fetch asks a window after the newest stored candle;
#   - a backfill larger than one request (1,000 rows) pages forward;
#   - an unknown symbol fails its series only;
#   - bad bodies (HTML, truncated, wrong types, NaN, huge numbers) store
#     nothing;
#   - retCode 10006 waits until Bybit's reset time;
#   - HTTP 403 is Bybit's IP ban: stored, obeyed by the next process (a
#     restart) and by every section of the venue, for at least 10 minutes.
# The clock is pinned (CANDLEKEEP_NOW and the fake's "now") so that every
# count is exact.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_BYBIT_URL
python3 "$CK_SOURCE_DIR/tests/helpers/fake_bybit.py" --port-file "$T/bybit.port" 2>"$T/fake.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/bybit.port" || { echo "fake Bybit did not start" >&2; cat "$T/fake.log" >&2; exit 1; }
BY_URL="http://127.0.0.1:$(cat "$T/bybit.port")"
by_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$BY_URL/__control" >/dev/null; }
by_requests() { curl -fsS "$BY_URL/__requests"; }
nreqs() { by_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }

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
kind = bybit
base_url = $BY_URL
symbols = BTC/USDT NOPE/USDT
timeframes = H1
calendar = crypto
backfill = 50
[source.$PSRC]
kind = bybit
base_url = $BY_URL
symbols = ETH/USDT
timeframes = M1
backfill = 2500
INI
CFG=(--config "$T/ck.ini")

at() { export CANDLEKEEP_NOW=$1; by_control "{\"now\": \"$1\"}"; }
count_of() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "${3:-$SRC}" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json" &&
        py "import json; print(len(json.load(open('$T/candles.json'))))"
}
# last_query_has PYEXPR: the last request's query `q` satisfies PYEXPR.
last_query_has() { by_requests | py "import json,sys; q=json.load(sys.stdin)[-1]['query']; assert $1, q"; }

# 1. First fetch: the latest 50 rows, the forming one dropped.
at 2024-03-15T12:07:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the first fetch succeeds" expect_rc 0
check "it stores 49 and drops the forming candle" \
    out_has "$SRC BTC/USDT H1: fetched 50, stored 49, rejected 0, forming dropped 1, open gaps 0"
check "it asks spot BTCUSDT, 60 minutes, the latest 50" \
    last_query_has "q=={'category':'spot','symbol':'BTCUSDT','interval':'60','limit':'50'}"
check "49 candles are stored" test "$(count_of H1 BTC/USDT)" = 49
check "the newest stored is the last closed one, its prices exactly Bybit's" py "
import json, urllib.request
c = json.load(open('$T/candles.json'))[-1]
assert c['time'] == '2024-03-15T11:00:00Z', c
row = json.load(urllib.request.urlopen('$BY_URL/v5/market/kline?category=spot&symbol=BTCUSDT&interval=60&start=1710500400000&end=1710500400000'))['result']['list'][0]
strip = lambda s: s.rstrip('0').rstrip('.') if '.' in s else s
assert [c[f] for f in ('open', 'high', 'low', 'close', 'volume')] == [strip(v) for v in row[1:6]], (c, row)
"

# 2. Incremental: a window after the newest stored candle.
at 2024-03-15T15:07:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the incremental fetch succeeds" expect_rc 0
check "it stores the 3 new closed candles" out_has "$SRC BTC/USDT H1: fetched 4, stored 3, rejected 0, forming dropped 1"
check "its window starts the hour after 11:00 and holds at most 1,000 rows" \
    last_query_has "q['start']=='1710504000000' and q['end']==str(1710504000000+999*3600000) and q['limit']=='1000'"
check "52 candles are stored" test "$(count_of H1 BTC/USDT)" = 52

# 3. A backfill of 2,500 M1 candles: three requests of at most 1,000.
N0=$(nreqs)
ck fetch --source "$PSRC" "${CFG[@]}"
check "the paged backfill succeeds" expect_rc 0
check "it fetched 2,500 closed candles and the forming one" \
    out_has "$PSRC ETH/USDT M1: fetched 2501, stored 2500, rejected 0, forming dropped 1, open gaps 0"
check "in three requests" test "$(nreqs)" = $((N0 + 3))
check "whose windows follow each other" py "
import json, urllib.request
r = [x['query'] for x in json.load(urllib.request.urlopen('$BY_URL/__requests'))[-3:]]
s = [int(q['start']) for q in r]
assert s[1] == s[0] + 1000 * 60000 and s[2] == s[1] + 1000 * 60000, s
assert all(int(q['end']) == int(q['start']) + 999 * 60000 for q in r), r
"
check "2,500 M1 candles are stored" test "$(count_of M1 ETH/USDT "$PSRC")" = 2500

# 4. An unknown symbol fails its series only.
at 2024-03-15T16:07:00Z
ck fetch --timeframe H1 "${CFG[@]}"
check "a fetch with one unknown symbol exits 1" expect_rc 1
check "the unknown symbol is named with Bybit's answer" \
    err_has "$SRC NOPE/USDT H1: unknown symbol (retCode 10001, HTTP 200): Not supported symbols"
check "the other symbol is stored" out_has "$SRC BTC/USDT H1: fetched 2, stored 1"

# 5. Bad bodies store nothing and name the series.
at 2024-03-15T18:07:00Z
BEFORE=$(count_of H1 BTC/USDT)
bad_fetch() {
    local what=$1 control=$2 says=$3
    by_control "$control"
    ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
    check "$what: the fetch exits 1" expect_rc 1
    check "$what: the message names the series and the fault" err_has "$SRC BTC/USDT H1: $says"
    check "$what: nothing is stored" test "$(count_of H1 BTC/USDT)" = "$BEFORE"
    by_control '{"overrides": []}'
}
bad_fetch "an HTML page" \
    '{"raw": [{"http_status": 200, "content_type": "text/html", "body": "<html><body><h1>Service Unavailable</h1></body></html>"}]}' \
    "HTTP 200: body is not JSON"
bad_fetch "a truncated body" \
    '{"raw": [{"http_status": 200, "body": "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"list\":[[\"1710522000000\",\"67"}]}' \
    "HTTP 200: body is not JSON"
bad_fetch "a price as a JSON number" \
    '{"overrides": [{"symbol": "BTCUSDT", "time": "2024-03-15T17:00:00Z", "field": 2, "value": 67000.5}]}' \
    "row 2024-03-15T17:00:00Z: high is a number, not a string"
bad_fetch "NaN" \
    '{"overrides": [{"symbol": "BTCUSDT", "time": "2024-03-15T16:00:00Z", "field": 3, "value": "NaN"}]}' \
    "row 2024-03-15T16:00:00Z: low 'NaN' is not a decimal"
bad_fetch "a huge number" \
    '{"overrides": [{"symbol": "BTCUSDT", "time": "2024-03-15T16:00:00Z", "field": 4, "value": "123456789012345678901234567890"}]}' \
    "row 2024-03-15T16:00:00Z: close '123456789012345678901234567890' is out of range"
bad_fetch "a server failure" '{"errors": [{"retCode": 10016}]}' \
    "provider failure (retCode 10016, HTTP 200): Internal server error."

# 6. retCode 10006: nothing goes until Bybit's reset time.
by_control '{"errors": [{"retCode": 10006, "reset_ms": 30000}]}'
N0=$(nreqs)
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "Too many visits! fails the fetch" expect_rc 1
check "it is reported rate limited" err_has "rate limited (retCode 10006, HTTP 200): Too many visits!"
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "a fetch before the reset time exits 1" expect_rc 1
check "and sends nothing" test "$(nreqs)" = $((N0 + 1))
check "it says the series is deferred until the reset" err_has "$SRC BTC/USDT H1: deferred, nothing sent (next request at 2024-03-15T18:07:30Z"
at 2024-03-15T18:08:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "after the reset time the fetch goes and succeeds" expect_rc 0
check "what was missed is stored" out_has "$SRC BTC/USDT H1: fetched 3, stored 2"

# 7. HTTP 403: Bybit's IP ban (here over 1 request in 60 s), at least 10 minutes.
# (A reset: the fake's count of the last 60 s starts from nothing.)
curl -fsS -X POST "$BY_URL/__reset" >/dev/null
by_control '{"limits": {"per_window": 1, "window_s": 60}}'
at 2024-03-15T19:07:00Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the first request of the window succeeds" expect_rc 0
at 2024-03-15T20:07:00Z
N0=$(nreqs)
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the request over the limit fails" expect_rc 1
check "it is reported as Bybit's ban" \
    err_has "Bybit banned this IP address for too frequent requests (HTTP 403); nothing is sent for at least 600 s: 'access too frequent'"
check "it sent one request" test "$(nreqs)" = $((N0 + 1))
by_control '{"ban": 0, "limits": {"per_window": 600, "window_s": 5}}'
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "the next process, though the fake would answer, exits 1" expect_rc 1
check "it sends nothing" test "$(nreqs)" = $((N0 + 1))
check "it says the series is deferred for the ban's 10 minutes" \
    err_has "$SRC BTC/USDT H1: deferred, nothing sent (next request at 2024-03-15T20:17:00Z"
ck fetch --source "$PSRC" "${CFG[@]}"
check "another section of the same venue is banned too (one IP)" expect_rc 1
check "and sends nothing either" test "$(nreqs)" = $((N0 + 1))
at 2024-03-15T20:16:59Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "a second before the ban ends, still nothing" expect_rc 1
check "is sent" test "$(nreqs)" = $((N0 + 1))
# The ban was stored a fraction of a second after 20:07:00 on the pinned clock.
at 2024-03-15T20:17:01Z
ck fetch --symbol BTC/USDT --timeframe H1 "${CFG[@]}"
check "when the ban ends the fetch goes and succeeds" expect_rc 0
check "it sent one request" test "$(nreqs)" = $((N0 + 2))
finish
