/* SPDX-License-Identifier: MIT */
/*
 * The feed's guarded fetch with a fake provider (a source_ops of its own
 * that counts what it is asked) and a fake clock, on every backend: the
 * order breaker -> budget -> request -> ban, and what reaches the
 * provider in each case. Also the refresh of a feed's series: a deferral
 * defers the series after it without asking again.
 */
#include "testutil.h"

#include "ingest/feed.h"
#include "ingest/refresh.h"
#include "resilience/breaker.h"
#include "resilience/ratelimit.h"
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
#include <unistd.h>

#include "util/banned.h"

#define T0 1710504000000LL /* 2024-03-15T12:00:00Z, ms */

/* What the fake provider answers. */
enum fake_answer {
    FAKE_OK,    /* no new candles */
    FAKE_500,   /* a provider failure */
    FAKE_429RA, /* per-minute credits used up, Retry-After 120 s */
};

struct fake_provider {
    enum fake_answer answer;
    int calls;
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

    p->calls++;
    switch (p->answer) {
    case FAKE_OK:
        return 0;
    case FAKE_500:
        res->error = SRC_ERR_SERVER;
        res->http_status = 500;
        strbuf_addf(err, "fake %s: provider failure (500)", req->symbol);
        return CK_EUPSTREAM;
    case FAKE_429RA:
        res->error = SRC_ERR_RATE_MINUTE;
        res->http_status = 429;
        res->retry_after = 120;
        strbuf_addf(err, "fake %s: per-minute credits used up", req->symbol);
        return CK_ELIMIT;
    }
    return 0;
}

static const struct source_kind fake_kind = {
    .name = "fake",
    .title = "Fake",
    .base_url = "http://127.0.0.1:9",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = 5000,
};

static const struct source_ops fake_ops = {
    .kind = &fake_kind,
    .open = fake_open,
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

static uint64_t no_jitter(void *arg)
{
    (void)arg;
    return 0;
}

struct fixture {
    struct store *st;
    char *url;
    char name[48];
    char *symbols[3];
    enum timeframe tfs[1];
    struct strbuf err;
    struct fake_clock fc;
    struct retry_clock clock;
    struct retry_policy policy;
    struct feed *feed;
    struct fake_provider p;
    struct fake_source *src;
    struct feed_env env;
};

static unsigned name_counter;

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    snprintf(f->name, sizeof(f->name), "feed%ld_%u", (long)getpid(), name_counter++);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    f->symbols[0] = "AAA/USD";
    f->symbols[1] = "BBB/USD";
    f->symbols[2] = "CCC/USD";
    f->tfs[0] = TF_H1;
    struct feed_config cfg = {
        .source = {.name = f->name, .kind = "fake", .timeout_ms = 5000},
        .calendar = CAL_CRYPTO,
        .breaker = {.failures = 1, .recovery_ms = 60000, .max_recovery_ms = 600000},
        .rate_per_minute = 1,
        .daily_quota = 800,
        .symbols = f->symbols,
        .nsymbols = 3,
        .timeframes = f->tfs,
        .ntimeframes = 1,
        .backfill = 10,
        .enabled = true,
    };
    if (feed_open(&f->feed, &cfg, &f->err)) {
        fprintf(stderr, "cannot open feed: %s\n", f->err.buf);
        return -1;
    }
    f->fc.now = T0;
    f->clock = (struct retry_clock){
        .now_ms = fake_now, .sleep_ms = fake_sleep, .random = no_jitter, .arg = &f->fc};
    f->policy = (struct retry_policy){.max_retries = 0, .base_ms = 1000, .max_ms = 1000};
    f->src = xcalloc(1, sizeof(*f->src));
    f->src->base.ops = &fake_ops;
    f->src->base.cfg = &feed_config(f->feed)->source;
    f->src->p = &f->p;
    f->env = (struct feed_env){
        .store = f->st,
        .policy = &f->policy,
        .clock = &f->clock,
        .deadline_ms = T0 + 60000,
        .no_budget_wait = true,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    free(f->src);
    feed_free(f->feed);
    store_close(f->st);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

static int fetch(struct fixture *f, struct guard_report *rep)
{
    struct fetch_request req = {.symbol = "AAA/USD", .tf = TF_H1, .count = 10, .now = T0 / 1000};
    struct fetch_result res = FETCH_RESULT_INIT;
    int rc;

    strbuf_reset(&f->err);
    rc = feed_fetch(f->feed, &f->src->base, &f->env, &req, &res, rep, &f->err);
    fetch_result_release(&res);
    return rc;
}

static struct rate_state peek(struct fixture *f)
{
    struct rate_state rs;
    struct strbuf err = STRBUF_INIT;

    assert_int_equal(store_rate_peek(f->st, feed_budget(f->feed), f->fc.now, &rs, &err), 0);
    strbuf_release(&err);
    return rs;
}

static void test_ok_takes_a_token(void **state)
{
    struct fixture *f = *state;
    struct guard_report rep;

    assert_int_equal(fetch(f, &rep), 0);
    assert_int_equal(rep.outcome, GUARD_OK);
    assert_int_equal(rep.sent, 1);
    assert_int_equal(f->p.calls, 1);
    assert_int_equal(peek(f).window_used, 1);
}

/* The breaker is asked first: an open circuit sends nothing and costs no token. */
static void test_breaker_open_sends_nothing(void **state)
{
    struct fixture *f = *state;
    struct guard_report rep;

    f->p.answer = FAKE_500;
    assert_int_equal(fetch(f, &rep), CK_EUPSTREAM);
    assert_int_equal(rep.outcome, GUARD_FAILED);
    assert_int_equal(f->p.calls, 1);
    /* Both refuse now (the minute's token is used, the circuit is open): the breaker is asked
     * first. */
    f->fc.now += 59000;
    assert_int_not_equal(fetch(f, &rep), 0);
    assert_int_equal(rep.outcome, GUARD_REJECTED);
    assert_int_equal(rep.sent, 0);
    assert_int_equal(f->p.calls, 1);
    assert_non_null(strstr(f->err.buf, "circuit open"));
    assert_int_equal(peek(f).day_used, 1);
}

/*
 * The circuit one feed opened is recorded with the fetching process's
 * name, and a feed built afterwards (a restarted daemon) takes it back:
 * still open, it sends nothing until the retry time.
 */
static void test_open_circuit_survives_a_restart(void **state)
{
    struct fixture *f = *state;
    struct feed *again;
    struct feed_config cfg = *feed_config(f->feed);
    struct guard_report rep;
    struct breaker_row row;
    struct breaker_info bi;

    f->env.instance = "host:7:aa";
    f->p.answer = FAKE_500;
    assert_int_equal(fetch(f, &rep), CK_EUPSTREAM);
    CHECK_OK(store_breaker_get(f->st, f->name, &row, &f->err), &f->err);
    assert_string_equal(row.state, "open");
    assert_string_equal(row.instance, "host:7:aa");
    assert_int_equal(row.retry_at_ms, T0 + 60000);
    breaker_row_release(&row);

    CHECK_OK(feed_open(&again, &cfg, &f->err), &f->err);
    breaker_info(feed_breaker(again), T0, &bi);
    assert_int_equal(bi.state, BREAKER_CLOSED);
    CHECK_OK(feed_restore(again, f->st, "host:8:bb", T0 + 1000, &f->err), &f->err);
    breaker_info(feed_breaker(again), T0 + 1000, &bi);
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(bi.next_probe_ms, T0 + 60000);

    /* The restored feed refuses without sending; at the retry time it probes. */
    feed_free(f->feed);
    f->feed = again;
    f->src->base.cfg = &feed_config(again)->source;
    f->p.answer = FAKE_OK;
    f->fc.now = T0 + 30000;
    assert_int_not_equal(fetch(f, &rep), 0);
    assert_int_equal(rep.outcome, GUARD_REJECTED);
    assert_int_equal(f->p.calls, 1);
    f->fc.now = T0 + 61000; /* past the retry time, and the minute's token is free again */
    assert_int_equal(fetch(f, &rep), 0);
    assert_int_equal(f->p.calls, 2);
    CHECK_OK(store_breaker_get(f->st, f->name, &row, &f->err), &f->err);
    assert_string_equal(row.state, "closed");
    breaker_row_release(&row);
}

/* A feed whose provider has no record starts closed, and records that. */
static void test_restore_without_record(void **state)
{
    struct fixture *f = *state;
    struct breaker_info bi;
    struct breaker_row row;

    CHECK_OK(feed_restore(f->feed, f->st, "host:8:bb", T0, &f->err), &f->err);
    breaker_info(feed_breaker(f->feed), T0, &bi);
    assert_int_equal(bi.state, BREAKER_CLOSED);
    assert_false(bi.active);
    CHECK_OK(store_breaker_get(f->st, f->name, &row, &f->err), &f->err);
    assert_string_equal(row.state, "closed");
    assert_int_equal(row.failures, 0);
    assert_int_equal(row.opened_at_ms, 0);
    assert_int_equal(row.retry_at_ms, 0);
    assert_int_equal(row.updated_ms, T0);
    assert_string_equal(row.instance, "host:8:bb");
    breaker_row_release(&row);
}

/* No token free now: deferred, nothing sent, and the retry time is when one is. */
static void test_no_token_sends_nothing(void **state)
{
    struct fixture *f = *state;
    struct guard_report rep;
    struct strbuf why = STRBUF_INIT;

    assert_int_equal(fetch(f, &rep), 0);
    f->fc.now += 10000;
    assert_int_equal(fetch(f, &rep), CK_ELIMIT);
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(rep.sent, 0);
    assert_int_equal(f->p.calls, 1);
    assert_true(rep.retry_at_ms > f->fc.now);
    assert_true(feed_describe_deferral(f->feed, &rep, f->fc.now, &why));
    assert_non_null(strstr(why.buf, "rate budget: 1 of 1 requests of the last minute"));
    strbuf_release(&why);
    /* Waiting is allowed, and the deadline far: the same fetch waits for the token. */
    f->env.no_budget_wait = false;
    f->env.deadline_ms = T0 + 600000;
    assert_int_equal(fetch(f, &rep), 0);
    assert_int_equal(f->p.calls, 2);
    assert_true(f->fc.now >= T0 + 61000);
}

/* A Retry-After is stored as a ban before anything else, and every later fetch respects it. */
static void test_retry_after_is_stored_as_a_ban(void **state)
{
    struct fixture *f = *state;
    struct guard_report rep;
    struct rate_state rs;

    f->p.answer = FAKE_429RA;
    assert_int_equal(fetch(f, &rep), CK_ELIMIT);
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(rep.sent, 1);
    assert_int_equal(rep.retry_at_ms, T0 + 120000);
    f->fc.now += 61000; /* the minute's token is back; the ban is not over */
    rs = peek(f);
    assert_int_equal(rs.refusal, RATE_BANNED);
    assert_int_equal(rs.banned_until_ms, T0 + 120000);
    assert_non_null(strstr(rs.ban_reason, "per-minute credits"));
    f->p.answer = FAKE_OK;
    assert_int_equal(fetch(f, &rep), CK_ELIMIT);
    assert_int_equal(rep.outcome, GUARD_DEFERRED);
    assert_int_equal(f->p.calls, 1);
    /* A wait longer than the deadline is not waited for, even when waiting is allowed. */
    f->env.no_budget_wait = false;
    assert_int_equal(fetch(f, &rep), CK_ELIMIT);
    assert_int_equal(f->p.calls, 1);
    f->fc.now = T0 + 120000;
    assert_int_equal(fetch(f, &rep), 0);
    assert_int_equal(f->p.calls, 2);
}

/* A refresh asks once: the series after a deferral are deferred without asking the budget. */
static void test_refresh_defers_the_rest(void **state)
{
    struct fixture *f = *state;
    struct refresh_result res = REFRESH_RESULT_INIT;
    struct refresh_opts o = {
        .tf = TF_H1,
        .now = T0 / 1000,
        .gap_window = 86400,
        .env = f->env,
        .source = &f->src->base,
    };
    struct rate_state before, after;

    assert_int_equal(fetch(f, NULL), 0);
    f->fc.now += 1000;
    before = peek(f);
    ingest_refresh(f->feed, &o, &res);
    after = peek(f);
    assert_false(res.db_failed);
    assert_int_equal(res.n, 3);
    for (size_t i = 0; i < res.n; i++) {
        assert_int_equal(res.v[i].outcome, SERIES_RUN_DEFERRED);
        assert_non_null(strstr(res.v[i].message.buf, "rate budget: 1 of 1 requests"));
        assert_true(res.v[i].retry_at_ms > f->fc.now);
    }
    assert_int_equal(f->p.calls, 1);
    assert_int_equal(after.day_used, before.day_used);
    refresh_result_release(&res);

    /* With the budget back, every series goes out: one token each, one at a time. */
    f->fc.now += 61000;
    o.symbol = "BBB/USD";
    ingest_refresh(f->feed, &o, &res);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.v[0].outcome, SERIES_RUN_OK);
    assert_string_equal(res.v[0].symbol, "BBB/USD");
    assert_int_equal(f->p.calls, 2);
    refresh_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_takes_a_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_open_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_token_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_stored_as_a_ban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_defers_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_circuit_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_without_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
