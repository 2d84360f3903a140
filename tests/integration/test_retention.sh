#!/usr/bin/env bash
# `candlekeep retention`: with the clock fixed (CANDLEKEEP_NOW), candles of a
# timeframe with a threshold older than it and backtest results older than
# theirs go, exactly those: a row exactly at the cutoff stays, one a second
# older goes; --dry-run counts the same rows and deletes nothing; a
# timeframe without a threshold is kept and named on stderr; a second run
# finds nothing. Deletes run in small batches here ([retention] batch = 7).
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG
export CANDLEKEEP_NOW=2024-06-01T00:00:00Z
NOW=1717200000 # CANDLEKEEP_NOW
DB="$T/ret.db"
cat >"$T/ck.ini" <<INI
[storage]
url = sqlite:$DB
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = M15 H1
[retention]
M15 = 10d
H1 = 0
backtests = 5d
batch = 7
INI
CFG=(--config "$T/ck.ini")

ck jobs list "${CFG[@]}"
check "the store is created" expect_rc 0
# M15: one candle every 15 minutes from 12 days back to 8 days back, plus one
# a second before the cutoff (not on the grid: the rule is open_time < cutoff).
# H1: 100 candles a year back (no threshold: kept).
py "
import sqlite3,sys
db,src,now=sys.argv[1],sys.argv[2],int(sys.argv[3])
c=sqlite3.connect(db)
def series(tf):
    c.execute('INSERT INTO series (source, symbol, timeframe) VALUES (?, ?, ?)', (src, 'XAU/USD', tf))
    return c.execute('SELECT id FROM series WHERE timeframe=?', (tf,)).fetchone()[0]
m15,h1=series('M15'),series('H1')
S=100000000
rows=[(m15, t, 2*S, 3*S, S, 2*S, None) for t in range(now-12*86400, now-8*86400, 900)]
rows.append((m15, now-10*86400-1, 2*S, 3*S, S, 2*S, None))
rows+=[(h1, now-365*86400+3600*i, 2*S, 3*S, S, 2*S, None) for i in range(100)]
c.executemany('INSERT INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)', rows)
c.commit()" "$DB" "$SRC" "$NOW"
# Expected: M15 candles strictly before now - 10 days.
OLD_M15=$(py "print(len([t for t in range($NOW-12*86400, $NOW-8*86400, 900) if t < $NOW-10*86400]) + 1)")
check "the old M15 candles are 193 (192 on the grid and one a second before the cutoff)" test "$OLD_M15" = 193

# Backtest results, each added with the clock set to its creation time.
backtest_at() {
    CANDLEKEEP_NOW=$(py "import datetime; print(datetime.datetime.fromtimestamp($2, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))") \
        ck backtests add "${CFG[@]}" --name "$1" --params '{}' --metrics '{}'
    expect_rc 0
}
check "a backtest 6 days old" backtest_at old1 $((NOW - 6 * 86400))
check "a backtest 5 days and a second old" backtest_at old2 $((NOW - 5 * 86400 - 1))
check "a backtest exactly 5 days old" backtest_at edge $((NOW - 5 * 86400))
check "a backtest a day old" backtest_at new $((NOW - 86400))

count() { py "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$DB" "$1"; }
M15_SQL="SELECT count(*) FROM candles c JOIN series s ON s.id = c.series_id WHERE s.timeframe = 'M15'"
H1_SQL="SELECT count(*) FROM candles c JOIN series s ON s.id = c.series_id WHERE s.timeframe = 'H1'"
M15_ALL=$(count "$M15_SQL")
# result FILE CATEGORY COLUMN N: the JSON row of CATEGORY says N in COLUMN.
result() {
    py "
import json,sys
rows={r['category']: r for r in json.load(open(sys.argv[1]))}
r=rows[sys.argv[2]]
assert int(r[sys.argv[3]])==int(sys.argv[4]), r" "$@"
}

# --dry-run: the counts, nothing deleted.
ck retention --dry-run --format json "${CFG[@]}"
check "retention --dry-run exits 0" expect_rc 0
cp "$T/out" "$T/dry.json"
check "--dry-run counts the old M15 candles" result "$T/dry.json" M15 would_delete "$OLD_M15"
check "--dry-run counts the two old backtests" result "$T/dry.json" backtests would_delete 2
check "--dry-run shows the M15 cutoff" py "
import json; r=[x for x in json.load(open('$T/dry.json')) if x['category']=='M15'][0]
assert r['cutoff']=='2024-05-22T00:00:00Z' and r['keep']=='10d', r"
check "--dry-run lists no H1 row (no threshold)" py "
import json; assert 'H1' not in [x['category'] for x in json.load(open('$T/dry.json'))]"
check "--dry-run deletes no candle" test "$(count "$M15_SQL")" = "$M15_ALL"
check "--dry-run deletes no backtest" test "$(count 'SELECT count(*) FROM backtests')" = 4

# The run.
ck retention --format json "${CFG[@]}"
check "retention exits 0" expect_rc 0
cp "$T/out" "$T/run.json"
check "it says H1 is kept for ever" err_has "kept for ever: "
check "H1 is among what is kept" py "
import re; l=[x for x in open('$T/err') if 'kept for ever' in x][0]; assert ' H1 ' in l and 'signals' in l, l"
check "it reports the M15 candles deleted" result "$T/run.json" M15 deleted "$OLD_M15"
check "it reports two backtests deleted" result "$T/run.json" backtests deleted 2
check "exactly those M15 candles are gone" test "$(count "$M15_SQL")" = $((M15_ALL - OLD_M15))
check "none older than the cutoff is left" test "$(count "$M15_SQL AND c.open_time < $NOW - 864000")" = 0
check "the candle exactly at the cutoff stays" test "$(count "$M15_SQL AND c.open_time = $NOW - 864000")" = 1
check "H1 candles are all kept" test "$(count "$H1_SQL")" = 100
check "the backtests left are the one at the cutoff and the new one" test \
    "$(py "import sqlite3; print(' '.join(sorted(r[0] for r in sqlite3.connect('$DB').execute('SELECT name FROM backtests'))))")" = "edge new"

ck retention --format json "${CFG[@]}"
check "a second run exits 0" expect_rc 0
check "a second run deletes no candle" result "$T/out" M15 deleted 0
check "nor a backtest" result "$T/out" backtests deleted 0

ck retention --frobnicate "${CFG[@]}"
check "an unknown option exits 2" expect_rc 2
finish
