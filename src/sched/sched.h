/* SPDX-License-Identifier: MIT */
#ifndef CK_SCHED_SCHED_H
#define CK_SCHED_SCHED_H

#include "store/store.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;

/*
 * The scheduler: cron-timed jobs run on a bounded worker pool, with their
 * history, paused flags and failure streaks in the database.
 *
 * Guarantees (see sched.c for how):
 *  - a job fires within 50 ms of its cron time;
 *  - one job never runs twice at once, in this process or across
 *    processes sharing the database (a lease per running job); an
 *    overlapping fire is recorded as skipped;
 *  - each fire time runs at most once across daemons sharing the database
 *    (a lease per job and fire time); a holder that dies is found out
 *    within seconds by its heartbeat lapsing (SCHED_INSTANCE_LEASE), and
 *    another instance takes the fire over;
 *  - a run past its timeout is abandoned and recorded as timed_out; the
 *    pool gets a fresh worker so capacity is never lost;
 *  - after a stall, suspend or downtime, missed fires are run once per job
 *    if the newest is within the grace time (default one period), that run
 *    standing for the fires within the grace time before it, and recorded
 *    as missed otherwise — never silently dropped;
 *  - a failing job, a failing database or a crashing job body never stops
 *    the scheduler (a job whose database is unreachable records what it
 *    can and is tried again at the next fire).
 *
 * Time comes from a `struct sched_clock`, so tests drive the scheduler
 * with sched_tick() on a fake clock instead of sleeping through minutes.
 */

/* What a job body gets. Owned by the scheduler; valid during the call. */
struct job_ctx {
    const char *job_id;
    int64_t scheduled;       /* the fire time, Unix seconds */
    int64_t now;             /* the clock when the run started, Unix seconds */
    int64_t deadline_ms;     /* the clock (ms) after which the run is abandoned */
    bool manual;             /* started by `jobs run` / POST /jobs/{id}/run */
    const char *trigger;     /* a manual run's reason ("manual", "emergency", "resume"); NULL */
    struct store *store;     /* this worker's own connection (never NULL) */
    struct metrics *metrics; /* may be NULL */
    struct strbuf message;   /* out: a one-line summary (error text on failure) */
    struct strbuf details;   /* out: a JSON object as text, or empty for "{}" */
    /* private */
    const void *sched_;
};

/* True when the run should stop early: past its deadline or the scheduler is stopping. */
bool job_should_stop(const struct job_ctx *ctx);

/* The scheduler's clock in Unix milliseconds (the fake one of a test). */
int64_t job_now_ms(const struct job_ctx *ctx);

/*
 * Sleep `ms` milliseconds by the scheduler's clock, in slices short enough
 * to notice a shutdown. Returns false, possibly early, when the run should
 * stop (job_should_stop()); true when the time has passed.
 */
bool job_sleep(const struct job_ctx *ctx, int64_t ms);

/* A job body: 0 on success, a negative CK_E* on failure (message set). Runs on a worker. */
typedef int job_fn(struct job_ctx *ctx, void *arg);

struct sched_job_def {
    const char *id;   /* stable id, e.g. "refresh_candles_M15" (copied) */
    const char *name; /* human title (copied) */
    const char *cron; /* 5-field cron expression or @macro, UTC (copied) */
    int64_t timeout;  /* seconds; 0 = one period of the cron spec */
    int64_t grace;    /* seconds for catch-up; 0 = one period */
    job_fn *fn;
    void *arg; /* borrowed; must outlive the scheduler */
};

struct sched_clock {
    int64_t (*now_ms)(void *arg); /* Unix milliseconds */
    /* Sleep for job_sleep(); NULL: really sleep. A fake clock advances itself here. */
    void (*sleep_ms)(void *arg, int64_t ms);
    void *arg;
};

/* A finished run, as sched_config.on_run_end hears of it. Strings borrowed for the call. */
struct sched_run_end {
    const char *job_id;
    const char *job_name;
    enum job_status status; /* JOB_OK, JOB_FAILED or JOB_TIMED_OUT */
    int64_t streak;         /* the job's failure streak after this run */
    const char *message;    /* the run's one-line message (redacted) */
    bool manual;
    int64_t now_ms;
};

/*
 * Called once per run whose outcome was recorded (ok, failed, timed out),
 * after the record is written, with the connection that wrote it: on the
 * worker for ok/failed, on the timer thread for a timeout. It must be
 * quick (no network) and thread-safe; it is not called for skipped,
 * missed or paused fires, nor when the outcome could not be recorded.
 */
typedef void sched_run_end_fn(void *arg, struct store *st, const struct sched_run_end *e);

struct sched_config {
    const char *store_url;           /* each worker opens its own connection */
    const char *instance;            /* this process's instance id (copied) */
    size_t workers;                  /* pool size, >= 1 */
    int64_t history_keep;            /* seconds of run history kept (pruned hourly) */
    struct metrics *metrics;         /* may be NULL */
    const struct sched_clock *clock; /* NULL: the real clock (copied) */
    /*
     * Only manual runs (sched_run_now): no cron fires, no catch-up, no
     * housekeeping. What `candlekeep jobs run` uses to run one job in the
     * CLI process under the same rules and history as the daemon.
     */
    bool manual_only;
    /*
     * No other daemon can use this database while this scheduler runs (the
     * daemon holds the SQLite file's lock: one daemon per file). Then the
     * leases and running runs of any other daemon are a dead process's: its
     * first tick gives those leases up (a "done" mark aside) and marks those
     * runs failed "interrupted: its daemon died", so a job killed mid-run is
     * not refused for its whole timeout. Those of `candlekeep jobs run`
     * (instance SCHED_CLI_PREFIX...) are left as they are: it may be alive.
     * Never set for a database several daemons share (PostgreSQL).
     */
    bool sole_daemon;
    sched_run_end_fn *on_run_end; /* may be NULL */
    void *on_run_end_arg;         /* borrowed; must outlive the scheduler */
};

/*
 * Lease name prefix of live daemons: "instance:<id>", the daemon's
 * heartbeat, renewed every 3 seconds for 9 while the timer runs; <id>
 * (sched_make_instance_id()) names the host and the pid, and every lease
 * and run the daemon takes names it. A daemon whose heartbeat lapses is
 * dead: the next daemon to notice (at its own heartbeat) gives up the
 * leases it held (its "done" marks aside), marks its running runs failed
 * "interrupted: its daemon died", drops its heartbeat and retries at once
 * a fire it had found held by it. That is how several daemons sharing a
 * PostgreSQL take over from one killed mid-run within seconds rather than
 * after the job's timeout. (`candlekeep jobs run`, instance
 * SCHED_CLI_PREFIX..., has no heartbeat and is never judged dead.)
 */
#define SCHED_INSTANCE_LEASE "instance:"
/* Instance id prefix of `candlekeep jobs run`, a process beside the daemon. */
#define SCHED_CLI_PREFIX "cli:"

struct sched;

/* Create (no threads yet). Returns NULL only on a bad config (message in err). */
struct sched *sched_new(const struct sched_config *cfg, struct strbuf *err);
/* Stop if running, wait for workers, free. Takes NULL. */
void sched_free(struct sched *s);

/* Register a job. CK_EINVAL for a bad cron spec or a duplicate id. Before sched_start only. */
int sched_add_job(struct sched *s, const struct sched_job_def *def, struct strbuf *err);

/*
 * Start the pool and the timer thread. The first thing it does is mark
 * runs left "running" by a dead process as failed, and catch up. Returns
 * once the timer thread has run its first tick: from then on
 * sched_is_running() is true (until sched_stop) and every job's next_run
 * is computed. That tick reaches the database, so it may take up to the
 * store's timeouts when the database is slow or away.
 */
int sched_start(struct sched *s, struct strbuf *err);
/*
 * Stop taking new runs, wait up to `drain_ms` for running jobs to finish
 * (after which they are recorded as failed "interrupted by shutdown"),
 * then stop the threads.
 */
void sched_stop(struct sched *s, int64_t drain_ms);
bool sched_is_running(const struct sched *s);

/*
 * Test drive without the timer thread: the pool must be started with
 * sched_start_workers(); sched_tick() handles everything due at `now_ms`
 * (fires, catch-up, timeouts, completions); sched_wait_idle() waits until
 * no job runs and every completion is recorded.
 */
int sched_start_workers(struct sched *s, struct strbuf *err);
void sched_tick(struct sched *s, int64_t now_ms);
void sched_wait_idle(struct sched *s);

/*
 * Run job `id` now (a manual run; honours the no-overlap rule). Returns 0
 * when queued, CK_ENOTFOUND for an unknown job, CK_EBUSY when it is
 * already running.
 */
int sched_run_now(struct sched *s, const char *id, struct strbuf *err);
/*
 * The same, with the run's reason (a static string, job_ctx.trigger):
 * "manual" for sched_run_now(), "emergency" for an out-of-schedule run an
 * operator asked for as such. A run that ends a pause is "resume". A run
 * the program asks for by itself (SCHED_TRIGGER_AUTO: a repair after a
 * refresh found a gap) is skipped while the job is paused.
 */
#define SCHED_TRIGGER_AUTO "auto"
int sched_run_now_as(struct sched *s, const char *id, const char *trigger, struct strbuf *err);

/*
 * Resume job `id` in the database `st` at `now` (Unix s), for `jobs
 * resume`, `maintenance resume` and the API alike. When a fire was skipped
 * while it was paused, the pause is made to end a second from now instead,
 * so that a running scheduler (this process's or another's) ends it and
 * runs the job once (never one run per skipped fire); `*out_pending` is
 * then true. A pause whose paused_until passes ends the same way by
 * itself. 0 or the store's error.
 */
int sched_job_resume(struct store *st, const char *id, int64_t now, bool *out_pending,
                     struct strbuf *err);

/* Live view of one job; strings borrowed from the scheduler. */
struct sched_job_info {
    const char *id;
    const char *name;
    const char *cron;
    int64_t timeout;
    int64_t next_run; /* Unix s; -1 if never */
    int64_t period;   /* seconds */
    bool running;
    int64_t running_since; /* Unix ms */
    int64_t last_fire;     /* newest fire time handled, 0 none */
};
/* Number of jobs; fills up to `max` entries of `out` in registration order. */
size_t sched_jobs(struct sched *s, struct sched_job_info *out, size_t max);
/* 0 or CK_ENOTFOUND. */
int sched_job(struct sched *s, const char *id, struct sched_job_info *out);

/*
 * How the timer side is doing, for the daemon's watchdogs: whether its
 * thread ticks, and how its last contacts with the database went (the
 * timer thread reaches the database at least every 3 seconds, for the
 * instance lease).
 */
struct sched_health {
    bool running;           /* the timer loop runs */
    int64_t last_tick_ms;   /* the clock when it last ticked; 0: never */
    bool store_ok;          /* its last contact with the database succeeded (true before any) */
    int64_t store_failures; /* consecutive failed contacts */
    int64_t store_down_since_ms; /* the first of them; 0 when store_ok */
    char store_error[256];       /* the last failure, redacted; "" when store_ok */
};
void sched_health(struct sched *s, struct sched_health *out);

/* A fresh instance id: "<hostname>:<pid>:<4 hex>". Caller frees. */
char *sched_make_instance_id(void);

#endif
