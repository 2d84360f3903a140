/* SPDX-License-Identifier: MIT */
/*
 * Generic statements in the PostgreSQL backend: the `sql` operation that
 * store_sql.c and the table files above it (alerts, outboxes, signals,
 * deliveries, backtests) run. Each parameter is sent as text with its
 * type (int8, text, boolean, numeric, timestamptz), and every cell comes
 * back as text.
 */
#include "store/pg/pg_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* --- generic statements ------------------------------------------------ */

/* Type oids of the parameters the generic statements send (pg_type.h). */
enum {
    PG_OID_BOOL = 16,
    PG_OID_INT8 = 20,
    PG_OID_TEXT = 25,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_NUMERIC = 1700,
};

#define PG_SQL_MAX_PARAMS 24

int pg_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n, struct sql_rows *out,
           struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    Oid types[PG_SQL_MAX_PARAMS];
    const char *values[PG_SQL_MAX_PARAMS];
    int lengths[PG_SQL_MAX_PARAMS], formats[PG_SQL_MAX_PARAMS];
    char text[PG_SQL_MAX_PARAMS][PRICE_BUFSZ > 24 ? PRICE_BUFSZ : 24];
    PGresult *res;
    ExecStatusType status;
    int rc;

    sql_rows_release(out);
    if (n > PG_SQL_MAX_PARAMS)
        BUG("pg: %zu statement parameters", n);
    for (size_t i = 0; i < n; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        values[i] = text[i];
        switch (p[i].kind) {
        case SQLV_NULL:
            types[i] = 0;
            values[i] = NULL;
            break;
        case SQLV_TEXT:
            types[i] = PG_OID_TEXT;
            values[i] = p[i].s;
            break;
        case SQLV_BOOL:
            types[i] = PG_OID_BOOL;
            values[i] = p[i].i ? "t" : "f";
            break;
        case SQLV_INT:
            types[i] = PG_OID_INT8;
            snprintf(text[i], sizeof(text[i]), "%lld", (long long)p[i].i);
            break;
        case SQLV_PRICE:
            types[i] = PG_OID_NUMERIC;
            price_format(p[i].i, text[i]);
            break;
        case SQLV_TIME_MS: {
            /* Binary timestamptz: microseconds since 2000-01-01, exact to the ms. */
            int64_t us = (p[i].i - PG_EPOCH_UNIX * 1000) * 1000;
            types[i] = PG_OID_TIMESTAMPTZ;
            pg_put_be64(text[i], (uint64_t)us);
            lengths[i] = 8;
            formats[i] = 1;
            break;
        }
        }
    }
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    res = PQexecParams(ps->conn, sql, (int)n, types, values, lengths, formats, 0);
    status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        rc = pg_result_error(ps, res, "statement failed", err);
        PQclear(res);
        return rc;
    }
    out->scaled_prices = false;
    out->nrows = (size_t)PQntuples(res);
    out->ncols = (size_t)PQnfields(res);
    out->cells = xcalloc(out->nrows * out->ncols + 1, sizeof(*out->cells));
    for (size_t r = 0; r < out->nrows; r++)
        for (size_t c = 0; c < out->ncols; c++)
            if (!PQgetisnull(res, (int)r, (int)c))
                out->cells[r * out->ncols + c] = xstrdup(PQgetvalue(res, (int)r, (int)c));
    {
        const char *tuples = PQcmdTuples(res);
        int64_t v = 0;
        if (tuples && *tuples && !parse_int64(tuples, 0, INT64_MAX, &v))
            out->changed = v;
    }
    PQclear(res);
    return 0;
}
