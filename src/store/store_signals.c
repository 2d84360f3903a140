/* SPDX-License-Identifier: MIT */
/*
 * The signal tables (schema 5), written once for both backends on the
 * generic statements of store_internal.h: signals, their deliveries to the
 * configured receivers (the outbox) with every attempt, outcomes and
 * backtest results.
 *
 * Each statement has a SQLite and a PostgreSQL text. They differ only
 * where the dialects do: PostgreSQL selects its timestamptz columns as Unix
 * ms (SQL_PG_MS) and locks the rows it claims with FOR UPDATE SKIP LOCKED;
 * SQLite keeps times as Unix ms and prices as the scaled integers of
 * market/price.h, PostgreSQL as timestamptz and NUMERIC(20,8). Parameters
 * carry their kind, so the same $N binds natively on both.
 *
 * Invariants:
 *  - A signal and its deliveries are written in one transaction; so are an
 *    outcome and the status it gives its signal, and an attempt and the
 *    new state of its delivery.
 *  - Claiming deliveries is one UPDATE ... WHERE id IN (SELECT ...): on
 *    SQLite it runs inside store_begin()'s IMMEDIATE transaction (one
 *    writer at a time), on PostgreSQL the subquery locks the rows it picks
 *    with SKIP LOCKED and re-checks them, so two claimers never hold one
 *    delivery at once.
 *  - A lease is (lease_holder, lease_until); a free lease is ('', 0 /
 *    epoch). A lapsed lease may be taken over; the former holder's record
 *    of its attempt is then refused (CK_ECONFLICT) and writes nothing.
 *  - What is acknowledged is durable: the connection that creates a
 *    signal or records a delivery's attempt commits with a full sync
 *    from then on (store_durable(); SQLite's synchronous=FULL).
 *  - Outcomes keep the deciding candle's open time in ms like every other
 *    time column (timestamptz on PostgreSQL); the API of this file speaks
 *    Unix seconds for it, as struct outcome says.
 */
#include "store/signals.h"

#include "market/price.h"
#include "store/store_internal.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/banned.h"

/* "All": a time after every stored one, and a row count no query reaches. */
#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define LIMIT_ALL   INT64_MAX

/* --- ids ------------------------------------------------------------- */

static void random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n && RAND_bytes(buf + got, (int)(n - got)) != 1)
        BUG("no source of random bytes for signal ids");
}

/*
 * A ULID: 48 bits of ms time then 80 random bits, as 26 characters of
 * Crockford's base32 (no I, L, O, U), so ids sort by creation time.
 */
void signal_new_id(char out[SIGNAL_ID_MAX], int64_t now_ms)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char bytes[16];
    uint64_t t = now_ms > 0 ? (uint64_t)now_ms & 0xFFFFFFFFFFFFULL : 0;
    char *p;

    for (int i = 5; i >= 0; i--) {
        bytes[i] = (unsigned char)(t & 0xFF);
        t >>= 8;
    }
    random_bytes(bytes + 6, 10);

    memcpy(out, "sig_", 4);
    p = out + 4;
    /* 128 bits in 26 digits of 5 bits: the first digit holds the top 3. */
    for (int d = 0; d < 26; d++) {
        int bit = 128 - (26 - d) * 5; /* first bit of this digit; -2 for the first */
        unsigned v = 0;
        for (int b = 0; b < 5; b++) {
            int k = bit + b;
            v <<= 1;
            if (k >= 0)
                v |= (bytes[k / 8] >> (7 - k % 8)) & 1;
        }
        p[d] = alphabet[v];
    }
    p[26] = '\0';
}

/* --- reading rows ---------------------------------------------------- */

static int copy_id(char out[SIGNAL_ID_MAX], const struct sql_rows *r, size_t row, size_t col,
                   struct strbuf *err)
{
    const char *v = sql_rows_text(r, row, col);
    if (!v || strlen(v) >= SIGNAL_ID_MAX) {
        strbuf_addf(err, "store: unexpected signal id in column %zu", col);
        return CK_EPARSE;
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* 0, or CK_EPARSE naming column `col` and its value `v` when `parsed` (its parse) failed. */
static int check_parsed(int parsed, const char *v, size_t col, struct strbuf *err)
{
    if (parsed) {
        strbuf_addf(err, "store: unexpected value '%s' in column %zu", v ? v : "NULL", col);
        return CK_EPARSE;
    }
    return 0;
}

static int read_tf(const struct sql_rows *r, size_t row, size_t col, enum timeframe *out,
                   struct strbuf *err)
{
    const char *v = sql_rows_text(r, row, col);
    if (!v || timeframe_parse(v, out)) {
        strbuf_addf(err, "store: unexpected timeframe '%s' in column %zu", v ? v : "NULL", col);
        return CK_EPARSE;
    }
    return 0;
}

#define SIGNAL_COLS_BASE                                                                           \
    "id, idempotency_key, request_hash, source, symbol, timeframe, direction, entry, "             \
    "stop_loss, take_profit, "
#define SIGNAL_COLS_SQLITE SIGNAL_COLS_BASE "created_at, expires_at, status, note, updated_at"
#define SIGNAL_COLS_PG                                                                             \
    SIGNAL_COLS_BASE SQL_PG_MS("created_at") ", " SQL_PG_MS(                                       \
        "expires_at") ", status, note, " SQL_PG_MS("updated_at")

static int read_signal(const struct sql_rows *r, size_t row, struct signal *s, struct strbuf *err)
{
    const char *v;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = copy_id(s->id, r, row, 0, err);
    if (!rc && !sql_rows_null(r, row, 1))
        s->idempotency_key = sql_rows_strdup(r, row, 1);
    if (!rc) {
        s->request_hash = sql_rows_strdup(r, row, 2);
        s->source = sql_rows_strdup(r, row, 3);
        s->symbol = sql_rows_strdup(r, row, 4);
        s->note = sql_rows_strdup(r, row, 13);
        rc = read_tf(r, row, 5, &s->tf, err);
    }
    if (!rc) {
        v = sql_rows_text(r, row, 6);
        rc = check_parsed(signal_direction_parse(v, &s->direction), v, 6, err);
    }
    if (!rc)
        rc = sql_rows_price(r, row, 7, &s->entry, err);
    if (!rc)
        rc = sql_rows_price(r, row, 8, &s->stop_loss, err);
    if (!rc)
        rc = sql_rows_price(r, row, 9, &s->take_profit, err);
    if (!rc)
        rc = sql_rows_int(r, row, 10, &s->created_ms, err);
    if (!rc)
        rc = sql_rows_int_or0(r, row, 11, &s->expires_ms, err);
    if (!rc) {
        v = sql_rows_text(r, row, 12);
        rc = check_parsed(signal_status_parse(v, &s->status), v, 12, err);
    }
    if (!rc)
        rc = sql_rows_int(r, row, 14, &s->updated_ms, err);
    if (rc)
        signal_release(s);
    return rc;
}

SQL_ROWS_READ_ALL(read_signals, struct signal, read_signal, signals_free)

#define DELIVERY_COLS_BASE                                                                         \
    "id, signal_id, receiver, webhook_id, status, attempts, next_at, last_error, last_status, "
#define DELIVERY_COLS_SQLITE DELIVERY_COLS_BASE "created_at, delivered_at"
#define DELIVERY_COLS_PG                                                                           \
    "id, signal_id, receiver, webhook_id, status, attempts, " SQL_PG_MS(                           \
        "next_at") ", last_error, last_status, " SQL_PG_MS("created_at") ", " SQL_PG_MS("delivere" \
                                                                                        "d_at")

static int read_delivery(const struct sql_rows *r, size_t row, struct delivery *d,
                         struct strbuf *err)
{
    const char *v;
    int rc;

    memset(d, 0, sizeof(*d));
    rc = sql_rows_int(r, row, 0, &d->id, err);
    if (!rc)
        rc = copy_id(d->signal_id, r, row, 1, err);
    d->receiver = sql_rows_strdup(r, row, 2);
    d->webhook_id = sql_rows_strdup(r, row, 3);
    d->last_error = sql_rows_strdup(r, row, 7);
    if (!rc) {
        v = sql_rows_text(r, row, 4);
        rc = check_parsed(delivery_status_parse(v, &d->status), v, 4, err);
    }
    if (!rc)
        rc = sql_rows_int(r, row, 5, &d->attempts, err);
    if (!rc)
        rc = sql_rows_int(r, row, 6, &d->next_ms, err);
    if (!rc)
        rc = sql_rows_int(r, row, 8, &d->last_status, err);
    if (!rc)
        rc = sql_rows_int(r, row, 9, &d->created_ms, err);
    if (!rc)
        rc = sql_rows_int_or0(r, row, 10, &d->delivered_ms, err);
    return rc;
}

SQL_ROWS_READ_ALL(read_deliveries, struct delivery, read_delivery, deliveries_free)

/* --- signals --------------------------------------------------------- */

static const struct sql_stmt SQL_SIGNAL_INSERT = SQL_SAME(
    "INSERT INTO signals (id, idempotency_key, request_hash, source, symbol, timeframe, "
    "direction, entry, stop_loss, take_profit, created_at, expires_at, status, note, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11) "
    "ON CONFLICT (idempotency_key) DO NOTHING");

static const struct sql_stmt SQL_SIGNAL_BY_KEY = {
    .sqlite = "SELECT " SIGNAL_COLS_SQLITE " FROM signals WHERE idempotency_key = $1",
    .pg = "SELECT " SIGNAL_COLS_PG " FROM signals WHERE idempotency_key = $1",
};

static const struct sql_stmt SQL_SIGNAL_GET = {
    .sqlite = "SELECT " SIGNAL_COLS_SQLITE " FROM signals WHERE id = $1",
    .pg = "SELECT " SIGNAL_COLS_PG " FROM signals WHERE id = $1",
};

static const struct sql_stmt SQL_DELIVERY_INSERT =
    SQL_SAME("INSERT INTO deliveries (signal_id, receiver, webhook_id, status, attempts, next_at, "
             "created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4)");

static int check_signal(const struct signal *s, struct strbuf *err)
{
    if (!s->id[0] || !s->request_hash || !s->source || !*s->source || !s->symbol || !*s->symbol ||
        (unsigned)s->tf >= TF_COUNT || (size_t)s->direction >= 2 ||
        (size_t)s->status > SIGNAL_CANCELLED) {
        strbuf_addstr(err, "store: incomplete signal (id, request hash, source, symbol, "
                           "timeframe and direction are needed)");
        return CK_EINVAL;
    }
    return 0;
}

static int load_by_key(struct store *st, const char *key, struct signal *out, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(key)};
    int rc = store_sql(st, &SQL_SIGNAL_BY_KEY, p, ARRAY_SIZE(p), &r, NULL,
                       "read the signal of an idempotency key", err);
    if (!rc && r.nrows == 0) {
        strbuf_addf(err, "store: no signal has idempotency key '%s'", key);
        rc = CK_ENOTFOUND;
    }
    if (!rc)
        rc = read_signal(&r, 0, out, err);
    sql_rows_release(&r);
    return rc;
}

static int signal_create_tx(struct store *st, struct signal *s, const char *const *receivers,
                            size_t nreceivers, int64_t now_ms, bool *existed, struct strbuf *err)
{
    struct sqlv p[] = {
        SQLV_S(s->id),
        s->idempotency_key ? SQLV_S(s->idempotency_key) : SQLV_N(),
        SQLV_S(s->request_hash),
        SQLV_S(s->source),
        SQLV_S(s->symbol),
        SQLV_S(timeframe_name(s->tf)),
        SQLV_S(signal_direction_name(s->direction)),
        SQLV_P(s->entry),
        SQLV_P(s->stop_loss),
        SQLV_P(s->take_profit),
        SQLV_MS(now_ms),
        s->expires_ms ? SQLV_MS(s->expires_ms) : SQLV_N(),
        SQLV_S(signal_status_name(s->status)),
        SQLV_S(s->note ? s->note : ""),
    };
    int64_t changed = 0;
    int rc;

    rc =
        store_sql(st, &SQL_SIGNAL_INSERT, p, ARRAY_SIZE(p), NULL, &changed, "create a signal", err);
    if (rc)
        return rc;
    if (changed == 0) {
        /*
         * The idempotency key is taken (a NULL key never conflicts). On
         * PostgreSQL a concurrent insert of the same key has committed by
         * now (ON CONFLICT waited for it), and this statement sees it.
         */
        struct signal old;
        if (!s->idempotency_key)
            BUG("signal insert without a key changed nothing");
        rc = load_by_key(st, s->idempotency_key, &old, err);
        if (rc)
            return rc;
        if (strcmp(old.request_hash, s->request_hash) != 0) {
            strbuf_addf(err,
                        "idempotency key '%s' was already used for signal %s with a different "
                        "request",
                        s->idempotency_key, old.id);
            signal_release(&old);
            return CK_ECONFLICT;
        }
        signal_release(s);
        *s = old;
        *existed = true;
        return 0;
    }
    for (size_t i = 0; i < nreceivers; i++) {
        struct strbuf webhook_id = STRBUF_INIT;
        struct sqlv dp[4];

        strbuf_addf(&webhook_id, "%s.%s", s->id, receivers[i]);
        dp[0] = SQLV_S(s->id);
        dp[1] = SQLV_S(receivers[i]);
        dp[2] = SQLV_S(webhook_id.buf);
        dp[3] = SQLV_MS(now_ms);
        rc = store_sql(st, &SQL_DELIVERY_INSERT, dp, ARRAY_SIZE(dp), NULL, NULL,
                       "queue the delivery of a signal", err);
        strbuf_release(&webhook_id);
        if (rc)
            return rc;
    }
    s->created_ms = now_ms;
    s->updated_ms = now_ms;
    return 0;
}

int store_signal_create(struct store *st, struct signal *s, const char *const *receivers,
                        size_t nreceivers, int64_t now_ms, bool *existed, struct strbuf *err)
{
    bool owned, dummy;
    int rc = check_signal(s, err);

    if (!existed)
        existed = &dummy;
    *existed = false;
    for (size_t i = 0; !rc && i < nreceivers; i++) {
        if (!receivers[i] || !*receivers[i]) {
            strbuf_addstr(err, "store: a signal receiver has no name");
            rc = CK_EINVAL;
        }
    }
    if (rc)
        return rc;
    /* The caller answers 201 once this commits: it must survive a power loss. */
    rc = store_durable(st, err);
    if (!rc)
        rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = signal_create_tx(st, s, receivers, nreceivers, now_ms, existed, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (rc)
        *existed = false;
    return rc;
}

int store_signal_get(struct store *st, const char *id, struct signal *out, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(id)};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_sql(st, &SQL_SIGNAL_GET, p, ARRAY_SIZE(p), &r, NULL, "read a signal", err);
    if (!rc && r.nrows == 0) {
        strbuf_addf(err, "no signal '%s'", id);
        rc = CK_ENOTFOUND;
    }
    if (!rc)
        rc = read_signal(&r, 0, out, err);
    sql_rows_release(&r);
    return rc;
}

/*
 * $1 status ('' any), $2 since, $3 until, $4 limit. Newest first, or
 * oldest first; the id breaks ties within one ms (ids are time-ordered).
 */
#define SIGNAL_LIST_WHERE                                                                          \
    " FROM signals WHERE ($1 = '' OR status = $1) AND created_at >= $2 AND created_at < $3 "
static const struct sql_stmt SQL_SIGNAL_LIST_NEW = {
    .sqlite =
        "SELECT " SIGNAL_COLS_SQLITE SIGNAL_LIST_WHERE "ORDER BY created_at DESC, id DESC LIMIT $4",
    .pg = "SELECT " SIGNAL_COLS_PG SIGNAL_LIST_WHERE "ORDER BY created_at DESC, id DESC LIMIT $4",
};
static const struct sql_stmt SQL_SIGNAL_LIST_OLD = {
    .sqlite = "SELECT " SIGNAL_COLS_SQLITE SIGNAL_LIST_WHERE "ORDER BY created_at, id LIMIT $4",
    .pg = "SELECT " SIGNAL_COLS_PG SIGNAL_LIST_WHERE "ORDER BY created_at, id LIMIT $4",
};

int store_signal_list(struct store *st, const struct signal_query *q, struct signal **out,
                      size_t *n, struct strbuf *err)
{
    static const struct signal_query any = {0};
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[4];
    int rc;

    *out = NULL;
    *n = 0;
    if (!q)
        q = &any;
    if (q->status && (size_t)*q->status > SIGNAL_CANCELLED)
        BUG("store_signal_list: status %d", (int)*q->status);
    p[0] = SQLV_S(q->status ? signal_status_name(*q->status) : "");
    p[1] = SQLV_MS(q->since_ms > 0 ? q->since_ms : 0);
    p[2] = SQLV_MS(q->until_ms > 0 ? q->until_ms : TIME_MAX_MS);
    p[3] = SQLV_I(q->limit ? (int64_t)q->limit : LIMIT_ALL);
    rc = store_sql(st, q->oldest_first ? &SQL_SIGNAL_LIST_OLD : &SQL_SIGNAL_LIST_NEW, p,
                   ARRAY_SIZE(p), &r, NULL, "list signals", err);
    if (!rc)
        rc = read_signals(&r, out, n, err);
    sql_rows_release(&r);
    return rc;
}

static const struct sql_stmt SQL_SIGNAL_SET_STATUS =
    SQL_SAME("UPDATE signals SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2");
static const struct sql_stmt SQL_SIGNAL_STATUS =
    SQL_SAME("SELECT status FROM signals WHERE id = $1");

/*
 * After an update of signal `id` guarded by its status changed nothing:
 * CK_ENOTFOUND when it does not exist, CK_ECONFLICT naming its status.
 */
static int status_refused(struct store *st, const char *id, const char *wanted, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(id)};
    int rc = store_sql(st, &SQL_SIGNAL_STATUS, p, ARRAY_SIZE(p), &r, NULL,
                       "read the status of a signal", err);
    if (!rc && r.nrows == 0) {
        strbuf_addf(err, "no signal '%s'", id);
        rc = CK_ENOTFOUND;
    } else if (!rc) {
        strbuf_addf(err, "signal %s is %s, not %s", id, sql_rows_text(&r, 0, 0), wanted);
        rc = CK_ECONFLICT;
    }
    sql_rows_release(&r);
    return rc;
}

int store_signal_set_status(struct store *st, const char *id, enum signal_status from,
                            enum signal_status to, int64_t now_ms, struct strbuf *err)
{
    struct sqlv p[] = {SQLV_S(id), SQLV_S(signal_status_name(from)), SQLV_S(signal_status_name(to)),
                       SQLV_MS(now_ms)};
    int64_t changed = 0;
    int rc;

    if ((size_t)from > SIGNAL_CANCELLED || (size_t)to > SIGNAL_CANCELLED)
        BUG("store_signal_set_status: status %d -> %d", (int)from, (int)to);
    rc = store_sql(st, &SQL_SIGNAL_SET_STATUS, p, ARRAY_SIZE(p), NULL, &changed,
                   "set the status of a signal", err);
    if (!rc && changed == 0)
        rc = status_refused(st, id, signal_status_name(from), err);
    return rc;
}

/* --- deliveries ------------------------------------------------------ */

/*
 * $1 holder, $2 lease until, $3 now, $4 receiver ('' any), $5 max. A
 * lease is free when lease_until <= now: never taken (0 / epoch),
 * released, or lapsed.
 */
#define CLAIM_PICK                                                                                 \
    "SELECT id FROM deliveries WHERE status = 'pending' AND next_at <= $3 AND lease_until <= $3 "  \
    "AND ($4 = '' OR receiver = $4) ORDER BY next_at, id LIMIT $5"
static const struct sql_stmt SQL_DELIVERY_CLAIM = {
    .sqlite = "UPDATE deliveries SET lease_holder = $1, lease_until = $2 WHERE id IN (" CLAIM_PICK
              ") RETURNING " DELIVERY_COLS_SQLITE,
    .pg = "UPDATE deliveries SET lease_holder = $1, lease_until = $2 WHERE id IN (" CLAIM_PICK
          " FOR UPDATE SKIP LOCKED) RETURNING " DELIVERY_COLS_PG,
};

static int cmp_due(const void *a, const void *b)
{
    const struct delivery *x = a, *y = b;
    if (x->next_ms != y->next_ms)
        return x->next_ms < y->next_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int store_delivery_claim(struct store *st, const char *receiver, int64_t now_ms, const char *holder,
                         int64_t lease_until_ms, size_t max, struct delivery **out, size_t *n,
                         struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(holder), SQLV_MS(lease_until_ms), SQLV_MS(now_ms),
                       SQLV_S(receiver ? receiver : ""), SQLV_I((int64_t)max)};
    bool owned;
    int rc;

    *out = NULL;
    *n = 0;
    if (!holder || !*holder) {
        strbuf_addstr(err, "store: a delivery lease needs a holder");
        return CK_EINVAL;
    }
    if (lease_until_ms <= now_ms) {
        strbuf_addstr(err, "store: a delivery lease must end after now");
        return CK_EINVAL;
    }
    if (max == 0)
        return 0;
    rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = store_sql(st, &SQL_DELIVERY_CLAIM, p, ARRAY_SIZE(p), &r, NULL, "claim deliveries", err);
    rc = store_implicit_end(st, owned, rc, err);
    if (!rc)
        rc = read_deliveries(&r, out, n, err);
    sql_rows_release(&r);
    /* RETURNING gives no order. */
    if (!rc && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_due);
    return rc;
}

static const struct sql_stmt SQL_DELIVERY_NEXT_DUE = {
    .sqlite = "SELECT MIN(MAX(next_at, lease_until)) FROM deliveries WHERE status = 'pending'",
    .pg = "SELECT " SQL_PG_MS("MIN(GREATEST(next_at, lease_until))") " FROM deliveries "
                                                                     "WHERE status = 'pending'",
};

int store_delivery_next_due(struct store *st, int64_t *out_ms, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    int rc =
        store_sql(st, &SQL_DELIVERY_NEXT_DUE, NULL, 0, &r, NULL, "find the next delivery due", err);
    if (!rc && (r.nrows == 0 || sql_rows_null(&r, 0, 0)))
        rc = CK_ENOTFOUND; /* not a failure: nothing is pending */
    if (!rc)
        rc = sql_rows_int(&r, 0, 0, out_ms, err);
    sql_rows_release(&r);
    return rc;
}

/*
 * $1 id, $2 holder, $3 status, $4 next_at (pending only), $5 error, $6
 * HTTP status, $7 delivered at (delivered only). The lease is released.
 */
static const struct sql_stmt SQL_DELIVERY_RECORD = SQL_SAME(
    "UPDATE deliveries SET status = $3, attempts = attempts + 1, "
    "next_at = CASE WHEN $3 = 'pending' THEN $4 ELSE next_at END, last_error = $5, "
    "last_status = $6, delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE delivered_at END, "
    "lease_holder = '', lease_until = $8 "
    "WHERE id = $1 AND lease_holder = $2 AND status = 'pending'");
static const struct sql_stmt SQL_DELIVERY_EXISTS =
    SQL_SAME("SELECT status, lease_holder FROM deliveries WHERE id = $1");
static const struct sql_stmt SQL_ATTEMPT_INSERT =
    SQL_SAME("INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, "
             "http_status, error, instance) VALUES ($1, $2, $3, $4, $5, $6, $7)");

static int record_refused(struct store *st, int64_t id, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_I(id)};
    int rc =
        store_sql(st, &SQL_DELIVERY_EXISTS, p, ARRAY_SIZE(p), &r, NULL, "read a delivery", err);
    if (!rc && r.nrows == 0) {
        strbuf_addf(err, "no delivery %lld", (long long)id);
        rc = CK_ENOTFOUND;
    } else if (!rc) {
        const char *status = sql_rows_text(&r, 0, 0);
        if (status && strcmp(status, "pending") != 0)
            strbuf_addf(err, "delivery %lld is %s already", (long long)id, status);
        else
            strbuf_addf(err, "the lease on delivery %lld was lost to another sender",
                        (long long)id);
        rc = CK_ECONFLICT;
    }
    sql_rows_release(&r);
    return rc;
}

static int delivery_record_tx(struct store *st, int64_t id, const char *holder,
                              const struct delivery_attempt *a, enum delivery_status status,
                              int64_t next_ms, struct strbuf *err)
{
    int64_t finished = a->started_ms + (a->duration_ms > 0 ? a->duration_ms : 0);
    struct sqlv p[] = {
        SQLV_I(id),
        SQLV_S(holder),
        SQLV_S(delivery_status_name(status)),
        SQLV_MS(next_ms),
        SQLV_S(a->error ? a->error : ""),
        SQLV_I(a->http_status),
        SQLV_MS(finished),
        SQLV_MS(0),
    };
    struct sqlv ap[] = {
        SQLV_I(id),
        SQLV_I(a->attempt),
        SQLV_MS(a->started_ms),
        SQLV_I(a->duration_ms),
        SQLV_I(a->http_status),
        SQLV_S(a->error ? a->error : ""),
        SQLV_S(a->instance ? a->instance : ""),
    };
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_DELIVERY_RECORD, p, ARRAY_SIZE(p), NULL, &changed,
                       "record a delivery attempt", err);
    if (!rc && changed == 0)
        rc = record_refused(st, id, err);
    if (!rc)
        rc = store_sql(st, &SQL_ATTEMPT_INSERT, ap, ARRAY_SIZE(ap), NULL, NULL,
                       "record a delivery attempt", err);
    return rc;
}

int store_delivery_record(struct store *st, int64_t id, const char *holder,
                          const struct delivery_attempt *a, enum delivery_status status,
                          int64_t next_ms, struct strbuf *err)
{
    bool owned;
    int rc;

    if ((size_t)status > DELIVERY_DEAD)
        BUG("store_delivery_record: status %d", (int)status);
    if (!holder || !*holder) {
        strbuf_addstr(err, "store: recording a delivery attempt needs the lease holder");
        return CK_EINVAL;
    }
    rc = store_durable(st, err);
    if (!rc)
        rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = delivery_record_tx(st, id, holder, a, status, next_ms, err);
    return store_implicit_end(st, owned, rc, err);
}

static const struct sql_stmt SQL_DELIVERY_LIST = {
    .sqlite = "SELECT " DELIVERY_COLS_SQLITE " FROM deliveries WHERE signal_id = $1 "
              "ORDER BY receiver",
    .pg = "SELECT " DELIVERY_COLS_PG " FROM deliveries WHERE signal_id = $1 "
          "ORDER BY receiver COLLATE \"C\"",
};

int store_delivery_list(struct store *st, const char *signal_id, struct delivery **out, size_t *n,
                        struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(signal_id)};
    int rc;

    *out = NULL;
    *n = 0;
    rc = store_sql(st, &SQL_DELIVERY_LIST, p, ARRAY_SIZE(p), &r, NULL, "list deliveries", err);
    if (!rc)
        rc = read_deliveries(&r, out, n, err);
    sql_rows_release(&r);
    return rc;
}

static const struct sql_stmt SQL_ATTEMPT_LIST = {
    .sqlite = "SELECT attempt, started_at, duration_ms, http_status, error, instance "
              "FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
    .pg = "SELECT attempt, " SQL_PG_MS("started_at") ", duration_ms, http_status, error, instance "
                                                     "FROM delivery_attempts WHERE delivery_id = "
                                                     "$1 ORDER BY id",
};

int store_delivery_attempts(struct store *st, int64_t delivery_id, struct delivery_attempt **out,
                            size_t *n, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_I(delivery_id)};
    struct delivery_attempt *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    rc =
        store_sql(st, &SQL_ATTEMPT_LIST, p, ARRAY_SIZE(p), &r, NULL, "list delivery attempts", err);
    if (!rc)
        v = xcalloc(r.nrows ? r.nrows : 1, sizeof(*v));
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        rc = sql_rows_int(&r, i, 0, &v[i].attempt, err);
        if (!rc)
            rc = sql_rows_int(&r, i, 1, &v[i].started_ms, err);
        if (!rc)
            rc = sql_rows_int(&r, i, 2, &v[i].duration_ms, err);
        if (!rc)
            rc = sql_rows_int(&r, i, 3, &v[i].http_status, err);
        v[i].error = sql_rows_strdup(&r, i, 4);
        v[i].instance = sql_rows_strdup(&r, i, 5);
    }
    if (rc) {
        delivery_attempts_free(v, r.nrows);
    } else {
        *out = v;
        *n = r.nrows;
    }
    sql_rows_release(&r);
    return rc;
}

/* $1 signal, $2 receiver ('' all), $3 now, $4 free lease. */
static const struct sql_stmt SQL_DELIVERY_REQUEUE = SQL_SAME(
    "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = $3, lease_holder = '', "
    "lease_until = $4 WHERE signal_id = $1 AND status = 'dead' AND ($2 = '' OR receiver = $2)");

int store_delivery_requeue(struct store *st, const char *signal_id, const char *receiver,
                           int64_t now_ms, size_t *requeued, struct strbuf *err)
{
    struct sqlv p[] = {SQLV_S(signal_id), SQLV_S(receiver ? receiver : ""), SQLV_MS(now_ms),
                       SQLV_MS(0)};
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_DELIVERY_REQUEUE, p, ARRAY_SIZE(p), NULL, &changed,
                       "re-queue dead deliveries", err);
    if (requeued)
        *requeued = rc ? 0 : (size_t)changed;
    return rc;
}

static const struct sql_stmt SQL_DELIVERY_COUNTS =
    SQL_SAME("SELECT status, COUNT(*) FROM deliveries GROUP BY status");

int store_delivery_counts(struct store *st, int64_t out[3], struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    int rc = store_sql(st, &SQL_DELIVERY_COUNTS, NULL, 0, &r, NULL, "count deliveries", err);

    out[0] = out[1] = out[2] = 0;
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        const char *v = sql_rows_text(&r, i, 0);
        enum delivery_status s = DELIVERY_PENDING;
        int64_t c;
        rc = check_parsed(delivery_status_parse(v, &s), v, 0, err);
        if (!rc)
            rc = sql_rows_int(&r, i, 1, &c, err);
        if (!rc)
            out[s] = c;
    }
    sql_rows_release(&r);
    return rc;
}

static const struct sql_stmt SQL_DELIVERY_OLDEST_PENDING = {
    .sqlite = "SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'",
    .pg = "SELECT " SQL_PG_MS("MIN(created_at)") " FROM deliveries WHERE status = 'pending'",
};

int store_delivery_oldest_pending(struct store *st, int64_t *out_ms, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    int rc = store_sql(st, &SQL_DELIVERY_OLDEST_PENDING, NULL, 0, &r, NULL,
                       "find the oldest pending delivery", err);
    if (!rc && (r.nrows == 0 || sql_rows_null(&r, 0, 0)))
        rc = CK_ENOTFOUND; /* not a failure: nothing is pending */
    if (!rc)
        rc = sql_rows_int(&r, 0, 0, out_ms, err);
    sql_rows_release(&r);
    return rc;
}

/* --- outcomes -------------------------------------------------------- */

static const struct sql_stmt SQL_SIGNAL_DECIDE =
    SQL_SAME("UPDATE signals SET status = $2, updated_at = $3 WHERE id = $1 AND status = 'active'");
static const struct sql_stmt SQL_OUTCOME_INSERT =
    SQL_SAME("INSERT INTO outcomes (signal_id, result, price, decided_at, timeframe, "
             "candle_time, ambiguous, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");

static int outcome_record_tx(struct store *st, const struct outcome *o, struct strbuf *err)
{
    int64_t created = o->created_ms ? o->created_ms : o->decided_ms;
    struct sqlv sp[] = {SQLV_S(o->signal_id), SQLV_S(signal_status_name(o->result)),
                        SQLV_MS(created)};
    struct sqlv op[] = {
        SQLV_S(o->signal_id),
        SQLV_S(signal_status_name(o->result)),
        o->has_price ? SQLV_P(o->price) : SQLV_N(),
        SQLV_MS(o->decided_ms),
        SQLV_S(o->has_candle ? timeframe_name(o->tf) : ""),
        o->has_candle ? SQLV_MS(o->candle_time * 1000) : SQLV_N(),
        SQLV_B(o->ambiguous),
        SQLV_MS(created),
    };
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_SIGNAL_DECIDE, sp, ARRAY_SIZE(sp), NULL, &changed,
                       "record an outcome", err);
    if (!rc && changed == 0)
        rc = status_refused(st, o->signal_id, "active", err);
    if (!rc)
        rc = store_sql(st, &SQL_OUTCOME_INSERT, op, ARRAY_SIZE(op), NULL, NULL, "record an outcome",
                       err);
    return rc;
}

int store_outcome_record(struct store *st, const struct outcome *o, struct strbuf *err)
{
    bool owned;
    int rc;

    if (o->result != SIGNAL_WON && o->result != SIGNAL_LOST && o->result != SIGNAL_EXPIRED) {
        strbuf_addf(err, "store: an outcome is won, lost or expired, not %s",
                    signal_status_name(o->result));
        return CK_EINVAL;
    }
    if (o->has_candle && (unsigned)o->tf >= TF_COUNT)
        BUG("store_outcome_record: timeframe %d", (int)o->tf);
    rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = outcome_record_tx(st, o, err);
    return store_implicit_end(st, owned, rc, err);
}

static const struct sql_stmt SQL_OUTCOME_GET = {
    .sqlite = "SELECT signal_id, result, price, decided_at, timeframe, candle_time, ambiguous, "
              "created_at FROM outcomes WHERE signal_id = $1",
    .pg = "SELECT signal_id, result, price, " SQL_PG_MS("decided_at") ", timeframe, " SQL_PG_MS(
        "candle_time") ", ambiguous, " SQL_PG_MS("created_at") " FROM outcomes WHERE signal_id = "
                                                               "$1",
};

int store_outcome_get(struct store *st, const char *signal_id, struct outcome *out,
                      struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(signal_id)};
    const char *v;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_sql(st, &SQL_OUTCOME_GET, p, ARRAY_SIZE(p), &r, NULL, "read an outcome", err);
    if (!rc && r.nrows == 0) {
        strbuf_addf(err, "signal '%s' has no outcome", signal_id);
        rc = CK_ENOTFOUND;
    }
    if (!rc)
        rc = copy_id(out->signal_id, &r, 0, 0, err);
    if (!rc) {
        v = sql_rows_text(&r, 0, 1);
        rc = check_parsed(signal_status_parse(v, &out->result), v, 1, err);
    }
    if (!rc && !sql_rows_null(&r, 0, 2)) {
        out->has_price = true;
        rc = sql_rows_price(&r, 0, 2, &out->price, err);
    }
    if (!rc)
        rc = sql_rows_int(&r, 0, 3, &out->decided_ms, err);
    if (!rc && !sql_rows_null(&r, 0, 5)) {
        int64_t ms = 0;
        out->has_candle = true;
        rc = read_tf(&r, 0, 4, &out->tf, err);
        if (!rc)
            rc = sql_rows_int(&r, 0, 5, &ms, err);
        out->candle_time = ms / 1000;
    }
    if (!rc)
        rc = sql_rows_bool(&r, 0, 6, &out->ambiguous, err);
    if (!rc)
        rc = sql_rows_int(&r, 0, 7, &out->created_ms, err);
    sql_rows_release(&r);
    return rc;
}

/* $1 since, $2 until. */
static const struct sql_stmt SQL_SIGNAL_COUNTS =
    SQL_SAME("SELECT (SELECT COUNT(*) FROM signals WHERE status = 'active'), "
             "(SELECT COUNT(*) FROM signals WHERE created_at >= $1 AND created_at < $2), "
             "(SELECT COUNT(*) FROM outcomes WHERE result = 'won' AND decided_at >= $1 AND "
             "decided_at < $2), "
             "(SELECT COUNT(*) FROM outcomes WHERE result = 'lost' AND decided_at >= $1 AND "
             "decided_at < $2), "
             "(SELECT COUNT(*) FROM outcomes WHERE result = 'expired' AND decided_at >= $1 "
             "AND decided_at < $2)");

int store_signal_counts(struct store *st, int64_t since_ms, int64_t until_ms,
                        struct signal_counts *out, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_MS(since_ms), SQLV_MS(until_ms)};
    int64_t *fields[] = {&out->active, &out->created, &out->won, &out->lost, &out->expired};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_sql(st, &SQL_SIGNAL_COUNTS, p, ARRAY_SIZE(p), &r, NULL, "count signals", err);
    if (!rc && (r.nrows != 1 || r.ncols != ARRAY_SIZE(fields)))
        BUG("store_signal_counts: %zu x %zu", r.nrows, r.ncols);
    for (size_t c = 0; !rc && c < ARRAY_SIZE(fields); c++)
        rc = sql_rows_int(&r, 0, c, fields[c], err);
    sql_rows_release(&r);
    return rc;
}

/* --- backtests ------------------------------------------------------- */

static const struct sql_stmt SQL_BACKTEST_ADD =
    SQL_SAME("INSERT INTO backtests (name, created_at, params, metrics) VALUES ($1, $2, $3, $4) "
             "RETURNING id");

int store_backtest_add(struct store *st, struct backtest *b, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_S(b->name), SQLV_MS(b->created_ms), SQLV_S(b->params),
                       SQLV_S(b->metrics)};
    int rc;

    if (!b->name || !*b->name || !b->params || !b->metrics) {
        strbuf_addstr(err, "store: a backtest result needs a name, params and metrics");
        return CK_EINVAL;
    }
    rc = store_sql(st, &SQL_BACKTEST_ADD, p, ARRAY_SIZE(p), &r, NULL, "add a backtest result", err);
    if (!rc && r.nrows != 1)
        BUG("store_backtest_add: %zu rows returned", r.nrows);
    if (!rc)
        rc = sql_rows_int(&r, 0, 0, &b->id, err);
    sql_rows_release(&r);
    return rc;
}

/* $1 since, $2 limit. Newest first. */
static const struct sql_stmt SQL_BACKTEST_LIST = {
    .sqlite = "SELECT id, name, created_at, params, metrics FROM backtests WHERE created_at >= $1 "
              "ORDER BY created_at DESC, id DESC LIMIT $2",
    .pg = "SELECT id, name, " SQL_PG_MS("created_at") ", params, metrics FROM backtests "
                                                      "WHERE created_at >= $1 ORDER BY created_at "
                                                      "DESC, id DESC LIMIT $2",
};

int store_backtest_list(struct store *st, int64_t since_ms, size_t limit, struct backtest **out,
                        size_t *n, struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_MS(since_ms > 0 ? since_ms : 0),
                       SQLV_I(limit ? (int64_t)limit : LIMIT_ALL)};
    struct backtest *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    rc =
        store_sql(st, &SQL_BACKTEST_LIST, p, ARRAY_SIZE(p), &r, NULL, "list backtest results", err);
    if (!rc)
        v = xcalloc(r.nrows ? r.nrows : 1, sizeof(*v));
    for (size_t i = 0; !rc && i < r.nrows; i++) {
        rc = sql_rows_int(&r, i, 0, &v[i].id, err);
        v[i].name = sql_rows_strdup(&r, i, 1);
        if (!rc)
            rc = sql_rows_int(&r, i, 2, &v[i].created_ms, err);
        v[i].params = sql_rows_strdup(&r, i, 3);
        v[i].metrics = sql_rows_strdup(&r, i, 4);
    }
    if (rc) {
        backtests_free(v, r.nrows);
    } else {
        *out = v;
        *n = r.nrows;
    }
    sql_rows_release(&r);
    return rc;
}

/* $1 before, $2 batch: the oldest first, so a batch makes progress. */
static const struct sql_stmt SQL_BACKTEST_DELETE =
    SQL_SAME("DELETE FROM backtests WHERE id IN (SELECT id FROM backtests WHERE created_at < $1 "
             "ORDER BY created_at, id LIMIT $2)");
static const struct sql_stmt SQL_BACKTEST_COUNT =
    SQL_SAME("SELECT COUNT(*) FROM backtests WHERE created_at < $1");

int store_backtest_delete_before(struct store *st, int64_t before_ms, size_t batch,
                                 int64_t *deleted, struct strbuf *err)
{
    struct sqlv p[] = {SQLV_MS(before_ms > 0 ? before_ms : TIME_MAX_MS),
                       SQLV_I(batch ? (int64_t)batch : LIMIT_ALL)};
    int64_t changed = 0;
    int rc = store_sql(st, &SQL_BACKTEST_DELETE, p, ARRAY_SIZE(p), NULL, &changed,
                       "delete old backtest results", err);
    if (deleted)
        *deleted = rc ? 0 : changed;
    return rc;
}

int store_backtest_count_before(struct store *st, int64_t before_ms, int64_t *out,
                                struct strbuf *err)
{
    struct sql_rows r = SQL_ROWS_INIT;
    struct sqlv p[] = {SQLV_MS(before_ms > 0 ? before_ms : TIME_MAX_MS)};
    int rc = store_sql(st, &SQL_BACKTEST_COUNT, p, ARRAY_SIZE(p), &r, NULL,
                       "count old backtest results", err);
    if (!rc)
        rc = sql_rows_int(&r, 0, 0, out, err);
    sql_rows_release(&r);
    return rc;
}
