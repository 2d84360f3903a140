#!/usr/bin/env bash
# Signal delivery end to end: a real daemon sends every signal to receivers
# that run examples/receiver.py (which checks the Standard Webhooks
# signature with Python's hmac, the timestamp tolerance, and dedupes by
# webhook-id). A receiver failing its first attempts gets each signal after
# retries under one webhook-id; a signal leaves within about a second of
# its creation, from the API and from the CLI; a closed port dead-letters
# after 5 attempts with one alert (and a refusing receiver after one), and
# `signals redeliver` brings it back; kill -9 in the middle of deliveries
# to a slow receiver loses nothing and repeats nothing but under the same
# webhook-id. Operator messages go to the fake Telegram.
# ck-test: pg
# ck-test: smoke-pg
source "$(dirname "$0")/lib.sh"

# outbox_idle ID...: the alert outbox holds no "New signal" notice of these
# signals waiting to be sent.
about() { local i c="AND (false"; for i in "$@"; do c="$c OR details LIKE '%$i%'"; done; echo "$c)"; }
if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    PSQL=$(command -v psql 2>/dev/null || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1)
    outbox_pending() { "$PSQL" "$STORE_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM alert_outbox WHERE status = 'pending' AND title LIKE 'New signal%' $(about "$@")"; }
else
    outbox_pending() { py "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=30).execute(sys.argv[2]).fetchone()[0])" "${STORE_URL#sqlite:}" "SELECT count(*) FROM alert_outbox WHERE status = 'pending' AND title LIKE 'New signal%' $(about "$@")"; }
fi
outbox_dump() {
    if [ -n "${CK_TEST_STORE_URL:-}" ]; then
        "$PSQL" "$STORE_URL" -X -q -A -t -c "SELECT id, alert_key, kind, title, status, attempts, last_error, replace(details, chr(10), ' ') FROM alert_outbox WHERE status = 'pending'"
    else
        py "import sqlite3,sys; [print(r) for r in sqlite3.connect(sys.argv[1]).execute(\"SELECT id, alert_key, kind, title, status, attempts, last_error, details FROM alert_outbox WHERE status = 'pending'\")]" "${STORE_URL#sqlite:}"
    fi
}
outbox_idle() { local n; n=$(outbox_pending "$@") && [ "$n" = 0 ]; }
# notices_each OP ID...: every signal got OP ("ge" at least, "eq" exactly) one
# "New signal" message on Telegram.
notices_each() {
    py "
import json,urllib.request,sys
op,ids=sys.argv[1],sys.argv[2:]
msgs=json.load(urllib.request.urlopen('$TG/__messages'))
n={i: len([m for m in msgs if 'New signal' in m['plain'] and i in m['plain']]) for i in ids}
assert all((v>=1) if op=='ge' else (v==1) for v in n.values()), n" "$@"
}
# one_notice_each ID...: every signal (all settled) got exactly one "New
# signal" message. They leave at Telegram's pace (a message a second per chat
# and daemon): wait until each has one and the outbox is empty, then count.
one_notice_each() {
    wait_for 60 notices_each ge "$@" 2>/dev/null || { notices_each ge "$@"; echo "not every signal got its notice in 60 s" >&2; return 1; }
    wait_for 60 outbox_idle "$@" || { echo "notices still waiting in the outbox: $(outbox_pending "$@")" >&2; outbox_dump >&2; return 1; }
    notices_each eq "$@"
}

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
TOKEN="tok-deliver-3f9a1c"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN MAX_RETRIES RETRY_DELAY_SECONDS \
    ALERT_COOLDOWN_MINUTES OPS_TELEGRAM_BOT_TOKEN OPS_TELEGRAM_CHAT_ID
RECEIVER="$CK_SOURCE_DIR/examples/receiver.py"
# Receiver names are unique to this run: on a shared PostgreSQL every daemon
# only claims the deliveries of the receivers it is configured with.
U="$$x$RANDOM"
FAST="fast$U" FLAKY="flaky$U" CLOSED="closed$U" GONE="gone$U" SLOW="slow$U"
SECRET_FAST="whsec_$(py "import base64,os; print(base64.b64encode(os.urandom(32)).decode())")"
SECRET_FLAKY="a plain text secret $U"  # no whsec_ prefix: its bytes are the key
SECRET_OTHER="whsec_$(py "import base64,os; print(base64.b64encode(os.urandom(24)).decode())")"
TG_TOKEN="424242:deliver-test-token"

# start_receiver NAME SECRET [receiver.py options...]: sets <NAME>_PID and
# <NAME>_URL; accepted signals in $T/NAME.out, every request in $T/NAME.log.
start_receiver() {
    local name=$1 secret=$2
    shift 2
    rm -f "$T/$name.port"
    python3 "$RECEIVER" --secret "$secret" --port-file "$T/$name.port" --out "$T/$name.out" \
        --log "$T/$name.log" "$@" 2>>"$T/$name.err" &
    local pid=$!
    FAKE_PIDS+=("$pid")
    wait_for 10 test -s "$T/$name.port" || { echo "receiver $name did not start" >&2; cat "$T/$name.err" >&2; exit 1; }
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_URL" '%s' "http://127.0.0.1:$(cat "$T/$name.port")/signals"
}

start_receiver fast "$SECRET_FAST"
start_receiver flaky "$SECRET_FLAKY" --fail-first 2
start_receiver gone "$SECRET_OTHER" --always-fail 410
CLOSED_PORT=$(free_port) # nothing listens there (until the redeliver)
python3 "$CK_SOURCE_DIR/tests/helpers/fake_telegram.py" --port-file "$T/tg.port" \
    --token "$TG_TOKEN" 2>"$T/tg.err" &
FAKE_PIDS+=($!)
wait_for 10 test -s "$T/tg.port" || { echo "fake Telegram did not start" >&2; exit 1; }
TG="http://127.0.0.1:$(cat "$T/tg.port")"

# write_config RECEIVER...: each of fast, flaky, closed, gone, slow.
write_config() {
    cat >"$T/ck.ini" <<INI
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
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = H1
calendar = crypto
[alerts]
cooldown = 0
[alerts.telegram]
bot_token = $TG_TOKEN
chat_id = 1001
base_url = $TG
[deliver]
attempts = 5
base_delay = 1s
max_delay = 2s
lease = 3s
connect_timeout = 1s
timeout = 2s
INI
    local r
    for r in "$@"; do
        case $r in
        fast) printf '[webhook.%s]\nurl = %s\nsecret = %s\n' "$FAST" "$fast_URL" "$SECRET_FAST" ;;
        flaky) printf '[webhook.%s]\nurl = %s\nsecret = %s\n' "$FLAKY" "$flaky_URL" "$SECRET_FLAKY" ;;
        closed) printf '[webhook.%s]\nurl = http://127.0.0.1:%s/signals\nsecret = %s\n' "$CLOSED" \
            "$CLOSED_PORT" "$SECRET_OTHER" ;;
        gone) printf '[webhook.%s]\nurl = %s\nsecret = %s\n' "$GONE" "$gone_URL" "$SECRET_OTHER" ;;
        slow) printf '[webhook.%s]\nurl = %s\nsecret = %s\n' "$SLOW" "$slow_URL" "$SECRET_OTHER" ;;
        esac >>"$T/ck.ini"
    done
}
CFG=(--config "$T/ck.ini")
DPID=""
# up URL PID: the API at URL answers, or the daemon PID is gone.
up() { curl -fs "$1/health" >/dev/null 2>&1 || ! kill -0 "$2" 2>/dev/null; }
start_daemon() {
    daemon_start "$T/daemon.out" run "${CFG[@]}"
    DPID=$DAEMON_PID
    if wait_for 20 up "$API" "$DPID" && kill -0 "$DPID" 2>/dev/null; then return 0; fi
    echo "daemon did not come up" >&2; cat "$T/daemon.out" "$T/daemon.log" >&2 2>/dev/null
    return 1
}
stop_daemon() { daemon_stop "$DPID"; }

# new_signal ENTRY: create a signal through the API; prints its id.
new_signal() {
    curl -fsS -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"symbol\":\"XAU/USD\",\"timeframe\":\"H1\",\"direction\":\"long\",\"entry\":\"$1\",\"stop_loss\":\"1900\",\"take_profit\":\"2500.25\",\"note\":\"test $U\"}" \
        "$API/signals" | grep -o '"id":"sig_[0-9A-Z]*"' | head -1 | cut -d'"' -f4
}
show() { ck signals show "$1" "${CFG[@]}" --format json && expect_rc 0 && cp "$T/out" "$T/show.json"; }
# One Python process per question (starting one is slow on a loaded machine).
cat >"$T/h.py" <<'PY'
import json, subprocess, sys, time
ck, cfg = sys.argv[1], sys.argv[2]
def show(i):
    return json.loads(subprocess.check_output([ck, 'signals', 'show', i, '--config', cfg, '--format', 'json']))
def states(i):
    return {x['receiver']: x['status'] for x in show(i)['deliveries']}
cmd, args = sys.argv[3], sys.argv[4:]
if cmd == 'settled':  # settled ID...: wait until none of their deliveries is pending (60 s)
    left = list(args)
    for _ in range(600):
        left = [i for i in left if 'pending' in states(i).values()]
        if not left:
            sys.exit(0)
        time.sleep(0.1)
    sys.exit('still pending after 60 s: %s' % [(i, states(i)) for i in left])
elif cmd == 'states':  # states STATE RECEIVER ID...: every delivery to RECEIVER is in STATE
    want, rcv = args[0], args[1]
    got = {i: states(i).get(rcv) for i in args[2:]}
    if any(v != want for v in got.values()):
        sys.exit('not all %s: %s' % (want, got))
PY
h() { python3 "$T/h.py" "$CK_BIN" "$T/ck.ini" "$@"; }
wait_settled() { h settled "$@"; }
tg_messages() { curl -fsS "$TG/__messages"; }

# --- 1. two receivers, one failing its first two attempts -----------------
write_config fast flaky
check "the daemon starts" start_daemon
check "the daemon says it delivers to 2 receivers" grep -q "delivering signals to 2 receivers" "$T/daemon.log"
IDS=()
for e in 2000 2001.5 2002.25; do IDS+=("$(new_signal "$e")"); done
check "three signals created" test "${#IDS[@]}" = 3
check "every delivery settles" wait_settled "${IDS[@]}"
check "all delivered to the good receiver" h states delivered "$FAST" "${IDS[@]}"
check "all delivered to the flaky receiver" h states delivered "$FLAKY" "${IDS[@]}"
# What each receiver accepted: verified (signature, timestamp), once per webhook-id.
check "the good receiver accepted each signal once, under <id>.<receiver>" py "
import json
rows=[json.loads(l) for l in open('$T/fast.out')]
ids='${IDS[*]}'.split()
assert sorted(r['webhook_id'] for r in rows)==sorted(i+'.$FAST' for i in ids), rows
assert sorted(r['signal']['id'] for r in rows)==sorted(ids), rows"
check "the flaky receiver accepted each signal once, at the third attempt of one webhook-id" py "
import json
log=[json.loads(l) for l in open('$T/flaky.log')]
ids='${IDS[*]}'.split()
for i in ids:
    mine=[r for r in log if r['webhook_id']==i+'.$FLAKY']
    assert [(r['result'],r['attempt']) for r in mine]==[('failed',1),('failed',2),('accepted',3)], mine
assert len([json.loads(l) for l in open('$T/flaky.out')])==3"
check "no request was refused as unauthentic" py "
import json
for f in ('fast','flaky'):
    assert not [l for l in open('$T/'+f+'.log') if json.loads(l)['result']=='invalid'], f"
check "the body is the API's signal object, prices as exact strings" py "
import json,subprocess
rows={json.loads(l)['signal']['id']: json.loads(l)['signal'] for l in open('$T/fast.out')}
for i,e in zip('${IDS[*]}'.split(), ['2000','2001.5','2002.25']):
    shown=json.loads(subprocess.check_output(['$CK_BIN','signals','show',i,'--config','$T/ck.ini','--format','json']))
    for k in ('deliveries','outcome'): shown.pop(k)
    assert rows[i]==shown, (rows[i], shown)
    assert rows[i]['entry']==e and rows[i]['stop_loss']=='1900' and rows[i]['take_profit']=='2500.25', rows[i]"
check "signals show exits 0" show "${IDS[0]}"
check "each attempt is recorded: 503, 503, 200 with durations" py "
import json
d=json.load(open('$T/show.json'))
x=[x for x in d['deliveries'] if x['receiver']=='$FLAKY'][0]
assert x['attempts']==3 and [h['http_status'] for h in x['history']]==[503,503,200], x
assert all(h['duration_ms']>=0 and h['instance'] for h in x['history']), x
assert x['history'][0]['error'].startswith('HTTP 503') and x['history'][2]['error']=='', x"
# Not a speed test: the first attempt is made at once, not at a later tick.
lag() { # lag ID: seconds from created_at to the first attempt of every delivery
    show "$1" || return 1
    py "
import json,datetime
d=json.load(open('$T/show.json'))
t=lambda s: datetime.datetime.strptime(s,'%Y-%m-%dT%H:%M:%SZ').timestamp()
print(max(t(x['history'][0]['started_at'])-t(d['created_at']) for x in d['deliveries']))"
}
L=$(lag "${IDS[2]}")
echo "# API signal: first attempt $L s after created_at (1 s resolution)"
check "a signal from the API leaves within about a second" py "assert $L < 3"
# metrics_are LINE...: /metrics has every LINE exactly.
metrics_are() {
    local l
    curl -fsS "$API/metrics" >"$T/metrics" || return 1
    for l in "$@"; do grep -qxF -- "$l" "$T/metrics" || { echo "/metrics lacks: $l" >&2; return 1; }; done
}
check "metrics count attempts by receiver and result" metrics_are \
    "deliveries_total{receiver=\"$FLAKY\",result=\"retry\"} 6" \
    "deliveries_total{receiver=\"$FLAKY\",result=\"delivered\"} 3" \
    "deliveries_total{receiver=\"$FAST\",result=\"delivered\"} 3" \
    "delivery_dead_total{receiver=\"$FAST\"} 0"

# A signal added by the CLI is picked up by the running daemon's own polling.
ck signals add "${CFG[@]}" --symbol XAU/USD --timeframe H1 --direction short --entry 2100 \
    --stop-loss 2150 --take-profit 2000
check "signals add exits 0" expect_rc 0
CLI_ID=$(awk '{print $1}' "$T/out")
check "the CLI's signal is delivered by the daemon" wait_settled "$CLI_ID"
check "to the good receiver" h states delivered "$FAST" "$CLI_ID"
check "and to the flaky one" h states delivered "$FLAKY" "$CLI_ID"
L=$(lag "$CLI_ID")
echo "# CLI signal: first attempt $L s after created_at (1 s resolution)"
check "a signal from the CLI leaves within about a second" py "assert $L < 3"
check "one 'New signal' notice per signal, though two receivers got it" one_notice_each \
    "${IDS[@]}" "$CLI_ID"
check "the daemon stops with exit 0" stop_daemon

# --- 2. a closed port and a receiver that refuses -------------------------
write_config fast flaky closed gone
check "the daemon starts with four receivers" start_daemon
DEAD_ID=$(new_signal 2003)
check "the signal settles" wait_settled "$DEAD_ID"
check "signals show of the dead one exits 0" show "$DEAD_ID"
check "the closed port is dead after 5 attempts, each a connection error" py "
import json
d=json.load(open('$T/show.json'))
x=[x for x in d['deliveries'] if x['receiver']=='$CLOSED'][0]
assert x['status']=='dead' and x['attempts']==5 and len(x['history'])==5, x
assert all(h['http_status'] is None and h['error'] for h in x['history']), x"
check "the refusing receiver (410) is dead after one attempt" py "
import json
d=json.load(open('$T/show.json'))
x=[x for x in d['deliveries'] if x['receiver']=='$GONE'][0]
assert x['status']=='dead' and x['attempts']==1 and x['last_status']==410, x"
check "the working receivers still got it" py "
import json
d=json.load(open('$T/show.json'))
assert sorted(x['status'] for x in d['deliveries'] if x['receiver'] in ('$FAST','$FLAKY'))==['delivered','delivered'], d"
ck alerts "${CFG[@]}" --format json
check "alerts exits 0" expect_rc 0
cp "$T/out" "$T/alerts.json"
check "one critical alert per dead delivery, naming what and when" py "
import json
a=json.load(open('$T/alerts.json'))
for r,n in (('$CLOSED',5),('$GONE',1)):
    mine=[x for x in a if x['key']=='delivery:$DEAD_ID:'+r]
    assert len(mine)==1, mine
    x=mine[0]
    assert x['severity']=='critical' and x['state']=='firing', x
    for w in ('signal delivery','$DEAD_ID',r,'%d attempt'%n,'redeliver'):
        assert w in x['details'], (w, x)"
check "its message reached the operators once" py "
import json,time,urllib.request
for _ in range(100):
    msgs=json.load(urllib.request.urlopen('$TG/__messages'))
    mine=[m for m in msgs if 'Signal delivery failed' in m['plain'] and '$DEAD_ID' in m['plain']]
    if len(mine)>=2: break
    time.sleep(0.1)
assert len(mine)==2, mine          # one for the closed port, one for the refusal
assert len([m for m in mine if '$CLOSED' in m['plain']])==1, mine
assert len([m for m in mine if '$GONE' in m['plain']])==1, mine"
check "metrics count the dead letters" metrics_are \
    "delivery_dead_total{receiver=\"$CLOSED\"} 1" \
    "deliveries_total{receiver=\"$CLOSED\",result=\"retry\"} 4" \
    "delivery_dead_total{receiver=\"$GONE\"} 1"
if [ -z "${CK_TEST_STORE_URL:-}" ]; then
    # (On a shared PostgreSQL other daemons feed the same streak key.)
    check "a failure streak of the closed port fired job:deliver_signals" py "
import json
a=[x for x in json.load(open('$T/alerts.json')) if x['key']=='job:deliver_signals']
assert len(a)==1 and a[0]['state']=='firing' and '$CLOSED' in a[0]['details'], a"
fi

# --- 3. redeliver once the receiver is up ---------------------------------
start_receiver closed "$SECRET_OTHER" --port "$CLOSED_PORT"
ck signals redeliver "$DEAD_ID" "${CFG[@]}" --receiver "$CLOSED"
check "signals redeliver exits 0" expect_rc 0
check "the redelivered signal settles" wait_settled "$DEAD_ID"
check "and is delivered" h states delivered "$CLOSED" "$DEAD_ID"
check "the receiver has it once, under the same webhook-id" py "
import json
rows=[json.loads(l) for l in open('$T/closed.out')]
assert [r['webhook_id'] for r in rows]==['$DEAD_ID.$CLOSED'], rows"
check "its alert is resolved" py "
import json,subprocess,time
for _ in range(100):
    a=json.loads(subprocess.check_output(['$CK_BIN','alerts','--config','$T/ck.ini','--format','json']))
    x=[x for x in a if x['key']=='delivery:$DEAD_ID:$CLOSED'][0]
    if x['state']=='resolved': break
    time.sleep(0.1)
assert x['state']=='resolved', x
y=[x for x in a if x['key']=='delivery:$DEAD_ID:$GONE'][0]
assert y['state']=='firing', y"
if [ -z "${CK_TEST_STORE_URL:-}" ]; then
    check "and the streak alert with it" py "
import json,subprocess
a=json.loads(subprocess.check_output(['$CK_BIN','alerts','--config','$T/ck.ini','--format','json']))
x=[x for x in a if x['key']=='job:deliver_signals'][0]
assert x['state']=='resolved', x"
fi
check "the daemon stops with exit 0 after the redelivery" stop_daemon

# --- 4. kill -9 in the middle of deliveries -------------------------------
start_receiver slow "$SECRET_OTHER" --delay 0.4
write_config slow
check "the daemon starts with the slow receiver" start_daemon
MANY=()
for i in $(seq 1 12); do MANY+=("$(new_signal "2100.$i")"); done
check "twelve signals created" test "${#MANY[@]}" = 12
lines_at_least() { [ -s "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
check "deliveries are under way: three reached the receiver" wait_for 20 lines_at_least "$T/slow.out" 3
check "kill -9 ends the daemon" daemon_kill "$DPID"
GOT=$(wc -l <"$T/slow.out")
echo "# killed the daemon after $GOT of ${#MANY[@]} signals reached the receiver"
check "the kill landed in the middle of the deliveries" test "$GOT" -lt "${#MANY[@]}"
check "the daemon starts again after kill -9" start_daemon
check "after the restart every signal settles" wait_settled "${MANY[@]}"
check "every one delivered" h states delivered "$SLOW" "${MANY[@]}"
check "the receiver accepted each exactly once" py "
import json
rows=[json.loads(l) for l in open('$T/slow.out')]
ids='${MANY[*]}'.split()
assert sorted(r['webhook_id'] for r in rows)==sorted(i+'.$SLOW' for i in ids), rows"
check "any duplicate it saw carried a webhook-id it had accepted" py "
import json
log=[json.loads(l) for l in open('$T/slow.log')]
acc={r['webhook_id'] for r in log if r['result']=='accepted'}
dups=[r['webhook_id'] for r in log if r['result']=='duplicate']
print('# duplicates after kill -9:', len(dups))
assert set(dups) <= acc, (dups, acc)
assert not [r for r in log if r['result']=='invalid'], log"
check "the restarted daemon stops with exit 0" stop_daemon

# --- 5. two daemons on one PostgreSQL share the work, never a delivery -----
if [ -n "${CK_TEST_STORE_URL:-}" ]; then
    start_receiver shared "$SECRET_OTHER" --delay 0.3
    SHARED="shared$U"
    write_config
    printf '[webhook.%s]\nurl = %s\nsecret = %s\n' "$SHARED" "$shared_URL" "$SECRET_OTHER" >>"$T/ck.ini"
    PORT2=$(free_port)
    sed "s/^listen = 127.0.0.1:$PORT\$/listen = 127.0.0.1:$PORT2/" "$T/ck.ini" >"$T/ck2.ini"
    daemon_start "$T/daemon2.out" run --config "$T/ck2.ini"
    D2=$DAEMON_PID
    check "the first daemon starts" start_daemon
    check "the second daemon starts" wait_for 20 curl -fs -o /dev/null "http://127.0.0.1:$PORT2/health"
    BOTH=()
    # Half through each daemon's API, so each is woken for its own.
    for i in $(seq 1 5); do
        BOTH+=("$(new_signal "2200.$i")")
        BOTH+=("$(API="http://127.0.0.1:$PORT2" new_signal "2300.$i")")
    done
    check "two daemons: every signal settles" wait_settled "${BOTH[@]}"
    check "two daemons: every one delivered" h states delivered "$SHARED" "${BOTH[@]}"
    check "two daemons: each sent once (no duplicate at the receiver)" py "
import json
log=[json.loads(l) for l in open('$T/shared.log')]
ids='${BOTH[*]}'.split()
assert sorted(r['webhook_id'] for r in log)==sorted(i+'.$SHARED' for i in ids), log
assert all(r['result']=='accepted' for r in log), log"
    check "two daemons: one notice per signal" one_notice_each "${BOTH[@]}"
    check "two daemons: attempts by both instances" py "
import json,subprocess
inst=set()
for i in '${BOTH[*]}'.split():
    d=json.loads(subprocess.check_output(['$CK_BIN','signals','show',i,'--config','$T/ck.ini','--format','json']))
    inst |= {h['instance'] for x in d['deliveries'] for h in x['history']}
print('# instances that delivered:', len(inst))
assert len(inst)==2, inst"
    check "the second daemon stops with exit 0" daemon_stop "$D2"
    check "the first daemon stops with exit 0" stop_daemon
fi

# --- 5. the example's verification refuses what it must -------------------
check "receiver.py: a tampered body, an old timestamp and a wrong secret are refused" py "
import sys,time
sys.path.insert(0,'$CK_SOURCE_DIR/examples')
import receiver as r
key=r.secret_key('$SECRET_FAST')
body=b'{\"id\":\"sig_x\",\"entry\":\"2063.41\"}'
now=int(time.time())
h={'webhook-id':'sig_x.a','webhook-timestamp':str(now),'webhook-signature':r.sign(key,'sig_x.a',now,body)}
assert r.verify(key,h,body)==('sig_x.a',now)
def refused(k,hh,b):
    try: r.verify(k,hh,b)
    except r.VerifyError: return True
    return False
assert refused(key,h,body.replace(b'2063.41',b'2063.42'))
assert refused(key,dict(h,**{'webhook-id':'sig_y.a'}),body)
old=now-301
assert refused(key,dict(h,**{'webhook-timestamp':str(old),'webhook-signature':r.sign(key,'sig_x.a',old,body)}),body)
assert refused(r.secret_key('$SECRET_OTHER'),h,body)
assert refused(key,{k:v for k,v in h.items() if k!='webhook-signature'},body)
# The published test vector of the specification.
k=r.secret_key('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
assert r.sign(k,'msg_p5jXN8AQM9LWM0D4loKWxJek',1614265330,b'{\"test\": 2432232314}')=='v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='"
check "a forged request is refused over HTTP and not accepted" py "
import json,time,urllib.request,urllib.error
body=b'{\"id\":\"sig_forged\"}'
req=urllib.request.Request('$fast_URL',data=body,headers={'webhook-id':'sig_forged.x','webhook-timestamp':str(int(time.time())),'webhook-signature':'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='})
try:
    urllib.request.urlopen(req); raise SystemExit('accepted')
except urllib.error.HTTPError as e:
    assert e.code==401, e.code
assert 'sig_forged' not in open('$T/fast.out').read()"
check "no secret in the daemon's log or output" lacks "${SECRET_FAST#whsec_}" "$T/daemon.log" "$T/daemon.out"
check "nor the plain one" lacks "$SECRET_FLAKY" "$T/daemon.log" "$T/daemon.out"
check "nor the third" lacks "${SECRET_OTHER#whsec_}" "$T/daemon.log" "$T/daemon.out"
finish
