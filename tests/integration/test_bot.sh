#!/usr/bin/env bash
# The Telegram command bot end to end: the real daemon with
# [alerts.telegram] commands = true against the strict fake Telegram, whose
# getUpdates is fed messages through /__updates.
#
#   - /help from the configured chat is answered (a REPLY message);
#   - a message from another chat is ignored, and logged without its text;
#   - /pause refresh_candles_H1 1h pauses the job (GET /jobs/{id} says so)
#     until then; /resume resumes it; /pause of an unknown job says so;
#   - hostile text in a command arrives escaped (the fake refuses HTML that
#     does not parse);
#   - /report daily answers with the report's summary;
#   - /pause JOB 2s is resumed by the bot when the time comes;
#   - after a restart the daemon does not answer an earlier command again;
#   - PostgreSQL: with two daemons on one database, one polls (the lease):
#     each command is answered once and Telegram never sees two pollers.
# ck-test: pg
source "$(dirname "$0")/lib.sh"

TOKEN="616161:AAE-bot-token"
CHAT="-1005550001"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_NOW CANDLEKEEP_API_TOKEN OPS_TELEGRAM_BOT_TOKEN \
    OPS_TELEGRAM_CHAT_ID

python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" --token "$TOKEN" \
    2>"$T/fake_tg.log" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || { echo "fake Telegram did not start" >&2; exit 1; }
TG="http://127.0.0.1:$(cat "$T/tg.port")"
# The bot answers a command at once, then at most a message a second: no flood control here.
curl -fsS -X POST -d '{"limits": "unlimited"}' "$TG/__control" >/dev/null

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
NEVER="0 0 1 1 *"
{
    daemon_ini_head
    cat <<INI
[jobs]
refresh_candles_H1 = $NEVER
watch_alerts = $NEVER
retention = $NEVER
detect_outcomes = $NEVER
backup = $NEVER
[digest]
schedule = $NEVER
[report]
daily = $NEVER
weekly = $NEVER
[export]
tradenote = $NEVER
[alerts.telegram]
bot_token = $TOKEN
chat_id = $CHAT
base_url = $TG
commands = true
poll_timeout = 1s
[source.$SRC]
kind = twelvedata
api_key = sk-unused
base_url = http://127.0.0.1:9
symbols = BTC/USD
timeframes = H1
calendar = crypto
INI
} >"$T/ck.ini"

up() { curl -fs "$API/health" >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run --config "$T/ck.ini"
    DPID=$DAEMON_PID
    wait_for 20 up || { cat "$T/daemon.out" "$T/daemon.log" >&2; }
}
# say CHAT TEXT: an incoming message.
say() { py "import json,sys; print(json.dumps({'chat_id': int(sys.argv[1]), 'text': sys.argv[2]}))" "$1" "$2" |
    curl -fsS -X POST -d @- "$TG/__updates" >/dev/null; }
replies() { curl -fsS "$TG/__messages" | py "import json,sys; print(len([m for m in json.load(sys.stdin) if 'REPLY' in m['plain'].split('\n',1)[0]]))"; }
replies_are() { [ "$(replies)" = "$1" ]; }
# last_reply_has TEXT: the newest reply's plain text holds TEXT.
last_reply_has() {
    curl -fsS "$TG/__messages" | py "import json,sys
m=[x for x in json.load(sys.stdin) if 'REPLY' in x['plain'].split('\n',1)[0]]
assert m and sys.argv[1] in m[-1]['plain'], (sys.argv[1], m[-1:] and m[-1]['plain'])" "$1"
}
paused_is() { curl -fsS "$API/jobs/refresh_candles_H1" | py "import json,sys; j=json.load(sys.stdin); assert j['paused'] is $1, j"; }
confirmed_past() { curl -fsS "$TG/__updates" | py "import json,sys; b=json.load(sys.stdin); assert b['confirmed']>=$1 and not b['updates'], b"; }

start_daemon
check "the daemon is up" kill -0 "$DPID"

say "$CHAT" "/help"
check "/help is answered" wait_for 15 replies_are 1
check "  with the list of commands" last_reply_has "/pause JOB [DURATION]"

say "-1009999" "/pause refresh_candles_H1 secret-text-$$"
say "$CHAT" "/jobs"
check "the next command is answered" wait_for 15 replies_are 2
check "  and the other chat's was not" replies_are 2
logged_ignored() { grep -q "ignored a message from chat -1009999" "$T/daemon.log" && ! grep -q "secret-text-$$" "$T/daemon.log"; }
check "the other chat's message is logged as ignored, without its text" logged_ignored

say "$CHAT" "/pause refresh_candles_H1 1h"
check "/pause JOB 1h is answered" wait_for 15 replies_are 3
check "  saying until when" last_reply_has "refresh_candles_H1 paused until"
check "  and the job is paused" paused_is True
say "$CHAT" "/resume refresh_candles_H1"
check "/resume is answered" wait_for 15 replies_are 4
check "  and the job runs again" paused_is False

# A 2 s pause may be over before the API is asked on a loaded machine:
# the bot's log says when it ends it, and the API then agrees.
say "$CHAT" "/pause refresh_candles_H1 2s"
check "/pause JOB 2s is answered" wait_for 15 replies_are 5
check "  saying until when" last_reply_has "refresh_candles_H1 paused until"
pause_ended() { grep -q "bot: refresh_candles_H1 resumed at the end of its pause" "$T/daemon.log"; }
check "  then resumed when the time comes" wait_for 15 pause_ended
check "  and the job runs again" paused_is False

say "$CHAT" "/pause <b>no_such</b> & \"x\""
check "/pause of an unknown job is answered (its text escaped)" wait_for 15 replies_are 6
check "  naming it" last_reply_has "no job '<b>no_such</b>'"

say "$CHAT" "/report daily"
check "/report daily is answered" wait_for 15 replies_are 7
check "  with the report's summary" last_reply_has "Daily report"

check "every update was confirmed to Telegram" wait_for 10 confirmed_past 1006
check "the daemon stops" daemon_stop "$DPID"
start_daemon
say "$CHAT" "/help"
check "after a restart the new command is answered" wait_for 15 replies_are 8
check "  and no earlier one again" replies_are 8

if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    PORT2=$(free_port)
    sed -e "s/127.0.0.1:$PORT/127.0.0.1:$PORT2/" -e "s|$T/daemon.log|$T/daemon2.log|" "$T/ck.ini" >"$T/ck2.ini"
    daemon_start "$T/daemon2.out" run --config "$T/ck2.ini"
    D2=$DAEMON_PID
    up2() { curl -fs "http://127.0.0.1:$PORT2/health" >/dev/null 2>&1 || ! kill -0 "$D2" 2>/dev/null; }
    wait_for 20 up2 || { cat "$T/daemon2.out" >&2; }
    check "a second daemon on the database is up" kill -0 "$D2"
    for i in 1 2 3; do
        say "$CHAT" "/help"
        check "command $i with two daemons is answered" wait_for 15 replies_are $((8 + i))
    done
    check "  each once" replies_are 11
    no_conflict() { curl -fsS "$TG/__requests" | py "import json,sys
r=[x for x in json.load(sys.stdin) if x['status']==409]
assert not r, r"; }
    check "Telegram never saw two pollers at once" no_conflict
    check "the daemon stops again" daemon_stop "$DPID"
    check "the second daemon stops" daemon_stop "$D2"
else
    check "the daemon stops again" daemon_stop "$DPID"
fi
finish
