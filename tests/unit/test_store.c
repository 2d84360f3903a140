/* SPDX-License-Identifier: MIT */
/*
 * The store contract, tested through the public API only, so the same
 * binary checks every backend: CTest runs it once on a fresh SQLite file per
 * test and once against PostgreSQL (CK_TEST_STORE_URL). This file covers
 * opening and migrating, candles, the gap ledger, URLs, generic statements
 * and the SQLite-only cases; test_store_jobs.c covers jobs, runs and
 * leases, test_store_copy.c the bulk export and import.
 * The PostgreSQL database is shared with other tests, so every test writes
 * under a source name of its own ("t<pid>_<n>") and never assumes an empty
 * database; deletions by timeframe use times in 1970, which no
 * other test stores. The tests marked SQLite-only skip themselves on other
 * backends.
 */
#include "testutil.h"

#include "market/price.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-01-01T00:00:00Z, a Monday. */
#define T0  1704067200LL
#define M15 900LL

static bool url_is_sqlite(const char *url)
{
    size_t len = strlen(url);
    return !strncmp(url, "sqlite:", 7) || (len > 3 && !strcmp(url + len - 3, ".db"));
}

/* The file behind a sqlite URL made by test_store_url(). */
static const char *sqlite_path(const char *url)
{
    if (!strncmp(url, "sqlite://", 9))
        return url + 9;
    if (!strncmp(url, "sqlite:", 7))
        return url + 7;
    return url;
}

static bool have_sqlite3_shell(void)
{
    return system("command -v sqlite3 >/dev/null 2>&1") == 0;
}

/* Run SQL through the sqlite3 shell; returns its first output line (caller frees). */
static char *sqlite3_shell(const char *path, const char *sql)
{
    struct strbuf cmd = STRBUF_INIT, out = STRBUF_INIT;
    char line[512];
    FILE *p;

    strbuf_addf(&cmd, "sqlite3 '%s' \"%s\"", path, sql);
    p = popen(cmd.buf, "r");
    assert_non_null(p);
    if (fgets(line, sizeof(line), p))
        strbuf_addstr(&out, line);
    while (fgets(line, sizeof(line), p))
        ; /* drain */
    assert_int_equal(pclose(p), 0);
    strbuf_trim(&out);
    strbuf_release(&cmd);
    return strbuf_detach(&out, NULL);
}

static struct candle mk_candle(int64_t t, int64_t base)
{
    struct candle c = {
        .open_time = t,
        .open = base,
        .high = base + 50000000,
        .low = base - 30000000,
        .close = base + 10000000,
    };
    return c;
}

/* `n` M15 candles from `start`, prices rising by 0.01 per candle, no volume. */
static struct candle *mk_run(int64_t start, size_t n)
{
    struct candle *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = mk_candle(start + (int64_t)i * M15, 206341000000LL + (int64_t)i * 1000000);
    return v;
}

static int64_t count_all(struct store_fixture *f, const struct series_key *k)
{
    struct candle_query q = {.series = *k};
    int64_t n = -1;
    CHECK_OK(store_count_candles(f->st, &q, &n, &f->err), &f->err);
    return n;
}

static void test_open_migrate_twice(void **state)
{
    struct store_fixture *f = *state;
    struct store *again = NULL;
    int v1 = 0, v2 = 0;

    assert_true(store_ping(f->st));
    CHECK_OK(store_schema_version(f->st, &v1, &f->err), &f->err);
    assert_true(v1 >= 1);
    assert_true(!strcmp(store_backend_name(f->st), "sqlite") ||
                !strcmp(store_backend_name(f->st), "postgresql"));

    /* A second open of a migrated database changes nothing. */
    CHECK_OK(store_open(&again, f->url, &f->err), &f->err);
    CHECK_OK(store_schema_version(again, &v2, &f->err), &f->err);
    assert_int_equal(v1, v2);
    assert_string_equal(store_backend_name(again), store_backend_name(f->st));
    store_close(again);

    /* And closing one connection leaves the other working. */
    CHECK_OK(store_schema_version(f->st, &v2, &f->err), &f->err);
    assert_int_equal(v1, v2);
}

static void test_bad_urls(void **state)
{
    struct store_fixture *f = *state;
    struct store *st = (struct store *)1;

    assert_int_equal(store_open(&st, "mysql://u:pw@h/db", &f->err), CK_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(f->err.buf, "unsupported"));
    assert_null(strstr(f->err.buf, "pw@")); /* the password is redacted */
    strbuf_reset(&f->err);
    assert_int_equal(store_open(&st, "", &f->err), CK_ECONFIG);
    strbuf_reset(&f->err);
    assert_int_equal(store_open(&st, "sqlite:", &f->err), CK_ECONFIG);
    assert_null(st);
}

static void test_exact_prices(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    static const char *const prices[] = {"2063.41", "0.00000001", "92233720368.54775807",
                                         "1999.99999999"};
    struct candle in[ARRAY_SIZE(prices)];
    struct candle_vec out = CANDLE_VEC_INIT;
    struct candle_query q = {.series = k};
    char buf[PRICE_BUFSZ];

    for (size_t i = 0; i < ARRAY_SIZE(prices); i++) {
        int64_t p;
        assert_int_equal(price_parse(prices[i], strlen(prices[i]), &p), 0);
        in[i] = (struct candle){.open_time = T0 + (int64_t)i * M15,
                                .open = p,
                                .high = p,
                                .low = p,
                                .close = p,
                                .volume = p,
                                .has_volume = true};
    }
    assert_int_equal(in[0].open, 206341000000LL);
    CHECK_OK(store_put_candles(f->st, &k, in, ARRAY_SIZE(in), &f->err), &f->err);
    CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
    assert_int_equal(out.n, ARRAY_SIZE(prices));
    for (size_t i = 0; i < out.n; i++) {
        assert_int_equal(out.v[i].open_time, in[i].open_time);
        assert_int_equal(out.v[i].open, in[i].open);
        assert_int_equal(out.v[i].high, in[i].high);
        assert_int_equal(out.v[i].low, in[i].low);
        assert_int_equal(out.v[i].close, in[i].close);
        assert_true(out.v[i].has_volume);
        assert_int_equal(out.v[i].volume, in[i].volume);
        price_format(out.v[i].close, buf);
        assert_string_equal(buf, prices[i]);
    }
    candle_vec_release(&out);
}

static void test_null_volume(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_H1};
    struct candle in[2] = {mk_candle(T0, 200000000000LL), mk_candle(T0 + 3600, 200000000000LL)};
    struct candle_vec out = CANDLE_VEC_INIT;
    struct candle_query q = {.series = k};

    /* Absent volume and a volume of zero are different things. */
    in[1].has_volume = true;
    in[1].volume = 0;
    CHECK_OK(store_put_candles(f->st, &k, in, 2, &f->err), &f->err);
    CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
    assert_int_equal(out.n, 2);
    assert_false(out.v[0].has_volume);
    assert_int_equal(out.v[0].volume, 0);
    assert_true(out.v[1].has_volume);
    assert_int_equal(out.v[1].volume, 0);
    candle_vec_release(&out);
}

static void test_upsert_dedup_and_replace(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const size_t n = 200;
    struct candle *v = mk_run(T0, n);
    struct candle_vec out = CANDLE_VEC_INIT;
    struct candle_query q = {.series = k};

    CHECK_OK(store_put_candles(f->st, &k, v, n, &f->err), &f->err);
    assert_int_equal(count_all(f, &k), (int64_t)n);
    /* The same range again: no duplicates, nothing else changes. */
    CHECK_OK(store_put_candles(f->st, &k, v, n, &f->err), &f->err);
    assert_int_equal(count_all(f, &k), (int64_t)n);
    /* An overlapping range that extends it adds only the new candles. */
    {
        struct candle *w = mk_run(T0 + 150 * M15, 100);
        CHECK_OK(store_put_candles(f->st, &k, w, 100, &f->err), &f->err);
        assert_int_equal(count_all(f, &k), 250);
        free(w);
    }

    /* Corrected candles replace the stored values, volume included. */
    v[10].close += 1000000;
    v[10].high += 2000000;
    v[11].has_volume = true;
    v[11].volume = 12345;
    CHECK_OK(store_put_candles(f->st, &k, v + 10, 2, &f->err), &f->err);
    assert_int_equal(count_all(f, &k), 250);
    q.has_start = q.has_end = true;
    q.start = v[10].open_time;
    q.end = v[11].open_time;
    CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.v[0].close, v[10].close);
    assert_int_equal(out.v[0].high, v[10].high);
    assert_int_equal(out.v[0].open, v[10].open);
    assert_true(out.v[1].has_volume);
    assert_int_equal(out.v[1].volume, 12345);

    /* And a volume that disappears becomes absent again. */
    v[11].has_volume = false;
    CHECK_OK(store_put_candles(f->st, &k, v + 11, 1, &f->err), &f->err);
    out.n = 0;
    CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
    assert_int_equal(out.n, 2);
    assert_false(out.v[1].has_volume);
    candle_vec_release(&out);
    free(v);
}

static void test_batch_atomicity(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const struct series_key other = {f->source, "EUR/USD", TF_M15};
    struct candle *v = mk_run(T0, 50);
    struct series_info *si = NULL;
    size_t nsi = 0;
    int64_t t;

    CHECK_OK(store_put_candles(f->st, &other, v, 5, &f->err), &f->err);

    /* Everything written in a transaction that rolls back is gone ... */
    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    assert_true(store_in_transaction(f->st));
    CHECK_OK(store_put_candles(f->st, &k, v, 30, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &k, v + 30, 20, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &other, v + 5, 10, &f->err), &f->err);
    assert_int_equal(count_all(f, &k), 50); /* visible inside */
    CHECK_OK(store_rollback(f->st, &f->err), &f->err);
    assert_false(store_in_transaction(f->st));
    assert_int_equal(count_all(f, &k), 0);
    assert_int_equal(count_all(f, &other), 5);
    assert_int_equal(store_latest_time(f->st, &k, &t, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);

    /* ... including the new series itself ... */
    CHECK_OK(store_list_series(f->st, &si, &nsi, &f->err), &f->err);
    for (size_t i = 0; i < nsi; i++)
        assert_false(!strcmp(si[i].source, f->source) && !strcmp(si[i].symbol, "XAU/USD"));
    series_info_free(si, nsi);

    /* ... and the store goes on working: the series is created afresh. */
    CHECK_OK(store_put_candles(f->st, &k, v, 50, &f->err), &f->err);
    assert_int_equal(count_all(f, &k), 50);

    /* A committed transaction keeps both batches. */
    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &other, v + 5, 10, &f->err), &f->err);
    CHECK_OK(store_commit(f->st, &f->err), &f->err);
    assert_int_equal(count_all(f, &other), 15);
    free(v);
}

static void test_close_rolls_back(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = mk_run(T0, 10);
    struct store *st;

    CHECK_OK(store_open(&st, f->url, &f->err), &f->err);
    CHECK_OK(store_begin(st, &f->err), &f->err);
    CHECK_OK(store_put_candles(st, &k, v, 10, &f->err), &f->err);
    store_close(st);
    assert_int_equal(count_all(f, &k), 0);
    free(v);
}

static void test_latest_time(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const struct series_key empty = {f->source, "NONE/USD", TF_M15};
    struct candle v[3] = {mk_candle(T0 + 5 * M15, 100000000), mk_candle(T0 + 9 * M15, 100000000),
                          mk_candle(T0 + 2 * M15, 100000000)};
    int64_t t = 0;

    assert_int_equal(store_latest_time(f->st, &empty, &t, &f->err), CK_ENOTFOUND);
    assert_true(f->err.len > 0);
    strbuf_reset(&f->err);
    CHECK_OK(store_put_candles(f->st, &k, v, 3, &f->err), &f->err);
    CHECK_OK(store_latest_time(f->st, &k, &t, &f->err), &f->err);
    assert_int_equal(t, T0 + 9 * M15);
    /* Another timeframe of the same symbol is another series. */
    {
        const struct series_key h1 = {f->source, "XAU/USD", TF_H1};
        assert_int_equal(store_latest_time(f->st, &h1, &t, &f->err), CK_ENOTFOUND);
    }
}

static void expect_times(struct store_fixture *f, const struct candle_query *q, const int64_t *want,
                         size_t nwant)
{
    struct candle_vec out = CANDLE_VEC_INIT;
    int64_t n = -1;
    CHECK_OK(store_query_candles_vec(f->st, q, &out, &f->err), &f->err);
    assert_int_equal(out.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_int_equal(out.v[i].open_time, want[i]);
    candle_vec_release(&out);
    /* count ignores limit and order. */
    if (!q->limit) {
        CHECK_OK(store_count_candles(f->st, q, &n, &f->err), &f->err);
        assert_int_equal(n, (int64_t)nwant);
    }
}

static void test_range_queries(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = mk_run(T0, 20);
    struct candle_query q = {.series = k};

    CHECK_OK(store_put_candles(f->st, &k, v, 20, &f->err), &f->err);

    {
        int64_t want[20];
        for (int i = 0; i < 20; i++)
            want[i] = T0 + i * M15;
        expect_times(f, &q, want, 20);
    }
    /* Both bounds are inclusive. */
    q.has_start = q.has_end = true;
    q.start = T0 + 3 * M15;
    q.end = T0 + 6 * M15;
    {
        const int64_t want[] = {T0 + 3 * M15, T0 + 4 * M15, T0 + 5 * M15, T0 + 6 * M15};
        expect_times(f, &q, want, 4);
    }
    q.order = STORE_DESC;
    {
        const int64_t want[] = {T0 + 6 * M15, T0 + 5 * M15, T0 + 4 * M15, T0 + 3 * M15};
        expect_times(f, &q, want, 4);
    }
    /* Bounds that fall between candles. */
    q.order = STORE_ASC;
    q.start = T0 + 3 * M15 + 1;
    q.end = T0 + 5 * M15 - 1;
    {
        const int64_t want[] = {T0 + 4 * M15};
        expect_times(f, &q, want, 1);
    }
    /* Only a start. */
    q.has_end = false;
    q.start = T0 + 18 * M15;
    {
        const int64_t want[] = {T0 + 18 * M15, T0 + 19 * M15};
        expect_times(f, &q, want, 2);
    }
    /* Only an end, newest first, limited: the limit applies after the order. */
    q.has_start = false;
    q.has_end = true;
    q.end = T0 + 10 * M15;
    q.order = STORE_DESC;
    q.limit = 3;
    {
        const int64_t want[] = {T0 + 10 * M15, T0 + 9 * M15, T0 + 8 * M15};
        expect_times(f, &q, want, 3);
    }
    q.order = STORE_ASC;
    {
        const int64_t want[] = {T0, T0 + M15, T0 + 2 * M15};
        expect_times(f, &q, want, 3);
    }
    /* An empty range and an unknown series give nothing, not an error. */
    q.limit = 0;
    q.has_start = q.has_end = true;
    q.start = T0 + 100 * M15;
    q.end = T0 + 200 * M15;
    expect_times(f, &q, NULL, 0);
    q.start = T0 + 5 * M15;
    q.end = T0 + 4 * M15;
    expect_times(f, &q, NULL, 0);
    q = (struct candle_query){.series = {f->source, "NONE/USD", TF_M15}};
    expect_times(f, &q, NULL, 0);
    free(v);
}

static void test_iterator(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = mk_run(T0, 10);
    struct candle_query q = {.series = k, .order = STORE_DESC};
    struct candle_iter *it;
    struct candle c;

    CHECK_OK(store_put_candles(f->st, &k, v, 10, &f->err), &f->err);

    /* Iterate to the end; the end stays the end. */
    CHECK_OK(store_query_candles(f->st, &q, &it, &f->err), &f->err);
    for (int i = 9; i >= 0; i--) {
        assert_int_equal(candle_iter_next(it, &c, &f->err), ITER_OK);
        assert_int_equal(c.open_time, v[i].open_time);
        assert_int_equal(c.close, v[i].close);
    }
    assert_int_equal(candle_iter_next(it, &c, &f->err), ITER_DONE);
    assert_int_equal(candle_iter_next(it, &c, &f->err), ITER_DONE);
    candle_iter_free(it);

    /* Stop early: freeing an unfinished iterator leaves the connection usable. */
    CHECK_OK(store_query_candles(f->st, &q, &it, &f->err), &f->err);
    assert_int_equal(candle_iter_next(it, &c, &f->err), ITER_OK);
    candle_iter_free(it);
    CHECK_OK(store_put_candles(f->st, &k, v, 1, &f->err), &f->err);
    candle_iter_free(NULL);
    free(v);
}

static void test_delete_before(void **state)
{
    struct store_fixture *f = *state;
    /*
     * 1970 dates: deleting by timeframe spans every source, and no other
     * test (on a shared database) stores candles that old.
     */
    const int64_t base = 40 * 86400;
    const struct series_key a = {f->source, "XAU/USD", TF_M15};
    const struct series_key b = {f->source, "BTC/USDT", TF_M15};
    const struct series_key h = {f->source, "XAU/USD", TF_H1};
    struct candle *v = mk_run(base, 40);
    struct candle hv[10];
    int64_t deleted = -1, t;

    for (int i = 0; i < 10; i++)
        hv[i] = mk_candle(base + i * 3600, 100000000);
    /* Whatever an earlier, interrupted run left in 1970 goes first. */
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, base + 100 * M15, 0, NULL, &f->err),
             &f->err);
    CHECK_OK(store_delete_candles_before(f->st, TF_H1, base + 100 * 3600, 0, NULL, &f->err),
             &f->err);
    CHECK_OK(store_put_candles(f->st, &a, v, 40, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &b, v, 25, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &h, hv, 10, &f->err), &f->err);

    /* Strictly before: the candle at the cut stays. */
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, base + 30 * M15, 0, &deleted, &f->err),
             &f->err);
    assert_int_equal(deleted, 30 + 25);
    assert_int_equal(count_all(f, &a), 10);
    assert_int_equal(count_all(f, &b), 0);
    assert_int_equal(count_all(f, &h), 10); /* other timeframes untouched */
    CHECK_OK(store_latest_time(f->st, &a, &t, &f->err), &f->err);
    assert_int_equal(t, base + 39 * M15);
    {
        struct candle_query q = {.series = a, .limit = 1};
        struct candle_vec out = CANDLE_VEC_INIT;
        CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.v[0].open_time, base + 30 * M15);
        candle_vec_release(&out);
    }

    /* Again: nothing left to delete. NULL is fine for the count. */
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, base + 30 * M15, 0, &deleted, &f->err),
             &f->err);
    assert_int_equal(deleted, 0);
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, base + 30 * M15, 0, NULL, &f->err),
             &f->err);

    /* Inside a transaction that rolls back, nothing is deleted. */
    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    CHECK_OK(store_delete_candles_before(f->st, TF_H1, base + 5 * 3600, 0, &deleted, &f->err),
             &f->err);
    assert_int_equal(deleted, 5);
    CHECK_OK(store_rollback(f->st, &f->err), &f->err);
    assert_int_equal(count_all(f, &h), 10);
    free(v);
}

static void test_list_series(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key a_h1 = {f->source, "AAA", TF_H1};
    const struct series_key a_m15 = {f->source, "AAA", TF_M15};
    const struct series_key b_d1 = {f->source, "BBB", TF_D1};
    struct candle h1[3], d1 = mk_candle(T0, 100000000);
    struct candle *m15 = mk_run(T0 + 4 * M15, 2);
    struct series_info *si = NULL;
    size_t n = 0, mine = 0, first = 0;

    for (int i = 0; i < 3; i++)
        h1[i] = mk_candle(T0 + i * 3600, 100000000);
    CHECK_OK(store_put_candles(f->st, &a_h1, h1, 3, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &b_d1, &d1, 1, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &a_m15, m15, 2, &f->err), &f->err);

    CHECK_OK(store_list_series(f->st, &si, &n, &f->err), &f->err);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(si[i].source, f->source))
            continue;
        if (!mine)
            first = i;
        mine++;
    }
    assert_int_equal(mine, 3);
    /* Ordered by source, symbol, then timeframe in its natural order. */
    assert_string_equal(si[first].symbol, "AAA");
    assert_int_equal(si[first].tf, TF_M15);
    assert_int_equal(si[first].count, 2);
    assert_int_equal(si[first].first_time, T0 + 4 * M15);
    assert_int_equal(si[first].last_time, T0 + 5 * M15);
    assert_string_equal(si[first + 1].symbol, "AAA");
    assert_int_equal(si[first + 1].tf, TF_H1);
    assert_int_equal(si[first + 1].count, 3);
    assert_int_equal(si[first + 1].first_time, T0);
    assert_int_equal(si[first + 1].last_time, T0 + 2 * 3600);
    assert_string_equal(si[first + 2].symbol, "BBB");
    assert_int_equal(si[first + 2].tf, TF_D1);
    assert_int_equal(si[first + 2].count, 1);
    assert_int_equal(si[first + 2].first_time, T0);
    assert_int_equal(si[first + 2].last_time, T0);
    series_info_free(si, n);
    free(m15);
}

static struct gap_range gap(int64_t first_slot, int64_t last_slot)
{
    return (struct gap_range){T0 + first_slot * M15, T0 + last_slot * M15,
                              last_slot - first_slot + 1};
}

static void test_gap_ledger(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const int64_t from = T0, to = T0 + 100 * M15;
    struct gap_range found[2] = {gap(10, 12), gap(50, 50)};
    struct gap_sync_result r;
    struct gap_record *g = NULL;
    int64_t id_a, id_b;
    size_t n;

    /* New holes open records. */
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 2, "fetch failed", 1000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 2);
    assert_int_equal(r.updated, 0);
    assert_int_equal(r.filled, 0);
    assert_int_equal(r.open, 2);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    /* Newest first. */
    assert_int_equal(g[0].first, T0 + 50 * M15);
    assert_int_equal(g[1].first, T0 + 10 * M15);
    assert_int_equal(g[1].last, T0 + 12 * M15);
    assert_int_equal(g[1].count, 3);
    assert_int_equal(g[1].state, GAP_OPEN);
    assert_string_equal(g[1].reason, "fetch failed");
    assert_string_equal(g[1].source, f->source);
    assert_string_equal(g[1].symbol, "XAU/USD");
    assert_int_equal(g[1].tf, TF_M15);
    assert_int_equal(g[1].first_seen, 1000);
    assert_int_equal(g[1].last_checked, 1000);
    assert_int_not_equal(g[0].id, g[1].id);
    id_b = g[0].id;
    id_a = g[1].id;
    gap_records_free(g, n);

    /* The same holes seen again update, never duplicate. */
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 2, "fetch failed", 2000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.updated, 2);
    assert_int_equal(r.open, 2);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[1].id, id_a);
    assert_int_equal(g[1].first_seen, 1000);
    assert_int_equal(g[1].last_checked, 2000);
    gap_records_free(g, n);

    /* A narrowed hole (partly repaired) updates the same record. */
    found[0] = gap(11, 12);
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 2, "fetch failed", 3000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.updated, 2);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[1].id, id_a);
    assert_int_equal(g[1].first, T0 + 11 * M15);
    assert_int_equal(g[1].last, T0 + 12 * M15);
    assert_int_equal(g[1].count, 2);
    assert_int_equal(g[1].state, GAP_OPEN);
    gap_records_free(g, n);

    /* A hole no longer found is filled. */
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 1, "fetch failed", 4000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.updated, 1);
    assert_int_equal(r.filled, 1);
    assert_int_equal(r.open, 1);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].id, id_b);
    assert_int_equal(g[0].state, GAP_FILLED);
    assert_int_equal(g[0].last_checked, 4000);
    assert_int_equal(g[1].state, GAP_OPEN);
    gap_records_free(g, n);

    /* An unfillable gap is not reopened when the hole is seen again. */
    CHECK_OK(
        store_set_gap_state(f->st, id_a, GAP_UNFILLABLE, "provider has no data", 5000, &f->err),
        &f->err);
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 1, "fetch failed", 6000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.updated, 0);
    assert_int_equal(r.open, 0);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[1].id, id_a);
    assert_int_equal(g[1].state, GAP_UNFILLABLE);
    assert_string_equal(g[1].reason, "provider has no data");
    assert_int_equal(g[1].last_checked, 5000);
    gap_records_free(g, n);

    /* A new hole elsewhere still opens a record, next to the history. */
    found[0] = gap(70, 71);
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 1, NULL, 7000, &r, &f->err), &f->err);
    assert_int_equal(r.opened, 1);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 3);
    assert_int_equal(g[0].first, T0 + 70 * M15);
    assert_int_equal(g[0].state, GAP_OPEN);
    assert_true(strlen(g[0].reason) > 0);
    gap_records_free(g, n);
}

/*
 * A fresh hole spanning an unfillable record and an older filled one stays
 * blocked by the unfillable record, whatever order the ledger lists them in.
 */
static void test_gap_unfillable_blocks_wide_hole(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const int64_t from = T0, to = T0 + 100 * M15;
    struct gap_range found[2] = {gap(10, 12), gap(50, 52)};
    struct gap_sync_result r;
    struct gap_record *g = NULL;
    size_t n;

    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 2, "fetch failed", 1000, &r, &f->err),
             &f->err);
    /* The older hole is repaired, the newer one is given up on. */
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found + 1, 1, "fetch failed", 2000, &r, &f->err),
             &f->err);
    assert_int_equal(r.filled, 1);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].first, T0 + 50 * M15);
    CHECK_OK(store_set_gap_state(f->st, g[0].id, GAP_UNFILLABLE, NULL, 3000, &f->err), &f->err);
    gap_records_free(g, n);

    found[0] = gap(10, 52);
    CHECK_OK(store_sync_gaps(f->st, &k, from, to, found, 1, "fetch failed", 4000, &r, &f->err),
             &f->err);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.open, 0);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].state, GAP_UNFILLABLE);
    assert_string_equal(g[0].reason, "fetch failed"); /* NULL kept the reason */
    assert_int_equal(g[1].state, GAP_FILLED);
    gap_records_free(g, n);
}

/* A record that reaches outside the scanned window is not judged filled. */
static void test_gap_window_edges(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct gap_range found = gap(-5, 2);
    struct gap_sync_result r;
    struct gap_record *g = NULL;
    size_t n;

    CHECK_OK(store_sync_gaps(f->st, &k, T0 - 10 * M15, T0 + 10 * M15, &found, 1, "down", 1000, &r,
                             &f->err),
             &f->err);
    assert_int_equal(r.opened, 1);
    /* A later window that starts inside the record. */
    CHECK_OK(store_sync_gaps(f->st, &k, T0, T0 + 50 * M15, NULL, 0, "down", 2000, &r, &f->err),
             &f->err);
    assert_int_equal(r.filled, 0);
    n = store_fixture_gaps(f, &k, &g);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].state, GAP_OPEN);
    gap_records_free(g, n);
    /* A window that covers it all does judge it. */
    CHECK_OK(store_sync_gaps(f->st, &k, T0 - 20 * M15, T0 + 50 * M15, NULL, 0, "down", 3000, &r,
                             &f->err),
             &f->err);
    assert_int_equal(r.filled, 1);
    assert_int_equal(r.open, 0);
}

static void test_gap_filters(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key x = {f->source, "XAU/USD", TF_M15};
    const struct series_key y = {f->source, "BTC/USDT", TF_H1};
    struct gap_range fx[3] = {gap(10, 10), gap(20, 21), gap(30, 33)};
    struct gap_range fy = {T0 + 3600, T0 + 2 * 3600, 2};
    struct gap_query q = {.source = f->source};
    struct gap_record *g = NULL;
    size_t n = 0;
    int64_t id;

    CHECK_OK(
        store_sync_gaps(f->st, &x, T0, T0 + 100 * M15, fx, 3, "fetch failed", 10, NULL, &f->err),
        &f->err);
    CHECK_OK(store_sync_gaps(f->st, &y, T0, T0 + 10 * 3600, &fy, 1, "down", 10, NULL, &f->err),
             &f->err);

    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 4);
    /* Newest first across series. */
    for (size_t i = 1; i < n; i++)
        assert_true(g[i - 1].first >= g[i].first);
    gap_records_free(g, n);

    q.symbol = "BTC/USDT";
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].tf, TF_H1);
    assert_string_equal(g[0].reason, "down");
    gap_records_free(g, n);

    q.symbol = NULL;
    q.has_tf = true;
    q.tf = TF_M15;
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 3);
    gap_records_free(g, n);

    q.has_since = true; /* last >= since */
    q.since = T0 + 21 * M15;
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].first, T0 + 30 * M15);
    assert_int_equal(g[1].first, T0 + 20 * M15);
    gap_records_free(g, n);

    q.limit = 1;
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].first, T0 + 30 * M15);
    id = g[0].id;
    gap_records_free(g, n);

    /* By state. */
    CHECK_OK(store_set_gap_state(f->st, id, GAP_REPAIRING, NULL, 20, &f->err), &f->err);
    q = (struct gap_query){.source = f->source, .has_state = true, .state = GAP_REPAIRING};
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].first, T0 + 30 * M15);
    assert_int_equal(g[0].last_checked, 20);
    gap_records_free(g, n);
    q.state = GAP_OPEN;
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 3);
    gap_records_free(g, n);

    /* A repairing gap is matched like an open one. */
    {
        struct gap_sync_result r;
        CHECK_OK(
            store_sync_gaps(f->st, &x, T0, T0 + 100 * M15, fx, 3, "fetch failed", 30, &r, &f->err),
            &f->err);
        assert_int_equal(r.opened, 0);
        assert_int_equal(r.updated, 3);
    }

    /* Filters that match nothing. */
    q = (struct gap_query){.source = f->source, .symbol = "XAU/USD", .has_tf = true, .tf = TF_H1};
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 0);
    gap_records_free(g, n);
    q = (struct gap_query){.source = "no-such-source"};
    CHECK_OK(store_list_gaps(f->st, &q, &g, &n, &f->err), &f->err);
    assert_int_equal(n, 0);
    gap_records_free(g, n);
}

static void test_set_gap_state_unknown(void **state)
{
    struct store_fixture *f = *state;
    assert_int_equal(store_set_gap_state(f->st, INT64_MAX - 7, GAP_FILLED, NULL, 1, &f->err),
                     CK_ENOTFOUND);
    assert_non_null(strstr(f->err.buf, "no gap"));
    /* One message, not one per layer. */
    assert_null(strstr(strstr(f->err.buf, "no gap") + 1, "no gap"));
}

static void test_gap_state_names(void **state)
{
    enum gap_state s;
    (void)state;
    for (int i = GAP_OPEN; i <= GAP_UNFILLABLE; i++) {
        assert_int_equal(gap_state_parse(gap_state_name((enum gap_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(gap_state_parse("closed", &s), CK_EINVAL);
}

/* SQLite only. */

static void test_sqlite_unwritable(void **state)
{
    struct store_fixture *f = *state;
    static const char *const urls[] = {
        "sqlite:/nonexistent-candlekeep-dir/sub/ck.db", /* no such directory */
        "sqlite:/proc/candlekeep-test.db",              /* not writable, even for root */
    };
    struct store *st;

    if (!url_is_sqlite(f->url))
        skip();
    for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
        strbuf_reset(&f->err);
        assert_int_equal(store_open(&st, urls[i], &f->err), CK_EIO);
        assert_null(st);
        assert_non_null(strstr(f->err.buf, sqlite_path(urls[i])));
        assert_non_null(strstr(f->err.buf, "store: sqlite"));
    }

    /* A directory is not a database. */
    {
        struct strbuf u = STRBUF_INIT;
        strbuf_addf(&u, "sqlite:%s", test_tmpdir());
        strbuf_reset(&f->err);
        assert_int_equal(store_open(&st, u.buf, &f->err), CK_EIO);
        assert_non_null(strstr(f->err.buf, test_tmpdir()));
        strbuf_release(&u);
    }

    /* A read-only file (permissions do not bind root). */
    if (geteuid() != 0) {
        char *path = test_tmpfile(".db");
        struct strbuf u = STRBUF_INIT;
        strbuf_addf(&u, "sqlite:%s", path);
        CHECK_OK(store_open(&st, u.buf, &f->err), &f->err);
        store_close(st);
        assert_int_equal(chmod(path, 0444), 0);
        strbuf_reset(&f->err);
        assert_int_equal(store_open(&st, u.buf, &f->err), CK_EIO);
        assert_non_null(strstr(f->err.buf, path));
        assert_non_null(strstr(f->err.buf, "read-only"));
        strbuf_release(&u);
        free(path);
    }
}

static void test_sqlite_not_a_database(void **state)
{
    struct store_fixture *f = *state;
    char *path;
    struct strbuf u = STRBUF_INIT;
    struct store *st;
    FILE *fp;

    if (!url_is_sqlite(f->url))
        skip();
    path = test_tmpfile(".db");
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, just text.\n", fp);
    fclose(fp);
    strbuf_addf(&u, "sqlite:%s", path);
    strbuf_reset(&f->err);
    assert_int_equal(store_open(&st, u.buf, &f->err), CK_EIO);
    assert_non_null(strstr(f->err.buf, path));
    strbuf_release(&u);
    free(path);
}

static void test_sqlite_url_forms(void **state)
{
    struct store_fixture *f = *state;
    char *path = test_tmpfile(".db");
    struct strbuf u = STRBUF_INIT;
    struct store *st;
    struct stat sb;

    if (!url_is_sqlite(f->url)) {
        free(path);
        skip();
    }
    /* sqlite://PATH with an absolute path: sqlite:///tmp/... */
    strbuf_addf(&u, "sqlite://%s", path);
    CHECK_OK(store_open(&st, u.buf, &f->err), &f->err);
    assert_string_equal(store_backend_name(st), "sqlite");
    store_close(st);
    assert_int_equal(stat(path, &sb), 0);
    free(path);

    /* A bare path ending in .db. */
    path = test_tmpfile(".db");
    CHECK_OK(store_open(&st, path, &f->err), &f->err);
    assert_string_equal(store_backend_name(st), "sqlite");
    store_close(st);
    assert_int_equal(stat(path, &sb), 0);
    free(path);
    strbuf_release(&u);
}

static void test_sqlite_newer_schema_refused(void **state)
{
    struct store_fixture *f = *state;
    const char *path;
    struct store *st = NULL;
    char *out;
    int v;

    if (!url_is_sqlite(f->url) || !have_sqlite3_shell())
        skip();
    path = sqlite_path(f->url);
    CHECK_OK(store_schema_version(f->st, &v, &f->err), &f->err);

    out = sqlite3_shell(path, "SELECT count(*), max(version) FROM schema_version");
    {
        char want[32];
        snprintf(want, sizeof(want), "%d|%d", v, v);
        assert_string_equal(out, want); /* one row per applied migration */
    }
    free(out);
    out = sqlite3_shell(path, "INSERT INTO schema_version (version) VALUES (9999)");
    free(out);

    assert_int_equal(store_open(&st, f->url, &f->err), CK_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(f->err.buf, "9999"));
    assert_non_null(strstr(f->err.buf, "newer"));
    assert_non_null(strstr(f->err.buf, path));
}

/*
 * Run the script `sql` on the file with SQLite itself, then the query
 * `select` (may be NULL), which returns one integer: its value, or -1.
 */
static int64_t sqlite_direct(const char *path, const char *sql, const char *select)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open %s: %s", path, sqlite3_errmsg(db));
    if (sql && sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (select) {
        if (sqlite3_prepare_v2(db, select, -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", select, sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/*
 * A database made by the first release (schema version 1) is upgraded in
 * place at open, and keeps its candles. Such a file is made by taking
 * version 2's objects out of a fresh one.
 */
static void test_sqlite_migrates_from_v1(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    static const char *const v2_tables =
        "SELECT count(*) FROM sqlite_master WHERE name IN "
        "('jobs', 'job_runs', 'leases', 'job_runs_job', 'job_runs_status_started')";
    struct candle *v = mk_run(T0, 30);
    const char *path;
    struct job_state js;
    int version = 0;

    if (!url_is_sqlite(f->url)) {
        free(v);
        skip();
    }
    path = sqlite_path(f->url);
    CHECK_OK(store_put_candles(f->st, &k, v, 30, &f->err), &f->err);
    CHECK_OK(store_job_ensure(f->st, "refresh", 1, &f->err), &f->err);
    store_close(f->st);
    f->st = NULL;

    assert_int_equal(sqlite_direct(path, NULL, v2_tables), 5);
    assert_int_equal(sqlite_direct(path,
                                   "DROP TABLE jobs; DROP TABLE job_runs; DROP TABLE leases;"
                                   "DROP TABLE rate_budgets; DROP TABLE rate_log;"
                                   "DROP TABLE series_state;"
                                   "DROP TABLE alerts; DROP TABLE alert_outbox;"
                                   "DROP TABLE delivery_attempts; DROP TABLE deliveries;"
                                   "DROP TABLE outcomes; DROP TABLE signals; DROP TABLE backtests;"
                                   "DROP TABLE breakers; DROP TABLE backfills;"
                                   "DROP INDEX gaps_state; ALTER TABLE gaps DROP COLUMN attempts;"
                                   "ALTER TABLE gaps DROP COLUMN first_attempt;"
                                   "DELETE FROM schema_version WHERE version >= 2;",
                                   "SELECT max(version) FROM schema_version"),
                     1);
    assert_int_equal(sqlite_direct(path, NULL, v2_tables), 0);

    CHECK_OK(store_open(&f->st, f->url, &f->err), &f->err);
    CHECK_OK(store_schema_version(f->st, &version, &f->err), &f->err);
    assert_int_equal(version, 9);
    assert_int_equal(count_all(f, &k), 30);
    {
        struct candle_query q = {.series = k, .limit = 1, .order = STORE_DESC};
        struct candle_vec out = CANDLE_VEC_INIT;
        CHECK_OK(store_query_candles_vec(f->st, &q, &out, &f->err), &f->err);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.v[0].open_time, v[29].open_time);
        assert_int_equal(out.v[0].close, v[29].close);
        candle_vec_release(&out);
    }
    /* The new tables are there, empty, and work. */
    assert_int_equal(store_job_get(f->st, "refresh", &js, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);
    CHECK_OK(store_job_ensure(f->st, "refresh", 2, &f->err), &f->err);
    CHECK_OK(store_lease_claim(f->st, "fire:refresh:1", "A", 1, 2, &f->err), &f->err);
    assert_int_equal(sqlite_direct(path, NULL, v2_tables), 5);
    assert_int_equal(sqlite_direct(path, NULL, "SELECT count(*) FROM schema_version"), version);
    free(v);
}

/* The recorded circuit breakers: written whole, replaced whole, read back exactly. */
static void test_breaker_rows(void **state)
{
    struct store_fixture *f = *state;
    struct strbuf other = STRBUF_INIT;
    struct breaker_row got, *all = NULL;
    struct breaker_row row = {.source = f->source,
                              .state = (char *)"open",
                              .failures = 3,
                              .opened_at_ms = 1704067200123,
                              .retry_at_ms = 1704067260123,
                              .updated_ms = 1704067200124,
                              .instance = (char *)"host:1:ab"};
    size_t n = 0, mine = 0;

    strbuf_addf(&other, "%s_b", f->source);
    assert_int_equal(store_breaker_get(f->st, f->source, &got, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);

    CHECK_OK(store_breaker_put(f->st, &row, &f->err), &f->err);
    CHECK_OK(store_breaker_get(f->st, f->source, &got, &f->err), &f->err);
    assert_string_equal(got.source, f->source);
    assert_string_equal(got.state, "open");
    assert_int_equal(got.failures, 3);
    assert_int_equal(got.opened_at_ms, 1704067200123);
    assert_int_equal(got.retry_at_ms, 1704067260123);
    assert_int_equal(got.updated_ms, 1704067200124);
    assert_string_equal(got.instance, "host:1:ab");
    breaker_row_release(&got);

    /* A later transition replaces every field; none-times read back as 0, NULL strings as "". */
    row.state = (char *)"closed";
    row.failures = 0;
    row.retry_at_ms = 0;
    row.updated_ms = 1704067300000;
    row.instance = NULL;
    CHECK_OK(store_breaker_put(f->st, &row, &f->err), &f->err);
    CHECK_OK(store_breaker_get(f->st, f->source, &got, &f->err), &f->err);
    assert_string_equal(got.state, "closed");
    assert_int_equal(got.failures, 0);
    assert_int_equal(got.opened_at_ms, 1704067200123);
    assert_int_equal(got.retry_at_ms, 0);
    assert_int_equal(got.updated_ms, 1704067300000);
    assert_string_equal(got.instance, "");
    breaker_row_release(&got);

    /* Another source has a row of its own; the list holds both, by source. */
    row.source = other.buf;
    row.state = (char *)"half_open";
    row.opened_at_ms = 0;
    CHECK_OK(store_breaker_put(f->st, &row, &f->err), &f->err);
    CHECK_OK(store_breaker_list(f->st, &all, &n, &f->err), &f->err);
    for (size_t i = 0; i < n; i++) {
        if (i)
            assert_true(strcmp(all[i - 1].source, all[i].source) < 0);
        if (!strcmp(all[i].source, f->source)) {
            assert_string_equal(all[i].state, "closed");
            mine++;
        } else if (!strcmp(all[i].source, other.buf)) {
            assert_string_equal(all[i].state, "half_open");
            assert_int_equal(all[i].opened_at_ms, 0);
            mine++;
        }
    }
    assert_int_equal(mine, 2);
    breaker_rows_free(all, n);

    /* Adding records only what is not recorded yet. */
    {
        struct strbuf third = STRBUF_INIT;
        bool added = false;
        strbuf_addf(&third, "%s_c", f->source);
        row.source = f->source;
        row.state = (char *)"open";
        CHECK_OK(store_breaker_add(f->st, &row, &added, &f->err), &f->err);
        assert_false(added);
        CHECK_OK(store_breaker_get(f->st, f->source, &got, &f->err), &f->err);
        assert_string_equal(got.state, "closed");
        breaker_row_release(&got);
        row.source = third.buf;
        CHECK_OK(store_breaker_add(f->st, &row, &added, &f->err), &f->err);
        assert_true(added);
        CHECK_OK(store_breaker_get(f->st, third.buf, &got, &f->err), &f->err);
        assert_string_equal(got.state, "open");
        breaker_row_release(&got);
        row.source = f->source;
        strbuf_release(&third);
    }

    /* The schema keeps states to the breaker's names. */
    row.state = (char *)"ajar";
    assert_true(store_breaker_put(f->st, &row, &f->err) < 0);
    assert_non_null(strstr(f->err.buf, "record the circuit breaker of"));
    strbuf_reset(&f->err);
    breaker_rows_free(NULL, 0);
    breaker_row_release(NULL);
    strbuf_release(&other);
}

/* The view for people in the sqlite3 shell shows real decimals and ISO times. */
static void test_sqlite_view(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle c = {T0 + M15, 206341000000LL, 206500000000LL, 206000000000LL, 206450000000LL,
                       0,        false};
    char *out;

    if (!url_is_sqlite(f->url) || !have_sqlite3_shell())
        skip();
    CHECK_OK(store_put_candles(f->st, &k, &c, 1, &f->err), &f->err);
    out = sqlite3_shell(sqlite_path(f->url), "SELECT source, symbol, timeframe, time, open, "
                                             "close, coalesce(volume, 'null') FROM candles_view");
    {
        struct strbuf want = STRBUF_INIT;
        strbuf_addf(&want, "%s|XAU/USD|M15|2024-01-01T00:15:00Z|2063.41|2064.5|null", f->source);
        assert_string_equal(out, want.buf);
        strbuf_release(&want);
    }
    free(out);
}

/* A write lock held past the busy timeout is CK_EBUSY, and names the file. */
static void test_sqlite_busy(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = mk_run(T0, 10);
    struct store *other;

    if (!url_is_sqlite(f->url)) {
        free(v);
        skip();
    }
    CHECK_OK(store_open(&other, f->url, &f->err), &f->err);
    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    CHECK_OK(store_put_candles(f->st, &k, v, 5, &f->err), &f->err);
    /* Readers are not blocked by the writer (WAL) and see the last commit. */
    {
        struct candle_query q = {.series = k};
        int64_t n = -1;
        CHECK_OK(store_count_candles(other, &q, &n, &f->err), &f->err);
        assert_int_equal(n, 0);
    }
    assert_int_equal(store_put_candles(other, &k, v + 5, 5, &f->err), CK_EBUSY);
    assert_non_null(strstr(f->err.buf, sqlite_path(f->url)));
    assert_false(store_in_transaction(other));
    strbuf_reset(&f->err);
    CHECK_OK(store_commit(f->st, &f->err), &f->err);

    /* Once the lock is gone the other connection writes and sees both batches. */
    CHECK_OK(store_put_candles(other, &k, v + 5, 5, &f->err), &f->err);
    {
        struct candle_query q = {.series = k};
        int64_t n = -1;
        CHECK_OK(store_count_candles(other, &q, &n, &f->err), &f->err);
        assert_int_equal(n, 10);
    }
    store_close(other);
    free(v);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) ? 0 : sb.st_size;
}

/*
 * Re-upserting identical candles writes nothing: the WAL stays empty. A
 * changed candle does write.
 */
static void test_sqlite_identical_upsert_writes_nothing(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    struct candle *v = mk_run(T0, 500);
    struct strbuf wal = STRBUF_INIT;
    struct store *st;

    if (!url_is_sqlite(f->url)) {
        free(v);
        skip();
    }
    CHECK_OK(store_put_candles(f->st, &k, v, 500, &f->err), &f->err);
    /* Closing the last connection checkpoints and removes the WAL. */
    store_close(f->st);
    f->st = NULL;
    strbuf_addf(&wal, "%s-wal", sqlite_path(f->url));

    CHECK_OK(store_open(&st, f->url, &f->err), &f->err);
    f->st = st;
    CHECK_OK(store_put_candles(st, &k, v, 500, &f->err), &f->err);
    assert_int_equal(file_size(wal.buf), 0);
    v[250].close += 1;
    CHECK_OK(store_put_candles(st, &k, v, 500, &f->err), &f->err);
    assert_true(file_size(wal.buf) > 0);
    strbuf_release(&wal);
    free(v);
}

static void test_url_helpers(void **state)
{
    char *db = test_tmpfile(".db"), *link = test_tmpfile(".db");
    struct strbuf u1 = STRBUF_INIT, u2 = STRBUF_INIT;
    FILE *fp;

    (void)state;
    assert_string_equal(store_url_backend("sqlite:x.db"), "sqlite");
    assert_string_equal(store_url_backend("/tmp/x.db"), "sqlite");
    assert_string_equal(store_url_backend("postgres://h/db"), "postgresql");
    assert_null(store_url_backend("mysql://h/db"));
    assert_string_equal(store_sqlite_file("sqlite:///tmp/a.db"), "/tmp/a.db");
    assert_string_equal(store_sqlite_file("sqlite:a.db"), "a.db");
    assert_string_equal(store_sqlite_file("b.db"), "b.db");
    assert_null(store_sqlite_file("postgresql://h/db"));

    assert_true(store_same_database("postgresql://u:p@h:5/d", "postgres://u:p@h:5/d"));
    assert_false(store_same_database("postgresql://u:p@h:5/d", "postgresql://u:p@h:5/e"));
    assert_false(store_same_database("sqlite:a.db", "postgresql://h/a.db"));
    assert_true(store_same_database("sqlite:a.db", "a.db"));
    assert_false(store_same_database("sqlite:a.db", "sqlite:b.db"));
    /* One file under two names. */
    fp = fopen(db, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(symlink(db, link), 0);
    strbuf_addf(&u1, "sqlite:%s", db);
    strbuf_addf(&u2, "sqlite://%s", link);
    assert_true(store_same_database(u1.buf, u2.buf));
    strbuf_release(&u1);
    strbuf_release(&u2);
    free(db);
    free(link);
}

/*
 * The generic statements bind and read every kind the same way on both
 * backends: exact prices, times to the millisecond, booleans, NULL, text
 * with quotes, and the count of changed rows.
 */
static void test_generic_statements(void **state)
{
    struct store_fixture *f = *state;
    static const struct sql_stmt create = {
        .sqlite = "CREATE TEMP TABLE kinds (n INTEGER, p INTEGER, t INTEGER, b INTEGER, s TEXT)",
        .pg = "CREATE TEMP TABLE kinds (n bigint, p NUMERIC(20,8), t timestamptz, b boolean, "
              "s text)",
    };
    static const struct sql_stmt insert =
        SQL_SAME("INSERT INTO kinds (n, p, t, b, s) VALUES ($1, $2, $3, $4, $5)");
    static const struct sql_stmt select = {
        .sqlite = "SELECT n, p, t, b, s FROM kinds WHERE n >= $1 ORDER BY n",
        .pg = "SELECT n, p, " SQL_PG_MS("t") ", b, s FROM kinds WHERE n >= $1 ORDER BY n",
    };
    static const struct sql_stmt update = SQL_SAME("UPDATE kinds SET s = $2 WHERE n < $1");
    struct sql_rows rows = SQL_ROWS_INIT;
    const int64_t prices[] = {206341000000, 1, 9223372036854775807LL};
    const int64_t times[] = {1704207600123, -1000, 253402300799999};
    int64_t changed = -1, v;
    bool b;

    CHECK_OK(store_sql(f->st, &create, NULL, 0, NULL, NULL, "create", &f->err), &f->err);
    for (int i = 0; i < 3; i++) {
        struct sqlv p[] = {SQLV_I(i), SQLV_P(prices[i]), SQLV_MS(times[i]), SQLV_B(i == 1),
                           i == 2 ? SQLV_N() : SQLV_S("it's \"quoted\"")};
        CHECK_OK(store_sql(f->st, &insert, p, 5, NULL, &changed, "insert", &f->err), &f->err);
        assert_int_equal(changed, 1);
    }
    {
        struct sqlv p[] = {SQLV_I(0)};
        CHECK_OK(store_sql(f->st, &select, p, 1, &rows, NULL, "select", &f->err), &f->err);
    }
    assert_int_equal(rows.nrows, 3);
    assert_int_equal(rows.ncols, 5);
    for (size_t r = 0; r < 3; r++) {
        CHECK_OK(sql_rows_int(&rows, r, 0, &v, &f->err), &f->err);
        assert_int_equal(v, (int64_t)r);
        CHECK_OK(sql_rows_price(&rows, r, 1, &v, &f->err), &f->err);
        assert_int_equal(v, prices[r]);
        CHECK_OK(sql_rows_int(&rows, r, 2, &v, &f->err), &f->err);
        assert_int_equal(v, times[r]);
        CHECK_OK(sql_rows_bool(&rows, r, 3, &b, &f->err), &f->err);
        assert_int_equal(b, r == 1);
    }
    assert_string_equal(sql_rows_text(&rows, 0, 4), "it's \"quoted\"");
    assert_true(sql_rows_null(&rows, 2, 4));
    assert_int_equal(sql_rows_int(&rows, 2, 4, &v, &f->err), CK_EPARSE);
    strbuf_reset(&f->err);
    sql_rows_release(&rows);
    {
        struct sqlv p[] = {SQLV_I(2), SQLV_S("x")};
        CHECK_OK(store_sql(f->st, &update, p, 2, NULL, &changed, "update", &f->err), &f->err);
        assert_int_equal(changed, 2);
    }
    /* An error names what the statement was for. */
    {
        struct sqlv p[] = {SQLV_I(0), SQLV_P(1), SQLV_MS(0), SQLV_B(0), SQLV_S("dup")};
        static const struct sql_stmt bad = SQL_SAME("INSERT INTO no_such_table VALUES ($1)");
        assert_int_not_equal(store_sql(f->st, &bad, p, 1, NULL, NULL, "record the thing", &f->err),
                             0);
        assert_non_null(strstr(f->err.buf, "record the thing"));
        strbuf_reset(&f->err);
    }
}

/* The database's size is a real figure: positive, and it grows with what is stored. */
static void test_database_size(void **state)
{
    struct store_fixture *f = *state;
    struct series_key k = {f->source, "XAU/USD", TF_M15};
    int64_t before = 0, after = 0;
    const size_t n = 20000;
    struct candle *v = mk_run(T0, n);

    CHECK_OK(store_database_size(f->st, &before, &f->err), &f->err);
    assert_true(before > 0);
    CHECK_OK(store_put_candles(f->st, &k, v, n, &f->err), &f->err);
    CHECK_OK(store_database_size(f->st, &after, &f->err), &f->err);
    assert_true(after > before);
    if (url_is_sqlite(f->url))
        assert_int_equal(after % 512, 0); /* whole pages */
    free(v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_migrate_twice),
        T(test_bad_urls),
        T(test_exact_prices),
        T(test_null_volume),
        T(test_upsert_dedup_and_replace),
        T(test_batch_atomicity),
        T(test_close_rolls_back),
        T(test_latest_time),
        T(test_range_queries),
        T(test_iterator),
        T(test_delete_before),
        T(test_list_series),
        T(test_gap_ledger),
        T(test_gap_unfillable_blocks_wide_hole),
        T(test_gap_window_edges),
        T(test_gap_filters),
        T(test_set_gap_state_unknown),
        T(test_generic_statements),
        T(test_database_size),
        T(test_breaker_rows),
        cmocka_unit_test(test_url_helpers),
        cmocka_unit_test(test_gap_state_names),
        T(test_sqlite_unwritable),
        T(test_sqlite_not_a_database),
        T(test_sqlite_url_forms),
        T(test_sqlite_newer_schema_refused),
        T(test_sqlite_migrates_from_v1),
        T(test_sqlite_view),
        T(test_sqlite_busy),
        T(test_sqlite_identical_upsert_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
