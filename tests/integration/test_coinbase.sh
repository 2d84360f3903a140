#!/usr/bin/env bash
# The Coinbase Exchange adapter end to end: the real binary against the
# fake Coinbase (tests/helpers/fake_coinbase.py) and a real store.
#
#   - a backfill of more than 300 candles pages forward in windows of at
#     most 300 buckets (a wider window would be rejected), stores exact
#     decimals from JSON numbers and drops the forming bucket;
#   - an incremental fetch asks for the window after the newest candle;
#   - buckets without trades are simply absent: a gap, not an error, and a
#     window without any is paged past;
#   - an unknown product (404 NotFound) fails its series only;
#   - a 429 is a wait the next process respects (a second, or Retry-After);
#   - garbage bodies (HTML, truncated, strings, NaN, huge numbers) store
#     nothing;
#   - M30 is not served (a configuration error naming Coinbase).
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW CANDLEKEEP_COINBASE_URL

python3 "$CK_SOURCE_DIR/tests/helpers/fake_coinbase.py" --port-file "$T/cb.port" 2>"$T/fake_cb.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/cb.port" || { echo "fake Coinbase did not start" >&2; cat "$T/fake_cb.log" >&2; exit 1; }
CB_URL="http://127.0.0.1:$(cat "$T/cb.port")"

cb_control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" "$CB_URL/__control" >/dev/null; }
cb_requests() { curl -fsS "$CB_URL/__requests"; }
nreqs() { cb_requests | py "import json,sys; print(len(json.load(sys.stdin)))"; }
# requests_since N: the requests after the first N, as JSON.
requests_since() { cb_requests | py "import json,sys; print(json.dumps(json.load(sys.stdin)[$1:]))"; }

cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[log]
level = info
; One attempt per fetch: each failure below is the first answer's. The clock
; is pinned, so the budget is wide (the default is ten requests a second).
[retry]
max_retries = 0
[source.$SRC]
kind = coinbase
base_url = $CB_URL
symbols = BTC/USD ETH/USD SOL/USD
timeframes = H1 M5
calendar = crypto
backfill = 700
rate_limit = 1000/1s
; The garbage below must not open the circuit breaker.
breaker_failures = 100
[source.${SRC}bad]
kind = coinbase
base_url = $CB_URL
symbols = FOO/USD ETH/USD
timeframes = H1
calendar = crypto
backfill = 24
rate_limit = 1000/1s
INI
CFG=(--config "$T/ck.ini")

at() { export CANDLEKEEP_NOW=$1; cb_control "{\"now\": \"$1\"}"; }
candle_json() {
    "$CK_BIN" candles "$1" --symbol "$2" --source "${3:-$SRC}" --limit 0 --order asc --format json "${CFG[@]}" >"$T/candles.json"
}
count_of() { candle_json "$@" && py "import json; print(len(json.load(open('$T/candles.json'))))"; }

# 1. A backfill of 700 hours: three windows of at most 300 buckets.
at 2024-03-15T12:07:00Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "the first fetch succeeds" expect_rc 0
check "it stores 700 closed hours and drops the forming one" \
    out_has "$SRC BTC/USD H1: fetched 701, stored 700, rejected 0, forming dropped 1, open gaps 0"
check "three requests, each a window of at most 300 buckets, consecutive, none refused" py "
import json
from datetime import datetime, timezone
t=lambda s: int(datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).timestamp())
rs=json.loads('''$(requests_since 0)''')
assert len(rs)==3, rs
newest=t('2024-03-15T11:00:00Z')
since=newest-700*3600
for r in rs:
    q=r['query']
    assert r['product']=='BTC-USD' and q['granularity']=='3600' and r['answer']==200, r
    assert r['buckets']<=300 and t(q['start'])==since+3600 and t(q['end'])==since+300*3600, (r, since)
    since+=300*3600
"
check "700 candles stored, the newest the last closed hour" py "
import json,subprocess
c=json.loads(subprocess.run(['$CK_BIN','candles','H1','--symbol','BTC/USD','--source','$SRC','--limit','0','--order','asc','--format','json','--config','$T/ck.ini'],capture_output=True,check=True).stdout)
assert len(c)==700 and c[-1]['time']=='2024-03-15T11:00:00Z' and c[0]['time']=='2024-02-15T08:00:00Z', (len(c), c[0], c[-1])
"
check "candles H1 BTC/USD exits 0" candle_json H1 BTC/USD
check "prices and volume are the exact text of Coinbase's JSON numbers" py "
import json, urllib.request
mine=json.load(open('$T/candles.json'))[-1]
body=urllib.request.urlopen('$CB_URL/products/BTC-USD/candles?granularity=3600&start=2024-03-15T11:00:00Z&end=2024-03-15T11:00:00Z').read().decode()
row=body.strip('[]').split('],[')[0].split(',')
assert row[0]=='1710500400', row
for f, i in (('low',1),('high',2),('open',3),('close',4),('volume',5)):
    assert mine[f]==row[i], (f, mine[f], row[i])
"

# 2. Incremental: the window after the newest stored hour.
at 2024-03-15T15:07:00Z
N0=$(nreqs)
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "the incremental fetch succeeds" expect_rc 0
check "it stores the 3 new closed hours" out_has "$SRC BTC/USD H1: fetched 4, stored 3, rejected 0, forming dropped 1"
check "one request, from the hour after the newest stored one" py "
import json
rs=json.loads('''$(requests_since "$N0")''')
assert len(rs)==1 and rs[0]['query']['start']=='2024-03-15T12:00:00Z' and rs[0]['query']['end']=='2024-03-27T23:00:00Z', rs
"

# 3. A short backfill is one request for the latest buckets; an unknown product fails alone.
N0=$(nreqs)
ck fetch --source "${SRC}bad" "${CFG[@]}"
check "a source with an unknown product exits 1" expect_rc 1
check "the unknown product is named with Coinbase's message" err_has "${SRC}bad FOO/USD H1: unknown product (HTTP 404): NotFound"
check "the other symbol of that source is stored, but for the forming hour" test "$(count_of H1 ETH/USD "${SRC}bad")" = 23
check "the latest 24 hours were one window ending now" py "
import json
rs=[r for r in json.loads('''$(requests_since "$N0")''') if r['product']=='ETH-USD']
assert len(rs)==1 and rs[0]['query']['start']=='2024-03-14T16:00:00Z' and rs[0]['query']['end']=='2024-03-15T15:07:00Z', rs
"

# 4. Buckets without trades are absent: stored as a gap, not an error.
cb_control '{"holes": [{"product": "SOL-USD", "from": "2024-03-15T13:00:00Z", "to": "2024-03-15T13:20:00Z"}]}'
ck fetch --symbol SOL/USD --timeframe M5 "${CFG[@]}"
check "a window with quiet buckets succeeds" expect_rc 0
check "the quiet buckets are one open gap" out_has "$SRC SOL/USD M5: fetched 697, stored 696, rejected 0, forming dropped 1, open gaps 1"
cb_control '{"holes": []}'

# 4b. Quiet for longer than a window (400 hours without a trade): the backfill pages on past it.
QUIET=$(py "
from datetime import datetime, timezone
since=int(datetime(2024,3,15,14,tzinfo=timezone.utc).timestamp())-700*3600
f=lambda t: datetime.fromtimestamp(t, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
print(f(since+100*3600), f(since+500*3600))")
read -r QFROM QTO <<<"$QUIET"
cb_control "{\"holes\": [{\"product\": \"SOL-USD\", \"granularity\": 3600, \"from\": \"$QFROM\", \"to\": \"$QTO\"}]}"
N0=$(nreqs)
ck fetch --symbol SOL/USD --timeframe H1 "${CFG[@]}"
check "a backfill across an empty window succeeds" expect_rc 0
check "it stores every hour with trades, up to the last closed one" \
    out_has "$SRC SOL/USD H1: fetched 301, stored 300, rejected 0, forming dropped 1"
check "it went on window after window, each from the end of the one before" py "
import json
from datetime import datetime, timezone
t=lambda s: int(datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).timestamp())
rs=json.loads('''$(requests_since "$N0")''')
assert len(rs)==3 and all(r['answer']==200 and r['buckets']<=300 for r in rs), rs
for a, b in zip(rs, rs[1:]):
    assert t(b['query']['start'])==t(a['query']['end'])+3600, (a, b)"
check "the newest stored hour is the last closed one" py "
import json,subprocess
c=json.loads(subprocess.run(['$CK_BIN','candles','H1','--symbol','SOL/USD','--source','$SRC','--limit','1','--format','json','--config','$T/ck.ini'],capture_output=True,check=True).stdout)
assert c[0]['time']=='2024-03-15T14:00:00Z', c"
cb_control '{"holes": []}'

# 5. Garbage bodies store nothing.
ck fetch --symbol ETH/USD --timeframe H1 "${CFG[@]}"
check "fetch ETH/USD exits 0" expect_rc 0
BEFORE=$(count_of H1 ETH/USD)
at 2024-03-15T16:07:00Z
garbage() {
    cb_control "$1"
    ck fetch --symbol ETH/USD --timeframe H1 "${CFG[@]}"
    check "$2: the fetch fails (exit 1)" expect_rc 1
    check "$2: the message names the series" err_has "$SRC ETH/USD H1: "
    check "$2: nothing is stored" test "$(count_of H1 ETH/USD)" = "$BEFORE"
}
garbage '{"raw": [{"http_status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}]}' "an HTML 502 page"
garbage '{"raw": [{"http_status": 200, "body": "[[1710511200,2500.1,2510,25"}]}' "a truncated body"
garbage '{"overrides": [{"time": "2024-03-15T15:00:00Z", "field": "open", "raw": "\"4000.12\""}]}' "a price as a string"
garbage '{"overrides": [{"time": "2024-03-15T15:00:00Z", "field": "high", "raw": "NaN"}]}' "NaN"
garbage '{"overrides": [{"time": "2024-03-15T15:00:00Z", "field": "close", "raw": "1e999"}]}' "a huge exponent"
garbage '{"overrides": [{"time": "2024-03-15T15:00:00Z", "field": "low", "raw": "99999999999999999999"}]}' "a huge number"
garbage '{"overrides": [{"time": "2024-03-15T15:00:00Z", "field": "volume", "remove": true}]}' "a short row"
check "NaN was named" grep -q "high is not a number: 'NaN'" "$T/all.log"
cb_control '{"overrides": []}'
ck fetch --symbol ETH/USD --timeframe H1 "${CFG[@]}"
check "once the bodies are good again the fetch succeeds" expect_rc 0

# 6. A 429 is a wait the next process respects: a second without Retry-After, else its value.
at 2024-03-15T17:07:00Z
cb_control '{"errors": [{"status": 429, "message": "Public rate limit exceeded"}]}'
N0=$(nreqs)
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "a rate-limited fetch exits 1" expect_rc 1
check "it is reported as a rate limit" err_has "$SRC BTC/USD H1: deferred, nothing sent (next request at 2024-03-15T17:07:01Z)"
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "a fetch within the second exits 1" expect_rc 1
check "it sent nothing" test "$(nreqs)" = $((N0 + 1))
ck fetch --source "${SRC}bad" --symbol ETH/USD "${CFG[@]}"
check "the wait holds for every source of the venue (one budget per IP): exit 1" expect_rc 1
check "and it sent nothing either" test "$(nreqs)" = $((N0 + 1))
cb_control '{"errors": [{"status": 429, "message": "Public rate limit exceeded", "headers": {"Retry-After": "30"}}]}'
at 2024-03-15T17:07:02Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "a 429 with Retry-After exits 1" expect_rc 1
check "its wait is the header's" err_has "next request at 2024-03-15T17:07:32Z"
at 2024-03-15T17:07:20Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "within it a fetch exits 1" expect_rc 1
check "and sends nothing" test "$(nreqs)" = $((N0 + 2))
at 2024-03-15T17:07:33Z
ck fetch --symbol BTC/USD --timeframe H1 "${CFG[@]}"
check "after it the fetch succeeds" expect_rc 0
check "and stores the hours it had missed" out_has "$SRC BTC/USD H1: fetched 3, stored 2"

check "no request candlekeep sent spanned more than 300 buckets" py "
import json
rs=json.loads('''$(cb_requests)''')
assert rs and all(r['buckets'] is None or r['buckets']<=300 for r in rs), [r for r in rs if r['buckets'] and r['buckets']>300]
"

# 7. Without base_url, CANDLEKEEP_COINBASE_URL names the venue's address.
cat >"$T/env.ini" <<INI
[storage]
url = sqlite:$T/env.db
[retry]
max_retries = 0
[source.cbenv]
kind = coinbase
timeframes = D1
backfill = 3
INI
N0=$(nreqs)
export CANDLEKEEP_COINBASE_URL=$CB_URL
ck fetch --config "$T/env.ini"
unset CANDLEKEEP_COINBASE_URL
check "a section without base_url fetches from CANDLEKEEP_COINBASE_URL" expect_rc 0
check "the default symbol BTC/USD was asked for there, daily" py "
import json
rs=json.loads('''$(requests_since "$N0")''')
assert len(rs)==1 and rs[0]['product']=='BTC-USD' and rs[0]['query']['granularity']=='86400', rs"

# 8. M30 is not served: the configuration names Coinbase.
cat >"$T/m30.ini" <<INI
[storage]
url = sqlite:$T/m30.db
[source.cbm]
kind = coinbase
base_url = $CB_URL
timeframes = H1 M30 H4
INI
ck config check --config "$T/m30.ini"
check "config check refuses M30 and H4 for Coinbase (exit 2)" expect_rc 2
check "the message names the venue and the timeframe" \
    err_has "Coinbase Exchange does not serve M30 candles (source 'cbm'; it serves: M1 M5 M15 H1 D1)"
finish
