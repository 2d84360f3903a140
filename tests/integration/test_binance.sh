#!/usr/bin/env bash
# Binance end to end: the real binary against the fake Binance
# (tests/helpers/fake_binance.py) and a SQLite store.
#
#   1. a first fetch backfills the latest klines, the forming one dropped,
#      prices exactly as the venue sent them;
#   2. an incremental fetch asks from the period after the latest stored
#      candle (startTime) and stores only what is new;
#   3. a backfill longer than one request pages forward, 1000 at a time;
#   4. an unknown symbol (-1121) fails that series only, and is not retried;
#   5. garbage (HTML, a cut body, NaN, huge numbers) stores nothing;
#   6. a 429's Retry-After is waited for, then the request goes again;
#   7. X-MBX-USED-WEIGHT-1M at 5999 of 6000: the next request waits for the
#      minute, in this run and in the next one, without sending anything;
#   8. CANDLEKEEP_BINANCE_URL replaces the default base URL;
#   9. a 418 ban is stored with its end: a second `candlekeep fetch` (a new
#      process) sends nothing while it lasts, nor does another Binance
#      section, `status` shows it, and after it the fetch goes again.
#
# Every keyless Binance section shares one budget (per IP), so a ban holds
# up every section: the test's clock (CANDLEKEEP_NOW and the fake's) moves
# past each one.
# The budget of a keyless venue is one per IP ("binance:ip"): a shared
# PostgreSQL database would share bans between scripts, so SQLite only.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_BINANCE_URL MAX_RETRIES RETRY_DELAY_SECONDS CANDLEKEEP_NOW

python3 "$CK_SOURCE_DIR/tests/helpers/fake_binance.py" --port-file "$T/bn.port" 2>"$T/fake_bn.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/bn.port" || { echo "fake Binance did not start" >&2; cat "$T/fake_bn.log" >&2; exit 1; }
BN_URL="http://127.0.0.1:$(cat "$T/bn.port")"

bn_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$BN_URL/__control" >/dev/null; }
bn_requests() { curl -fsS "$BN_URL/__requests"; }
nreqs() { bn_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }
# req_has N EXPR: the Nth klines request (negative from the end) satisfies EXPR over r.
req_has() { bn_requests | py "import json,sys; r=json.load(sys.stdin)[$1]; assert $2, r"; }
# at ISO: candlekeep's clock and the fake's, both advancing from ISO.
at() {
    export CANDLEKEEP_NOW=$1
    bn_control "{\"now\": \"$1\"}"
}

{
    printf '[storage]\nurl = %s\n[log]\nlevel = info\n' "$STORE_URL"
    cat <<INI
; One retry: enough to see a 429 waited for, few enough to keep the run short.
[retry]
max_retries = 1
base_delay = 1s
[source.$SRC]
kind = binance
base_url = $BN_URL
symbols = BTC/USDT ETH/USDT
timeframes = H1
backfill = 50
[source.${SRC}p]
kind = binance
base_url = $BN_URL
timeframes = M15
backfill = 2500
[source.${SRC}x]
kind = binance
base_url = $BN_URL
symbols = FOO/USDT SOL/USDT
timeframes = H1
backfill = 10
[source.${SRC}g]
kind = binance
base_url = $BN_URL
symbols = XRP/USDT
timeframes = H1
backfill = 10
breaker_failures = 100
[source.${SRC}b]
kind = binance
base_url = $BN_URL
symbols = BNB/USDT
timeframes = H1
backfill = 5
[source.${SRC}e]
kind = binance
symbols = DOGE/USDT
timeframes = D1
backfill = 5
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")

# count_of TF SYMBOL SOURCE: how many candles are stored.
count_of() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "$3" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json" &&
        py "import json; print(len(json.load(open('$T/candles.json'))))"
}
stored_is() { [ "$(count_of "$@")" = "$4" ] || { echo "stored: $(count_of "$1" "$2" "$3"), expected $4" >&2; return 1; }; }

# ---- 1. First fetch.
at 2024-01-30T18:00:30Z
ck fetch --source "$SRC" --symbol BTC/USDT "${CFG[@]}"
check "first fetch succeeds" expect_rc 0
check "of the 50 asked the adapter drops the forming kline itself" \
    out_has "$SRC BTC/USDT H1: fetched 49, stored 49, rejected 0, forming dropped 0, open gaps 0"
check "49 candles stored" stored_is H1 BTC/USDT "$SRC" 49
check "the newest stored is the last closed hour" \
    py "import json; c=json.load(open('$T/candles.json')); assert c[-1]['time']=='2024-01-30T17:00:00Z' and c[0]['time']=='2024-01-28T17:00:00Z', (c[0], c[-1])"
check "the request: BTCUSDT, 1h, limit 50, no startTime" \
    req_has -1 "r['query']=={'symbol':'BTCUSDT','interval':'1h','limit':'50'}"
curl -fsS "$BN_URL/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=1706634000000&limit=1" >"$T/kline.json"
same_prices() {
    py "
import json
from decimal import Decimal
k = json.load(open('$T/kline.json'))[0]
c = [x for x in json.load(open('$T/candles.json')) if x['time'] == '2024-01-30T17:00:00Z'][0]
for i, f in enumerate(('open', 'high', 'low', 'close', 'volume'), 1):
    assert Decimal(str(c[f])) == Decimal(k[i]), (f, c[f], k[i])
"
}
check "stored prices and volume are the venue's, exactly" same_prices

# ---- 2. Incremental.
at 2024-01-30T20:00:30Z
ck fetch --source "$SRC" --symbol BTC/USDT "${CFG[@]}"
check "incremental fetch succeeds" expect_rc 0
check "it stores the two new hours" \
    out_has "$SRC BTC/USDT H1: fetched 2, stored 2, rejected 0, forming dropped 0"
check "it asks from the hour after the latest stored candle" \
    req_has -1 "r['query']=={'symbol':'BTCUSDT','interval':'1h','startTime':'1706637600000','limit':'1000'}"
check "51 candles stored" stored_is H1 BTC/USDT "$SRC" 51

# ---- 3. Paging past one request's 1000 rows (the default symbol, BTC/USDT).
N0=$(nreqs)
ck fetch --source "${SRC}p" "${CFG[@]}"
check "a 2500-candle backfill succeeds" expect_rc 0
check "it stores 2500" out_has "${SRC}p BTC/USDT M15: fetched 2500, stored 2500, rejected 0, forming dropped 0"
check "in three requests" test "$(nreqs)" = $((N0 + 3))
pages_ok() {
    bn_requests | py "
import json, sys
r = json.load(sys.stdin)[-3:]
starts = [int(x['query']['startTime']) for x in r]
assert all(x['query']['limit'] == '1000' and x['query']['interval'] == '15m' for x in r), r
# Each page starts one period after the last open time of the one before.
assert starts[1] == starts[0] + 1000 * 900000 and starts[2] == starts[1] + 1000 * 900000, starts
assert starts[0] == (1706644800 - 2500 * 900) * 1000, starts
"
}
check "the pages follow one another by startTime, 1000 each" pages_ok
check "2500 candles stored" stored_is M15 BTC/USDT "${SRC}p" 2500

# ---- 4. An unknown symbol fails alone, and is asked once.
N0=$(nreqs)
ck fetch --source "${SRC}x" "${CFG[@]}"
check "a fetch with an unknown symbol exits 1" expect_rc 1
check "it names the series and the venue's answer" \
    err_has "${SRC}x FOO/USDT H1: unknown symbol (code -1121, HTTP 400): Invalid symbol."
check "the other symbol of the source is stored" out_has "${SRC}x SOL/USDT H1: fetched 9, stored 9"
check "SOL/USDT candles are there" stored_is H1 SOL/USDT "${SRC}x" 9
foo_once() { bn_requests | py "import json,sys; r=json.load(sys.stdin); assert len([x for x in r if x['query'].get('symbol')=='FOOUSDT'])==1, r"; }
check "the unknown symbol was not retried" foo_once
check "two requests in all" test "$(nreqs)" = $((N0 + 2))

# ---- 5. Garbage stores nothing.
# garbage DESC STDERR: after a bad answer was planted, a fetch fails, saying STDERR, storing nothing.
garbage() {
    ck fetch --source "${SRC}g" "${CFG[@]}"
    check "$1: fetch exits 1" expect_rc 1
    check "$1: it says why" err_has "$2"
    check "$1: nothing stored" stored_is H1 XRP/USDT "${SRC}g" 0
}
bn_control '{"raw": [{"http_status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html", "times": 2}]}'
garbage "an HTML 502 page" "${SRC}g XRP/USDT H1: provider failure (HTTP 502): '502 Bad Gateway'"
bn_control '{"raw": [{"http_status": 200, "body": "[[1706630400000,\"0.52000000\",\"0.53000000\",\"0.51000000\"]]", "cut": 25, "times": 2}]}'
garbage "a body cut short" "${SRC}g XRP/USDT H1: 127.0.0.1"
bn_control '{"raw": [{"http_status": 200, "body": "<!DOCTYPE html><html><body>maintenance</body></html>", "content_type": "text/html"}]}'
garbage "an HTML page with 200" "${SRC}g XRP/USDT H1: HTTP 200: body is not JSON"
bn_control '{"overrides": [{"symbol": "XRPUSDT", "interval": "1h", "time": "2024-01-30T15:00:00Z", "field": 3, "text": "NaN"}]}'
garbage "a bare NaN" "body is not JSON (invalid token near 'NaN')"
bn_control '{"overrides": [{"symbol": "XRPUSDT", "interval": "1h", "time": "2024-01-30T15:00:00Z", "field": 3, "value": "NaN"}]}'
garbage "a quoted NaN price" "${SRC}g XRP/USDT H1: row 2024-01-30 15:00:00: low 'NaN' is not a decimal"
bn_control '{"overrides": [{"symbol": "XRPUSDT", "interval": "1h", "time": "2024-01-30T15:00:00Z", "field": 2, "value": "123456789012345678901234.5"}]}'
garbage "a huge price" "high '123456789012345678901234.5' is out of range"
bn_control '{"overrides": [{"symbol": "XRPUSDT", "interval": "1h", "time": "2024-01-30T15:00:00Z", "field": 0, "text": "123456789012345678901234567890"}]}'
garbage "a huge open time" "body is not JSON (too big integer)"
bn_control '{"overrides": [{"symbol": "XRPUSDT", "interval": "1h", "time": "2024-01-30T15:00:00Z", "field": 1, "value": 0.52}]}'
garbage "a price of the wrong type" "row 2024-01-30 15:00:00: open is a number, not a string"
bn_control '{"overrides": []}'
ck fetch --source "${SRC}g" "${CFG[@]}"
check "the same series stores once the venue answers well" expect_rc 0
check "all of it" stored_is H1 XRP/USDT "${SRC}g" 9

# ---- 6. A 429's Retry-After is waited for.
at 2024-01-30T21:00:05Z
bn_control '{"errors": [{"code": -1003, "http_status": 429, "headers": {"Retry-After": "1"}}]}'
N0=$(nreqs)
ck fetch --source "$SRC" --symbol ETH/USDT "${CFG[@]}"
check "a fetch answered 429 with Retry-After 1 succeeds on the retry" expect_rc 0
check "it stored" out_has "$SRC ETH/USDT H1: fetched 49, stored 49"
check "two requests" test "$(nreqs)" = $((N0 + 2))
waited() { bn_requests | py "import json,sys; r=json.load(sys.stdin); assert r[-2]['answer']==429 and r[-1]['time']-r[-2]['time']>=0.95, r[-2:]"; }
check "the retry went after the Retry-After" waited

# ---- 7. The weight header drives the budget.
at 2024-01-30T22:00:05Z
bn_control '{"used_weight": 5997}'
N0=$(nreqs)
ck fetch --source "$SRC" "${CFG[@]}"
check "a fetch that reads 5999 of 6000 used exits 1" expect_rc 1
check "the first series is stored" out_has "$SRC BTC/USDT H1: fetched 2, stored 2"
check "the venue said 5999" req_has -1 "r['used_weight']==5999"
check "the second waits for the minute, not sent" \
    err_has "$SRC ETH/USDT H1: deferred, nothing sent (next request at 2024-01-30T22:01:0"
check "one request in all" test "$(nreqs)" = $((N0 + 1))
ck fetch --source "$SRC" --symbol ETH/USDT "${CFG[@]}"
check "a second fetch in that minute exits 1" expect_rc 1
check "it sends nothing" test "$(nreqs)" = $((N0 + 1))
check "and says why" err_has "X-MBX-USED-WEIGHT-1M is 5999 of 6000"
at 2024-01-30T22:01:01Z
ck fetch --source "$SRC" --symbol ETH/USDT "${CFG[@]}"
check "in the next minute the fetch goes" expect_rc 0
check "one more request" test "$(nreqs)" = $((N0 + 2))

# ---- 8. The base URL from the environment.
export CANDLEKEEP_BINANCE_URL=$BN_URL
N0=$(nreqs)
ck fetch --source "${SRC}e" "${CFG[@]}"
check "a section without base_url fetches from CANDLEKEEP_BINANCE_URL" expect_rc 0
check "at the fake" test "$(nreqs)" = $((N0 + 1))
check "daily klines of DOGEUSDT" req_has -1 "r['query']['symbol']=='DOGEUSDT' and r['query']['interval']=='1d'"

# ---- 9. A 418 ban, remembered across processes, until its end. On the
# real clock (`status` reads bans on it), for a series never fetched; the
# clocks are then moved past the ban.
unset CANDLEKEEP_NOW
bn_control '{"now": null, "ban": 3600}'
N0=$(nreqs)
ck fetch --source "${SRC}b" "${CFG[@]}"
check "a banned fetch exits 1" expect_rc 1
check "it asked once" test "$(nreqs)" = $((N0 + 1))
check "the venue answered 418" req_has -1 "r['answer']==418"
check "the series waits for the ban's end" err_has "${SRC}b BNB/USDT H1: deferred, nothing sent (next request at"
check "because of the ban" err_has "IP banned (code -1003, HTTP 418)"
ck fetch --source "${SRC}b" "${CFG[@]}"
check "a second fetch during the ban exits 1" expect_rc 1
check "and sends nothing" test "$(nreqs)" = $((N0 + 1))
ck fetch --source "${SRC}e" "${CFG[@]}"
check "another Binance section (same IP) exits 1" expect_rc 1
check "and sends nothing either" test "$(nreqs)" = $((N0 + 1))
ck status "${CFG[@]}"
check "status (no daemon) exits 1" expect_rc 1
ban_shown() { grep -E "^  ${SRC}b: .*, banned (3[56][0-9]{2})s \\(IP banned \\(418\\)\\)" "$T/out"; }
check "status shows the ban, its length and why" ban_shown
at "$(py "import time; print(time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 7200)))")"
ck fetch --source "${SRC}b" "${CFG[@]}"
check "after the ban the fetch goes again" expect_rc 0
check "with one request" test "$(nreqs)" = $((N0 + 2))
check "and stores" out_has "${SRC}b BNB/USDT H1: fetched 4, stored 4"
finish
