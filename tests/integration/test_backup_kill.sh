#!/usr/bin/env bash
# kill -9 during `candlekeep backup`, 20 times, at each stage in turn:
# while the database is copied, while the backup file is written, during
# the restore drill, and at a moment that varies. Whatever the moment,
# every file named *.ckb restores and verifies (a backup is complete or
# absent), the next backup removes what the killed one left, and a last
# backup ends with no temporary file and a verified drill.
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG
export CANDLEKEEP_NOW=2024-03-15T12:00:00Z

BK="$T/backups"
cat >"$T/ck.ini" <<INI
[storage]
url = sqlite:$T/ck.db
[backup]
dir = $BK
keep_daily = 100
INI
CFG=(--config "$T/ck.ini")
# Enough candles for each stage to last a few milliseconds at least.
"$CK_BUILD_DIR/bench/bench_fill_candles" --url "sqlite:$T/ck.db" --count 150000 --source "$SRC" \
    >"$T/fill.out"

# appears GLOB: busy-poll (no sleep: the stages last milliseconds) until a
# file matching GLOB exists or the backup $BPID has ended; 10 s at most.
appears() {
    local deadline=$(($(date +%s) + 10))
    while ! compgen -G "$1" >/dev/null; do
        kill -0 "$BPID" 2>/dev/null || return 1
        [ "$(date +%s)" -lt "$deadline" ] || return 1
    done
}

every_backup_restores() {
    local f n=0
    for f in "$BK"/*.ckb; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        rm -f "$T/v.db" "$T/v.db.lock"
        "$CK_BIN" restore "$f" --to "sqlite:$T/v.db" "${CFG[@]}" >"$T/v.out" 2>&1 || {
            echo "$f does not restore:" >&2
            cat "$T/v.out" >&2
            return 1
        }
    done
}

STAGES=("$BK/.candlekeep-*.db.tmp" "$BK/.candlekeep-*.ckb.tmp" "$BK/.drill-*.db.tmp" "")
killed=0 finished=0 unexpected=0 broken=0
for i in $(seq 1 20); do
    stage=${STAGES[$((i % 4))]}
    "$CK_BIN" backup "${CFG[@]}" >>"$T/backup.log" 2>&1 &
    BPID=$!
    if [ -n "$stage" ]; then
        appears "$stage" || :
    else
        # A moment that varies: a few hundred polls of the process table.
        for _ in $(seq $((RANDOM % 400))); do kill -0 "$BPID" 2>/dev/null || break; done
    fi
    kill -KILL "$BPID" 2>/dev/null || :
    set +e
    wait "$BPID"
    brc=$?
    set -e
    case $brc in
    137) killed=$((killed + 1)) ;;
    0) finished=$((finished + 1)) ;;
    *) unexpected=$((unexpected + 1)); echo "backup $i exited $brc" >&2 ;;
    esac
    every_backup_restores || broken=$((broken + 1))
done
echo "# $killed killed mid-backup, $finished finished before the kill"
check "every backup either finished or died of the kill" test "$unexpected" -eq 0
check "most of the 20 were killed mid-backup" test "$killed" -ge 12
check "after every kill, every *.ckb restores and verifies" test "$broken" -eq 0

ck backup "${CFG[@]}"
check "a backup after the kills succeeds" expect_rc 0
check "its drill passed" out_has ": ok"
no_tmp() { ! ls -A "$BK" | grep -q '\.tmp'; }
check "it removed what the killed backups left" no_tmp
check "every backup left restores" every_backup_restores

finish
