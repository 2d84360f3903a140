/* SPDX-License-Identifier: MIT */
/*
 * The gap ledger in the PostgreSQL backend: listing with optional filters,
 * inserting and updating records, and their bulk export and import
 * (pipelined, see pg_run_each()). Times are timestamptz, read back as Unix
 * seconds.
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

/* --- the gap ledger ---------------------------------------------------- */

/* The gap records of a result of PG_GAP_COLUMNS, all or nothing. */
static int pg_read_gaps(struct pg_store *ps, const PGresult *res, struct gap_record **out,
                        size_t *n, struct strbuf *err)
{
    int rows = PQntuples(res), rc = 0;
    struct gap_record *v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));

    for (int r = 0; r < rows && !rc; r++) {
        struct gap_record *g = &v[r];
        g->source = xstrdup(PQgetvalue(res, r, 1));
        g->symbol = xstrdup(PQgetvalue(res, r, 2));
        g->reason = xstrdup(PQgetvalue(res, r, 8));
        rc = pg_get_int(ps, res, r, 0, &g->id, err);
        if (!rc)
            rc = pg_get_tf(ps, res, r, 3, &g->tf, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 4, &g->first, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 5, &g->last, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 6, &g->count, err);
        if (!rc && gap_state_parse(PQgetvalue(res, r, 7), &g->state)) {
            strbuf_addf(err, "store: unknown gap state '%s' in '%s'", PQgetvalue(res, r, 7),
                        ps->redacted);
            rc = CK_EPARSE;
        }
        if (!rc)
            rc = pg_get_int(ps, res, r, 9, &g->first_seen, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 10, &g->last_checked, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 11, &g->attempts, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 12, &g->first_attempt, err);
    }
    if (rc) {
        gap_records_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* The repair columns of a record: its attempts and the time of the first (NULL: none). */
static void add_attempts(struct pg_params *p, const struct gap_record *g)
{
    pg_param_int(p, g->attempts);
    if (g->first_attempt > 0 && pg_time_storable(g->first_attempt))
        pg_param_time(p, g->first_attempt);
    else
        pg_param_null(p);
}

int pg_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out, size_t *n,
                 struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, q->source);
    pg_param_text(&p, q->symbol);
    if (q->has_tf)
        pg_param_text(&p, timeframe_name(q->tf));
    else
        pg_param_null(&p);
    if (q->has_since)
        pg_param_time(&p, q->since);
    else
        pg_param_null(&p);
    if (q->has_state)
        pg_param_text(&p, gap_state_name(q->state));
    else
        pg_param_null(&p);
    if (q->limit)
        pg_param_int(&p, (int64_t)q->limit);
    else
        pg_param_null(&p);
    rc = pg_run(ps, PG_LIST_GAPS, &p, &res, err, "list gaps");
    if (rc)
        return rc;
    rc = pg_read_gaps(ps, res, out, n, err);
    PQclear(res);
    return rc;
}

int pg_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                  struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    int64_t series_id;
    PGresult *res;
    int rc;

    if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
        !pg_time_storable(g->first_seen) || !pg_time_storable(g->last_checked)) {
        strbuf_addstr(err, "store: a time of a gap record is outside the years 1 to 9999");
        return CK_EINVAL;
    }
    rc = pg_ready(ps, err);
    if (!rc)
        rc = pg_series_id(ps, s, &series_id, err);
    if (rc)
        return rc;
    pg_param_int(&p, series_id);
    pg_param_time(&p, g->first);
    pg_param_time(&p, g->last);
    pg_param_int(&p, g->count);
    pg_param_text(&p, gap_state_name(g->state));
    pg_param_text(&p, g->reason ? g->reason : "");
    pg_param_time(&p, g->first_seen);
    pg_param_time(&p, g->last_checked);
    add_attempts(&p, g);
    rc = pg_run(ps, PG_INSERT_GAP, &p, &res, err, "record a gap of '%s %s %s'", s->source,
                s->symbol, timeframe_name(s->tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &g->id, err);
    PQclear(res);
    return rc;
}

int pg_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
        !pg_time_storable(g->last_checked)) {
        strbuf_addf(err, "store: a time of gap %lld is outside the years 1 to 9999",
                    (long long)g->id);
        return CK_EINVAL;
    }
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_int(&p, g->id);
    pg_param_time(&p, g->first);
    pg_param_time(&p, g->last);
    pg_param_int(&p, g->count);
    pg_param_text(&p, gap_state_name(g->state));
    pg_param_text(&p, g->reason);
    pg_param_time(&p, g->last_checked);
    add_attempts(&p, g);
    rc = pg_run(ps, PG_UPDATE_GAP, &p, &res, err, "update gap %lld", (long long)g->id);
    if (rc)
        return rc;
    if (strcmp(PQcmdTuples(res), "1")) {
        strbuf_addf(err, "store: no gap with id %lld", (long long)g->id);
        rc = CK_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

int pg_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                   size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_page(&p, after_id, limit);
    rc = pg_run(ps, PG_GAPS_EXPORT, &p, &res, err, "export gaps");
    if (rc)
        return rc;
    rc = pg_read_gaps(ps, res, out, n, err);
    PQclear(res);
    return rc;
}

int pg_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                   size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    enum pg_stmt id = flags & STORE_IMPORT_SKIP_EXISTING ? PG_GAP_IMPORT_NEW : PG_INSERT_GAP;
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    const struct gap_record *prev = NULL;
    int64_t series_id = 0;
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct gap_record *g = &v[off + i];
            struct series_key k = {.source = g->source, .symbol = g->symbol, .tf = g->tf};
            if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
                !pg_time_storable(g->first_seen) || !pg_time_storable(g->last_checked)) {
                strbuf_addstr(err, "store: a time of a gap record of '");
                pg_add_series_name(err, &k);
                strbuf_addstr(err, "' is outside the years 1 to 9999");
                rc = CK_EINVAL;
                break;
            }
            /* Records come grouped by series more often than not. */
            if (!prev || prev->tf != g->tf || strcmp(prev->source, g->source) ||
                strcmp(prev->symbol, g->symbol)) {
                rc = pg_series_id(ps, &k, &series_id, err);
                if (rc)
                    break;
                prev = g;
            }
            p[i] = (struct pg_params){0};
            pg_param_int(&p[i], series_id);
            pg_param_time(&p[i], g->first);
            pg_param_time(&p[i], g->last);
            pg_param_int(&p[i], g->count);
            pg_param_text(&p[i], gap_state_name(g->state));
            pg_param_text(&p[i], g->reason ? g->reason : "");
            pg_param_time(&p[i], g->first_seen);
            pg_param_time(&p[i], g->last_checked);
            add_attempts(&p[i], g);
        }
        if (!rc)
            rc = pg_run_each(ps, id, p, m, NULL, added, "import gap records", err);
    }
    free(p);
    return rc;
}
