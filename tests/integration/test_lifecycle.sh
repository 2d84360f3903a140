#!/usr/bin/env bash
# The daemon's life under its service manager: it tells systemd READY=1 once
# it serves, WATCHDOG=1 while its scheduler runs (when WATCHDOG_USEC and
# WATCHDOG_PID ask for it) and STOPPING=1 on the way out, all through the
# NOTIFY_SOCKET datagram socket (here one the test reads); SIGHUP reopens
# the log file after it was renamed (logrotate); SIGINT stops it cleanly
# with exit 0, as SIGTERM does.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
{
    daemon_ini_head
    cat <<INI
[retry]
max_retries = 0
[jobs]
refresh_candles_H1 = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = H1
calendar = crypto
INI
} >"$T/ck.ini"

# The service manager's end: every datagram on the socket, one line each
# (newlines inside a message turned into spaces), in $T/notify.log.
python3 -c "
import os,socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[3],'w').close()
with open(sys.argv[2],'a') as f:
    while True:
        m=s.recv(4096).decode('utf-8','replace')
        f.write(m.replace(chr(10),' ')+chr(10)); f.flush()" "$T/notify.sock" "$T/notify.log" "$T/notify.ready" &
FAKE_PIDS+=($!)
check "the notify socket listens" wait_for 10 test -e "$T/notify.ready"

# notified TEXT [N]: at least N (1) messages hold TEXT.
notified() { [ -f "$T/notify.log" ] && [ "$(grep -cF -- "$1" "$T/notify.log")" -ge "${2:-1}" ]; }
up() { curl -fs "$API/health" >/dev/null 2>&1; }

# WATCHDOG_PID must be the daemon's own pid: the shell that sets it execs it.
# A background job of a script starts with SIGINT ignored; a service
# manager starts it with the default action: python restores that.
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=2000000 \
    bash -c 'export WATCHDOG_PID=$$; exec python3 -c "import os,signal,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])" "$0" "$@"' \
    "$CK_BIN" run --config "$T/ck.ini" >>"$T/daemon.out" 2>&1 &
DPID=$!
DAEMON_PIDS+=("$DPID")
check "the daemon comes up" wait_for 20 up
check "it says READY=1 to the service manager" wait_for 10 notified "READY=1"
check "READY=1 comes once /health answers: its status says running" notified "STATUS=running"
check "it pets the watchdog (WATCHDOG=1) again and again" wait_for 10 notified "WATCHDOG=1" 2
check "nothing says it is stopping yet" test "$(grep -c 'STOPPING=1' "$T/notify.log")" = 0

# SIGHUP after a rename: the old file keeps what it had, the new one gets the lines.
mv "$T/daemon.log" "$T/daemon.log.1"
kill -HUP "$DPID"
check "SIGHUP reopens the log under its name" wait_for 10 file_has "$T/daemon.log" "log file reopened"
check "the daemon lives on after SIGHUP" kill -0 "$DPID"
check "a run is asked for after the reopen" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/jobs/refresh_candles_H1/run")" = 202
check "its log line goes to the new file" wait_for 20 file_has "$T/daemon.log" "job refresh_candles_H1"
check "the renamed file got nothing after the reopen" lacks "job refresh_candles_H1" "$T/daemon.log.1"
check "the renamed file holds the start" file_has "$T/daemon.log.1" "started (instance"

# SIGINT: a clean stop, exit 0, STOPPING=1 on the way.
check "SIGINT stops the daemon with exit 0" daemon_stop "$DPID" INT
check "it says STOPPING=1" notified "STOPPING=1"
check "STOPPING=1 comes after READY=1" py "
l=open('$T/notify.log').read().split(chr(10))
r=[i for i,x in enumerate(l) if 'READY=1' in x]; s=[i for i,x in enumerate(l) if 'STOPPING=1' in x]
assert r and s and r[0] < s[0], l"
check "the log says SIGINT stopped it" file_has "$T/daemon.log" "SIGINT received"
check "and that it stopped" file_has "$T/daemon.log" "run: stopped"

# Without WATCHDOG_USEC no watchdog message is sent.
: >"$T/notify.log"
NOTIFY_SOCKET=$T/notify.sock daemon_start "$T/daemon.out" run --config "$T/ck.ini"
DPID=$DAEMON_PID
check "a daemon without a watchdog comes up" wait_for 20 up
check "it says READY=1" wait_for 10 notified "READY=1"
check "SIGTERM stops it with exit 0" daemon_stop "$DPID"
check "it said STOPPING=1" notified "STOPPING=1"
check "and never WATCHDOG=1" test "$(grep -c 'WATCHDOG=1' "$T/notify.log")" = 0
finish
