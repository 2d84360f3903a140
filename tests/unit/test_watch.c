/* SPDX-License-Identifier: MIT */
/*
 * When a series is stale: the closed periods its calendar expects after
 * its newest candle. The instants are written by hand from the trading
 * rules (forex and metals close Friday 17:00 New York and open Sunday
 * 17:00, metals pause 17:00-18:00 New York every day; in winter New York is
 * UTC-5, in summer UTC-4), not computed with calendar.c, so a weekend that
 * counted, a pause that counted or a DST switch taken on the wrong day
 * shows as a wrong count.
 */
#include "testutil.h"

#include "alert/watch.h"
#include "market/calendar.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdio.h>

#define CAP 100000

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static struct calendar *cal_open(enum calendar_kind kind, const int64_t *hol, size_t nhol)
{
    struct calendar *cal = NULL;
    struct strbuf err = STRBUF_INIT;
    if (calendar_open(&cal, kind, hol, nhol, NULL, &err))
        fail_msg("calendar_open: %s", err.buf);
    strbuf_release(&err);
    return cal;
}

struct stale_case {
    enum timeframe tf;
    const char *latest; /* open time of the newest candle */
    const char *now;
    int64_t missing;
};

static void run_cases(const struct calendar *cal, const struct stale_case *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = watch_missing_periods(cal, v[i].tf, T(v[i].latest), T(v[i].now), CAP);
        if (got != v[i].missing)
            fail_msg("%s latest %s now %s: %lld missing, expected %lld", timeframe_name(v[i].tf),
                     v[i].latest, v[i].now, (long long)got, (long long)v[i].missing);
    }
}

/* Crypto trades around the clock: every closed period counts, the forming one never. */
static void test_crypto(void **state)
{
    static const struct stale_case cases[] = {
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:10:00Z", 0}, /* still forming */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:15:10Z", 0}, /* the next is forming */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:30:00Z", 1},
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:59:59Z", 2},
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T13:00:00Z", 3}, /* stale: a Saturday */
        {TF_H1, "2024-01-06T12:00:00Z", "2024-01-07T12:00:00Z", 23},
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-08T00:30:00Z", 2},
        /* W1 opens on Mondays: the weeks of Jan 8 and Jan 15 have closed. */
        {TF_W1, "2024-01-01T00:00:00Z", "2024-01-22T01:00:00Z", 2},
        /* A clock behind the newest candle (a restored database) is not stale. */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T11:00:00Z", 0},
    };
    struct calendar *cal = cal_open(CAL_CRYPTO, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    /* Counting stops at the cap. */
    assert_int_equal(
        watch_missing_periods(cal, TF_M1, T("2023-01-01T00:00:00Z"), T("2024-01-01T00:00:00Z"), 50),
        50);
    assert_int_equal(
        watch_missing_periods(cal, TF_M1, T("2023-01-01T00:00:00Z"), T("2024-01-01T00:00:00Z"), 0),
        0);
    calendar_free(cal);
}

/* Forex: nothing is missing over a weekend; the Sunday open counts from its first period. */
static void test_forex_weekend(void **state)
{
    static const struct stale_case cases[] = {
        /* Friday 2024-01-05 closes 17:00 EST = 22:00 UTC; the last M15 opens 21:45. */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-05T23:30:00Z", 0},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-06T12:00:00Z", 0}, /* Saturday */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T21:59:59Z", 0}, /* Sunday before 17:00 */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:15:00Z", 1},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:44:59Z", 2},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:45:00Z", 3}, /* stale from here */
        {TF_H1, "2024-01-05T21:00:00Z", "2024-01-07T12:00:00Z", 0},
        {TF_H1, "2024-01-05T21:00:00Z", "2024-01-08T01:00:00Z", 3},
        /* Saturday's D1 is not expected; Sunday's (open from 22:00) is. */
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-07T23:00:00Z", 0},
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-08T00:30:00Z", 1},
        /*
         * Across the switch to summer time (Sunday 2024-03-10): Friday closes
         * at 22:00 UTC, Sunday opens at 17:00 EDT = 21:00 UTC.
         */
        {TF_M15, "2024-03-08T21:45:00Z", "2024-03-10T20:59:00Z", 0},
        {TF_M15, "2024-03-08T21:45:00Z", "2024-03-10T21:45:00Z", 3},
        /* And back to winter time (Sunday 2024-11-03): Friday closes 21:00 UTC, Sunday opens 22:00.
         */
        {TF_M15, "2024-11-01T20:45:00Z", "2024-11-03T21:50:00Z", 0},
        {TF_M15, "2024-11-01T20:45:00Z", "2024-11-03T22:45:00Z", 3},
    };
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    /* Every minute of a whole weekend, never stale. */
    for (int64_t now = T("2024-01-05T22:00:00Z"); now < T("2024-01-07T22:00:00Z"); now += 60)
        assert_int_equal(watch_missing_periods(cal, TF_M15, T("2024-01-05T21:45:00Z"), now, CAP),
                         0);
    calendar_free(cal);
}

/* Metals: the daily pause 17:00-18:00 New York adds nothing either. */
static void test_metals_pause(void **state)
{
    static const struct stale_case cases[] = {
        /* Tuesday 2024-01-09, pause 22:00-23:00 UTC. */
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T22:59:00Z", 0},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:10:00Z", 0},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:44:59Z", 2},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:45:00Z", 3},
        /* The H1 of 22:00 is inside the pause. */
        {TF_H1, "2024-01-09T21:00:00Z", "2024-01-10T01:00:00Z", 2},
        /* Friday 2024-01-12 17:00 NY to Sunday: none. */
        {TF_H1, "2024-01-12T21:00:00Z", "2024-01-14T12:00:00Z", 0},
    };
    struct calendar *cal = cal_open(CAL_METALS, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    calendar_free(cal);
}

/* A holiday closes the trading day ending 17:00 New York on that date. */
static void test_holiday(void **state)
{
    static const struct stale_case cases[] = {
        /* Christmas 2024: closed from Tuesday Dec 24 22:00 UTC to Wednesday Dec 25 22:00 UTC. */
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T12:00:00Z", 0},
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T21:59:00Z", 0},
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T22:45:00Z", 3},
    };
    int64_t hol = days_from_civil(2024, 12, 25);
    struct calendar *cal = cal_open(CAL_FOREX, &hol, 1);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    calendar_free(cal);

    /* The same dates without the holiday: long stale. */
    cal = cal_open(CAL_FOREX, NULL, 0);
    assert_int_equal(watch_missing_periods(cal, TF_M15, T("2024-12-24T21:45:00Z"),
                                           T("2024-12-25T12:00:00Z"), CAP),
                     4 * 14);
    calendar_free(cal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto),
        cmocka_unit_test(test_forex_weekend),
        cmocka_unit_test(test_metals_pause),
        cmocka_unit_test(test_holiday),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
