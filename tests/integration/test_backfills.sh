#!/usr/bin/env bash
# Backfill through the real binary and a fake Twelve Data: a range stores
# every candle the fake has, page by page; the venue's first candle is a
# beyond_history note, not an error; a backfill killed mid-way (kill -9
# while the fake holds its answer) continues from its position when run
# again, and the fake's request log shows no window asked twice but the
# one in flight; on the free tier (8 a minute) the backfill leaves the
# reserve to the live refresh, whose request is granted while the
# backfill runs; POST /backfills (bearer token) queues one that the
# daemon's `backfill` job carries to its end, as `jobs run backfill` does
# the one the command left deferred, and GET /backfills shows it.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES CANDLEKEEP_NOW
KEY="sk-backfill-7c6b5a4d3e"
TOKEN="tok-backfill-0a9b8c7d"
start_fake td fake_twelvedata.py --api-key "$KEY"
TD=$(cat "$T/td.url")
fake_ctl "$TD" '{"limits": "unlimited"}'

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
NEVER="0 0 1 1 *"
# write_ini RATE_LIMIT URL: the test's config, the source's budget RATE_LIMIT, its fake at URL.
write_ini() {
    {
        cat <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$PORT
token = $TOKEN
[log]
level = info
file = $T/daemon.log
[jobs]
refresh_candles_M15 = $NEVER
backfill = $NEVER
[ingest]
backfill_reserve = 25%
[source.$SRC]
kind = twelvedata
api_key = $KEY
base_url = $2
symbols = BTC/USD
timeframes = M15
calendar = crypto
backfill = 10
rate_limit = $1
daily_quota = 0
INI
    } >"$T/ck.ini"
}
write_ini 600/1m "$TD"
CFG=(--config "$T/ck.ini")

requests() { curl -fsS "$TD/__requests"; }
# count TF START END: stored candles of BTC/USD in TF with open times in [START, END].
count() {
    ck_out candles "$1" --source "$SRC" --symbol BTC/USD --start "$2" --end "$3" --limit 0 \
        --format csv "${CFG[@]}" >"$T/count.csv" &&
        py "print(len(open('$T/count.csv').read().splitlines()) - 1)"
}
# bf_id: the backfill id the last run printed.
bf_id() { sed -n 's/^backfill \([0-9]*\): .*/\1/p' "$T/out" | head -n 1; }
# field ID KEY: KEY of backfill ID as `backfill --list --format json` shows it.
field() {
    ck_out backfill --list --format json "${CFG[@]}" |
        py "import json,sys; print(next(b['$2'] for b in json.load(sys.stdin) if b['id'] == '$1' or str(b['id']) == '$1'))"
}

# --- a range: every candle, one request per page ---
ck backfill --source "$SRC" --symbol BTC/USD --timeframe M5 --since 2024-01-01 --until 2024-02-01 "${CFG[@]}"
check "a backfill of January exits 0" expect_rc 0
check "it says it is done" out_has ": done: 8928 candles stored in 2 requests"
check "every M5 candle of January is stored" test "$(count M5 2024-01-01 2024-01-31T23:55:00Z)" = 8928
check "nothing after --until" test "$(count M5 2024-02-01 2024-02-02)" = 0
requests >"$T/req1.json"
check "two requests, each a window of one page from the position" py "
import json
r = json.load(open('$T/req1.json'))
q = [(x['query']['start_date'], x['query'].get('end_date')) for x in r]
assert q == [('2024-01-01 00:00:00', '2024-01-18 08:35:00'),
             ('2024-01-18 08:35:00', '2024-02-04 17:10:00')], q
assert all(x['answer'] == 0 for x in r), r"

# --- the venue's first candle ---
curl -fsS -X POST "$TD/__reset" >/dev/null
fake_ctl "$TD" '{"limits": "unlimited", "holes": [{"symbol": "BTC/USD", "from": "2000-01-01T00:00:00Z", "to": "2023-06-01T00:00:00Z"}]}'
ck backfill --source "$SRC" --symbol BTC/USD --timeframe H1 --since 2023-05-20 --until 2023-06-03 "${CFG[@]}"
check "a backfill from before the venue's history exits 0" expect_rc 0
check "it notes beyond_history at the first candle" \
    out_has "note: beyond_history: the venue's first H1 candle is at 2023-06-01T00:00:00Z"
check "the candles from the first one are stored" test "$(count H1 2023-05-20 2023-06-02T23:00:00Z)" = 48
ck backfill --source "$SRC" --symbol BTC/USD --timeframe H1 --since 2022-01-01 --until 2022-02-01 "${CFG[@]}"
check "a range the venue has nothing in exits 0" expect_rc 0
check "with a beyond_history note" out_has "note: beyond_history: the venue has no H1 candles"

# --- killed mid-way, run again: it continues ---
curl -fsS -X POST "$TD/__reset" >/dev/null
fake_ctl "$TD" '{"limits": "unlimited", "delay": 2}'
ARGS=(backfill --source "$SRC" --symbol BTC/USD --timeframe M1 --since 2024-03-01 --until 2024-03-15 "${CFG[@]}")
daemon_start "$T/bf1.log" "${ARGS[@]}"
BF=$DAEMON_PID
first_page() { grep -q "^backfill [0-9]*: at " "$T/bf1.log"; }
check "the first page is stored" wait_for 30 first_page
fake_ctl "$TD" '{"hold": true}'
held() { curl -fsS "$TD/__control" | py "import json,sys; assert json.load(sys.stdin)['held'] >= 1"; }
check "the next request is in flight, held" wait_for 30 held
check "kill -9 of the backfill" daemon_kill "$BF"
requests >"$T/req_killed.json"
ID=$(sed -n 's/^backfill \([0-9]*\): .*/\1/p' "$T/bf1.log" | head -n 1)
check "its position is in the database" test "$(field "$ID" state)" = running
fake_ctl "$TD" '{"hold": false, "delay": 0}'
ck "${ARGS[@]}"
check "run again, it exits 0" expect_rc 0
check "it resumes" out_has "backfill $ID: $SRC BTC/USD M1: resuming"
check "every M1 candle of the range is stored" test "$(count M1 2024-03-01 2024-03-14T23:59:00Z)" = 20160
requests >"$T/req2.json"
check "no window asked twice but the one in flight" py "
import json
r = json.load(open('$T/req2.json'))
killed = json.load(open('$T/req_killed.json'))
in_flight = [x['query']['start_date'] for x in killed if x['answer'] is None]
assert len(in_flight) == 1, killed
starts = [x['query']['start_date'] for x in r]
twice = sorted({s for s in starts if starts.count(s) > 1})
assert twice == in_flight, (twice, in_flight)
assert starts.count(in_flight[0]) == 2, starts
# the pages are in order, from --since, each after the last
assert starts[0] == '2024-03-01 00:00:00', starts
assert sorted(set(starts)) == sorted(set(starts), key=starts.index), starts"
check "the backfill is done" test "$(field "$ID" state)" = done

# --- the free tier: the reserve is left to the live refresh ---
# A fake of its own, on the free tier (8 a minute): a budget of its own too.
start_fake free fake_twelvedata.py --api-key "$KEY"
FREE=$(cat "$T/free.url")
write_ini 8/1m "$FREE"
daemon_start "$T/bf2.log" backfill --source "$SRC" --symbol BTC/USD --timeframe M1 \
    --since 2023-01-01 --until 2023-03-01 "${CFG[@]}"
BF=$DAEMON_PID
sent() { curl -fsS "$FREE/__requests" | py "import json,sys; assert len(json.load(sys.stdin)) >= $1"; }
check "the backfill sends its share of the window" wait_for 30 sent 6
waiting() { grep -q "waiting: 2 of 8 requests of the window left, the reserve is 25%" "$T/bf2.log"; }
check "then waits, leaving the reserve" wait_for 30 waiting
ck fetch --source "$SRC" --timeframe M15 "${CFG[@]}"
check "the live refresh runs meanwhile" expect_rc 0
check "and stores its candles" out_has "$SRC BTC/USD M15: fetched 10, stored"
curl -fsS "$FREE/__requests" >"$T/req3.json"
check "every request was granted: 6 of the backfill, 1 of the refresh" py "
import json
r = json.load(open('$T/req3.json'))
assert all(x['answer'] == 0 for x in r), [x['answer'] for x in r]
assert len(r) == 7, len(r)
assert r[-1]['query'].get('outputsize') == '10', r[-1]['query']"
# stopped_1 PID: SIGTERM stops it, and it exits 1 (stopped before its end).
stopped_1() { daemon_stop "$1" TERM && return 1; [ "$DAEMON_RC" -eq 1 ]; }
check "SIGTERM stops the backfill; it exits 1" stopped_1 "$BF"
check "it says how to continue" file_has "$T/bf2.log" "(run the command again to continue)"
ID2=$(sed -n 's/^backfill \([0-9]*\): .*/\1/p' "$T/bf2.log" | head -n 1)
check "its state is deferred" test "$(field "$ID2" state)" = deferred

# --- the backfill job: `jobs run` carries on what the command left ---
curl -fsS -X POST "$TD/__reset" >/dev/null
fake_ctl "$TD" '{"limits": "unlimited"}'
write_ini 600/1m "$TD"
ck jobs run backfill "${CFG[@]}"
check "jobs run backfill exits 0" expect_rc 0
check "it carried one backfill to its end" out_has "1 backfills: "
check "the backfill the command left deferred is done" test "$(field "$ID2" state)" = done
check "with every candle of its range" test "$(count M1 2023-01-01 2023-02-28T23:59:00Z)" = 84960

# --- POST /backfills, the daemon's job, GET /backfills ---
daemon_start "$T/daemon.out" run "${CFG[@]}"
D=$DAEMON_PID
up() { curl -fs "$API/health" >/dev/null 2>&1; }
check "the daemon serves" wait_for 30 up
BODY='{"source": "'$SRC'", "symbol": "BTC/USD", "timeframe": "H4", "since": "2024-01-01", "until": "2024-07-01"}'
post() { curl -s -o "$T/body" -w '%{http_code}' -X POST "$@" "$API/backfills"; }
check "POST /backfills without the token is 401" test "$(post -d "$BODY")" = 401
check "with it, 201" test "$(post -H "Authorization: Bearer $TOKEN" -d "$BODY")" = 201
ID3=$(py "import json; print(json.load(open('$T/body'))['id'])")
check "queued" py "import json; b = json.load(open('$T/body')); assert b['state'] == 'queued', b"
check "again: 200, the same backfill" test "$(post -H "Authorization: Bearer $TOKEN" -d "$BODY")" = 200
check "a bad timeframe is 400, named" test "$(post -H "Authorization: Bearer $TOKEN" -d '{"source": "'$SRC'", "symbol": "BTC/USD", "timeframe": "M7", "since": "2024-01-01"}')" = 400
check "the message names it" grep -q "timeframe: 'M7'" "$T/body"
check "an unknown source is 400" test "$(post -H "Authorization: Bearer $TOKEN" -d '{"source": "nope", "symbol": "BTC/USD", "timeframe": "H4", "since": "2024-01-01"}')" = 400
check "POST /jobs/backfill/run" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "$API/jobs/backfill/run")" = 202
done_api() {
    curl -fsS "$API/backfills" | py "
import json,sys
b = next(x for x in json.load(sys.stdin)['backfills'] if x['id'] == $ID3)
assert b['state'] == 'done' and b['percent'] == 100, b
assert b['candles'] == 1092, b"
}
check "the job carries it to its end; GET /backfills shows it done" wait_for 60 done_api
check "every H4 candle of the half year is stored" test "$(count H4 2024-01-01 2024-06-30T20:00:00Z)" = 1092
check "the daemon stops cleanly" daemon_stop "$D"
check "no API key in any output" lacks "$KEY" "$T/all.log" "$T/bf1.log" "$T/bf2.log" "$T/daemon.out" "$T/daemon.log"
finish
