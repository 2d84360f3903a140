/* SPDX-License-Identifier: MIT */
/*
 * What only the PostgreSQL backend has to get right, checked against a real
 * server (CTest runs this binary as pg.test_store_pg with CK_TEST_STORE_URL
 * set to the throwaway cluster; without a PostgreSQL URL it skips with 77):
 * prices that SQL users see as real NUMERIC values, NULL volumes, true
 * timestamptz times whatever the session's time zone, the COPY and upsert
 * write paths, the keyset-paged iterator, reconnecting after the server
 * dropped the connection, concurrent migration, error codes, statistics
 * after a bulk write, and messages that never carry the password.
 *
 * Every test works in a schema of its own (created here, selected with
 * options=-csearch_path in the store's URL, dropped at the end), so the
 * database shared with the other pg tests is never disturbed and each test
 * starts from an empty, freshly migrated store. A second libpq connection
 * ("side") inspects and provokes the server.
 */
#include "testutil.h"

#include "market/price.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-01-02T15:00:00Z */
#define T0  1704207600LL
#define M15 900LL

static const char *base_url;
static char *password; /* of base_url, to check that no message shows it */
static PGconn *side;
static char *schemas[64];
static size_t nschemas;

/* Run `sql` on the side connection and expect success; returns the result. */
static PGresult *side_exec(const char *sql)
{
    PGresult *res = PQexec(side, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("side query failed: %s\n%s", sql, PQerrorMessage(side));
    return res;
}

/* The first value of a side query (caller frees), NULL for SQL NULL. */
__attribute__((format(printf, 1, 2))) static char *side_value(const char *fmt, ...)
{
    struct strbuf sql = STRBUF_INIT;
    PGresult *res;
    char *v = NULL;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&sql, fmt, ap);
    va_end(ap);
    res = side_exec(sql.buf);
    if (PQntuples(res) < 1)
        fail_msg("no row from: %s", sql.buf);
    if (!PQgetisnull(res, 0, 0))
        v = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    strbuf_release(&sql);
    return v;
}

static void assert_value(const char *expect, char *got)
{
    if (!expect)
        assert_null(got);
    else
        assert_string_equal(got ? got : "(null)", expect);
    free(got);
}

/*
 * A new empty schema; returns a store URL that works in it, with extra
 * server options (`-cname%3Dvalue` pairs separated by %20) and an
 * application_name when given. Caller frees.
 */
static char *schema_url(char *out_schema, size_t size, const char *opts, const char *app)
{
    static unsigned counter;
    struct strbuf url = STRBUF_INIT;

    snprintf(out_schema, size, "ckt_%ld_%u", (long)getpid(), counter++);
    {
        struct strbuf sql = STRBUF_INIT;
        strbuf_addf(&sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", out_schema,
                    out_schema);
        PQclear(side_exec(sql.buf));
        strbuf_release(&sql);
    }
    if (nschemas < ARRAY_SIZE(schemas))
        schemas[nschemas++] = xstrdup(out_schema);
    strbuf_addf(&url, "%s%soptions=-csearch_path%%3D%s", base_url,
                strchr(base_url, '?') ? "&" : "?", out_schema);
    if (opts)
        strbuf_addf(&url, "%%20%s", opts);
    if (app)
        strbuf_addf(&url, "&application_name=%s", app);
    return strbuf_detach(&url, NULL);
}

static void side_use(const char *schema)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_addf(&sql, "SET search_path = %s", schema);
    PQclear(side_exec(sql.buf));
    strbuf_release(&sql);
}

static void assert_no_password(const char *msg)
{
    if (password && *password && strstr(msg, password))
        fail_msg("message shows the password: %s", msg);
}

static struct candle mk(int64_t t, int64_t base, bool vol)
{
    struct candle c = {
        .open_time = t,
        .open = base,
        .high = base + 50000000,
        .low = base - 30000000,
        .close = base + 10000000,
        .volume = vol ? 150000000000LL : 0,
        .has_volume = vol,
    };
    return c;
}

static void assert_candle_equal(const struct candle *a, const struct candle *b)
{
    assert_int_equal(a->open_time, b->open_time);
    assert_int_equal(a->open, b->open);
    assert_int_equal(a->high, b->high);
    assert_int_equal(a->low, b->low);
    assert_int_equal(a->close, b->close);
    assert_int_equal(a->has_volume, b->has_volume);
    if (a->has_volume)
        assert_int_equal(a->volume, b->volume);
}

static const struct series_key xau = {.source = "twelvedata", .symbol = "XAU/USD", .tf = TF_M15};

/* --- NUMERIC prices, NULL volume, column types ----------------------- */

static void test_numeric_prices(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct candle_vec got = CANDLE_VEC_INIT;
    struct candle_query q = {.series = xau};
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    struct candle c[2] = {
        {.open_time = T0,
         .open = 206341000000LL, /* 2063.41 */
         .high = 206500000000LL,
         .low = 206050000000LL,
         .close = 206341000000LL},
        {.open_time = T0 + M15,
         .open = INT64_MAX, /* 92233720368.54775807 */
         .high = INT64_MAX,
         .low = 1, /* 0.00000001 */
         .close = 100000000000LL,
         .volume = 123450000000LL, /* 1234.5 */
         .has_volume = true},
    };
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    assert_string_equal(store_backend_name(st), "postgresql");
    CHECK_OK(store_put_candles(st, &xau, c, 2, &err), &err);
    side_use(schema);

    /* SQL users see real decimal prices, and NULL where there is no volume. */
    assert_value("2063.41000000",
                 side_value("SELECT close::text FROM candles_view WHERE source = 'twelvedata' "
                            "AND symbol = 'XAU/USD' AND timeframe = 'M15' AND open_time = "
                            "'2024-01-02T15:00:00Z'"));
    assert_value("t", side_value("SELECT volume IS NULL FROM candles_view WHERE open_time = "
                                 "'2024-01-02T15:00:00Z'"));
    assert_value("92233720368.54775807",
                 side_value("SELECT open::text FROM candles_view WHERE open_time = "
                            "'2024-01-02T15:15:00Z'"));
    assert_value("0.00000001", side_value("SELECT low::text FROM candles_view WHERE open_time = "
                                          "'2024-01-02T15:15:00Z'"));
    assert_value("1234.50000000",
                 side_value("SELECT volume::text FROM candles_view WHERE open_time = "
                            "'2024-01-02T15:15:00Z'"));
    /* Arithmetic in SQL is decimal: 2063.41 + 1000 exactly. */
    assert_value("3063.41000000", side_value("SELECT sum(close)::text FROM candles"));
    assert_value("numeric", side_value("SELECT pg_typeof(close)::text FROM candles LIMIT 1"));

    /* The declared types. */
    assert_value("timestamp with time zone|numeric 20 8|numeric 20 8|numeric 20 8|"
                 "numeric 20 8|numeric 28 8",
                 side_value("SELECT string_agg(CASE WHEN data_type = 'numeric' THEN data_type || "
                            "' ' || numeric_precision || ' ' || numeric_scale ELSE data_type END, "
                            "'|' ORDER BY ordinal_position) FROM information_schema.columns "
                            "WHERE table_schema = '%s' AND table_name = 'candles' AND "
                            "column_name IN ('open', 'high', 'low', 'close', 'volume', "
                            "'open_time')",
                            schema));

    /* And the store reads back exactly what it wrote. */
    CHECK_OK(store_query_candles_vec(st, &q, &got, &err), &err);
    assert_int_equal(got.n, 2);
    assert_candle_equal(&got.v[0], &c[0]);
    assert_int_equal(got.v[1].open, INT64_MAX);
    assert_int_equal(got.v[1].low, 1);
    assert_int_equal(got.v[1].volume, 123450000000LL);
    assert_true(got.v[1].has_volume);
    assert_false(got.v[0].has_volume);

    candle_vec_release(&got);
    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- timestamptz ------------------------------------------------------ */

static void test_timestamptz(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct candle_vec got = CANDLE_VEC_INIT;
    struct store *st;
    char schema[64];
    /* The store's session runs in a zone 5:30 away from UTC: it must not matter. */
    char *url = schema_url(schema, sizeof(schema), "-cTimeZone%3DAsia/Kolkata", NULL);
    /* 2024-03-10T07:00:00Z: 03:00 EDT, just after New York's clocks went forward. */
    const int64_t t = 1710054000LL;
    struct candle c = mk(t, 206341000000LL, false);
    struct candle_query q = {
        .series = xau, .has_start = true, .start = t, .has_end = true, .end = t};
    int64_t latest = 0;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    CHECK_OK(store_put_candles(st, &xau, &c, 1, &err), &err);
    side_use(schema);
    PQclear(side_exec("SET TIME ZONE 'America/New_York'"));
    assert_value("2024-03-10 07:00:00",
                 side_value("SELECT (open_time AT TIME ZONE 'UTC')::text FROM candles_view"));
    assert_value("2024-03-10 03:00:00-04", side_value("SELECT open_time::text FROM candles_view"));
    assert_value("1710054000",
                 side_value("SELECT extract(epoch FROM open_time)::bigint FROM candles"));
    PQclear(side_exec("RESET TIME ZONE"));

    CHECK_OK(store_latest_time(st, &xau, &latest, &err), &err);
    assert_int_equal(latest, t);
    CHECK_OK(store_query_candles_vec(st, &q, &got, &err), &err);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.v[0].open_time, t);

    /* A candle of the year 10000 cannot be stored. */
    c.open_time = 253402300800LL;
    assert_int_equal(store_put_candles(st, &xau, &c, 1, &err), CK_EINVAL);

    candle_vec_release(&got);
    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- write paths and paging ------------------------------------------- */

static int64_t count_in(struct store *st, const struct series_key *k, struct strbuf *err)
{
    struct candle_query q = {.series = *k};
    int64_t n = -1;
    CHECK_OK(store_count_candles(st, &q, &n, err), err);
    return n;
}

static void test_write_paths(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    const size_t n = 12000; /* more than one statement's worth */
    struct candle *v = xcalloc(n + 200, sizeof(*v));
    char *xmin_before;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    side_use(schema);

    /* Fresh candles (COPY). */
    for (size_t i = 0; i < n; i++)
        v[i] = mk(T0 + (int64_t)i * M15, 200000000000LL + (int64_t)i, i % 3 == 0);
    CHECK_OK(store_put_candles(st, &xau, v, n, &err), &err);
    assert_int_equal(count_in(st, &xau, &err), n);

    /*
     * Re-putting identical values writes nothing: the row versions stay,
     * and are not even locked (a lock would show as their xmax).
     */
    xmin_before = side_value("SELECT xmin::text FROM candles WHERE open_time = "
                             "'2024-01-02T15:00:00Z'");
    CHECK_OK(store_put_candles(st, &xau, v, 100, &err), &err);
    assert_value(xmin_before, side_value("SELECT xmin::text FROM candles WHERE open_time = "
                                         "'2024-01-02T15:00:00Z'"));
    assert_value("0", side_value("SELECT xmax::text FROM candles WHERE open_time = "
                                 "'2024-01-02T15:00:00Z'"));
    free(xmin_before);

    /* A batch overlapping stored candles (the upsert): 100 changed, 100 new. */
    for (size_t i = 0; i < 200; i++) {
        v[i] = mk(T0 + (int64_t)(n - 100 + i) * M15, 300000000000LL, true);
    }
    CHECK_OK(store_put_candles(st, &xau, v, 200, &err), &err);
    assert_int_equal(count_in(st, &xau, &err), n + 100);
    assert_value("200",
                 side_value("SELECT count(*) FROM candles WHERE open = 3000 AND volume = 1500"));

    /* Unsorted with a repeated time: the later candle wins, as one by one. */
    {
        struct candle b[4] = {
            mk(T0 - 1 * M15, 100000000000LL, false),
            mk(T0 - 3 * M15, 100000000000LL, false),
            mk(T0 - 2 * M15, 100000000000LL, false),
            mk(T0 - 3 * M15, 111100000000LL, false),
        };
        CHECK_OK(store_put_candles(st, &xau, b, 4, &err), &err);
        assert_int_equal(count_in(st, &xau, &err), n + 103);
        assert_value("1111.00000000", side_value("SELECT open::text FROM candles WHERE "
                                                 "open_time = '2024-01-02T14:15:00Z'"));
        /* The same again, now over stored candles (the upsert): still the later one. */
        b[1].open = 122200000000LL;
        CHECK_OK(store_put_candles(st, &xau, b, 4, &err), &err);
        assert_value("1111.00000000", side_value("SELECT open::text FROM candles WHERE "
                                                 "open_time = '2024-01-02T14:15:00Z'"));
    }

    /* Inside one transaction a second batch sees the first; a rollback drops both. */
    {
        struct candle late[2] = {mk(T0 + 20000 * M15, 1, false), mk(T0 + 20001 * M15, 1, false)};
        CHECK_OK(store_begin(st, &err), &err);
        CHECK_OK(store_put_candles(st, &xau, late, 2, &err), &err);
        late[0].close = 7;
        CHECK_OK(store_put_candles(st, &xau, late, 2, &err), &err);
        assert_int_equal(count_in(st, &xau, &err), n + 105);
        CHECK_OK(store_rollback(st, &err), &err);
        assert_int_equal(count_in(st, &xau, &err), n + 103);
    }

    /* A series that has candles cannot be deleted behind the store's back. */
    {
        PGresult *res = PQexec(side, "DELETE FROM series WHERE source = 'twelvedata'");
        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23503");
        PQclear(res);
    }
    /*
     * Nor one whose first candles are being written: the writer holds the
     * series row, so the DELETE waits (here: gives up) instead of leaving
     * the candles orphaned when it commits.
     */
    {
        const struct series_key empty = {.source = "empty", .symbol = "XAU/USD", .tf = TF_H1};
        struct candle one = mk(T0, 206341000000LL, false);
        int64_t deleted = 0;
        PGresult *res;

        CHECK_OK(store_put_candles(st, &empty, &one, 1, &err), &err);
        CHECK_OK(store_delete_candles_before(st, TF_H1, T0 + 3600, 0, &deleted, &err), &err);
        assert_int_equal(deleted, 1);
        CHECK_OK(store_begin(st, &err), &err);
        CHECK_OK(store_put_candles(st, &empty, &one, 1, &err), &err);
        res = PQexec(side, "SET lock_timeout = 200; DELETE FROM series WHERE source = 'empty'");
        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "55P03");
        PQclear(res);
        PQclear(side_exec("RESET lock_timeout"));
        CHECK_OK(store_commit(st, &err), &err);
        assert_value("1", side_value("SELECT count(*) FROM candles_view WHERE source = 'empty'"));
    }

    free(v);
    store_close(st);
    free(url);
    strbuf_release(&err);
}

struct writer {
    const char *url;
    struct candle *v;
    size_t n;
    int rc;
    struct strbuf err;
};

static void *write_batch(void *arg)
{
    struct writer *w = arg;
    struct store *st = NULL;
    w->rc = store_open(&st, w->url, &w->err);
    if (!w->rc)
        w->rc = store_put_candles(st, &xau, w->v, w->n, &w->err);
    store_close(st);
    return NULL;
}

/*
 * Two writers of one series with the same new candles: the second waits
 * for the first's transaction and then upserts, instead of inserting the
 * same times (COPY) and failing on the primary key when the first commits.
 */
static void test_concurrent_writers(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    struct candle v[50];
    struct writer w = {.url = url, .v = v, .n = 50};
    pthread_t th;
    (void)state;

    for (size_t i = 0; i < 50; i++)
        v[i] = mk(T0 + (int64_t)i * M15, 206341000000LL, false);
    CHECK_OK(store_open(&st, url, &err), &err);
    /* The series exists already (adding one serialises its writers anyway). */
    {
        struct candle before = mk(T0 - 10 * M15, 206341000000LL, false);
        CHECK_OK(store_put_candles(st, &xau, &before, 1, &err), &err);
    }
    CHECK_OK(store_begin(st, &err), &err);
    CHECK_OK(store_put_candles(st, &xau, v, 50, &err), &err);
    strbuf_init(&w.err, 0);
    assert_int_equal(pthread_create(&th, NULL, write_batch, &w), 0);
    usleep(300000); /* the second writer is now waiting for the series */
    CHECK_OK(store_commit(st, &err), &err);
    pthread_join(th, NULL);
    if (w.rc)
        fail_msg("second writer failed: %s", w.err.buf);
    assert_int_equal(count_in(st, &xau, &err), 51);
    strbuf_release(&w.err);
    store_close(st);
    free(url);
    strbuf_release(&err);
}

static void test_paged_iterator(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    const size_t n = 12345; /* several pages */
    struct candle *v = xcalloc(n, sizeof(*v));
    struct candle_iter *it;
    struct candle c;
    int64_t prev;
    size_t seen;
    int rc;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    for (size_t i = 0; i < n; i++)
        v[i] = mk(T0 + (int64_t)i * M15, 200000000000LL + (int64_t)i, false);
    CHECK_OK(store_put_candles(st, &xau, v, n, &err), &err);

    /* Everything, ascending, each candle exactly once. */
    {
        struct candle_query q = {.series = xau};
        CHECK_OK(store_query_candles(st, &q, &it, &err), &err);
        seen = 0;
        while ((rc = candle_iter_next(it, &c, &err)) == ITER_OK) {
            assert_candle_equal(&c, &v[seen]);
            seen++;
        }
        assert_int_equal(rc, ITER_DONE);
        assert_int_equal(seen, n);
        candle_iter_free(it);
    }

    /* Descending with a limit past a page boundary, inside bounds. */
    {
        struct candle_query q = {.series = xau,
                                 .has_start = true,
                                 .start = T0 + 100 * M15,
                                 .has_end = true,
                                 .end = T0 + 12000 * M15,
                                 .limit = 7001,
                                 .order = STORE_DESC};
        CHECK_OK(store_query_candles(st, &q, &it, &err), &err);
        seen = 0;
        prev = INT64_MAX;
        while ((rc = candle_iter_next(it, &c, &err)) == ITER_OK) {
            if (!seen)
                assert_int_equal(c.open_time, T0 + 12000 * M15);
            assert_true(c.open_time < prev);
            prev = c.open_time;
            /* The store can be used while an iterator is open. */
            if (seen == 6000) {
                int64_t latest;
                CHECK_OK(store_latest_time(st, &xau, &latest, &err), &err);
                assert_int_equal(latest, T0 + (int64_t)(n - 1) * M15);
            }
            seen++;
        }
        assert_int_equal(rc, ITER_DONE);
        assert_int_equal(seen, 7001);
        assert_int_equal(prev, T0 + (12000 - 7000) * M15);
        candle_iter_free(it);
    }

    /* An iterator freed half way leaves the connection usable. */
    {
        struct candle_query q = {.series = xau};
        CHECK_OK(store_query_candles(st, &q, &it, &err), &err);
        assert_int_equal(candle_iter_next(it, &c, &err), ITER_OK);
        candle_iter_free(it);
        assert_true(store_ping(st));
    }

    free(v);
    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- reconnecting ------------------------------------------------------ */

/* The pid of the backend serving application `app`; 0 when there is none. */
static long backend_of(const char *app)
{
    char *v = side_value("SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE "
                         "application_name = '%s'",
                         app);
    long pid = strtol(v, NULL, 10);
    free(v);
    return pid;
}

/* Terminate backend `pid` and wait until it is gone. */
static void kill_backend(long pid)
{
    char *v = side_value("SELECT pg_terminate_backend(%ld)", pid);
    assert_value("t", v);
    for (int i = 0; i < 500; i++) {
        v = side_value("SELECT count(*) FROM pg_stat_activity WHERE pid = %ld", pid);
        if (!strcmp(v, "0")) {
            free(v);
            return;
        }
        free(v);
        usleep(10000);
    }
    fail_msg("backend %ld did not exit", pid);
}

static void test_reconnect(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64], app[64];
    char *url;
    struct candle c[2] = {mk(T0, 206341000000LL, false), mk(T0 + M15, 206341000000LL, false)};
    int64_t latest = 0;
    long pid, pid2;
    int rc;
    (void)state;

    snprintf(app, sizeof(app), "ckt_reconnect_%ld", (long)getpid());
    url = schema_url(schema, sizeof(schema), NULL, app);
    CHECK_OK(store_open(&st, url, &err), &err);
    CHECK_OK(store_put_candles(st, &xau, c, 1, &err), &err);
    pid = backend_of(app);
    assert_true(pid > 0);

    /* Killed while idle: the next operation notices and reconnects first. */
    kill_backend(pid);
    CHECK_OK(store_latest_time(st, &xau, &latest, &err), &err);
    assert_int_equal(latest, T0);
    pid2 = backend_of(app);
    assert_true(pid2 > 0);
    assert_true(pid2 != pid);

    /* Killed again: ping reconnects. */
    kill_backend(pid2);
    assert_true(store_ping(st));
    pid = backend_of(app);
    assert_true(pid > 0 && pid != pid2);

    /*
     * Killed inside a transaction: the transaction is lost, the operation
     * fails with CK_EIO (the connection is not silently replaced under it),
     * and the message names the database without its password.
     */
    CHECK_OK(store_begin(st, &err), &err);
    kill_backend(pid);
    strbuf_reset(&err);
    rc = store_put_candles(st, &xau, c + 1, 1, &err);
    assert_int_equal(rc, CK_EIO);
    assert_non_null(strstr(err.buf, "lost the connection"));
    assert_non_null(strstr(err.buf, ":***@"));
    assert_no_password(err.buf);
    assert_true(store_in_transaction(st));
    strbuf_reset(&err);
    (void)store_rollback(st, &err);
    assert_false(store_in_transaction(st));

    /* And the next operation works again; the lost candle was never stored. */
    strbuf_reset(&err);
    CHECK_OK(store_latest_time(st, &xau, &latest, &err), &err);
    assert_int_equal(latest, T0);
    CHECK_OK(store_put_candles(st, &xau, c + 1, 1, &err), &err);
    CHECK_OK(store_latest_time(st, &xau, &latest, &err), &err);
    assert_int_equal(latest, T0 + M15);

    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- concurrent migration --------------------------------------------- */

#define MIGRATORS 6

struct migrator {
    pthread_barrier_t *start;
    const char *url;
    int rc;
    int version;
    struct strbuf err;
};

static void *migrate_one(void *arg)
{
    struct migrator *m = arg;
    struct store *st = NULL;
    pthread_barrier_wait(m->start);
    m->rc = store_open(&st, m->url, &m->err);
    if (!m->rc)
        m->rc = store_schema_version(st, &m->version, &m->err);
    store_close(st);
    return NULL;
}

static void test_concurrent_migration(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t start;
        pthread_t th[MIGRATORS];
        struct migrator m[MIGRATORS];
        char schema[64];
        char *url = schema_url(schema, sizeof(schema), NULL, NULL);
        char *latest;

        pthread_barrier_init(&start, NULL, MIGRATORS);
        for (int i = 0; i < MIGRATORS; i++) {
            m[i] = (struct migrator){.start = &start, .url = url};
            strbuf_init(&m[i].err, 0);
            assert_int_equal(pthread_create(&th[i], NULL, migrate_one, &m[i]), 0);
        }
        for (int i = 0; i < MIGRATORS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < MIGRATORS; i++) {
            if (m[i].rc)
                fail_msg("open %d failed: %s", i, m[i].err.buf);
            assert_int_equal(m[i].version, m[0].version);
            strbuf_release(&m[i].err);
        }
        assert_true(m[0].version >= 1);
        /* Each version applied exactly once. */
        latest = side_value("SELECT count(*) = max(version) AND min(version) = 1 FROM "
                            "%s.schema_version",
                            schema);
        assert_value("t", latest);
        free(url);
    }
}

/* --- errors ------------------------------------------------------------ */

static void expect_open_fails(const char *url, const char *secret)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    int rc = store_open(&st, url, &err);
    assert_int_equal(rc, CK_EIO);
    assert_null(st);
    assert_true(err.len > 0);
    if (strstr(err.buf, secret))
        fail_msg("message shows the password '%s': %s", secret, err.buf);
    assert_no_password(err.buf);
    strbuf_release(&err);
}

/* base_url with its password replaced by `pw`. */
static char *with_password(const char *pw)
{
    struct strbuf sb = STRBUF_INIT;
    const char *auth = strstr(base_url, "://") + 3;
    const char *at = strchr(auth, '@');
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    strbuf_add(&sb, base_url, (size_t)((colon ? colon : at) - base_url));
    strbuf_addf(&sb, ":%s", pw);
    strbuf_addstr(&sb, at);
    return strbuf_detach(&sb, NULL);
}

static void test_errors_hide_password(void **state)
{
    char *url;
    (void)state;

    /* Refused password. */
    url = with_password("Wrong-Secret-4711");
    expect_open_fails(url, "Wrong-Secret-4711");
    free(url);
    /* Nothing listens. */
    expect_open_fails("postgresql://ck:S3cret-Port-One@127.0.0.1:1/candlekeep_test",
                      "S3cret-Port-One");
    /* libpq quotes a malformed URL in its message; the store scrubs it. */
    expect_open_fails("postgresql://ck:Bad%zzSecret@127.0.0.1:1/x", "Bad%zzSecret");
    /* The password as a parameter. */
    expect_open_fails("postgresql://ck@127.0.0.1:1/x?password=Param-Secret-9&sslmode=bogus",
                      "Param-Secret-9");
    expect_open_fails("postgres://ck:Pct%2FSecret@127.0.0.1:1/x?sslmode=bogus", "Pct/Secret");
    /* An unencoded '@' in the password: libpq reads part of it as the host. */
    expect_open_fails("postgresql://ck:Sec@ret-Part@127.0.0.1:1/x", "ret-Part");
    expect_open_fails("postgresql://ck:Sec@ret-Part@127.0.0.1:1/x", "Sec@ret");
}

static void test_error_codes(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    /* Give up on a lock after 200 ms, on a statement after 1 s. */
    char *url = schema_url(schema, sizeof(schema), "-clock_timeout%3D200", NULL);
    char *url2;
    struct candle c = mk(T0, 206341000000LL, false);
    int64_t n = 0;
    int rc;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    CHECK_OK(store_put_candles(st, &xau, &c, 1, &err), &err);
    side_use(schema);

    /* A lock held elsewhere past lock_timeout: busy, worth retrying. */
    PQclear(side_exec("BEGIN; LOCK TABLE candles IN ACCESS EXCLUSIVE MODE"));
    strbuf_reset(&err);
    rc = store_put_candles(st, &xau, &c, 1, &err);
    assert_int_equal(rc, CK_EBUSY);
    assert_non_null(strstr(err.buf, "55P03"));
    assert_no_password(err.buf);
    PQclear(side_exec("ROLLBACK"));
    strbuf_reset(&err);
    CHECK_OK(store_put_candles(st, &xau, &c, 1, &err), &err);
    store_close(st);

    /* A statement cancelled by statement_timeout: timed out. */
    url2 = schema_url(schema, sizeof(schema), "-cstatement_timeout%3D300", NULL);
    CHECK_OK(store_open(&st, url2, &err), &err);
    CHECK_OK(store_put_candles(st, &xau, &c, 1, &err), &err);
    side_use(schema);
    PQclear(side_exec("BEGIN; LOCK TABLE candles IN ACCESS EXCLUSIVE MODE"));
    {
        struct candle_query q = {.series = xau};
        strbuf_reset(&err);
        rc = store_count_candles(st, &q, &n, &err);
        assert_int_equal(rc, CK_ETIMEDOUT);
        assert_no_password(err.buf);
    }
    PQclear(side_exec("ROLLBACK"));

    /* A schema newer than this program: refused, untouched. */
    PQclear(side_exec("INSERT INTO schema_version (version) VALUES (999)"));
    {
        struct store *st2;
        strbuf_reset(&err);
        assert_int_equal(store_open(&st2, url2, &err), CK_ECONFIG);
        assert_non_null(strstr(err.buf, "999"));
        assert_no_password(err.buf);
    }

    store_close(st);
    free(url);
    free(url2);
    strbuf_release(&err);
}

/* --- gaps keep their times ---------------------------------------------- */

static void test_gap_times(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    struct gap_range found = {.first = T0, .last = T0 + 2 * M15, .count = 3};
    struct gap_record *recs;
    size_t nrecs;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    CHECK_OK(store_sync_gaps(st, &xau, T0 - 86400, T0 + 86400, &found, 1, "fetch failed", T0 + 3600,
                             NULL, &err),
             &err);
    side_use(schema);
    assert_value("2024-01-02 15:00:00|2024-01-02 15:30:00|open|fetch failed|2024-01-02 16:00:00",
                 side_value("SELECT (first_time AT TIME ZONE 'UTC') || '|' || (last_time AT TIME "
                            "ZONE 'UTC') || '|' || state || '|' || reason || '|' || (first_seen "
                            "AT TIME ZONE 'UTC') FROM gaps"));
    {
        struct gap_query q = {.has_state = true, .state = GAP_OPEN};
        CHECK_OK(store_list_gaps(st, &q, &recs, &nrecs, &err), &err);
        assert_int_equal(nrecs, 1);
        assert_int_equal(recs[0].first, T0);
        assert_int_equal(recs[0].last, T0 + 2 * M15);
        assert_int_equal(recs[0].count, 3);
        assert_int_equal(recs[0].last_checked, T0 + 3600);
        CHECK_OK(store_set_gap_state(st, recs[0].id, GAP_UNFILLABLE, "no data", T0 + 7200, &err),
                 &err);
        gap_records_free(recs, nrecs);
    }
    /* The CHECK constraint holds the states to the four the store knows. */
    {
        PGresult *res = PQexec(side, "UPDATE gaps SET state = 'lost'");
        assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
        assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23514");
        PQclear(res);
    }
    assert_value("unfillable|no data", side_value("SELECT state || '|' || reason FROM gaps"));

    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- jobs and leases ----------------------------------------------------- */

#define LEASE_RACERS 6

struct racer {
    pthread_barrier_t *start;
    const char *url;
    const char *lease;
    char holder[16];
    int rc;
    struct strbuf err;
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    struct store *st = NULL;
    r->rc = store_open(&st, r->url, &r->err);
    pthread_barrier_wait(r->start);
    if (!r->rc)
        r->rc = store_lease_claim(st, r->lease, r->holder, 4102444800000LL, 4102444800000LL + 60000,
                                  &r->err);
    store_close(st);
    return NULL;
}

/* Instances claiming one lease at the same moment: exactly one gets it. */
static void test_lease_race(void **state)
{
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    (void)state;

    for (int round = 0; round < 5; round++) {
        pthread_barrier_t start;
        pthread_t th[LEASE_RACERS];
        struct racer r[LEASE_RACERS];
        char lease[32];
        int winners = 0;
        char *holder;

        snprintf(lease, sizeof(lease), "fire:race:%d", round);
        pthread_barrier_init(&start, NULL, LEASE_RACERS);
        for (int i = 0; i < LEASE_RACERS; i++) {
            r[i] = (struct racer){.start = &start, .url = url, .lease = lease};
            snprintf(r[i].holder, sizeof(r[i].holder), "inst-%d", i);
            strbuf_init(&r[i].err, 0);
            assert_int_equal(pthread_create(&th[i], NULL, race_one, &r[i]), 0);
        }
        for (int i = 0; i < LEASE_RACERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        side_use(schema);
        holder = side_value("SELECT holder FROM leases WHERE name = '%s'", lease);
        for (int i = 0; i < LEASE_RACERS; i++) {
            if (!r[i].rc) {
                winners++;
                assert_string_equal(r[i].holder, holder);
            } else if (r[i].rc != CK_EBUSY) {
                fail_msg("claim %d failed: %s", i, r[i].err.buf);
            } else {
                assert_non_null(strstr(r[i].err.buf, holder));
            }
            strbuf_release(&r[i].err);
        }
        assert_int_equal(winners, 1);
        free(holder);
    }
    free(url);
}

/* Job history as SQL users see it: real times to the millisecond, NULL until finished. */
static void test_job_times(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    struct job_run r = {
        .job_id = (char *)"refresh_candles_M15",
        .instance = (char *)"host:1:ab",
        .scheduled = T0,
        .started = T0 * 1000 + 60123,
        .status = JOB_RUNNING,
    };
    struct job_run *runs = NULL;
    struct job_state js;
    size_t n = 0;
    int64_t streak = -1;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    CHECK_OK(store_job_run_insert(st, &r, &err), &err);
    side_use(schema);
    assert_value("2024-01-02 15:00:00|2024-01-02 15:01:00.123|true|{}",
                 side_value("SELECT (scheduled AT TIME ZONE 'UTC') || '|' || (started AT TIME ZONE "
                            "'UTC') || '|' || (finished IS NULL) || '|' || details FROM job_runs"));
    assert_value("t", side_value("SELECT last_fire IS NULL FROM jobs"));

    r.status = JOB_FAILED;
    r.finished = r.started + 2500;
    r.message = (char *)"fetch failed";
    r.details = (char *)"{\"stored\": 0}";
    CHECK_OK(store_job_run_finish(st, &r, &streak, &err), &err);
    assert_int_equal(streak, 1);
    assert_value("2024-01-02 15:01:02.623|failed|0",
                 side_value("SELECT (finished AT TIME ZONE 'UTC') || '|' || status || '|' || "
                            "(details::jsonb ->> 'stored') FROM job_runs"));
    assert_value("2024-01-02 15:00:00", side_value("SELECT (last_fire AT TIME ZONE 'UTC')::text "
                                                   "FROM jobs"));

    CHECK_OK(store_job_runs_list(st, r.job_id, 0, &runs, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].started, T0 * 1000 + 60123);
    assert_int_equal(runs[0].finished, T0 * 1000 + 62623);
    assert_int_equal(runs[0].scheduled, T0);
    job_runs_free(runs, n);
    CHECK_OK(store_job_get(st, r.job_id, &js, &err), &err);
    assert_int_equal(js.last_fire, T0);
    assert_int_equal(js.streak, 1);
    job_state_release(&js);

    /* A stale run is failed by the database's clock, never before it started. */
    r = (struct job_run){
        .job_id = (char *)"stale", .scheduled = T0, .started = T0 * 1000, .status = JOB_RUNNING};
    CHECK_OK(store_job_run_insert(st, &r, &err), &err);
    {
        int64_t count = 0;
        char *v;
        CHECK_OK(store_job_runs_fail_stale(st, T0 * 1000 + 1, "gone", &count, &err), &err);
        assert_int_equal(count, 1);
        v = side_value("SELECT finished >= now() - interval '1 minute' AND finished <= now() + "
                       "interval '1 minute' FROM job_runs WHERE job_id = 'stale'");
        assert_value("t", v);
    }

    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- setup ------------------------------------------------------------- */

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int group_setup(void **state)
{
    const char *auth, *at, *colon;
    (void)state;
    side = PQconnectdb(base_url);
    if (PQstatus(side) != CONNECTION_OK) {
        fprintf(stderr, "test_store_pg: cannot connect: %s\n", PQerrorMessage(side));
        return -1;
    }
    PQsetNoticeProcessor(side, quiet, NULL);
    PQclear(PQexec(side, "SET client_min_messages = warning"));
    auth = strstr(base_url, "://");
    if (auth && (at = strchr(auth + 3, '@')) &&
        (colon = memchr(auth + 3, ':', (size_t)(at - auth - 3))))
        password = xstrndup(colon + 1, (size_t)(at - colon - 1));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQclear(PQexec(side, "ROLLBACK"));
    for (size_t i = 0; i < nschemas; i++) {
        struct strbuf sql = STRBUF_INIT;
        strbuf_addf(&sql, "DROP SCHEMA IF EXISTS %s CASCADE", schemas[i]);
        PQclear(PQexec(side, sql.buf));
        strbuf_release(&sql);
        free(schemas[i]);
    }
    PQfinish(side);
    free(password);
    return 0;
}

/* How the connection `st` commits now: current_setting('synchronous_commit'). Caller frees. */
static char *commit_setting(struct store *st)
{
    static const struct sql_stmt q = SQL_SAME("SELECT current_setting('synchronous_commit')");
    struct sql_rows rows = SQL_ROWS_INIT;
    struct strbuf err = STRBUF_INIT;
    char *v;

    CHECK_OK(store_sql(st, &q, NULL, 0, &rows, NULL, "read synchronous_commit", &err), &err);
    assert_int_equal(rows.nrows, 1);
    v = xstrdup(rows.cells[0]);
    sql_rows_release(&rows);
    strbuf_release(&err);
    return v;
}

/*
 * Retention batches: the oldest candles of each series in turn, exactly
 * `limit` of them whatever the gaps between them, series with nothing old
 * skipped, the newer candles and other timeframes untouched, and the
 * batch's commit relaxed for its own transaction only.
 */
static void test_retention_batches(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    const struct series_key a = {.source = "twelvedata", .symbol = "AAA/USD", .tf = TF_M15};
    const struct series_key b = {.source = "twelvedata", .symbol = "BBB/USD", .tf = TF_M15};
    const struct series_key c = {.source = "twelvedata", .symbol = "CCC/USD", .tf = TF_M15};
    const struct series_key h = {.source = "twelvedata", .symbol = "AAA/USD", .tf = TF_H1};
    const int64_t cutoff = T0 + 100 * M15;
    struct candle v[100];
    size_t n = 0;
    int64_t deleted, total = 0;
    int batches = 0;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    side_use(schema);
    /* Series c (added first, so listed first) has nothing old. */
    v[0] = mk(cutoff, 100000000, false);
    CHECK_OK(store_put_candles(st, &c, v, 1, &err), &err);
    /* a: 40 old candles with holes (every third period missing) and 5 new ones. */
    for (int64_t i = 0; i < 60; i++)
        if (i % 3 != 1)
            v[n++] = mk(T0 + i * M15, 100000000 + i, false);
    for (int64_t i = 0; i < 5; i++)
        v[n++] = mk(cutoff + i * M15, 100000000, false);
    CHECK_OK(store_put_candles(st, &a, v, n, &err), &err);
    /* b: 6 old candles far apart, one new. */
    for (n = 0; n < 6; n++)
        v[n] = mk(T0 + (int64_t)n * 13 * M15, 100000000, false);
    v[n++] = mk(cutoff + M15, 100000000, false);
    CHECK_OK(store_put_candles(st, &b, v, n, &err), &err);
    v[0] = mk(T0, 100000000, false);
    CHECK_OK(store_put_candles(st, &h, v, 1, &err), &err);

    /* The durable setting is the session's; a batch relaxes its own transaction only. */
    CHECK_OK(store_durable(st, &err), &err);
    CHECK_OK(store_begin(st, &err), &err);
    CHECK_OK(store_delete_candles_before(st, TF_M15, cutoff, 7, &deleted, &err), &err);
    assert_int_equal(deleted, 7);
    assert_value("off", commit_setting(st));
    CHECK_OK(store_commit(st, &err), &err);
    assert_value("on", commit_setting(st));
    /* The oldest 7 of a went: periods 0, 2, 3, 5, 6, 8, 9. */
    assert_value("33", side_value("SELECT count(*) FROM candles_view WHERE symbol = 'AAA/USD' "
                                  "AND timeframe = 'M15' AND open_time < to_timestamp(%lld)",
                                  (long long)cutoff));
    assert_value("t", side_value("SELECT min(open_time) = to_timestamp(%lld) FROM candles_view "
                                 "WHERE symbol = 'AAA/USD' AND timeframe = 'M15'",
                                 (long long)(T0 + 11 * M15)));
    total = deleted;
    batches = 1;
    /* Then batches of 7 until one comes back short: 40 + 6 old candles in all. */
    do {
        CHECK_OK(store_delete_candles_before(st, TF_M15, cutoff, 7, &deleted, &err), &err);
        total += deleted;
        batches++;
    } while (deleted == 7);
    assert_int_equal(total, 46);
    assert_int_equal(batches, 7); /* 6 x 7 + 4 */
    assert_int_equal(deleted, 4);
    CHECK_OK(store_delete_candles_before(st, TF_M15, cutoff, 7, &deleted, &err), &err);
    assert_int_equal(deleted, 0);
    assert_value("0", side_value("SELECT count(*) FROM candles_view WHERE timeframe = 'M15' "
                                 "AND open_time < to_timestamp(%lld)",
                                 (long long)cutoff));
    assert_value("7", side_value("SELECT count(*) FROM candles_view WHERE timeframe = 'M15'"));
    assert_value("1", side_value("SELECT count(*) FROM candles_view WHERE timeframe = 'H1'"));

    /* Candles written again below the cutoff are found by the same run's next batch. */
    v[0] = mk(T0, 100000000, false);
    CHECK_OK(store_put_candles(st, &b, v, 1, &err), &err);
    CHECK_OK(store_delete_candles_before(st, TF_M15, cutoff, 7, &deleted, &err), &err);
    assert_int_equal(deleted, 1);
    /* A cutoff at the end of time takes everything, in batches. */
    total = 0;
    do {
        CHECK_OK(store_delete_candles_before(st, TF_M15, INT64_MAX, 3, &deleted, &err), &err);
        total += deleted;
    } while (deleted == 3);
    assert_int_equal(total, 7);
    assert_value("0", side_value("SELECT count(*) FROM candles_view WHERE timeframe = 'M15'"));

    store_close(st);
    free(url);
    strbuf_release(&err);
}

/* --- the planner's statistics after a bulk write ----------------------- */

/* Put candles [from, to) (M15 periods after T0) of `k`, one store_put_candles() call. */
static void put_range(struct store *st, const struct series_key *k, int64_t from, int64_t to)
{
    struct strbuf err = STRBUF_INIT;
    struct candle *v = xmalloc((size_t)(to - from) * sizeof(*v));
    for (int64_t i = from; i < to; i++)
        v[i - from] = mk(T0 + i * M15, 100000000 + i, false);
    CHECK_OK(store_put_candles(st, k, v, (size_t)(to - from), &err), &err);
    free(v);
    strbuf_release(&err);
}

static char *analyze_count(void)
{
    return side_value("SELECT analyze_count FROM pg_stat_user_tables "
                      "WHERE schemaname = current_schema() AND relname = 'candles'");
}

/*
 * A connection that inserted 100,000 candles into a table never analyzed
 * analyzes it after its commit, so that the planner walks the primary key
 * for a page of the new series instead of sorting all of it. It counts
 * only what it inserted and committed: not the candles an upsert found
 * stored, not a rolled-back transaction.
 */
static void test_statistics_after_bulk_write(void **state)
{
    struct strbuf err = STRBUF_INIT, plan = STRBUF_INIT;
    struct store *st;
    char schema[64];
    char *url = schema_url(schema, sizeof(schema), NULL, NULL);
    PGresult *res;
    bool walks_key = false;
    (void)state;

    CHECK_OK(store_open(&st, url, &err), &err);
    side_use(schema);
    for (int64_t b = 0; b < 9; b++)
        put_range(st, &xau, b * 10000, (b + 1) * 10000); /* COPY: 90,000 new */
    assert_value("0", analyze_count());
    put_range(st, &xau, 85000, 95000); /* one upsert: 5,000 stored, 5,000 new */
    assert_value("0", analyze_count());
    put_range(st, &xau, 95000, 100000); /* 100,000 inserted in all */
    assert_value("1", analyze_count());
    assert_value("100000", side_value("SELECT reltuples::bigint FROM pg_class "
                                      "WHERE oid = 'candles'::regclass"));
    res = side_exec("EXPLAIN SELECT open_time, open, high, low, close, volume FROM candles "
                    "WHERE series_id = "
                    "(SELECT id FROM series WHERE symbol = 'XAU/USD') "
                    "AND open_time >= '-infinity' AND open_time <= 'infinity' "
                    "ORDER BY open_time DESC LIMIT 1000");
    for (int r = 0; r < PQntuples(res); r++) {
        walks_key |= strstr(PQgetvalue(res, r, 0), "Scan Backward using candles_pkey") != 0;
        strbuf_addf(&plan, "%s\n", PQgetvalue(res, r, 0));
    }
    PQclear(res);
    if (!walks_key)
        fail_msg("a page of the series is not read down the primary key:\n%s", plan.buf);

    /* Rolled back: not counted. */
    CHECK_OK(store_begin(st, &err), &err);
    put_range(st, &xau, 100000, 200000);
    CHECK_OK(store_rollback(st, &err), &err);
    put_range(st, &xau, 100000, 100001);
    assert_value("1", analyze_count());

    store_close(st);
    free(url);
    strbuf_release(&plan);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_prices),
        cmocka_unit_test(test_timestamptz),
        cmocka_unit_test(test_write_paths),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_paged_iterator),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_concurrent_migration),
        cmocka_unit_test(test_errors_hide_password),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_gap_times),
        cmocka_unit_test(test_lease_race),
        cmocka_unit_test(test_job_times),
        cmocka_unit_test(test_retention_batches),
        cmocka_unit_test(test_statistics_after_bulk_write),
    };

    base_url = getenv("CK_TEST_STORE_URL");
    if (!base_url ||
        (strncmp(base_url, "postgresql://", 13) && strncmp(base_url, "postgres://", 11))) {
        fprintf(stderr, "test_store_pg: skipped: CK_TEST_STORE_URL is not a PostgreSQL URL "
                        "(this test runs as pg.test_store_pg)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
