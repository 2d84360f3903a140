/* SPDX-License-Identifier: MIT */
/* Checked parsing of integers, durations, booleans and word lists (util/parse.h). */
#include "testutil.h"

#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <string.h>

static void test_int64(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t min, max;
        int rc;
        int64_t v;
    } cases[] = {
        {"0", INT64_MIN, INT64_MAX, 0, 0},
        {"42", INT64_MIN, INT64_MAX, 0, 42},
        {"-42", INT64_MIN, INT64_MAX, 0, -42},
        {"+7", INT64_MIN, INT64_MAX, 0, 7},
        {"007", INT64_MIN, INT64_MAX, 0, 7}, /* decimal, not octal */
        {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
        {"10", 0, 10, 0, 10},
        {"0", 0, 10, 0, 0},
        {"11", 0, 10, CK_ELIMIT, 0},
        {"-1", 0, 10, CK_ELIMIT, 0},
        {"9223372036854775808", INT64_MIN, INT64_MAX, CK_ELIMIT, 0},
        {"-9223372036854775809", INT64_MIN, INT64_MAX, CK_ELIMIT, 0},
        {"", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {" 1", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"1 ", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"1x", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"0x10", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"1.5", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"-", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"+", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
        {"abc", INT64_MIN, INT64_MAX, CK_EINVAL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t v = 12345;
        int rc = parse_int64(cases[i].s, cases[i].min, cases[i].max, &v);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d want %d", cases[i].s, rc, cases[i].rc);
        assert_int_equal(v, rc ? 12345 : cases[i].v);
    }
    int64_t v;
    assert_int_equal(parse_int64(NULL, 0, 1, &v), CK_EINVAL);
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t secs;
    } ok[] = {
        {"30s", 30}, {"15m", 900}, {"4h", 14400},         {"7d", 604800}, {"90", 90},
        {"0s", 0},   {"0", 0},     {"180d", 180 * 86400}, {"1w", 604800}, {"120s", 120},
    };
    static const char *const bad[] = {"",
                                      "m",
                                      "s5",
                                      "5x",
                                      "1.5h",
                                      "-5s",
                                      "5 m",
                                      " 5m",
                                      "5m ",
                                      "5M",
                                      "5ms",
                                      "abc",
                                      "99999999999999999999d",
                                      "123456789012345678901234567890123s"};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        int64_t v = -1;
        if (parse_duration(ok[i].s, &v) != 0 || v != ok[i].secs)
            fail_msg("'%s' gave %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t v = -1;
        if (parse_duration(bad[i], &v) == 0)
            fail_msg("'%s' accepted as %lld", bad[i], (long long)v);
        assert_int_equal(v, -1);
    }
    int64_t v;
    assert_int_equal(parse_duration(NULL, &v), CK_EINVAL);
}

static void test_size(void **state)
{
    static const struct {
        const char *s;
        int64_t bytes;
    } ok[] = {
        {"100MB", 100 * 1048576LL},
        {"512k", 524288},
        {"512kB", 524288},
        {"1g", 1073741824LL},
        {"4096", 4096},
        {"4096B", 4096},
        {"0", 0},
        {"2M", 2097152},
    };
    static const char *const bad[] = {"", "B", "MB", "1.5M", "-1k", "5 M", "5T", "k5", "abc"};
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        int64_t v = -1;
        if (parse_size(ok[i].s, &v) != 0 || v != ok[i].bytes)
            fail_msg("'%s' gave %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t v = -1;
        if (parse_size(bad[i], &v) == 0)
            fail_msg("'%s' accepted as %lld", bad[i], (long long)v);
    }
}

static void test_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON"};
    static const char *const no[] = {"0", "false", "no", "off", "FALSE", "No", "Off"};
    static const char *const bad[] = {"", "2", "y", "n", "yess", "truee", " true", "enable"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        bool b = false;
        assert_int_equal(parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
        bool b = true;
        assert_int_equal(parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        bool b = true;
        assert_int_equal(parse_bool(bad[i], &b), CK_EINVAL);
        assert_true(b);
    }
}

struct words {
    struct strbuf joined;
    int calls;
    int stop_at; /* return 7 on this call (1-based), 0 = never */
};

static int collect(const char *word, size_t len, void *arg)
{
    struct words *w = arg;
    w->calls++;
    assert_true(len > 0);
    strbuf_add(&w->joined, word, len);
    strbuf_addch(&w->joined, '|');
    return w->calls == w->stop_at ? 7 : 0;
}

static void test_words(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *joined;
        int calls;
    } cases[] = {
        {"XAU/USD", "XAU/USD|", 1},
        {"XAU/USD, BTC/USDT  ETH/USD", "XAU/USD|BTC/USDT|ETH/USD|", 3},
        {"M15 H1 H4 D1", "M15|H1|H4|D1|", 4},
        {"  ,a,,b\t\tc , ", "a|b|c|", 3},
        {"", "", 0},
        {" , ,\t", "", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct words w = {.joined = STRBUF_INIT};
        assert_int_equal(parse_words(cases[i].s, collect, &w), 0);
        assert_string_equal(w.joined.buf, cases[i].joined);
        assert_int_equal(w.calls, cases[i].calls);
        strbuf_release(&w.joined);
    }
    /* The first non-zero return stops the walk and is returned. */
    struct words w = {.joined = STRBUF_INIT, .stop_at = 2};
    assert_int_equal(parse_words("a b c d", collect, &w), 7);
    assert_int_equal(w.calls, 2);
    assert_string_equal(w.joined.buf, "a|b|");
    strbuf_release(&w.joined);
    /* NULL is an empty list. */
    w.calls = 0;
    assert_int_equal(parse_words(NULL, collect, &w), 0);
    assert_int_equal(w.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int64), cmocka_unit_test(test_duration), cmocka_unit_test(test_size),
        cmocka_unit_test(test_bool),  cmocka_unit_test(test_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
