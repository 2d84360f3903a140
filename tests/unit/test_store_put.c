/* SPDX-License-Identifier: MIT */
/*
 * Writing candles in large batches, the way a backfill and the benchmark
 * do, where the backends take their bulk paths: every candle comes back
 * exactly, a batch that repeats a time keeps its last candle, a batch that
 * overlaps stored candles adds the new ones and corrects the changed ones,
 * and a write under a live iterator of the same connection leaves the
 * iterator whole. Through the public API only, so the same binary checks
 * every backend: CTest runs it on a fresh SQLite file per test and against
 * PostgreSQL (CK_TEST_STORE_URL), each test under a source of its own.
 */
#include "testutil.h"

#include "market/price.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z, a Monday. */
#define T0  1704067200LL
#define M15 900LL
/* Larger than any threshold at which a backend changes how it writes. */
#define BIG 5000

/*
 * Candle i of a deterministic series: prices with all eight decimals in
 * use, a volume on every third candle, `bump` added to the close.
 */
static struct candle mk(size_t i, int64_t bump)
{
    int64_t base = 206341234567LL + (int64_t)(i % 977) * 12345678LL;
    struct candle c = {
        .open_time = T0 + (int64_t)i * M15,
        .open = base,
        .high = base + 98765432 + bump,
        .low = base - 3456789,
        .close = base + 1234567 + bump,
    };
    if (i % 3 == 0) {
        c.has_volume = true;
        c.volume = 100000000LL * (int64_t)(i % 101) + 7;
    }
    return c;
}

/* Everything stored for `k`, ascending; it must be exactly want[0..n). */
static void check_stored(struct store_fixture *f, const struct series_key *k,
                         const struct candle *want, size_t n)
{
    struct candle_query q = {.series = *k, .order = STORE_ASC};
    struct candle_vec out = CANDLE_VEC_INIT;

    CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
    assert_int_equal(out.n, n);
    for (size_t i = 0; i < n; i++) {
        const struct candle *a = &out.v[i], *b = &want[i];
        if (a->open_time != b->open_time || a->open != b->open || a->high != b->high ||
            a->low != b->low || a->close != b->close || a->has_volume != b->has_volume ||
            (a->has_volume && a->volume != b->volume))
            fail_msg("candle %zu (open time %lld) differs from the one written", i,
                     (long long)b->open_time);
    }
    candle_vec_release(&out);
}

static void test_big_batches_exact(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = xcalloc(BIG, sizeof(*v));

    for (size_t i = 0; i < BIG; i++)
        v[i] = mk(i, 0);
    CHECK_OK(store_put_candles(f->st, &k, v, BIG, &f->err), &f->err);
    check_stored(f, &k, v, BIG);
    /* The same again changes nothing. */
    CHECK_OK(store_put_candles(f->st, &k, v, BIG, &f->err), &f->err);
    check_stored(f, &k, v, BIG);
    /* Every other candle corrected, and volumes that appear and vanish. */
    for (size_t i = 0; i < BIG; i += 2) {
        v[i] = mk(i, 1);
        v[i].has_volume = !v[i].has_volume;
        v[i].volume = v[i].has_volume ? 42 : 0;
    }
    CHECK_OK(store_put_candles(f->st, &k, v, BIG, &f->err), &f->err);
    check_stored(f, &k, v, BIG);
    free(v);
}

static void test_big_batch_overlapping(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const size_t total = BIG + BIG / 2;
    struct candle *want = xcalloc(total, sizeof(*want));

    for (size_t i = 0; i < total; i++)
        want[i] = mk(i, 0);
    /* The first BIG candles, then a batch that overlaps half of them. */
    CHECK_OK(store_put_candles(f->st, &k, want, BIG, &f->err), &f->err);
    for (size_t i = BIG / 2; i < BIG; i += 7)
        want[i] = mk(i, 5);
    CHECK_OK(store_put_candles(f->st, &k, want + BIG / 2, BIG, &f->err), &f->err);
    check_stored(f, &k, want, total);
    free(want);
}

/* Out of order and with times repeated: one candle per time, the batch's last. */
static void test_big_batch_repeats_last_wins(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const size_t n = BIG / 2;
    struct candle *want = xcalloc(n, sizeof(*want));
    struct candle *batch = xcalloc(2 * n, sizeof(*batch));

    /* Each time twice, descending: first a stale candle, later the right one. */
    for (size_t i = 0; i < n; i++) {
        size_t t = n - 1 - i;
        want[t] = mk(t, 3);
        batch[2 * i] = mk(t, 0);
        batch[2 * i + 1] = want[t];
    }
    CHECK_OK(store_put_candles(f->st, &k, batch, 2 * n, &f->err), &f->err);
    check_stored(f, &k, want, n);
    /* The same shape over stored candles: still the last of each time. */
    for (size_t i = 0; i < n; i++) {
        size_t t = n - 1 - i;
        want[t] = mk(t, 9);
        batch[2 * i + 1] = want[t];
    }
    CHECK_OK(store_put_candles(f->st, &k, batch, 2 * n, &f->err), &f->err);
    check_stored(f, &k, want, n);
    free(batch);
    free(want);
}

/*
 * Prices at the edges of the scale, each digit group of it in use, written
 * over stored candles (so through the update, not the first insert) and
 * read back exactly.
 */
static void test_exact_prices_rewritten(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    static const int64_t prices[] = {
        1,                   /* 0.00000001 */
        10000,               /* 0.0001: the lower decimal group empty */
        100000000,           /* 1: no decimals */
        1000000000000,       /* 10000: a whole group of zeros */
        123456789012345678,  /* 1234567890.12345678 */
        9223372036854775807, /* the largest */
        200012000000,        /* 2000.12 */
        999999999999,        /* 9999.99999999 */
    };
    const size_t n = ARRAY_SIZE(prices);
    struct candle first[ARRAY_SIZE(prices)], want[ARRAY_SIZE(prices)];

    for (size_t i = 0; i < n; i++) {
        first[i] = mk(i, 0);
        want[i] = (struct candle){.open_time = first[i].open_time,
                                  .open = prices[i],
                                  .high = prices[i],
                                  .low = prices[i],
                                  .close = prices[i],
                                  .has_volume = true,
                                  .volume = i % 2 ? prices[i] : 0};
    }
    CHECK_OK(store_put_candles(f->st, &k, first, n, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &k, want, n, &f->err), &f->err);
    check_stored(f, &k, want, n);
}

/* A large write between two steps of an iterator of the same connection. */
static void test_big_batch_under_live_iterator(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key a = {f->source, "XAU/USD", TF_M15};
    const struct series_key b = {f->source, "XAG/USD", TF_M15};
    struct candle_query q = {.series = a, .order = STORE_ASC};
    struct candle *v = xcalloc(BIG, sizeof(*v));
    struct candle_iter *it;
    struct candle c;
    size_t seen = 0;
    int rc;

    for (size_t i = 0; i < BIG; i++)
        v[i] = mk(i, 0);
    CHECK_OK(store_put_candles(f->st, &a, v, 100, &f->err), &f->err);
    CHECK_OK(store_query_candles(f->st, &q, &it, &f->err), &f->err);
    assert_int_equal(candle_iter_next(it, &c, &f->err), ITER_OK);
    seen++;
    CHECK_OK(store_put_candles(f->st, &b, v, BIG, &f->err), &f->err);
    while ((rc = candle_iter_next(it, &c, &f->err)) == ITER_OK) {
        assert_int_equal(c.open_time, v[seen].open_time);
        seen++;
    }
    assert_int_equal(rc, ITER_DONE);
    candle_iter_free(it);
    assert_int_equal(seen, 100);
    check_stored(f, &b, v, BIG);
    free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_big_batches_exact),
        T(test_big_batch_overlapping),
        T(test_big_batch_repeats_last_wins),
        T(test_exact_prices_rewritten),
        T(test_big_batch_under_live_iterator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
