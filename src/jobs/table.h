/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_TABLE_H
#define CK_JOBS_TABLE_H

#include "market/timeframe.h"
#include "sched/sched.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ck;
struct health_job_spec;
struct settings;
struct strbuf;

/*
 * The one job table: every scheduled job of candlekeep, with its id, its
 * title, its schedule (from the settings) and its body. The ids are
 * spelled here and nowhere else:
 *
 *   refresh_candles_<TF>  one per timeframe some enabled source fetches
 *   retention             [jobs] retention
 *   detect_outcomes       [jobs] detect_outcomes
 *   watch_alerts          [jobs] watch_alerts
 *   backfill              [jobs] backfill
 *   digest                [digest] schedule
 *   backup                [jobs] backup
 *   repair_gaps           [jobs] repair_gaps
 *   scan_history          [jobs] scan_history
 *   the maintenance tasks [maintenance] <task id> (jobs/maintenance.h), kind "maintenance"
 *   daily_report          [report] daily
 *   weekly_report         [report] weekly
 *   tradenote_export      [export] tradenote
 *
 * The daemon registers the table with its scheduler, `candlekeep jobs run`
 * with a scheduler that only runs what it is told; listing the jobs
 * (`candlekeep jobs`, `status`, the digest, /health without a scheduler)
 * reads the table alone.
 */

#define JOB_REFRESH_PREFIX   "refresh_candles_"
#define JOB_WATCH            "watch_alerts"
#define JOB_DIGEST           "digest"
#define JOB_REPAIR           "repair_gaps"
#define JOB_SCAN_HISTORY     "scan_history"
#define JOB_BACKFILL         "backfill"
#define JOB_DAILY_REPORT     "daily_report"
#define JOB_WEEKLY_REPORT    "weekly_report"
#define JOB_TRADENOTE_EXPORT "tradenote_export"

/* The kind of a maintenance task's row (jobs/maintenance.h); other rows have none (NULL). */
#define JOB_KIND_MAINTENANCE "maintenance"

/* One row of the table. `cron` is borrowed from the settings. */
struct job_entry {
    char id[32];
    char name[48];
    const char *cron;
    int64_t timeout; /* seconds; 0: one period of the schedule */
    job_fn *fn;      /* NULL in a table built for listing */
    void *arg;
    const char *kind; /* JOB_KIND_MAINTENANCE, or NULL */
};

struct job_table {
    struct job_entry *v;
    size_t n;
};

/*
 * The jobs `s` configures, in registration order (refreshes by timeframe,
 * then retention, detect_outcomes, watch_alerts, backfill, digest, backup,
 * daily_report, weekly_report, tradenote_export). With `app`
 * (its settings must be `s`), each job's body is bound to what it needs:
 * the refresh jobs to the app's calendars and breakers, detect_outcomes to
 * the alert manager when the process has one (app->alerts: the daemon and
 * `jobs run`), so that every outcome is told as the daemon tells it.
 * Without `app` the table only lists (fn NULL). Release with
 * job_table_release().
 */
void job_table_build(const struct settings *s, struct ck *app, struct job_table *out);
void job_table_release(struct job_table *t);

/* The row of `id`, or NULL. */
const struct job_entry *job_table_find(const struct job_table *t, const char *id);
/* Is row `e` of kind `kind` (NULL: every row is)? */
bool job_entry_is(const struct job_entry *e, const char *kind);

/*
 * The table as the health report reads it (health/health.h): one spec per
 * row, strings borrowed from `t`. The array is the caller's to free().
 */
struct health_job_spec *job_table_specs(const struct job_table *t);

/* Register every job of `t` (built with an app) with `sched`. 0 or CK_E*. */
int job_table_register(const struct job_table *t, struct sched *sched, struct strbuf *err);

/*
 * Register every job of the table with `s`, each bound to what it needs
 * from `app` (set app->alerts first: detect_outcomes tells its outcomes
 * through it). 0 or CK_E*.
 */
int jobs_register(struct ck *app, struct sched *s, struct strbuf *err);

/* "refresh_candles_<TF>" into `out` (reset first). */
void job_refresh_id(struct strbuf *out, enum timeframe tf);
/* Is `id` a refresh job's? Its timeframe goes to `*out_tf` (may be NULL). */
bool job_is_refresh(const char *id, enum timeframe *out_tf);

#endif
