/* SPDX-License-Identifier: MIT */
/*
 * Copying a store table by table, and verifying the copy (see migrate.h).
 *
 * Tables. Each table is described once, in tables[] below: how to read it
 * from a store in batches (a reader keeps the cursor), how to write a
 * batch to another store, and how to spell one row as canonical text. The
 * copy, the verification and the check that the target is empty are loops
 * over that array, so a new table (alert state, signals, outcomes, rate
 * budgets...) is an export and an import in the store, a reader, a writer
 * and a text function here, and one more line in the array. Tables whose
 * statements are generic (store_tables.c) need only the line. Tables are
 * copied in the array's order.
 *
 * Canonical text. A row is its fields in a fixed order, separated by tabs
 * and ended by a newline: integers and times in decimal (times in Unix
 * seconds, or milliseconds where the store keeps those), prices with
 * exactly eight decimals (as PostgreSQL prints NUMERIC(20,8)), a missing
 * volume as \N, booleans as t or f, enumerations by name, and strings with
 * backslash, tab, newline and carriage return escaped as \\ \t \n \r.
 * Ids that a store assigns never appear. The fields of each table are
 * listed at its text function.
 *
 * Canonical order. Candles are read series by series, the series ordered
 * by source, symbol (byte order) and timeframe, and each series by open
 * time: a unique key. Their digest is SHA-256 of the text of every row in
 * that order. The other tables have no key independent of the ids a store
 * assigns (two runs may differ in nothing but their id), so each row's
 * text is hashed on its own, the row digests are sorted bytewise, and the
 * table's digest is SHA-256 of the sorted row digests: the same rows give
 * the same digest however they were numbered or ordered, and a row that is
 * missing, added, doubled or changed changes it.
 *
 * Batches. Candles move in batches of 5,000 (the store's bulk upsert is
 * tuned for that size), other rows in batches of 1,000; each batch is one
 * transaction on the target, so an interrupted copy leaves whole batches.
 * Memory stays at one batch whatever the size of the store, but for the
 * 32-byte row digests of the tables without a key.
 *
 * Nothing here reads a clock, prints or logs; see migrate.h.
 */
#include "migrate/migrate.h"

#include "market/candle.h"
#include "market/price.h"
#include "market/timeframe.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define CANDLE_BATCH 5000
#define ROW_BATCH    1000

/* One batch of rows of one table; only the member of the table's kind is used. */
struct batch {
    size_t n;
    struct series_key series; /* candles: the series of every row (borrowed from the reader) */
    struct candle *candles;   /* kept between batches */
    size_t candles_alloc;
    struct gap_record *gaps;
    struct job_state *jobs;
    struct job_run *runs;
    struct store_rows rows; /* the generic tables, and which one */
    enum store_table table;
};

/* How far reading a table has got. */
struct reader {
    struct store *st;
    bool done; /* nothing more to read */
    /* candles: the series, the one being read, and where it resumes */
    struct series_info *series;
    size_t nseries, next_series;
    bool listed, resume;
    int64_t resume_at;
    /* tables read in pages of ids: the last id seen */
    int64_t after_id;
    /* the generic tables: which, and the last key seen */
    enum store_table table;
    char *after_key;
};

struct table {
    const char *name;
    enum store_table rows_in; /* the store table holding its rows, for counting */
    bool keyed;               /* read in key order: hashed as one text stream */
    /* Read the next batch into `b` (empty at the end), setting r->done when nothing follows. */
    int (*read)(struct reader *r, struct batch *b, struct strbuf *err);
    /* Write batch `b` to `to` (one transaction); `*added` gets the rows taken. */
    int (*write)(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                 struct strbuf *err);
    /* Append the canonical text of row `i` of `b`. */
    void (*text)(const struct batch *b, size_t i, struct strbuf *out);
    /* Drop the rows of `b` (memory worth keeping may be kept). */
    void (*clear)(struct batch *b);
};

/* --- canonical text ----------------------------------------------------- */

static void add_uint(struct strbuf *sb, uint64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    strbuf_add(sb, p, (size_t)(buf + sizeof(buf) - p));
}

static void add_int(struct strbuf *sb, int64_t v)
{
    if (v < 0)
        strbuf_addch(sb, '-');
    add_uint(sb, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* A price with exactly eight decimals: 206341000000 -> "2063.41000000". */
static void add_price(struct strbuf *sb, int64_t v)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t frac = a % (uint64_t)PRICE_SCALE;
    char digits[PRICE_DECIMALS];

    if (v < 0)
        strbuf_addch(sb, '-');
    add_uint(sb, a / (uint64_t)PRICE_SCALE);
    strbuf_addch(sb, '.');
    for (int i = PRICE_DECIMALS - 1; i >= 0; i--) {
        digits[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    strbuf_add(sb, digits, sizeof(digits));
}

static void add_text(struct strbuf *sb, const char *s)
{
    if (!s) {
        strbuf_addstr(sb, "\\N");
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            strbuf_addstr(sb, "\\\\");
            break;
        case '\t':
            strbuf_addstr(sb, "\\t");
            break;
        case '\n':
            strbuf_addstr(sb, "\\n");
            break;
        case '\r':
            strbuf_addstr(sb, "\\r");
            break;
        default:
            strbuf_addch(sb, *s);
        }
    }
}

#define TAB(sb) strbuf_addch((sb), '\t')

/* --- candles ------------------------------------------------------------ */

static int candles_read(struct reader *r, struct batch *b, struct strbuf *err)
{
    int rc;

    b->n = 0;
    if (!r->listed) {
        rc = store_list_series(r->st, &r->series, &r->nseries, err);
        if (rc)
            return rc;
        r->listed = true;
    }
    ALLOC_GROW(b->candles, CANDLE_BATCH, b->candles_alloc);
    while (r->next_series < r->nseries) {
        const struct series_info *si = &r->series[r->next_series];
        struct candle_query q = {
            .series = {.source = si->source, .symbol = si->symbol, .tf = si->tf},
            .has_start = r->resume,
            .start = r->resume_at,
            .limit = CANDLE_BATCH,
            .order = STORE_ASC,
        };
        struct candle_iter *it;
        struct candle c;

        rc = store_query_candles(r->st, &q, &it, err);
        if (rc)
            return rc;
        while ((rc = candle_iter_next(it, &c, err)) == ITER_OK) {
            if (b->n == CANDLE_BATCH)
                BUG("a candle query returned more than its limit");
            b->candles[b->n++] = c;
        }
        candle_iter_free(it);
        if (rc != ITER_DONE) {
            b->n = 0;
            return rc;
        }
        /* A full batch may have more behind it; a short one ends the series. */
        if (b->n == CANDLE_BATCH && b->candles[b->n - 1].open_time < INT64_MAX) {
            r->resume = true;
            r->resume_at = b->candles[b->n - 1].open_time + 1;
        } else {
            r->next_series++;
            r->resume = false;
        }
        if (b->n) {
            b->series = q.series;
            break;
        }
    }
    r->done = r->next_series >= r->nseries;
    return 0;
}

static int candles_write(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                         struct strbuf *err)
{
    /* An upsert: with flags or without, every candle sent is the target's now. */
    (void)flags;
    *added = b->n;
    return store_put_candles(to, &b->series, b->candles, b->n, err);
}

/* source, symbol, timeframe, open time, open, high, low, close, volume or \N */
static void candles_text(const struct batch *b, size_t i, struct strbuf *out)
{
    const struct candle *c = &b->candles[i];

    add_text(out, b->series.source);
    TAB(out);
    add_text(out, b->series.symbol);
    TAB(out);
    strbuf_addstr(out, timeframe_name(b->series.tf));
    TAB(out);
    add_int(out, c->open_time);
    TAB(out);
    add_price(out, c->open);
    TAB(out);
    add_price(out, c->high);
    TAB(out);
    add_price(out, c->low);
    TAB(out);
    add_price(out, c->close);
    TAB(out);
    if (c->has_volume)
        add_price(out, c->volume);
    else
        strbuf_addstr(out, "\\N");
    strbuf_addch(out, '\n');
}

static void candles_clear(struct batch *b)
{
    b->n = 0; /* the array is kept for the next batch */
}

/* --- the gap ledger ----------------------------------------------------- */

static int gaps_read(struct reader *r, struct batch *b, struct strbuf *err)
{
    int rc = store_export_gaps(r->st, r->after_id, ROW_BATCH, &b->gaps, &b->n, err);
    if (rc)
        return rc;
    if (b->n)
        r->after_id = b->gaps[b->n - 1].id;
    r->done = b->n < ROW_BATCH;
    return 0;
}

static int gaps_write(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                      struct strbuf *err)
{
    return store_import_gaps(to, b->gaps, b->n, flags, added, err);
}

/*
 * source, symbol, timeframe, first, last, count, state, reason, first seen, last checked,
 * repair attempts, first attempt
 */
static void gaps_text(const struct batch *b, size_t i, struct strbuf *out)
{
    const struct gap_record *g = &b->gaps[i];

    add_text(out, g->source);
    TAB(out);
    add_text(out, g->symbol);
    TAB(out);
    strbuf_addstr(out, timeframe_name(g->tf));
    TAB(out);
    add_int(out, g->first);
    TAB(out);
    add_int(out, g->last);
    TAB(out);
    add_int(out, g->count);
    TAB(out);
    strbuf_addstr(out, gap_state_name(g->state));
    TAB(out);
    add_text(out, g->reason);
    TAB(out);
    add_int(out, g->first_seen);
    TAB(out);
    add_int(out, g->last_checked);
    TAB(out);
    add_int(out, g->attempts);
    TAB(out);
    add_int(out, g->first_attempt);
    strbuf_addch(out, '\n');
}

static void gaps_clear(struct batch *b)
{
    gap_records_free(b->gaps, b->n);
    b->gaps = NULL;
    b->n = 0;
}

/* --- job state ---------------------------------------------------------- */

static int jobs_read(struct reader *r, struct batch *b, struct strbuf *err)
{
    /* One row per configured job: a handful, read at once. */
    int rc = store_job_list(r->st, &b->jobs, &b->n, err);
    r->done = true;
    return rc;
}

static int jobs_write(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                      struct strbuf *err)
{
    return store_import_jobs(to, b->jobs, b->n, flags, added, err);
}

/* job id, paused (t/f), streak, last fire (0: none), updated at, pause's end, reason, by */
static void jobs_text(const struct batch *b, size_t i, struct strbuf *out)
{
    const struct job_state *js = &b->jobs[i];

    add_text(out, js->job_id);
    TAB(out);
    strbuf_addch(out, js->paused ? 't' : 'f');
    TAB(out);
    add_int(out, js->streak);
    TAB(out);
    add_int(out, js->last_fire);
    TAB(out);
    add_int(out, js->updated_at);
    TAB(out);
    add_int(out, js->paused_until);
    TAB(out);
    add_text(out, js->pause_reason ? js->pause_reason : "");
    TAB(out);
    add_text(out, js->paused_by ? js->paused_by : "");
    strbuf_addch(out, '\n');
}

static void jobs_clear(struct batch *b)
{
    job_states_free(b->jobs, b->n);
    b->jobs = NULL;
    b->n = 0;
}

/* --- job history -------------------------------------------------------- */

static int runs_read(struct reader *r, struct batch *b, struct strbuf *err)
{
    int rc = store_export_job_runs(r->st, r->after_id, ROW_BATCH, &b->runs, &b->n, err);
    if (rc)
        return rc;
    if (b->n)
        r->after_id = b->runs[b->n - 1].id;
    r->done = b->n < ROW_BATCH;
    return 0;
}

static int runs_write(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                      struct strbuf *err)
{
    return store_import_job_runs(to, b->runs, b->n, flags, added, err);
}

/*
 * job id, instance, scheduled (s), started (ms), finished (ms, 0 while
 * running), status, message, details
 */
static void runs_text(const struct batch *b, size_t i, struct strbuf *out)
{
    const struct job_run *r = &b->runs[i];

    add_text(out, r->job_id);
    TAB(out);
    add_text(out, r->instance);
    TAB(out);
    add_int(out, r->scheduled);
    TAB(out);
    add_int(out, r->started);
    TAB(out);
    add_int(out, r->finished);
    TAB(out);
    strbuf_addstr(out, job_status_name(r->status));
    TAB(out);
    add_text(out, r->message);
    TAB(out);
    add_text(out, r->details);
    strbuf_addch(out, '\n');
}

static void runs_clear(struct batch *b)
{
    job_runs_free(b->runs, b->n);
    b->runs = NULL;
    b->n = 0;
}

/* --- the generic tables (alerts, outboxes, signals, outcomes, backtests) --- */

static int generic_read(struct reader *r, struct batch *b, struct strbuf *err)
{
    int rc = store_rows_export(r->st, r->table, r->after_key, ROW_BATCH, &b->rows, err);
    if (rc)
        return rc;
    b->n = b->rows.nrows;
    b->table = r->table;
    if (b->n) {
        const char *key = b->rows.cells[(b->n - 1) * b->rows.ncols];
        free(r->after_key);
        r->after_key = xstrdup(key ? key : "");
    }
    r->done = b->n < ROW_BATCH;
    return 0;
}

static int generic_write(struct store *to, const struct batch *b, unsigned flags, size_t *added,
                         struct strbuf *err)
{
    return store_rows_import(to, b->table, &b->rows, flags, added, err);
}

/* Every column of the table in its fixed order (store_table_columns()), keys and ids included. */
static void generic_text(const struct batch *b, size_t i, struct strbuf *out)
{
    for (size_t c = 0; c < b->rows.ncols; c++) {
        if (c)
            TAB(out);
        add_text(out, b->rows.cells[i * b->rows.ncols + c]);
    }
    strbuf_addch(out, '\n');
}

static void generic_clear(struct batch *b)
{
    store_rows_release(&b->rows);
    b->n = 0;
}

#define GENERIC_TABLE(t, n)                                                                        \
    {                                                                                              \
        .name = n, .rows_in = t, .read = generic_read, .write = generic_write,                     \
        .text = generic_text, .clear = generic_clear,                                              \
    }

/* The tables, in the order they are copied. Leases are left out on purpose (migrate.h). */
static const struct table tables[] = {
    {
        .name = "candles",
        .rows_in = STORE_TABLE_CANDLES,
        .keyed = true,
        .read = candles_read,
        .write = candles_write,
        .text = candles_text,
        .clear = candles_clear,
    },
    {
        .name = "gaps",
        .rows_in = STORE_TABLE_GAPS,
        .read = gaps_read,
        .write = gaps_write,
        .text = gaps_text,
        .clear = gaps_clear,
    },
    {
        .name = "jobs",
        .rows_in = STORE_TABLE_JOBS,
        .read = jobs_read,
        .write = jobs_write,
        .text = jobs_text,
        .clear = jobs_clear,
    },
    {
        .name = "job_runs",
        .rows_in = STORE_TABLE_JOB_RUNS,
        .read = runs_read,
        .write = runs_write,
        .text = runs_text,
        .clear = runs_clear,
    },
    GENERIC_TABLE(STORE_TABLE_ALERTS, "alerts"),
    GENERIC_TABLE(STORE_TABLE_ALERT_OUTBOX, "alert_outbox"),
    GENERIC_TABLE(STORE_TABLE_SIGNALS, "signals"),
    GENERIC_TABLE(STORE_TABLE_DELIVERIES, "deliveries"),
    GENERIC_TABLE(STORE_TABLE_DELIVERY_ATTEMPTS, "delivery_attempts"),
    GENERIC_TABLE(STORE_TABLE_OUTCOMES, "outcomes"),
    GENERIC_TABLE(STORE_TABLE_BACKTESTS, "backtests"),
    GENERIC_TABLE(STORE_TABLE_BREAKERS, "breakers"),
    GENERIC_TABLE(STORE_TABLE_BACKFILLS, "backfills"),
};

static void reader_release(struct reader *r)
{
    series_info_free(r->series, r->nseries);
    free(r->after_key);
    memset(r, 0, sizeof(*r));
}

static void batch_release(const struct table *t, struct batch *b)
{
    t->clear(b);
    free(b->candles);
    memset(b, 0, sizeof(*b));
}

/* --- digests ------------------------------------------------------------ */

/*
 * A table's digest in the making: a keyed table's text goes straight into
 * `ctx`; the others collect one digest per row, sorted at the end.
 */
struct summer {
    bool keyed;
    EVP_MD *md;
    EVP_MD_CTX *ctx, *row_ctx;
    unsigned char *digests; /* ndigests of MIGRATE_DIGEST_SIZE bytes */
    size_t ndigests, alloc; /* alloc in bytes */
    int64_t rows;
    struct strbuf text;
};

/*
 * libcrypto fails to compute SHA-256 only when it is broken or out of
 * memory, neither of which a caller could handle.
 */
static void crypto_check(int ok, const char *what)
{
    if (!ok)
        BUG("libcrypto: %s failed", what);
}

static void summer_init(struct summer *s, bool keyed)
{
    memset(s, 0, sizeof(*s));
    s->keyed = keyed;
    s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->ctx = EVP_MD_CTX_new();
    s->row_ctx = EVP_MD_CTX_new();
    crypto_check(s->md && s->ctx && s->row_ctx, "SHA-256 set-up");
    crypto_check(EVP_DigestInit_ex(s->ctx, s->md, NULL), "EVP_DigestInit_ex");
    strbuf_init(&s->text, 0);
}

static void summer_add(struct summer *s, const struct table *t, const struct batch *b)
{
    strbuf_reset(&s->text);
    if (s->keyed) {
        for (size_t i = 0; i < b->n; i++)
            t->text(b, i, &s->text);
        crypto_check(EVP_DigestUpdate(s->ctx, s->text.buf, s->text.len), "EVP_DigestUpdate");
    } else {
        ALLOC_GROW(s->digests, (s->ndigests + b->n) * MIGRATE_DIGEST_SIZE, s->alloc);
        for (size_t i = 0; i < b->n; i++) {
            unsigned char *d = s->digests + (s->ndigests++) * MIGRATE_DIGEST_SIZE;
            strbuf_reset(&s->text);
            t->text(b, i, &s->text);
            crypto_check(EVP_DigestInit_ex(s->row_ctx, s->md, NULL) &&
                             EVP_DigestUpdate(s->row_ctx, s->text.buf, s->text.len) &&
                             EVP_DigestFinal_ex(s->row_ctx, d, NULL),
                         "SHA-256 of a row");
        }
    }
    s->rows += (int64_t)b->n;
}

static int digest_cmp(const void *a, const void *b)
{
    return memcmp(a, b, MIGRATE_DIGEST_SIZE);
}

static void summer_finish(struct summer *s, struct migrate_sum *out)
{
    if (!s->keyed && s->ndigests) {
        qsort(s->digests, s->ndigests, MIGRATE_DIGEST_SIZE, digest_cmp);
        crypto_check(EVP_DigestUpdate(s->ctx, s->digests, s->ndigests * MIGRATE_DIGEST_SIZE),
                     "EVP_DigestUpdate");
    }
    crypto_check(EVP_DigestFinal_ex(s->ctx, out->digest, NULL), "EVP_DigestFinal_ex");
    out->rows = s->rows;
}

static void summer_release(struct summer *s)
{
    EVP_MD_CTX_free(s->ctx);
    EVP_MD_CTX_free(s->row_ctx);
    EVP_MD_free(s->md);
    free(s->digests);
    strbuf_release(&s->text);
    memset(s, 0, sizeof(*s));
}

/* --- copy and verify ---------------------------------------------------- */

/* Append "cannot VERB TABLE PREP the SIDE 'NAME': WHY" to `err`; returns rc. */
static int side_failed(struct strbuf *err, int rc, const char *verb, const char *table,
                       const char *prep, bool source, const struct migrate_opts *o,
                       const struct strbuf *why)
{
    strbuf_addf(err, "cannot %s %s %s the %s '%s': %s", verb, table, prep,
                source ? "source" : "target", source ? o->from_name : o->to_name, why->buf);
    return rc;
}

static void report(const struct migrate_opts *o, struct migrate_progress *p, enum migrate_event ev)
{
    p->event = ev;
    if (o->progress)
        o->progress(o->progress_arg, p);
}

/* Copy table `t`, summing the source's rows as they are written. */
static int copy_table(const struct migrate_opts *o, const struct table *t,
                      struct migrate_table_result *res, struct strbuf *err)
{
    struct migrate_progress p = {.stage = MIGRATE_COPY, .table = t->name};
    unsigned iflags = o->flags & MIGRATE_FORCE ? STORE_IMPORT_SKIP_EXISTING : 0;
    struct strbuf why = STRBUF_INIT;
    struct reader r = {.st = o->from, .table = t->rows_in};
    struct batch b = {0};
    struct summer sum;
    int rc;

    rc = store_count_rows(o->from, t->rows_in, &p.total, &why);
    if (rc) {
        rc = side_failed(err, rc, "count", t->name, "in", true, o, &why);
        strbuf_release(&why);
        return rc;
    }
    report(o, &p, MIGRATE_TABLE_START);
    summer_init(&sum, t->keyed);
    while (!r.done) {
        size_t added = 0;
        rc = t->read(&r, &b, &why);
        if (rc) {
            side_failed(err, rc, "read", t->name, "from", true, o, &why);
            break;
        }
        if (!b.n)
            break;
        rc = t->write(o->to, &b, iflags, &added, &why);
        if (rc) {
            side_failed(err, rc, "write", t->name, "to", false, o, &why);
            break;
        }
        summer_add(&sum, t, &b);
        p.done += (int64_t)b.n;
        p.added += (int64_t)added;
        t->clear(&b);
        report(o, &p, MIGRATE_TABLE_ROWS);
    }
    res->read = p.done;
    res->added = p.added;
    if (!rc) {
        summer_finish(&sum, &res->source);
        report(o, &p, MIGRATE_TABLE_DONE);
    }
    summer_release(&sum);
    batch_release(t, &b);
    reader_release(&r);
    strbuf_release(&why);
    return rc;
}

/* Read table `t` of one side and sum it. */
static int sum_table(const struct migrate_opts *o, const struct table *t, bool source,
                     struct migrate_sum *out, struct strbuf *err)
{
    struct migrate_progress p = {
        .stage = source ? MIGRATE_VERIFY_SOURCE : MIGRATE_VERIFY_TARGET,
        .table = t->name,
    };
    struct store *st = source ? o->from : o->to;
    struct strbuf why = STRBUF_INIT;
    struct reader r = {.st = st, .table = t->rows_in};
    struct batch b = {0};
    struct summer sum;
    int rc;

    rc = store_count_rows(st, t->rows_in, &p.total, &why);
    if (rc) {
        rc = side_failed(err, rc, "count", t->name, "in", source, o, &why);
        strbuf_release(&why);
        return rc;
    }
    report(o, &p, MIGRATE_TABLE_START);
    summer_init(&sum, t->keyed);
    while (!r.done) {
        rc = t->read(&r, &b, &why);
        if (rc) {
            side_failed(err, rc, "read", t->name, "from", source, o, &why);
            break;
        }
        if (!b.n)
            break;
        summer_add(&sum, t, &b);
        p.done += (int64_t)b.n;
        t->clear(&b);
        report(o, &p, MIGRATE_TABLE_ROWS);
    }
    if (!rc) {
        summer_finish(&sum, out);
        report(o, &p, MIGRATE_TABLE_DONE);
    }
    summer_release(&sum);
    batch_release(t, &b);
    reader_release(&r);
    strbuf_release(&why);
    return rc;
}

/* Refuse a target that holds any series or any row of a copied table. */
static int check_target_empty(const struct migrate_opts *o, struct strbuf *err)
{
    struct strbuf held = STRBUF_INIT, why = STRBUF_INIT;
    int64_t n;
    int rc;

    /* The series first: a series without candles is data all the same. */
    for (size_t i = 0; i <= ARRAY_SIZE(tables); i++) {
        enum store_table st = i ? tables[i - 1].rows_in : STORE_TABLE_SERIES;
        rc = store_count_rows(o->to, st, &n, &why);
        if (rc) {
            rc = side_failed(err, rc, "count", store_table_name(st), "in", false, o, &why);
            goto out;
        }
        if (n)
            strbuf_addf(&held, "%s%lld %s", held.len ? ", " : "", (long long)n,
                        store_table_name(st));
    }
    if (held.len) {
        strbuf_addf(err, "the target '%s' holds data already (%s)", o->to_name, held.buf);
        rc = CK_ECONFLICT;
    }
out:
    strbuf_release(&held);
    strbuf_release(&why);
    return rc;
}

int migrate_run(const struct migrate_opts *o, struct migrate_report *out, struct strbuf *err)
{
    bool verify_only = o->flags & MIGRATE_VERIFY_ONLY;
    int rc = 0;

    out->v = xcalloc(ARRAY_SIZE(tables), sizeof(*out->v));
    out->n = 0;
    if (!(o->flags & (MIGRATE_FORCE | MIGRATE_VERIFY_ONLY))) {
        rc = check_target_empty(o, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < ARRAY_SIZE(tables) && !rc; i++) {
        struct migrate_table_result *res = &out->v[out->n++];
        res->table = tables[i].name;
        if (verify_only)
            rc = sum_table(o, &tables[i], true, &res->source, err);
        else
            rc = copy_table(o, &tables[i], res, err);
    }
    for (size_t i = 0; i < ARRAY_SIZE(tables) && !rc; i++)
        rc = sum_table(o, &tables[i], false, &out->v[i].target, err);
    return rc;
}

int migrate_sum_store(struct store *st, const char *name, migrate_progress_fn *progress,
                      void *progress_arg, struct migrate_report *out, struct strbuf *err)
{
    struct migrate_opts o = {
        .from = st,
        .from_name = name,
        .flags = MIGRATE_VERIFY_ONLY,
        .progress = progress,
        .progress_arg = progress_arg,
    };
    int rc = 0;

    out->v = xcalloc(ARRAY_SIZE(tables), sizeof(*out->v));
    out->n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(tables) && !rc; i++) {
        struct migrate_table_result *res = &out->v[out->n++];
        res->table = tables[i].name;
        rc = sum_table(&o, &tables[i], true, &res->source, err);
    }
    return rc;
}

int migrate_check_empty(struct store *st, const char *name, struct strbuf *err)
{
    struct migrate_opts o = {.to = st, .to_name = name};
    return check_target_empty(&o, err);
}

void migrate_report_release(struct migrate_report *r)
{
    if (!r)
        return;
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

bool migrate_table_ok(const struct migrate_table_result *t)
{
    return t->source.rows == t->target.rows &&
           !memcmp(t->source.digest, t->target.digest, MIGRATE_DIGEST_SIZE);
}

bool migrate_report_ok(const struct migrate_report *r)
{
    if (r->n != ARRAY_SIZE(tables))
        return false;
    for (size_t i = 0; i < r->n; i++)
        if (!migrate_table_ok(&r->v[i]))
            return false;
    return true;
}

void migrate_digest_hex(const struct migrate_sum *s, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[s->digest[i] >> 4];
        out[2 * i + 1] = hex[s->digest[i] & 0xf];
    }
    out[16] = '\0';
}
