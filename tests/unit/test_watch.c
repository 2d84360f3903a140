/* SPDX-License-Identifier: MIT */
/*
 * What the alert watch sees.
 *
 * When a series is stale: the closed periods its calendar expects after
 * its newest candle. The instants are written by hand from the trading
 * rules (forex and metals close Friday 17:00 New York and open Sunday
 * 17:00, metals pause 17:00-18:00 New York every day; in winter New York is
 * UTC-5, in summer UTC-4), not computed with calendar.c, so a weekend that
 * counted, a pause that counted or a DST switch taken on the wrong day
 * shows as a wrong count.
 *
 * Then the watch_alerts job and the completion hook on a real store, with
 * a real alert manager (no channel: the alert rows say what was decided)
 * and a running scheduler on a fake clock: stale series, open, filled and
 * unfillable gaps, a quota at 90%, a breaker opening and closing (and the
 * per-series alerts it holds back), failure streaks, timeouts and
 * recoveries.
 */
#include "testutil.h"

#include "alert/alert.h"
#include "jobs/table.h"
#include "jobs/watch.h"
#include "health/rules.h"
#include "ck/ck.h"
#include "market/calendar.h"
#include "resilience/breaker.h"
#include "resilience/ratelimit.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAP 100000

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static struct calendar *cal_open(enum calendar_kind kind, const int64_t *hol, size_t nhol)
{
    struct calendar *cal = NULL;
    struct strbuf err = STRBUF_INIT;
    if (calendar_open(&cal, kind, hol, nhol, NULL, &err))
        fail_msg("calendar_open: %s", err.buf);
    strbuf_release(&err);
    return cal;
}

struct stale_case {
    enum timeframe tf;
    const char *latest; /* open time of the newest candle */
    const char *now;
    int64_t missing;
};

static void run_cases(const struct calendar *cal, const struct stale_case *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = health_missing_periods(cal, v[i].tf, T(v[i].latest), T(v[i].now), CAP);
        if (got != v[i].missing)
            fail_msg("%s latest %s now %s: %lld missing, expected %lld", timeframe_name(v[i].tf),
                     v[i].latest, v[i].now, (long long)got, (long long)v[i].missing);
    }
}

/* Crypto trades around the clock: every closed period counts, the forming one never. */
static void test_crypto(void **state)
{
    static const struct stale_case cases[] = {
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:10:00Z", 0}, /* still forming */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:15:10Z", 0}, /* the next is forming */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:30:00Z", 1},
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T12:59:59Z", 2},
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T13:00:00Z", 3}, /* stale: a Saturday */
        {TF_H1, "2024-01-06T12:00:00Z", "2024-01-07T12:00:00Z", 23},
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-08T00:30:00Z", 2},
        /* W1 opens on Mondays: the weeks of Jan 8 and Jan 15 have closed. */
        {TF_W1, "2024-01-01T00:00:00Z", "2024-01-22T01:00:00Z", 2},
        /* A clock behind the newest candle (a restored database) is not stale. */
        {TF_M15, "2024-01-06T12:00:00Z", "2024-01-06T11:00:00Z", 0},
    };
    struct calendar *cal = cal_open(CAL_CRYPTO, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    /* Counting stops at the cap. */
    assert_int_equal(health_missing_periods(cal, TF_M1, T("2023-01-01T00:00:00Z"),
                                            T("2024-01-01T00:00:00Z"), 50),
                     50);
    assert_int_equal(
        health_missing_periods(cal, TF_M1, T("2023-01-01T00:00:00Z"), T("2024-01-01T00:00:00Z"), 0),
        0);
    calendar_free(cal);
}

/* Forex: nothing is missing over a weekend; the Sunday open counts from its first period. */
static void test_forex_weekend(void **state)
{
    static const struct stale_case cases[] = {
        /* Friday 2024-01-05 closes 17:00 EST = 22:00 UTC; the last M15 opens 21:45. */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-05T23:30:00Z", 0},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-06T12:00:00Z", 0}, /* Saturday */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T21:59:59Z", 0}, /* Sunday before 17:00 */
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:15:00Z", 1},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:44:59Z", 2},
        {TF_M15, "2024-01-05T21:45:00Z", "2024-01-07T22:45:00Z", 3}, /* stale from here */
        {TF_H1, "2024-01-05T21:00:00Z", "2024-01-07T12:00:00Z", 0},
        {TF_H1, "2024-01-05T21:00:00Z", "2024-01-08T01:00:00Z", 3},
        /* Saturday's D1 is not expected; Sunday's (open from 22:00) is. */
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-07T23:00:00Z", 0},
        {TF_D1, "2024-01-05T00:00:00Z", "2024-01-08T00:30:00Z", 1},
        /*
         * Across the switch to summer time (Sunday 2024-03-10): Friday closes
         * at 22:00 UTC, Sunday opens at 17:00 EDT = 21:00 UTC.
         */
        {TF_M15, "2024-03-08T21:45:00Z", "2024-03-10T20:59:00Z", 0},
        {TF_M15, "2024-03-08T21:45:00Z", "2024-03-10T21:45:00Z", 3},
        /* And back to winter time (Sunday 2024-11-03): Friday closes 21:00 UTC, Sunday opens 22:00.
         */
        {TF_M15, "2024-11-01T20:45:00Z", "2024-11-03T21:50:00Z", 0},
        {TF_M15, "2024-11-01T20:45:00Z", "2024-11-03T22:45:00Z", 3},
    };
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    /* Every minute of a whole weekend, never stale. */
    for (int64_t now = T("2024-01-05T22:00:00Z"); now < T("2024-01-07T22:00:00Z"); now += 60)
        assert_int_equal(health_missing_periods(cal, TF_M15, T("2024-01-05T21:45:00Z"), now, CAP),
                         0);
    calendar_free(cal);
}

/* Metals: the daily pause 17:00-18:00 New York adds nothing either. */
static void test_metals_pause(void **state)
{
    static const struct stale_case cases[] = {
        /* Tuesday 2024-01-09, pause 22:00-23:00 UTC. */
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T22:59:00Z", 0},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:10:00Z", 0},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:44:59Z", 2},
        {TF_M15, "2024-01-09T21:45:00Z", "2024-01-09T23:45:00Z", 3},
        /* The H1 of 22:00 is inside the pause. */
        {TF_H1, "2024-01-09T21:00:00Z", "2024-01-10T01:00:00Z", 2},
        /* Friday 2024-01-12 17:00 NY to Sunday: none. */
        {TF_H1, "2024-01-12T21:00:00Z", "2024-01-14T12:00:00Z", 0},
    };
    struct calendar *cal = cal_open(CAL_METALS, NULL, 0);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    calendar_free(cal);
}

/* A holiday closes the trading day ending 17:00 New York on that date. */
static void test_holiday(void **state)
{
    static const struct stale_case cases[] = {
        /* Christmas 2024: closed from Tuesday Dec 24 22:00 UTC to Wednesday Dec 25 22:00 UTC. */
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T12:00:00Z", 0},
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T21:59:00Z", 0},
        {TF_M15, "2024-12-24T21:45:00Z", "2024-12-25T22:45:00Z", 3},
    };
    int64_t hol = days_from_civil(2024, 12, 25);
    struct calendar *cal = cal_open(CAL_FOREX, &hol, 1);
    (void)state;
    run_cases(cal, cases, sizeof(cases) / sizeof(cases[0]));
    calendar_free(cal);

    /* The same dates without the holiday: long stale. */
    cal = cal_open(CAL_FOREX, NULL, 0);
    assert_int_equal(health_missing_periods(cal, TF_M15, T("2024-12-24T21:45:00Z"),
                                            T("2024-12-25T12:00:00Z"), CAP),
                     4 * 14);
    calendar_free(cal);
}

/* --- the watch job and the hook on a store ----------------------------- */

static _Atomic int64_t fake_ms;
static int64_t fake_now(void *arg)
{
    (void)arg;
    return atomic_load(&fake_ms);
}
static void fake_sleep(void *arg, int64_t ms)
{
    (void)arg;
    atomic_fetch_add(&fake_ms, ms);
}
static const struct sched_clock fake_clock = {.now_ms = fake_now, .sleep_ms = fake_sleep};

struct world {
    struct ck app;
    struct store *st;
    struct sched *sched;
    char src[48];
    struct strbuf err;
};

static void world_open(struct world *w)
{
    char *ini = test_tmpfile(".ini"), *url = test_store_url();
    FILE *fp = fopen(ini, "w");
    static unsigned seq;

    memset(w, 0, sizeof(*w));
    strbuf_init(&w->err, 0);
    snprintf(w->src, sizeof(w->src), "w%ld_%u", (long)getpid(), seq++);
    assert_non_null(fp);
    fprintf(fp,
            "[storage]\nurl = %s\n"
            "[source.%s]\nkind = twelvedata\napi_key = k-%s\nsymbols = BTC/USD ETH/USD\n"
            "timeframes = M15\ncalendar = crypto\ndaily_quota = 10\nbreaker_failures = 2\n"
            "[jobs]\nrefresh_candles_M15 = 0 0 1 1 *\nwatch_alerts = 0 0 1 1 *\n"
            "[digest]\nschedule = 0 0 1 1 *\n"
            "[alerts]\nfailure_threshold = 3\ncooldown = 0\nrepeat_interval = 0\n",
            url, w->src, w->src);
    fclose(fp);
    /* The settings and a feed per source, as the daemon builds them. */
    ck_init(&w->app, "test", ini, OUT_TABLE, CK_NEEDS_FEEDS);
    CHECK_OK(ck_require(&w->app, CK_NEEDS_FEEDS, &w->err), &w->err);
    w->app.config_path = NULL; /* read once; `ini` is freed below */
    CHECK_OK(store_open(&w->st, url, &w->err), &w->err);
    w->app.alerts = alert_manager_new(&w->app.settings.alerts, &w->app.settings.retry, NULL, 0,
                                      NULL, NULL, "test");
    struct sched_config cfg = {
        .store_url = url,
        .instance = "test",
        .workers = 1,
        .clock = &fake_clock,
        .on_run_end = watch_on_run_end,
        .on_run_end_arg = &w->app,
    };
    w->sched = sched_new(&cfg, &w->err);
    assert_non_null(w->sched);
    w->app.sched = w->sched;
    CHECK_OK(jobs_register(&w->app, w->sched, &w->err), &w->err);
    /* The timer thread runs (as in the daemon): breakers and overdue jobs are looked at. */
    CHECK_OK(sched_start(w->sched, &w->err), &w->err);
    for (int i = 0; i < 500 && !sched_is_running(w->sched); i++)
        usleep(2000);
    assert_true(sched_is_running(w->sched));
    free(ini);
    free(url);
}

static void world_close(struct world *w)
{
    sched_free(w->sched);
    store_close(w->st);
    ck_release(&w->app); /* and the alert manager with it */
    strbuf_release(&w->err);
}

/* Finished runs of watch_alerts, and the status of the newest. */
static size_t watch_runs(struct world *w, enum job_status *newest)
{
    struct job_run *runs = NULL;
    size_t n = 0, done = 0;
    CHECK_OK(store_job_runs_list(w->st, "watch_alerts", 0, &runs, &n, &w->err), &w->err);
    for (size_t i = 0; i < n; i++)
        done += runs[i].status != JOB_RUNNING;
    if (n && newest)
        *newest = runs[0].status;
    job_runs_free(runs, n);
    return done;
}

/* Run watch_alerts now and wait for its record; asserts it succeeded. */
static void watch(struct world *w)
{
    size_t before = watch_runs(w, NULL);
    enum job_status st = JOB_RUNNING;
    int rc;

    /* The previous run may still be attached to the job until the timer thread reaps it. */
    for (int i = 0; i < 2500 && (rc = sched_run_now(w->sched, "watch_alerts", &w->err)) == CK_EBUSY;
         i++) {
        strbuf_reset(&w->err);
        usleep(2000);
    }
    CHECK_OK(rc, &w->err);
    for (int i = 0; i < 2500 && watch_runs(w, &st) <= before; i++)
        usleep(2000);
    if (watch_runs(w, &st) <= before)
        fail_msg("watch_alerts did not finish");
    if (st != JOB_OK)
        fail_msg("watch_alerts ended %s", job_status_name(st));
}

/* The alert row of `key`; fails when there is none. Free with alert_infos_free(out, 1). */
static struct alert_info *get_alert(struct world *w, const char *key)
{
    struct alert_info *v = NULL, *out = NULL;
    size_t n = 0;
    CHECK_OK(alert_list(w->st, NULL, 0, &v, &n, &w->err), &w->err);
    for (size_t i = 0; i < n && !out; i++) {
        if (strcmp(v[i].key, key))
            continue;
        out = xcalloc(1, sizeof(*out));
        *out = v[i];
        memset(&v[i], 0, sizeof(v[i]));
        v[i].key = xstrdup("");
        v[i].title = xstrdup("");
        v[i].details = xstrdup("");
        v[i].inhibited_by = xstrdup("");
    }
    alert_infos_free(v, n);
    if (!out)
        fail_msg("no alert '%s'", key);
    return out;
}

static bool has_alert(struct world *w, const char *prefix)
{
    struct alert_info *v = NULL;
    size_t n = 0;
    bool found = false;
    CHECK_OK(alert_list(w->st, NULL, 0, &v, &n, &w->err), &w->err);
    for (size_t i = 0; i < n; i++)
        found = found || !strncmp(v[i].key, prefix, strlen(prefix));
    alert_infos_free(v, n);
    return found;
}

/* Expect `key` in `state`; with `details` a substring of its details when not NULL. */
static void expect(struct world *w, const char *key, enum alert_state state, const char *details)
{
    struct alert_info *a = get_alert(w, key);
    if (a->state != state)
        fail_msg("alert '%s' is %s, expected %s", key, alert_state_name(a->state),
                 alert_state_name(state));
    if (details && !strstr(a->details, details))
        fail_msg("alert '%s': details '%s' lack '%s'", key, a->details, details);
    alert_infos_free(a, 1);
}

static void put_m15(struct world *w, const char *symbol, int64_t from, int64_t to)
{
    struct series_key k = {w->src, symbol, TF_M15};
    size_t n = (size_t)((to - from) / 900 + 1);
    struct candle *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (struct candle){.open_time = from + (int64_t)i * 900,
                               .open = 100000000,
                               .high = 200000000,
                               .low = 50000000,
                               .close = 150000000};
    CHECK_OK(store_put_candles(w->st, &k, v, n, &w->err), &w->err);
    free(v);
}

static void test_watch_job(void **state)
{
    struct world w;
    struct strbuf key = STRBUF_INIT;
    int64_t now = T("2024-03-13T12:07:00Z");
    (void)state;

    atomic_store(&fake_ms, now * 1000);
    world_open(&w);

    /* BTC/USD is fresh (its newest closed at 12:00); ETH/USD stopped at 10:00. */
    put_m15(&w, "BTC/USD", T("2024-03-13T08:00:00Z"), T("2024-03-13T11:45:00Z"));
    put_m15(&w, "ETH/USD", T("2024-03-13T08:00:00Z"), T("2024-03-13T10:00:00Z"));
    watch(&w);
    strbuf_addf(&key, "stale:%s:ETH/USD:M15", w.src);
    expect(&w, key.buf, ALERT_FIRING, "no new candle for 7 periods");
    strbuf_reset(&key);
    strbuf_addf(&key, "stale:%s:BTC/USD:M15", w.src);
    {
        struct alert_info *v = NULL;
        size_t n = 0;
        CHECK_OK(alert_list(w.st, NULL, 0, &v, &n, &w.err), &w.err);
        for (size_t i = 0; i < n; i++)
            assert_string_not_equal(v[i].key, key.buf);
        alert_infos_free(v, n);
    }

    /* An open gap of BTC/USD: one alert; filled: resolved. */
    struct series_key btc = {w.src, "BTC/USD", TF_M15};
    struct gap_range g = {
        .first = T("2024-03-13T09:00:00Z"), .last = T("2024-03-13T09:15:00Z"), .count = 2};
    struct gap_sync_result gs;
    CHECK_OK(store_sync_gaps(w.st, &btc, T("2024-03-13T08:00:00Z"), T("2024-03-13T12:00:00Z"), &g,
                             1, "provider_no_data", now, &gs, &w.err),
             &w.err);
    watch(&w);
    strbuf_reset(&key);
    strbuf_addf(&key, "gap:%s:BTC/USD:M15:2024-03-13T09:00:00Z", w.src);
    expect(&w, key.buf, ALERT_FIRING, "2 missing candles from 2024-03-13T09:00:00Z");
    {
        struct alert_info *a = get_alert(&w, key.buf);
        assert_int_equal(a->severity, NOTIFY_INFO);
        assert_int_equal(a->times_sent, 1);
        alert_infos_free(a, 1);
    }
    watch(&w); /* seen again: nothing new */
    {
        struct alert_info *a = get_alert(&w, key.buf);
        assert_int_equal(a->times_sent, 1);
        alert_infos_free(a, 1);
    }
    CHECK_OK(store_sync_gaps(w.st, &btc, T("2024-03-13T08:00:00Z"), T("2024-03-13T12:00:00Z"), NULL,
                             0, "provider_no_data", now, &gs, &w.err),
             &w.err);
    assert_int_equal(gs.filled, 1);
    watch(&w);
    expect(&w, key.buf, ALERT_RESOLVED, "no longer seen");

    /* An unfillable gap: raised once, not cleared while it stays unfillable. */
    struct gap_range g2 = {
        .first = T("2024-03-13T08:30:00Z"), .last = T("2024-03-13T08:30:00Z"), .count = 1};
    CHECK_OK(store_sync_gaps(w.st, &btc, T("2024-03-13T08:00:00Z"), T("2024-03-13T12:00:00Z"), &g2,
                             1, "provider_no_data", now, &gs, &w.err),
             &w.err);
    struct gap_query q = {.source = w.src, .has_state = true, .state = GAP_OPEN};
    struct gap_record *gv = NULL;
    size_t ng = 0;
    CHECK_OK(store_list_gaps(w.st, &q, &gv, &ng, &w.err), &w.err);
    assert_int_equal(ng, 1);
    CHECK_OK(
        store_set_gap_state(w.st, gv[0].id, GAP_UNFILLABLE, "the provider has none", now, &w.err),
        &w.err);
    gap_records_free(gv, ng);
    watch(&w);
    watch(&w);
    strbuf_reset(&key);
    strbuf_addf(&key, "gap-unfillable:%s:BTC/USD:M15:2024-03-13T08:30:00Z", w.src);
    {
        struct alert_info *a = get_alert(&w, key.buf);
        assert_int_equal(a->state, ALERT_FIRING);
        assert_int_equal(a->severity, NOTIFY_WARNING);
        assert_int_equal(a->times_sent, 1);
        assert_non_null(strstr(a->details, "is not asked again"));
        alert_infos_free(a, 1);
    }
    strbuf_reset(&key);
    strbuf_addf(&key, "gap:%s:BTC/USD:M15:2024-03-13T08:30:00Z", w.src);
    assert_false(has_alert(&w, key.buf)); /* unfillable before any look saw it open */

    /* The daily quota: 8 of 10 is fine, 9 of 10 is 90%. */
    struct rate_budget b;
    struct rate_state rs;
    /* The budget is the key's (one per key, whichever section uses it). */
    ratelimit_budget(&b, settings_source(&w.app.settings, w.src)->budget_key, 100, 10);
    for (int i = 0; i < 8; i++)
        CHECK_OK(store_rate_take(w.st, &b, now * 1000 + i, &rs, &w.err), &w.err);
    watch(&w);
    assert_false(has_alert(&w, "quota:"));
    CHECK_OK(store_rate_take(w.st, &b, now * 1000 + 9, &rs, &w.err), &w.err);
    watch(&w);
    strbuf_reset(&key);
    strbuf_addf(&key, "quota:%s", w.src);
    expect(&w, key.buf, ALERT_FIRING, "used 9 of its 10 requests today");
    /* The next UTC day starts from nothing. */
    atomic_store(&fake_ms, T("2024-03-14T00:00:30Z") * 1000);
    put_m15(&w, "BTC/USD", T("2024-03-13T12:00:00Z"), T("2024-03-13T23:45:00Z"));
    put_m15(&w, "ETH/USD", T("2024-03-13T10:15:00Z"), T("2024-03-13T23:45:00Z"));
    watch(&w);
    expect(&w, key.buf, ALERT_RESOLVED, NULL);
    /* ETH/USD caught up: not stale any more. */
    strbuf_reset(&key);
    strbuf_addf(&key, "stale:%s:ETH/USD:M15", w.src);
    expect(&w, key.buf, ALERT_RESOLVED, NULL);

    /* The breaker opens: critical; a stale series then is held back by it. */
    now = T("2024-03-14T02:00:00Z");
    atomic_store(&fake_ms, now * 1000);
    struct breaker *br = ck_breaker(&w.app, 0);
    for (int i = 0; i < 2; i++) {
        enum breaker_pass pass = breaker_allow(br, now * 1000, NULL);
        breaker_record(br, pass, BREAKER_FAILURE, now * 1000, NULL);
    }
    watch(&w);
    strbuf_reset(&key);
    strbuf_addf(&key, "breaker:%s", w.src);
    {
        struct alert_info *a = get_alert(&w, key.buf);
        assert_int_equal(a->state, ALERT_FIRING);
        assert_int_equal(a->severity, NOTIFY_CRITICAL);
        assert_non_null(strstr(a->details, "after 2 consecutive failed calls"));
        alert_infos_free(a, 1);
    }
    struct strbuf stale = STRBUF_INIT;
    strbuf_addf(&stale, "stale:%s:ETH/USD:M15", w.src);
    {
        struct alert_info *a = get_alert(&w, stale.buf);
        assert_int_equal(a->state, ALERT_FIRING);
        assert_string_equal(a->inhibited_by, key.buf);
        alert_infos_free(a, 1);
    }
    /* A probe succeeds: the breaker alert resolves. */
    int64_t later = now + 3600;
    atomic_store(&fake_ms, later * 1000);
    enum breaker_pass pass = breaker_allow(br, later * 1000, NULL);
    assert_int_equal(pass, BREAKER_PROBE);
    breaker_record(br, pass, BREAKER_SUCCESS, later * 1000, NULL);
    watch(&w);
    expect(&w, key.buf, ALERT_RESOLVED, "go through again");
    strbuf_release(&stale);

    strbuf_release(&key);
    world_close(&w);
}

static void end(struct world *w, const char *job, enum job_status status, int64_t streak,
                const char *message)
{
    struct sched_run_end e = {
        .job_id = job,
        .job_name = job,
        .status = status,
        .streak = streak,
        .message = message,
        .now_ms = atomic_load(&fake_ms),
    };
    watch_on_run_end(&w->app, w->st, &e);
}

static void test_run_end(void **state)
{
    struct world w;
    (void)state;

    atomic_store(&fake_ms, T("2024-03-13T12:07:00Z") * 1000);
    world_open(&w);

    end(&w, "refresh_candles_M15", JOB_FAILED, 1, "boom");
    end(&w, "refresh_candles_M15", JOB_FAILED, 2, "boom");
    assert_false(has_alert(&w, "job:"));
    end(&w, "refresh_candles_M15", JOB_FAILED, 3, "HTTP 500 <b>");
    {
        struct alert_info *a = get_alert(&w, "job:refresh_candles_M15");
        assert_int_equal(a->state, ALERT_FIRING);
        assert_int_equal(a->severity, NOTIFY_WARNING);
        assert_string_equal(a->title, "Candle refresh failing");
        assert_string_equal(a->details, "M15 refresh has failed 3 consecutive times: HTTP 500 <b>");
        assert_string_equal(a->inhibited_by, ""); /* the breaker is closed */
        alert_infos_free(a, 1);
    }
    end(&w, "refresh_candles_M15", JOB_FAILED, 4, "again");
    expect(&w, "job:refresh_candles_M15", ALERT_FIRING, "failed 4 consecutive times: again");
    end(&w, "refresh_candles_M15", JOB_OK, 0, "1 series: fetched 3");
    expect(&w, "job:refresh_candles_M15", ALERT_RESOLVED, "M15 refresh succeeded again");

    /* A timeout has its own key; the next ok run clears it. */
    end(&w, "digest", JOB_TIMED_OUT, 1, "timed out after 3600s; the run was abandoned");
    expect(&w, "timeout:digest", ALERT_FIRING, "timed out after 3600s");
    assert_false(has_alert(&w, "job:digest"));
    end(&w, "retention", JOB_FAILED, 3, "disk full");
    {
        struct alert_info *a = get_alert(&w, "job:retention");
        assert_int_equal(a->severity, NOTIFY_CRITICAL);
        assert_string_equal(a->title, "retention failing");
        alert_infos_free(a, 1);
    }
    end(&w, "digest", JOB_OK, 0, "digest queued");
    expect(&w, "timeout:digest", ALERT_RESOLVED, NULL);

    /* With the provider's breaker open, a refresh's alert names it as its cause. */
    struct breaker *br = ck_breaker(&w.app, 0);
    int64_t now = atomic_load(&fake_ms);
    for (int i = 0; i < 2; i++)
        breaker_record(br, breaker_allow(br, now, NULL), BREAKER_FAILURE, now, NULL);
    end(&w, "refresh_candles_M15", JOB_FAILED, 3, "circuit open");
    struct strbuf bk = STRBUF_INIT;
    strbuf_addf(&bk, "breaker:%s", w.src);
    expect(&w, bk.buf, ALERT_FIRING, NULL);
    {
        struct alert_info *a = get_alert(&w, "job:refresh_candles_M15");
        assert_int_equal(a->state, ALERT_FIRING);
        assert_string_equal(a->inhibited_by, bk.buf);
        alert_infos_free(a, 1);
    }
    strbuf_release(&bk);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto),       cmocka_unit_test(test_forex_weekend),
        cmocka_unit_test(test_metals_pause), cmocka_unit_test(test_holiday),
        cmocka_unit_test(test_watch_job),    cmocka_unit_test(test_run_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
