#!/usr/bin/env bash
# A full disk under the SQLite database: a 2 MB tmpfs holds it, and a
# filler file takes the rest of the space while the daemon runs. /health
# says 503 naming the full disk and `status` exits 1; an import fails with
# a clear error and exit 1, storing nothing, and what was stored before is
# all there (integrity_check, the same candles). Once the filler is removed
# both say healthy again and the same import succeeds. Mounting needs the
# privilege to: without it the test is skipped, saying so.
source "$(dirname "$0")/../integration/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_API_TOKEN CANDLEKEEP_CONFIG
export CANDLEKEEP_NOW=2024-06-01T00:00:00Z

if [[ "$STORE_URL" != sqlite:* ]]; then
    echo "skipped: $(basename "$0") fills the disk under an SQLite file" >&2
    exit 77
fi
DISK="$T/disk"
mkdir -p "$DISK"
MOUNTED=""
unmount() { if [ -n "$MOUNTED" ]; then umount "$DISK" && MOUNTED=""; fi; }
trap 'unmount 2>/dev/null || :; cleanup' EXIT
if ! mount -t tmpfs -o size=2m tmpfs "$DISK" 2>"$T/mount.err"; then
    platform_skip "a full disk under the database" "cannot mount a tmpfs here: $(cat "$T/mount.err")"
    finish
    exit
fi
MOUNTED=1
DB="$DISK/candlekeep.db"
PORT=$(free_port)
API="http://127.0.0.1:$PORT"
STORE_URL="sqlite:$DB"
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
symbols = BTC/USD
timeframes = H1
calendar = crypto
INI
} >"$T/ck.ini"
CFG=(--config "$T/ck.ini")
IMP=(--source "$SRC" --symbol BTC/USD --timeframe H1 --config "$T/ck.ini")

# csv FILE START_HOURS COUNT: a generic H1 file, candle i opening START + i
# hours after 2024-01-01.
csv() {
    py "
import sys
t0 = 1704067200 + $2 * 3600
with open('$1', 'w') as f:
    f.write('time,open,high,low,close,volume\n')
    for i in range($3):
        p = 40000 + i % 97
        f.write('%d,%d.5,%d.75,%d.25,%d.5,%d.125\n' % (t0 + i * 3600, p, p + 1, p - 1, p, i))"
}
count() { sqlite3 "$DB" "SELECT count(*) FROM candles"; }
digest() { sqlite3 "$DB" "SELECT group_concat(open_time || ':' || close, ',') FROM (SELECT * FROM candles ORDER BY open_time)" | md5sum; }
health_is() { [ "$(curl -s -m 5 -o "$T/body" -w '%{http_code}' "$API/health")" = "$1" ]; }
body() { py "import json; d=json.load(open('$T/body')); $1"; }
# fill: a filler file takes every free byte of the tmpfs.
fill() {
    dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null && return 1
    [ "$(stat -f -c %a "$DISK")" -eq 0 ]
}

csv "$T/first.csv" 0 500
csv "$T/more.csv" 500 3000
ck import "$T/first.csv" "${IMP[@]}"
check "the first file is imported" expect_rc 0
check "it stored its 500 candles" test "$(count)" = 500
BEFORE=$(digest)

daemon_start "$T/daemon.out" run "${CFG[@]}"
DPID=$DAEMON_PID
check "the daemon comes up healthy" wait_for 20 health_is 200

check "a filler file takes the whole disk" fill
check "/health answers 503 once the disk is full" wait_for 10 health_is 503
check "/health says the database takes no writes, naming the full disk" body "
db=d['database']
assert d['status']=='unavailable' and not db['reachable'], d
assert 'full' in db['error'] and '$DB' in db['error'], db"
ck status "${CFG[@]}"
check "status exits 1 on a full disk" expect_rc 1
check "status names the full disk" out_has "full"
ck import "$T/more.csv" "${IMP[@]}"
check "an import on the full disk fails with exit 1 (no crash)" expect_rc 1
check "it says the disk is full" err_has "full"
check "the daemon stays up" kill -0 "$DPID"
check "nothing already stored is lost" test "$(count)" = 500
check "the stored candles are the same" test "$(digest)" = "$BEFORE"
check "the file passes integrity_check" test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok

rm -f "$DISK/filler"
check "/health answers 200 again once space is freed" wait_for 10 health_is 200
ck status "${CFG[@]}"
check "status exits 0 again" expect_rc 0
ck import "$T/more.csv" "${IMP[@]}"
check "the same import now succeeds" expect_rc 0
check "every candle is there" test "$(count)" = 3500
check "the daemon stops cleanly" daemon_stop "$DPID"
check "the file passes integrity_check at the end" test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok
unmount
finish
