/* SPDX-License-Identifier: MIT */
/*
 * Generic statements: the dialect switch and the typed reading of cells.
 * The backends' `sql` op does the binding and collects the rows; the
 * tables written once for both backends (store_alerts.c, store_signals.c)
 * call store_sql() with a `struct sql_stmt` holding both texts.
 */
#include "store/store_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int store_sql(struct store *st, const struct sql_stmt *stmt, const struct sqlv *p, size_t n,
              struct sql_rows *out, int64_t *changed, const char *what, struct strbuf *err)
{
    struct sql_rows local = SQL_ROWS_INIT;
    struct sql_rows *rows = out ? out : &local;
    const char *text = st->ops == &store_pg_ops ? stmt->pg : stmt->sqlite;
    size_t mark = err->len;
    int rc;

    rc = st->ops->sql(st, text, p, n, rows, err);
    if (rc && err->len > mark) {
        /* "store: ...: <what>: message" reads better with the purpose first. */
        struct strbuf tmp = STRBUF_INIT;
        strbuf_add(&tmp, err->buf + mark, err->len - mark);
        strbuf_setlen(err, mark);
        strbuf_addf(err, "%s: %s", what, tmp.buf);
        strbuf_release(&tmp);
    }
    if (changed)
        *changed = rows->changed;
    if (!out)
        sql_rows_release(&local);
    return rc;
}

void sql_rows_release(struct sql_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    *r = (struct sql_rows)SQL_ROWS_INIT;
}

static const char *cell(const struct sql_rows *r, size_t row, size_t col)
{
    if (row >= r->nrows || col >= r->ncols)
        BUG("sql_rows: cell (%zu, %zu) of %zu x %zu", row, col, r->nrows, r->ncols);
    return r->cells[row * r->ncols + col];
}

const char *sql_rows_text(const struct sql_rows *r, size_t row, size_t col)
{
    return cell(r, row, col);
}

bool sql_rows_null(const struct sql_rows *r, size_t row, size_t col)
{
    return cell(r, row, col) == NULL;
}

char *sql_rows_strdup(const struct sql_rows *r, size_t row, size_t col)
{
    const char *v = cell(r, row, col);
    return xstrdup(v ? v : "");
}

static int bad_cell(const char *kind, const char *v, size_t col, struct strbuf *err)
{
    strbuf_addf(err, "store: unexpected %s '%s' in column %zu", kind, v ? v : "NULL", col);
    return CK_EPARSE;
}

int sql_rows_int(const struct sql_rows *r, size_t row, size_t col, int64_t *out, struct strbuf *err)
{
    const char *v = cell(r, row, col);
    if (!v || parse_int64(v, INT64_MIN, INT64_MAX, out))
        return bad_cell("integer", v, col, err);
    return 0;
}

int sql_rows_int_or0(const struct sql_rows *r, size_t row, size_t col, int64_t *out,
                     struct strbuf *err)
{
    if (!cell(r, row, col)) {
        *out = 0;
        return 0;
    }
    return sql_rows_int(r, row, col, out, err);
}

int sql_rows_bool(const struct sql_rows *r, size_t row, size_t col, bool *out, struct strbuf *err)
{
    const char *v = cell(r, row, col);
    if (v && (!strcmp(v, "t") || !strcmp(v, "1") || !strcmp(v, "true"))) {
        *out = true;
        return 0;
    }
    if (v && (!strcmp(v, "f") || !strcmp(v, "0") || !strcmp(v, "false"))) {
        *out = false;
        return 0;
    }
    return bad_cell("boolean", v, col, err);
}

int sql_rows_price(const struct sql_rows *r, size_t row, size_t col, int64_t *out,
                   struct strbuf *err)
{
    const char *v = cell(r, row, col);
    if (!v)
        return bad_cell("price", v, col, err);
    if (r->scaled_prices ? parse_int64(v, INT64_MIN, INT64_MAX, out)
                         : price_parse(v, strlen(v), out))
        return bad_cell("price", v, col, err);
    return 0;
}
