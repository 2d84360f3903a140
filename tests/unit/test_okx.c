/* SPDX-License-Identifier: MIT */
/*
 * The OKX adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/okx/) through
 * okx_parse(), table-driven, and checks exact candles, the unconfirmed
 * row left out, and typed errors. Part 2 drives source_fetch() through
 * libcurl against the local fake (tests/helpers/fake_okx.py): which
 * endpoint a fetch asks, its `after` cursor, and OKX's errors.
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

/* 2024-03-15T12:30:45Z: the 12:00 H1 candle of the fixtures is forming. */
#define NOW 1710505845

static char *fixture(const char *name, size_t *len)
{
    return test_fixture_read("okx", name, len);
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
    /* Five rows, the forming one (confirm "0") left out. */
    {"btc_1h.json", TF_H1, 200, 0, SRC_OK, 4, NULL, -1},
    {"btc_1dutc.json", TF_D1, 200, 0, SRC_OK, 1, NULL, -1},
    {"btc_1wutc.json", TF_W1, 200, 0, SRC_OK, 1, NULL, -1},
    /* Plain 1D days open at 00:00 Hong Kong time, 16:00 UTC: not candlekeep's days. */
    {"btc_1d_hk.json", TF_D1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-14T16:00:00Z: open time is not aligned to D1", -1},
    {"empty_data.json", TF_H1, 200, 0, SRC_OK, 0, NULL, -1},
    {"error_51001.json", TF_H1, 200, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown instrument (code 51001, HTTP 200): Instrument ID does not exist", -1},
    {"error_50011.json", TF_H1, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (code 50011, HTTP 429): Rate limit reached.", 2},
    {"error_50011.json", TF_H1, 200, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0, "(code 50011, HTTP 200)",
     2},
    {"error_50014.json", TF_H1, 400, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code 50014, HTTP 400): Parameter instId can not be empty", -1},
    {"error_51000.json", TF_H1, 400, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code 51000, HTTP 400): Parameter bar error", -1},
    {"error_50001.json", TF_H1, 503, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (code 50001, HTTP 503)", -1},
    {"error_404.json", TF_H1, 404, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code 404, HTTP 404): Not Found", -1},
    {"html_502.html", TF_H1, 502, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway'", -1},
    {"html_502.html", TF_H1, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0, "rate limited (HTTP 429)", 2},
    {"html_502.html", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"truncated.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "body is not JSON (empty body)", -1},
    {"not_object.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "body is not a JSON object: '[1,2,3]'", -1},
    {"no_data.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "response has no \"data\" array",
     -1},
    {"btc_1h.json", TF_H1, 500, CK_EUPSTREAM, SRC_ERR_SERVER, 0, "HTTP 500 with code \"0\"", -1},
    {"bad_nan.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: low 'NaN' is not a decimal", -1},
    {"bad_number_type.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: high is a number, not a string", -1},
    {"bad_huge.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: high '99999999999999.5' is out of range", -1},
    {"bad_confirm.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: confirm '2' is not \"0\" or \"1\"", -1},
    {"bad_confirm_type.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T10:00:00Z: confirm is not a string", -1},
    /* A bad forming row rejects the answer too, though it would have been left out. */
    {"bad_forming_abc.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-15T12:00:00Z: close 'abc' is not a decimal", -1},
    {"bad_short_row.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #3: has 8 fields, not 9", -1},
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
        int rc = okx_parse(body, len, c->status, &req, "okx", &res, &err);
        char prefix[64];

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        if (c->err_has) {
            snprintf(prefix, sizeof(prefix), "okx BTC/USDT %s: ", timeframe_name(c->tf));
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
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 5, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("btc_1h.json", &len);
    const struct candle *c;

    (void)state;
    assert_int_equal(okx_parse(body, len, 200, &req, "okx", &res, &err), 0);
    assert_int_equal(res.candles.n, 4);
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, utc(2024, 3, 15, 8, 0));
    assert_int_equal(c->open, 6695070000000LL);
    assert_int_equal(c->low, 6680199000000LL);
    assert_true(c->has_volume);
    assert_int_equal(c->volume, 0);
    c = &res.candles.v[2];
    assert_int_equal(c->open_time, utc(2024, 3, 15, 10, 0));
    assert_int_equal(c->close, 6705055000000LL);
    /* "12.345678": the base-currency volume (vol), exact. */
    assert_int_equal(c->volume, 1234567800LL);
    /* The newest confirmed candle; 12:00 (confirm "0") is not there. */
    assert_int_equal(res.candles.v[3].open_time, utc(2024, 3, 15, 11, 0));
    fetch_result_release(&res);
    free(body);

    req.tf = TF_W1;
    body = fixture("btc_1wutc.json", &len);
    assert_int_equal(okx_parse(body, len, 200, &req, "okx", &res, &err), 0);
    assert_int_equal(res.candles.n, 1);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 4, 0, 0)); /* a Monday */
    fetch_result_release(&res);
    free(body);
    strbuf_release(&err);
}

/* ------------------------------------------------------------- the fake venue */

static struct test_fake fake = {.pid = -1};

static int fake_start(void **state)
{
    (void)state;
    return test_fake_start(&fake, "fake_okx.py", NULL) ? -1 : 0;
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

/* The last request the fake saw (caller decrefs); how many in *count. */
static json_t *last_request(size_t *count)
{
    json_t *all = test_fake_get_json(&fake, "/__requests"), *r;

    assert_true(json_array_size(all) > 0);
    if (count)
        *count = json_array_size(all);
    r = json_array_get(all, json_array_size(all) - 1);
    json_incref(r);
    json_decref(all);
    return r;
}

static const char *qs(json_t *r, const char *name)
{
    return json_string_value(json_object_get(json_object_get(r, "query"), name));
}

static const char *path_of(json_t *r)
{
    return json_string_value(json_object_get(r, "path"));
}

static int fetch(const char *symbol, const struct fetch_request *req, struct fetch_result *res,
                 struct strbuf *err)
{
    struct source_config cfg = {
        .name = "okx", .kind = "okx", .base_url = fake.url, .timeout_ms = 10000};
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
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    /* Ten rows, the forming 12:00 one left out. */
    assert_int_equal(res.candles.n, 9);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 15, 9, 45));
    assert_int_equal(res.candles.v[8].open_time, utc(2024, 3, 15, 11, 45));
    r = last_request(NULL);
    assert_string_equal(path_of(r), "/api/v5/market/candles");
    assert_string_equal(qs(r, "instId"), "BTC-USDT");
    assert_string_equal(qs(r, "bar"), "15m");
    assert_string_equal(qs(r, "limit"), "10");
    assert_null(qs(r, "after"));
    json_decref(r);
    fetch_result_release(&res);

    /* D1 and W1 ask for the UTC bars. */
    req.tf = TF_D1;
    assert_int_equal(fetch("ETH/BTC", &req, &res, &err), 0);
    assert_int_equal(res.candles.v[res.candles.n - 1].open_time, utc(2024, 3, 14, 0, 0));
    r = last_request(NULL);
    assert_string_equal(qs(r, "bar"), "1Dutc");
    assert_string_equal(qs(r, "instId"), "ETH-BTC");
    json_decref(r);
    fetch_result_release(&res);
    req.tf = TF_W1;
    req.count = 3;
    assert_int_equal(fetch("ETH/BTC", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.candles.v[1].open_time, utc(2024, 3, 4, 0, 0));
    r = last_request(NULL);
    assert_string_equal(qs(r, "bar"), "1Wutc");
    json_decref(r);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* After `since`: the OLDEST 100, from history-candles when the window is old. */
static void test_http_since(void **state)
{
    struct fetch_request req = {.tf = TF_H1,
                                .has_since = true,
                                .since = utc(2024, 1, 1, 0, 0),
                                .count = 100,
                                .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 100);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 1, 1, 0));
    assert_int_equal(res.candles.v[99].open_time, utc(2024, 1, 1, 1, 0) + 99 * 3600);
    r = last_request(NULL);
    assert_string_equal(path_of(r), "/api/v5/market/history-candles");
    assert_string_equal(qs(r, "limit"), "100");
    /* since + 101 hours: older than that, the newest 100 are the oldest after since. */
    assert_string_equal(qs(r, "after"), "1704430800000");
    json_decref(r);
    fetch_result_release(&res);

    /* A recent window: market/candles, up to the last confirmed candle. */
    req.since = utc(2024, 3, 15, 6, 0);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 5);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 15, 7, 0));
    assert_int_equal(res.candles.v[4].open_time, utc(2024, 3, 15, 11, 0));
    r = last_request(NULL);
    assert_string_equal(path_of(r), "/api/v5/market/candles");
    json_decref(r);
    fetch_result_release(&res);

    /* A candle OKX has not confirmed yet is left out, closed or not by the clock. */
    test_fake_post(&fake, "/__control", json_pack("{s:i}", "confirm_lag", 600));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 4);
    assert_int_equal(res.candles.v[3].open_time, utc(2024, 3, 15, 10, 0));
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_errors(void **state)
{
    struct fetch_request req = {.tf = TF_H1, .count = 5, .now = utc(2024, 3, 15, 12, 7)};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t n0, n1;
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch("NOPE/USDT", &req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_non_null(strstr(err.buf, "okx NOPE/USDT H1: unknown instrument (code 51001, HTTP 200)"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* Over 20 in 2 s on history-candles: HTTP 429, code 50011, a 2 s wait. */
    fake_setup(json_pack("{s:s, s:{s:i}}", "now", "2024-03-15T12:07:00Z", "limits", "history", 1));
    req.has_since = true;
    req.since = utc(2024, 1, 1, 0, 0);
    req.count = 100;
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.http_status, 429);
    assert_int_equal(res.retry_after, 2);
    assert_non_null(strstr(err.buf, "rate limited (code 50011, HTTP 429)"));
    fetch_result_release(&res);
    /* market/candles has its own allowance. */
    r = last_request(&n0);
    json_decref(r);
    req.since = utc(2024, 3, 15, 6, 0);
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), 0);
    r = last_request(&n1);
    assert_int_equal(n1, n0 + 1);
    assert_string_equal(path_of(r), "/api/v5/market/candles");
    json_decref(r);
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* A Retry-After outranks the window. */
    fake_setup(json_pack("{s:[{s:s, s:{s:s}}]}", "errors", "code", "50011", "headers",
                         "Retry-After", "30"));
    assert_int_equal(fetch("BTC/USDT", &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 30);
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
        cmocka_unit_test(test_http_since),
        cmocka_unit_test(test_http_errors),
    };
    struct strbuf err = STRBUF_INIT;
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    strbuf_release(&err);
    failed = cmocka_run_group_tests_name("okx parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("okx http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
