/* SPDX-License-Identifier: MIT */
/*
 * Row counts of every table, and the generic copy of the tables whose
 * statements are written once for both backends (alerts, outboxes,
 * signals, deliveries, outcomes, backtests, circuit breakers, backfills): each is described
 * here by its
 * columns and their kinds, and its statements are generated from that
 * description the first time they are needed, once per process (the
 * SQLite backend caches prepared statements by the address of their text).
 *
 * A copied row keeps its key, ids included, so rows that refer to each
 * other still do; on PostgreSQL the id sequence is moved past the copied
 * ids afterwards so that the next row inserted there gets a fresh one.
 */
#include "store/store_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct column {
    const char *name;
    enum sqlv_kind kind;
};

struct generic_table {
    enum store_table id;
    const char *name;
    const struct column *cols; /* the key first; ends with {NULL} */
    /* Generated once: */
    struct sql_stmt first, after, insert, insert_skip, sequence;
    const char **names; /* NULL-terminated */
};

#define C(n, k)                                                                                    \
    {                                                                                              \
        n, SQLV_##k                                                                                \
    }
static const struct column alerts_cols[] = {
    C("key", TEXT),
    C("severity", TEXT),
    C("state", TEXT),
    C("title", TEXT),
    C("details", TEXT),
    C("inhibited_by", TEXT),
    C("first_seen", TIME_MS),
    C("last_seen", TIME_MS),
    C("resolved_at", TIME_MS),
    C("last_notified", TIME_MS),
    C("notified_state", TEXT),
    C("times_sent", INT),
    C("updated_at", TIME_MS),
    {NULL, SQLV_NULL},
};
static const struct column outbox_cols[] = {
    C("id", INT),
    C("channel", TEXT),
    C("alert_key", TEXT),
    C("severity", TEXT),
    C("kind", TEXT),
    C("title", TEXT),
    C("details", TEXT),
    C("event_time", TIME_MS),
    C("created_at", TIME_MS),
    C("due_at", TIME_MS),
    C("attempts", INT),
    C("parts_done", INT),
    C("status", TEXT),
    C("last_error", TEXT),
    C("sent_at", TIME_MS),
    C("lease_holder", TEXT),
    C("lease_until", TIME_MS),
    {NULL, SQLV_NULL},
};
static const struct column signals_cols[] = {
    C("id", TEXT),
    C("idempotency_key", TEXT),
    C("request_hash", TEXT),
    C("source", TEXT),
    C("symbol", TEXT),
    C("timeframe", TEXT),
    C("direction", TEXT),
    C("entry", PRICE),
    C("stop_loss", PRICE),
    C("take_profit", PRICE),
    C("created_at", TIME_MS),
    C("expires_at", TIME_MS),
    C("status", TEXT),
    C("note", TEXT),
    C("updated_at", TIME_MS),
    {NULL, SQLV_NULL},
};
static const struct column deliveries_cols[] = {
    C("id", INT),
    C("signal_id", TEXT),
    C("receiver", TEXT),
    C("webhook_id", TEXT),
    C("status", TEXT),
    C("attempts", INT),
    C("next_at", TIME_MS),
    C("last_error", TEXT),
    C("last_status", INT),
    C("created_at", TIME_MS),
    C("delivered_at", TIME_MS),
    C("lease_holder", TEXT),
    C("lease_until", TIME_MS),
    {NULL, SQLV_NULL},
};
static const struct column attempts_cols[] = {
    C("id", INT),          C("delivery_id", INT), C("attempt", INT), C("started_at", TIME_MS),
    C("duration_ms", INT), C("http_status", INT), C("error", TEXT),  C("instance", TEXT),
    {NULL, SQLV_NULL},
};
static const struct column outcomes_cols[] = {
    C("signal_id", TEXT),     C("result", TEXT),        C("price", PRICE),
    C("decided_at", TIME_MS), C("timeframe", TEXT),     C("candle_time", TIME_MS),
    C("ambiguous", BOOL),     C("created_at", TIME_MS), {NULL, SQLV_NULL},
};
static const struct column backtests_cols[] = {
    C("id", INT),      C("name", TEXT),    C("created_at", TIME_MS),
    C("params", TEXT), C("metrics", TEXT), {NULL, SQLV_NULL},
};
static const struct column breakers_cols[] = {
    C("source", TEXT),      C("state", TEXT),         C("failures", INT),  C("opened_at", TIME_MS),
    C("retry_at", TIME_MS), C("updated_at", TIME_MS), C("instance", TEXT), {NULL, SQLV_NULL},
};
static const struct column backfills_cols[] = {
    C("id", INT),           C("source", TEXT),        C("symbol", TEXT),
    C("timeframe", TEXT),   C("since_at", TIME_MS),   C("until_at", TIME_MS),
    C("position", TIME_MS), C("state", TEXT),         C("candles", INT),
    C("requests", INT),     C("first_at", TIME_MS),   C("note", TEXT),
    C("error", TEXT),       C("created_at", TIME_MS), C("updated_at", TIME_MS),
    {NULL, SQLV_NULL},
};
#undef C

/* In copy order: a table comes after those it refers to. */
static struct generic_table generic[] = {
    {.id = STORE_TABLE_ALERTS, .name = "alerts", .cols = alerts_cols},
    {.id = STORE_TABLE_ALERT_OUTBOX, .name = "alert_outbox", .cols = outbox_cols},
    {.id = STORE_TABLE_SIGNALS, .name = "signals", .cols = signals_cols},
    {.id = STORE_TABLE_DELIVERIES, .name = "deliveries", .cols = deliveries_cols},
    {.id = STORE_TABLE_DELIVERY_ATTEMPTS, .name = "delivery_attempts", .cols = attempts_cols},
    {.id = STORE_TABLE_OUTCOMES, .name = "outcomes", .cols = outcomes_cols},
    {.id = STORE_TABLE_BACKTESTS, .name = "backtests", .cols = backtests_cols},
    {.id = STORE_TABLE_BREAKERS, .name = "breakers", .cols = breakers_cols},
    {.id = STORE_TABLE_BACKFILLS, .name = "backfills", .cols = backfills_cols},
};

static struct sql_stmt counts[STORE_TABLE_COUNT];

static pthread_once_t generic_once = PTHREAD_ONCE_INIT;

static void add_select_list(struct strbuf *sb, const struct column *cols, bool pg)
{
    for (size_t i = 0; cols[i].name; i++) {
        if (i)
            strbuf_addstr(sb, ", ");
        if (pg && cols[i].kind == SQLV_TIME_MS)
            strbuf_addf(sb, SQL_PG_MS("%s"), cols[i].name);
        else
            strbuf_addstr(sb, cols[i].name);
    }
}

static const char *make_select(const struct generic_table *t, bool pg, bool after)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "SELECT ");
    add_select_list(&sb, t->cols, pg);
    strbuf_addf(&sb, " FROM %s", t->name);
    if (after)
        strbuf_addf(&sb, " WHERE %s > $1", t->cols[0].name);
    strbuf_addf(&sb, " ORDER BY %s LIMIT $2", t->cols[0].name);
    return strbuf_detach(&sb, NULL);
}

static const char *make_insert(const struct generic_table *t, bool skip)
{
    struct strbuf sb = STRBUF_INIT;
    size_t n = 0;

    strbuf_addf(&sb, "INSERT INTO %s (", t->name);
    for (; t->cols[n].name; n++)
        strbuf_addf(&sb, "%s%s", n ? ", " : "", t->cols[n].name);
    strbuf_addstr(&sb, ") VALUES (");
    for (size_t i = 0; i < n; i++)
        strbuf_addf(&sb, "%s$%zu", i ? ", " : "", i + 1);
    strbuf_addch(&sb, ')');
    if (skip)
        strbuf_addf(&sb, " ON CONFLICT (%s) DO NOTHING", t->cols[0].name);
    return strbuf_detach(&sb, NULL);
}

static void generic_init(void)
{
    for (size_t i = 0; i < STORE_TABLE_COUNT; i++) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "SELECT count(*) FROM %s", store_table_name((enum store_table)i));
        counts[i].sqlite = counts[i].pg = strbuf_detach(&sb, NULL);
    }
    for (size_t i = 0; i < ARRAY_SIZE(generic); i++) {
        struct generic_table *t = &generic[i];
        size_t n = 0;

        t->first = (struct sql_stmt){make_select(t, false, false), make_select(t, true, false)};
        t->after = (struct sql_stmt){make_select(t, false, true), make_select(t, true, true)};
        t->insert.sqlite = t->insert.pg = make_insert(t, false);
        t->insert_skip.sqlite = t->insert_skip.pg = make_insert(t, true);
        if (t->cols[0].kind == SQLV_INT) {
            struct strbuf sb = STRBUF_INIT;
            /* SQLite's INTEGER PRIMARY KEY continues after the largest id by itself. */
            t->sequence.sqlite = "SELECT 1";
            strbuf_addf(&sb,
                        "SELECT setval(pg_get_serial_sequence('%s', '%s'), "
                        "greatest((SELECT max(%s) FROM %s), 1))",
                        t->name, t->cols[0].name, t->cols[0].name, t->name);
            t->sequence.pg = strbuf_detach(&sb, NULL);
        }
        while (t->cols[n].name)
            n++;
        t->names = xcalloc(n + 1, sizeof(*t->names));
        for (size_t c = 0; c < n; c++)
            t->names[c] = t->cols[c].name;
    }
}

static struct generic_table *generic_table(enum store_table id)
{
    pthread_once(&generic_once, generic_init);
    for (size_t i = 0; i < ARRAY_SIZE(generic); i++)
        if (generic[i].id == id)
            return &generic[i];
    return NULL;
}

int store_count_rows(struct store *st, enum store_table t, int64_t *out, struct strbuf *err)
{
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc;

    if ((unsigned)t >= STORE_TABLE_COUNT)
        BUG("invalid store table %d", (int)t);
    pthread_once(&generic_once, generic_init);
    *out = 0;
    rc = store_sql(st, &counts[t], NULL, 0, &rows, NULL, "count rows", err);
    if (!rc)
        rc = sql_rows_int(&rows, 0, 0, out, err);
    sql_rows_release(&rows);
    return rc;
}

bool store_table_is_generic(enum store_table t)
{
    return generic_table(t) != NULL;
}

const char *const *store_table_columns(enum store_table t)
{
    struct generic_table *g = generic_table(t);
    if (!g)
        BUG("store table %s is not generic", store_table_name(t));
    return g->names;
}

void store_rows_release(struct store_rows *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    memset(r, 0, sizeof(*r));
}

/* The canonical text of a cell of kind `k` as the backend gave it. */
static int canonical(const struct sql_rows *rows, size_t r, size_t c, enum sqlv_kind k, char **out,
                     struct strbuf *err)
{
    char buf[PRICE_BUFSZ];
    int64_t v;
    bool b;
    int rc = 0;

    *out = NULL;
    if (sql_rows_null(rows, r, c))
        return 0;
    switch (k) {
    case SQLV_PRICE:
        rc = sql_rows_price(rows, r, c, &v, err);
        if (!rc) {
            price_format_fixed(v, buf);
            *out = xstrdup(buf);
        }
        break;
    case SQLV_BOOL:
        rc = sql_rows_bool(rows, r, c, &b, err);
        if (!rc)
            *out = xstrdup(b ? "t" : "f");
        break;
    case SQLV_INT:
    case SQLV_TIME_MS:
        rc = sql_rows_int(rows, r, c, &v, err);
        if (!rc) {
            struct strbuf sb = STRBUF_INIT;
            strbuf_addf(&sb, "%lld", (long long)v);
            *out = strbuf_detach(&sb, NULL);
        }
        break;
    default:
        *out = sql_rows_strdup(rows, r, c);
        break;
    }
    return rc;
}

int store_rows_export(struct store *st, enum store_table t, const char *after, size_t limit,
                      struct store_rows *out, struct strbuf *err)
{
    struct generic_table *g = generic_table(t);
    struct sql_rows rows = SQL_ROWS_INIT;
    struct sqlv p[2];
    int64_t key;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!g)
        BUG("store table %s is not generic", store_table_name(t));
    if (!limit)
        BUG("store_rows_export without a limit");
    if (after && g->cols[0].kind == SQLV_INT) {
        if (parse_int64(after, INT64_MIN, INT64_MAX, &key)) {
            strbuf_addf(err, "store: bad key '%s' for table %s", after, g->name);
            return CK_EINVAL;
        }
        p[0] = SQLV_I(key);
    } else {
        p[0] = SQLV_S(after);
    }
    p[1] = SQLV_I((int64_t)limit);
    if (after)
        rc = store_sql(st, &g->after, p, 2, &rows, NULL, g->name, err);
    else
        rc = store_sql(st, &g->first, p, 2, &rows, NULL, g->name, err);
    if (rc) {
        sql_rows_release(&rows);
        return rc;
    }
    out->nrows = rows.nrows;
    out->ncols = rows.ncols;
    out->cells = xcalloc(rows.nrows * rows.ncols + 1, sizeof(*out->cells));
    for (size_t r = 0; r < rows.nrows && !rc; r++)
        for (size_t c = 0; c < rows.ncols && !rc; c++)
            rc = canonical(&rows, r, c, g->cols[c].kind, &out->cells[r * rows.ncols + c], err);
    sql_rows_release(&rows);
    if (rc)
        store_rows_release(out);
    return rc;
}

/* The parameter of a canonical cell. */
static int param(const struct generic_table *g, size_t c, const char *cell, struct sqlv *out,
                 struct strbuf *err)
{
    enum sqlv_kind k = g->cols[c].kind;
    int64_t v = 0;

    if (!cell) {
        *out = SQLV_N();
        return 0;
    }
    switch (k) {
    case SQLV_TEXT:
        *out = SQLV_S(cell);
        return 0;
    case SQLV_BOOL:
        if (strcmp(cell, "t") && strcmp(cell, "f"))
            break;
        *out = SQLV_B(!strcmp(cell, "t"));
        return 0;
    case SQLV_PRICE:
        if (price_parse(cell, strlen(cell), &v))
            break;
        *out = SQLV_P(v);
        return 0;
    default:
        if (parse_int64(cell, INT64_MIN, INT64_MAX, &v))
            break;
        *out = (struct sqlv){.kind = k, .i = v};
        return 0;
    }
    strbuf_addf(err, "store: bad value '%s' for %s.%s", cell, g->name, g->cols[c].name);
    return CK_EINVAL;
}

int store_rows_import(struct store *st, enum store_table t, const struct store_rows *rows,
                      unsigned flags, size_t *added, struct strbuf *err)
{
    struct generic_table *g = generic_table(t);
    const struct sql_stmt *ins;
    struct sqlv p[32];
    size_t ncols = 0, n = 0;
    bool owned;
    int rc;

    if (!g)
        BUG("store table %s is not generic", store_table_name(t));
    while (g->cols[ncols].name)
        ncols++;
    if (ncols > ARRAY_SIZE(p))
        BUG("table %s has %zu columns", g->name, ncols);
    if (rows->nrows && rows->ncols != ncols) {
        strbuf_addf(err, "store: %zu columns given for table %s, which has %zu", rows->ncols,
                    g->name, ncols);
        return CK_EINVAL;
    }
    ins = flags & STORE_IMPORT_SKIP_EXISTING ? &g->insert_skip : &g->insert;
    rc = store_implicit_begin(st, &owned, err);
    for (size_t r = 0; r < rows->nrows && !rc; r++) {
        int64_t changed = 0;
        for (size_t c = 0; c < ncols && !rc; c++)
            rc = param(g, c, rows->cells[r * ncols + c], &p[c], err);
        if (!rc)
            rc = store_sql(st, ins, p, ncols, NULL, &changed, g->name, err);
        n += (size_t)changed;
    }
    if (!rc && g->sequence.pg && rows->nrows)
        rc = store_sql(st, &g->sequence, NULL, 0, NULL, NULL, g->name, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (added)
        *added = rc ? 0 : n;
    return rc;
}
