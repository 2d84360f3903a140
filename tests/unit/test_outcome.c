/* SPDX-License-Identifier: MIT */
/*
 * The outcome resolver on hand-built candle sequences: first touch,
 * long and short, candles touching both levels settled on lower
 * timeframes (or not), the creation candle, expiry and holes in the
 * record. Lower timeframes are served from arrays by a fetch function
 * that also checks it is only ever asked for candles inside the period
 * being settled.
 */
#include "testutil.h"

#include "market/outcome.h"
#include "market/price.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <string.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z, a Monday. */
#define T0   1704067200LL
#define H1   3600LL
#define M15  900LL
#define M1   60LL
#define P(x) ((int64_t)(x)*PRICE_SCALE)

/* A candle opening at `t` with whole-unit prices. */
static struct candle K(int64_t t, int o, int h, int l, int c) {
    return (struct candle){.open_time = t, .open = P(o), .high = P(h), .low = P(l), .close = P(c)};
}

/* Lower timeframes stored as arrays. */
struct lower_store {
    const struct candle *m15;
    size_t nm15;
    const struct candle *m1;
    size_t nm1;
    int fail; /* non-zero: fetch returns this */
    size_t calls;
    int64_t last_from, last_to;
};

static int fetch(void *arg, enum timeframe tf, int64_t from, int64_t to, struct candle_vec *out,
                 struct strbuf *err)
{
    struct lower_store *ls = arg;
    const struct candle *v = tf == TF_M15 ? ls->m15 : ls->m1;
    size_t n = tf == TF_M15 ? ls->nm15 : ls->nm1;

    ls->calls++;
    ls->last_from = from;
    ls->last_to = to;
    if (ls->fail) {
        strbuf_addstr(err, "store: the database is gone");
        return ls->fail;
    }
    assert_true(tf == TF_M15 || tf == TF_M1);
    assert_true(from < to);
    /* Never more than one H1 period at a time. */
    assert_true(to - from <= H1);
    for (size_t i = 0; i < n; i++)
        if (v[i].open_time >= from && v[i].open_time < to)
            candle_vec_push(out, &v[i]);
    return 0;
}

static const struct outcome_signal LONG_H1 = {
    .side = OUTCOME_LONG,
    .stop_loss = P(90),
    .take_profit = P(110),
    .tf = TF_H1,
    .created_ms = T0 * 1000,
    .expires_ms = (T0 + 24 * H1) * 1000,
};

static const struct outcome_signal SHORT_H1 = {
    .side = OUTCOME_SHORT,
    .stop_loss = P(110),
    .take_profit = P(90),
    .tf = TF_H1,
    .created_ms = T0 * 1000,
    .expires_ms = (T0 + 24 * H1) * 1000,
};

static const enum timeframe LOWER[] = {TF_M15, TF_M1};

static struct outcome_verdict resolve_full(const struct outcome_signal *sig, const struct candle *v,
                                           size_t n, int64_t now_ms, struct lower_store *ls,
                                           size_t nlower)
{
    struct strbuf err = STRBUF_INIT;
    struct outcome_verdict out;
    struct outcome_input in = {
        .sig = sig,
        .candles = v,
        .ncandles = n,
        .now_ms = now_ms,
        .expiry_wait_ms = H1 * 1000,
        .lower = nlower ? LOWER : NULL,
        .nlower = nlower,
        .fetch = nlower ? fetch : NULL,
        .fetch_arg = ls,
    };
    int rc = outcome_resolve(&in, &out, &err);
    if (rc)
        fail_msg("outcome_resolve: %d: %s", rc, err.buf);
    strbuf_release(&err);
    return out;
}

static struct outcome_verdict resolve(const struct outcome_signal *sig, const struct candle *v,
                                      size_t n)
{
    return resolve_full(sig, v, n, (T0 + 10 * H1) * 1000, NULL, 0);
}

static void assert_decided(const struct outcome_verdict *o, enum outcome_result r, int64_t price,
                           enum timeframe tf, int64_t candle_time, bool ambiguous)
{
    assert_string_equal(outcome_result_name(o->result), outcome_result_name(r));
    assert_true(o->has_price);
    assert_int_equal(o->price, price);
    assert_true(o->has_candle);
    assert_string_equal(timeframe_name(o->tf), timeframe_name(tf));
    assert_int_equal(o->candle_time, candle_time);
    assert_int_equal(o->ambiguous, ambiguous);
    /* Decided when the deciding candle closed. */
    assert_int_equal(o->decided_ms, (candle_time + timeframe_seconds(tf)) * 1000);
}

static void test_touch(void **state)
{
    (void)state;
    struct candle c = K(T0, 100, 110, 90, 100);
    assert_int_equal(outcome_touch(OUTCOME_LONG, P(90), P(110), &c), OUTCOME_TOUCH_BOTH);
    assert_int_equal(outcome_touch(OUTCOME_LONG, P(89), P(110), &c), OUTCOME_TOUCH_TP);
    assert_int_equal(outcome_touch(OUTCOME_LONG, P(90), P(111), &c), OUTCOME_TOUCH_SL);
    assert_int_equal(outcome_touch(OUTCOME_LONG, P(89), P(111), &c), OUTCOME_TOUCH_NONE);
    /* Short: take-profit below, stop-loss above. */
    assert_int_equal(outcome_touch(OUTCOME_SHORT, P(111), P(90), &c), OUTCOME_TOUCH_TP);
    assert_int_equal(outcome_touch(OUTCOME_SHORT, P(110), P(89), &c), OUTCOME_TOUCH_SL);
    assert_int_equal(outcome_touch(OUTCOME_SHORT, P(110), P(90), &c), OUTCOME_TOUCH_BOTH);
    /* One unit of the eighth decimal short of a level is not a touch. */
    c.high = P(110) - 1;
    assert_int_equal(outcome_touch(OUTCOME_LONG, P(89), P(110), &c), OUTCOME_TOUCH_NONE);
}

static void test_long_win_and_loss(void **state)
{
    (void)state;
    struct candle win[] = {K(T0, 100, 105, 95, 102), K(T0 + H1, 102, 110, 101, 108),
                           K(T0 + 2 * H1, 108, 108, 80, 85)};
    struct outcome_verdict o = resolve(&LONG_H1, win, 3);
    assert_decided(&o, OUTCOME_WON, P(110), TF_H1, T0 + H1, false);

    struct candle loss[] = {K(T0, 100, 105, 95, 102), K(T0 + H1, 102, 103, 90, 91),
                            K(T0 + 2 * H1, 91, 120, 91, 118)};
    o = resolve(&LONG_H1, loss, 3);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, false);

    /* Nothing touched yet, not expired: pending. */
    o = resolve(&LONG_H1, win, 1);
    assert_int_equal(o.result, OUTCOME_PENDING);
    assert_false(o.has_price);
    assert_false(o.has_candle);
}

static void test_short_win_and_loss(void **state)
{
    (void)state;
    struct candle win[] = {K(T0, 100, 105, 95, 100), K(T0 + H1, 100, 101, 90, 92)};
    struct outcome_verdict o = resolve(&SHORT_H1, win, 2);
    assert_decided(&o, OUTCOME_WON, P(90), TF_H1, T0 + H1, false);

    struct candle loss[] = {K(T0, 100, 105, 95, 100), K(T0 + H1, 100, 110, 99, 109)};
    o = resolve(&SHORT_H1, loss, 2);
    assert_decided(&o, OUTCOME_LOST, P(110), TF_H1, T0 + H1, false);

    /* A long's levels read the other way round: the same candle loses a long... */
    o = resolve(&LONG_H1, win, 2);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, false);
}

static void test_first_touch_decides(void **state)
{
    (void)state;
    struct candle v[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 100, 89, 95),
                         K(T0 + 2 * H1, 95, 115, 95, 112)};
    struct outcome_verdict o = resolve(&LONG_H1, v, 3);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, false);

    v[1] = K(T0 + H1, 100, 111, 99, 105);
    v[2] = K(T0 + 2 * H1, 105, 106, 70, 75);
    o = resolve(&LONG_H1, v, 3);
    assert_decided(&o, OUTCOME_WON, P(110), TF_H1, T0 + H1, false);
}

/* An H1 candle at T0 + H1 touching both; its M15 candles say which came first. */
static void test_both_settled_on_lower(void **state)
{
    (void)state;
    struct candle h1[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 112, 88, 95)};
    struct candle tp_first[] = {K(T0 + H1, 100, 104, 99, 103), K(T0 + H1 + M15, 103, 112, 101, 105),
                                K(T0 + H1 + 2 * M15, 105, 106, 88, 90),
                                K(T0 + H1 + 3 * M15, 90, 96, 89, 95)};
    struct lower_store ls = {.m15 = tp_first, .nm15 = 4};
    struct outcome_verdict o = resolve_full(&LONG_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_WON, P(110), TF_M15, T0 + H1 + M15, false);
    /* Asked for the M15 candles of that hour and nothing else. */
    assert_int_equal(ls.calls, 1);
    assert_int_equal(ls.last_from, T0 + H1);
    assert_int_equal(ls.last_to, T0 + 2 * H1);

    struct candle sl_first[] = {K(T0 + H1, 100, 101, 88, 90), K(T0 + H1 + M15, 90, 112, 90, 105)};
    ls = (struct lower_store){.m15 = sl_first, .nm15 = 2};
    o = resolve_full(&LONG_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_M15, T0 + H1, false);

    /* The short mirror: its take-profit is the low. */
    ls = (struct lower_store){.m15 = sl_first, .nm15 = 2};
    o = resolve_full(&SHORT_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_WON, P(90), TF_M15, T0 + H1, false);
    ls = (struct lower_store){.m15 = tp_first, .nm15 = 4};
    o = resolve_full(&SHORT_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(110), TF_M15, T0 + H1 + M15, false);
}

static void test_both_without_lower_is_ambiguous_loss(void **state)
{
    (void)state;
    struct candle h1[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 112, 88, 95)};
    struct outcome_verdict o = resolve(&LONG_H1, h1, 2);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, true);

    /* A lower timeframe that has nothing for that hour settles nothing either. */
    struct candle elsewhere[] = {K(T0, 100, 101, 99, 100)};
    struct lower_store ls = {.m15 = elsewhere, .nm15 = 1};
    o = resolve_full(&LONG_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, true);

    /* Nor one whose candles there touch nothing (the record is inconsistent). */
    struct candle quiet[] = {K(T0 + H1, 100, 101, 99, 100)};
    ls = (struct lower_store){.m15 = quiet, .nm15 = 1};
    o = resolve_full(&LONG_H1, h1, 2, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + H1, true);
}

static void test_lower_candle_touching_both(void **state)
{
    (void)state;
    struct candle h1[] = {K(T0, 100, 112, 88, 95)};
    struct candle m15[] = {K(T0, 100, 101, 99, 100), K(T0 + M15, 100, 112, 88, 95)};

    /* No timeframe below M15: ambiguous, at the M15 candle. */
    struct lower_store ls = {.m15 = m15, .nm15 = 2};
    struct outcome_verdict o = resolve_full(&LONG_H1, h1, 1, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_M15, T0 + M15, true);

    /* M1 stored too: it goes lower again and M1 settles it. */
    struct candle m1[] = {K(T0 + M15, 100, 100, 99, 99), K(T0 + M15 + M1, 99, 112, 99, 111),
                          K(T0 + M15 + 2 * M1, 111, 111, 88, 90)};
    ls = (struct lower_store){.m15 = m15, .nm15 = 2, .m1 = m1, .nm1 = 3};
    o = resolve_full(&LONG_H1, h1, 1, (T0 + 5 * H1) * 1000, &ls, 2);
    assert_decided(&o, OUTCOME_WON, P(110), TF_M1, T0 + M15 + M1, false);
    /* The last read was the M1 candles of that quarter hour. */
    assert_int_equal(ls.last_from, T0 + M15);
    assert_int_equal(ls.last_to, T0 + 2 * M15);

    /* M15 missing for that hour: M1 is used directly. */
    ls = (struct lower_store){.m1 = m1, .nm1 = 3};
    o = resolve_full(&LONG_H1, h1, 1, (T0 + 5 * H1) * 1000, &ls, 2);
    assert_decided(&o, OUTCOME_WON, P(110), TF_M1, T0 + M15 + M1, false);
}

static void test_expiry(void **state)
{
    (void)state;
    struct outcome_signal sig = LONG_H1;
    struct candle v[4];
    sig.expires_ms = (T0 + 3 * H1) * 1000;
    v[0] = K(T0, 100, 101, 99, 100);
    v[1] = K(T0 + H1, 100, 101, 99, 100);
    v[2] = K(T0 + 2 * H1, 100, 101, 99, 100);
    /* Opens at expiry: it does not count, touch or not. */
    v[3] = K(T0 + 3 * H1, 100, 120, 99, 118);

    struct outcome_verdict o = resolve_full(&sig, v, 4, sig.expires_ms, NULL, 0);
    assert_int_equal(o.result, OUTCOME_EXPIRED);
    assert_int_equal(o.decided_ms, sig.expires_ms);
    assert_false(o.has_price);
    assert_false(o.has_candle);
    assert_false(o.ambiguous);

    /* Before expiry: pending. */
    o = resolve_full(&sig, v, 3, sig.expires_ms - 1, NULL, 0);
    assert_int_equal(o.result, OUTCOME_PENDING);

    /* The last hour before expiry is not in yet: wait for it... */
    o = resolve_full(&sig, v, 2, sig.expires_ms + 60 * 1000, NULL, 0);
    assert_int_equal(o.result, OUTCOME_PENDING);
    /* ...and when it comes, it may still decide. */
    struct candle late[] = {v[0], v[1], K(T0 + 2 * H1, 100, 110, 99, 109)};
    o = resolve_full(&sig, late, 3, sig.expires_ms + 60 * 1000, NULL, 0);
    assert_decided(&o, OUTCOME_WON, P(110), TF_H1, T0 + 2 * H1, false);
    /* If it never comes, the signal expires once the wait is over. */
    o = resolve_full(&sig, v, 2, sig.expires_ms + H1 * 1000, NULL, 0);
    assert_int_equal(o.result, OUTCOME_EXPIRED);
    assert_int_equal(o.decided_ms, sig.expires_ms);

    /* No expiry: pending for ever. */
    sig.expires_ms = 0;
    o = resolve_full(&sig, v, 3, (T0 + 1000 * H1) * 1000, NULL, 0);
    assert_int_equal(o.result, OUTCOME_PENDING);
}

static void test_expiry_inside_a_candle(void **state)
{
    (void)state;
    struct outcome_signal sig = LONG_H1;
    /* Expires at half past: the candle that opened before counts, decided at expiry at most. */
    sig.expires_ms = (T0 + H1 + 30 * M1) * 1000;
    struct candle v[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 111, 99, 110)};
    struct outcome_verdict o = resolve_full(&sig, v, 2, (T0 + 2 * H1) * 1000, NULL, 0);
    assert_int_equal(o.result, OUTCOME_WON);
    assert_int_equal(o.candle_time, T0 + H1);
    assert_int_equal(o.decided_ms, sig.expires_ms);

    v[1] = K(T0 + H1, 100, 101, 99, 100);
    o = resolve_full(&sig, v, 2, (T0 + 2 * H1) * 1000, NULL, 0);
    assert_int_equal(o.result, OUTCOME_EXPIRED);
    assert_int_equal(o.decided_ms, sig.expires_ms);
}

static void test_candles_before_creation(void **state)
{
    (void)state;
    struct outcome_signal sig = LONG_H1;
    /* Created at 00:20 (and half a second): the 00:00 candle is the creation candle. */
    sig.created_ms = (T0 + 20 * M1) * 1000 + 500;
    struct candle v[] = {K(T0 - H1, 100, 130, 60, 100), K(T0, 100, 115, 99, 101),
                         K(T0 + H1, 101, 102, 100, 101), K(T0 + 2 * H1, 101, 102, 89, 92)};

    /* Without a lower timeframe the creation candle's touch may be older: ignored. */
    struct outcome_verdict o = resolve(&sig, v, 4);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + 2 * H1, false);

    /*
     * M15: the touches were at 00:00 and in the quarter containing the creation
     * time, which may be before the signal: still ignored.
     */
    struct candle before[] = {K(T0, 100, 115, 99, 110), K(T0 + M15, 110, 110, 100, 101),
                              K(T0 + 2 * M15, 101, 102, 100, 101)};
    struct lower_store ls = {.m15 = before, .nm15 = 3};
    o = resolve_full(&sig, v, 4, (T0 + 10 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + 2 * H1, false);
    /* Asked for the M15 candles from the one containing the creation time on. */
    assert_true(ls.calls >= 1);

    /* The touch was at 00:30, after the signal: it wins there. */
    struct candle after[] = {K(T0, 100, 101, 99, 100), K(T0 + M15, 100, 101, 99, 100),
                             K(T0 + 2 * M15, 100, 115, 99, 112)};
    ls = (struct lower_store){.m15 = after, .nm15 = 3};
    o = resolve_full(&sig, v, 4, (T0 + 10 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_WON, P(110), TF_M15, T0 + 2 * M15, false);

    /* The touch was in the M15 candle containing the creation time (00:15-00:30): M1 decides. */
    struct candle mid[] = {K(T0, 100, 101, 99, 100), K(T0 + M15, 100, 115, 99, 112)};
    struct candle m1_before[] = {K(T0 + 19 * M1, 100, 115, 99, 112),
                                 K(T0 + 20 * M1, 112, 113, 100, 101)};
    ls = (struct lower_store){.m15 = mid, .nm15 = 2, .m1 = m1_before, .nm1 = 2};
    o = resolve_full(&sig, v, 4, (T0 + 10 * H1) * 1000, &ls, 2);
    /* 00:19 is before, and the 00:20 candle opened half a second before the signal. */
    assert_decided(&o, OUTCOME_LOST, P(90), TF_H1, T0 + 2 * H1, false);
    struct candle m1_after[] = {K(T0 + 19 * M1, 100, 101, 99, 100),
                                K(T0 + 21 * M1, 100, 115, 99, 112)};
    ls = (struct lower_store){.m15 = mid, .nm15 = 2, .m1 = m1_after, .nm1 = 2};
    o = resolve_full(&sig, v, 4, (T0 + 10 * H1) * 1000, &ls, 2);
    assert_decided(&o, OUTCOME_WON, P(110), TF_M1, T0 + 21 * M1, false);

    /* Created exactly on the hour: that hour's candle counts. */
    sig.created_ms = T0 * 1000;
    o = resolve(&sig, v, 4);
    assert_decided(&o, OUTCOME_WON, P(110), TF_H1, T0, false);
}

static void test_gaps(void **state)
{
    (void)state;
    /* Hours 1 to 4 are missing: the next candle there decides, by its own time. */
    struct candle v[] = {K(T0, 100, 101, 99, 100), K(T0 + 5 * H1, 100, 111, 99, 110),
                         K(T0 + 6 * H1, 110, 111, 80, 85)};
    struct outcome_verdict o = resolve(&LONG_H1, v, 3);
    assert_decided(&o, OUTCOME_WON, P(110), TF_H1, T0 + 5 * H1, false);

    /* A hole in the lower timeframe: the candles there decide in time order. */
    struct candle h1[] = {K(T0, 100, 112, 88, 95)};
    struct candle m15[] = {K(T0 + 2 * M15, 100, 100, 88, 90), K(T0 + 3 * M15, 90, 112, 90, 111)};
    struct lower_store ls = {.m15 = m15, .nm15 = 2};
    o = resolve_full(&LONG_H1, h1, 1, (T0 + 5 * H1) * 1000, &ls, 1);
    assert_decided(&o, OUTCOME_LOST, P(90), TF_M15, T0 + 2 * M15, false);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct outcome_verdict o;
    struct outcome_signal sig = LONG_H1;
    struct candle v[] = {K(T0, 100, 101, 99, 100)};
    struct outcome_input in = {.sig = &sig, .candles = v, .ncandles = 1, .now_ms = T0 * 1000};

    sig.stop_loss = sig.take_profit;
    assert_int_equal(outcome_resolve(&in, &o, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "stop-loss below its take-profit"));
    assert_int_equal(o.result, OUTCOME_PENDING);

    sig = SHORT_H1;
    sig.stop_loss = P(80);
    strbuf_setlen(&err, 0);
    assert_int_equal(outcome_resolve(&in, &o, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "short signal needs its stop-loss above"));

    /* Lower timeframes out of order, or not lower. */
    static const enum timeframe wrong[] = {TF_M1, TF_M15};
    sig = LONG_H1;
    in.lower = wrong;
    in.nlower = 2;
    in.fetch = fetch;
    strbuf_setlen(&err, 0);
    assert_int_equal(outcome_resolve(&in, &o, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "M15 must be shorter than M1"));
    static const enum timeframe same[] = {TF_H1};
    in.lower = same;
    in.nlower = 1;
    strbuf_setlen(&err, 0);
    assert_int_equal(outcome_resolve(&in, &o, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "H1 must be shorter than H1"));
    strbuf_release(&err);
}

static void test_fetch_error(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    struct outcome_verdict o;
    struct candle h1[] = {K(T0, 100, 112, 88, 95)};
    struct lower_store ls = {.fail = CK_EIO};
    struct outcome_input in = {
        .sig = &LONG_H1,
        .candles = h1,
        .ncandles = 1,
        .now_ms = (T0 + 5 * H1) * 1000,
        .lower = LOWER,
        .nlower = 2,
        .fetch = fetch,
        .fetch_arg = &ls,
    };
    assert_int_equal(outcome_resolve(&in, &o, &err), CK_EIO);
    assert_non_null(strstr(err.buf, "the database is gone"));
    /* A failed read decides nothing. */
    assert_int_equal(o.result, OUTCOME_PENDING);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_long_win_and_loss),
        cmocka_unit_test(test_short_win_and_loss),
        cmocka_unit_test(test_first_touch_decides),
        cmocka_unit_test(test_both_settled_on_lower),
        cmocka_unit_test(test_both_without_lower_is_ambiguous_loss),
        cmocka_unit_test(test_lower_candle_touching_both),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_expiry_inside_a_candle),
        cmocka_unit_test(test_candles_before_creation),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fetch_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
