/* SPDX-License-Identifier: MIT */
/*
 * The circuit breaker, driven through hours of fake time in microseconds
 * (time is an argument): opening after N consecutive failures, failing
 * fast while open, exactly one probe when half-open (also with threads
 * racing for it), closing on the probe's success, reopening with a doubled
 * recovery time up to the cap, lost and unused probes, and outcomes that
 * arrive late.
 */
#include "testutil.h"

#include "resilience/breaker.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "util/banned.h"

#define T0  1700000000000LL /* Unix ms */
#define MIN 60000LL

static struct breaker *mk(void)
{
    struct breaker_config c = {.failures = 5, .recovery_ms = MIN, .max_recovery_ms = 30 * MIN};
    return breaker_new("td", &c);
}

/* One ordinary call at `t` with `outcome`; returns how it was let through. */
static enum breaker_pass call(struct breaker *b, int64_t t, enum breaker_outcome outcome)
{
    enum breaker_pass pass = breaker_allow(b, t, NULL);
    if (pass != BREAKER_REJECTED)
        breaker_record(b, pass, outcome, t, NULL);
    return pass;
}

static void expect_state(struct breaker *b, int64_t t, enum breaker_state want, int failures)
{
    struct breaker_info bi;
    breaker_info(b, t, &bi);
    if (bi.state != want || bi.failures != failures)
        fail_msg("at +%llds: state %s failures %d, expected %s failures %d",
                 (long long)((t - T0) / 1000), breaker_state_name(bi.state), bi.failures,
                 breaker_state_name(want), failures);
}

static void test_opens_after_consecutive_failures(void **state)
{
    struct breaker *b = mk();
    enum breaker_state st;
    int64_t retry = 0;
    (void)state;

    assert_string_equal(breaker_name(b), "td");
    for (int i = 0; i < 4; i++)
        assert_int_equal(call(b, T0 + i, BREAKER_FAILURE), BREAKER_ADMITTED);
    expect_state(b, T0 + 4, BREAKER_CLOSED, 4);
    /* A success in between resets the count: failures must be consecutive. */
    assert_int_equal(call(b, T0 + 5, BREAKER_SUCCESS), BREAKER_ADMITTED);
    expect_state(b, T0 + 5, BREAKER_CLOSED, 0);
    for (int i = 0; i < 4; i++)
        call(b, T0 + 10 + i, BREAKER_FAILURE);
    expect_state(b, T0 + 20, BREAKER_CLOSED, 4);

    /* The fifth consecutive failure opens it, and says so. */
    assert_int_equal(breaker_allow(b, T0 + 30, NULL), BREAKER_ADMITTED);
    assert_true(breaker_record(b, BREAKER_ADMITTED, BREAKER_FAILURE, T0 + 30, &st));
    assert_int_equal(st, BREAKER_OPEN);
    expect_state(b, T0 + 31, BREAKER_OPEN, 5);

    /* Open: calls fail fast, told when the probe may go. */
    assert_int_equal(breaker_allow(b, T0 + 31, &retry), BREAKER_REJECTED);
    assert_int_equal(retry, T0 + 30 + MIN);
    assert_int_equal(breaker_allow(b, T0 + 30 + MIN - 1, &retry), BREAKER_REJECTED);
    {
        struct breaker_info bi;
        breaker_info(b, T0 + 40, &bi);
        assert_int_equal(bi.next_probe_ms, T0 + 30 + MIN);
        assert_int_equal(bi.recovery_ms, MIN);
        assert_int_equal(bi.opened, 1);
    }
    /* Unused outcomes and successes of nothing do not close it. */
    assert_false(breaker_record(b, BREAKER_ADMITTED, BREAKER_SUCCESS, T0 + 50, &st));
    assert_int_equal(st, BREAKER_OPEN);
    breaker_free(b);
}

static void test_one_probe_then_close(void **state)
{
    struct breaker *b = mk();
    enum breaker_state st;
    int64_t t, retry = 0;
    (void)state;

    for (int i = 0; i < 5; i++)
        call(b, T0, BREAKER_FAILURE);
    t = T0 + MIN;
    expect_state(b, t, BREAKER_HALF_OPEN, 5); /* reported half-open once the probe is due */
    assert_int_equal(breaker_allow(b, t, NULL), BREAKER_PROBE);
    /* Exactly one probe: everyone else still fails fast. */
    assert_int_equal(breaker_allow(b, t + 1, &retry), BREAKER_REJECTED);
    assert_int_equal(breaker_allow(b, t + 2000, NULL), BREAKER_REJECTED);
    assert_true(retry > t);
    assert_true(breaker_record(b, BREAKER_PROBE, BREAKER_SUCCESS, t + 3000, &st));
    assert_int_equal(st, BREAKER_CLOSED);
    expect_state(b, t + 3000, BREAKER_CLOSED, 0);
    assert_int_equal(breaker_allow(b, t + 3001, NULL), BREAKER_ADMITTED);
    breaker_free(b);
}

static void test_backoff_doubles_to_cap(void **state)
{
    struct breaker *b = mk();
    struct breaker_info bi;
    enum breaker_state st;
    int64_t t = T0, want = MIN;
    (void)state;

    for (int i = 0; i < 5; i++)
        call(b, t, BREAKER_FAILURE);
    /* Each failed probe doubles the wait: 2, 4, 8, 16, then 30 minutes (the cap). */
    for (int round = 0; round < 8; round++) {
        breaker_info(b, t, &bi);
        assert_int_equal(bi.recovery_ms, want);
        assert_int_equal(breaker_allow(b, t + want - 1, NULL), BREAKER_REJECTED);
        t += want;
        assert_int_equal(breaker_allow(b, t, NULL), BREAKER_PROBE);
        assert_true(breaker_record(b, BREAKER_PROBE, BREAKER_FAILURE, t, &st));
        assert_int_equal(st, BREAKER_OPEN);
        want = want * 2 > 30 * MIN ? 30 * MIN : want * 2;
    }
    breaker_info(b, t, &bi);
    assert_int_equal(bi.recovery_ms, 30 * MIN);
    assert_int_equal(bi.opened, 9);
    /* Recovery: the wait starts from its base again the next time it opens. */
    t += 30 * MIN;
    assert_int_equal(breaker_allow(b, t, NULL), BREAKER_PROBE);
    breaker_record(b, BREAKER_PROBE, BREAKER_SUCCESS, t, NULL);
    for (int i = 0; i < 5; i++)
        call(b, t, BREAKER_FAILURE);
    breaker_info(b, t, &bi);
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(bi.recovery_ms, MIN);
    breaker_free(b);
}

static void test_unused_and_lost_probes(void **state)
{
    struct breaker *b = mk();
    int64_t t;
    (void)state;

    for (int i = 0; i < 5; i++)
        call(b, T0, BREAKER_FAILURE);
    t = T0 + MIN;
    assert_int_equal(breaker_allow(b, t, NULL), BREAKER_PROBE);
    /* The probe was not sent after all (no budget): the next caller probes. */
    assert_false(breaker_record(b, BREAKER_PROBE, BREAKER_UNUSED, t, NULL));
    assert_int_equal(breaker_allow(b, t + 1, NULL), BREAKER_PROBE);
    /* This probe's caller vanishes: after a recovery time another may probe. */
    assert_int_equal(breaker_allow(b, t + 2, NULL), BREAKER_REJECTED);
    assert_int_equal(breaker_allow(b, t + 1 + MIN, NULL), BREAKER_PROBE);
    breaker_free(b);
}

static void test_late_outcomes_ignored(void **state)
{
    struct breaker *b = mk();
    enum breaker_pass early[3];
    enum breaker_state st;
    (void)state;

    /* Three calls go out while closed; then the breaker opens. */
    for (int i = 0; i < 3; i++)
        early[i] = breaker_allow(b, T0, NULL);
    for (int i = 0; i < 5; i++)
        call(b, T0 + 1, BREAKER_FAILURE);
    expect_state(b, T0 + 2, BREAKER_OPEN, 5);
    /* Their outcomes arrive now: neither a success nor failures change anything. */
    assert_false(breaker_record(b, early[0], BREAKER_SUCCESS, T0 + 3, &st));
    assert_int_equal(st, BREAKER_OPEN);
    breaker_record(b, early[1], BREAKER_FAILURE, T0 + 3, NULL);
    expect_state(b, T0 + 4, BREAKER_OPEN, 5);
    /* Nor during half-open: only the probe decides. */
    assert_int_equal(breaker_allow(b, T0 + 1 + MIN, NULL), BREAKER_PROBE);
    assert_false(breaker_record(b, early[2], BREAKER_SUCCESS, T0 + 2 + MIN, &st));
    assert_int_equal(st, BREAKER_HALF_OPEN);
    breaker_free(b);
}

static void test_threshold_one_and_names(void **state)
{
    struct breaker_config c = {.failures = 0, .recovery_ms = 10, .max_recovery_ms = 5};
    struct breaker *b = breaker_new(NULL, &c);
    struct breaker_info bi;
    (void)state;

    /* A threshold below 1 is 1; a cap below the recovery time is the recovery time. */
    call(b, T0, BREAKER_FAILURE);
    breaker_info(b, T0, &bi);
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(breaker_allow(b, T0 + 10, NULL), BREAKER_PROBE);
    breaker_record(b, BREAKER_PROBE, BREAKER_FAILURE, T0 + 10, NULL);
    breaker_info(b, T0 + 10, &bi);
    assert_int_equal(bi.recovery_ms, 10);
    assert_string_equal(breaker_name(b), "");
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    breaker_free(b);
    breaker_free(NULL);
}

/* Many threads ask a half-open breaker at once: exactly one gets the probe. */
struct racer {
    struct breaker *b;
    pthread_barrier_t *go;
    int probes, admitted;
};

/* A recorded state taken back at start-up, and what makes a breaker "active". */
static void test_restore_and_active(void **state)
{
    struct breaker *b = mk();
    struct breaker_info bi;
    enum breaker_state st;

    (void)state;
    assert_true(breaker_state_parse("half_open", &st));
    assert_int_equal(st, BREAKER_HALF_OPEN);
    assert_true(breaker_state_parse("open", &st) && st == BREAKER_OPEN);
    assert_true(breaker_state_parse("closed", &st) && st == BREAKER_CLOSED);
    assert_false(breaker_state_parse("Open", &st));
    assert_false(breaker_state_parse(NULL, &st));

    /* Fresh: not active; a closed record and a rejected pass change nothing. */
    breaker_info(b, T0, &bi);
    assert_false(bi.active);
    assert_true(breaker_restore(b, BREAKER_CLOSED, 0, 0, 0));
    breaker_info(b, T0, &bi);
    assert_false(bi.active);

    /* Open since T0 - 1 min with its probe at T0 + 4 min: the recovery time is 5 min. */
    assert_true(breaker_restore(b, BREAKER_OPEN, 7, T0 - MIN, T0 + 4 * MIN));
    breaker_info(b, T0, &bi);
    assert_true(bi.active);
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(bi.failures, 7);
    assert_int_equal(bi.next_probe_ms, T0 + 4 * MIN);
    assert_int_equal(bi.recovery_ms, 5 * MIN);
    assert_int_equal(bi.opened_at_ms, T0 - MIN);
    assert_int_equal(bi.opened, 0); /* opened in this process: never */
    assert_int_equal(call(b, T0 + 4 * MIN - 1, BREAKER_SUCCESS), BREAKER_REJECTED);
    /* A second restore is refused: the breaker has a state of its own now. */
    assert_false(breaker_restore(b, BREAKER_HALF_OPEN, 0, 0, 0));
    /* The probe's failure doubles the restored recovery time. */
    assert_int_equal(call(b, T0 + 4 * MIN, BREAKER_FAILURE), BREAKER_PROBE);
    breaker_info(b, T0 + 4 * MIN, &bi);
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(bi.next_probe_ms, T0 + 14 * MIN);
    breaker_free(b);

    /* A recorded recovery time out of the configured bounds is brought back within them. */
    b = mk();
    assert_true(breaker_restore(b, BREAKER_OPEN, 5, T0, T0 + 1000 * MIN));
    breaker_info(b, T0, &bi);
    assert_int_equal(bi.next_probe_ms, T0 + 30 * MIN);
    breaker_free(b);

    /* Half-open: the next caller probes at once. */
    b = mk();
    assert_true(breaker_restore(b, BREAKER_HALF_OPEN, 5, T0 - 2 * MIN, T0 - MIN));
    assert_int_equal(breaker_allow(b, T0, NULL), BREAKER_PROBE);
    assert_int_equal(breaker_allow(b, T0, NULL), BREAKER_REJECTED);
    breaker_free(b);

    /* Traffic makes it active: an outcome recorded, not a pass handed back unused. */
    b = mk();
    assert_int_equal(breaker_allow(b, T0, NULL), BREAKER_ADMITTED);
    breaker_record(b, BREAKER_ADMITTED, BREAKER_UNUSED, T0, NULL);
    breaker_info(b, T0, &bi);
    assert_false(bi.active);
    assert_int_equal(call(b, T0, BREAKER_SUCCESS), BREAKER_ADMITTED);
    breaker_info(b, T0, &bi);
    assert_true(bi.active);
    assert_false(breaker_restore(b, BREAKER_OPEN, 5, T0, T0 + MIN));
    expect_state(b, T0, BREAKER_CLOSED, 0);
    breaker_free(b);
}

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    for (int i = 0; i < 200; i++) {
        enum breaker_pass p = breaker_allow(r->b, T0 + MIN + i, NULL);
        r->probes += p == BREAKER_PROBE;
        r->admitted += p == BREAKER_ADMITTED;
    }
    return NULL;
}

static void test_probe_race(void **state)
{
    struct breaker *b = mk();
    pthread_barrier_t go;
    pthread_t th[8];
    struct racer r[8];
    int probes = 0, admitted = 0;
    (void)state;

    for (int i = 0; i < 5; i++)
        call(b, T0, BREAKER_FAILURE);
    pthread_barrier_init(&go, NULL, 8);
    for (int i = 0; i < 8; i++) {
        r[i] = (struct racer){.b = b, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        probes += r[i].probes;
        admitted += r[i].admitted;
    }
    assert_int_equal(probes, 1);
    assert_int_equal(admitted, 0);
    pthread_barrier_destroy(&go);
    breaker_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_consecutive_failures),
        cmocka_unit_test(test_one_probe_then_close),
        cmocka_unit_test(test_backoff_doubles_to_cap),
        cmocka_unit_test(test_unused_and_lost_probes),
        cmocka_unit_test(test_late_outcomes_ignored),
        cmocka_unit_test(test_threshold_one_and_names),
        cmocka_unit_test(test_probe_race),
        cmocka_unit_test(test_restore_and_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
