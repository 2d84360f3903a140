/* SPDX-License-Identifier: MIT */
/*
 * The job table (table.h): the one list of candlekeep's scheduled jobs.
 *
 * A table is built from the settings each time it is needed; it borrows
 * the schedules from the settings and, when built with an app, points
 * each job at its argument inside the app, so it lives as long as both.
 * Building it with an app also binds the hooks a job's body needs from
 * the process (the outcome notice), which is why the daemon and
 * `candlekeep jobs run` behave alike: both build the table from an app
 * that has an alert manager.
 */
#include "jobs/table.h"

#include "jobs/watch.h"
#include "jobs/backup.h"
#include "ck/ck.h"
#include "ck/settings.h"
#include "health/health.h"
#include "jobs/backfill.h"
#include "jobs/digest.h"
#include "jobs/export.h"
#include "jobs/maintenance.h"
#include "jobs/outcomes.h"
#include "jobs/refresh.h"
#include "jobs/repair.h"
#include "jobs/reports.h"
#include "jobs/retention.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static_assert(sizeof(JOB_REFRESH_PREFIX) + 4 <= sizeof(((struct job_entry *)0)->id),
              "refresh job ids fit");

void job_refresh_id(struct strbuf *out, enum timeframe tf)
{
    strbuf_reset(out);
    strbuf_addf(out, JOB_REFRESH_PREFIX "%s", timeframe_name(tf));
}

bool job_is_refresh(const char *id, enum timeframe *out_tf)
{
    enum timeframe tf;
    size_t n = strlen(JOB_REFRESH_PREFIX);
    if (strncmp(id, JOB_REFRESH_PREFIX, n) || timeframe_parse(id + n, &tf))
        return false;
    if (out_tf)
        *out_tf = tf;
    return true;
}

static struct job_entry *add(struct job_table *t, size_t *alloc, const char *id, const char *name,
                             const char *cron)
{
    struct job_entry *e;
    ALLOC_GROW(t->v, t->n + 1, *alloc);
    e = &t->v[t->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->cron = cron;
    return e;
}

/* What the job bodies are bound to; one per context, freed with it (ck->job_args). */
struct job_args {
    struct refresh_job refresh[TF_COUNT];
    struct outcomes_job outcomes;
    struct maint_job maint[MAINT_TASKS_MAX]; /* one per maintenance task */
    struct reports_job reports[2];           /* daily, weekly */
};

static struct job_args *job_args_of(struct ck *app)
{
    struct job_args *a = app->job_args;
    if (!a) {
        a = xcalloc(1, sizeof(*a));
        for (int tf = 0; tf < TF_COUNT; tf++)
            a->refresh[tf] = (struct refresh_job){.app = app, .tf = (enum timeframe)tf};
        a->outcomes = (struct outcomes_job){.settings = &app->settings};
        size_t nt;
        const struct maint_task *tasks = maint_tasks(&nt);
        if (nt > MAINT_TASKS_MAX)
            BUG("%zu maintenance tasks, room for %d", nt, MAINT_TASKS_MAX);
        for (size_t i = 0; i < nt; i++)
            a->maint[i] = (struct maint_job){.task = &tasks[i], .app = app};
        a->reports[0] = (struct reports_job){.app = app, .type = REPORT_DAILY};
        a->reports[1] = (struct reports_job){.app = app, .type = REPORT_WEEKLY};
        app->job_args = a;
    }
    return a;
}

void job_table_build(const struct settings *s, struct ck *app, struct job_table *out)
{
    struct job_args *args = app ? job_args_of(app) : NULL;
    bool used[TF_COUNT] = {false};
    struct strbuf id = STRBUF_INIT, name = STRBUF_INIT;
    struct job_entry *e;
    size_t alloc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->nsources; i++)
        for (size_t j = 0; s->sources[i].enabled && j < s->sources[i].ntimeframes; j++)
            used[s->sources[i].timeframes[j]] = true;
    for (int tf = 0; tf < TF_COUNT; tf++) {
        if (!used[tf])
            continue;
        job_refresh_id(&id, (enum timeframe)tf);
        strbuf_reset(&name);
        strbuf_addf(&name, "%s candle refresh", timeframe_name((enum timeframe)tf));
        e = add(out, &alloc, id.buf, name.buf, s->jobs.refresh_cron[tf]);
        e->timeout = s->jobs.refresh_timeout;
        if (app) {
            e->fn = refresh_job_run;
            e->arg = &args->refresh[tf];
        }
    }
    strbuf_release(&id);
    strbuf_release(&name);

    /* Data retention (jobs/retention.h). */
    e = add(out, &alloc, RETENTION_JOB_ID, "data retention", s->jobs.retention_cron);
    if (app) {
        e->fn = retention_job_run;
        e->arg = &app->settings.retention;
    }
    /*
     * Signal outcomes (jobs/outcomes.h), told to the operators wherever the
     * process has an alert manager, in the transaction that records them.
     */
    e = add(out, &alloc, OUTCOMES_JOB_ID, "signal outcomes", s->jobs.outcomes_cron);
    if (app) {
        e->fn = outcomes_job_run;
        e->arg = &args->outcomes;
        args->outcomes.notify = app->alerts ? outcomes_notify_alert : NULL;
        args->outcomes.notify_arg = app->alerts;
    }
    /* The alert conditions polled every minute (jobs/watch.h). */
    e = add(out, &alloc, JOB_WATCH, "Alert watch", s->jobs.watch_cron);
    if (app) {
        e->fn = watch_job_run;
        e->arg = app;
    }
    /* Backfills carried forward (jobs/backfill.h), within the budget's reserve. */
    e = add(out, &alloc, JOB_BACKFILL, "Backfills", s->jobs.backfill_cron);
    if (app) {
        e->fn = backfill_job_run;
        e->arg = app;
    }
    /* The daily digest (jobs/digest.h); an hour at most, whatever the schedule. */
    e = add(out, &alloc, JOB_DIGEST, "Health digest", s->digest.schedule);
    e->timeout = 3600;
    if (app) {
        e->fn = digest_job_run;
        e->arg = app;
    }
    /* Backups, each restored to prove it (jobs/backup.h). */
    e = add(out, &alloc, BACKUP_JOB_ID, "Backup", s->jobs.backup_cron);
    if (app) {
        e->fn = backup_job_run;
        e->arg = app;
    }
    /* Gap repair and the whole-history scan (jobs/repair.h). */
    e = add(out, &alloc, JOB_REPAIR, "Gap repair", s->jobs.repair_cron);
    e->timeout = s->jobs.refresh_timeout; /* its requests wait for the budget as a refresh's */
    if (app) {
        e->fn = repair_job_run;
        e->arg = app;
    }
    e = add(out, &alloc, JOB_SCAN_HISTORY, "History gap scan", s->jobs.scan_history_cron);
    e->timeout = 3600;
    if (app) {
        e->fn = scan_history_job_run;
        e->arg = app;
    }
    /* The maintenance tasks (jobs/maintenance.h), each under its own id. */
    size_t ntasks;
    const struct maint_task *tasks = maint_tasks(&ntasks);
    for (size_t i = 0; i < ntasks; i++) {
        e = add(out, &alloc, tasks[i].id, tasks[i].name, maint_task_cron(&tasks[i], s));
        e->kind = JOB_KIND_MAINTENANCE;
        e->timeout = s->maintenance.task_timeout;
        if (app) {
            e->fn = maint_job_run;
            e->arg = &args->maint[i];
        }
    }
    /* The daily and weekly reports (jobs/reports.h); an hour at most each. */
    e = add(out, &alloc, JOB_DAILY_REPORT, "Daily report", s->report.daily);
    e->timeout = 3600;
    if (app) {
        e->fn = reports_job_run;
        e->arg = &args->reports[0];
    }
    e = add(out, &alloc, JOB_WEEKLY_REPORT, "Weekly report", s->report.weekly);
    e->timeout = 3600;
    if (app) {
        e->fn = reports_job_run;
        e->arg = &args->reports[1];
    }
    /* The settled signals' executions for TradeNote, one file per finished day (jobs/export.h). */
    e = add(out, &alloc, JOB_TRADENOTE_EXPORT, "TradeNote export", s->export_.tradenote);
    e->timeout = 3600;
    if (app) {
        e->fn = tradenote_job_run;
        e->arg = app;
    }
}

void job_table_release(struct job_table *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

const struct job_entry *job_table_find(const struct job_table *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, id))
            return &t->v[i];
    return NULL;
}

bool job_entry_is(const struct job_entry *e, const char *kind)
{
    return !kind || (e->kind && !strcmp(e->kind, kind));
}

int job_table_register(const struct job_table *t, struct sched *sched, struct strbuf *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct job_entry *e = &t->v[i];
        struct sched_job_def def = {
            .id = e->id,
            .name = e->name,
            .cron = e->cron,
            .timeout = e->timeout,
            .fn = e->fn,
            .arg = e->arg,
        };
        if (!e->fn)
            BUG("job table of '%s' built without an app", e->id);
        int rc = sched_add_job(sched, &def, err);
        if (rc)
            return rc;
    }
    return 0;
}

struct health_job_spec *job_table_specs(const struct job_table *t)
{
    struct health_job_spec *v = xcalloc(t->n ? t->n : 1, sizeof(*v));
    for (size_t i = 0; i < t->n; i++)
        v[i] =
            (struct health_job_spec){.id = t->v[i].id, .name = t->v[i].name, .cron = t->v[i].cron};
    return v;
}

int jobs_register(struct ck *app, struct sched *s, struct strbuf *err)
{
    struct job_table t;
    int rc;

    job_table_build(&app->settings, app, &t);
    rc = job_table_register(&t, s, err);
    job_table_release(&t);
    return rc;
}
