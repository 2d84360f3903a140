/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_DIGEST_H
#define CK_JOBS_DIGEST_H

#include "market/timeframe.h"
#include "store/signals.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ck;
struct job_ctx;
struct sched;
struct store;
struct strbuf;

/*
 * The daily health digest: one plain-text report of how candlekeep is
 * doing, sent through the alert channels (alert_notice, kind "digest") by
 * the `digest` job at [digest] schedule (06:00 UTC by default), and printed
 * by `candlekeep digest --print`.
 *
 * Everything in it is read from the database and the configuration, none
 * of it from the memory of the process that builds it, so the daemon's
 * digest and the command's are the same report. "Today" is the UTC day up
 * to the time of the report.
 */

struct digest_series {
    char *source, *symbol;
    enum timeframe tf;
    bool has_latest;
    int64_t latest; /* open time of the newest candle, Unix s */
    int64_t age;    /* seconds since it closed, >= 0 */
    int64_t open_gaps;
};

struct digest_job {
    char *id;
    bool paused, overdue;
    int64_t streak;
};

struct digest_provider {
    char *source;
    int64_t day_used;
    int64_t per_day; /* 0: no daily quota */
};

/* A named count: rows deleted by the last retention run, per category. */
struct digest_count {
    char *name;
    int64_t n;
};

struct digest_report {
    int64_t now;                  /* Unix s */
    int64_t day_start;            /* 00:00 UTC of `now` */
    struct signal_counts signals; /* active now; created and decided today */
    bool has_retention;         /* a finished run of the retention job exists (jobs/retention.h) */
    int64_t retention_finished; /* Unix s */
    char *retention_status;     /* "ok", "failed", "timed_out" */
    char *retention_message;
    struct digest_count *deleted;
    size_t ndeleted;
    size_t daemons; /* alive (their instance lease is current) */
    struct digest_job *jobs;
    size_t njobs;
    struct digest_series *series;
    size_t nseries;
    int64_t open_gaps; /* every open gap of the ledger */
    struct digest_provider *providers;
    size_t nproviders;
    const char *backend; /* "sqlite", "postgresql" (static) */
    int64_t db_size;     /* bytes */
    bool has_disk;       /* SQLite: the file system of the database file */
    uint64_t disk_free, disk_total;
    /* The newest host check: "score 85; memory 82.0% warn" (its parts not ok); NULL: none. */
    char *host;
    char *backups; /* "last ..., last verified restore ..."; NULL: not looked at */
};
void digest_report_release(struct digest_report *r);

/*
 * Collect the report at `now_ms` from `st` for the series and providers
 * of `app` and its jobs: those of `s`, the daemon's scheduler, or, with
 * `s` NULL, those of the job table. 0, or the store's error.
 */
int digest_collect(const struct ck *app, struct sched *s, struct store *st, int64_t now_ms,
                   struct digest_report *out, struct strbuf *err);

/* "Health digest 2024-03-15 06:00 UTC". */
void digest_title(const struct digest_report *r, struct strbuf *out);
/* The report's text, lines ending in "\n", appended to `out`. */
void digest_format(const struct digest_report *r, struct strbuf *out);

/*
 * The rows deleted per category in a retention run's details JSON: the
 * integer members of its "deleted" object if it has one, else its
 * integer members named "deleted_<category>", else all its integer
 * members, in the order written. Appended to *out (*n grows).
 */
void digest_parse_deleted(const char *details, struct digest_count **out, size_t *n);

/* The job_fn of `digest` (`arg` is the struct ck): collect, format, queue through alert_notice. */
int digest_job_run(struct job_ctx *ctx, void *arg);

#endif
