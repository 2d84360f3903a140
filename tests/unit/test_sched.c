/* SPDX-License-Identifier: MIT */
/*
 * Scheduler semantics on an injected clock: fire times, overlap, timeouts,
 * catch-up and missed fires, pause across restarts, failure streaks,
 * manual runs, one run per fire across instances and takeover of a dead
 * holder's fire, and a database that is not there. Job bodies run on real
 * worker threads against a real store; only time is simulated.
 */
#include "testutil.h"

#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic int64_t fake_ms;
static int64_t fake_now(void *arg)
{
    (void)arg;
    return atomic_load(&fake_ms);
}
/* Sleeping on the fake clock only moves it. */
static void fake_sleep(void *arg, int64_t ms)
{
    (void)arg;
    atomic_fetch_add(&fake_ms, ms);
}
static const struct sched_clock fake_clock = {.now_ms = fake_now, .sleep_ms = fake_sleep};

static char *url;
static unsigned seq;

/* A controllable job body. */
struct body {
    atomic_int calls;
    atomic_int fail;   /* >0: fail this many more times */
    atomic_bool block; /* wait until released */
    atomic_bool inside;
    int64_t last_scheduled;
    bool last_manual;
    const char *last_trigger;
};

static int body_fn(struct job_ctx *ctx, void *arg)
{
    struct body *b = arg;
    atomic_fetch_add(&b->calls, 1);
    b->last_scheduled = ctx->scheduled;
    b->last_manual = ctx->manual;
    b->last_trigger = ctx->trigger;
    atomic_store(&b->inside, true);
    while (atomic_load(&b->block))
        usleep(1000);
    atomic_store(&b->inside, false);
    if (atomic_load(&b->fail) > 0) {
        atomic_fetch_sub(&b->fail, 1);
        strbuf_addstr(&ctx->message, "provider exploded");
        return CK_EUPSTREAM;
    }
    strbuf_addstr(&ctx->message, "fine");
    strbuf_addstr(&ctx->details, "{\"stored\": 4}");
    return 0;
}

static void wait_inside(struct body *b)
{
    for (int i = 0; i < 5000 && !atomic_load(&b->inside); i++)
        usleep(1000);
    assert_true(atomic_load(&b->inside));
}

static char *job_name(const char *what)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "t%ld_%u_%s", (long)getpid(), seq++, what);
    return strbuf_detach(&sb, NULL);
}

static struct sched *new_sched(const char *instance, size_t workers, struct strbuf *err)
{
    struct sched_config cfg = {
        .store_url = url,
        .instance = instance,
        .workers = workers,
        .clock = &fake_clock,
    };
    struct sched *s = sched_new(&cfg, err);
    assert_non_null(s);
    return s;
}

static void add(struct sched *s, const char *id, const char *cron, int64_t timeout, int64_t grace,
                struct body *b)
{
    struct strbuf err = STRBUF_INIT;
    struct sched_job_def def = {.id = id,
                                .name = id,
                                .cron = cron,
                                .timeout = timeout,
                                .grace = grace,
                                .fn = body_fn,
                                .arg = b};
    if (sched_add_job(s, &def, &err))
        fail_msg("add %s: %s", id, err.buf);
    strbuf_release(&err);
}

static void start(struct sched *s)
{
    struct strbuf err = STRBUF_INIT;
    if (sched_start_workers(s, &err))
        fail_msg("start: %s", err.buf);
    strbuf_release(&err);
}

static void tick(struct sched *s, int64_t ms)
{
    atomic_store(&fake_ms, ms);
    sched_tick(s, ms);
}

static struct store *open_store(void)
{
    struct store *st;
    struct strbuf err = STRBUF_INIT;
    if (store_open(&st, url, &err))
        fail_msg("open %s: %s", url, err.buf);
    strbuf_release(&err);
    return st;
}

/* Runs of `id`, oldest first. */
static size_t runs_of(const char *id, struct job_run **out)
{
    struct store *st = open_store();
    struct strbuf err = STRBUF_INIT;
    struct job_run *v;
    size_t n;
    assert_int_equal(store_job_runs_list(st, id, 0, &v, &n, &err), 0);
    for (size_t i = 0; i < n / 2; i++) {
        struct job_run t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
    *out = v;
    store_close(st);
    strbuf_release(&err);
    return n;
}

static int64_t T(const char *iso)
{
    int64_t t;
    assert_int_equal(time_parse(iso, &t), 0);
    return t;
}

static void test_fires_on_time(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("ontime");
    struct job_run *runs;
    (void)state;

    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 2, &err);
    add(s, id, "*/5 * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    tick(s, T("2024-03-13T10:04:59Z") * 1000 + 999);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);

    struct sched_job_info ji;
    assert_int_equal(sched_job(s, id, &ji), 0);
    assert_int_equal(ji.next_run, T("2024-03-13T10:05:00Z"));
    assert_int_equal(ji.period, 300);
    assert_int_equal(ji.timeout, 300);

    tick(s, T("2024-03-13T10:05:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_int_equal(b.last_scheduled, T("2024-03-13T10:05:00Z"));
    assert_int_equal(runs_of(id, &runs), 1);
    assert_int_equal(runs[0].status, JOB_OK);
    assert_int_equal(runs[0].scheduled, T("2024-03-13T10:05:00Z"));
    assert_string_equal(runs[0].message, "fine");
    assert_non_null(strstr(runs[0].details, "\"stored\""));
    assert_string_equal(runs[0].instance, "A");
    assert_true(runs[0].finished >= runs[0].started);
    job_runs_free(runs, 1);

    /* The same time again does not fire again. */
    tick(s, T("2024-03-13T10:05:00Z") * 1000 + 40);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_overlap_is_skipped(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("overlap");
    struct job_run *runs;
    size_t n;
    (void)state;

    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 2, &err);
    add(s, id, "* * * * *", 600, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    atomic_store(&b.block, true);
    tick(s, T("2024-03-13T10:01:00Z") * 1000);
    wait_inside(&b);
    tick(s, T("2024-03-13T10:02:00Z") * 1000); /* still running: skipped */
    atomic_store(&b.block, false);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    n = runs_of(id, &runs);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].status, JOB_OK);
    assert_int_equal(runs[1].status, JOB_SKIPPED);
    assert_int_equal(runs[1].scheduled, T("2024-03-13T10:02:00Z"));
    assert_non_null(strstr(runs[1].message, "still running"));
    job_runs_free(runs, n);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_timeout_abandons_and_keeps_capacity(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body slow = {0}, other = {0};
    char *id = job_name("slow"), *id2 = job_name("other");
    struct job_run *runs;
    size_t n;
    (void)state;

    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err); /* one worker: capacity matters */
    add(s, id, "0 * * * *", 60, 0, &slow);
    /* A short grace: the 10:05 fire the clock jumps over is recorded as
     * missed rather than caught up behind the stuck worker, so the 11:05
     * fire is its only run. */
    add(s, id2, "5 * * * *", 0, 60, &other);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    atomic_store(&slow.block, true);
    tick(s, T("2024-03-13T11:00:00Z") * 1000);
    wait_inside(&slow);
    tick(s, T("2024-03-13T11:00:59Z") * 1000);
    n = runs_of(id, &runs);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].status, JOB_RUNNING);
    job_runs_free(runs, n);

    tick(s, T("2024-03-13T11:01:01Z") * 1000); /* past the 60 s timeout */
    n = runs_of(id, &runs);
    assert_int_equal(runs[0].status, JOB_TIMED_OUT);
    assert_non_null(strstr(runs[0].message, "timed out"));
    job_runs_free(runs, n);

    /* The single worker is stuck, yet another job still runs. */
    tick(s, T("2024-03-13T11:05:00Z") * 1000);
    for (int i = 0; i < 5000 && atomic_load(&other.calls) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&other.calls), 1);

    /* The abandoned run returns: its record stays timed_out. */
    atomic_store(&slow.block, false);
    sched_wait_idle(s);
    n = runs_of(id, &runs);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].status, JOB_TIMED_OUT);
    job_runs_free(runs, n);

    struct store *st = open_store();
    struct job_state js;
    assert_int_equal(store_job_get(st, id, &js, &err), 0);
    assert_int_equal(js.streak, 1); /* a timeout counts as a failure */
    job_state_release(&js);
    store_close(st);
    sched_free(s);
    free(id);
    free(id2);
    strbuf_release(&err);
}

static void test_catch_up_and_missed(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("catchup");
    struct job_run *runs;
    size_t n;
    (void)state;

    /* First life: one run at 10:15. */
    atomic_store(&fake_ms, T("2024-03-13T10:10:00Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "*/15 * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:10:00Z") * 1000);
    tick(s, T("2024-03-13T10:15:00Z") * 1000);
    sched_wait_idle(s);
    sched_free(s);
    assert_int_equal(atomic_load(&b.calls), 1);

    /* Down until 10:40: 10:30 is within one period, so it runs once; nothing is missed. */
    atomic_store(&fake_ms, T("2024-03-13T10:40:00Z") * 1000);
    s = new_sched("A", 1, &err);
    add(s, id, "*/15 * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:40:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 2);
    assert_int_equal(b.last_scheduled, T("2024-03-13T10:30:00Z"));
    sched_free(s);

    /* Down until 12:20: 10:45 .. 11:45 (5 fires) missed, 12:15 caught up once. */
    atomic_store(&fake_ms, T("2024-03-13T12:20:00Z") * 1000);
    s = new_sched("A", 1, &err);
    add(s, id, "*/15 * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T12:20:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 3);
    assert_int_equal(b.last_scheduled, T("2024-03-13T12:15:00Z"));
    n = runs_of(id, &runs);
    assert_int_equal(n, 4);
    assert_int_equal(runs[2].status, JOB_MISSED);
    assert_non_null(strstr(runs[2].message, "missed 5 fires from 2024-03-13T10:45:00Z to "
                                            "2024-03-13T11:45:00Z"));
    assert_non_null(strstr(runs[2].details, "\"missed\": 5"));
    assert_int_equal(runs[3].status, JOB_OK);
    job_runs_free(runs, n);
    sched_free(s);

    /* With a short grace, a late newest fire is missed too, never run. */
    atomic_store(&fake_ms, T("2024-03-13T12:40:00Z") * 1000);
    s = new_sched("A", 1, &err);
    add(s, id, "*/15 * * * *", 0, 60, &b);
    start(s);
    tick(s, T("2024-03-13T12:40:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 3);
    n = runs_of(id, &runs);
    assert_int_equal(runs[n - 1].status, JOB_MISSED);
    assert_non_null(strstr(runs[n - 1].message, "missed 1 fire from 2024-03-13T12:30:00Z"));
    job_runs_free(runs, n);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_new_job_does_not_replay_history(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("fresh");
    struct job_run *runs;
    (void)state;
    atomic_store(&fake_ms, T("2024-03-13T10:07:00Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "*/5 * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:07:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);
    assert_int_equal(runs_of(id, &runs), 0);
    job_runs_free(runs, 0);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_pause_survives_restart(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("pause");
    struct store *st = open_store();
    struct job_run *runs;
    (void)state;

    assert_int_equal(store_job_set_paused(st, id, true, 0, &err), 0);
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "* * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    tick(s, T("2024-03-13T10:01:00Z") * 1000);
    sched_wait_idle(s);
    sched_free(s);
    assert_int_equal(atomic_load(&b.calls), 0);

    /* A new process: still paused. */
    atomic_store(&fake_ms, T("2024-03-13T10:01:30Z") * 1000);
    s = new_sched("B", 1, &err);
    add(s, id, "* * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:01:30Z") * 1000);
    tick(s, T("2024-03-13T10:02:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);
    assert_int_equal(runs_of(id, &runs), 0);
    job_runs_free(runs, 0);

    /* Resumed (as the CLI would, through the database): runs at the next fire. */
    assert_int_equal(store_job_set_paused(st, id, false, 0, &err), 0);
    tick(s, T("2024-03-13T10:03:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    sched_free(s);
    store_close(st);
    free(id);
    strbuf_release(&err);
}

/*
 * A pause with an end: the fires during it are skipped; once it has ended
 * the flag is cleared and the job runs once for all the skipped fires,
 * once across two schedulers sharing the database; then on schedule.
 */
static void test_pause_ends_by_itself_and_runs_once(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("pause_until");
    struct store *st = open_store();
    struct job_state js;
    struct job_run *runs;
    struct job_pause p = {
        .paused = true, .until = T("2024-03-13T10:02:30Z"), .reason = "upgrade", .by = "test"};
    (void)state;

    assert_int_equal(store_job_pause(st, id, &p, T("2024-03-13T10:00:10Z"), &err), 0);
    assert_int_equal(store_job_get(st, id, &js, &err), 0);
    assert_true(job_state_paused(&js, T("2024-03-13T10:02:29Z")));
    assert_false(job_state_paused(&js, T("2024-03-13T10:02:30Z")));
    assert_string_equal(js.pause_reason, "upgrade");
    assert_string_equal(js.paused_by, "test");
    job_state_release(&js);
    /* A pause that would already be over is refused. */
    p.until = T("2024-03-13T10:00:00Z");
    assert_int_equal(store_job_pause(st, id, &p, T("2024-03-13T10:00:10Z"), &err), CK_EINVAL);
    strbuf_reset(&err);

    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *a = new_sched("A", 1, &err), *bs = new_sched("B", 1, &err);
    add(a, id, "* * * * *", 0, 0, &b);
    add(bs, id, "* * * * *", 0, 0, &b);
    start(a);
    start(bs);
    static const char *const during[] = {"2024-03-13T10:00:30Z", "2024-03-13T10:01:00Z",
                                         "2024-03-13T10:02:00Z"};
    for (size_t i = 0; i < ARRAY_SIZE(during); i++) {
        tick(a, T(during[i]) * 1000);
        tick(bs, T(during[i]) * 1000);
        sched_wait_idle(a);
        sched_wait_idle(bs);
    }
    assert_int_equal(atomic_load(&b.calls), 0);
    /* The end passes: one of the two ends it and runs the job once. */
    static const char *const after[] = {"2024-03-13T10:02:40Z", "2024-03-13T10:02:41Z",
                                        "2024-03-13T10:02:50Z"};
    for (size_t i = 0; i < ARRAY_SIZE(after); i++) {
        tick(a, T(after[i]) * 1000);
        tick(bs, T(after[i]) * 1000);
        sched_wait_idle(a);
        sched_wait_idle(bs);
    }
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_true(b.last_manual);
    assert_string_equal(b.last_trigger, "resume");
    assert_int_equal(store_job_get(st, id, &js, &err), 0);
    assert_false(js.paused);
    assert_int_equal(js.paused_until, 0);
    assert_string_equal(js.pause_reason, "");
    job_state_release(&js);
    /* Then on schedule, once per fire. */
    tick(a, T("2024-03-13T10:03:00Z") * 1000);
    tick(bs, T("2024-03-13T10:03:00Z") * 1000);
    sched_wait_idle(a);
    sched_wait_idle(bs);
    assert_int_equal(atomic_load(&b.calls), 2);
    assert_int_equal(runs_of(id, &runs), 2);
    job_runs_free(runs, 2);
    sched_free(a);
    sched_free(bs);
    store_close(st);
    free(id);
    strbuf_release(&err);
}

/* Resuming runs a fire skipped during the pause once; with none skipped, nothing extra. */
static void test_resume_runs_a_skipped_fire_once(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("resume");
    struct store *st = open_store();
    bool pending = true;
    (void)state;

    assert_int_equal(store_job_set_paused(st, id, true, T("2024-03-13T10:00:10Z"), &err), 0);
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "* * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    tick(s, T("2024-03-13T10:01:00Z") * 1000);
    tick(s, T("2024-03-13T10:01:01Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);

    assert_int_equal(sched_job_resume(st, id, T("2024-03-13T10:01:20Z"), &pending, &err), 0);
    assert_true(pending);
    tick(s, T("2024-03-13T10:01:25Z") * 1000);
    tick(s, T("2024-03-13T10:01:26Z") * 1000);
    sched_wait_idle(s);
    tick(s, T("2024-03-13T10:01:31Z") * 1000);
    tick(s, T("2024-03-13T10:01:32Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);

    /* Paused and resumed between two fires: nothing was skipped, nothing extra runs. */
    assert_int_equal(store_job_set_paused(st, id, true, T("2024-03-13T10:01:35Z"), &err), 0);
    assert_int_equal(sched_job_resume(st, id, T("2024-03-13T10:01:40Z"), &pending, &err), 0);
    assert_false(pending);
    tick(s, T("2024-03-13T10:01:45Z") * 1000);
    tick(s, T("2024-03-13T10:01:50Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    tick(s, T("2024-03-13T10:02:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 2);
    sched_free(s);
    store_close(st);
    free(id);
    strbuf_release(&err);
}

static void test_failure_streak(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("streak");
    struct store *st = open_store();
    struct job_state js;
    (void)state;

    atomic_store(&b.fail, 3);
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "* * * * *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    for (int m = 1; m <= 3; m++) {
        tick(s, (T("2024-03-13T10:00:00Z") + m * 60) * 1000);
        sched_wait_idle(s);
        assert_int_equal(store_job_get(st, id, &js, &err), 0);
        assert_int_equal(js.streak, m);
        job_state_release(&js);
    }
    tick(s, T("2024-03-13T10:04:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(store_job_get(st, id, &js, &err), 0);
    assert_int_equal(js.streak, 0);
    assert_int_equal(js.last_fire, T("2024-03-13T10:04:00Z"));
    job_state_release(&js);

    struct job_run *runs;
    size_t n = runs_of(id, &runs);
    assert_int_equal(n, 4);
    assert_int_equal(runs[0].status, JOB_FAILED);
    assert_string_equal(runs[0].message, "provider exploded");
    assert_int_equal(runs[3].status, JOB_OK);
    job_runs_free(runs, n);
    sched_free(s);
    store_close(st);
    free(id);
    strbuf_release(&err);
}

/* What the on_run_end hook heard. */
struct ends {
    pthread_mutex_t lock;
    size_t n;
    struct {
        char job_id[64];
        enum job_status status;
        int64_t streak;
        char message[128];
        bool manual;
        bool had_store;
    } v[16];
};

static void on_end(void *arg, struct store *st, const struct sched_run_end *e)
{
    struct ends *x = arg;
    pthread_mutex_lock(&x->lock);
    if (x->n < 16) {
        snprintf(x->v[x->n].job_id, sizeof(x->v[x->n].job_id), "%s", e->job_id);
        x->v[x->n].status = e->status;
        x->v[x->n].streak = e->streak;
        snprintf(x->v[x->n].message, sizeof(x->v[x->n].message), "%s", e->message);
        x->v[x->n].manual = e->manual;
        x->v[x->n].had_store = st != NULL;
        x->n++;
    }
    pthread_mutex_unlock(&x->lock);
}

/*
 * The completion hook hears every recorded outcome with the streak after
 * it: failures counting up, the reset on success, a timeout from the timer
 * thread; a skipped fire is not an outcome.
 */
static void test_run_end_hook(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0}, slow = {0};
    struct ends ends = {.lock = PTHREAD_MUTEX_INITIALIZER};
    char *id = job_name("hook"), *id2 = job_name("hookslow");
    (void)state;

    atomic_store(&b.fail, 2);
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched_config cfg = {.store_url = url,
                               .instance = "A",
                               .workers = 2,
                               .clock = &fake_clock,
                               .on_run_end = on_end,
                               .on_run_end_arg = &ends};
    struct sched *s = sched_new(&cfg, &err);
    assert_non_null(s);
    add(s, id, "* * * * *", 0, 0, &b);
    add(s, id2, "0 * * * *", 60, 0, &slow);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    for (int m = 1; m <= 3; m++) {
        tick(s, (T("2024-03-13T10:00:00Z") + m * 60) * 1000);
        sched_wait_idle(s);
    }
    assert_int_equal(ends.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(ends.v[i].job_id, id);
        assert_true(ends.v[i].had_store);
        assert_false(ends.v[i].manual);
    }
    assert_int_equal(ends.v[0].status, JOB_FAILED);
    assert_int_equal(ends.v[0].streak, 1);
    assert_string_equal(ends.v[0].message, "provider exploded");
    assert_int_equal(ends.v[1].status, JOB_FAILED);
    assert_int_equal(ends.v[1].streak, 2);
    assert_int_equal(ends.v[2].status, JOB_OK);
    assert_int_equal(ends.v[2].streak, 0);
    assert_string_equal(ends.v[2].message, "fine");

    /* A manual run says so. */
    assert_int_equal(sched_run_now(s, id, &err), 0);
    tick(s, T("2024-03-13T10:03:10Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(ends.n, 4);
    assert_true(ends.v[3].manual);

    /* A run abandoned at its timeout is told from the timer thread, once. */
    atomic_store(&slow.block, true);
    tick(s, T("2024-03-13T11:00:00Z") * 1000);
    wait_inside(&slow);
    tick(s, T("2024-03-13T11:01:01Z") * 1000);
    pthread_mutex_lock(&ends.lock);
    size_t k = ends.n;
    bool found = false;
    for (size_t i = 4; i < k; i++) {
        if (strcmp(ends.v[i].job_id, id2))
            continue;
        assert_false(found);
        found = true;
        assert_int_equal(ends.v[i].status, JOB_TIMED_OUT);
        assert_int_equal(ends.v[i].streak, 1);
        assert_non_null(strstr(ends.v[i].message, "timed out after 60s"));
    }
    pthread_mutex_unlock(&ends.lock);
    assert_true(found);
    atomic_store(&slow.block, false);
    sched_wait_idle(s);
    /* The abandoned run's return is not a second outcome. */
    size_t slow_ends = 0;
    for (size_t i = 0; i < ends.n; i++)
        slow_ends += !strcmp(ends.v[i].job_id, id2);
    assert_int_equal(slow_ends, 1);
    sched_free(s);
    free(id);
    free(id2);
    strbuf_release(&err);
}

/* A daemon that stops says so: its instance lease is given up, not left to lapse. */
static void test_stop_releases_the_instance_lease(void **state)
{
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    struct body b = {0};
    char *inst = job_name("inst");
    struct store *st = open_store();
    struct lease_info *v;
    size_t n;
    (void)state;

    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched(inst, 1, &err);
    add(s, "leasejob", "0 0 1 1 *", 0, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    strbuf_addf(&name, SCHED_INSTANCE_LEASE "%s", inst);
    assert_int_equal(store_lease_list(st, name.buf, T("2024-03-13T10:00:30Z") * 1000, &v, &n, &err),
                     0);
    assert_int_equal(n, 1);
    lease_infos_free(v, n);
    sched_free(s);
    assert_int_equal(store_lease_list(st, name.buf, T("2024-03-13T10:00:30Z") * 1000, &v, &n, &err),
                     0);
    assert_int_equal(n, 0);
    lease_infos_free(v, n);
    store_close(st);
    free(inst);
    strbuf_release(&name);
    strbuf_release(&err);
}

static void test_manual_run(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("manual");
    (void)state;
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "0 0 1 1 *", 0, 0, &b);
    start(s);
    assert_int_equal(sched_run_now(s, "nope", &err), CK_ENOTFOUND);
    atomic_store(&b.block, true);
    assert_int_equal(sched_run_now(s, id, &err), 0);
    tick(s, T("2024-03-13T10:00:31Z") * 1000);
    wait_inside(&b);
    strbuf_reset(&err);
    assert_int_equal(sched_run_now(s, id, &err), CK_EBUSY);
    assert_non_null(strstr(err.buf, "already running"));
    atomic_store(&b.block, false);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_true(b.last_manual);
    assert_string_equal(b.last_trigger, "manual");
    /* A run asked for as an emergency says so. */
    assert_int_equal(sched_run_now_as(s, id, "emergency", &err), 0);
    tick(s, atomic_load(&fake_ms) + 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 2);
    assert_string_equal(b.last_trigger, "emergency");
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_one_run_per_fire_across_instances(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body a = {0}, b = {0};
    char *id = job_name("shared");
    struct job_run *runs;
    size_t n;
    (void)state;
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *sa = new_sched("A", 1, &err), *sb = new_sched("B", 1, &err);
    add(sa, id, "* * * * *", 0, 0, &a);
    add(sb, id, "* * * * *", 0, 0, &b);
    start(sa);
    start(sb);
    tick(sa, T("2024-03-13T10:00:30Z") * 1000);
    tick(sb, T("2024-03-13T10:00:30Z") * 1000);
    for (int m = 1; m <= 5; m++) {
        int64_t t = (T("2024-03-13T10:00:00Z") + m * 60) * 1000;
        atomic_store(&fake_ms, t);
        sched_tick(sa, t);
        sched_tick(sb, t);
        sched_wait_idle(sa);
        sched_wait_idle(sb);
    }
    assert_int_equal(atomic_load(&a.calls) + atomic_load(&b.calls), 5);
    n = runs_of(id, &runs);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(runs[i].status, JOB_OK);
        assert_int_equal(runs[i].scheduled, T("2024-03-13T10:00:00Z") + (int64_t)(i + 1) * 60);
    }
    job_runs_free(runs, n);
    sched_free(sa);
    sched_free(sb);
    free(id);
    strbuf_release(&err);
}

static void test_takeover_of_a_dead_holder(void **state)
{
    struct strbuf err = STRBUF_INIT, lease = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("takeover");
    struct store *st = open_store();
    int64_t fire = T("2024-03-13T10:01:00Z");
    (void)state;

    /* A holder that will die: it claimed the fire until 10:01:40. */
    strbuf_addf(&lease, "fire:%s:%lld", id, (long long)fire);
    assert_int_equal(
        store_lease_claim(st, lease.buf, "dead", fire * 1000, (fire + 40) * 1000, &err), 0);
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("B", 1, &err);
    add(s, id, "1 10 * * *", 60, 0, &b);
    start(s);
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    tick(s, fire * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0); /* held by someone else */
    tick(s, (fire + 30) * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);
    /* The holder's lease lapses (this instance looks again after a lease's
     * lifetime: timeout 60 s + margin): it takes the fire over. */
    tick(s, (fire + 95) * 1000);
    sched_wait_idle(s);
    tick(s, (fire + 96) * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_int_equal(b.last_scheduled, fire);
    sched_free(s);
    store_close(st);
    strbuf_release(&lease);
    free(id);
    strbuf_release(&err);
}

/* The holder of lease `name` valid at `at_ms`, or "" (freed by the caller). */
static char *holder_of(struct store *st, const char *name, int64_t at_ms)
{
    struct strbuf err = STRBUF_INIT;
    struct lease_info *v;
    size_t n;
    char *h = NULL;
    assert_int_equal(store_lease_list(st, name, at_ms, &v, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            h = xstrdup(v[i].holder);
    lease_infos_free(v, n);
    strbuf_release(&err);
    return h ? h : xstrdup("");
}

/*
 * A daemon killed mid-run left its "run:J" lease (valid for the job's
 * timeout) and its run row running. A sole daemon (the one an SQLite file
 * allows) takes both over at its start: a manual run right away runs, and
 * the dead run is failed. A leased `jobs run` process and a "done" mark are
 * left alone. Without sole_daemon (a shared database) the lease holds as
 * before and the manual run is skipped.
 */
static void test_sole_daemon_takes_over_a_dead_daemon(void **state)
{
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    struct body b = {0}, c = {0};
    char *id, *shared, *h;
    struct store *st;
    struct job_run *runs;
    size_t n;
    int64_t now = T("2024-03-14T10:00:00Z") * 1000, day = 86400 * 1000LL;
    (void)state;

    if (strcmp(store_url_backend(url), "sqlite")) {
        skip(); /* one daemon per database is SQLite's rule only */
        return;
    }
    id = job_name("sole");
    shared = job_name("shared_db");
    st = open_store();
    for (int k = 0; k < 2; k++) {
        const char *job = k ? shared : id;
        struct job_run r = {.job_id = (char *)job,
                            .instance = (char *)"dead",
                            .scheduled = now / 1000 - 10,
                            .started = now - 10000,
                            .status = JOB_RUNNING,
                            .message = (char *)"",
                            .details = (char *)"{}"};
        strbuf_reset(&name);
        strbuf_addf(&name, "run:%s", job);
        assert_int_equal(store_lease_claim(st, name.buf, "dead", now - 10000, now + day, &err), 0);
        assert_int_equal(store_job_run_insert(st, &r, &err), 0);
    }
    strbuf_reset(&name);
    strbuf_addf(&name, "fire:%s:1", id);
    assert_int_equal(store_lease_claim(st, name.buf, "dead", now - 10000, now + 3650 * day, &err),
                     0);
    strbuf_reset(&name);
    strbuf_addf(&name, "run:%s_cli", id);
    assert_int_equal(
        store_lease_claim(st, name.buf, SCHED_CLI_PREFIX "h:1:ab", now - 10000, now + day, &err),
        0);

    /* A scheduler that shares its database waits for the lease. */
    atomic_store(&fake_ms, now);
    struct sched_config cfg = {
        .store_url = url,
        .instance = "D",
        .workers = 1,
        .clock = &fake_clock,
    };
    struct sched *s = sched_new(&cfg, &err);
    assert_non_null(s);
    add(s, shared, "0 0 1 1 *", 3600, 0, &c);
    start(s);
    tick(s, now);
    assert_int_equal(sched_run_now(s, shared, &err), 0);
    tick(s, now + 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&c.calls), 0);
    n = runs_of(shared, &runs);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].status, JOB_RUNNING);
    assert_int_equal(runs[1].status, JOB_SKIPPED);
    job_runs_free(runs, n);
    sched_free(s);

    /* The one daemon on the file takes over. */
    cfg.instance = "C";
    cfg.sole_daemon = true;
    s = sched_new(&cfg, &err);
    assert_non_null(s);
    add(s, id, "0 0 1 1 *", 3600, 0, &b);
    start(s);
    tick(s, now + 2000);
    assert_int_equal(sched_run_now(s, id, &err), 0);
    tick(s, now + 3000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    n = runs_of(id, &runs);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].status, JOB_FAILED);
    assert_string_equal(runs[0].message, "interrupted: its daemon died");
    assert_int_equal(runs[0].finished, now + 2000);
    assert_int_equal(runs[1].status, JOB_OK);
    job_runs_free(runs, n);
    h = holder_of(st, name.buf, now + 3000);
    assert_string_equal(h, SCHED_CLI_PREFIX "h:1:ab");
    free(h);
    strbuf_reset(&name);
    strbuf_addf(&name, "fire:%s:1", id);
    h = holder_of(st, name.buf, now + 3000);
    assert_string_equal(h, "dead");
    free(h);
    sched_free(s);

    store_close(st);
    strbuf_release(&name);
    free(id);
    free(shared);
    strbuf_release(&err);
}

/*
 * A daemon killed mid-run on a shared database: it held a fire's lease and
 * the job's run lease (both for the job's hour-long timeout), left its run
 * running, and its heartbeat ("instance:dead") lapses 4 s after the fire.
 * Another daemon, at its first heartbeat after that, frees what the dead
 * one held (its "done" mark of an older fire aside), fails its run
 * "interrupted: its daemon died", drops its heartbeat, and runs the fire
 * itself at once rather than an hour later. A daemon whose heartbeat is
 * current keeps its leases.
 */
static void test_lapsed_heartbeat_is_taken_over(void **state)
{
    struct strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    struct body b = {0};
    char *id = job_name("lapsed"), *h;
    struct store *st = open_store();
    struct job_run *runs;
    size_t n;
    int64_t fire = T("2024-03-15T10:01:00Z"), f = fire * 1000, hour = 3600 * 1000LL;
    struct job_run r = {.job_id = id,
                        .instance = (char *)"dead",
                        .scheduled = fire,
                        .started = f,
                        .status = JOB_RUNNING,
                        .message = (char *)"",
                        .details = (char *)"{}"};
    (void)state;

    assert_int_equal(
        store_lease_claim(st, SCHED_INSTANCE_LEASE "dead", "dead", f - 5000, f + 4000, &err), 0);
    assert_int_equal(
        store_lease_claim(st, SCHED_INSTANCE_LEASE "live", "live", f - 5000, f + 24 * hour, &err),
        0);
    strbuf_addf(&name, "fire:%s:%lld", id, (long long)fire);
    assert_int_equal(store_lease_claim(st, name.buf, "dead", f, f + hour + 30000, &err), 0);
    strbuf_reset(&name);
    strbuf_addf(&name, "fire:%s:1", id);
    assert_int_equal(store_lease_claim(st, name.buf, "dead", f, f + 3650 * 24 * hour, &err), 0);
    strbuf_reset(&name);
    strbuf_addf(&name, "run:%s_live", id);
    assert_int_equal(store_lease_claim(st, name.buf, "live", f, f + hour, &err), 0);
    strbuf_reset(&name);
    strbuf_addf(&name, "run:%s", id);
    assert_int_equal(store_lease_claim(st, name.buf, "dead", f, f + hour + 5000, &err), 0);
    assert_int_equal(store_job_run_insert(st, &r, &err), 0);

    atomic_store(&fake_ms, f - 30000);
    struct sched *s = new_sched("B", 1, &err);
    add(s, id, "1 10 * * *", 3600, 0, &b);
    start(s);
    tick(s, f - 30000);
    tick(s, f);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0); /* held, and its holder still beats */
    tick(s, f + 3000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0);
    /* The heartbeat lapsed at f + 4 s; this daemon's next one sees it. */
    tick(s, f + 6000);
    sched_wait_idle(s);
    tick(s, f + 6100);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_int_equal(b.last_scheduled, fire);
    n = runs_of(id, &runs);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].instance, "dead");
    assert_int_equal(runs[0].status, JOB_FAILED);
    assert_string_equal(runs[0].message, "interrupted: its daemon died");
    assert_int_equal(runs[0].finished, f + 6000);
    assert_string_equal(runs[1].instance, "B");
    assert_int_equal(runs[1].status, JOB_OK);
    assert_int_equal(runs[1].scheduled, fire);
    job_runs_free(runs, n);

    h = holder_of(st, SCHED_INSTANCE_LEASE "dead", 0);
    assert_string_equal(h, ""); /* its heartbeat is gone */
    free(h);
    strbuf_reset(&name);
    strbuf_addf(&name, "fire:%s:1", id);
    h = holder_of(st, name.buf, f + 7000);
    assert_string_equal(h, "dead"); /* a "done" mark stays */
    free(h);
    strbuf_reset(&name);
    strbuf_addf(&name, "run:%s_live", id);
    h = holder_of(st, name.buf, f + 7000);
    assert_string_equal(h, "live");
    free(h);
    sched_free(s);
    store_close(st);
    strbuf_release(&name);
    free(id);
    strbuf_release(&err);
}

static void test_database_away(void **state)
{
    struct strbuf err = STRBUF_INIT, bad = STRBUF_INIT;
    struct body b = {0};
    (void)state;
    if (strncmp(url, "sqlite:", 7))
        skip();
    strbuf_addf(&bad, "sqlite:%s/not-yet/x.db", test_tmpdir());
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched_config cfg = {
        .store_url = bad.buf, .instance = "A", .workers = 1, .clock = &fake_clock};
    struct sched *s = sched_new(&cfg, &err);
    add(s, "dbjob", "* * * * *", 0, 0, &b);
    start(s);
    struct sched_health h;
    sched_health(s, &h);
    assert_true(h.store_ok); /* nothing tried yet */
    tick(s, T("2024-03-13T10:00:30Z") * 1000);
    tick(s, T("2024-03-13T10:01:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 0); /* skipped its cycle, no crash */
    sched_health(s, &h);
    assert_false(h.store_ok);
    assert_true(h.store_failures >= 1);
    assert_int_equal(h.store_down_since_ms, T("2024-03-13T10:00:30Z") * 1000);
    assert_true(h.store_error[0] != '\0');
    assert_int_equal(h.last_tick_ms, T("2024-03-13T10:01:00Z") * 1000);

    /* The database comes back: the next fire runs. */
    struct strbuf dir = STRBUF_INIT;
    strbuf_addf(&dir, "%s/not-yet", test_tmpdir());
    assert_int_equal(mkdir(dir.buf, 0700), 0);
    tick(s, T("2024-03-13T10:02:00Z") * 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    tick(s, T("2024-03-13T10:02:20Z") * 1000); /* the next instance heartbeat reaches it */
    sched_health(s, &h);
    assert_true(h.store_ok);
    assert_int_equal(h.store_failures, 0);
    assert_int_equal(h.store_down_since_ms, 0);
    sched_free(s);
    strbuf_release(&dir);
    strbuf_release(&bad);
    strbuf_release(&err);
}

/*
 * sched_start() returns with the timer loop running and every job's next
 * fire computed, so /health and /jobs asked at once need not wait for it.
 * Several rounds: a start that only usually wins the race fails one.
 */
static void test_start_returns_running(void **state)
{
    (void)state;
    for (int round = 0; round < 10; round++) {
        struct strbuf err = STRBUF_INIT;
        struct body b = {0};
        char *minutely = job_name("minutely"), *yearly = job_name("yearly");
        struct sched_job_info info[2];
        struct sched_health h;

        atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
        struct sched *s = new_sched("A", 1, &err);
        add(s, minutely, "* * * * *", 0, 0, &b);
        add(s, yearly, "0 0 1 1 *", 0, 0, &b);
        if (sched_start(s, &err))
            fail_msg("start: %s", err.buf);
        assert_true(sched_is_running(s));
        sched_health(s, &h);
        assert_true(h.running);
        assert_int_equal(h.last_tick_ms, T("2024-03-13T10:00:30Z") * 1000);
        assert_int_equal(sched_jobs(s, info, 2), 2);
        assert_string_equal(info[0].id, minutely);
        assert_int_equal(info[0].next_run, T("2024-03-13T10:01:00Z"));
        assert_string_equal(info[1].id, yearly);
        assert_int_equal(info[1].next_run, T("2025-01-01T00:00:00Z"));
        sched_free(s);
        assert_int_equal(atomic_load(&b.calls), 0);
        free(minutely);
        free(yearly);
        strbuf_release(&err);
    }
}

/* A body that sleeps through the scheduler's clock. */
struct sleeper {
    int64_t start_ms, after_first_ms;
    bool first, second;
};

static int sleeper_fn(struct job_ctx *ctx, void *arg)
{
    struct sleeper *sl = arg;
    sl->start_ms = job_now_ms(ctx);
    sl->first = job_sleep(ctx, 5000);
    sl->after_first_ms = job_now_ms(ctx);
    /* Past the deadline: the sleep ends early and says stop. */
    sl->second = job_sleep(ctx, 3600 * 1000);
    return 0;
}

static void test_job_sleep(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct sleeper sl = {0};
    char *id = job_name("sleeper");
    (void)state;
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    struct sched_job_def def = {
        .id = id, .name = id, .cron = "0 0 1 1 *", .timeout = 60, .fn = sleeper_fn, .arg = &sl};
    if (sched_add_job(s, &def, &err))
        fail_msg("add: %s", err.buf);
    start(s);
    assert_int_equal(sched_run_now(s, id, &err), 0);
    sched_tick(s, atomic_load(&fake_ms));
    sched_wait_idle(s);
    assert_int_equal(sl.start_ms, T("2024-03-13T10:00:30Z") * 1000);
    assert_true(sl.first);
    assert_int_equal(sl.after_first_ms - sl.start_ms, 5000);
    assert_false(sl.second);
    /* It stopped at the deadline (one timeout after the start), not an hour later. */
    assert_true(atomic_load(&fake_ms) - sl.start_ms <= 60 * 1000 + 200);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

/*
 * SQLite locked by another process past the busy timeout answers a lease
 * claim with CK_EBUSY, as a lease held elsewhere does. The run is then not
 * attempted because the database is unavailable, not skipped as "running
 * in another process" (which would even write a skipped row once the lock
 * went).
 */
/* Give the lock back after the claim gave up (5 s), while a wrong "skipped" row would wait. */
static void *unlock_later(void *arg)
{
    usleep(6500 * 1000);
    sqlite3_exec(arg, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

static void test_locked_database_is_not_a_busy_lease(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs;
    struct body b = {0};
    sqlite3 *db = NULL;
    pthread_t th;
    char *id;
    (void)state;
    if (strncmp(url, "sqlite:", 7))
        skip();
    id = job_name("locked");
    atomic_store(&fake_ms, T("2024-03-13T10:00:30Z") * 1000);
    struct sched *s = new_sched("A", 1, &err);
    add(s, id, "0 0 1 1 *", 0, 0, &b);
    start(s);
    tick(s, atomic_load(&fake_ms)); /* first tick: job rows, sweep */
    assert_int_equal(sqlite3_open(url + 7, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pthread_create(&th, NULL, unlock_later, db), 0);
    assert_int_equal(sched_run_now(s, id, &err), 0);
    tick(s, atomic_load(&fake_ms));
    sched_wait_idle(s);
    pthread_join(th, NULL);
    sqlite3_close(db);
    assert_int_equal(atomic_load(&b.calls), 0);
    assert_int_equal(runs_of(id, &runs), 0); /* no "skipped" row */
    job_runs_free(runs, 0);
    /* The database is back: the next request runs. */
    assert_int_equal(sched_run_now(s, id, &err), 0);
    tick(s, atomic_load(&fake_ms) + 1000);
    sched_wait_idle(s);
    assert_int_equal(atomic_load(&b.calls), 1);
    assert_int_equal(runs_of(id, &runs), 1);
    assert_int_equal(runs[0].status, JOB_OK);
    job_runs_free(runs, 1);
    sched_free(s);
    free(id);
    strbuf_release(&err);
}

static void test_bad_cron_and_duplicates(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct body b = {0};
    (void)state;
    struct sched *s = new_sched("A", 1, &err);
    struct sched_job_def def = {.id = "x", .cron = "61 * * * *", .fn = body_fn, .arg = &b};
    assert_int_equal(sched_add_job(s, &def, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "61"));
    def.cron = "* * * * *";
    assert_int_equal(sched_add_job(s, &def, &err), 0);
    strbuf_reset(&err);
    assert_int_equal(sched_add_job(s, &def, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "twice"));
    sched_free(s);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_on_time),
        cmocka_unit_test(test_overlap_is_skipped),
        cmocka_unit_test(test_timeout_abandons_and_keeps_capacity),
        cmocka_unit_test(test_catch_up_and_missed),
        cmocka_unit_test(test_new_job_does_not_replay_history),
        cmocka_unit_test(test_pause_survives_restart),
        cmocka_unit_test(test_pause_ends_by_itself_and_runs_once),
        cmocka_unit_test(test_resume_runs_a_skipped_fire_once),
        cmocka_unit_test(test_failure_streak),
        cmocka_unit_test(test_run_end_hook),
        cmocka_unit_test(test_stop_releases_the_instance_lease),
        cmocka_unit_test(test_manual_run),
        cmocka_unit_test(test_one_run_per_fire_across_instances),
        cmocka_unit_test(test_takeover_of_a_dead_holder),
        cmocka_unit_test(test_sole_daemon_takes_over_a_dead_daemon),
        cmocka_unit_test(test_lapsed_heartbeat_is_taken_over),
        cmocka_unit_test(test_database_away),
        cmocka_unit_test(test_start_returns_running),
        cmocka_unit_test(test_job_sleep),
        cmocka_unit_test(test_locked_database_is_not_a_busy_lease),
        cmocka_unit_test(test_bad_cron_and_duplicates),
    };
    url = test_store_url();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(url);
    return rc;
}
