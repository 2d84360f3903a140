/* SPDX-License-Identifier: MIT */
/*
 * Backfills (schema 7; see store/backfill.h) on top of the generic
 * statements: one row per backfill, its progress rewritten after every
 * page in the transaction that stored the page. The statements are
 * written once for both backends; they differ only in how PostgreSQL
 * selects its timestamptz columns as Unix ms. Candle times are kept as
 * times (Unix ms in SQLite, timestamptz in PostgreSQL) like every other
 * time of the schema; this file converts them from and to the seconds of
 * the interface.
 */
#include "store/backfill.h"

#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* clang-format off */
#define BACKFILL_COLS_SQLITE                                                                       \
    "id, source, symbol, timeframe, since_at, until_at, position, state, candles, requests, "      \
    "first_at, note, error, created_at, updated_at"
#define BACKFILL_COLS_PG                                                                           \
    "id, source, symbol, timeframe, " SQL_PG_MS("since_at") ", " SQL_PG_MS("until_at") ", "        \
    SQL_PG_MS("position") ", state, candles, requests, " SQL_PG_MS("first_at") ", note, error, "   \
    SQL_PG_MS("created_at") ", " SQL_PG_MS("updated_at")
/* clang-format on */

static const struct sql_stmt SQL_BACKFILL_ADD = SQL_SAME(
    "INSERT INTO backfills (source, symbol, timeframe, since_at, until_at, position, state, "
    "candles, requests, first_at, note, error, created_at, updated_at) VALUES ($1, $2, $3, $4, "
    "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id");
static const struct sql_stmt SQL_BACKFILL_GET = {
    .sqlite = "SELECT " BACKFILL_COLS_SQLITE " FROM backfills WHERE id = $1",
    .pg = "SELECT " BACKFILL_COLS_PG " FROM backfills WHERE id = $1",
};
/* $1 source, $2 symbol, $3 timeframe, $4 since, $5 until (NULL: none). */
static const struct sql_stmt SQL_BACKFILL_FIND_OPEN = {
    .sqlite = "SELECT " BACKFILL_COLS_SQLITE " FROM backfills WHERE source = $1 AND symbol = $2 "
              "AND timeframe = $3 AND since_at = $4 AND until_at IS $5 AND state <> 'done' "
              "ORDER BY id DESC LIMIT 1",
    .pg = "SELECT " BACKFILL_COLS_PG " FROM backfills WHERE source = $1 AND symbol = $2 "
          "AND timeframe = $3 AND since_at = $4 AND until_at IS NOT DISTINCT FROM $5 "
          "AND state <> 'done' ORDER BY id DESC LIMIT 1",
};
static const struct sql_stmt SQL_BACKFILL_LIST = {
    .sqlite = "SELECT " BACKFILL_COLS_SQLITE " FROM backfills ORDER BY id",
    .pg = "SELECT " BACKFILL_COLS_PG " FROM backfills ORDER BY id",
};
static const struct sql_stmt SQL_BACKFILL_LIST_OPEN = {
    .sqlite = "SELECT " BACKFILL_COLS_SQLITE " FROM backfills WHERE state <> 'done' ORDER BY id",
    .pg = "SELECT " BACKFILL_COLS_PG " FROM backfills WHERE state <> 'done' ORDER BY id",
};
static const struct sql_stmt SQL_BACKFILL_UPDATE =
    SQL_SAME("UPDATE backfills SET position = $2, state = $3, candles = $4, requests = $5, "
             "first_at = $6, note = $7, error = $8, updated_at = $9 WHERE id = $1");

static const char *const state_names[] = {
    [BACKFILL_QUEUED] = "queued", [BACKFILL_RUNNING] = "running", [BACKFILL_DEFERRED] = "deferred",
    [BACKFILL_DONE] = "done",     [BACKFILL_FAILED] = "failed",
};

const char *backfill_state_name(enum backfill_state s)
{
    return (size_t)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

bool backfill_state_parse(const char *name, enum backfill_state *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
        if (!strcmp(state_names[i], name)) {
            *out = (enum backfill_state)i;
            return true;
        }
    }
    return false;
}

bool backfill_state_open(enum backfill_state s)
{
    return s != BACKFILL_DONE;
}

void backfill_row_release(struct backfill_row *r)
{
    if (!r)
        return;
    free(r->source);
    free(r->symbol);
    free(r->note);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

void backfill_rows_free(struct backfill_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        backfill_row_release(&v[i]);
    free(v);
}

/* A time column (Unix ms) as Unix seconds; NULL is 0. */
static int read_time(const struct sql_rows *rows, size_t i, size_t col, int64_t *out,
                     struct strbuf *err)
{
    int64_t ms = 0;
    int rc = sql_rows_int_or0(rows, i, col, &ms, err);

    *out = ms / 1000;
    return rc;
}

static int read_backfill(const struct sql_rows *rows, size_t i, struct backfill_row *out,
                         struct strbuf *err)
{
    const char *tf = sql_rows_text(rows, i, 3);
    const char *state = sql_rows_text(rows, i, 7);
    int rc;

    memset(out, 0, sizeof(*out));
    out->source = sql_rows_strdup(rows, i, 1);
    out->symbol = sql_rows_strdup(rows, i, 2);
    out->note = sql_rows_strdup(rows, i, 11);
    out->error = sql_rows_strdup(rows, i, 12);
    rc = sql_rows_int(rows, i, 0, &out->id, err);
    if (!rc && (!tf || timeframe_parse(tf, &out->tf))) {
        strbuf_addf(err, "store: backfill %lld: unknown timeframe '%s'", (long long)out->id,
                    tf ? tf : "");
        rc = CK_EPARSE;
    }
    if (!rc && (!state || !backfill_state_parse(state, &out->state))) {
        strbuf_addf(err, "store: backfill %lld: unknown state '%s'", (long long)out->id,
                    state ? state : "");
        rc = CK_EPARSE;
    }
    if (!rc)
        rc = read_time(rows, i, 4, &out->since, err);
    if (!rc)
        rc = read_time(rows, i, 5, &out->until, err);
    if (!rc)
        rc = read_time(rows, i, 6, &out->position, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 8, &out->candles, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 9, &out->requests, err);
    if (!rc)
        rc = read_time(rows, i, 10, &out->first, err);
    if (!rc)
        rc = read_time(rows, i, 13, &out->created_at, err);
    if (!rc)
        rc = read_time(rows, i, 14, &out->updated_at, err);
    if (rc)
        backfill_row_release(out);
    return rc;
}

SQL_ROWS_READ_ALL(read_backfills, struct backfill_row, read_backfill, backfill_rows_free)

static struct sqlv time_or_null(int64_t t)
{
    return t ? SQLV_MS(t * 1000) : SQLV_N();
}

int store_backfill_add(struct store *st, struct backfill_row *r, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    const struct sqlv p[] = {
        SQLV_S(r->source ? r->source : ""),
        SQLV_S(r->symbol ? r->symbol : ""),
        SQLV_S(timeframe_name(r->tf)),
        SQLV_MS(r->since * 1000),
        time_or_null(r->until),
        SQLV_MS(r->position * 1000),
        SQLV_S(backfill_state_name(r->state)),
        SQLV_I(r->candles),
        SQLV_I(r->requests),
        time_or_null(r->first),
        SQLV_S(r->note ? r->note : ""),
        SQLV_S(r->error ? r->error : ""),
        SQLV_MS(r->created_at * 1000),
        SQLV_MS(r->updated_at * 1000),
    };
    int rc;

    if (!r->source || !*r->source || !r->symbol || !*r->symbol) {
        strbuf_addstr(err, "store: a backfill needs a source and a symbol");
        return CK_EINVAL;
    }
    rc = store_sql(st, &SQL_BACKFILL_ADD, p, ARRAY_SIZE(p), &rows, NULL, "add a backfill", err);
    if (!rc && rows.nrows != 1)
        BUG("store_backfill_add: %zu rows returned", rows.nrows);
    if (!rc)
        rc = sql_rows_int(&rows, 0, 0, &r->id, err);
    sql_rows_release(&rows);
    return rc;
}

/* The one row `stmt` selects with `p`; CK_ENOTFOUND when none. */
static int get_one(struct store *st, const struct sql_stmt *stmt, const struct sqlv *p, size_t n,
                   const char *what, struct backfill_row *out, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_sql(st, stmt, p, n, &rows, NULL, what, err);
    if (!rc && !rows.nrows)
        rc = CK_ENOTFOUND;
    else if (!rc)
        rc = read_backfill(&rows, 0, out, err);
    sql_rows_release(&rows);
    return rc;
}

int store_backfill_get(struct store *st, int64_t id, struct backfill_row *out, struct strbuf *err)
{
    const struct sqlv p[] = {SQLV_I(id)};
    int rc = get_one(st, &SQL_BACKFILL_GET, p, ARRAY_SIZE(p), "read a backfill", out, err);

    if (rc == CK_ENOTFOUND)
        strbuf_addf(err, "no backfill %lld", (long long)id);
    return rc;
}

int store_backfill_find_open(struct store *st, const char *source, const char *symbol,
                             enum timeframe tf, int64_t since, int64_t until,
                             struct backfill_row *out, struct strbuf *err)
{
    const struct sqlv p[] = {SQLV_S(source), SQLV_S(symbol), SQLV_S(timeframe_name(tf)),
                             SQLV_MS(since * 1000), time_or_null(until)};

    return get_one(st, &SQL_BACKFILL_FIND_OPEN, p, ARRAY_SIZE(p), "find a backfill", out, err);
}

int store_backfill_list(struct store *st, bool open_only, struct backfill_row **out, size_t *n,
                        struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    *out = NULL;
    *n = 0;
    rc = store_sql(st, open_only ? &SQL_BACKFILL_LIST_OPEN : &SQL_BACKFILL_LIST, NULL, 0, &rows,
                   NULL, "list backfills", err);
    if (!rc)
        rc = read_backfills(&rows, out, n, err);
    sql_rows_release(&rows);
    return rc;
}

int store_backfill_update(struct store *st, const struct backfill_row *r, struct strbuf *err)
{
    const struct sqlv p[] = {
        SQLV_I(r->id),
        SQLV_MS(r->position * 1000),
        SQLV_S(backfill_state_name(r->state)),
        SQLV_I(r->candles),
        SQLV_I(r->requests),
        time_or_null(r->first),
        SQLV_S(r->note ? r->note : ""),
        SQLV_S(r->error ? r->error : ""),
        SQLV_MS(r->updated_at * 1000),
    };
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_BACKFILL_UPDATE, p, ARRAY_SIZE(p), NULL, &changed,
                       "record a backfill's progress", err);

    if (!rc && !changed) {
        strbuf_addf(err, "no backfill %lld", (long long)r->id);
        rc = CK_ENOTFOUND;
    }
    return rc;
}
