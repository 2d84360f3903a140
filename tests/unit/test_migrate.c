/* SPDX-License-Identifier: MIT */
/*
 * migrate/migrate.c: copying a store and verifying the copy, through the
 * public store API. The source is always a fresh SQLite file; the target
 * of test_copy_verify_and_back is test_store_url(), so the PostgreSQL run
 * of this binary (CK_TEST_STORE_URL, a database of its own) copies SQLite
 * to PostgreSQL and back. The other tests use SQLite files only.
 */
#include "testutil.h"

#include "migrate/migrate.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define T0        1704067200LL /* 2024-01-01T00:00:00Z */
#define FUTURE_MS 4102444800000LL

static struct store *open_url(const char *url)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    CHECK_OK(store_open(&st, url, &err), &err);
    strbuf_release(&err);
    return st;
}

static struct store *open_new_sqlite(void)
{
    char *f = test_tmpfile(".db");
    struct strbuf url = STRBUF_INIT;
    struct store *st;
    strbuf_addf(&url, "sqlite:%s", f);
    st = open_url(url.buf);
    strbuf_release(&url);
    free(f);
    return st;
}

/*
 * Fill `st`: two series of candles (one with volume, 12,001 candles in
 * all, so more than two batches), gaps in several states, two jobs and
 * a run history.
 */
/* Rows of the generic tables, as canonical cells (NULL for SQL NULL). */
static void put_rows(struct store *st, enum store_table t, const char *const *cells, size_t nrows)
{
    struct strbuf err = STRBUF_INIT;
    const char *const *cols = store_table_columns(t);
    struct store_rows rows = {0};
    size_t added = 0;

    while (cols[rows.ncols])
        rows.ncols++;
    rows.nrows = nrows;
    rows.cells = (char **)cells;
    CHECK_OK(store_rows_import(st, t, &rows, 0, &added, &err), &err);
    assert_int_equal(added, nrows);
    strbuf_release(&err);
}

static void fill_generic(struct store *st)
{
    static const char *const alerts[] = {
        "job:refresh_candles_M15",
        "warning",
        "firing",
        "Candle refresh failing",
        "M15 refresh has failed 3 consecutive times:\n<b>&\"x\"</b>\t",
        "",
        "1704207600123",
        "1704207700000",
        NULL,
        "1704207600500",
        "firing",
        "1",
        "1704207700000"};
    static const char *const outbox[] = {"1",
                                         "telegram",
                                         "job:refresh_candles_M15",
                                         "warning",
                                         "firing",
                                         "Candle refresh failing",
                                         "details",
                                         "1704207600123",
                                         "1704207600124",
                                         "1704207600124",
                                         "2",
                                         "1",
                                         "sent",
                                         "",
                                         "1704207601000",
                                         "",
                                         "0",
                                         "7",
                                         "webhook",
                                         "",
                                         "info",
                                         "digest",
                                         "Daily digest",
                                         "all fine",
                                         "1704207600123",
                                         "1704207600124",
                                         "1704207600124",
                                         "0",
                                         "0",
                                         "pending",
                                         "timeout",
                                         NULL,
                                         "host:1:ab",
                                         "1704207660000"};
    static const char *const signals[] = {"sig_01HNA",
                                          NULL,
                                          "ab12",
                                          "td",
                                          "XAU/USD",
                                          "M15",
                                          "long",
                                          "2063.41000000",
                                          "2050.00000000",
                                          "2080.00000001",
                                          "1704207600123",
                                          NULL,
                                          "won",
                                          "",
                                          "1704207600123",
                                          "sig_01HNB",
                                          "key-1",
                                          "cd34",
                                          "td",
                                          "XAU/USD",
                                          "H1",
                                          "short",
                                          "0.00000001",
                                          "92233720368.54775807",
                                          "0.00000000",
                                          "1704207600999",
                                          "1704294000000",
                                          "active",
                                          "a note",
                                          "1704207600999"};
    static const char *const deliveries[] = {"1",
                                             "sig_01HNA",
                                             "bot",
                                             "sig_01HNA.bot",
                                             "delivered",
                                             "2",
                                             "1704207605000",
                                             "",
                                             "200",
                                             "1704207600123",
                                             "1704207605100",
                                             "",
                                             "0",
                                             "2",
                                             "sig_01HNB",
                                             "bot",
                                             "sig_01HNB.bot",
                                             "dead",
                                             "5",
                                             "1704207700000",
                                             "HTTP 500",
                                             "500",
                                             "1704207600999",
                                             NULL,
                                             "host:1:ab",
                                             "1704207760000"};
    static const char *const attempts[] = {
        "1", "1", "1", "1704207600200", "15",    "503", "HTTP 503",  "host:1:ab",
        "2", "1", "2", "1704207605000", "12",    "200", "",          "host:1:ab",
        "3", "2", "1", "1704207601000", "10000", "0",   "timed out", "host:2:cd"};
    static const char *const outcomes[] = {
        "sig_01HNA",     "won", "2080.00000001", "1704208500000", "M15",
        "1704208500000", "f",   "1704208800000"};
    static const char *const backtests[] = {"3", "ema cross", "1704207600000", "{\"fast\": 12}",
                                            "{\"sharpe\": 1.25}"};

    static const char *const backfills[] = {"4",
                                            "bn",
                                            "BTC/USDT",
                                            "M1",
                                            "1704067200000",
                                            NULL,
                                            "1704153540000",
                                            "deferred",
                                            "1440",
                                            "2",
                                            "1704067200000",
                                            "",
                                            "",
                                            "1704207600000",
                                            "1704207660000"};
    static const char *const breakers[] = {"bn",
                                           "closed",
                                           "0",
                                           NULL,
                                           NULL,
                                           "1704207600000",
                                           "host:1:ab",
                                           "td",
                                           "open",
                                           "3",
                                           "1704207600123",
                                           "1704207660123",
                                           "1704207600123",
                                           ""};

    put_rows(st, STORE_TABLE_ALERTS, alerts, 1);
    put_rows(st, STORE_TABLE_ALERT_OUTBOX, outbox, 2);
    put_rows(st, STORE_TABLE_SIGNALS, signals, 2);
    put_rows(st, STORE_TABLE_DELIVERIES, deliveries, 2);
    put_rows(st, STORE_TABLE_DELIVERY_ATTEMPTS, attempts, 3);
    put_rows(st, STORE_TABLE_OUTCOMES, outcomes, 1);
    put_rows(st, STORE_TABLE_BACKTESTS, backtests, 1);
    put_rows(st, STORE_TABLE_BREAKERS, breakers, 2);
    put_rows(st, STORE_TABLE_BACKFILLS, backfills, 1);
}

static void fill(struct store *st)
{
    const struct series_key xau = {"td", "XAU/USD", TF_M15}, btc = {"td", "BTC/USD", TF_H1};
    struct gap_range found[2] = {{T0 + 900 * 20000, T0 + 900 * 20001, 2},
                                 {T0 + 900 * 20010, T0 + 900 * 20010, 1}};
    struct strbuf err = STRBUF_INIT;
    struct candle_vec cv = CANDLE_VEC_INIT;
    struct gap_record *g = NULL;
    struct gap_query q = {.source = "td"};
    size_t ng;

    for (int64_t i = 0; i < 12000; i++) {
        struct candle c = {.open_time = T0 + 900 * i,
                           .open = 206341000000 + i,
                           .high = 206400000000 + i,
                           .low = 206300000000 + i,
                           .close = 206341000000 + 2 * i};
        candle_vec_push(&cv, &c);
    }
    CHECK_OK(store_put_candles(st, &xau, cv.v, cv.n, &err), &err);
    candle_vec_release(&cv);
    {
        struct candle c = {.open_time = T0,
                           .open = 1,
                           .high = 3,
                           .low = 1,
                           .close = 2,
                           .volume = 123456789012345678,
                           .has_volume = true};
        CHECK_OK(store_put_candles(st, &btc, &c, 1, &err), &err);
    }
    CHECK_OK(store_sync_gaps(st, &xau, T0 + 900 * 19000, T0 + 900 * 21000, found, 2, "fetch failed",
                             T0 + 5, NULL, &err),
             &err);
    CHECK_OK(store_list_gaps(st, &q, &g, &ng, &err), &err);
    assert_int_equal(ng, 2);
    CHECK_OK(store_set_gap_state(st, g[0].id, GAP_UNFILLABLE, "no \"data\"\tat all", T0 + 9, &err),
             &err);
    gap_records_free(g, ng);

    CHECK_OK(store_job_set_paused(st, "refresh_candles_M15", true, T0 + 1, &err), &err);
    for (int i = 0; i < 3; i++) {
        struct job_run r = {.job_id = (char *)"refresh_candles_M15",
                            .instance = (char *)"host:1",
                            .scheduled = T0 + 900 * i,
                            .started = FUTURE_MS + i,
                            .status = JOB_RUNNING};
        int64_t streak;
        CHECK_OK(store_job_run_insert(st, &r, &err), &err);
        r.status = JOB_FAILED;
        r.finished = r.started + 10;
        r.message = (char *)"failed:\nline two";
        r.details = (char *)"{\"a\": [1, 2]}";
        CHECK_OK(store_job_run_finish(st, &r, &streak, &err), &err);
    }
    {
        struct job_run r = {.job_id = (char *)"refresh_candles_H1",
                            .instance = (char *)"host:2",
                            .scheduled = T0,
                            .started = FUTURE_MS + 99,
                            .status = JOB_RUNNING};
        CHECK_OK(store_job_run_insert(st, &r, &err), &err);
    }
    fill_generic(st);
    strbuf_release(&err);
}

/* Progress events as "stage table event done/total" lines. */
struct events {
    struct strbuf log;
    int64_t last_done;
    int rows_events;
};

static void record(void *arg, const struct migrate_progress *p)
{
    static const char *const stage[] = {"copy", "vsrc", "vdst"};
    static const char *const event[] = {"start", "rows", "done"};
    struct events *ev = arg;

    if (p->event == MIGRATE_TABLE_ROWS) {
        assert_true(p->done > ev->last_done);
        ev->last_done = p->done;
        ev->rows_events++;
        return;
    }
    if (p->event == MIGRATE_TABLE_START)
        ev->last_done = 0;
    strbuf_addf(&ev->log, "%s %s %s %lld/%lld\n", stage[p->stage], p->table, event[p->event],
                (long long)p->done, (long long)p->total);
}

static const struct migrate_table_result *find(const struct migrate_report *r, const char *table)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].table, table))
            return &r->v[i];
    fail_msg("no table %s in the report", table);
    return NULL;
}

static void test_copy_verify_and_back(void **state)
{
    struct store *src = open_new_sqlite(), *back = open_new_sqlite();
    char *url = test_store_url();
    struct store *dst = open_url(url);
    struct events ev = {.log = STRBUF_INIT};
    struct migrate_opts o = {.from = src,
                             .to = dst,
                             .from_name = "src",
                             .to_name = "dst",
                             .progress = record,
                             .progress_arg = &ev};
    struct migrate_report rep = {0}, rep2 = {0};
    struct strbuf err = STRBUF_INIT;
    const struct migrate_table_result *t;

    (void)state;
    fill(src);
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    assert_true(migrate_report_ok(&rep));
    assert_int_equal(rep.n, 13);
    t = find(&rep, "candles");
    assert_int_equal(t->read, 12001);
    assert_int_equal(t->added, 12001);
    assert_int_equal(t->source.rows, 12001);
    assert_int_equal(t->target.rows, 12001);
    assert_int_equal(find(&rep, "gaps")->target.rows, 2);
    assert_int_equal(find(&rep, "jobs")->target.rows, 2);
    assert_int_equal(find(&rep, "job_runs")->target.rows, 4);
    assert_int_equal(find(&rep, "signals")->added, 2);
    assert_int_equal(find(&rep, "delivery_attempts")->target.rows, 3);
    /* Every table is copied, then every table of the target read back. */
    assert_string_equal(ev.log.buf, "copy candles start 0/12001\n"
                                    "copy candles done 12001/12001\n"
                                    "copy gaps start 0/2\n"
                                    "copy gaps done 2/2\n"
                                    "copy jobs start 0/2\n"
                                    "copy jobs done 2/2\n"
                                    "copy job_runs start 0/4\n"
                                    "copy job_runs done 4/4\n"
                                    "copy alerts start 0/1\n"
                                    "copy alerts done 1/1\n"
                                    "copy alert_outbox start 0/2\n"
                                    "copy alert_outbox done 2/2\n"
                                    "copy signals start 0/2\n"
                                    "copy signals done 2/2\n"
                                    "copy deliveries start 0/2\n"
                                    "copy deliveries done 2/2\n"
                                    "copy delivery_attempts start 0/3\n"
                                    "copy delivery_attempts done 3/3\n"
                                    "copy outcomes start 0/1\n"
                                    "copy outcomes done 1/1\n"
                                    "copy backtests start 0/1\n"
                                    "copy backtests done 1/1\n"
                                    "copy breakers start 0/2\n"
                                    "copy breakers done 2/2\n"
                                    "copy backfills start 0/1\n"
                                    "copy backfills done 1/1\n"
                                    "vdst candles start 0/12001\n"
                                    "vdst candles done 12001/12001\n"
                                    "vdst gaps start 0/2\n"
                                    "vdst gaps done 2/2\n"
                                    "vdst jobs start 0/2\n"
                                    "vdst jobs done 2/2\n"
                                    "vdst job_runs start 0/4\n"
                                    "vdst job_runs done 4/4\n"
                                    "vdst alerts start 0/1\n"
                                    "vdst alerts done 1/1\n"
                                    "vdst alert_outbox start 0/2\n"
                                    "vdst alert_outbox done 2/2\n"
                                    "vdst signals start 0/2\n"
                                    "vdst signals done 2/2\n"
                                    "vdst deliveries start 0/2\n"
                                    "vdst deliveries done 2/2\n"
                                    "vdst delivery_attempts start 0/3\n"
                                    "vdst delivery_attempts done 3/3\n"
                                    "vdst outcomes start 0/1\n"
                                    "vdst outcomes done 1/1\n"
                                    "vdst backtests start 0/1\n"
                                    "vdst backtests done 1/1\n"
                                    "vdst breakers start 0/2\n"
                                    "vdst breakers done 2/2\n"
                                    "vdst backfills start 0/1\n"
                                    "vdst backfills done 1/1\n");
    /*
     * Candles in four batches each way (a batch never spans two series:
     * BTC/USD's one candle, then 5,000 + 5,000 + 2,000 of XAU/USD), and
     * one batch of each other table (eight of them generic).
     */
    assert_int_equal(ev.rows_events, 2 * (4 + 1 + 1 + 1 + 9));
    migrate_report_release(&rep);

    /* Once there is data, the target is refused, and nothing is written. */
    o.progress = NULL;
    assert_int_equal(migrate_run(&o, &rep, &err), CK_ECONFLICT);
    assert_non_null(strstr(err.buf,
                           "the target 'dst' holds data already (2 series, 12001 "
                           "candles, 2 gaps, 2 jobs, 4 job_runs, 1 alerts, 2 alert_outbox, "
                           "2 signals, 2 deliveries, 3 delivery_attempts, 1 outcomes, "
                           "1 backtests, 2 breakers, 1 backfills)"));
    assert_false(migrate_report_ok(&rep));
    migrate_report_release(&rep);
    strbuf_reset(&err);

    /* With MIGRATE_FORCE the same copy is harmless: nothing but candles is added. */
    o.flags = MIGRATE_FORCE;
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    assert_true(migrate_report_ok(&rep));
    assert_int_equal(find(&rep, "candles")->added, 12001);
    assert_int_equal(find(&rep, "gaps")->added, 0);
    assert_int_equal(find(&rep, "jobs")->added, 0);
    assert_int_equal(find(&rep, "job_runs")->added, 0);
    assert_int_equal(find(&rep, "job_runs")->target.rows, 4);
    assert_int_equal(find(&rep, "signals")->added, 0);
    assert_int_equal(find(&rep, "delivery_attempts")->target.rows, 3);
    assert_int_equal(find(&rep, "breakers")->added, 0);
    assert_int_equal(find(&rep, "breakers")->target.rows, 2);

    /* The other way, into another SQLite file: the same digests. */
    o = (struct migrate_opts){.from = dst, .to = back, .from_name = "dst", .to_name = "back"};
    CHECK_OK(migrate_run(&o, &rep2, &err), &err);
    assert_true(migrate_report_ok(&rep2));
    for (size_t i = 0; i < rep.n; i++) {
        assert_string_equal(rep.v[i].table, rep2.v[i].table);
        assert_memory_equal(rep.v[i].source.digest, rep2.v[i].target.digest, MIGRATE_DIGEST_SIZE);
    }
    migrate_report_release(&rep2);

    /* One changed price in the target is found, in that table only. */
    {
        const struct series_key xau = {"td", "XAU/USD", TF_M15};
        struct candle c = {.open_time = T0 + 900 * 11999,
                           .open = 206341000000 + 11999,
                           .high = 206400000000 + 11999,
                           .low = 206300000000 + 11999,
                           .close = 206341000000 + 2 * 11999 + 1};
        CHECK_OK(store_put_candles(dst, &xau, &c, 1, &err), &err);
    }
    o = (struct migrate_opts){
        .from = src, .to = dst, .from_name = "src", .to_name = "dst", .flags = MIGRATE_VERIFY_ONLY};
    CHECK_OK(migrate_run(&o, &rep2, &err), &err);
    assert_false(migrate_report_ok(&rep2));
    t = find(&rep2, "candles");
    assert_false(migrate_table_ok(t));
    assert_int_equal(t->source.rows, t->target.rows);
    assert_int_equal(t->read, 0); /* verify only: nothing copied */
    assert_true(migrate_table_ok(find(&rep2, "gaps")));
    assert_true(migrate_table_ok(find(&rep2, "jobs")));
    assert_true(migrate_table_ok(find(&rep2, "job_runs")));
    /* The source side reads as it did when it was copied. */
    assert_memory_equal(t->source.digest, find(&rep, "candles")->source.digest,
                        MIGRATE_DIGEST_SIZE);

    migrate_report_release(&rep);
    migrate_report_release(&rep2);
    strbuf_release(&ev.log);
    strbuf_release(&err);
    store_close(src);
    store_close(dst);
    store_close(back);
    free(url);
}

static void insert_run(struct store *st, const char *job, int64_t started, const char *message)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run r = {.job_id = (char *)job,
                        .instance = (char *)"h",
                        .scheduled = T0,
                        .started = started,
                        .finished = started + 1,
                        .status = JOB_OK,
                        .message = (char *)message,
                        .details = (char *)"{}"};
    CHECK_OK(store_import_job_runs(st, &r, 1, 0, NULL, &err), &err);
    strbuf_release(&err);
}

/* Rows without a key: their digest ignores order and ids, but not a doubled row. */
static void test_digest_of_unkeyed_rows(void **state)
{
    struct store *a = open_new_sqlite(), *b = open_new_sqlite(), *c = open_new_sqlite();
    struct migrate_opts o = {.from_name = "a", .to_name = "b", .flags = MIGRATE_VERIFY_ONLY};
    struct migrate_report rep = {0};
    struct strbuf err = STRBUF_INIT;
    const struct migrate_table_result *t;

    (void)state;
    /* Same runs, other order (so other ids): equal. */
    insert_run(a, "j1", FUTURE_MS, "x");
    insert_run(a, "j2", FUTURE_MS, "y");
    insert_run(a, "j1", FUTURE_MS + 5, "z");
    insert_run(b, "j1", FUTURE_MS + 5, "z");
    insert_run(b, "j1", FUTURE_MS, "x");
    insert_run(b, "j2", FUTURE_MS, "y");
    o.from = a;
    o.to = b;
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    assert_true(migrate_report_ok(&rep));
    migrate_report_release(&rep);

    /* {x, x, y} against {x, y, z}... and {x, y, y}: same count, other digests. */
    insert_run(c, "j1", FUTURE_MS, "x");
    insert_run(c, "j1", FUTURE_MS, "x");
    insert_run(c, "j2", FUTURE_MS, "y");
    o.to = c;
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    t = find(&rep, "job_runs");
    assert_int_equal(t->source.rows, 3);
    assert_int_equal(t->target.rows, 3);
    assert_false(migrate_table_ok(t));
    assert_true(migrate_table_ok(find(&rep, "candles")));
    migrate_report_release(&rep);

    /* A field that differs in one character differs. */
    store_close(c);
    c = open_new_sqlite();
    insert_run(c, "j1", FUTURE_MS + 5, "z");
    insert_run(c, "j1", FUTURE_MS, "x");
    insert_run(c, "j2", FUTURE_MS, "Y");
    o.to = c;
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    assert_false(migrate_table_ok(find(&rep, "job_runs")));
    migrate_report_release(&rep);

    strbuf_release(&err);
    store_close(a);
    store_close(b);
    store_close(c);
}

/* Two empty stores match, with the digest of no bytes at all. */
static void test_empty_stores(void **state)
{
    struct store *a = open_new_sqlite(), *b = open_new_sqlite();
    struct migrate_opts o = {.from = a, .to = b, .from_name = "a", .to_name = "b"};
    struct migrate_report rep = {0};
    struct strbuf err = STRBUF_INIT;
    char hex[17];

    (void)state;
    CHECK_OK(migrate_run(&o, &rep, &err), &err);
    assert_true(migrate_report_ok(&rep));
    for (size_t i = 0; i < rep.n; i++) {
        assert_int_equal(rep.v[i].target.rows, 0);
        migrate_digest_hex(&rep.v[i].target, hex);
        assert_string_equal(hex, "e3b0c44298fc1c14"); /* SHA-256 of "" */
    }
    migrate_report_release(&rep);
    migrate_report_release(&rep); /* released twice: harmless */
    strbuf_release(&err);
    store_close(a);
    store_close(b);
}

/* A store that fails is named, with the table and the store's message. */
static void test_failure_names_the_side(void **state)
{
    char *file = test_tmpfile(".db");
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct store *a, *b = open_new_sqlite();
    struct migrate_opts o = {.to = b, .from_name = "A-url", .to_name = "B-url"};
    struct migrate_report rep = {0};
    sqlite3 *db;

    (void)state;
    strbuf_addf(&url, "sqlite:%s", file);
    a = open_url(url.buf);
    /* A series row no candlekeep writes: reading the source fails. */
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO series (source, symbol, timeframe) "
                                  "VALUES ('td', 'X', 'M7')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    o.from = a;
    assert_int_equal(migrate_run(&o, &rep, &err), CK_EPARSE);
    assert_non_null(strstr(err.buf, "cannot read candles from the source 'A-url': "));
    assert_non_null(strstr(err.buf, "unknown timeframe 'M7'"));
    assert_int_equal(rep.n, 1);
    assert_false(migrate_report_ok(&rep));
    migrate_report_release(&rep);
    strbuf_release(&err);
    strbuf_release(&url);
    store_close(a);
    store_close(b);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_verify_and_back),
        cmocka_unit_test(test_digest_of_unkeyed_rows),
        cmocka_unit_test(test_empty_stores),
        cmocka_unit_test(test_failure_names_the_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
