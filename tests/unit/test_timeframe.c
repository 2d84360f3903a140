/* SPDX-License-Identifier: MIT */
/*
 * Timeframe names, lengths and alignment. Periods align to the Unix epoch
 * in UTC, except W1, which starts on Monday 00:00 UTC (1970-01-01 was a
 * Thursday, so the first W1 boundary after the epoch is 1970-01-05).
 */
#include "testutil.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <string.h>

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static const struct {
    enum timeframe tf;
    const char *name;
    int64_t seconds;
} table[] = {
    {TF_M1, "M1", 60},        {TF_M5, "M5", 5 * 60},        {TF_M15, "M15", 15 * 60},
    {TF_M30, "M30", 30 * 60}, {TF_H1, "H1", 3600},          {TF_H4, "H4", 4 * 3600},
    {TF_D1, "D1", 24 * 3600}, {TF_W1, "W1", 7 * 24 * 3600},
};

static void test_names_and_lengths(void **state)
{
    (void)state;
    assert_int_equal(ARRAY_SIZE(table), TF_COUNT);
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        enum timeframe tf = TF_COUNT;
        char lower[8];
        assert_string_equal(timeframe_name(table[i].tf), table[i].name);
        assert_int_equal(timeframe_seconds(table[i].tf), table[i].seconds);
        assert_int_equal(timeframe_parse(table[i].name, &tf), 0);
        assert_int_equal(tf, table[i].tf);
        /* case-insensitive */
        snprintf(lower, sizeof(lower), "%c%s", table[i].name[0] + ('a' - 'A'), table[i].name + 1);
        tf = TF_COUNT;
        assert_int_equal(timeframe_parse(lower, &tf), 0);
        assert_int_equal(tf, table[i].tf);
        /* and listed once in the names string, as a whole word */
        const char *all = timeframe_all_names(), *p = strstr(all, table[i].name);
        size_t len = strlen(table[i].name);
        while (p && p[len] != ' ' && p[len] != '\0')
            p = strstr(p + 1, table[i].name);
        assert_non_null(p);
    }
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"",   "M2",   "15m", "M",  "H",   "D",
                                      "1H", "M15 ", " H1", "W2", "MN1", "H1x"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        enum timeframe tf = TF_H4;
        if (timeframe_parse(bad[i], &tf) != CK_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(tf, TF_H4);
    }
}

static void test_floor(void **state)
{
    (void)state;
    static const struct {
        enum timeframe tf;
        const char *t, *floor;
    } cases[] = {
        {TF_M1, "2024-01-02T15:27:59Z", "2024-01-02T15:27:00Z"},
        {TF_M5, "2024-01-02T15:27:59Z", "2024-01-02T15:25:00Z"},
        {TF_M15, "2024-01-02T15:29:59Z", "2024-01-02T15:15:00Z"},
        {TF_M15, "2024-01-02T15:30:00Z", "2024-01-02T15:30:00Z"},
        {TF_M30, "2024-01-02T15:29:59Z", "2024-01-02T15:00:00Z"},
        {TF_H1, "2024-01-02T15:27:00Z", "2024-01-02T15:00:00Z"},
        {TF_H4, "2024-01-02T15:27:00Z", "2024-01-02T12:00:00Z"},
        {TF_H4, "2024-01-02T03:59:59Z", "2024-01-02T00:00:00Z"},
        {TF_D1, "2024-01-02T23:59:59Z", "2024-01-02T00:00:00Z"},
        /* W1: Monday 00:00 UTC */
        {TF_W1, "2024-01-03T12:00:00Z", "2024-01-01T00:00:00Z"}, /* Wednesday */
        {TF_W1, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"}, /* Monday */
        {TF_W1, "2024-01-07T23:59:59Z", "2024-01-01T00:00:00Z"}, /* Sunday */
        {TF_W1, "2024-01-08T00:00:00Z", "2024-01-08T00:00:00Z"},
        {TF_W1, "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z"}, /* Thursday of week 0 */
        {TF_W1, "1970-01-05T00:00:00Z", "1970-01-05T00:00:00Z"},
        /* before the epoch */
        {TF_H1, "1969-12-31T23:59:59Z", "1969-12-31T23:00:00Z"},
        {TF_D1, "1969-12-31T00:00:01Z", "1969-12-31T00:00:00Z"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t t = T(cases[i].t), f = T(cases[i].floor);
        if (timeframe_floor(cases[i].tf, t) != f)
            fail_msg("%s floor of %s", timeframe_name(cases[i].tf), cases[i].t);
        assert_true(timeframe_is_aligned(cases[i].tf, f));
        assert_int_equal(timeframe_is_aligned(cases[i].tf, t), t == f);
    }
}

/* floor(t) <= t < floor(t) + len, idempotent, for every timeframe. */
static void test_floor_properties(void **state)
{
    (void)state;
    for (int tfi = 0; tfi < TF_COUNT; tfi++) {
        enum timeframe tf = (enum timeframe)tfi;
        int64_t len = timeframe_seconds(tf);
        for (int64_t t = -3 * 604800 - 7; t < 3 * 604800; t += 599) {
            int64_t f = timeframe_floor(tf, t);
            assert_true(f <= t && t < f + len);
            assert_int_equal(timeframe_floor(tf, f), f);
            assert_true(timeframe_is_aligned(tf, f));
            assert_false(timeframe_is_aligned(tf, f + 1));
            if (tf == TF_W1) {
                struct civil_time c;
                time_to_civil(f, &c);
                assert_int_equal(c.wday, 1);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_lengths),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_floor_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
