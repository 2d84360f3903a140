#!/usr/bin/env bash
# `candlekeep import` through the real binary, with the clock fixed
# (CANDLEKEEP_NOW): a Binance kline file (milliseconds, no header) with a
# hole is stored exactly and the hole is in the gap ledger; importing it
# again changes nothing; a file with one bad line in the middle, or with a
# forming candle, stores nothing and says where; --dry-run stores nothing; a
# file holding the missing candle fills the gap; Binance microseconds with a
# header and a generic file; standard input; usage errors; the progress bar
# only on a terminal.
# ck-test: pg
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG
export CANDLEKEEP_NOW=2024-06-01T00:00:00Z
cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = BTC/USDT ETH/USDT
timeframes = M15 H1
calendar = crypto
INI
CFG=(--config "$T/ck.ini")
IMP=(--source "$SRC" --config "$T/ck.ini")

# binance FILE START_ISO TF_SECONDS COUNT [SKIP_INDEX] [UNIT_PER_S]: a Binance
# kline file without a header, candle i opening at START + i * TF.
binance() {
    py "
import sys, datetime
path, start, tf, n, skip, unit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
t0 = int(datetime.datetime.fromisoformat(start.replace('Z', '+00:00')).timestamp())
with open(path, 'w') as f:
    for i in range(n):
        if i == skip:
            continue
        t = (t0 + i * tf) * unit
        f.write(f'{t},42000.01000000,{42100 + i}.50000000,41900.00000000,42050.25000000,12.34500000,{t + tf * unit - 1},518000.1,100,6.1,250000.2,0\n')
" "$@"
}
# count TF SYMBOL: how many candles of the series are stored.
count() {
    ck_out candles "$1" --symbol "$2" --source "$SRC" --limit 0 --format json "${CFG[@]}" |
        py "import json,sys; print(len(json.load(sys.stdin)))"
}
count_is() { [ "$(count "$1" "$2")" = "$3" ] || { echo "count $1 $2: $(count "$1" "$2"), expected $3" >&2; return 1; }; }
# gaps_json: the gap ledger of BTC/USDT H1 as JSON into $T/gaps.json.
gaps_json() { ck_out gaps H1 --symbol BTC/USDT --source "$SRC" --days 3650 --format json "${CFG[@]}" >"$T/gaps.json"; }
gap_is() {
    gaps_json && py "
import json, sys
g = json.load(open('$T/gaps.json'))
assert len(g) == 1 and g[0]['first'] == '2024-01-01T10:00:00Z' and g[0]['count'] == 1 and g[0]['state'] == sys.argv[1], g
" "$1"
}

# 1. A Binance file of 48 H1 candles with the 11th (10:00) missing.
binance "$T/h1.csv" 2024-01-01T00:00:00Z 3600 48 10 1000
ck import "$T/h1.csv" --symbol BTC/USDT --timeframe H1 "${IMP[@]}"
check "import exits 0" expect_rc 0
check "import says what it stored" out_has "imported 47 candles of $SRC BTC/USDT H1 from 2024-01-01T00:00:00Z to 2024-01-02T23:00:00Z (binance)"
check "import says the gap it found" out_has "1 open (1 new, 0 filled)"
check "no progress bar when stderr is not a terminal" lacks "storing" "$T/err"
check "47 candles stored" count_is H1 BTC/USDT 47
check_prices() {
    ck_out candles H1 --symbol BTC/USDT --source "$SRC" --limit 0 --order asc --format json "${CFG[@]}" | py "
import json, sys
c = json.load(sys.stdin)
assert c[0]['time'] == '2024-01-01T00:00:00Z', c[0]
assert str(c[0]['open']) == '42000.01' and str(c[0]['close']) == '42050.25' and str(c[0]['volume']) == '12.345', c[0]
assert str(c[-1]['high']) == '42147.5', c[-1]
"
}
check "prices and volumes are stored exactly" check_prices
check "the hole is one open gap at 10:00" gap_is open

# 2. The same file again: nothing changes.
ck import "$T/h1.csv" --symbol BTC/USDT --timeframe H1 "${IMP[@]}"
check "re-import exits 0" expect_rc 0
check "re-import finds the same gap, not a new one" out_has "1 open (0 new, 0 filled)"
check "still 47 candles" count_is H1 BTC/USDT 47

# 3. One bad line in the middle of new candles: nothing of the file is stored.
binance "$T/bad.csv" 2024-01-03T00:00:00Z 3600 40 -1 1000
sed -i '20s/,42119\.50000000,/,NaN,/' "$T/bad.csv"
ck import "$T/bad.csv" --symbol BTC/USDT --timeframe H1 "${IMP[@]}"
check "a bad line fails the import" rc_and_err 1 "$T/bad.csv:20: column 3 (high) 'NaN': is not a decimal number"
check "the error says nothing was stored" err_has "nothing stored"
check "nothing of the bad file is stored" count_is H1 BTC/USDT 47

# 4. A forming candle: the last one opens at now (2024-06-01T00:00), nothing stored.
binance "$T/forming.csv" 2024-05-31T22:00:00Z 3600 3 -1 1000
ck import "$T/forming.csv" --symbol BTC/USDT --timeframe H1 "${IMP[@]}"
check "a forming candle is refused" rc_and_err 1 "forming.csv:3: column 1 (open_time) '1717200000000': the candle is still forming"
check "nothing of the forming file is stored" count_is H1 BTC/USDT 47
binance "$T/closed.csv" 2024-05-31T21:00:00Z 3600 3 -1 1000
ck import "$T/closed.csv" --symbol BTC/USDT --timeframe H1 --dry-run "${IMP[@]}"
check "a dry run of the candles that have closed succeeds" expect_rc 0
check "a dry run says it stored nothing" out_has "3 valid candles of $SRC BTC/USDT H1 from 2024-05-31T21:00:00Z to 2024-05-31T23:00:00Z (binance), 3 lines; dry run: nothing stored"
check "the dry run stored nothing" count_is H1 BTC/USDT 47

# 5. The missing candle, from standard input, fills the gap.
binance "$T/hole.csv" 2024-01-01T10:00:00Z 3600 1 -1 1000
ck import - --symbol BTC/USDT --timeframe H1 --format binance "${IMP[@]}" <"$T/hole.csv"
check "importing the missing candle from stdin exits 0" expect_rc 0
check "the import says the gap is filled" out_has "0 open (0 new, 1 filled)"
check "48 candles stored" count_is H1 BTC/USDT 48
check "the gap is filled in the ledger" gap_is filled

# 6. Binance microseconds with a header (the 2025+ spot files), M15.
binance "$T/us_rows.csv" 2024-05-01T00:00:00Z 900 8 -1 1000000
{
    echo "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
    cat "$T/us_rows.csv"
} >"$T/us.csv"
ck import "$T/us.csv" --symbol BTC/USDT --timeframe M15 "${IMP[@]}"
check "a microsecond file with a header is imported" expect_rc 0
check "microseconds are read, the header recognised" out_has "imported 8 candles of $SRC BTC/USDT M15 from 2024-05-01T00:00:00Z to 2024-05-01T01:45:00Z (binance, header)"
check "8 M15 candles stored" count_is M15 BTC/USDT 8
# The H1 file read as M15: the close times say so.
ck import "$T/h1.csv" --symbol BTC/USDT --timeframe M15 "${IMP[@]}"
check "a file of another timeframe is refused" rc_and_err 1 "h1.csv:1: column 7 (close_time) '1704070799999': the candle spans H1, not M15"

# 7. A generic file, columns in their own order, ISO times with an offset.
printf 'time,close,open,high,low\n2024-01-01T01:00:00+01:00,2.5,2,3,1\n2024-01-01T01:00:00Z,2.25,2.5,3,2\n2024-01-01T02:00:00Z,2,2.25,2.5,1.5' >"$T/generic.csv"
ck import "$T/generic.csv" --symbol ETH/USDT --timeframe H1 --format=generic "${IMP[@]}"
check "a generic file is imported" expect_rc 0
check "it says generic, with a header" out_has "imported 3 candles of $SRC ETH/USDT H1 from 2024-01-01T00:00:00Z to 2024-01-01T02:00:00Z (generic, header)"
check "3 ETH/USDT candles stored" count_is H1 ETH/USDT 3
printf 'time,open,high,low,close\n2024-01-01T00:00:00Z,1,1,1,1\n2024-01-01T00:00:00Z,1,1,1,1\n' >"$T/dup.csv"
ck import "$T/dup.csv" --symbol ETH/USDT --timeframe H1 "${IMP[@]}"
check "a time twice is refused" rc_and_err 1 "dup.csv:3: column 1 (time) '2024-01-01T00:00:00Z': the same open time is on line 2"
: >"$T/empty.csv"
ck import "$T/empty.csv" --symbol ETH/USDT --timeframe H1 "${IMP[@]}"
check "an empty file is refused" rc_and_err 1 "empty.csv: the file holds no candles"

# 8. Usage and configuration errors.
ck import "$T/h1.csv" --symbol BTC/USDT --timeframe H1 --source nosuch "${CFG[@]}"
check "an unknown source is a configuration error" rc_and_err 2 "no source 'nosuch' is configured"
ck import "$T/h1.csv" --symbol BTC/USDT "${IMP[@]}"
check "--timeframe is required" rc_and_err 2 "--timeframe is required"
ck import "$T/h1.csv" --symbol BTC/USDT --timeframe H1 --format json "${IMP[@]}"
check "--format is the file's format" rc_and_err 2 "--format 'json' is not auto, binance or generic"
ck import "$T/nonexistent.csv" --symbol BTC/USDT --timeframe H1 "${IMP[@]}"
check "a missing file fails" rc_and_err 1 "cannot open '$T/nonexistent.csv'"
ck import "$T/h1.csv" --symbol XRP/USDT --timeframe H1 --dry-run "${IMP[@]}"
check "a symbol the source does not list is imported, with a note" rc_and_err 0 "note: source '$SRC' does not list XRP/USDT"

# 9. On a terminal, a progress bar on stderr (script(1) gives the command one).
if command -v script >/dev/null; then
    script -qec "$CK_BIN import $T/h1.csv --symbol BTC/USDT --timeframe H1 --source $SRC --config $T/ck.ini" "$T/tty.log" >/dev/null
    check "on a terminal, the progress bar is drawn" file_has "$T/tty.log" "storing  [##############################] 100%"
    check "and the result is printed" file_has "$T/tty.log" "imported 47 candles"
else
    platform_skip "on a terminal, the progress bar is drawn" "script(1) is missing"
fi
finish
