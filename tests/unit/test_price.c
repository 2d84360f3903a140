/* SPDX-License-Identifier: MIT */
/*
 * Exact decimal prices. Expected scaled values are the decimal literal times
 * 10^8 by definition of PRICE_SCALE; the canonical text is the literal with
 * trailing fractional zeros (and a bare trailing point) removed.
 */
#include "testutil.h"

#include "market/price.h"
#include "util/error.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <string.h>

static void test_parse_and_format_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t v;
        const char *out;   /* price_format() */
        const char *fixed; /* price_format_fixed() */
    } cases[] = {
        {"2063.41", 206341000000LL, "2063.41", "2063.41000000"},
        {"0.00000001", 1, "0.00000001", "0.00000001"},
        {"100", 10000000000LL, "100", "100.00000000"},
        {"100.000", 10000000000LL, "100", "100.00000000"},
        {"1.10000000", 110000000, "1.1", "1.10000000"},
        {"1.123456780", 112345678, "1.12345678", "1.12345678"}, /* 9th decimal is a zero */
        {"1.12345678", 112345678, "1.12345678", "1.12345678"},
        {"-1", -100000000, "-1", "-1.00000000"},
        {"-0.5", -50000000, "-0.5", "-0.50000000"},
        {"-2063.41", -206341000000LL, "-2063.41", "-2063.41000000"},
        {"-0.00000001", -1, "-0.00000001", "-0.00000001"},
        {"+5.", 500000000, "5", "5.00000000"},
        {".5", 50000000, "0.5", "0.50000000"},
        {"0", 0, "0", "0.00000000"},
        {"-0", 0, "0", "0.00000000"},
        {"00012.50", 1250000000, "12.5", "12.50000000"},
        {"92233720368.54775807", INT64_MAX, "92233720368.54775807", "92233720368.54775807"},
        {"-92233720368.54775807", -INT64_MAX, "-92233720368.54775807", "-92233720368.54775807"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char buf[PRICE_BUFSZ];
        int64_t v = 7;
        int rc = price_parse(cases[i].in, strlen(cases[i].in), &v);
        if (rc || v != cases[i].v)
            fail_msg("'%s': rc %d v %lld", cases[i].in, rc, (long long)v);
        assert_int_equal(price_format(v, buf), strlen(cases[i].out));
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(price_format_fixed(v, buf), strlen(cases[i].fixed));
        assert_string_equal(buf, cases[i].fixed);
    }
}

static void test_parse_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"", CK_EPARSE},
        {"abc", CK_EPARSE},
        {"NaN", CK_EPARSE},
        {"nan", CK_EPARSE},
        {"inf", CK_EPARSE},
        {"-inf", CK_EPARSE},
        {"Infinity", CK_EPARSE},
        {"1e3", CK_EPARSE},
        {"1e999", CK_EPARSE},
        {"1E3", CK_EPARSE},
        {"1.123456789", CK_EPARSE}, /* 9 significant decimals */
        {"0.000000001", CK_EPARSE},
        {"1.2.3", CK_EPARSE},
        {" 1", CK_EPARSE},
        {"1 ", CK_EPARSE},
        {"+", CK_EPARSE},
        {"-", CK_EPARSE},
        {".", CK_EPARSE},
        {"-.", CK_EPARSE},
        {"1,5", CK_EPARSE},
        {"0x10", CK_EPARSE},
        {"--1", CK_EPARSE},
        {"+-1", CK_EPARSE},
        {"92233720368.54775808", CK_ELIMIT}, /* INT64_MAX + 1 */
        {"-92233720368.54775808", CK_ELIMIT},
        {"100000000000", CK_ELIMIT},
        {"-100000000000", CK_ELIMIT},
        {"99999999999999999999999999999", CK_ELIMIT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t v = 7;
        int rc = price_parse(cases[i].in, strlen(cases[i].in), &v);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
        assert_int_equal(v, 7);
    }
}

static void test_parse_length_bounded(void **state)
{
    (void)state;
    int64_t v;
    /* Only `len` bytes are read: the rest of a JSON or CSV buffer is not looked at. */
    assert_int_equal(price_parse("2063.41,2064.00", 7, &v), 0);
    assert_int_equal(v, 206341000000LL);
    assert_int_equal(price_parse("2063.41", 4, &v), 0);
    assert_int_equal(v, 206300000000LL);
    assert_int_equal(price_parse("2063.41", 0, &v), CK_EPARSE);
}

/* The sums binary floating point gets wrong are exact here. */
static void test_exactness(void **state)
{
    (void)state;
    int64_t a, b, c;
    assert_int_equal(price_parse("0.1", 3, &a), 0);
    assert_int_equal(price_parse("0.2", 3, &b), 0);
    assert_int_equal(price_parse("0.3", 3, &c), 0);
    assert_int_equal(a + b, c);
}

static void test_format_extremes(void **state)
{
    (void)state;
    char buf[PRICE_BUFSZ];
    assert_int_equal(price_format(INT64_MIN, buf), strlen("-92233720368.54775808"));
    assert_string_equal(buf, "-92233720368.54775808");
    price_format_fixed(INT64_MIN, buf);
    assert_string_equal(buf, "-92233720368.54775808");
    price_format(10, buf);
    assert_string_equal(buf, "0.0000001");
    price_format(-10, buf);
    assert_string_equal(buf, "-0.0000001");
    price_format(1000000000000LL, buf);
    assert_string_equal(buf, "10000");
}

/* format -> parse gives the value back, for many values of every magnitude. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 100000; i++) {
        char buf[PRICE_BUFSZ];
        int64_t v, back;
        size_t len;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v = (int64_t)((x >> 1) >> (x % 63)); /* spread over magnitudes, >= 0 */
        if (x & 1)
            v = -v;
        len = price_format(v, buf);
        assert_int_equal(price_parse(buf, len, &back), 0);
        assert_int_equal(back, v);
        len = price_format_fixed(v, buf);
        assert_int_equal(price_parse(buf, len, &back), 0);
        assert_int_equal(back, v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format_table), cmocka_unit_test(test_parse_rejected),
        cmocka_unit_test(test_parse_length_bounded),   cmocka_unit_test(test_exactness),
        cmocka_unit_test(test_format_extremes),        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
