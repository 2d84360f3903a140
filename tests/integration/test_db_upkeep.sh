#!/usr/bin/env bash
# The database tasks on SQLite through the CLI: db_maintenance on a sound
# database checks it, refreshes statistics and checkpoints; on a copy with
# a page overwritten, db_quick_check exits 1 naming the damage, and the
# critical alert db:integrity fires once (a second failing check does not
# send it again); the sound original still passes.
source "$(dirname "$0")/lib.sh"

unset DATABASE_URL TWELVE_DATA_API_KEY
mkdir -p "$T/good" "$T/bad"
for d in good bad; do
    printf '[storage]\nurl = sqlite:%s/%s/ck.db\n[log]\nfile = %s/%s/ck.log\n' "$T" "$d" "$T" "$d" >"$T/$d.ini"
done

ck maintenance run db_maintenance --config "$T/good.ini"
check "db_maintenance on a sound database exits 0" expect_rc 0
check "it checked and kept up the database" \
    out_has "db_maintenance ok: integrity_check: ok; statistics refreshed, log checkpointed"
# Pages to damage: a table of filler rows, folded back into the main file.
py "
import sqlite3
c = sqlite3.connect('$T/good/ck.db')
c.execute('CREATE TABLE filler (x TEXT)')
c.executemany('INSERT INTO filler VALUES (?)', [('y' * 500,)] * 4000)
c.commit()
c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
c.close()
"
cp "$T/good/ck.db" "$T/bad/ck.db"
py "
import os
p = '$T/bad/ck.db'
n = os.path.getsize(p)
with open(p, 'r+b') as f:
    f.seek((n // 2 // 4096) * 4096)
    f.write(bytes((i * 7919 + 13) & 255 for i in range(4096)))
"
ck maintenance run db_quick_check --config "$T/bad.ini"
check "db_quick_check on the damaged copy exits 1" expect_rc 1
check "it names the damage" out_has "db_quick_check failed: the database failed its quick_check: "
ck alerts --format json --config "$T/bad.ini"
check "alerts exits 0 on the damaged copy" expect_rc 0
check "the critical integrity alert fires" py "
import json
a = {x['key']: x for x in json.load(open('$T/out'))}['db:integrity']
assert a['severity'] == 'critical' and a['state'] == 'firing' and a['times_sent'] == 1, a
assert 'quick_check' in a['details'], a
"
ck maintenance run db_quick_check --config "$T/bad.ini"
check "a second check fails again" expect_rc 1
ck alerts --format json --config "$T/bad.ini"
check "alerts exits 0 after the second check" expect_rc 0
check "the alert is not sent twice for one episode" py "
import json
a = {x['key']: x for x in json.load(open('$T/out'))}['db:integrity']
assert a['state'] == 'firing' and a['times_sent'] == 1, a
"
ck maintenance history --task db_quick_check --format json --config "$T/bad.ini"
check "history exits 0" expect_rc 0
check "history keeps the failed runs with what was found" py "
import json
r = json.load(open('$T/out'))
assert len(r) == 2 and all(x['status'] == 'failed' for x in r), r
assert r[0]['details']['integrity'] == 'failed' and r[0]['details']['problems'], r[0]
"
ck maintenance run db_quick_check --config "$T/good.ini"
check "the sound original still passes" expect_rc 0
finish
