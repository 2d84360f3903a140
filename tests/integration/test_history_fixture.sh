#!/usr/bin/env bash
# "No false gaps", checked against history that candlekeep did not write:
# three weeks of USD/CHF half-hour quotes from a published dataset
# (tests/fixtures/usdchf/README.md), served by the fake Twelve Data as
# recorded, across the European (1997-03-30) and the American (1997-04-06)
# DST changes. The dataset's trading week runs from Sunday 18:00 to Friday
# 18:00 New York (Monday to Friday, Zurich time): the metals calendar
# (Sunday 18:00 to Friday 17:00, pausing 17:00-18:00) must find every candle
# it expects in it; the forex calendar (from Sunday 17:00) must miss exactly
# the Sunday 17:00-18:00 hour the dataset does not cover, and nothing else.
# (The metals calendar stands in for "the dataset's own week" here: USD/CHF
# is not a metal, but no other calendar starts the week at 18:00.)
# ck-test: pg
source "$(dirname "$0")/lib.sh"

KEY="sk-test-history-1997"
FIXTURE="$CK_SOURCE_DIR/tests/fixtures/usdchf/usdchf_30min_1997-03-23_1997-04-11.csv"
start_fake_td "$KEY"
td_control "{\"replay\": [{\"symbol\": \"USD/CHF\", \"interval\": \"30min\", \"file\": \"$FIXTURE\"}]}"

cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[source.${SRC}m]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = USD/CHF
timeframes = M30
calendar = metals
backfill = 1000
[source.${SRC}f]
kind = twelvedata
api_key = $KEY
base_url = $TD_URL
symbols = USD/CHF
timeframes = M30
calendar = forex
backfill = 1000
INI
unset TWELVE_DATA_API_KEY DATABASE_URL
CFG=(--config "$T/ck.ini")
# Saturday after the last recorded week: every recorded candle is closed.
export CANDLEKEEP_NOW=1997-04-12T12:00:00Z
td_control "{\"now\": \"$CANDLEKEEP_NOW\"}"

check "the fixture has the 720 half-hours of three trading weeks" \
    test "$(($(wc -l <"$FIXTURE") - 1))" = 720

ck fetch --source "${SRC}m" "${CFG[@]}"
check "metals calendar: the fetch succeeds" expect_rc 0
check "metals calendar: every candle stored, 0 gaps over both DST changes" \
    out_has "USD/CHF M30: fetched 720, stored 720, rejected 0, forming dropped 0, open gaps 0"
ck gaps M30 --symbol USD/CHF --source "${SRC}m" --days 10000 --format json "${CFG[@]}"
check "metals calendar: gaps exits 0" expect_rc 0
check "metals calendar: the gap ledger is empty" py "
import json; g=json.load(open('$T/out')); assert g==[], g"

ck fetch --source "${SRC}f" "${CFG[@]}"
check "forex calendar: the fetch succeeds" expect_rc 0
check "forex calendar: one gap" out_has "USD/CHF M30: fetched 720, stored 720, rejected 0, forming dropped 0, open gaps 1"
ck gaps M30 --symbol USD/CHF --source "${SRC}f" --days 10000 --format json "${CFG[@]}"
check "forex calendar: gaps exits 0" expect_rc 0
check "forex calendar: only the Sunday 17:00-18:00 New York hours the dataset leaves out" py "
import json
g=sorted((x['first'], x['last'], x['count']) for x in json.load(open('$T/out')))
# The history starts on Sunday 1997-03-23 at 18:00 New York: nothing before
# it is expected. On 1997-03-30 Europe had moved to summer time and America
# not yet, so Zurich midnight was 17:00 New York: no hour is missing that
# week. On 1997-04-06 (EDT) the dataset starts at 18:00 again: 21:00 and
# 21:30 UTC are missing.
want=[('1997-04-06T21:00:00Z', '1997-04-06T21:30:00Z', 2)]
assert g==want, g"
finish
