/* SPDX-License-Identifier: MIT */
/*
 * The detect_outcomes pass on a real store (SQLite here, PostgreSQL as
 * pg.test_outcomes): active signals and stored candles in, outcomes and
 * statuses out, a candle touching both levels settled from the stored
 * lower timeframe, the notice written with the outcome or not at all.
 * Every test leaves no active signal behind (teardown cancels them), so
 * the next one sees only its own.
 */
#include "testutil.h"

#include "alert/alert.h"
#include "ck/settings.h"
#include "jobs/outcomes.h"
#include "market/price.h"
#include "store/alerts.h"
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

/* 2024-01-02T00:00:00Z, a Tuesday. */
#define T0   1704153600LL
#define H1   3600LL
#define M15  900LL
#define P(x) ((int64_t)(x)*PRICE_SCALE)

/* What the notify hook saw. */
struct captured {
    size_t n;
    char titles[8][128];
    char details[8][512];
    int fail; /* non-zero: the hook fails with it */
};

struct fixture {
    struct store *st;
    char *url;
    char source[32];
    struct strbuf err;
    struct settings settings;
    struct captured cap;
    struct outcomes_job job;
};

static unsigned counter;

static int notify(void *arg, struct store *st, const struct signal *s, const struct outcome *o,
                  int64_t now_ms, struct strbuf *err)
{
    struct captured *c = arg;
    struct strbuf title = STRBUF_INIT, details = STRBUF_INIT;
    (void)now_ms;
    /* Inside the transaction that records the outcome. */
    assert_true(store_in_transaction(st));
    if (c->fail) {
        strbuf_addstr(err, "alert outbox: cannot queue");
        return c->fail;
    }
    outcomes_notice_text(s, o, &title, &details);
    assert_true(c->n < 8);
    snprintf(c->titles[c->n], sizeof(c->titles[0]), "%s", title.buf);
    snprintf(c->details[c->n], sizeof(c->details[0]), "%s", details.buf);
    c->n++;
    strbuf_release(&title);
    strbuf_release(&details);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct config_report rep = CONFIG_REPORT_INIT;

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    snprintf(f->source, sizeof(f->source), "o%ld_%u", (long)getpid(), counter++);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    if (chdir(test_tmpdir()) || settings_load(&f->settings, NULL, &rep))
        return -1;
    config_report_release(&rep);
    f->job =
        (struct outcomes_job){.settings = &f->settings, .notify = notify, .notify_arg = &f->cap};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const enum signal_status active = SIGNAL_ACTIVE;
    struct signal_query q = {.status = &active};
    struct signal *v;
    size_t n;
    if (!store_signal_list(f->st, &q, &v, &n, &f->err)) {
        for (size_t i = 0; i < n; i++)
            (void)store_signal_set_status(f->st, v[i].id, SIGNAL_ACTIVE, SIGNAL_CANCELLED,
                                          T0 * 1000, &f->err);
        signals_free(v, n);
    }
    store_close(f->st);
    free(f->url);
    settings_release(&f->settings);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

static void put(struct fixture *f, const char *symbol, enum timeframe tf, const struct candle *v,
                size_t n)
{
    struct series_key k = {.source = f->source, .symbol = symbol, .tf = tf};
    CHECK_OK(store_put_candles(f->st, &k, v, n, &f->err), &f->err);
}

static struct candle K(int64_t t, int o, int h, int l, int c) {
    return (struct candle){.open_time = t, .open = P(o), .high = P(h), .low = P(l), .close = P(c)};
}

/* A new active signal; returns its id in `id`. */
static void
add_signal(struct fixture *f, const char *symbol, enum timeframe tf, enum signal_direction dir,
           int sl, int tp, int64_t created_ms, int64_t expires_ms, char id[SIGNAL_ID_MAX])
{
    struct signal s = {
        .request_hash = (char *)"00",
        .source = f->source,
        .symbol = (char *)symbol,
        .tf = tf,
        .direction = dir,
        .entry = P(100),
        .stop_loss = P(sl),
        .take_profit = P(tp),
        .created_ms = created_ms,
        .expires_ms = expires_ms,
        .status = SIGNAL_ACTIVE,
        .note = (char *)"",
        .updated_ms = created_ms,
    };
    bool existed = false;
    signal_new_id(s.id, created_ms);
    CHECK_OK(store_signal_create(f->st, &s, NULL, 0, created_ms, &existed, &f->err), &f->err);
    memcpy(id, s.id, SIGNAL_ID_MAX);
}

static enum signal_status status_of(struct fixture *f, const char *id)
{
    struct signal s;
    CHECK_OK(store_signal_get(f->st, id, &s, &f->err), &f->err);
    enum signal_status st = s.status;
    signal_release(&s);
    return st;
}

static struct outcomes_stats detect(struct fixture *f, int64_t now_ms)
{
    struct outcomes_stats st;
    struct strbuf failures = STRBUF_INIT;
    CHECK_OK(outcomes_detect(f->st, &f->job, now_ms, &st, &failures, &f->err), &f->err);
    if (st.failed)
        fail_msg("unexpected failures: %s", failures.buf);
    strbuf_release(&failures);
    return st;
}

/*
 * Four signals on one market: a long whose H1 candle touched both levels
 * (the M15 candles say the take-profit came first), a short lost by a
 * plain touch, one that expired untouched, and one still open.
 */
static void test_outcomes_recorded(void **state)
{
    struct fixture *f = *state;
    char both[SIGNAL_ID_MAX], shortl[SIGNAL_ID_MAX], exp[SIGNAL_ID_MAX], open[SIGNAL_ID_MAX];
    struct candle h1[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 112, 88, 95),
                          K(T0 + 2 * H1, 95, 104, 95, 103), K(T0 + 3 * H1, 103, 104, 102, 103)};
    /* Inside the 01:00 hour: the high (112) at 01:15, the low (88) at 01:30. */
    struct candle m15[] = {K(T0 + H1, 100, 101, 99, 100), K(T0 + H1 + M15, 100, 112, 99, 108),
                           K(T0 + H1 + 2 * M15, 108, 108, 88, 90),
                           K(T0 + H1 + 3 * M15, 90, 96, 89, 95)};
    put(f, "XAU/USD", TF_H1, h1, 4);
    put(f, "XAU/USD", TF_M15, m15, 4);

    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 90, 110, T0 * 1000, 0, both);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_SHORT, 104, 80, (T0 + 2 * H1) * 1000, 0, shortl);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 50, 150, T0 * 1000, (T0 + 4 * H1) * 1000, exp);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 50, 150, T0 * 1000, 0, open);

    struct outcomes_stats st = detect(f, (T0 + 4 * H1 + 60) * 1000);
    assert_int_equal(st.checked, 4);
    assert_int_equal(st.won, 1);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.ambiguous, 0);
    assert_int_equal(st.conflicts, 0);

    struct outcome o;
    CHECK_OK(store_outcome_get(f->st, both, &o, &f->err), &f->err);
    assert_int_equal(o.result, SIGNAL_WON);
    assert_true(o.has_price);
    assert_int_equal(o.price, P(110));
    assert_true(o.has_candle);
    assert_int_equal(o.tf, TF_M15);
    assert_int_equal(o.candle_time, T0 + H1 + M15);
    assert_false(o.ambiguous);
    assert_int_equal(o.decided_ms, (T0 + H1 + 2 * M15) * 1000);
    assert_int_equal(status_of(f, both), SIGNAL_WON);

    /* The short's stop-loss (104) was touched at 02:00. */
    CHECK_OK(store_outcome_get(f->st, shortl, &o, &f->err), &f->err);
    assert_int_equal(o.result, SIGNAL_LOST);
    assert_int_equal(o.price, P(104));
    assert_int_equal(o.tf, TF_H1);
    assert_int_equal(o.candle_time, T0 + 2 * H1);
    assert_int_equal(status_of(f, shortl), SIGNAL_LOST);

    CHECK_OK(store_outcome_get(f->st, exp, &o, &f->err), &f->err);
    assert_int_equal(o.result, SIGNAL_EXPIRED);
    assert_false(o.has_price);
    assert_int_equal(o.decided_ms, (T0 + 4 * H1) * 1000);
    assert_int_equal(status_of(f, exp), SIGNAL_EXPIRED);

    assert_int_equal(status_of(f, open), SIGNAL_ACTIVE);
    assert_int_equal(store_outcome_get(f->st, open, &o, &f->err), CK_ENOTFOUND);

    /* One notice per outcome, written with it. */
    assert_int_equal(f->cap.n, 3);
    bool saw_won = false;
    for (size_t i = 0; i < f->cap.n; i++)
        if (!strcmp(f->cap.titles[i], "Signal won: XAU/USD H1 long")) {
            saw_won = true;
            assert_non_null(strstr(f->cap.details[i], both));
            assert_non_null(
                strstr(f->cap.details[i],
                       "take-profit touched in the M15 candle of 2024-01-02T01:15:00Z"));
        }
    assert_true(saw_won);

    /* The next pass only looks at what is still active. */
    st = detect(f, (T0 + 4 * H1 + 120) * 1000);
    assert_int_equal(st.checked, 1);
    assert_int_equal(st.won + st.lost + st.expired, 0);
    assert_int_equal(f->cap.n, 3);

    struct strbuf js = STRBUF_INIT;
    outcomes_details_json(&st, &js);
    json_error_t jerr;
    json_t *d = json_loads(js.buf, 0, &jerr);
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d, "checked")), 1);
    assert_non_null(json_object_get(d, "won"));
    assert_non_null(json_object_get(d, "ambiguous"));
    json_decref(d);
    strbuf_release(&js);
}

/* Without a lower timeframe stored, a candle touching both is a loss marked ambiguous. */
static void test_ambiguous_without_lower(void **state)
{
    struct fixture *f = *state;
    char id[SIGNAL_ID_MAX];
    struct candle h1[] = {K(T0, 100, 101, 99, 100), K(T0 + H1, 100, 112, 88, 95)};
    put(f, "XAG/USD", TF_H1, h1, 2);
    /* M15 of another symbol does not count. */
    struct candle other[] = {K(T0 + H1, 100, 112, 99, 108)};
    put(f, "XAU/USD", TF_M15, other, 1);
    add_signal(f, "XAG/USD", TF_H1, SIGNAL_LONG, 90, 110, T0 * 1000, 0, id);

    struct outcomes_stats st = detect(f, (T0 + 3 * H1) * 1000);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.ambiguous, 1);
    struct outcome o;
    CHECK_OK(store_outcome_get(f->st, id, &o, &f->err), &f->err);
    assert_int_equal(o.result, SIGNAL_LOST);
    assert_true(o.ambiguous);
    assert_int_equal(o.tf, TF_H1);
    assert_int_equal(o.price, P(90));
    assert_int_equal(f->cap.n, 1);
    assert_string_equal(f->cap.titles[0], "Signal lost: XAG/USD H1 long (ambiguous)");
}

/* A notice that cannot be queued takes its outcome with it; the next pass tries again. */
static void test_notice_failure_rolls_back(void **state)
{
    struct fixture *f = *state;
    char id[SIGNAL_ID_MAX];
    struct candle h1[] = {K(T0, 100, 111, 99, 110)};
    struct strbuf failures = STRBUF_INIT;
    struct outcomes_stats st;
    put(f, "XAU/USD", TF_H1, h1, 1);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 90, 110, T0 * 1000, 0, id);

    f->cap.fail = CK_EINVAL;
    CHECK_OK(outcomes_detect(f->st, &f->job, (T0 + 2 * H1) * 1000, &st, &failures, &f->err),
             &f->err);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.won, 0);
    assert_non_null(strstr(failures.buf, id));
    assert_non_null(strstr(failures.buf, "alert outbox: cannot queue"));
    assert_int_equal(status_of(f, id), SIGNAL_ACTIVE);
    struct outcome o;
    assert_int_equal(store_outcome_get(f->st, id, &o, &f->err), CK_ENOTFOUND);
    assert_false(store_in_transaction(f->st));

    /* A database failure stops the pass instead. */
    f->cap.fail = CK_EIO;
    strbuf_setlen(&f->err, 0);
    assert_int_equal(outcomes_detect(f->st, &f->job, (T0 + 2 * H1) * 1000, &st, &failures, &f->err),
                     CK_EIO);
    assert_non_null(strstr(f->err.buf, id));

    f->cap.fail = 0;
    st = detect(f, (T0 + 2 * H1) * 1000);
    assert_int_equal(st.won, 1);
    assert_int_equal(status_of(f, id), SIGNAL_WON);
    assert_int_equal(f->cap.n, 1);
    strbuf_release(&failures);
}

/* [signals] notify_outcomes = false: outcomes are recorded, nobody is told. */
static void test_notify_off(void **state)
{
    struct fixture *f = *state;
    char id[SIGNAL_ID_MAX];
    struct candle h1[] = {K(T0, 100, 100, 80, 85)};
    put(f, "XAU/USD", TF_H1, h1, 1);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 90, 110, T0 * 1000, 0, id);
    f->settings.signals.notify_outcomes = false;
    struct outcomes_stats st = detect(f, (T0 + 2 * H1) * 1000);
    assert_int_equal(st.lost, 1);
    assert_int_equal(status_of(f, id), SIGNAL_LOST);
    assert_int_equal(f->cap.n, 0);
}

static int no_send(struct notify_channel *ch, const struct notify_msg *m, struct notify_result *out,
                   struct strbuf *err)
{
    (void)ch;
    (void)m;
    (void)out;
    strbuf_addstr(err, "not sent in this test");
    return CK_EUPSTREAM;
}

static void no_free(struct notify_channel *ch)
{
    (void)ch;
}

/* Through the alert manager: the notice lands in the outbox of each channel. */
static void test_notice_queued_in_outbox(void **state)
{
    struct fixture *f = *state;
    static const struct notify_ops ops = {.name = "capture", .send = no_send, .free = no_free};
    struct notify_channel ch = {.ops = &ops}, *chans[] = {&ch};
    struct alert_manager *am =
        alert_manager_new(&f->settings.alerts, &f->settings.retry, chans, 1, NULL, NULL, "test");
    char id[SIGNAL_ID_MAX];
    struct candle h1[] = {K(T0, 100, 111, 99, 110)};
    put(f, "XAU/USD", TF_H1, h1, 1);
    add_signal(f, "XAU/USD", TF_H1, SIGNAL_LONG, 90, 110, T0 * 1000, 0, id);

    f->job.notify = outcomes_notify_alert;
    f->job.notify_arg = am;
    struct outcomes_stats st = detect(f, (T0 + 2 * H1) * 1000);
    assert_int_equal(st.won, 1);

    struct alert_outbox_query q = {.channel = "capture"};
    struct alert_outbox_row *rows;
    size_t n, mine = 0;
    CHECK_OK(store_alert_outbox_list(f->st, &q, &rows, &n, &f->err), &f->err);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(rows[i].details, id))
            continue;
        mine++;
        assert_string_equal(rows[i].kind, "outcome");
        assert_string_equal(rows[i].severity, "info");
        assert_string_equal(rows[i].title, "Signal won: XAU/USD H1 long");
        assert_string_equal(rows[i].alert_key, "");
    }
    assert_int_equal(mine, 1);
    alert_outbox_rows_free(rows, n);
    alert_manager_free(am);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outcomes_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_without_lower, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_queued_in_outbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
