/* SPDX-License-Identifier: MIT */
/*
 * Complete history, on every backend, with a fake provider (a source_ops
 * of its own serving every hour but the ones a test withholds, recording
 * what it is asked):
 *
 *  - a catch-up that stops short records what it has not fetched yet as a
 *    fetch_pending gap, filled when the next refresh is current;
 *  - a hole in what the refresh asked for is provider_no_data, found
 *    however old the point the refresh started from (not only within the
 *    gap window);
 *  - a hole older than that is candlekeep_down when the job history shows
 *    no run while its candles closed, fetch_pending otherwise;
 *  - the repair (ingest/repair.c): exactly the gap's window asked, filled;
 *    narrowed and fetch_failed when the call fails; attempts spread over
 *    min_age and unfillable after the last; deferred without a token;
 *    beyond_history behind a recent-only venue's horizon;
 *  - the weekly history scan finds a hole older than the gap window.
 *
 * Times are in 2031, far from the runs other tests leave in a shared
 * PostgreSQL database.
 */
#include "testutil.h"

#include "ingest/feed.h"
#include "ingest/ingest.h"
#include "ingest/repair.h"
#include "market/calendar.h"
#include "resilience/retry.h"
#include "source/source_internal.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define H    3600
#define T0   1924992000LL /* 2031-01-01T00:00:00Z */
#define ROWS 24           /* the fake's rows per request */

/* The fake provider: every hour, but [hole_first, hole_last] and after `now`. */
struct fake_provider {
    int64_t hole_first, hole_last; /* 0: no hole */
    int64_t horizon;               /* nothing older is served (0: everything) */
    int fail_call;                 /* this call (1-based) fails; 0: none */
    int calls;
    int64_t since[64], until[64];
};

struct fake_source {
    struct source base; /* first */
    struct fake_provider *p;
};

static void fake_free(struct source *src)
{
    (void)src;
}

static int fake_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                      struct strbuf *err)
{
    struct fake_provider *p = ((struct fake_source *)src)->p;
    int64_t t = req->has_since ? req->since + H : req->now / H * H - ROWS * H;

    if (t < p->horizon)
        t = p->horizon;
    /* A recent-only venue (Kraken) takes no end: it answers from its horizon on. */
    int64_t end = req->until > 0 && !src->ops->kind->recent_only ? req->until : req->now;

    if (p->calls < 64) {
        p->since[p->calls] = req->since;
        p->until[p->calls] = req->until;
    }
    if (++p->calls == p->fail_call) {
        res->error = SRC_ERR_SERVER;
        strbuf_addf(err, "fake %s: provider failure (500)", req->symbol);
        return CK_EUPSTREAM;
    }
    for (; t <= end && t + H <= req->now && res->candles.n < ROWS; t += H) {
        struct candle c = {.open_time = t, .open = 100000000, .high = 200000000, .low = 50000000};
        if (p->hole_first && t >= p->hole_first && t <= p->hole_last)
            continue;
        c.close = 150000000;
        candle_vec_push(&res->candles, &c);
    }
    return 0;
}

static const struct source_kind fake_kind = {
    .name = "fake",
    .title = "Fake",
    .base_url = "http://127.0.0.1:9",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = ROWS,
};

static const struct source_ops fake_ops = {
    .kind = &fake_kind,
    .free = fake_free,
    .fetch = fake_fetch,
};

/* The same provider as a venue that keeps only its recent rows. */
static const struct source_kind recent_kind = {
    .name = "fake",
    .title = "Fake (recent rows only)",
    .base_url = "http://127.0.0.1:9",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = ROWS,
    .recent_only = true,
};

static const struct source_ops recent_ops = {
    .kind = &recent_kind,
    .free = fake_free,
    .fetch = fake_fetch,
};

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

static bool fake_sleep(void *arg, int64_t ms)
{
    ((struct fake_clock *)arg)->now += ms;
    return true;
}

struct fixture {
    struct store_fixture sf; /* first: store_fixture_setup() fills it */
    char *symbols[1];
    enum timeframe tfs[1];
    struct feed *feed;
    struct fake_provider p;
    struct fake_source src;
    struct fake_clock fc;
    struct retry_clock clock;
    struct retry_policy policy;
    const struct calendar *cal;
};

static int setup(void **state)
{
    struct fixture *f;
    void *sf = NULL;

    if (store_fixture_setup(&sf))
        return -1;
    f = xcalloc(1, sizeof(*f));
    f->sf = *(struct store_fixture *)sf;
    free(sf);
    f->symbols[0] = "AAA/USD";
    f->tfs[0] = TF_H1;
    struct feed_config cfg = {
        .source = {.name = f->sf.source, .kind = "fake", .timeout_ms = 5000},
        .calendar = CAL_CRYPTO,
        .breaker = {.failures = 100, .recovery_ms = 60000, .max_recovery_ms = 600000},
        .rate_per_minute = 100,
        .daily_quota = 100000,
        .symbols = f->symbols,
        .nsymbols = 1,
        .timeframes = f->tfs,
        .ntimeframes = 1,
        .backfill = 10,
        .enabled = true,
    };
    if (feed_open(&f->feed, &cfg, &f->sf.err)) {
        fprintf(stderr, "cannot open feed: %s\n", f->sf.err.buf);
        return -1;
    }
    f->cal = feed_calendar(f->feed);
    f->src.base.ops = &fake_ops;
    f->src.base.cfg = &feed_config(f->feed)->source;
    f->src.p = &f->p;
    f->clock = (struct retry_clock){.now_ms = fake_now, .sleep_ms = fake_sleep, .arg = &f->fc};
    f->policy = (struct retry_policy){.max_retries = 0, .base_ms = 1000, .max_ms = 1000};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    void *sf = xcalloc(1, sizeof(struct store_fixture));

    feed_free(f->feed);
    *(struct store_fixture *)sf = f->sf;
    free(f);
    return store_fixture_teardown(&sf);
}

static struct series_key key_of(struct fixture *f)
{
    return (struct series_key){.source = f->sf.source, .symbol = "AAA/USD", .tf = TF_H1};
}

/* Store the hours [from, to] but those in [skip_first, skip_last]. */
static void put_hours(struct fixture *f, int64_t from, int64_t to, int64_t skip_first,
                      int64_t skip_last)
{
    struct series_key k = key_of(f);
    struct candle_vec cv = CANDLE_VEC_INIT;

    for (int64_t t = from; t <= to; t += H) {
        struct candle c = {.open_time = t,
                           .open = 100000000,
                           .high = 200000000,
                           .low = 50000000,
                           .close = 150000000};
        if (t < skip_first || t > skip_last)
            candle_vec_push(&cv, &c);
    }
    CHECK_OK(store_put_candles(f->sf.st, &k, cv.v, cv.n, &f->sf.err), &f->sf.err);
    candle_vec_release(&cv);
}

/* The ledger's gaps of the series in `state`, oldest first; returns how many. */
static size_t gaps_in(struct fixture *f, enum gap_state state, struct gap_record **out)
{
    struct gap_query q = {.source = f->sf.source,
                          .symbol = "AAA/USD",
                          .has_tf = true,
                          .tf = TF_H1,
                          .has_state = true,
                          .state = state};
    size_t n = 0;

    CHECK_OK(store_list_gaps(f->sf.st, &q, out, &n, &f->sf.err), &f->sf.err);
    for (size_t i = 0; i < n / 2; i++) {
        struct gap_record g = (*out)[i];
        (*out)[i] = (*out)[n - 1 - i];
        (*out)[n - 1 - i] = g;
    }
    return n;
}

static struct ingest_ctx ingest_ctx_of(struct fixture *f)
{
    return (struct ingest_ctx){
        .store = f->sf.st,
        .source = &f->src.base,
        .source_name = f->sf.source,
        .cal = f->cal,
        .backfill = 10,
        .gap_window = 7 * 86400,
    };
}

static void test_short_catchup_is_pending(void **state)
{
    struct fixture *f = *state;
    struct ingest_ctx ic = ingest_ctx_of(f);
    const int64_t now = T0 + 600, last = T0 - 100 * H;
    struct ingest_stats st;
    struct gap_record *g = NULL;

    put_hours(f, last - 9 * H, last, 0, 0);
    f->p.fail_call = 2; /* the second page fails */
    assert_int_equal(ingest_series(&ic, "AAA/USD", TF_H1, now, &st, &f->sf.err), CK_EUPSTREAM);
    assert_non_null(strstr(f->sf.err.buf, "provider failure")); /* the page's message */
    assert_int_equal(st.pages, 1);
    assert_int_equal(st.stored, ROWS);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_int_equal(g[0].first, last + (ROWS + 1) * H);
    assert_int_equal(g[0].last, T0 - H); /* the newest final candle */
    assert_int_equal(g[0].count, 100 - ROWS - 1);
    assert_string_equal(g[0].reason, "fetch_pending");
    gap_records_free(g, 1);

    /* The next refresh is current: the pending gap is filled. */
    f->p.fail_call = 0;
    strbuf_reset(&f->sf.err);
    CHECK_OK(ingest_series(&ic, "AAA/USD", TF_H1, now, &st, &f->sf.err), &f->sf.err);
    assert_int_equal(st.gaps_open, 0);
    assert_int_equal(st.gaps_filled, 1);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 0);
    gap_records_free(g, 0);
}

static void test_asked_hole_found_however_old(void **state)
{
    struct fixture *f = *state;
    struct ingest_ctx ic = ingest_ctx_of(f);
    const int64_t now = T0 + 600, last = T0 - 30 * 24 * H;
    struct ingest_stats st;
    struct gap_record *g = NULL;

    put_hours(f, last - 9 * H, last, 0, 0);
    /* The provider has nothing for three hours 29 days back, beyond the 7-day window. */
    f->p.hole_first = last + 5 * H;
    f->p.hole_last = last + 7 * H;
    CHECK_OK(ingest_series(&ic, "AAA/USD", TF_H1, now, &st, &f->sf.err), &f->sf.err);
    assert_int_equal(st.gaps_opened, 1);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_int_equal(g[0].first, last + 5 * H);
    assert_int_equal(g[0].count, 3);
    assert_string_equal(g[0].reason, "provider_no_data");
    gap_records_free(g, 1);
}

static void test_reason_from_job_history(void **state)
{
    struct fixture *f = *state;
    struct ingest_ctx ic = ingest_ctx_of(f);
    const int64_t b = T0 + 24 * H;
    char *job = store_fixture_name(&f->sf, "job");
    /* Runs (start times) before the history, at hole 2's close, none while hole 1's close. */
    const int64_t runs[] = {b - H, b + 5 * H, b + 8 * H, b + 21 * H, b + 29 * H, b + 31 * H + 120};
    struct ingest_stats st = {0};
    struct gap_record *g = NULL;

    put_hours(f, b, b + 29 * H, b + 10 * H, b + 12 * H);
    put_hours(f, b + 31 * H, b + 47 * H, 0, 0);
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        /* Finished runs: a sweep of running ones by another test has nothing to do with them. */
        struct job_run r = {.job_id = job,
                            .instance = (char *)"inst-A",
                            .scheduled = runs[i],
                            .started = runs[i] * 1000,
                            .finished = runs[i] * 1000 + 500,
                            .status = JOB_OK,
                            .message = (char *)"",
                            .details = (char *)"{}"};
        CHECK_OK(store_job_run_insert(f->sf.st, &r, &f->sf.err), &f->sf.err);
    }
    ic.gap_window = 3 * 86400;
    CHECK_OK(ingest_scan_gaps(&ic, "AAA/USD", TF_H1, b + 48 * H + 600, &st, &f->sf.err),
             &f->sf.err);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 2);
    assert_int_equal(g[0].first, b + 10 * H);
    assert_string_equal(g[0].reason, "candlekeep_down");
    assert_int_equal(g[1].first, b + 30 * H);
    assert_string_equal(g[1].reason, "fetch_pending");
    gap_records_free(g, 2);
    free(job);
}

/* Open one gap of `n` hours at `first` in the ledger (stored hours around it). */
static void open_gap(struct fixture *f, int64_t first, int64_t n, int64_t now)
{
    struct series_key k = key_of(f);
    struct gap_range r = {.first = first, .last = first + (n - 1) * H, .count = n};

    put_hours(f, first - 10 * H, first + (n + 9) * H, first, first + (n - 1) * H);
    CHECK_OK(store_sync_gaps(f->sf.st, &k, first - 10 * H, first + (n + 10) * H, &r, 1,
                             "provider_no_data", now, NULL, &f->sf.err),
             &f->sf.err);
}

static void repair_at(struct fixture *f, int64_t now, struct repair_result *out)
{
    struct repair_opts o = {
        .now = now,
        .attempts = 3,
        .min_age = 86400,
        .env = {.store = f->sf.st,
                .policy = &f->policy,
                .clock = &f->clock,
                .deadline_ms = (now + 60) * 1000,
                .no_budget_wait = true},
        .adapter = &f->src.base,
    };

    f->fc.now = now * 1000;
    repair_result_release(out);
    *out = (struct repair_result)REPAIR_RESULT_INIT;
    ingest_repair(&f->feed, 1, &o, out);
    assert_false(out->db_failed);
}

static void test_repair_asks_exactly_the_window(void **state)
{
    struct fixture *f = *state;
    struct repair_result r = REPAIR_RESULT_INIT;
    struct gap_record *g = NULL;
    const int64_t first = T0 - 50 * H;

    open_gap(f, first, 4, T0);
    repair_at(f, T0 + 600, &r);
    assert_int_equal(r.gaps, 1);
    assert_int_equal(r.filled, 1);
    assert_int_equal(r.stored, 4);
    assert_int_equal(f->p.calls, 1);
    assert_int_equal(f->p.since[0], first - H);
    assert_int_equal(f->p.until[0], first + 3 * H);
    assert_int_equal(gaps_in(f, GAP_FILLED, &g), 1);
    gap_records_free(g, 1);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 0);
    gap_records_free(g, 0);
    repair_result_release(&r);
}

static void test_repair_failure_narrows_and_is_not_an_attempt(void **state)
{
    struct fixture *f = *state;
    struct repair_result r = REPAIR_RESULT_INIT;
    struct gap_record *g = NULL;
    const int64_t first = T0 - 100 * H;

    /* A 30-hour gap: the first page (24 hours) comes, the second fails. */
    open_gap(f, first, 30, T0);
    f->p.fail_call = 2;
    repair_at(f, T0 + 600, &r);
    assert_int_equal(r.failed, 1);
    assert_int_equal(r.open, 1);
    assert_non_null(strstr(r.error.buf, "provider failure"));
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_int_equal(g[0].first, first + ROWS * H);
    assert_int_equal(g[0].count, 30 - ROWS);
    assert_string_equal(g[0].reason, "fetch_failed");
    assert_int_equal(g[0].attempts, 0);
    gap_records_free(g, 1);

    /* Not an attempt: asked again at once, and filled. */
    f->p.fail_call = 0;
    repair_at(f, T0 + 700, &r);
    assert_int_equal(r.filled, 1);
    repair_result_release(&r);
}

static void test_repair_unfillable_after_attempts_over_a_day(void **state)
{
    struct fixture *f = *state;
    struct repair_result r = REPAIR_RESULT_INIT;
    struct gap_record *g = NULL;
    const int64_t first = T0 - 20 * H, t = T0 + 600;

    open_gap(f, first, 2, T0);
    f->p.hole_first = first;
    f->p.hole_last = first + H;

    repair_at(f, t, &r);
    assert_int_equal(r.open, 1);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_int_equal(g[0].attempts, 1);
    assert_int_equal(g[0].first_attempt, t);
    gap_records_free(g, 1);

    repair_at(f, t + 6 * H, &r); /* the next attempt is due 12 h after the first */
    assert_int_equal(r.gaps, 0);
    assert_int_equal(r.not_due, 1);
    assert_int_equal(f->p.calls, 1);

    repair_at(f, t + 12 * H, &r);
    assert_int_equal(r.open, 1);
    repair_at(f, t + 24 * H, &r);
    assert_int_equal(r.unfillable, 1);
    assert_int_equal(f->p.calls, 3);
    assert_int_equal(gaps_in(f, GAP_UNFILLABLE, &g), 1);
    assert_int_equal(g[0].attempts, 3);
    assert_string_equal(g[0].reason, "provider_no_data");
    gap_records_free(g, 1);

    /* Never asked again. */
    repair_at(f, t + 48 * H, &r);
    assert_int_equal(r.gaps + r.not_due, 0);
    assert_int_equal(f->p.calls, 3);
    repair_result_release(&r);
}

static void test_repair_without_budget_asks_nothing(void **state)
{
    struct fixture *f = *state;
    struct repair_result r = REPAIR_RESULT_INIT;
    struct gap_record *g = NULL;
    const int64_t first = T0 - 20 * H;

    open_gap(f, first, 2, T0);
    /* Spend the minute's 100 tokens at the repair's clock. */
    f->fc.now = (T0 + 600) * 1000;
    for (int i = 0; i < 100; i++) {
        struct fetch_request req = {.symbol = "AAA/USD", .tf = TF_H1, .count = 1, .now = T0};
        struct fetch_result res = FETCH_RESULT_INIT;
        struct feed_env env = {.store = f->sf.st,
                               .policy = &f->policy,
                               .clock = &f->clock,
                               .deadline_ms = f->fc.now + 1000,
                               .no_budget_wait = true};
        CHECK_OK(feed_fetch(f->feed, &f->src.base, &env, &req, &res, NULL, &f->sf.err), &f->sf.err);
        fetch_result_release(&res);
    }
    f->p.calls = 0;
    repair_at(f, T0 + 600, &r);
    assert_int_equal(r.deferred, 1);
    assert_int_equal(f->p.calls, 0);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_string_equal(g[0].reason, "provider_no_data");
    assert_int_equal(g[0].attempts, 0);
    gap_records_free(g, 1);
    repair_result_release(&r);
}

static void test_repair_beyond_a_recent_venue_horizon(void **state)
{
    struct fixture *f = *state;
    struct repair_result r = REPAIR_RESULT_INIT;
    struct gap_record *g = NULL;
    const int64_t first = T0 - 40 * H;

    open_gap(f, first, 2, T0);
    f->src.base.ops = &recent_ops;
    f->p.horizon = T0 - 30 * H; /* it answers from here on, whatever was asked */
    repair_at(f, T0 + 600, &r);
    assert_int_equal(r.unfillable, 1);
    assert_int_equal(f->p.calls, 1);
    assert_int_equal(gaps_in(f, GAP_UNFILLABLE, &g), 1);
    assert_string_equal(g[0].reason, "beyond_history");
    gap_records_free(g, 1);
    repair_result_release(&r);
}

static void test_history_scan_covers_the_whole_range(void **state)
{
    struct fixture *f = *state;
    struct ingest_ctx ic = ingest_ctx_of(f);
    const int64_t now = T0 + 600, old = T0 - 40 * 24 * H;
    struct ingest_stats st = {0};
    struct gap_record *g = NULL;

    /* Forty days of history with a hole 39 days back that no ledger record knows. */
    put_hours(f, old, T0 - H, old + 24 * H, old + 25 * H);
    CHECK_OK(ingest_scan_gaps(&ic, "AAA/USD", TF_H1, now, &st, &f->sf.err), &f->sf.err);
    assert_int_equal(st.gaps_opened, 0); /* older than the gap window */
    CHECK_OK(ingest_scan_history(&ic, "AAA/USD", TF_H1, now, &st, &f->sf.err), &f->sf.err);
    assert_int_equal(st.gaps_opened, 1);
    assert_int_equal(gaps_in(f, GAP_OPEN, &g), 1);
    assert_int_equal(g[0].first, old + 24 * H);
    assert_int_equal(g[0].count, 2);
    gap_records_free(g, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_short_catchup_is_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asked_hole_found_however_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_from_job_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_asks_exactly_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_failure_narrows_and_is_not_an_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repair_unfillable_after_attempts_over_a_day, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repair_without_budget_asks_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_beyond_a_recent_venue_horizon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_scan_covers_the_whole_range, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
