/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API against a real store and a real server on 127.0.0.1, driven
 * with libcurl: every endpoint, every error path, authorization, the
 * metrics exposition (checked by promtool) and health with the database
 * gone. The store is filled through store_put_candles under a source name
 * unique to this run, since the PostgreSQL variant shares its database.
 * The clock the API reads for ages is pinned with CANDLEKEEP_NOW.
 */
#include "testutil.h"

#include "alert/alert.h"
#include "api/api.h"
#include "ck/settings.h"
#include "market/price.h"
#include "resilience/breaker.h"
#include "resilience/ratelimit.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/sync.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN   "s3cret-token-for-tests"
#define NOW_ISO "2024-01-03T00:00:00Z"
#define T0      1704153600 /* 2024-01-02T00:00:00Z */
#define NXAU    12
#define NBTC    3
static char *store_url;
static char source_name[64];
static char *log_path;
static struct api *api_main; /* token, sched NULL */
static int port_main;
static CURL *curl_main;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond; /* monotonic: group_setup() */

static char *sym_list[] = {"XAU/USD", "BTC/USDT"};
static char *other_syms[] = {"EUR/USD"};
static struct source_settings sources[2];
static struct settings settings;
/* ---- HTTP client ---- */

struct resp {
    long status;
    struct strbuf body;
    struct strbuf headers;
    json_t *json;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    strbuf_add(arg, p, size * n);
    return size * n;
}

static void resp_release(struct resp *r)
{
    strbuf_release(&r->body);
    strbuf_release(&r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/*
 * `method` `path` on `port`; `auth` is a whole Authorization header value
 * or NULL; `body` a request body or NULL. Parses a JSON body when the
 * response says application/json.
 */
static void http_on(CURL *c, int port, const char *method, const char *path, const char *auth,
                    const char *body, struct resp *r)
{
    struct curl_slist *hdrs = NULL;
    struct strbuf url = STRBUF_INIT, h = STRBUF_INIT;
    CURLcode cc;

    memset(r, 0, sizeof(*r));
    strbuf_init(&r->body, 0);
    strbuf_init(&r->headers, 0);
    curl_easy_reset(c);
    strbuf_addf(&url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url.buf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET"))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (auth) {
        strbuf_addf(&h, "Authorization: %s", auth);
        hdrs = curl_slist_append(hdrs, h.buf);
    }
    hdrs =
        curl_slist_append(hdrs, body && strlen(body) > 65536 ? "Expect: 100-continue" : "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body.len && strcasestr(r->headers.buf, "content-type: application/json")) {
        json_error_t je;
        r->json = json_loadb(r->body.buf, r->body.len, 0, &je);
        if (!r->json)
            fail_msg("%s %s: response is not JSON (%s): %s", method, path, je.text, r->body.buf);
    }
    curl_slist_free_all(hdrs);
    strbuf_release(&url);
    strbuf_release(&h);
}

static void http(const char *method, const char *path, const char *auth, struct resp *r)
{
    http_on(curl_main, port_main, method, path, auth, NULL, r);
}

static void get(const char *path, struct resp *r)
{
    http("GET", path, NULL, r);
}

/* Path with the run's source name: fmt has one %s for it. */
static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    return strbuf_detach(&sb, NULL);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("'%s' is not a string in %s", key, json_dumps(o, JSON_COMPACT));
    return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

/* The error message of an error response, checking its shape. */
static const char *error_of(struct resp *r)
{
    assert_non_null(r->json);
    return jstr(r->json, "error");
}

static void assert_error(struct resp *r, long status, const char *needle)
{
    if (r->status != status)
        fail_msg("expected %ld, got %ld: %s", status, r->status, r->body.buf);
    const char *e = error_of(r);
    if (needle && !strstr(e, needle))
        fail_msg("error '%s' does not mention '%s'", e, needle);
}

/* ---- fixtures ---- */

static int64_t price(const char *s)
{
    int64_t v;
    if (price_parse(s, strlen(s), &v))
        fail_msg("bad price '%s'", s);
    return v;
}

static void fill_store(void)
{
    struct strbuf err = STRBUF_INIT;
    struct candle xau[NXAU], btc[NBTC];
    struct store *st;
    struct series_key kx = {.source = source_name, .symbol = "XAU/USD", .tf = TF_M15};
    struct series_key kb = {.source = source_name, .symbol = "BTC/USDT", .tf = TF_M15};
    struct gap_range found = {.first = T0 + 13 * 900, .last = T0 + 15 * 900, .count = 3};
    struct gap_sync_result res;

    for (int i = 0; i < NXAU; i++) {
        xau[i] = (struct candle){.open_time = T0 + i * 900,
                                 .open = price("2063.41") + i * PRICE_SCALE,
                                 .high = price("2063.91") + i * PRICE_SCALE,
                                 .low = price("2062.82") + i * PRICE_SCALE,
                                 .close = price("2063.48") + i * PRICE_SCALE};
    }
    for (int i = 0; i < NBTC; i++) {
        btc[i] = (struct candle){.open_time = T0 + i * 900,
                                 .open = price("42000.5"),
                                 .high = price("42100"),
                                 .low = price("41999.99999999"),
                                 .close = price("42050.25"),
                                 .volume = price("12.5"),
                                 .has_volume = true};
    }
    if (store_open(&st, store_url, &err))
        fail_msg("store_open: %s", err.buf);
    if (store_put_candles(st, &kx, xau, NXAU, &err) || store_put_candles(st, &kb, btc, NBTC, &err))
        fail_msg("store_put_candles: %s", err.buf);
    if (store_sync_gaps(st, &kx, T0, T0 + 20 * 900, &found, 1, "provider had no data",
                        T0 + 6 * 3600, &res, &err))
        fail_msg("store_sync_gaps: %s", err.buf);
    store_close(st);
    strbuf_release(&err);
}

static int group_setup(void **state)
{
    struct strbuf err = STRBUF_INIT;
    (void)state;
    cond_init_monotonic(&gate_cond);

    setenv("CANDLEKEEP_NOW", NOW_ISO, 1);
    log_path = test_tmpfile(".log");
    if (log_setup(LOG_DEBUG, LOG_FORMAT_LOGFMT, log_path, &err))
        fail_msg("log_setup: %s", err.buf);
    curl_global_init(CURL_GLOBAL_ALL);
    curl_main = curl_easy_init();

    store_url = test_store_url();
    snprintf(source_name, sizeof(source_name), "apitest%ld%d", (long)time(NULL), (int)getpid());
    sources[0] = (struct source_settings){.name = "disabled",
                                          .kind = "twelvedata",
                                          .enabled = false,
                                          .symbols = other_syms,
                                          .nsymbols = 1};
    sources[1] = (struct source_settings){.name = source_name,
                                          .kind = "twelvedata",
                                          .enabled = true,
                                          .symbols = sym_list,
                                          .nsymbols = 2,
                                          .timeframes = {TF_M15, TF_H4},
                                          .ntimeframes = 2};
    settings.sources = sources;
    settings.nsources = 2;
    fill_store();

    struct api_config cfg = {.listen = "127.0.0.1:0",
                             .token = TOKEN,
                             .store_url = store_url,
                             .instance = "test-instance",
                             .settings = &settings,
                             .started_ms = 1};
    if (api_start(&api_main, &cfg, &err))
        fail_msg("api_start: %s", err.buf);
    port_main = api_port(api_main);
    assert_true(port_main > 0);
    strbuf_release(&err);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    api_stop(api_main);
    curl_easy_cleanup(curl_main);
    curl_global_cleanup();
    log_shutdown();
    free(store_url);
    free(log_path);
    return 0;
}

/* ---- candles ---- */

static void test_candles_exact_newest_first(void **state)
{
    struct resp r;
    char *p = pathf("/candles/M15?symbol=XAU/USD&source=%s&limit=3", source_name);
    (void)state;
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "source"), source_name);
    assert_string_equal(jstr(r.json, "symbol"), "XAU/USD");
    assert_string_equal(jstr(r.json, "timeframe"), "M15");
    assert_int_equal(jint(r.json, "count"), 3);
    json_t *c = json_object_get(r.json, "candles");
    assert_int_equal(json_array_size(c), 3);
    /* Newest first, prices exactly as stored, volume null, the fixed key order. */
    struct strbuf want = STRBUF_INIT;
    strbuf_addf(&want,
                "{\"source\":\"%s\",\"symbol\":\"XAU/USD\",\"timeframe\":\"M15\","
                "\"time\":\"2024-01-02T02:45:00Z\",\"open\":\"2074.41\",\"high\":\"2074.91\","
                "\"low\":\"2073.82\",\"close\":\"2074.48\",\"volume\":null}",
                source_name);
    assert_non_null(strstr(r.body.buf, want.buf));
    assert_string_equal(jstr(json_array_get(c, 1), "time"), "2024-01-02T02:30:00Z");
    assert_string_equal(jstr(json_array_get(c, 2), "time"), "2024-01-02T02:15:00Z");
    assert_true(json_is_null(json_object_get(json_array_get(c, 2), "volume")));
    assert_non_null(strcasestr(r.headers.buf, "content-type: application/json"));
    strbuf_release(&want);
    resp_release(&r);
    free(p);
}

static void test_candles_defaults_and_volume(void **state)
{
    struct resp r;
    (void)state;
    /* No symbol, no source: the first symbol of the first enabled source. */
    get("/candles/M15", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "source"), source_name);
    assert_string_equal(jstr(r.json, "symbol"), "XAU/USD");
    assert_int_equal(jint(r.json, "count"), NXAU);
    json_t *oldest = json_array_get(json_object_get(r.json, "candles"), NXAU - 1);
    assert_string_equal(jstr(oldest, "time"), "2024-01-02T00:00:00Z");
    assert_string_equal(jstr(oldest, "open"), "2063.41");
    resp_release(&r);

    /* A symbol alone finds the source listing it; volume as an exact string. */
    get("/candles/m15?symbol=BTC%2FUSDT", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "source"), source_name);
    assert_string_equal(jstr(r.json, "timeframe"), "M15");
    assert_int_equal(jint(r.json, "count"), NBTC);
    json_t *c0 = json_array_get(json_object_get(r.json, "candles"), 0);
    assert_string_equal(jstr(c0, "volume"), "12.5");
    assert_string_equal(jstr(c0, "low"), "41999.99999999");
    assert_string_equal(jstr(c0, "high"), "42100");
    resp_release(&r);

    /* A series with no candles is an empty list, not an error. */
    char *p = pathf("/candles/H4?source=%s", source_name);
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "candles")), 0);
    resp_release(&r);
    free(p);
}

static void test_candles_limit_bounds(void **state)
{
    struct resp r;
    (void)state;
    get("/candles/M15?limit=0", &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);
    get("/candles/M15?limit=5001", &r);
    assert_error(&r, 400, "1 to 5000");
    resp_release(&r);
    get("/candles/M15?limit=ten", &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);
    get("/candles/M15?limit=-1", &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);
    get("/candles/M15?limit=5000", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), NXAU);
    resp_release(&r);
    get("/candles/M15?limit=1", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 1);
    resp_release(&r);
}

static void test_candles_bad_timeframe(void **state)
{
    struct resp r;
    (void)state;
    get("/candles/M7", &r);
    assert_error(&r, 400, "'M7'");
    assert_non_null(strstr(error_of(&r), "M1 M5 M15 M30 H1 H4 D1 W1"));
    resp_release(&r);
    /* Input echoed in errors is made printable and bounded. */
    get("/candles/%C3%A9%0Aevil", &r);
    assert_error(&r, 400, "timeframe");
    assert_null(strchr(error_of(&r), '\n'));
    resp_release(&r);
}

static void test_candles_time_range(void **state)
{
    struct resp r;
    (void)state;
    get("/candles/M15?start=2024-01-02T01:00:00Z&end=2024-01-02T01:30:00Z", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 3);
    json_t *c = json_object_get(r.json, "candles");
    assert_string_equal(jstr(json_array_get(c, 0), "time"), "2024-01-02T01:30:00Z");
    assert_string_equal(jstr(json_array_get(c, 2), "time"), "2024-01-02T01:00:00Z");
    resp_release(&r);
    /* A date is its midnight. */
    get("/candles/M15?end=2024-01-02", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 1);
    resp_release(&r);
    get("/candles/M15?start=2024-01-02T02:00:00%2B00:00", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 4);
    resp_release(&r);

    get("/candles/M15?start=yesterday", &r);
    assert_error(&r, 400, "'start'");
    assert_non_null(strstr(error_of(&r), "yesterday"));
    resp_release(&r);
    get("/candles/M15?end=2024-13-01", &r);
    assert_error(&r, 400, "'end'");
    resp_release(&r);
    get("/candles/M15?start=2024-01-03&end=2024-01-02", &r);
    assert_error(&r, 400, "'start' is after parameter 'end'");
    resp_release(&r);
}

static void test_candles_unknown_symbol(void **state)
{
    struct resp r;
    (void)state;
    get("/candles/M15?symbol=NOPE/USD", &r);
    assert_error(&r, 404, "'NOPE/USD'");
    assert_non_null(json_object_get(r.json, "detail"));
    resp_release(&r);
    /* A disabled source still serves what it stored (here: nothing). */
    get("/candles/M15?symbol=EUR/USD", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "source"), "disabled");
    assert_int_equal(jint(r.json, "count"), 0);
    resp_release(&r);
    /* With both given, any stored series can be read (this one has nothing). */
    get("/candles/M15?symbol=NOPE/USD&source=elsewhere", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 0);
    resp_release(&r);
    get("/candles/M15?symbol=", &r);
    assert_error(&r, 400, "'symbol'");
    resp_release(&r);
    get("/candles/M15?symbol=%FF%FE", &r);
    assert_error(&r, 400, "UTF-8");
    resp_release(&r);
}

static void put_one(const char *symbol, int64_t t, const char *close)
{
    struct strbuf err = STRBUF_INIT;
    struct series_key k = {.source = source_name, .symbol = symbol, .tf = TF_M15};
    struct candle c = {.open_time = t,
                       .open = price("100"),
                       .high = price("200"),
                       .low = price("50"),
                       .close = price(close)};
    struct store *st;
    if (store_open(&st, store_url, &err) || store_put_candles(st, &k, &c, 1, &err))
        fail_msg("store: %s", err.buf);
    store_close(st);
    strbuf_release(&err);
}

/* Bodies are memoised per server thread; they must follow every change of the data. */
static void test_candles_follow_changes(void **state)
{
    struct resp r1, r2;
    char *p = pathf("/candles/M15?symbol=MEMO/TEST&source=%s&limit=2", source_name);
    (void)state;
    put_one("MEMO/TEST", T0, "150");
    put_one("MEMO/TEST", T0 + 900, "151");
    /* Enough requests that every server thread has answered (and memoised) it. */
    for (int i = 0; i < 8; i++) {
        get(p, &r1);
        assert_int_equal(r1.status, 200);
        resp_release(&r1);
    }
    get(p, &r1);
    get(p, &r2);
    assert_string_equal(r1.body.buf, r2.body.buf);
    assert_string_equal(jstr(json_array_get(json_object_get(r1.json, "candles"), 0), "close"),
                        "151");
    resp_release(&r1);
    resp_release(&r2);

    /* A corrected candle replaces the old values in the very next answer. */
    put_one("MEMO/TEST", T0 + 900, "151.25");
    for (int i = 0; i < 4; i++) {
        get(p, &r1);
        json_t *c = json_object_get(r1.json, "candles");
        assert_string_equal(jstr(json_array_get(c, 0), "close"), "151.25");
        assert_string_equal(jstr(json_array_get(c, 1), "close"), "150");
        resp_release(&r1);
    }
    /* A new candle comes first. */
    put_one("MEMO/TEST", T0 + 1800, "152");
    for (int i = 0; i < 4; i++) {
        get(p, &r1);
        json_t *c = json_object_get(r1.json, "candles");
        assert_string_equal(jstr(json_array_get(c, 0), "time"), "2024-01-02T00:30:00Z");
        assert_string_equal(jstr(json_array_get(c, 1), "close"), "151.25");
        resp_release(&r1);
    }
    free(p);
}

static void test_gaps(void **state)
{
    struct resp r;
    char *p = pathf("/candles/M15/gaps?symbol=XAU/USD&source=%s", source_name);
    (void)state;
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 1);
    assert_int_equal(jint(r.json, "days"), 7);
    json_t *g = json_array_get(json_object_get(r.json, "gaps"), 0);
    assert_true(jint(g, "id") > 0);
    assert_string_equal(jstr(g, "first"), "2024-01-02T03:15:00Z");
    assert_string_equal(jstr(g, "last"), "2024-01-02T03:45:00Z");
    assert_int_equal(jint(g, "count"), 3);
    assert_string_equal(jstr(g, "state"), "open");
    assert_string_equal(jstr(g, "reason"), "provider had no data");
    assert_string_equal(jstr(g, "first_seen"), "2024-01-02T06:00:00Z");
    assert_string_equal(jstr(g, "last_checked"), "2024-01-02T06:00:00Z");
    resp_release(&r);
    free(p);

    /* Filters: a state with none, a window that ends before the gap. */
    p = pathf("/candles/M15/gaps?source=%s&state=filled", source_name);
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 0);
    resp_release(&r);
    free(p);
    get("/candles/M15/gaps?days=0", &r);
    assert_error(&r, 400, "'days'");
    resp_release(&r);
    get("/candles/M15/gaps?state=closed", &r);
    assert_error(&r, 400, "'state'");
    resp_release(&r);
    get("/candles/X1/gaps", &r);
    assert_error(&r, 400, "valid timeframes");
    resp_release(&r);
}

/* ---- routing ---- */

static void test_not_found_and_method(void **state)
{
    struct resp r;
    (void)state;
    get("/nothing/here", &r);
    assert_error(&r, 404, "'/nothing/here'");
    resp_release(&r);
    get("/candles", &r);
    assert_int_equal(r.status, 404);
    resp_release(&r);
    get("/jobs/x/run/more", &r);
    assert_int_equal(r.status, 404);
    resp_release(&r);

    http("POST", "/candles/M15", TOKEN, &r);
    assert_error(&r, 405, "POST");
    assert_non_null(strcasestr(r.headers.buf, "\nAllow: GET, HEAD\r\n"));
    resp_release(&r);
    http("DELETE", "/health", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers.buf, "\nAllow: GET, HEAD\r\n"));
    resp_release(&r);
    get("/jobs/some_job/run", &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers.buf, "\nAllow: POST\r\n"));
    resp_release(&r);

    http("HEAD", "/candles/M15", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    resp_release(&r);
}

static void test_body_too_large(void **state)
{
    struct resp r;
    size_t n = 100 * 1024;
    char *big = xmalloc(n + 1);
    (void)state;
    memset(big, 'x', n);
    big[n] = '\0';
    http_on(curl_main, port_main, "POST", "/jobs/some_job/pause", "Bearer " TOKEN, big, &r);
    assert_error(&r, 413, "larger than");
    resp_release(&r);
    /* A small body is read and ignored. */
    http_on(curl_main, port_main, "POST", "/jobs/some_job/run", "Bearer " TOKEN, "{}", &r);
    assert_error(&r, 503, "scheduler not running");
    resp_release(&r);
    free(big);
}

/* ---- authorization ---- */

static void test_auth_token(void **state)
{
    struct resp r;
    (void)state;
    http("POST", "/jobs/some_job/run", NULL, &r);
    assert_error(&r, 401, "Bearer");
    assert_non_null(strcasestr(r.headers.buf, "\nWWW-Authenticate: Bearer realm=\"candlekeep\""));
    resp_release(&r);
    http("POST", "/jobs/some_job/pause", "Bearer wrong-token", &r);
    assert_error(&r, 401, "invalid bearer token");
    assert_non_null(strcasestr(r.headers.buf, "error=\"invalid_token\""));
    assert_null(strstr(r.body.buf, "wrong-token"));
    resp_release(&r);
    /* A prefix or an extension of the token is wrong too. */
    http("POST", "/jobs/some_job/pause", "Bearer s3cret-token", &r);
    assert_int_equal(r.status, 401);
    resp_release(&r);
    http("POST", "/jobs/some_job/pause", "Bearer " TOKEN "x", &r);
    assert_int_equal(r.status, 401);
    resp_release(&r);
    http("POST", "/jobs/some_job/resume", "Basic dXNlcjpwYXNz", &r);
    assert_int_equal(r.status, 401);
    resp_release(&r);
    /* The right token passes authorization; without a scheduler, run is 503. */
    http("POST", "/jobs/some_job/run", "Bearer " TOKEN, &r);
    assert_error(&r, 503, "scheduler not running");
    resp_release(&r);
    http("POST", "/jobs/some_job/run", "bearer  " TOKEN " ", &r);
    assert_int_equal(r.status, 503);
    resp_release(&r);
    /* Reads need no token. */
    get("/jobs", &r);
    assert_int_equal(r.status, 200);
    resp_release(&r);
}

static void test_listen_is_loopback(void **state)
{
    (void)state;
    assert_true(api_listen_is_loopback("127.0.0.1:8080"));
    assert_true(api_listen_is_loopback("127.1.2.3:0"));
    assert_true(api_listen_is_loopback("[::1]:8080"));
    assert_true(api_listen_is_loopback("[::ffff:127.0.0.1]:8080"));
    assert_false(api_listen_is_loopback("0.0.0.0:8080"));
    assert_false(api_listen_is_loopback("[::]:8080"));
    assert_false(api_listen_is_loopback("192.168.1.10:8080"));
    assert_false(api_listen_is_loopback("10.0.0.1:80"));
    assert_false(api_listen_is_loopback("127.0.0.1"));
    assert_false(api_listen_is_loopback("127.0.0.1:99999"));
    assert_false(api_listen_is_loopback("::1:8080"));
    assert_false(api_listen_is_loopback(":8080"));
    assert_false(api_listen_is_loopback(""));
}

static void test_no_token_loopback_and_wildcard(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct api *lo, *any;
    struct resp r;
    CURL *c = curl_easy_init();
    (void)state;

    struct api_config cfg = {.listen = "127.0.0.1:0", .store_url = store_url};
    if (api_start(&lo, &cfg, &err))
        fail_msg("api_start: %s", err.buf);
    /* Loopback without a token: mutations allowed (here: 503 for want of a scheduler). */
    http_on(c, api_port(lo), "POST", "/jobs/some_job/run", NULL, NULL, &r);
    assert_error(&r, 503, "scheduler not running");
    resp_release(&r);
    api_stop(lo);

    cfg.listen = "0.0.0.0:0";
    cfg.token = "";
    if (api_start(&any, &cfg, &err))
        fail_msg("api_start on 0.0.0.0: %s", err.buf);
    http_on(c, api_port(any), "POST", "/jobs/some_job/run", NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_of(&r), "mutating endpoints are disabled: set api.token "
                                      "(CANDLEKEEP_API_TOKEN) or listen on loopback");
    resp_release(&r);
    /* A token sent anyway changes nothing: none is configured. */
    http_on(c, api_port(any), "POST", "/jobs/some_job/pause", "Bearer x", NULL, &r);
    assert_int_equal(r.status, 403);
    resp_release(&r);
    /* Reads still work. */
    http_on(c, api_port(any), "GET", "/candles/M15?symbol=XAU/USD&source=x", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    api_stop(any);
    curl_easy_cleanup(c);
    strbuf_release(&err);
}

static void test_bad_listen(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct api *a = NULL;
    (void)state;
    struct api_config cfg = {.listen = "127.0.0.1:http", .store_url = store_url};
    assert_int_equal(api_start(&a, &cfg, &err), CK_ECONFIG);
    assert_null(a);
    assert_non_null(strstr(err.buf, "'127.0.0.1:http'"));
    strbuf_reset(&err);
    /* The port the main server holds is taken. */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port_main);
    cfg.listen = listen;
    assert_int_not_equal(api_start(&a, &cfg, &err), 0);
    assert_null(a);
    assert_non_null(strstr(err.buf, listen));
    strbuf_release(&err);
}

/* ---- jobs (database rows only; no scheduler) ---- */

static void make_job_history(const char *job_id)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    int64_t streak;
    if (store_open(&st, store_url, &err))
        fail_msg("store_open: %s", err.buf);
    for (int i = 0; i < 3; i++) {
        struct job_run run = {.job_id = (char *)job_id,
                              .instance = "inst-1",
                              .scheduled = T0 + i * 900 + 60,
                              .started = (int64_t)(T0 + i * 900 + 60) * 1000 + 5,
                              .status = JOB_RUNNING,
                              .message = "",
                              .details = "{}"};
        if (store_job_run_insert(st, &run, &err))
            fail_msg("store_job_run_insert: %s", err.buf);
        run.status = i == 2 ? JOB_FAILED : JOB_OK;
        run.finished = run.started + 1500 + i;
        run.message = i == 2 ? "fetch failed: HTTP 500" : "stored 4 candles";
        run.details = i == 2 ? "not json" : "{\"fetched\":4,\"stored\":4}";
        if (store_job_run_finish(st, &run, &streak, &err))
            fail_msg("store_job_run_finish: %s", err.buf);
    }
    store_close(st);
    strbuf_release(&err);
}

static void test_jobs_from_database(void **state)
{
    struct resp r;
    char job_id[96];
    (void)state;
    snprintf(job_id, sizeof(job_id), "refresh_%s", source_name);
    make_job_history(job_id);

    get("/jobs", &r);
    assert_int_equal(r.status, 200);
    json_t *found = NULL, *arr = json_object_get(r.json, "jobs");
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(jstr(json_array_get(arr, i), "id"), job_id))
            found = json_array_get(arr, i);
    assert_non_null(found);
    assert_false(json_is_true(json_object_get(found, "scheduled")));
    assert_false(json_is_true(json_object_get(found, "paused")));
    assert_int_equal(jint(found, "streak"), 1);
    assert_true(json_is_null(json_object_get(found, "next_run")));
    json_t *last = json_object_get(found, "last_run");
    assert_string_equal(jstr(last, "status"), "failed");
    resp_release(&r);

    char *p = pathf("/jobs/%s", job_id);
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "id"), job_id);
    assert_int_equal(jint(r.json, "streak"), 1);
    assert_string_equal(jstr(r.json, "last_fire"), "2024-01-02T00:31:00Z");
    last = json_object_get(r.json, "last_run");
    assert_string_equal(jstr(last, "message"), "fetch failed: HTTP 500");
    /* details that are not a JSON object are shown as text. */
    assert_string_equal(jstr(json_object_get(last, "details"), "text"), "not json");
    resp_release(&r);
    free(p);

    p = pathf("/jobs/%s/runs?limit=2", job_id);
    get(p, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 2);
    json_t *runs = json_object_get(r.json, "runs");
    json_t *r0 = json_array_get(runs, 0), *r1 = json_array_get(runs, 1);
    assert_string_equal(jstr(r0, "status"), "failed");
    assert_string_equal(jstr(r1, "status"), "ok");
    assert_string_equal(jstr(r1, "scheduled"), "2024-01-02T00:16:00Z");
    assert_string_equal(jstr(r1, "started"), "2024-01-02T00:16:00Z");
    assert_string_equal(jstr(r1, "finished"), "2024-01-02T00:16:01Z");
    assert_int_equal(jint(r1, "duration_ms"), 1501);
    assert_string_equal(jstr(r1, "instance"), "inst-1");
    assert_int_equal(jint(json_object_get(r1, "details"), "stored"), 4);
    resp_release(&r);
    free(p);

    p = pathf("/jobs/%s/runs", job_id);
    get(p, &r);
    assert_int_equal(jint(r.json, "count"), 3);
    resp_release(&r);
    free(p);
    p = pathf("/jobs/%s/runs?limit=0", job_id);
    get(p, &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);
    free(p);
    p = pathf("/jobs/%s/runs?limit=1001", job_id);
    get(p, &r);
    assert_error(&r, 400, "1 to 1000");
    resp_release(&r);
    free(p);

    get("/jobs/no_such_job_here", &r);
    assert_error(&r, 404, "'no_such_job_here'");
    resp_release(&r);
    get("/jobs/no_such_job_here/runs", &r);
    assert_int_equal(r.status, 404);
    resp_release(&r);
    get("/jobs/bad%20id", &r);
    assert_int_equal(r.status, 404);
    resp_release(&r);
}

static void test_pause_resume(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct job_state js;
    struct store *st;
    struct resp r;
    char job_id[96];
    (void)state;
    snprintf(job_id, sizeof(job_id), "pausable_%s", source_name);
    if (store_open(&st, store_url, &err) || store_job_ensure(st, job_id, T0, &err))
        fail_msg("store: %s", err.buf);

    char *p = pathf("/jobs/%s/pause", job_id);
    http("POST", p, "Bearer " TOKEN, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "id"), job_id);
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    resp_release(&r);
    free(p);
    /* It is in the database, where the scheduler and the CLI read it. */
    assert_int_equal(store_job_get(st, job_id, &js, &err), 0);
    assert_true(js.paused);
    job_state_release(&js);

    p = pathf("/jobs/%s", job_id);
    get(p, &r);
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    resp_release(&r);
    free(p);

    p = pathf("/jobs/%s/resume", job_id);
    http("POST", p, "Bearer " TOKEN, &r);
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "paused")));
    resp_release(&r);
    free(p);
    assert_int_equal(store_job_get(st, job_id, &js, &err), 0);
    assert_false(js.paused);
    job_state_release(&js);

    http("POST", "/jobs/never_heard_of_it/pause", "Bearer " TOKEN, &r);
    assert_error(&r, 404, "'never_heard_of_it'");
    resp_release(&r);
    /* Nothing was created for the unknown job. */
    assert_int_equal(store_job_get(st, "never_heard_of_it", &js, &err), CK_ENOTFOUND);
    job_state_release(&js);
    store_close(st);
    strbuf_release(&err);
}

/* ---- with a running scheduler ---- */

static bool gate_open;
static int gate_started;

/* A job body that holds its worker until the test opens the gate. */
static int gated_job(struct job_ctx *ctx, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    gate_started++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open && !job_should_stop(ctx)) {
        struct timespec ts = mono_deadline(50);
        pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
    }
    pthread_mutex_unlock(&gate_lock);
    strbuf_addstr(&ctx->message, "gated job done");
    strbuf_addstr(&ctx->details, "{\"fetched\": 7}");
    return 0;
}

/* The object of array `arr` whose string `key` is `value`, or NULL. */
static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(jstr(json_array_get(arr, i), key), value))
            return json_array_get(arr, i);
    return NULL;
}

static void test_with_scheduler(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct sched *s;
    struct api *a;
    struct resp r;
    char job_id[96], *p;
    CURL *c = curl_easy_init();
    int64_t started = (int64_t)time(NULL), next_run;
    int port;
    (void)state;

    snprintf(job_id, sizeof(job_id), "gated_%s", source_name);
    struct sched_config scfg = {
        .store_url = store_url, .instance = "sched-test", .workers = 2, .history_keep = 86400};
    struct sched_job_def def = {
        .id = job_id, .name = "API test job", .cron = "0 0 1 1 *", .timeout = 60, .fn = gated_job};
    s = sched_new(&scfg, &err);
    if (!s || sched_add_job(s, &def, &err) || sched_start(s, &err))
        fail_msg("sched: %s", err.buf);
    struct api_config cfg = {.listen = "127.0.0.1:0",
                             .token = TOKEN,
                             .store_url = store_url,
                             .instance = "sched-test",
                             .settings = &settings,
                             .sched = s,
                             .started_ms = time_wall_ms()};
    if (api_start(&a, &cfg, &err))
        fail_msg("api_start: %s", err.buf);
    port = api_port(a);

    http_on(c, port, "GET", "/jobs", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = find_by(json_object_get(r.json, "jobs"), "id", job_id);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "scheduled")));
    assert_string_equal(jstr(j, "name"), "API test job");
    assert_string_equal(jstr(j, "schedule"), "0 0 1 1 *");
    /* The next 1 January at midnight, known as soon as sched_start() returned. */
    assert_non_null(strstr(jstr(j, "next_run"), "-01-01T00:00:00Z"));
    assert_int_equal(time_parse(jstr(j, "next_run"), &next_run), 0);
    assert_true(next_run > started);
    assert_true(next_run <= (int64_t)time(NULL) + 366 * 86400);
    assert_false(json_is_true(json_object_get(j, "running")));
    assert_false(json_is_true(json_object_get(j, "overdue")));
    assert_int_equal(jint(j, "timeout_seconds"), 60);
    resp_release(&r);

    http_on(c, port, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "scheduler"), "running")));
    assert_non_null(
        find_by(json_object_get(json_object_get(r.json, "jobs"), "list"), "id", job_id));
    resp_release(&r);

    /* Run it now: accepted; while it runs a second request conflicts. */
    p = pathf("/jobs/%s/run", job_id);
    http_on(c, port, "POST", p, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    resp_release(&r);
    http_on(c, port, "POST", p, "Bearer " TOKEN, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(jstr(r.json, "status"), "queued");
    resp_release(&r);
    pthread_mutex_lock(&gate_lock);
    while (gate_started == 0)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    http_on(c, port, "POST", p, "Bearer " TOKEN, NULL, &r);
    assert_error(&r, 409, "already running");
    resp_release(&r);
    free(p);

    p = pathf("/jobs/%s", job_id);
    http_on(c, port, "GET", p, NULL, NULL, &r);
    assert_true(json_is_true(json_object_get(r.json, "running")));
    assert_true(json_is_string(json_object_get(r.json, "running_since")));
    resp_release(&r);
    free(p);

    http_on(c, port, "POST", "/jobs/no_such_job/run", "Bearer " TOKEN, NULL, &r);
    assert_error(&r, 404, "'no_such_job'");
    resp_release(&r);

    /* Let it finish; its run shows up in the history. */
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    p = pathf("/jobs/%s/runs", job_id);
    json_t *run = NULL;
    for (int i = 0; i < 200 && !run; i++) {
        http_on(c, port, "GET", p, NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        json_t *r0 = json_array_get(json_object_get(r.json, "runs"), 0);
        if (r0 && !strcmp(jstr(r0, "status"), "ok"))
            run = json_incref(r0);
        resp_release(&r);
        if (!run)
            usleep(50 * 1000);
    }
    free(p);
    assert_non_null(run);
    assert_string_equal(jstr(run, "message"), "gated job done");
    assert_int_equal(jint(json_object_get(run, "details"), "fetched"), 7);
    assert_string_equal(jstr(run, "instance"), "sched-test");
    assert_true(jint(run, "duration_ms") >= 0);
    json_decref(run);

    /* A stopped scheduler: health is unavailable and runs are refused. */
    sched_stop(s, 1000);
    http_on(c, port, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_false(json_is_true(json_object_get(json_object_get(r.json, "scheduler"), "running")));
    resp_release(&r);
    p = pathf("/jobs/%s/run", job_id);
    http_on(c, port, "POST", p, "Bearer " TOKEN, NULL, &r);
    assert_error(&r, 503, "scheduler not running");
    resp_release(&r);
    free(p);

    api_stop(a);
    sched_free(s);
    curl_easy_cleanup(c);
    strbuf_release(&err);
}

/* ---- health and metrics ---- */

static json_t *find_series(json_t *arr, const char *symbol)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *s = json_array_get(arr, i);
        if (!strcmp(jstr(s, "source"), source_name) && !strcmp(jstr(s, "symbol"), symbol))
            return s;
    }
    return NULL;
}

static void test_health_without_scheduler(void **state)
{
    struct resp r;
    (void)state;
    get("/health", &r);
    /* The database is fine but no scheduler runs: unavailable. */
    assert_int_equal(r.status, 503);
    assert_string_equal(jstr(r.json, "status"), "unavailable");
    assert_string_equal(jstr(r.json, "version"), CK_VERSION);
    assert_string_equal(jstr(r.json, "instance"), "test-instance");
    assert_true(jint(r.json, "uptime_seconds") > 1000000);
    json_t *db = json_object_get(r.json, "database");
    assert_true(json_is_true(json_object_get(db, "reachable")));
    const char *backend = jstr(db, "backend");
    assert_string_equal(backend, strncmp(store_url, "postgres", 8) ? "sqlite" : "postgresql");
    assert_false(json_is_true(json_object_get(json_object_get(r.json, "scheduler"), "running")));
    json_t *jobs = json_object_get(r.json, "jobs");
    assert_true(json_is_array(json_object_get(jobs, "list")));
    assert_int_equal(jint(jobs, "count"), json_array_size(json_object_get(jobs, "list")));
    json_t *s = find_series(json_object_get(r.json, "series"), "XAU/USD");
    assert_non_null(s);
    assert_string_equal(jstr(s, "timeframe"), "M15");
    assert_string_equal(jstr(s, "latest"), "2024-01-02T02:45:00Z");
    /* Closed at 03:00; the clock says 2024-01-03T00:00. */
    assert_int_equal(jint(s, "age_seconds"), 21 * 3600);
    s = find_series(json_object_get(r.json, "series"), "BTC/USDT");
    assert_non_null(s);
    assert_int_equal(jint(s, "age_seconds"), 24 * 3600 - 45 * 60);
    /* Configured series without a candle show, with nulls; the disabled source does not. */
    size_t h4 = 0, n = json_array_size(json_object_get(r.json, "series"));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(json_object_get(r.json, "series"), i);
        assert_string_equal(jstr(e, "source"), source_name);
        if (!strcmp(jstr(e, "timeframe"), "H4")) {
            assert_true(json_is_null(json_object_get(e, "latest")));
            assert_true(json_is_null(json_object_get(e, "age_seconds")));
            h4++;
        }
    }
    assert_int_equal(n, 4);
    assert_int_equal(h4, 2);
    resp_release(&r);
}

static void test_database_gone(void **state)
{
    struct strbuf err = STRBUF_INIT, report = STRBUF_INIT;
    struct api *a;
    struct resp r;
    CURL *c = curl_easy_init();
    (void)state;
    struct api_config cfg = {.listen = "127.0.0.1:0",
                             .store_url = "sqlite:/nonexistent-ck-dir/gone/candles.db",
                             .settings = &settings};
    if (api_start(&a, &cfg, &err))
        fail_msg("api_start: %s", err.buf);
    http_on(c, api_port(a), "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(jstr(r.json, "status"), "unavailable");
    json_t *db = json_object_get(r.json, "database");
    assert_false(json_is_true(json_object_get(db, "reachable")));
    assert_string_equal(jstr(db, "backend"), "sqlite");
    assert_non_null(json_object_get(db, "error"));
    resp_release(&r);

    http_on(c, api_port(a), "GET", "/candles/M15", NULL, NULL, &r);
    assert_error(&r, 503, "database unavailable");
    resp_release(&r);
    http_on(c, api_port(a), "GET", "/jobs", NULL, NULL, &r);
    assert_error(&r, 503, "database unavailable");
    resp_release(&r);
    /* Validation comes first: bad input is still a 400, not a 5xx. */
    http_on(c, api_port(a), "GET", "/candles/M15?limit=0", NULL, NULL, &r);
    assert_int_equal(r.status, 400);
    resp_release(&r);

    /* Metrics still answer, saying the database is down. */
    http_on(c, api_port(a), "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.buf, "\ndatabase_up 0\n"));
    assert_non_null(strstr(r.body.buf, "\ncandlekeep_up 1\n"));
    int rc = test_promtool_check(r.body.buf, &report);
    if (rc)
        fail_msg("promtool (exit %d): %s\n%s", rc, report.buf, r.body.buf);
    resp_release(&r);
    api_stop(a);
    curl_easy_cleanup(c);
    strbuf_release(&report);
    strbuf_release(&err);
}

static void test_metrics(void **state)
{
    struct strbuf report = STRBUF_INIT, want = STRBUF_INIT;
    struct resp r;
    (void)state;
    /* Make sure some requests were counted. */
    get("/candles/M15?limit=1", &r);
    resp_release(&r);
    get("/nowhere", &r);
    resp_release(&r);

    get("/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.headers.buf, "content-type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body.buf, "\ncandlekeep_up 1\n"));
    assert_non_null(strstr(r.body.buf, "candlekeep_build_info{version=\"" CK_VERSION "\"} 1\n"));
    assert_non_null(strstr(r.body.buf, "\ndatabase_up 1\n"));
    strbuf_addf(&want,
                "latest_candle_age_seconds{source=\"%s\",symbol=\"XAU/USD\","
                "timeframe=\"M15\"} 75600\n",
                source_name);
    assert_non_null(strstr(r.body.buf, want.buf));
    assert_non_null(strstr(r.body.buf, "# TYPE http_requests_total counter\n"));
    assert_non_null(strstr(r.body.buf, "http_requests_total{route=\"/candles/{timeframe}\","
                                       "code=\"200\"} "));
    assert_non_null(strstr(r.body.buf, "http_requests_total{route=\"unmatched\",code=\"404\"} "));
    assert_non_null(strstr(r.body.buf, "# TYPE http_request_duration_seconds "
                                       "histogram\n"));
    assert_non_null(strstr(r.body.buf, "http_request_duration_seconds_bucket{route="
                                       "\"/candles/{timeframe}\",le=\"+Inf\"} "));
    assert_non_null(strstr(r.body.buf, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(r.body.buf, "\nprocess_open_fds "));
    assert_non_null(strstr(r.body.buf, "\nprocess_start_time_seconds 0.001\n"));
    /* No secret in the exposition. */
    assert_null(strstr(r.body.buf, TOKEN));
    int rc = test_promtool_check(r.body.buf, &report);
    if (rc)
        fail_msg("promtool (exit %d): %s\n%s", rc, report.buf, r.body.buf);
    resp_release(&r);
    strbuf_release(&want);
    strbuf_release(&report);
}

/* ---- providers: circuit, budget, ban and series state ---- */

static void test_providers(void **state)
{
    struct strbuf err = STRBUF_INIT, report = STRBUF_INIT, want = STRBUF_INIT;
    struct breaker_config bc = {.failures = 2, .recovery_ms = 60000, .max_recovery_ms = 600000};
    struct breaker *breakers[2] = {NULL, NULL};
    struct source_settings srcs[2];
    struct settings set = {0};
    struct rate_budget b;
    struct rate_state rs;
    struct store *st = NULL;
    char name[80];
    int64_t now = time_wall_ms();
    struct api *a;
    struct resp r;
    CURL *c = curl_easy_init();
    (void)state;

    /* A source of its own: its budget and states are this test's alone. */
    snprintf(name, sizeof(name), "%sprov", source_name);
    srcs[0] = sources[0];
    srcs[1] = sources[1];
    srcs[1].name = name;
    srcs[1].rate_per_minute = 8;
    srcs[1].daily_quota = 800;
    srcs[1].symbol_skip_after = 3;
    srcs[1].symbol_probe_every = 10;
    set.sources = srcs;
    set.nsources = 2;
    breakers[1] = breaker_new(name, &bc);
    for (int i = 0; i < 2; i++) {
        enum breaker_pass pass = breaker_allow(breakers[1], now, NULL);
        breaker_record(breakers[1], pass, BREAKER_FAILURE, now, NULL);
    }

    if (store_open(&st, store_url, &err))
        fail_msg("store_open: %s", err.buf);
    ratelimit_budget(&b, name, 8, 800);
    for (int i = 0; i < 3; i++)
        if (store_rate_take(st, &b, now - 1000 + i, &rs, &err) || !rs.granted)
            fail_msg("take: %s", err.buf);
    if (store_rate_ban(st, name, now + 3600 * 1000, "Retry-After 3600s (HTTP 429)", now, &err))
        fail_msg("ban: %s", err.buf);
    struct series_key bad = {name, "XAU/USD", TF_M15}, slow = {name, "BTC/USDT", TF_H4},
                      flaky = {name, "BTC/USDT", TF_M15}, other = {name, "GONE/USD", TF_M15};
    for (int i = 0; i < 4; i++)
        if (store_series_record(st, &bad, SERIES_FAILED, "unknown symbol (code 404)", now / 1000,
                                NULL, &err))
            fail_msg("record: %s", err.buf);
    if (store_series_record(st, &slow, SERIES_DEFERRED, "budget used up", now / 1000, NULL, &err) ||
        store_series_record(st, &flaky, SERIES_FAILED, "HTTP 502", now / 1000, NULL, &err) ||
        store_series_record(st, &other, SERIES_FAILED, "not configured", now / 1000, NULL, &err))
        fail_msg("record: %s", err.buf);

    struct api_config cfg = {.listen = "127.0.0.1:0",
                             .store_url = store_url,
                             .settings = &set,
                             .breakers = breakers,
                             .started_ms = time_wall_ms()};
    if (api_start(&a, &cfg, &err))
        fail_msg("api_start: %s", err.buf);

    http_on(c, api_port(a), "GET", "/health", NULL, NULL, &r);
    json_t *provs = json_object_get(r.json, "providers");
    assert_int_equal(json_array_size(provs), 1); /* the disabled source has none */
    json_t *p = json_array_get(provs, 0);
    assert_string_equal(jstr(p, "source"), name);
    json_t *circuit = json_object_get(p, "circuit");
    assert_string_equal(jstr(circuit, "state"), "open");
    assert_int_equal(jint(circuit, "failures"), 2);
    assert_true(jint(circuit, "next_probe_seconds") > 50 &&
                jint(circuit, "next_probe_seconds") <= 60);
    assert_int_equal(jint(circuit, "recovery_seconds"), 60);
    json_t *minute = json_object_get(json_object_get(p, "credits"), "minute");
    json_t *day = json_object_get(json_object_get(p, "credits"), "day");
    assert_int_equal(jint(minute, "used"), 3);
    assert_int_equal(jint(minute, "left"), 5);
    assert_int_equal(jint(minute, "limit"), 8);
    assert_int_equal(jint(day, "used"), 3);
    assert_int_equal(jint(day, "left"), 797);
    json_t *ban = json_object_get(p, "ban");
    assert_string_equal(jstr(ban, "reason"), "Retry-After 3600s (HTTP 429)");
    assert_true(jint(ban, "seconds_left") > 3500);
    assert_int_equal(json_array_size(json_object_get(p, "deferred")), 1);
    json_t *d = find_by(json_object_get(p, "deferred"), "symbol", "BTC/USDT");
    assert_string_equal(jstr(d, "timeframe"), "H4");
    assert_string_equal(jstr(d, "reason"), "budget used up");
    /* 4 failures with symbol_skip_after 3: skipped; 1 failure: failing; unconfigured: absent. */
    json_t *sk = find_by(json_object_get(p, "skipped"), "symbol", "XAU/USD");
    assert_non_null(sk);
    assert_int_equal(jint(sk, "streak"), 4);
    assert_string_equal(jstr(sk, "last_error"), "unknown symbol (code 404)");
    assert_int_equal(json_array_size(json_object_get(p, "skipped")), 1);
    json_t *fl = find_by(json_object_get(p, "failing"), "symbol", "BTC/USDT");
    assert_non_null(fl);
    assert_int_equal(jint(fl, "streak"), 1);
    assert_null(find_by(json_object_get(p, "failing"), "symbol", "GONE/USD"));
    resp_release(&r);

    http_on(c, api_port(a), "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    strbuf_addf(&want, "\ncircuit_state{source=\"%s\"} 2\n", name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nprovider_credits_used{source=\"%s\",window=\"minute\"} 3\n", name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nprovider_credits_left{source=\"%s\",window=\"day\"} 797\n", name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want,
                "\nseries_failure_streak{source=\"%s\",symbol=\"XAU/USD\",timeframe=\"M15\"} 4\n",
                name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nseries_skipped{source=\"%s\",symbol=\"XAU/USD\",timeframe=\"M15\"} 1\n",
                name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nseries_skipped{source=\"%s\",symbol=\"BTC/USDT\",timeframe=\"M15\"} 0\n",
                name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nseries_deferred{source=\"%s\",symbol=\"BTC/USDT\",timeframe=\"H4\"} 1\n",
                name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "\nprovider_ban_seconds{source=\"%s\"} ", name);
    assert_non_null(strstr(r.body.buf, want.buf));
    strbuf_setf(&want, "GONE/USD");
    assert_null(strstr(r.body.buf, want.buf));
    int rc = test_promtool_check(r.body.buf, &report);
    if (rc)
        fail_msg("promtool (exit %d): %s\n%s", rc, report.buf, r.body.buf);
    resp_release(&r);

    api_stop(a);
    store_close(st);
    breaker_free(breakers[1]);
    curl_easy_cleanup(c);
    strbuf_release(&want);
    strbuf_release(&report);
    strbuf_release(&err);
}

/* ---- concurrency and logging ---- */

struct worker_arg {
    int n;
    int failures;
};

static void *hammer(void *p)
{
    struct worker_arg *w = p;
    CURL *c = curl_easy_init();
    for (int i = 0; i < w->n; i++) {
        struct resp r;
        const char *path = i % 3 == 0 ? "/candles/M15?limit=5" : i % 3 == 1 ? "/jobs" : "/health";
        http_on(c, port_main, "GET", path, NULL, NULL, &r);
        if (!(r.status == 200 || (i % 3 == 2 && r.status == 503)) || !r.json)
            w->failures++;
        resp_release(&r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    pthread_t th[4];
    struct worker_arg w[4];
    (void)state;
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker_arg){.n = 60};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

/* ---- alerts ---- */

static void test_alerts(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct alert_manager *am = alert_manager_new(NULL, NULL, NULL, 0, NULL, NULL, "api-test");
    char key_a[96], key_b[96];
    struct store *st;
    struct resp r;
    (void)state;

    snprintf(key_a, sizeof(key_a), "job:%s:a", source_name);
    snprintf(key_b, sizeof(key_b), "breaker:%s", source_name);
    if (store_open(&st, store_url, &err))
        fail_msg("store_open: %s", err.buf);
    struct alert_event b = {.key = key_b,
                            .severity = NOTIFY_CRITICAL,
                            .title = "Circuit open",
                            .details = "5 failures in a row",
                            .now_ms = (T0 + 60) * 1000LL};
    struct alert_event a = {.key = key_a,
                            .severity = NOTIFY_WARNING,
                            .title = "Refresh <failing> & \"stale\"",
                            .details = "line 1\nline 2",
                            .inhibited_by = key_b,
                            .now_ms = (T0 + 120) * 1000LL};
    if (alert_fire(am, st, &b, &err) || alert_fire(am, st, &a, &err) ||
        alert_clear(am, st, key_b, "closed again", (T0 + 3600) * 1000LL, &err))
        fail_msg("alerts: %s", err.buf);

    get("/alerts", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 2);
    json_t *arr = json_object_get(r.json, "alerts");
    json_t *first = json_array_get(arr, 0), *second = json_array_get(arr, 1);
    /* Newest activity first: the breaker resolved last. */
    assert_string_equal(jstr(first, "key"), key_b);
    assert_string_equal(jstr(first, "state"), "resolved");
    assert_string_equal(jstr(first, "severity"), "critical");
    assert_string_equal(jstr(first, "details"), "closed again");
    assert_string_equal(jstr(first, "first_seen"), "2024-01-02T00:01:00Z");
    assert_string_equal(jstr(first, "resolved_at"), "2024-01-02T01:00:00Z");
    assert_string_equal(jstr(first, "last_notified"), "2024-01-02T01:00:00Z");
    assert_int_equal(jint(first, "times_sent"), 2);
    assert_true(json_is_null(json_object_get(first, "inhibited_by")));
    /* Its cause resolved: let go and told. */
    assert_string_equal(jstr(second, "key"), key_a);
    assert_string_equal(jstr(second, "state"), "firing");
    assert_string_equal(jstr(second, "severity"), "warning");
    assert_string_equal(jstr(second, "title"), "Refresh <failing> & \"stale\"");
    assert_string_equal(jstr(second, "details"), "line 1\nline 2");
    assert_true(json_is_null(json_object_get(second, "resolved_at")));
    assert_true(json_is_null(json_object_get(second, "inhibited_by")));
    assert_int_equal(jint(second, "times_sent"), 1);
    resp_release(&r);

    get("/alerts?state=firing", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "count"), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(r.json, "alerts"), 0), "key"), key_a);
    resp_release(&r);
    get("/alerts?state=resolved&limit=1", &r);
    assert_int_equal(jint(r.json, "count"), 1);
    resp_release(&r);
    get("/alerts?limit=1", &r);
    assert_int_equal(jint(r.json, "count"), 1);
    resp_release(&r);

    get("/alerts?state=open", &r);
    assert_error(&r, 400, "'state'");
    resp_release(&r);
    get("/alerts?limit=0", &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);
    get("/alerts?limit=x", &r);
    assert_error(&r, 400, "'limit'");
    resp_release(&r);

    alert_manager_free(am);
    store_close(st);
    strbuf_release(&err);
}

static void test_token_never_logged(void **state)
{
    struct strbuf log = STRBUF_INIT;
    char buf[4096];
    size_t n;
    FILE *fp;
    (void)state;
    fp = fopen(log_path, "r");
    assert_non_null(fp);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&log, buf, n);
    fclose(fp);
    /* The log did record requests (debug level), just never a token. */
    assert_non_null(strstr(log.buf, "api: POST /jobs/some_job/pause 401"));
    assert_null(strstr(log.buf, TOKEN));
    assert_null(strstr(log.buf, "wrong-token"));
    strbuf_release(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candles_exact_newest_first),
        cmocka_unit_test(test_candles_defaults_and_volume),
        cmocka_unit_test(test_candles_limit_bounds),
        cmocka_unit_test(test_candles_bad_timeframe),
        cmocka_unit_test(test_candles_time_range),
        cmocka_unit_test(test_candles_unknown_symbol),
        cmocka_unit_test(test_candles_follow_changes),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_auth_token),
        cmocka_unit_test(test_listen_is_loopback),
        cmocka_unit_test(test_no_token_loopback_and_wildcard),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_jobs_from_database),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_health_without_scheduler),
        cmocka_unit_test(test_with_scheduler),
        cmocka_unit_test(test_database_gone),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_alerts),
        cmocka_unit_test(test_token_never_logged),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
