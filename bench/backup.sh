#!/usr/bin/env bash
# candlekeep backup and restore of 1,000,000 M15 candles made by
# bench_fill_candles: the backup (copy, integrity check, manifest, zstd,
# then the restore drill, each timed by candlekeep itself) and a restore
# into a fresh SQLite file with every table verified; with a PostgreSQL URL,
# the same from a PostgreSQL database and a restore into a fresh one.
# Usage: bench/backup.sh BUILD_DIR [POSTGRESQL_URL] [COUNT]
# The URL's role must be allowed to create databases (pg_cluster.sh's is).
set -euo pipefail
BUILD=${1:?usage: bench/backup.sh BUILD_DIR [POSTGRESQL_URL] [COUNT]}
URL=${2:-}
COUNT=${3:-1000000}

DIR=$(mktemp -d /tmp/ckbenchbk.XXXXXX)
DBS=()
PSQL=""
cleanup() {
    local db
    for db in "${DBS[@]}"; do
        "$PSQL" "$URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
say() { printf 'bench/backup: %s %d.%03d s\n' "$1" $(($2 / 1000)) $(($2 % 1000)); }

# run_one SOURCE_URL RESTORE_URL LABEL
run_one() {
    local src=$1 dst=$2 label=$3 start ms file
    printf '[storage]\nurl = %s\n[backup]\ndir = %s/%s\n' "$src" "$DIR" "$label" >"$DIR/$label.ini"
    start=$(date +%s%N)
    "$BUILD/candlekeep" backup --config "$DIR/$label.ini" >"$DIR/$label.out"
    ms=$(ms_since "$start")
    sed -n '1p;/^drill/p' "$DIR/$label.out" | sed "s|^|bench/backup: $label: |"
    say "$label: $COUNT candles, backup and drill," "$ms"
    file=$(ls "$DIR/$label"/*.ckb)
    start=$(date +%s%N)
    "$BUILD/candlekeep" restore "$file" --to "$dst" --config "$DIR/$label.ini" >"$DIR/$label.restore"
    ms=$(ms_since "$start")
    tail -1 "$DIR/$label.restore" | sed "s|^|bench/backup: $label: |"
    say "$label: restore with verification" "$ms"
}

"$BUILD/bench/bench_fill_candles" --url "sqlite:$DIR/source.db" --count "$COUNT"
run_one "sqlite:$DIR/source.db" "sqlite:$DIR/restored.db" sqlite

if [ -n "$URL" ]; then
    PSQL=$(command -v psql 2>/dev/null || true)
    if [ -z "$PSQL" ]; then
        for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done
    fi
    [ -n "$PSQL" ] || { echo "bench/backup: psql not found" >&2; exit 1; }
    base=${URL%%\?*}
    case $URL in *\?*) query="?${URL#*\?}" ;; *) query="" ;; esac
    for db in ck_bench_bk_src_$$ ck_bench_bk_dst_$$; do
        "$PSQL" "$URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
        DBS+=("$db")
    done
    src="${base%/*}/ck_bench_bk_src_$$$query"
    dst="${base%/*}/ck_bench_bk_dst_$$$query"
    "$BUILD/bench/bench_fill_candles" --url "$src" --count "$COUNT"
    run_one "$src" "$dst" postgresql
fi
