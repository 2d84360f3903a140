/* SPDX-License-Identifier: MIT */
/*
 * The coverage map: its arithmetic (expected candles by the calendar over
 * weekends and the metals pause, missing, behind, the percentage rounded
 * down), the store's extent of a series within bounds, and the whole map
 * through the store with a hole recorded in the gap ledger.
 */
#include "testutil.h"

#include "health/coverage.h"
#include "market/calendar.h"
#include "market/gaps.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <string.h>

#define HOUR 3600
#define DAY  86400

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static struct calendar *cal_open(enum calendar_kind kind)
{
    struct calendar *cal = NULL;
    struct strbuf err = STRBUF_INIT;
    if (calendar_open(&cal, kind, NULL, 0, NULL, &err))
        fail_msg("calendar_open: %s", err.buf);
    strbuf_release(&err);
    return cal;
}

static void test_measure_crypto(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    int64_t t0 = T("2024-03-15T00:00:00Z");
    struct candle_extent ext = {.count = 8, .first = t0, .last = t0 + 9 * HOUR};
    struct coverage_row r = {.tf = TF_H1};
    char pct[32];

    /* 10 hours from first to last, 8 stored; 5 more hours final by 15:30. */
    coverage_measure(cal, &ext, t0 + 15 * HOUR + 1800, &r);
    assert_int_equal(r.expected, 10);
    assert_int_equal(r.missing, 2);
    assert_int_equal(r.behind, 5);
    assert_int_equal(r.complete_bp, 8000);
    coverage_format_percent(r.complete_bp, pct, sizeof(pct));
    assert_string_equal(pct, "80.00");

    /* Rounded down: 2 of 3 is 66.66%, and 999,999 of a million is not 100%. */
    ext.count = 2;
    ext.last = t0 + 2 * HOUR;
    coverage_measure(cal, &ext, t0 + 3 * HOUR, &r);
    assert_int_equal(r.complete_bp, 6666);
    assert_int_equal(r.behind, 0);
    r.tf = TF_M1;
    ext = (struct candle_extent){.count = 999999, .first = t0, .last = t0 + 999999 * 60};
    coverage_measure(cal, &ext, t0, &r);
    assert_int_equal(r.expected, 1000000);
    assert_int_equal(r.complete_bp, 9999);

    /* More stored than expected (quotes in closed hours) is complete, not negative. */
    r.tf = TF_H1;
    ext = (struct candle_extent){.count = 5, .first = t0, .last = t0 + 3 * HOUR};
    coverage_measure(cal, &ext, t0, &r);
    assert_int_equal(r.missing, 0);
    assert_int_equal(r.complete_bp, 10000);

    /* Nothing stored: nothing expected yet. */
    ext = (struct candle_extent){0};
    coverage_measure(cal, &ext, t0, &r);
    assert_int_equal(r.expected, 0);
    assert_int_equal(r.stored, 0);
    calendar_free(cal);
}

/* Metals: the weekend and the daily pause are not expected. */
static void test_measure_metals(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_METALS);
    struct coverage_row r = {.tf = TF_H1};
    /* Friday 12:00 UTC to Monday 12:00 UTC, March 2024 (EST). */
    struct candle_extent ext = {
        .count = 30, .first = T("2024-03-01T12:00:00Z"), .last = T("2024-03-04T12:00:00Z")};

    coverage_measure(cal, &ext, T("2024-03-04T13:00:00Z"), &r);
    /*
     * Friday 12:00-22:00 UTC (closes 17:00 EST): 10 hours; Sunday 23:00 UTC
     * (18:00 EST, after the pause) to Monday 12:00 inclusive: 14 hours.
     */
    assert_int_equal(r.expected, 24);
    assert_int_equal(r.missing, 0);
    assert_int_equal(r.behind, 0);
    assert_int_equal(
        gaps_count_expected(cal, TF_H1, T("2024-03-04T00:00:00Z"), T("2024-03-05T00:00:00Z")), 23);
    calendar_free(cal);
}

static void put_hours(struct store_fixture *f, const struct series_key *k, int64_t from, int n,
                      int skip_from, int skip_n)
{
    for (int i = 0; i < n; i++) {
        struct candle c = {.open_time = from + i * HOUR,
                           .open = 100000000,
                           .high = 200000000,
                           .low = 50000000,
                           .close = 150000000};
        if (i >= skip_from && i < skip_from + skip_n)
            continue;
        assert_int_equal(store_put_candles(f->st, k, &c, 1, &f->err), 0);
    }
}

static void test_store_extent(void **state)
{
    struct store_fixture *f = *state;
    struct series_key k = {.source = f->source, .symbol = "BTC/USD", .tf = TF_H1};
    int64_t t0 = T("2024-03-15T00:00:00Z");
    struct candle_query q = {.series = k};
    struct candle_extent e;

    assert_int_equal(store_candle_extent(f->st, &q, &e, &f->err), 0);
    assert_int_equal(e.count, 0);
    assert_int_equal(e.first, 0);
    put_hours(f, &k, t0, 48, 10, 3);
    assert_int_equal(store_candle_extent(f->st, &q, &e, &f->err), 0);
    assert_int_equal(e.count, 45);
    assert_int_equal(e.first, t0);
    assert_int_equal(e.last, t0 + 47 * HOUR);
    q.has_start = q.has_end = true;
    q.start = t0 + 5 * HOUR;
    q.end = t0 + 20 * HOUR;
    assert_int_equal(store_candle_extent(f->st, &q, &e, &f->err), 0);
    assert_int_equal(e.count, 13);
    assert_int_equal(e.first, t0 + 5 * HOUR);
    assert_int_equal(e.last, t0 + 20 * HOUR);
    q.start = t0 + 10 * HOUR;
    q.end = t0 + 12 * HOUR;
    assert_int_equal(store_candle_extent(f->st, &q, &e, &f->err), 0);
    assert_int_equal(e.count, 0);
}

/* The whole map: a hole in the history is the ledger's open gap, counted alike. */
static void test_build(void **state)
{
    struct store_fixture *f = *state;
    struct series_key k = {.source = f->source, .symbol = "BTC/USD", .tf = TF_H1};
    int64_t t0 = T("2024-03-15T00:00:00Z"), now = t0 + 50 * HOUR + 60;
    struct calendar *cal = cal_open(CAL_CRYPTO);
    char *symbols[] = {"BTC/USD", "ETH/USD"};
    struct source_settings src = {
        .name = f->source,
        .symbols = symbols,
        .nsymbols = 2,
        .timeframes = {TF_H1},
        .ntimeframes = 1,
        .calendar = CAL_CRYPTO,
    };
    const struct calendar *cals[] = {cal};
    int64_t keep[TF_COUNT] = {[TF_H1] = 365 * DAY};
    struct coverage_filter all = {0};
    struct coverage cov;
    struct gap_range found[] = {{t0 + 10 * HOUR, t0 + 12 * HOUR, 3}};
    struct gap_sync_result sync;
    struct gap_record *g = NULL;
    size_t ng = 0;

    src.derive.derived[TF_H4] = true;
    src.derive.from[TF_H4] = TF_H1;
    put_hours(f, &k, t0, 48, 10, 3);
    assert_int_equal(store_sync_gaps(f->st, &k, t0, t0 + 48 * HOUR, found, 1, "fetch_pending", now,
                                     &sync, &f->err),
                     0);
    assert_int_equal(coverage_build(f->st, &src, 1, cals, keep, &all, now, &cov, &f->err), 0);
    /* BTC H1, BTC H4 (derived), ETH H1, ETH H4. */
    assert_int_equal(cov.n, 4);
    assert_string_equal(cov.v[0].symbol, "BTC/USD");
    assert_int_equal(cov.v[0].tf, TF_H1);
    assert_false(cov.v[0].derived);
    assert_true(cov.v[1].derived);
    assert_int_equal(cov.v[0].stored, 45);
    assert_int_equal(cov.v[0].expected, 48);
    assert_int_equal(cov.v[0].missing, 3);
    assert_int_equal(cov.v[0].open_gaps, 1);
    assert_int_equal(cov.v[0].open_missing, cov.v[0].missing);
    assert_int_equal(cov.v[0].behind, 2);
    assert_int_equal(cov.v[0].horizon, now - 365 * DAY);
    assert_int_equal(cov.v[2].stored, 0);

    /* Marked unfillable, the gap moves to the other column. */
    assert_int_equal(store_list_gaps(f->st,
                                     &(struct gap_query){.source = f->source, .symbol = "BTC/USD"},
                                     &g, &ng, &f->err),
                     0);
    assert_int_equal(ng, 1);
    assert_int_equal(
        store_set_gap_state(f->st, g[0].id, GAP_UNFILLABLE, "provider_no_data", now, &f->err), 0);
    gap_records_free(g, ng);
    coverage_release(&cov);
    struct coverage_filter one = {.symbol = "BTC/USD", .has_tf = true, .tf = TF_H1};
    assert_int_equal(coverage_build(f->st, &src, 1, cals, keep, &one, now, &cov, &f->err), 0);
    assert_int_equal(cov.n, 1);
    assert_int_equal(cov.v[0].open_gaps, 0);
    assert_int_equal(cov.v[0].unfillable_gaps, 1);
    assert_int_equal(cov.v[0].unfillable_missing, 3);

    json_t *j = coverage_json(&cov, now);
    json_t *row = json_array_get(json_object_get(j, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "complete")), "93.75");
    assert_string_equal(json_string_value(json_object_get(row, "retention")), "365d");
    assert_string_equal(json_string_value(json_object_get(row, "first")), "2024-03-15T00:00:00Z");
    json_decref(j);
    coverage_release(&cov);
    calendar_free(cal);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measure_crypto),
        cmocka_unit_test(test_measure_metals),
        S(test_store_extent),
        S(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
