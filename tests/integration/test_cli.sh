#!/usr/bin/env bash
# The command line: usage errors exit 2 with a message naming the problem,
# --help exits 0, config check reports file:line: key.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
cd "$T"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG

ck
check "no subcommand exits 2" expect_rc 2
ck frobnicate
check "an unknown subcommand exits 2" expect_rc 2
check "an unknown subcommand is named" err_has "'frobnicate' is not a subcommand"
ck --version
check " exits 0" expect_rc 0
check "--version prints the version" out_has "candlekeep "
for c in fetch candles gaps config; do
    ck "$c" --help
    check "$c --help exits 0" expect_rc 0
    check "$c --help prints usage" out_has "usage: candlekeep $c"
done

ck candles
check "candles without a timeframe exits 2" expect_rc 2
ck candles M7
check "a bad timeframe exits 2" expect_rc 2
check "a bad timeframe is named with the valid ones" err_has "'M7' is not a timeframe (M1 M5 M15 M30 H1 H4 D1 W1)"
ck candles M15 --format xml
check "a bad format exits 2" expect_rc 2
check "a bad format is named" err_has "--format 'xml'"
ck candles M15 --start yesterdayish
check "a bad time exits 2" expect_rc 2
check "a bad time is named" err_has "--start 'yesterdayish' is not a time"
ck candles M15 --limit -3
check "a negative limit exits 2" expect_rc 2
ck candles M15 --start 2024-02-01 --end 2024-01-01
check "start after end exits 2" expect_rc 2
ck gaps H1 --state weird
check "a bad gap state exits 2" expect_rc 2
ck fetch --timeframe M5
check "fetch of an unconfigured timeframe exits 2" expect_rc 2
check "fetch says nothing matches" err_has "no configured series matches"

# With no configuration at all, defaults apply (SQLite in the current directory).
ck candles M15 --format csv
check "candles on an empty default store exits 0" expect_rc 0
check "csv has a header" out_has "source,symbol,timeframe,time,open,high,low,close,volume"
check "the default SQLite file is in the current directory" test -f "$T/candlekeep.db"
ck candles M15 --format json
check "candles M15 exits 0" expect_rc 0
check "json of nothing is an empty array" out_has "[]"

cat >"$T/bad.ini" <<'INI'
[storage]
url = sqlite:x.db
[source.twelvedata]
symbol = XAU/USD
timeframes = M15 H2
backfil = 10
[scheduler]
workers = 0
INI
ck config check --config "$T/bad.ini"
check "config check with problems exits 2" expect_rc 2
check "unknown key named with file and line" err_has "$T/bad.ini:4: key 'symbol': unknown key in section [source.twelvedata]"
check "bad timeframe named with file and line" err_has "$T/bad.ini:5: key 'timeframes': 'H2' is not a timeframe"
check "second unknown key reported too" err_has "$T/bad.ini:6: key 'backfil': unknown key"
check "out of range named" err_has "$T/bad.ini:8: key 'workers': 0 is out of range (1 to 64)"
check "the source without its API key is reported too" err_has "$T/bad.ini:3: key 'api_key'"
check "the count is reported" err_has "5 problems"
ck fetch --config "$T/bad.ini"
check "other commands refuse a bad config with exit 2" expect_rc 2
ck config check --config "$T/missing.ini"
check "a missing config file exits 2" expect_rc 2
check "a missing config file is named" err_has "$T/missing.ini: cannot read configuration file"

cat >"$T/good.ini" <<'INI'
[storage]
url = sqlite:good.db
[source.twelvedata]
api_key = ${CK_SECRET_FOR_TEST}
INI
export CK_SECRET_FOR_TEST=abcdef123456
ck config check --config "$T/good.ini"
check "a good config passes" expect_rc 0
check "a good config says ok" out_has "good.ini: ok"
ck config show --config "$T/good.ini"
check "config show exits 0" expect_rc 0
check "config show masks the key" out_has "api_key = ***"
check "config show never prints the key" lacks abcdef123456 "$T/out" "$T/err"
finish
