#!/usr/bin/env bash
# candlekeep migrate: a SQLite store with every kind of row (candles with and
# without volume and exact prices, a gap ledger in every state, job state
# with a paused job and a streak, job runs with odd text and JSON details,
# leases) is copied to PostgreSQL (the database of `make test`,
# CK_TEST_PG_URL; a fresh database is created for it) and back, read back
# through the CLI on both sides, re-verified after tampering, and finished
# after an interruption. Without CK_TEST_PG_URL the target is a second
# SQLite file, and the test says so.
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG
export CANDLEKEEP_NOW=2024-03-15T12:00:00Z

SRC_DB="$T/source.db"
SRC_URL="sqlite:$SRC_DB"
BACK_URL="sqlite:$T/back.db"
PG_DB=""

find_psql() {
    PSQL=$(command -v psql 2>/dev/null || true)
    if [ -z "$PSQL" ]; then
        for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done
    fi
    [ -n "$PSQL" ] || { echo "test_migrate: psql not found (install postgresql-client)" >&2; exit 1; }
}

if [ -z "${CK_TEST_PG_URL:-}" ] && [ -n "${CK_TEST_PG_REQUIRED:-}" ]; then
    echo "FAIL - test_migrate needs PostgreSQL under make test and CK_TEST_PG_URL is not set" >&2
    exit 1
fi
if [ -n "${CK_TEST_PG_URL:-}" ]; then
    find_psql
    PG_DB="ck_migrate_$$_$RANDOM"
    "$PSQL" "$CK_TEST_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    base=${CK_TEST_PG_URL%%\?*}
    case $CK_TEST_PG_URL in *\?*) query="?${CK_TEST_PG_URL#*\?}" ;; *) query="" ;; esac
    DST_URL="${base%/*}/$PG_DB$query"
    trap '"$PSQL" "$CK_TEST_PG_URL" -X -q -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true; cleanup' EXIT
    echo "# target: a fresh PostgreSQL database ($PG_DB)"
else
    DST_URL="sqlite:$T/target.db"
    echo "# note: CK_TEST_PG_URL is not set: migrating SQLite to SQLite only (make test covers PostgreSQL)"
fi
DST_SHOWN=$(echo "$DST_URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')

# dst_sql SQL: run SQL on the target (psql or sqlite3 via python) and print the rows.
dst_sql() {
    if [ -n "$PG_DB" ]; then
        "$PSQL" "$DST_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
    else
        py "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute(sys.argv[2]).fetchall(); c.commit(); print('\n'.join('|'.join(str(x) for x in row) for row in r))" "$T/target.db" "$1"
    fi
}

# config NAME URL: a configuration for reading a store through the CLI.
config() {
    cat >"$T/$1.ini" <<INI
[storage]
url = $2
[source.$SRC]
kind = twelvedata
api_key = not-used
base_url = http://127.0.0.1:9
symbols = XAU/USD SHIB/USD
timeframes = M15 H1
INI
}
config src "$SRC_URL"
config dst "$DST_URL"
config back "$BACK_URL"

# 1. The source: the schema through candlekeep, the rows straight into SQLite.
ck jobs list --config "$T/src.ini"
check "the source store is created" expect_rc 0
python3 - "$SRC_DB" "$SRC" <<'PY'
import sqlite3, sys
db, src = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
S = 100000000  # the price scale
T0 = 1709251200  # 2024-03-01T00:00:00Z
def series(sym, tf):
    c.execute("INSERT INTO series (source, symbol, timeframe) VALUES (?, ?, ?)", (src, sym, tf))
    return c.execute("SELECT id FROM series WHERE source=? AND symbol=? AND timeframe=?", (src, sym, tf)).fetchone()[0]
xau, shib, xag = series("XAU/USD", "M15"), series("SHIB/USD", "H1"), series("XAG/USD", "M15")
rows = []
# 12,345 M15 candles without volume: three batches of the copy. Exact prices, 2063.41 among them.
for i in range(12345):
    o = 206341000000 + (i % 97) * 1000000
    rows.append((xau, T0 + 900 * i, o, o + 50000000, o - 3000000, o + 1000000, None))
# H1 candles with volume and prices down to 0.00000001.
for i in range(400):
    rows.append((shib, T0 + 3600 * i, 1 + i, 1234 + i, 1, 1000 + i, 12345678912345678 + i))
c.executemany("INSERT INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
gaps = [
    (xau, T0 + 900 * 20000, T0 + 900 * 20002, 3, "open", "fetch failed", T0 + 5, T0 + 7),
    (xau, T0 + 900 * 30000, T0 + 900 * 30000, 1, "filled", "missing", T0 + 11, T0 + 13),
    (shib, T0 + 3600 * 500, T0 + 3600 * 510, 11, "unfillable", 'provider: "no data"\tat all \\ caf\u00e9', T0 + 17, T0 + 19),
    (xag, T0, T0 + 900 * 3, 4, "repairing", "missing", T0 + 23, T0 + 29),
]
c.executemany("INSERT INTO gaps (series_id, first_time, last_time, count, state, reason, first_seen, last_checked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", gaps)
c.execute("INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at, paused_until, pause_reason, paused_by) VALUES ('refresh_candles_M15', 1, 3, ?, ?, ?, 'provider upgrade \u00e9', 'cli:ops')", (T0 + 86400, T0 + 86401, 4102444800))
c.execute("INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at) VALUES ('refresh_candles_H1', 0, 0, 0, ?)", (T0 + 3,))
ms = 1000 * T0
runs = [
    ("refresh_candles_M15", "host-a:1", T0 + 900, ms + 900000, ms + 902500, "ok", "stored 4 candles", '{"stored": 4, "symbols": ["XAU/USD"], "note": "caf\\u00e9 \\"q\\""}'),
    ("refresh_candles_M15", "host-a:1", T0 + 1800, ms + 1800000, ms + 1800700, "failed", "fetch failed:\n\"HTTP 500\"\twith a tab", '{"error": {"status": 500}}'),
    ("refresh_candles_M15", "host-b:2", T0 + 2700, ms + 2700000, ms + 2700000, "skipped", "skipped: running elsewhere", "{}"),
    ("refresh_candles_M15", "host-a:1", T0 + 3600, ms + 3600000, ms + 3660000, "timed_out", "timed out after 60 s", "{}"),
    ("refresh_candles_H1", "host-a:1", T0 + 3600, ms + 3600001, None, "missed", "missed: the daemon was down", "{}"),
    ("refresh_candles_H1", "cli:host-a:3", T0 + 7200, ms + 7200000, None, "running", "", "{}"),
]
c.executemany("INSERT INTO job_runs (job_id, instance, scheduled, started, finished, status, message, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", runs)
# An expired lease and one still held (until 2100): leases are not copied.
c.execute("INSERT INTO leases VALUES ('job:refresh_candles_M15:old', 'host-a:1', ?, ?)", (ms, ms))
c.execute("INSERT INTO leases VALUES ('job:refresh_candles_H1:now', 'host-a:1', 4102444800000, ?)", (ms,))
c.commit()
PY
check "the source is filled" test "$(py "import sqlite3; print(sqlite3.connect('$SRC_DB').execute('select count(*) from candles').fetchone()[0])")" = 12745

# 2. Usage errors and refusals that touch nothing.
ck migrate --help
check "migrate --help exits 0" expect_rc 0
check "migrate --help prints usage" out_has "usage: candlekeep migrate --from URL --to URL"
ck migrate --from "$SRC_URL"
check "migrate without --to exits 2" expect_rc 2
check "migrate without --to says so" err_has "both --from and --to are required"
ck migrate --from "$SRC_URL" --to "mysql://h/db"
check "an unsupported URL exits 2" expect_rc 2
check "an unsupported URL is named" err_has "'mysql://h/db' is not a database URL"
ck migrate --from "$SRC_URL" --to "sqlite://$SRC_DB"
check "the same database on both sides exits 2" expect_rc 2
check "the same database is refused" err_has "name the same database"
ck migrate --from "sqlite:$T/nonexistent.db" --to "$BACK_URL"
check "a missing source file exits 1" expect_rc 1
check "a missing source file is named" err_has "the source '$T/nonexistent.db' does not exist"
check "a missing source file is not created" test ! -e "$T/nonexistent.db"

ck migrate --from "$SRC_URL" --to "postgresql://nobody:s3cr3tpw@127.0.0.1:1/none"
check "an unreachable target exits 1" expect_rc 1
check "an unreachable target is named as the target, its password masked" \
    err_has "cannot open the target: store: cannot connect to 'postgresql://nobody:***@127.0.0.1:1/none'"
check "the password of an unreachable target is never printed" lacks s3cr3tpw "$T/out" "$T/err"
cp "$SRC_DB" "$T/broken.db"
py "import sqlite3; c=sqlite3.connect('$T/broken.db'); c.execute(\"INSERT INTO series (source, symbol, timeframe) VALUES ('zz', 'X', 'M7')\"); c.commit()"
ck migrate --from "sqlite:$T/broken.db" --to "sqlite:$T/from_broken.db"
check "a source that cannot be read exits 1" expect_rc 1
check "the failing side and table are named" err_has "cannot read candles from the source 'sqlite:$T/broken.db': "
check "a row no retry can fix gets no advice to retry" lacks 'with --force to finish' "$T/err"

# 3. The copy.
ck migrate --from "$SRC_URL" --to "$DST_URL"
check "migrate exits 0" expect_rc 0
check "migrate names both stores, the password masked" out_has "migrating $SRC_URL (sqlite) to $DST_SHOWN"
PASSWORD=$(echo "$DST_URL" | sed -nE 's#^[a-z]+://[^:/@]*:([^@]*)@.*#\1#p')
if [ -n "$PASSWORD" ]; then
    check "the password is never printed" lacks "$PASSWORD" "$T/out" "$T/err"
fi
check "candles are copied" out_has "copied candles  12,745 rows"
check "job runs are copied" out_has "copied job_runs 6 rows"
for line in "candles   12,745 rows  sha256" "gaps           4 rows  sha256" \
    "jobs           2 rows  sha256" "job_runs       6 rows  sha256"; do
    check "verification line: $line" out_has "$line"
done
check "every table verifies ok" test "$(grep -c ' = [0-9a-f]\{16\}  ok$' "$T/out")" = 13
check "migrate says it verified" out_has "verified: every table matches"
check "a live lease on the source is warned about" err_has "has 1 lease still held (by 'host-a:1')"
check "no progress bar when stderr is not a terminal" lacks $'\r' "$T/err"
check "leases are not copied" test "$(dst_sql 'SELECT count(*) FROM leases')" = 0
cp "$T/out" "$T/first_migrate.out"

# read_json FILE ARGS...: `candlekeep ARGS --format json` into FILE; its status.
read_json() {
    local f=$1
    shift
    "$CK_BIN" "$@" --format json >"$f" 2>"$f.err" || { cat "$f.err" >&2; return 1; }
}
# 4. Read back through the CLI on both sides: identical.
# same NAME CMD...: the JSON of `candlekeep CMD --format json` on the source and the target
# match (ids aside, which the target numbers itself).
same() {
    local what=$1; shift
    check "$what: the source reads" read_json "$T/a.json" "$@" --config "$T/src.ini"
    check "$what: the target reads" read_json "$T/b.json" "$@" --config "$T/${TARGET_CFG:-dst}.ini"
    check "$what" py "
import json
def load(p):
    v = json.load(open(p))
    for r in v: r.pop('id', None)
    return v
a, b = load('$T/a.json'), load('$T/b.json')
assert a, 'nothing to compare'
assert a == b, (len(a), len(b), [x for x in zip(a, b) if x[0] != x[1]][:2])"
}
compare_all() {
    same "XAU/USD M15 candles read back identical" candles M15 --symbol XAU/USD --source "$SRC" --limit 0 --order asc
    same "SHIB/USD H1 candles (volume, 0.00000001) read back identical" candles H1 --symbol SHIB/USD --source "$SRC" --limit 0 --order asc
    same "the XAU/USD gap ledger reads back identical" gaps M15 --symbol XAU/USD --source "$SRC" --days 3650
    same "the SHIB/USD gap ledger reads back identical" gaps H1 --symbol SHIB/USD --source "$SRC" --days 3650
    same "the XAG/USD gap ledger (a series without candles) reads back identical" gaps M15 --symbol XAG/USD --source "$SRC" --days 3650
    same "job state reads back identical" jobs list
    same "M15 job history reads back identical" jobs runs refresh_candles_M15 --limit 100
    same "H1 job history reads back identical" jobs runs refresh_candles_H1 --limit 100
}
compare_all
ck candles M15 --symbol XAU/USD --source "$SRC" --limit 1 --order asc --format json --config "$T/dst.ini"
check "candles M15 on the target exits 0" expect_rc 0
check "2063.41 arrives exact" py "import json; c=json.load(open('$T/out'))[0]; assert c['open']=='2063.41' and c['volume'] is None, c"
ck candles H1 --symbol SHIB/USD --source "$SRC" --limit 1 --order asc --format json --config "$T/dst.ini"
check "candles H1 on the target exits 0" expect_rc 0
check "0.00000001 and a volume arrive exact" py "import json; c=json.load(open('$T/out'))[0]; assert c['open']=='0.00000001' and c['low']=='0.00000001' and c['volume']=='123456789.12345678', c"
ck jobs list --format json --config "$T/dst.ini"
check "jobs list on the target exits 0" expect_rc 0
check "the paused job and its streak arrive" py "import json; j={r['id']: r for r in json.load(open('$T/out'))}; assert j['refresh_candles_M15']['paused']=='true' and j['refresh_candles_M15']['streak']==3 and j['refresh_candles_H1']['paused']=='false', j"
ck jobs runs refresh_candles_M15 --format json --config "$T/dst.ini"
check "jobs runs on the target exits 0" expect_rc 0
check "run details arrive as the same JSON" py "
import json
r = {x['status']: x for x in json.load(open('$T/out'))}
assert r['ok']['details'] == {'stored': 4, 'symbols': ['XAU/USD'], 'note': 'caf\u00e9 \"q\"'}, r['ok']
assert r['failed']['message'] == 'fetch failed:\n\"HTTP 500\"\twith a tab', r['failed']"
if [ -n "$PG_DB" ]; then
    check "last fire and update time arrive (PostgreSQL)" test "$(dst_sql "SELECT job_id, extract(epoch FROM last_fire)::bigint, extract(epoch FROM updated_at)::bigint FROM jobs WHERE job_id = 'refresh_candles_M15'")" = "refresh_candles_M15|1709337600|1709337601"
    check "the pause's end, reason and author arrive (PostgreSQL)" test "$(dst_sql "SELECT extract(epoch FROM paused_until)::bigint, pause_reason, paused_by FROM jobs WHERE job_id = 'refresh_candles_M15'")" = "4102444800|provider upgrade é|cli:ops"
    check "a job without a fire has none (PostgreSQL)" test "$(dst_sql "SELECT last_fire IS NULL FROM jobs WHERE job_id = 'refresh_candles_H1'")" = t
    check "prices are real numbers in SQL (PostgreSQL)" test "$(dst_sql "SELECT min(open) FROM candles_view WHERE symbol = 'XAU/USD'")" = "2063.41000000"
fi

# 5. Into a store that holds data: refused without --force, idempotent with it.
ck migrate --from "$SRC_URL" --to "$DST_URL"
check "a second migrate without --force exits 1" expect_rc 1
check "the refusal says what the target holds" err_has "holds data already (3 series, 12745 candles, 4 gaps, 2 jobs, 6 job_runs)"
check "the refusal points at --force" err_has "pass --force"
ck migrate --from "$SRC_URL" --to "$DST_URL" --force
check "migrate --force into the same target exits 0" expect_rc 0
check "--force leaves gap records that are there alone" out_has "copied gaps     4 rows in"
check "--force says they were there" out_has "4 already in the target"
check "--force verifies ok" out_has "verified: every table matches"
check "--force duplicates nothing" test "$(dst_sql 'SELECT count(*) FROM job_runs')" = 6

# 6. The other way: the target back into a new SQLite file.
ck migrate --from "$DST_URL" --to "$BACK_URL"
check "migrating back exits 0" expect_rc 0
check "migrating back verifies ok" out_has "verified: every table matches"
check "the digests are the same in both directions" test \
    "$(grep -o 'sha256 [0-9a-f]*' "$T/out" | sort)" = "$(grep -o 'sha256 [0-9a-f]*' "$T/first_migrate.out" | sort)"
TARGET_CFG=back same "the round trip gives the source's candles" candles M15 --symbol XAU/USD --source "$SRC" --limit 0 --order asc
TARGET_CFG=back same "the round trip gives the source's job history" jobs runs refresh_candles_M15 --limit 100

# 7. Tampering is caught by --verify-only, naming the table.
ck migrate --verify-only --from "$SRC_URL" --to "$DST_URL"
check "--verify-only on an intact copy exits 0" expect_rc 0
check "--verify-only says so" out_has "verified: every table matches"
if [ -n "$PG_DB" ]; then
    dst_sql "UPDATE candles SET close = close + 0.00000001 WHERE open_time = (SELECT max(open_time) FROM candles c JOIN series s ON s.id = c.series_id WHERE s.symbol = 'XAU/USD') AND series_id = (SELECT id FROM series WHERE symbol = 'XAU/USD')" >/dev/null
else
    dst_sql "UPDATE candles SET close = close + 1 WHERE open_time = (SELECT max(open_time) FROM candles WHERE series_id = (SELECT id FROM series WHERE symbol = 'XAU/USD')) AND series_id = (SELECT id FROM series WHERE symbol = 'XAU/USD')" >/dev/null
fi
ck migrate --verify-only --from "$SRC_URL" --to "$DST_URL"
check "a changed price fails verification with exit 1" expect_rc 1
check "the candles table is the mismatch" grep -q '^candles .* != .*  MISMATCH$' "$T/out"
check "the other tables still match" test "$(grep -c '  ok$' "$T/out")" = 12
check "the failure names the table" err_has "verification failed: table candles differs"
dst_sql "DELETE FROM job_runs WHERE id = (SELECT max(id) FROM job_runs)" >/dev/null
ck migrate --verify-only --from "$SRC_URL" --to "$DST_URL"
check "a missing run fails verification" expect_rc 1
check "the missing run is counted" out_has "MISMATCH (the target has 5 rows)"
check "both tables are named" err_has "tables candles, job_runs differ"

# 8. An interrupted copy (the rows of the last batches missing: the newest run
# went above, and candles now) is finished by --force.
if [ -n "$PG_DB" ]; then
    dst_sql "DELETE FROM candles WHERE open_time >= to_timestamp(1709251200 + 900 * 10000)" >/dev/null
else
    dst_sql "DELETE FROM candles WHERE open_time >= 1709251200 + 900 * 10000" >/dev/null
fi
ck migrate --from "$SRC_URL" --to "$DST_URL" --force
check "--force finishes a partial copy and repairs it" expect_rc 0
check "the finished copy verifies" out_has "verified: every table matches"
compare_all

# 9. A progress bar on a terminal (under script(1), when there is one).
if command -v script >/dev/null 2>&1; then
    rm -f "$T/bar.db"
    # script(1) -e exits with the command's status.
    check "migrate on a terminal exits 0" script -qec "'$CK_BIN' migrate --from '$SRC_URL' --to 'sqlite:$T/bar.db'" /dev/null >"$T/out" 2>&1
    check "a terminal gets a progress bar with rows/s and an ETA" grep -q 'copying candles.*rows/s  ETA' "$T/out"
    check "the bar redraws in place" grep -q $'\r' "$T/out"
    rm -f "$T/bar2.db"
    check "migrate --no-progress on a terminal exits 0" script -qec "'$CK_BIN' migrate --no-progress --from '$SRC_URL' --to 'sqlite:$T/bar2.db'" /dev/null >"$T/out" 2>&1
    check "--no-progress draws no bar" lacks 'ETA' "$T/out"
else
    platform_skip "the progress bar on a terminal" "script(1) is not installed"
fi
finish
