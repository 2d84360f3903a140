/* SPDX-License-Identifier: MIT */
/*
 * The rate budget through the store, on every backend (CTest runs this
 * binary on SQLite and on PostgreSQL): the sliding minute window, the
 * daily quota and its reset at 00:00 UTC, bans that never shorten and
 * survive a reopened connection (a restart), a look that takes nothing,
 * several connections racing for the last tokens (exactly the budget is
 * granted), waiting and deferring through ratelimit_acquire() on a fake
 * clock, the urgency order, the skip-and-probe rule, and the series state
 * rows.
 *
 * Budgets are named per test ("r<pid>_<n>") so that tests sharing one
 * PostgreSQL database never see each other's counters.
 */
#include "testutil.h"

#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "resilience/streak.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-03-15T12:00:00Z in ms. */
#define T0     1710504000000LL
#define DAY_MS 86400000LL

struct fixture {
    struct store *st;
    char *url;
    char source[48];
    struct strbuf err;
};

static unsigned name_counter;

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    snprintf(f->source, sizeof(f->source), "r%ld_%u", (long)getpid(), name_counter++);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

static bool take(struct fixture *f, const struct rate_budget *b, int64_t now,
                 struct rate_state *out)
{
    CHECK_OK(store_rate_take(f->st, b, now, out, &f->err), &f->err);
    return out->granted;
}

static void test_minute_window_slides(void **state)
{
    struct fixture *f = *state;
    struct rate_budget b;
    struct rate_state s;

    /* ratelimit_budget() adds a margin to the minute; the store takes any window. */
    ratelimit_budget(&b, f->source, 3, 0);
    assert_int_equal(b.window_ms, 61000);
    b.window_ms = 60000;
    assert_true(take(f, &b, T0, &s));
    assert_int_equal(s.window_used, 1);
    assert_true(take(f, &b, T0 + 20000, &s));
    assert_true(take(f, &b, T0 + 40000, &s));
    assert_int_equal(s.window_used, 3);
    assert_int_equal(s.day_used, 3);

    /* Full: refused, and told when the oldest request leaves the window. */
    assert_false(take(f, &b, T0 + 50000, &s));
    assert_int_equal(s.refusal, RATE_WINDOW);
    assert_int_equal(s.retry_at_ms, T0 + 60000);
    assert_int_equal(s.window_used, 3);
    /* A window, not an aligned minute: 59.999 s after the first, still full. */
    assert_false(take(f, &b, T0 + 59999, &s));
    assert_true(take(f, &b, T0 + 60000, &s));
    /* Now the request of T0 + 20 s is the oldest of three. */
    assert_false(take(f, &b, T0 + 61000, &s));
    assert_int_equal(s.retry_at_ms, T0 + 80000);
    /* Refused takes counted nothing. */
    assert_int_equal(s.day_used, 4);
    assert_string_equal(rate_refusal_name(s.refusal), "minute_window");

    /* A lower limit (configuration changed) waits for enough to leave. */
    b.per_window = 1;
    assert_false(take(f, &b, T0 + 61000, &s));
    assert_int_equal(s.retry_at_ms, T0 + 60000 + 60000);
}

static void test_daily_quota(void **state)
{
    struct fixture *f = *state;
    int64_t day_end = (T0 / DAY_MS + 1) * DAY_MS;
    struct rate_budget b;
    struct rate_state s;

    ratelimit_budget(&b, f->source, 100, 3);
    for (int i = 0; i < 3; i++)
        assert_true(take(f, &b, T0 + i * 1000, &s));
    assert_false(take(f, &b, T0 + 5000, &s));
    assert_int_equal(s.refusal, RATE_DAY);
    assert_int_equal(s.retry_at_ms, day_end);
    assert_int_equal(s.day_used, 3);
    assert_false(take(f, &b, day_end - 1, &s));
    /* 00:00 UTC: a new day, a new quota. */
    assert_true(take(f, &b, day_end, &s));
    assert_int_equal(s.day_used, 1);
    /* Both limits at once: the later end is when a take can succeed. */
    ratelimit_budget(&b, f->source, 1, 1);
    assert_false(take(f, &b, day_end + 10, &s));
    assert_int_equal(s.refusal, RATE_DAY);
    assert_int_equal(s.retry_at_ms, day_end + DAY_MS);
}

static void test_ban_survives_reopen(void **state)
{
    struct fixture *f = *state;
    struct rate_budget b;
    struct rate_state s;

    ratelimit_budget(&b, f->source, 8, 800);
    assert_true(take(f, &b, T0, &s));
    CHECK_OK(
        store_rate_ban(f->st, f->source, T0 + 30000, "Retry-After 30s (HTTP 503)", T0, &f->err),
        &f->err);
    assert_false(take(f, &b, T0 + 1000, &s));
    assert_int_equal(s.refusal, RATE_BANNED);
    assert_int_equal(s.retry_at_ms, T0 + 30000);
    assert_int_equal(s.banned_until_ms, T0 + 30000);
    assert_string_equal(s.ban_reason, "Retry-After 30s (HTTP 503)");
    /* A shorter ban does not shorten it; a longer one extends it with its reason. */
    CHECK_OK(store_rate_ban(f->st, f->source, T0 + 5000, "short", T0 + 1000, &f->err), &f->err);
    assert_false(take(f, &b, T0 + 6000, &s));
    assert_int_equal(s.banned_until_ms, T0 + 30000);
    CHECK_OK(store_rate_ban(f->st, f->source, T0 + DAY_MS, "daily credits used up (429)", T0 + 2000,
                            &f->err),
             &f->err);

    /* A restart: a new connection (a new process) finds the ban. */
    store_close(f->st);
    f->st = NULL;
    CHECK_OK(store_open(&f->st, f->url, &f->err), &f->err);
    CHECK_OK(store_rate_peek(f->st, &b, T0 + 60000, &s, &f->err), &f->err);
    assert_false(s.granted);
    assert_int_equal(s.refusal, RATE_BANNED);
    assert_int_equal(s.banned_until_ms, T0 + DAY_MS);
    assert_string_equal(s.ban_reason, "daily credits used up (429)");
    assert_false(take(f, &b, T0 + DAY_MS - 1, &s));
    assert_true(take(f, &b, T0 + DAY_MS, &s));
    assert_int_equal(s.banned_until_ms, 0);

    /* A reason longer than the field is cut, not refused. */
    {
        char longer[300];
        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        CHECK_OK(store_rate_ban(f->st, f->source, T0 + 2 * DAY_MS, longer, T0 + DAY_MS, &f->err),
                 &f->err);
        CHECK_OK(store_rate_peek(f->st, &b, T0 + DAY_MS, &s, &f->err), &f->err);
        assert_int_equal(strlen(s.ban_reason), RATE_REASON_MAX - 1);
    }
}

static void test_peek_takes_nothing(void **state)
{
    struct fixture *f = *state;
    struct rate_budget b, other;
    struct rate_state s;

    ratelimit_budget(&b, f->source, 2, 10);
    /* A budget never used: all free, and peeking creates nothing to count. */
    CHECK_OK(store_rate_peek(f->st, &b, T0, &s, &f->err), &f->err);
    assert_int_equal(s.refusal, RATE_FREE);
    assert_int_equal(s.window_used, 0);
    assert_int_equal(s.day_used, 0);
    assert_false(s.granted);
    assert_true(take(f, &b, T0, &s));
    for (int i = 0; i < 5; i++)
        CHECK_OK(store_rate_peek(f->st, &b, T0 + 1, &s, &f->err), &f->err);
    assert_int_equal(s.window_used, 1);
    assert_int_equal(s.day_used, 1);
    assert_true(take(f, &b, T0 + 2, &s));
    assert_false(take(f, &b, T0 + 3, &s));
    /* Budgets are per provider key. */
    char name[64];
    snprintf(name, sizeof(name), "%s_other", f->source);
    ratelimit_budget(&other, name, 2, 10);
    assert_true(take(f, &other, T0 + 3, &s));
    assert_int_equal(s.window_used, 1);
    /* Bad budgets are refused. */
    struct rate_budget bad = {.source = "", .window_ms = 60000, .per_window = 1};
    assert_int_equal(store_rate_take(f->st, &bad, T0, &s, &f->err), CK_EINVAL);
    strbuf_reset(&f->err);
}

/* Racers: each its own connection, all taking from one budget at once. */
struct racer {
    const char *url;
    const char *source;
    pthread_barrier_t *go;
    int granted;
    int failed;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    struct rate_budget b;

    ratelimit_budget(&b, r->source, 5, 1000);
    if (store_open(&st, r->url, &err))
        r->failed++;
    pthread_barrier_wait(r->go);
    for (int i = 0; st && i < 10; i++) {
        struct rate_state s;
        strbuf_reset(&err);
        if (store_rate_take(st, &b, T0 + i, &s, &err)) {
            fprintf(stderr, "racer: %s\n", err.buf);
            r->failed++;
        } else {
            r->granted += s.granted;
        }
    }
    store_close(st);
    strbuf_release(&err);
    return NULL;
}

static void test_connections_race_for_the_last_token(void **state)
{
    struct fixture *f = *state;
    enum { NRACERS = 4 };
    pthread_barrier_t go;
    pthread_t th[NRACERS];
    struct racer r[NRACERS];
    struct rate_budget b;
    struct rate_state s;
    int granted = 0;

    for (int round = 0; round < 3; round++) {
        char source[64];
        snprintf(source, sizeof(source), "%s_race%d", f->source, round);
        pthread_barrier_init(&go, NULL, NRACERS);
        for (int i = 0; i < NRACERS; i++) {
            r[i] = (struct racer){.url = f->url, .source = source, .go = &go};
            assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
        }
        granted = 0;
        for (int i = 0; i < NRACERS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(r[i].failed, 0);
            granted += r[i].granted;
        }
        pthread_barrier_destroy(&go);
        /* 40 takes in the same few milliseconds for a budget of 5: exactly 5. */
        assert_int_equal(granted, 5);
        ratelimit_budget(&b, source, 5, 1000);
        CHECK_OK(store_rate_peek(f->st, &b, T0 + 20, &s, &f->err), &f->err);
        assert_int_equal(s.window_used, 5);
        assert_int_equal(s.day_used, 5);
    }
}

/* A fake clock for ratelimit_acquire(): sleeping moves it. */
struct fake_clock {
    int64_t now;
    int64_t slept;
    bool stop;
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
    c->now += ms;
    c->slept += ms;
    return true;
}

static void test_acquire_waits_or_defers(void **state)
{
    struct fixture *f = *state;
    struct fake_clock fc = {.now = T0};
    struct retry_clock clock = {.now_ms = fake_now, .sleep_ms = fake_sleep, .arg = &fc};
    struct rate_budget b;
    struct rate_state s;

    ratelimit_budget(&b, f->source, 2, 0);
    CHECK_OK(ratelimit_acquire(f->st, &b, &clock, T0 + 120000, &s, &f->err), &f->err);
    fc.now += 10000;
    CHECK_OK(ratelimit_acquire(f->st, &b, &clock, T0 + 120000, &s, &f->err), &f->err);
    assert_int_equal(fc.slept, 0);
    /* The third waits until the first leaves the window (61 s with the margin). */
    CHECK_OK(ratelimit_acquire(f->st, &b, &clock, T0 + 120000, &s, &f->err), &f->err);
    assert_int_equal(fc.slept, 51000);
    assert_int_equal(fc.now, T0 + 61000);
    assert_true(s.granted);

    /* A wait past the deadline is not started: deferred, said why, nothing taken. */
    assert_int_equal(ratelimit_acquire(f->st, &b, &clock, T0 + 65000, &s, &f->err), CK_ELIMIT);
    assert_int_equal(fc.now, T0 + 61000);
    assert_false(s.granted);
    assert_int_equal(s.retry_at_ms, T0 + 71000);
    assert_non_null(strstr(f->err.buf, f->source));
    assert_non_null(strstr(f->err.buf, "request deferred"));
    assert_non_null(strstr(f->err.buf, "2 of 2 requests of the last minute"));
    assert_non_null(strstr(f->err.buf, "a token is free in 10.0s"));
    assert_non_null(strstr(f->err.buf, "past the job's deadline"));
    strbuf_reset(&f->err);

    /* A ban: waited out when it ends in time; a stop request ends the wait. */
    CHECK_OK(
        store_rate_ban(f->st, f->source, T0 + 90000, "Retry-After 30s (HTTP 429)", fc.now, &f->err),
        &f->err);
    fc.stop = true;
    assert_int_equal(ratelimit_acquire(f->st, &b, &clock, T0 + 200000, &s, &f->err), CK_ETIMEDOUT);
    strbuf_reset(&f->err);
    fc.stop = false;
    assert_int_equal(ratelimit_acquire(f->st, &b, &clock, T0 + 80000, &s, &f->err), CK_ELIMIT);
    assert_non_null(strstr(f->err.buf, "the provider asked to wait until"));
    assert_non_null(strstr(f->err.buf, "Retry-After 30s (HTTP 429)"));
    strbuf_reset(&f->err);
    CHECK_OK(ratelimit_acquire(f->st, &b, &clock, T0 + 200000, &s, &f->err), &f->err);
    assert_int_equal(fc.now, T0 + 90000);
    assert_int_equal(s.banned_until_ms, 0);
}

static void test_urgency_order(void **state)
{
    /* now = 12:00; H1 candles newest at 10:00 (closed 11:00: one period late), at 11:00
     * (closed 12:00: on time), none at all, at 06:00 (5 periods late). */
    int64_t now = T0 / 1000, h = 3600;
    struct ratelimit_item v[] = {
        {ratelimit_urgency(TF_H1, true, now - 2 * h, now), 0},
        {ratelimit_urgency(TF_H1, true, now - h, now), 1},
        {ratelimit_urgency(TF_H1, false, 0, now), 2},
        {ratelimit_urgency(TF_H1, true, now - 6 * h, now), 3},
        {ratelimit_urgency(TF_H1, true, now - h, now), 4},
    };
    (void)state;

    assert_true(isinf(v[2].urgency));
    assert_true(fabs(v[0].urgency - 1.0) < 1e-9);
    assert_true(fabs(v[1].urgency - 0.0) < 1e-9);
    ratelimit_order(v, 5);
    assert_int_equal(v[0].index, 2); /* never fetched: first */
    assert_int_equal(v[1].index, 3);
    assert_int_equal(v[2].index, 0);
    assert_int_equal(v[3].index, 1); /* ties keep the configured order */
    assert_int_equal(v[4].index, 4);
    /* Relative to the timeframe: an M15 candle 45 minutes overdue (3 periods) is more
     * urgent than a D1 candle two days overdue (2 periods). */
    assert_true(fabs(ratelimit_urgency(TF_M15, true, now - 4 * 900, now) - 3.0) < 1e-9);
    assert_true(fabs(ratelimit_urgency(TF_D1, true, now - 3 * 86400, now) - 2.0) < 1e-9);
    assert_true(ratelimit_urgency(TF_M15, true, now - 4 * 900, now) >
                ratelimit_urgency(TF_D1, true, now - 3 * 86400, now));
}

static void test_streak_rule(void **state)
{
    (void)state;
    assert_int_equal(streak_decide(0, 0, 10, 10), STREAK_RUN);
    assert_int_equal(streak_decide(9, 0, 10, 10), STREAK_RUN);
    /* From the 10th failure in a row: 9 cycles skipped, the 10th probes. */
    for (int skipped = 0; skipped < 9; skipped++)
        assert_int_equal(streak_decide(10, skipped, 10, 10), STREAK_SKIP);
    assert_int_equal(streak_decide(10, 9, 10, 10), STREAK_PROBE);
    assert_int_equal(streak_decide(25, 9, 10, 10), STREAK_PROBE);
    assert_int_equal(streak_decide(1000, 0, 0, 10), STREAK_RUN); /* 0: never skip */
    assert_int_equal(streak_decide(3, 0, 3, 1), STREAK_PROBE);   /* probe every cycle */
    assert_string_equal(streak_action_name(STREAK_SKIP), "skip");
}

static void test_series_state(void **state)
{
    struct fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const struct series_key k2 = {f->source, "EUR/USD", TF_H1};
    struct series_state s, *v;
    size_t n;
    int64_t now = T0 / 1000;

    assert_int_equal(store_series_state_get(f->st, &k, &s, &f->err), CK_ENOTFOUND);
    assert_non_null(strstr(f->err.buf, "XAU/USD"));
    strbuf_reset(&f->err);

    for (int i = 1; i <= 3; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "HTTP 503 #%d", i);
        CHECK_OK(store_series_record(f->st, &k, SERIES_FAILED, msg, now + i, &s, &f->err), &f->err);
        assert_int_equal(s.streak, i);
        series_state_release(&s);
    }
    CHECK_OK(store_series_record(f->st, &k, SERIES_SKIPPED, NULL, now + 10, NULL, &f->err),
             &f->err);
    CHECK_OK(store_series_record(f->st, &k, SERIES_SKIPPED, NULL, now + 11, NULL, &f->err),
             &f->err);
    CHECK_OK(store_series_state_get(f->st, &k, &s, &f->err), &f->err);
    assert_string_equal(s.source, f->source);
    assert_string_equal(s.symbol, "XAU/USD");
    assert_int_equal(s.tf, TF_M15);
    assert_int_equal(s.streak, 3);
    assert_int_equal(s.skipped, 2);
    assert_string_equal(s.last_error, "HTTP 503 #3");
    assert_int_equal(s.last_failure, now + 3);
    assert_int_equal(s.last_success, 0);
    assert_int_equal(s.deferred_since, 0);
    assert_int_equal(s.updated_at, now + 11);
    series_state_release(&s);

    /* A deferral keeps its first time; a success clears everything but the history. */
    CHECK_OK(store_series_record(f->st, &k2, SERIES_DEFERRED, "budget", now + 20, NULL, &f->err),
             &f->err);
    CHECK_OK(store_series_record(f->st, &k2, SERIES_DEFERRED, "still", now + 30, &s, &f->err),
             &f->err);
    assert_int_equal(s.deferred_since, now + 20);
    assert_string_equal(s.deferred_reason, "still");
    assert_int_equal(s.streak, 0);
    series_state_release(&s);

    CHECK_OK(store_series_state_list(f->st, f->source, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].symbol, "EUR/USD"); /* ordered by symbol */
    assert_int_equal(v[0].tf, TF_H1);
    assert_string_equal(v[1].symbol, "XAU/USD");
    series_states_free(v, n);

    CHECK_OK(store_series_record(f->st, &k, SERIES_OK, NULL, now + 40, &s, &f->err), &f->err);
    assert_int_equal(s.streak, 0);
    assert_int_equal(s.skipped, 0);
    assert_int_equal(s.last_success, now + 40);
    assert_int_equal(s.last_failure, now + 3);
    series_state_release(&s);
    CHECK_OK(store_series_record(f->st, &k2, SERIES_OK, NULL, now + 41, &s, &f->err), &f->err);
    assert_int_equal(s.deferred_since, 0);
    assert_string_equal(s.deferred_reason, "");
    series_state_release(&s);

    /* Every source: at least ours. */
    CHECK_OK(store_series_state_list(f->st, NULL, &v, &n, &f->err), &f->err);
    assert_true(n >= 2);
    series_states_free(v, n);
    /* Messages survive as text (quotes, non-ASCII). */
    CHECK_OK(store_series_record(f->st, &k, SERIES_FAILED, "l'\"été\"", now + 50, &s, &f->err),
             &f->err);
    series_state_release(&s);
    CHECK_OK(store_series_state_get(f->st, &k, &s, &f->err), &f->err);
    assert_string_equal(s.last_error, "l'\"été\"");
    series_state_release(&s);
}

/* Records join a caller's transaction and vanish with its rollback. */
static void test_series_state_in_transaction(void **state)
{
    struct fixture *f = *state;
    const struct series_key k = {f->source, "BTC/USD", TF_M15};
    struct series_state s;

    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    CHECK_OK(store_series_record(f->st, &k, SERIES_FAILED, "x", 100, NULL, &f->err), &f->err);
    CHECK_OK(store_rollback(f->st, &f->err), &f->err);
    assert_int_equal(store_series_state_get(f->st, &k, &s, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_minute_window_slides),
        T(test_daily_quota),
        T(test_ban_survives_reopen),
        T(test_peek_takes_nothing),
        T(test_connections_race_for_the_last_token),
        T(test_acquire_waits_or_defers),
        cmocka_unit_test(test_urgency_order),
        cmocka_unit_test(test_streak_rule),
        T(test_series_state),
        T(test_series_state_in_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
