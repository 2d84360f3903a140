/* SPDX-License-Identifier: MIT */
/*
 * The guarded call: breaker, budget, call and retries together, with a
 * scripted call and a fake clock, on every backend (the budget and the
 * bans are the store's). What goes out, what waits, what is deferred, what
 * fails fast, and what each outcome tells the breaker.
 */
#include "testutil.h"

#include "resilience/breaker.h"
#include "resilience/guard.h"
#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "store/store.h"
#include "util/error.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

#define T0 1710504000000LL /* 2024-03-15T12:00:00Z, ms */

struct fake_clock {
    int64_t now;
    int64_t slept;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

static bool fake_sleep(void *arg, int64_t ms)
{
    struct fake_clock *c = arg;
    c->now += ms;
    c->slept += ms;
    return true;
}

static uint64_t no_jitter(void *arg)
{
    (void)arg;
    return 0;
}

/* One scripted answer. */
struct answer {
    int rc;
    long status;
    int64_t retry_after;
    const char *reason;
};

struct script {
    const struct answer *answers;
    size_t n;
    size_t calls;
    int64_t times[32];
    struct fake_clock *clock;
    /* When set: the breaker state recorded in `peek` when each call goes out. */
    struct store *peek;
    const char *peek_source;
    char peeked[32][16];
};

static int scripted(void *arg, int64_t now_ms, struct guard_reply *out, struct strbuf *err)
{
    struct script *s = arg;
    const struct answer *a = &s->answers[s->calls < s->n ? s->calls : s->n - 1];

    assert_int_equal(now_ms, s->clock->now);
    if (s->calls < 32)
        s->times[s->calls] = now_ms;
    if (s->peek && s->calls < 32) {
        struct strbuf why = STRBUF_INIT;
        struct breaker_row row;
        int rc = store_breaker_get(s->peek, s->peek_source, &row, &why);
        snprintf(s->peeked[s->calls], sizeof(s->peeked[0]), "%s", rc ? "none" : row.state);
        if (!rc)
            breaker_row_release(&row);
        strbuf_release(&why);
    }
    s->calls++;
    out->status = a->status;
    out->retry_after = a->retry_after;
    out->wait_reason = a->reason;
    if (a->rc)
        strbuf_addf(err, "answer %zu: HTTP %ld", s->calls, a->status);
    return a->rc;
}

struct fixture {
    struct store *st;
    char *url;
    char source[48];
    struct strbuf err;
    struct fake_clock fc;
    struct retry_clock clock;
    struct retry_policy policy;
    struct rate_budget budget;
    struct breaker *breaker;
    struct metrics *metrics;
    struct guard g;
};

static unsigned name_counter;

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct breaker_config bc = {.failures = 3, .recovery_ms = 60000, .max_recovery_ms = 600000};

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    snprintf(f->source, sizeof(f->source), "g%ld_%u", (long)getpid(), name_counter++);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    f->fc.now = T0;
    f->clock = (struct retry_clock){
        .now_ms = fake_now, .sleep_ms = fake_sleep, .random = no_jitter, .arg = &f->fc};
    f->policy = (struct retry_policy){.max_retries = 2, .base_ms = 1000, .max_ms = 120000};
    ratelimit_budget(&f->budget, f->source, 8, 800);
    f->breaker = breaker_new(f->source, &bc);
    f->metrics = metrics_new();
    f->g = (struct guard){
        .operation = "fetch:test",
        .source = f->source,
        .store = f->st,
        .budget = &f->budget,
        .breaker = f->breaker,
        .policy = &f->policy,
        .clock = &f->clock,
        .deadline_ms = T0 + 600000,
        .reserve_ms = 30000,
        .metrics = f->metrics,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    breaker_free(f->breaker);
    metrics_free(f->metrics);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

static int call(struct fixture *f, struct script *s, struct guard_report *rep)
{
    strbuf_reset(&f->err);
    s->calls = 0;
    s->clock = &f->fc;
    return guard_call(&f->g, scripted, s, rep, &f->err);
}

static int64_t used_in_window(struct fixture *f)
{
    struct rate_state rs;
    CHECK_OK(store_rate_peek(f->st, &f->budget, f->fc.now, &rs, &f->err), &f->err);
    return rs.window_used;
}

static void test_ok_takes_one_token(void **state)
{
    struct fixture *f = *state;
    static const struct answer ok[] = {{0, 200, -1, NULL}};
    struct script s = {.answers = ok, .n = 1};
    struct guard_report rep;

    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(rep.outcome, GUARD_OK);
    assert_int_equal(rep.sent, 1);
    assert_true(rep.has_budget);
    assert_int_equal(rep.budget.window_used, 1);
    assert_int_equal(used_in_window(f), 1);
    assert_string_equal(guard_outcome_name(rep.outcome), "ok");
}

static void test_5xx_retried_then_fails(void **state)
{
    struct fixture *f = *state;
    static const struct answer bad[] = {{CK_EUPSTREAM, 503, -1, NULL}};
    struct script s = {.answers = bad, .n = 1};
    struct guard_report rep;
    struct breaker_info bi;

    assert_int_equal(call(f, &s, &rep), CK_EUPSTREAM);
    assert_int_equal(rep.outcome, GUARD_FAILED);
    assert_int_equal(rep.sent, 3); /* max_retries 2 */
    assert_int_equal(s.times[1] - s.times[0], 1000);
    assert_int_equal(s.times[2] - s.times[1], 2000);
    assert_string_equal(f->err.buf, "fetch:test: gave up after 3 attempts: answer 3: HTTP 503");
    /* Every attempt took a token: the budget counts what went out. */
    assert_int_equal(used_in_window(f), 3);
    assert_true(metrics_get(f->metrics, "retries_total", "operation=\"fetch:test\"") == 2);
    /* Three consecutive failures: the breaker (threshold 3) is open... */
    breaker_info(f->breaker, f->fc.now, &bi);
    assert_int_equal(bi.state, BREAKER_OPEN);

    /* ...so the next call fails fast: nothing sent, no token taken. */
    assert_int_equal(call(f, &s, &rep), CK_EUPSTREAM);
    assert_int_equal(rep.outcome, GUARD_REJECTED);
    assert_int_equal(rep.sent, 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(rep.retry_at_ms, bi.next_probe_ms);
    assert_non_null(strstr(f->err.buf, "circuit open"));
    assert_int_equal(used_in_window(f), 3);

    /* After the recovery time one probe goes; its success closes the breaker. */
    static const struct answer ok[] = {{0, 200, -1, NULL}};
    struct script good = {.answers = ok, .n = 1};
    f->fc.now = bi.next_probe_ms;
    CHECK_OK(call(f, &good, &rep), &f->err);
    assert_int_equal(rep.outcome, GUARD_OK);
    breaker_info(f->breaker, f->fc.now, &bi);
    assert_int_equal(bi.state, BREAKER_CLOSED);
}

static void test_client_errors_not_retried_nor_counted(void **state)
{
    struct fixture *f = *state;
    static const struct answer refused[] = {{CK_EAUTH, 401, -1, NULL}};
    struct script s = {.answers = refused, .n = 1};
    struct guard_report rep;
    struct breaker_info bi;

    for (int i = 0; i < 5; i++) {
        assert_int_equal(call(f, &s, &rep), CK_EAUTH);
        assert_int_equal(rep.outcome, GUARD_FAILED);
        assert_int_equal(rep.sent, 1);
        assert_string_equal(f->err.buf, "answer 1: HTTP 401");
    }
    /* A 4xx is an answer of a working provider: the breaker stays closed. */
    breaker_info(f->breaker, f->fc.now, &bi);
    assert_int_equal(bi.state, BREAKER_CLOSED);
    assert_int_equal(bi.failures, 0);
    assert_int_equal(f->fc.slept, 0);
}

static void test_retry_after_is_a_stored_ban(void **state)
{
    struct fixture *f = *state;
    static const struct answer seq[] = {
        {CK_ELIMIT, 429, 7, "the provider's per-minute credits are used up (429)"},
        {0, 200, -1, NULL},
    };
    struct script s = {.answers = seq, .n = 2};
    struct guard_report rep;
    struct rate_state rs;

    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(rep.outcome, GUARD_OK);
    assert_int_equal(rep.sent, 2);
    /* The provider's 7 s, not the 1 s backoff. */
    assert_int_equal(s.times[1] - s.times[0], 7000);
    CHECK_OK(store_rate_peek(f->st, &f->budget, s.times[0] + 1, &rs, &f->err), &f->err);
    assert_int_equal(rs.refusal, RATE_BANNED);
    assert_int_equal(rs.banned_until_ms, s.times[0] + 7000);
    assert_string_equal(rs.ban_reason, "the provider's per-minute credits are used up (429)");

    /* A Retry-After on a 503 without a reason is kept with one made from it. */
    static const struct answer busy[] = {{CK_EUPSTREAM, 503, 3, NULL}, {0, 200, -1, NULL}};
    struct script s2 = {.answers = busy, .n = 2};
    CHECK_OK(call(f, &s2, &rep), &f->err);
    assert_int_equal(s2.times[1] - s2.times[0], 3000);
    CHECK_OK(store_rate_peek(f->st, &f->budget, s2.times[0] + 1, &rs, &f->err), &f->err);
    assert_string_equal(rs.ban_reason, "Retry-After 3s (HTTP 503)");
}

static void test_daily_limit_defers(void **state)
{
    struct fixture *f = *state;
    static const struct answer day[] = {
        {CK_ELIMIT, 429, 12 * 3600, "the provider's daily credits are used up (429)"}};
    struct script s = {.answers = day, .n = 1};
    struct guard_report rep;
    struct breaker_info bi;

    assert_int_equal(call(f, &s, &rep), CK_ELIMIT);
    /* Not a failure: deferred until the ban ends, which is past the deadline. */
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(rep.sent, 1);
    assert_int_equal(rep.retry_at_ms, T0 + 12 * 3600 * 1000LL);
    assert_non_null(strstr(f->err.buf, "retry budget exceeds the job's deadline"));
    assert_int_equal(f->fc.slept, 0);
    breaker_info(f->breaker, f->fc.now, &bi);
    assert_int_equal(bi.failures, 0);

    /* The next call sends nothing at all: the stored ban defers it. */
    assert_int_equal(call(f, &s, &rep), CK_ELIMIT);
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(rep.sent, 0);
    assert_int_equal(s.calls, 0);
    assert_non_null(strstr(f->err.buf, "request deferred"));
    assert_non_null(strstr(f->err.buf, "daily credits"));
}

static void test_budget_wait_and_deferral(void **state)
{
    struct fixture *f = *state;
    static const struct answer ok[] = {{0, 200, -1, NULL}};
    struct script s = {.answers = ok, .n = 1};
    struct guard_report rep;

    ratelimit_budget(&f->budget, f->source, 2, 0);
    CHECK_OK(call(f, &s, &rep), &f->err);
    CHECK_OK(call(f, &s, &rep), &f->err);
    /* The third waits for the window (the deadline is far). */
    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(f->fc.slept, 61000);
    assert_int_equal(s.times[0], T0 + 61000);
    /* With the deadline near (minus the call's reserve), it is deferred instead. */
    f->g.deadline_ms = f->fc.now + 40000; /* waits must end by now + 10 s */
    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(call(f, &s, &rep), CK_ELIMIT);
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(rep.sent, 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(rep.retry_at_ms, T0 + 122000);
    /* A probe that found no budget is handed back: the breaker is unaffected. */
    struct breaker_info bi;
    breaker_info(f->breaker, f->fc.now, &bi);
    assert_int_equal(bi.state, BREAKER_CLOSED);
}

static void test_retries_respect_the_deadline(void **state)
{
    struct fixture *f = *state;
    static const struct answer bad[] = {{CK_ETIMEDOUT, 0, -1, NULL}};
    struct script s = {.answers = bad, .n = 1};
    struct guard_report rep;

    f->policy.max_retries = 5;
    f->g.deadline_ms = T0 + 30000 + 2500; /* waits may end by T0 + 2.5 s */
    assert_int_equal(call(f, &s, &rep), CK_ETIMEDOUT);
    assert_int_equal(rep.outcome, GUARD_FAILED);
    assert_int_equal(rep.sent, 2); /* 1 s fits, the 2 s after it does not */
    assert_true(f->fc.now <= T0 + 2500);
    assert_non_null(strstr(f->err.buf, "retry budget exceeds the job's deadline"));
    assert_non_null(strstr(f->err.buf, "after 2 attempts"));
}

static void test_no_budget_no_breaker(void **state)
{
    struct fixture *f = *state;
    static const struct answer seq[] = {{CK_EUPSTREAM, 502, -1, NULL}, {0, 200, -1, NULL}};
    struct script s = {.answers = seq, .n = 2};
    struct guard_report rep;

    f->g.budget = NULL;
    f->g.breaker = NULL;
    f->g.store = NULL;
    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(rep.sent, 2);
    assert_false(rep.has_budget);
}

static void expect_row(struct fixture *f, const char *state, int64_t failures, int64_t opened_at,
                       int64_t retry_at, int64_t updated)
{
    struct breaker_row row;

    CHECK_OK(store_breaker_get(f->st, f->source, &row, &f->err), &f->err);
    assert_string_equal(row.state, state);
    assert_int_equal(row.failures, failures);
    assert_int_equal(row.opened_at_ms, opened_at);
    assert_int_equal(row.retry_at_ms, retry_at);
    assert_int_equal(row.updated_ms, updated);
    assert_string_equal(row.instance, "host:9:zz");
    breaker_row_release(&row);
}

/* Every transition of the breaker is recorded in the store, and nothing else is. */
static void test_transitions_recorded(void **state)
{
    struct fixture *f = *state;
    static const struct answer flaky[] = {{CK_EUPSTREAM, 503, -1, NULL}, {0, 200, -1, NULL}};
    static const struct answer bad[] = {{CK_EUPSTREAM, 503, -1, NULL}};
    static const struct answer ok[] = {{0, 200, -1, NULL}};
    struct script s = {.answers = flaky, .n = 2};
    struct guard_report rep;
    struct breaker_row row;
    int64_t opened, probe;

    f->g.instance = "host:9:zz";
    /* A failure that leaves the breaker closed is no transition: nothing recorded. */
    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_int_equal(store_breaker_get(f->st, f->source, &row, &f->err), CK_ENOTFOUND);

    /* closed -> open, at the third failure in a row. */
    s = (struct script){.answers = bad, .n = 1};
    assert_int_equal(call(f, &s, &rep), CK_EUPSTREAM);
    opened = s.times[2];
    expect_row(f, "open", 3, opened, opened + 60000, opened);

    /* open -> half-open when the probe goes (recorded before it is sent), -> open again. */
    f->fc.now = opened + 60000;
    probe = f->fc.now;
    s = (struct script){.answers = bad, .n = 1, .peek = f->st, .peek_source = f->source};
    assert_int_equal(call(f, &s, &rep), CK_EUPSTREAM);
    assert_int_equal(s.calls, 1); /* the retries find it open */
    assert_string_equal(s.peeked[0], "half_open");
    expect_row(f, "open", 4, probe, probe + 120000, probe);

    /* half-open -> closed: the probe succeeds. */
    f->fc.now = probe + 120000;
    s = (struct script){.answers = ok, .n = 1, .peek = f->st, .peek_source = f->source};
    CHECK_OK(call(f, &s, &rep), &f->err);
    assert_string_equal(s.peeked[0], "half_open");
    expect_row(f, "closed", 0, probe, 0, f->fc.now);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ok_takes_one_token),
        T(test_5xx_retried_then_fails),
        T(test_client_errors_not_retried_nor_counted),
        T(test_retry_after_is_a_stored_ban),
        T(test_daily_limit_defers),
        T(test_budget_wait_and_deferral),
        T(test_retries_respect_the_deadline),
        T(test_no_budget_no_breaker),
        T(test_transitions_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
