/* SPDX-License-Identifier: MIT */
/*
 * The store's bulk export and import (`candlekeep migrate`): row counts
 * per table and the copies of gap records, job runs and jobs, tested
 * through the public API only, so the same binary checks every backend:
 * CTest runs it once on a fresh SQLite file per test and once against
 * PostgreSQL (CK_TEST_STORE_URL).
 * The PostgreSQL database is shared with other tests, so every test writes
 * under a source name of its own ("t<pid>_<n>") and never assumes an empty
 * database. Runs carry times in 2100, beyond the sweeps of other
 * tests (see test_store_jobs.c).
 */
#include "testutil.h"

#include "market/price.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

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

#define FUTURE_MS 4102444800000LL /* 2100-01-01T00:00:00Z */

static struct gap_range gap(int64_t first_slot, int64_t last_slot)
{
    return (struct gap_range){T0 + first_slot * M15, T0 + last_slot * M15,
                              last_slot - first_slot + 1};
}

/*
 * Bulk export and import (candlekeep migrate). The database may hold other
 * tests' rows, so exports are filtered by the test's own names and counts
 * are compared before and after.
 */

static int64_t count_rows(struct store_fixture *f, enum store_table t)
{
    int64_t n = -1;
    CHECK_OK(store_count_rows(f->st, t, &n, &f->err), &f->err);
    assert_true(n >= 0);
    return n;
}

static void test_count_rows(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_H1};
    const struct candle c[3] = {
        {.open_time = T0, .open = 1, .high = 2, .low = 1, .close = 2},
        {.open_time = T0 + 3600, .open = 2, .high = 3, .low = 2, .close = 3},
        {.open_time = T0 + 7200, .open = 3, .high = 4, .low = 3, .close = 4},
    };
    struct gap_range found = {T0 + 3 * 3600, T0 + 4 * 3600, 2};
    char *job = store_fixture_name(f, "count"), *lease = store_fixture_name(f, "lease");
    int64_t before[STORE_TABLE_COUNT];
    static const int64_t grow[STORE_TABLE_COUNT] = {
        [STORE_TABLE_SERIES] = 1, [STORE_TABLE_CANDLES] = 3,  [STORE_TABLE_GAPS] = 1,
        [STORE_TABLE_JOBS] = 1,   [STORE_TABLE_JOB_RUNS] = 2, [STORE_TABLE_LEASES] = 1,
    };

    for (int t = 0; t < STORE_TABLE_COUNT; t++)
        before[t] = count_rows(f, (enum store_table)t);
    CHECK_OK(store_put_candles(f->st, &k, c, 3, &f->err), &f->err);
    CHECK_OK(
        store_sync_gaps(f->st, &k, T0, T0 + 10 * 3600, &found, 1, "missing", 1000, NULL, &f->err),
        &f->err);
    store_fixture_start_run(f, job, T0, FUTURE_MS);
    store_fixture_start_run(f, job, T0 + 60, FUTURE_MS + 1);
    CHECK_OK(store_lease_claim(f->st, lease, "me", FUTURE_MS, FUTURE_MS + 1000, &f->err), &f->err);
    for (int t = 0; t < STORE_TABLE_COUNT; t++) {
        int64_t now = count_rows(f, (enum store_table)t);
        if (now != before[t] + grow[t])
            fail_msg("%s: %lld rows, want %lld", store_table_name((enum store_table)t),
                     (long long)now, (long long)(before[t] + grow[t]));
    }
    assert_string_equal(store_table_name(STORE_TABLE_JOB_RUNS), "job_runs");
    free(job);
    free(lease);
}

/* Every gap record of source `source`, by id, read in pages of two. */
static size_t export_own_gaps(struct store_fixture *f, const char *source, struct gap_record **out)
{
    struct gap_record *all = NULL;
    size_t n = 0, alloc = 0;
    int64_t after = 0;

    for (;;) {
        struct gap_record *page = NULL;
        size_t np = 0;
        CHECK_OK(store_export_gaps(f->st, after, 2, &page, &np, &f->err), &f->err);
        assert_true(np <= 2);
        for (size_t i = 0; i < np; i++) {
            assert_true(page[i].id > after);
            after = page[i].id;
            if (strcmp(page[i].source, source))
                continue;
            ALLOC_GROW(all, n + 1, alloc);
            all[n] = page[i];
            page[i].source = page[i].symbol = page[i].reason = NULL;
            n++;
        }
        gap_records_free(page, np);
        if (np < 2)
            break;
    }
    *out = all;
    return n;
}

static void assert_gaps_equal_but_id(const struct gap_record *a, const struct gap_record *b)
{
    assert_string_equal(a->symbol, b->symbol);
    assert_int_equal(a->tf, b->tf);
    assert_int_equal(a->first, b->first);
    assert_int_equal(a->last, b->last);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->state, b->state);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->first_seen, b->first_seen);
    assert_int_equal(a->last_checked, b->last_checked);
}

static void test_export_import_gaps(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "XAU/USD", TF_M15};
    const struct series_key k2 = {f->source, "XAG/USD", TF_H4};
    struct gap_range found[3] = {gap(10, 12), gap(20, 20), gap(40, 44)};
    struct gap_range found2 = {T0 + 4 * 14400, T0 + 4 * 14400, 1};
    char *copy = store_fixture_name(f, "copy");
    struct gap_record *mine = NULL, *back = NULL, *listed = NULL;
    size_t n, nback, nlisted, added = 99;
    int64_t gaps_before;

    CHECK_OK(store_sync_gaps(f->st, &k, T0, T0 + 100 * M15, found, 3, "fetch failed", T0 + 7, NULL,
                             &f->err),
             &f->err);
    CHECK_OK(store_sync_gaps(f->st, &k2, T0, T0 + 30 * 14400, &found2, 1, "provider: no data",
                             T0 + 9, NULL, &f->err),
             &f->err);
    nlisted = store_fixture_gaps(f, &k, &listed);
    assert_int_equal(nlisted, 3);
    /* Newest first: [0] is slots 40-44, [1] is slot 20. */
    CHECK_OK(store_set_gap_state(f->st, listed[0].id, GAP_FILLED, NULL, T0 + 100, &f->err),
             &f->err);
    CHECK_OK(store_set_gap_state(f->st, listed[1].id, GAP_UNFILLABLE,
                                 "no data 'quoted' \\ caf\xc3\xa9", T0 + 200, &f->err),
             &f->err);
    gap_records_free(listed, nlisted);

    /* The export has every field, by id, across pages. */
    n = export_own_gaps(f, f->source, &mine);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++)
        assert_true(mine[i - 1].id < mine[i].id);
    assert_string_equal(mine[0].symbol, "XAU/USD");
    assert_int_equal(mine[0].first, T0 + 10 * M15);
    assert_int_equal(mine[0].count, 3);
    assert_int_equal(mine[0].state, GAP_OPEN);
    assert_string_equal(mine[0].reason, "fetch failed");
    assert_int_equal(mine[0].first_seen, T0 + 7);
    assert_int_equal(mine[1].state, GAP_UNFILLABLE);
    assert_string_equal(mine[1].reason, "no data 'quoted' \\ caf\xc3\xa9");
    assert_int_equal(mine[1].last_checked, T0 + 200);
    assert_int_equal(mine[2].state, GAP_FILLED);
    assert_int_equal(mine[2].last_checked, T0 + 100);
    assert_int_equal(mine[2].first_seen, T0 + 7);
    assert_string_equal(mine[3].symbol, "XAG/USD");
    assert_int_equal(mine[3].tf, TF_H4);
    assert_string_equal(mine[3].reason, "provider: no data");

    /* Imported under another source (a new series), they read back identical. */
    for (size_t i = 0; i < n; i++) {
        free(mine[i].source);
        mine[i].source = xstrdup(copy);
    }
    gaps_before = count_rows(f, STORE_TABLE_GAPS);
    CHECK_OK(store_import_gaps(f->st, mine, n, 0, &added, &f->err), &f->err);
    assert_int_equal(added, 4);
    nback = export_own_gaps(f, copy, &back);
    assert_int_equal(nback, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(back[i].source, copy);
        assert_gaps_equal_but_id(&back[i], &mine[i]);
    }
    gap_records_free(back, nback);

    /* Again, leaving what is there: nothing is added... */
    CHECK_OK(store_import_gaps(f->st, mine, n, STORE_IMPORT_SKIP_EXISTING, &added, &f->err),
             &f->err);
    assert_int_equal(added, 0);
    assert_int_equal(count_rows(f, STORE_TABLE_GAPS), gaps_before + 4);
    /* ...but a record that differs in one field is. */
    mine[0].last_checked++;
    CHECK_OK(store_import_gaps(f->st, mine, 1, STORE_IMPORT_SKIP_EXISTING, &added, &f->err),
             &f->err);
    assert_int_equal(added, 1);
    mine[0].last_checked--;
    /* Without the flag, every record is inserted. */
    CHECK_OK(store_import_gaps(f->st, mine, 2, 0, &added, &f->err), &f->err);
    assert_int_equal(added, 2);
    assert_int_equal(count_rows(f, STORE_TABLE_GAPS), gaps_before + 7);

    /* A bad record refuses the whole batch. */
    mine[1].tf = (enum timeframe)TF_COUNT;
    added = 99;
    assert_int_equal(store_import_gaps(f->st, mine, 2, 0, &added, &f->err), CK_EINVAL);
    assert_int_equal(added, 0);
    assert_int_equal(count_rows(f, STORE_TABLE_GAPS), gaps_before + 7);
    strbuf_reset(&f->err);
    gap_records_free(mine, n);
    free(copy);
}

/* Every run of jobs starting with `prefix`, by id, read in pages of three. */
static size_t export_own_runs(struct store_fixture *f, const char *prefix, struct job_run **out)
{
    struct job_run *all = NULL;
    size_t n = 0, alloc = 0;
    int64_t after = 0;

    for (;;) {
        struct job_run *page = NULL;
        size_t np = 0;
        CHECK_OK(store_export_job_runs(f->st, after, 3, &page, &np, &f->err), &f->err);
        assert_true(np <= 3);
        for (size_t i = 0; i < np; i++) {
            assert_true(page[i].id > after);
            after = page[i].id;
            if (strncmp(page[i].job_id, prefix, strlen(prefix)))
                continue;
            ALLOC_GROW(all, n + 1, alloc);
            all[n] = page[i];
            page[i].job_id = page[i].instance = page[i].message = page[i].details = NULL;
            n++;
        }
        job_runs_free(page, np);
        if (np < 3)
            break;
    }
    *out = all;
    return n;
}

static void test_export_import_job_runs(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "src"), *prefix = store_fixture_name(f, "src"),
         *copy = store_fixture_name(f, "dst");
    struct job_run *mine = NULL, *back = NULL, r;
    struct job_state js;
    size_t n, nback, added = 99;
    int64_t runs_before;

    /* A run still running, finished ones of every kind, odd text. */
    store_fixture_start_run(f, job, T0, FUTURE_MS);
    r = store_fixture_start_run(f, job, T0 + 900, FUTURE_MS + 1000);
    r.status = JOB_FAILED;
    r.finished = FUTURE_MS + 4321;
    r.message = (char *)"fetch failed: \"quoted\"\ttab\nnew line caf\xc3\xa9";
    r.details = (char *)"{\"stored\": 4, \"note\": \"a \\\"b\\\" \\\\ c\", \"n\": null}";
    CHECK_OK(store_job_run_finish(f->st, &r, NULL, &f->err), &f->err);
    r = (struct job_run){
        .job_id = job,
        .instance = (char *)"host-b:42",
        .scheduled = T0 + 1800,
        .started = FUTURE_MS + 2000,
        .finished = FUTURE_MS + 2000,
        .status = JOB_SKIPPED,
        .message = (char *)"skipped",
        .details = (char *)"{}",
    };
    CHECK_OK(store_job_run_insert(f->st, &r, &f->err), &f->err);
    r.status = JOB_MISSED;
    r.scheduled += 900;
    r.started += 1;
    r.finished = 0;
    CHECK_OK(store_job_run_insert(f->st, &r, &f->err), &f->err);

    n = export_own_runs(f, prefix, &mine);
    assert_int_equal(n, 4);
    assert_int_equal(mine[0].status, JOB_RUNNING);
    assert_int_equal(mine[0].finished, 0);
    assert_int_equal(mine[1].status, JOB_FAILED);
    assert_int_equal(mine[1].finished, FUTURE_MS + 4321);
    assert_string_equal(mine[1].message, "fetch failed: \"quoted\"\ttab\nnew line caf\xc3\xa9");
    assert_string_equal(mine[2].instance, "host-b:42");
    assert_int_equal(mine[3].status, JOB_MISSED);
    assert_int_equal(mine[3].finished, 0);

    /* Imported under another job id they read back identical, and touch no job row. */
    for (size_t i = 0; i < n; i++) {
        free(mine[i].job_id);
        mine[i].job_id = xstrdup(copy);
    }
    runs_before = count_rows(f, STORE_TABLE_JOB_RUNS);
    CHECK_OK(store_import_job_runs(f->st, mine, n, 0, &added, &f->err), &f->err);
    assert_int_equal(added, 4);
    nback = export_own_runs(f, copy, &back);
    assert_int_equal(nback, 4);
    for (size_t i = 0; i < n; i++) {
        assert_true(back[i].id != mine[i].id);
        assert_string_equal(back[i].job_id, copy);
        assert_string_equal(back[i].instance, mine[i].instance);
        assert_int_equal(back[i].scheduled, mine[i].scheduled);
        assert_int_equal(back[i].started, mine[i].started);
        assert_int_equal(back[i].finished, mine[i].finished);
        assert_int_equal(back[i].status, mine[i].status);
        assert_string_equal(back[i].message, mine[i].message);
        assert_string_equal(back[i].details, mine[i].details);
    }
    job_runs_free(back, nback);
    assert_int_equal(store_job_get(f->st, copy, &js, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);

    /* Leaving what is there adds only what differs. */
    CHECK_OK(store_import_job_runs(f->st, mine, n, STORE_IMPORT_SKIP_EXISTING, &added, &f->err),
             &f->err);
    assert_int_equal(added, 0);
    free(mine[2].message);
    mine[2].message = xstrdup("skipped, differently");
    CHECK_OK(store_import_job_runs(f->st, mine, n, STORE_IMPORT_SKIP_EXISTING, &added, &f->err),
             &f->err);
    assert_int_equal(added, 1);
    assert_int_equal(count_rows(f, STORE_TABLE_JOB_RUNS), runs_before + 5);
    job_runs_free(mine, n);
    free(job);
    free(prefix);
    free(copy);
}

static void test_import_jobs(void **state)
{
    struct store_fixture *f = *state;
    char *a = store_fixture_name(f, "a"), *b = store_fixture_name(f, "b"),
         *c = store_fixture_name(f, "c");
    struct job_state v[2] =
        {
            {.job_id = a, .paused = true, .streak = 3, .last_fire = T0 + 900, .updated_at = T0 + 5},
            {.job_id = b, .paused = false, .streak = 0, .last_fire = 0, .updated_at = T0 + 6},
        },
                     js;
    size_t added = 99;

    CHECK_OK(store_import_jobs(f->st, v, 2, 0, &added, &f->err), &f->err);
    assert_int_equal(added, 2);
    js = store_fixture_job(f, a);
    assert_true(js.paused);
    assert_int_equal(js.streak, 3);
    assert_int_equal(js.last_fire, T0 + 900);
    assert_int_equal(js.updated_at, T0 + 5);
    job_state_release(&js);
    js = store_fixture_job(f, b);
    assert_false(js.paused);
    assert_int_equal(js.streak, 0);
    assert_int_equal(js.last_fire, 0);
    assert_int_equal(js.updated_at, T0 + 6);
    job_state_release(&js);

    /* A stored id is a conflict naming the job, and the batch is undone. */
    v[0].job_id = c;
    v[1].job_id = a;
    added = 99;
    assert_int_equal(store_import_jobs(f->st, v, 2, 0, &added, &f->err), CK_ECONFLICT);
    assert_int_equal(added, 0);
    assert_non_null(strstr(f->err.buf, a));
    strbuf_reset(&f->err);
    assert_int_equal(store_job_get(f->st, c, &js, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);

    /* Leaving what is there: the new job is added, the stored one kept. */
    v[0].streak = 7;
    v[1].paused = false;
    v[1].streak = 9;
    CHECK_OK(store_import_jobs(f->st, v, 2, STORE_IMPORT_SKIP_EXISTING, &added, &f->err), &f->err);
    assert_int_equal(added, 1);
    js = store_fixture_job(f, a);
    assert_true(js.paused);
    assert_int_equal(js.streak, 3);
    job_state_release(&js);
    js = store_fixture_job(f, c);
    assert_true(js.paused);
    assert_int_equal(js.streak, 7);
    assert_int_equal(js.last_fire, T0 + 900);
    job_state_release(&js);
    free(a);
    free(b);
    free(c);
}

/*
 * The stamp of the store's candles (store_candle_stamp) stays while
 * nothing is written and moves with every write and delete of candles, by
 * this connection or another one: the API sends a kept response again on
 * an unchanged stamp without reading a candle.
 */
static void stamp_of(struct store *st, struct store_stamp *out, struct strbuf *err)
{
    CHECK_OK(store_candle_stamp(st, out, err), err);
}

static void test_candle_stamp(void **state)
{
    struct store_fixture *f = *state;
    const struct series_key k = {f->source, "STAMP/TEST", TF_M15};
    /* 1971: older than any other test's candles, which retention must not touch. */
    const int64_t t = 365 * 86400LL;
    struct candle c = {.open_time = t,
                       .open = 100 * PRICE_SCALE,
                       .high = 101 * PRICE_SCALE,
                       .low = 99 * PRICE_SCALE,
                       .close = 100 * PRICE_SCALE};
    struct store_stamp a, b;
    struct store *other;
    int64_t deleted = 0;

    /* A series with no candle yet has a stamp, which its first candle moves. */
    stamp_of(f->st, &a, &f->err);
    stamp_of(f->st, &b, &f->err);
    assert_true(store_stamp_equal(&a, &b));
    CHECK_OK(store_put_candles(f->st, &k, &c, 1, &f->err), &f->err);
    stamp_of(f->st, &b, &f->err);
    assert_false(store_stamp_equal(&a, &b));

    /* Reading changes nothing. */
    a = b;
    int64_t n = 0;
    struct candle_query q = {.series = k};
    CHECK_OK(store_count_candles(f->st, &q, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    stamp_of(f->st, &b, &f->err);
    assert_true(store_stamp_equal(&a, &b));

    /* A correction through another connection moves this one's stamp. */
    CHECK_OK(store_open(&other, f->url, &f->err), &f->err);
    c.close = 101 * PRICE_SCALE;
    CHECK_OK(store_put_candles(other, &k, &c, 1, &f->err), &f->err);
    stamp_of(f->st, &b, &f->err);
    assert_false(store_stamp_equal(&a, &b));

    /* So does a retention delete, in batches or at once, by either. */
    a = b;
    CHECK_OK(store_delete_candles_before(other, TF_M15, t + M15, 10, &deleted, &f->err), &f->err);
    assert_int_equal(deleted, 1);
    stamp_of(f->st, &b, &f->err);
    assert_false(store_stamp_equal(&a, &b));
    CHECK_OK(store_put_candles(f->st, &k, &c, 1, &f->err), &f->err);
    stamp_of(other, &a, &f->err);
    CHECK_OK(store_delete_candles_before(f->st, TF_M15, t + M15, 0, &deleted, &f->err), &f->err);
    assert_int_equal(deleted, 1);
    stamp_of(other, &b, &f->err);
    assert_false(store_stamp_equal(&a, &b));
    store_close(other);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_count_rows),  T(test_export_import_gaps), T(test_export_import_job_runs),
        T(test_import_jobs), T(test_candle_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
