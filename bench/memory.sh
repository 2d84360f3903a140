#!/usr/bin/env bash
# Where the daemon's resident memory is: `candlekeep run` on a SQLite file
# holding 1,000,000 M15 candles (as bench/api.sh), measured from
# /proc/PID/smaps when idle, right after a burst of API reads (wrk, limit=1000)
# and a few seconds later, once the daemon has given free pages back.
# Each line splits VmRSS into the shared libraries (mapped from the page
# cache; PSS shares them out among the processes that map them), the
# candlekeep binary, malloc's heaps (the main heap and the threads' arenas),
# the thread stacks and the rest (libraries' .bss and other anonymous
# mappings), followed by PSS and USS (private pages only: what the
# process alone costs), the thread count and the store connections open.
#
# Usage: bench/memory.sh [CANDLEKEEP_BIN [FILL_BIN]]
# Environment: CK_BENCH_DB (a SQLite file, filled once, as bench/api.sh),
#   CK_BENCH_IDLE_WAIT (seconds idle before the second idle line, default 0:
#   none; 65 lets the per-minute jobs run once).
set -euo pipefail

BIN=${1:-build/candlekeep}
FILL=${2:-$(dirname "$BIN")/bench/bench_fill_candles}
IDLE_WAIT=${CK_BENCH_IDLE_WAIT:-0}

die() { echo "bench/memory: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no candlekeep binary at '$BIN' (build first: make build)"
[ -x "$FILL" ] || die "no fill helper at '$FILL' (build first: make build)"
command -v wrk >/dev/null || die "wrk is not installed (make deps installs it)"
command -v curl >/dev/null || die "curl is not installed (make deps installs it)"

TMP=$(mktemp -d /tmp/ckmem.XXXXXX)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cleanup() {
    bench_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT

DB=${CK_BENCH_DB:-$TMP/bench.db}
if [ ! -s "$DB" ]; then
    echo "bench/memory: filling $DB with 1,000,000 M15 candles"
    "$FILL" --url "sqlite:$DB" --count 1000000 --source twelvedata --symbol XAU/USD --timeframe M15
fi
bench_daemon daemon "sqlite:$DB"
PID=$DPID

# One line: "<label> RSS x MB = libraries a + binary b + heaps c + stacks d + other e; PSS, USS".
measure() {
    python3 - "$1" "$PID" "$(readlink -f "$BIN")" "$DB" <<'PY'
import os, re, sys
label, pid, binary, db = sys.argv[1:5]
stack = 8 << 20
try:
    import resource
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    if soft > 0:
        stack = soft
except Exception:
    pass
cat = dict(libraries=0, binary=0, heaps=0, stacks=0, other=0)
pss = uss = 0
name = start = size = None
with open(f"/proc/{pid}/smaps") as f:
    for line in f:
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
        if m:
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            size, name = end - start, m.group(3).strip()
            continue
        key, _, rest = line.partition(":")
        if key not in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
            continue
        kb = int(rest.split()[0])
        if key == "Pss":
            pss += kb
        elif key.startswith("Private"):
            uss += kb
        elif name == binary:
            cat["binary"] += kb
        elif ".so" in name:
            cat["libraries"] += kb
        elif name == "[heap]" or (not name and start % (64 << 20) == 0):
            cat["heaps"] += kb  # the main heap and the threads' arenas (64 MiB aligned)
        elif not name and size == stack:
            cat["stacks"] += kb
        else:
            cat["other"] += kb
rss = sum(cat.values())
threads = len(os.listdir(f"/proc/{pid}/task"))
conns = sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
            if os.path.realpath(f"/proc/{pid}/fd/{fd}") == os.path.realpath(db))
mb = lambda kb: f"{kb / 1024:.1f}"
print(f"{label:<14} RSS {mb(rss):>5} MB = libraries {mb(cat['libraries'])} + binary "
      f"{mb(cat['binary'])} + heaps {mb(cat['heaps'])} + stacks {mb(cat['stacks'])} + other "
      f"{mb(cat['other'])}; PSS {mb(pss)}, USS {mb(uss)}; {threads} threads, "
      f"{conns} store connections")
PY
}

sleep 1
measure "idle"
if [ "$IDLE_WAIT" -gt 0 ]; then
    sleep "$IDLE_WAIT"
    measure "idle +${IDLE_WAIT}s"
fi
wrk -t2 -c32 -d5s "$BASE/candles/M15?limit=1000" >/dev/null
measure "after reads"
sleep 6
measure "6 s later"

bench_stop "$PID"
