/* SPDX-License-Identifier: MIT */
/*
 * The store's jobs, runs and leases (store/jobs.h), tested through the
 * public API only, so the same binary checks every backend: CTest runs it
 * once on a fresh SQLite file per test and once against PostgreSQL
 * (CK_TEST_STORE_URL). The rest of the store contract is test_store.c's.
 * The PostgreSQL database is shared with other tests, so every test writes
 * under a source name of its own ("t<pid>_<n>") and never assumes an empty
 * database.
 */
#include "testutil.h"

#include "market/price.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z, a Monday. */
#define T0  1704067200LL
#define M15 900LL

/*
 * Jobs and leases. Job ids and lease names start with the test's own
 * source name. Runs and leases that must survive other tests' sweeps
 * (which prune and fail runs older than their own clock, at most the real
 * now) carry times in 2100; the sweeps tested here use times in 1970,
 * inside a transaction that rolls back, so they never see, nor leave, rows
 * of another test.
 */
#define FUTURE_MS 4102444800000LL /* 2100-01-01T00:00:00Z */

/* Index of `job_id` in `v`, or -1. */
static long find_job_state(const struct job_state *v, size_t n, const char *job_id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].job_id, job_id))
            return (long)i;
    return -1;
}

static void test_job_state(void **state)
{
    struct store_fixture *f = *state;
    char *a = store_fixture_name(f, "a"), *b = store_fixture_name(f, "b"),
         *c = store_fixture_name(f, "c");
    struct job_state js, *v = NULL;
    size_t n = 0;
    long ia, ib, ic;

    assert_int_equal(store_job_get(f->st, a, &js, &f->err), CK_ENOTFOUND);
    assert_non_null(strstr(f->err.buf, a));
    strbuf_reset(&f->err);

    /* Ensure creates the row once; a second call changes nothing. */
    CHECK_OK(store_job_ensure(f->st, a, 1000, &f->err), &f->err);
    CHECK_OK(store_job_ensure(f->st, a, 2000, &f->err), &f->err);
    js = store_fixture_job(f, a);
    assert_string_equal(js.job_id, a);
    assert_false(js.paused);
    assert_int_equal(js.streak, 0);
    assert_int_equal(js.last_fire, 0);
    assert_int_equal(js.updated_at, 1000);
    job_state_release(&js);

    /* Pause and resume. */
    CHECK_OK(store_job_set_paused(f->st, a, true, 3000, &f->err), &f->err);
    js = store_fixture_job(f, a);
    assert_true(js.paused);
    assert_int_equal(js.updated_at, 3000);
    job_state_release(&js);
    CHECK_OK(store_job_set_paused(f->st, a, false, 4000, &f->err), &f->err);
    js = store_fixture_job(f, a);
    assert_false(js.paused);
    assert_int_equal(js.updated_at, 4000);
    job_state_release(&js);

    /* Pausing a job without a row creates it, paused. */
    CHECK_OK(store_job_set_paused(f->st, b, true, 5000, &f->err), &f->err);
    js = store_fixture_job(f, b);
    assert_true(js.paused);
    assert_int_equal(js.streak, 0);
    assert_int_equal(js.updated_at, 5000);
    job_state_release(&js);

    /* last_fire only moves forward. */
    CHECK_OK(store_job_set_last_fire(f->st, a, T0 + 600, &f->err), &f->err);
    CHECK_OK(store_job_set_last_fire(f->st, a, T0 + 300, &f->err), &f->err);
    js = store_fixture_job(f, a);
    assert_int_equal(js.last_fire, T0 + 600);
    job_state_release(&js);
    CHECK_OK(store_job_set_last_fire(f->st, a, T0 + 900, &f->err), &f->err);
    js = store_fixture_job(f, a);
    assert_int_equal(js.last_fire, T0 + 900);
    assert_false(js.paused);
    job_state_release(&js);

    /* The list holds every job, by id. */
    CHECK_OK(store_job_ensure(f->st, c, 6000, &f->err), &f->err);
    CHECK_OK(store_job_list(f->st, &v, &n, &f->err), &f->err);
    ia = find_job_state(v, n, a);
    ib = find_job_state(v, n, b);
    ic = find_job_state(v, n, c);
    assert_true(ia >= 0 && ib >= 0 && ic >= 0);
    assert_true(ia < ib && ib < ic);
    assert_int_equal(v[ia].last_fire, T0 + 900);
    assert_true(v[ib].paused);
    assert_false(v[ic].paused);
    assert_int_equal(v[ic].updated_at, 6000);
    job_states_free(v, n);

    assert_int_equal(store_job_ensure(f->st, "", 0, &f->err), CK_EINVAL);
    free(a);
    free(b);
    free(c);
}

/* Start a run and finish it with `status`; returns the streak the finish reports. */
static int64_t run_and_finish(struct store_fixture *f, const char *job, int64_t scheduled,
                              enum job_status status)
{
    struct job_run r = store_fixture_start_run(f, job, scheduled, FUTURE_MS + scheduled);
    int64_t streak = -1;
    r.status = status;
    r.finished = r.started + 1500;
    r.message = (char *)job_status_name(status);
    CHECK_OK(store_job_run_finish(f->st, &r, &streak, &f->err), &f->err);
    return streak;
}

static void test_job_runs_streak(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "streak");
    static const struct {
        enum job_status status;
        int64_t streak;
    } steps[] = {
        {JOB_FAILED, 1}, {JOB_TIMED_OUT, 2}, {JOB_SKIPPED, 2}, {JOB_MISSED, 2},
        {JOB_FAILED, 3}, {JOB_OK, 0},        {JOB_OK, 0},      {JOB_TIMED_OUT, 1},
    };
    struct job_run *runs = NULL, r;
    struct job_state js;
    size_t n = 0;

    /* A running run: the job row appears, untouched; finished reads as 0. */
    r = store_fixture_start_run(f, job, T0, FUTURE_MS);
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, r.id);
    assert_string_equal(runs[0].job_id, job);
    assert_string_equal(runs[0].instance, "inst-A");
    assert_int_equal(runs[0].scheduled, T0);
    assert_int_equal(runs[0].started, FUTURE_MS);
    assert_int_equal(runs[0].finished, 0);
    assert_int_equal(runs[0].status, JOB_RUNNING);
    assert_string_equal(runs[0].message, "");
    job_runs_free(runs, n);
    js = store_fixture_job(f, job);
    assert_int_equal(js.streak, 0);
    assert_int_equal(js.last_fire, 0);
    job_state_release(&js);

    /* Finishing it records the outcome and advances last_fire. */
    r.status = JOB_OK;
    r.finished = FUTURE_MS + 2500;
    r.message = (char *)"stored 4 candles";
    r.details = NULL; /* "{}" */
    CHECK_OK(store_job_run_finish(f->st, &r, NULL, &f->err), &f->err);
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].status, JOB_OK);
    assert_int_equal(runs[0].finished, FUTURE_MS + 2500);
    assert_string_equal(runs[0].message, "stored 4 candles");
    assert_string_equal(runs[0].details, "{}");
    job_runs_free(runs, n);
    js = store_fixture_job(f, job);
    assert_int_equal(js.last_fire, T0);
    job_state_release(&js);

    /* failed and timed_out add one, ok resets, skipped and missed leave it. */
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        int64_t got = run_and_finish(f, job, T0 + 60 * (int64_t)(i + 1), steps[i].status);
        if (got != steps[i].streak)
            fail_msg("step %zu (%s): streak %lld, want %lld", i, job_status_name(steps[i].status),
                     (long long)got, (long long)steps[i].streak);
        js = store_fixture_job(f, job);
        assert_int_equal(js.streak, steps[i].streak);
        assert_int_equal(js.last_fire, T0 + 60 * (int64_t)(i + 1));
        job_state_release(&js);
    }

    /* A run recorded finished in one go (skipped) moves last_fire, not the streak. */
    r = (struct job_run){
        .job_id = job,
        .instance = (char *)"inst-B",
        .scheduled = T0 + 3600,
        .started = FUTURE_MS + 3600000,
        .finished = FUTURE_MS + 3600000,
        .status = JOB_SKIPPED,
        .message = (char *)"skipped: the job is running in another process",
        .details = (char *)"{}",
    };
    CHECK_OK(store_job_run_insert(f->st, &r, &f->err), &f->err);
    js = store_fixture_job(f, job);
    assert_int_equal(js.streak, 1);
    assert_int_equal(js.last_fire, T0 + 3600);
    job_state_release(&js);
    CHECK_OK(store_job_runs_list(f->st, job, 1, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, r.id);
    assert_int_equal(runs[0].status, JOB_SKIPPED);
    assert_int_equal(runs[0].finished, FUTURE_MS + 3600000);
    assert_string_equal(runs[0].instance, "inst-B");
    job_runs_free(runs, n);

    /* Finishing a run that does not exist changes nothing, and says so once. */
    strbuf_reset(&f->err);
    r.id = INT64_MAX - 7;
    r.status = JOB_FAILED;
    assert_int_equal(store_job_run_finish(f->st, &r, NULL, &f->err), CK_ENOTFOUND);
    assert_non_null(strstr(f->err.buf, "no job run"));
    assert_null(strstr(strstr(f->err.buf, "no job run") + 1, "no job run"));
    strbuf_reset(&f->err);
    js = store_fixture_job(f, job);
    assert_int_equal(js.streak, 1);
    job_state_release(&js);
    free(job);
}

static void test_job_runs_list(void **state)
{
    struct store_fixture *f = *state;
    char *a = store_fixture_name(f, "a"), *b = store_fixture_name(f, "b");
    /* Inserted in this order; newest first is the reverse. */
    const char *const order[] = {a, b, a, a, b, a, a};
    int64_t ids[ARRAY_SIZE(order)];
    struct job_run *runs = NULL;
    size_t n = 0, k;

    for (size_t i = 0; i < ARRAY_SIZE(order); i++)
        ids[i] =
            store_fixture_start_run(f, order[i], T0 + 60 * (int64_t)i, FUTURE_MS + (int64_t)i).id;

    CHECK_OK(store_job_runs_list(f->st, a, 0, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 5);
    k = 0;
    for (size_t i = ARRAY_SIZE(order); i-- > 0;) {
        if (order[i] != a)
            continue;
        assert_int_equal(runs[k].id, ids[i]);
        assert_string_equal(runs[k].job_id, a);
        assert_int_equal(runs[k].scheduled, T0 + 60 * (int64_t)i);
        k++;
    }
    job_runs_free(runs, n);

    /* The limit keeps the newest. */
    CHECK_OK(store_job_runs_list(f->st, a, 2, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].id, ids[6]);
    assert_int_equal(runs[1].id, ids[5]);
    job_runs_free(runs, n);

    CHECK_OK(store_job_runs_list(f->st, b, 0, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].id, ids[4]);
    assert_int_equal(runs[1].id, ids[1]);
    job_runs_free(runs, n);

    /* Every job: ours appear newest first among whatever else is stored. */
    CHECK_OK(store_job_runs_list(f->st, NULL, 0, &runs, &n, &f->err), &f->err);
    k = ARRAY_SIZE(order);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(runs[i - 1].id > runs[i].id);
        if (strcmp(runs[i].job_id, a) && strcmp(runs[i].job_id, b))
            continue;
        assert_true(k > 0);
        k--;
        assert_int_equal(runs[i].id, ids[k]);
        assert_string_equal(runs[i].job_id, order[k]);
    }
    assert_int_equal(k, 0);
    job_runs_free(runs, n);
    CHECK_OK(store_job_runs_list(f->st, NULL, 3, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 3);
    assert_true(runs[0].id > runs[1].id && runs[1].id > runs[2].id);
    job_runs_free(runs, n);

    /* A job without runs has an empty history, not an error. */
    {
        char *none = store_fixture_name(f, "none");
        CHECK_OK(store_job_runs_list(f->st, none, 0, &runs, &n, &f->err), &f->err);
        assert_int_equal(n, 0);
        job_runs_free(runs, n);
        free(none);
    }
    free(a);
    free(b);
}

/* Message and details come back as written: details as the same JSON value. */
static void test_job_run_text_round_trip(void **state)
{
    struct store_fixture *f = *state;
    static const char details[] = "{\"stored\": 4, \"symbols\": [\"XAU/USD\", \"EUR/USD\"], "
                                  "\"note\": \"caf\\u00e9 \\\"quoted\\\" \\\\ back\", \"nested\": "
                                  "{\"ok\": true, \"n\": null}}";
    static const char message[] = "fetch failed: 'XAU/USD' \"quoted\" caf\xc3\xa9 100%_done";
    char *job = store_fixture_name(f, "json");
    struct job_run r = store_fixture_start_run(f, job, T0, FUTURE_MS), *runs = NULL;
    json_t *want, *got;
    json_error_t je;
    size_t n = 0;

    r.status = JOB_FAILED;
    r.finished = FUTURE_MS + 10;
    r.message = (char *)message;
    r.details = (char *)details;
    CHECK_OK(store_job_run_finish(f->st, &r, NULL, &f->err), &f->err);
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].message, message);
    want = json_loads(details, 0, &je);
    assert_non_null(want);
    got = json_loads(runs[0].details, 0, &je);
    if (!got)
        fail_msg("details are not JSON: %s (%s)", runs[0].details, je.text);
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    job_runs_free(runs, n);
    free(job);
}

/* Lease names of `prefix` listed at `valid_at`, as "name=holder" lines. */
static char *lease_lines(struct store_fixture *f, const char *prefix, int64_t valid_at)
{
    struct strbuf sb = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0;

    CHECK_OK(store_lease_list(f->st, prefix, valid_at, &v, &n, &f->err), &f->err);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strncmp(v[i].name, prefix, strlen(prefix)), 0);
        strbuf_addf(&sb, "%s=%s\n", v[i].name + strlen(prefix), v[i].holder);
    }
    lease_infos_free(v, n);
    return strbuf_detach(&sb, NULL);
}

static void lease_info_clear(struct lease_info *li)
{
    free(li->name);
    free(li->holder);
}

/* The one lease called `name`; fails if there is none. */
static struct lease_info get_lease(struct store_fixture *f, const char *name)
{
    struct lease_info *v = NULL, li;
    size_t n = 0;

    CHECK_OK(store_lease_list(f->st, name, 0, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, name);
    li = v[0];
    free(v);
    return li;
}

static void test_lease_claim(void **state)
{
    struct store_fixture *f = *state;
    const int64_t t = FUTURE_MS;
    char *name = store_fixture_name(f, "fire:job:1");
    struct lease_info li;
    struct store *other;
    char *lines;

    CHECK_OK(store_lease_claim(f->st, name, "holder-A", t, t + 10000, &f->err), &f->err);
    li = get_lease(f, name);
    assert_string_equal(li.holder, "holder-A");
    assert_int_equal(li.until_ms, t + 10000);
    assert_int_equal(li.created_ms, t);
    lease_info_clear(&li);

    /* Held: another instance is refused, and told by whom. */
    assert_int_equal(store_lease_claim(f->st, name, "holder-B", t + 1000, t + 11000, &f->err),
                     CK_EBUSY);
    assert_non_null(strstr(f->err.buf, "holder-A"));
    assert_non_null(strstr(f->err.buf, name));
    strbuf_reset(&f->err);

    /* The holder extends it; its creation time stays. */
    CHECK_OK(store_lease_claim(f->st, name, "holder-A", t + 2000, t + 20000, &f->err), &f->err);
    li = get_lease(f, name);
    assert_string_equal(li.holder, "holder-A");
    assert_int_equal(li.until_ms, t + 20000);
    assert_int_equal(li.created_ms, t);
    lease_info_clear(&li);

    /* At its until_ms a lease is still valid ... */
    assert_int_equal(store_lease_claim(f->st, name, "holder-B", t + 20000, t + 30000, &f->err),
                     CK_EBUSY);
    strbuf_reset(&f->err);
    /* ... and after it, anyone takes it over: new holder, new creation time. */
    CHECK_OK(store_lease_claim(f->st, name, "holder-B", t + 20001, t + 30000, &f->err), &f->err);
    li = get_lease(f, name);
    assert_string_equal(li.holder, "holder-B");
    assert_int_equal(li.until_ms, t + 30000);
    assert_int_equal(li.created_ms, t + 20001);
    lease_info_clear(&li);
    assert_int_equal(store_lease_claim(f->st, name, "holder-A", t + 20002, t + 40000, &f->err),
                     CK_EBUSY);
    assert_non_null(strstr(f->err.buf, "holder-B"));
    strbuf_reset(&f->err);

    /* Only the holder releases it. */
    CHECK_OK(store_lease_release(f->st, name, "holder-A", &f->err), &f->err);
    li = get_lease(f, name);
    assert_string_equal(li.holder, "holder-B");
    lease_info_clear(&li);
    CHECK_OK(store_lease_release(f->st, name, "holder-B", &f->err), &f->err);
    lines = lease_lines(f, name, 0);
    assert_string_equal(lines, "");
    free(lines);
    CHECK_OK(store_lease_release(f->st, name, "holder-B", &f->err), &f->err);

    /* Released, it is free at once, even before the old until_ms. */
    CHECK_OK(store_lease_claim(f->st, name, "holder-A", t + 20003, t + 25000, &f->err), &f->err);
    li = get_lease(f, name);
    assert_string_equal(li.holder, "holder-A");
    assert_int_equal(li.created_ms, t + 20003);
    lease_info_clear(&li);

    /* Another connection sees the same lease. */
    CHECK_OK(store_open(&other, f->url, &f->err), &f->err);
    assert_int_equal(store_lease_claim(other, name, "holder-C", t + 20004, t + 26000, &f->err),
                     CK_EBUSY);
    assert_non_null(strstr(f->err.buf, "holder-A"));
    strbuf_reset(&f->err);
    CHECK_OK(store_lease_release(other, name, "holder-A", &f->err), &f->err);
    CHECK_OK(store_lease_claim(f->st, name, "holder-C", t + 20005, t + 26000, &f->err), &f->err);
    store_close(other);

    assert_int_equal(store_lease_claim(f->st, "", "holder-A", t, t + 1, &f->err), CK_EINVAL);
    assert_int_equal(store_lease_claim(f->st, name, "", t, t + 1, &f->err), CK_EINVAL);
    free(name);
}

static void test_lease_list(void **state)
{
    struct store_fixture *f = *state;
    const int64_t t = FUTURE_MS;
    /* '_' and '%' are LIKE wildcards; a prefix must match them literally. */
    static const char *const names[] = {"a_b:1", "aXb:1", "a%b:1", "aYb:1", "c3", "c1", "c2"};
    char *prefix = store_fixture_name(f, "");
    struct strbuf p = STRBUF_INIT;
    char *lines;

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *name = store_fixture_name(f, names[i]);
        /* c1 lapses first. */
        int64_t until = !strcmp(names[i], "c1") ? t + 500 : t + 1000;
        CHECK_OK(store_lease_claim(f->st, name, "h", t, until, &f->err), &f->err);
        free(name);
    }

    strbuf_addf(&p, "%sa_", prefix);
    lines = lease_lines(f, p.buf, t);
    assert_string_equal(lines, "b:1=h\n");
    free(lines);

    strbuf_reset(&p);
    strbuf_addf(&p, "%sa%%", prefix);
    lines = lease_lines(f, p.buf, t);
    assert_string_equal(lines, "b:1=h\n");
    free(lines);

    /* By name, and valid at the given time: until_ms >= valid_at. */
    strbuf_reset(&p);
    strbuf_addf(&p, "%sc", prefix);
    lines = lease_lines(f, p.buf, t + 500);
    assert_string_equal(lines, "1=h\n2=h\n3=h\n");
    free(lines);
    lines = lease_lines(f, p.buf, t + 501);
    assert_string_equal(lines, "2=h\n3=h\n");
    free(lines);
    lines = lease_lines(f, p.buf, t + 1001);
    assert_string_equal(lines, "");
    free(lines);

    /* The whole prefix. */
    {
        struct lease_info *v = NULL;
        size_t n = 0;
        CHECK_OK(store_lease_list(f->st, prefix, 0, &v, &n, &f->err), &f->err);
        assert_int_equal(n, ARRAY_SIZE(names));
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(v[i].until_ms,
                             strcmp(v[i].name + strlen(prefix), "c1") ? t + 1000 : t + 500);
            assert_int_equal(v[i].created_ms, t);
        }
        lease_infos_free(v, n);
    }
    strbuf_reset(&p);
    strbuf_addf(&p, "%szzz", prefix);
    lines = lease_lines(f, p.buf, 0);
    assert_string_equal(lines, "");
    free(lines);
    strbuf_release(&p);
    free(prefix);
}

/*
 * The sweeps: marking runs of dead processes failed, and pruning old runs
 * and leases. In 1970 and rolled back (see above).
 */
static void test_job_runs_sweeps(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "sweep");
    char *old_lease = store_fixture_name(f, "old"), *new_lease = store_fixture_name(f, "new");
    struct job_run r1, r2, r3, *runs = NULL;
    struct job_run done[2];
    int64_t n = -1;
    size_t nr = 0;
    char *lines;

    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    /* Whatever an earlier, interrupted run left in 1970 goes first. */
    CHECK_OK(store_job_runs_fail_stale(f->st, 100000, "x", NULL, &f->err), &f->err);
    CHECK_OK(store_job_runs_prune(f->st, 100000, NULL, &f->err), &f->err);

    r1 = store_fixture_start_run(f, job, T0, 1000);
    r2 = store_fixture_start_run(f, job, T0 + 60, 2000);
    r3 = store_fixture_start_run(f, job, T0 + 120, 5000);
    for (size_t i = 0; i < 2; i++) {
        done[i] = (struct job_run){
            .job_id = job,
            .instance = (char *)"inst-A",
            .scheduled = T0 + 180 + 60 * (int64_t)i,
            .started = i ? 6000 : 1500,
            .finished = i ? 6100 : 1600,
            .status = JOB_OK,
            .message = (char *)"fine",
            .details = (char *)"{}",
        };
        CHECK_OK(store_job_run_insert(f->st, &done[i], &f->err), &f->err);
    }

    /* Running runs that started before the cut are failed; the others stay. */
    CHECK_OK(store_job_runs_fail_stale(f->st, 3000, "interrupted: gone", &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &nr, &f->err), &f->err);
    assert_int_equal(nr, 5);
    for (size_t i = 0; i < nr; i++) {
        if (runs[i].id == r1.id || runs[i].id == r2.id) {
            assert_int_equal(runs[i].status, JOB_FAILED);
            assert_string_equal(runs[i].message, "interrupted: gone");
            assert_true(runs[i].finished >= runs[i].started && runs[i].finished > 0);
        } else if (runs[i].id == r3.id) {
            assert_int_equal(runs[i].status, JOB_RUNNING);
            assert_int_equal(runs[i].finished, 0);
        } else {
            assert_int_equal(runs[i].status, JOB_OK);
            assert_string_equal(runs[i].message, "fine");
        }
    }
    job_runs_free(runs, nr);
    CHECK_OK(store_job_runs_fail_stale(f->st, 3000, "again", &n, &f->err), &f->err);
    assert_int_equal(n, 0);

    /* Pruning removes finished runs started before the cut, and older leases. */
    CHECK_OK(store_lease_claim(f->st, old_lease, "h", 1000, 100000, &f->err), &f->err);
    CHECK_OK(store_lease_claim(f->st, new_lease, "h", 4000, 100000, &f->err), &f->err);
    CHECK_OK(store_job_runs_prune(f->st, 3000, &n, &f->err), &f->err);
    assert_int_equal(n, 3); /* r1, r2 and the first finished run */
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &nr, &f->err), &f->err);
    assert_int_equal(nr, 2);
    assert_int_equal(runs[0].id, done[1].id);
    assert_int_equal(runs[1].id, r3.id);
    job_runs_free(runs, nr);
    lines = lease_lines(f, f->source, 0);
    assert_non_null(strstr(lines, "_new=h\n"));
    assert_null(strstr(lines, "_old="));
    free(lines);

    /* A run still running is never pruned, however old. */
    CHECK_OK(store_job_runs_prune(f->st, 100000, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &nr, &f->err), &f->err);
    assert_int_equal(nr, 1);
    assert_int_equal(runs[0].id, r3.id);
    job_runs_free(runs, nr);
    CHECK_OK(store_rollback(f->st, &f->err), &f->err);
    free(job);
    free(old_lease);
    free(new_lease);
}

/* Stale runs of one job: only its own, only before the cut, finished no earlier than started. */
static void test_job_runs_fail_stale_job(void **state)
{
    struct store_fixture *f = *state;
    char *a = store_fixture_name(f, "stale_a"), *b = store_fixture_name(f, "stale_b");
    struct job_run ra1, ra2, ra3, rb, *runs = NULL;
    size_t nr = 0;
    int64_t n = -1;
    int64_t base = T0 * 1000;

    ra1 = store_fixture_start_run(f, a, T0, base + 1000);
    ra2 = store_fixture_start_run(f, a, T0 + 60, base + 2000);
    ra3 = store_fixture_start_run(f, a, T0 + 120, base + 9000);
    rb = store_fixture_start_run(f, b, T0, base + 1000);
    assert_int_equal(store_job_runs_fail_stale_job(f->st, "", base, "x", base, &n, &f->err),
                     CK_EINVAL);
    strbuf_reset(&f->err);
    /* The finish time is the caller's now, never before a run's start. */
    CHECK_OK(store_job_runs_fail_stale_job(f->st, a, base + 5000, "interrupted: gone", base + 1500,
                                           &n, &f->err),
             &f->err);
    assert_int_equal(n, 2);
    CHECK_OK(store_job_runs_list(f->st, a, 0, &runs, &nr, &f->err), &f->err);
    assert_int_equal(nr, 3);
    for (size_t i = 0; i < nr; i++) {
        if (runs[i].id == ra3.id) {
            assert_int_equal(runs[i].status, JOB_RUNNING);
            continue;
        }
        assert_int_equal(runs[i].status, JOB_FAILED);
        assert_string_equal(runs[i].message, "interrupted: gone");
        assert_int_equal(runs[i].finished, runs[i].id == ra1.id ? base + 1500 : base + 2000);
    }
    assert_true(ra2.id != ra1.id);
    job_runs_free(runs, nr);
    CHECK_OK(store_job_runs_list(f->st, b, 0, &runs, &nr, &f->err), &f->err);
    assert_int_equal(nr, 1);
    assert_int_equal(runs[0].id, rb.id);
    assert_int_equal(runs[0].status, JOB_RUNNING);
    job_runs_free(runs, nr);
    free(a);
    free(b);
}

/* A run of `instance` started at `started`, still running. */
static struct job_run start_run_of(struct store_fixture *f, const char *job, const char *instance,
                                   int64_t started)
{
    struct job_run r = {
        .job_id = (char *)job,
        .instance = (char *)instance,
        .scheduled = T0,
        .started = started,
        .status = JOB_RUNNING,
        .message = (char *)"",
        .details = (char *)"{}",
    };
    CHECK_OK(store_job_run_insert(f->st, &r, &f->err), &f->err);
    return r;
}

static enum job_status status_of(struct store_fixture *f, const char *job, int64_t id,
                                 const char *message, int64_t finished)
{
    struct job_run *runs = NULL;
    size_t nr = 0;
    enum job_status st = JOB_OK;
    bool found = false;

    CHECK_OK(store_job_runs_list(f->st, job, 0, &runs, &nr, &f->err), &f->err);
    for (size_t i = 0; i < nr; i++) {
        if (runs[i].id != id)
            continue;
        found = true;
        st = runs[i].status;
        if (message)
            assert_string_equal(runs[i].message, message);
        if (finished)
            assert_int_equal(runs[i].finished, finished);
    }
    assert_true(found);
    job_runs_free(runs, nr);
    return st;
}

/*
 * The runs of every other instance: all but this one's and those whose
 * instance starts with the spared prefix (matched as text, not a pattern).
 * In a transaction rolled back: on a shared database other tests' rows are
 * other instances too.
 */
static void test_job_runs_fail_others(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "others");
    char *me = store_fixture_name(f, "me"), *dead = store_fixture_name(f, "dead");
    int64_t base = T0 * 1000, n = -1;
    struct job_run rme, rdead, rcli, rlike;

    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    rme = start_run_of(f, job, me, base + 1000);
    rdead = start_run_of(f, job, dead, base + 3000);
    rcli = start_run_of(f, job, "cli:host:1:ab", base + 1000);
    rlike = start_run_of(f, job, "c_i:host:2:cd", base + 1000);
    assert_int_equal(store_job_runs_fail_others(f->st, "", "cli:", "x", base, &n, &f->err),
                     CK_EINVAL);
    strbuf_reset(&f->err);
    CHECK_OK(store_job_runs_fail_others(f->st, me, "cli:", "interrupted: its daemon died",
                                        base + 2000, &n, &f->err),
             &f->err);
    assert_true(n >= 2);
    assert_int_equal(status_of(f, job, rme.id, "", 0), JOB_RUNNING);
    assert_int_equal(status_of(f, job, rcli.id, "", 0), JOB_RUNNING);
    /* The finish time is the caller's now, never before the run's start. */
    assert_int_equal(status_of(f, job, rdead.id, "interrupted: its daemon died", base + 3000),
                     JOB_FAILED);
    assert_int_equal(status_of(f, job, rlike.id, "interrupted: its daemon died", base + 2000),
                     JOB_FAILED);
    /* Nothing spared but this instance's own. */
    CHECK_OK(store_job_runs_fail_others(f->st, me, NULL, "gone", base + 4000, &n, &f->err),
             &f->err);
    assert_int_equal(status_of(f, job, rcli.id, "gone", base + 4000), JOB_FAILED);
    assert_int_equal(status_of(f, job, rme.id, "", 0), JOB_RUNNING);
    CHECK_OK(store_rollback(f->st, &f->err), &f->err);
    free(job);
    free(me);
    free(dead);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_job_state),
        T(test_job_runs_streak),
        T(test_job_runs_list),
        T(test_job_run_text_round_trip),
        T(test_lease_claim),
        T(test_lease_list),
        T(test_job_runs_sweeps),
        T(test_job_runs_fail_stale_job),
        T(test_job_runs_fail_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
