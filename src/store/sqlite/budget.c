/* SPDX-License-Identifier: MIT */
/*
 * Rate budgets and series state in the SQLite backend: the stored row
 * of each budget (day count and ban), the log of requests sent that the
 * sliding window counts, and the health row of each fetched series. The
 * logic of taking a token is store.c's; this file reads and writes rows.
 * A locking read needs nothing more than the IMMEDIATE transaction it runs
 * in, which already holds the database's write lock.
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

int sqlite_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                    struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc;

    memset(out, 0, sizeof(*out));
    if (lock) {
        /* The caller's IMMEDIATE transaction holds the write lock: the row is ours. */
        rc = sqlite_stmt(ss, STMT_RATE_ENSURE, &q, err);
        if (rc)
            return rc;
        sqlite_bind_str(q, 1, source);
        rc = sqlite_step(ss, q, false, "cannot add rate budget", err);
        sqlite_stmt_done(q);
        if (rc)
            return rc;
    }
    rc = sqlite_stmt(ss, STMT_RATE_GET, &q, err);
    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    rc = sqlite_step(ss, q, true, "cannot read rate budget", err);
    if (!rc) {
        const char *reason = (const char *)sqlite3_column_text(q, 3);
        size_t n = reason ? strlen(reason) : 0;
        out->day = sqlite3_column_int64(q, 0);
        out->day_used = sqlite3_column_int64(q, 1);
        out->banned_until_ms = sqlite3_column_int64(q, 2);
        if (n >= sizeof(out->ban_reason))
            n = sizeof(out->ban_reason) - 1;
        memcpy(out->ban_reason, reason ? reason : "", n);
        out->ban_reason[n] = '\0';
    }
    sqlite_stmt_done(q);
    return rc;
}

int sqlite_rate_put(struct store *st, const char *source, const struct rate_row *row,
                    int64_t now_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_PUT, &q, err);

    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, row->day);
    sqlite3_bind_int64(q, 3, row->day_used);
    sqlite3_bind_int64(q, 4, row->banned_until_ms);
    sqlite_bind_str(q, 5, row->ban_reason);
    sqlite3_bind_int64(q, 6, now_ms);
    rc = sqlite_step(ss, q, false, "cannot write rate budget", err);
    sqlite_stmt_done(q);
    return rc;
}

int sqlite_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                       int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_COUNT, &q, err);

    *out_count = 0;
    *out_nth_ms = 0;
    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, since_ms);
    rc = sqlite_step(ss, q, true, "cannot count sent requests", err);
    if (!rc)
        *out_count = sqlite3_column_int64(q, 0);
    sqlite_stmt_done(q);
    if (rc || *out_count < nth || nth < 1)
        return rc;
    rc = sqlite_stmt(ss, STMT_RATE_NTH, &q, err);
    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, since_ms);
    sqlite3_bind_int64(q, 3, nth - 1);
    rc = sqlite_step(ss, q, true, "cannot read sent requests", err);
    if (!rc)
        *out_nth_ms = sqlite3_column_int64(q, 0);
    sqlite_stmt_done(q);
    return rc == CK_ENOTFOUND ? 0 : rc;
}

int sqlite_rate_log(struct store *st, const char *source, int64_t sent_ms, int64_t prune_before_ms,
                    struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_LOG, &q, err);

    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, sent_ms);
    rc = sqlite_step(ss, q, false, "cannot log a sent request", err);
    sqlite_stmt_done(q);
    if (rc)
        return rc;
    rc = sqlite_stmt(ss, STMT_RATE_PRUNE, &q, err);
    if (rc)
        return rc;
    sqlite_bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, prune_before_ms);
    rc = sqlite_step(ss, q, false, "cannot prune the request log", err);
    sqlite_stmt_done(q);
    return rc;
}

static int read_series_state(struct sqlite_store *ss, sqlite3_stmt *q, struct series_state *s,
                             struct strbuf *err)
{
    memset(s, 0, sizeof(*s));
    s->source = sqlite_column_strdup(q, 0);
    s->symbol = sqlite_column_strdup(q, 1);
    s->streak = sqlite3_column_int64(q, 3);
    s->skipped = sqlite3_column_int64(q, 4);
    s->last_error = sqlite_column_strdup(q, 5);
    s->last_failure = sqlite3_column_int64(q, 6);
    s->last_success = sqlite3_column_int64(q, 7);
    s->deferred_since = sqlite3_column_int64(q, 8);
    s->deferred_reason = sqlite_column_strdup(q, 9);
    s->updated_at = sqlite3_column_int64(q, 10);
    return sqlite_column_tf(ss, q, 2, &s->tf, err);
}

int sqlite_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                            struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = sqlite_stmt(ss, STMT_SSTATE_GET, &q, err);
    if (rc)
        return rc;
    sqlite_bind_series_key(q, k);
    rc = sqlite_step(ss, q, true, "cannot read series state", err);
    if (!rc && (rc = read_series_state(ss, q, out, err)))
        series_state_release(out);
    sqlite_stmt_done(q);
    return rc;
}

int sqlite_series_state_put(struct store *st, const struct series_state *s, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_SSTATE_PUT, &q, err);

    if (rc)
        return rc;
    sqlite_bind_str(q, 1, s->source);
    sqlite_bind_str(q, 2, s->symbol);
    sqlite_bind_str(q, 3, timeframe_name(s->tf));
    sqlite3_bind_int64(q, 4, s->streak);
    sqlite3_bind_int64(q, 5, s->skipped);
    sqlite_bind_str(q, 6, s->last_error ? s->last_error : "");
    sqlite3_bind_int64(q, 7, s->last_failure);
    sqlite3_bind_int64(q, 8, s->last_success);
    sqlite3_bind_int64(q, 9, s->deferred_since);
    sqlite_bind_str(q, 10, s->deferred_reason ? s->deferred_reason : "");
    sqlite3_bind_int64(q, 11, s->updated_at);
    rc = sqlite_step(ss, q, false, "cannot write series state", err);
    sqlite_stmt_done(q);
    return rc;
}

int sqlite_series_state_list(struct store *st, const char *source, struct series_state **out,
                             size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct series_state *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, source ? STMT_SSTATE_LIST_SOURCE : STMT_SSTATE_LIST, &q, err);

    if (rc)
        return rc;
    if (source)
        sqlite_bind_str(q, 1, source);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_series_state(ss, q, &v[nr], err);
        nr++;
        if (rc)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list series state", err);
out:
    sqlite_stmt_done(q);
    if (rc) {
        series_states_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}
