/* SPDX-License-Identifier: MIT */
/*
 * The alert manager against a real store (SQLite here; PostgreSQL as
 * pg.test_alert) on an injected clock, with recording channels that fill
 * `struct notify_ops` as the real ones do and fail on demand: one message
 * per streak, one resolved message, the cooldown holding back flapping and
 * early resolved messages, reminders, inhibition, retries with backoff and
 * retry_after, giving up (and telling the other channels), a channel that
 * takes only some messages, a restart in the middle, two runners on one
 * outbox, metrics, listing, and the sender thread with a database that is
 * not there yet. The store layer below (store/alerts.h) is checked on its
 * own first: rows, leases, conflicts.
 *
 * On PostgreSQL each test works in a schema of its own (search_path in the
 * store's URL), so every test starts from an empty outbox.
 */
#include "testutil.h"

#include "alert/alert.h"
#include "ck/settings.h"
#include "resilience/retry.h"
#include "store/alerts.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define T0     1704153600000LL /* 2024-01-02T00:00:00Z in ms */
#define SEC    1000LL
#define MIN    (60 * SEC)
#define HOUR   (60 * MIN)
#define COOL   (15 * MIN)
#define REPEAT (4 * HOUR)

/* --- a store of its own per test --------------------------------------- */

static const char *base_url; /* CK_TEST_STORE_URL (PostgreSQL), or NULL for SQLite */
static PGconn *side;
static char *schemas[64];
static size_t nschemas;

/* A store URL nobody else uses: a new SQLite file, or a new PostgreSQL schema. */
static char *fresh_url(void)
{
    static unsigned counter;
    struct strbuf sql = STRBUF_INIT, url = STRBUF_INIT;
    char schema[64];
    PGresult *res;

    if (!base_url)
        return test_store_url();
    snprintf(schema, sizeof(schema), "cka_%ld_%u", (long)getpid(), counter++);
    strbuf_addf(&sql, "CREATE SCHEMA %s", schema);
    res = PQexec(side, sql.buf);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("cannot create schema %s: %s", schema, PQerrorMessage(side));
    PQclear(res);
    strbuf_release(&sql);
    if (nschemas < ARRAY_SIZE(schemas))
        schemas[nschemas++] = xstrdup(schema);
    strbuf_addf(&url, "%s%soptions=-csearch_path%%3D%s", base_url,
                strchr(base_url, '?') ? "&" : "?", schema);
    return strbuf_detach(&url, NULL);
}

static struct store *open_store(const char *url)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    CHECK_OK(store_open(&st, url, &err), &err);
    strbuf_release(&err);
    return st;
}

/* --- the injected clock -------------------------------------------------- */

static _Atomic int64_t fake_ms;

static int64_t fake_now(void *arg)
{
    (void)arg;
    return atomic_load(&fake_ms);
}

static bool fake_sleep(void *arg, int64_t ms)
{
    (void)arg;
    atomic_fetch_add(&fake_ms, ms);
    return true;
}

/* No jitter: every delay is exactly the policy's. */
static uint64_t fake_random(void *arg)
{
    (void)arg;
    return 0;
}

static const struct retry_clock fake_clock = {
    .now_ms = fake_now, .sleep_ms = fake_sleep, .random = fake_random};

/* --- recording channels ---------------------------------------------------- */

struct rec_msg {
    char *key, *state, *title, *details;
    enum notify_severity severity;
    int64_t time;
    int parts_done;
};

/*
 * One recorder may stand behind several channels (the two "instances" of
 * the concurrency test): `lock` guards everything below it.
 */
struct recorder {
    pthread_mutex_t lock;
    struct rec_msg *v;
    size_t n, alloc;
    int calls;
    /* Failure mode: the next `fail` sends fail as described. */
    int fail;
    bool retryable;
    long status;
    int64_t retry_after_ms;
    int parts_total; /* >1: a message in parts; a failing send delivers one part first */
};

struct rec_channel {
    struct notify_channel base; /* first */
    struct notify_ops ops;
    struct recorder *rec;
};

static int rec_send(struct notify_channel *ch, const struct notify_msg *m,
                    struct notify_result *out, struct strbuf *err)
{
    struct rec_channel *rc = (struct rec_channel *)ch;
    struct recorder *r = rc->rec;
    int ret = 0;

    pthread_mutex_lock(&r->lock);
    r->calls++;
    out->parts_total = r->parts_total > 1 ? r->parts_total : 1;
    if (r->fail > 0) {
        r->fail--;
        out->status = r->status;
        out->retryable = r->retryable;
        out->retry_after_ms = r->retry_after_ms;
        out->parts_done = m->parts_done;
        if (r->parts_total > 1 && m->parts_done < r->parts_total - 1)
            out->parts_done = m->parts_done + 1;
        strbuf_addf(err, "%s: HTTP %ld", rc->ops.name, r->status);
        ret = r->status == 429 ? CK_ELIMIT : CK_EUPSTREAM;
    } else {
        struct rec_msg *rm;
        ALLOC_GROW(r->v, r->n + 1, r->alloc);
        rm = &r->v[r->n++];
        rm->key = xstrdup(m->key);
        rm->state = xstrdup(m->state);
        rm->title = xstrdup(m->title);
        rm->details = xstrdup(m->details);
        rm->severity = m->severity;
        rm->time = m->time;
        rm->parts_done = m->parts_done;
        out->status = 200;
        out->parts_done = out->parts_total;
    }
    pthread_mutex_unlock(&r->lock);
    return ret;
}

static void rec_free(struct notify_channel *ch)
{
    free(ch);
}

static struct notify_channel *rec_channel_new(const char *name, struct recorder *rec)
{
    struct rec_channel *c = xcalloc(1, sizeof(*c));
    c->ops = (struct notify_ops){.name = name, .send = rec_send, .free = rec_free};
    c->base.ops = &c->ops;
    c->rec = rec;
    return &c->base;
}

static void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->retry_after_ms = -1;
}

static void recorder_release(struct recorder *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].state);
        free(r->v[i].title);
        free(r->v[i].details);
    }
    free(r->v);
    pthread_mutex_destroy(&r->lock);
}

/* Messages recorded with `state` (and `key` when not NULL). */
static size_t count_msgs(struct recorder *r, const char *state, const char *key)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].state, state) && (!key || !strcmp(r->v[i].key, key)))
            n++;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* --- a world: store, channels, manager -------------------------------------- */

struct world {
    char *url;
    struct store *st;
    struct settings s;
    struct recorder rec;
    struct notify_channel *ch[2];
    size_t nch;
    struct metrics *metrics;
    struct alert_manager *am;
    struct strbuf err;
};

static void world_settings(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->alerts.failure_threshold = 3;
    s->alerts.cooldown = COOL / SEC;
    s->alerts.repeat_interval = REPEAT / SEC;
    s->retry.max_retries = 3;
    s->retry.base_delay = 5;
    s->retry.max_delay = 120;
}

/* A fresh store with `nch` recording channels ("rec", "rec2") on one recorder. */
static void world_init(struct world *w, size_t nch)
{
    memset(w, 0, sizeof(*w));
    strbuf_init(&w->err, 0);
    atomic_store(&fake_ms, T0);
    w->url = fresh_url();
    w->st = open_store(w->url);
    world_settings(&w->s);
    recorder_init(&w->rec);
    w->nch = nch;
    for (size_t i = 0; i < nch; i++)
        w->ch[i] = rec_channel_new(i ? "rec2" : "rec", &w->rec);
    w->metrics = metrics_new();
    w->am = alert_manager_new(&w->s.alerts, &w->s.retry, w->ch, w->nch, w->metrics, &fake_clock,
                              "test-a");
}

static void world_release(struct world *w)
{
    alert_manager_free(w->am);
    for (size_t i = 0; i < w->nch; i++)
        w->ch[i]->ops->free(w->ch[i]);
    metrics_free(w->metrics);
    store_close(w->st);
    recorder_release(&w->rec);
    strbuf_release(&w->err);
    free(w->url);
}

static void fire(struct world *w, const char *key, const char *inhibited_by, int64_t at)
{
    struct alert_event ev = {
        .key = key,
        .severity = NOTIFY_CRITICAL,
        .title = "Candle refresh failing",
        .details = "M15 refresh has failed 3 consecutive times: HTTP 500",
        .inhibited_by = inhibited_by,
        .now_ms = at,
    };
    atomic_store(&fake_ms, at);
    CHECK_OK(alert_fire(w->am, w->st, &ev, &w->err), &w->err);
}

static void clear(struct world *w, const char *key, int64_t at)
{
    atomic_store(&fake_ms, at);
    CHECK_OK(alert_clear(w->am, w->st, key, "refresh works again", at, &w->err), &w->err);
}

/* Run the outbox at `at`; returns how many went out. */
static size_t run(struct world *w, int64_t at)
{
    size_t sent = 0;
    atomic_store(&fake_ms, at);
    CHECK_OK(alert_outbox_run(w->am, w->st, at, 0, &sent, NULL, &w->err), &w->err);
    return sent;
}

static struct alert_info get_info(struct world *w, const char *key)
{
    struct alert_info *v, out = {0};
    size_t n;
    bool found = false;
    CHECK_OK(alert_list(w->st, NULL, 0, &v, &n, &w->err), &w->err);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].key, key)) {
            out = v[i];
            v[i].key = v[i].title = v[i].details = v[i].inhibited_by = NULL;
            found = true;
        }
    }
    alert_infos_free(v, n);
    if (!found)
        fail_msg("no alert '%s'", key);
    return out;
}

static void info_release(struct alert_info *a)
{
    free(a->key);
    free(a->title);
    free(a->details);
    free(a->inhibited_by);
}

static struct alert_outbox_row *outbox(struct world *w, size_t *n)
{
    struct alert_outbox_query q = {0};
    struct alert_outbox_row *v;
    CHECK_OK(store_alert_outbox_list(w->st, &q, &v, n, &w->err), &w->err);
    return v;
}

/* --- the store layer ------------------------------------------------------ */

static void test_store_alert_rows(void **state)
{
    struct world w;
    struct alert_row r = {
        .key = "job:refresh_candles_M15",
        .severity = "warning",
        .firing = true,
        .title = "t",
        .details = "d",
        .inhibited_by = "",
        .first_seen_ms = T0,
        .last_seen_ms = T0 + 1,
        .notified_state = "",
        .updated_ms = T0 + 1,
    };
    struct alert_row got, *v;
    struct alert_query q = {0};
    bool inserted;
    size_t n;
    (void)state;

    world_init(&w, 0);
    CHECK_OK(store_alert_insert(w.st, &r, &inserted, &w.err), &w.err);
    assert_true(inserted);
    CHECK_OK(store_alert_insert(w.st, &r, &inserted, &w.err), &w.err);
    assert_false(inserted);

    assert_int_equal(store_alert_get(w.st, "nope", false, &got, &w.err), CK_ENOTFOUND);
    strbuf_reset(&w.err);
    CHECK_OK(store_alert_get(w.st, r.key, false, &got, &w.err), &w.err);
    assert_string_equal(got.severity, "warning");
    assert_true(got.firing);
    assert_int_equal(got.first_seen_ms, T0);
    assert_int_equal(got.last_seen_ms, T0 + 1);
    assert_int_equal(got.resolved_ms, 0);
    assert_int_equal(got.last_notified_ms, 0);
    alert_row_release(&got);

    r.firing = false;
    r.resolved_ms = T0 + 2;
    r.last_notified_ms = T0 + 3;
    r.notified_state = "firing";
    r.times_sent = 2;
    r.updated_ms = T0 + 3;
    CHECK_OK(store_begin(w.st, &w.err), &w.err);
    CHECK_OK(store_alert_get(w.st, r.key, true, &got, &w.err), &w.err);
    alert_row_release(&got);
    CHECK_OK(store_alert_update(w.st, &r, &w.err), &w.err);
    CHECK_OK(store_commit(w.st, &w.err), &w.err);
    CHECK_OK(store_alert_get(w.st, r.key, false, &got, &w.err), &w.err);
    assert_false(got.firing);
    assert_int_equal(got.resolved_ms, T0 + 2);
    assert_int_equal(got.last_notified_ms, T0 + 3);
    assert_string_equal(got.notified_state, "firing");
    assert_int_equal(got.times_sent, 2);
    alert_row_release(&got);

    /* Resolved, but told it fires: owing. */
    q.owing = true;
    CHECK_OK(store_alert_list(w.st, &q, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 1);
    alert_rows_free(v, n);
    q.state = "firing";
    CHECK_OK(store_alert_list(w.st, &q, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 0);
    alert_rows_free(v, n);

    r.key = "nope";
    assert_int_equal(store_alert_update(w.st, &r, &w.err), CK_ENOTFOUND);
    world_release(&w);
}

static void test_store_outbox_leases(void **state)
{
    struct world w;
    struct alert_outbox_row o = {
        .channel = "rec",
        .alert_key = "k",
        .severity = "critical",
        .kind = "firing",
        .title = "a <b>",
        .details = "line1\nline2",
        .event_ms = T0,
        .created_ms = T0,
        .due_ms = T0,
    };
    struct alert_outbox_row *v, *v2;
    size_t n, n2;
    int64_t due, counts[3];
    (void)state;

    world_init(&w, 0);
    for (int i = 0; i < 3; i++) {
        o.due_ms = T0 + i * SEC;
        CHECK_OK(store_alert_outbox_add(w.st, &o, &w.err), &w.err);
        assert_true(o.id > 0);
    }
    CHECK_OK(store_alert_outbox_next_due(w.st, "rec", &due, &w.err), &w.err);
    assert_int_equal(due, T0);
    assert_int_equal(store_alert_outbox_next_due(w.st, "other", &due, &w.err), CK_ENOTFOUND);
    strbuf_reset(&w.err);

    /* Only what is due, oldest first, to one holder. */
    CHECK_OK(store_alert_outbox_claim(w.st, "rec", T0 + SEC, "a", T0 + MIN, 0, &v, &n, &w.err),
             &w.err);
    assert_int_equal(n, 2);
    assert_true(v[0].due_ms < v[1].due_ms);
    assert_string_equal(v[0].title, "a <b>");
    assert_string_equal(v[0].details, "line1\nline2");
    assert_string_equal(v[0].lease_holder, "a");
    assert_int_equal(v[0].lease_until_ms, T0 + MIN);
    assert_int_equal(v[0].status, OUTBOX_PENDING);
    /* Leased rows are nobody else's until the lease lapses. */
    CHECK_OK(
        store_alert_outbox_claim(w.st, "rec", T0 + 2 * SEC, "b", T0 + MIN, 0, &v2, &n2, &w.err),
        &w.err);
    assert_int_equal(n2, 1);
    assert_int_equal(v2[0].due_ms, T0 + 2 * SEC);
    CHECK_OK(store_alert_outbox_next_due(w.st, "rec", &due, &w.err), &w.err);
    assert_int_equal(due, T0 + MIN);

    /* a: one sent, one to retry. b: not its row. */
    assert_int_equal(store_alert_outbox_sent(w.st, v[0].id, "b", 1, T0 + 3 * SEC, &w.err),
                     CK_ECONFLICT);
    strbuf_reset(&w.err);
    CHECK_OK(store_alert_outbox_sent(w.st, v[0].id, "a", 1, T0 + 3 * SEC, &w.err), &w.err);
    assert_int_equal(store_alert_outbox_sent(w.st, v[0].id, "a", 1, T0 + 3 * SEC, &w.err),
                     CK_ECONFLICT);
    strbuf_reset(&w.err);
    CHECK_OK(store_alert_outbox_retry(w.st, v[1].id, "a", 1, T0 + 10 * SEC, "HTTP 502", &w.err),
             &w.err);
    CHECK_OK(store_alert_outbox_failed(w.st, v2[0].id, "b", 0, "HTTP 400", &w.err), &w.err);

    CHECK_OK(store_alert_outbox_counts(w.st, counts, &w.err), &w.err);
    assert_int_equal(counts[OUTBOX_PENDING], 1);
    assert_int_equal(counts[OUTBOX_SENT], 1);
    assert_int_equal(counts[OUTBOX_FAILED], 1);
    alert_outbox_rows_free(v, n);
    alert_outbox_rows_free(v2, n2);

    /* The retried row: due later, one attempt, its error and parts kept. */
    CHECK_OK(store_alert_outbox_next_due(w.st, "rec", &due, &w.err), &w.err);
    assert_int_equal(due, T0 + 10 * SEC);
    v = outbox(&w, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].status, OUTBOX_SENT);
    assert_int_equal(v[0].sent_ms, T0 + 3 * SEC);
    assert_int_equal(v[0].attempts, 1);
    assert_string_equal(v[0].lease_holder, "");
    assert_int_equal(v[1].status, OUTBOX_PENDING);
    assert_int_equal(v[1].attempts, 1);
    assert_int_equal(v[1].parts_done, 1);
    assert_string_equal(v[1].last_error, "HTTP 502");
    assert_int_equal(v[2].status, OUTBOX_FAILED);
    assert_string_equal(v[2].last_error, "HTTP 400");
    alert_outbox_rows_free(v, n);

    /* A holder that died: its lease lapses and another takes the row over. */
    CHECK_OK(store_alert_outbox_claim(w.st, "rec", T0 + 10 * SEC, "dead", T0 + 20 * SEC, 0, &v, &n,
                                      &w.err),
             &w.err);
    assert_int_equal(n, 1);
    alert_outbox_rows_free(v, n);
    CHECK_OK(store_alert_outbox_claim(w.st, "rec", T0 + 20 * SEC, "c", T0 + MIN, 0, &v, &n, &w.err),
             &w.err);
    assert_int_equal(n, 0);
    alert_outbox_rows_free(v, n);
    CHECK_OK(store_alert_outbox_claim(w.st, "rec", T0 + 21 * SEC, "c", T0 + MIN, 0, &v, &n, &w.err),
             &w.err);
    assert_int_equal(n, 1);
    assert_int_equal(store_alert_outbox_retry(w.st, v[0].id, "dead", 0, T0, "late", &w.err),
                     CK_ECONFLICT);
    strbuf_reset(&w.err);
    CHECK_OK(store_alert_outbox_sent(w.st, v[0].id, "c", 1, T0 + 22 * SEC, &w.err), &w.err);
    alert_outbox_rows_free(v, n);
    assert_int_equal(store_alert_outbox_next_due(w.st, "rec", &due, &w.err), CK_ENOTFOUND);
    world_release(&w);
}

/* --- the manager ------------------------------------------------------------ */

static void test_streak_one_firing_one_resolved(void **state)
{
    struct world w;
    struct alert_info a;
    (void)state;

    world_init(&w, 2);
    for (int i = 0; i < 5; i++) {
        fire(&w, "job:refresh_candles_M15", NULL, T0 + i * MIN);
        run(&w, T0 + i * MIN);
    }
    assert_int_equal(count_msgs(&w.rec, "firing", NULL), 2); /* one per channel */
    assert_int_equal(w.rec.n, 2);
    assert_string_equal(w.rec.v[0].key, "job:refresh_candles_M15");
    assert_int_equal(w.rec.v[0].severity, NOTIFY_CRITICAL);
    assert_int_equal(w.rec.v[0].time, T0 / 1000);

    a = get_info(&w, "job:refresh_candles_M15");
    assert_int_equal(a.state, ALERT_FIRING);
    assert_int_equal(a.first_seen_ms, T0);
    assert_int_equal(a.last_seen_ms, T0 + 4 * MIN);
    assert_int_equal(a.times_sent, 1);
    assert_int_equal(a.last_notified_ms, T0);
    info_release(&a);

    clear(&w, "job:refresh_candles_M15", T0 + 20 * MIN);
    run(&w, T0 + 20 * MIN);
    clear(&w, "job:refresh_candles_M15", T0 + 21 * MIN); /* already resolved: nothing */
    run(&w, T0 + 22 * MIN);
    run(&w, T0 + 10 * HOUR);
    assert_int_equal(count_msgs(&w.rec, "resolved", NULL), 2);
    assert_int_equal(count_msgs(&w.rec, "firing", NULL), 2);
    assert_int_equal(count_msgs(&w.rec, "reminder", NULL), 0);
    assert_int_equal(w.rec.n, 4);
    assert_string_equal(w.rec.v[3].details, "refresh works again");
    assert_int_equal(w.rec.v[3].time, (T0 + 20 * MIN) / 1000);

    a = get_info(&w, "job:refresh_candles_M15");
    assert_int_equal(a.state, ALERT_RESOLVED);
    assert_int_equal(a.resolved_ms, T0 + 20 * MIN);
    assert_int_equal(a.times_sent, 2);
    info_release(&a);

    /* A key never fired: clearing it is a no-op. */
    clear(&w, "job:never", T0 + 11 * HOUR);
    assert_int_equal(run(&w, T0 + 11 * HOUR), 0);
    world_release(&w);
}

static void test_cooldown_flapping(void **state)
{
    struct world w;
    struct alert_info a;
    (void)state;

    world_init(&w, 1);
    fire(&w, "k", NULL, T0);
    run(&w, T0);
    clear(&w, "k", T0 + 1 * MIN);
    run(&w, T0 + 1 * MIN);
    fire(&w, "k", NULL, T0 + 2 * MIN); /* again within the cooldown */
    run(&w, T0 + 2 * MIN);
    clear(&w, "k", T0 + 3 * MIN);
    fire(&w, "k", NULL, T0 + 4 * MIN);
    run(&w, T0 + 20 * MIN);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    assert_int_equal(count_msgs(&w.rec, "resolved", "k"), 0);

    /* One episode all along. */
    a = get_info(&w, "k");
    assert_int_equal(a.state, ALERT_FIRING);
    assert_int_equal(a.first_seen_ms, T0);
    info_release(&a);

    clear(&w, "k", T0 + 30 * MIN);
    run(&w, T0 + 30 * MIN);
    run(&w, T0 + 50 * MIN);
    assert_int_equal(count_msgs(&w.rec, "resolved", "k"), 1);

    /*
     * A new firing within the cooldown after the resolved message: held,
     * and sent when the cooldown ends if it still fires.
     */
    fire(&w, "k", NULL, T0 + 35 * MIN);
    run(&w, T0 + 35 * MIN);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    run(&w, T0 + 44 * MIN);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    run(&w, T0 + 45 * MIN);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 2);
    a = get_info(&w, "k");
    assert_int_equal(a.first_seen_ms, T0 + 35 * MIN);
    info_release(&a);
    world_release(&w);
}

static void test_cooldown_holds_resolved(void **state)
{
    struct world w;
    (void)state;

    world_init(&w, 1);
    fire(&w, "k", NULL, T0);
    run(&w, T0);
    clear(&w, "k", T0 + 1 * MIN);
    assert_int_equal(run(&w, T0 + 1 * MIN), 0);
    assert_int_equal(run(&w, T0 + COOL - 1), 0);
    assert_int_equal(count_msgs(&w.rec, "resolved", "k"), 0);
    assert_int_equal(run(&w, T0 + COOL), 1);
    assert_int_equal(count_msgs(&w.rec, "resolved", "k"), 1);
    assert_int_equal(run(&w, T0 + COOL + 1), 0);
    assert_int_equal(run(&w, T0 + 2 * COOL), 0);
    assert_int_equal(count_msgs(&w.rec, "resolved", "k"), 1);
    assert_int_equal(w.rec.n, 2);
    /* The held message says when the condition was seen gone. */
    assert_int_equal(w.rec.v[1].time, (T0 + MIN) / 1000);
    world_release(&w);
}

static void test_reminders(void **state)
{
    struct world w;
    struct alert_manager *other;
    struct store *st2;
    (void)state;

    world_init(&w, 1);
    fire(&w, "k", NULL, T0);
    run(&w, T0);
    fire(&w, "k", NULL, T0 + HOUR);
    run(&w, T0 + REPEAT - 1);
    assert_int_equal(count_msgs(&w.rec, "reminder", "k"), 0);

    /* Two daemons sweep at the reminder's time: one reminder. */
    st2 = open_store(w.url);
    other = alert_manager_new(&w.s.alerts, &w.s.retry, w.ch, w.nch, NULL, &fake_clock, "test-b");
    atomic_store(&fake_ms, T0 + REPEAT);
    CHECK_OK(alert_outbox_run(other, st2, T0 + REPEAT, 0, NULL, NULL, &w.err), &w.err);
    run(&w, T0 + REPEAT);
    assert_int_equal(count_msgs(&w.rec, "reminder", "k"), 1);
    alert_manager_free(other);
    store_close(st2);

    /* Fires in between do not bring the next one forward. */
    fire(&w, "k", NULL, T0 + REPEAT + HOUR);
    run(&w, T0 + 2 * REPEAT - 1);
    assert_int_equal(count_msgs(&w.rec, "reminder", "k"), 1);
    fire(&w, "k", NULL, T0 + 2 * REPEAT); /* due: the event brings it */
    assert_int_equal(run(&w, T0 + 2 * REPEAT), 1);
    assert_int_equal(count_msgs(&w.rec, "reminder", "k"), 2);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);

    /* repeat_interval 0: never. */
    alert_manager_free(w.am);
    w.s.alerts.repeat_interval = 0;
    w.am =
        alert_manager_new(&w.s.alerts, &w.s.retry, w.ch, w.nch, w.metrics, &fake_clock, "test-a");
    run(&w, T0 + 10 * REPEAT);
    assert_int_equal(count_msgs(&w.rec, "reminder", "k"), 2);
    world_release(&w);
}

static void test_inhibition(void **state)
{
    struct world w;
    struct alert_info a;
    (void)state;

    world_init(&w, 1);
    fire(&w, "breaker:twelvedata", NULL, T0);
    fire(&w, "stale:twelvedata:XAU/USD:M15", "breaker:twelvedata", T0 + MIN);
    fire(&w, "stale:twelvedata:XAU/USD:H1", "breaker:twelvedata", T0 + MIN);
    run(&w, T0 + MIN);
    assert_int_equal(w.rec.n, 1);
    assert_int_equal(count_msgs(&w.rec, "firing", "breaker:twelvedata"), 1);

    a = get_info(&w, "stale:twelvedata:XAU/USD:M15");
    assert_int_equal(a.state, ALERT_FIRING);
    assert_string_equal(a.inhibited_by, "breaker:twelvedata");
    assert_int_equal(a.times_sent, 0);
    info_release(&a);

    /* Held back through reminders too. */
    fire(&w, "stale:twelvedata:XAU/USD:M15", "breaker:twelvedata", T0 + 2 * HOUR);
    run(&w, T0 + 2 * HOUR);
    assert_int_equal(w.rec.n, 1);

    /* H1 clears while held back: never told, nothing to say. */
    clear(&w, "stale:twelvedata:XAU/USD:H1", T0 + 3 * HOUR);
    /* The cause resolves while M15 still fires: M15 is queued now. */
    clear(&w, "breaker:twelvedata", T0 + 3 * HOUR + MIN);
    run(&w, T0 + 3 * HOUR + MIN);
    assert_int_equal(count_msgs(&w.rec, "resolved", "breaker:twelvedata"), 1);
    assert_int_equal(count_msgs(&w.rec, "firing", "stale:twelvedata:XAU/USD:M15"), 1);
    assert_int_equal(count_msgs(&w.rec, "firing", "stale:twelvedata:XAU/USD:H1"), 0);
    assert_int_equal(w.rec.n, 3);
    a = get_info(&w, "stale:twelvedata:XAU/USD:M15");
    assert_string_equal(a.inhibited_by, "");
    info_release(&a);

    /* An event naming a cause that does not fire is not held back. */
    fire(&w, "job:x", "breaker:other", T0 + 4 * HOUR);
    run(&w, T0 + 4 * HOUR);
    assert_int_equal(count_msgs(&w.rec, "firing", "job:x"), 1);
    world_release(&w);
}

/*
 * Held back by a cause that resolved in a transaction that did not see it
 * (another daemon's): the sweep lets it go.
 */
static void test_inhibition_released_by_sweep(void **state)
{
    struct world w;
    struct alert_info a;
    struct alert_row r;
    (void)state;

    world_init(&w, 1);
    fire(&w, "breaker:p", NULL, T0);
    fire(&w, "job:y", "breaker:p", T0);
    /* The cause resolves behind the manager's back. */
    CHECK_OK(store_begin(w.st, &w.err), &w.err);
    CHECK_OK(store_alert_get(w.st, "job:y", true, &r, &w.err), &w.err);
    free(r.inhibited_by);
    r.inhibited_by = xstrdup("breaker:gone");
    CHECK_OK(store_alert_update(w.st, &r, &w.err), &w.err);
    alert_row_release(&r);
    CHECK_OK(store_commit(w.st, &w.err), &w.err);
    run(&w, T0 + MIN);
    assert_int_equal(count_msgs(&w.rec, "firing", "job:y"), 1);

    /*
     * Told it fires, then held back by a cause that is gone: let go
     * (listed as not held back) without a second firing message.
     */
    CHECK_OK(store_begin(w.st, &w.err), &w.err);
    CHECK_OK(store_alert_get(w.st, "job:y", true, &r, &w.err), &w.err);
    free(r.inhibited_by);
    r.inhibited_by = xstrdup("breaker:gone");
    CHECK_OK(store_alert_update(w.st, &r, &w.err), &w.err);
    alert_row_release(&r);
    CHECK_OK(store_commit(w.st, &w.err), &w.err);
    run(&w, T0 + 2 * MIN);
    a = get_info(&w, "job:y");
    assert_string_equal(a.inhibited_by, "");
    info_release(&a);
    assert_int_equal(count_msgs(&w.rec, "firing", "job:y"), 1);
    world_release(&w);
}

static void test_retry_until_channel_recovers(void **state)
{
    struct world w;
    struct alert_outbox_row *v;
    size_t n;
    int64_t next;
    (void)state;

    world_init(&w, 1);
    w.rec.fail = 3;
    w.rec.retryable = true;
    w.rec.status = 502;
    fire(&w, "k", NULL, T0);
    assert_int_equal(run(&w, T0), 0);
    v = outbox(&w, &n);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].attempts, 1);
    assert_int_equal(v[0].due_ms, T0 + 5 * SEC); /* base */
    assert_string_equal(v[0].last_error, "rec: HTTP 502");
    assert_int_equal(v[0].status, OUTBOX_PENDING);
    alert_outbox_rows_free(v, n);

    /* Not before it is due. */
    atomic_store(&fake_ms, T0 + 5 * SEC - 1);
    CHECK_OK(alert_outbox_run(w.am, w.st, T0 + 5 * SEC - 1, 0, NULL, &next, &w.err), &w.err);
    assert_int_equal(next, T0 + 5 * SEC);
    assert_int_equal(w.rec.calls, 1);

    assert_int_equal(run(&w, T0 + 5 * SEC), 0);
    v = outbox(&w, &n);
    assert_int_equal(v[0].attempts, 2);
    assert_int_equal(v[0].due_ms, T0 + 5 * SEC + 10 * SEC); /* base * 2 */
    alert_outbox_rows_free(v, n);

    /* A 429 with retry_after: its wait, not the backoff's. */
    w.rec.status = 429;
    w.rec.retry_after_ms = 7 * SEC;
    assert_int_equal(run(&w, T0 + 15 * SEC), 0);
    v = outbox(&w, &n);
    assert_int_equal(v[0].attempts, 3);
    assert_int_equal(v[0].due_ms, T0 + 22 * SEC);
    assert_string_equal(v[0].last_error, "rec: HTTP 429");
    alert_outbox_rows_free(v, n);

    /* Recovered. */
    assert_int_equal(run(&w, T0 + 21 * SEC), 0);
    assert_int_equal(run(&w, T0 + 22 * SEC), 1);
    v = outbox(&w, &n);
    assert_int_equal(v[0].status, OUTBOX_SENT);
    assert_int_equal(v[0].attempts, 4);
    assert_int_equal(v[0].sent_ms, T0 + 22 * SEC);
    alert_outbox_rows_free(v, n);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    assert_int_equal(w.rec.calls, 4);
    assert_true(metrics_get(w.metrics, "retries_total", "operation=\"alert:rec\"") == 3);
    world_release(&w);
}

/* Waits the channel asked for (429 with retry_after) do not use up max_retries (3 here). */
static void test_flood_control_is_not_a_failure(void **state)
{
    struct world w;
    struct alert_outbox_row *v;
    size_t n;
    int64_t t = T0;
    (void)state;

    world_init(&w, 1);
    w.rec.fail = 10;
    w.rec.retryable = true;
    w.rec.status = 429;
    w.rec.retry_after_ms = 1 * SEC;
    fire(&w, "k", NULL, T0);
    for (int i = 0; i < 11; i++, t += SEC)
        run(&w, t);
    v = outbox(&w, &n);
    assert_int_equal(v[0].status, OUTBOX_SENT);
    assert_int_equal(v[0].attempts, 11);
    alert_outbox_rows_free(v, n);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    assert_true(metrics_get(w.metrics, "alerts_failed_total", "channel=\"rec\"") == 0);
    world_release(&w);
}

static void test_parts_resume(void **state)
{
    struct world w;
    struct alert_outbox_row *v;
    size_t n;
    (void)state;

    world_init(&w, 1);
    w.rec.fail = 1;
    w.rec.retryable = true;
    w.rec.status = 500;
    w.rec.parts_total = 3;
    CHECK_OK(
        alert_notice(w.am, w.st, NOTIFY_INFO, "digest", "Daily digest", "long text", T0, &w.err),
        &w.err);
    run(&w, T0);
    v = outbox(&w, &n);
    assert_int_equal(v[0].parts_done, 1);
    alert_outbox_rows_free(v, n);
    run(&w, T0 + 5 * SEC);
    assert_int_equal(w.rec.n, 1);
    /* The second attempt starts from the part that did not arrive. */
    assert_int_equal(w.rec.v[0].parts_done, 1);
    assert_string_equal(w.rec.v[0].state, "digest");
    assert_string_equal(w.rec.v[0].key, "");
    assert_int_equal(w.rec.v[0].severity, NOTIFY_INFO);
    v = outbox(&w, &n);
    assert_int_equal(v[0].parts_done, 3);
    alert_outbox_rows_free(v, n);
    world_release(&w);
}

static void test_give_up(void **state)
{
    struct world w;
    struct alert_outbox_row *v;
    size_t n;
    int64_t t = T0;
    (void)state;

    world_init(&w, 1);
    w.rec.fail = 100;
    w.rec.retryable = true;
    w.rec.status = 503;
    fire(&w, "k", NULL, T0);
    /* max_retries 3: four attempts, then failed. */
    for (int i = 0; i < 10; i++, t += 5 * MIN)
        run(&w, t);
    assert_int_equal(w.rec.calls, 4);
    v = outbox(&w, &n);
    assert_int_equal(v[0].status, OUTBOX_FAILED);
    assert_int_equal(v[0].attempts, 4);
    alert_outbox_rows_free(v, n);
    assert_true(metrics_get(w.metrics, "alerts_failed_total", "channel=\"rec\"") == 1);
    assert_true(
        metrics_get(w.metrics, "alerts_sent_total", "channel=\"rec\",severity=\"critical\"") == 0);

    /* Refused for good (a 400): failed at once. */
    w.rec.retryable = false;
    w.rec.status = 400;
    CHECK_OK(alert_notice(w.am, w.st, NOTIFY_WARNING, "signal", "New signal", "", t, &w.err),
             &w.err);
    run(&w, t);
    assert_int_equal(w.rec.calls, 5);
    v = outbox(&w, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[1].status, OUTBOX_FAILED);
    assert_int_equal(v[1].attempts, 1);
    alert_outbox_rows_free(v, n);
    assert_true(metrics_get(w.metrics, "alerts_failed_total", "channel=\"rec\"") == 2);
    world_release(&w);
}

/* A channel that takes only critical firing and resolved messages, as email does by default. */
static bool only_critical_episodes(const struct notify_channel *ch, const char *kind,
                                   enum notify_severity severity)
{
    (void)ch;
    return severity == NOTIFY_CRITICAL && (!strcmp(kind, "firing") || !strcmp(kind, "resolved"));
}

/*
 * A channel's accepts() keeps the outbox from queueing what it does not
 * want; a message it gives up becomes an alert on the other channels,
 * never on itself.
 */
static void test_accepts_and_lost_messages(void **state)
{
    struct world w;
    struct recorder r2;
    struct alert_outbox_row *v;
    size_t n;
    (void)state;

    world_init(&w, 2);
    recorder_init(&r2);
    w.ch[1]->ops->free(w.ch[1]);
    w.ch[1] = rec_channel_new("mail", &r2);
    ((struct rec_channel *)w.ch[1])->ops.accepts = only_critical_episodes;

    CHECK_OK(alert_notice(w.am, w.st, NOTIFY_INFO, "signal", "New signal", "", T0, &w.err), &w.err);
    v = outbox(&w, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].channel, "rec");
    alert_outbox_rows_free(v, n);
    run(&w, T0);
    assert_int_equal(count_msgs(&w.rec, "signal", NULL), 1);
    assert_int_equal(r2.calls, 0);

    /* The mail server refuses for good: the other channel hears of it. */
    r2.fail = 1;
    r2.retryable = false;
    r2.status = 550;
    fire(&w, "k", NULL, T0 + SEC);
    run(&w, T0 + SEC);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    assert_int_equal(r2.calls, 1);
    run(&w, T0 + 2 * SEC);
    assert_int_equal(count_msgs(&w.rec, "firing", "channel:mail"), 1);
    pthread_mutex_lock(&w.rec.lock);
    for (size_t i = 0; i < w.rec.n; i++) {
        if (strcmp(w.rec.v[i].key, "channel:mail"))
            continue;
        assert_string_equal(w.rec.v[i].title, "Alert message not delivered by mail");
        assert_non_null(strstr(w.rec.v[i].details, "(k) was given up after 1 attempt"));
        assert_non_null(strstr(w.rec.v[i].details, "HTTP 550"));
    }
    pthread_mutex_unlock(&w.rec.lock);
    /* Not to the channel that lost it, and nothing more. */
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.n, 0);
    assert_true(metrics_get(w.metrics, "alerts_failed_total", "channel=\"mail\"") == 1);
    world_release(&w);
    recorder_release(&r2);
}

static void test_restart(void **state)
{
    struct world w;
    (void)state;

    world_init(&w, 1);
    w.rec.fail = 1;
    w.rec.retryable = true;
    w.rec.status = 502;
    fire(&w, "k", NULL, T0);
    run(&w, T0);                    /* fails: due again at T0 + 5 s */
    fire(&w, "k2", NULL, T0 + SEC); /* queued, never run */

    /* The daemon stops; a new one starts on the same database. */
    alert_manager_free(w.am);
    store_close(w.st);
    w.st = open_store(w.url);
    w.am = alert_manager_new(&w.s.alerts, &w.s.retry, w.ch, w.nch, w.metrics, &fake_clock,
                             "test-restarted");
    assert_int_equal(run(&w, T0 + 5 * SEC), 2);
    assert_int_equal(count_msgs(&w.rec, "firing", "k"), 1);
    assert_int_equal(count_msgs(&w.rec, "firing", "k2"), 1);
    /* And it knows what operators were told. */
    fire(&w, "k", NULL, T0 + MIN);
    assert_int_equal(run(&w, T0 + MIN), 0);
    world_release(&w);
}

/* Two daemons on one outbox. */
struct runner {
    struct alert_manager *am;
    struct store *st;
    int rc;
    struct strbuf err;
    size_t sent;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    for (int i = 0; i < 400 && !r->rc; i++) {
        size_t sent = 0;
        r->rc = alert_outbox_run(r->am, r->st, T0 + HOUR, 7, &sent, NULL, &r->err);
        r->sent += sent;
        if (!sent && i > 20)
            break;
    }
    return NULL;
}

static void test_two_runners_never_send_twice(void **state)
{
    enum { NMSG = 300 };
    struct world w;
    struct runner r[2];
    pthread_t th[2];
    struct notify_channel *chb[1];
    int64_t counts[3];
    char title[32];
    (void)state;

    world_init(&w, 1);
    for (int i = 0; i < NMSG; i++) {
        snprintf(title, sizeof(title), "notice %d", i);
        CHECK_OK(alert_notice(w.am, w.st, NOTIFY_INFO, "digest", title, "", T0, &w.err), &w.err);
    }
    chb[0] = rec_channel_new("rec", &w.rec); /* the same channel, another instance */
    r[0] = (struct runner){.am = w.am, .st = open_store(w.url)};
    r[1] = (struct runner){
        .am = alert_manager_new(&w.s.alerts, &w.s.retry, chb, 1, w.metrics, &fake_clock, "test-b"),
        .st = open_store(w.url)};
    for (int i = 0; i < 2; i++) {
        strbuf_init(&r[i].err, 0);
        assert_int_equal(pthread_create(&th[i], NULL, runner_main, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        if (r[i].rc)
            fail_msg("runner %d: %s", i, r[i].err.buf);
    }
    /* Every message went out once, whichever runner sent it. */
    assert_int_equal(r[0].sent + r[1].sent, NMSG);
    assert_int_equal(w.rec.n, NMSG);
    for (int i = 0; i < NMSG; i++) {
        size_t seen = 0;
        snprintf(title, sizeof(title), "notice %d", i);
        for (size_t k = 0; k < w.rec.n; k++)
            seen += !strcmp(w.rec.v[k].title, title);
        if (seen != 1)
            fail_msg("'%s' sent %zu times", title, seen);
    }
    CHECK_OK(store_alert_outbox_counts(w.st, counts, &w.err), &w.err);
    assert_int_equal(counts[OUTBOX_SENT], NMSG);
    assert_int_equal(counts[OUTBOX_PENDING], 0);
    assert_true(metrics_get(w.metrics, "alerts_sent_total", "channel=\"rec\",severity=\"info\"") ==
                NMSG);
    for (int i = 0; i < 2; i++) {
        store_close(r[i].st);
        strbuf_release(&r[i].err);
    }
    alert_manager_free(r[1].am);
    chb[0]->ops->free(chb[0]);
    world_release(&w);
}

/* Several daemons see one new condition at once. */
struct firer {
    struct alert_manager *am;
    struct store *st;
    const char *key;
    pthread_barrier_t *start;
    int rc;
    struct strbuf err;
};

static void *firer_main(void *arg)
{
    struct firer *f = arg;
    pthread_barrier_wait(f->start);
    for (int i = 0; i < 10 && !f->rc; i++) {
        struct alert_event ev = {.key = f->key,
                                 .severity = NOTIFY_CRITICAL,
                                 .title = "t",
                                 .details = "",
                                 .now_ms = T0 + i};
        f->rc = alert_fire(f->am, f->st, &ev, &f->err);
    }
    return NULL;
}

static void test_concurrent_fires_one_message(void **state)
{
    enum { NF = 4, NKEYS = 20 };
    struct world w;
    struct firer f[NF];
    pthread_t th[NF];
    pthread_barrier_t start;
    char keys[NKEYS][16];
    (void)state;

    world_init(&w, 1);
    for (int i = 0; i < NF; i++) {
        f[i] = (struct firer){.am = w.am, .st = open_store(w.url), .start = &start};
        strbuf_init(&f[i].err, 0);
    }
    for (int k = 0; k < NKEYS; k++) {
        snprintf(keys[k], sizeof(keys[k]), "job:new%d", k);
        pthread_barrier_init(&start, NULL, NF);
        for (int i = 0; i < NF; i++) {
            f[i].key = keys[k];
            assert_int_equal(pthread_create(&th[i], NULL, firer_main, &f[i]), 0);
        }
        for (int i = 0; i < NF; i++) {
            pthread_join(th[i], NULL);
            if (f[i].rc)
                fail_msg("firer %d: %s", i, f[i].err.buf);
        }
        pthread_barrier_destroy(&start);
    }
    for (int i = 0; i < NF; i++) {
        store_close(f[i].st);
        strbuf_release(&f[i].err);
    }
    run(&w, T0 + MIN);
    for (int k = 0; k < NKEYS; k++)
        assert_int_equal(count_msgs(&w.rec, "firing", keys[k]), 1);
    assert_int_equal(w.rec.n, NKEYS);
    world_release(&w);
}

static void test_metrics_counted(void **state)
{
    struct world w;
    struct strbuf out = STRBUF_INIT;
    (void)state;

    world_init(&w, 2);
    fire(&w, "k", NULL, T0);
    CHECK_OK(alert_notice(w.am, w.st, NOTIFY_INFO, "digest", "Digest", "", T0, &w.err), &w.err);
    assert_int_equal(run(&w, T0), 4);
    assert_true(
        metrics_get(w.metrics, "alerts_sent_total", "channel=\"rec\",severity=\"critical\"") == 1);
    assert_true(
        metrics_get(w.metrics, "alerts_sent_total", "channel=\"rec2\",severity=\"critical\"") == 1);
    assert_true(metrics_get(w.metrics, "alerts_sent_total", "channel=\"rec\",severity=\"info\"") ==
                1);
    metrics_render(w.metrics, &out);
    assert_non_null(strstr(out.buf, "# TYPE alerts_sent_total counter"));
    assert_non_null(strstr(out.buf, "# TYPE alerts_failed_total counter"));
    strbuf_release(&out);
    world_release(&w);
}

static void test_list_filters(void **state)
{
    struct world w;
    struct alert_info *v;
    enum alert_state firing = ALERT_FIRING, resolved = ALERT_RESOLVED;
    size_t n;
    (void)state;

    world_init(&w, 0);
    fire(&w, "a", NULL, T0);
    fire(&w, "b", NULL, T0 + MIN);
    fire(&w, "c", NULL, T0 + 2 * MIN);
    clear(&w, "b", T0 + 3 * MIN);

    CHECK_OK(alert_list(w.st, NULL, 0, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 3);
    /* Newest activity first. */
    assert_string_equal(v[0].key, "b");
    assert_string_equal(v[1].key, "c");
    assert_string_equal(v[2].key, "a");
    alert_infos_free(v, n);

    CHECK_OK(alert_list(w.st, &firing, 0, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].key, "c");
    assert_int_equal(v[0].state, ALERT_FIRING);
    assert_int_equal(v[0].severity, NOTIFY_CRITICAL);
    assert_string_equal(v[0].title, "Candle refresh failing");
    alert_infos_free(v, n);

    CHECK_OK(alert_list(w.st, &resolved, 0, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].key, "b");
    assert_int_equal(v[0].resolved_ms, T0 + 3 * MIN);
    assert_string_equal(v[0].details, "refresh works again");
    /* No channels: nothing went out, but the decisions are recorded (resolved: held). */
    assert_int_equal(v[0].times_sent, 1);
    assert_int_equal(v[0].last_notified_ms, T0 + MIN);
    alert_infos_free(v, n);

    CHECK_OK(alert_list(w.st, &firing, 1, &v, &n, &w.err), &w.err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].key, "c");
    alert_infos_free(v, n);

    assert_int_equal(alert_state_parse("firing", &firing), 0);
    assert_int_equal(firing, ALERT_FIRING);
    assert_int_equal(alert_state_parse("open", &firing), CK_EINVAL);
    assert_string_equal(alert_state_name(ALERT_RESOLVED), "resolved");
    world_release(&w);
}

static void test_text_reaches_channel_unchanged(void **state)
{
    static const char title[] = "<b>&\"x\"</b>";
    static const char details[] = "a < b && c > d\n'quoted' \\ back";
    struct world w;
    struct alert_event ev = {.key = "k:<b>",
                             .severity = NOTIFY_WARNING,
                             .title = title,
                             .details = details,
                             .now_ms = T0};
    (void)state;

    world_init(&w, 1);
    CHECK_OK(alert_fire(w.am, w.st, &ev, &w.err), &w.err);
    run(&w, T0);
    assert_int_equal(w.rec.n, 1);
    assert_string_equal(w.rec.v[0].title, title);
    assert_string_equal(w.rec.v[0].details, details);
    assert_string_equal(w.rec.v[0].key, "k:<b>");
    assert_int_equal(w.rec.v[0].severity, NOTIFY_WARNING);
    world_release(&w);
}

static void test_bad_events(void **state)
{
    struct world w;
    struct alert_event ev = {.key = "", .title = "t", .now_ms = T0};
    (void)state;

    world_init(&w, 1);
    assert_int_equal(alert_fire(w.am, w.st, &ev, &w.err), CK_EINVAL);
    ev.key = "k";
    ev.title = NULL;
    assert_int_equal(alert_fire(w.am, w.st, &ev, &w.err), CK_EINVAL);
    ev.title = "t";
    ev.severity = (enum notify_severity)7;
    assert_int_equal(alert_fire(w.am, w.st, &ev, &w.err), CK_EINVAL);
    assert_int_equal(alert_notice(w.am, w.st, NOTIFY_INFO, "", "t", "", T0, &w.err), CK_EINVAL);
    assert_int_equal(alert_clear(w.am, w.st, NULL, NULL, T0, &w.err), CK_EINVAL);
    assert_false(store_in_transaction(w.st));
    assert_int_equal(run(&w, T0), 0);

    /* Inside the caller's transaction: rolled back with it. */
    ev.severity = NOTIFY_INFO;
    CHECK_OK(store_begin(w.st, &w.err), &w.err);
    CHECK_OK(alert_fire(w.am, w.st, &ev, &w.err), &w.err);
    assert_true(store_in_transaction(w.st));
    CHECK_OK(store_rollback(w.st, &w.err), &w.err);
    assert_int_equal(run(&w, T0), 0);
    assert_int_equal(w.rec.calls, 0);
    world_release(&w);
}

/* Wait (a liveness bound, not a timing assertion) until `rec` has `n` messages. */
static bool wait_for_messages(struct recorder *rec, size_t n)
{
    for (int i = 0; i < 3000; i++) {
        size_t have;
        pthread_mutex_lock(&rec->lock);
        have = rec->n;
        pthread_mutex_unlock(&rec->lock);
        if (have >= n)
            return true;
        usleep(10 * 1000);
    }
    return false;
}

static void test_sender_thread(void **state)
{
    struct world w;
    struct strbuf sb = STRBUF_INIT;
    struct alert_manager *am;
    struct store *st;
    char *dir, *url;
    (void)state;

    /*
     * The sender's database is not there when it starts (a directory that
     * does not exist yet): it keeps trying, and sends once it is.
     */
    world_init(&w, 1);
    dir = test_tmpfile(".d");
    strbuf_addf(&sb, "sqlite:%s/alerts.db", dir);
    url = strbuf_detach(&sb, NULL);
    am = alert_manager_new(&w.s.alerts, &w.s.retry, w.ch, w.nch, w.metrics, &fake_clock, "sender");
    CHECK_OK(alert_sender_start(am, url, &w.err), &w.err);
    usleep(50 * 1000);
    assert_int_equal(mkdir(dir, 0700), 0);
    st = open_store(url);
    {
        struct alert_event ev = {
            .key = "k", .severity = NOTIFY_CRITICAL, .title = "t", .details = "", .now_ms = T0};
        CHECK_OK(alert_fire(am, st, &ev, &w.err), &w.err);
    }
    assert_true(wait_for_messages(&w.rec, 1));
    CHECK_OK(alert_notice(am, st, NOTIFY_INFO, "digest", "d", "", T0, &w.err), &w.err);
    assert_true(wait_for_messages(&w.rec, 2));
    alert_sender_stop(am);
    alert_sender_stop(am); /* twice is harmless */
    assert_int_equal(w.rec.n, 2);
    alert_manager_free(am);
    store_close(st);
    free(url);
    free(dir);
    world_release(&w);
}

static int group_setup(void **state)
{
    const char *u = getenv("CK_TEST_STORE_URL");
    struct strbuf err = STRBUF_INIT;
    (void)state;
    /* Failed sends are logged as errors; the test output has room for them. */
    if (log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT, NULL, &err)) {
        fprintf(stderr, "log_setup: %s\n", err.buf);
        return -1;
    }
    strbuf_release(&err);
    if (u && *u && strncmp(u, "sqlite:", 7)) {
        base_url = u;
        side = PQconnectdb(u);
        if (PQstatus(side) != CONNECTION_OK) {
            fprintf(stderr, "cannot connect to the test database: %s", PQerrorMessage(side));
            return -1;
        }
        PQclear(PQexec(side, "SET client_min_messages = warning"));
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; side && i < nschemas; i++) {
        struct strbuf sql = STRBUF_INIT;
        strbuf_addf(&sql, "DROP SCHEMA IF EXISTS %s CASCADE", schemas[i]);
        PQclear(PQexec(side, sql.buf));
        strbuf_release(&sql);
    }
    for (size_t i = 0; i < nschemas; i++)
        free(schemas[i]);
    if (side)
        PQfinish(side);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_alert_rows),
        cmocka_unit_test(test_store_outbox_leases),
        cmocka_unit_test(test_streak_one_firing_one_resolved),
        cmocka_unit_test(test_cooldown_flapping),
        cmocka_unit_test(test_cooldown_holds_resolved),
        cmocka_unit_test(test_reminders),
        cmocka_unit_test(test_inhibition),
        cmocka_unit_test(test_inhibition_released_by_sweep),
        cmocka_unit_test(test_retry_until_channel_recovers),
        cmocka_unit_test(test_flood_control_is_not_a_failure),
        cmocka_unit_test(test_parts_resume),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_accepts_and_lost_messages),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_two_runners_never_send_twice),
        cmocka_unit_test(test_concurrent_fires_one_message),
        cmocka_unit_test(test_metrics_counted),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_text_reaches_channel_unchanged),
        cmocka_unit_test(test_bad_events),
        cmocka_unit_test(test_sender_thread),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
