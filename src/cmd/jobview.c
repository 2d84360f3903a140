/* SPDX-License-Identifier: MIT */
/*
 * What `candlekeep jobs` and `candlekeep maintenance` share (jobview.h):
 * both read the same database rows the daemon uses, and both run a job in
 * the command's own process through a scheduler that only runs what it is
 * told (sched_config.manual_only), so that a run from the command line has
 * the same no-overlap lease, history, streak and alerts as a scheduled one.
 */
#include "cmd/jobview.h"

#include "cmd/cmd.h"
#include "cmd/common.h"
#include "health/health.h"
#include "jobs/table.h"
#include "jobs/watch.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <pwd.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/*
 * A scheduler that runs only what it is told, with the job table bound to
 * `ck` (whose alert manager is built first), as the daemon's.
 */
static struct sched *run_sched(struct ck *ck, struct strbuf *err)
{
    struct sched_config cfg = {
        .store_url = ck->settings.storage.url,
        .workers = 1,
        .metrics = ck->metrics,
        .manual_only = true,
        .history_keep = ck->settings.scheduler.history_keep,
        /* A run here counts in the streaks and alerts as a run of the daemon does. */
        .on_run_end = ck->alerts ? watch_on_run_end : NULL,
        .on_run_end_arg = ck,
    };
    char *inst = sched_make_instance_id();
    struct strbuf id = STRBUF_INIT;
    strbuf_addf(&id, SCHED_CLI_PREFIX "%s", inst);
    cfg.instance = id.buf;
    struct sched *s = sched_new(&cfg, err);
    free(inst);
    strbuf_release(&id);
    if (s && jobs_register(ck, s, err)) {
        sched_free(s);
        s = NULL;
    }
    return s;
}

int jobview_unknown(const char *cmdname, const struct job_table *t, const char *kind,
                    const char *id)
{
    fprintf(stderr, "candlekeep %s: no %s '%s'; configured:", cmdname, kind ? "task" : "job", id);
    for (size_t i = 0; i < t->n; i++)
        if (job_entry_is(&t->v[i], kind))
            fprintf(stderr, " %s", t->v[i].id);
    fprintf(stderr, "\n");
    return CMD_USAGE;
}

static void fmt_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    if (ms <= 0) {
        buf[0] = '\0';
        return;
    }
    time_format_iso8601(ms / 1000, buf);
}

/* One row of the list: the job's state from the health report, its last run from history. */
static void list_row(struct out_table *tab, struct store *st, const struct job_entry *e,
                     const struct health_job *j, bool schedule_only)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs = NULL;
    size_t nr = 0;
    char next[TIME_BUFSZ] = "", last[TIME_BUFSZ], streak[24];

    if (j->next_run > 0)
        time_format_iso8601(j->next_run, next);
    if (schedule_only) {
        char until[TIME_BUFSZ] = "";
        if (j->paused_until > 0)
            time_format_iso8601(j->paused_until, until);
        const char *row[] = {j->id,
                             e->name,
                             j->cron,
                             *next ? next : NULL,
                             j->paused ? "true" : "false",
                             *until ? until : NULL,
                             j->pause_reason};
        out_table_row(tab, row);
        return;
    }
    store_job_runs_list(st, j->id, 1, &runs, &nr, &err);
    fmt_ms(nr ? runs[0].started : 0, last);
    snprintf(streak, sizeof(streak), "%" PRId64, j->streak);
    const char *row[] = {j->id,
                         j->cron,
                         *next ? next : NULL,
                         j->paused ? "true" : "false",
                         streak,
                         nr ? job_status_name(runs[0].status) : NULL,
                         nr ? last : NULL,
                         nr ? runs[0].message : NULL};
    out_table_row(tab, row);
    job_runs_free(runs, nr);
    strbuf_release(&err);
}

int jobview_list(struct ck *ck, const struct job_table *t, const char *kind, bool schedule_only)
{
    static const char *const cols[] = {"id",     "schedule",    "next_run", "paused",
                                       "streak", "last_status", "last_run", "last_message"};
    static const char *const sched_cols[] = {"id",     "name",         "schedule",    "next_run",
                                             "paused", "paused_until", "pause_reason"};
    const struct settings *set = &ck->settings;
    struct strbuf err = STRBUF_INIT;
    struct out_table *tab = schedule_only ? out_table_new(ck->format, sched_cols, 7)
                                          : out_table_new(ck->format, cols, 8);
    struct health_report r;
    struct health_config cfg = {
        .sources = set->sources,
        .nsources = set->nsources,
        .jobs = job_table_specs(t),
        .njobs = t->n,
        .store_url = set->storage.url,
    };
    health_collect(&cfg, ck->store, NULL, time_now(), time_wall_ms(), &r, &err);
    if (!schedule_only)
        out_table_numeric(tab, 4);
    for (size_t i = 0; i < r.njobs; i++) {
        const struct job_entry *e = job_table_find(t, r.jobs[i].id);
        if (r.jobs[i].configured && e && job_entry_is(e, kind))
            list_row(tab, ck->store, e, &r.jobs[i], schedule_only);
    }
    out_table_flush(tab);
    health_report_release(&r);
    free((void *)cfg.jobs);
    strbuf_release(&err);
    return CMD_OK;
}

void jobview_print_runs(const struct job_run *v, size_t n, enum out_format fmt)
{
    static const char *const cols[] = {"id",      "job",      "status",      "scheduled",
                                       "started", "finished", "duration_ms", "instance",
                                       "message", "details"};
    struct out_table *t = out_table_new(fmt, cols, 10);
    out_table_numeric(t, 0);
    out_table_numeric(t, 6);
    out_table_numeric(t, 9); /* details are a JSON object */
    for (size_t i = 0; i < n; i++) {
        char rid[24], sch[TIME_BUFSZ], sta[TIME_BUFSZ], fin[TIME_BUFSZ], dur[24];
        snprintf(rid, sizeof(rid), "%" PRId64, v[i].id);
        time_format_iso8601(v[i].scheduled, sch);
        fmt_ms(v[i].started, sta);
        fmt_ms(v[i].finished, fin);
        snprintf(dur, sizeof(dur), "%" PRId64, v[i].finished ? v[i].finished - v[i].started : 0);
        const char *row[] = {rid,
                             v[i].job_id,
                             job_status_name(v[i].status),
                             sch,
                             sta,
                             v[i].finished ? fin : NULL,
                             v[i].finished ? dur : NULL,
                             v[i].instance,
                             v[i].message,
                             fmt == OUT_TABLE ? NULL : v[i].details};
        out_table_row(t, row);
    }
    out_table_flush(t);
}

int jobview_run(struct ck *ck, const char *cmdname, const char *const *ids, size_t n)
{
    struct strbuf err = STRBUF_INIT;
    int rc = CMD_OK;
    struct sched *s = run_sched(ck, &err);

    if (!s || sched_start_workers(s, &err)) {
        sched_free(s);
        fprintf(stderr, "candlekeep %s: %s\n", cmdname, err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    bool *queued = xcalloc(n ? n : 1, sizeof(*queued));
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&err);
        if (sched_run_now(s, ids[i], &err)) {
            fprintf(stderr, "candlekeep %s: %s\n", cmdname, err.buf);
            rc = CMD_FAIL;
        } else {
            queued[i] = true;
        }
    }
    sched_tick(s, time_now() * 1000);
    sched_wait_idle(s);
    sched_free(s);
    for (size_t i = 0; i < n; i++) {
        struct job_run *runs = NULL;
        size_t nr = 0;
        if (!queued[i])
            continue;
        strbuf_reset(&err);
        if (store_job_runs_list(ck->store, ids[i], 1, &runs, &nr, &err) || !nr) {
            fprintf(stderr, "candlekeep %s: %s: the run left no record%s%s\n", cmdname, ids[i],
                    err.len ? ": " : "", err.buf);
            rc = CMD_FAIL;
        } else {
            printf("%s %s: %s\n", ids[i], job_status_name(runs[0].status), runs[0].message);
            if (runs[0].status != JOB_OK)
                rc = CMD_FAIL;
        }
        job_runs_free(runs, nr);
    }
    free(queued);
    strbuf_release(&err);
    return rc;
}

int jobview_pause(struct store *st, const char *cmdname, const char *id, const struct job_pause *p)
{
    struct strbuf err = STRBUF_INIT, by = STRBUF_INIT;
    struct job_pause jp = *p;
    const struct passwd *pw = getpwuid(geteuid());
    int rc = CMD_OK;

    jp.paused = true;
    if (!jp.by) {
        strbuf_addf(&by, "cli:%s", pw && pw->pw_name ? pw->pw_name : "?");
        jp.by = by.buf;
    }
    if (store_job_pause(st, id, &jp, time_now(), &err)) {
        fprintf(stderr, "candlekeep %s pause: %s\n", cmdname, err.buf);
        rc = CMD_FAIL;
    } else {
        char until[TIME_BUFSZ];
        printf("%s paused", id);
        if (jp.until) {
            time_format_iso8601(jp.until, until);
            printf(" until %s", until);
        }
        if (jp.reason && *jp.reason)
            printf(": %s", jp.reason);
        printf("\n");
    }
    strbuf_release(&by);
    strbuf_release(&err);
    return rc;
}

int jobview_resume(struct store *st, const char *cmdname, const char *id)
{
    struct strbuf err = STRBUF_INIT;
    bool pending;
    int rc = CMD_OK;

    if (sched_job_resume(st, id, time_now(), &pending, &err)) {
        fprintf(stderr, "candlekeep %s resume: %s\n", cmdname, err.buf);
        rc = CMD_FAIL;
    } else if (pending) {
        printf("%s resumed; the run skipped while paused is made once by the daemon\n", id);
    } else {
        printf("%s resumed\n", id);
    }
    strbuf_release(&err);
    return rc;
}
