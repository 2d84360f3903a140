#!/usr/bin/env bash
# Hostile slow clients against the API (tests/helpers/slow_clients.py:
# each sends a request line, then one header line at a time, never
# finishing). The daemon runs under an open-file limit of 256, as a unit
# without LimitNOFILE would under a smaller one; its API then holds at most
# 128 connections (the rest of the descriptors stay with the jobs and the
# store), at most 16 from one address (max_connections_per_client), and
# every request must arrive whole within 3 s (request_timeout).
#   - one trickling client is cut off with a 408 after about 3 s (without
#     the deadline its connection would last for ever: libmicrohttpd's
#     timeout restarts on every byte); an idle one is closed;
#   - 100 slow clients from one address: the daemon holds 16 of them,
#     /health answers within a second, a refresh runs;
#   - 300 slow clients from 20 addresses, more than the file limit allows:
#     the API stays at its share, and a refresh asked for then still runs
#     (it opens its database and its provider connection);
#   - the log gets ten of the HTTP server's complaints every ten seconds,
#     not one per refused connection.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

start_fake_td
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
cat >"$T/ck.ini" <<INI
[storage]
url = $STORE_URL
[api]
listen = 127.0.0.1:$PORT
request_timeout = 3s
max_connections_per_client = 16
[log]
level = info
file = $T/daemon.log
[jobs]
refresh_candles_H1 = 0 0 1 1 *
[digest]
schedule = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = test-key
base_url = $TD_URL
symbols = XAU/USD
timeframes = H1
calendar = crypto
backfill = 5
INI
CFG=(--config "$T/ck.ini")
H1="refresh_candles_H1"

# The daemon under a file limit of 256 (soft and hard), so it cannot raise it.
printf '#!/bin/sh\nulimit -n 256\nexec "%s" "$@"\n' "$CK_BIN" >"$T/ck-256"
chmod +x "$T/ck-256"
healthy() { curl -fs -m 2 "$API/health" >/dev/null; }
CK_BIN="$T/ck-256" daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 healthy
check "the API takes 128 connections: half the file limit of 256" \
    grep -q "at most 128 connections, 16 per client, requests within 3 s" "$T/daemon.log"

get() { curl -sS -m 20 -o "$T/body" -w '%{http_code}' "$@"; }
runs_of_h1() { get "$API/jobs/$H1/runs?limit=10" >/dev/null && py "import json; print(len(json.load(open('$T/body'))['runs']))"; }
# run_ok N: the job's newest run is its Nth, finished and ok.
run_ok() {
    get "$API/jobs/$H1/runs?limit=1" >/dev/null &&
        py "import json; r=json.load(open('$T/body'))['runs']; assert r and r[0]['status']=='ok', r" &&
        [ "$(runs_of_h1)" -ge "$1" ]
}
# sockets: the daemon's sockets on the API's port (the listener and the
# connections it holds), not its own clients (a refresh's provider
# connection may be open at one count and closed at the next).
sockets() {
    py "
import glob, os
inodes = set()
for fd in glob.glob('/proc/$DPID/fd/*'):
    try:
        link = os.readlink(fd)
    except OSError:
        continue
    if link.startswith('socket:['):
        inodes.add(link[8:-1])
n = 0
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        n += int(f[1].rsplit(':', 1)[1], 16) == $PORT and f[9] in inodes
print(n)"
}
sockets_at_most() { [ "$(sockets)" -le "$1" ] || { echo "$(sockets) sockets open, more than $1" >&2; return 1; }; }
sockets_at_least() { [ "$(sockets)" -ge "$1" ]; }
health_fast() {
    local code
    code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$API/health") || { echo "/health: no answer within 1 s" >&2; return 1; }
    [ "$code" = 200 ] || { echo "/health: $code" >&2; return 1; }
}
FLOOD_PID=""
flood_start() {
    python3 "$CK_SOURCE_DIR/tests/helpers/slow_clients.py" --port "$PORT" --stats "$T/flood.json" "$@" &
    FLOOD_PID=$!
    FAKE_PIDS+=("$FLOOD_PID")
}
flood_stop() { kill -TERM "$FLOOD_PID" && wait "$FLOOD_PID"; }
flood_stat() { py "import json; print(json.load(open('$T/flood.json'))['$1'])"; }
# timeouts_at_least N: /metrics counts N requests cut off with 408 or more.
timeouts_at_least() {
    get "$API/metrics" >/dev/null && py "
import re; m = re.search(r'^http_request_timeouts_total (\S+)$', open('$T/body').read(), re.M)
raise SystemExit(0 if m and float(m.group(1)) >= $1 else 1)"
}
BASE=$(sockets)

# 1. One client trickling its headers, one sending nothing at all.
# trickle: both connections behave as the check says.
trickle() {
    py "
import socket, time
t = socket.create_connection(('127.0.0.1', $PORT)); t.settimeout(0.3)
i = socket.create_connection(('127.0.0.1', $PORT)); i.settimeout(0.3)
t.sendall(b'GET /health HTTP/1.1\r\nHost: x\r\n')
t0 = time.monotonic(); got = b''; idle_closed = None; n = 0
while time.monotonic() - t0 < 15:
    n += 1
    try: t.sendall(b'X-Slow-%d: 1\r\n' % n)
    except OSError: pass
    try:
        d = t.recv(4096)
        if not d: break
        got += d
    except socket.timeout: pass
    if idle_closed is None:
        try:
            if i.recv(1) == b'': idle_closed = time.monotonic() - t0
        except socket.timeout: pass
took = time.monotonic() - t0
assert got.startswith(b'HTTP/1.1 408 '), (got, took)
assert b'within 3 s' in got, got
assert 2.5 <= took <= 12, took  # cut at the 3 s deadline, not before; later only on a loaded machine
assert idle_closed is not None and 2.5 <= idle_closed <= 12, idle_closed
"
}
check "a client trickling header lines gets 408 after 3 s; an idle one is closed" trickle

# 2. 100 slow clients from one address.
flood_start --count 100 --addrs 127.0.0.2 --interval 0.5
check "the flood is held: 16 connections from its address" wait_for 60 sockets_at_least $((BASE + 16))
for i in 1 2 3; do check "/health answers within 1 s while they are held ($i)" health_fast; done
check "the daemon holds no more than 16 of the address's connections" sockets_at_most $((BASE + 16 + 2))
check "a refresh is accepted" test "$(get -X POST "$API/jobs/$H1/run")" = 202
check "and runs" wait_for 60 run_ok 1
check "the held ones are cut off after 3 s" wait_for 60 timeouts_at_least 17
check "and the address is held again" wait_for 60 sockets_at_least $((BASE + 16))
flood_stop
check "the flood's clients got their 408s" test "$(flood_stat got_408)" -ge 16

# 3. More slow clients, from 20 addresses, than the file limit would hold.
ADDRS=$(py "print(','.join('127.0.0.%d' % i for i in range(3, 23)))")
flood_start --count 300 --addrs "$ADDRS" --interval 0.5 --wave 1
check "the API fills its 128 connections" wait_for 60 sockets_at_least $((BASE + 120))
check "and takes no more" sockets_at_most $((BASE + 128 + 4))
check "a refresh asked for under the flood is accepted" test "$(get -X POST "$API/jobs/$H1/run")" = 202
check "and runs: the scheduler has its descriptors" wait_for 60 run_ok 2
check "the API never ran the daemon out of descriptors" sockets_at_most $((BASE + 128 + 4))
flood_stop
# The HTTP server's complaint about each refused connection is logged ten
# times in ten seconds at most; the rest are counted.
few_server_messages() {
    local n
    n=$(grep -c -E 'connection limit|closed by remote side|Connection socket is closed' "$T/daemon.log")
    [ "$n" -le 60 ] || { echo "$n messages from the HTTP server logged" >&2; return 1; }
}
check "the flood does not flood the log" few_server_messages
check "what was left out is counted" wait_for 60 grep -q "more messages from the HTTP server in 10 s were not logged" "$T/daemon.log"
check "nothing in the log says a file could not be opened" lacks_re "unable to open|Too many open files" "$T/daemon.log"
check "/health answers within 1 s once the flood is over" wait_for 60 health_fast
check "/metrics counts the requests cut off" timeouts_at_least 100
check "the daemon stops cleanly" daemon_stop "$DPID"
finish
