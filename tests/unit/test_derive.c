/* SPDX-License-Identifier: MIT */
/*
 * Derived timeframes: the arithmetic and calendar rules of
 * market/resample.c (buckets of H4, D1 and W1 on the crypto and the
 * metals calendars, across a DST switch; a missing lower candle gives no
 * derived candle; a bucket still open gives none; exact sums of prices
 * and volumes), the plan of a source's `derive` timeframes, and, through
 * the store, ingest/derive.c's derivation and cross-check.
 */
#include "testutil.h"

#include "ingest/derive.h"
#include "market/calendar.h"
#include "market/price.h"
#include "market/resample.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define HOUR 3600
#define DAY  86400

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static int64_t P(const char *s)
{
    int64_t v = 0;
    if (price_parse(s, strlen(s), &v))
        fail_msg("bad price literal '%s'", s);
    return v;
}

static struct calendar *cal_open(enum calendar_kind kind)
{
    struct calendar *cal = NULL;
    struct strbuf err = STRBUF_INIT;
    if (calendar_open(&cal, kind, NULL, 0, NULL, &err))
        fail_msg("calendar_open: %s", err.buf);
    strbuf_release(&err);
    return cal;
}

static struct candle mk(int64_t t, const char *o, const char *h, const char *l, const char *c,
                        const char *v)
{
    struct candle x = {.open_time = t, .open = P(o), .high = P(h), .low = P(l), .close = P(c)};
    if (v) {
        x.volume = P(v);
        x.has_volume = true;
    }
    return x;
}

/* A plain lower candle whose values say where it is: open = 100 + i, and so on. */
static struct candle seq(int64_t t, int i)
{
    struct candle x = {
        .open_time = t,
        .open = (100 + i) * PRICE_SCALE,
        .high = (110 + i) * PRICE_SCALE,
        .low = (90 + i) * PRICE_SCALE,
        .close = (101 + i) * PRICE_SCALE,
        .volume = 1,
        .has_volume = true,
    };
    return x;
}

/* Every candle of `tf` the calendar expects in [from, to), as seq() candles. */
static void fill(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                 struct candle_vec *out)
{
    int i = 0;
    for (int64_t t = from; t < to; t += timeframe_seconds(tf))
        if (calendar_expects(cal, tf, t)) {
            struct candle c = seq(t, i++);
            candle_vec_push(out, &c);
        }
}

static void drop(struct candle_vec *v, int64_t t)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].open_time == t) {
            memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof(*v->v));
            v->n--;
            return;
        }
    fail_msg("no candle at %lld to drop", (long long)t);
}

static void run(const struct calendar *cal, enum timeframe lo, enum timeframe up,
                const struct candle_vec *in, int64_t now, struct candle_vec *out,
                struct resample_stats *st)
{
    struct strbuf err = STRBUF_INIT;
    int rc = resample(cal, lo, up, in->v, in->n, now, out, st, &err);
    if (rc)
        fail_msg("resample: %s", err.buf);
    strbuf_release(&err);
}

/* H4 from H1: open of the first, close of the last, extremes, exact sum of volumes. */
static void test_h4_exact(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct resample_stats st;
    int64_t t0 = T("2024-03-15T08:00:00Z");
    const struct candle rows[] = {
        mk(t0, "2063.41", "2065.10", "2062.00", "2064.00", "0.00000001"),
        mk(t0 + HOUR, "2064.00", "2070.55", "2063.90", "2069.99", "1.1"),
        mk(t0 + 2 * HOUR, "2069.99", "2069.99", "2061.37", "2062.01", "0.2"),
        mk(t0 + 3 * HOUR, "2062.01", "2063.00", "2061.50", "2062.99", "12345678.12345678"),
    };

    for (size_t i = 0; i < 4; i++)
        candle_vec_push(&in, &rows[i]);
    run(cal, TF_H1, TF_H4, &in, t0 + 4 * HOUR, &out, &st);
    assert_int_equal(out.n, 1);
    assert_int_equal(st.built, 1);
    assert_int_equal(out.v[0].open_time, t0);
    assert_int_equal(out.v[0].open, P("2063.41"));
    assert_int_equal(out.v[0].high, P("2070.55"));
    assert_int_equal(out.v[0].low, P("2061.37"));
    assert_int_equal(out.v[0].close, P("2062.99"));
    assert_true(out.v[0].has_volume);
    /* 0.00000001 + 1.1 + 0.2 + 12345678.12345678, to the last decimal. */
    assert_int_equal(out.v[0].volume, P("12345679.42345679"));

    /* A closed bucket is needed: one second earlier, the candle is still forming. */
    out.n = 0;
    run(cal, TF_H1, TF_H4, &in, t0 + 4 * HOUR - 1, &out, &st);
    assert_int_equal(out.n, 0);
    assert_int_equal(st.forming, 1);

    /* One lower candle without volume: the derived one has none either. */
    in.v[2].has_volume = false;
    out.n = 0;
    run(cal, TF_H1, TF_H4, &in, t0 + 4 * HOUR, &out, &st);
    assert_int_equal(out.n, 1);
    assert_false(out.v[0].has_volume);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

/* A hole in the lower timeframe gives no derived candle, never a wrong one. */
static void test_gap_no_candle(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct resample_stats st;
    int64_t t0 = T("2024-03-15T00:00:00Z");

    fill(cal, TF_H1, t0, t0 + DAY, &in);
    drop(&in, t0 + 9 * HOUR);  /* the 08:00 bucket's second hour */
    drop(&in, t0 + 20 * HOUR); /* the 20:00 bucket's first hour */
    run(cal, TF_H1, TF_H4, &in, t0 + DAY, &out, &st);
    assert_int_equal(st.built, 4);
    assert_int_equal(st.incomplete, 2);
    int64_t want[] = {t0, t0 + 4 * HOUR, t0 + 12 * HOUR, t0 + 16 * HOUR};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(out.v[i].open_time, want[i]);

    /* D1 from H1 starts at 00:00 UTC and needs all 24 hours. */
    out.n = 0;
    run(cal, TF_H1, TF_D1, &in, t0 + DAY, &out, &st);
    assert_int_equal(out.n, 0);
    assert_int_equal(st.incomplete, 1);
    in.n = 0;
    fill(cal, TF_H1, t0 - 2 * HOUR, t0 + DAY, &in);
    run(cal, TF_H1, TF_D1, &in, t0 + DAY, &out, &st);
    /* The two hours of the day before are an incomplete bucket of their own. */
    assert_int_equal(st.built, 1);
    assert_int_equal(st.incomplete, 1);
    assert_int_equal(out.v[0].open_time, t0);
    assert_int_equal(out.v[0].open, in.v[2].open);
    assert_int_equal(out.v[0].close, in.v[in.n - 1].close);
    assert_int_equal(out.v[0].volume, 24);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

/* W1 of crypto starts on Monday 00:00 UTC. */
static void test_w1_crypto(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct resample_stats st;
    int64_t mon = T("2024-03-11T00:00:00Z");

    fill(cal, TF_D1, mon, mon + 14 * DAY, &in);
    run(cal, TF_D1, TF_W1, &in, mon + 14 * DAY, &out, &st);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.v[0].open_time, mon);
    assert_int_equal(out.v[1].open_time, mon + 7 * DAY);
    assert_int_equal(out.v[0].open, in.v[0].open);
    assert_int_equal(out.v[0].close, in.v[6].close);
    assert_int_equal(out.v[1].high, in.v[13].high);
    assert_int_equal(out.v[1].low, in.v[7].low);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

/*
 * W1 of metals starts at the calendar's weekly open, Sunday 17:00 New
 * York: 22:00 UTC in winter, 21:00 UTC in summer; the week of the DST
 * switch (Sunday 2024-03-10) opens at 21:00 UTC. The label is the Monday.
 */
static void test_w1_metals(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_METALS);
    struct resample_bucket b;
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct resample_stats st;

    resample_bucket_of(cal, TF_W1, T("2024-03-05T12:00:00Z"), &b);
    assert_int_equal(b.label, T("2024-03-04T00:00:00Z"));
    assert_int_equal(b.start, T("2024-03-03T22:00:00Z"));
    assert_int_equal(b.end, T("2024-03-10T21:00:00Z"));
    /* Sunday evening after the open belongs to the coming week. */
    resample_bucket_of(cal, TF_W1, T("2024-03-10T21:00:00Z"), &b);
    assert_int_equal(b.label, T("2024-03-11T00:00:00Z"));
    assert_int_equal(b.start, T("2024-03-10T21:00:00Z"));
    assert_int_equal(b.end, T("2024-03-17T21:00:00Z"));
    resample_bucket_of(cal, TF_W1, T("2024-11-03T22:30:00Z"), &b);
    assert_int_equal(b.label, T("2024-11-04T00:00:00Z"));
    assert_int_equal(b.start, T("2024-11-03T22:00:00Z"));
    /* Half an hour earlier the market has not opened: the week before. */
    resample_bucket_of(cal, TF_W1, T("2024-11-03T21:30:00Z"), &b);
    assert_int_equal(b.label, T("2024-10-28T00:00:00Z"));

    /* Two weeks of H1 across the switch: both weeks built, from their first hour. */
    fill(cal, TF_H1, T("2024-03-03T22:00:00Z"), T("2024-03-17T21:00:00Z"), &in);
    /* Metals pause 17:00-18:00 New York on Sunday too: the first hour is 18:00 (23:00 UTC). */
    assert_int_equal(in.v[0].open_time, T("2024-03-03T23:00:00Z"));
    run(cal, TF_H1, TF_W1, &in, T("2024-03-18T00:00:00Z"), &out, &st);
    assert_int_equal(st.built, 2);
    assert_int_equal(out.v[0].open_time, T("2024-03-04T00:00:00Z"));
    assert_int_equal(out.v[0].open, in.v[0].open);
    assert_int_equal(out.v[1].open_time, T("2024-03-11T00:00:00Z"));
    /* 5 x 23 hours (the daily pause is not expected). */
    assert_int_equal(out.v[0].volume, 115);
    assert_int_equal(out.v[1].volume, 115);

    /* No H1 candle in the daily pause is needed, but a trading hour is. */
    out.n = 0;
    drop(&in, T("2024-03-12T14:00:00Z"));
    run(cal, TF_H1, TF_W1, &in, T("2024-03-18T00:00:00Z"), &out, &st);
    assert_int_equal(st.built, 1);
    assert_int_equal(st.incomplete, 1);

    /* H4 across the pause (17:00-18:00 New York = 21:00-22:00 UTC in summer). */
    in.n = 0;
    out.n = 0;
    fill(cal, TF_H1, T("2024-03-12T20:00:00Z"), T("2024-03-13T00:00:00Z"), &in);
    assert_int_equal(in.n, 3);
    run(cal, TF_H1, TF_H4, &in, T("2024-03-13T00:00:00Z"), &out, &st);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].volume, 3);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

/* Forex has no daily pause: its week opens with the Sunday 17:00 New York hour. */
static void test_w1_forex(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX);
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct resample_stats st;

    fill(cal, TF_H1, T("2024-01-07T22:00:00Z"), T("2024-01-14T22:00:00Z"), &in);
    assert_int_equal(in.v[0].open_time, T("2024-01-07T22:00:00Z"));
    assert_int_equal(in.n, 120);
    run(cal, TF_H1, TF_W1, &in, T("2024-01-15T00:00:00Z"), &out, &st);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0].open_time, T("2024-01-08T00:00:00Z"));
    assert_int_equal(out.v[0].open, in.v[0].open);
    assert_int_equal(out.v[0].close, in.v[119].close);
    /* Closed since Friday 17:00 New York, the week ends only when the next one opens. */
    out.n = 0;
    run(cal, TF_H1, TF_W1, &in, T("2024-01-13T00:00:00Z"), &out, &st);
    assert_int_equal(out.n, 0);
    assert_int_equal(st.forming, 1);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

static void test_fits_and_plan(void **state)
{
    (void)state;
    struct resample_plan p;
    struct strbuf why = STRBUF_INIT;
    const enum timeframe coinbase[] = {TF_M15, TF_H1, TF_H4, TF_D1};
    const enum timeframe d_h4[] = {TF_H4};
    const enum timeframe d_w1[] = {TF_W1};
    const enum timeframe metals[] = {TF_H4, TF_D1};

    assert_true(resample_fits(CAL_CRYPTO, TF_H1, TF_H4));
    assert_true(resample_fits(CAL_CRYPTO, TF_H4, TF_D1));
    assert_true(resample_fits(CAL_CRYPTO, TF_D1, TF_W1));
    assert_false(resample_fits(CAL_METALS, TF_D1, TF_W1));
    assert_false(resample_fits(CAL_FOREX, TF_H4, TF_W1));
    assert_true(resample_fits(CAL_METALS, TF_H1, TF_W1));
    assert_false(resample_fits(CAL_CRYPTO, TF_H4, TF_H1));
    assert_false(resample_fits(CAL_CRYPTO, TF_H1, TF_H1));

    /* H4 listed and derived: built from the longest fetched one, H1. */
    assert_int_equal(resample_plan_init(&p, CAL_CRYPTO, coinbase, 4, d_h4, 1, &why), 0);
    assert_true(p.derived[TF_H4]);
    assert_false(p.derived[TF_H1]);
    assert_int_equal(p.from[TF_H4], TF_H1);
    assert_int_equal(resample_plan_init(&p, CAL_CRYPTO, coinbase, 4, d_w1, 1, &why), 0);
    assert_int_equal(p.from[TF_W1], TF_D1);
    /* The metals week opens at 17:00 New York: neither H4 nor D1 fits. */
    assert_int_equal(resample_plan_init(&p, CAL_METALS, metals, 2, d_w1, 1, &why), CK_EINVAL);
    assert_non_null(strstr(why.buf, "W1 cannot be derived"));
    assert_false(p.derived[TF_W1]);
    strbuf_release(&why);
}

static void test_volume_overflow(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    struct candle_vec in = CANDLE_VEC_INIT, out = CANDLE_VEC_INIT;
    struct strbuf err = STRBUF_INIT;
    int64_t t0 = T("2024-03-15T00:00:00Z");

    fill(cal, TF_H1, t0, t0 + 4 * HOUR, &in);
    in.v[1].volume = INT64_MAX;
    in.v[2].volume = INT64_MAX;
    assert_int_equal(resample(cal, TF_H1, TF_H4, in.v, in.n, t0 + DAY, &out, NULL, &err),
                     CK_ELIMIT);
    assert_non_null(strstr(err.buf, "2024-03-15T00:00:00Z"));
    strbuf_release(&err);
    candle_vec_release(&in);
    candle_vec_release(&out);
    calendar_free(cal);
}

/* Through the store: derive H4 from stored H1, then verify it against a planted H4. */
static void test_store_derive_verify(void **state)
{
    struct store_fixture *f = *state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    struct candle_vec in = CANDLE_VEC_INIT, h4 = CANDLE_VEC_INIT;
    struct series_key h1k = {.source = f->source, .symbol = "BTC/USD", .tf = TF_H1};
    struct series_key h4k = {.source = f->source, .symbol = "BTC/USD", .tf = TF_H4};
    int64_t t0 = T("2024-03-15T00:00:00Z");
    struct derive_request rq = {
        .source = f->source,
        .symbol = "BTC/USD",
        .lower = TF_H1,
        .upper = TF_H4,
        .now = t0 + DAY + 30 * 60,
    };
    struct derive_stats ds;
    struct verify_result vr;

    fill(cal, TF_H1, t0, t0 + DAY + HOUR, &in);
    drop(&in, t0 + 13 * HOUR);
    assert_int_equal(store_put_candles(f->st, &h1k, in.v, in.n, &f->err), 0);
    assert_int_equal(derive_series(f->st, cal, &rq, &ds, &f->err), 0);
    assert_int_equal(ds.lower, in.n);
    assert_int_equal(ds.built, 5);
    assert_int_equal(ds.incomplete, 1);

    struct candle_query q = {.series = h4k, .order = STORE_ASC};
    assert_int_equal(store_query_candles_vec(f->st, &q, &h4, &f->err), 0);
    assert_int_equal(h4.n, 5);
    assert_int_equal(h4.v[3].open_time, t0 + 16 * HOUR);

    /* The derived candles verify against themselves; plant a wrong close and volume. */
    assert_int_equal(derive_verify(f->st, cal, &rq, &vr, &f->err), 0);
    assert_int_equal(vr.compared, 5);
    assert_int_equal(vr.n, 0);
    verify_result_release(&vr);
    h4.v[1].close += 5;
    h4.v[1].volume = 7;
    /* A stored candle whose lower candles are not all there is not compared. */
    struct candle odd = h4.v[2];
    odd.open_time = t0 + 12 * HOUR;
    assert_int_equal(store_put_candles(f->st, &h4k, &h4.v[1], 1, &f->err), 0);
    assert_int_equal(store_put_candles(f->st, &h4k, &odd, 1, &f->err), 0);
    assert_int_equal(derive_verify(f->st, cal, &rq, &vr, &f->err), 0);
    assert_int_equal(vr.compared, 5);
    assert_int_equal(vr.bad, 1);
    assert_int_equal(vr.unchecked, 1);
    assert_int_equal(vr.n, 2);
    assert_int_equal(vr.v[0].open_time, t0 + 4 * HOUR);
    assert_string_equal(vr.v[0].field, "close");
    assert_int_equal(vr.v[0].stored - vr.v[0].derived, 5);
    assert_string_equal(vr.v[1].field, "volume");
    assert_int_equal(vr.v[1].stored, 7);
    assert_int_equal(vr.v[1].derived, 4);
    verify_result_release(&vr);

    /* --since: only the buckets from the one holding it. */
    rq.has_since = true;
    rq.since = t0 + 17 * HOUR;
    assert_int_equal(derive_verify(f->st, cal, &rq, &vr, &f->err), 0);
    assert_int_equal(vr.compared, 2);
    assert_int_equal(vr.n, 0);
    verify_result_release(&vr);
    candle_vec_release(&in);
    candle_vec_release(&h4);
    calendar_free(cal);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h4_exact),        cmocka_unit_test(test_gap_no_candle),
        cmocka_unit_test(test_w1_crypto),       cmocka_unit_test(test_w1_metals),
        cmocka_unit_test(test_w1_forex),        cmocka_unit_test(test_fits_and_plan),
        cmocka_unit_test(test_volume_overflow), S(test_store_derive_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
