/* SPDX-License-Identifier: MIT */
/*
 * The source registry and wrappers (source.c): adapter lookup, request
 * checks before any network traffic, and the result contract.
 */
#include "testutil.h"

#include "net/http.h"
#include "source/source.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static void test_kinds(void **state)
{
    (void)state;
    assert_true(source_kind_known("twelvedata"));
    assert_false(source_kind_known("TwelveData"));
    assert_true(source_kind_known("binance"));
    assert_false(source_kind_known("Binance"));
    assert_false(source_kind_known("nosuchvenue"));
    assert_true(source_kind_known("kraken"));
    assert_true(source_kind_known("coinbase"));
    assert_false(source_kind_known(""));
    assert_false(source_kind_known(NULL));
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(source_error_name(SRC_OK), "ok");
    assert_string_equal(source_error_name(SRC_ERR_NETWORK), "network");
    assert_string_equal(source_error_name(SRC_ERR_AUTH), "auth");
    assert_string_equal(source_error_name(SRC_ERR_PLAN), "plan");
    assert_string_equal(source_error_name(SRC_ERR_RATE_MINUTE), "rate_minute");
    assert_string_equal(source_error_name(SRC_ERR_RATE_DAY), "rate_day");
    assert_string_equal(source_error_name(SRC_ERR_BAD_SYMBOL), "bad_symbol");
    assert_string_equal(source_error_name(SRC_ERR_BAD_REQUEST), "bad_request");
    assert_string_equal(source_error_name(SRC_ERR_SERVER), "server");
    assert_string_equal(source_error_name(SRC_ERR_MALFORMED), "malformed");
    assert_string_equal(source_error_name((enum source_error)99), "unknown");
}

static void test_open_unknown_kind(void **state)
{
    struct source_config cfg = {.name = "mine", .kind = "nosuch"};
    struct source *src = (struct source *)&cfg; /* must be reset to NULL */
    struct strbuf err = STRBUF_INIT, want = STRBUF_INIT;

    (void)state;
    assert_int_equal(source_open(&src, &cfg, &err), CK_ECONFIG);
    assert_null(src);
    /* Every registered kind is named, in registry order. */
    strbuf_addstr(&want, "source 'mine': unknown kind 'nosuch' (known: ");
    source_kind_names(&want);
    strbuf_addch(&want, ')');
    assert_string_equal(err.buf, want.buf);
    assert_non_null(strstr(want.buf, "(known: twelvedata, "));
    strbuf_release(&err);
    strbuf_release(&want);
}

static void test_open_kind_defaults_to_name(void **state)
{
    struct source_config cfg = {.name = "twelvedata", .api_key = "k"};
    struct source *src = NULL;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    assert_int_equal(source_open(&src, &cfg, &err), 0);
    assert_non_null(src);
    assert_string_equal(source_name(src), "twelvedata");
    source_free(src);
    source_free(NULL);
    strbuf_release(&err);
}

static void test_open_rejects_bad_key(void **state)
{
    struct source_config cfg = {.name = "td", .kind = "twelvedata", .api_key = "abc\r\nX-Evil: 1"};
    struct source *src = NULL;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    assert_int_equal(source_open(&src, &cfg, &err), CK_ECONFIG);
    assert_null(src);
    assert_non_null(strstr(err.buf, "source 'td': api_key"));
    assert_null(strstr(err.buf, "abc"));
    strbuf_release(&err);
}

/* Requests that cannot be right fail before any traffic (the base URL goes nowhere). */
static void test_fetch_checks_request(void **state)
{
    struct source_config cfg = {
        .name = "td", .kind = "twelvedata", .base_url = "http://127.0.0.1:1"};
    struct source *src = NULL;
    struct strbuf err = STRBUF_INIT;
    struct fetch_result res = FETCH_RESULT_INIT;
    struct candle c = {.open_time = 60};
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 0};

    (void)state;
    assert_int_equal(source_open(&src, &cfg, &err), 0);
    /* Stale content of the result is released first. */
    candle_vec_push(&res.candles, &c);
    assert_int_equal(source_fetch(src, &req, &res, &err), CK_EINVAL);
    assert_int_equal(res.error, SRC_ERR_BAD_REQUEST);
    assert_int_equal(res.candles.n, 0);
    assert_string_equal(err.buf, "td XAU/USD M15: count 0 is outside 1..5000");
    strbuf_reset(&err);

    req.count = 5001;
    assert_int_equal(source_fetch(src, &req, &res, &err), CK_EINVAL);
    strbuf_reset(&err);

    req.count = 10;
    req.symbol = "";
    assert_int_equal(source_fetch(src, &req, &res, &err), CK_EINVAL);
    assert_int_equal(res.error, SRC_ERR_BAD_REQUEST);
    strbuf_reset(&err);

    /* Incremental requests ignore count; this one reaches the network and is refused. */
    req.symbol = "XAU/USD";
    req.has_since = true;
    req.count = 0;
    req.since = 1710500400;
    assert_int_equal(source_fetch(src, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    assert_int_equal(res.http_status, 0);
    assert_true(strbuf_starts_with(&err, "td XAU/USD M15: 127.0.0.1: "));

    source_free(src);

    /* A symbol the venue's style cannot spell is refused before any request, naming the series. */
    struct source_config okx = {.name = "ok", .kind = "okx", .base_url = "http://127.0.0.1:1"};
    assert_int_equal(source_open(&src, &okx, &err), 0);
    strbuf_reset(&err);
    req.symbol = "BTCUSDT";
    assert_int_equal(source_fetch(src, &req, &res, &err), CK_EINVAL);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_true(strbuf_starts_with(&err, "ok BTCUSDT M15: symbol 'BTCUSDT' is not BASE/QUOTE"));
    strbuf_reset(&err);

    fetch_result_release(&res);
    assert_int_equal(res.error, SRC_OK);
    assert_int_equal(res.retry_after, -1);
    assert_int_equal(res.credits_used, -1);
    assert_int_equal(res.credits_left, -1);
    fetch_result_release(NULL);
    source_free(src);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_open_unknown_kind),
        cmocka_unit_test(test_open_kind_defaults_to_name),
        cmocka_unit_test(test_open_rejects_bad_key),
        cmocka_unit_test(test_fetch_checks_request),
    };
    struct strbuf err = STRBUF_INIT;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
