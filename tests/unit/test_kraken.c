/* SPDX-License-Identifier: MIT */
/*
 * The Kraken adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/kraken/: the ccxt
 * fixture's raw body, the documentation's shape, the error strings Kraken
 * sends with HTTP 200, and broken bodies) through kraken_parse(),
 * table-driven, and checks exact candles, the dropped forming row, the
 * `since` filter, the latest-`count` cut and the note on lost history.
 * Part 2 drives source_fetch() through libcurl against the local fake
 * (tests/helpers/fake_kraken.py).
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
    return test_fixture_read("kraken", name, len);
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
    /* ccxt: since inside the first row's hour; that row and the forming last one go. */
    {"ccxt_xbtusdt_1h.json", TF_H1, 200, true, 1706626800, 720, 0, SRC_OK, 4, NULL, -1},
    {"ccxt_xbtusdt_1h.json", TF_H1, 200, true, 1706634000, 720, 0, SRC_OK, 2, NULL, -1},
    {"ccxt_xbtusdt_1h.json", TF_H1, 200, false, 0, 3, 0, SRC_OK, 3, NULL, -1},
    {"ccxt_xbtusdt_1h.json", TF_H1, 200, false, 0, 720, 0, SRC_OK, 5, NULL, -1},
    {"xxbtzusd_1m.json", TF_M1, 200, false, 0, 100, 0, SRC_OK, 3, NULL, -1},
    {"xxbtzusd_1m.json", TF_M1, 200, true, 1688671320, 720, 0, SRC_OK, 0, NULL, -1},
    {"only_forming.json", TF_M1, 200, false, 0, 10, 0, SRC_OK, 0, NULL, -1},
    {"warning.json", TF_M1, 200, false, 0, 10, 0, SRC_OK, 1, NULL, -1},
    {"error_unknown_pair.json", TF_H1, 200, false, 0, 10, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "unknown asset pair (HTTP 200): 'EQuery:Unknown asset pair'", -1},
    {"error_too_many.json", TF_H1, 200, false, 0, 10, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 200): 'EGeneral:Too many requests'", 5},
    {"error_rate_limit.json", TF_H1, 200, true, 1706626800, 720, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 200): 'EAPI:Rate limit exceeded'", 5},
    {"error_unavailable.json", TF_H1, 200, false, 0, 10, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 200): 'EService:Unavailable'", -1},
    {"error_busy.json", TF_H1, 200, false, 0, 10, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 200): 'EService:Busy'", -1},
    {"error_invalid_args.json", TF_H1, 200, false, 0, 10, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (HTTP 200): 'EGeneral:Invalid arguments'", -1},
    {"error_unknown.json", TF_H1, 200, false, 0, 10, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider error (HTTP 200): 'EFoo:Something new'", -1},
    {"html_502.html", TF_H1, 502, false, 0, 10, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway cloudflare'", -1},
    {"html_502.html", TF_H1, 429, false, 0, 10, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 429)", 5},
    {"html_502.html", TF_H1, 403, false, 0, 10, CK_EAUTH, SRC_ERR_PLAN, 0,
     "access refused (HTTP 403)", -1},
    {"html_502.html", TF_H1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"truncated.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON (empty body)", -1},
    {"no_error_array.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: response has no \"error\" array", -1},
    {"no_result.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "response has no \"result\" object", -1},
    {"no_pair.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "result holds no pair's rows", -1},
    {"two_pairs.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "result names more than one pair", -1},
    {"bad_last.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "\"last\" is not a Unix time", -1},
    {"bad_nan.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:00: low 'NaN' is not a decimal", -1},
    {"bad_abc.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:00: high 'abc' is not a decimal", -1},
    {"bad_number_type.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:00: open is a number, not a string", -1},
    {"bad_huge.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "high '99999999999999.5' is out of range", -1},
    {"bad_exponent.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "close '1e999' is not a decimal", -1},
    {"bad_negative.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "open '-1' is not positive", -1},
    {"bad_volume_negative.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "volume '-0.5' is negative", -1},
    {"bad_time_string.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: time is a string, not a Unix time", -1},
    {"bad_count.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "count is a string, not an integer", -1},
    {"unaligned.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:07: time is not aligned to M1", -1},
    {"xxbtzusd_1m.json", TF_H1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "time is not aligned to H1", -1},
    {"short_row.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:00: has 6 fields, not 8", -1},
    {"descending.json", TF_M1, 200, false, 0, 10, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2023-07-06 19:21:00: rows are not in ascending time order", -1},
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
        int rc = kraken_parse(body, len, c->status, &req, "kr", &res, &err);

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        assert_string_equal(res.note, "");
        if (c->err_has) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "kr BTC/USD %s: ", timeframe_name(c->tf));
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

/* The ccxt fixture, value by value: exact decimals, the forming last row gone. */
static void test_parse_ccxt_exact(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USDT",
                                .tf = TF_H1,
                                .has_since = true,
                                .since = 1706626800,
                                .count = 720,
                                .now = 1706801000};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("ccxt_xbtusdt_1h.json", &len);
    const struct candle *c;

    (void)state;
    assert_int_equal(kraken_parse(body, len, 200, &req, "kraken", &res, &err), 0);
    assert_int_equal(res.candles.n, 4);
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, 1706630400);
    assert_int_equal(c->open, 4336630000000LL);
    assert_int_equal(c->high, 4352920000000LL);
    assert_int_equal(c->low, 4323420000000LL);
    /* "43485.0" */
    assert_int_equal(c->close, 4348500000000LL);
    assert_int_equal(c->volume, 1251327406LL);
    assert_true(c->has_volume);
    c = &res.candles.v[3];
    assert_int_equal(c->open_time, 1706641200);
    assert_int_equal(c->close, 4353970000000LL);
    assert_int_equal(c->volume, 1082796308LL);
    /* The forming 1706799600 row is not passed on. */
    for (size_t i = 0; i < res.candles.n; i++)
        assert_true(res.candles.v[i].open_time < 1706799600);
    assert_int_equal(err.len, 0);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

/* A body of `n` M1 rows ending with the period of `now`; the first row at `first`. */
static char *rows_body(int64_t first, size_t n, size_t *len)
{
    json_t *rows = json_array(), *root;
    char *s;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows,
                              json_pack("[I,s,s,s,s,s,s,i]", (json_int_t)(first + 60 * i), "100.5",
                                        "101", "99.75", "100", "100.2", "0.123456789", 3));
    root = json_pack("{s:[], s:{s:o, s:I}}", "error", "result", "XXBTZUSD", rows, "last",
                     (json_int_t)(first + 60 * (n - 2)));
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    *len = strlen(s);
    return s;
}

/*
 * Kraken keeps 720 rows: a `since` older than the first of them loses the
 * candles in between. The answer still succeeds and says which are lost.
 */
static void test_parse_history_lost(void **state)
{
    const int64_t first = 1710460800; /* 2024-03-15T00:00:00Z */
    struct fetch_request req = {.symbol = "BTC/USD",
                                .tf = TF_M1,
                                .has_since = true,
                                .since = first - 3600,
                                .count = 720,
                                .now = first + 719 * 60 + 30};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = rows_body(first, 720, &len);

    (void)state;
    assert_int_equal(kraken_parse(body, len, 200, &req, "kraken", &res, &err), 0);
    assert_int_equal(res.candles.n, 719);
    assert_int_equal(res.candles.v[0].open_time, first);
    /* "0.123456789": a volume keeps 8 decimals. */
    assert_int_equal(res.candles.v[0].volume, 12345678);
    assert_int_equal(res.candles.v[0].low, 9975000000LL);
    assert_string_equal(res.note, "Kraken serves only its 720 most recent rows: candles "
                                  "2024-03-14T23:01:00Z to 2024-03-14T23:59:00Z are no longer "
                                  "available");
    fetch_result_release(&res);
    assert_string_equal(res.note, "");

    /* `since` right before the first row: nothing is lost. */
    req.since = first - 60;
    assert_int_equal(kraken_parse(body, len, 200, &req, "kraken", &res, &err), 0);
    assert_int_equal(res.candles.n, 719);
    assert_string_equal(res.note, "");
    fetch_result_release(&res);

    /* Fewer than 720 rows: the venue has no more, there is nothing to say. */
    free(body);
    body = rows_body(first, 100, &len);
    req.since = first - 3600;
    assert_int_equal(kraken_parse(body, len, 200, &req, "kraken", &res, &err), 0);
    assert_int_equal(res.candles.n, 99);
    assert_string_equal(res.note, "");
    assert_int_equal(err.len, 0);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

/* ------------------------------------------------------------------ HTTP */

static struct test_fake fake;

static int fake_start(void **state)
{
    (void)state;
    return test_fake_start(&fake, "fake_kraken.py", NULL) ? -1 : 0;
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

/* The last OHLC request the fake saw (caller decrefs); the number seen in *count. */
static json_t *last_request(size_t *count)
{
    json_t *all = test_fake_get_json(&fake, "/__requests"), *last;

    assert_true(json_array_size(all) > 0);
    if (count)
        *count = json_array_size(all);
    last = json_array_get(all, json_array_size(all) - 1);
    json_incref(last);
    json_decref(all);
    return last;
}

static const char *query(json_t *r, const char *name)
{
    return json_string_value(json_object_get(json_object_get(r, "query"), name));
}

static int fetch(const char *symbol_map, const struct fetch_request *req, struct fetch_result *res,
                 struct strbuf *err)
{
    struct source_config cfg = {.name = "kr",
                                .kind = "kraken",
                                .base_url = fake.url,
                                .symbol_map = symbol_map,
                                .timeout_ms = 10000};
    struct source *src;
    int rc;

    assert_int_equal(source_open(&src, &cfg, err), 0);
    rc = source_fetch(src, req, res, err);
    source_free(src);
    return rc;
}

static void test_http_first_and_incremental(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_H1, .count = 10, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch(NULL, &req, &res, &err), 0);
    assert_int_equal(res.http_status, 200);
    /* The latest 10 final hours: the forming 12:00 row is dropped here. */
    assert_int_equal(res.candles.n, 10);
    assert_int_equal(res.candles.v[9].open_time, NOW - 7 * 60 - 3600);
    assert_int_equal(res.candles.v[0].open_time, NOW - 7 * 60 - 10 * 3600);
    r = last_request(NULL);
    assert_string_equal(query(r, "pair"), "XBTUSD");
    assert_string_equal(query(r, "interval"), "60");
    assert_null(query(r, "since"));
    /* Kraken requires a User-Agent. */
    assert_non_null(strstr(json_string_value(json_object_get(r, "user_agent")), "candlekeep/"));
    json_decref(r);
    fetch_result_release(&res);

    req.has_since = true;
    req.since = NOW - 7 * 60 - 4 * 3600;
    req.count = 720;
    assert_int_equal(fetch(NULL, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[0].open_time, req.since + 3600);
    r = last_request(NULL);
    assert_string_equal(query(r, "since"), "1710489600");
    json_decref(r);
    assert_int_equal(err.len, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_errors(void **state)
{
    struct fetch_request req = {.symbol = "DOGE/EUR", .tf = TF_M15, .count = 10, .now = NOW};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    json_t *r;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch(NULL, &req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_int_equal(fetch_result_status(&res), 404);
    assert_string_equal(
        err.buf, "kr DOGE/EUR M15: unknown asset pair (HTTP 200): 'EQuery:Unknown asset pair'");
    r = last_request(NULL);
    assert_string_equal(query(r, "pair"), "XDGEUR");
    json_decref(r);
    strbuf_reset(&err);

    /* A symbol_map entry names the pair. */
    req.symbol = "BTC/USD";
    assert_int_equal(fetch("BTC/USD:XXBTZUSD", &req, &res, &err), 0);
    r = last_request(NULL);
    assert_string_equal(query(r, "pair"), "XXBTZUSD");
    json_decref(r);

    /* Throttling is an error in the body of an HTTP 200: a rate limit all the same. */
    test_fake_post(&fake, "/__control",
                   json_pack("{s:[{s:s}]}", "errors", "error", "EGeneral:Too many requests"));
    assert_int_equal(fetch(NULL, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.http_status, 200);
    assert_int_equal(fetch_result_status(&res), 429);
    assert_int_equal(res.retry_after, 5);
    assert_string_equal(res.wait_reason, "Kraken throttled the calls (EGeneral:Too many requests)");
    assert_int_equal(res.candles.n, 0);
    strbuf_reset(&err);

    /* The fake's own counter (here 3 calls, no decay), then throttled. */
    fake_setup(json_pack("{s:s, s:{s:i, s:i}}", "now", "2024-03-15T12:07:00Z", "throttle", "max", 3,
                         "decay", 0));
    for (int i = 0; i < 3; i++)
        assert_int_equal(fetch(NULL, &req, &res, &err), 0);
    assert_int_equal(fetch(NULL, &req, &res, &err), CK_ELIMIT);
    assert_non_null(strstr(err.buf, "'EGeneral:Too many requests'"));
    fetch_result_release(&res);
    strbuf_release(&err);
}

int main(void)
{
    struct strbuf err = STRBUF_INIT;
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_ccxt_exact),
        cmocka_unit_test(test_parse_history_lost),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(test_http_first_and_incremental),
        cmocka_unit_test(test_http_errors),
    };
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    failed = cmocka_run_group_tests_name("kraken parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("kraken http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
