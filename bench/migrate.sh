#!/usr/bin/env bash
# candlekeep migrate, SQLite to PostgreSQL: 1,000,000 M15 candles made by
# bench_fill_candles are copied into a fresh database and verified; the
# times printed are migrate's own (copy, then all of it with verification)
# and the wall clock.
# Usage: bench/migrate.sh BUILD_DIR POSTGRESQL_URL [COUNT]
# The URL's role must be allowed to create databases (pg_cluster.sh's is).
set -euo pipefail
BUILD=${1:?usage: bench/migrate.sh BUILD_DIR POSTGRESQL_URL [COUNT]}
URL=${2:?usage: bench/migrate.sh BUILD_DIR POSTGRESQL_URL [COUNT]}
COUNT=${3:-1000000}

PSQL=$(command -v psql 2>/dev/null || true)
if [ -z "$PSQL" ]; then
    for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && PSQL=$p; done
fi
[ -n "$PSQL" ] || { echo "bench/migrate: psql not found" >&2; exit 1; }

DIR=$(mktemp -d /tmp/ckbenchmig.XXXXXX)
DB="ck_bench_migrate_$$"
cleanup() {
    "$PSQL" "$URL" -X -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

"$BUILD/bench/bench_fill_candles" --url "sqlite:$DIR/source.db" --count "$COUNT"
"$PSQL" "$URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB\"" >/dev/null
base=${URL%%\?*}
case $URL in *\?*) query="?${URL#*\?}" ;; *) query="" ;; esac
start=$(date +%s%N)
"$BUILD/candlekeep" migrate --no-progress --from "sqlite:$DIR/source.db" --to "${base%/*}/$DB$query"
ms=$((($(date +%s%N) - start) / 1000000))
printf 'bench/migrate: %d candles SQLite -> PostgreSQL in %d.%03d s wall, verification included\n' \
    "$COUNT" $((ms / 1000)) $((ms % 1000))
