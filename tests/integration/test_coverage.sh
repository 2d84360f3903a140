#!/usr/bin/env bash
# The coverage map, derived timeframes and their cross-check, through the
# real binary, the fake Twelve Data and a real store (SQLite here;
# PostgreSQL in the pg variant):
#   - a hole planted in the fake's H1 history shows in `candlekeep coverage`
#     (and GET /coverage) as exactly the candles the gap ledger holds open;
#   - H4 derived from stored H1 after each refresh (`derive = H4`) equals
#     the fake's own H4, and the refresh of the derived H4 asks the venue
#     nothing; Coinbase, which serves no H4, keeps one built from its hours;
#   - `candlekeep verify` finds the venue's H4 consistent with its H1, and
#     reports a planted wrong value with the candle and the field.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-test-cov-5a4b3c2d1e"
start_fake_td "$KEY"
start_fake cb fake_coinbase.py
CB_URL=$(cat "$T/cb.url")
PORT=$(free_port)
API="http://127.0.0.1:$PORT"

{
    daemon_ini_head
    cat <<INI
[retry]
max_retries = 0
[retention]
H1 = 30d
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = XAU/USD
timeframes = H1 H4
calendar = metals
backfill = 100
rate_per_minute = 1000
[source.${SRC}b]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = H1 H4
derive = H4
calendar = crypto
backfill = 100
rate_per_minute = 1000
; Coinbase serves no H4: listed because it is derived.
[source.${SRC}cb]
kind = coinbase
base_url = $CB_URL
symbols = BTC/USD
timeframes = H1 H4
derive = H4
calendar = crypto
backfill = 48
rate_limit = 1000/1s
INI
} >"$T/ck.ini"
unset TWELVE_DATA_API_KEY DATABASE_URL
CFG=(--config "$T/ck.ini")
NOW=2024-03-15T12:07:00Z
export CANDLEKEEP_NOW=$NOW
fake_ctl "$CB_URL" "{\"now\": \"$NOW\"}"
td_control "{\"now\": \"$NOW\", \"limits\": \"unlimited\", \"holes\": [{\"symbol\": \"XAU/USD\", \"interval\": \"1h\", \"from\": \"2024-03-13T09:00:00Z\", \"to\": \"2024-03-13T12:00:00Z\"}]}"

# cov_field SYMBOL TF FIELD: one field of the coverage map's row, from $T/cov.json.
cov_field() {
    py "import json
rows=[r for r in json.load(open('$T/cov.json'))['series'] if r['symbol']=='$1' and r['timeframe']=='$2']
assert len(rows)==1, rows
print(rows[0]['$3'])"
}
requests_of() { td_requests | py "import json,sys; print(len([r for r in json.load(sys.stdin) if r['query'].get('interval')=='$1' and r['query'].get('symbol')=='$2']))"; }

# 1. History with a hole: three H1 candles of XAU/USD the venue never sends.
ck fetch --source "$SRC" "${CFG[@]}"
check "the metals fetch succeeds" expect_rc 0
check "the fetch reports the hole as an open gap" \
    out_has "$SRC XAU/USD H1: fetched 100, stored 99, rejected 0, forming dropped 1, open gaps 1 (new 1, filled 0)"
ck gaps H1 --source "$SRC" --symbol XAU/USD --format json "${CFG[@]}"
check "gaps lists the ledger" expect_rc 0
cp "$T/out" "$T/gaps.json"
check "the ledger holds one open gap of 3 candles" py "
import json; g=json.load(open('$T/gaps.json'))
assert len(g)==1 and g[0]['count']==3 and g[0]['state']=='open', g
assert g[0]['first']=='2024-03-13T09:00:00Z' and g[0]['last']=='2024-03-13T11:00:00Z', g"

ck coverage --source "$SRC" --format json "${CFG[@]}"
check "coverage succeeds" expect_rc 0
cp "$T/out" "$T/cov.json"
check "coverage's missing candles are the ledger's" test "$(cov_field XAU/USD H1 missing)" = 3
check "coverage counts the ledger's open gap" test "$(cov_field XAU/USD H1 open_missing)" = 3
check "expected = stored + missing, by the metals calendar" py "
import json
r=[r for r in json.load(open('$T/cov.json'))['series'] if r['timeframe']=='H1'][0]
assert r['stored']==99 and r['expected']==102 and r['behind']==0, r
assert r['complete']=='97.05' and r['open_gaps']==1 and r['unfillable_gaps']==0, r
assert r['last']=='2024-03-15T11:00:00Z' and r['retention']=='30d', r
assert r['horizon']=='2024-02-14T12:07:00Z', r"
check "the H4 row has its own extent and no retention" py "
import json
r=[r for r in json.load(open('$T/cov.json'))['series'] if r['timeframe']=='H4'][0]
assert r['stored']>0 and r['missing']==0 and r['retention'] is None and not r['derived'], r"
ck coverage --symbol XAU/USD --timeframe H1 --format csv "${CFG[@]}"
check "the CSV map has a header and one row" expect_rc 0
check "the CSV row names the series" py "
import csv; rows=list(csv.DictReader(open('$T/out')))
assert len(rows)==1 and rows[0]['symbol']=='XAU/USD' and rows[0]['missing']=='3', rows"
ck coverage --timeframe Q7 "${CFG[@]}"
check "a bad timeframe is a usage error naming it" rc_and_err 2 "'Q7' is not a timeframe"

# 2. Derived H4: built after the H1 refresh, never asked of the venue, equal to the venue's.
ck fetch --source "${SRC}b" "${CFG[@]}"
check "the crypto fetch succeeds" expect_rc 0
check "no 4h request went to the venue for the derived H4" test "$(requests_of 4h BTC/USD)" = 0
"$CK_BIN" candles H4 --source "${SRC}b" --symbol BTC/USD --limit 0 --order asc --format json "${CFG[@]}" >"$T/h4.json"
check "derived H4 candles equal the fake's own 4h bars" py "
import json, urllib.request
mine=json.load(open('$T/h4.json'))
assert len(mine) >= 20, len(mine)
url='$TD_URL/time_series?symbol=BTC/USD&interval=4h&timezone=UTC&order=asc&outputsize=5000&start_date=' + mine[0]['time'][:10]
req=urllib.request.Request(url, headers={'Authorization': 'apikey $KEY'})
theirs={v['datetime'].replace(' ', 'T') + 'Z': v for v in json.load(urllib.request.urlopen(req))['values']}
strip=lambda s: s.rstrip('0').rstrip('.') if '.' in s else s
for c in mine:
    v=theirs[c['time']]
    for f in ('open', 'high', 'low', 'close', 'volume'):
        assert c[f]==strip(v[f]), (c['time'], f, c[f], v[f])
"
check "the newest derived H4 is the last closed one" py "
import json; assert json.load(open('$T/h4.json'))[-1]['time']=='2024-03-15T08:00:00Z'"
ck fetch --source "${SRC}cb" "${CFG[@]}"
check "Coinbase with a derived H4 fetches" expect_rc 0
check "Coinbase was asked for hours only, never for 4-hour buckets" py "
import json, urllib.request
rs=json.load(urllib.request.urlopen('$CB_URL/__requests'))
assert rs and all(r['query']['granularity']=='3600' for r in rs), rs"
"$CK_BIN" candles H4 --source "${SRC}cb" --symbol BTC/USD --limit 0 --order asc --format json "${CFG[@]}" >"$T/cbh4.json"
"$CK_BIN" candles H1 --source "${SRC}cb" --symbol BTC/USD --limit 0 --order asc --format json "${CFG[@]}" >"$T/cbh1.json"
check "Coinbase's H4 covers every whole 4-hour period of its stored hours" py "
import json
from datetime import datetime, timezone
t=lambda s: int(datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).timestamp())
h1=[t(c['time']) for c in json.load(open('$T/cbh1.json'))]
h4=[t(c['time']) for c in json.load(open('$T/cbh4.json'))]
first=-(-h1[0] // 14400) * 14400
want=list(range(first, t('2024-03-15T12:00:00Z'), 14400))
assert len(h1)==len(set(h1)) and h1[-1]==t('2024-03-15T11:00:00Z'), h1
assert h4==want and len(h4) >= 10, (h4, want)"

ck derive --source "${SRC}b" --symbol BTC/USD --from H1 --to D1 "${CFG[@]}"
check "derive D1 from H1 succeeds" expect_rc 0
# 99 H1 candles from 2024-03-11T12:00Z: the 11th lacks its first 12 hours, the 15th is not over.
check "derive says what it built" \
    out_has "BTC/USD: 3 D1 candles built from 99 H1 candles; periods left out for a missing lower candle: 1"
ck derive --source "$SRC" --from H4 --to H1 "${CFG[@]}"
check "a lower timeframe cannot be derived from a higher one" rc_and_err 2 "H1 candles cannot be built from H4 candles"

# 3. verify: the venue's H4 agrees with its H1; the hole's period is not compared.
ck fetch --source "$SRC" --timeframe H4 "${CFG[@]}"
check "the H4 fetch succeeds" expect_rc 0
# From the first whole H4 period of the stored H1 (2024-03-11T02:00Z): 04:00.
ck verify --source "$SRC" --symbol XAU/USD --timeframe H4 --from H1 --since 2024-03-11T04:00:00Z "${CFG[@]}"
check "the venue's H4 matches H1 derived" expect_rc 0
check "only the period of the hole is not compared" \
    err_has "XAU/USD H4 against H1: 25 candles compared, 0 differ; 1 not compared (lower candles missing)"

# 4. A planted mismatch: the venue's H4 high of one candle is wrong.
td_control '{"overrides": [{"symbol": "XAU/USD", "interval": "4h", "datetime": "2024-03-14T12:00:00Z", "field": "high", "value": "2500.00"}]}'
ck fetch --refetch --source "$SRC" --timeframe H4 "${CFG[@]}"
check "the refetch stores the venue's wrong value" expect_rc 0
ck verify --source "$SRC" --symbol XAU/USD --timeframe H4 --from H1 --format json "${CFG[@]}"
check "verify exits 1 on a mismatch" expect_rc 1
check "the mismatch names the candle and the field, with the difference" py "
import json, decimal
m=json.load(open('$T/out'))
assert len(m)==1, m
m=m[0]
assert m['time']=='2024-03-14T12:00:00Z' and m['field']=='high' and m['stored']=='2500', m
assert decimal.Decimal(m['difference'])==decimal.Decimal('2500')-decimal.Decimal(m['derived']), m"
check "the summary counts one differing candle" err_has ", 1 differ;"

# 5. GET /coverage from the daemon: the same map.
up() { curl -fs "$API/health" >/dev/null 2>&1; }
daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 up
check "GET /coverage shows the hole as the ledger does" py "
import json, urllib.request
j=json.load(urllib.request.urlopen('$API/coverage?symbol=XAU/USD&timeframe=H1'))
r=j['series']
assert len(r)==1 and r[0]['missing']==3 and r[0]['open_missing']==3 and r[0]['source']=='$SRC', j"
check "GET /coverage lists the derived H4 as derived" py "
import json, urllib.request
r=json.load(urllib.request.urlopen('$API/coverage?source=${SRC}b&timeframe=H4'))['series']
assert len(r)==1 and r[0]['derived'] is True and r[0]['stored']>0, r"
check "GET /coverage refuses a bad timeframe" py "
import urllib.request, urllib.error
try:
    urllib.request.urlopen('$API/coverage?timeframe=Q7'); raise SystemExit('accepted')
except urllib.error.HTTPError as e:
    assert e.code==400 and b'Q7' in e.read(), e"
check "GET /coverage refuses an overlong symbol" py "
import urllib.request, urllib.error
try:
    urllib.request.urlopen('$API/coverage?symbol=' + 'X' * 65); raise SystemExit('accepted')
except urllib.error.HTTPError as e:
    assert e.code==400 and b'symbol' in e.read(), e"
check "the daemon stops with exit 0" daemon_stop "$DPID"

finish
