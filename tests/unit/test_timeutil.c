/* SPDX-License-Identifier: MIT */
/*
 * UTC time parsing, formatting and civil-date arithmetic. The civil
 * conversions are checked against a day-by-day walk written here with the
 * Gregorian leap rule, and against well-known instants (the epoch, 2^31 - 1
 * seconds, 2000-02-29).
 */
#include "testutil.h"

#include "util/error.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* 2024-01-02T15:00:00Z */
#define T_REF 1704207600LL

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

static void test_known_days(void **state)
{
    (void)state;
    static const struct {
        int y, m, d;
        int64_t days;
    } cases[] = {
        {1970, 1, 1, 0},      {1969, 12, 31, -1},      {1970, 1, 2, 1},
        {2000, 3, 1, 11017},  {2024, 1, 1, 19723},     {1900, 1, 1, -25567},
        {2038, 1, 19, 24855}, {9999, 12, 31, 2932896}, {1, 1, 1, -719162},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int y, m, d;
        assert_int_equal(days_from_civil(cases[i].y, cases[i].m, cases[i].d), cases[i].days);
        civil_from_days(cases[i].days, &y, &m, &d);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
}

/* Walk every day from 1970 forwards to 2500 and backwards to 1600. */
static void test_day_walk(void **state)
{
    (void)state;
    int y = 1970, m = 1, d = 1;
    for (int64_t n = 0; y < 2501; n++) {
        int yy, mm, dd;
        assert_int_equal(days_from_civil(y, m, d), n);
        civil_from_days(n, &yy, &mm, &dd);
        assert_true(yy == y && mm == m && dd == d);
        if (++d > month_days(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    y = 1969, m = 12, d = 31;
    for (int64_t n = -1; y >= 1600; n--) {
        int yy, mm, dd;
        assert_int_equal(days_from_civil(y, m, d), n);
        civil_from_days(n, &yy, &mm, &dd);
        assert_true(yy == y && mm == m && dd == d);
        if (--d < 1) {
            if (--m < 1) {
                m = 12;
                y--;
            }
            d = month_days(y, m);
        }
    }
}

static void test_leap_years(void **state)
{
    (void)state;
    /* February 29 exists in 2000, 2024, 2400; not in 1900, 2023, 2100. */
    assert_int_equal(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
    assert_int_equal(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28), 2);
    assert_int_equal(days_from_civil(2400, 3, 1) - days_from_civil(2400, 2, 28), 2);
    assert_int_equal(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);
    assert_int_equal(days_from_civil(2023, 3, 1) - days_from_civil(2023, 2, 28), 1);
    assert_int_equal(days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28), 1);
    /* 400 Gregorian years are exactly 146097 days. */
    assert_int_equal(days_from_civil(2400, 1, 1) - days_from_civil(2000, 1, 1), 146097);

    int64_t t;
    assert_int_equal(time_parse("2000-02-29", &t), 0);
    assert_int_equal(t, 951782400);
    assert_int_equal(time_parse("2024-02-29T12:00:00Z", &t), 0);
    assert_int_equal(time_parse("2023-02-29", &t), CK_EPARSE);
    assert_int_equal(time_parse("1900-02-29", &t), CK_EPARSE);
    assert_int_equal(time_parse("2100-02-29", &t), CK_EPARSE);
    assert_int_equal(time_parse("2400-02-29", &t), 0);
}

static void test_time_to_civil(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        struct civil_time c;
    } cases[] = {
        {0, {1970, 1, 1, 0, 0, 0, 4}},            /* a Thursday */
        {-1, {1969, 12, 31, 23, 59, 59, 3}},      /* Wednesday */
        {T_REF, {2024, 1, 2, 15, 0, 0, 2}},       /* Tuesday */
        {2147483647, {2038, 1, 19, 3, 14, 7, 2}}, /* Tuesday */
        {951782400, {2000, 2, 29, 0, 0, 0, 2}},   /* Tuesday */
        {1709942400, {2024, 3, 9, 0, 0, 0, 6}},   /* Saturday */
        {1710028800, {2024, 3, 10, 0, 0, 0, 0}},  /* Sunday */
        {-86400 * 4 - 1, {1969, 12, 27, 23, 59, 59, 6}},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct civil_time c;
        time_to_civil(cases[i].t, &c);
        assert_int_equal(c.year, cases[i].c.year);
        assert_int_equal(c.month, cases[i].c.month);
        assert_int_equal(c.day, cases[i].c.day);
        assert_int_equal(c.hour, cases[i].c.hour);
        assert_int_equal(c.min, cases[i].c.min);
        assert_int_equal(c.sec, cases[i].c.sec);
        assert_int_equal(c.wday, cases[i].c.wday);
        assert_int_equal(time_from_civil(&c), cases[i].t);
    }
}

static void test_parse_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t t;
    } cases[] = {
        {"2024-01-02T15:00:00Z", T_REF},
        {"2024-01-02T15:00:00", T_REF},
        {"2024-01-02 15:00:00", T_REF},
        {"2024-01-02t15:00:00z", T_REF},
        {"2024-01-02T15:00:00+00:00", T_REF},
        {"2024-01-02T15:00:00-00:00", T_REF},
        {"2024-01-02T15:00:00.123Z", T_REF},
        {"2024-01-02T15:00:00.999999+00:00", T_REF}, /* fractions are dropped, not rounded */
        {"2024-01-02T16:00:00+01:00", T_REF},
        {"2024-01-02T10:30:00-04:30", T_REF},
        {"2024-01-02T20:30:00+0530", T_REF},
        {"2024-01-02T17:00:00+02", T_REF},
        {"2024-01-02T15:00", T_REF},
        {"2024-01-02", T_REF - 15 * 3600},
        {"2024-01-01T00:30:00+01:00", T_REF - 15 * 3600 - 86400 - 1800}, /* previous day */
        {"1969-12-31T23:59:59Z", -1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t t = 42;
        int rc = time_parse(cases[i].s, &t);
        if (rc || t != cases[i].t)
            fail_msg("'%s': rc %d, t %lld, want %lld", cases[i].s, rc, (long long)t,
                     (long long)cases[i].t);
    }
    /* time_parse_n stops at the given length. */
    int64_t t;
    assert_int_equal(time_parse_n("2024-01-02T15:00:00Zgarbage", 20, &t), 0);
    assert_int_equal(t, T_REF);
    assert_int_equal(time_parse_n("2024-01-02T15:00:00Z", 10, &t), 0);
    assert_int_equal(t, T_REF - 15 * 3600);
}

static void test_parse_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "abc",
        "2024-02-30",
        "2024-01-02T25:00:00",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "2024-01-32",
        "2024-04-31",
        "2024-01-02T15:60:00",
        "2024-01-02T15:00:60",
        "2024-01-02T24:00:00",
        "2024-01-02T15:00:00+24:00",
        "2024-01-02T15:00:00+05:60",
        "2024-01-02T15:00:00Zjunk",
        "2024-01-02T15:00:00 Z",
        "2024-1-2",
        "24-01-02",
        "2024/01/02",
        "2024-01-02T",
        "2024-01-02T15",
        "2024-01-02T15:00:00.",
        "2024-01-02X15:00:00",
        " 2024-01-02",
        "2024-01-02 ",
        "-1704207600",
        "1234567890123",
        /* Bare digits are neither a date nor accepted as Unix seconds ("20240102" would
         * silently mean 1970-08-23). */
        "1704207600",
        "20240102",
        "0",
        "2024-01-02T15:00:00+05:",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t t = 42;
        int rc = time_parse(bad[i], &t);
        if (rc != CK_EPARSE)
            fail_msg("'%s' accepted (rc %d, t %lld)", bad[i], rc, (long long)t);
        assert_int_equal(t, 42); /* untouched on failure */
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[TIME_BUFSZ];

    time_format_iso8601(T_REF, buf);
    assert_string_equal(buf, "2024-01-02T15:00:00Z");
    time_format_datetime(T_REF, buf);
    assert_string_equal(buf, "2024-01-02 15:00:00");
    time_format_date(T_REF, buf);
    assert_string_equal(buf, "2024-01-02");
    time_format_iso8601(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    time_format_iso8601(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    time_format_date(951782400, buf);
    assert_string_equal(buf, "2000-02-29");
    time_format_iso8601(253402300799LL, buf);
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
}

/* parse(format(t)) == t in all three forms, over 1900..2200. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    int64_t lo = -2208988800LL, span = 9467107200LL; /* 1900-01-01 + 300 years */
    for (int i = 0; i < 20000; i++) {
        char buf[TIME_BUFSZ];
        int64_t t, back;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        t = lo + (int64_t)(x % (uint64_t)span);
        time_format_iso8601(t, buf);
        assert_int_equal(time_parse(buf, &back), 0);
        assert_int_equal(back, t);
        time_format_datetime(t, buf);
        assert_int_equal(time_parse(buf, &back), 0);
        assert_int_equal(back, t);
        time_format_date(t, buf);
        assert_int_equal(time_parse(buf, &back), 0);
        assert_int_equal(back, t - (((t % 86400) + 86400) % 86400));
    }
}

static void test_now(void **state)
{
    (void)state;
    int64_t a, b;

    assert_int_equal(setenv("CANDLEKEEP_NOW", "2024-01-02T15:00:00Z", 1), 0);
    assert_int_equal(time_now(), T_REF);
    /* An unparseable override is ignored rather than turning the clock to 0. */
    assert_int_equal(setenv("CANDLEKEEP_NOW", "yesterday", 1), 0);
    assert_true(time_now() > T_REF);
    assert_int_equal(unsetenv("CANDLEKEEP_NOW"), 0);
    a = time_now();
    assert_true(a > T_REF && a < 4102444800LL); /* after 2024, before 2100 */

    a = time_mono_ms();
    b = time_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_days),
        cmocka_unit_test(test_day_walk),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_time_to_civil),
        cmocka_unit_test(test_parse_accepted),
        cmocka_unit_test(test_parse_rejected),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
