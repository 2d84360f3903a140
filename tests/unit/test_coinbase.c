/* SPDX-License-Identifier: MIT */
/*
 * The Coinbase Exchange adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/coinbase/: the ccxt
 * fixture's raw body, newest-first answers, the documented error bodies
 * and broken bodies) through coinbase_parse(), table-driven, and checks
 * that numbers keep their exact decimal text. Part 2 drives
 * source_fetch() through libcurl against the local fake
 * (tests/helpers/fake_coinbase.py): the windows asked for never span more
 * than 300 buckets.
 */
#include "testutil.h"

#include "market/price.h"
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

/* 2024-03-15T12:07:00Z. */
#define NOW 1710504420

static char *fixture(const char *name, size_t *len)
{
    return test_fixture_read("coinbase", name, len);
}

/* ------------------------------------------------------------------ parsing */

struct parse_case {
    const char *file; /* "" for an empty body */
    enum timeframe tf;
    long status;
    bool has_since;
    int64_t since;
    int count;
    int rc;
    enum source_error error;
    size_t ncandles;
    const char *err_has; /* expected part of the message; NULL: no message */
    int64_t retry_after;
};

static const struct parse_case parse_cases[] = {
    {"ccxt_btcusdt_1h.json", TF_H1, 200, false, 0, 1, 0, SRC_OK, 1, NULL, -1},
    {"btcusd_1h.json", TF_H1, 200, false, 0, 300, 0, SRC_OK, 3, NULL, -1},
    {"btcusd_1h.json", TF_H1, 200, false, 0, 2, 0, SRC_OK, 2, NULL, -1},
    {"btcusd_1h.json", TF_H1, 200, true, 1710327600, 300, 0, SRC_OK, 2, NULL, -1},
    {"btcusd_1h.json", TF_H1, 200, true, 1710334800, 300, 0, SRC_OK, 0, NULL, -1},
    {"empty.json", TF_H1, 200, true, 1710327600, 300, 0, SRC_OK, 0, NULL, -1},
    {"spaced.json", TF_H1, 200, false, 0, 300, 0, SRC_OK, 2, NULL, -1},
    {"exponent_volume.json", TF_H1, 200, false, 0, 300, 0, SRC_OK, 2, NULL, -1},
    {"long_volume.json", TF_H1, 200, false, 0, 300, 0, SRC_OK, 1, NULL, -1},
    {"error_429.json", TF_H1, 429, false, 0, 300, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 429): Public rate limit exceeded", 1},
    {"error_404.json", TF_H1, 404, false, 0, 300, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown product (HTTP 404): NotFound", -1},
    {"error_400_window.json", TF_M1, 400, true, 1710327600, 300, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (HTTP 400): granularity too small for the requested time range", -1},
    {"error_400_granularity.json", TF_M1, 400, false, 0, 300, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (HTTP 400): Unsupported granularity", -1},
    {"error_500.json", TF_H1, 500, false, 0, 300, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 500): Internal server error", -1},
    {"html_502.html", TF_H1, 502, false, 0, 300, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway cloudflare'", -1},
    {"html_502.html", TF_H1, 429, false, 0, 300, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 429)", 1},
    {"html_502.html", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not an array of rows: '502 Bad Gateway", -1},
    {"", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not an array of rows (empty body)", -1},
    {"object_200.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "body is not an array of rows: '{\"candles\":[]}'", -1},
    {"not_rows.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #1: is not an array: '1710327600'", -1},
    {"truncated.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 12:00:00: the body ends inside the row (cut short)", -1},
    {"trailing.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "text after the rows: 'x'", -1},
    {"bad_nan.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 12:00:00: high is not a number: 'NaN'", -1},
    {"bad_string.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 11:00:00: low is not a number: '\"73241.5\"'", -1},
    {"bad_null.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "close is not a number: 'null'", -1},
    {"bad_huge_exponent.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "high '1e999' is out of range", -1},
    {"bad_huge.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "high '99999999999999999999' is out of range", -1},
    {"bad_negative.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "open '-73243.33' is not positive", -1},
    {"bad_zero_price.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "low '0' is not positive", -1},
    {"bad_leading_zero.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "low is not a number: '073241.5'", -1},
    {"bad_time_fraction.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #1: time '1710327600.5' is not a Unix time", -1},
    {"unaligned.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 11:01:00: time is not aligned to H1", -1},
    {"btcusd_1h.json", TF_D1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 13:00:00: time is not aligned to D1", -1},
    {"short_row.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 11:00:00: has 5 fields, not 6", -1},
    {"long_row.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "has more than 6 fields", -1},
    {"duplicate.json", TF_H1, 200, false, 0, 300, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-03-13 11:00:00: time appears twice", -1},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct fetch_request req = {.symbol = "BTC/USD",
                                    .tf = c->tf,
                                    .has_since = c->has_since,
                                    .since = c->since,
                                    .count = c->count,
                                    .now = NOW};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct strbuf err = STRBUF_INIT;
        size_t len = 0;
        char *body = *c->file ? fixture(c->file, &len) : xstrdup("");
        int rc = coinbase_parse(body, len, c->status, &req, "cb", &res, &err);

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        if (c->err_has) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "cb BTC/USD %s: ", timeframe_name(c->tf));
            assert_true(strbuf_starts_with(&err, prefix));
            assert_non_null(strstr(err.buf, c->err_has));
        } else {
            assert_int_equal(err.len, 0);
        }
        if (rc) {
            assert_null(res.candles.v);
        } else {
            for (size_t k = 0; k < res.candles.n; k++) {
                if (k)
                    assert_true(res.candles.v[k - 1].open_time < res.candles.v[k].open_time);
                if (c->has_since)
                    assert_true(res.candles.v[k].open_time > c->since);
                assert_true(res.candles.v[k].has_volume);
            }
        }
        fetch_result_release(&res);
        strbuf_release(&err);
        free(body);
    }
}

static void parse_ok(const char *file, int count, struct fetch_result *res)
{
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_H1, .count = count, .now = NOW};
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture(file, &len);

    assert_int_equal(coinbase_parse(body, len, 200, &req, "cb", res, &err), 0);
    assert_int_equal(err.len, 0);
    free(body);
    strbuf_release(&err);
}

/* The ccxt fixture: low and high come before open and close; every digit is kept. */
static void test_parse_ccxt_exact(void **state)
{
    struct fetch_result res = FETCH_RESULT_INIT;
    const struct candle *c;

    (void)state;
    parse_ok("ccxt_btcusdt_1h.json", 1, &res);
    assert_int_equal(res.candles.n, 1);
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, 1710327600);
    assert_int_equal(c->low, 7324150000000LL);
    assert_int_equal(c->high, 7340247000000LL);
    assert_int_equal(c->open, 7324333000000LL);
    assert_int_equal(c->close, 7337065000000LL);
    assert_int_equal(c->volume, 156794406LL);
    assert_true(c->has_volume);
    fetch_result_release(&res);
}

/* Newest first on the wire, ascending out; numbers a double would round stay exact. */
static void test_parse_order_and_exactness(void **state)
{
    struct fetch_result res = FETCH_RESULT_INIT;
    const struct candle *c;

    (void)state;
    parse_ok("btcusd_1h.json", 300, &res);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[0].open_time, 1710327600);
    assert_int_equal(res.candles.v[2].open_time, 1710334800);
    c = &res.candles.v[1];
    assert_int_equal(c->low, 7318050000000LL);
    assert_int_equal(c->high, 7342099000000LL);
    /* "73240": an integer is a price too. */
    assert_int_equal(c->open, 7324000000000LL);
    /* 9.87654321 is not a double; the text is kept. */
    assert_int_equal(c->volume, 987654321LL);
    assert_int_equal(res.candles.v[2].high, 7345500000000LL);
    assert_int_equal(res.candles.v[2].close, 7340120000000LL);
    fetch_result_release(&res);

    /* Exponent forms are written out from their digits. */
    parse_ok("exponent_volume.json", 300, &res);
    assert_int_equal(res.candles.v[0].low, 7324150000000LL); /* 7.32415E4 */
    assert_int_equal(res.candles.v[0].volume, 200000000LL);  /* 2e0 */
    assert_int_equal(res.candles.v[1].volume, 1500LL);       /* 1.5e-05 */
    fetch_result_release(&res);

    /* A volume keeps 8 decimals. */
    parse_ok("long_volume.json", 300, &res);
    assert_int_equal(res.candles.v[0].volume, 156794406LL);
    fetch_result_release(&res);
}

/* ------------------------------------------------------------------ HTTP */

static struct test_fake fake;

static int fake_start(void **state)
{
    (void)state;
    return test_fake_start(&fake, "fake_coinbase.py", NULL) ? -1 : 0;
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

/* The last candles request the fake saw (caller decrefs). */
static json_t *last_request(void)
{
    json_t *all = test_fake_get_json(&fake, "/__requests"), *last;

    assert_true(json_array_size(all) > 0);
    last = json_array_get(all, json_array_size(all) - 1);
    json_incref(last);
    json_decref(all);
    return last;
}

static const char *query(json_t *r, const char *name)
{
    return json_string_value(json_object_get(json_object_get(r, "query"), name));
}

static int fetch(const struct fetch_request *req, struct fetch_result *res, struct strbuf *err)
{
    struct source_config cfg = {
        .name = "cb", .kind = "coinbase", .base_url = fake.url, .timeout_ms = 10000};
    struct source *src;
    int rc;

    assert_int_equal(source_open(&src, &cfg, err), 0);
    rc = source_fetch(src, req, res, err);
    source_free(src);
    return rc;
}

static void test_http_windows(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_M1, .count = 300, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    /* The latest 300: up to the forming minute, which the ingest job drops. */
    assert_int_equal(fetch(&req, &res, &err), 0);
    assert_int_equal(res.candles.n, 300);
    assert_int_equal(res.candles.v[299].open_time, NOW);
    assert_int_equal(res.candles.v[0].open_time, NOW - 299 * 60);
    r = last_request();
    assert_string_equal(json_string_value(json_object_get(r, "product")), "BTC-USD");
    assert_string_equal(query(r, "granularity"), "60");
    assert_string_equal(query(r, "start"), "2024-03-15T07:08:00Z");
    assert_string_equal(query(r, "end"), "2024-03-15T12:07:00Z");
    assert_true(json_integer_value(json_object_get(r, "buckets")) <= 300);
    json_decref(r);
    fetch_result_release(&res);

    /* After `since`: the 300 periods (since, since + 300], one request. */
    req.has_since = true;
    req.since = NOW - 1000 * 60;
    assert_int_equal(fetch(&req, &res, &err), 0);
    assert_int_equal(res.candles.n, 300);
    assert_int_equal(res.window_end, req.since + 300 * 60);
    assert_int_equal(res.candles.v[0].open_time, req.since + 60);
    assert_int_equal(res.candles.v[299].open_time, req.since + 300 * 60);
    r = last_request();
    assert_int_equal(json_integer_value(json_object_get(r, "answer")), 200);
    assert_true(json_integer_value(json_object_get(r, "buckets")) <= 300);
    json_decref(r);
    fetch_result_release(&res);

    /* A window without trades: no rows, but the answer covers it all. */
    test_fake_post(&fake, "/__control",
                   json_pack("{s:[{s:s, s:s}]}", "holes", "from", "2024-03-14T00:00:00Z", "to",
                             "2024-03-15T12:00:00Z"));
    assert_int_equal(fetch(&req, &res, &err), 0);
    assert_int_equal(res.candles.n, 0);
    assert_int_equal(res.window_end, req.since + 300 * 60);
    test_fake_post(&fake, "/__control", json_pack("{s:[]}", "holes"));
    fetch_result_release(&res);
    assert_int_equal(res.window_end, 0);

    /* Near now: the window reaches into the future, and only what exists comes back. */
    req.since = NOW - 3 * 60;
    assert_int_equal(fetch(&req, &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[2].open_time, NOW);
    assert_int_equal(err.len, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_errors(void **state)
{
    struct fetch_request req = {.symbol = "FOO/USD", .tf = TF_H1, .count = 10, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch(&req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_string_equal(err.buf, "cb FOO/USD H1: unknown product (HTTP 404): NotFound");
    strbuf_reset(&err);

    /* 429 without Retry-After: a second; with one: what it says. */
    req.symbol = "BTC/USD";
    test_fake_post(&fake, "/__control",
                   json_pack("{s:[{s:i, s:s}, {s:i, s:s, s:{s:s}}]}", "errors", "status", 429,
                             "message", "Public rate limit exceeded", "status", 429, "message",
                             "Public rate limit exceeded", "headers", "Retry-After", "7"));
    assert_int_equal(fetch(&req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.retry_after, 1);
    assert_string_equal(res.wait_reason, "Coinbase's public rate limit (HTTP 429)");
    assert_int_equal(fetch(&req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 7);
    strbuf_reset(&err);

    /* The fake's token bucket (here 3, not refilled): then 429. */
    fake_setup(json_pack("{s:s, s:{s:i, s:i}}", "now", "2024-03-15T12:07:00Z", "bucket", "rate", 0,
                         "burst", 3));
    for (int i = 0; i < 3; i++)
        assert_int_equal(fetch(&req, &res, &err), 0);
    assert_int_equal(fetch(&req, &res, &err), CK_ELIMIT);
    assert_non_null(strstr(err.buf, "rate limited (HTTP 429): Public rate limit exceeded"));
    fetch_result_release(&res);
    strbuf_release(&err);
}

int main(void)
{
    struct strbuf err = STRBUF_INIT;
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_ccxt_exact),
        cmocka_unit_test(test_parse_order_and_exactness),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(test_http_windows),
        cmocka_unit_test(test_http_errors),
    };
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    failed = cmocka_run_group_tests_name("coinbase parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("coinbase http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
