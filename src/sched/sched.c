/* SPDX-License-Identifier: MIT */
/*
 * The scheduler (see sched.h for its guarantees).
 *
 * Threads. One timer thread (or the test calling sched_tick) owns every
 * scheduling decision: which fire is due, what was missed, which run timed
 * out, and it runs every `done` callback of the pool. Workers only execute
 * runs: they open their own store connection (kept in the pool's per-worker
 * slot), check the paused flag, take the leases, write the run row, call the
 * job body and finish the row. API threads only read a snapshot of the job
 * table under `lock` (sched_jobs) or request a manual run (sched_run_now).
 *
 * Lock. `lock` guards `jobs[*]` fields marked (L), `stopping`, and the
 * manual-run requests; the timer thread holds it while deciding and
 * releases it before any database call. The scheduler's own store
 * connection (`st`) is used by the timer thread only.
 *
 * A run's record is written by exactly one party: the worker (ok/failed,
 * skipped, or nothing if another instance owns the fire) unless the timer
 * thread abandoned it first (timed_out). `run->state` decides with an
 * atomic compare-and-swap.
 *
 * Exactly-once across instances. A fire F of job J is a lease
 * "fire:J:F" valid for the job's timeout plus a margin; its holder runs
 * it and, when the run is over, extends the lease far into the future as
 * a "done" mark. An instance that finds the lease held remembers F and
 * tries once more after the holder's lease would lapse: if the holder died
 * the claim succeeds and this instance runs F; otherwise it lets F go.
 * "run:J" is a second lease held while J runs anywhere, so no two
 * processes (daemons or `candlekeep jobs run`) run J at once.
 */
#include "sched/sched.h"

#include "sched/cron.h"
#include "sched/pool.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/sync.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

/*
 * How long past its timeout a fire lease stays valid before others may take
 * over: half the timeout, between 2 and 30 seconds, so a short job's fire
 * is taken over quickly when its holder dies.
 */
#define LEASE_MARGIN_MAX_MS 30000
#define LEASE_MARGIN_MIN_MS 2000

static int64_t lease_margin_ms(int64_t timeout_s)
{
    int64_t m = timeout_s * 1000 / 2;
    return m < LEASE_MARGIN_MIN_MS   ? LEASE_MARGIN_MIN_MS
           : m > LEASE_MARGIN_MAX_MS ? LEASE_MARGIN_MAX_MS
                                     : m;
}
/* "Done" mark: a fire lease extended this far is never taken over. */
#define LEASE_DONE_MS (10LL * 365 * 86400 * 1000)
/* Missed fires are counted up to this many for the message. */
#define MISSED_COUNT_CAP 100000
/* The timer thread wakes at least this often, to notice clock jumps and suspends. */
#define MAX_SLEEP_MS 1000
/*
 * The instance heartbeat: every daemon renews its "instance:<id>" lease this
 * often, for three times as long. A daemon whose lease has lapsed has
 * stopped beating for that long: it is dead (sched.h, SCHED_INSTANCE_LEASE).
 */
#define HEARTBEAT_MS        3000
#define HEARTBEAT_EXPIRY_MS (3 * HEARTBEAT_MS)
/* Stale-run sweeping interval (runs of dead processes), and history pruning interval. */
#define HOUSEKEEPING_MS (60 * 1000)
/* How often ended pauses are looked for (end_pauses). */
#define PAUSE_CHECK_MS 5000
#define PRUNE_MS       (3600 * 1000)

enum run_state {
    RUN_ACTIVE,
    RUN_FINISHED,  /* the worker recorded the outcome */
    RUN_ABANDONED, /* the timer thread recorded timed_out */
};

/* How a run ended, as the worker saw it. */
enum run_outcome {
    OUT_RAN,     /* the body ran; rc says how */
    OUT_PAUSED,  /* the job is paused: nothing ran, nothing recorded */
    OUT_FOREIGN, /* another instance holds this fire */
    OUT_BUSY,    /* running elsewhere: recorded as skipped */
    OUT_DB_DOWN, /* no database: nothing could be recorded */
};

struct job;

struct run {
    struct sched *s;
    struct job *job;
    int64_t scheduled; /* fire time, s */
    bool manual;
    const char *trigger; /* a manual run's reason (job_ctx.trigger) */
    bool takeover;       /* retrying a fire another instance held */
    struct pool_item *item;
    _Atomic int state;          /* enum run_state */
    _Atomic int64_t run_id;     /* 0 until the row exists */
    _Atomic int64_t started_ms; /* 0 until the body starts */
    int64_t deadline_ms;
    enum run_outcome outcome;
    int rc;
    int64_t finished_ms;
    int64_t streak;
    struct strbuf message;
    char lease_fire[160];
    char lease_run[160];
    int64_t fire_lease_until;
};

struct job {
    char *id;
    char *name;
    struct cron_expr cron;
    int64_t timeout; /* s */
    int64_t grace;   /* s */
    int64_t period;  /* s */
    job_fn *fn;
    void *arg;
    /* (L) */
    int64_t next_fire; /* first fire not yet handled */
    int64_t last_fire; /* newest fire handled */
    struct run *run;   /* the attached run, NULL when idle */
    bool manual_pending;
    const char *pending_trigger; /* why the pending manual run (static string) */
    int64_t foreign_fire;        /* a fire another instance held, 0 none */
    int64_t foreign_retry_ms;
};

struct sched {
    pthread_mutex_t lock;
    pthread_cond_t cond;    /* wakes the timer thread */
    pthread_cond_t started; /* the timer thread's first tick is over (sched_start waits) */
    pthread_t thread;
    bool thread_started;
    bool workers_started;
    bool running;           /* (L) the timer loop runs */
    bool first_tick_done;   /* (L) the timer thread finished its first tick */
    bool stopping;          /* (L) */
    _Atomic bool stop_flag; /* read by job_should_stop() without the lock */
    struct job *jobs;
    size_t njobs, jobs_alloc;
    struct pool *pool;
    struct store *st; /* the timer thread's connection, opened lazily */
    char *store_url;
    char *instance;
    size_t workers;
    int64_t history_keep;
    struct metrics *metrics;
    struct sched_clock clock;
    int64_t next_housekeeping_ms;
    int64_t next_prune_ms;
    int64_t next_heartbeat_ms;
    int64_t next_pause_check_ms;
    bool manual_only;
    bool sole_daemon;
    bool initialised; /* (L) last_fire loaded and startup sweep done */
    sched_run_end_fn *on_run_end;
    void *on_run_end_arg;
    _Atomic int64_t last_tick_ms;
    /* The timer thread's contacts with the database (sched_health), under health_lock. */
    pthread_mutex_t health_lock;
    int64_t store_failures;
    int64_t store_down_since_ms;
    char store_error[256];
};

static int64_t real_now_ms(void *arg)
{
    (void)arg;
    return time_wall_ms();
}

static int64_t now_ms(const struct sched *s)
{
    return s->clock.now_ms(s->clock.arg);
}

bool job_should_stop(const struct job_ctx *ctx)
{
    const struct sched *s = ctx->sched_;
    return atomic_load(&((struct sched *)s)->stop_flag) || now_ms(s) >= ctx->deadline_ms;
}

int64_t job_now_ms(const struct job_ctx *ctx)
{
    return now_ms(ctx->sched_);
}

/* The slice job_sleep() sleeps at most before looking at the stop flag again. */
#define SLEEP_SLICE_MS 200

bool job_sleep(const struct job_ctx *ctx, int64_t ms)
{
    const struct sched *s = ctx->sched_;
    int64_t until = now_ms(s) + (ms > 0 ? ms : 0);

    for (;;) {
        int64_t left = until - now_ms(s), slice;
        if (job_should_stop(ctx))
            return false;
        if (left <= 0)
            return true;
        slice = left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS;
        if (s->clock.sleep_ms) {
            s->clock.sleep_ms(s->clock.arg, slice);
        } else {
            struct timespec ts = {.tv_sec = slice / 1000, .tv_nsec = (slice % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) && errno == EINTR)
                ;
        }
    }
}

char *sched_make_instance_id(void)
{
    char host[128] = "localhost";
    struct strbuf sb = STRBUF_INIT;
    struct timespec ts;
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &ts);
    strbuf_addf(&sb, "%s:%ld:%04lx", host, (long)getpid(),
                (unsigned long)((ts.tv_nsec ^ (long)getpid() * 2654435761UL) & 0xffff));
    return strbuf_detach(&sb, NULL);
}

static void define_metrics(struct metrics *m)
{
    metrics_declare(m, "job_runs_total", METRIC_COUNTER, "Job runs by job and final status.");
    metrics_declare(m, "job_duration_seconds", METRIC_HISTOGRAM, "Duration of job runs.");
    metrics_declare(m, "job_missed_fires_total", METRIC_COUNTER,
                    "Scheduled fires that were missed (not run) by job.");
    metrics_declare(m, "job_failure_streak", METRIC_GAUGE, "Consecutive failed runs by job.");
    metrics_declare(m, "job_last_success_timestamp_seconds", METRIC_GAUGE,
                    "Unix time of the last successful run by job.");
    metrics_declare(m, "scheduler_running", METRIC_GAUGE,
                    "1 while the scheduler's timer loop runs.");
}

struct sched *sched_new(const struct sched_config *cfg, struct strbuf *err)
{
    struct sched *s;
    if (!cfg->store_url || !*cfg->store_url) {
        strbuf_addstr(err, "sched: no store URL");
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    cond_init_monotonic(&s->cond);
    pthread_cond_init(&s->started, NULL);
    s->store_url = xstrdup(cfg->store_url);
    s->instance =
        cfg->instance && *cfg->instance ? xstrdup(cfg->instance) : sched_make_instance_id();
    s->workers = cfg->workers ? cfg->workers : 1;
    s->history_keep = cfg->history_keep > 0 ? cfg->history_keep : 30 * 86400;
    s->metrics = cfg->metrics;
    s->manual_only = cfg->manual_only;
    s->sole_daemon = cfg->sole_daemon;
    s->on_run_end = cfg->on_run_end;
    s->on_run_end_arg = cfg->on_run_end_arg;
    atomic_init(&s->last_tick_ms, 0);
    pthread_mutex_init(&s->health_lock, NULL);
    if (cfg->clock)
        s->clock = *cfg->clock;
    else
        s->clock = (struct sched_clock){.now_ms = real_now_ms};
    define_metrics(s->metrics);
    return s;
}

static struct job *find_job(struct sched *s, const char *id)
{
    for (size_t i = 0; i < s->njobs; i++)
        if (!strcmp(s->jobs[i].id, id))
            return &s->jobs[i];
    return NULL;
}

int sched_add_job(struct sched *s, const struct sched_job_def *def, struct strbuf *err)
{
    struct cron_expr ce;
    struct job *j;

    if (s->workers_started)
        BUG("sched_add_job after start");
    if (!def->id || !*def->id || !def->fn) {
        strbuf_addstr(err, "sched: a job needs an id and a function");
        return CK_EINVAL;
    }
    if (find_job(s, def->id)) {
        strbuf_addf(err, "sched: job '%s' is registered twice", def->id);
        return CK_EINVAL;
    }
    if (cron_parse(&ce, def->cron, err))
        return CK_EINVAL;
    ALLOC_GROW(s->jobs, s->njobs + 1, s->jobs_alloc);
    j = &s->jobs[s->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = xstrdup(def->id);
    j->name = xstrdup(def->name ? def->name : def->id);
    j->cron = ce;
    j->fn = def->fn;
    j->arg = def->arg;
    j->period = cron_period_hint(&ce, now_ms(s) / 1000);
    if (j->period <= 0)
        j->period = 86400;
    j->timeout = def->timeout > 0 ? def->timeout : j->period;
    j->grace = def->grace > 0 ? def->grace : j->period;
    return 0;
}

/* Remember how a contact with the database went (sched_health). */
static void note_store(struct sched *s, bool ok, const char *error)
{
    pthread_mutex_lock(&s->health_lock);
    if (ok) {
        s->store_failures = 0;
        s->store_down_since_ms = 0;
        s->store_error[0] = '\0';
    } else {
        if (!s->store_failures++)
            s->store_down_since_ms = now_ms(s);
        snprintf(s->store_error, sizeof(s->store_error), "%s", error);
    }
    pthread_mutex_unlock(&s->health_lock);
}

/* The timer thread's store connection; NULL (and logged) when the database is down. */
static struct store *timer_store(struct sched *s)
{
    struct strbuf err = STRBUF_INIT;
    if (s->st && store_ping(s->st)) {
        note_store(s, true, NULL);
        return s->st;
    }
    store_close(s->st);
    s->st = NULL;
    if (store_open(&s->st, s->store_url, &err)) {
        redact_message(&err);
        log_error("sched: database unreachable: %s", err.buf);
        s->st = NULL;
    }
    note_store(s, s->st != NULL, err.buf);
    strbuf_release(&err);
    return s->st;
}

/* Tell the on_run_end hook about a recorded outcome. */
static void tell_run_end(struct sched *s, struct store *st, const struct job *j,
                         enum job_status status, int64_t streak, const char *message, bool manual)
{
    if (!s->on_run_end || !st)
        return;
    struct sched_run_end e = {
        .job_id = j->id,
        .job_name = j->name,
        .status = status,
        .streak = streak,
        .message = message,
        .manual = manual,
        .now_ms = now_ms(s),
    };
    s->on_run_end(s->on_run_end_arg, st, &e);
}

static void labels_job(struct strbuf *sb, const struct job *j)
{
    strbuf_reset(sb);
    metrics_labels(sb, "job", j->id, NULL);
}

/* Record a finished-in-one-go row (skipped, missed) through the timer thread's connection. */
static void record_row(struct sched *s, struct job *j, int64_t scheduled, enum job_status status,
                       const char *message, const char *details)
{
    struct store *st = timer_store(s);
    struct strbuf err = STRBUF_INIT;
    int64_t t = now_ms(s);
    struct job_run r = {
        .job_id = j->id,
        .instance = s->instance,
        .scheduled = scheduled,
        .started = t,
        .finished = t,
        .status = status,
        .message = (char *)message,
        .details = (char *)(details ? details : "{}"),
    };
    if (!st || store_job_run_insert(st, &r, &err))
        log_error("sched: job '%s': cannot record %s run: %s", j->id, job_status_name(status),
                  st ? err.buf : "database unreachable");
    strbuf_release(&err);
}

/* --- the worker side ----------------------------------------------------- */

static void local_store_free(void *local)
{
    store_close(local);
}

/* The worker's own connection: reused while it answers, reopened otherwise. */
static struct store *worker_store(struct sched *s, void **local, struct strbuf *err)
{
    struct store *st = *local;
    if (st && store_ping(st))
        return st;
    store_close(st);
    *local = NULL;
    if (store_open(&st, s->store_url, err))
        return NULL;
    *local = st;
    return st;
}

/* Fire-lease name of job `j` at `fire`; manual runs have none. */
static void lease_names(struct run *r)
{
    snprintf(r->lease_run, sizeof(r->lease_run), "run:%s", r->job->id);
    if (r->manual)
        r->lease_fire[0] = '\0';
    else
        snprintf(r->lease_fire, sizeof(r->lease_fire), "fire:%s:%" PRId64, r->job->id,
                 r->scheduled);
}

/*
 * A lease claim refused with CK_EBUSY: is the lease really held by another
 * instance, or was the database itself busy (an SQLite file locked by
 * another process past the busy timeout answers CK_EBUSY too)? Reads go
 * on while SQLite is locked for writing, so the lease can be looked at: a
 * claim is refused only for a lease that is valid now and held by someone
 * else, so without one the refusal was the database's.
 */
static bool held_elsewhere(struct store *st, const char *name, const char *instance, int64_t now_ms)
{
    struct strbuf err = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0;
    bool held = false;

    if (!store_lease_list(st, name, now_ms, &v, &n, &err))
        for (size_t i = 0; i < n && !held; i++)
            held = !strcmp(v[i].name, name) && strcmp(v[i].holder, instance);
    lease_infos_free(v, n);
    strbuf_release(&err);
    return held;
}

/*
 * One run on a worker: leases, paused check, run row, body, finish. Every
 * database failure before the body means the run is not attempted; the
 * timer thread logs it and the next fire tries again.
 */
static void run_body(void **local, void *arg)
{
    struct run *r = arg;
    struct sched *s = r->s;
    struct job *j = r->job;
    struct strbuf err = STRBUF_INIT;
    struct job_state js;
    struct store *st;
    int64_t t0 = now_ms(s);
    int expected;
    int rc;

    lease_names(r);
    st = worker_store(s, local, &err);
    if (!st) {
        r->outcome = OUT_DB_DOWN;
        strbuf_addbuf(&r->message, &err);
        goto out;
    }
    if (r->manual && r->trigger && !strcmp(r->trigger, SCHED_TRIGGER_AUTO)) {
        /* A run the program asked for on its own (not an operator) respects a pause. */
        rc = store_job_get(st, j->id, &js, &err);
        bool paused = !rc && job_state_paused(&js, t0 / 1000);
        if (!rc)
            job_state_release(&js);
        strbuf_reset(&err);
        if (paused) {
            r->outcome = OUT_PAUSED;
            goto out;
        }
    }
    if (!r->manual) {
        rc = store_job_get(st, j->id, &js, &err);
        if (rc && rc != CK_ENOTFOUND) {
            r->outcome = OUT_DB_DOWN;
            strbuf_addbuf(&r->message, &err);
            goto out;
        }
        bool paused = !rc && job_state_paused(&js, t0 / 1000);
        job_state_release(&js);
        strbuf_reset(&err);
        if (paused) {
            r->outcome = OUT_PAUSED;
            store_job_set_last_fire(st, j->id, r->scheduled, &err);
            goto out;
        }
        r->fire_lease_until = t0 + j->timeout * 1000 + lease_margin_ms(j->timeout);
        rc = store_lease_claim(st, r->lease_fire, s->instance, t0, r->fire_lease_until, &err);
        if (rc == CK_EBUSY && !held_elsewhere(st, r->lease_fire, s->instance, t0))
            rc = CK_EIO;
        if (rc == CK_EBUSY) {
            r->outcome = OUT_FOREIGN;
            goto out;
        } else if (rc) {
            r->outcome = OUT_DB_DOWN;
            strbuf_addbuf(&r->message, &err);
            goto out;
        }
    }
    rc = store_lease_claim(st, r->lease_run, s->instance, t0, t0 + j->timeout * 1000 + 5000, &err);
    if (rc == CK_EBUSY && !held_elsewhere(st, r->lease_run, s->instance, t0))
        rc = CK_EIO;
    if (rc) {
        struct job_run row = {
            .job_id = j->id,
            .instance = s->instance,
            .scheduled = r->scheduled,
            .started = t0,
            .finished = t0,
            .status = JOB_SKIPPED,
            .message = (char *)(rc == CK_EBUSY ? "skipped: the job is running in another process"
                                               : err.buf),
            .details = (char *)"{}",
        };
        r->outcome = rc == CK_EBUSY ? OUT_BUSY : OUT_DB_DOWN;
        strbuf_addstr(&r->message, row.message);
        strbuf_reset(&err);
        if (rc == CK_EBUSY)
            store_job_run_insert(st, &row, &err);
        goto release_fire;
    }

    {
        struct job_run row = {
            .job_id = j->id,
            .instance = s->instance,
            .scheduled = r->scheduled,
            .started = t0,
            .status = JOB_RUNNING,
            .message = (char *)"",
            .details = (char *)"{}",
        };
        if (store_job_run_insert(st, &row, &err)) {
            r->outcome = OUT_DB_DOWN;
            strbuf_addbuf(&r->message, &err);
            store_lease_release(st, r->lease_run, s->instance, &err);
            goto release_fire;
        }
        atomic_store(&r->run_id, row.id);
    }

    struct job_ctx ctx = {
        .job_id = j->id,
        .scheduled = r->scheduled,
        .now = t0 / 1000,
        .deadline_ms = r->deadline_ms = now_ms(s) + j->timeout * 1000,
        .manual = r->manual,
        .trigger = r->trigger,
        .store = st,
        .metrics = s->metrics,
        .message = STRBUF_INIT,
        .details = STRBUF_INIT,
        .sched_ = s,
    };
    atomic_store(&r->started_ms, t0);
    r->outcome = OUT_RAN;
    r->rc = j->fn(&ctx, j->arg);
    r->finished_ms = now_ms(s);
    strbuf_addbuf(&r->message, &ctx.message);
    redact_message(&r->message);

    /* Record the outcome unless the timer thread already recorded a timeout. */
    expected = RUN_ACTIVE;
    if (atomic_compare_exchange_strong(&r->state, &expected, RUN_FINISHED)) {
        struct job_run row = {
            .id = atomic_load(&r->run_id),
            .job_id = j->id,
            .scheduled = r->scheduled,
            .finished = r->finished_ms,
            .status = r->rc ? JOB_FAILED : JOB_OK,
            .message = r->message.buf,
            .details = ctx.details.len ? ctx.details.buf : (char *)"{}",
        };
        strbuf_reset(&err);
        /* The body may have left the connection in a transaction or broken it. */
        if (store_in_transaction(st))
            store_rollback(st, &err);
        bool recorded = true;
        if (store_job_run_finish(st, &row, &r->streak, &err)) {
            struct store *st2;
            /* Once more on a fresh connection: the body's failure may have been the database's. */
            strbuf_reset(&err);
            st2 = worker_store(s, local, &err);
            if (!st2 || store_job_run_finish(st2, &row, &r->streak, &err)) {
                log_error("sched: job '%s': cannot record the run's outcome: %s", j->id, err.buf);
                recorded = false;
            }
            st = st2;
        }
        if (recorded)
            tell_run_end(s, st, j, row.status, r->streak, row.message, r->manual);
    }
    strbuf_release(&ctx.message);
    strbuf_release(&ctx.details);
    if (!st)
        goto out;
    strbuf_reset(&err);
    store_lease_release(st, r->lease_run, s->instance, &err);

release_fire:
    if (r->lease_fire[0] && st) {
        /* The fire is handled: mark the lease done so nobody takes it over. */
        int64_t t = now_ms(s);
        strbuf_reset(&err);
        store_lease_claim(st, r->lease_fire, s->instance, t, t + LEASE_DONE_MS, &err);
    }
out:
    strbuf_release(&err);
}

/* --- the timer side ------------------------------------------------------ */

static void run_done(void *arg, bool abandoned_by_pool);

static void submit_run(struct sched *s, struct job *j, int64_t scheduled, bool manual,
                       bool takeover)
{
    struct run *r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->job = j;
    r->scheduled = scheduled;
    r->manual = manual;
    r->trigger = manual ? (j->pending_trigger ? j->pending_trigger : "manual") : NULL;
    j->pending_trigger = NULL;
    r->takeover = takeover;
    strbuf_init(&r->message, 0);
    atomic_init(&r->state, RUN_ACTIVE);
    atomic_init(&r->run_id, 0);
    atomic_init(&r->started_ms, 0);
    j->run = r;
    r->item = pool_submit(s->pool, run_body, run_done, r);
}

static void run_done(void *arg, bool abandoned_by_pool)
{
    struct run *r = arg;
    struct sched *s = r->s;
    struct job *j = r->job;
    struct strbuf lb = STRBUF_INIT;
    int state = atomic_load(&r->state);

    pthread_mutex_lock(&s->lock);
    if (j->run == r)
        j->run = NULL;
    if (!r->manual && r->scheduled > j->last_fire)
        j->last_fire = r->scheduled;
    if (r->outcome == OUT_FOREIGN && !r->takeover) {
        /* Another instance has this fire; look again after its lease would lapse. */
        j->foreign_fire = r->scheduled;
        j->foreign_retry_ms = r->fire_lease_until + 1000;
    }
    pthread_mutex_unlock(&s->lock);

    labels_job(&lb, j);
    if (state == RUN_ABANDONED) {
        log_warn("job %s: the run abandoned at its timeout has returned after %.1fs", j->id,
                 (now_ms(s) - atomic_load(&r->started_ms)) / 1000.0);
    } else if (abandoned_by_pool && r->outcome == OUT_RAN) {
        /* Cannot happen: the pool abandons only on our request. */
    } else if (abandoned_by_pool) {
        log_info("job %s: not run, the scheduler is stopping", j->id);
    } else {
        switch (r->outcome) {
        case OUT_RAN: {
            double secs = (r->finished_ms - atomic_load(&r->started_ms)) / 1000.0;
            const char *status = r->rc ? "failed" : "ok";
            if (r->rc)
                log_error("job %s %s in %.3fs (failure streak %" PRId64 "): %s", j->id, status,
                          secs, r->streak, r->message.buf);
            else
                log_info("job %s %s in %.3fs: %s", j->id, status, secs, r->message.buf);
            metrics_observe(s->metrics, "job_duration_seconds", lb.buf, secs);
            metrics_set(s->metrics, "job_failure_streak", lb.buf, (double)r->streak);
            if (!r->rc)
                metrics_set(s->metrics, "job_last_success_timestamp_seconds", lb.buf,
                            (double)(r->finished_ms / 1000));
            strbuf_addf(&lb, ",status=\"%s\"", status);
            metrics_add(s->metrics, "job_runs_total", lb.buf, 1);
            break;
        }
        case OUT_PAUSED:
            log_debug("job %s: paused, fire skipped", j->id);
            break;
        case OUT_FOREIGN:
            log_debug("job %s: the fire is handled by another instance", j->id);
            break;
        case OUT_BUSY:
            log_warn("job %s skipped: running in another process", j->id);
            strbuf_addstr(&lb, ",status=\"skipped\"");
            metrics_add(s->metrics, "job_runs_total", lb.buf, 1);
            break;
        case OUT_DB_DOWN:
            log_error("job %s skipped this cycle: database unavailable: %s", j->id, r->message.buf);
            break;
        }
    }
    strbuf_release(&lb);
    strbuf_release(&r->message);
    free(r);
}

/* Abandon runs past their deadline: record timed_out, give the pool a fresh worker. */
static void check_timeouts(struct sched *s, int64_t now)
{
    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        struct run *r = j->run;
        int expected = RUN_ACTIVE;
        int64_t started;
        if (!r || !(started = atomic_load(&r->started_ms)))
            continue;
        if (now < started + j->timeout * 1000)
            continue;
        if (!atomic_compare_exchange_strong(&r->state, &expected, RUN_ABANDONED))
            continue;
        pool_abandon(s->pool, r->item);
        /* The job stays busy until the abandoned run returns (no overlap), but
         * the fire is recorded now. */
        struct strbuf msg = STRBUF_INIT, err = STRBUF_INIT, lb = STRBUF_INIT;
        struct store *st = timer_store(s);
        strbuf_addf(&msg, "timed out after %" PRId64 "s; the run was abandoned", j->timeout);
        struct job_run row = {
            .id = atomic_load(&r->run_id),
            .job_id = j->id,
            .scheduled = r->scheduled,
            .finished = now,
            .status = JOB_TIMED_OUT,
            .message = msg.buf,
            .details = (char *)"{}",
        };
        int64_t streak = 0;
        if (!st || store_job_run_finish(st, &row, &streak, &err))
            log_error("sched: job '%s': cannot record its timeout: %s", j->id,
                      st ? err.buf : "database unreachable");
        else
            tell_run_end(s, st, j, JOB_TIMED_OUT, streak, msg.buf, r->manual);
        if (st && r->lease_fire[0]) {
            strbuf_reset(&err);
            store_lease_claim(st, r->lease_fire, s->instance, now, now + LEASE_DONE_MS, &err);
        }
        log_error("job %s timed_out after %" PRId64 "s (failure streak %" PRId64 ")", j->id,
                  j->timeout, streak);
        labels_job(&lb, j);
        metrics_set(s->metrics, "job_failure_streak", lb.buf, (double)streak);
        strbuf_addstr(&lb, ",status=\"timed_out\"");
        metrics_add(s->metrics, "job_runs_total", lb.buf, 1);
        strbuf_release(&msg);
        strbuf_release(&err);
        strbuf_release(&lb);
    }
}

/* Count fires in [first, last] (capped). */
static int64_t count_fires(const struct cron_expr *e, int64_t first, int64_t last)
{
    int64_t n = 0;
    for (int64_t t = first; t >= 0 && t <= last && n < MISSED_COUNT_CAP; t = cron_next(e, t))
        n++;
    return n;
}

/*
 * Handle the fires of `j` that are due at `now` (seconds). Normally that is
 * one fire, run at once. When several are due (the process stalled, the
 * machine slept, the daemon was down), the newest is run once if it is
 * within the grace time, and that one run stands for the fires within the
 * grace time before it too (as systemd's Persistent= runs a timer once for
 * all it missed); every older fire is recorded as missed.
 */
static void handle_due(struct sched *s, struct job *j, int64_t now)
{
    int64_t newest, first = j->next_fire;
    if (first < 0 || first > now)
        return;
    newest = cron_prev(&j->cron, now + 1);
    if (newest < first)
        newest = first;
    j->next_fire = cron_next(&j->cron, newest);

    bool run_newest = now - newest <= j->grace;
    int64_t missed_last = run_newest ? cron_prev(&j->cron, newest - j->grace) : newest;
    if (missed_last >= first) {
        int64_t n = count_fires(&j->cron, first, missed_last);
        char a[TIME_BUFSZ], b[TIME_BUFSZ], details[160];
        struct strbuf msg = STRBUF_INIT, lb = STRBUF_INIT;
        time_format_iso8601(first, a);
        time_format_iso8601(missed_last, b);
        strbuf_addf(&msg, "missed %s%" PRId64 " fire%s from %s to %s (scheduler not running)",
                    n >= MISSED_COUNT_CAP ? "at least " : "", n, n == 1 ? "" : "s", a, b);
        snprintf(details, sizeof(details),
                 "{\"missed\": %" PRId64 ", \"first\": \"%s\", \"last\": \"%s\"}", n, a, b);
        log_warn("job %s: %s", j->id, msg.buf);
        pthread_mutex_unlock(&s->lock);
        record_row(s, j, missed_last, JOB_MISSED, msg.buf, details);
        pthread_mutex_lock(&s->lock);
        labels_job(&lb, j);
        metrics_add(s->metrics, "job_missed_fires_total", lb.buf, (double)n);
        strbuf_release(&msg);
        strbuf_release(&lb);
        if (missed_last > j->last_fire)
            j->last_fire = missed_last;
    }
    if (!run_newest)
        return;
    if (j->run) {
        char msg[200];
        int64_t since = atomic_load(&j->run->started_ms);
        if (since)
            snprintf(msg, sizeof(msg), "skipped: the previous run (since %.0fs) is still running",
                     (double)(now * 1000 - since) / 1000.0);
        else
            snprintf(msg, sizeof(msg),
                     "skipped: the previous run is still queued for a free worker");
        log_warn("job %s %s", j->id, msg);
        pthread_mutex_unlock(&s->lock);
        record_row(s, j, newest, JOB_SKIPPED, msg, NULL);
        pthread_mutex_lock(&s->lock);
        if (newest > j->last_fire)
            j->last_fire = newest;
        return;
    }
    submit_run(s, j, newest, false, false);
}

/*
 * A run still "running" well past its job's timeout belongs to a process
 * that died: mark it failed. Each job is judged by its own timeout (a
 * daily job with a timeout of hours must not delay the takeover of a
 * minute job's run), and runs of jobs this process does not know (another
 * daemon's configuration) by the longest timeout it knows.
 */
static void sweep_stale(struct sched *s, struct store *st, int64_t now_ms_)
{
    static const char msg[] = "interrupted: the process running it stopped";
    struct strbuf err = STRBUF_INIT;
    int64_t total = 0, n, max_timeout = 0;

    for (size_t i = 0; i < s->njobs; i++) {
        const struct job *j = &s->jobs[i];
        int64_t before = now_ms_ - (j->timeout * 1000 + 2 * lease_margin_ms(j->timeout));
        if (j->timeout > max_timeout)
            max_timeout = j->timeout;
        n = 0;
        if (!store_job_runs_fail_stale_job(st, j->id, before, msg, now_ms_, &n, &err))
            total += n;
        strbuf_reset(&err);
    }
    n = 0;
    if (!store_job_runs_fail_stale(
            st, now_ms_ - (max_timeout * 1000 + 2 * lease_margin_ms(max_timeout)), msg, &n, &err))
        total += n;
    if (total)
        log_warn("sched: marked %" PRId64 " interrupted run%s of a stopped process as failed",
                 total, total == 1 ? "" : "s");
    strbuf_release(&err);
}

/*
 * A sole daemon's start (sched_config.sole_daemon): every other daemon's
 * lease is a dead process's, so give it up rather than wait for it to
 * lapse, which for a daily job is a day. Fire leases extended as "done"
 * marks stay: they record a fire as handled, not a run under way. Then the
 * runs such daemons left running are failed.
 */
static void take_over_dead(struct sched *s, struct store *st, int64_t now_ms_)
{
    static const char msg[] = "interrupted: its daemon died";
    static const size_t cli_len = sizeof(SCHED_CLI_PREFIX) - 1;
    struct strbuf err = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0, released = 0;
    int64_t failed = 0;

    if (store_lease_list(st, "", now_ms_, &v, &n, &err))
        log_warn("sched: cannot list the leases of dead daemons: %s", err.buf);
    for (size_t i = 0; i < n; i++) {
        const struct lease_info *l = &v[i];
        if (!strcmp(l->holder, s->instance) || !strncmp(l->holder, SCHED_CLI_PREFIX, cli_len) ||
            l->until_ms - now_ms_ > LEASE_DONE_MS / 2)
            continue;
        strbuf_reset(&err);
        if (store_lease_release(st, l->name, l->holder, &err))
            log_warn("sched: cannot give up lease '%s' of dead daemon '%s': %s", l->name, l->holder,
                     err.buf);
        else
            released++;
    }
    lease_infos_free(v, n);
    strbuf_reset(&err);
    if (store_job_runs_fail_others(st, s->instance, SCHED_CLI_PREFIX, msg, now_ms_, &failed, &err))
        log_warn("sched: cannot mark the runs of dead daemons: %s", err.buf);
    if (released || failed)
        log_warn("sched: took over %zu lease%s and failed %" PRId64
                 " interrupted run%s of a daemon that died",
                 released, released == 1 ? "" : "s", failed, failed == 1 ? "" : "s");
    strbuf_release(&err);
}

static void heartbeat(struct sched *s, int64_t t);

/*
 * First tick: beat, load last_fire from the database, take over what dead
 * daemons held (sole daemon only), sweep runs of dead processes. Called
 * without the lock; takes it to set the jobs' fields.
 */
static void initialise(struct sched *s, int64_t now_ms_)
{
    struct store *st = timer_store(s);
    struct strbuf err = STRBUF_INIT;
    int64_t now = now_ms_ / 1000;

    /* Alive before any lease is claimed: a lease's holder always has a heartbeat. */
    heartbeat(s, now_ms_);

    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        /* Zeroed: with no database, store_job_get() never fills it, yet it is released. */
        struct job_state js = {0};
        int64_t last = 0;
        if (st && !store_job_get(st, j->id, &js, &err))
            last = js.last_fire;
        else if (st)
            store_job_ensure(st, j->id, now, &err);
        job_state_release(&js);
        strbuf_reset(&err);
        pthread_mutex_lock(&s->lock);
        /* A job never seen before starts now: history before it is not "missed". */
        j->last_fire = last;
        j->next_fire = cron_next(&j->cron, last > 0 ? last : now - 1);
        if (last <= 0 && j->next_fire <= now)
            j->next_fire = cron_next(&j->cron, now);
        pthread_mutex_unlock(&s->lock);
    }
    if (st && s->sole_daemon)
        take_over_dead(s, st, now_ms_);
    if (st)
        sweep_stale(s, st, now_ms_);
    strbuf_release(&err);
}

static void housekeeping(struct sched *s, int64_t now_ms_)
{
    struct store *st = timer_store(s);
    struct strbuf err = STRBUF_INIT;
    int64_t n = 0;
    s->next_housekeeping_ms = now_ms_ + HOUSEKEEPING_MS;
    if (!st)
        return;
    if (now_ms_ >= s->next_prune_ms) {
        s->next_prune_ms = now_ms_ + PRUNE_MS;
        if (store_job_runs_prune(st, now_ms_ - s->history_keep * 1000, &n, &err))
            log_error("sched: cannot prune job history: %s", err.buf);
        else if (n)
            log_info("sched: pruned %" PRId64 " job runs older than %" PRId64 " days", n,
                     s->history_keep / 86400);
        strbuf_reset(&err);
    }
    sweep_stale(s, st, now_ms_);
    strbuf_release(&err);
}

/*
 * Daemon `dead` stopped beating at `lapsed_ms` (its instance lease lapsed):
 * give up the leases it holds (its "done" marks of handled fires aside),
 * mark the runs it left running failed, then drop its instance lease, last,
 * so that a daemon dying half-way through this leaves the work to the next
 * one that looks. Other daemons may do the same at the same time: each step
 * is idempotent. Returns true when something was taken over.
 */
static bool take_over_instance(struct store *st, const char *dead, int64_t lapsed_ms, int64_t t)
{
    static const char msg[] = "interrupted: its daemon died";
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0, released = 0;
    int64_t failed = 0;

    if (store_lease_list(st, "", t, &v, &n, &err))
        log_warn("sched: cannot list the leases of dead daemon '%s': %s", dead, err.buf);
    strbuf_addf(&name, SCHED_INSTANCE_LEASE "%s", dead);
    for (size_t i = 0; i < n; i++) {
        const struct lease_info *l = &v[i];
        if (strcmp(l->holder, dead) || !strcmp(l->name, name.buf) ||
            l->until_ms - t > LEASE_DONE_MS / 2)
            continue;
        strbuf_reset(&err);
        if (store_lease_release(st, l->name, dead, &err))
            log_warn("sched: cannot give up lease '%s' of dead daemon '%s': %s", l->name, dead,
                     err.buf);
        else
            released++;
    }
    lease_infos_free(v, n);
    strbuf_reset(&err);
    if (store_job_runs_fail_instance(st, dead, msg, t, &failed, &err))
        log_warn("sched: cannot mark the runs of dead daemon '%s': %s", dead, err.buf);
    strbuf_reset(&err);
    if (store_lease_release(st, name.buf, dead, &err))
        log_warn("sched: cannot drop the heartbeat of dead daemon '%s': %s", dead, err.buf);
    log_warn("sched: daemon %s stopped beating %.1fs ago: took over %zu lease%s and failed "
             "%" PRId64 " interrupted run%s of a daemon that died",
             dead, (t - lapsed_ms) / 1000.0, released, released == 1 ? "" : "s", failed,
             failed == 1 ? "" : "s");
    strbuf_release(&err);
    strbuf_release(&name);
    return released || failed;
}

/*
 * Look for daemons whose heartbeat has lapsed (killed, frozen, their host
 * gone) and take over what they held. A fire this daemon found held by one
 * of them is then tried again at once rather than when its lease would
 * have lapsed (for a long job, its whole timeout).
 */
static void take_over_lapsed(struct sched *s, struct store *st, int64_t t)
{
    struct strbuf err = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0;
    bool took = false;

    /* Every instance lease, lapsed ones included (until_ms >= 0). */
    if (store_lease_list(st, SCHED_INSTANCE_LEASE, 0, &v, &n, &err))
        log_warn("sched: cannot list the daemons' heartbeats: %s", err.buf);
    for (size_t i = 0; i < n; i++)
        if (v[i].until_ms < t && strcmp(v[i].holder, s->instance))
            took |= take_over_instance(st, v[i].holder, v[i].until_ms, t);
    lease_infos_free(v, n);
    if (took) {
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->njobs; i++)
            if (s->jobs[i].foreign_fire)
                s->jobs[i].foreign_retry_ms = t;
        pthread_mutex_unlock(&s->lock);
    }
    strbuf_release(&err);
}

/*
 * Tell other processes this instance is alive (see SCHED_INSTANCE_LEASE),
 * then take over from the daemons that are not.
 */
static void heartbeat(struct sched *s, int64_t t)
{
    struct store *st = timer_store(s);
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    s->next_heartbeat_ms = t + HEARTBEAT_MS;
    strbuf_addf(&name, SCHED_INSTANCE_LEASE "%s", s->instance);
    if (st && store_lease_claim(st, name.buf, s->instance, t, t + HEARTBEAT_EXPIRY_MS, &err))
        log_warn("sched: cannot renew the instance heartbeat: %s", err.buf);
    else if (st)
        take_over_lapsed(s, st, t);
    strbuf_release(&err);
    strbuf_release(&name);
}

/*
 * Pauses that have ended: paused_until has passed (a pause for 2 hours,
 * or a resume asked for while a fire had been skipped, sched_job_resume()).
 * The flag is cleared, and a fire skipped during the pause is run once,
 * now, as a manual run: only the newest matters, and the ones before it
 * are not replayed. A lease per pause (its job and end) makes that once
 * across daemons sharing the database; it stays as a "done" mark.
 */
static void end_pauses(struct sched *s, int64_t t)
{
    struct store *st = timer_store(s);
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    struct job_state *v = NULL;
    size_t n = 0;

    s->next_pause_check_ms = t + PAUSE_CHECK_MS;
    if (!st || store_job_list(st, &v, &n, &err)) {
        strbuf_release(&err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct job_state *js = &v[i];
        struct job *j = find_job(s, js->job_id);
        if (!j || !js->paused || js->paused_until <= 0 || js->paused_until * 1000 > t)
            continue;
        strbuf_reset(&name);
        strbuf_addf(&name, "resume:%s:%" PRId64, js->job_id, js->paused_until);
        strbuf_reset(&err);
        if (store_lease_claim(st, name.buf, s->instance, t, t + LEASE_DONE_MS, &err))
            continue; /* another daemon ends it, or the database is away: next time */
        if (store_job_set_paused(st, js->job_id, false, t / 1000, &err)) {
            log_warn("job %s: cannot end its pause: %s", js->job_id, err.buf);
            continue;
        }
        /* A fire after the pause's end ran as any other: nothing was missed then. */
        bool missed = js->last_fire > js->updated_at && js->last_fire < js->paused_until;
        log_info("job %s: pause ended%s", js->job_id,
                 missed ? "; running the fire skipped during it once" : "");
        pthread_mutex_lock(&s->lock);
        if (missed && !j->run && !j->manual_pending) {
            j->manual_pending = true;
            j->pending_trigger = "resume";
        }
        pthread_mutex_unlock(&s->lock);
    }
    job_states_free(v, n);
    strbuf_release(&err);
    strbuf_release(&name);
}

int sched_job_resume(struct store *st, const char *id, int64_t now, bool *out_pending,
                     struct strbuf *err)
{
    struct job_state js;
    int rc = store_job_get(st, id, &js, err);

    *out_pending = false;
    if (rc == CK_ENOTFOUND) {
        strbuf_reset(err);
        return store_job_set_paused(st, id, false, now, err);
    }
    if (rc)
        return rc;
    if (job_state_paused(&js, now) && js.last_fire > js.updated_at) {
        /*
         * End the pause a second from now and let the scheduler's
         * end_pauses() run the skipped fire once; the row keeps the
         * pause's start as its update time, which that check reads.
         */
        struct job_pause p = {
            .paused = true, .until = now + 1, .reason = js.pause_reason, .by = js.paused_by};
        rc = store_job_pause(st, id, &p, js.updated_at, err);
        *out_pending = !rc;
    } else {
        rc = store_job_set_paused(st, id, false, now, err);
    }
    job_state_release(&js);
    return rc;
}

/* A daemon that stops is no longer alive: its instance lease goes with it. */
static void release_instance(struct sched *s)
{
    struct store *st = s->st ? timer_store(s) : NULL;
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    strbuf_addf(&name, SCHED_INSTANCE_LEASE "%s", s->instance);
    if (st && store_lease_release(st, name.buf, s->instance, &err))
        log_warn("sched: cannot give up the instance lease: %s", err.buf);
    strbuf_release(&err);
    strbuf_release(&name);
}

/* One pass of decisions at `now_ms_`. Called with the lock held. */
static void tick_locked(struct sched *s, int64_t t)
{
    int64_t now = t / 1000;

    atomic_store(&s->last_tick_ms, t);
    if (s->manual_only) {
        for (size_t i = 0; i < s->njobs; i++) {
            struct job *j = &s->jobs[i];
            if (j->manual_pending && !j->run) {
                j->manual_pending = false;
                submit_run(s, j, now, true, false);
            }
        }
        return;
    }
    if (!s->initialised) {
        pthread_mutex_unlock(&s->lock);
        initialise(s, t);
        pthread_mutex_lock(&s->lock);
        s->initialised = true;
    }
    if (s->stopping)
        return;
    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        handle_due(s, j, now);
        if (j->manual_pending && !j->run) {
            j->manual_pending = false;
            submit_run(s, j, now, true, false);
        }
        if (j->foreign_fire && t >= j->foreign_retry_ms && !j->run) {
            int64_t fire = j->foreign_fire;
            j->foreign_fire = 0;
            submit_run(s, j, fire, false, true);
        }
    }
    pthread_mutex_unlock(&s->lock);
    check_timeouts(s, t);
    if (t >= s->next_housekeeping_ms)
        housekeeping(s, t);
    if (t >= s->next_heartbeat_ms)
        heartbeat(s, t);
    if (t >= s->next_pause_check_ms)
        end_pauses(s, t);
    pthread_mutex_lock(&s->lock);
}

void sched_tick(struct sched *s, int64_t t)
{
    pool_reap(s->pool);
    pthread_mutex_lock(&s->lock);
    tick_locked(s, t);
    pthread_mutex_unlock(&s->lock);
    pool_reap(s->pool);
}

/* Is a run attached to any job (queued, running, or abandoned and not yet returned)? */
static bool any_run_attached(struct sched *s)
{
    bool busy = false;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->njobs && !busy; i++)
        busy = s->jobs[i].run != NULL;
    pthread_mutex_unlock(&s->lock);
    return busy;
}

void sched_wait_idle(struct sched *s)
{
    /*
     * The pool stops counting a run once it is abandoned, but the run keeps
     * its job busy until it returns and its completion is reaped; waiting
     * for that too means no completion is left to arrive after the caller
     * moves on (or frees the scheduler).
     */
    while (pool_pending(s->pool) || any_run_attached(s)) {
        pool_wait(s->pool, 50);
        pool_reap(s->pool);
    }
}

/* Milliseconds until something is due (bounded by MAX_SLEEP_MS). Lock held. */
static int64_t sleep_ms_locked(struct sched *s, int64_t t)
{
    int64_t wake = t + MAX_SLEEP_MS;
    for (size_t i = 0; i < s->njobs; i++) {
        const struct job *j = &s->jobs[i];
        if (j->next_fire >= 0 && j->next_fire * 1000 < wake)
            wake = j->next_fire * 1000;
        if (j->manual_pending && !j->run)
            wake = t; /* with a run still reaping, its end wakes the timer */
    }
    return wake > t ? wake - t : 0;
}

static void notify_cb(void *arg)
{
    struct sched *s = arg;
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *timer_main(void *arg)
{
    struct sched *s = arg;
    pthread_mutex_lock(&s->lock);
    s->running = true;
    metrics_set(s->metrics, "scheduler_running", NULL, 1);
    while (!s->stopping) {
        int64_t t = now_ms(s), wait;
        struct timespec ts;

        pthread_mutex_unlock(&s->lock);
        pool_reap(s->pool);
        pthread_mutex_lock(&s->lock);
        tick_locked(s, t);
        if (!s->first_tick_done) {
            s->first_tick_done = true;
            pthread_cond_broadcast(&s->started);
        }
        if (s->stopping)
            break;
        wait = sleep_ms_locked(s, now_ms(s));
        if (wait <= 0)
            continue;
        ts = mono_deadline(wait);
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    s->running = false;
    metrics_set(s->metrics, "scheduler_running", NULL, 0);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sched_start_workers(struct sched *s, struct strbuf *err)
{
    int rc;
    if (s->workers_started)
        return 0;
    s->pool = pool_new(s->workers, local_store_free, notify_cb, s);
    rc = pool_start(s->pool, err);
    if (!rc)
        s->workers_started = true;
    return rc;
}

int sched_start(struct sched *s, struct strbuf *err)
{
    int rc = sched_start_workers(s, err);
    if (rc)
        return rc;
    rc = pthread_create(&s->thread, NULL, timer_main, s);
    if (rc) {
        strbuf_addf(err, "sched: cannot start the timer thread: %s", strerror(rc));
        return CK_EIO;
    }
    s->thread_started = true;
    /*
     * Return once the timer loop runs and has ticked once, so that whoever
     * looks next (the API's /health and /jobs, the heartbeat) sees a
     * running scheduler and real next-run times rather than a start still
     * under way. The first tick takes as long as its database calls, which
     * give up after their own timeouts.
     */
    pthread_mutex_lock(&s->lock);
    while (!s->first_tick_done)
        pthread_cond_wait(&s->started, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool sched_is_running(const struct sched *s)
{
    bool r;
    if (!s)
        return false;
    pthread_mutex_lock((pthread_mutex_t *)&s->lock);
    r = s->running && !s->stopping;
    pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
    return r;
}

void sched_stop(struct sched *s, int64_t drain_ms)
{
    int64_t deadline;
    if (!s || !s->workers_started)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    /* Let running jobs finish, up to the drain time; then ask them to stop. */
    deadline = time_mono_ms() + drain_ms;
    while (pool_busy(s->pool) && time_mono_ms() < deadline) {
        pool_wait(s->pool, 50);
        pool_reap(s->pool);
    }
    atomic_store(&s->stop_flag, true);
    if (pool_busy(s->pool)) {
        /* Still running past the drain time: record them as interrupted. */
        struct store *st = timer_store(s);
        struct strbuf err = STRBUF_INIT;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->njobs; i++) {
            struct run *r = s->jobs[i].run;
            int expected = RUN_ACTIVE;
            if (!r || !atomic_load(&r->run_id) ||
                !atomic_compare_exchange_strong(&r->state, &expected, RUN_ABANDONED))
                continue;
            struct job_run row = {
                .id = atomic_load(&r->run_id),
                .job_id = s->jobs[i].id,
                .scheduled = r->scheduled,
                .finished = now_ms(s),
                .status = JOB_FAILED,
                .message = (char *)"interrupted by shutdown",
                .details = (char *)"{}",
            };
            if (st)
                store_job_run_finish(st, &row, NULL, &err);
            log_warn("job %s interrupted by shutdown", s->jobs[i].id);
            pool_abandon(s->pool, r->item);
        }
        pthread_mutex_unlock(&s->lock);
        strbuf_release(&err);
    }
    pool_stop(s->pool);
    pool_reap(s->pool);
    if (!s->manual_only)
        release_instance(s);
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    sched_stop(s, 0);
    pool_free(s->pool);
    store_close(s->st);
    for (size_t i = 0; i < s->njobs; i++) {
        free(s->jobs[i].id);
        free(s->jobs[i].name);
    }
    free(s->jobs);
    free(s->store_url);
    free(s->instance);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->health_lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->started);
    free(s);
}

int sched_run_now_as(struct sched *s, const char *id, const char *trigger, struct strbuf *err)
{
    struct job *j;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    j = find_job(s, id);
    if (!j) {
        strbuf_addf(err, "no job '%s'", id);
        rc = CK_ENOTFOUND;
    } else if (j->manual_pending || (j->run && atomic_load(&j->run->state) != RUN_FINISHED)) {
        /*
         * A run whose outcome is recorded is over for whoever reads the
         * history, though its worker still lets go of its lease: the new
         * run waits for it to be reaped rather than being refused.
         */
        strbuf_addf(err, "job '%s' is already running", id);
        rc = CK_EBUSY;
    } else if (s->stopping) {
        strbuf_addstr(err, "the scheduler is stopping");
        rc = CK_EBUSY;
    } else {
        j->manual_pending = true;
        j->pending_trigger = trigger;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sched_run_now(struct sched *s, const char *id, struct strbuf *err)
{
    return sched_run_now_as(s, id, "manual", err);
}

void sched_health(struct sched *s, struct sched_health *out)
{
    memset(out, 0, sizeof(*out));
    out->running = sched_is_running(s);
    out->last_tick_ms = atomic_load(&s->last_tick_ms);
    pthread_mutex_lock(&s->health_lock);
    out->store_ok = s->store_failures == 0;
    out->store_failures = s->store_failures;
    out->store_down_since_ms = s->store_down_since_ms;
    snprintf(out->store_error, sizeof(out->store_error), "%s", s->store_error);
    pthread_mutex_unlock(&s->health_lock);
}

static void fill_info(const struct job *j, struct sched_job_info *o)
{
    o->id = j->id;
    o->name = j->name;
    o->cron = cron_text(&j->cron);
    o->timeout = j->timeout;
    o->period = j->period;
    o->next_run = j->next_fire;
    o->running = j->run != NULL;
    o->running_since = j->run ? atomic_load(&j->run->started_ms) : 0;
    o->last_fire = j->last_fire;
}

size_t sched_jobs(struct sched *s, struct sched_job_info *out, size_t max)
{
    size_t n;
    pthread_mutex_lock(&s->lock);
    n = s->njobs;
    for (size_t i = 0; i < n && i < max; i++)
        fill_info(&s->jobs[i], &out[i]);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int sched_job(struct sched *s, const char *id, struct sched_job_info *out)
{
    struct job *j;
    pthread_mutex_lock(&s->lock);
    j = find_job(s, id);
    if (j)
        fill_info(j, out);
    pthread_mutex_unlock(&s->lock);
    return j ? 0 : CK_ENOTFOUND;
}
