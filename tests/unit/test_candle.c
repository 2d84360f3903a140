/* SPDX-License-Identifier: MIT */
/*
 * Candle validation (each rule and the reason it gives), finality, and the
 * candle vector.
 */
#include "testutil.h"

#include "market/candle.h"
#include "market/price.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <string.h>

/* 2024-01-02T15:00:00Z, aligned to every timeframe up to H1 */
#define T_REF 1704207600LL

static int64_t P(const char *s)
{
    int64_t v = 0;
    if (price_parse(s, strlen(s), &v) != 0)
        fail_msg("bad price literal '%s'", s);
    return v;
}

static struct candle mk(int64_t t, const char *o, const char *h, const char *l, const char *c)
{
    struct candle k = {.open_time = t, .open = P(o), .high = P(h), .low = P(l), .close = P(c)};
    return k;
}

static void test_valid(void **state)
{
    (void)state;
    struct strbuf why = STRBUF_INIT;
    struct candle c = mk(T_REF, "2060", "2065.5", "2058.25", "2063.41");

    assert_true(candle_validate(&c, TF_H1, &why));
    assert_int_equal(why.len, 0);
    /* flat candle: all four equal */
    c = mk(T_REF, "1", "1", "1", "1");
    assert_true(candle_validate(&c, TF_M15, &why));
    /* volume zero is valid, absent volume is not looked at */
    c.has_volume = true;
    c.volume = 0;
    assert_true(candle_validate(&c, TF_M15, &why));
    c.has_volume = false;
    c.volume = -5;
    assert_true(candle_validate(&c, TF_M15, &why));
    assert_int_equal(why.len, 0);
    strbuf_release(&why);
}

static void test_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *o, *h, *l, *c;
        const char *why;
    } cases[] = {
        {"2060", "2060.5", "2059", "2061", "high 2060.5 is below close 2061"},
        {"2061", "2060.5", "2059", "2060", "high 2060.5 is below open 2061"},
        {"2060", "2058", "2059", "2058.5", "high 2058 is below low 2059"},
        {"2058", "2062", "2059", "2060", "low 2059 is above open 2058"},
        {"2060", "2062", "2059", "2058.75", "low 2059 is above close 2058.75"},
        {"0", "2062", "2059", "2060", "open 0 is not positive"},
        {"2060", "2062", "-1", "2060", "low -1 is not positive"},
        {"2060", "2062", "2059", "-0.00000001", "close -0.00000001 is not positive"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf why = STRBUF_INIT;
        struct candle c = mk(T_REF, cases[i].o, cases[i].h, cases[i].l, cases[i].c);
        assert_false(candle_validate(&c, TF_H1, &why));
        assert_string_equal(why.buf, cases[i].why);
        /* a NULL reason buffer is allowed */
        assert_false(candle_validate(&c, TF_H1, NULL));
        strbuf_release(&why);
    }

    struct strbuf why = STRBUF_INIT;
    struct candle c = mk(T_REF, "2060", "2062", "2059", "2061");
    c.has_volume = true;
    c.volume = -P("1.5");
    assert_false(candle_validate(&c, TF_H1, &why));
    assert_string_equal(why.buf, "volume -1.5 is negative");

    strbuf_reset(&why);
    c = mk(T_REF + 7 * 60, "2060", "2062", "2059", "2061");
    assert_false(candle_validate(&c, TF_H1, &why));
    assert_string_equal(why.buf, "open time 2024-01-02T15:07:00Z is not aligned to H1");
    strbuf_reset(&why);
    assert_true(candle_validate(&c, TF_M1, &why));
    /* 15:00 is not a multiple of 4 hours */
    c.open_time = T_REF;
    assert_false(candle_validate(&c, TF_H4, &why));
    assert_string_equal(why.buf, "open time 2024-01-02T15:00:00Z is not aligned to H4");
    strbuf_release(&why);
}

static void test_is_final(void **state)
{
    (void)state;
    struct candle c = mk(T_REF, "1", "1", "1", "1");
    assert_false(candle_is_final(&c, TF_H1, T_REF));
    assert_false(candle_is_final(&c, TF_H1, T_REF + 3599));
    assert_true(candle_is_final(&c, TF_H1, T_REF + 3600));
    assert_false(candle_is_final(&c, TF_D1, T_REF + 3600));
    assert_true(candle_is_final(&c, TF_M15, T_REF + 900));
    assert_false(candle_is_final(&c, TF_M15, T_REF + 899));
}

static void test_vec(void **state)
{
    (void)state;
    struct candle_vec cv = CANDLE_VEC_INIT;
    for (int64_t i = 0; i < 1000; i++) {
        struct candle c = {.open_time = T_REF + i * 60,
                           .open = i + 1,
                           .high = i + 2,
                           .low = i + 1,
                           .close = i + 2,
                           .volume = i,
                           .has_volume = i % 2};
        candle_vec_push(&cv, &c);
    }
    assert_int_equal(cv.n, 1000);
    assert_true(cv.alloc >= 1000);
    for (int64_t i = 0; i < 1000; i++) {
        assert_int_equal(cv.v[i].open_time, T_REF + i * 60);
        assert_int_equal(cv.v[i].high, i + 2);
        assert_int_equal(cv.v[i].has_volume, i % 2);
    }
    candle_vec_release(&cv);
    assert_null(cv.v);
    assert_int_equal(cv.n, 0);
    assert_int_equal(cv.alloc, 0);
    candle_vec_release(&cv); /* reusable and releasable again */
    struct candle c = {.open_time = 1};
    candle_vec_push(&cv, &c);
    assert_int_equal(cv.n, 1);
    candle_vec_release(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_is_final),
        cmocka_unit_test(test_vec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
