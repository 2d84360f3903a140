#!/usr/bin/env bash
# kill -9 in the middle of signal delivery, again and again, on SQLite.
# Two receivers (examples/receiver.py, answering after 0.3 s, deduping by
# webhook-id) take every signal. Each round starts the daemon, creates
# three signals through the API (each acknowledged 201) and kills the
# daemon: on odd rounds right after the last acknowledgement, on even ones
# once a receiver has been sent something new. After the rounds a daemon
# runs until every delivery settles. Then the file passes
# integrity_check, every acknowledged signal is stored once with one
# delivery per receiver, each delivered, and each receiver accepted each
# signal exactly once (a repeat after a kill carries a webhook-id it had
# already accepted, and is answered as a duplicate).
source "$(dirname "$0")/../integration/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN CANDLEKEEP_CONFIG MAX_RETRIES \
    RETRY_DELAY_SECONDS OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID

if [[ "$STORE_URL" != sqlite:* ]]; then
    echo "skipped: $(basename "$0") checks the SQLite file itself" >&2
    exit 77
fi
ROUNDS=${CK_FAULT_ROUNDS:-10}
DB=${STORE_URL#sqlite:}
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
TOKEN="tok-killdeliver-8b2e4f"
RECEIVER="$CK_SOURCE_DIR/examples/receiver.py"
SECRET="whsec_$(py "import base64,os; print(base64.b64encode(os.urandom(32)).decode())")"
U="$$x$RANDOM"
NAMES=("one$U" "two$U")

# start_receiver NAME: accepted signals in $T/NAME.out, every request in $T/NAME.log.
start_receiver() {
    python3 "$RECEIVER" --secret "$SECRET" --port-file "$T/$1.port" --out "$T/$1.out" \
        --log "$T/$1.log" --delay 0.3 2>>"$T/$1.err" &
    FAKE_PIDS+=("$!")
    wait_for 10 test -s "$T/$1.port" || { echo "receiver $1 did not start" >&2; cat "$T/$1.err" >&2; exit 1; }
}
for n in "${NAMES[@]}"; do start_receiver "$n"; done
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
refresh_candles_H1 = 0 0 1 1 *
[digest]
schedule = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = H1
calendar = crypto
[deliver]
attempts = 100
base_delay = 1s
max_delay = 1s
lease = 3s
connect_timeout = 1s
timeout = 2s
telegram = false
INI
    for n in "${NAMES[@]}"; do
        printf '[webhook.%s]\nurl = http://127.0.0.1:%s/signals\nsecret = %s\n' "$n" "$(cat "$T/$n.port")" "$SECRET"
    done
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
DPID=""

healthy() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 healthy && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
# new_signal ENTRY: create a signal; its id is added to $T/acked once answered 201.
new_signal() {
    local code
    code=$(curl -sS -o "$T/created" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"symbol\":\"XAU/USD\",\"timeframe\":\"H1\",\"direction\":\"long\",\"entry\":\"$1\",\"stop_loss\":\"1900\",\"take_profit\":\"2500.25\"}" \
        "$API/signals")
    [ "$code" = 201 ] || { echo "POST /signals answered $code: $(cat "$T/created")" >&2; return 1; }
    py "import json; print(json.load(open('$T/created'))['id'])" >>"$T/acked"
}
requests_to() { if [ -f "$T/$1.log" ]; then wc -l <"$T/$1.log"; else echo 0; fi; }
sent_more_than() { [ "$(requests_to "${NAMES[0]}")" -gt "$1" ]; }
sql() { sqlite3 "$DB" "$1"; }
: >"$T/acked"

for r in $(seq 1 "$ROUNDS"); do
    check "round $r: the daemon starts" start_daemon
    SENT=$(requests_to "${NAMES[0]}")
    for i in 1 2 3; do
        check "round $r: signal $i is acknowledged" new_signal "2100.$r$i"
    done
    if [ $((r % 2)) -eq 0 ]; then
        check "round $r: a delivery is under way" wait_for 20 sent_more_than "$SENT"
    fi
    check "round $r: kill -9 ends the daemon" daemon_kill "$DPID"
done
ACKED=$(wc -l <"$T/acked")
check "every signal was acknowledged" test "$ACKED" = $((ROUNDS * 3))

check "the daemon starts after the last kill" start_daemon
settled() { [ "$(sql "SELECT count(*) FROM deliveries WHERE status = 'pending'")" = 0 ]; }
check "every delivery settles" wait_for 120 settled
check "the daemon stops with exit 0" daemon_stop "$DPID"

check "the SQLite file passes integrity_check" test "$(sql 'PRAGMA integrity_check')" = ok
stored_once() {
    py "
import sqlite3
db=sqlite3.connect('$DB')
acked=open('$T/acked').read().split()
ids=[r[0] for r in db.execute('SELECT id FROM signals')]
assert sorted(ids)==sorted(acked), (len(ids), len(acked), set(acked)-set(ids))
rows=db.execute('SELECT signal_id, receiver, status FROM deliveries').fetchall()
want={(i, n) for i in acked for n in '${NAMES[*]}'.split()}
assert len(rows)==len(want) and {(s, n) for s, n, _ in rows}==want, rows
assert all(st=='delivered' for _, _, st in rows), [x for x in rows if x[2]!='delivered']"
}
check "every acknowledged signal is stored once, delivered to each receiver" stored_once
# accepted_once NAME: the receiver accepted each acknowledged signal exactly
# once; its repeats (after a kill) are of ids it had accepted.
accepted_once() {
    py "
import json
acked=open('$T/acked').read().split()
rows=[json.loads(l) for l in open('$T/$1.out')]
assert sorted(r['webhook_id'] for r in rows)==sorted(i+'.$1' for i in acked), rows
log=[json.loads(l) for l in open('$T/$1.log')]
acc={r['webhook_id'] for r in log if r['result']=='accepted'}
dups=[r['webhook_id'] for r in log if r['result']=='duplicate']
assert set(dups) <= acc and not [r for r in log if r['result']=='invalid'], log
print('# $1: %d accepted, %d repeats after a kill' % (len(rows), len(dups)))"
}
for n in "${NAMES[@]}"; do
    check "receiver $n accepted every signal exactly once" accepted_once "$n"
done
finish
