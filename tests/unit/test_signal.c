/* SPDX-License-Identifier: MIT */
/*
 * Signal requests (signal/signal.h): validation against a real
 * configuration file, the exact reading of JSON numbers, the canonical
 * request hash, and backtest bodies. Table-driven: each bad request names
 * the field its error must name.
 */
#include "testutil.h"

#include "ck/settings.h"
#include "market/price.h"
#include "signal/signal.h"
#include "market/signal.h"
#include "util/config.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* 2024-01-02T15:00:00Z in ms. */
#define NOW_MS 1704207600000LL

static struct settings settings;
static struct signal_config cfg;

static int load_cfg(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    char *path = test_tmpfile(".ini");
    FILE *fp = fopen(path, "w");

    (void)state;
    assert_non_null(fp);
    fputs("[source.twelvedata]\n"
          "symbols = XAU/USD EUR/USD\n"
          "timeframes = M15 H1 H4 D1\n"
          "[source.crypto]\n"
          "kind = twelvedata\n"
          "symbols = BTC/USD\n"
          "timeframes = H1\n"
          "calendar = crypto\n"
          "[source.off]\n"
          "kind = twelvedata\n"
          "enabled = false\n"
          "symbols = XAU/USD\n"
          "[webhook.bot1]\n"
          "url = http://127.0.0.1:1/a\n"
          "secret = whsec_eA==\n",
          fp);
    fclose(fp);
    if (settings_load(&settings, path, &rep)) {
        fprintf(stderr, "settings: %s\n", rep.text.buf);
        return -1;
    }
    config_report_release(&rep);
    free(path);
    cfg = settings_signal_config(&settings);
    return 0;
}

static int free_cfg(void **state)
{
    (void)state;
    settings_release(&settings);
    return 0;
}

static int parse(const char *body, struct signal *s, struct strbuf *err)
{
    return signal_parse_request(body, strlen(body), &cfg, NOW_MS, s, err);
}

static void test_valid_long_and_short(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct signal s;
    char buf[PRICE_BUFSZ];

    (void)state;
    assert_int_equal(parse("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\","
                           "\"entry\":\"2063.41\",\"stop_loss\":\"2050\",\"take_profit\":2090.5,"
                           "\"ttl\":\"4h\",\"note\":\"breakout\"}",
                           &s, &err),
                     0);
    assert_string_equal(s.source, "twelvedata"); /* the first enabled source listing it */
    assert_string_equal(s.symbol, "XAU/USD");
    assert_int_equal(s.tf, TF_M15);
    assert_int_equal(s.direction, SIGNAL_LONG);
    price_format(s.entry, buf);
    assert_string_equal(buf, "2063.41");
    price_format(s.take_profit, buf);
    assert_string_equal(buf, "2090.5");
    assert_int_equal(s.expires_ms, NOW_MS + 4 * 3600000LL);
    assert_int_equal(s.status, SIGNAL_ACTIVE);
    assert_string_equal(s.note, "breakout");
    assert_int_equal(strlen(s.request_hash), 64);
    signal_release(&s);

    assert_int_equal(parse("{\"source\":\"crypto\",\"symbol\":\"BTC/USD\",\"timeframe\":\"H1\","
                           "\"direction\":\"short\",\"entry\":42000,\"stop_loss\":43000.5,"
                           "\"take_profit\":0.00000001,\"expires_at\":\"2024-01-03T00:00:00Z\"}",
                           &s, &err),
                     0);
    assert_string_equal(s.source, "crypto");
    assert_int_equal(s.direction, SIGNAL_SHORT);
    assert_int_equal(s.take_profit, 1);
    assert_int_equal(s.expires_ms, 1704240000000LL);
    assert_string_equal(s.note, "");
    signal_release(&s);
    strbuf_release(&err);
}

/* JSON numbers are read from their text: no binary floating point on the way. */
static void test_numbers_exact(void **state)
{
    static const char *const literals[] = {
        "2063.41", "0.1", "92233720368.54775807", "12345678901.23456789", "1999.99999999", "7"};
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(literals); i++) {
        struct strbuf err = STRBUF_INIT, body = STRBUF_INIT;
        struct signal s;
        char buf[PRICE_BUFSZ];
        /* A short with a tiny take-profit and a huge stop keeps every literal as the entry. */
        strbuf_addf(&body,
                    "{ \"symbol\" : \"XAU/USD\", \"timeframe\": \"H1\", \"direction\": \"short\", "
                    "\"entry\" : %s , \"stop_loss\":\"92233720368.54775807\", "
                    "\"take_profit\": 0.00000001}",
                    literals[i]);
        if (i == 2) /* the largest price cannot be below the stop: make it the stop instead */
            strbuf_setf(&body,
                        "{\"symbol\":\"XAU/USD\",\"timeframe\":\"H1\",\"direction\":\"short\","
                        "\"entry\":\"1\",\"stop_loss\":%s,\"take_profit\":0.5}",
                        literals[i]);
        if (parse(body.buf, &s, &err))
            fail_msg("%s: %s", body.buf, err.buf);
        price_format(i == 2 ? s.stop_loss : s.entry, buf);
        assert_string_equal(buf, literals[i]);
        signal_release(&s);
        strbuf_release(&err);
        strbuf_release(&body);
    }
}

static void test_hash_is_canonical(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct signal a, b, c, d;

    (void)state;
    assert_int_equal(parse("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\","
                           "\"entry\":\"2063.41\",\"stop_loss\":\"2050\",\"take_profit\":\"2090\","
                           "\"ttl\":\"4h\"}",
                           &a, &err),
                     0);
    /* Other key order, white space, a number for a string, trailing zeros, the
     * default source spelled out, the same ttl in other units. */
    assert_int_equal(parse("{ \"take_profit\" : 2090.000, \"ttl\":\"240m\", \"stop_loss\":2050,"
                           " \"entry\":2063.410, \"direction\":\"long\", \"timeframe\":\"M15\","
                           " \"symbol\":\"XAU/USD\", \"source\":\"twelvedata\", \"note\": null}",
                           &b, &err),
                     0);
    assert_string_equal(a.request_hash, b.request_hash);
    /* A retry later is the same request (the ttl, not the expiry, is hashed). */
    assert_int_equal(signal_parse_request("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\","
                                          "\"direction\":\"long\",\"entry\":\"2063.41\","
                                          "\"stop_loss\":\"2050\",\"take_profit\":\"2090\","
                                          "\"ttl\":\"4h\"}",
                                          strlen("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\","
                                                 "\"direction\":\"long\",\"entry\":\"2063.41\","
                                                 "\"stop_loss\":\"2050\",\"take_profit\":\"2090\","
                                                 "\"ttl\":\"4h\"}"),
                                          &cfg, NOW_MS + 60000, &c, &err),
                     0);
    assert_string_equal(a.request_hash, c.request_hash);
    /* Another entry is another request. */
    assert_int_equal(parse("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\","
                           "\"entry\":\"2063.42\",\"stop_loss\":\"2050\",\"take_profit\":\"2090\","
                           "\"ttl\":\"4h\"}",
                           &d, &err),
                     0);
    assert_string_not_equal(a.request_hash, d.request_hash);
    signal_release(&a);
    signal_release(&b);
    signal_release(&c);
    signal_release(&d);
    strbuf_release(&err);
}

struct bad_case {
    const char *body;
    int rc;
    const char *needle; /* the message must contain it */
};

#define BASE_LONG                                                                                  \
    "\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\",\"entry\":\"2063.41\","   \
    "\"stop_loss\":\"2050\""

static void test_bad_requests(void **state)
{
    static const struct bad_case cases[] = {
        {"", CK_EPARSE, "invalid JSON at line 1"},
        {"{\"symbol\":", CK_EPARSE, "invalid JSON"},
        {"[1,2]", CK_EPARSE, "JSON object"},
        {"{\"symbol\":\"XAU/USD\",\"symbol\":\"X\"}", CK_EPARSE, "duplicate"},
        {"{}", CK_EINVAL, "symbol: missing"},
        {"{\"symbol\":\"XAU/USD\"}", CK_EINVAL, "timeframe: missing"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\"}", CK_EINVAL, "direction: missing"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\"}", CK_EINVAL,
         "entry: missing"},
        {"{" BASE_LONG "}", CK_EINVAL, "take_profit: missing"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"colour\":\"red\"}", CK_EINVAL,
         "colour: unknown field"},
        {"{\"symbol\":42}", CK_EINVAL, "symbol: must be a string, not a number"},
        {"{" BASE_LONG ",\"take_profit\":true}", CK_EINVAL,
         "take_profit: must be a decimal string or number, not a boolean"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"note\":7}", CK_EINVAL,
         "note: must be a string"},
        {"{" BASE_LONG ",\"take_profit\":null}", CK_EINVAL, "take_profit: must be"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M7\"}", CK_EINVAL, "timeframe: unknown"},
        {"{\"symbol\":\"DOGE/USD\",\"timeframe\":\"M15\"}", CK_EINVAL,
         "symbol: no enabled source lists 'DOGE/USD'"},
        {"{\"symbol\":\"BTC/USD\",\"timeframe\":\"M15\"}", CK_EINVAL,
         "timeframe: source 'crypto' does not keep M15"},
        {"{\"source\":\"nope\",\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\"}", CK_EINVAL,
         "source: no source 'nope'"},
        {"{\"source\":\"off\",\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\"}", CK_EINVAL,
         "source: source 'off' is disabled"},
        {"{\"source\":\"crypto\",\"symbol\":\"XAU/USD\",\"timeframe\":\"H1\"}", CK_EINVAL,
         "symbol: source 'crypto' does not list"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"buy\"}", CK_EINVAL,
         "direction: must be \"long\" or \"short\""},
        {"{" BASE_LONG ",\"take_profit\":\"abc\"}", CK_EINVAL, "take_profit: 'abc' is not"},
        {"{" BASE_LONG ",\"take_profit\":2.09e3}", CK_EINVAL, "take_profit: '2.09e3' is not"},
        {"{" BASE_LONG ",\"take_profit\":\"2090.123456789\"}", CK_EINVAL, "at most 8 decimals"},
        {"{" BASE_LONG ",\"take_profit\":\"99999999999999\"}", CK_EINVAL, "out of range"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\",\"entry\":\"0\"}",
         CK_EINVAL, "entry: must be greater than 0"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\",\"entry\":-5}",
         CK_EINVAL, "entry: must be greater than 0"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\",\"entry\":\"2063\","
         "\"stop_loss\":\"2070\",\"take_profit\":\"2090\"}",
         CK_EINVAL, "stop_loss: must be below entry for a long signal"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\",\"entry\":\"2063\","
         "\"stop_loss\":\"2050\",\"take_profit\":\"2063\"}",
         CK_EINVAL, "take_profit: must be above entry for a long signal"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"short\",\"entry\":\"2063\","
         "\"stop_loss\":\"2050\",\"take_profit\":\"2000\"}",
         CK_EINVAL, "stop_loss: must be above entry for a short signal"},
        {"{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"short\",\"entry\":\"2063\","
         "\"stop_loss\":\"2070\",\"take_profit\":\"2080\"}",
         CK_EINVAL, "take_profit: must be below entry for a short signal"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"expires_at\":\"2024-01-02T14:59:59Z\"}",
         CK_EINVAL, "expires_at: 2024-01-02T14:59:59Z is not in the future"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"expires_at\":\"tomorrow\"}", CK_EINVAL,
         "expires_at: 'tomorrow' is not an ISO 8601"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"ttl\":\"soon\"}", CK_EINVAL,
         "ttl: 'soon' is not a duration"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"ttl\":\"0s\"}", CK_EINVAL, "ttl: must be"},
        {"{" BASE_LONG ",\"take_profit\":\"2090\",\"ttl\":\"4h\",\"expires_at\":"
         "\"2025-01-01T00:00:00Z\"}",
         CK_EINVAL, "ttl: give expires_at or ttl, not both"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strbuf err = STRBUF_INIT;
        struct signal s;
        int rc = parse(cases[i].body, &s, &err);
        if (rc != cases[i].rc || !strstr(err.buf, cases[i].needle))
            fail_msg("case %zu %s: got %d '%s', want %d '%s'", i, cases[i].body, rc, err.buf,
                     cases[i].rc, cases[i].needle);
        /* Nothing is left allocated in `s` on failure. */
        assert_null(s.source);
        assert_null(s.request_hash);
        strbuf_release(&err);
    }
}

static void test_note_limit(void **state)
{
    struct strbuf err = STRBUF_INIT, body = STRBUF_INIT, note = STRBUF_INIT;
    struct signal s;

    (void)state;
    /* 500 two-byte characters are fine; 501 are not. */
    for (int i = 0; i < 500; i++)
        strbuf_addstr(&note, "\xc3\xa9");
    strbuf_addf(&body, "{" BASE_LONG ",\"take_profit\":\"2090\",\"note\":\"%s\"}", note.buf);
    assert_int_equal(parse(body.buf, &s, &err), 0);
    signal_release(&s);
    strbuf_reset(&body);
    strbuf_addf(&body, "{" BASE_LONG ",\"take_profit\":\"2090\",\"note\":\"%sx\"}", note.buf);
    assert_int_equal(parse(body.buf, &s, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "note: longer than 500 characters"));
    strbuf_release(&err);
    strbuf_release(&body);
    strbuf_release(&note);
}

/* The CLI's path: text fields, the same rules and the same hash. */
static void test_fields(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct signal a, b;
    struct signal_fields f = {.symbol = "XAU/USD",
                              .timeframe = "M15",
                              .direction = "long",
                              .entry = "2063.41",
                              .stop_loss = "2050",
                              .take_profit = "2090",
                              .ttl = "4h"};

    (void)state;
    assert_int_equal(signal_validate(&f, &cfg, NOW_MS, &a, &err), 0);
    assert_int_equal(parse("{\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\",\"direction\":\"long\","
                           "\"entry\":2063.41,\"stop_loss\":2050,\"take_profit\":2090,"
                           "\"ttl\":\"4h\"}",
                           &b, &err),
                     0);
    assert_string_equal(a.request_hash, b.request_hash);
    signal_release(&a);
    signal_release(&b);
    f.note = "\xff\xfe";
    assert_int_equal(signal_validate(&f, &cfg, NOW_MS, &a, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "note: is not valid UTF-8"));
    signal_release(&a);
    strbuf_reset(&err);

    assert_int_equal(signal_check_key("abc-123", "Idempotency-Key", &err), 0);
    assert_int_equal(signal_check_key("", "Idempotency-Key", &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "Idempotency-Key"));
    {
        char key[202];
        memset(key, 'k', 201);
        key[201] = '\0';
        assert_int_equal(signal_check_key(key, "--id", &err), CK_EINVAL);
        key[200] = '\0';
        assert_int_equal(signal_check_key(key, "--id", &err), 0);
    }
    strbuf_release(&err);
}

static void test_signal_json(void **state)
{
    struct signal s = {.id = "sig_01ABC",
                       .source = "twelvedata",
                       .symbol = "XAU/USD",
                       .tf = TF_H4,
                       .direction = SIGNAL_SHORT,
                       .entry = 206341000000LL,
                       .stop_loss = 1,
                       .take_profit = 100000000LL,
                       .created_ms = NOW_MS + 999,
                       .expires_ms = 0,
                       .status = SIGNAL_CANCELLED,
                       .note = "n",
                       .updated_ms = NOW_MS};
    json_t *j;
    char *text;

    (void)state;
    j = signal_json(&s);
    text = signal_dump_json(j, false, NULL);
    assert_string_equal(text, "{\"id\":\"sig_01ABC\",\"source\":\"twelvedata\",\"symbol\":\"XAU/"
                              "USD\",\"timeframe\":\"H4\",\"direction\":\"short\",\"entry\":"
                              "\"2063.41\",\"stop_loss\":\"0.00000001\",\"take_profit\":\"1\","
                              "\"status\":\"cancelled\",\"created_at\":\"2024-01-02T15:00:00Z\","
                              "\"expires_at\":null,\"updated_at\":\"2024-01-02T15:00:00Z\","
                              "\"note\":\"n\",\"idempotency_key\":null}\n");
    free(text);
    json_decref(j);
}

static void test_backtests(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct backtest b;
    const char *body = "{\"name\":\"macd\",\"params\":{\"fast\": 12,\"slow\":26},"
                       "\"metrics\":{\"sharpe\":1.42,\"pnl\":0.1,\"trades\":310}}";
    json_t *j;
    char *text;

    (void)state;
    assert_int_equal(backtest_parse_request(body, strlen(body), &b, &err), 0);
    assert_string_equal(b.name, "macd");
    /* Kept as sent. */
    assert_string_equal(b.params, "{\"fast\": 12,\"slow\":26}");
    assert_string_equal(b.metrics, "{\"sharpe\":1.42,\"pnl\":0.1,\"trades\":310}");
    b.id = 7;
    b.created_ms = NOW_MS;
    j = backtest_json(&b);
    text = signal_dump_json(j, false, NULL);
    /* Reals come back as written, not as 1.4199999999999999. */
    assert_string_equal(text, "{\"id\":7,\"name\":\"macd\",\"created_at\":\"2024-01-02T15:00:00Z\","
                              "\"params\":{\"fast\":12,\"slow\":26},\"metrics\":{\"sharpe\":1.42,"
                              "\"pnl\":0.1,\"trades\":310}}\n");
    free(text);
    json_decref(j);
    free(b.name);
    free(b.params);
    free(b.metrics);

    static const struct bad_case bad[] = {
        {"{\"name\":\"x\",\"params\":{},\"metrics\":{},\"extra\":1}", CK_EINVAL,
         "extra: unknown field"},
        {"{\"params\":{},\"metrics\":{}}", CK_EINVAL, "name: missing"},
        {"{\"name\":\"\",\"params\":{},\"metrics\":{}}", CK_EINVAL, "name: must be 1 to 200"},
        {"{\"name\":\"x\",\"params\":[1],\"metrics\":{}}", CK_EINVAL,
         "params: must be a JSON object, not an array"},
        {"{\"name\":\"x\",\"params\":{}}", CK_EINVAL, "metrics: missing"},
        {"{\"name\":\"x\",", CK_EPARSE, "invalid JSON"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int rc;
        strbuf_reset(&err);
        rc = backtest_parse_request(bad[i].body, strlen(bad[i].body), &b, &err);
        if (rc != bad[i].rc || !strstr(err.buf, bad[i].needle))
            fail_msg("case %zu: got %d '%s'", i, rc, err.buf);
    }

    strbuf_reset(&err);
    assert_int_equal(
        backtest_from_text("n", " {\"a\": 1.5} ", "{}", "--params", "--metrics", &b, &err), 0);
    assert_string_equal(b.params, "{\"a\": 1.5}");
    free(b.name);
    free(b.params);
    free(b.metrics);
    assert_int_equal(backtest_from_text("n", "{\"a\":", "{}", "--params", "--metrics", &b, &err),
                     CK_EINVAL);
    assert_non_null(strstr(err.buf, "--params: invalid JSON"));
    strbuf_reset(&err);
    assert_int_equal(backtest_from_text("n", "{}", "3", "--params", "--metrics", &b, &err),
                     CK_EINVAL);
    assert_non_null(strstr(err.buf, "--metrics"));
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_long_and_short), cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_hash_is_canonical),    cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_note_limit),           cmocka_unit_test(test_fields),
        cmocka_unit_test(test_signal_json),          cmocka_unit_test(test_backtests),
    };
    return cmocka_run_group_tests(tests, load_cfg, free_cfg);
}
