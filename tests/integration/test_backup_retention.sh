#!/usr/bin/env bash
# Backup retention over 100 simulated days (CANDLEKEEP_NOW moves a day at
# a time, a backup at 01:30 each day): after every backup the directory
# holds exactly what 7 daily, 4 weekly (Monday to Sunday) and 6 monthly
# keep, as Python's calendar computes it; the copies in copy_to are the
# last 30 days'. The backups kept all still restore.
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG CANDLEKEEP_NOW

BK="$T/backups"
cat >"$T/ck.ini" <<INI
[storage]
url = sqlite:$T/ck.db
[backup]
dir = $BK
copy_to = $T/copies
copy_keep = 30d
INI
CFG=(--config "$T/ck.ini")
"$CK_BUILD_DIR/bench/bench_fill_candles" --url "sqlite:$T/ck.db" --count 500 --source "$SRC" \
    >"$T/fill.out"

# The expected names after the backup of each day (0-based from
# 2024-01-01), computed once: $T/expect/backups.DAY for retention,
# $T/expect/copies.DAY for copy_keep, one name per line, sorted; and the
# clock of each day in $T/expect/now.DAY.
mkdir "$T/expect"
python3 - "$T/expect" <<'PY'
import datetime, os, sys
out = sys.argv[1]
t0 = datetime.datetime(2024, 1, 1, 1, 30)
name = lambda t: t.strftime('candlekeep-%Y%m%dT%H%M%SZ.ckb')
for last in range(100):
    times = [t0 + datetime.timedelta(days=d) for d in range(last + 1)][::-1]  # newest first
    keep = set()
    for n, key in ((7, lambda t: t.date()), (4, lambda t: t.isocalendar()[:2]),
                   (6, lambda t: (t.year, t.month))):
        seen = []
        for t in times:
            k = key(t)
            if k not in seen and len(seen) < n:
                seen.append(k)
                keep.add(t)
    copies = {t for t in times if t >= times[0] - datetime.timedelta(days=30)}
    for kind, s in (('backups', keep), ('copies', copies)):
        with open(os.path.join(out, '%s.%d' % (kind, last)), 'w') as f:
            f.write(''.join(name(t) + '\n' for t in sorted(s)))
    with open(os.path.join(out, 'now.%d' % last), 'w') as f:
        f.write(times[0].strftime('%Y-%m-%dT%H:%M:%SZ'))
PY
expected_set() { cat "$T/expect/$1.$2"; }
actual_set() { (cd "$1" && ls -1 ./*.ckb 2>/dev/null | sed 's|^\./||' | sort); }
same_set() {
    local want got
    want=$(expected_set "$1" "$2")
    got=$(actual_set "$3")
    [ "$want" = "$got" ] || { echo "day $2: expected:"; echo "$want"; echo "got:"; echo "$got"; } >&2
    [ "$want" = "$got" ]
}

bad_days=0
for day in $(seq 0 99); do
    CANDLEKEEP_NOW=$(cat "$T/expect/now.$day")
    export CANDLEKEEP_NOW
    ck backup "${CFG[@]}"
    expect_rc 0 || { echo "day $day: backup exited $RC" >&2; cat "$T/err" >&2; bad_days=$((bad_days + 1)); continue; }
    same_set backups "$day" "$BK" || bad_days=$((bad_days + 1))
    same_set copies "$day" "$T/copies" || bad_days=$((bad_days + 1))
done
check "every day's backup passed and left exactly the expected backups and copies" test "$bad_days" -eq 0
check "after 100 days, 7 daily + the weekly and monthly ones are kept" test "$(actual_set "$BK" | wc -l)" -eq "$(expected_set backups 99 | wc -l)"
check "each kept backup has its drill record" test "$(ls "$BK"/*.ckb.json | wc -l)" -eq "$(actual_set "$BK" | wc -l)"
check "copy_to holds the last 31 days" test "$(actual_set "$T/copies" | wc -l)" -eq 31

restores_all() {
    local f n=0
    for f in "$BK"/*.ckb; do
        n=$((n + 1))
        "$CK_BIN" restore "$f" --to "sqlite:$T/r$n.db" "${CFG[@]}" >"$T/r.out" 2>&1 || { echo "$f does not restore" >&2; cat "$T/r.out" >&2; return 1; }
    done
}
check "every kept backup restores and verifies" restores_all

finish
