/* SPDX-License-Identifier: MIT */
#ifndef CK_REPORT_REPORT_H
#define CK_REPORT_REPORT_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct source_settings;
struct store;
struct strbuf;

/*
 * Reports: the operator's daily and weekly picture of candlekeep, read
 * from what the database and the backup directory hold (job runs and
 * their details, candles, the gap ledger, breakers and rate budgets,
 * alerts, signals with their deliveries and outcomes, the backups), one
 * model rendered three ways (HTML, JSON, CSV).
 *
 * A report covers a period [from, to): a daily report the 24 hours, a
 * weekly one the 7 days, that end at `to`. Its id names its type and the
 * start of the period ("daily-20240315T1800Z"); the files of one report
 * are "<id>.html", "<id>.json" and "<id>.csv" in the report directory.
 *
 * Nothing here reads the clock or prints: the time is an argument.
 * Functions are reentrant; a store connection is used by one thread.
 */

/* [report] */
struct report_settings {
    char *dir;               /* "": "reports" beside a SQLite database, ./reports otherwise */
    char *daily;             /* cron of daily_report, "0 18 * * *" */
    char *weekly;            /* cron of weekly_report, "0 6 * * 0" */
    int64_t keep;            /* seconds a report file is kept (90 days) */
    int64_t duration_target; /* seconds a job's p95 should stay under */
};

enum report_type {
    REPORT_DAILY,
    REPORT_WEEKLY,
};
/* "daily", "weekly". */
const char *report_type_name(enum report_type t);
/* 0, or CK_EINVAL for another name. */
int report_type_parse(const char *name, enum report_type *out);
/* The period's length in seconds. */
int64_t report_type_span(enum report_type t);

enum report_format {
    REPORT_HTML,
    REPORT_JSON,
    REPORT_CSV,
};
/* "html", "json", "csv" (also the file extensions). */
const char *report_format_name(enum report_format f);
int report_format_parse(const char *name, enum report_format *out);
/* "text/html; charset=utf-8", "application/json", "text/csv; charset=utf-8". */
const char *report_format_mime(enum report_format f);

/* Is `id` the refresh job of a timeframe (its candles are the series')? */
typedef bool report_job_tf_fn(const char *job_id, enum timeframe *out);

/* What to collect. Everything is borrowed for the call. */
struct report_config {
    enum report_type type;
    int64_t to; /* end of the period, Unix s (exclusive) */
    const struct source_settings *sources;
    size_t nsources;
    const char *backup_dir;   /* NULL: backups are not looked at */
    int64_t duration_target;  /* seconds; 0: 60 */
    report_job_tf_fn *job_tf; /* NULL: rejected candles are not attributed */
};

/* One job's runs that started in the period. Durations in ms, of finished runs. */
struct report_job {
    char *id;
    int64_t runs;    /* every run, whatever its status */
    int64_t ok;      /* status ok */
    int64_t failed;  /* failed or timed out */
    int64_t skipped; /* skipped or missed */
    int64_t p50_ms, p95_ms, max_ms;
    int64_t longest_streak; /* most failed runs in a row */
};

/* One stored series. */
struct report_series {
    char *source, *symbol;
    enum timeframe tf;
    int64_t candles;         /* candles whose open time is in the period */
    int64_t total;           /* candles stored, all told */
    int64_t gaps_opened;     /* first seen in the period */
    int64_t gaps_filled;     /* filled, last checked in the period */
    int64_t gaps_unfillable; /* marked unfillable, last checked in the period */
    int64_t gaps_open;       /* open or repairing now */
    int64_t rejected;        /* candles the refresh runs of the period rejected */
};

/* One configured provider. */
struct report_provider {
    char *source;
    int64_t fetches;        /* series fetched by the refresh runs of the period */
    int64_t failed;         /* of which failed */
    int64_t deferred;       /* put off for the rate budget */
    int64_t breaker_opened; /* 1 when its circuit last opened in the period */
    char *breaker_state;    /* as last recorded; "closed" when none is */
    int64_t banned_until;   /* Unix s of a ban in force at the end, 0 none */
    int64_t day_used;       /* requests of the UTC day of the end */
    int64_t per_day;        /* its daily quota, 0 none */
};

struct report_alerts {
    int64_t fired;                         /* first seen in the period */
    int64_t resolved;                      /* resolved in the period */
    int64_t firing;                        /* firing now */
    int64_t mean_resolve_s, max_resolve_s; /* of those resolved in the period */
};

struct report_signals {
    int64_t created;                  /* in the period */
    int64_t delivered, dead, pending; /* their deliveries, by status */
    int64_t won, lost, expired;       /* outcomes decided in the period */
    double win_rate;                  /* won / (won + lost) in %, -1 when neither */
};

struct report_backups {
    bool looked;           /* a backup directory was read */
    int64_t made;          /* created in the period */
    int64_t verified;      /* of which the restore drill passed */
    int64_t failed;        /* of which the drill failed */
    int64_t bytes;         /* of those made */
    int64_t last_verified; /* newest backup whose drill passed, any time; 0 none */
};

/* Runs and failures per hour (daily) or per day (weekly): the charts' trend. */
#define REPORT_MAX_BUCKETS 24
struct report_bucket {
    int64_t start; /* Unix s */
    int64_t runs, failed, candles_stored;
};

struct report {
    enum report_type type;
    char id[48];
    int64_t from, to; /* Unix s, [from, to) */
    int64_t duration_target;
    struct report_job *jobs;
    size_t njobs;
    struct report_series *series;
    size_t nseries;
    struct report_provider *providers;
    size_t nproviders;
    struct report_alerts alerts;
    struct report_signals signals;
    struct report_backups backups;
    struct report_bucket buckets[REPORT_MAX_BUCKETS];
    size_t nbuckets;
    char **recommendations; /* sentences, plain text */
    size_t nrecommendations;
};
void report_release(struct report *r);

/*
 * Collect the report `cfg` describes from `st` (and cfg->backup_dir).
 * 0, or the store's error (`out` is released then). Release `out` on
 * success with report_release().
 */
int report_collect(const struct report_config *cfg, struct store *st, struct report *out,
                   struct strbuf *err);

/* The report's id for `type` and a period starting at `from`: "daily-20240315T1800Z". */
void report_id(enum report_type type, int64_t from, char out[48]);

/* Render `r` in `f`, appended to `out`. The JSON has the same figures as the HTML and CSV. */
void report_render(const struct report *r, enum report_format f, struct strbuf *out);
/* A few plain lines: the summary sent to chat ("Daily report ..."), appended to `out`. */
void report_summary(const struct report *r, struct strbuf *out);

/* --- the report directory --------------------------------------------------- */

/*
 * The directory reports go to: `s->dir` when set, else "reports" beside a
 * SQLite database (`store_url`), else "reports". The caller frees.
 */
char *report_dir(const struct report_settings *s, const char *store_url);

/*
 * Write `r` in every format into `dir` (made with mode 0700 if missing),
 * each file written under a temporary name and renamed into place, then
 * delete the report files of `dir` whose period started more than `keep`
 * seconds (0: none deleted) before `now`. 0, or CK_EIO naming the file.
 */
int report_write(const struct report *r, const char *dir, int64_t keep, int64_t now,
                 struct strbuf *err);

/* A report found in the directory. */
struct report_file {
    char id[48];
    enum report_type type;
    int64_t from;     /* the start of its period, from the id */
    unsigned formats; /* 1 << enum report_format, for each file present */
    int64_t bytes;    /* all its files */
};
/*
 * The reports in `dir`, newest period first (a missing directory holds
 * none). Free *out with free().
 */
int report_list(const char *dir, struct report_file **out, size_t *n, struct strbuf *err);

/*
 * Read the file of report `id` in format `f` from `dir` into `out`.
 * CK_EINVAL for an id that is not a report's, CK_ENOTFOUND when there is
 * no such file, CK_EIO.
 */
int report_read(const char *dir, const char *id, enum report_format f, struct strbuf *out,
                struct strbuf *err);

#endif
