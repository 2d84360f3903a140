/* SPDX-License-Identifier: MIT */
/*
 * The alert tables (schema 4) on top of the generic statements: every
 * statement is written once, with a SQLite and a PostgreSQL text that
 * differ only where the dialects do (times selected as Unix ms, row locks,
 * GREATEST/max).
 *
 * Concurrency. Deciding about an alert reads its row locked
 * (store_alert_get with `lock`) and writes it back in the same
 * transaction, so two processes take turns on one key. A new key is
 * inserted with ON CONFLICT DO NOTHING, which tells the loser of a race
 * to read the winner's row instead of failing. An outbox row is claimed by
 * one UPDATE that sets the lease on rows whose lease is free or lapsed and
 * returns them: SQLite runs it under its single write lock; PostgreSQL
 * picks the rows FOR UPDATE SKIP LOCKED and, under READ COMMITTED,
 * re-checks the lease of a row another claimer just committed, so a row is
 * claimed once. Every write that ends an attempt names the holder and
 * changes nothing when the lease has passed to someone else.
 */
#include "store/alerts.h"

#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* "No limit" in both dialects (SQLite has no LIMIT ALL). */
#define NO_LIMIT INT64_MAX

/* --- alerts ------------------------------------------------------------ */

#define ALERT_COLS_SQLITE                                                                          \
    "key, severity, state, title, details, inhibited_by, first_seen, last_seen, resolved_at, "     \
    "last_notified, notified_state, times_sent, updated_at"
/* clang-format off */
#define ALERT_COLS_PG                                                                              \
    "key, severity, state, title, details, inhibited_by, "                                         \
    SQL_PG_MS("first_seen") ", " SQL_PG_MS("last_seen") ", "                                       \
    SQL_PG_MS("resolved_at") ", " SQL_PG_MS("last_notified") ", "                                  \
    "notified_state, times_sent, " SQL_PG_MS("updated_at")
/* clang-format on */

static const struct sql_stmt SQL_ALERT_GET = {
    .sqlite = "SELECT " ALERT_COLS_SQLITE " FROM alerts WHERE key = $1",
    .pg = "SELECT " ALERT_COLS_PG " FROM alerts WHERE key = $1",
};
static const struct sql_stmt SQL_ALERT_GET_LOCKED = {
    .sqlite = "SELECT " ALERT_COLS_SQLITE " FROM alerts WHERE key = $1",
    .pg = "SELECT " ALERT_COLS_PG " FROM alerts WHERE key = $1 FOR UPDATE",
};
static const struct sql_stmt SQL_ALERT_INSERT =
    SQL_SAME("INSERT INTO alerts (key, severity, state, title, details, inhibited_by, first_seen, "
             "last_seen, resolved_at, last_notified, notified_state, times_sent, updated_at) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
             "ON CONFLICT (key) DO NOTHING");
static const struct sql_stmt SQL_ALERT_UPDATE = SQL_SAME(
    "UPDATE alerts SET severity = $2, state = $3, title = $4, details = $5, inhibited_by = $6, "
    "first_seen = $7, last_seen = $8, resolved_at = $9, last_notified = $10, "
    "notified_state = $11, times_sent = $12, updated_at = $13 WHERE key = $1");
/*
 * One statement for every filter: a NULL parameter (sent typed as text)
 * switches its condition off.
 */
static const struct sql_stmt SQL_ALERT_LIST = {
    .sqlite = "SELECT " ALERT_COLS_SQLITE " FROM alerts "
              "WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR inhibited_by = $2) "
              "AND ($3 = 0 OR state = 'firing' OR notified_state = 'firing') "
              "ORDER BY updated_at DESC, key LIMIT $4",
    .pg = "SELECT " ALERT_COLS_PG " FROM alerts "
          "WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR inhibited_by = $2) "
          "AND ($3 = 0 OR state = 'firing' OR notified_state = 'firing') "
          "ORDER BY updated_at DESC, key LIMIT $4",
};
static const struct sql_stmt SQL_ALERT_LIST_RELEASED = {
    .sqlite = "SELECT " ALERT_COLS_SQLITE " FROM alerts a "
              "WHERE a.state = 'firing' AND a.inhibited_by <> '' AND NOT EXISTS "
              "(SELECT 1 FROM alerts i WHERE i.key = a.inhibited_by AND i.state = 'firing') "
              "ORDER BY a.updated_at DESC, a.key",
    .pg = "SELECT " ALERT_COLS_PG " FROM alerts a "
          "WHERE a.state = 'firing' AND a.inhibited_by <> '' AND NOT EXISTS "
          "(SELECT 1 FROM alerts i WHERE i.key = a.inhibited_by AND i.state = 'firing') "
          "ORDER BY a.updated_at DESC, a.key",
};

void alert_row_release(struct alert_row *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->severity);
    free(r->title);
    free(r->details);
    free(r->inhibited_by);
    free(r->notified_state);
    memset(r, 0, sizeof(*r));
}

void alert_rows_free(struct alert_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        alert_row_release(&v[i]);
    free(v);
}

static int read_alert(const struct sql_rows *rows, size_t i, struct alert_row *out,
                      struct strbuf *err)
{
    const char *state = sql_rows_text(rows, i, 2);
    int rc;

    memset(out, 0, sizeof(*out));
    out->key = sql_rows_strdup(rows, i, 0);
    out->severity = sql_rows_strdup(rows, i, 1);
    out->firing = state && !strcmp(state, "firing");
    out->title = sql_rows_strdup(rows, i, 3);
    out->details = sql_rows_strdup(rows, i, 4);
    out->inhibited_by = sql_rows_strdup(rows, i, 5);
    out->notified_state = sql_rows_strdup(rows, i, 10);
    rc = sql_rows_int(rows, i, 6, &out->first_seen_ms, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 7, &out->last_seen_ms, err);
    if (!rc)
        rc = sql_rows_int_or0(rows, i, 8, &out->resolved_ms, err);
    if (!rc)
        rc = sql_rows_int_or0(rows, i, 9, &out->last_notified_ms, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 11, &out->times_sent, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 12, &out->updated_ms, err);
    if (rc)
        alert_row_release(out);
    return rc;
}

SQL_ROWS_READ_ALL(read_alerts, struct alert_row, read_alert, alert_rows_free)

static int check_key(const char *what, const char *key, struct strbuf *err)
{
    if (!key || !*key) {
        strbuf_addf(err, "store: empty %s", what);
        return CK_EINVAL;
    }
    return 0;
}

int store_alert_get(struct store *st, const char *key, bool lock, struct alert_row *out,
                    struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(key)};
    int rc = check_key("alert key", key, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    if (lock && !store_in_transaction(st))
        BUG("store_alert_get: a lock outside a transaction");
    rc = store_sql(st, lock ? &SQL_ALERT_GET_LOCKED : &SQL_ALERT_GET, p, ARRAY_SIZE(p), &rows, NULL,
                   "read alert", err);
    if (!rc && !rows.nrows) {
        strbuf_addf(err, "store: no alert '%s'", key);
        rc = CK_ENOTFOUND;
    }
    if (!rc)
        rc = read_alert(&rows, 0, out, err);
    sql_rows_release(&rows);
    return rc;
}

/* The parameters of SQL_ALERT_INSERT and SQL_ALERT_UPDATE, in their order. */
static void alert_params(const struct alert_row *r, struct sqlv p[13])
{
    p[0] = SQLV_S(r->key);
    p[1] = SQLV_S(r->severity);
    p[2] = SQLV_S(r->firing ? "firing" : "resolved");
    p[3] = SQLV_S(r->title ? r->title : "");
    p[4] = SQLV_S(r->details ? r->details : "");
    p[5] = SQLV_S(r->inhibited_by ? r->inhibited_by : "");
    p[6] = SQLV_MS(r->first_seen_ms);
    p[7] = SQLV_MS(r->last_seen_ms);
    p[8] = r->resolved_ms ? SQLV_MS(r->resolved_ms) : SQLV_N();
    p[9] = r->last_notified_ms ? SQLV_MS(r->last_notified_ms) : SQLV_N();
    p[10] = SQLV_S(r->notified_state ? r->notified_state : "");
    p[11] = SQLV_I(r->times_sent);
    p[12] = SQLV_MS(r->updated_ms);
}

static int check_alert(const struct alert_row *r, struct strbuf *err)
{
    int rc = check_key("alert key", r->key, err);
    if (!rc && !r->severity) {
        strbuf_addf(err, "store: alert '%s' has no severity", r->key);
        rc = CK_EINVAL;
    }
    return rc;
}

int store_alert_insert(struct store *st, const struct alert_row *r, bool *inserted,
                       struct strbuf *err)
{
    struct sqlv p[13];
    int64_t changed = 0;
    int rc = check_alert(r, err);

    *inserted = false;
    if (rc)
        return rc;
    alert_params(r, p);
    rc = store_sql(st, &SQL_ALERT_INSERT, p, ARRAY_SIZE(p), NULL, &changed, "record alert", err);
    if (!rc)
        *inserted = changed > 0;
    return rc;
}

int store_alert_update(struct store *st, const struct alert_row *r, struct strbuf *err)
{
    struct sqlv p[13];
    int64_t changed = 0;
    int rc = check_alert(r, err);

    if (rc)
        return rc;
    alert_params(r, p);
    rc = store_sql(st, &SQL_ALERT_UPDATE, p, ARRAY_SIZE(p), NULL, &changed, "update alert", err);
    if (!rc && !changed) {
        strbuf_addf(err, "store: no alert '%s'", r->key);
        rc = CK_ENOTFOUND;
    }
    return rc;
}

int store_alert_list(struct store *st, const struct alert_query *q, struct alert_row **out,
                     size_t *n, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {
        SQLV_S(q->state),
        SQLV_S(q->inhibited_by),
        SQLV_I(q->owing ? 1 : 0),
        SQLV_I(q->limit ? (int64_t)q->limit : NO_LIMIT),
    };
    int rc;

    *out = NULL;
    *n = 0;
    if (q->state && strcmp(q->state, "firing") && strcmp(q->state, "resolved"))
        BUG("store_alert_list: state '%s'", q->state);
    rc = store_sql(st, &SQL_ALERT_LIST, p, ARRAY_SIZE(p), &rows, NULL, "list alerts", err);
    if (!rc)
        rc = read_alerts(&rows, out, n, err);
    sql_rows_release(&rows);
    return rc;
}

int store_alert_list_released(struct store *st, struct alert_row **out, size_t *n,
                              struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    *out = NULL;
    *n = 0;
    rc = store_sql(st, &SQL_ALERT_LIST_RELEASED, NULL, 0, &rows, NULL, "list released alerts", err);
    if (!rc)
        rc = read_alerts(&rows, out, n, err);
    sql_rows_release(&rows);
    return rc;
}

/* --- the outbox ---------------------------------------------------------- */

#define OUTBOX_COLS_SQLITE                                                                         \
    "id, channel, alert_key, severity, kind, title, details, event_time, created_at, due_at, "     \
    "attempts, parts_done, status, last_error, sent_at, lease_holder, lease_until"
/* clang-format off */
#define OUTBOX_COLS_PG                                                                             \
    "id, channel, alert_key, severity, kind, title, details, "                                     \
    SQL_PG_MS("event_time") ", " SQL_PG_MS("created_at") ", " SQL_PG_MS("due_at") ", "             \
    "attempts, parts_done, status, last_error, " SQL_PG_MS("sent_at") ", "                         \
    "lease_holder, " SQL_PG_MS("lease_until")
/* clang-format on */

static const struct sql_stmt SQL_OUTBOX_ADD = SQL_SAME(
    "INSERT INTO alert_outbox (channel, alert_key, severity, kind, title, details, event_time, "
    "created_at, due_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') "
    "RETURNING id");
/*
 * $1 holder, $2 lease end, $3 channel, $4 now, $5 max. The claimed rows
 * come back in no particular order; the caller sorts them.
 */
static const struct sql_stmt SQL_OUTBOX_CLAIM = {
    .sqlite = "UPDATE alert_outbox SET lease_holder = $1, lease_until = $2 WHERE id IN "
              "(SELECT id FROM alert_outbox WHERE status = 'pending' AND channel = $3 "
              "AND due_at <= $4 AND lease_until < $4 ORDER BY due_at, id LIMIT $5) "
              "RETURNING " OUTBOX_COLS_SQLITE,
    .pg = "UPDATE alert_outbox SET lease_holder = $1, lease_until = $2 WHERE id IN "
          "(SELECT id FROM alert_outbox WHERE status = 'pending' AND channel = $3 "
          "AND due_at <= $4 AND lease_until < $4 ORDER BY due_at, id LIMIT $5 "
          "FOR UPDATE SKIP LOCKED) "
          "RETURNING " OUTBOX_COLS_PG,
};
/* $1 id, $2 holder, $3 parts done, $4 the free lease's end (epoch), then each its own. */
static const struct sql_stmt SQL_OUTBOX_SENT =
    SQL_SAME("UPDATE alert_outbox SET status = 'sent', sent_at = $5, attempts = attempts + 1, "
             "parts_done = $3, last_error = '', lease_holder = '', lease_until = $4 "
             "WHERE id = $1 AND lease_holder = $2 AND status = 'pending'");
static const struct sql_stmt SQL_OUTBOX_RETRY =
    SQL_SAME("UPDATE alert_outbox SET due_at = $5, last_error = $6, attempts = attempts + 1, "
             "parts_done = $3, lease_holder = '', lease_until = $4 "
             "WHERE id = $1 AND lease_holder = $2 AND status = 'pending'");
static const struct sql_stmt SQL_OUTBOX_FAILED =
    SQL_SAME("UPDATE alert_outbox SET status = 'failed', last_error = $5, attempts = attempts + 1, "
             "parts_done = $3, lease_holder = '', lease_until = $4 "
             "WHERE id = $1 AND lease_holder = $2 AND status = 'pending'");
static const struct sql_stmt SQL_OUTBOX_NEXT_DUE = {
    .sqlite = "SELECT min(max(due_at, lease_until)) FROM alert_outbox "
              "WHERE status = 'pending' AND channel = $1",
    .pg = "SELECT " SQL_PG_MS(
        "min(GREATEST(due_at, lease_until))") " FROM alert_outbox "
                                              "WHERE status = 'pending' AND channel = $1",
};
static const struct sql_stmt SQL_OUTBOX_LIST = {
    .sqlite = "SELECT " OUTBOX_COLS_SQLITE " FROM alert_outbox "
              "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR channel = $2) "
              "AND ($3 IS NULL OR alert_key = $3) ORDER BY id LIMIT $4",
    .pg = "SELECT " OUTBOX_COLS_PG " FROM alert_outbox "
          "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR channel = $2) "
          "AND ($3::text IS NULL OR alert_key = $3) ORDER BY id LIMIT $4",
};
static const struct sql_stmt SQL_OUTBOX_COUNTS =
    SQL_SAME("SELECT status, count(*) FROM alert_outbox GROUP BY status");

static const char *const outbox_status_names[] = {
    [OUTBOX_PENDING] = "pending",
    [OUTBOX_SENT] = "sent",
    [OUTBOX_FAILED] = "failed",
};

const char *alert_outbox_status_name(enum alert_outbox_status s)
{
    if ((size_t)s >= ARRAY_SIZE(outbox_status_names))
        BUG("alert outbox status %d", (int)s);
    return outbox_status_names[s];
}

int alert_outbox_status_parse(const char *name, enum alert_outbox_status *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(outbox_status_names); i++) {
        if (!strcmp(name, outbox_status_names[i])) {
            *out = (enum alert_outbox_status)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

static void outbox_row_release(struct alert_outbox_row *r)
{
    free(r->channel);
    free(r->alert_key);
    free(r->severity);
    free(r->kind);
    free(r->title);
    free(r->details);
    free(r->last_error);
    free(r->lease_holder);
    memset(r, 0, sizeof(*r));
}

void alert_outbox_rows_free(struct alert_outbox_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        outbox_row_release(&v[i]);
    free(v);
}

static int read_outbox_row(const struct sql_rows *rows, size_t i, struct alert_outbox_row *out,
                           struct strbuf *err)
{
    int64_t *ints[] = {&out->event_ms, &out->created_ms, &out->due_ms, &out->attempts,
                       &out->parts_done};
    int rc;

    memset(out, 0, sizeof(*out));
    out->channel = sql_rows_strdup(rows, i, 1);
    out->alert_key = sql_rows_strdup(rows, i, 2);
    out->severity = sql_rows_strdup(rows, i, 3);
    out->kind = sql_rows_strdup(rows, i, 4);
    out->title = sql_rows_strdup(rows, i, 5);
    out->details = sql_rows_strdup(rows, i, 6);
    out->last_error = sql_rows_strdup(rows, i, 13);
    out->lease_holder = sql_rows_strdup(rows, i, 15);
    rc = sql_rows_int(rows, i, 0, &out->id, err);
    for (size_t k = 0; !rc && k < ARRAY_SIZE(ints); k++)
        rc = sql_rows_int(rows, i, 7 + k, ints[k], err);
    if (!rc && alert_outbox_status_parse(sql_rows_text(rows, i, 12), &out->status)) {
        strbuf_addf(err, "store: alert outbox row %lld has status '%s'", (long long)out->id,
                    sql_rows_text(rows, i, 12) ? sql_rows_text(rows, i, 12) : "NULL");
        rc = CK_EPARSE;
    }
    if (!rc)
        rc = sql_rows_int_or0(rows, i, 14, &out->sent_ms, err);
    if (!rc)
        rc = sql_rows_int(rows, i, 16, &out->lease_until_ms, err);
    if (rc)
        outbox_row_release(out);
    return rc;
}

SQL_ROWS_READ_ALL(read_outbox_rows, struct alert_outbox_row, read_outbox_row,
                  alert_outbox_rows_free)

int store_alert_outbox_add(struct store *st, struct alert_outbox_row *r, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {
        SQLV_S(r->channel),
        SQLV_S(r->alert_key ? r->alert_key : ""),
        SQLV_S(r->severity),
        SQLV_S(r->kind),
        SQLV_S(r->title ? r->title : ""),
        SQLV_S(r->details ? r->details : ""),
        SQLV_MS(r->event_ms),
        SQLV_MS(r->created_ms),
        SQLV_MS(r->due_ms),
    };
    int rc = check_key("outbox channel", r->channel, err);

    if (!rc)
        rc = check_key("outbox message kind", r->kind, err);
    if (!rc && !r->severity) {
        strbuf_addstr(err, "store: outbox message without a severity");
        rc = CK_EINVAL;
    }
    if (rc)
        return rc;
    rc = store_sql(st, &SQL_OUTBOX_ADD, p, ARRAY_SIZE(p), &rows, NULL, "queue an alert message",
                   err);
    if (!rc && rows.nrows != 1)
        BUG("alert outbox insert returned %zu rows", rows.nrows);
    if (!rc)
        rc = sql_rows_int(&rows, 0, 0, &r->id, err);
    sql_rows_release(&rows);
    return rc;
}

static int by_due(const void *a, const void *b)
{
    const struct alert_outbox_row *x = a, *y = b;
    if (x->due_ms != y->due_ms)
        return x->due_ms < y->due_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int store_alert_outbox_claim(struct store *st, const char *channel, int64_t now_ms,
                             const char *holder, int64_t lease_until_ms, size_t max,
                             struct alert_outbox_row **out, size_t *n, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {
        SQLV_S(holder),
        SQLV_MS(lease_until_ms),
        SQLV_S(channel),
        SQLV_MS(now_ms),
        SQLV_I(max ? (int64_t)max : NO_LIMIT),
    };
    int rc = check_key("outbox channel", channel, err);

    *out = NULL;
    *n = 0;
    if (!rc)
        rc = check_key("lease holder", holder, err);
    if (rc)
        return rc;
    if (store_in_transaction(st))
        BUG("store_alert_outbox_claim inside a transaction");
    rc = store_sql(st, &SQL_OUTBOX_CLAIM, p, ARRAY_SIZE(p), &rows, NULL, "claim alert messages",
                   err);
    if (!rc)
        rc = read_outbox_rows(&rows, out, n, err);
    sql_rows_release(&rows);
    if (!rc && *n > 1)
        qsort(*out, *n, sizeof(**out), by_due);
    return rc;
}

/* `extra` are the statement's parameters after the first four; `nextra` of them. */
static int outbox_finish(struct store *st, const struct sql_stmt *stmt, int64_t id,
                         const char *holder, int64_t parts_done, const struct sqlv *extra,
                         size_t nextra, struct strbuf *err)
{
    struct sqlv p[6] = {SQLV_I(id), SQLV_S(holder), SQLV_I(parts_done), SQLV_MS(0)};
    int64_t changed = 0;
    int rc = check_key("lease holder", holder, err);

    if (rc)
        return rc;
    if (nextra > ARRAY_SIZE(p) - 4)
        BUG("outbox_finish: %zu parameters", nextra);
    memcpy(p + 4, extra, nextra * sizeof(*extra));
    rc = store_sql(st, stmt, p, 4 + nextra, NULL, &changed, "record an alert message attempt", err);
    if (!rc && !changed) {
        strbuf_addf(err, "store: alert message %lld is no longer leased to '%s'", (long long)id,
                    holder);
        rc = CK_ECONFLICT;
    }
    return rc;
}

int store_alert_outbox_sent(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                            int64_t now_ms, struct strbuf *err)
{
    struct sqlv extra[] = {SQLV_MS(now_ms)};
    return outbox_finish(st, &SQL_OUTBOX_SENT, id, holder, parts_done, extra, ARRAY_SIZE(extra),
                         err);
}

int store_alert_outbox_retry(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                             int64_t due_ms, const char *error, struct strbuf *err)
{
    struct sqlv extra[] = {SQLV_MS(due_ms), SQLV_S(error ? error : "")};
    return outbox_finish(st, &SQL_OUTBOX_RETRY, id, holder, parts_done, extra, ARRAY_SIZE(extra),
                         err);
}

int store_alert_outbox_failed(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                              const char *error, struct strbuf *err)
{
    struct sqlv extra[] = {SQLV_S(error ? error : "")};
    return outbox_finish(st, &SQL_OUTBOX_FAILED, id, holder, parts_done, extra, ARRAY_SIZE(extra),
                         err);
}

int store_alert_outbox_next_due(struct store *st, const char *channel, int64_t *out_ms,
                                struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(channel)};
    int rc = check_key("outbox channel", channel, err);

    *out_ms = 0;
    if (rc)
        return rc;
    rc = store_sql(st, &SQL_OUTBOX_NEXT_DUE, p, ARRAY_SIZE(p), &rows, NULL,
                   "find the next alert message", err);
    if (!rc && (rows.nrows != 1 || sql_rows_null(&rows, 0, 0)))
        rc = CK_ENOTFOUND;
    else if (!rc)
        rc = sql_rows_int(&rows, 0, 0, out_ms, err);
    sql_rows_release(&rows);
    return rc;
}

int store_alert_outbox_list(struct store *st, const struct alert_outbox_query *q,
                            struct alert_outbox_row **out, size_t *n, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[] = {
        SQLV_S(q->status ? alert_outbox_status_name(*q->status) : NULL),
        SQLV_S(q->channel),
        SQLV_S(q->alert_key),
        SQLV_I(q->limit ? (int64_t)q->limit : NO_LIMIT),
    };
    int rc;

    *out = NULL;
    *n = 0;
    rc = store_sql(st, &SQL_OUTBOX_LIST, p, ARRAY_SIZE(p), &rows, NULL, "list alert messages", err);
    if (!rc)
        rc = read_outbox_rows(&rows, out, n, err);
    sql_rows_release(&rows);
    return rc;
}

int store_alert_outbox_counts(struct store *st, int64_t out[3], struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    out[0] = out[1] = out[2] = 0;
    rc = store_sql(st, &SQL_OUTBOX_COUNTS, NULL, 0, &rows, NULL, "count alert messages", err);
    for (size_t i = 0; !rc && i < rows.nrows; i++) {
        enum alert_outbox_status s;
        int64_t c;
        if (alert_outbox_status_parse(sql_rows_text(&rows, i, 0), &s))
            continue;
        rc = sql_rows_int(&rows, i, 1, &c, err);
        if (!rc)
            out[s] = c;
    }
    sql_rows_release(&rows);
    return rc;
}

/* $1 before, $2 batch: the oldest first, so each batch makes progress. */
static const struct sql_stmt SQL_OUTBOX_PRUNE = SQL_SAME(
    "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox WHERE created_at < $1 "
    "AND status IN ('sent', 'failed') ORDER BY created_at, id LIMIT $2)");
static const struct sql_stmt SQL_OUTBOX_COUNT_DONE = SQL_SAME(
    "SELECT count(*) FROM alert_outbox WHERE created_at < $1 AND status IN ('sent', 'failed')");

int store_alert_outbox_prune(struct store *st, int64_t before_ms, size_t batch, int64_t *deleted,
                             struct strbuf *err)
{
    struct sqlv p[] = {SQLV_MS(before_ms), SQLV_I(batch ? (int64_t)batch : INT64_MAX)};
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_OUTBOX_PRUNE, p, ARRAY_SIZE(p), NULL, &changed,
                       "delete old alert messages", err);
    if (deleted)
        *deleted = rc ? 0 : changed;
    return rc;
}

int store_alert_outbox_count_done(struct store *st, int64_t before_ms, int64_t *out,
                                  struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_MS(before_ms)};
    int rc = store_sql(st, &SQL_OUTBOX_COUNT_DONE, p, ARRAY_SIZE(p), &r, NULL,
                       "count old alert messages", err);
    if (!rc)
        rc = sql_rows_int(&r, 0, 0, out, err);
    sql_rows_release(&r);
    return rc;
}
