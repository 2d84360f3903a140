/* SPDX-License-Identifier: MIT */
/*
 * Rate budgets and series state in the PostgreSQL backend: the stored row
 * of each budget (day count and ban), the log of requests sent that the
 * sliding window counts, and the health row of each fetched series. The
 * logic of taking a token is store.c's; a locking read takes the budget's
 * row lock for the rest of the caller's transaction, so that concurrent
 * takers of one budget queue up.
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

/* --- rate budgets and series state -------------------------------------- */

static void pg_copy_reason(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int pg_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    pg_param_text(&p, source);
    if (lock) {
        rc = pg_run(ps, PG_RATE_ENSURE, &p, &res, err, "add the rate budget of '%s'", source);
        PQclear(res);
        if (rc)
            return rc;
    }
    rc = pg_run(ps, lock ? PG_RATE_LOCK : PG_RATE_GET, &p, &res, err,
                "read the rate budget of '%s'", source);
    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        rc = CK_ENOTFOUND;
    } else {
        rc = pg_get_int(ps, res, 0, 0, &out->day, err);
        if (!rc)
            rc = pg_get_int(ps, res, 0, 1, &out->day_used, err);
        if (!rc)
            rc = pg_get_int(ps, res, 0, 2, &out->banned_until_ms, err);
        if (!rc)
            pg_copy_reason(out->ban_reason, sizeof(out->ban_reason), PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

int pg_rate_put(struct store *st, const char *source, const struct rate_row *row, int64_t now_ms,
                struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now_ms, 1000, "time (ms)", err);

    if (!rc && row->banned_until_ms)
        rc = pg_check_time(row->banned_until_ms, 1000, "ban end (ms)", err);
    if (!rc)
        rc = pg_check_time(row->day * 86400, 1, "day", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, source);
    pg_param_int(&p, row->day);
    pg_param_int(&p, row->day_used);
    if (row->banned_until_ms)
        pg_param_ms(&p, row->banned_until_ms);
    else
        pg_param_null(&p);
    pg_param_text(&p, row->ban_reason);
    pg_param_ms(&p, now_ms);
    rc = pg_run(ps, PG_RATE_PUT, &p, &res, err, "write the rate budget of '%s'", source);
    PQclear(res);
    return rc;
}

int pg_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                   int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    *out_count = 0;
    *out_nth_ms = 0;
    if (rc)
        return rc;
    pg_param_text(&p, source);
    pg_param_ms(&p, since_ms);
    pg_param_int(&p, nth > 0 ? nth - 1 : 0);
    rc = pg_run(ps, PG_RATE_WINDOW, &p, &res, err, "count the requests sent to '%s'", source);
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, out_count, err);
    if (!rc && nth > 0)
        rc = pg_get_int(ps, res, 0, 1, out_nth_ms, err);
    PQclear(res);
    return rc;
}

int pg_rate_log(struct store *st, const char *source, int64_t sent_ms, int64_t prune_before_ms,
                struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(sent_ms, 1000, "send time (ms)", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, source);
    pg_param_ms(&p, sent_ms);
    pg_param_ms(&p, prune_before_ms);
    rc = pg_run(ps, PG_RATE_LOG, &p, &res, err, "log a request sent to '%s'", source);
    PQclear(res);
    return rc;
}

static int pg_read_sstate(struct pg_store *ps, const PGresult *res, int r, struct series_state *s,
                          struct strbuf *err)
{
    int rc;

    memset(s, 0, sizeof(*s));
    s->source = xstrdup(PQgetvalue(res, r, 0));
    s->symbol = xstrdup(PQgetvalue(res, r, 1));
    s->last_error = xstrdup(PQgetvalue(res, r, 5));
    s->deferred_reason = xstrdup(PQgetvalue(res, r, 9));
    rc = pg_get_tf(ps, res, r, 2, &s->tf, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &s->streak, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &s->skipped, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 6, &s->last_failure, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 7, &s->last_success, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 8, &s->deferred_since, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 10, &s->updated_at, err);
    return rc;
}

int pg_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                        struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    pg_param_series(&p, k);
    rc = pg_run(ps, PG_SSTATE_GET, &p, &res, err, "read the state of series '%s %s %s'", k->source,
                k->symbol, timeframe_name(k->tf));
    if (rc)
        return rc;
    if (PQntuples(res) != 1)
        rc = CK_ENOTFOUND;
    else if ((rc = pg_read_sstate(ps, res, 0, out, err)))
        series_state_release(out);
    PQclear(res);
    return rc;
}

/* A time that is 0 for none: NULL, else the timestamptz. */
static void pg_param_time0(struct pg_params *p, int64_t t)
{
    if (t)
        pg_param_time(p, t);
    else
        pg_param_null(p);
}

int pg_series_state_put(struct store *st, const struct series_state *s, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(s->updated_at, 1, "time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, s->source);
    pg_param_text(&p, s->symbol);
    pg_param_text(&p, timeframe_name(s->tf));
    pg_param_int(&p, s->streak);
    pg_param_int(&p, s->skipped);
    pg_param_text(&p, s->last_error ? s->last_error : "");
    pg_param_time0(&p, s->last_failure);
    pg_param_time0(&p, s->last_success);
    pg_param_time0(&p, s->deferred_since);
    pg_param_text(&p, s->deferred_reason ? s->deferred_reason : "");
    pg_param_time(&p, s->updated_at);
    rc = pg_run(ps, PG_SSTATE_PUT, &p, &res, err, "write the state of series '%s %s %s'", s->source,
                s->symbol, timeframe_name(s->tf));
    PQclear(res);
    return rc;
}

int pg_series_state_list(struct store *st, const char *source, struct series_state **out, size_t *n,
                         struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct series_state *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, source); /* NULL: every source */
    rc = pg_run(ps, PG_SSTATE_LIST, &p, &res, err, "list series state");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_sstate(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        series_states_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}
