#!/bin/sh
# Run a store-backed test against the throwaway PostgreSQL that `make test`
# starts (CK_TEST_PG_URL). Without one, the test is skipped (exit 77) and
# says so, except under `make test` (CK_TEST_PG_REQUIRED=1): there a test
# that needs PostgreSQL and gets none fails.
#
# Each test gets a database of its own, created here and dropped when it
# ends, as each SQLite run gets a file of its own: a test may then count
# every job or series in the store (the daemon's /health does) without
# seeing those of the tests running next to it.
if [ -z "${CK_TEST_PG_URL:-}" ]; then
    if [ -n "${CK_TEST_PG_REQUIRED:-}" ]; then
        echo "with_pg: CK_TEST_PG_URL is not set, and this test needs PostgreSQL" >&2
        exit 1
    fi
    echo "skipped: CK_TEST_PG_URL is not set (run 'make test' to start PostgreSQL)" >&2
    exit 77
fi

PSQL=$(command -v psql 2>/dev/null)
if [ -z "$PSQL" ]; then
    for p in /usr/lib/postgresql/*/bin/psql; do
        [ -x "$p" ] && PSQL=$p
    done
fi
if [ -z "$PSQL" ]; then
    echo "with_pg: psql not found (install postgresql-client)" >&2
    exit 1
fi

# The database is named after the test (the last argument) and this process.
for arg in "$@"; do last=$arg; done
name=$(basename "$last" | sed 's/\.[a-z]*$//' | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_\n' '_')
db="ck_${name}_$$"
if ! "$PSQL" "$CK_TEST_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null; then
    echo "with_pg: cannot create the test database $db" >&2
    exit 1
fi

base=${CK_TEST_PG_URL%%\?*}
case $CK_TEST_PG_URL in
    *\?*) query="?${CK_TEST_PG_URL#*\?}" ;;
    *) query="" ;;
esac
CK_TEST_STORE_URL="${base%/*}/$db$query"
export CK_TEST_STORE_URL

"$@"
rc=$?
if [ -z "${CK_KEEP_TMP:-}" ]; then
    "$PSQL" "$CK_TEST_PG_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
        >/dev/null 2>&1 || true
fi
exit $rc
