/* SPDX-License-Identifier: MIT */
/*
 * Exports (export/export.h) over a store filled with a known history:
 * the TradeNote file compared with a fixture written from TradeNote's own
 * template, the day files written once across runs and held back by an
 * open signal, candles in CSV, JSON and gzip, job runs.
 *
 * Every query names the fixture's own source, so tests sharing a
 * PostgreSQL database never see each other's rows.
 */
#include "testutil.h"

#include "export/export.h"
#include "market/price.h"
#include "market/signal.h"
#include "store/candles.h"
#include "store/jobs.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <zlib.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/banned.h"

/* 2100-01-04T00:00:00Z */
#define DAY4 4102704000LL
#define HOUR 3600LL

static int64_t price(const char *s)
{
    int64_t v;
    if (price_parse(s, strlen(s), &v))
        fail_msg("bad price literal '%s'", s);
    return v;
}

/* A signal of the fixture's source created at `t` (Unix s); its id into `id`. */
static void mk_signal(struct store_fixture *f, int64_t t, enum signal_direction d, const char *sl,
                      const char *tp, char *id)
{
    struct signal s;
    memset(&s, 0, sizeof(s));
    signal_new_id(s.id, t * 1000);
    s.request_hash = xstrdup("h");
    s.source = xstrdup(f->source);
    s.symbol = xstrdup("XAU/USD");
    s.tf = TF_M15;
    s.direction = d;
    s.entry = price("2063.41");
    s.stop_loss = price(sl);
    s.take_profit = price(tp);
    s.status = SIGNAL_ACTIVE;
    CHECK_OK(store_signal_create(f->st, &s, NULL, 0, t * 1000, NULL, &f->err), &f->err);
    memcpy(id, s.id, SIGNAL_ID_MAX);
    signal_release(&s);
}

static void settle(struct store_fixture *f, const char *id, enum signal_status result,
                   const char *at, int64_t t)
{
    struct outcome o = {
        .result = result, .has_price = true, .price = price(at), .decided_ms = t * 1000};
    memcpy(o.signal_id, id, SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
}

/* A long won the same day, a short opened late that day and lost the next. */
static void plant_signals(struct store_fixture *f, char *s1, char *s2)
{
    mk_signal(f, DAY4 + 10 * HOUR + 5, SIGNAL_LONG, "2050", "2090.5", s1);
    settle(f, s1, SIGNAL_WON, "2090.5", DAY4 + 12 * HOUR + 30 * 60);
    mk_signal(f, DAY4 + 23 * HOUR, SIGNAL_SHORT, "2070", "2040", s2);
    settle(f, s2, SIGNAL_LOST, "2070", DAY4 + 86400 + HOUR + 15 * 60);
}

static char *read_all(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    char buf[4096];
    size_t n;
    FILE *fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot read '%s'", path);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&sb, buf, n);
    fclose(fp);
    return strbuf_detach(&sb, NULL);
}

/* The fixture with {S1} and {S2} replaced by the signals' ids. */
static char *expected_tradenote(const char *s1, const char *s2)
{
    struct strbuf path = STRBUF_INIT, out = STRBUF_INIT;
    char *text, *p;

    strbuf_addf(&path, "%s/tests/fixtures/tradenote/signals.csv", test_source_dir());
    text = read_all(path.buf);
    for (p = text; *p;) {
        if (!strncmp(p, "{S1}", 4) || !strncmp(p, "{S2}", 4)) {
            strbuf_addstr(&out, p[2] == '1' ? s1 : s2);
            p += 4;
        } else {
            strbuf_addch(&out, *p++);
        }
    }
    free(text);
    strbuf_release(&path);
    return strbuf_detach(&out, NULL);
}

static char *export_to_file(struct store_fixture *f, const struct export_query *q,
                            enum export_format fmt, bool gzip, int64_t *rows)
{
    char *path = test_tmpfile(gzip ? ".gz" : ".out");
    struct export_out *o = NULL;

    CHECK_OK(export_open(&o, path, gzip, &f->err), &f->err);
    CHECK_OK(export_write(f->st, q, fmt, o, rows, &f->err), &f->err);
    CHECK_OK(export_close(o, &f->err), &f->err);
    return path;
}

/* The template's header, exactly; then the rows of the planted trades, compared with the fixture.
 */
static void test_tradenote(void **state)
{
    struct store_fixture *f = *state;
    struct export_query q = {.kind = EXPORT_SIGNALS, .source = f->source, .tradenote_qty = 2};
    char s1[SIGNAL_ID_MAX], s2[SIGNAL_ID_MAX], *path, *got, *want;
    struct strbuf tpath = STRBUF_INIT;
    char *template;
    int64_t rows = 0;

    strbuf_addf(&tpath, "%s/tests/fixtures/tradenote/template_header.csv", test_source_dir());
    template = read_all(tpath.buf);
    assert_string_equal(export_tradenote_header, template);

    plant_signals(f, s1, s2);
    path = export_to_file(f, &q, EXPORT_TRADENOTE, false, &rows);
    assert_int_equal(rows, 4);
    got = read_all(path);
    want = expected_tradenote(s1, s2);
    assert_string_equal(got, want);
    free(got);
    free(path);

    /* The range is on the executions' times: only the short's exit on the 5th. */
    q.since = DAY4 + 86400;
    q.kind = EXPORT_OUTCOMES;
    path = export_to_file(f, &q, EXPORT_TRADENOTE, false, &rows);
    assert_int_equal(rows, 1);
    got = read_all(path);
    assert_non_null(strstr(got, ",01/05/2100,01/05/2100,USD,0,BC,XAU/USD,2,2070,01:15:00,"));
    free(got);
    free(path);

    free(want);
    free(template);
    strbuf_release(&tpath);
}

static bool exists(const char *dir, const char *name)
{
    struct strbuf p = STRBUF_INIT;
    struct stat sb;
    bool yes;
    strbuf_addf(&p, "%s/%s", dir, name);
    yes = !stat(p.buf, &sb);
    strbuf_release(&p);
    return yes;
}

/* One file per finished day, never a day twice; an open signal holds its day back. */
static void test_tradenote_days(void **state)
{
    struct store_fixture *f = *state;
    struct export_query q = {.kind = EXPORT_SIGNALS, .source = f->source, .tradenote_qty = 2};
    char s1[SIGNAL_ID_MAX], s2[SIGNAL_ID_MAX], s3[SIGNAL_ID_MAX], s4[SIGNAL_ID_MAX];
    char *dir = test_tmpfile("-tradenote"), *got, *want;
    struct strbuf path = STRBUF_INIT, both = STRBUF_INIT;
    size_t days = 9;

    plant_signals(f, s1, s2);
    /* On the 5th at noon: the 4th is over but the 5th is not. */
    CHECK_OK(export_tradenote_days(f->st, &q, dir, DAY4 + 86400 + 12 * HOUR, &days, &f->err),
             &f->err);
    assert_int_equal(days, 1);
    assert_true(exists(dir, "tradenote-2100-01-04.csv"));
    assert_false(exists(dir, "tradenote-2100-01-05.csv"));

    /* The 7th: the 5th is written; the 4th is not written again. */
    CHECK_OK(export_tradenote_days(f->st, &q, dir, DAY4 + 3 * 86400, &days, &f->err), &f->err);
    assert_int_equal(days, 1);
    CHECK_OK(export_tradenote_days(f->st, &q, dir, DAY4 + 3 * 86400, &days, &f->err), &f->err);
    assert_int_equal(days, 0);

    /* Both files together are the whole history: each execution once. */
    strbuf_addf(&path, "%s/tradenote-2100-01-04.csv", dir);
    got = read_all(path.buf);
    strbuf_addstr(&both, got);
    free(got);
    strbuf_reset(&path);
    strbuf_addf(&path, "%s/tradenote-2100-01-05.csv", dir);
    got = read_all(path.buf);
    strbuf_addstr(&both, got + strlen(export_tradenote_header));
    free(got);
    want = expected_tradenote(s1, s2);
    assert_string_equal(both.buf, want);
    free(want);

    /* A trade settled on the 6th, while another opened that day is still active: the 6th waits. */
    mk_signal(f, DAY4 + 2 * 86400 + HOUR, SIGNAL_LONG, "2050", "2090.5", s3);
    settle(f, s3, SIGNAL_WON, "2090.5", DAY4 + 2 * 86400 + 2 * HOUR);
    mk_signal(f, DAY4 + 2 * 86400 + 3 * HOUR, SIGNAL_LONG, "2050", "2090.5", s4);
    CHECK_OK(export_tradenote_days(f->st, &q, dir, DAY4 + 4 * 86400, &days, &f->err), &f->err);
    assert_int_equal(days, 0);
    assert_false(exists(dir, "tradenote-2100-01-06.csv"));
    settle(f, s4, SIGNAL_LOST, "2050", DAY4 + 2 * 86400 + 4 * HOUR);
    CHECK_OK(export_tradenote_days(f->st, &q, dir, DAY4 + 4 * 86400, &days, &f->err), &f->err);
    assert_int_equal(days, 1);
    assert_true(exists(dir, "tradenote-2100-01-06.csv"));

    strbuf_release(&path);
    strbuf_release(&both);
    free(dir);
}

static void test_candles(void **state)
{
    struct store_fixture *f = *state;
    struct series_key k = {.source = f->source, .symbol = "XAU/USD", .tf = TF_M15};
    struct export_query q = {.kind = EXPORT_CANDLES, .source = f->source};
    struct candle c[5];
    char *plain, *packed, *text, expect[512];
    int64_t rows = 0;
    json_t *arr;
    gzFile gz;
    char buf[8192];
    int n;

    for (int i = 0; i < 5; i++) {
        c[i] = (struct candle){.open_time = DAY4 + i * 900,
                               .open = price("2063.41"),
                               .high = price("2070"),
                               .low = price("2060.5"),
                               .close = price("2065.125"),
                               .volume = price("12.5"),
                               .has_volume = i == 0};
    }
    CHECK_OK(store_put_candles(f->st, &k, c, 5, &f->err), &f->err);

    plain = export_to_file(f, &q, EXPORT_CSV, false, &rows);
    assert_int_equal(rows, 5);
    text = read_all(plain);
    snprintf(expect, sizeof(expect),
             "source,symbol,timeframe,time,open,high,low,close,volume\n"
             "%s,XAU/USD,M15,2100-01-04T00:00:00Z,2063.41,2070,2060.5,2065.125,12.5\n"
             "%s,XAU/USD,M15,2100-01-04T00:15:00Z,2063.41,2070,2060.5,2065.125,\n",
             f->source, f->source);
    assert_true(!strncmp(text, expect, strlen(expect)));

    /* gzip: the same bytes once inflated. */
    packed = export_to_file(f, &q, EXPORT_CSV, true, &rows);
    gz = gzopen(packed, "rb");
    assert_non_null(gz);
    n = gzread(gz, buf, sizeof(buf) - 1);
    gzclose(gz);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, text);
    free(text);

    /* JSON: one array; a range and a timeframe filter apply. */
    q.since = DAY4 + 900;
    q.until = DAY4 + 3 * 900;
    q.has_tf = true;
    q.tf = TF_M15;
    free(plain);
    plain = export_to_file(f, &q, EXPORT_JSON, false, &rows);
    assert_int_equal(rows, 2);
    text = read_all(plain);
    arr = json_loads(text, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "time")),
                        "2100-01-04T00:15:00Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "close")),
                        "2065.125");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 1), "volume")));
    json_decref(arr);
    free(text);

    q.has_tf = true;
    q.tf = TF_H1;
    free(plain);
    plain = export_to_file(f, &q, EXPORT_JSON, false, &rows);
    assert_int_equal(rows, 0);
    text = read_all(plain);
    assert_string_equal(text, "[]\n");
    free(text);
    free(plain);
    free(packed);
}

static void test_jobs_and_refusals(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "exported");
    struct job_run r = store_fixture_start_run(f, job, DAY4, DAY4 * 1000);
    struct export_query q = {.kind = EXPORT_JOBS, .since = DAY4, .until = DAY4 + 1};
    struct export_out *o = NULL;
    char *path, *text, want[512];
    int64_t rows = 0;

    r.status = JOB_FAILED;
    r.finished = DAY4 * 1000 + 1500;
    r.message = (char *)"provider said \"no\", twice";
    r.details = (char *)"{\"a\":1}";
    CHECK_OK(store_job_run_finish(f->st, &r, NULL, &f->err), &f->err);
    path = export_to_file(f, &q, EXPORT_CSV, false, &rows);
    text = read_all(path);
    snprintf(want, sizeof(want),
             ",%s,inst-A,2100-01-04T00:00:00Z,2100-01-04T00:00:00Z,2100-01-04T00:00:01Z,failed,"
             "1500,\"provider said \"\"no\"\", twice\",\"{\"\"a\"\":1}\"\n",
             job);
    assert_non_null(strstr(text, want));
    assert_true(rows >= 1);
    free(text);
    free(path);

    CHECK_OK(export_open(&o, NULL, false, &f->err), &f->err);
    assert_int_equal(export_write(f->st, &q, EXPORT_TRADENOTE, o, NULL, &f->err), CK_EINVAL);
    assert_non_null(strstr(f->err.buf, "not jobs"));
    strbuf_reset(&f->err);
    CHECK_OK(export_close(o, &f->err), &f->err);
    free(job);
}

static void test_names(void **state)
{
    enum export_kind k;
    enum export_format fm;

    (void)state;
    for (int i = EXPORT_CANDLES; i <= EXPORT_JOBS; i++) {
        assert_int_equal(export_kind_parse(export_kind_name((enum export_kind)i), &k), 0);
        assert_int_equal(k, i);
    }
    assert_int_equal(export_kind_parse("trades", &k), CK_EINVAL);
    assert_int_equal(export_format_parse("tradenote", &fm), 0);
    assert_int_equal(fm, EXPORT_TRADENOTE);
    assert_int_equal(export_format_parse("xlsx", &fm), CK_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tradenote, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tradenote_days, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_candles, store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_jobs_and_refusals, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
