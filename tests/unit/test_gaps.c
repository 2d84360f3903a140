/* SPDX-License-Identifier: MIT */
/*
 * Gap detection. The expected candles are rebuilt here by brute force, with
 * no help from the session code gaps.c uses: a period is expected when
 * calendar_is_open() is true at any whole minute inside it (every session
 * boundary of these calendars falls on a whole minute). From that list:
 * a complete history must give no gap at all, an empty one exactly one range
 * over everything, and holes punched at chosen or pseudo-random places must
 * come back exactly, as runs of consecutive expected candles.
 */
#include "testutil.h"

#include "market/calendar.h"
#include "market/gaps.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR 3600
#define DAY  86400

struct tvec {
    int64_t *v;
    size_t n, alloc;
};

static void tvec_push(struct tvec *tv, int64_t t)
{
    ALLOC_GROW(tv->v, tv->n + 1, tv->alloc);
    tv->v[tv->n++] = t;
}

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

static bool brute_expects(const struct calendar *cal, enum timeframe tf, int64_t t)
{
    int64_t end = t + timeframe_seconds(tf);
    for (int64_t m = t; m < end; m += 60)
        if (calendar_is_open(cal, m))
            return true;
    return false;
}

/* The expected open times in [from, to), from aligned. */
static void brute_list(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                       struct tvec *out)
{
    for (int64_t t = from; t < to; t += timeframe_seconds(tf))
        if (brute_expects(cal, tf, t))
            tvec_push(out, t);
}

static size_t find(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                   const struct tvec *have, struct gap_range **g, size_t *n, size_t *alloc)
{
    *n = 0;
    return gaps_find(cal, tf, from, to, have ? have->v : NULL, have ? have->n : 0, g, n, alloc);
}

static void assert_range(const struct gap_range *g, int64_t first, int64_t last, int64_t count)
{
    if (g->first != first || g->last != last || g->count != count) {
        char a[TIME_BUFSZ], b[TIME_BUFSZ], c[TIME_BUFSZ], d[TIME_BUFSZ];
        time_format_iso8601(g->first, a);
        time_format_iso8601(g->last, b);
        time_format_iso8601(first, c);
        time_format_iso8601(last, d);
        fail_msg("gap %s..%s x%" PRId64 ", want %s..%s x%" PRId64, a, b, g->count, c, d, count);
    }
}

/*
 * Remove the candles at sorted, unique indices `idx` from `exp` and check
 * that gaps_find reports exactly the runs of consecutive indices.
 */
static void check_holes(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                        const struct tvec *exp, const size_t *idx, size_t nidx)
{
    struct tvec have = {0};
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0, k = 0, ng = 0;

    for (size_t i = 0; i < exp->n; i++) {
        if (k < nidx && idx[k] == i)
            k++;
        else
            tvec_push(&have, exp->v[i]);
    }
    ng = find(cal, tf, from, to, &have, &g, &n, &alloc);
    assert_int_equal(ng, n);
    k = 0;
    for (size_t i = 0; i < nidx;) {
        size_t j = i;
        while (j + 1 < nidx && idx[j + 1] == idx[j] + 1)
            j++;
        if (k >= n)
            fail_msg("%s: only %zu gaps reported", timeframe_name(tf), n);
        assert_range(&g[k], exp->v[idx[i]], exp->v[idx[j]], (int64_t)(j - i + 1));
        k++;
        i = j + 1;
    }
    assert_int_equal(k, n);
    free(g);
    free(have.v);
}

/*
 * For one calendar and timeframe over [from, to): calendar_expects agrees
 * with brute force on every slot and in the count of expected candles, a
 * complete history has no gaps, an empty one has one range, and holes come
 * back exactly.
 */
static void check_year(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to)
{
    struct tvec exp = {0};
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0;
    int64_t len = timeframe_seconds(tf);

    brute_list(cal, tf, from, to, &exp);
    assert_true(exp.n > 0);
    /* The count per session is the brute-force count, also for a window with ragged ends. */
    assert_int_equal(gaps_count_expected(cal, tf, from, to), (int64_t)exp.n);
    {
        int64_t lo = from + len + 1, hi = to - 2 * len - 1, want = 0;
        for (size_t i = 0; i < exp.n; i++)
            want += exp.v[i] >= lo && exp.v[i] < hi;
        assert_int_equal(gaps_count_expected(cal, tf, lo, hi), want);
    }
    for (int64_t t = from, k = 0; t < to; t += len) {
        bool want = (size_t)k < exp.n && exp.v[k] == t;
        if (calendar_expects(cal, tf, t) != want) {
            char buf[TIME_BUFSZ];
            time_format_iso8601(t, buf);
            fail_msg("%s %s %s: calendar_expects disagrees with brute force",
                     calendar_kind_name(calendar_get_kind(cal)), timeframe_name(tf), buf);
        }
        k += want;
    }

    if (find(cal, tf, from, to, &exp, &g, &n, &alloc) != 0) {
        char a[TIME_BUFSZ];
        time_format_iso8601(g[0].first, a);
        fail_msg("%s %s: false gap at %s (x%" PRId64 ")",
                 calendar_kind_name(calendar_get_kind(cal)), timeframe_name(tf), a, g[0].count);
    }
    assert_int_equal(find(cal, tf, from, to, NULL, &g, &n, &alloc), 1);
    assert_range(&g[0], exp.v[0], exp.v[exp.n - 1], (int64_t)exp.n);

    /* Holes: both ends, a single candle, a short run, two runs one apart. */
    size_t idx[16], m = 0, mid = exp.n / 2;
    idx[m++] = 0;
    if (exp.n > 40) {
        idx[m++] = 7;
        for (size_t i = 12; i < 17; i++)
            idx[m++] = i;
        idx[m++] = mid;
        idx[m++] = mid + 1;
        idx[m++] = mid + 3;
        idx[m++] = mid + 4;
    }
    idx[m++] = exp.n - 1;
    check_holes(cal, tf, from, to, &exp, idx, m);

    /* A few hundred pseudo-random holes (fixed LCG seed), some adjacent. */
    size_t *rnd = xmalloc(exp.n * sizeof(*rnd)), nr = 0;
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (size_t i = 0; i < exp.n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((x >> 33) % (exp.n / 300 + 2) == 0)
            rnd[nr++] = i;
    }
    check_holes(cal, tf, from, to, &exp, rnd, nr);
    free(rnd);

    free(g);
    free(exp.v);
}

static const int64_t holidays[] = {19358 /* 2023-01-01 */, 19542 /* 2023-07-04 */,
                                   19716 /* 2023-12-25 */, 19723 /* 2024-01-01 */,
                                   19908 /* 2024-07-04 */, 20082 /* 2024-12-25 */};

static void test_holiday_constants(void **state)
{
    (void)state;
    /* The literal day numbers above, derived independently of the table. */
    assert_int_equal(holidays[0], T("2023-01-01") / DAY);
    assert_int_equal(holidays[1], T("2023-07-04") / DAY);
    assert_int_equal(holidays[2], T("2023-12-25") / DAY);
    assert_int_equal(holidays[3], T("2024-01-01") / DAY);
    assert_int_equal(holidays[4], T("2024-07-04") / DAY);
    assert_int_equal(holidays[5], T("2024-12-25") / DAY);
}

static void run_full_years(enum calendar_kind kind)
{
    static const enum timeframe tfs[] = {TF_M15, TF_H1, TF_H4, TF_D1};
    struct calendar *cal = cal_open(kind, holidays, ARRAY_SIZE(holidays));
    for (size_t i = 0; i < ARRAY_SIZE(tfs); i++) {
        check_year(cal, tfs[i], T("2023-01-01T00:00:00Z"), T("2024-01-01T00:00:00Z"));
        check_year(cal, tfs[i], T("2024-01-01T00:00:00Z"), T("2025-01-01T00:00:00Z"));
    }
    /* W1 over several years (Monday-aligned), M1 over a DST-change month. */
    check_year(cal, TF_W1, T("2022-01-03T00:00:00Z"), T("2026-01-05T00:00:00Z"));
    check_year(cal, TF_M1, T("2024-10-20T00:00:00Z"), T("2024-11-20T00:00:00Z"));
    check_year(cal, TF_M1, T("2024-03-01T00:00:00Z"), T("2024-03-20T00:00:00Z"));
    /* beyond the last transition of a fat tz file */
    check_year(cal, TF_H1, T("2045-01-01T00:00:00Z"), T("2046-01-01T00:00:00Z"));
    calendar_free(cal);
}

static void test_full_years_crypto(void **state)
{
    (void)state;
    run_full_years(CAL_CRYPTO);
}

static void test_full_years_forex(void **state)
{
    (void)state;
    run_full_years(CAL_FOREX);
}

static void test_full_years_metals(void **state)
{
    (void)state;
    run_full_years(CAL_METALS);
}

/* One year of M1 metals, what the ingest benchmark measures, with holes. */
static void test_m1_year_metals(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_METALS, holidays, ARRAY_SIZE(holidays));
    check_year(cal, TF_M1, T("2024-01-01T00:00:00Z"), T("2025-01-01T00:00:00Z"));
    calendar_free(cal);
}

/* Closed hours inside a run of missing candles do not split it. */
static void test_closed_hours_do_not_split(void **state)
{
    (void)state;
    struct calendar *fx = cal_open(CAL_FOREX, NULL, 0);
    struct calendar *mt = cal_open(CAL_METALS, NULL, 0);
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0;

    /* Forex H1, nothing stored from Friday 18:00 to Monday 02:00 (winter). */
    assert_int_equal(
        find(fx, TF_H1, T("2024-01-12T18:00:00Z"), T("2024-01-15T02:00:00Z"), NULL, &g, &n, &alloc),
        1);
    /* Friday 18..21 (4), Sunday 22, 23 (2), Monday 00, 01 (2) */
    assert_range(&g[0], T("2024-01-12T18:00:00Z"), T("2024-01-15T01:00:00Z"), 8);

    /* Metals M15 on the first Monday on EDT: the pause is 21:00-22:00 UTC. */
    assert_int_equal(find(mt, TF_M15, T("2024-03-11T20:00:00Z"), T("2024-03-11T23:00:00Z"), NULL,
                          &g, &n, &alloc),
                     1);
    assert_range(&g[0], T("2024-03-11T20:00:00Z"), T("2024-03-11T22:45:00Z"), 8);

    /* The same on EST, with the candles around the pause stored. */
    struct tvec have = {0};
    tvec_push(&have, T("2024-11-04T21:45:00Z"));
    tvec_push(&have, T("2024-11-04T23:00:00Z"));
    assert_int_equal(find(mt, TF_M15, T("2024-11-04T21:00:00Z"), T("2024-11-04T23:30:00Z"), &have,
                          &g, &n, &alloc),
                     2);
    assert_range(&g[0], T("2024-11-04T21:00:00Z"), T("2024-11-04T21:30:00Z"), 3);
    assert_range(&g[1], T("2024-11-04T23:15:00Z"), T("2024-11-04T23:15:00Z"), 1);

    /* H4 containing the pause is expected; missing alone, it is a gap of one. */
    assert_int_equal(
        find(mt, TF_H4, T("2024-01-10T20:00:00Z"), T("2024-01-11T00:00:00Z"), NULL, &g, &n, &alloc),
        1);
    assert_range(&g[0], T("2024-01-10T20:00:00Z"), T("2024-01-10T20:00:00Z"), 1);

    free(have.v);
    free(g);
    calendar_free(fx);
    calendar_free(mt);
}

/* A holiday removes expected candles: no gap there, though one without it. */
static void test_holidays_produce_no_gaps(void **state)
{
    (void)state;
    static const struct {
        enum calendar_kind kind;
        const char *first, *last;
        int64_t count;
    } cases[] = {
        /* 12-24 17:00 EST .. 12-25 17:00 EST */
        {CAL_FOREX, "2024-12-24T22:00:00Z", "2024-12-25T21:00:00Z", 24},
        /* 12-24 18:00 EST .. 12-25 17:00 EST */
        {CAL_METALS, "2024-12-24T23:00:00Z", "2024-12-25T21:00:00Z", 23},
        /* the UTC day */
        {CAL_CRYPTO, "2024-12-25T00:00:00Z", "2024-12-25T23:00:00Z", 24},
    };
    const int64_t xmas = T("2024-12-25") / DAY;
    int64_t from = T("2024-12-16T00:00:00Z"), to = T("2025-01-01T00:00:00Z");

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct calendar *with = cal_open(cases[i].kind, &xmas, 1);
        struct calendar *without = cal_open(cases[i].kind, NULL, 0);
        struct tvec have = {0};
        struct gap_range *g = NULL;
        size_t n = 0, alloc = 0;

        brute_list(with, TF_H1, from, to, &have);
        for (size_t k = 0; k < have.n; k++)
            assert_false(have.v[k] >= T(cases[i].first) && have.v[k] <= T(cases[i].last));
        assert_int_equal(find(with, TF_H1, from, to, &have, &g, &n, &alloc), 0);
        assert_int_equal(find(without, TF_H1, from, to, &have, &g, &n, &alloc), 1);
        assert_range(&g[0], T(cases[i].first), T(cases[i].last), cases[i].count);

        free(g);
        free(have.v);
        calendar_free(with);
        calendar_free(without);
    }
}

/* Stored times the calendar does not expect, duplicates, out-of-window and unaligned ones. */
static void test_have_noise_is_ignored(void **state)
{
    (void)state;
    struct calendar *fx = cal_open(CAL_FOREX, NULL, 0);
    int64_t from = T("2024-01-08T00:00:00Z"), to = T("2024-01-22T00:00:00Z");
    struct tvec exp = {0}, have = {0};
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0;

    brute_list(fx, TF_H1, from, to, &exp);
    tvec_push(&have, from - 2 * HOUR);
    for (size_t i = 0; i < exp.n; i++) {
        if (i == 30)
            continue; /* one real hole */
        tvec_push(&have, exp.v[i]);
        if (i % 17 == 0)
            tvec_push(&have, exp.v[i]); /* duplicate */
        if (i % 23 == 0)
            tvec_push(&have, exp.v[i] + 60); /* unaligned */
        if (i + 1 < exp.n && exp.v[i + 1] - exp.v[i] > HOUR)
            tvec_push(&have, exp.v[i] + HOUR); /* a weekend candle nobody expects */
    }
    tvec_push(&have, to);
    tvec_push(&have, to + HOUR);
    assert_int_equal(find(fx, TF_H1, from, to, &have, &g, &n, &alloc), 1);
    assert_range(&g[0], exp.v[30], exp.v[30], 1);

    free(g);
    free(exp.v);
    free(have.v);
    calendar_free(fx);
}

static void test_window_bounds(void **state)
{
    (void)state;
    struct calendar *cr = cal_open(CAL_CRYPTO, NULL, 0);
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0;

    /* Unaligned ends: the first aligned time >= from, open times < to. */
    assert_int_equal(
        find(cr, TF_H1, T("2024-01-10T10:30:00Z"), T("2024-01-10T13:30:00Z"), NULL, &g, &n, &alloc),
        1);
    assert_range(&g[0], T("2024-01-10T11:00:00Z"), T("2024-01-10T13:00:00Z"), 3);
    /* `to` is exclusive, `from` inclusive. */
    assert_int_equal(
        find(cr, TF_H1, T("2024-01-10T10:00:00Z"), T("2024-01-10T13:00:00Z"), NULL, &g, &n, &alloc),
        1);
    assert_range(&g[0], T("2024-01-10T10:00:00Z"), T("2024-01-10T12:00:00Z"), 3);
    /* Empty and inverted windows, and one with no aligned time inside. */
    assert_int_equal(
        find(cr, TF_H1, T("2024-01-10T10:00:00Z"), T("2024-01-10T10:00:00Z"), NULL, &g, &n, &alloc),
        0);
    assert_int_equal(
        find(cr, TF_H1, T("2024-01-10T12:00:00Z"), T("2024-01-10T10:00:00Z"), NULL, &g, &n, &alloc),
        0);
    assert_int_equal(
        find(cr, TF_D1, T("2024-01-10T01:00:00Z"), T("2024-01-10T23:00:00Z"), NULL, &g, &n, &alloc),
        0);

    /* A candle whose period reaches past `to` counts if it opens before it: the forex
     * Sunday H4 at 20:00 UTC (open from 22:00) with to = 21:00. */
    struct calendar *fx = cal_open(CAL_FOREX, NULL, 0);
    assert_int_equal(
        find(fx, TF_H4, T("2024-01-07T00:00:00Z"), T("2024-01-07T21:00:00Z"), NULL, &g, &n, &alloc),
        1);
    assert_range(&g[0], T("2024-01-07T20:00:00Z"), T("2024-01-07T20:00:00Z"), 1);
    /* A window that holds only the weekend expects nothing. */
    assert_int_equal(
        find(fx, TF_H1, T("2024-01-13T00:00:00Z"), T("2024-01-14T00:00:00Z"), NULL, &g, &n, &alloc),
        0);

    /* Ranges are appended after what the caller had; the return counts the new ones. */
    n = 1;
    g[0].first = g[0].last = g[0].count = -1;
    assert_int_equal(gaps_find(cr, TF_H1, T("2024-01-10T00:00:00Z"), T("2024-01-10T02:00:00Z"),
                               NULL, 0, &g, &n, &alloc),
                     1);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].count, -1);
    assert_range(&g[1], T("2024-01-10T00:00:00Z"), T("2024-01-10T01:00:00Z"), 2);

    free(g);
    calendar_free(cr);
    calendar_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holiday_constants),
        cmocka_unit_test(test_full_years_crypto),
        cmocka_unit_test(test_full_years_forex),
        cmocka_unit_test(test_full_years_metals),
        cmocka_unit_test(test_m1_year_metals),
        cmocka_unit_test(test_closed_hours_do_not_split),
        cmocka_unit_test(test_holidays_produce_no_gaps),
        cmocka_unit_test(test_have_noise_is_ignored),
        cmocka_unit_test(test_window_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
