/* SPDX-License-Identifier: MIT */
/*
 * Jobs, their runs and leases in the PostgreSQL backend, with the bulk
 * export and import of jobs and runs.
 *
 * Jobs and leases (migration 2) are plain rows, their times timestamptz to
 * the millisecond. A lease claim is one INSERT ... ON CONFLICT DO UPDATE
 * whose WHERE decides whether an expired lease may be taken over or the
 * claimant's own extended; PostgreSQL evaluates it on the locked, latest
 * version of the row, so of several instances sharing the database that
 * claim at once exactly one succeeds, whatever their transactions.
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

/* --- jobs, runs and leases ---------------------------------------------- */

static int pg_no_job(const char *job_id, struct strbuf *err)
{
    strbuf_addf(err, "store: no job '%s'", job_id);
    return CK_ENOTFOUND;
}

static int pg_read_job(struct pg_store *ps, const PGresult *res, int r, struct job_state *js,
                       struct strbuf *err)
{
    int rc;

    memset(js, 0, sizeof(*js));
    js->job_id = xstrdup(PQgetvalue(res, r, 0));
    js->paused = !strcmp(PQgetvalue(res, r, 1), "t");
    rc = pg_get_int(ps, res, r, 2, &js->streak, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &js->last_fire, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &js->updated_at, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 5, &js->paused_until, err);
    js->pause_reason = xstrdup(PQgetvalue(res, r, 6));
    js->paused_by = xstrdup(PQgetvalue(res, r, 7));
    return rc;
}

int pg_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now, 1, "time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, job_id);
    pg_param_time(&p, now);
    rc = pg_run(ps, PG_JOB_ENSURE, &p, &res, err, "add job '%s'", job_id);
    PQclear(res);
    return rc;
}

int pg_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, job_id);
    rc = pg_run(ps, PG_JOB_GET, &p, &res, err, "read job '%s'", job_id);
    if (rc)
        return rc;
    if (PQntuples(res) != 1)
        rc = pg_no_job(job_id, err);
    else if ((rc = pg_read_job(ps, res, 0, out, err)))
        job_state_release(out);
    PQclear(res);
    return rc;
}

int pg_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct job_state *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    rc = pg_run(ps, PG_JOB_LIST, NULL, &res, err, "list jobs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_job(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_states_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pg_job_pause(struct store *st, const char *job_id, const struct job_pause *jp, int64_t now,
                 struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now, 1, "time", err);

    if (!rc && jp->until)
        rc = pg_check_time(jp->until, 1, "pause end", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, job_id);
    pg_param_bool(&p, jp->paused);
    pg_param_time(&p, now);
    if (jp->until)
        pg_param_time(&p, jp->until);
    else
        pg_param_null(&p);
    pg_param_text(&p, jp->reason ? jp->reason : "");
    pg_param_text(&p, jp->by ? jp->by : "");
    rc = pg_run(ps, PG_JOB_PAUSE, &p, &res, err, "%s job '%s'", jp->paused ? "pause" : "resume",
                job_id);
    if (!rc && !pg_changed(res))
        rc = pg_no_job(job_id, err);
    PQclear(res);
    return rc;
}

int pg_job_set_last_fire(struct store *st, const char *job_id, int64_t fire, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(fire, 1, "fire time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, job_id);
    pg_param_time(&p, fire);
    rc = pg_run(ps, PG_JOB_LAST_FIRE, &p, &res, err, "record the last fire of job '%s'", job_id);
    if (!rc && !pg_changed(res))
        rc = pg_no_job(job_id, err);
    PQclear(res);
    return rc;
}

/* A run's finish time: NULL while it runs (or when none is given). */
static void pg_param_finished(struct pg_params *p, enum job_status status, int64_t finished)
{
    if (status == JOB_RUNNING || !finished)
        pg_param_null(p);
    else
        pg_param_ms(p, finished);
}

int pg_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(r->scheduled, 1, "scheduled time", err);

    if (!rc)
        rc = pg_check_time(r->started, 1000, "start time (ms)", err);
    if (!rc && r->status != JOB_RUNNING && r->finished)
        rc = pg_check_time(r->finished, 1000, "finish time (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, r->job_id);
    pg_param_text(&p, r->instance ? r->instance : "");
    pg_param_time(&p, r->scheduled);
    pg_param_ms(&p, r->started);
    pg_param_finished(&p, r->status, r->finished);
    pg_param_text(&p, job_status_name(r->status));
    pg_param_text(&p, r->message ? r->message : "");
    pg_param_text(&p, r->details ? r->details : "{}");
    rc = pg_run(ps, PG_RUN_INSERT, &p, &res, err, "record a run of job '%s'", r->job_id);
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &r->id, err);
    PQclear(res);
    return rc;
}

int pg_job_run_update(struct store *st, int64_t id, enum job_status status, int64_t finished,
                      const char *message, const char *details, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = 0;

    if (status != JOB_RUNNING && finished)
        rc = pg_check_time(finished, 1000, "finish time (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_int(&p, id);
    pg_param_text(&p, job_status_name(status));
    pg_param_finished(&p, status, finished);
    pg_param_text(&p, message ? message : "");
    pg_param_text(&p, details ? details : "{}");
    rc = pg_run(ps, PG_RUN_UPDATE, &p, &res, err, "update job run %lld", (long long)id);
    if (!rc && !pg_changed(res)) {
        strbuf_addf(err, "store: no job run with id %lld", (long long)id);
        rc = CK_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

int pg_job_streak_update(struct store *st, const char *job_id, bool reset, int64_t *out_streak,
                         struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, job_id);
    pg_param_bool(&p, reset);
    rc = pg_run(ps, PG_JOB_STREAK, &p, &res, err, "update the failure streak of job '%s'", job_id);
    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        rc = pg_no_job(job_id, err);
    } else {
        int64_t streak;
        rc = pg_get_int(ps, res, 0, 0, &streak, err);
        if (!rc && out_streak)
            *out_streak = streak;
    }
    PQclear(res);
    return rc;
}

static int pg_read_run(struct pg_store *ps, const PGresult *res, int r, struct job_run *run,
                       struct strbuf *err)
{
    const char *status = PQgetvalue(res, r, 6);
    int rc;

    memset(run, 0, sizeof(*run));
    run->job_id = xstrdup(PQgetvalue(res, r, 1));
    run->instance = xstrdup(PQgetvalue(res, r, 2));
    run->message = xstrdup(PQgetvalue(res, r, 7));
    run->details = xstrdup(PQgetvalue(res, r, 8));
    if (job_status_parse(status, &run->status)) {
        strbuf_addf(err, "store: unknown job status '%s' in '%s'", status, ps->redacted);
        return CK_EPARSE;
    }
    rc = pg_get_int(ps, res, r, 0, &run->id, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &run->scheduled, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &run->started, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 5, &run->finished, err);
    return rc;
}

int pg_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                     size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct job_run *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    if (job_id)
        pg_param_text(&p, job_id);
    if (limit && limit <= (size_t)INT64_MAX)
        pg_param_int(&p, (int64_t)limit);
    else
        pg_param_null(&p);
    rc = pg_run(ps, job_id ? PG_RUNS_OF_JOB : PG_RUNS_ALL, &p, &res, err, "list job runs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_run(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_runs_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* Run statement `id` with one time parameter (ms); `*changed` (may be NULL) gets the row count. */
static int pg_run_cut(struct pg_store *ps, enum pg_stmt id, int64_t ms, const char *text,
                      int64_t *changed, const char *what, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_ms(&p, ms);
    if (text)
        pg_param_text(&p, text);
    rc = pg_run(ps, id, &p, &res, err, "%s", what);
    if (!rc && changed)
        *changed = pg_changed(res);
    PQclear(res);
    return rc;
}

int pg_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);

    /* `*deleted` counts runs, the history the caller reports on; leases go quietly. */
    if (!rc)
        rc = pg_run_cut(ps, PG_RUNS_PRUNE, before_ms, NULL, deleted, "prune job runs", err);
    if (!rc)
        rc = pg_run_cut(ps, PG_LEASES_PRUNE, before_ms, NULL, NULL, "prune leases", err);
    return rc;
}

int pg_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                           int64_t *count, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);

    if (!rc)
        rc = pg_run_cut(ps, PG_RUNS_FAIL_STALE, started_before_ms, message ? message : "", count,
                        "mark stale job runs failed", err);
    return rc;
}

/* The claim of `name` was refused: say who holds it. */
static int pg_lease_busy(struct pg_store *ps, const char *name, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int64_t until = 0;
    int rc;

    pg_param_text(&p, name);
    rc = pg_run(ps, PG_LEASE_HOLDER, &p, &res, err, "read lease '%s'", name);
    if (rc)
        return rc;
    if (PQntuples(res) == 1 && !pg_get_int(ps, res, 0, 1, &until, err)) {
        char when[TIME_BUFSZ];
        time_format_iso8601(until / 1000, when);
        strbuf_addf(err, "store: lease '%s' is held by '%s' until %s", name, PQgetvalue(res, 0, 0),
                    when);
    } else if (PQntuples(res) != 1) {
        /* Released in the meantime by its holder; it was busy when claimed. */
        strbuf_addf(err, "store: lease '%s' is held by another instance", name);
    }
    PQclear(res);
    return CK_EBUSY;
}

int pg_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                   int64_t until_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int64_t changed;
    int rc = pg_check_time(now_ms, 1000, "lease time (ms)", err);

    if (!rc)
        rc = pg_check_time(until_ms, 1000, "lease end (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_text(&p, name);
    pg_param_text(&p, instance);
    pg_param_ms(&p, now_ms);
    pg_param_ms(&p, until_ms);
    rc = pg_run(ps, PG_LEASE_CLAIM, &p, &res, err, "claim lease '%s'", name);
    if (rc)
        return rc;
    changed = pg_changed(res);
    PQclear(res);
    /* An upsert whose WHERE refused the update changed no row. */
    return changed ? 0 : pg_lease_busy(ps, name, err);
}

int pg_lease_release(struct store *st, const char *name, const char *instance, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, name);
    pg_param_text(&p, instance);
    rc = pg_run(ps, PG_LEASE_RELEASE, &p, &res, err, "release lease '%s'", name);
    PQclear(res);
    return rc;
}

int pg_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                  struct lease_info **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct lease_info *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, prefix);
    pg_param_ms(&p, valid_at_ms);
    rc = pg_run(ps, PG_LEASE_LIST, &p, &res, err, "list leases");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++) {
        v[r].name = xstrdup(PQgetvalue(res, r, 0));
        v[r].holder = xstrdup(PQgetvalue(res, r, 1));
        rc = pg_get_int(ps, res, r, 2, &v[r].until_ms, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 3, &v[r].created_ms, err);
    }
    PQclear(res);
    if (rc) {
        lease_infos_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pg_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                       size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct job_run *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_page(&p, after_id, limit);
    rc = pg_run(ps, PG_RUNS_EXPORT, &p, &res, err, "export job runs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_run(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_runs_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pg_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    enum pg_stmt id = flags & STORE_IMPORT_SKIP_EXISTING ? PG_RUN_IMPORT_NEW : PG_RUN_INSERT;
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct job_run *r = &v[off + i];
            rc = pg_check_time(r->scheduled, 1, "scheduled time", err);
            if (!rc)
                rc = pg_check_time(r->started, 1000, "start time (ms)", err);
            if (!rc && r->status != JOB_RUNNING && r->finished)
                rc = pg_check_time(r->finished, 1000, "finish time (ms)", err);
            if (rc)
                break;
            /* The parameters of PG_RUN_INSERT, which both statements take. */
            p[i] = (struct pg_params){0};
            pg_param_text(&p[i], r->job_id);
            pg_param_text(&p[i], r->instance ? r->instance : "");
            pg_param_time(&p[i], r->scheduled);
            pg_param_ms(&p[i], r->started);
            pg_param_finished(&p[i], r->status, r->finished);
            pg_param_text(&p[i], job_status_name(r->status));
            pg_param_text(&p[i], r->message ? r->message : "");
            pg_param_text(&p[i], r->details ? r->details : "{}");
        }
        if (!rc)
            rc = pg_run_each(ps, id, p, m, NULL, added, "import job runs", err);
    }
    free(p);
    return rc;
}

int pg_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                   size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    int64_t each[PG_PIPELINE_ROWS];
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct job_state *js = &v[off + i];
            rc = pg_check_time(js->updated_at, 1, "job update time", err);
            if (!rc && js->last_fire)
                rc = pg_check_time(js->last_fire, 1, "fire time", err);
            if (rc)
                break;
            p[i] = (struct pg_params){0};
            pg_param_text(&p[i], js->job_id);
            pg_param_bool(&p[i], js->paused);
            pg_param_int(&p[i], js->streak);
            if (js->last_fire)
                pg_param_time(&p[i], js->last_fire);
            else
                pg_param_null(&p[i]);
            pg_param_time(&p[i], js->updated_at);
            if (js->paused_until)
                pg_param_time(&p[i], js->paused_until);
            else
                pg_param_null(&p[i]);
            pg_param_text(&p[i], js->pause_reason ? js->pause_reason : "");
            pg_param_text(&p[i], js->paused_by ? js->paused_by : "");
        }
        if (!rc)
            rc = pg_run_each(ps, PG_JOB_IMPORT, p, m, each, added, "import jobs", err);
        for (size_t i = 0; i < m && !rc; i++) {
            if (each[i] || (flags & STORE_IMPORT_SKIP_EXISTING))
                continue;
            strbuf_addf(err, "store: job '%s' exists already in '%s'", v[off + i].job_id,
                        ps->redacted);
            rc = CK_ECONFLICT;
        }
    }
    free(p);
    return rc;
}
