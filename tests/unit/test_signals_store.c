/* SPDX-License-Identifier: MIT */
/*
 * The signal tables of the store (store/signals.h), through the public API
 * only, so the same binary checks both backends: CTest runs it on a fresh
 * SQLite file per test and once against PostgreSQL (CK_TEST_STORE_URL),
 * where the tests of this binary share one database. Every test therefore
 * works in a time window of its own (a day in 2030 and later, picked by its
 * index) and under receiver names of its own, and counts what is global
 * (active signals, deliveries by status) as a difference.
 */
#include "testutil.h"

#include "market/price.h"
#include "store/signals.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

/* 2030-01-01T00:00:00Z in ms, and a day. */
#define BASE_MS 1893456000000LL
#define DAY_MS  86400000LL

struct fixture {
    struct store *st;
    char *url;
    int64_t t0; /* the start of this test's window */
    char tag[32];
    struct strbuf err;
};

static unsigned test_index;

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    unsigned idx = ++test_index;

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    f->t0 = BASE_MS + (int64_t)idx * 3 * DAY_MS;
    snprintf(f->tag, sizeof(f->tag), "t%ld_%u", (long)getpid(), idx);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

static bool is_sqlite(const struct fixture *f)
{
    return !strcmp(store_backend_name(f->st), "sqlite");
}

static int64_t price(const char *s)
{
    int64_t v;
    if (price_parse(s, strlen(s), &v))
        fail_msg("bad price literal '%s'", s);
    return v;
}

/* A long XAU/USD M15 signal; key may be NULL; strings are copies. */
static void mk_signal(struct signal *s, int64_t now_ms, const char *key, const char *hash)
{
    memset(s, 0, sizeof(*s));
    signal_new_id(s->id, now_ms);
    s->idempotency_key = xstrdup_or_null(key);
    s->request_hash = xstrdup(hash);
    s->source = xstrdup("twelvedata");
    s->symbol = xstrdup("XAU/USD");
    s->tf = TF_M15;
    s->direction = SIGNAL_LONG;
    s->entry = price("2063.41");
    s->stop_loss = price("2050");
    s->take_profit = price("2090.5");
    s->status = SIGNAL_ACTIVE;
    s->note = xstrdup("breakout");
}

/* Create a signal at `now_ms` for receivers; its id goes to `id_out` when not NULL. */
static void create(struct fixture *f, int64_t now_ms, const char *const *recv, size_t nrecv,
                   char *id_out)
{
    struct signal s;
    bool existed = true;

    mk_signal(&s, now_ms, NULL, "h");
    CHECK_OK(store_signal_create(f->st, &s, recv, nrecv, now_ms, &existed, &f->err), &f->err);
    assert_false(existed);
    if (id_out)
        memcpy(id_out, s.id, SIGNAL_ID_MAX);
    signal_release(&s);
}

static void test_names_and_ids(void **state)
{
    enum signal_status st;
    enum signal_direction d;
    enum delivery_status ds;
    char a[SIGNAL_ID_MAX], b[SIGNAL_ID_MAX], c[SIGNAL_ID_MAX];

    (void)state;
    for (int i = SIGNAL_ACTIVE; i <= SIGNAL_CANCELLED; i++) {
        assert_int_equal(signal_status_parse(signal_status_name(i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_int_equal(signal_status_parse("Active", &st), CK_EINVAL);
    assert_int_equal(signal_direction_parse("short", &d), 0);
    assert_int_equal(d, SIGNAL_SHORT);
    assert_int_equal(signal_direction_parse("sell", &d), CK_EINVAL);
    assert_int_equal(delivery_status_parse("dead", &ds), 0);
    assert_int_equal(ds, DELIVERY_DEAD);
    assert_string_equal(delivery_status_name(DELIVERY_DELIVERED), "delivered");

    signal_new_id(a, 1700000000000LL);
    signal_new_id(b, 1700000000000LL);
    signal_new_id(c, 1700000000001LL);
    assert_int_equal(strlen(a), 30);
    assert_memory_equal(a, "sig_", 4);
    assert_string_not_equal(a, b);
    /* The time part (10 characters) is equal within a ms and sorts by time. */
    assert_memory_equal(a + 4, b + 4, 10);
    assert_true(strcmp(a, c) < 0 && strcmp(b, c) < 0);
    /* Crockford's alphabet: no I, L, O, U, no lower case. */
    for (const char *p = a + 4; *p; p++)
        assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *p));
    /* 0 ms is the all-zero time part. */
    signal_new_id(a, 0);
    assert_memory_equal(a + 4, "0000000000", 10);
    /* A known time: 2^40 ms is 1 followed by eight zeros in base 32 at digit 2. */
    signal_new_id(a, 1LL << 40);
    assert_memory_equal(a + 4, "0100000000", 10);
}

static void test_create_with_receivers(void **state)
{
    struct fixture *f = *state;
    const char *recv[] = {"beta", "alpha"};
    struct signal s, got;
    struct delivery *d = NULL;
    size_t n = 0;
    bool existed = true;

    mk_signal(&s, f->t0, NULL, "abc");
    s.expires_ms = f->t0 + 4 * 3600000;
    CHECK_OK(store_signal_create(f->st, &s, recv, 2, f->t0, &existed, &f->err), &f->err);
    assert_false(existed);
    assert_int_equal(s.created_ms, f->t0);

    CHECK_OK(store_signal_get(f->st, s.id, &got, &f->err), &f->err);
    assert_string_equal(got.id, s.id);
    assert_null(got.idempotency_key);
    assert_string_equal(got.request_hash, "abc");
    assert_string_equal(got.source, "twelvedata");
    assert_string_equal(got.symbol, "XAU/USD");
    assert_int_equal(got.tf, TF_M15);
    assert_int_equal(got.direction, SIGNAL_LONG);
    assert_int_equal(got.status, SIGNAL_ACTIVE);
    assert_int_equal(got.created_ms, f->t0);
    assert_int_equal(got.updated_ms, f->t0);
    assert_int_equal(got.expires_ms, f->t0 + 4 * 3600000);
    assert_string_equal(got.note, "breakout");
    signal_release(&got);

    CHECK_OK(store_delivery_list(f->st, s.id, &d, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].receiver, "alpha");
    assert_string_equal(d[1].receiver, "beta");
    for (size_t i = 0; i < n; i++) {
        char want[SIGNAL_ID_MAX + 16];
        snprintf(want, sizeof(want), "%s.%s", s.id, d[i].receiver);
        assert_string_equal(d[i].webhook_id, want);
        assert_string_equal(d[i].signal_id, s.id);
        assert_int_equal(d[i].status, DELIVERY_PENDING);
        assert_int_equal(d[i].attempts, 0);
        assert_int_equal(d[i].next_ms, f->t0);
        assert_int_equal(d[i].created_ms, f->t0);
        assert_int_equal(d[i].delivered_ms, 0);
        assert_int_equal(d[i].last_status, 0);
        assert_string_equal(d[i].last_error, "");
    }
    deliveries_free(d, n);

    /* Without an expiry the column is NULL and reads back as 0. */
    signal_release(&s);
    mk_signal(&s, f->t0 + 1, NULL, "abc");
    CHECK_OK(store_signal_create(f->st, &s, NULL, 0, f->t0 + 1, NULL, &f->err), &f->err);
    CHECK_OK(store_signal_get(f->st, s.id, &got, &f->err), &f->err);
    assert_int_equal(got.expires_ms, 0);
    signal_release(&got);
    CHECK_OK(store_delivery_list(f->st, s.id, &d, &n, &f->err), &f->err);
    assert_int_equal(n, 0);
    deliveries_free(d, n);

    /* Unknown ids. */
    assert_int_equal(store_signal_get(f->st, "sig_nope", &got, &f->err), CK_ENOTFOUND);
    assert_non_null(strstr(f->err.buf, "sig_nope"));
    signal_release(&s);
}

/* A failing delivery insert rolls the signal back too: one transaction. */
static void test_create_is_atomic(void **state)
{
    struct fixture *f = *state;
    const char *recv[] = {"same", "same"}; /* UNIQUE (signal_id, receiver) fails */
    struct signal s, got;
    int rc;

    mk_signal(&s, f->t0, NULL, "x");
    rc = store_signal_create(f->st, &s, recv, 2, f->t0, NULL, &f->err);
    assert_int_equal(rc, CK_ECONFLICT);
    strbuf_reset(&f->err);
    assert_int_equal(store_signal_get(f->st, s.id, &got, &f->err), CK_ENOTFOUND);
    /* The connection is usable afterwards. */
    strbuf_reset(&f->err);
    recv[1] = "other";
    CHECK_OK(store_signal_create(f->st, &s, recv, 2, f->t0, NULL, &f->err), &f->err);
    signal_release(&s);
}

static void test_idempotency(void **state)
{
    struct fixture *f = *state;
    const char *recv[] = {"alpha"};
    char key[64], first_id[SIGNAL_ID_MAX];
    struct signal s, again, other;
    struct delivery *d = NULL;
    size_t n = 0;
    bool existed = true;

    snprintf(key, sizeof(key), "key-%s", f->tag);
    mk_signal(&s, f->t0, key, "hash-1");
    CHECK_OK(store_signal_create(f->st, &s, recv, 1, f->t0, &existed, &f->err), &f->err);
    assert_false(existed);
    memcpy(first_id, s.id, SIGNAL_ID_MAX);

    /* Same key, same request: the stored signal comes back, nothing is written. */
    mk_signal(&again, f->t0 + 5000, key, "hash-1");
    again.entry = price("1"); /* ignored: the stored signal wins */
    CHECK_OK(store_signal_create(f->st, &again, recv, 1, f->t0 + 5000, &existed, &f->err), &f->err);
    assert_true(existed);
    assert_string_equal(again.id, first_id);
    assert_int_equal(again.created_ms, f->t0);
    assert_int_equal(again.entry, price("2063.41"));
    assert_string_equal(again.idempotency_key, key);
    CHECK_OK(store_delivery_list(f->st, first_id, &d, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    deliveries_free(d, n);

    /* Same key, another request: a conflict naming the key. */
    mk_signal(&other, f->t0 + 6000, key, "hash-2");
    assert_int_equal(store_signal_create(f->st, &other, recv, 1, f->t0 + 6000, &existed, &f->err),
                     CK_ECONFLICT);
    assert_false(existed);
    assert_non_null(strstr(f->err.buf, key));
    strbuf_reset(&f->err);
    {
        struct signal gone;
        assert_int_equal(store_signal_get(f->st, other.id, &gone, &f->err), CK_ENOTFOUND);
        strbuf_reset(&f->err);
    }

    /* Inside a caller's transaction the same holds. */
    CHECK_OK(store_begin(f->st, &f->err), &f->err);
    signal_release(&again);
    mk_signal(&again, f->t0 + 7000, key, "hash-1");
    CHECK_OK(store_signal_create(f->st, &again, recv, 1, f->t0 + 7000, &existed, &f->err), &f->err);
    assert_true(existed);
    assert_string_equal(again.id, first_id);
    CHECK_OK(store_commit(f->st, &f->err), &f->err);

    signal_release(&s);
    signal_release(&again);
    signal_release(&other);
}

static void test_exact_prices(void **state)
{
    struct fixture *f = *state;
    static const char *const cases[][3] = {
        {"2063.41", "0.00000001", "92233720368.54775807"},
        {"1999.99999999", "0.1", "12345678901.2345678"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct signal s, got;
        char buf[PRICE_BUFSZ];

        mk_signal(&s, f->t0 + (int64_t)i, NULL, "p");
        s.entry = price(cases[i][0]);
        s.stop_loss = price(cases[i][1]);
        s.take_profit = price(cases[i][2]);
        CHECK_OK(store_signal_create(f->st, &s, NULL, 0, f->t0 + (int64_t)i, NULL, &f->err),
                 &f->err);
        CHECK_OK(store_signal_get(f->st, s.id, &got, &f->err), &f->err);
        price_format(got.entry, buf);
        assert_string_equal(buf, cases[i][0]);
        price_format(got.stop_loss, buf);
        assert_string_equal(buf, cases[i][1]);
        price_format(got.take_profit, buf);
        assert_string_equal(buf, cases[i][2]);
        signal_release(&got);
        signal_release(&s);
    }
}

static void test_list_filters(void **state)
{
    struct fixture *f = *state;
    char ids[6][SIGNAL_ID_MAX];
    enum signal_status cancelled = SIGNAL_CANCELLED, active = SIGNAL_ACTIVE;
    struct signal *v = NULL;
    size_t n = 0;

    for (int i = 0; i < 6; i++)
        create(f, f->t0 + i * 1000, NULL, 0, ids[i]);
    CHECK_OK(store_signal_set_status(f->st, ids[1], SIGNAL_ACTIVE, SIGNAL_CANCELLED, f->t0 + 9000,
                                     &f->err),
             &f->err);
    CHECK_OK(store_signal_set_status(f->st, ids[4], SIGNAL_ACTIVE, SIGNAL_CANCELLED, f->t0 + 9000,
                                     &f->err),
             &f->err);

    /* The window, newest first. */
    struct signal_query q = {.since_ms = f->t0, .until_ms = f->t0 + DAY_MS};
    CHECK_OK(store_signal_list(f->st, &q, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(v[i].id, ids[5 - i]);
    signals_free(v, n);

    /* Oldest first, limited. */
    q.oldest_first = true;
    q.limit = 2;
    CHECK_OK(store_signal_list(f->st, &q, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, ids[0]);
    assert_string_equal(v[1].id, ids[1]);
    signals_free(v, n);

    /* By status. */
    q = (struct signal_query){.status = &cancelled, .since_ms = f->t0, .until_ms = f->t0 + DAY_MS};
    CHECK_OK(store_signal_list(f->st, &q, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, ids[4]);
    assert_string_equal(v[1].id, ids[1]);
    assert_int_equal(v[0].status, SIGNAL_CANCELLED);
    assert_int_equal(v[0].updated_ms, f->t0 + 9000);
    signals_free(v, n);
    q.status = &active;
    CHECK_OK(store_signal_list(f->st, &q, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 4);
    signals_free(v, n);

    /* since is inclusive, until exclusive. */
    q = (struct signal_query){.since_ms = f->t0 + 2000, .until_ms = f->t0 + 4000};
    CHECK_OK(store_signal_list(f->st, &q, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, ids[3]);
    assert_string_equal(v[1].id, ids[2]);
    signals_free(v, n);

    /* No bounds at all: at least these six, newest of them first among them. */
    CHECK_OK(store_signal_list(f->st, NULL, &v, &n, &f->err), &f->err);
    assert_true(n >= 6);
    signals_free(v, n);
}

static void test_status_transitions(void **state)
{
    struct fixture *f = *state;
    char id[SIGNAL_ID_MAX];
    struct signal got;

    create(f, f->t0, NULL, 0, id);
    CHECK_OK(
        store_signal_set_status(f->st, id, SIGNAL_ACTIVE, SIGNAL_CANCELLED, f->t0 + 1, &f->err),
        &f->err);
    assert_int_equal(
        store_signal_set_status(f->st, id, SIGNAL_ACTIVE, SIGNAL_CANCELLED, f->t0 + 2, &f->err),
        CK_ECONFLICT);
    assert_non_null(strstr(f->err.buf, "cancelled"));
    strbuf_reset(&f->err);
    assert_int_equal(store_signal_set_status(f->st, "sig_none", SIGNAL_ACTIVE, SIGNAL_CANCELLED,
                                             f->t0 + 2, &f->err),
                     CK_ENOTFOUND);
    strbuf_reset(&f->err);
    CHECK_OK(store_signal_get(f->st, id, &got, &f->err), &f->err);
    assert_int_equal(got.status, SIGNAL_CANCELLED);
    assert_int_equal(got.updated_ms, f->t0 + 1);
    signal_release(&got);
}

/* --- claims ------------------------------------------------------------ */

struct claimer {
    const char *url;
    const char *receiver;
    const char *holder;
    int64_t now_ms;
    pthread_barrier_t *start; /* both connections are open before either claims */
    int64_t *ids;             /* claimed delivery ids */
    size_t nids, alloc;
    int rc;
    char err[512];
};

static void *claim_all(void *arg)
{
    struct claimer *c = arg;
    struct store *st = NULL;
    struct strbuf err = STRBUF_INIT;

    c->rc = store_open(&st, c->url, &err);
    pthread_barrier_wait(c->start);
    while (!c->rc) {
        struct delivery *d = NULL;
        size_t n = 0;
        c->rc = store_delivery_claim(st, c->receiver, c->now_ms, c->holder, c->now_ms + 600000, 3,
                                     &d, &n, &err);
        if (c->rc == CK_EBUSY) { /* SQLite past its busy timeout: try again */
            c->rc = 0;
            strbuf_reset(&err);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            ALLOC_GROW(c->ids, c->nids + 1, c->alloc);
            c->ids[c->nids++] = d[i].id;
        }
        deliveries_free(d, n);
        if (!c->rc && n == 0)
            break;
    }
    snprintf(c->err, sizeof(c->err), "%s", err.buf);
    strbuf_release(&err);
    store_close(st);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_claim_exclusive(void **state)
{
    struct fixture *f = *state;
    enum { NSIG = 120 };
    char recv_a[48];
    const char *recv[1];
    struct claimer c[2];
    pthread_t th[2];
    pthread_barrier_t start;
    int64_t *all;
    size_t total;

    snprintf(recv_a, sizeof(recv_a), "r_%s", f->tag);
    recv[0] = recv_a;
    for (int i = 0; i < NSIG; i++)
        create(f, f->t0 + i, recv, 1, NULL);

    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        c[i] = (struct claimer){.url = f->url,
                                .start = &start,
                                .receiver = recv_a,
                                .holder = i ? "holder-b" : "holder-a",
                                .now_ms = f->t0 + DAY_MS};
        assert_int_equal(pthread_create(&th[i], NULL, claim_all, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (c[i].rc)
            fail_msg("claimer %d: %s: %s", i, ck_strerror(c[i].rc), c[i].err);
    }
    pthread_barrier_destroy(&start);
    total = c[0].nids + c[1].nids;
    assert_int_equal(total, NSIG);
    all = xcalloc(total, sizeof(*all));
    for (size_t i = 0; i < c[0].nids; i++)
        all[i] = c[0].ids[i];
    for (size_t i = 0; i < c[1].nids; i++)
        all[c[0].nids + i] = c[1].ids[i];
    qsort(all, total, sizeof(*all), cmp_i64);
    for (size_t i = 1; i < total; i++)
        if (all[i] == all[i - 1])
            fail_msg("delivery %lld was claimed twice", (long long)all[i]);
    free(all);
    free(c[0].ids);
    free(c[1].ids);

    /* Every lease holds: nothing more to claim now. */
    {
        struct delivery *d = NULL;
        size_t n = 0;
        CHECK_OK(store_delivery_claim(f->st, recv_a, f->t0 + DAY_MS + 1, "holder-c",
                                      f->t0 + DAY_MS + 2, 100, &d, &n, &f->err),
                 &f->err);
        assert_int_equal(n, 0);
        deliveries_free(d, n);
    }
}

static void test_claim_order_and_due(void **state)
{
    struct fixture *f = *state;
    char recv_a[48], recv_b[48];
    const char *recv[2];
    char ids[3][SIGNAL_ID_MAX];
    struct delivery *d = NULL;
    size_t n = 0;

    snprintf(recv_a, sizeof(recv_a), "a_%s", f->tag);
    snprintf(recv_b, sizeof(recv_b), "b_%s", f->tag);
    recv[0] = recv_a;
    recv[1] = recv_b;
    create(f, f->t0 + 3000, recv, 2, ids[0]);
    create(f, f->t0 + 1000, recv, 2, ids[1]);
    create(f, f->t0 + 2000, recv, 1, ids[2]);

    /* Not yet due. */
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, f->t0 + 999, "h", f->t0 + 60000, 10, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 0);
    deliveries_free(d, n);

    /* Oldest due first, only the receiver asked for, at most `max`. */
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, f->t0 + 5000, "h", f->t0 + 60000, 2, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].signal_id, ids[1]);
    assert_string_equal(d[1].signal_id, ids[2]);
    assert_string_equal(d[0].receiver, recv_a);
    assert_int_equal(d[0].next_ms, f->t0 + 1000);
    deliveries_free(d, n);

    /* The other receiver's two are still there. */
    CHECK_OK(
        store_delivery_claim(f->st, recv_b, f->t0 + 5000, "h", f->t0 + 60000, 10, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].signal_id, ids[1]);
    assert_string_equal(d[1].signal_id, ids[0]);
    deliveries_free(d, n);

    /* Bad arguments. */
    assert_int_equal(store_delivery_claim(f->st, NULL, f->t0, "", f->t0 + 1, 1, &d, &n, &f->err),
                     CK_EINVAL);
    strbuf_reset(&f->err);
    assert_int_equal(store_delivery_claim(f->st, NULL, f->t0, "h", f->t0, 1, &d, &n, &f->err),
                     CK_EINVAL);
    strbuf_reset(&f->err);
}

/*
 * The next due time and the oldest pending delivery on a database of this
 * test's own (SQLite: a fresh file).
 */
static void test_next_due(void **state)
{
    struct fixture *f = *state;
    const char *recv[] = {"nd"};
    int64_t due = 0, oldest = 0;
    int64_t t = BASE_MS - 400 * DAY_MS; /* before every other test's window */
    struct delivery *d = NULL;
    size_t n = 0;

    if (is_sqlite(f)) {
        assert_int_equal(store_delivery_next_due(f->st, &due, &f->err), CK_ENOTFOUND);
        assert_int_equal(store_delivery_oldest_pending(f->st, &oldest, &f->err), CK_ENOTFOUND);
        assert_string_equal(f->err.buf, "");
    }
    create(f, t, recv, 1, NULL);
    create(f, t + 500, recv, 1, NULL);
    CHECK_OK(store_delivery_next_due(f->st, &due, &f->err), &f->err);
    assert_int_equal(due, t);
    CHECK_OK(store_delivery_oldest_pending(f->st, &oldest, &f->err), &f->err);
    assert_int_equal(oldest, t);

    /* A leased delivery is due again when its lease lapses. */
    CHECK_OK(store_delivery_claim(f->st, "nd", t + 100, "h", t + 10000, 1, &d, &n, &f->err),
             &f->err);
    assert_int_equal(n, 1);
    deliveries_free(d, n);
    CHECK_OK(store_delivery_next_due(f->st, &due, &f->err), &f->err);
    assert_int_equal(due, t + 500);
    CHECK_OK(store_delivery_claim(f->st, "nd", t + 600, "h", t + 20000, 1, &d, &n, &f->err),
             &f->err);
    assert_int_equal(n, 1);
    deliveries_free(d, n);
    CHECK_OK(store_delivery_next_due(f->st, &due, &f->err), &f->err);
    assert_int_equal(due, t + 10000);
    /* A lease does not change which delivery is the oldest pending. */
    CHECK_OK(store_delivery_oldest_pending(f->st, &oldest, &f->err), &f->err);
    assert_int_equal(oldest, t);
}

static void test_lease_lapse_and_record(void **state)
{
    struct fixture *f = *state;
    char recv_a[48], id[SIGNAL_ID_MAX];
    const char *recv[1];
    struct delivery *d = NULL, *list = NULL;
    struct delivery_attempt *att = NULL;
    size_t n = 0, nlist = 0, natt = 0;
    int64_t did;
    int64_t t = f->t0;

    snprintf(recv_a, sizeof(recv_a), "l_%s", f->tag);
    recv[0] = recv_a;
    create(f, t, recv, 1, id);

    CHECK_OK(store_delivery_claim(f->st, recv_a, t, "sender-a", t + 1000, 5, &d, &n, &f->err),
             &f->err);
    assert_int_equal(n, 1);
    did = d[0].id;
    deliveries_free(d, n);

    /* While A's lease holds, B gets nothing; once it lapses, B takes over. */
    CHECK_OK(store_delivery_claim(f->st, recv_a, t + 999, "sender-b", t + 5000, 5, &d, &n, &f->err),
             &f->err);
    assert_int_equal(n, 0);
    deliveries_free(d, n);
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, t + 1000, "sender-b", t + 5000, 5, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].id, did);
    deliveries_free(d, n);

    /* A's late record is refused and writes nothing. */
    struct delivery_attempt a = {.attempt = 1,
                                 .started_ms = t + 10,
                                 .duration_ms = 30000,
                                 .http_status = 200,
                                 .error = "",
                                 .instance = "inst-a"};
    assert_int_equal(
        store_delivery_record(f->st, did, "sender-a", &a, DELIVERY_DELIVERED, 0, &f->err),
        CK_ECONFLICT);
    assert_non_null(strstr(f->err.buf, "lease"));
    strbuf_reset(&f->err);
    CHECK_OK(store_delivery_attempts(f->st, did, &att, &natt, &f->err), &f->err);
    assert_int_equal(natt, 0);
    delivery_attempts_free(att, natt);

    /* B's failure: pending again later, with the error kept. */
    a = (struct delivery_attempt){.attempt = 1,
                                  .started_ms = t + 1001,
                                  .duration_ms = 120,
                                  .http_status = 503,
                                  .error = "HTTP 503",
                                  .instance = "inst-b"};
    CHECK_OK(store_delivery_record(f->st, did, "sender-b", &a, DELIVERY_PENDING, t + 9000, &f->err),
             &f->err);
    /* The lease is released: B cannot record twice. */
    assert_int_equal(
        store_delivery_record(f->st, did, "sender-b", &a, DELIVERY_PENDING, t + 9000, &f->err),
        CK_ECONFLICT);
    strbuf_reset(&f->err);
    CHECK_OK(store_delivery_list(f->st, id, &list, &nlist, &f->err), &f->err);
    assert_int_equal(nlist, 1);
    assert_int_equal(list[0].status, DELIVERY_PENDING);
    assert_int_equal(list[0].attempts, 1);
    assert_int_equal(list[0].next_ms, t + 9000);
    assert_int_equal(list[0].last_status, 503);
    assert_string_equal(list[0].last_error, "HTTP 503");
    deliveries_free(list, nlist);

    /* Not claimable before next_at, then delivered. */
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, t + 8999, "sender-a", t + 20000, 5, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 0);
    deliveries_free(d, n);
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, t + 9000, "sender-a", t + 20000, 5, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].attempts, 1);
    deliveries_free(d, n);
    a = (struct delivery_attempt){.attempt = 2,
                                  .started_ms = t + 9100,
                                  .duration_ms = 42,
                                  .http_status = 204,
                                  .error = "",
                                  .instance = "inst-a"};
    CHECK_OK(store_delivery_record(f->st, did, "sender-a", &a, DELIVERY_DELIVERED, 0, &f->err),
             &f->err);
    CHECK_OK(store_delivery_list(f->st, id, &list, &nlist, &f->err), &f->err);
    assert_int_equal(list[0].status, DELIVERY_DELIVERED);
    assert_int_equal(list[0].attempts, 2);
    assert_int_equal(list[0].delivered_ms, t + 9142);
    assert_int_equal(list[0].next_ms, t + 9000);
    assert_string_equal(list[0].last_error, "");
    deliveries_free(list, nlist);

    CHECK_OK(store_delivery_attempts(f->st, did, &att, &natt, &f->err), &f->err);
    assert_int_equal(natt, 2);
    assert_int_equal(att[0].attempt, 1);
    assert_int_equal(att[0].started_ms, t + 1001);
    assert_int_equal(att[0].duration_ms, 120);
    assert_int_equal(att[0].http_status, 503);
    assert_string_equal(att[0].error, "HTTP 503");
    assert_string_equal(att[0].instance, "inst-b");
    assert_int_equal(att[1].attempt, 2);
    assert_int_equal(att[1].http_status, 204);
    assert_string_equal(att[1].error, "");
    delivery_attempts_free(att, natt);

    /* A delivered delivery is never claimed again, and a record of it is refused. */
    CHECK_OK(
        store_delivery_claim(f->st, recv_a, t + DAY_MS, "x", t + DAY_MS + 1, 5, &d, &n, &f->err),
        &f->err);
    assert_int_equal(n, 0);
    deliveries_free(d, n);
    assert_int_equal(
        store_delivery_record(f->st, did, "sender-a", &a, DELIVERY_DELIVERED, 0, &f->err),
        CK_ECONFLICT);
    assert_non_null(strstr(f->err.buf, "delivered"));
    strbuf_reset(&f->err);
    assert_int_equal(
        store_delivery_record(f->st, 999999999, "sender-a", &a, DELIVERY_DELIVERED, 0, &f->err),
        CK_ENOTFOUND);
    strbuf_reset(&f->err);
}

/* Claim the one due delivery of `receiver` and record it dead. */
static void kill_one(struct fixture *f, const char *receiver, int64_t t)
{
    struct delivery *d = NULL;
    size_t n = 0;
    struct delivery_attempt a = {.attempt = 1,
                                 .started_ms = t,
                                 .duration_ms = 5,
                                 .http_status = 0,
                                 .error = "connection refused",
                                 .instance = "i"};

    CHECK_OK(store_delivery_claim(f->st, receiver, t, "h", t + 1000, 1, &d, &n, &f->err), &f->err);
    assert_int_equal(n, 1);
    CHECK_OK(store_delivery_record(f->st, d[0].id, "h", &a, DELIVERY_DEAD, 0, &f->err), &f->err);
    deliveries_free(d, n);
}

static void test_requeue_and_counts(void **state)
{
    struct fixture *f = *state;
    char ra[48], rb[48], id[SIGNAL_ID_MAX];
    const char *recv[2];
    struct delivery *list = NULL;
    struct delivery_attempt *att = NULL;
    size_t nlist = 0, natt = 0, requeued = 99;
    int64_t before[3], after[3];
    int64_t t = f->t0;

    snprintf(ra, sizeof(ra), "qa_%s", f->tag);
    snprintf(rb, sizeof(rb), "qb_%s", f->tag);
    recv[0] = ra;
    recv[1] = rb;
    CHECK_OK(store_delivery_counts(f->st, before, &f->err), &f->err);
    create(f, t, recv, 2, id);
    kill_one(f, ra, t + 10);
    kill_one(f, rb, t + 20);
    CHECK_OK(store_delivery_counts(f->st, after, &f->err), &f->err);
    assert_int_equal(after[DELIVERY_DEAD] - before[DELIVERY_DEAD], 2);
    assert_int_equal(after[DELIVERY_PENDING] - before[DELIVERY_PENDING], 0);

    /* Only one receiver. */
    CHECK_OK(store_delivery_requeue(f->st, id, rb, t + 100, &requeued, &f->err), &f->err);
    assert_int_equal(requeued, 1);
    CHECK_OK(store_delivery_list(f->st, id, &list, &nlist, &f->err), &f->err);
    assert_int_equal(nlist, 2);
    assert_int_equal(list[0].status, DELIVERY_DEAD);
    assert_int_equal(list[1].status, DELIVERY_PENDING);
    assert_int_equal(list[1].attempts, 0);
    assert_int_equal(list[1].next_ms, t + 100);
    /* The history stays. */
    CHECK_OK(store_delivery_attempts(f->st, list[1].id, &att, &natt, &f->err), &f->err);
    assert_int_equal(natt, 1);
    assert_string_equal(att[0].error, "connection refused");
    delivery_attempts_free(att, natt);
    deliveries_free(list, nlist);

    /* All receivers: the one still dead. Then nothing is left to re-queue. */
    CHECK_OK(store_delivery_requeue(f->st, id, NULL, t + 200, &requeued, &f->err), &f->err);
    assert_int_equal(requeued, 1);
    CHECK_OK(store_delivery_requeue(f->st, id, NULL, t + 300, &requeued, &f->err), &f->err);
    assert_int_equal(requeued, 0);
    CHECK_OK(store_delivery_requeue(f->st, "sig_unknown", NULL, t + 300, &requeued, &f->err),
             &f->err);
    assert_int_equal(requeued, 0);

    CHECK_OK(store_delivery_counts(f->st, after, &f->err), &f->err);
    assert_int_equal(after[DELIVERY_DEAD] - before[DELIVERY_DEAD], 0);
    assert_int_equal(after[DELIVERY_PENDING] - before[DELIVERY_PENDING], 2);

    /* Re-queued deliveries are claimable again. */
    {
        struct delivery *d = NULL;
        size_t n = 0;
        CHECK_OK(store_delivery_claim(f->st, ra, t + 200, "h2", t + 5000, 5, &d, &n, &f->err),
                 &f->err);
        assert_int_equal(n, 1);
        deliveries_free(d, n);
    }
}

/* --- outcomes ---------------------------------------------------------- */

static void test_outcomes(void **state)
{
    struct fixture *f = *state;
    char won[SIGNAL_ID_MAX], cancelled[SIGNAL_ID_MAX], expired[SIGNAL_ID_MAX];
    struct outcome o, got;
    struct signal s;
    int64_t t = f->t0;

    create(f, t, NULL, 0, won);
    create(f, t + 1, NULL, 0, cancelled);
    create(f, t + 2, NULL, 0, expired);

    o = (struct outcome){.result = SIGNAL_WON,
                         .has_price = true,
                         .price = price("2090.5"),
                         .decided_ms = t + 3600000,
                         .has_candle = true,
                         .tf = TF_M15,
                         .candle_time = (t + 2700000) / 1000,
                         .ambiguous = true,
                         .created_ms = t + 3660000};
    memcpy(o.signal_id, won, SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    CHECK_OK(store_signal_get(f->st, won, &s, &f->err), &f->err);
    assert_int_equal(s.status, SIGNAL_WON);
    assert_int_equal(s.updated_ms, t + 3660000);
    signal_release(&s);
    CHECK_OK(store_outcome_get(f->st, won, &got, &f->err), &f->err);
    assert_string_equal(got.signal_id, won);
    assert_int_equal(got.result, SIGNAL_WON);
    assert_true(got.has_price);
    assert_int_equal(got.price, price("2090.5"));
    assert_int_equal(got.decided_ms, t + 3600000);
    assert_true(got.has_candle);
    assert_int_equal(got.tf, TF_M15);
    assert_int_equal(got.candle_time, (t + 2700000) / 1000);
    assert_true(got.ambiguous);
    assert_int_equal(got.created_ms, t + 3660000);

    /* Decided once: a second outcome is refused. */
    o.result = SIGNAL_LOST;
    assert_int_equal(store_outcome_record(f->st, &o, &f->err), CK_ECONFLICT);
    assert_non_null(strstr(f->err.buf, "won"));
    strbuf_reset(&f->err);

    /* A cancelled signal gets no outcome, and its status stays. */
    CHECK_OK(
        store_signal_set_status(f->st, cancelled, SIGNAL_ACTIVE, SIGNAL_CANCELLED, t + 5, &f->err),
        &f->err);
    memcpy(o.signal_id, cancelled, SIGNAL_ID_MAX);
    assert_int_equal(store_outcome_record(f->st, &o, &f->err), CK_ECONFLICT);
    strbuf_reset(&f->err);
    assert_int_equal(store_outcome_get(f->st, cancelled, &got, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);
    CHECK_OK(store_signal_get(f->st, cancelled, &s, &f->err), &f->err);
    assert_int_equal(s.status, SIGNAL_CANCELLED);
    signal_release(&s);

    /* Expired without price or candle. */
    o = (struct outcome){.result = SIGNAL_EXPIRED, .decided_ms = t + 7200000};
    memcpy(o.signal_id, expired, SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    CHECK_OK(store_outcome_get(f->st, expired, &got, &f->err), &f->err);
    assert_int_equal(got.result, SIGNAL_EXPIRED);
    assert_false(got.has_price);
    assert_false(got.has_candle);
    assert_false(got.ambiguous);
    assert_int_equal(got.created_ms, t + 7200000);

    /* Unknown signal; a result that is not an outcome. */
    memcpy(o.signal_id, "sig_none", 9);
    assert_int_equal(store_outcome_record(f->st, &o, &f->err), CK_ENOTFOUND);
    strbuf_reset(&f->err);
    o.result = SIGNAL_CANCELLED;
    assert_int_equal(store_outcome_record(f->st, &o, &f->err), CK_EINVAL);
    strbuf_reset(&f->err);
}

static void test_signal_counts(void **state)
{
    struct fixture *f = *state;
    struct signal_counts before, after;
    char ids[5][SIGNAL_ID_MAX];
    int64_t t = f->t0;

    CHECK_OK(store_signal_counts(f->st, t, t + DAY_MS, &before, &f->err), &f->err);
    assert_int_equal(before.created, 0);
    for (int i = 0; i < 5; i++)
        create(f, t + i, NULL, 0, ids[i]);
    /* One created the day before: active, but not created in the window. */
    create(f, t - 1, NULL, 0, NULL);

    struct outcome o = {.result = SIGNAL_WON, .decided_ms = t + 100};
    memcpy(o.signal_id, ids[0], SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    o.result = SIGNAL_LOST;
    memcpy(o.signal_id, ids[1], SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    o.result = SIGNAL_EXPIRED;
    memcpy(o.signal_id, ids[2], SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
    /* Decided after the window. */
    o.result = SIGNAL_LOST;
    o.decided_ms = t + DAY_MS;
    memcpy(o.signal_id, ids[3], SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);

    CHECK_OK(store_signal_counts(f->st, t, t + DAY_MS, &after, &f->err), &f->err);
    assert_int_equal(after.active - before.active, 2); /* ids[4] and the day before's */
    assert_int_equal(after.created, 5);
    assert_int_equal(after.won, 1);
    assert_int_equal(after.lost, 1);
    assert_int_equal(after.expired, 1);
}

/* --- backtests ---------------------------------------------------------- */

static void test_backtests(void **state)
{
    struct fixture *f = *state;
    /* Far in the past, so "before" below counts only these. */
    int64_t t = 86400000LL * 3;
    struct backtest *v = NULL;
    size_t n = 0;
    int64_t count = -1, deleted = -1, total = 0;

    for (int i = 0; i < 5; i++) {
        char name[32];
        struct backtest b = {.created_ms = t + i * 1000,
                             .params = "{\"fast\": 12, \"slow\": 26}",
                             .metrics = "{\"sharpe\": \"1.42\", \"trades\": 310}"};
        snprintf(name, sizeof(name), "macd-%d", i);
        b.name = name;
        CHECK_OK(store_backtest_add(f->st, &b, &f->err), &f->err);
        assert_true(b.id > 0);
    }

    CHECK_OK(store_backtest_list(f->st, t + 1000, 2, &v, &n, &f->err), &f->err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "macd-4");
    assert_int_equal(v[0].created_ms, t + 4000);
    assert_string_equal(v[0].params, "{\"fast\": 12, \"slow\": 26}");
    assert_string_equal(v[0].metrics, "{\"sharpe\": \"1.42\", \"trades\": 310}");
    assert_string_equal(v[1].name, "macd-3");
    assert_true(v[0].id > v[1].id);
    backtests_free(v, n);

    CHECK_OK(store_backtest_count_before(f->st, t + 3000, &count, &f->err), &f->err);
    assert_int_equal(count, 3);

    /* In batches of two, oldest first, until none is left. */
    CHECK_OK(store_backtest_delete_before(f->st, t + 3000, 2, &deleted, &f->err), &f->err);
    assert_int_equal(deleted, 2);
    total += deleted;
    CHECK_OK(store_backtest_list(f->st, t, 0, &v, &n, &f->err), &f->err);
    assert_true(n >= 3);
    assert_string_equal(v[n - 1].name, "macd-2"); /* the oldest left */
    backtests_free(v, n);
    CHECK_OK(store_backtest_delete_before(f->st, t + 3000, 2, &deleted, &f->err), &f->err);
    assert_int_equal(deleted, 1);
    total += deleted;
    CHECK_OK(store_backtest_delete_before(f->st, t + 3000, 2, &deleted, &f->err), &f->err);
    assert_int_equal(deleted, 0);
    assert_int_equal(total, 3);
    CHECK_OK(store_backtest_count_before(f->st, t + 3000, &count, &f->err), &f->err);
    assert_int_equal(count, 0);
    CHECK_OK(store_backtest_count_before(f->st, t + 5000, &count, &f->err), &f->err);
    assert_int_equal(count, 2);

    /* Missing fields. */
    struct backtest bad = {.name = "x", .params = NULL, .metrics = "{}"};
    assert_int_equal(store_backtest_add(f->st, &bad, &f->err), CK_EINVAL);
    strbuf_reset(&f->err);
}

/*
 * How the connection `st` commits: SQLite's synchronous (1 NORMAL, 2
 * FULL), PostgreSQL's synchronous_commit (1 on, 0 otherwise).
 */
static int64_t commit_sync(struct store *st)
{
    static const struct sql_stmt q = {
        .sqlite = "PRAGMA synchronous",
        .pg = "SELECT CASE WHEN current_setting('synchronous_commit') = 'on' THEN 1 ELSE 0 END",
    };
    struct sql_rows rows = SQL_ROWS_INIT;
    struct strbuf err = STRBUF_INIT;
    int64_t v = -1;
    CHECK_OK(store_sql(st, &q, NULL, 0, &rows, NULL, "read the sync setting", &err), &err);
    CHECK_OK(sql_rows_int(&rows, 0, 0, &v, &err), &err);
    sql_rows_release(&rows);
    strbuf_release(&err);
    return v;
}

/*
 * What is acknowledged survives a power loss: the connection that creates
 * a signal (the API answers 201 after the commit) and the one that records
 * a delivery's attempt commit with a full sync from then on; a connection
 * that did neither keeps SQLite's cheaper NORMAL.
 */
static void test_acknowledged_writes_are_durable(void **state)
{
    struct fixture *f = *state;
    /* PostgreSQL's default is the server's (the test server's is off): not checked. */
    const int64_t full = is_sqlite(f) ? 2 : 1, normal = is_sqlite(f) ? 1 : -1;
    struct store *sender = NULL, *other = NULL;
    char recv_a[48];
    const char *recv[1] = {recv_a};
    char id[SIGNAL_ID_MAX];
    struct delivery *d = NULL;
    size_t n = 0;

    snprintf(recv_a, sizeof(recv_a), "d_%s", f->tag);
    CHECK_OK(store_open(&sender, f->url, &f->err), &f->err);
    CHECK_OK(store_open(&other, f->url, &f->err), &f->err);
    if (normal >= 0)
        assert_int_equal(commit_sync(f->st), normal);

    create(f, f->t0, recv, 1, id);
    assert_int_equal(commit_sync(f->st), full);

    CHECK_OK(store_delivery_claim(sender, recv_a, f->t0 + 1, "sender", f->t0 + 60000, 10, &d, &n,
                                  &f->err),
             &f->err);
    assert_int_equal(n, 1);
    if (normal >= 0)
        assert_int_equal(commit_sync(sender), normal);
    struct delivery_attempt a = {.attempt = 1,
                                 .started_ms = f->t0 + 2,
                                 .duration_ms = 5,
                                 .http_status = 200,
                                 .error = "",
                                 .instance = "inst"};
    CHECK_OK(store_delivery_record(sender, d[0].id, "sender", &a, DELIVERY_DELIVERED, 0, &f->err),
             &f->err);
    assert_int_equal(commit_sync(sender), full);
    deliveries_free(d, n);

    /* Reading and claiming acknowledge nothing. */
    if (normal >= 0)
        assert_int_equal(commit_sync(other), normal);
    store_close(other);
    store_close(sender);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_ids),
        T(test_create_with_receivers),
        T(test_create_is_atomic),
        T(test_idempotency),
        T(test_exact_prices),
        T(test_list_filters),
        T(test_status_transitions),
        T(test_claim_exclusive),
        T(test_claim_order_and_due),
        T(test_next_due),
        T(test_lease_lapse_and_record),
        T(test_requeue_and_counts),
        T(test_outcomes),
        T(test_signal_counts),
        T(test_backtests),
        T(test_acknowledged_writes_are_durable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
