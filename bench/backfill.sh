#!/usr/bin/env bash
# Backfill benchmark: `candlekeep backfill` of one year of M1 (525,600
# candles, BTC/USD, 2025) from the fake Twelve Data, which answers 5,000
# rows a request (its documented outputsize limit) after a latency of
# 20 ms a request, with a budget that does not bind. Prints candles/s,
# the requests sent, and the run's time against the time the requests
# alone take (request count x latency): what the rest (the fake building
# its answers, parsing, validating, storing) adds.
#
# (The issue asks for a fake Binance at 1,000 rows a request and its
# weight budget; this branch has no Binance adapter yet, so the fake
# Twelve Data at 5,000 rows a request stands in.)
#
# Usage: bench/backfill.sh [CANDLEKEEP_BIN]
# Environment:
#   CK_BENCH_URL      the store (default: a new SQLite file)
#   CK_BENCH_LATENCY  seconds the fake waits before each answer (default 0.02)
set -euo pipefail

BIN=${1:-build/candlekeep}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LATENCY=${CK_BENCH_LATENCY:-0.02}
die() { echo "bench/backfill: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
command -v curl >/dev/null || die "curl is not installed (make deps installs it)"

TMP=$(mktemp -d /tmp/ckbenchbf.XXXXXX)
FAKE=
cleanup() {
    [ -z "$FAKE" ] || kill "$FAKE" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

python3 "$ROOT/tests/helpers/fake_twelvedata.py" --port-file "$TMP/port" --api-key bench-key \
    2>"$TMP/fake.log" &
FAKE=$!
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
[ -s "$TMP/port" ] || die "the fake Twelve Data did not start"
URL="http://127.0.0.1:$(cat "$TMP/port")"
curl -fsS -X POST -d "{\"limits\": \"unlimited\", \"delay\": $LATENCY}" "$URL/__control" >/dev/null

STORE=${CK_BENCH_URL:-sqlite:$TMP/bench.db}
SRC="bench$$"
cat >"$TMP/ck.ini" <<INI
[storage]
url = $STORE
[log]
level = warn
[source.$SRC]
kind = twelvedata
api_key = bench-key
base_url = $URL
symbols = BTC/USD
timeframes = M1
calendar = crypto
rate_limit = 100000/1m
daily_quota = 0
INI

# The run, timed by the clock and by the CPU time candlekeep used.
python3 - "$BIN" "$TMP" "$SRC" <<'PY' || { cat "$TMP/out" >&2; die "the backfill failed"; }
import resource, subprocess, sys, time
bin_, tmp, src = sys.argv[1:4]
t0 = time.monotonic()
with open(f"{tmp}/out", "w") as out:
    rc = subprocess.call([bin_, "backfill", "--config", f"{tmp}/ck.ini", "--source", src,
                          "--symbol", "BTC/USD", "--timeframe", "M1", "--since", "2025-01-01",
                          "--until", "2026-01-01"], stdout=out, stderr=subprocess.STDOUT)
took = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(f"{tmp}/times", "w").write(f"{took} {ru.ru_utime + ru.ru_stime}\n")
sys.exit(rc)
PY
curl -fsS "$URL/__requests" >"$TMP/requests.json"
# The fake's own time: the same requests again, one by one, without the latency.
curl -fsS -X POST -d '{"delay": 0}' "$URL/__control" >/dev/null
python3 - "$URL" "$TMP/requests.json" "$TMP/times" "$LATENCY" "$TMP/out" <<'PY'
import json, re, sys, time, urllib.parse, urllib.request
url, reqlog, lat, out = sys.argv[1], sys.argv[2], float(sys.argv[4]), sys.argv[5]
took, cpu = (float(x) for x in open(sys.argv[3]).read().split())
logged = json.load(open(reqlog))
reqs = len(logged)
fake = 0.0
for r in logged:
    q = urllib.parse.urlencode(r["query"])
    req = urllib.request.Request(f"{url}{r['path']}?{q}", headers={"Authorization": "apikey bench-key"})
    t0 = time.monotonic()
    urllib.request.urlopen(req).read()
    fake += time.monotonic() - t0
text = open(out).read()
m = re.search(r"done: (\d+) candles stored in (\d+) requests", text)
if not m:
    sys.exit("bench/backfill: no summary in the output:\n" + text)
candles, answered = int(m.group(1)), int(m.group(2))
floor = reqs * lat
print(f"backfill of one year of M1: {candles:,} candles in {answered} requests "
      f"({reqs} seen by the fake), {took:.2f} s")
print(f"  {candles / took:,.0f} candles/s; {reqs / took:.1f} requests/s; candlekeep used "
      f"{cpu:.2f} s of CPU ({candles / cpu:,.0f} candles per CPU second)")
print(f"  request count x latency = {reqs} x {lat * 1000:.0f} ms = {floor:.2f} s; "
      f"the run took {took / floor:.2f}x that")
# The fake builds each answer in Python (about a quarter second for 5,000 rows here): time
# that a real venue spends on its side. Replayed alone, it is taken out of the run's time.
own = took - fake
print(f"  the fake spent {fake:.2f} s building its answers (the requests replayed alone); "
      f"without it the run took {own:.2f} s = {own / floor:.2f}x request count x latency")
if candles != 525600:
    sys.exit(f"bench/backfill: {candles} candles stored, 525,600 expected")
PY
