/* SPDX-License-Identifier: MIT */
/*
 * Jobs, their runs and leases in the SQLite backend, with the bulk export
 * and import of jobs and runs.
 *
 * Jobs and leases (migration 2) are plain rows read and written by cached
 * statements. A lease claim is a single upsert whose WHERE decides whether
 * an existing lease may be taken over or extended; it runs under the write
 * lock of the IMMEDIATE transaction store.c opens, so two processes
 * claiming one lease cannot both succeed, and changes() says which one did.
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

/* A run's `finished` column: NULL while it runs (or when no end time is given). */
static void bind_finished(sqlite3_stmt *st, int col, enum job_status status, int64_t finished)
{
    if (status == JOB_RUNNING || !finished)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_int64(st, col, finished);
}

static int no_job(const char *job_id, struct strbuf *err)
{
    strbuf_addf(err, "store: no job '%s'", job_id);
    return CK_ENOTFOUND;
}

static void read_job_state(sqlite3_stmt *q, struct job_state *js)
{
    js->job_id = sqlite_column_strdup(q, 0);
    js->paused = sqlite3_column_int64(q, 1) != 0;
    js->streak = sqlite3_column_int64(q, 2);
    js->last_fire = sqlite3_column_int64(q, 3);
    js->updated_at = sqlite3_column_int64(q, 4);
    js->paused_until = sqlite3_column_int64(q, 5);
    js->pause_reason = sqlite_column_strdup(q, 6);
    js->paused_by = sqlite_column_strdup(q, 7);
}

int sqlite_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_JOB_ENSURE, &ins, err);

    if (rc)
        return rc;
    sqlite_bind_str(ins, 1, job_id);
    sqlite3_bind_int64(ins, 2, now);
    rc = sqlite_step(ss, ins, false, "cannot add job", err);
    sqlite_stmt_done(ins);
    return rc;
}

int sqlite_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_JOB_GET, &sel, err);

    if (rc)
        return rc;
    sqlite_bind_str(sel, 1, job_id);
    rc = sqlite_step(ss, sel, true, "cannot read job", err);
    if (!rc)
        read_job_state(sel, out);
    sqlite_stmt_done(sel);
    return rc == CK_ENOTFOUND ? no_job(job_id, err) : rc;
}

int sqlite_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_state *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_JOB_LIST, &sel, err);

    if (rc)
        return rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        read_job_state(sel, &v[nr++]);
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list jobs", err);
    sqlite_stmt_done(sel);
    if (rc) {
        job_states_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

int sqlite_job_pause(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                     struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_PAUSE, &upd, err);

    if (rc)
        return rc;
    sqlite_bind_str(upd, 1, job_id);
    sqlite3_bind_int(upd, 2, p->paused ? 1 : 0);
    sqlite3_bind_int64(upd, 3, now);
    sqlite3_bind_int64(upd, 4, p->until);
    sqlite_bind_str(upd, 5, p->reason ? p->reason : "");
    sqlite_bind_str(upd, 6, p->by ? p->by : "");
    rc = sqlite_step(ss, upd, false, "cannot pause or resume job", err);
    sqlite_stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0)
        rc = no_job(job_id, err);
    return rc;
}

int sqlite_job_set_last_fire(struct store *st, const char *job_id, int64_t fire, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_LAST_FIRE, &upd, err);

    if (rc)
        return rc;
    sqlite_bind_str(upd, 1, job_id);
    sqlite3_bind_int64(upd, 2, fire);
    rc = sqlite_step(ss, upd, false, "cannot record the job's last fire", err);
    sqlite_stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0)
        rc = no_job(job_id, err);
    return rc;
}

int sqlite_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_RUN_INSERT, &ins, err);

    if (rc)
        return rc;
    sqlite_bind_str(ins, 1, r->job_id);
    sqlite_bind_str(ins, 2, r->instance ? r->instance : "");
    sqlite3_bind_int64(ins, 3, r->scheduled);
    sqlite3_bind_int64(ins, 4, r->started);
    bind_finished(ins, 5, r->status, r->finished);
    sqlite_bind_str(ins, 6, job_status_name(r->status));
    sqlite_bind_str(ins, 7, r->message ? r->message : "");
    sqlite_bind_str(ins, 8, r->details ? r->details : "{}");
    rc = sqlite_step(ss, ins, false, "cannot record job run", err);
    sqlite_stmt_done(ins);
    if (!rc)
        r->id = sqlite3_last_insert_rowid(ss->db);
    return rc;
}

int sqlite_job_run_update(struct store *st, int64_t id, enum job_status status, int64_t finished,
                          const char *message, const char *details, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_RUN_UPDATE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, id);
    sqlite_bind_str(upd, 2, job_status_name(status));
    bind_finished(upd, 3, status, finished);
    sqlite_bind_str(upd, 4, message ? message : "");
    sqlite_bind_str(upd, 5, details ? details : "{}");
    rc = sqlite_step(ss, upd, false, "cannot update job run", err);
    sqlite_stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0) {
        strbuf_addf(err, "store: no job run with id %lld", (long long)id);
        rc = CK_ENOTFOUND;
    }
    return rc;
}

int sqlite_job_streak_update(struct store *st, const char *job_id, bool reset, int64_t *out_streak,
                             struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_STREAK, &upd, err);

    if (rc)
        return rc;
    sqlite_bind_str(upd, 1, job_id);
    sqlite3_bind_int(upd, 2, reset ? 1 : 0);
    /* The update is done by the first step; resetting after reading the
     * RETURNING row keeps it. */
    rc = sqlite_step(ss, upd, true, "cannot update the job's failure streak", err);
    if (!rc && out_streak)
        *out_streak = sqlite3_column_int64(upd, 0);
    sqlite_stmt_done(upd);
    return rc == CK_ENOTFOUND ? no_job(job_id, err) : rc;
}

static int read_job_run(struct sqlite_store *ss, sqlite3_stmt *q, struct job_run *r,
                        struct strbuf *err)
{
    const char *status = (const char *)sqlite3_column_text(q, 6);

    memset(r, 0, sizeof(*r));
    if (!status || job_status_parse(status, &r->status)) {
        strbuf_addf(err, "store: sqlite '%s': unknown job status '%s' in the database", ss->path,
                    status ? status : "(null)");
        return CK_EPARSE;
    }
    r->id = sqlite3_column_int64(q, 0);
    r->job_id = sqlite_column_strdup(q, 1);
    r->instance = sqlite_column_strdup(q, 2);
    r->scheduled = sqlite3_column_int64(q, 3);
    r->started = sqlite3_column_int64(q, 4);
    r->finished = sqlite3_column_int64(q, 5); /* NULL reads as 0 */
    r->message = sqlite_column_strdup(q, 7);
    r->details = sqlite_column_strdup(q, 8);
    return 0;
}

int sqlite_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                         size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_run *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, job_id ? STMT_RUNS_OF_JOB : STMT_RUNS_ALL, &sel, err);

    if (rc)
        return rc;
    if (job_id)
        sqlite_bind_str(sel, 1, job_id);
    sqlite3_bind_int64(sel, 2, limit && limit <= (size_t)INT64_MAX ? (int64_t)limit : -1);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_job_run(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list job runs", err);
out:
    sqlite_stmt_done(sel);
    if (rc) {
        job_runs_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

/* Run a cached statement that takes one integer; `*changed` (may be NULL) gets its row count. */
static int run_counted(struct sqlite_store *ss, enum sqlite_stmt_id id, int64_t arg,
                       const char *what, int64_t *changed, struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, id, &st, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    rc = sqlite_step(ss, st, false, what, err);
    sqlite_stmt_done(st);
    if (!rc && changed)
        *changed = sqlite3_changes64(ss->db);
    return rc;
}

int sqlite_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    /* `*deleted` counts runs, the history the caller reports on; leases go quietly. */
    int rc = run_counted(ss, STMT_RUNS_PRUNE, before_ms, "cannot prune job runs", deleted, err);

    if (!rc)
        rc = run_counted(ss, STMT_LEASES_PRUNE, before_ms, "cannot prune leases", NULL, err);
    return rc;
}

int sqlite_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                               int64_t *count, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_RUNS_FAIL_STALE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, started_before_ms);
    sqlite_bind_str(upd, 2, message ? message : "");
    rc = sqlite_step(ss, upd, false, "cannot mark stale job runs", err);
    sqlite_stmt_done(upd);
    if (!rc)
        *count = sqlite3_changes64(ss->db);
    return rc;
}

/* The claim of `name` was refused: say who holds it. */
static int lease_busy(struct sqlite_store *ss, const char *name, struct strbuf *err)
{
    sqlite3_stmt *sel;
    char until[TIME_BUFSZ];
    int rc = sqlite_stmt(ss, STMT_LEASE_HOLDER, &sel, err);

    if (rc)
        return rc;
    sqlite_bind_str(sel, 1, name);
    rc = sqlite_step(ss, sel, true, "cannot read lease", err);
    if (!rc) {
        time_format_iso8601(sqlite3_column_int64(sel, 1) / 1000, until);
        strbuf_addf(err, "store: lease '%s' is held by '%s' until %s", name,
                    (const char *)sqlite3_column_text(sel, 0), until);
        rc = CK_EBUSY;
    } else if (rc == CK_ENOTFOUND) {
        /* Not reachable inside the claim's transaction; said plainly all the same. */
        strbuf_addf(err, "store: lease '%s' is held by another instance", name);
        rc = CK_EBUSY;
    }
    sqlite_stmt_done(sel);
    return rc;
}

int sqlite_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                       int64_t until_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_LEASE_CLAIM, &ins, err);

    if (rc)
        return rc;
    sqlite_bind_str(ins, 1, name);
    sqlite_bind_str(ins, 2, instance);
    sqlite3_bind_int64(ins, 3, now_ms);
    sqlite3_bind_int64(ins, 4, until_ms);
    rc = sqlite_step(ss, ins, false, "cannot claim lease", err);
    sqlite_stmt_done(ins);
    if (rc)
        return rc;
    /* An upsert whose WHERE refused the update changed no row. */
    return sqlite3_changes(ss->db) > 0 ? 0 : lease_busy(ss, name, err);
}

int sqlite_lease_release(struct store *st, const char *name, const char *instance,
                         struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *del;
    int rc = sqlite_stmt(ss, STMT_LEASE_RELEASE, &del, err);

    if (rc)
        return rc;
    sqlite_bind_str(del, 1, name);
    sqlite_bind_str(del, 2, instance);
    rc = sqlite_step(ss, del, false, "cannot release lease", err);
    sqlite_stmt_done(del);
    return rc;
}

/*
 * The least string above every string that starts with `prefix`, in the
 * byte order of SQLite's BINARY collation (memcmp): the prefix without
 * its trailing 0xff bytes, with its last byte plus one. A range scan of
 * the primary key then replaces LIKE, whose '_' and '%' would need
 * escaping. False when there is no such string (an empty prefix, or one
 * of 0xff bytes only): every name >= `prefix` then starts with it.
 */
static bool lease_prefix_end(const char *prefix, struct strbuf *out)
{
    size_t len = strlen(prefix);

    while (len && (unsigned char)prefix[len - 1] == 0xff)
        len--;
    if (!len)
        return false;
    strbuf_add(out, prefix, len);
    out->buf[len - 1] = (char)((unsigned char)out->buf[len - 1] + 1);
    return true;
}

int sqlite_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                      struct lease_info **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct strbuf end = STRBUF_INIT;
    bool bounded = lease_prefix_end(prefix, &end);
    struct lease_info *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, bounded ? STMT_LEASE_LIST_RANGE : STMT_LEASE_LIST_FROM, &sel, err);

    if (rc)
        goto out;
    sqlite_bind_str(sel, 1, prefix);
    if (bounded)
        sqlite_bind_str(sel, 2, end.buf);
    sqlite3_bind_int64(sel, 3, valid_at_ms);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct lease_info *li;
        ALLOC_GROW(v, nr + 1, alloc);
        li = &v[nr++];
        li->name = sqlite_column_strdup(sel, 0);
        li->holder = sqlite_column_strdup(sel, 1);
        li->until_ms = sqlite3_column_int64(sel, 2);
        li->created_ms = sqlite3_column_int64(sel, 3);
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list leases", err);
    sqlite_stmt_done(sel);
out:
    strbuf_release(&end);
    if (rc) {
        lease_infos_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

int sqlite_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                           size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_run *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_RUNS_EXPORT, &sel, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(sel, 1, after_id);
    sqlite3_bind_int64(sel, 2, sqlite_export_limit(limit));
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_job_run(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot export job runs", err);
out:
    sqlite_stmt_done(sel);
    if (rc) {
        job_runs_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

int sqlite_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                           size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    bool skip = flags & STORE_IMPORT_SKIP_EXISTING;
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, skip ? STMT_RUN_IMPORT_NEW : STMT_RUN_INSERT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct job_run *r = &v[i];
        /* Both statements take the parameters of STMT_RUN_INSERT. */
        sqlite_bind_str(ins, 1, r->job_id);
        sqlite_bind_str(ins, 2, r->instance ? r->instance : "");
        sqlite3_bind_int64(ins, 3, r->scheduled);
        sqlite3_bind_int64(ins, 4, r->started);
        bind_finished(ins, 5, r->status, r->finished);
        sqlite_bind_str(ins, 6, job_status_name(r->status));
        sqlite_bind_str(ins, 7, r->message ? r->message : "");
        sqlite_bind_str(ins, 8, r->details ? r->details : "{}");
        rc = sqlite_step(ss, ins, false, "cannot import a job run", err);
        if (!rc)
            *added += (size_t)sqlite3_changes(ss->db);
    }
    if (ins)
        sqlite_stmt_done(ins);
    return rc;
}

int sqlite_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_JOB_IMPORT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct job_state *js = &v[i];
        sqlite_bind_str(ins, 1, js->job_id);
        sqlite3_bind_int(ins, 2, js->paused ? 1 : 0);
        sqlite3_bind_int64(ins, 3, js->streak);
        sqlite3_bind_int64(ins, 4, js->last_fire);
        sqlite3_bind_int64(ins, 5, js->updated_at);
        sqlite3_bind_int64(ins, 6, js->paused_until);
        sqlite_bind_str(ins, 7, js->pause_reason ? js->pause_reason : "");
        sqlite_bind_str(ins, 8, js->paused_by ? js->paused_by : "");
        rc = sqlite_step(ss, ins, false, "cannot import a job", err);
        if (rc)
            break;
        if (sqlite3_changes(ss->db) > 0) {
            ++*added;
        } else if (!(flags & STORE_IMPORT_SKIP_EXISTING)) {
            strbuf_addf(err, "store: sqlite '%s': job '%s' exists already", ss->path, js->job_id);
            rc = CK_ECONFLICT;
        }
    }
    if (ins)
        sqlite_stmt_done(ins);
    return rc;
}
