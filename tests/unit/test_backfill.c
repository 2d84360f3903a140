/* SPDX-License-Identifier: MIT */
/*
 * Backfills on every backend: the stored rows (store/backfill.h), and the
 * paging of ingest/backfill.h with a fake provider (a source_ops of its
 * own serving a 24/7 series from a first candle on, oldest first after
 * `since`, and logging what it is asked) and a fake clock: every page
 * stored, a stopped backfill continuing from its position without asking
 * a window twice, the venue's first candle, a venue that serves only its
 * latest rows, the budget's reserve, and the lease of another process.
 */
#include "testutil.h"

#include "ingest/backfill.h"
#include "ingest/feed.h"
#include "market/price.h"
#include "resilience/retry.h"
#include "source/source_internal.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

#define NOW    1710504000LL /* 2024-03-15T12:00:00Z */
#define H1     3600
#define MAXLOG 64
#define SINCE  (NOW - 1000 * H1)

/* The fake venue: H1 candles from `first` on, `max_rows` a request. */
struct fake_provider {
    int64_t first;
    int calls;
    int64_t asked[MAXLOG]; /* the since of each request */
};

struct fake_source {
    struct source base; /* first */
    struct fake_provider *p;
};

static int fake_open(struct source **out, const struct source_config *cfg, struct strbuf *err)
{
    (void)cfg;
    (void)err;
    *out = xcalloc(1, sizeof(struct fake_source));
    return 0;
}

static void fake_free(struct source *src)
{
    free(src);
}

static int fake_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                      struct strbuf *err)
{
    struct fake_provider *p = ((struct fake_source *)src)->p;
    const struct source_kind *k = src->ops->kind;
    int64_t t = req->since + H1, oldest = (req->now / H1) * H1 - (int64_t)k->max_rows * H1;

    (void)err;
    if (p->calls < MAXLOG)
        p->asked[p->calls] = req->since;
    p->calls++;
    if (k->recent_only && t < oldest)
        t = oldest;
    if (t < p->first)
        t = p->first;
    for (int n = 0; n < k->max_rows && t <= req->now; n++, t += H1) {
        int64_t px = 2000 * PRICE_SCALE + (t / H1 % 100) * PRICE_SCALE / 100;
        struct candle c = {
            .open_time = t, .open = px, .high = px + PRICE_SCALE, .low = px, .close = px};
        candle_vec_push(&res->candles, &c);
    }
    return 0;
}

static const struct source_kind fake_kind = {
    .name = "fakebf",
    .title = "Fake",
    .base_url = "http://127.0.0.1:9",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = 100,
};
static const struct source_kind recent_kind = {
    .name = "fakerecent",
    .title = "Recent",
    .base_url = "http://127.0.0.1:9",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = 72,
    .recent_only = true,
};
static const struct source_ops fake_ops = {
    .kind = &fake_kind, .open = fake_open, .free = fake_free, .fetch = fake_fetch};
static const struct source_ops recent_ops = {
    .kind = &recent_kind, .open = fake_open, .free = fake_free, .fetch = fake_fetch};

struct fake_clock {
    int64_t now_ms;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now_ms;
}

static bool fake_sleep(void *arg, int64_t ms)
{
    ((struct fake_clock *)arg)->now_ms += ms;
    return true;
}

static uint64_t no_jitter(void *arg)
{
    (void)arg;
    return 0;
}

struct fixture {
    struct store_fixture sf;
    struct feed *feed;
    struct source_settings ss;
    struct fake_provider p;
    struct fake_source *src;
    struct fake_clock fc;
    struct retry_clock clock;
    struct retry_policy policy;
    struct backfill_opts o;
    int stop_after; /* should_stop says yes after this many calls; < 0: never */
};

static bool stop_after(void *arg)
{
    struct fixture *f = arg;
    return f->stop_after >= 0 && f->stop_after-- == 0;
}

static int setup_with(void **state, const struct source_ops *ops)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    void *sfs = &f->sf;
    struct store_fixture *tmp;

    if (store_fixture_setup(&sfs))
        return -1;
    tmp = sfs;
    f->sf = *tmp;
    free(tmp);
    struct feed_config cfg = {
        .source = {.name = f->sf.source, .kind = ops->kind->name, .timeout_ms = 5000},
        .calendar = CAL_CRYPTO,
        .breaker = {.failures = 5, .recovery_ms = 60000, .max_recovery_ms = 600000},
        .rate_per_minute = 8,
        .enabled = true,
    };
    if (feed_open(&f->feed, &cfg, &f->sf.err))
        return -1;
    f->ss = (struct source_settings){.name = f->sf.source, .enabled = true};
    f->p.first = 0;
    f->src = xcalloc(1, sizeof(*f->src));
    f->src->base.ops = ops;
    f->src->base.cfg = &feed_config(f->feed)->source;
    f->src->p = &f->p;
    f->fc.now_ms = NOW * 1000;
    f->clock = (struct retry_clock){
        .now_ms = fake_now, .sleep_ms = fake_sleep, .random = no_jitter, .arg = &f->fc};
    f->policy = (struct retry_policy){.max_retries = 0, .base_ms = 1000, .max_ms = 1000};
    f->stop_after = -1;
    f->o = (struct backfill_opts){
        .env = {.store = f->sf.st,
                .policy = &f->policy,
                .clock = &f->clock,
                .instance = "testhost:1:aa"},
        .source = &f->src->base,
        .reserve_pct = 25,
        .should_stop = stop_after,
        .stop_arg = f,
    };
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, &fake_ops);
}

static int setup_recent(void **state)
{
    return setup_with(state, &recent_ops);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct store_fixture *sf = xcalloc(1, sizeof(*sf));
    void *p = sf;

    *sf = f->sf;
    free(f->src);
    feed_free(f->feed);
    free(f);
    return store_fixture_teardown(&p);
}

/* Open the backfill of H1 [since, until) and run it; its id. */
static int64_t run(struct fixture *f, int64_t since, int64_t until, struct backfill_report *rep)
{
    struct backfill_spec spec = {.symbol = "BTC/USD", .tf = TF_H1, .since = since, .until = until};
    struct backfill_row row;
    bool resumed;
    int64_t id;

    CHECK_OK(
        backfill_open(f->sf.st, &f->ss, &spec, f->fc.now_ms / 1000, &row, &resumed, &f->sf.err),
        &f->sf.err);
    id = row.id;
    backfill_row_release(&row);
    backfill_report_init(rep);
    CHECK_OK(backfill_run(f->feed, id, &f->o, rep, &f->sf.err), &f->sf.err);
    return id;
}

static int64_t stored(struct fixture *f, int64_t from, int64_t to)
{
    struct candle_query q = {.series = {f->sf.source, "BTC/USD", TF_H1},
                             .has_start = true,
                             .start = from,
                             .has_end = true,
                             .end = to};
    int64_t n = -1;

    CHECK_OK(store_count_candles(f->sf.st, &q, &n, &f->sf.err), &f->sf.err);
    return n;
}

static void test_rows(void **state)
{
    struct fixture *f = *state;
    struct backfill_row r = {.source = f->sf.source,
                             .symbol = "XAU/USD",
                             .tf = TF_M15,
                             .since = 1704067200,
                             .position = 1704067200 - 900,
                             .state = BACKFILL_QUEUED,
                             .created_at = NOW,
                             .updated_at = NOW};
    struct backfill_row got, *v = NULL;
    size_t n = 0, mine = 0;
    enum backfill_state s;

    CHECK_OK(store_backfill_add(f->sf.st, &r, &f->sf.err), &f->sf.err);
    assert_true(r.id > 0);
    CHECK_OK(store_backfill_get(f->sf.st, r.id, &got, &f->sf.err), &f->sf.err);
    assert_string_equal(got.symbol, "XAU/USD");
    assert_int_equal(got.tf, TF_M15);
    assert_int_equal(got.since, 1704067200);
    assert_int_equal(got.until, 0);
    assert_int_equal(got.position, 1704067200 - 900);
    assert_int_equal(got.first, 0);
    assert_string_equal(got.note, "");
    backfill_row_release(&got);

    /* The open one of that exact range is found; another range is not. */
    CHECK_OK(store_backfill_find_open(f->sf.st, f->sf.source, "XAU/USD", TF_M15, 1704067200, 0,
                                      &got, &f->sf.err),
             &f->sf.err);
    assert_int_equal(got.id, r.id);
    backfill_row_release(&got);
    assert_int_equal(store_backfill_find_open(f->sf.st, f->sf.source, "XAU/USD", TF_M15, 1704067200,
                                              1706745600, &got, &f->sf.err),
                     CK_ENOTFOUND);

    r.position = 1704153600;
    r.candles = 96;
    r.requests = 1;
    r.first = 1704067200;
    r.note = "beyond_history: x";
    r.state = BACKFILL_DONE;
    CHECK_OK(store_backfill_update(f->sf.st, &r, &f->sf.err), &f->sf.err);
    CHECK_OK(store_backfill_get(f->sf.st, r.id, &got, &f->sf.err), &f->sf.err);
    assert_int_equal(got.state, BACKFILL_DONE);
    assert_int_equal(got.candles, 96);
    assert_int_equal(got.first, 1704067200);
    assert_string_equal(got.note, "beyond_history: x");
    backfill_row_release(&got);
    /* Done: no longer found open, nor listed as open. */
    assert_int_equal(store_backfill_find_open(f->sf.st, f->sf.source, "XAU/USD", TF_M15, 1704067200,
                                              0, &got, &f->sf.err),
                     CK_ENOTFOUND);
    CHECK_OK(store_backfill_list(f->sf.st, true, &v, &n, &f->sf.err), &f->sf.err);
    for (size_t i = 0; i < n; i++)
        mine += v[i].id == r.id;
    assert_int_equal(mine, 0);
    backfill_rows_free(v, n);
    CHECK_OK(store_backfill_list(f->sf.st, false, &v, &n, &f->sf.err), &f->sf.err);
    for (size_t i = 0; i < n; i++)
        mine += v[i].id == r.id;
    assert_int_equal(mine, 1);
    backfill_rows_free(v, n);

    r.id = 1LL << 40;
    assert_int_equal(store_backfill_update(f->sf.st, &r, &f->sf.err), CK_ENOTFOUND);
    assert_true(backfill_state_parse("deferred", &s) && s == BACKFILL_DEFERRED);
    assert_false(backfill_state_parse("nope", &s));
}

/* A range of 350 candles: four pages, every candle, done; the same command again is a new one. */
static void test_pages(void **state)
{
    struct fixture *f = *state;
    struct backfill_report rep;
    int64_t until = SINCE + 350 * H1;

    run(f, SINCE, until, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_int_equal(rep.row.state, BACKFILL_DONE);
    assert_int_equal(rep.candles, 350);
    assert_int_equal(rep.requests, 4);
    assert_int_equal(f->p.calls, 4);
    assert_int_equal(rep.row.position, until - H1);
    assert_int_equal(rep.row.first, SINCE);
    assert_string_equal(rep.row.note, "");
    assert_int_equal(stored(f, SINCE - H1, until), 350);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->p.asked[i], SINCE - H1 + i * 100 * H1);
    backfill_report_release(&rep);
}

/* Stopped after two pages, it continues from its position: no window asked twice. */
static void test_resume(void **state)
{
    struct fixture *f = *state;
    struct backfill_report rep;
    int64_t until = SINCE + 450 * H1, id;

    f->stop_after = 2;
    id = run(f, SINCE, until, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DEFERRED);
    assert_int_equal(rep.row.state, BACKFILL_DEFERRED);
    assert_int_equal(rep.row.candles, 200);
    assert_int_equal(rep.row.position, SINCE + 199 * H1);
    backfill_report_release(&rep);

    f->stop_after = -1;
    assert_int_equal(run(f, SINCE, until, &rep), id);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_int_equal(rep.candles, 250);
    assert_int_equal(rep.row.candles, 450);
    assert_int_equal(rep.row.requests, 5);
    assert_int_equal(f->p.calls, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(f->p.asked[i], SINCE - H1 + i * 100 * H1);
    assert_int_equal(stored(f, SINCE, until - 1), 450);
    backfill_report_release(&rep);
}

/* The venue's history starts later: a beyond_history note at its first candle, done. */
static void test_beyond_history(void **state)
{
    struct fixture *f = *state;
    struct backfill_report rep;

    f->p.first = SINCE + 40 * H1;
    run(f, SINCE, SINCE + 100 * H1, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_int_equal(rep.candles, 60);
    assert_int_equal(rep.row.first, SINCE + 40 * H1);
    assert_non_null(strstr(rep.row.note, "beyond_history: the venue's first H1 candle is at "));
    backfill_report_release(&rep);
}

/* A venue that keeps only its latest rows: a not_served note, and what it has. */
static void test_recent_only(void **state)
{
    struct fixture *f = *state;
    struct backfill_report rep;

    run(f, SINCE, 0, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_non_null(strstr(rep.row.note, "not_served: Recent serves only its latest 72 H1"));
    /* The 72 rows it has, up to the newest final one. */
    assert_int_equal(rep.candles, 72);
    assert_int_equal(f->p.calls, 1);
    assert_int_equal(f->p.asked[0], NOW - 73 * H1);
    backfill_report_release(&rep);
}

/* The reserve: with 2 of 8 tokens left nothing is sent; with 3, one request, then deferred. */
static void test_reserve(void **state)
{
    struct fixture *f = *state;
    const struct rate_budget *b = feed_budget(f->feed);
    struct backfill_report rep;
    struct rate_state rs;

    for (int i = 0; i < 6; i++)
        CHECK_OK(store_rate_take(f->sf.st, b, f->fc.now_ms - 1000, &rs, &f->sf.err), &f->sf.err);
    run(f, SINCE, SINCE + 300 * H1, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DEFERRED);
    assert_int_equal(f->p.calls, 0);
    assert_non_null(strstr(rep.message.buf, "2 of 8 requests of the window left"));
    backfill_report_release(&rep);

    /* A minute later the window is free again: it takes its 6, leaving 2. */
    f->fc.now_ms += 60000;
    run(f, SINCE, SINCE + 900 * H1, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DEFERRED);
    assert_int_equal(f->p.calls, 6);
    CHECK_OK(store_rate_peek(f->sf.st, b, f->fc.now_ms, &rs, &f->sf.err), &f->sf.err);
    assert_int_equal(rs.window_used, 6);
    backfill_report_release(&rep);

    /* Waiting (a command): it goes on as the window frees, and finishes. */
    f->o.wait = true;
    run(f, SINCE, SINCE + 900 * H1, &rep);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_int_equal(rep.row.candles, 900);
    assert_int_equal(f->p.calls, 9);
    backfill_report_release(&rep);
}

/* Another live process holds the lease: busy, nothing sent; a dead one's is taken over. */
static void test_lease(void **state)
{
    struct fixture *f = *state;
    struct backfill_spec spec = {
        .symbol = "BTC/USD", .tf = TF_H1, .since = SINCE, .until = SINCE + 50 * H1};
    struct backfill_report rep;
    struct backfill_row row;
    struct strbuf name = STRBUF_INIT, dead = STRBUF_INIT;
    char host[128] = "";
    bool resumed;

    CHECK_OK(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err), &f->sf.err);
    assert_false(resumed);
    strbuf_addf(&name, "backfill:%lld", (long long)row.id);
    CHECK_OK(store_lease_claim(f->sf.st, name.buf, "otherhost:1:bb", f->fc.now_ms,
                               f->fc.now_ms + 60000, &f->sf.err),
             &f->sf.err);
    backfill_report_init(&rep);
    CHECK_OK(backfill_run(f->feed, row.id, &f->o, &rep, &f->sf.err), &f->sf.err);
    assert_int_equal(rep.outcome, BACKFILL_RUN_BUSY);
    assert_non_null(strstr(rep.message.buf, "otherhost:1:bb"));
    assert_int_equal(f->p.calls, 0);
    backfill_report_release(&rep);
    CHECK_OK(store_lease_release(f->sf.st, name.buf, "otherhost:1:bb", &f->sf.err), &f->sf.err);

    /* A process of this host that is gone (pid 2^22 + 1 is above any pid_max default). */
    gethostname(host, sizeof(host) - 1);
    strbuf_addf(&dead, "cli:%s:4194305:cc", host);
    CHECK_OK(store_lease_claim(f->sf.st, name.buf, dead.buf, f->fc.now_ms, f->fc.now_ms + 60000,
                               &f->sf.err),
             &f->sf.err);
    backfill_report_init(&rep);
    CHECK_OK(backfill_run(f->feed, row.id, &f->o, &rep, &f->sf.err), &f->sf.err);
    assert_int_equal(rep.outcome, BACKFILL_RUN_DONE);
    assert_int_equal(rep.row.candles, 50);

    /* Asked again for the same range once done: a new backfill. */
    backfill_row_release(&row);
    CHECK_OK(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err), &f->sf.err);
    assert_false(resumed);
    assert_int_not_equal(row.id, rep.row.id);
    backfill_report_release(&rep);
    backfill_row_release(&row);
    strbuf_release(&name);
    strbuf_release(&dead);
}

/* Requests that cannot be served are refused with the reason. */
static void test_open_checks(void **state)
{
    struct fixture *f = *state;
    struct backfill_spec spec = {.symbol = "BTC/USD", .tf = TF_H1, .since = NOW};
    struct backfill_row row;
    bool resumed;

    assert_int_equal(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err),
                     CK_EINVAL);
    assert_non_null(strstr(f->sf.err.buf, "no candle from then on has closed yet"));
    strbuf_reset(&f->sf.err);
    spec.since = SINCE;
    spec.until = SINCE;
    assert_int_equal(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err),
                     CK_EINVAL);
    assert_non_null(strstr(f->sf.err.buf, "is not after since"));
    strbuf_reset(&f->sf.err);
    f->ss.enabled = false;
    spec.until = 0;
    assert_int_equal(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err),
                     CK_EINVAL);
    assert_non_null(strstr(f->sf.err.buf, "is disabled"));
    strbuf_reset(&f->sf.err);
    /* An unaligned since starts at the next whole period. */
    f->ss.enabled = true;
    spec.since = SINCE + 1;
    CHECK_OK(backfill_open(f->sf.st, &f->ss, &spec, NOW, &row, &resumed, &f->sf.err), &f->sf.err);
    assert_int_equal(row.since, SINCE + H1);
    assert_int_equal(row.position, SINCE);
    backfill_row_release(&row);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beyond_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent_only, setup_recent, teardown),
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
