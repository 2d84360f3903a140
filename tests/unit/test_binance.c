/* SPDX-License-Identifier: MIT */
/*
 * The Binance spot adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/binance/: a kline ccxt
 * recorded from the venue, error bodies as the documentation shows them,
 * and garbage) through binance_parse(), table-driven, and the weight
 * header through binance_note_weight(). Part 2 drives the real path,
 * source_fetch() through libcurl, against the local fake venue
 * (tests/helpers/fake_binance.py, started once for the group).
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

/* 2024-01-30T18:00:30Z, a Tuesday: the 18:00 H1 kline is forming. */
#define NOW      1706637630
#define NOW_TEXT "2024-01-30T18:00:30Z"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return test_utc(y, mo, d, h, mi);
}

static char *fixture(const char *name, size_t *len)
{
    return test_fixture_read("binance", name, len);
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
    {"ccxt_btc_1h.json", TF_H1, 200, 0, SRC_OK, 1, NULL, -1},
    /* The forming 18:00 kline is dropped. */
    {"btc_1h_forming.json", TF_H1, 200, 0, SRC_OK, 2, NULL, -1},
    {"btc_1h_reversed.json", TF_H1, 200, 0, SRC_OK, 2, NULL, -1},
    /* Weeks start on Monday; the week of 2024-01-29 is still forming. */
    {"btc_1w.json", TF_W1, 200, 0, SRC_OK, 1, NULL, -1},
    {"empty.json", TF_H1, 200, 0, SRC_OK, 0, NULL, -1},
    {"btc_1w.json", TF_D1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-22 00:00:00: close time 1706486399999 does not end a D1 period", -1},
    {"ccxt_btc_1h.json", TF_M15, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 16:00:00: close time 1706633999999 does not end a M15 period", -1},
    {"error_1121.json", TF_H1, 400, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown symbol (code -1121, HTTP 400): Invalid symbol.", -1},
    {"error_1120.json", TF_H1, 400, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code -1120, HTTP 400): Invalid interval.", -1},
    {"error_1100.json", TF_H1, 400, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code -1100, HTTP 400): Illegal characters found in parameter 'symbol'", -1},
    {"error_1003_429.json", TF_H1, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "request weight limit exceeded (code -1003, HTTP 429): Too much request weight used", 30},
    /* -1003 is a rate limit whatever status carries it. */
    {"error_1003_429.json", TF_H1, 400, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "request weight limit exceeded (code -1003, HTTP 400)", 30},
    {"error_1003_418.json", TF_H1, 418, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "IP banned (code -1003, HTTP 418): Way too much request weight used; IP banned until", 600},
    {"error_1000.json", TF_H1, 500, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (code -1000, HTTP 500): An unknown error occurred", -1},
    {"error_1000.json", TF_H1, 400, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (code -1000, HTTP 400)", -1},
    {"error_451.json", TF_H1, 451, CK_EAUTH, SRC_ERR_PLAN, 0,
     "refused for this location (HTTP 451): Service unavailable from a restricted location", -1},
    {"object_no_code.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: an error object without a known code", -1},
    {"object_no_code.json", TF_H1, 400, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (HTTP 400)", -1},
    /* Rows with an error status: the status is believed. */
    {"ccxt_btc_1h.json", TF_H1, 503, CK_EUPSTREAM, SRC_ERR_SERVER, 0, "provider failure (HTTP 503)",
     -1},
    {"html_502.html", TF_H1, 502, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway CloudFront'", -1},
    {"html_502.html", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"html_502.html", TF_H1, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "request weight limit exceeded (HTTP 429)", 30},
    {"html_502.html", TF_H1, 418, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0, "IP banned (HTTP 418)", 600},
    {"html_403.html", TF_H1, 403, CK_EAUTH, SRC_ERR_PLAN, 0,
     "refused by the venue's firewall (HTTP 403): 'ERROR: The request could not be satisfied", -1},
    {"truncated.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON",
     -1},
    {"", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0, "HTTP 200: body is not JSON (empty body)",
     -1},
    {"bad_nan.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: low 'NaN' is not a decimal", -1},
    {"bad_nan_token.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"bad_abc.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: high 'abc' is not a decimal", -1},
    {"bad_huge.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: high '123456789012345678901234.5' is out of range", -1},
    {"bad_huge_token.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"bad_huge_time.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"bad_exponent.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: close '4.3E4' is not a decimal", -1},
    {"bad_negative.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: open '-1.00000000' is not positive", -1},
    {"bad_zero.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: low '0.00000000' is not positive", -1},
    {"bad_number_type.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: open is a number, not a string", -1},
    {"bad_null_volume.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: volume is null, not a string", -1},
    {"bad_string_time.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: open time is a string, not an integer", -1},
    {"bad_unaligned.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:07:00: open time is not aligned to H1", -1},
    {"bad_millis.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: open time 1706634000123 is not a whole second", -1},
    {"bad_close_time.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 17:00:00: close time 1706634899999 does not end a H1 period", -1},
    {"bad_short_row.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: has 5 fields, not at least 7", -1},
    {"bad_row_object.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: is an object, not an array", -1},
    {"duplicate.json", TF_H1, 200, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-30 16:00:00: open time appears twice", -1},
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
        int rc = binance_parse(body, len, c->status, &req, "binance", &res, &err);

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        if (c->err_has) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "binance BTC/USDT %s: ", timeframe_name(c->tf));
            assert_true(strbuf_starts_with(&err, prefix));
            assert_non_null(strstr(err.buf, c->err_has));
        } else {
            assert_int_equal(err.len, 0);
        }
        if (rc) {
            assert_null(res.candles.v);
        } else {
            for (size_t k = 1; k < res.candles.n; k++)
                assert_true(res.candles.v[k - 1].open_time < res.candles.v[k].open_time);
        }
        fetch_result_release(&res);
        strbuf_release(&err);
        free(body);
    }
}

/* The kline ccxt recorded from Binance, to the last digit. */
static void test_parse_ccxt_exact(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("ccxt_btc_1h.json", &len);
    const struct candle *c;

    (void)state;
    assert_int_equal(binance_parse(body, len, 200, &req, "binance", &res, &err), 0);
    assert_int_equal(res.candles.n, 1);
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, utc(2024, 1, 30, 16, 0));
    assert_int_equal(c->open, 4351934000000LL);
    assert_int_equal(c->high, 4393600000000LL);
    assert_int_equal(c->low, 4317100000000LL);
    assert_int_equal(c->close, 4348871000000LL);
    assert_true(c->has_volume);
    assert_int_equal(c->volume, 2055495000LL);
    fetch_result_release(&res);
    free(body);

    /* A request whose clock is inside that hour sees it forming: nothing comes back. */
    req.now = utc(2024, 1, 30, 16, 59) + 59;
    body = fixture("ccxt_btc_1h.json", &len);
    assert_int_equal(binance_parse(body, len, 200, &req, "binance", &res, &err), 0);
    assert_int_equal(res.candles.n, 0);
    /* One second later it is final. */
    req.now++;
    fetch_result_release(&res);
    assert_int_equal(binance_parse(body, len, 200, &req, "binance", &res, &err), 0);
    assert_int_equal(res.candles.n, 1);
    assert_int_equal(err.len, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
    free(body);
}

static void test_parse_message_exact(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("error_1121.json", &len);

    (void)state;
    assert_int_equal(binance_parse(body, len, 400, &req, "spot", &res, &err), CK_ENOTFOUND);
    assert_string_equal(err.buf,
                        "spot BTC/USDT H1: unknown symbol (code -1121, HTTP 400): Invalid symbol.");
    assert_string_equal(res.wait_reason, "");
    fetch_result_release(&res);
    free(body);
    strbuf_reset(&err);

    body = fixture("error_1003_418.json", &len);
    assert_int_equal(binance_parse(body, len, 418, &req, "spot", &res, &err), CK_ELIMIT);
    assert_string_equal(res.wait_reason, "IP banned (418)");
    fetch_result_release(&res);
    free(body);
    strbuf_release(&err);
}

struct weight_case {
    const char *used;
    int64_t retry_before;
    int64_t credits_used, credits_left, retry_after;
    const char *reason;
};

static void test_note_weight(void **state)
{
    static const struct weight_case cases[] = {
        {"2", -1, 2, 5998, -1, ""},
        {"5998", -1, 5998, 2, -1, ""},
        {"5999", -1, 5999, 1, 30, "X-MBX-USED-WEIGHT-1M is 5999 of 6000"},
        {"6000", -1, 6000, 0, 30, "X-MBX-USED-WEIGHT-1M is 6000 of 6000"},
        {"7200", -1, 7200, 0, 30, "X-MBX-USED-WEIGHT-1M is 7200 of 6000"},
        /* A wait the answer already asks for stands. */
        {"5999", 7, 5999, 1, 7, ""},
        {"", -1, -1, -1, -1, ""},
        {"abc", -1, -1, -1, -1, ""},
        {"-1", -1, -1, -1, -1, ""},
        {"12 ", -1, -1, -1, -1, ""},
        {NULL, -1, -1, -1, -1, ""},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct weight_case *c = &cases[i];
        struct fetch_result res = FETCH_RESULT_INIT;

        res.retry_after = c->retry_before;
        binance_note_weight(c->used, NOW, &res);
        print_message("case %zu: '%s' -> %lld %lld %lld '%s'\n", i, c->used ? c->used : "(null)",
                      (long long)res.credits_used, (long long)res.credits_left,
                      (long long)res.retry_after, res.wait_reason);
        assert_int_equal(res.credits_used, c->credits_used);
        assert_int_equal(res.credits_left, c->credits_left);
        assert_int_equal(res.retry_after, c->retry_after);
        assert_string_equal(res.wait_reason, c->reason);
    }

    /* On the minute itself the whole minute is waited for. */
    {
        struct fetch_result res = FETCH_RESULT_INIT;
        binance_note_weight("6000", utc(2024, 1, 30, 18, 1), &res);
        assert_int_equal(res.retry_after, 60);
        binance_note_weight("5999", utc(2024, 1, 30, 18, 1) + 59, &res);
        assert_int_equal(res.retry_after, 60); /* the first wait stands */
    }
}

static void test_kind(void **state)
{
    const struct source_kind *k = source_kind_find("binance");
    struct source_config cfg = {.name = "spot", .kind = "binance"};
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;

    (void)state;
    assert_non_null(k);
    assert_string_equal(k->title, "Binance");
    assert_string_equal(k->base_url, "https://data-api.binance.vision");
    assert_string_equal(k->url_env, "CANDLEKEEP_BINANCE_URL");
    assert_false(k->needs_key);
    assert_int_equal(k->max_rows, 1000);
    assert_false(k->recent_only);
    assert_int_equal(k->rate_window_ms, 60000);
    assert_int_equal(k->rate_per_window, 3000);
    assert_int_equal(k->daily_quota, 0);
    assert_string_equal(k->calendar, "crypto");
    assert_string_equal(k->symbols, "BTC/USDT");
    /* W1 included: Binance's weeks start on Monday 00:00 UTC, as timeframe_floor()'s do. */
    for (int tf = 0; tf < TF_COUNT; tf++)
        assert_true(source_kind_serves(k, (enum timeframe)tf));
    assert_int_equal(timeframe_floor(TF_W1, utc(2024, 1, 30, 18, 0)), utc(2024, 1, 29, 0, 0));

    assert_int_equal(source_venue_symbol(&cfg, k, "btc/usdt", &out, &err), 0);
    assert_string_equal(out.buf, "BTCUSDT");
    cfg.symbol_map = "XBT/USDT:BTCUSDT";
    assert_int_equal(source_venue_symbol(&cfg, k, "XBT/USDT", &out, &err), 0);
    assert_string_equal(out.buf, "BTCUSDT");
    source_budget_key(k, NULL, NULL, &out);
    assert_string_equal(out.buf, "binance:ip");
    /* Another host is another provider's budget. */
    source_budget_key(k, NULL, "http://127.0.0.1:9", &out);
    assert_true(!strncmp(out.buf, "binance:ip:", 11) && strlen(out.buf) == 23);
    strbuf_release(&out);
    strbuf_release(&err);
}

/* ------------------------------------------------------------- the fake venue */

static struct test_fake fake = {.pid = -1};
static const char *fake_url = fake.url;

static int fake_start(void **state)
{
    (void)state;
    return test_fake_start(&fake, "fake_binance.py", NULL) ? -1 : 0;
}

static int fake_stop(void **state)
{
    (void)state;
    test_fake_stop(&fake);
    return 0;
}

/* Reset the fake, then apply `control` (taken; NULL: just the clock at NOW). */
static void fake_setup(json_t *control)
{
    if (!control)
        control = json_object();
    if (!json_object_get(control, "now"))
        json_object_set_new(control, "now", json_string(NOW_TEXT));
    test_fake_post(&fake, "/__reset", NULL);
    test_fake_post(&fake, "/__control", control);
}

/* The fake's request log (caller decrefs). */
static json_t *requests(void)
{
    return test_fake_get_json(&fake, "/__requests");
}

/* The query of the last klines request (caller decrefs). */
static json_t *last_query(void)
{
    json_t *all = requests(), *q;

    assert_true(json_array_size(all) > 0);
    q = json_object_get(json_array_get(all, json_array_size(all) - 1), "query");
    json_incref(q);
    json_decref(all);
    return q;
}

static const char *qs(json_t *q, const char *name)
{
    return json_string_value(json_object_get(q, name));
}

static struct source_config test_config(void)
{
    struct source_config cfg = {
        .name = "binance", .kind = "binance", .base_url = fake_url, .timeout_ms = 10000};
    return cfg;
}

static int fetch(const struct source_config *cfg, const struct fetch_request *req,
                 struct fetch_result *res, struct strbuf *err)
{
    struct source *src;
    int rc;

    assert_int_equal(source_open(&src, cfg, err), 0);
    rc = source_fetch(src, req, res, err);
    source_free(src);
    return rc;
}

static void test_http_first_fetch(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 5, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *q;

    (void)state;
    fake_setup(json_pack("{s:[{s:s, s:s, s:s, s:i, s:s}]}", "overrides", "symbol", "BTCUSDT",
                         "interval", "1h", "time", "2024-01-30T16:00:00Z", "field", 4, "value",
                         "43488.71000000"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.error, SRC_OK);
    assert_int_equal(res.http_status, 200);
    /* Five asked, the fifth (18:00) forming and dropped. */
    assert_int_equal(res.candles.n, 4);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 30, 14, 0));
    assert_int_equal(res.candles.v[3].open_time, utc(2024, 1, 30, 17, 0));
    assert_int_equal(res.candles.v[2].close, 4348871000000LL);
    for (size_t i = 0; i < res.candles.n; i++)
        assert_true(res.candles.v[i].has_volume);
    assert_int_equal(res.credits_used, 2);
    assert_int_equal(res.credits_left, 5998);
    assert_int_equal(res.retry_after, -1);

    q = last_query();
    assert_string_equal(qs(q, "symbol"), "BTCUSDT");
    assert_string_equal(qs(q, "interval"), "1h");
    assert_string_equal(qs(q, "limit"), "5");
    assert_null(json_object_get(q, "startTime"));
    json_decref(q);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_incremental(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "ETH/USDT",
                                .tf = TF_H1,
                                .has_since = true,
                                .since = utc(2024, 1, 30, 15, 0),
                                .count = 1000,
                                .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *q;

    (void)state;
    fake_setup(NULL);
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 30, 16, 0));
    assert_int_equal(res.candles.v[1].open_time, utc(2024, 1, 30, 17, 0));
    q = last_query();
    assert_string_equal(qs(q, "symbol"), "ETHUSDT");
    assert_string_equal(qs(q, "startTime"), "1706630400000");
    assert_string_equal(qs(q, "limit"), "1000");
    json_decref(q);
    fetch_result_release(&res);

    /* A `since` inside a period asks from the next open time, skipping nothing. */
    req.since = utc(2024, 1, 30, 15, 20);
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 30, 16, 0));
    q = last_query();
    assert_string_equal(qs(q, "startTime"), "1706630400000");
    json_decref(q);
    fetch_result_release(&res);

    /* Nothing new: the forming kline alone comes back, and is dropped. */
    req.since = utc(2024, 1, 30, 17, 0);
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 0);
    assert_int_equal(err.len, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Oldest first from startTime, one page of 1000. */
static void test_http_page(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USDT",
                                .tf = TF_M15,
                                .has_since = true,
                                .since = utc(2024, 1, 1, 0, 0),
                                .count = 1000,
                                .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(NULL);
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 1000);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 1, 0, 15));
    assert_int_equal(res.candles.v[999].open_time, utc(2024, 1, 1, 0, 15) + 999 * 900);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Every timeframe by Binance's interval name; weeks on Mondays. */
static void test_http_timeframes(void **state)
{
    static const char *const names[TF_COUNT] = {"1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"};
    struct source_config cfg = test_config();
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(NULL);
    for (int tf = 0; tf < TF_COUNT; tf++) {
        struct fetch_request req = {.symbol = "BTC/USDT", .tf = tf, .count = 3, .now = NOW};
        struct fetch_result res = FETCH_RESULT_INIT;
        json_t *q;

        assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
        assert_int_equal(res.candles.n, 2); /* the third is forming */
        for (size_t i = 0; i < res.candles.n; i++)
            assert_true(timeframe_is_aligned(tf, res.candles.v[i].open_time));
        q = last_query();
        assert_string_equal(qs(q, "interval"), names[tf]);
        json_decref(q);
        fetch_result_release(&res);
    }
    {
        struct fetch_request req = {.symbol = "BTC/USDT",
                                    .tf = TF_W1,
                                    .has_since = true,
                                    .since = utc(2024, 1, 1, 0, 0),
                                    .count = 1000,
                                    .now = NOW};
        struct fetch_result res = FETCH_RESULT_INIT;
        assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
        /* 8, 15 and 22 January; the week of the 29th is forming. */
        assert_int_equal(res.candles.n, 3);
        assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 8, 0, 0));
        assert_int_equal(res.candles.v[2].open_time, utc(2024, 1, 22, 0, 0));
        fetch_result_release(&res);
    }
    strbuf_release(&err);
}

/*
 * The weight header drives the wait: at 5,999 of 6,000 the answer is good
 * and asks to wait for the next minute; a request sent anyway is the
 * fake's 429 with its Retry-After, and one more is a 418 ban.
 */
static void test_http_weight(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:i}", "used_weight", 5995));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.credits_used, 5997);
    assert_int_equal(res.credits_left, 3);
    assert_int_equal(res.retry_after, -1);
    fetch_result_release(&res);

    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.error, SRC_OK);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.credits_used, 5999);
    assert_int_equal(res.credits_left, 1);
    assert_int_equal(res.retry_after, 30);
    assert_string_equal(res.wait_reason, "X-MBX-USED-WEIGHT-1M is 5999 of 6000");
    fetch_result_release(&res);

    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.http_status, 429);
    assert_true(res.retry_after >= 1 && res.retry_after <= 30);
    assert_int_equal(res.credits_used, 5999);
    assert_non_null(strstr(err.buf, "binance BTC/USDT H1: request weight limit exceeded (code "
                                    "-1003, HTTP 429)"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.http_status, 418);
    assert_int_equal(fetch_result_status(&res), 429);
    assert_true(res.retry_after >= 119 && res.retry_after <= 120);
    assert_string_equal(res.wait_reason, "IP banned (418)");
    assert_non_null(strstr(err.buf, "IP banned (code -1003, HTTP 418)"));
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Retry-After outranks the computed waits; a 418 without it gets the long guess. */
static void test_http_retry_after(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:[{s:i, s:i, s:{s:s}}, {s:i, s:i, s:{s:s}}, {s:i, s:i}]}", "errors",
                         "code", -1003, "http_status", 429, "headers", "Retry-After", "7", "code",
                         -1003, "http_status", 418, "headers", "Retry-After", "3600", "code", -1003,
                         "http_status", 418));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 7);
    fetch_result_release(&res);
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 3600);
    assert_string_equal(res.wait_reason, "IP banned (418)");
    fetch_result_release(&res);
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after, 600);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* The fake's own refusals: an unknown symbol, a symbol the venue cannot spell. */
static void test_http_symbols(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "FOO/USDT", .tf = TF_H1, .count = 3, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *all;

    (void)state;
    fake_setup(NULL);
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_int_equal(res.http_status, 400);
    assert_int_equal(fetch_result_status(&res), 404);
    assert_string_equal(
        err.buf, "binance FOO/USDT H1: unknown symbol (code -1121, HTTP 400): Invalid symbol.");
    assert_int_equal(res.credits_used, 2);
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* A symbol_map entry names the venue's symbol. */
    cfg.symbol_map = "XBT/USDT:BTCUSDT";
    req.symbol = "XBT/USDT";
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    fetch_result_release(&res);

    /* Not BASE/QUOTE and not mapped: refused before anything is sent. */
    req.symbol = "BTCUSDT";
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EINVAL);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_non_null(strstr(err.buf, "symbol 'BTCUSDT' is not BASE/QUOTE"));
    all = requests();
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Garbage from the venue stores nothing: HTML, a cut body, NaN, huge numbers. */
static void test_http_garbage(void **state)
{
    static const char *const texts[] = {"NaN",
                                        "\"NaN\"",
                                        "1e999",
                                        "\"1e999\"",
                                        "123456789012345678901234567890",
                                        "\"123456789012345678901234567890\"",
                                        "null",
                                        "\"\""};
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USDT", .tf = TF_H1, .count = 5, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:[{s:i, s:s, s:s}, {s:i, s:s, s:i}]}", "raw", "http_status", 502,
                         "body", "<html><body><h1>502 Bad Gateway</h1></body></html>",
                         "content_type", "text/html", "http_status", 200, "body",
                         "[[1706630400000,\"43519.34000000\",\"43936.00000000\"]]", "cut", 20));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_SERVER);
    assert_non_null(strstr(err.buf, "provider failure (HTTP 502): '502 Bad Gateway'"));
    fetch_result_release(&res);
    strbuf_reset(&err);
    /* The connection closes in the middle of the body. */
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    assert_int_equal(res.candles.n, 0);
    fetch_result_release(&res);
    strbuf_reset(&err);

    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        fake_setup(json_pack("{s:[{s:s, s:i, s:s}]}", "overrides", "time", "2024-01-30T16:00:00Z",
                             "field", 1 + (int)i % 5, "text", texts[i]));
        assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EPARSE);
        print_message("%s: %s\n", texts[i], err.buf);
        assert_int_equal(res.error, SRC_ERR_MALFORMED);
        assert_int_equal(res.candles.n, 0);
        assert_null(res.candles.v);
        fetch_result_release(&res);
        strbuf_reset(&err);
    }
    strbuf_release(&err);
}

int main(void)
{
    struct strbuf err = STRBUF_INIT;
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_ccxt_exact),
        cmocka_unit_test(test_parse_message_exact),
        cmocka_unit_test(test_note_weight),
        cmocka_unit_test(test_kind),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(test_http_first_fetch), cmocka_unit_test(test_http_incremental),
        cmocka_unit_test(test_http_page),        cmocka_unit_test(test_http_timeframes),
        cmocka_unit_test(test_http_weight),      cmocka_unit_test(test_http_retry_after),
        cmocka_unit_test(test_http_symbols),     cmocka_unit_test(test_http_garbage),
    };
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    failed = cmocka_run_group_tests_name("binance parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("binance http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
