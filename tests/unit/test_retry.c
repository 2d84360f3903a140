/* SPDX-License-Identifier: MIT */
/*
 * Retries: the delay formula and its jitter bounds, what is retryable, and
 * whole retry loops run on a fake clock (sleeping only moves the clock):
 * success after failures, exhaustion, a failure that is not retried, a
 * provider's wait instruction winning over the computed delay, the
 * deadline, a stop request, and the retries_total counter.
 */
#include "testutil.h"

#include "resilience/retry.h"
#include "util/error.h"
#include "util/metrics.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <string.h>

#include "util/banned.h"

struct fake_clock {
    int64_t now;
    int64_t sleeps[64];
    int nsleeps;
    bool stop; /* sleep says stop */
    uint64_t random;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

static bool fake_sleep(void *arg, int64_t ms)
{
    struct fake_clock *c = arg;
    if (c->stop)
        return false;
    if (c->nsleeps < 64)
        c->sleeps[c->nsleeps++] = ms;
    c->now += ms;
    return true;
}

static uint64_t fake_random(void *arg)
{
    return ((struct fake_clock *)arg)->random;
}

#define CLOCK_OF(fc)                                                                               \
    {                                                                                              \
        .now_ms = fake_now, .sleep_ms = fake_sleep, .random = fake_random, .arg = (fc)             \
    }

static void test_delay_formula(void **state)
{
    const struct retry_policy p = {.max_retries = 5, .base_ms = 5000, .max_ms = 120000};
    (void)state;

    /* random % 1001 == 0: no jitter; == 1000: the full 10%. */
    assert_int_equal(retry_delay_ms(&p, 0, 0), 5000);
    assert_int_equal(retry_delay_ms(&p, 1, 0), 10000);
    assert_int_equal(retry_delay_ms(&p, 2, 0), 20000);
    assert_int_equal(retry_delay_ms(&p, 4, 0), 80000);
    assert_int_equal(retry_delay_ms(&p, 5, 0), 120000); /* 160 s capped */
    assert_int_equal(retry_delay_ms(&p, 0, 1000), 5500);
    assert_int_equal(retry_delay_ms(&p, 5, 1000), 132000);
    assert_int_equal(retry_delay_ms(&p, 0, 1001), 5000); /* wraps: 1001 % 1001 == 0 */
    /* Huge attempts saturate instead of overflowing. */
    assert_int_equal(retry_delay_ms(&p, 62, 0), 120000);
    assert_int_equal(retry_delay_ms(&p, 1000, 0), 120000);
    assert_int_equal(retry_delay_ms(&p, -1, 0), 0);

    const struct retry_policy big = {.base_ms = INT64_MAX / 4, .max_ms = INT64_MAX};
    assert_true(retry_delay_ms(&big, 3, 0) == INT64_MAX);
    assert_true(retry_delay_ms(&big, 1, 1000) > retry_delay_ms(&big, 1, 0));

    const struct retry_policy zero = {.max_retries = 3, .base_ms = 0, .max_ms = 120000};
    assert_int_equal(retry_delay_ms(&zero, 3, 12345), 0);
}

static void test_jitter_bounds(void **state)
{
    const struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    int64_t lo = INT64_MAX, hi = 0;
    uint64_t x = 88172645463325252ULL;
    (void)state;

    for (int i = 0; i < 20000; i++) {
        int64_t d;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d = retry_delay_ms(&p, 3, x); /* 8000 + [0, 800] */
        assert_true(d >= 8000 && d <= 8800);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* The jitter is spread over the whole range, not a constant. */
    assert_true(lo < 8050);
    assert_true(hi > 8750);
}

static void test_retryable(void **state)
{
    static const struct {
        int rc;
        long status;
        bool want;
    } cases[] = {
        {CK_EUPSTREAM, 0, true}, /* connection refused / reset */
        {CK_ETIMEDOUT, 0, true}, /* timeout */
        {CK_EUPSTREAM, 500, true},
        {CK_EUPSTREAM, 502, true},
        {CK_EUPSTREAM, 503, true},
        {CK_EINVAL, 408, true},
        {CK_ELIMIT, 429, true},
        {CK_EAUTH, 401, false},
        {CK_EAUTH, 403, false},
        {CK_ENOTFOUND, 404, false},
        {CK_EINVAL, 400, false},
        {CK_ELIMIT, 418, false}, /* a ban: waited out, never retried in place */
        {CK_EPARSE, 200, false}, /* malformed content */
        {CK_EPARSE, 0, false},
        {CK_ELIMIT, 200, false}, /* a body over the cap */
        {0, 200, false},
        {0, 503, false},
        {CK_EIO, 0, false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (retry_is_retryable(cases[i].rc, cases[i].status) != cases[i].want)
            fail_msg("case %zu: rc %d status %ld: expected %s", i, cases[i].rc, cases[i].status,
                     cases[i].want ? "retryable" : "not retryable");
    }
}

/* A scripted attempt function. */
struct script {
    int fail_times; /* attempts that fail before one succeeds (-1: all fail) */
    int rc;         /* the failure's code */
    bool retryable;
    int64_t wait_ms; /* the failure's own wait instruction */
    int calls;
    int64_t call_times[64];
    struct fake_clock *clock;
};

static int scripted(void *arg, int attempt, struct retry_verdict *out, struct strbuf *err)
{
    struct script *s = arg;
    assert_int_equal(attempt, s->calls);
    assert_false(out->retryable);
    assert_int_equal(out->wait_ms, -1);
    s->call_times[s->calls++] = s->clock->now;
    if (s->fail_times >= 0 && attempt >= s->fail_times)
        return 0;
    strbuf_addf(err, "boom %d", attempt + 1);
    out->retryable = s->retryable;
    out->wait_ms = s->wait_ms;
    return s->rc;
}

static void test_succeeds_after_failures(void **state)
{
    struct fake_clock fc = {.now = 1000000, .random = 0};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct metrics *m = metrics_new();
    struct retry_env env = {.operation = "fetch:td", .clock = &clock, .metrics = m};
    struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = 3, .rc = CK_EUPSTREAM, .retryable = true, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), 0);
    assert_int_equal(st.attempts, 4);
    assert_false(st.exhausted || st.deadline || st.interrupted);
    assert_string_equal(err.buf, "");
    assert_int_equal(fc.nsleeps, 3);
    assert_int_equal(fc.sleeps[0], 1000);
    assert_int_equal(fc.sleeps[1], 2000);
    assert_int_equal(fc.sleeps[2], 4000);
    assert_int_equal(s.call_times[3] - s.call_times[0], 7000);
    assert_true(metrics_get(m, "retries_total", "operation=\"fetch:td\"") == 3);
    strbuf_release(&err);
    metrics_free(m);
}

static void test_exhausted(void **state)
{
    struct fake_clock fc = {.now = 5000, .random = 1000};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct metrics *m = metrics_new();
    struct retry_env env = {.operation = "fetch:td", .clock = &clock, .metrics = m};
    struct retry_policy p = {.max_retries = 2, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = -1, .rc = CK_EUPSTREAM, .retryable = true, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_EUPSTREAM);
    assert_int_equal(st.attempts, 3);
    assert_true(st.exhausted);
    assert_string_equal(err.buf, "fetch:td: gave up after 3 attempts: boom 3");
    /* The full 10% jitter on each wait. */
    assert_int_equal(fc.nsleeps, 2);
    assert_int_equal(fc.sleeps[0], 1100);
    assert_int_equal(fc.sleeps[1], 2200);
    assert_true(metrics_get(m, "retries_total", "operation=\"fetch:td\"") == 2);
    strbuf_release(&err);
    metrics_free(m);
}

static void test_not_retryable(void **state)
{
    struct fake_clock fc = {.now = 5000};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct retry_env env = {.operation = "fetch:td", .clock = &clock};
    struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = -1, .rc = CK_EAUTH, .retryable = false, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_EAUTH);
    assert_int_equal(st.attempts, 1);
    assert_false(st.exhausted);
    assert_int_equal(fc.nsleeps, 0);
    assert_string_equal(err.buf, "boom 1"); /* one attempt: its message as it is */
    strbuf_release(&err);
}

static void test_zero_retries(void **state)
{
    struct fake_clock fc = {.now = 5000};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct retry_env env = {.operation = "op", .clock = &clock};
    struct retry_policy p = {.max_retries = 0, .base_ms = 1000, .max_ms = 1000};
    struct script s = {
        .fail_times = -1, .rc = CK_ETIMEDOUT, .retryable = true, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_ETIMEDOUT);
    assert_int_equal(st.attempts, 1);
    assert_true(st.exhausted);
    assert_int_equal(fc.nsleeps, 0);
    strbuf_release(&err);
}

static void test_provider_wait_wins(void **state)
{
    struct fake_clock fc = {.now = 5000, .random = 1000};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct retry_env env = {.operation = "op", .clock = &clock};
    struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = 2, .rc = CK_ELIMIT, .retryable = true, .wait_ms = 7000, .clock = &fc};
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, NULL, &err), 0);
    assert_int_equal(fc.nsleeps, 2);
    /* Exactly the instruction: no backoff, no jitter; shorter than the backoff too. */
    assert_int_equal(fc.sleeps[0], 7000);
    assert_int_equal(fc.sleeps[1], 7000);
    s = (struct script){
        .fail_times = 1, .rc = CK_ELIMIT, .retryable = true, .wait_ms = 10, .clock = &fc};
    p.base_ms = 60000;
    fc.nsleeps = 0;
    assert_int_equal(retry_run(&p, &env, scripted, &s, NULL, &err), 0);
    assert_int_equal(fc.sleeps[0], 10);
    strbuf_release(&err);
}

static void test_deadline(void **state)
{
    struct fake_clock fc = {.now = 100000, .random = 0};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct retry_env env = {.operation = "fetch:td", .clock = &clock, .deadline_ms = 102500};
    struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = -1, .rc = CK_EUPSTREAM, .retryable = true, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    /* Waits of 1 s (ends at 101000, fits) then 2 s (would end at 103000: past 102500). */
    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_EUPSTREAM);
    assert_int_equal(st.attempts, 2);
    assert_true(st.deadline);
    assert_false(st.exhausted);
    assert_int_equal(st.next_wait_ms, 2000);
    assert_int_equal(fc.nsleeps, 1);
    assert_true(fc.now <= env.deadline_ms);
    assert_non_null(strstr(err.buf, "fetch:td: retry budget exceeds the job's deadline"));
    assert_non_null(strstr(err.buf, "next wait 2.0s, 1.5s left"));
    assert_non_null(strstr(err.buf, "after 2 attempts: boom 2"));

    /* A provider's wait past the deadline is not started either. */
    strbuf_reset(&err);
    fc.now = 100000;
    fc.nsleeps = 0;
    s = (struct script){
        .fail_times = -1, .rc = CK_ELIMIT, .retryable = true, .wait_ms = 60000, .clock = &fc};
    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_ELIMIT);
    assert_int_equal(st.attempts, 1);
    assert_true(st.deadline);
    assert_int_equal(fc.nsleeps, 0);
    strbuf_release(&err);
}

static void test_interrupted(void **state)
{
    struct fake_clock fc = {.now = 100000, .stop = true};
    struct retry_clock clock = CLOCK_OF(&fc);
    struct retry_env env = {.operation = "op", .clock = &clock};
    struct retry_policy p = {.max_retries = 5, .base_ms = 1000, .max_ms = 120000};
    struct script s = {
        .fail_times = -1, .rc = CK_EUPSTREAM, .retryable = true, .wait_ms = -1, .clock = &fc};
    struct retry_stats st;
    struct strbuf err = STRBUF_INIT;
    (void)state;

    assert_int_equal(retry_run(&p, &env, scripted, &s, &st, &err), CK_EUPSTREAM);
    assert_true(st.interrupted);
    assert_int_equal(st.attempts, 1);
    assert_non_null(strstr(err.buf, "stopped while waiting to retry"));
    strbuf_release(&err);
}

static void test_wait_until(void **state)
{
    struct fake_clock fc = {.now = 500};
    struct retry_clock clock = CLOCK_OF(&fc);
    (void)state;

    assert_true(retry_wait_until(&clock, 400)); /* in the past: no sleep */
    assert_int_equal(fc.nsleeps, 0);
    assert_true(retry_wait_until(&clock, 1700));
    assert_int_equal(fc.now, 1700);
    fc.stop = true;
    assert_false(retry_wait_until(&clock, 5000));
    /* The kernel's randomness when the clock has none. */
    clock.random = NULL;
    assert_true(retry_random(&clock) != retry_random(&clock) ||
                retry_random(&clock) != retry_random(&clock));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_formula), cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_retryable),     cmocka_unit_test(test_succeeds_after_failures),
        cmocka_unit_test(test_exhausted),     cmocka_unit_test(test_not_retryable),
        cmocka_unit_test(test_zero_retries),  cmocka_unit_test(test_provider_wait_wins),
        cmocka_unit_test(test_deadline),      cmocka_unit_test(test_interrupted),
        cmocka_unit_test(test_wait_until),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
