/* SPDX-License-Identifier: MIT */
/*
 * The Bybit adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/bybit/) through
 * bybit_parse(), table-driven, and checks exact candles and typed errors.
 * Part 2 drives source_fetch() through libcurl against the local fake
 * (tests/helpers/fake_bybit.py): the request's shape (category, symbol,
 * the window of a fetch after `since`), Bybit's usage headers and its
 * 403 ban.
 */
#include "testutil.h"

#include "net/http.h"
#include "source/source.h"
#include "source/source_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return test_utc(y, mo, d, h, mi);
}

/* 2024-03-15T10:30:45Z: the 10:00 H1 candle of the fixtures is forming. */
#define NOW 1710498645

static char *fixture(const char *name, size_t *len)
{
    return test_fixture_read("bybit", name, len);
}

/* ------------------------------------------------------------------ parsing */

struct parse_case {
    const char *file; /* "" for an empty body */
    enum timeframe tf;
    long status;
    int rc;
    enum source_error error;
    size_t ncandles;
    const char *err_has; /* expected part of the message; NULL: no message */
    int64_t retry_after;
};

static const struct parse_case parse_cases[] = {
    {"btc_1h.json", TF_H1, 200, 0, SRC_OK, 3, NULL, -1},
    {"btc_1w.json", TF_W1, 200, 0, SRC_OK, 2, NULL, -1},
    {"empty_list.json", TF_H1, 200, 0, SRC_OK, 0, NULL, -1},
    {"error_10001_symbol.json", TF_H1, 200, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown symbol (retCode 10001, HTTP 200): Not supported symbols", -1},
    {"error_170121.json", TF_H1, 200, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown symbol (retCode 170121, HTTP 200): Invalid symbol.", -1},
    {"error_10001_param.json", TF_H1, 200, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (retCode 10001, HTTP 200): params error: limit must be", -1},
    {"error_10006.json", TF_H1, 200, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (retCode 10006, HTTP 200): Too many visits!", 5},
    {"error_10016.json", TF_H1, 200, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (retCode 10016, HTTP 200): Internal server error.", -1},
    {"text_403.txt", TF_H1, 403, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "Bybit banned this IP address for too frequent requests (HTTP 403); nothing is sent for at "
     "least "
     "600 s: 'access too frequent'",
     600},
    {"html_403.html", TF_H1, 403, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "(HTTP 403); nothing is sent for at least 600 s: '403 Forbidden 403 Forbidden The request "
     "could",
     600},
    /* A 403 is the ban whatever its body: even a well-formed one. */
    {"btc_1h.json", TF_H1, 403, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0, "(HTTP 403)", 600},
    {"html_502.html", TF_H1, 502, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway'", -1},
    {"html_502.html", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"html_502.html", TF_H1, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0, "rate limited (HTTP 429)", 5},
    {"truncated.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "body is not JSON (empty body)", -1},
    {"not_object.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "body is not a JSON object: '[1,2,3]'", -1},
    {"no_retcode.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "response has no numeric \"retCode\"", -1},
    {"no_list.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "response has no \"result\".\"list\" array", -1},
    {"bad_nan.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: low 'NaN' is not a decimal", -1},
    {"bad_number_type.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: high is a number, not a string", -1},
    {"bad_huge.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: high '99999999999999.5' is out of range", -1},
    {"bad_exponent.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: close '1e999' is not a decimal", -1},
    {"bad_abc.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: open 'abc' is not a decimal", -1},
    {"bad_negative.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:00:00Z: open '-1' is not positive", -1},
    {"bad_unaligned.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T09:01:00Z: open time is not aligned to H1", -1},
    {"bad_time.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: open time 'yesterday' is not a whole second in Unix milliseconds", -1},
    {"bad_duplicate.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: open time appears twice", -1},
    {"bad_short_row.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: has 5 fields, not 7", -1},
    {"bad_row_object.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: is an object, not an array", -1},
    /* Hourly rows read as daily: 09:00 does not open a day. */
    {"btc_1h.json", TF_D1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "open time is not aligned to D1",
     -1},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct fetch_request req = {.symbol = "BTC/USDT", .tf = c->tf, .count = 100, .now = NOW};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct strbuf err = STRBUF_INIT;
        size_t len = 0;
        char *body = *c->file ? fixture(c->file, &len) : xstrdup("");
        int rc = bybit_parse(body, len, c->status, &req, "bybit", &res, &err);
        char prefix[64];

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        if (c->err_has) {
            snprintf(prefix, sizeof(prefix), "bybit BTC/USDT %s: ", timeframe_name(c->tf));
            assert_true(strbuf_starts_with(&err, prefix));
            assert_non_null(strstr(err.buf, c->err_has));
        } else {
            assert_int_equal(err.len, 0);
        }
        if (rc)
            assert_null(res.candles.v);
        for (size_t k = 1; k < res.candles.n; k++)
            assert_true(res.candles.v[k - 1].open_time < res.candles.v[k].open_time);
        fetch_result_release(&res);
        strbuf_release(&err);
        free(body);
    }
}

static void test_parse_exact(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("btc_1h.json", &len);
    const struct candle *c;

    (void)state;
    assert_int_equal(bybit_parse(body, len, 200, &req, "bybit", &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    /* Newest first in the body, ascending in the result. */
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, utc(2024, 3, 15, 8, 0));
    assert_int_equal(c->open, 6695070000000LL);
    assert_int_equal(c->high, 6699000000000LL);
    assert_int_equal(c->low, 6680199000000LL);
    assert_int_equal(c->close, 6689001000000LL);
    assert_true(c->has_volume);
    assert_int_equal(c->volume, 0);
    assert_int_equal(res.candles.v[1].high, 6702050000000LL);
    assert_int_equal(res.candles.v[1].volume, 810000000LL);
    /* The forming 10:00 row is passed on; the ingest job's rule drops it. */
    c = &res.candles.v[2];
    assert_int_equal(c->open_time, utc(2024, 3, 15, 10, 0));
    assert_false(candle_is_final(c, TF_H1, NOW));
    assert_int_equal(c->close, 6705055000000LL);
    assert_int_equal(c->volume, 1234567800LL);
    fetch_result_release(&res);
    free(body);

    /* Weekly rows open on Mondays, as candlekeep's W1 does. */
    req.tf = TF_W1;
    body = fixture("btc_1w.json", &len);
    assert_int_equal(bybit_parse(body, len, 200, &req, "bybit", &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 4, 0, 0));
    assert_int_equal(res.candles.v[1].open_time, utc(2024, 3, 11, 0, 0));
    assert_int_equal(res.candles.v[1].volume, 5231188300000LL);
    fetch_result_release(&res);
    free(body);
    strbuf_release(&err);
}

/* ------------------------------------------------------------- the fake venue */

static struct test_fake fake = {.pid = -1};

static int fake_start(void **state)
{
    (void)state;
    return test_fake_start(&fake, "fake_bybit.py", NULL) ? -1 : 0;
}

static int fake_stop(void **state)
{
    (void)state;
    test_fake_stop(&fake);
    return 0;
}

static void fake_setup(json_t *control)
{
    test_fake_post(&fake, "/__reset", NULL);
    test_fake_post(&fake, "/__control", control);
}

/* The query of the last kline request the fake saw (caller decrefs); how many in *count. */
static json_t *last_query(size_t *count)
{
    json_t *all = test_fake_get_json(&fake, "/__requests"), *q;

    assert_true(json_array_size(all) > 0);
    if (count)
        *count = json_array_size(all);
    q = json_object_get(json_array_get(all, json_array_size(all) - 1), "query");
    json_incref(q);
    json_decref(all);
    return q;
}

static const char *qs(json_t *q, const char *name)
{
    return json_string_value(json_object_get(q, name));
}

static int fetch(const char *symbol, const struct fetch_request *req, struct fetch_result *res,
                 struct strbuf *err)
{
    struct source_config cfg = {
        .name = "bybit", .kind = "bybit", .base_url = fake.url, .timeout_ms = 10000};
    struct fetch_request r = *req;
    struct source *src;
    int rc;

    r.symbol = symbol;
    assert_int_equal(source_open(&src, &cfg, err), 0);
    rc = source_fetch(src, &r, res, err);
    source_free(src);
    return rc;
}

static void test_http_latest(void **state)
{
    struct fetch_request req = {.tf = TF_M15, .count = 10, .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *q;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 10);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 15, 9, 45));
    assert_int_equal(res.candles.v[9].open_time, utc(2024, 3, 15, 12, 0));
    assert_int_equal(res.credits_left, -1);
    q = last_query(NULL);
    assert_string_equal(qs(q, "category"), "spot");
    assert_string_equal(qs(q, "symbol"), "BTCUSDT");
    assert_string_equal(qs(q, "interval"), "15");
    assert_string_equal(qs(q, "limit"), "10");
    assert_null(json_object_get(q, "start"));
    assert_null(json_object_get(q, "end"));
    json_decref(q);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* After `since`: the OLDEST rows, a window of at most `limit` rows. */
static void test_http_since_window(void **state)
{
    struct fetch_request req = {.tf = TF_H1,
                                .has_since = true,
                                .since = utc(2024, 1, 1, 0, 0),
                                .count = 1000,
                                .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *q;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("ETH/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 1000);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 1, 1, 0));
    assert_int_equal(res.candles.v[999].open_time, utc(2024, 1, 1, 1, 0) + 999 * 3600);
    q = last_query(NULL);
    assert_string_equal(qs(q, "start"), "1704070800000");
    assert_string_equal(qs(q, "end"), "1707667200000"); /* start + 999 hours */
    assert_string_equal(qs(q, "limit"), "1000");
    json_decref(q);
    fetch_result_release(&res);

    /* A window reaching now holds what exists, the forming candle last. */
    req.since = utc(2024, 3, 15, 9, 0);
    assert_int_equal(fetch("ETH/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[2].open_time, utc(2024, 3, 15, 12, 0));
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_errors(void **state)
{
    struct fetch_request req = {.tf = TF_H1, .count = 5, .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("NOPE/USDT", &req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_non_null(strstr(err.buf, "bybit NOPE/USDT H1: unknown symbol (retCode 10001"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* 10006: the wait is Bybit's reset time, 2.5 s after its clock's now: 3 s. */
    fake_setup(json_pack("{s:s, s:[{s:i, s:i}]}", "now", "2024-03-15T12:07:00Z", "errors",
                         "retCode", 10006, "reset_ms", 2500));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.retry_after, 3);
    assert_int_equal(res.credits_left, 0);
    assert_int_equal(res.credits_used, 600);
    assert_int_equal(fetch_result_status(&res), 429);
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* Over 600 in 5 s (here 2): HTTP 403 and a ban; a Retry-After never shortens it. */
    fake_setup(
        json_pack("{s:s, s:{s:i}}", "now", "2024-03-15T12:07:00Z", "limits", "per_window", 2));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.http_status, 403);
    assert_int_equal(res.retry_after, 600);
    assert_non_null(strstr(res.wait_reason, "HTTP 403"));
    assert_non_null(strstr(err.buf, "'access too frequent'"));
    fetch_result_release(&res);
    strbuf_reset(&err);
    test_fake_post(&fake, "/__reset", NULL);
    test_fake_post(&fake, "/__control",
                   json_pack("{s:[{s:i, s:s, s:{s:s}}]}", "raw", "http_status", 403, "body",
                             "access too frequent", "headers", "Retry-After", "1800"));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 1800);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Usage headers on a success: what is left; none left is a wait until the reset. */
static void test_http_usage_headers(void **state)
{
    struct fetch_request req = {.tf = TF_H1, .count = 5, .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:s, s:b, s:{s:i, s:i}}", "now", "2024-03-15T12:07:00Z", "usage_headers",
                         1, "limits", "per_window", 2, "window_s", 4));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.credits_left, 1);
    assert_int_equal(res.credits_used, 1);
    assert_int_equal(res.retry_after, -1);
    fetch_result_release(&res);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 5);
    assert_int_equal(res.credits_left, 0);
    assert_int_equal(res.retry_after, 4);
    assert_non_null(strstr(res.wait_reason, "X-Bapi-Limit-Status"));
    fetch_result_release(&res);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_exact),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(test_http_latest),
        cmocka_unit_test(test_http_since_window),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_http_usage_headers),
    };
    struct strbuf err = STRBUF_INIT;
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    strbuf_release(&err);
    failed = cmocka_run_group_tests_name("bybit parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("bybit http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
