/* SPDX-License-Identifier: MIT */
/*
 * Retention on a real store (SQLite here, PostgreSQL as pg.test_retention):
 * the cutoffs to the second for candles and backtest results, timeframes
 * kept for ever, signals and outcomes never touched, deletes in batches
 * that add up, a dry run that counts what the real run deletes, and the
 * last run for the digest. Each test starts from a store without candles
 * or backtest results (the PostgreSQL database is this binary's own).
 */
#include "testutil.h"

#include "ck/settings.h"
#include "jobs/retention.h"
#include "market/price.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/config.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z: "now" for every test. */
#define NOW  1704067200LL
#define DAY  86400LL
#define M15S 900LL

struct fixture {
    struct store *st;
    char *url;
    struct strbuf err;
    struct retention_settings rs; /* the defaults of [retention] */
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    /* Start empty: what earlier tests of this binary left goes. */
    for (int tf = 0; tf < TF_COUNT; tf++)
        if (store_delete_candles_before(f->st, (enum timeframe)tf, INT64_MAX / 4, 0, NULL, &f->err))
            return -1;
    if (store_backtest_delete_before(f->st, 0, 0, NULL, &f->err))
        return -1;
    /* The defaults, from the real loader (run where no candlekeep.ini lies around). */
    if (chdir(test_tmpdir()) || settings_load(&s, NULL, &rep))
        return -1;
    f->rs = s.retention;
    settings_release(&s);
    config_report_release(&rep);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

/* Store one candle of (source, XAU/USD, tf) at each time in t[0..n). */
static void put(struct fixture *f, const char *source, enum timeframe tf, const int64_t *t,
                size_t n)
{
    struct series_key k = {.source = source, .symbol = "XAU/USD", .tf = tf};
    struct candle *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct candle){.open_time = t[i],
                               .open = 2000 * PRICE_SCALE,
                               .high = 2001 * PRICE_SCALE,
                               .low = 1999 * PRICE_SCALE,
                               .close = 2000 * PRICE_SCALE};
    CHECK_OK(store_put_candles(f->st, &k, v, n, &f->err), &f->err);
    free(v);
}

/* `n` consecutive candles of `tf` from `first`. */
static void put_run(struct fixture *f, const char *source, enum timeframe tf, int64_t first,
                    size_t n)
{
    int64_t *t = xcalloc(n, sizeof(*t));
    for (size_t i = 0; i < n; i++)
        t[i] = first + (int64_t)i * timeframe_seconds(tf);
    put(f, source, tf, t, n);
    free(t);
}

static int64_t count(struct fixture *f, const char *source, enum timeframe tf)
{
    struct candle_query q = {.series = {.source = source, .symbol = "XAU/USD", .tf = tf}};
    int64_t n = -1;
    CHECK_OK(store_count_candles(f->st, &q, &n, &f->err), &f->err);
    return n;
}

static bool has_candle(struct fixture *f, const char *source, enum timeframe tf, int64_t t)
{
    struct candle_query q = {.series = {.source = source, .symbol = "XAU/USD", .tf = tf},
                             .has_start = true,
                             .has_end = true,
                             .start = t,
                             .end = t};
    int64_t n = -1;
    CHECK_OK(store_count_candles(f->st, &q, &n, &f->err), &f->err);
    return n == 1;
}

static struct retention_result run(struct fixture *f, const struct retention_settings *rs,
                                   int64_t now, bool dry_run)
{
    struct retention_result r;
    CHECK_OK(retention_run(f->st, rs, now, dry_run, NULL, NULL, &r, &f->err), &f->err);
    return r;
}

static void add_backtest(struct fixture *f, const char *name, int64_t created_ms)
{
    struct backtest b = {.name = (char *)name,
                         .created_ms = created_ms,
                         .params = (char *)"{}",
                         .metrics = (char *)"{\"trades\":3}"};
    CHECK_OK(store_backtest_add(f->st, &b, &f->err), &f->err);
}

static int64_t backtests_left(struct fixture *f)
{
    int64_t n = -1;
    CHECK_OK(store_backtest_count_before(f->st, (NOW + 100 * 365 * DAY) * 1000, &n, &f->err),
             &f->err);
    return n;
}

/*
 * Alert messages: those sent or failed more than 30 days ago go (exactly at
 * the line stays, a millisecond older goes); a pending one stays however
 * old, since it has yet to reach the operators.
 */
static void test_alert_messages(void **state)
{
    struct fixture *f = *state;
    int64_t line = (NOW - 30 * DAY) * 1000;
    char at[4][24];
    const char *status[] = {"sent", "failed", "sent", "pending"};
    int64_t created[] = {line - 1, line - 1, line, line - 86400000};
    const char *cells[4 * 17];
    struct store_rows rows = {.nrows = 4, .ncols = 17, .cells = (char **)cells};
    char ids[4][8];

    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%d", i + 1);
        snprintf(at[i], sizeof(at[i]), "%lld", (long long)created[i]);
        const char *row[17] = {ids[i],    "telegram", "job:x", "warning", "firing", "title",
                               "details", at[i],      at[i],   at[i],     "1",      "1",
                               status[i], "",         NULL,    "",        "0"};
        memcpy(&cells[i * 17], row, sizeof(row));
    }
    CHECK_OK(store_rows_import(f->st, STORE_TABLE_ALERT_OUTBOX, &rows, 0, NULL, &f->err), &f->err);

    struct retention_result dry = run(f, &f->rs, NOW, true);
    assert_true(dry.prune_alert_messages);
    assert_int_equal(dry.alert_message_cutoff_ms, line);
    assert_int_equal(dry.alert_messages, 2);

    struct retention_result r = run(f, &f->rs, NOW, false);
    assert_int_equal(r.alert_messages, 2);
    int64_t left = -1;
    CHECK_OK(store_count_rows(f->st, STORE_TABLE_ALERT_OUTBOX, &left, &f->err), &f->err);
    assert_int_equal(left, 2);
    r = run(f, &f->rs, NOW, false);
    assert_int_equal(r.alert_messages, 0);

    /* 0 keeps them for ever. */
    struct retention_settings keep = f->rs;
    keep.alert_messages = 0;
    r = run(f, &keep, NOW + 365 * DAY, false);
    assert_false(r.prune_alert_messages);
    CHECK_OK(store_count_rows(f->st, STORE_TABLE_ALERT_OUTBOX, &left, &f->err), &f->err);
    assert_int_equal(left, 2);
}

/* M15 90 days: exactly at the line stays, one second older goes. */
static void test_m15_boundary(void **state)
{
    struct fixture *f = *state;
    int64_t line = NOW - 90 * DAY;
    int64_t t[] = {line - M15S, line, line + M15S};
    put(f, "b", TF_M15, t, 3);

    struct retention_result r = run(f, &f->rs, NOW, false);
    assert_true(r.prune[TF_M15]);
    assert_int_equal(r.cutoff[TF_M15], line);
    assert_int_equal(r.deleted[TF_M15], 1);
    assert_false(has_candle(f, "b", TF_M15, line - M15S));
    assert_true(has_candle(f, "b", TF_M15, line));

    /* A second later the candle at the line is one second older than 90 days. */
    r = run(f, &f->rs, NOW + 1, false);
    assert_int_equal(r.deleted[TF_M15], 1);
    assert_false(has_candle(f, "b", TF_M15, line));
    assert_true(has_candle(f, "b", TF_M15, line + M15S));
    assert_int_equal(count(f, "b", TF_M15), 1);
}

/* H1 365 days, the same way; H4 and D1 are never pruned by default. */
static void test_h1_boundary_and_kept_timeframes(void **state)
{
    struct fixture *f = *state;
    int64_t line = NOW - 365 * DAY;
    int64_t h1[] = {line - 3600, line, line + 3600};
    put(f, "b", TF_H1, h1, 3);
    put_run(f, "b", TF_H4, NOW - 3000 * DAY, 10);
    put_run(f, "b", TF_D1, NOW - 5000 * DAY, 10);
    put_run(f, "b", TF_W1, timeframe_floor(TF_W1, NOW - 4000 * DAY), 10);

    struct retention_result r = run(f, &f->rs, NOW, false);
    assert_int_equal(r.cutoff[TF_H1], line);
    assert_int_equal(r.deleted[TF_H1], 1);
    assert_true(has_candle(f, "b", TF_H1, line));
    r = run(f, &f->rs, NOW + 1, false);
    assert_int_equal(r.deleted[TF_H1], 1);
    assert_false(has_candle(f, "b", TF_H1, line));
    assert_int_equal(count(f, "b", TF_H1), 1);

    for (int tf = 0; tf < TF_COUNT; tf++)
        if (tf != TF_M15 && tf != TF_H1)
            assert_false(r.prune[tf]);
    assert_int_equal(count(f, "b", TF_H4), 10);
    assert_int_equal(count(f, "b", TF_D1), 10);
    assert_int_equal(count(f, "b", TF_W1), 10);
}

/* A timeframe listed in the file is pruned by its threshold; one set to 0 is kept. */
static void test_configured_thresholds(void **state)
{
    struct fixture *f = *state;
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = test_tmpfile(".ini");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("[retention]\nM1 = 30d\nM15 = 0\n", fp);
    fclose(fp);
    CHECK_OK(settings_load(&s, path, &rep), &rep.text);

    put_run(f, "c", TF_M1, NOW - 30 * DAY - 120, 4); /* -30d-2m .. -30d+1m */
    put_run(f, "c", TF_M15, NOW - 900 * DAY, 3);
    put_run(f, "c", TF_H1, NOW - 400 * DAY, 3);

    struct retention_result r = run(f, &s.retention, NOW, false);
    assert_int_equal(r.cutoff[TF_M1], NOW - 30 * DAY);
    assert_int_equal(r.deleted[TF_M1], 2);
    assert_true(has_candle(f, "c", TF_M1, NOW - 30 * DAY));
    assert_false(r.prune[TF_M15]);
    assert_int_equal(count(f, "c", TF_M15), 3);
    /* H1 keeps its default. */
    assert_int_equal(r.deleted[TF_H1], 3);

    struct strbuf sum = STRBUF_INIT;
    retention_summary(&r, &sum);
    assert_string_equal(sum.buf, "deleted M1 2, H1 3, backtests 0, alert messages 0 in 4 batches");
    strbuf_release(&sum);
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

static void test_backtests_boundary(void **state)
{
    struct fixture *f = *state;
    int64_t line_ms = (NOW - 180 * DAY) * 1000;
    add_backtest(f, "older", line_ms - 1000);
    add_backtest(f, "at", line_ms);
    add_backtest(f, "newer", line_ms + 1000);

    struct retention_result r = run(f, &f->rs, NOW, false);
    assert_true(r.prune_backtests);
    assert_int_equal(r.backtest_cutoff_ms, line_ms);
    assert_int_equal(r.backtests, 1);
    assert_int_equal(backtests_left(f), 2);
    r = run(f, &f->rs, NOW + 1, false);
    assert_int_equal(r.backtests, 1);

    struct backtest *v;
    size_t n;
    CHECK_OK(store_backtest_list(f->st, 0, 0, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "newer");
    backtests_free(v, n);

    /* backtests = 0 keeps them for ever. */
    struct retention_settings keep = f->rs;
    keep.backtests = 0;
    add_backtest(f, "ancient", 1000);
    r = run(f, &keep, NOW, false);
    assert_false(r.prune_backtests);
    assert_int_equal(backtests_left(f), 2);
}

/* Signals and their outcomes, however old, stay. */
static void test_signals_and_outcomes_untouched(void **state)
{
    struct fixture *f = *state;
    int64_t old_ms = (NOW - 2000 * DAY) * 1000;
    struct signal s = {
        .request_hash = (char *)"00",
        .source = (char *)"twelvedata",
        .symbol = (char *)"XAU/USD",
        .tf = TF_M15,
        .direction = SIGNAL_LONG,
        .entry = 2000 * PRICE_SCALE,
        .stop_loss = 1990 * PRICE_SCALE,
        .take_profit = 2010 * PRICE_SCALE,
        .created_ms = old_ms,
        .status = SIGNAL_ACTIVE,
        .note = (char *)"",
        .updated_ms = old_ms,
    };
    bool existed = false;
    signal_new_id(s.id, old_ms);
    CHECK_OK(store_signal_create(f->st, &s, NULL, 0, old_ms, &existed, &f->err), &f->err);
    struct outcome o = {.result = SIGNAL_WON,
                        .has_price = true,
                        .price = s.take_profit,
                        .decided_ms = old_ms + 3600000,
                        .has_candle = true,
                        .tf = TF_M15,
                        .candle_time = old_ms / 1000,
                        .created_ms = old_ms + 3600000};
    memcpy(o.signal_id, s.id, sizeof(o.signal_id));
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    put_run(f, "d", TF_M15, NOW - 2000 * DAY, 5);

    struct retention_result r = run(f, &f->rs, NOW, false);
    assert_int_equal(r.deleted[TF_M15], 5);

    struct signal back;
    struct outcome ob;
    CHECK_OK(store_signal_get(f->st, s.id, &back, &f->err), &f->err);
    assert_int_equal(back.status, SIGNAL_WON);
    assert_int_equal(back.created_ms, old_ms);
    signal_release(&back);
    CHECK_OK(store_outcome_get(f->st, s.id, &ob, &f->err), &f->err);
    assert_int_equal(ob.result, SIGNAL_WON);
    assert_int_equal(ob.price, s.take_profit);
}

/*
 * More rows than a batch, over several series: every old row goes, the
 * counts add up, nothing new is touched; the batches are as many as the
 * rows need (plus the short one that ends each category).
 */
static void test_batches(void **state)
{
    struct fixture *f = *state;
    struct retention_settings rs = f->rs;
    rs.batch = 7;
    /* Old rows: 10 in "e1", 5 in "e2", none in "e3"; 3 new rows in each. */
    put_run(f, "e1", TF_M15, NOW - 100 * DAY, 10);
    put_run(f, "e2", TF_M15, NOW - 95 * DAY, 5);
    put_run(f, "e1", TF_M15, NOW - DAY, 3);
    put_run(f, "e2", TF_M15, NOW - DAY, 3);
    put_run(f, "e3", TF_M15, NOW - DAY, 3);
    /* 14 old H1 rows: exactly two batches, then an empty one. */
    put_run(f, "e1", TF_H1, NOW - 400 * DAY, 14);
    for (int i = 0; i < 9; i++)
        add_backtest(f, "bt", (NOW - 200 * DAY) * 1000 + i);

    struct retention_result dry = run(f, &rs, NOW, true);
    assert_int_equal(count(f, "e1", TF_M15), 13);
    assert_int_equal(backtests_left(f), 9);

    struct retention_result r = run(f, &rs, NOW, false);
    assert_int_equal(r.deleted[TF_M15], 15);
    assert_int_equal(r.deleted[TF_H1], 14);
    assert_int_equal(r.backtests, 9);
    /* M15: 7, 7 (3 + 4), 1; H1: 7, 7, 0; backtests: 7, 2; alert messages: 0. */
    assert_int_equal(r.batches, 9);
    assert_int_equal(count(f, "e1", TF_M15), 3);
    assert_int_equal(count(f, "e2", TF_M15), 3);
    assert_int_equal(count(f, "e3", TF_M15), 3);
    assert_int_equal(count(f, "e1", TF_H1), 0);
    assert_int_equal(backtests_left(f), 0);

    /* The dry run counted what went, and deleted nothing itself. */
    assert_true(dry.dry_run);
    assert_int_equal(dry.deleted[TF_M15], r.deleted[TF_M15]);
    assert_int_equal(dry.deleted[TF_H1], r.deleted[TF_H1]);
    assert_int_equal(dry.backtests, r.backtests);
    assert_int_equal(dry.batches, 0);

    /* Nothing left: a second run deletes nothing. */
    r = run(f, &rs, NOW, false);
    assert_int_equal(r.deleted[TF_M15], 0);
    assert_int_equal(r.deleted[TF_H1], 0);
    assert_int_equal(r.backtests, 0);
}

/* The store call alone: a limit deletes at most that many, oldest first. */
static void test_store_batch_delete(void **state)
{
    struct fixture *f = *state;
    int64_t n = -1;
    put_run(f, "g", TF_M15, 1000 * M15S, 20);
    CHECK_OK(store_count_candles_before(f->st, TF_M15, 1010 * M15S, &n, &f->err), &f->err);
    assert_int_equal(n, 10);
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, 1010 * M15S, 4, &n, &f->err), &f->err);
    assert_int_equal(n, 4);
    assert_false(has_candle(f, "g", TF_M15, 1003 * M15S));
    assert_true(has_candle(f, "g", TF_M15, 1004 * M15S));
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, 1010 * M15S, 100, &n, &f->err), &f->err);
    assert_int_equal(n, 6);
    assert_true(has_candle(f, "g", TF_M15, 1010 * M15S));
    assert_int_equal(count(f, "g", TF_M15), 10);
}

static bool stop_after_two(void *arg)
{
    int *calls = arg;
    return ++*calls > 2;
}

/* Asked to stop between batches, it stops, says so, and the next run finishes. */
static void test_stop_between_batches(void **state)
{
    struct fixture *f = *state;
    struct retention_settings rs = f->rs;
    struct retention_result r;
    int calls = 0;
    rs.batch = 5;
    put_run(f, "h", TF_M15, NOW - 200 * DAY, 23);
    CHECK_OK(retention_run(f->st, &rs, NOW, false, stop_after_two, &calls, &r, &f->err), &f->err);
    assert_true(r.stopped);
    assert_int_equal(r.deleted[TF_M15], 10);
    assert_int_equal(r.batches, 2);
    assert_int_equal(count(f, "h", TF_M15), 13);

    struct strbuf sum = STRBUF_INIT;
    retention_summary(&r, &sum);
    assert_non_null(strstr(sum.buf, "stopped early"));
    strbuf_release(&sum);

    r = run(f, &rs, NOW, false);
    assert_false(r.stopped);
    assert_int_equal(r.deleted[TF_M15], 13);
    assert_int_equal(count(f, "h", TF_M15), 0);
}

static void test_details_json(void **state)
{
    struct fixture *f = *state;
    struct strbuf js = STRBUF_INIT;
    json_error_t jerr;
    put_run(f, "j", TF_M15, NOW - 91 * DAY, 4);
    add_backtest(f, "bt", (NOW - 181 * DAY) * 1000);

    struct retention_result r = run(f, &f->rs, NOW, false);
    retention_details_json(&r, &js);
    json_t *o = json_loads(js.buf, 0, &jerr);
    assert_non_null(o);
    json_t *d = json_object_get(o, "deleted");
    assert_non_null(d);
    assert_int_equal(json_object_size(d), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "alert_messages")), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "M15")), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "H1")), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "backtests")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "cutoff"), "M15")),
                        "2023-10-03T00:00:00Z");
    assert_null(json_object_get(o, "stopped"));
    json_decref(o);

    /* A dry run says what would go, under its own key. */
    strbuf_setlen(&js, 0);
    r = run(f, &f->rs, NOW, true);
    retention_details_json(&r, &js);
    o = json_loads(js.buf, 0, &jerr);
    assert_non_null(o);
    assert_null(json_object_get(o, "deleted"));
    assert_non_null(json_object_get(o, "would_delete"));
    json_decref(o);
    strbuf_release(&js);
}

static void add_run(struct fixture *f, enum job_status status, int64_t started_ms,
                    const char *details)
{
    struct job_run jr = {.job_id = (char *)RETENTION_JOB_ID,
                         .instance = (char *)"test",
                         .scheduled = started_ms / 1000,
                         .started = started_ms,
                         .status = JOB_RUNNING,
                         .message = (char *)"",
                         .details = (char *)"{}"};
    CHECK_OK(store_job_ensure(f->st, RETENTION_JOB_ID, started_ms / 1000, &f->err), &f->err);
    CHECK_OK(store_job_run_insert(f->st, &jr, &f->err), &f->err);
    if (status == JOB_RUNNING)
        return;
    jr.status = status;
    jr.finished = started_ms + 500;
    jr.message = (char *)"done";
    jr.details = (char *)details;
    CHECK_OK(store_job_run_finish(f->st, &jr, NULL, &f->err), &f->err);
}

static void test_last_run(void **state)
{
    struct fixture *f = *state;
    struct job_run *jr = NULL;

    /* No other test of this binary records runs. */
    assert_int_equal(retention_last_run(f->st, &jr, &f->err), CK_ENOTFOUND);
    assert_null(jr);
    strbuf_setlen(&f->err, 0);
    add_run(f, JOB_OK, NOW * 1000, "{\"deleted\":{\"M15\":1}}");
    add_run(f, JOB_OK, (NOW + DAY) * 1000, "{\"deleted\":{\"M15\":2}}");
    add_run(f, JOB_RUNNING, (NOW + 2 * DAY) * 1000, "{}");
    CHECK_OK(retention_last_run(f->st, &jr, &f->err), &f->err);
    assert_string_equal(jr->details, "{\"deleted\":{\"M15\":2}}");
    assert_int_equal(jr->status, JOB_OK);
    job_runs_free(jr, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_m15_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_boundary_and_kept_timeframes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_thresholds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backtests_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_and_outcomes_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_batch_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_between_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_details_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
