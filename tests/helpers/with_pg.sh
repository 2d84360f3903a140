#!/bin/sh
# Run a store-backed test against the throwaway PostgreSQL that `make test`
# starts (CK_TEST_PG_URL). Without one, the test is skipped (exit 77) and
# says so; `make test` always provides one, so it never skips there.
if [ -z "${CK_TEST_PG_URL:-}" ]; then
    echo "skipped: CK_TEST_PG_URL is not set (run 'make test' to start PostgreSQL)" >&2
    exit 77
fi
CK_TEST_STORE_URL=$CK_TEST_PG_URL
export CK_TEST_STORE_URL
exec "$@"
