#!/usr/bin/env bash
# Two commands opening one new SQLite file at the same moment: each creates,
# configures (WAL) and migrates the file if nobody has yet, and both must
# succeed, never "cannot configure: database is locked". Each round starts
# two `candlekeep jobs` on a file that does not exist yet; both wait behind
# a lock this script holds until both have started, so that they open the
# file together. SQLite only: the race is about creating a database file
# (PostgreSQL's first migrations are serialised by an advisory lock and are
# covered by the store-backed unit tests' "pg" runs).
source "$(dirname "$0")/lib.sh"
unset TWELVE_DATA_API_KEY DATABASE_URL CANDLEKEEP_CONFIG

ROUNDS=100

# all_exist FILE...: every FILE exists.
all_exist() {
    local f
    for f in "$@"; do [ -e "$f" ] || return 1; done
}

# opener N DB: once the gate opens, list the jobs of the store DB; status in $T/rc.N.
opener() {
    local n=$1 db=$2
    exec 9>&-
    printf '[storage]\nurl = sqlite:%s\n' "$db" >"$T/open$n.ini"
    : >"$T/ready.$n"
    flock -s "$T/gate" true
    set +e
    "$CK_BIN" jobs --config "$T/open$n.ini" >"$T/out.$n" 2>"$T/err.$n"
    echo $? >"$T/rc.$n"
}

failed_rounds=0
for round in $(seq 1 "$ROUNDS"); do
    db="$T/first$round.db"
    rm -f "$T"/ready.* "$T"/rc.*
    exec 9>"$T/gate"
    flock -x 9
    opener 1 "$db" &
    pid1=$!
    opener 2 "$db" &
    pid2=$!
    if ! wait_for 30 all_exist "$T/ready.1" "$T/ready.2"; then
        echo "round $round: the openers did not start" >&2
        exit 1
    fi
    flock -u 9
    exec 9>&-
    wait "$pid1"
    wait "$pid2"
    for n in 1 2; do
        rc=$(cat "$T/rc.$n")
        if [ "$rc" -ne 0 ]; then
            failed_rounds=$((failed_rounds + 1))
            echo "round $round: opener $n exited $rc: $(cat "$T/err.$n")" >&2
        elif ! grep -q '^refresh_candles_M15 ' "$T/out.$n"; then
            failed_rounds=$((failed_rounds + 1))
            echo "round $round: opener $n listed no jobs" >&2
        fi
    done
done
: >"$T/out"
: >"$T/err"
check "two commands opening a new SQLite file together both succeed ($ROUNDS rounds)" \
    test "$failed_rounds" -eq 0
check "the file is in WAL mode" \
    py "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); sys.exit(c.execute('PRAGMA journal_mode').fetchone()[0] != 'wal')" \
    "$T/first$ROUNDS.db"
finish
