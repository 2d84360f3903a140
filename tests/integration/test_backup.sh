#!/usr/bin/env bash
# ck-test: pg
# candlekeep backup / restore / backups through the real binary: a store
# with candles, signals, backtests and job history is backed up (the drill
# runs and passes), listed, and restored into a fresh SQLite file and, when
# PostgreSQL is at hand (CK_TEST_PG_URL), into a fresh PostgreSQL database;
# each restored store is compared with the source table by table by
# `migrate --verify-only`. The PostgreSQL run backs PostgreSQL up, so the
# two runs cover every direction (SQLite to PostgreSQL and back).
# Refusals write nothing: a target holding data, a target a daemon holds, a
# flipped byte, a truncated file, a manifest that disagrees with the data,
# a wrong key. --force moves the old database aside; stale -wal/-shm files
# are removed before the restored file is put in place.
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG CANDLEKEEP_API_TOKEN
export CANDLEKEEP_NOW=2024-03-15T12:00:00Z

BK="$T/backups"
PG_DBS=()
find_psql() {
    PSQL=$(command -v psql 2>/dev/null || true)
    if [ -z "$PSQL" ]; then
        for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done
    fi
    [ -n "$PSQL" ] || { echo "test_backup: psql not found (install postgresql-client)" >&2; exit 1; }
}
drop_pg_dbs() {
    local db
    for db in "${PG_DBS[@]}"; do
        "$PSQL" "$CK_TEST_PG_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || :
    done
}
if [ -n "${CK_TEST_PG_URL:-}" ]; then
    find_psql
    trap 'drop_pg_dbs; cleanup' EXIT
fi
# fresh_pg: create an empty PostgreSQL database; its URL in $PG_URL.
fresh_pg() {
    local db="ck_backup_$$_$RANDOM" base query
    "$PSQL" "$CK_TEST_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
    PG_DBS+=("$db")
    base=${CK_TEST_PG_URL%%\?*}
    case $CK_TEST_PG_URL in *\?*) query="?${CK_TEST_PG_URL#*\?}" ;; *) query="" ;; esac
    PG_URL="${base%/*}/$db$query"
}

# config FILE [EXTRA]: the test's store, backups into $BK, EXTRA appended to [backup].
config() {
    cat >"$1" <<INI
[storage]
url = $STORE_URL
[backup]
dir = $BK
${2:-}
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = M15 H1
INI
}
config "$T/ck.ini"
CFG=(--config "$T/ck.ini")

# 1. A store with rows in most tables.
"$CK_BUILD_DIR/bench/bench_fill_candles" --url "$STORE_URL" --count 3000 --source "$SRC" \
    --symbol XAU/USD --timeframe M15 >"$T/fill.out"
ck_ok signals add "${CFG[@]}" --symbol XAU/USD --timeframe M15 --direction long --entry 2000.10 \
    --stop-loss 1990.5 --take-profit 2010.25 --note "tab	and \\ backslash"
ck_ok backtests add "${CFG[@]}" --name bt1 --params '{"a":1}' --metrics '{"sharpe":1.5}'
ck_ok jobs run retention "${CFG[@]}"

# 2. The backup, its drill and its files.
ck backup "${CFG[@]}" --note "first of all"
check "backup exits 0" expect_rc 0
check "the drill restored and verified it" out_has "verified in"
check "the drill says ok" out_has ": ok"
BFILE=$(ls "$BK"/candlekeep-*.ckb)
check "one backup file, named by its time" test "$BFILE" = "$BK/candlekeep-20240315T120000Z.ckb"
mode_is() { [ "$(stat -c %a "$2")" = "$1" ] || { echo "$2 has mode $(stat -c %a "$2")" >&2; return 1; }; }
check "the backup is mode 0600" mode_is 600 "$BFILE"
check "the drill record is mode 0600" mode_is 600 "$BFILE.json"
check "the directory is mode 0700" mode_is 700 "$BK"
no_tmp() { ! ls -A "$BK" | grep -q '\.tmp'; }
check "no temporary file is left" no_tmp
check "the file starts with the header" py "assert open('$BFILE','rb').read(8) == b'CKBACKUP'"

ck backups "${CFG[@]}" --format json
check "backups exits 0" expect_rc 0
backups_json() { py "import json; d=json.load(open('$T/out')); $1"; }
check "backups lists it as verified ok" backups_json "assert len(d)==1 and d[0]['result']=='ok' and d[0]['verified_at']=='2024-03-15T12:00:00Z', d"
check "backups gives its size and backend" backups_json "assert d[0]['bytes']==$(stat -c %s "$BFILE") and d[0]['backend']=='${STORE_URL%%:*}', d"
ck backups "${CFG[@]}" --format csv
check "backups --format csv exits 0" expect_rc 0
check "the csv has a header and one row" py "import csv; r=list(csv.reader(open('$T/out'))); assert r[0][0]=='name' and len(r)==2, r"
check "a fresh verified backup is not stale" lacks "warning" "$T/err"
CANDLEKEEP_NOW=2024-03-17T12:00:01Z ck backups "${CFG[@]}"
check "backups still exits 0 when the newest verified backup is old" expect_rc 0
check "it warns that it is older than max_age" err_has "is from 2024-03-15T12:00:00Z, older than [backup] max_age (172800 s)"

# 3. Round trip into a fresh SQLite file, compared with the source by migrate.
ck restore "$BFILE" --to "sqlite:$T/r1.db" "${CFG[@]}"
check "restore into a new SQLite file exits 0" expect_rc 0
check "restore prints every table's check" out_has "candles"
check "restore says every table matches" out_has "verified: every table matches the backup's manifest"
ck migrate --verify-only --from "$STORE_URL" --to "sqlite:$T/r1.db"
check "the restored SQLite file equals the source, table by table" expect_rc 0

# 4. Into a fresh PostgreSQL database (from either engine's backup).
if [ -n "${CK_TEST_PG_URL:-}" ]; then
    fresh_pg
    ck restore "$BFILE" --to "$PG_URL" "${CFG[@]}"
    check "restore into an empty PostgreSQL database exits 0" expect_rc 0
    check "restore into PostgreSQL verifies every table" out_has "verified: every table matches"
    ck migrate --verify-only --from "$STORE_URL" --to "$PG_URL"
    check "the restored PostgreSQL database equals the source" expect_rc 0
    ck restore "$BFILE" --to "$PG_URL" "${CFG[@]}"
    check "a PostgreSQL database holding data is refused" rc_and_err 1 "holds data already"
else
    skip "restore into PostgreSQL" "CK_TEST_PG_URL is not set"
fi

# 5. A target holding data: refused and untouched; --force moves it aside.
SUM_BEFORE=$(sha256sum "$T/r1.db")
ck restore "$BFILE" --to "sqlite:$T/r1.db" "${CFG[@]}"
check "a SQLite file holding data is refused" rc_and_err 1 "holds data already"
check "and says nothing was written" err_has "nothing was written to the target"
check "the refused target is unchanged" test "$SUM_BEFORE" = "$(sha256sum "$T/r1.db")"
ck restore "$BFILE" --to "sqlite:$T/r1.db" --force "${CFG[@]}"
check "--force restores over it" expect_rc 0
check "--force says where the old database went" out_has "r1.db.pre-restore-20240315T120000Z"
check "the old database is kept aside" test -f "$T/r1.db.pre-restore-20240315T120000Z"

# 6. Stale -wal and -shm beside a missing database are removed first.
head -c 8192 /dev/urandom >"$T/r2.db-wal"
head -c 32768 /dev/urandom >"$T/r2.db-shm"
ck restore "$BFILE" --to "sqlite:$T/r2.db" "${CFG[@]}"
check "restore next to stale -wal/-shm exits 0" expect_rc 0
check "it says it removed them" out_has "removed 2 stale -wal/-shm files"
ck migrate --verify-only --from "$STORE_URL" --to "sqlite:$T/r2.db"
check "the database restored next to them is intact" expect_rc 0

# 7. A daemon holding the target: refused, even with --force.
PORT=$(free_port)
cat >"$T/d.ini" <<INI
[storage]
url = sqlite:$T/r2.db
[api]
listen = 127.0.0.1:$PORT
[log]
file = $T/daemon.log
[jobs]
refresh_candles_M15 = 0 0 1 1 *
refresh_candles_H1 = 0 0 1 1 *
[digest]
schedule = 0 0 1 1 *
[source.$SRC]
kind = twelvedata
api_key = unused
base_url = http://127.0.0.1:9
symbols = XAU/USD
timeframes = M15 H1
INI
health_up() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health"; }
daemon_start "$T/daemon.out" run --config "$T/d.ini"
DPID=$DAEMON_PID
check "a daemon runs on the restored file" wait_for 20 health_up
ck restore "$BFILE" --to "sqlite:$T/r2.db" --force "${CFG[@]}"
check "a database a daemon holds is refused, even with --force" rc_and_err 1 "daemon (pid $DPID) is running"
check "the daemon's database was not moved aside" test -z "$(ls "$T" | grep 'r2.db.pre-restore' || :)"
# The backup job, run by hand next to the daemon. Into a directory that
# cannot be made, it fails and raises its critical alerts at once; into the
# default directory beside its database ($T/backups) it passes, the failure
# alert resolves, and GET /backups lists it.
{ cat "$T/d.ini"; printf '[backup]\ndir = %s/d.ini/backups\n' "$T"; } >"$T/d-bad.ini"
ck jobs run backup --config "$T/d-bad.ini"
check "the backup job fails when its directory cannot be made" expect_rc 1
check "and says why" out_has "backup failed: '$T/d.ini' is not a directory"
ck alerts --config "$T/d.ini" --format json
check "alerts exits 0" expect_rc 0
alert_state() { py "import json; a={x['key']: x for x in json.load(open('$T/out'))}; k=a['$1']; assert k['state']=='$2' and k['severity']=='critical', k"; }
check "a failed backup is a critical alert at once" alert_state backup:failed firing
check "no verified backup is a critical alert" alert_state backup:stale firing
ck jobs run backup --config "$T/d.ini"
check "the backup job runs ok" expect_rc 0
ck alerts --config "$T/d.ini" --format json
check "alerts exits 0 again" expect_rc 0
check "a good backup resolves the failure" alert_state backup:failed resolved
check "a verified backup resolves the staleness" alert_state backup:stale resolved
get_backups() { curl -fsS "http://127.0.0.1:$PORT/backups" >"$T/backups.json"; }
check "GET /backups answers without a token" get_backups
api_backups() { py "import json; d=json.load(open('$T/backups.json')); $1"; }
check "GET /backups lists the verified backups, newest first" api_backups "
assert d['dir']=='$BK' and d['count']==len(d['backups'])>=1, d
b=d['backups'][0]
assert b['result']=='ok' and b['name'].endswith('.ckb') and b['bytes']>0 and b['verified_at'], b
assert d['last_verified']==b['created'] and d['stale'] is False and d['max_age']==172800, d"
health_backups() {
    curl -fsS "http://127.0.0.1:$PORT/health" |
        py "import json,sys; b=json.load(sys.stdin)['backups']; d=json.load(open('$T/backups.json')); assert b['count']==d['count'] and b['last']==d['backups'][0]['created'] and b['last_verified']==d['last_verified'] and b['last_verified_ok'] is True and b['stale'] is False, (b, d)"
}
check "/health shows the last backup and the last verified restore" health_backups
ck status --config "$T/d.ini"
check "status exits 0" expect_rc 0
check "status shows them too" out_has "(restore verified), last verified restore $(py "import json; print(json.load(open('$T/backups.json'))['last_verified'])")"
ck digest --print --config "$T/d.ini"
check "digest --print exits 0" expect_rc 0
check "the digest shows the last backup and its verified restore" out_has "Backups: last $(py "import json; print(json.load(open('$T/backups.json'))['backups'][0]['created'])") (restore verified)"
# A backup damaged after it was written is found by the next run of the
# job (every kept backup's checksum is checked again): one alert for the
# episode, resolved once the damaged file is gone.
# Yesterday's backup (retention keeps the newest of each day), then damaged.
{ cat "$T/d.ini"; printf '[backup]\ndir = %s/bk2\n' "$T"; } >"$T/d-bk2.ini"
CANDLEKEEP_NOW=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ) ck backup --config "$T/d-bk2.ini"
check "yesterday's backup into a second directory exits 0" expect_rc 0
OLD=$(ls "$T"/bk2/*.ckb)
py "b=bytearray(open('$OLD','rb').read()); b[len(b)//2]^=0x01; open('$OLD','wb').write(b)"
ck jobs run backup --config "$T/d-bk2.ini"
check "the next run finds the damaged backup and fails" expect_rc 1
check "naming it" out_has "1 damaged: $(basename "$OLD")"
ck alerts --config "$T/d.ini" --format json
check "alerts exits 0 (damaged)" expect_rc 0
check "a damaged backup is a critical alert" alert_state backup:damaged firing
cp "$T/out" "$T/damaged1.json"
ck jobs run backup --config "$T/d-bk2.ini"
check "the run after finds it again" expect_rc 1
ck alerts --config "$T/d.ini" --format json
check "alerts exits 0 (damaged, again)" expect_rc 0
check "it is the same alert, not a second one" py "
import json
a=[x for x in json.load(open('$T/out')) if x['key']=='backup:damaged']
b=[x for x in json.load(open('$T/damaged1.json')) if x['key']=='backup:damaged']
assert len(a)==1 and a[0]['first_seen']==b[0]['first_seen'] and a[0]['state']=='firing', (a, b)"
rm -f "$OLD" "$OLD.json"
ck jobs run backup --config "$T/d-bk2.ini"
check "with the damaged file gone the job runs ok" expect_rc 0
ck alerts --config "$T/d.ini" --format json
check "alerts exits 0 (resolved)" expect_rc 0
check "and the alert resolves" alert_state backup:damaged resolved
check "the daemon stops cleanly" daemon_stop "$DPID"

# 8. Damaged files: refused with a clear error, nothing written.
nothing_at() { local f; for f in "$1" "$1-wal" "$1-shm" "$1.lock" "$1.restore.tmp"; do [ ! -e "$f" ] || { echo "$f exists" >&2; return 1; }; done; }
py "b=bytearray(open('$BFILE','rb').read()); b[len(b)//2]^=0x01; open('$T/flipped.ckb','wb').write(b)"
ck restore "$T/flipped.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a flipped byte is refused" rc_and_err 1 "damaged or truncated: its SHA-256 does not match"
check "nothing is written for a flipped byte" nothing_at "$T/x.db"
head -c "$(($(stat -c %s "$BFILE") - 100))" "$BFILE" >"$T/cut.ckb"
ck restore "$T/cut.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a truncated file is refused" rc_and_err 1 "damaged or truncated"
check "nothing is written for a truncated file" nothing_at "$T/x.db"
head -c 40 "$BFILE" >"$T/stub.ckb"
ck restore "$T/stub.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a file cut inside its manifest is refused" rc_and_err 1 "truncated"
check "nothing is written for it" nothing_at "$T/x.db"
printf 'not a backup at all\n' >"$T/junk.ckb"
ck restore "$T/junk.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a file that is no backup is refused" rc_and_err 1 "is not a candlekeep backup"
# A manifest that disagrees with the data, in a file whose checksum is right.
python3 - "$BFILE" "$T/lying.ckb" <<'PY'
import hashlib, json, struct, sys
b = open(sys.argv[1], 'rb').read()
mlen = struct.unpack('>I', b[12:16])[0]
m = json.loads(b[16:16 + mlen])
for t in m['tables']:
    if t['name'] == 'candles':
        t['rows'] += 1
nm = json.dumps(m, separators=(',', ':')).encode()
body = b[:8] + struct.pack('>II', 1, len(nm)) + nm + b[16 + mlen:-32]
open(sys.argv[2], 'wb').write(body + hashlib.sha256(body).digest())
PY
ck restore "$T/lying.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a manifest that disagrees with the data is refused" rc_and_err 1 "disagree with its manifest: table candles differs"
check "nothing is written for it" nothing_at "$T/x.db"

# 9. Encryption: gzip + AES-256-GCM; a wrong key or none is refused.
py "import base64, os; open('$T/key','w').write(base64.b64encode(os.urandom(32)).decode()+'\n')"
py "import base64, os; open('$T/key2','w').write(base64.b64encode(os.urandom(32)).decode()+'\n')"
config "$T/enc.ini" "compress = gzip
encrypt_key_file = $T/key"
ck backup --config "$T/enc.ini" --to "$T/enc"
check "an encrypted gzip backup is made and drilled" expect_rc 0
check "it says so" out_has "gzip, aes-256-gcm"
EFILE=$(ls "$T"/enc/*.ckb)
check "the payload is not readable without the key" py "
import gzip, struct; b=open('$EFILE','rb').read(); m=struct.unpack('>I', b[12:16])[0]
assert b[16+m:16+m+2] != b'\x1f\x8b'"
ck restore "$EFILE" --to "sqlite:$T/x.db" --key-file "$T/key2" "${CFG[@]}"
check "a wrong key is refused" rc_and_err 1 "the key is wrong or the file was altered"
check "nothing is written with a wrong key" nothing_at "$T/x.db"
ck restore "$EFILE" --to "sqlite:$T/x.db" "${CFG[@]}"
check "an encrypted backup without a key is refused" rc_and_err 1 "no key was given"
check "nothing is written without a key" nothing_at "$T/x.db"
printf 'c2hvcnQ=\n' >"$T/badkey"
ck restore "$EFILE" --to "sqlite:$T/x.db" --key-file "$T/badkey" "${CFG[@]}"
check "a key file that is no key is a usage error" rc_and_err 2 "does not hold 32 bytes in base64"
check "the key is never printed" lacks "$(cat "$T/key")" "$T/all.log"
ck restore "$EFILE" --to "sqlite:$T/e.db" --config "$T/enc.ini"
check "the right key restores it" expect_rc 0
ck migrate --verify-only --from "$STORE_URL" --to "sqlite:$T/e.db"
check "the decrypted database equals the source" expect_rc 0

# 10. Bad settings and arguments.
config "$T/bad.ini" "compress = lz4"
ck backup --config "$T/bad.ini"
check "an unknown compression is a configuration error naming it" rc_and_err 2 "'lz4' is not a compression (zstd, gzip, none)"
ck restore "$BFILE" "${CFG[@]}"
check "restore without --to is a usage error" rc_and_err 2 "--to URL are required"
ck restore "$T/nope.ckb" --to "sqlite:$T/x.db" "${CFG[@]}"
check "a missing backup file is named" rc_and_err 1 "nope.ckb"

finish
