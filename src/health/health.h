/* SPDX-License-Identifier: MIT */
#ifndef CK_HEALTH_HEALTH_H
#define CK_HEALTH_HEALTH_H

#include "market/timeframe.h"
#include "resilience/breaker.h"
#include "health/host.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct json_t;
struct sched;
struct backup_settings;
struct source_settings;
struct strbuf;

/*
 * The one health read model: what /health, /metrics, `candlekeep status`,
 * the digest and the alert watch say about how candlekeep is doing, built
 * once from the database, the job table, the configuration and (in the
 * daemon) the live scheduler and circuit breakers. The rules behind its
 * derived facts (next run, overdue, age, missing periods) are in
 * health/rules.h.
 */

/* One job the table lists (or the live scheduler runs). Strings borrowed. */
struct health_job_spec {
    const char *id;
    const char *name;
    const char *cron;
};

struct health_config {
    /* The configured sources; none: every stored series, no providers (tests). */
    const struct source_settings *sources;
    size_t nsources;
    /* The job table; ignored when `sched` is set (the daemon registered it there). */
    const struct health_job_spec *jobs;
    size_t njobs;
    /* The daemon's scheduler (running jobs, its newest fires); NULL elsewhere. */
    struct sched *sched;
    /*
     * Aligned with sources; NULL: no breaker in this process (a command).
     * A breaker that has seen traffic (breaker_info().active) is reported
     * as it is; otherwise the state recorded in the database, if any.
     */
    struct breaker *const *breakers;
    /* Aligned with sources; NULL: missing periods unknown (-1). */
    const struct calendar *const *calendars;
    /* The database's URL, for its backend's name when it cannot be reached. */
    const char *store_url;
    /*
     * First check that the database takes a write (store_check_writable());
     * one that does not is reported unreachable with the reason, and
     * nothing is read from it, as when `st` is NULL.
     */
    bool check_write;
    /* The backup settings, for the backups' part (the directory is read); NULL: none. */
    const struct backup_settings *backup;
};

/* The backups as their directory shows them (backup/backup.h). */
struct health_backups {
    bool known;            /* the part was collected */
    size_t count;          /* backups in the directory */
    int64_t last;          /* the newest backup's time (Unix s); 0: none */
    bool last_verified_ok; /* the newest backup's restore drill passed */
    int64_t last_verified; /* the newest backup whose drill passed (Unix s); 0: none */
    int64_t max_age;       /* seconds a verified backup may grow old */
    bool stale;            /* no verified backup younger than max_age */
};

struct health_job {
    char *id, *name, *cron;
    bool configured;      /* in the job table (or the live scheduler) */
    bool has_row;         /* the database has its row */
    bool paused;          /* job_state_paused() at the report's time */
    int64_t paused_until; /* Unix s when the pause ends by itself; 0: when resumed */
    char *pause_reason;   /* owned; NULL when not paused or none given */
    bool running;         /* known only where the scheduler runs */
    int64_t streak;
    int64_t last_fire; /* newest fire handled, Unix s; 0 none */
    int64_t next_run;  /* health_job_next_run(); -1 none */
    int64_t period;
    bool overdue; /* health_job_overdue() */
};

struct health_series {
    char *source, *symbol;
    enum timeframe tf;
    bool has_latest;   /* a candle is stored */
    int64_t latest;    /* open time of the newest candle */
    int64_t age;       /* health_series_age(), >= 0 */
    int64_t missing;   /* health_missing_periods(); -1 unknown */
    int64_t open_gaps; /* open gaps of the ledger */
};

struct health_provider {
    char *source;
    bool circuit_known;  /* the breaker of this process, or a recorded state */
    bool circuit_stored; /* known from the database (health_circuit_of_row()) */
    struct breaker_info circuit;
    bool has_budget; /* the database answered */
    struct rate_budget budget;
    char *budget_key; /* the budget's identity: shared by the sources of one key or venue */
    struct rate_state rate;
    int64_t skip_after; /* the source's symbol_skip_after */
    /* The configured series with a state row; borrowed from the report's `states`. */
    struct series_state **series;
    size_t nseries;
};

struct health_report {
    int64_t now;         /* Unix s: ages, jobs (the pinnable clock, time_now()) */
    int64_t now_ms;      /* Unix ms: budgets, bans, breakers (the clock they were taken by) */
    bool reachable;      /* answers and, with `check_write`, takes writes */
    const char *backend; /* static */
    char *db_error;      /* NULL when reachable */
    char **daemons;      /* holders of a current instance lease */
    size_t ndaemons;
    struct health_job *jobs;
    size_t njobs, paused, failing, overdue;
    struct health_series *series;
    size_t nseries;
    int64_t open_gaps; /* every open gap of the ledger */
    struct health_provider *providers;
    size_t nproviders;
    struct series_state *states; /* owned */
    size_t nstates;
    /* The host as the newest health_check run found it (host.h); host.known false: none. */
    struct host_summary host;
    struct health_backups backups;
};

/*
 * Collect the report: ages and jobs at `now` (Unix s; time_now(), which a
 * test or a replay pins), budgets, bans and breakers at `now_ms` (the
 * clock the jobs take them by: time_wall_ms() or a job's). `st` NULL: the
 * database cannot be reached (`db_error` says why, may be NULL); the
 * report then holds the jobs of the table, the providers' circuits, and
 * nothing from the database; so too when `cfg->check_write` finds that it
 * takes no writes (`db_error` then says why, redacted). A database error
 * part way leaves that part out and is returned (0 otherwise); release
 * `out` in any case.
 */
int health_collect(const struct health_config *cfg, struct store *st, const char *db_error,
                   int64_t now, int64_t now_ms, struct health_report *out, struct strbuf *err);
void health_report_release(struct health_report *r);

/*
 * The circuit that recorded row `row` describes at `now_ms`, read as
 * breaker_info() reads a live breaker: an open circuit whose retry time
 * has passed is half-open. False when the row's state is not a breaker
 * state. `out->opened` (a count of this process) is 0.
 */
bool health_circuit_of_row(const struct breaker_row *row, int64_t now_ms, struct breaker_info *out);

/* Is series state `s` skipped by the rule of its provider `p`? */
bool health_series_skipped(const struct health_provider *p, const struct series_state *s);

/*
 * Does the report need attention: a job overdue or failing, a circuit not
 * closed, a ban in force, a series skipped?
 */
bool health_degraded(const struct health_report *r);

/*
 * The report as JSON (the shape GET /health documents): "database",
 * "daemons", "jobs" {"count", "paused", "overdue", "failing", "list"},
 * "series", "providers". A new reference (a jansson json_t *).
 */
struct json_t *health_report_json(const struct health_report *r);

#endif
