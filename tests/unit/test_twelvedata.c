/* SPDX-License-Identifier: MIT */
/*
 * The Twelve Data adapter.
 *
 * Part 1 parses recorded payloads (tests/fixtures/twelvedata/) through
 * twelvedata_parse(), table-driven, and checks exact candles and typed
 * errors. Part 2 drives the real path, source_fetch() through libcurl,
 * against the local fake provider (tests/helpers/fake_twelvedata.py,
 * started once for the group) and against sockets that refuse or never
 * answer.
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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_KEY        "sk-td-SECRET-4711"
#define TEST_KEY_PREFIX "sk-td-SE"
#define PAD38           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define PAD190          PAD38 PAD38 PAD38 PAD38 PAD38

/* 2024-03-15T12:00:45Z, a Friday. */
#define NOW_FRI 1710504045

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return test_utc(y, mo, d, h, mi);
}

static char *fixture(const char *name, size_t *len)
{
    return test_fixture_read("twelvedata", name, len);
}

/* ------------------------------------------------------------------ parsing */

struct parse_case {
    const char *file; /* "" for an empty body */
    const char *symbol;
    enum timeframe tf;
    long status;
    bool has_since;
    int rc;
    enum source_error error;
    size_t ncandles;
    const char *err_has; /* expected part of the message; NULL: no message */
    int64_t retry_after;
};

static const struct parse_case parse_cases[] = {
    {"xau_15min.json", "XAU/USD", TF_M15, 200, false, 0, SRC_OK, 4, NULL, -1},
    {"btc_1h.json", "BTC/USD", TF_H1, 200, false, 0, SRC_OK, 3, NULL, -1},
    {"xau_1day.json", "XAU/USD", TF_D1, 200, false, 0, SRC_OK, 3, NULL, -1},
    {"xau_1week.json", "XAU/USD", TF_W1, 200, false, 0, SRC_OK, 2, NULL, -1},
    {"null_volume.json", "BTC/USD", TF_H1, 200, false, 0, SRC_OK, 2, NULL, -1},
    {"empty_values.json", "XAU/USD", TF_M15, 200, true, 0, SRC_OK, 0, NULL, -1},
    {"error_400_no_data.json", "XAU/USD", TF_M15, 200, true, 0, SRC_OK, 0, NULL, -1},
    {"error_400_no_data.json", "XAU/USD", TF_M15, 200, false, 0, SRC_OK, 0, NULL, -1},
    {"error_400_no_data.json", "XAU/USD", TF_M15, 400, true, 0, SRC_OK, 0, NULL, -1},
    {"error_401.json", "XAU/USD", TF_M15, 200, false, CK_EAUTH, SRC_ERR_AUTH, 0,
     "API key refused (code 401, HTTP 200): **apikey** parameter is incorrect", -1},
    {"error_401.json", "XAU/USD", TF_M15, 401, false, CK_EAUTH, SRC_ERR_AUTH, 0,
     "(code 401, HTTP 401)", -1},
    {"error_403.json", "XAU/USD", TF_M15, 200, false, CK_EAUTH, SRC_ERR_PLAN, 0,
     "not covered by the API key's plan (code 403, HTTP 200)", -1},
    {"error_404.json", "XAU/USDX", TF_M15, 200, false, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, 0,
     "twelvedata XAU/USDX M15: unknown symbol (code 404, HTTP 200): **symbol** or **figi**", -1},
    {"error_400_interval.json", "XAU/USD", TF_M15, 200, false, CK_EINVAL, SRC_ERR_BAD_REQUEST, 0,
     "request rejected (code 400, HTTP 200): Invalid **interval** provided: 0.99min", -1},
    {"error_429_minute.json", "XAU/USD", TF_M15, 200, false, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "per-minute API credits exhausted (code 429, HTTP 200)", 15},
    {"error_429_minute.json", "XAU/USD", TF_M15, 429, true, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "(code 429, HTTP 429): You have run out of API credits for the current minute", 15},
    {"error_429_day.json", "XAU/USD", TF_H1, 200, false, CK_ELIMIT, SRC_ERR_RATE_DAY, 0,
     "twelvedata XAU/USD H1: daily API credits exhausted (code 429, HTTP 200)", 43155},
    {"error_500.json", "XAU/USD", TF_M15, 200, false, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (code 500, HTTP 200)", -1},
    {"error_500.json", "XAU/USD", TF_M15, 500, false, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (code 500, HTTP 500)", -1},
    {"html_502.html", "XAU/USD", TF_M15, 502, false, CK_EUPSTREAM, SRC_ERR_SERVER, 0,
     "provider failure (HTTP 502): '502 Bad Gateway 502 Bad Gateway cloudflare'", -1},
    {"html_502.html", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"html_502.html", "XAU/USD", TF_M15, 429, false, CK_ELIMIT, SRC_ERR_RATE_MINUTE, 0,
     "rate limited (HTTP 429)", 15},
    {"truncated.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON", -1},
    {"", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "HTTP 200: body is not JSON (empty body)", -1},
    {"not_object.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "body is not a JSON object: '[1,2,3]'", -1},
    {"no_values.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "response has no \"values\" array", -1},
    {"bad_abc.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "twelvedata XAU/USD M15: row 2024-01-02 15:00:00: high 'abc' is not a decimal", -1},
    {"bad_nan.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: low 'NaN' is not a decimal", -1},
    {"bad_negative.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: open '-1' is not positive", -1},
    {"bad_exponent.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: close '1e999' is not a decimal", -1},
    {"bad_zero.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: low '0' is not positive", -1},
    {"bad_missing_close.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: close is missing", -1},
    {"bad_number_type.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: open is a number, not a string", -1},
    {"bad_out_of_range.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:00:00: high '99999999999999.5' is out of range", -1},
    {"unaligned.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 15:07:00: datetime is not aligned to M15", -1},
    {"xau_15min.json", "XAU/USD", TF_H1, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "twelvedata XAU/USD H1: row 2024-01-02 15:45:00: datetime is not aligned to H1", -1},
    {"duplicate_datetime.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row 2024-01-02 14:45:00: datetime appears twice", -1},
    {"bad_datetime.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: datetime 'yesterday' is not a date and time", -1},
    {"missing_datetime.json", "XAU/USD", TF_M15, 200, false, CK_EPARSE, SRC_ERR_MALFORMED, 0,
     "row #2: datetime is missing", -1},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct fetch_request req = {.symbol = c->symbol,
                                    .tf = c->tf,
                                    .has_since = c->has_since,
                                    .since = utc(2024, 1, 2, 14, 0),
                                    .count = 100,
                                    .now = NOW_FRI};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct strbuf err = STRBUF_INIT;
        size_t len = 0;
        char *body = *c->file ? fixture(c->file, &len) : xstrdup("");
        int rc = twelvedata_parse(body, len, c->status, &req, "twelvedata", &res, &err);

        print_message("case %zu: %s HTTP %ld -> %d %s '%s'\n", i, c->file, c->status, rc,
                      source_error_name(res.error), err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.candles.n, c->ncandles);
        assert_int_equal(res.retry_after, c->retry_after);
        if (c->err_has) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "twelvedata %s %s: ", c->symbol,
                     timeframe_name(c->tf));
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

/* The example message from the design, in full. */
static void test_parse_message_exact(void **state)
{
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 10, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("bad_abc.json", &len);

    (void)state;
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), CK_EPARSE);
    assert_string_equal(
        err.buf, "twelvedata XAU/USD M15: row 2024-01-02 15:00:00: high 'abc' is not a decimal");
    assert_int_equal(res.candles.n, 0);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

static void test_parse_xau_exact(void **state)
{
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 4, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("xau_15min.json", &len);
    const struct candle *c;

    (void)state;
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), 0);
    assert_int_equal(res.candles.n, 4);
    /* The file is newest first; the result is ascending. */
    c = &res.candles.v[0];
    assert_int_equal(c->open_time, utc(2024, 1, 2, 15, 0));
    assert_int_equal(c->open, 206187000000LL);
    assert_int_equal(c->high, 206395000000LL);
    assert_int_equal(c->low, 206152000000LL);
    assert_int_equal(c->close, 206341000000LL);
    assert_false(c->has_volume);
    assert_int_equal(res.candles.v[1].open_time, utc(2024, 1, 2, 15, 15));
    assert_int_equal(res.candles.v[1].open, 206341000000LL);
    c = &res.candles.v[3];
    assert_int_equal(c->open_time, utc(2024, 1, 2, 15, 45));
    /* "2062.77000": trailing zeros are exact too. */
    assert_int_equal(c->close, 206277000000LL);
    assert_int_equal(c->high, 206512000000LL);
    for (size_t i = 0; i < res.candles.n; i++)
        assert_false(res.candles.v[i].has_volume);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

static void test_parse_btc_volume(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_H1, .count = 3, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("btc_1h.json", &len);

    (void)state;
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 15, 10, 0));
    assert_int_equal(res.candles.v[0].close, 6778840000000LL);
    assert_true(res.candles.v[0].has_volume);
    assert_int_equal(res.candles.v[0].volume, 120344170000LL);
    /* Volume decimals beyond 8 are dropped, not a reason to reject the response. */
    assert_true(res.candles.v[1].has_volume);
    assert_int_equal(res.candles.v[1].volume, 98700012345LL);
    /* A zero volume is a volume. */
    assert_true(res.candles.v[2].has_volume);
    assert_int_equal(res.candles.v[2].volume, 0);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

static void test_parse_null_volume(void **state)
{
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_H1, .count = 2, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("null_volume.json", &len);

    (void)state;
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_false(res.candles.v[0].has_volume);
    assert_true(res.candles.v[1].has_volume);
    assert_int_equal(res.candles.v[1].volume, 1250000000LL);
    free(body);
    strbuf_release(&err);
    fetch_result_release(&res);
}

static void test_parse_daily_weekly(void **state)
{
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_D1, .count = 3, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    size_t len;
    char *body = fixture("xau_1day.json", &len);

    (void)state;
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), 0);
    assert_int_equal(res.candles.n, 3);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 2, 0, 0));
    assert_int_equal(res.candles.v[0].open, 206341000000LL);
    assert_int_equal(res.candles.v[2].open_time, utc(2024, 1, 4, 0, 0));
    fetch_result_release(&res);
    free(body);

    req.tf = TF_W1;
    body = fixture("xau_1week.json", &len);
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), 0);
    assert_int_equal(res.candles.n, 2);
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 1, 1, 0, 0)); /* a Monday */
    assert_int_equal(res.candles.v[1].open_time, utc(2024, 1, 8, 0, 0));
    fetch_result_release(&res);
    free(body);

    /* A daily file read as weekly: 2024-01-02 is a Tuesday. */
    body = fixture("xau_1day.json", &len);
    assert_int_equal(twelvedata_parse(body, len, 200, &req, "twelvedata", &res, &err), CK_EPARSE);
    assert_non_null(strstr(err.buf, "is not aligned to W1"));
    assert_int_equal(res.candles.n, 0);
    fetch_result_release(&res);
    free(body);
    strbuf_release(&err);
}

/* ------------------------------------------------------------- the fake provider */

static struct test_fake fake = {.pid = -1};
static const char *fake_url = fake.url;
static struct http_client *ctl;

static int fake_start(void **state)
{
    static const char *const args[] = {"--api-key", TEST_KEY, NULL};

    (void)state;
    if (test_fake_start(&fake, "fake_twelvedata.py", args))
        return -1;
    ctl = http_client_new();
    return 0;
}

static int fake_stop(void **state)
{
    (void)state;
    http_client_free(ctl);
    ctl = NULL;
    test_fake_stop(&fake);
    return 0;
}

/* POST `body` (taken; may be NULL) to the fake's `path`; asserts HTTP 200. */
static void fake_post(const char *path, json_t *body)
{
    test_fake_post(&fake, path, body);
}

/* Reset the fake, then apply `control` (taken). */
static void fake_setup(json_t *control)
{
    fake_post("/__reset", NULL);
    fake_post("/__control", control);
}

/* GET a path of the fake; returns the parsed JSON body (caller decrefs). */
static json_t *fake_get_json(const char *path)
{
    return test_fake_get_json(&fake, path);
}

/* The query of the last /time_series request the fake saw (caller decrefs). */
static json_t *last_request(bool *auth_present, size_t *count)
{
    json_t *all = fake_get_json("/__requests"), *last, *q;

    assert_true(json_array_size(all) > 0);
    if (count)
        *count = json_array_size(all);
    last = json_array_get(all, json_array_size(all) - 1);
    q = json_object_get(last, "query");
    json_incref(q);
    if (auth_present)
        *auth_present = json_is_true(json_object_get(last, "authorization_present"));
    json_decref(all);
    return q;
}

static const char *qs(json_t *q, const char *name)
{
    return json_string_value(json_object_get(q, name));
}

static struct source_config test_config(void)
{
    struct source_config cfg = {.name = "twelvedata",
                                .kind = "twelvedata",
                                .api_key = TEST_KEY,
                                .base_url = fake_url,
                                .timeout_ms = 10000};
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
    if (strstr(err->buf, TEST_KEY_PREFIX))
        fail_msg("the API key leaked into a message: %s", err->buf);
    return rc;
}

static void test_http_first_fetch(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 10};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    bool auth;
    json_t *q;

    (void)state;
    req.now = utc(2024, 3, 15, 12, 7);
    fake_setup(json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:s}]}", "now", "2024-03-15T12:07:00Z",
                         "overrides", "symbol", "XAU/USD", "interval", "15min", "datetime",
                         "2024-03-15T11:00:00Z", "field", "close", "value", "2063.41"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.error, SRC_OK);
    assert_int_equal(res.http_status, 200);
    assert_int_equal(res.candles.n, 10);
    /* Ascending; the fake includes the forming 12:00 bar, the adapter passes it on. */
    assert_int_equal(res.candles.v[9].open_time, utc(2024, 3, 15, 12, 0));
    assert_int_equal(res.candles.v[0].open_time, utc(2024, 3, 15, 9, 45));
    for (size_t i = 0; i < res.candles.n; i++) {
        assert_false(res.candles.v[i].has_volume);
        if (res.candles.v[i].open_time == utc(2024, 3, 15, 11, 0))
            assert_int_equal(res.candles.v[i].close, 206341000000LL);
    }
    assert_int_equal(res.credits_used, 1);
    assert_int_equal(res.credits_left, 7);

    q = last_request(&auth, NULL);
    assert_true(auth);
    assert_string_equal(qs(q, "symbol"), "XAU/USD");
    assert_string_equal(qs(q, "interval"), "15min");
    assert_string_equal(qs(q, "timezone"), "UTC");
    assert_string_equal(qs(q, "order"), "asc");
    assert_string_equal(qs(q, "outputsize"), "10");
    assert_string_equal(qs(q, "format"), "JSON");
    assert_null(json_object_get(q, "start_date"));
    assert_null(json_object_get(q, "apikey"));
    json_decref(q);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_incremental(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .has_since = true};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    /* Thursday; metals pause 17:00-18:00 New York = 21:00-22:00 UTC in March (EDT). */
    const int64_t want[] = {utc(2024, 3, 14, 20, 45), utc(2024, 3, 14, 22, 0),
                            utc(2024, 3, 14, 22, 15), utc(2024, 3, 14, 22, 30),
                            utc(2024, 3, 14, 22, 45), utc(2024, 3, 14, 23, 0)};
    json_t *q;

    (void)state;
    req.since = utc(2024, 3, 14, 20, 30);
    req.now = utc(2024, 3, 14, 23, 10);
    fake_setup(json_pack("{s:s, s:b}", "now", "2024-03-14T23:10:00Z", "forming", 1));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, ARRAY_SIZE(want));
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_int_equal(res.candles.v[i].open_time, want[i]);

    q = last_request(NULL, NULL);
    assert_string_equal(qs(q, "start_date"), "2024-03-14 20:45:00");
    assert_string_equal(qs(q, "outputsize"), "5000");
    assert_string_equal(qs(q, "timezone"), "UTC");
    assert_string_equal(qs(q, "order"), "asc");
    assert_null(json_object_get(q, "apikey"));
    json_decref(q);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* Friday after the close: nothing newer exists; "No data" is an empty success. */
static void test_http_no_new_data(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_H1, .has_since = true};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    req.since = utc(2024, 3, 15, 20, 0);
    req.now = utc(2024, 3, 16, 12, 0);
    fake_setup(json_pack("{s:s}", "now", "2024-03-16T12:00:00Z"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.error, SRC_OK);
    assert_int_equal(res.candles.n, 0);
    assert_int_equal(err.len, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* The fake's holidays, holes and forming switch, as the ingest tests will use them. */
static void test_http_fake_holidays_holes(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_H1, .has_since = true};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    int64_t want[32];
    size_t n = 0;

    (void)state;
    /* Tuesday 24th until the 17:00 EST close (22:00 UTC)... */
    for (int h = 13; h <= 21; h++)
        want[n++] = utc(2024, 12, 24, h, 0);
    /* ...Christmas closes the trading day ending on the 25th; the next opens 18:00 EST... */
    want[n++] = utc(2024, 12, 25, 23, 0);
    want[n++] = utc(2024, 12, 26, 0, 0);
    want[n++] = utc(2024, 12, 26, 1, 0);
    /* ...and a hole at 02:00-04:00; 12:00 is the forming bar. */
    for (int h = 4; h <= 12; h++)
        want[n++] = utc(2024, 12, 26, h, 0);

    req.since = utc(2024, 12, 24, 12, 0);
    req.now = utc(2024, 12, 26, 12, 0);
    fake_setup(json_pack("{s:s, s:[s], s:[{s:s, s:s, s:s, s:s}]}", "now", "2024-12-26T12:00:00Z",
                         "holidays", "2024-12-25", "holes", "symbol", "XAU/USD", "interval", "1h",
                         "from", "2024-12-26T02:00:00Z", "to", "2024-12-26T04:00:00Z"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res.candles.v[i].open_time, want[i]);
    fetch_result_release(&res);

    fake_post("/__control", json_pack("{s:b}", "forming", 0));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, n - 1);
    assert_int_equal(res.candles.v[n - 2].open_time, utc(2024, 12, 26, 11, 0));
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_crypto_volume(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "BTC/USD", .tf = TF_H1, .count = 48};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    req.now = utc(2024, 3, 17, 12, 30); /* a Sunday: crypto trades anyway */
    fake_setup(json_pack("{s:s, s:b}", "now", "2024-03-17T12:30:00Z", "forming", 0));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    assert_int_equal(res.candles.n, 48);
    assert_int_equal(res.candles.v[47].open_time, utc(2024, 3, 17, 11, 0));
    for (size_t i = 0; i < res.candles.n; i++) {
        assert_true(res.candles.v[i].has_volume);
        assert_true(candle_validate(&res.candles.v[i], TF_H1, NULL));
        if (i)
            assert_int_equal(res.candles.v[i].open_time - res.candles.v[i - 1].open_time, 3600);
    }
    fetch_result_release(&res);
    strbuf_release(&err);
}

struct http_error_case {
    int code;
    const char *kind;
    const char *message;
    int http_status;
    int rc;
    enum source_error error;
    const char *err_has;
    int64_t retry_after;
};

static void test_http_error_bodies(void **state)
{
    static const struct http_error_case cases[] = {
        {429, "minute", NULL, 200, CK_ELIMIT, SRC_ERR_RATE_MINUTE,
         "per-minute API credits exhausted (code 429, HTTP 200)", 15},
        {429, "minute", NULL, 429, CK_ELIMIT, SRC_ERR_RATE_MINUTE, "(code 429, HTTP 429)", 15},
        {429, "day", NULL, 200, CK_ELIMIT, SRC_ERR_RATE_DAY, "daily API credits exhausted", 43155},
        {401, NULL, NULL, 401, CK_EAUTH, SRC_ERR_AUTH, "API key refused (code 401, HTTP 401)", -1},
        {401, NULL, NULL, 200, CK_EAUTH, SRC_ERR_AUTH, "API key refused (code 401, HTTP 200)", -1},
        {403, NULL, NULL, 200, CK_EAUTH, SRC_ERR_PLAN, "plan (code 403, HTTP 200)", -1},
        {404, NULL, NULL, 200, CK_ENOTFOUND, SRC_ERR_BAD_SYMBOL, "unknown symbol", -1},
        {400, NULL, "Invalid **interval** provided: 7min.", 200, CK_EINVAL, SRC_ERR_BAD_REQUEST,
         "request rejected (code 400, HTTP 200): Invalid **interval** provided: 7min.", -1},
        {400, NULL, NULL, 200, 0, SRC_OK, NULL, -1}, /* the default text: no data */
        {500, NULL, NULL, 500, CK_EUPSTREAM, SRC_ERR_SERVER,
         "provider failure (code 500, HTTP 500)", -1},
        {500, NULL, NULL, 200, CK_EUPSTREAM, SRC_ERR_SERVER, "(code 500, HTTP 200)", -1},
        /* A provider text that echoes the key is masked. */
        {401, NULL, "apikey " TEST_KEY " is not valid", 200, CK_EAUTH, SRC_ERR_AUTH,
         "(code 401, HTTP 200): apikey ***", -1},
        /* ... also where the quote's length limit would cut it in half. */
        {401, NULL, PAD190 TEST_KEY, 200, CK_EAUTH, SRC_ERR_AUTH, "xxx***", -1},
    };
    struct source_config cfg = test_config();

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct http_error_case *c = &cases[i];
        struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct strbuf err = STRBUF_INIT;
        json_t *e = json_pack("{s:i, s:i}", "code", c->code, "http_status", c->http_status);
        int rc;

        if (c->kind)
            json_object_set_new(e, "kind", json_string(c->kind));
        if (c->message)
            json_object_set_new(e, "message", json_string(c->message));
        fake_setup(json_pack("{s:s, s:[o]}", "now", "2024-03-15T12:00:45Z", "errors", e));
        rc = fetch(&cfg, &req, &res, &err);
        print_message("case %zu: %d -> %d %s '%s'\n", i, c->code, rc, source_error_name(res.error),
                      err.buf);
        assert_int_equal(rc, c->rc);
        assert_int_equal(res.error, c->error);
        assert_int_equal(res.http_status, c->http_status);
        assert_int_equal(res.retry_after, c->retry_after);
        assert_int_equal(res.candles.n, 0);
        if (c->err_has) {
            assert_true(strbuf_starts_with(&err, "twelvedata XAU/USD M15: "));
            assert_non_null(strstr(err.buf, c->err_has));
        } else {
            assert_int_equal(err.len, 0);
        }
        fetch_result_release(&res);
        strbuf_release(&err);
    }
}

/* An explicit Retry-After outranks the computed wait. */
static void test_http_retry_after_header(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:[{s:i, s:i, s:{s:s}}]}", "errors", "code", 429, "http_status", 429,
                         "headers", "Retry-After", "7"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.retry_after, 7);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/*
 * The fake enforces the free tier without being asked, as Twelve Data does:
 * eight requests in a minute of its clock go through, the ninth is the
 * documented minute 429; the next minute has credits again.
 */
static void test_free_tier_limits(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:00:05Z"));
    for (int i = 1; i <= 8; i++) {
        assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
        assert_int_equal(res.credits_used, i);
        assert_int_equal(res.credits_left, 8 - i);
        fetch_result_release(&res);
        res = (struct fetch_result)FETCH_RESULT_INIT;
    }
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_int_equal(res.error, SRC_ERR_RATE_MINUTE);
    assert_int_equal(res.http_status, 429);
    assert_non_null(strstr(err.buf, "9 API credits were used, with the current limit being 8"));
    fetch_result_release(&res);
    res = (struct fetch_result)FETCH_RESULT_INIT;
    strbuf_reset(&err);

    fake_post("/__control", json_pack("{s:s}", "now", "2024-03-15T12:01:00Z"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_real_errors(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "FOO/BAR", .tf = TF_H1, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    bool auth = true;
    json_t *q;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:00:45Z"));
    /* The fake's own 404 for an unknown symbol, sent with HTTP 200. */
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ENOTFOUND);
    assert_int_equal(res.error, SRC_ERR_BAD_SYMBOL);
    assert_non_null(strstr(err.buf, "twelvedata FOO/BAR H1: unknown symbol (code 404, HTTP 200)"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* A wrong key. */
    req.symbol = "XAU/USD";
    cfg.api_key = "sk-td-WRONG-0000";
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EAUTH);
    assert_int_equal(res.error, SRC_ERR_AUTH);
    assert_null(strstr(err.buf, "sk-td-WRONG-0000"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* No key at all: no Authorization header is sent. */
    cfg.api_key = NULL;
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EAUTH);
    assert_int_equal(res.error, SRC_ERR_AUTH);
    q = last_request(&auth, NULL);
    assert_false(auth);
    assert_null(json_object_get(q, "apikey"));
    json_decref(q);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_raw_bodies(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    fake_setup(json_pack(
        "{s:[{s:i, s:s, s:s}, {s:i, s:s}, {s:i, s:s, s:i}]}", "raw", "http_status", 502, "body",
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body>"
        "</html>",
        "content_type", "text/html", "http_status", 200, "body",
        "{\"meta\":{\"symbol\":\"XAU/USD\"},\"values\":[{\"datetime\":\"2024-03-15 11:00:00\",\"op",
        "http_status", 200, "body",
        "{\"meta\":{\"symbol\":\"XAU/USD\"},\"values\":[{\"datetime\":\"2024-03-15 11:00:00\"}]}",
        "cut", 30));

    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_SERVER);
    assert_int_equal(res.http_status, 502);
    assert_non_null(strstr(err.buf, "HTTP 502"));
    assert_non_null(strstr(err.buf, "502 Bad Gateway"));
    assert_null(strstr(err.buf, "<"));
    fetch_result_release(&res);
    strbuf_reset(&err);

    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EPARSE);
    assert_int_equal(res.error, SRC_ERR_MALFORMED);
    assert_non_null(strstr(err.buf, "HTTP 200: body is not JSON"));
    assert_int_equal(res.candles.n, 0);
    fetch_result_release(&res);
    strbuf_reset(&err);

    /* The connection closes in the middle of the body. */
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    assert_non_null(strstr(err.buf, "twelvedata XAU/USD M15: 127.0.0.1: "));
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_bad_value_rejects_all(void **state)
{
    static const char *const bad[] = {"abc", "NaN", "-1", "0", "1e999"};
    struct source_config cfg = test_config();

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 20};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct strbuf err = STRBUF_INIT, want = STRBUF_INIT;

        req.now = utc(2024, 3, 15, 12, 7);
        fake_setup(json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:s}]}", "now", "2024-03-15T12:07:00Z",
                             "overrides", "symbol", "XAU/USD", "interval", "15min", "datetime",
                             "2024-03-15T11:00:00Z", "field", "high", "value", bad[i]));
        assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EPARSE);
        assert_int_equal(res.error, SRC_ERR_MALFORMED);
        assert_int_equal(res.candles.n, 0);
        strbuf_addf(&want, "twelvedata XAU/USD M15: row 2024-03-15 11:00:00: high '%s' is ",
                    bad[i]);
        assert_true(strbuf_starts_with(&err, want.buf));
        fetch_result_release(&res);
        strbuf_release(&err);
        strbuf_release(&want);
    }
}

static void test_http_unaligned(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    req.now = utc(2024, 3, 15, 12, 7);
    fake_setup(json_pack("{s:s, s:b}", "now", "2024-03-15T12:07:00Z", "unaligned", 1));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EPARSE);
    assert_non_null(strstr(err.buf, ":07:00: datetime is not aligned to M15"));
    assert_int_equal(res.candles.n, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

static void test_http_body_cap(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 100};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    req.now = utc(2024, 3, 15, 12, 7);
    cfg.max_body = 300;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ELIMIT);
    assert_non_null(strstr(err.buf, "response body exceeds 300 bytes"));
    assert_int_equal(res.candles.n, 0);
    fetch_result_release(&res);
    strbuf_release(&err);
}

/* A socket on 127.0.0.1 with a kernel-chosen port; listening or not. */
static int local_socket(bool do_listen, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_http_timeout(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    char url[64];
    int port, fd = local_socket(true, &port);
    int64_t t0;

    (void)state;
    /* The kernel completes the handshake; nobody ever answers. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    cfg.base_url = url;
    cfg.timeout_ms = 300;
    t0 = time_mono_ms();
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ETIMEDOUT);
    assert_true(time_mono_ms() - t0 < 5000);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    assert_int_equal(res.http_status, 0);
    assert_non_null(strstr(err.buf, "twelvedata XAU/USD M15: 127.0.0.1: timed out"));
    fetch_result_release(&res);
    strbuf_reset(&err);
    close(fd);

    /* A slow provider, too. */
    cfg.base_url = fake_url;
    fake_setup(json_pack("{s:f}", "delay", 1.5));
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_ETIMEDOUT);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    fetch_result_release(&res);
    strbuf_release(&err);
    fake_setup(NULL);
}

static void test_http_connection_refused(void **state)
{
    struct source_config cfg = test_config();
    struct fetch_request req = {.symbol = "XAU/USD", .tf = TF_M15, .count = 5, .now = NOW_FRI};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    char url[96];
    /* Bound but not listening: the port is ours and connecting to it is refused. */
    int port, fd = local_socket(false, &port);

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    cfg.base_url = url;
    assert_int_equal(fetch(&cfg, &req, &res, &err), CK_EUPSTREAM);
    assert_int_equal(res.error, SRC_ERR_NETWORK);
    assert_int_equal(res.http_status, 0);
    assert_true(strbuf_starts_with(&err, "twelvedata XAU/USD M15: 127.0.0.1: "));
    assert_null(strstr(err.buf, "time_series"));
    assert_null(strstr(err.buf, "symbol="));
    fetch_result_release(&res);
    strbuf_release(&err);
    close(fd);
}

static void test_http_fake_default_timezone(void **state)
{
    /* The fake's contract, relied on above: without timezone=UTC, metals come in New York time. */
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header h[] = {{"Authorization", "apikey " TEST_KEY}};
    struct http_request req = {.headers = h, .nheaders = 1};
    json_t *j;

    (void)state;
    fake_setup(json_pack("{s:s}", "now", "2024-03-15T12:07:00Z"));
    strbuf_addf(&url, "%s/time_series?symbol=XAU%%2FUSD&interval=15min&outputsize=2", fake_url);
    req.url = url.buf;
    assert_int_equal(http_do(ctl, &req, &resp, &err), 0);
    j = json_loadb(resp.body.buf, resp.body.len, 0, NULL);
    assert_non_null(j);
    /* Newest first by default, 12:00 UTC = 08:00 EDT. */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "values"), 0), "datetime")),
                        "2024-03-15 08:00:00");
    json_decref(j);
    strbuf_release(&url);
    strbuf_release(&err);
    http_response_release(&resp);
}

int main(void)
{
    struct strbuf err = STRBUF_INIT;
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_table),       cmocka_unit_test(test_parse_message_exact),
        cmocka_unit_test(test_parse_xau_exact),   cmocka_unit_test(test_parse_btc_volume),
        cmocka_unit_test(test_parse_null_volume), cmocka_unit_test(test_parse_daily_weekly),
    };
    const struct CMUnitTest http_tests[] = {
        cmocka_unit_test(test_http_first_fetch),
        cmocka_unit_test(test_http_incremental),
        cmocka_unit_test(test_http_no_new_data),
        cmocka_unit_test(test_http_fake_holidays_holes),
        cmocka_unit_test(test_http_crypto_volume),
        cmocka_unit_test(test_http_error_bodies),
        cmocka_unit_test(test_http_retry_after_header),
        cmocka_unit_test(test_http_real_errors),
        cmocka_unit_test(test_free_tier_limits),
        cmocka_unit_test(test_http_raw_bodies),
        cmocka_unit_test(test_http_bad_value_rejects_all),
        cmocka_unit_test(test_http_unaligned),
        cmocka_unit_test(test_http_body_cap),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_connection_refused),
        cmocka_unit_test(test_http_fake_default_timezone),
    };
    int failed;

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    failed = cmocka_run_group_tests_name("twelvedata parse", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("twelvedata http", http_tests, fake_start, fake_stop);
    return failed ? 1 : 0;
}
