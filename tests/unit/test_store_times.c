/* SPDX-License-Identifier: MIT */
/*
 * store_candle_times(), the open-time read of the gap scans, against the
 * candle query it replaces: for every range both must give the same open
 * times, in the same order. Run on SQLite and, as pg.test_store_times, on
 * PostgreSQL, where the read goes in pages (PAGE below): the series are
 * long enough to span several, and some ranges end exactly on a page's
 * last row. Each test writes under a source name of its own.
 */
#include "testutil.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z. */
#define T0 1704067200LL
#define M1 60LL

/* The PostgreSQL backend's page of open times (PG_TIMES_PAGE). */
#define PAGE 65536

/* Open times through the candle query, ascending: what the gap scans read before. */
static void old_times(struct store_fixture *f, const struct candle_query *q, int64_t **out,
                      size_t *n)
{
    struct candle_query asc = *q;
    struct candle_vec cv = CANDLE_VEC_INIT;

    asc.order = STORE_ASC;
    asc.limit = 0;
    CHECK_OK(store_query_candles_vec(f->st, &asc, &cv, &f->err), &f->err);
    *out = xcalloc(cv.n ? cv.n : 1, sizeof(**out));
    for (size_t i = 0; i < cv.n; i++)
        (*out)[i] = cv.v[i].open_time;
    *n = cv.n;
    candle_vec_release(&cv);
}

/* store_candle_times() gives exactly what the candle query gives; returns their number. */
static size_t check_same(struct store_fixture *f, const struct candle_query *q)
{
    int64_t *want, *got = (int64_t *)1;
    size_t nwant, ngot = 1;

    old_times(f, q, &want, &nwant);
    CHECK_OK(store_candle_times(f->st, q, &got, &ngot, &f->err), &f->err);
    assert_int_equal(ngot, nwant);
    if (!nwant)
        assert_null(got);
    else
        assert_memory_equal(got, want, nwant * sizeof(*want));
    free(got);
    free(want);
    return nwant;
}

/* M1 candles from T0: `n` periods, of which those with i % 97 == 5 and i % 1000 < 3 are missing. */
static size_t put_holey(struct store_fixture *f, const struct series_key *k, size_t n)
{
    struct candle_vec cv = CANDLE_VEC_INIT;
    size_t stored = 0;

    for (size_t i = 0; i < n; i++) {
        struct candle c = {.open_time = T0 + (int64_t)i * M1,
                           .open = 200000000000,
                           .high = 200100000000,
                           .low = 199900000000,
                           .close = 200050000000};
        if (i % 97 == 5 || i % 1000 < 3)
            continue;
        candle_vec_push(&cv, &c);
    }
    for (size_t off = 0; off < cv.n; off += 20000) {
        size_t m = cv.n - off < 20000 ? cv.n - off : 20000;
        CHECK_OK(store_put_candles(f->st, k, cv.v + off, m, &f->err), &f->err);
    }
    stored = cv.n;
    candle_vec_release(&cv);
    return stored;
}

static void test_times_match_query(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M1};
    const struct series_key other_tf = {f->source, "XAU/USD", TF_M15};
    const struct series_key other_sym = {f->source, "XAG/USD", TF_M1};
    struct candle c = {.open_time = T0, .open = 1, .high = 1, .low = 1, .close = 1};
    struct candle_query q = {.series = k};
    size_t stored = put_holey(f, &k, 2 * PAGE + 1000);

    /* Neighbours that must not leak in: another timeframe, another symbol. */
    CHECK_OK(store_put_candles(f->st, &other_tf, &c, 1, &f->err), &f->err);
    c.open_time = T0 + 5 * M1; /* a time missing from k */
    CHECK_OK(store_put_candles(f->st, &other_sym, &c, 1, &f->err), &f->err);

    /* Unbounded: every candle, across pages. */
    assert_int_equal(check_same(f, &q), stored);
    /* Limit and order are ignored: all of them, ascending. */
    q.limit = 7;
    q.order = STORE_DESC;
    assert_int_equal(check_same(f, &q), stored);
    q.limit = 0;
    q.order = STORE_ASC;

    /* Both bounds inclusive, on candles. */
    q.has_start = q.has_end = true;
    q.start = T0 + 10 * M1;
    q.end = T0 + 20 * M1;
    assert_int_equal(check_same(f, &q), 11);
    /* Bounds between candles, and on missing candles. */
    q.start = T0 + 10 * M1 + 1;
    q.end = T0 + 20 * M1 - 1;
    assert_int_equal(check_same(f, &q), 9);
    q.start = T0 + 5 * M1;
    q.end = T0 + 1000 * M1;
    check_same(f, &q);
    /* A single candle; a single missing one. */
    q.start = q.end = T0 + 4 * M1;
    assert_int_equal(check_same(f, &q), 1);
    q.start = q.end = T0 + 5 * M1;
    assert_int_equal(check_same(f, &q), 0);
    /* Only a start; only an end. */
    q.has_end = false;
    q.start = T0 + (int64_t)(PAGE + 17) * M1;
    check_same(f, &q);
    q.has_start = false;
    q.has_end = true;
    q.end = T0 + (int64_t)(PAGE + 17) * M1;
    check_same(f, &q);
    /* Ranges that end on and around a page's last row. */
    for (int64_t d = -1; d <= 1; d++) {
        struct candle_query e = {.series = k};
        int64_t *all;
        size_t nall;
        old_times(f, &e, &all, &nall);
        assert_true(nall > PAGE + 1);
        e.has_end = true;
        e.end = all[PAGE - 1] + d;
        assert_int_equal(check_same(f, &e), (size_t)(d < 0 ? PAGE - 1 : PAGE));
        e.has_start = true;
        e.start = all[0] + d;
        check_same(f, &e);
        free(all);
    }
    /* Empty ranges: after the last candle, before the first, inverted. */
    q.has_start = q.has_end = true;
    q.start = T0 + (int64_t)(3 * PAGE) * M1;
    q.end = q.start + 100 * M1;
    assert_int_equal(check_same(f, &q), 0);
    q.start = T0 - 100 * M1;
    q.end = T0 - 1;
    assert_int_equal(check_same(f, &q), 0);
    q.start = T0 + 20 * M1;
    q.end = T0 + 10 * M1;
    assert_int_equal(check_same(f, &q), 0);
    /* Ranges at the ends of time select the same as unbounded ones. */
    q.start = INT64_MIN;
    q.end = INT64_MAX;
    assert_int_equal(check_same(f, &q), stored);
    /* The neighbours hold what was written there, and nothing of k. */
    q = (struct candle_query){.series = other_sym};
    assert_int_equal(check_same(f, &q), 1);
    q = (struct candle_query){.series = other_tf};
    assert_int_equal(check_same(f, &q), 1);
}

static void test_times_unknown_series(void **state)
{
    struct store_fixture *f = *state;
    struct candle_query q = {.series = {f->source, "NONE/USD", TF_M1}};
    int64_t *got = (int64_t *)1;
    size_t n = 1;

    CHECK_OK(store_candle_times(f->st, &q, &got, &n, &f->err), &f->err);
    assert_null(got);
    assert_int_equal(n, 0);
    q.has_start = q.has_end = true;
    q.start = T0;
    q.end = T0 + M1;
    assert_int_equal(check_same(f, &q), 0);
    /* An incomplete series is refused and leaves nothing behind. */
    q.series.symbol = "";
    got = (int64_t *)1;
    n = 1;
    assert_int_equal(store_candle_times(f->st, &q, &got, &n, &f->err), CK_EINVAL);
    assert_null(got);
    assert_int_equal(n, 0);
    assert_true(f->err.len > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_times_match_query),
        T(test_times_unknown_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
