#!/usr/bin/env bash
# The Kraken adapter end to end: the real binary against the fake Kraken
# (tests/helpers/fake_kraken.py) and a real store.
#
#   - a first fetch asks for no `since`, drops the forming last row itself
#     and stores exact prices; a backfill larger than the 720 rows Kraken
#     keeps is one request for what there is;
#   - an incremental fetch passes the newest stored open time as `since`;
#   - history older than Kraken's 720 rows is said to be lost, and the gap
#     scan records it;
#   - an unknown pair fails its series only;
#   - "EGeneral:Too many requests" (HTTP 200) is a rate limit whose wait is
#     stored: the next `candlekeep fetch` sends nothing until it is over;
#   - garbage bodies store nothing;
#   - W1 is not served (a configuration error naming Kraken).
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW CANDLEKEEP_KRAKEN_URL

python3 "$CK_SOURCE_DIR/tests/helpers/fake_kraken.py" --port-file "$T/kr.port" 2>"$T/fake_kr.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/kr.port" || { echo "fake Kraken did not start" >&2; cat "$T/fake_kr.log" >&2; exit 1; }
KR_URL="http://127.0.0.1:$(cat "$T/kr.port")"

kr_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$KR_URL/__control" >/dev/null; }
kr_requests() { curl -fsS "$KR_URL/__requests"; }
nreqs() { kr_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }
last_request() { kr_requests | py "import json,sys; print(json.dumps(json.load(sys.stdin)[-1]))"; }

cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[log]
level = info
[ingest]
gap_window = 30d
; One attempt per fetch: each failure below is the first answer's. The clock
; is pinned, so the budget is wide (the default is one request a second).
[retry]
max_retries = 0
[source.$SRC]
kind = kraken
base_url = $KR_URL
symbols = BTC/USD ETH/USD
timeframes = H1 M15
calendar = crypto
backfill = 1000
rate_limit = 1000/1s
; The garbage below must not open the circuit breaker.
breaker_failures = 100
[source.${SRC}bad]
kind = kraken
base_url = $KR_URL
symbols = FOO/USD ETH/USD
timeframes = H1
calendar = crypto
backfill = 24
rate_limit = 1000/1s
INI
CFG=(--config "$T/ck.ini")

at() { export CANDLEKEEP_NOW=$1; kr_control "{\"now\": \"$1\"}"; }
# candle_json TF SYMBOL [SOURCE]: every stored candle, ascending, into $T/candles.json
candle_json() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "${3:-$SRC}" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json"
}
count_of() { candle_json "$@" && py "import json; print(len(json.load(open('$T/candles.json'))))"; }

# 1. First fetch: more than Kraken keeps is one request for its 719 final rows.
at 2024-03-15T12:07:00Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "the first fetch succeeds" expect_rc 0
check "it stores the 719 final rows; the adapter dropped the forming one" \
    out_has "$SRC BTC/USD H1: fetched 719, stored 719, rejected 0, forming dropped 0, open gaps 0"
check "one request was sent" test "$(nreqs)" = 1
check "the request names the pair Kraken's way, in minutes, without since, with a User-Agent" py "
import json
r=json.loads('''$(last_request)''')
assert r['query']=={'pair': 'XBTUSD', 'interval': '60'}, r
assert r['user_agent'].startswith('candlekeep/'), r
"
check "719 candles stored" test "$(count_of H1 BTC/USD)" = 719
check "the newest is the last closed hour, the forming 12:00 is not stored" \
    py "import json; c=json.load(open('$T/candles.json')); assert c[-1]['time']=='2024-03-15T11:00:00Z' and c[0]['time']=='2024-02-14T13:00:00Z', (c[0], c[-1])"
check "prices and volume are Kraken's exact decimal strings" py "
import json, urllib.request
mine=json.load(open('$T/candles.json'))[-1]
req=urllib.request.Request('$KR_URL/0/public/OHLC?pair=XBTUSD&interval=60&since=1710500400', headers={'User-Agent': 'test'})
row=[r for r in json.load(urllib.request.urlopen(req))['result']['XXBTZUSD'] if r[0]==1710500400][0]
strip=lambda s: s.rstrip('0').rstrip('.') if '.' in s else s
for f, i in (('open',1),('high',2),('low',3),('close',4),('volume',6)):
    assert mine[f]==strip(row[i]), (f, mine[f], row[i])
"

# 2. Incremental: since is the newest stored open time; the row at it is not stored twice.
at 2024-03-15T15:07:00Z
N0=$(nreqs)
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "the incremental fetch succeeds" expect_rc 0
check "it stores the 3 new closed hours" out_has "$SRC BTC/USD H1: fetched 3, stored 3, rejected 0"
check "one request, since = the newest stored hour" py "
import json
r=json.loads('''$(last_request)''')
assert r['query']=={'pair': 'XBTUSD', 'interval': '60', 'since': '1710500400'}, r
"
check "with the one before: one more request" test "$(nreqs)" = $((N0 + 1))
check "722 candles stored" test "$(count_of H1 BTC/USD)" = 722

# 3. Ten days later, M15 history older than 720 rows is gone: said, and a gap.
at 2024-03-15T12:07:00Z
ck fetch --symbol BTC/USD --timeframe M15 "${CFG[@]}"
check "the first M15 fetch succeeds" expect_rc 0
at 2024-03-25T12:07:00Z
ck fetch --symbol BTC/USD --timeframe M15 "${CFG[@]}"
check "the fetch after ten days succeeds with what Kraken has" expect_rc 0
check "it stores the 719 rows Kraken still has" out_has "$SRC BTC/USD M15: fetched 719, stored 719"
check "it says which candles are lost" \
    err_has "$SRC BTC/USD M15: Kraken serves only its 720 most recent rows: candles 2024-03-15T12:00:00Z to 2024-03-18T00:00:00Z are no longer available"
ck gaps M15 --symbol BTC/USD --source "$SRC" --days 30 --format json "${CFG[@]}"
check "gaps M15 exits 0" expect_rc 0
check "the lost candles are one open gap" py "
import json; g=json.load(open('$T/out'))
assert len(g)==1 and g[0]['first']=='2024-03-15T12:00:00Z' and g[0]['last']=='2024-03-18T00:00:00Z' and g[0]['state']=='open', g"

# 4. An unknown pair fails its own series only.
at 2024-03-15T12:07:00Z
ck fetch --source "${SRC}bad" "${CFG[@]}"
check "a source with an unknown pair exits 1" expect_rc 1
check "the unknown pair is named with Kraken's error" err_has "${SRC}bad FOO/USD H1: unknown asset pair (HTTP 200): 'EQuery:Unknown asset pair'"
check "the other symbol of that source is stored" test "$(count_of H1 ETH/USD "${SRC}bad")" = 24

# 5. Garbage bodies store nothing.
BEFORE=$(count_of H1 ETH/USD)
at 2024-03-15T13:07:00Z
garbage() {
    kr_control "$1"
    ck fetch --symbol ETH/USD --timeframe H1 "${CFG[@]}"
    check "$2: the fetch fails (exit 1)" expect_rc 1
    check "$2: the message names the series" err_has "$SRC ETH/USD H1: "
    check "$2: nothing is stored" test "$(count_of H1 ETH/USD)" = "$BEFORE"
}
garbage '{"raw": [{"http_status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}]}' "an HTML 502 page"
garbage '{"raw": [{"http_status": 200, "body": "{\"error\":[],\"result\":{\"XETHZUSD\":[[1710500400,\"2500.1\",\"25"}]}' "a truncated body"
garbage '{"overrides": [{"time": "2024-03-15T11:00:00Z", "field": "open", "value": 2500.5}]}' "a price as a JSON number"
garbage '{"overrides": [{"time": "2024-03-15T11:00:00Z", "field": "high", "value": "NaN"}]}' "NaN"
garbage '{"overrides": [{"time": "2024-03-15T11:00:00Z", "field": "close", "value": "99999999999999.5"}]}' "a huge number"
garbage '{"overrides": [{"time": "2024-03-15T11:00:00Z", "field": "volume", "remove": true}]}' "a short row"
check "the NaN was named" grep -q "'NaN' is not a decimal" "$T/all.log"
kr_control '{"overrides": []}'
ck fetch --symbol ETH/USD --timeframe H1 "${CFG[@]}"
check "once the bodies are good again the fetch succeeds" expect_rc 0

# 6. Throttling (HTTP 200, in the body) is a wait the next process respects.
at 2024-03-15T16:07:00Z
kr_control '{"errors": [{"error": "EGeneral:Too many requests"}]}'
N0=$(nreqs)
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "a throttled fetch exits 1" expect_rc 1
check "it is reported as a rate limit" err_has "rate limited (HTTP 200): 'EGeneral:Too many requests'"
check "it asked once" test "$(nreqs)" = $((N0 + 1))
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "a fetch within the wait exits 1" expect_rc 1
check "it sent nothing" test "$(nreqs)" = $((N0 + 1))
check "it reports the series deferred" err_has "$SRC BTC/USD H1: deferred, nothing sent"
ck fetch --source "${SRC}bad" --symbol ETH/USD "${CFG[@]}"
check "the wait holds for every source of the venue (one budget per IP): exit 1" expect_rc 1
check "and it sent nothing either" test "$(nreqs)" = $((N0 + 1))
at 2024-03-15T16:07:06Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "after the wait the fetch succeeds" expect_rc 0
check "and stored the hour it had missed" out_has "$SRC BTC/USD H1: fetched 1, stored 1"

# 7. W1 is not served: the configuration names Kraken.
cat >"$T/w1.ini" <<INI
[storage]
url = sqlite:$T/w1.db
[source.krw]
kind = kraken
base_url = $KR_URL
timeframes = H1 W1
INI
ck config check --config "$T/w1.ini"
check "config check refuses W1 for Kraken (exit 2)" expect_rc 2
check "the message names the venue and the timeframe" err_has "Kraken does not serve W1 candles (source 'krw'"

# 8. Without base_url, CANDLEKEEP_KRAKEN_URL names the venue's address.
cat >"$T/env.ini" <<INI
[storage]
url = sqlite:$T/env.db
[retry]
max_retries = 0
[source.krenv]
kind = kraken
timeframes = D1
backfill = 3
INI
N0=$(nreqs)
export CANDLEKEEP_KRAKEN_URL=$KR_URL
ck fetch --config "$T/env.ini"
unset CANDLEKEEP_KRAKEN_URL
check "a section without base_url fetches from CANDLEKEEP_KRAKEN_URL" expect_rc 0
check "the default symbol BTC/USD was asked for there" py "
import json
r=json.loads('''$(last_request)''')
assert r['query']=={'pair': 'XBTUSD', 'interval': '1440'}, r"
check "one request" test "$(nreqs)" = $((N0 + 1))

check "the fake saw a User-Agent on every request" py "
import json
assert all(r['user_agent'] for r in json.loads('''$(kr_requests)''')), 'no User-Agent'"
finish
