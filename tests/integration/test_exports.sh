#!/usr/bin/env bash
# Exports through the real binary, on a store filled by `candlekeep fetch`
# from a fake Twelve Data:
#
#   - candles as CSV (the rows `candlekeep candles` shows), as one JSON
#     array of the same rows, gzip-compressed (the same bytes once
#     inflated), and filtered by range;
#   - job runs as CSV and JSON;
#   - TradeNote into a directory: the template's header; a second run
#     writes no day again; the tradenote_export job writes into [export] dir;
#   - bad input is a usage error naming it.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-export-4c3b2a"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_NOW
start_fake_td "$KEY"
EDIR="$T/exports"
cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[export]
dir = $EDIR
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = BTC/USD
timeframes = H1
calendar = crypto
backfill = 30
INI
CFG=(--config "$T/ck.ini")

ck_ok fetch "${CFG[@]}"

ck export candles --format csv --source "$SRC" --out "$T/c.csv" "${CFG[@]}"
check "export candles --format csv" expect_rc 0
check "  says how many went where" out_has "candles exported to $T/c.csv"
ck candles H1 --source "$SRC" --symbol BTC/USD --limit 5000 --order asc --format csv "${CFG[@]}"
check "candles --format csv" expect_rc 0
cp "$T/out" "$T/shown.csv"
same_rows() {
    py "
import csv
e=list(csv.DictReader(open('$T/c.csv')))
s=list(csv.DictReader(open('$T/shown.csv')))
assert len(e)==len(s)>=20, (len(e), len(s))
for a,b in zip(e,s):
    assert a['source']=='$SRC' and a['symbol']=='BTC/USD' and a['timeframe']=='H1', a
    for k in ('open','high','low','close'):
        assert a[k]==b[k], (k, a, b)"
}
check "  the rows candlekeep candles shows, oldest first" same_rows

ck export candles --format csv --source "$SRC" --gzip --out "$T/c.csv.gz" "${CFG[@]}"
check "export --gzip" expect_rc 0
gz_same() { py "import gzip; assert gzip.open('$T/c.csv.gz').read()==open('$T/c.csv','rb').read()"; }
check "  the same bytes once inflated" gz_same

ck export candles --format json --source "$SRC" "${CFG[@]}"
check "export candles --format json to stdout" expect_rc 0
json_same() {
    py "
import csv, json
j=json.load(open('$T/out'))
c=list(csv.DictReader(open('$T/c.csv')))
assert len(j)==len(c), (len(j), len(c))
assert [x['close'] for x in j]==[x['close'] for x in c]
assert [x['time'] for x in j]==[x['time'] for x in c]"
}
check "  one array of the same candles" json_same

FIRST=$(py "import csv; print(list(csv.DictReader(open('$T/c.csv')))[2]['time'])")
ck export candles --format csv --source "$SRC" --since "$FIRST" --until "$FIRST" "${CFG[@]}"
check "--since equal to --until is a usage error" rc_and_err 2 "--since is not before --until"
ck export candles --format csv --source "$SRC" --since "$FIRST" "${CFG[@]}"
check "export --since" expect_rc 0
since_rows() { py "
import csv
rows=list(csv.DictReader(open('$T/out')))
assert rows[0]['time']=='$FIRST' and len(rows)==len(list(csv.DictReader(open('$T/c.csv'))))-2, rows[:1]"; }
check "  starts at it" since_rows

ck export jobs --format json "${CFG[@]}"
check "export jobs --format json" expect_rc 0
is_array() { py "import json; assert isinstance(json.load(open('$T/out')), list)"; }
check "  is a JSON array" is_array

mkdir "$T/tn"
ck export signals --format tradenote --out "$T/tn" "${CFG[@]}"
check "export signals --format tradenote into a directory" expect_rc 0
check "  says how many days" out_has "0 days exported to $T/tn"
ck export outcomes --format tradenote "${CFG[@]}"
check "export outcomes --format tradenote to stdout" expect_rc 0
check "  has the template's header" out_has "Account,T/D,S/D,Currency,Type,Side,Symbol,Qty,Price,Exec Time,Comm,SEC,TAF,NSCC,Nasdaq,ECN Remove,ECN Add,Gross Proceeds,Net Proceeds,Clr Broker,Liq,Note"

ck jobs run tradenote_export "${CFG[@]}"
check "the tradenote_export job runs" expect_rc 0
check "  and makes [export] dir" test -d "$EDIR"

ck export trades --format csv "${CFG[@]}"
check "export of an unknown kind is a usage error" rc_and_err 2 "candles, signals, outcomes"
ck export candles --format tradenote "${CFG[@]}"
check "tradenote of candles is a usage error" rc_and_err 2 "signals and outcomes"
ck export candles --format xml "${CFG[@]}"
check "an unknown format is a usage error naming it" rc_and_err 2 "--format 'xml'"
ck export candles --format csv --since yesterday "${CFG[@]}"
check "a bad --since is a usage error naming it" rc_and_err 2 "--since 'yesterday'"
ck export candles --format csv --out "$T/no/such/dir/c.csv" "${CFG[@]}"
check "an output that cannot be written fails naming it" rc_and_err 1 "$T/no/such/dir/c.csv"

finish
