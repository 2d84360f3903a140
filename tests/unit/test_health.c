/* SPDX-License-Identifier: MIT */
/*
 * The rules of the health report (health/rules.h), table-driven: when a
 * job runs next, when it is overdue, how old a series is. Each row is
 * written by hand from the definition, not computed with the code under
 * test, so a rule that drifts shows as a wrong row.
 */
#include "testutil.h"

#include "health/rules.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t T(const char *iso)
{
    int64_t t;
    if (time_parse(iso, &t))
        fail_msg("bad time '%s'", iso);
    return t;
}

static void test_next_run(void **state)
{
    static const struct {
        const char *cron, *last_fire, *now, *want; /* last_fire NULL: never fired; want NULL: -1 */
    } v[] = {
        /* The fire after the newest one handled, even when it is long past. */
        {"1,16,31,46 * * * *", "2024-03-13T10:16:00Z", "2024-03-13T10:20:00Z",
         "2024-03-13T10:31:00Z"},
        {"1,16,31,46 * * * *", "2024-03-13T10:16:00Z", "2024-03-14T00:00:00Z",
         "2024-03-13T10:31:00Z"},
        /* Never fired: the first fire after now. */
        {"1,16,31,46 * * * *", NULL, "2024-03-13T10:20:00Z", "2024-03-13T10:31:00Z"},
        {"0 3 * * *", NULL, "2024-03-13T03:00:00Z", "2024-03-14T03:00:00Z"},
        {"0 6 * * *", "2024-03-13T06:00:00Z", "2024-03-13T05:00:00Z", "2024-03-14T06:00:00Z"},
        /* A schedule that does not parse has no next run. */
        {"not a schedule", NULL, "2024-03-13T10:20:00Z", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t got =
            health_job_next_run(v[i].cron, v[i].last_fire ? T(v[i].last_fire) : 0, T(v[i].now));
        int64_t want = v[i].want ? T(v[i].want) : -1;
        if (got != want)
            fail_msg("row %zu (%s): next run %lld, want %lld", i, v[i].cron, (long long)got,
                     (long long)want);
    }
}

static void test_overdue(void **state)
{
    static const struct {
        const char *next_run; /* NULL: none (-1) */
        int64_t period;
        bool paused;
        const char *now;
        bool want;
    } v[] = {
        /* Due, but not yet a whole period late. */
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:31:00Z", false},
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:46:00Z", false},
        /* One second past a whole period: overdue. */
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:46:01Z", true},
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-14T00:00:00Z", true},
        /* A paused job is never overdue. */
        {"2024-03-13T10:31:00Z", 900, true, "2024-03-14T00:00:00Z", false},
        /* No next run: nothing to be late for. */
        {NULL, 900, false, "2024-03-14T00:00:00Z", false},
        /* A daily job: a day and a second late. */
        {"2024-03-13T03:00:00Z", 86400, false, "2024-03-14T02:59:59Z", false},
        {"2024-03-13T03:00:00Z", 86400, false, "2024-03-14T03:00:01Z", true},
        /* Next run in the future. */
        {"2024-03-14T03:00:00Z", 86400, false, "2024-03-13T03:00:00Z", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        bool got = health_job_overdue(v[i].next_run ? T(v[i].next_run) : -1, v[i].period,
                                      v[i].paused, T(v[i].now));
        if (got != v[i].want)
            fail_msg("row %zu: overdue %d, want %d", i, got, v[i].want);
    }
}

static void test_period(void **state)
{
    (void)state;
    assert_int_equal(health_job_period("1,16,31,46 * * * *", T("2024-03-13T10:20:00Z")), 900);
    assert_int_equal(health_job_period("0 3 * * *", T("2024-03-13T10:20:00Z")), 86400);
    assert_int_equal(health_job_period("1 */4 * * *", T("2024-03-13T10:20:00Z")), 4 * 3600);
    /* No schedule: a day, as the scheduler counts it. */
    assert_int_equal(health_job_period("bogus", T("2024-03-13T10:20:00Z")), 86400);
}

static void test_age(void **state)
{
    static const struct {
        enum timeframe tf;
        const char *latest, *now;
        int64_t want;
    } v[] = {
        /* Closed at 10:15, now 10:20: 5 minutes. */
        {TF_M15, "2024-03-13T10:00:00Z", "2024-03-13T10:20:00Z", 300},
        /* Closing exactly now: 0. */
        {TF_M15, "2024-03-13T10:00:00Z", "2024-03-13T10:15:00Z", 0},
        /* Still forming (closes at 10:30): 0, not -600. */
        {TF_M15, "2024-03-13T10:15:00Z", "2024-03-13T10:20:00Z", 0},
        /* A candle from the future (a clock ahead of ours): 0. */
        {TF_H1, "2024-03-13T12:00:00Z", "2024-03-13T10:20:00Z", 0},
        {TF_H1, "2024-03-13T08:00:00Z", "2024-03-13T10:20:00Z", 4800},
        {TF_D1, "2024-03-11T00:00:00Z", "2024-03-13T10:20:00Z", 86400 + 10 * 3600 + 1200},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t got = health_series_age(v[i].tf, T(v[i].latest), T(v[i].now));
        if (got != v[i].want)
            fail_msg("row %zu: age %lld, want %lld", i, (long long)got, (long long)v[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_run),
        cmocka_unit_test(test_overdue),
        cmocka_unit_test(test_period),
        cmocka_unit_test(test_age),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
