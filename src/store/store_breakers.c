/* SPDX-License-Identifier: MIT */
/*
 * The recorded state of each provider's circuit breaker (schema 6; see
 * store/budget.h) on top of the generic statements: one row per source,
 * replaced as a whole by each write, read back by /health, `candlekeep
 * status` and a daemon starting up. The statements are written once for
 * both backends; they differ only in how PostgreSQL selects its
 * timestamptz columns as Unix ms.
 */
#include "store/budget.h"

#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* clang-format off */
#define BREAKER_COLS_SQLITE                                                                        \
    "source, state, failures, opened_at, retry_at, updated_at, instance"
#define BREAKER_COLS_PG                                                                            \
    "source, state, failures, " SQL_PG_MS("opened_at") ", " SQL_PG_MS("retry_at") ", "             \
    SQL_PG_MS("updated_at") ", instance"
/* clang-format on */

static const struct sql_stmt SQL_BREAKER_PUT =
    SQL_SAME("INSERT INTO breakers (source, state, failures, opened_at, retry_at, updated_at, "
             "instance) VALUES ($1, $2, $3, $4, $5, $6, $7) "
             "ON CONFLICT (source) DO UPDATE SET state = excluded.state, "
             "failures = excluded.failures, opened_at = excluded.opened_at, "
             "retry_at = excluded.retry_at, updated_at = excluded.updated_at, "
             "instance = excluded.instance");
static const struct sql_stmt SQL_BREAKER_ADD =
    SQL_SAME("INSERT INTO breakers (source, state, failures, opened_at, retry_at, updated_at, "
             "instance) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source) DO NOTHING");
static const struct sql_stmt SQL_BREAKER_GET = {
    .sqlite = "SELECT " BREAKER_COLS_SQLITE " FROM breakers WHERE source = $1",
    .pg = "SELECT " BREAKER_COLS_PG " FROM breakers WHERE source = $1",
};
static const struct sql_stmt SQL_BREAKER_LIST = {
    .sqlite = "SELECT " BREAKER_COLS_SQLITE " FROM breakers ORDER BY source",
    .pg = "SELECT " BREAKER_COLS_PG " FROM breakers ORDER BY source",
};

void breaker_row_release(struct breaker_row *r)
{
    if (!r)
        return;
    free(r->source);
    free(r->state);
    free(r->instance);
    memset(r, 0, sizeof(*r));
}

void breaker_rows_free(struct breaker_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        breaker_row_release(&v[i]);
    free(v);
}

static int read_breaker(const struct sql_rows *rows, size_t i, struct breaker_row *out,
                        struct strbuf *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->source = sql_rows_strdup(rows, i, 0);
    out->state = sql_rows_strdup(rows, i, 1);
    out->instance = sql_rows_strdup(rows, i, 6);
    rc = sql_rows_int(rows, i, 2, &out->failures, err);
    if (!rc)
        rc = sql_rows_int_or0(rows, i, 3, &out->opened_at_ms, err);
    if (!rc)
        rc = sql_rows_int_or0(rows, i, 4, &out->retry_at_ms, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 5, &out->updated_ms, err);
    if (rc)
        breaker_row_release(out);
    return rc;
}

SQL_ROWS_READ_ALL(read_breakers, struct breaker_row, read_breaker, breaker_rows_free)

/* Insert or replace `r` with `stmt`; `*changed` gets the rows written. */
static int write_breaker(struct store *st, const struct sql_stmt *stmt, const struct breaker_row *r,
                         int64_t *changed, struct strbuf *err)
{
    const struct sqlv p[] = {
        SQLV_S(r->source ? r->source : ""),
        SQLV_S(r->state ? r->state : ""),
        SQLV_I(r->failures),
        r->opened_at_ms ? SQLV_MS(r->opened_at_ms) : SQLV_N(),
        r->retry_at_ms ? SQLV_MS(r->retry_at_ms) : SQLV_N(),
        SQLV_MS(r->updated_ms),
        SQLV_S(r->instance ? r->instance : ""),
    };
    struct strbuf what = STRBUF_INIT;
    int rc;

    strbuf_addf(&what, "record the circuit breaker of '%s'", r->source ? r->source : "");
    rc = store_sql(st, stmt, p, ARRAY_SIZE(p), NULL, changed, what.buf, err);
    strbuf_release(&what);
    return rc;
}

int store_breaker_put(struct store *st, const struct breaker_row *r, struct strbuf *err)
{
    return write_breaker(st, &SQL_BREAKER_PUT, r, NULL, err);
}

int store_breaker_add(struct store *st, const struct breaker_row *r, bool *added,
                      struct strbuf *err)
{
    int64_t n = 0;
    int rc = write_breaker(st, &SQL_BREAKER_ADD, r, &n, err);

    if (added)
        *added = !rc && n > 0;
    return rc;
}

int store_breaker_get(struct store *st, const char *source, struct breaker_row *out,
                      struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    const struct sqlv p[] = {SQLV_S(source)};
    struct strbuf what = STRBUF_INIT;
    int rc;

    memset(out, 0, sizeof(*out));
    strbuf_addf(&what, "read the circuit breaker of '%s'", source);
    rc = store_sql(st, &SQL_BREAKER_GET, p, ARRAY_SIZE(p), &rows, NULL, what.buf, err);
    if (!rc && !rows.nrows)
        rc = CK_ENOTFOUND;
    else if (!rc)
        rc = read_breaker(&rows, 0, out, err);
    sql_rows_release(&rows);
    strbuf_release(&what);
    return rc;
}

int store_breaker_list(struct store *st, struct breaker_row **out, size_t *n, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    *out = NULL;
    *n = 0;
    rc = store_sql(st, &SQL_BREAKER_LIST, NULL, 0, &rows, NULL, "list circuit breakers", err);
    if (!rc)
        rc = read_breakers(&rows, out, n, err);
    sql_rows_release(&rows);
    return rc;
}
