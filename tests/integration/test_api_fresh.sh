#!/usr/bin/env bash
# The API keeps ready candle responses per server thread and sends them
# again while the store's stamp of the series is unchanged (api_cache.c).
# This proves that a kept response is never stale, through the real
# daemon and a real store (SQLite here; PostgreSQL in the pg variant),
# every request repeated on several connections so that each server
# thread has answered (and kept) it before the data changes:
#   - a candle corrected by another process (candlekeep import) is in the
#     very next answer, and so is a new one;
#   - a retention delete by another process (SQLite: `candlekeep
#     retention`) or by another daemon on the same database (PostgreSQL:
#     its retention job) removes the old candles from the next answer;
#   - a restore (SQLite: the daemon must be stopped for it; the restarted
#     daemon serves the restored data, not what it served before).
# ck-test: pg
# ck-test: smoke
source "$(dirname "$0")/lib.sh"

SYM=FRESH/TEST
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
ini() {
    printf '[storage]\nurl = %s\n[api]\nlisten = 127.0.0.1:%s\n[log]\nlevel = info\nfile = %s\n' \
        "$STORE_URL" "$1" "$2"
    cat <<INI
[retention]
M15 = 30d
[backup]
dir = $T/backups
[source.$SRC]
kind = twelvedata
enabled = false
api_key = sk-test-fresh-0a1b2c
symbols = $SYM
timeframes = M15
calendar = crypto
INI
}
ini "$PORT" "$T/daemon.log" >"$T/ck.ini"
unset TWELVE_DATA_API_KEY DATABASE_URL
CFG=(--config "$T/ck.ini")

# Three candles 40 days old (past retention) and three of two days ago.
py "
import time
q = 900
now = int(time.time()) // q * q
old, new = now - 40 * 86400, now - 2 * 86400
with open('$T/a.csv', 'w') as f:
    f.write('time,open,high,low,close\n')
    for t in (old, old + q, old + 2 * q, new, new + q, new + 2 * q):
        f.write('%d,100,101,99,100.5\n' % t)
with open('$T/fix.csv', 'w') as f:
    f.write('time,open,high,low,close\n%d,100,101,99,100.75\n' % (new + 2 * q))
with open('$T/next.csv', 'w') as f:
    f.write('time,open,high,low,close\n%d,100,102,99,101.25\n' % (new + 3 * q))
"
ck import "$T/a.csv" --source "$SRC" --symbol "$SYM" --timeframe M15 "${CFG[@]}"
check "six candles are imported" expect_rc 0

daemon_start "$T/daemon.out" run "${CFG[@]}"
A=$DAEMON_PID
wait_for 30 curl -fso /dev/null "$API/health"

Q="/candles/M15?symbol=$SYM&source=$SRC&limit=10"
# answers N: GET $Q on N connections at once (so every server thread
# answers), each body into $T/ans.<i>.
answers() {
    local i pids=()
    for i in $(seq 1 "$1"); do
        curl -fsS -o "$T/ans.$i" "$API$Q" & pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || return 1; done
}
# all_say N PYEXPR: every one of the N answers satisfies PYEXPR over c,
# its list of candles (newest first).
all_say() {
    local n=$1 i
    shift
    answers "$n" || return 1
    for i in $(seq 1 "$n"); do
        py "import json, sys
c = json.load(open('$T/ans.$i'))['candles']
sys.exit(0 if ($1) else 'answer $i: ' + json.dumps([(x['time'], x['close']) for x in c]))" || return 1
    done
}
# Warm every thread's kept response, several rounds.
for _ in 1 2 3; do answers 8; done
check "the six candles are served, newest first" all_say 8 "len(c) == 6 and c[0]['close'] == '100.5'"

ck import "$T/fix.csv" --source "$SRC" --symbol "$SYM" --timeframe M15 "${CFG[@]}"
check "a corrected candle is imported by another process" expect_rc 0
check "the next answers carry the corrected close" all_say 8 "len(c) == 6 and c[0]['close'] == '100.75' and c[1]['close'] == '100.5'"

ck import "$T/next.csv" --source "$SRC" --symbol "$SYM" --timeframe M15 "${CFG[@]}"
check "a new candle is imported" expect_rc 0
check "the next answers start with the new candle" all_say 8 "len(c) == 7 and c[0]['close'] == '101.25' and c[1]['close'] == '100.75'"

if [[ "$STORE_URL" == sqlite:* ]]; then
    ck backup "${CFG[@]}"
    check "a backup of the seven candles is taken while the daemon runs" expect_rc 0
    BK=$(ls "$T"/backups/*.ck* 2>/dev/null | head -1)
    ck retention "${CFG[@]}"
    check "retention by another process deletes the three old candles" expect_rc 0
    check "the next answers lack the old candles" all_say 8 "len(c) == 4 and c[-1]['close'] == '100.5'"
    check "the daemon stops" daemon_stop "$A"
    ck restore "$BK" --to "$STORE_URL" --force "${CFG[@]}"
    check "the backup is restored over the database" expect_rc 0
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    A=$DAEMON_PID
    wait_for 30 curl -fso /dev/null "$API/health"
    check "the restarted daemon serves the restored seven candles" all_say 8 "len(c) == 7 and c[-1]['close'] == '100.5'"
else
    # A second daemon on the same database deletes the old candles.
    PORT_B=$(free_port)
    ini "$PORT_B" "$T/daemon-b.log" >"$T/b.ini"
    daemon_start "$T/daemon-b.out" run --config "$T/b.ini"
    B=$DAEMON_PID
    wait_for 30 curl -fso /dev/null "http://127.0.0.1:$PORT_B/health"
    # The run asked for now: newer than any run of the job on record.
    last_run_id() {
        curl -fsS "http://127.0.0.1:$PORT_B/jobs/retention" |
            py "import json, sys; r = json.load(sys.stdin)['last_run']; print(r['id'] if r else 0)"
    }
    BEFORE=$(last_run_id)
    check "the other daemon accepts a retention run" \
        test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT_B/jobs/retention/run")" = 202
    retention_done() {
        curl -fsS "http://127.0.0.1:$PORT_B/jobs/retention" |
            py "import json, sys; r = json.load(sys.stdin)['last_run']
sys.exit(0 if r and r['id'] > $BEFORE and r['status'] == 'ok' else 1)"
    }
    wait_for 60 retention_done
    check "after the other daemon's retention the next answers lack the old candles" all_say 8 "len(c) == 4 and c[-1]['close'] == '100.5'"
    check "the other daemon stops" daemon_stop "$B"
fi
check "the daemon stops" daemon_stop "$A"
finish
