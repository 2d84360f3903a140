#!/usr/bin/env bash
# Every request gets an answer: hostile and malformed requests, sent raw
# over a socket, each get a status line within two seconds (before, some
# got none and held their connection until the 60 s timeout: 400 query
# arguments, a gzip transfer coding), and the right one: 431 for oversize
# headers, 414 for an oversize target or too many query arguments, 413 for
# an oversize body, 400 for malformed framing, 501 for an unknown method
# or transfer coding, 505 for another HTTP version. The daemon answers
# /health after all of them.
# ck-test: smoke
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN

PORT=$(free_port)
API="http://127.0.0.1:$PORT"
{
    daemon_ini_head
    cat <<INI
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
INI
} >"$T/ck.ini"
healthy() { curl -fs -m 2 "$API/health" >/dev/null; }
daemon_start "$T/daemon.out" run --config "$T/ck.ini"
DPID=$DAEMON_PID
check "the daemon comes up" wait_for 20 healthy

# answers CODE REQUEST: REQUEST (a Python bytes expression) sent raw gets a
# status line with CODE within two seconds.
answers() {
    py "
import socket, time
s = socket.create_connection(('127.0.0.1', $PORT)); s.settimeout(2)
s.sendall($2)
got = b''
try:
    while b'\r\n' not in got:
        d = s.recv(4096)
        if not d: break
        got += d
except socket.timeout: pass
line = got.split(b'\r\n')[0]
assert line.startswith(b'HTTP/1.1 $1 '), 'expected $1, got %r' % line"
}
H="b'Host: x\r\n'"
ARGS="'&'.join('a%d=1' % i for i in range"
check "400 query arguments: 414" answers 414 "('GET /health?' + $ARGS(400)) + ' HTTP/1.1\r\nHost: x\r\n\r\n').encode()"
check "4,000 query arguments: 414" answers 414 "('GET /health?' + $ARGS(4000)) + ' HTTP/1.1\r\nHost: x\r\n\r\n').encode()"
check "64 query arguments are still served" answers 200 "('GET /health?' + $ARGS(64)) + ' HTTP/1.1\r\nHost: x\r\n\r\n').encode()"
check "a 40 KB target: 414" answers 414 "b'GET /' + b'a' * 40000 + b' HTTP/1.1\r\n' + $H + b'\r\n'"
check "a 40 KB header: 431" answers 431 "b'GET /health HTTP/1.1\r\n' + $H + b'X-A: ' + b'a' * 40000 + b'\r\n\r\n'"
check "3,000 headers: 431" answers 431 "b'GET /health HTTP/1.1\r\n' + $H + b''.join(b'X-%d: v\r\n' % i for i in range(3000)) + b'\r\n'"
check "a body announced over 64 KiB: 413" answers 413 "b'POST /signals HTTP/1.1\r\n' + $H + b'Content-Length: 100000\r\n\r\n'"
check "a chunked body over 64 KiB: 413" answers 413 "b'POST /signals HTTP/1.1\r\n' + $H + b'Transfer-Encoding: chunked\r\n\r\n' + (b'8000\r\n' + b'x' * 32768 + b'\r\n') * 3 + b'0\r\n\r\n'"
check "Transfer-Encoding gzip: 501" answers 501 "b'POST /signals HTTP/1.1\r\n' + $H + b'Transfer-Encoding: gzip\r\nContent-Type: application/json\r\n\r\nabc'"
check "Transfer-Encoding gzip, chunked: 501" answers 501 "b'POST /signals HTTP/1.1\r\n' + $H + b'Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'"
check "an unknown method: 501" answers 501 "b'FOO /health HTTP/1.1\r\n' + $H + b'\r\n'"
check "a lower-case method: 501" answers 501 "b'get /health HTTP/1.1\r\n' + $H + b'\r\n'"
check "a known method on a known path: still 405" answers 405 "b'DELETE /health HTTP/1.1\r\n' + $H + b'\r\n'"
check "a bad Content-Length: 400" answers 400 "b'POST /signals HTTP/1.1\r\n' + $H + b'Content-Length: abc\r\n\r\n'"
check "a bad chunk: 400" answers 400 "b'POST /signals HTTP/1.1\r\n' + $H + b'Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'"
check "a header line without a colon: 400" answers 400 "b'GET /health HTTP/1.1\r\n' + $H + b'NoColonHere\r\n\r\n'"
check "no version (HTTP/0.9): 400" answers 400 "b'GET /health\r\n\r\n'"
check "a version that is no version: 400" answers 400 "b'GET /health FOO\r\n' + $H + b'\r\n'"
check "HTTP/2.0 over plain TCP: 505" answers 505 "b'GET /health HTTP/2.0\r\n' + $H + b'\r\n'"
check "the daemon still answers /health" healthy
check "the daemon stops cleanly" daemon_stop "$DPID"
finish
