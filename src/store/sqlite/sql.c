/* SPDX-License-Identifier: MIT */
/*
 * Generic statements in the SQLite backend: the `sql` operation that
 * store_sql.c and the table files above it (alerts, outboxes, signals,
 * deliveries, backtests) run. Statements are prepared once and cached by
 * the address of their text; parameters bind natively (integers for
 * prices and times, text), and every cell comes back as text.
 */
#include "store/sqlite/sqlite_internal.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int sqlite_sql_prepare(struct sqlite_store *ss, const char *sql, sqlite3_stmt **out,
                              struct strbuf *err)
{
    sqlite3_stmt *stmt;
    int rc;

    for (size_t i = 0; i < ss->sql_ncache; i++) {
        if (ss->sql_cache[i].sql == sql) {
            *out = ss->sql_cache[i].stmt;
            return 0;
        }
    }
    rc = sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, "cannot prepare statement", err);
    ALLOC_GROW(ss->sql_cache, ss->sql_ncache + 1, ss->sql_alloc);
    ss->sql_cache[ss->sql_ncache++] = (struct sql_cached){sql, stmt};
    *out = stmt;
    return 0;
}

static int sqlite_sql_bind(struct sqlite_store *ss, sqlite3_stmt *stmt, const struct sqlv *p,
                           size_t n, struct strbuf *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[24];
        int idx, rc;

        snprintf(name, sizeof(name), "$%zu", i + 1);
        idx = sqlite3_bind_parameter_index(stmt, name);
        if (!idx)
            continue; /* a parameter this dialect's text does not use */
        switch (p[i].kind) {
        case SQLV_NULL:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        case SQLV_TEXT:
            rc = p[i].s ? sqlite3_bind_text(stmt, idx, p[i].s, -1, SQLITE_STATIC)
                        : sqlite3_bind_null(stmt, idx);
            break;
        default:
            rc = sqlite3_bind_int64(stmt, idx, p[i].i);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_fail(ss, rc, "cannot bind a parameter", err);
    }
    if ((size_t)sqlite3_bind_parameter_count(stmt) > n)
        BUG("sqlite: statement wants %d parameters, %zu given", sqlite3_bind_parameter_count(stmt),
            n);
    return 0;
}

int sqlite_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n,
               struct sql_rows *out, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *stmt = NULL;
    size_t alloc = 0;
    int rc;

    sql_rows_release(out);
    out->scaled_prices = true;
    rc = sqlite_sql_prepare(ss, sql, &stmt, err);
    if (rc)
        return rc;
    rc = sqlite_sql_bind(ss, stmt, p, n, err);
    if (rc) {
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    out->ncols = (size_t)sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ALLOC_GROW(out->cells, (out->nrows + 1) * out->ncols, alloc);
        for (size_t c = 0; c < out->ncols; c++) {
            const unsigned char *v = sqlite3_column_text(stmt, (int)c);
            out->cells[out->nrows * out->ncols + c] = v ? xstrdup((const char *)v) : NULL;
        }
        out->nrows++;
    }
    if (rc != SQLITE_DONE) {
        rc = sqlite_fail(ss, rc, "statement failed", err);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    out->changed = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(ss->db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}
