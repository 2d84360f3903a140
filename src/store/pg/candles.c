/* SPDX-License-Identifier: MIT */
/*
 * Candles in the PostgreSQL backend: writing, range queries in pages,
 * counts, retention deletes and the list of series.
 *
 * Writing candles. The series row is locked (FOR NO KEY UPDATE) for the
 * rest of the transaction, so candlekeep's writers of one series take
 * turns. A chunk of candles whose time range holds no stored candle (a
 * backfill, the candles after the newest, a gap repair: nearly every
 * write) is then loaded with COPY straight into candles; any other chunk
 * is upserted with one INSERT ... SELECT FROM unnest($2::timestamptz[],
 * $3::numeric[], ...) ON CONFLICT (series_id, open_time) DO UPDATE ...
 * WHERE the values differ. Measured with bench_ingest's workload
 * (1,000,000 M15 candles in batches of 5,000, one transaction each: a
 * fresh, an unchanged and a changed pass) on the 2-core development
 * machine, PostgreSQL 15, a new tests/helpers/pg_cluster.sh cluster for
 * every run, two runs each, in thousands of candles per second:
 *
 *                                              fresh    unchanged  changed
 *   with candles.series_id a foreign key:
 *   (a) COPY into a temp table, then
 *       INSERT ... SELECT ... ON CONFLICT      114-114  215-239    131-137
 *   (b) unnest(arrays) ... ON CONFLICT         131-133  284-286    128-152
 *   (c) COPY if the range is new, else (b)     145-171  230-235    131-132
 *   without it:
 *   (a)                                        180-181  228-228    133-135
 *   (b)                                        187-194  232-238    133-140
 *   (c) (kept)                                 356-361  229-232    103-137
 *
 * and on a warm cluster already holding 3,000,000 candles, the three
 * taking turns (fresh only): (a) 110-131, (b) 100-160, (c) 215-273. The
 * staging table never pays for its extra round trips; COPY straight into
 * the table does, because it inserts a page of rows at a time, but only
 * without the foreign key, which PostgreSQL checks row by row at a cost
 * larger than the insert itself. So candles.series_id is not declared one
 * (migration 1 says how integrity is kept instead).
 */
#include "store/pg/pg_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* --- candles ----------------------------------------------------------- */

void pg_add_series_name(struct strbuf *sb, const struct series_key *s)
{
    strbuf_addf(sb, "%s %s %s", s->source, s->symbol, timeframe_name(s->tf));
}

/*
 * The id of series `s`, which is added when missing, with the row locked
 * until the transaction ends. Only for writers.
 */
int pg_series_id(struct pg_store *ps, const struct series_key *s, int64_t *out, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_series(&p, s);
    /* Look, add, look again: a concurrent writer may add it between the first two. */
    for (int step = 0; step < 3; step++) {
        bool add = step == 1;
        rc = pg_run(ps, add ? PG_SERIES_ADD : PG_SERIES_GET, &p, &res, err, "%s series '%s %s %s'",
                    add ? "add" : "look up", s->source, s->symbol, timeframe_name(s->tf));
        if (rc)
            return rc;
        if (PQntuples(res) == 1) {
            rc = pg_get_int(ps, res, 0, 0, out, err);
            PQclear(res);
            return rc;
        }
        PQclear(res);
    }
    /* Added by another writer and deleted again at once: give up for now. */
    strbuf_addstr(err, "store: series '");
    pg_add_series_name(err, s);
    strbuf_addstr(err, "' changed under the store; try again");
    return CK_EBUSY;
}

struct pg_order {
    int64_t t;
    size_t i;
};

static int pg_order_cmp(const void *a, const void *b)
{
    const struct pg_order *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * The candles to send, ascending by open time with one candle per time:
 * when a batch names the same time twice the later one wins, as it would
 * if the candles were upserted one by one (a single INSERT ... ON CONFLICT
 * cannot update a row twice). Returns `c` itself when it is already in
 * order, else a new array in *owned (the caller frees it).
 */
static const struct candle *pg_normalise(const struct candle *c, size_t *n, struct candle **owned)
{
    struct pg_order *ord;
    struct candle *v;
    size_t m = 0;
    bool sorted = true;

    *owned = NULL;
    for (size_t i = 1; i < *n && sorted; i++)
        sorted = c[i - 1].open_time < c[i].open_time;
    if (sorted)
        return c;
    ord = xmalloc(*n * sizeof(*ord));
    for (size_t i = 0; i < *n; i++)
        ord[i] = (struct pg_order){.t = c[i].open_time, .i = i};
    qsort(ord, *n, sizeof(*ord), pg_order_cmp);
    v = xmalloc(*n * sizeof(*v));
    for (size_t i = 0; i < *n; i++) {
        if (i + 1 < *n && ord[i + 1].t == ord[i].t)
            continue; /* a later candle of the same time follows */
        v[m++] = c[ord[i].i];
    }
    free(ord);
    *n = m;
    *owned = v;
    return v;
}

static void pg_add_price(struct strbuf *sb, int64_t v)
{
    char buf[PRICE_BUFSZ];
    size_t len = price_format_fixed(v, buf);
    strbuf_add(sb, buf, len);
}

/*
 * Upsert c[0..n) (ascending, distinct times) with one statement: INSERT ...
 * SELECT FROM unnest(arrays) ... ON CONFLICT DO UPDATE. The times travel as
 * a binary timestamptz[] (one dimension, no NULLs, element type 1184), the
 * prices as text numeric[] literals with eight decimals.
 */
static int pg_upsert(struct pg_store *ps, int64_t series_id, const struct series_key *s,
                     const struct candle *c, size_t n, struct strbuf *err)
{
    struct strbuf *times = &ps->cols[0];
    struct pg_params p = {0};
    PGresult *res;
    char hdr[20];
    int rc, slot;

    strbuf_reset(times);
    pg_put_be32(hdr, 1);
    pg_put_be32(hdr + 4, 0);
    pg_put_be32(hdr + 8, 1184);
    pg_put_be32(hdr + 12, (uint32_t)n);
    pg_put_be32(hdr + 16, 1);
    strbuf_add(times, hdr, sizeof(hdr));
    strbuf_grow(times, n * 12);
    for (int k = 1; k < 6; k++) {
        strbuf_reset(&ps->cols[k]);
        strbuf_grow(&ps->cols[k], n * 16 + 2);
        strbuf_addch(&ps->cols[k], '{');
    }
    for (size_t i = 0; i < n; i++) {
        char elem[12];
        pg_put_be32(elem, 8);
        pg_put_be64(elem + 4, (uint64_t)pg_time_value(c[i].open_time));
        strbuf_add(times, elem, sizeof(elem));
        if (i) {
            for (int k = 1; k < 6; k++)
                strbuf_addch(&ps->cols[k], ',');
        }
        pg_add_price(&ps->cols[1], c[i].open);
        pg_add_price(&ps->cols[2], c[i].high);
        pg_add_price(&ps->cols[3], c[i].low);
        pg_add_price(&ps->cols[4], c[i].close);
        if (c[i].has_volume)
            pg_add_price(&ps->cols[5], c[i].volume);
        else
            strbuf_addstr(&ps->cols[5], "NULL");
    }
    for (int k = 1; k < 6; k++)
        strbuf_addch(&ps->cols[k], '}');

    pg_param_int(&p, series_id);
    slot = pg_param_slot(&p);
    p.values[slot] = times->buf;
    p.lengths[slot] = (int)times->len;
    p.formats[slot] = 1;
    for (int k = 1; k < 6; k++)
        pg_param_text(&p, ps->cols[k].buf);
    rc = pg_run(ps, PG_UPSERT, &p, &res, err, "upsert candles of '%s %s %s'", s->source, s->symbol,
                timeframe_name(s->tf));
    PQclear(res);
    return rc;
}

/* "2024-01-02 15:00:00+00": exact, and independent of the session's TimeZone and DateStyle. */
static void pg_add_copy_time(struct strbuf *sb, int64_t t)
{
    struct civil_time ct;
    char buf[40];
    int len;

    time_to_civil(t, &ct);
    len = snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d+00", ct.year, ct.month, ct.day,
                   ct.hour, ct.min, ct.sec);
    strbuf_add(sb, buf, (size_t)len);
}

/*
 * Insert c[0..n), none of which exists yet, with COPY (text format)
 * straight into candles: COPY inserts rows a page at a time, which makes
 * it the fastest way in (see the measurements at the top).
 */
static int pg_insert_copy(struct pg_store *ps, int64_t series_id, const struct series_key *s,
                          const struct candle *c, size_t n, struct strbuf *err)
{
    struct strbuf *data = &ps->cols[0];
    PGresult *res;
    char id[24];
    int idlen = snprintf(id, sizeof(id), "%lld\t", (long long)series_id);
    int rc = 0;

    strbuf_reset(data);
    strbuf_grow(data, n * 100);
    for (size_t i = 0; i < n; i++) {
        strbuf_add(data, id, (size_t)idlen);
        pg_add_copy_time(data, c[i].open_time);
        strbuf_addch(data, '\t');
        pg_add_price(data, c[i].open);
        strbuf_addch(data, '\t');
        pg_add_price(data, c[i].high);
        strbuf_addch(data, '\t');
        pg_add_price(data, c[i].low);
        strbuf_addch(data, '\t');
        pg_add_price(data, c[i].close);
        strbuf_addch(data, '\t');
        if (c[i].has_volume)
            pg_add_price(data, c[i].volume);
        else
            strbuf_addstr(data, "\\N");
        strbuf_addch(data, '\n');
    }

    strbuf_reset(&ps->scratch);
    strbuf_addf(&ps->scratch, "insert candles of '%s %s %s'", s->source, s->symbol,
                timeframe_name(s->tf));
    res = PQexec(ps->conn, "COPY candles (series_id, open_time, open, high, low, close, volume) "
                           "FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = pg_result_error(ps, res, ps->scratch.buf, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    if (PQputCopyData(ps->conn, data->buf, (int)data->len) != 1 ||
        PQputCopyEnd(ps->conn, NULL) != 1) {
        strbuf_addf(err, "store: cannot %s: ", ps->scratch.buf);
        pg_add_conn_error(ps, err);
        rc = CK_EIO;
    }
    /* The COPY's own result, then NULL; drain whatever comes. */
    while ((res = PQgetResult(ps->conn))) {
        if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_result_error(ps, res, ps->scratch.buf, err);
        PQclear(res);
        if (PQstatus(ps->conn) == CONNECTION_BAD)
            break;
    }
    return rc;
}

/* Does series `id` hold a candle with first <= open_time <= last? */
static int pg_range_used(struct pg_store *ps, int64_t id, int64_t first, int64_t last, bool *out,
                         struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_int(&p, id);
    pg_param_time(&p, first);
    pg_param_time(&p, last);
    rc = pg_run(ps, PG_RANGE_USED, &p, &res, err, "look for stored candles");
    if (rc)
        return rc;
    *out = strcmp(PQgetvalue(res, 0, 0), "f") != 0;
    PQclear(res);
    return 0;
}

/*
 * The write path. The series is looked up (or added) and its row locked
 * until the transaction ends, so candlekeep's writers of one series take
 * turns. Then each chunk of the sorted candles whose time range holds no
 * stored candle yet (a backfill, the candles after the newest, a gap
 * repair) is inserted with COPY; the lock guarantees that no other writer
 * adds one of those times before this transaction ends. A chunk that
 * overlaps stored candles is upserted instead.
 */
int pg_put_candles(struct store *st, const struct series_key *s, const struct candle *c, size_t n,
                   struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct candle *owned = NULL;
    int64_t series_id;
    int rc;

    /* Candles written here may be older than a retention mark: start afresh. */
    memset(ps->marks, 0, sizeof(ps->marks));
    for (size_t i = 0; i < n; i++) {
        if (!pg_time_storable(c[i].open_time)) {
            strbuf_addf(err, "store: open time %lld of a candle of '", (long long)c[i].open_time);
            pg_add_series_name(err, s);
            strbuf_addstr(err, "' is outside the years 1 to 9999");
            return CK_EINVAL;
        }
    }
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    c = pg_normalise(c, &n, &owned);
    rc = pg_series_id(ps, s, &series_id, err);
    for (size_t off = 0; !rc && off < n; off += PG_UPSERT_CHUNK) {
        size_t m = n - off < PG_UPSERT_CHUNK ? n - off : PG_UPSERT_CHUNK;
        bool used;
        rc = pg_range_used(ps, series_id, c[off].open_time, c[off + m - 1].open_time, &used, err);
        if (rc)
            break;
        if (used)
            rc = pg_upsert(ps, series_id, s, c + off, m, err);
        else
            rc = pg_insert_copy(ps, series_id, s, c + off, m, err);
    }
    free(owned);
    return rc;
}

int pg_latest_time(struct store *st, const struct series_key *s, int64_t *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_series(&p, s);
    rc = pg_run(ps, PG_LATEST, &p, &res, err, "read the newest candle of '%s %s %s'", s->source,
                s->symbol, timeframe_name(s->tf));
    if (rc)
        return rc;
    if (PQgetisnull(res, 0, 0)) {
        strbuf_addstr(err, "store: no candles of '");
        pg_add_series_name(err, s);
        strbuf_addch(err, '\'');
        rc = CK_ENOTFOUND;
    } else {
        rc = pg_get_int(ps, res, 0, 0, out, err);
    }
    PQclear(res);
    return rc;
}

/*
 * The query iterator reads the result in pages of PG_PAGE_ROWS, each page
 * a fresh query that resumes after the last open time seen (keyset
 * paging). Memory stays bounded for any range, no server-side cursor ties
 * the connection to the iterator, and the store can be used between calls.
 */
struct pg_candle_iter {
    struct candle_iter base;
    struct pg_store *ps;
    char *source, *symbol;
    enum timeframe tf;
    bool desc;
    int64_t lo, hi;      /* bounds still to read, inclusive */
    bool has_lo, has_hi; /* false: unbounded on that side */
    size_t remaining;    /* candles still wanted (SIZE_MAX: all) */
    PGresult *res;
    int row, nrows;
    bool last_page;
};

static int pg_iter_fetch(struct pg_candle_iter *it, struct strbuf *err)
{
    struct pg_store *ps = it->ps;
    struct series_key s = {.source = it->source, .symbol = it->symbol, .tf = it->tf};
    struct pg_params p = {0};
    size_t want = it->remaining < PG_PAGE_ROWS ? it->remaining : PG_PAGE_ROWS;
    int rc;

    PQclear(it->res);
    it->res = NULL;
    it->row = it->nrows = 0;
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pg_param_series(&p, &s);
    pg_param_time(&p, it->has_lo ? it->lo : INT64_MIN);
    pg_param_time(&p, it->has_hi ? it->hi : INT64_MAX);
    pg_param_int(&p, (int64_t)want);
    rc = pg_run(ps, it->desc ? PG_QUERY_DESC : PG_QUERY_ASC, &p, &it->res, err,
                "query candles of '%s %s %s'", s.source, s.symbol, timeframe_name(s.tf));
    if (rc)
        return rc;
    it->nrows = PQntuples(it->res);
    it->last_page = (size_t)it->nrows < want;
    return 0;
}

static int pg_iter_next(struct candle_iter *base, struct candle *out, struct strbuf *err)
{
    struct pg_candle_iter *it = (struct pg_candle_iter *)base;
    const PGresult *res;
    struct candle c = {0};
    int rc, r;

    if (it->row >= it->nrows) {
        if (it->last_page || !it->remaining)
            return ITER_DONE;
        rc = pg_iter_fetch(it, err);
        if (rc)
            return rc;
        if (!it->nrows)
            return ITER_DONE;
    }
    res = it->res;
    r = it->row;
    rc = pg_get_int(it->ps, res, r, 0, &c.open_time, err);
    if (!rc)
        rc = pg_get_price(it->ps, res, r, 1, &c.open, err);
    if (!rc)
        rc = pg_get_price(it->ps, res, r, 2, &c.high, err);
    if (!rc)
        rc = pg_get_price(it->ps, res, r, 3, &c.low, err);
    if (!rc)
        rc = pg_get_price(it->ps, res, r, 4, &c.close, err);
    if (!rc && !PQgetisnull(res, r, 5)) {
        c.has_volume = true;
        rc = pg_get_price(it->ps, res, r, 5, &c.volume, err);
    }
    if (rc)
        return rc;
    it->row++;
    if (it->remaining != SIZE_MAX)
        it->remaining--;
    /* Times are whole seconds, so the next page starts one second on. */
    if (it->desc) {
        it->has_hi = true;
        it->hi = c.open_time - 1;
    } else {
        it->has_lo = true;
        it->lo = c.open_time + 1;
    }
    *out = c;
    return ITER_OK;
}

static void pg_iter_free(struct candle_iter *base)
{
    struct pg_candle_iter *it = (struct pg_candle_iter *)base;
    PQclear(it->res);
    free(it->source);
    free(it->symbol);
    free(it);
}

int pg_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                     struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_candle_iter *it = xcalloc(1, sizeof(*it));
    int rc;

    it->base.next = pg_iter_next;
    it->base.free = pg_iter_free;
    it->ps = ps;
    it->source = xstrdup(q->series.source);
    it->symbol = xstrdup(q->series.symbol);
    it->tf = q->series.tf;
    it->desc = q->order == STORE_DESC;
    it->has_lo = q->has_start;
    it->lo = q->start;
    it->has_hi = q->has_end;
    it->hi = q->end;
    it->remaining = q->limit ? q->limit : SIZE_MAX;
    /* The first page is read now, so that a failing query fails here. */
    rc = pg_iter_fetch(it, err);
    if (rc) {
        pg_iter_free(&it->base);
        return rc;
    }
    *out = &it->base;
    return 0;
}

int pg_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                     struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_series(&p, &q->series);
    pg_param_time(&p, q->has_start ? q->start : INT64_MIN);
    pg_param_time(&p, q->has_end ? q->end : INT64_MAX);
    rc = pg_run(ps, PG_COUNT, &p, &res, err, "count candles of '%s %s %s'", q->series.source,
                q->series.symbol, timeframe_name(q->series.tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, out, err);
    PQclear(res);
    return rc;
}

int pg_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                     struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_series(&p, &q->series);
    pg_param_time(&p, q->has_start ? q->start : INT64_MIN);
    pg_param_time(&p, q->has_end ? q->end : INT64_MAX);
    rc = pg_run(ps, PG_EXTENT, &p, &res, err, "measure candles of '%s %s %s'", q->series.source,
                q->series.symbol, timeframe_name(q->series.tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &out->count, err);
    if (!rc && out->count && !PQgetisnull(res, 0, 1))
        rc = pg_get_int(ps, res, 0, 1, &out->first, err);
    if (!rc && out->count && !PQgetisnull(res, 0, 2))
        rc = pg_get_int(ps, res, 0, 2, &out->last, err);
    PQclear(res);
    return rc;
}

static int64_t pg_be64(const char *v)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | (unsigned char)v[i];
    return (int64_t)u;
}

/* A timestamptz's binary value (big-endian microseconds since 2000) as Unix seconds. */
static bool pg_binary_time(const char *v, int len, int64_t *out)
{
    int64_t us, q, r;

    if (len != 8)
        return false;
    us = pg_be64(v);
    if (us == INT64_MIN || us == INT64_MAX) /* -infinity, infinity */
        return false;
    /* Rounded half away from zero, as extract(epoch FROM t)::bigint does. */
    us += PG_EPOCH_UNIX * 1000000;
    q = us / 1000000;
    r = us % 1000000;
    if (r >= 500000)
        q++;
    else if (r <= -500000)
        q--;
    *out = q;
    return true;
}

static void pg_param_raw_time(struct pg_params *p, int64_t value)
{
    int i = pg_param_slot(p);
    pg_put_be64(p->bin[i], (uint64_t)value);
    p->values[i] = p->bin[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

/*
 * The open times in pages of PG_TIMES_PAGE, each a query resuming one
 * microsecond after the last time of the page before (keyset paging, as
 * the candle iterator): a long range never makes one huge result.
 */
int pg_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                    struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    const struct series_key *s = &q->series;
    int64_t lo = pg_time_value(q->has_start ? q->start : INT64_MIN);
    int64_t hi = pg_time_value(q->has_end ? q->end : INT64_MAX);
    size_t alloc = 0;
    int rc = pg_ready(ps, err);

    while (!rc) {
        struct pg_params p = {0};
        PGresult *res;
        int rows;

        pg_param_series(&p, s);
        pg_param_raw_time(&p, lo);
        pg_param_raw_time(&p, hi);
        pg_param_int(&p, PG_TIMES_PAGE);
        rc = pg_run_binary(ps, PG_TIMES, &p, &res, err, "read open times of '%s %s %s'", s->source,
                           s->symbol, timeframe_name(s->tf));
        if (rc)
            break;
        rows = PQntuples(res);
        ALLOC_GROW(*out, *n + (size_t)rows, alloc);
        for (int r = 0; r < rows; r++) {
            const char *v = PQgetvalue(res, r, 0);
            if (!pg_binary_time(v, PQgetlength(res, r, 0), &(*out)[*n])) {
                strbuf_addf(err, "store: unexpected open time in a candle of '");
                pg_add_series_name(err, s);
                strbuf_addf(err, "' from '%s'", ps->redacted);
                rc = CK_EPARSE;
                break;
            }
            (*n)++;
        }
        if (!rc && rows)
            lo = pg_be64(PQgetvalue(res, rows - 1, 0)) + 1;
        PQclear(res);
        if (rows < PG_TIMES_PAGE)
            break;
    }
    return rc;
}

/* The number of rows a DELETE reports. */
static int pg_deleted_count(struct pg_store *ps, PGresult *res, int64_t *out, struct strbuf *err)
{
    if (parse_int64(PQcmdTuples(res), 0, INT64_MAX, out)) {
        strbuf_addf(err, "store: unexpected row count '%s' from '%s'", PQcmdTuples(res),
                    ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

/* The mark of `series` for cutoff `before`: a fresh one (from the beginning) unless kept. */
static struct pg_delete_mark *pg_delete_mark(struct pg_store *ps, int64_t series, int64_t before)
{
    struct pg_delete_mark *m;

    for (size_t i = 0; i < ARRAY_SIZE(ps->marks); i++) {
        m = &ps->marks[i];
        if (m->set && m->series == series && m->before == before)
            return m;
    }
    m = &ps->marks[ps->next_mark++ % ARRAY_SIZE(ps->marks)];
    *m =
        (struct pg_delete_mark){.set = true, .series = series, .before = before, .from = INT64_MIN};
    return m;
}

/*
 * The oldest candle of series `id` from its mark on, or the cutoff when it
 * has none before it (then the mark says so).
 */
static int pg_delete_start(struct pg_store *ps, enum timeframe tf, int64_t id, int64_t before,
                           struct pg_delete_mark *mark, struct strbuf *err)
{
    struct pg_params q = {0};
    PGresult *res;
    int rc;

    pg_param_int(&q, id);
    pg_param_time(&q, mark->from);
    rc = pg_run(ps, PG_SERIES_OLDEST, &q, &res, err, "find the oldest %s candle",
                timeframe_name(tf));
    if (rc)
        return rc;
    if (PQgetisnull(res, 0, 0))
        mark->from = before;
    else
        rc = pg_get_int(ps, res, 0, 0, &mark->from, err);
    if (!rc && mark->from > before)
        mark->from = before;
    PQclear(res);
    return rc;
}

/*
 * Delete at most `want` candles of series `id` from its mark on, which
 * then moves past them; `*n` gets how many went. `counted`: exactly the
 * oldest `want` (PG_DELETE_COUNTED), else one window of `want` periods
 * from the oldest (PG_DELETE_WINDOW). A short count means the series has
 * nothing left before the cutoff, except for a window, where gaps make it
 * short too; a window that deletes nothing means the same.
 */
static int pg_delete_some(struct pg_store *ps, enum timeframe tf, int64_t id, int64_t before,
                          int64_t want, bool counted, struct pg_delete_mark *mark, int64_t *n,
                          struct strbuf *err)
{
    const int64_t period = timeframe_seconds(tf);
    struct pg_params q = {0};
    PGresult *res;
    int64_t span, room;
    bool done;
    int rc;

    /*
     * Never past the cutoff (a longer window deletes the same) nor longer
     * than the years a candle can have, which keeps the interval and the
     * new mark in range.
     */
    if (__builtin_sub_overflow(before, mark->from, &room) || room > PG_TIME_END - PG_TIME_MIN)
        room = PG_TIME_END - PG_TIME_MIN;
    if (__builtin_mul_overflow(want, period, &span) || span > room)
        span = room;
    pg_param_int(&q, id);
    pg_param_time(&q, mark->from);
    pg_param_time(&q, before);
    pg_param_int(&q, counted ? want : span);
    rc = pg_run(ps, counted ? PG_DELETE_COUNTED : PG_DELETE_WINDOW, &q, &res, err,
                "delete %s candles", timeframe_name(tf));
    if (rc)
        return rc;
    rc = pg_deleted_count(ps, res, n, err);
    PQclear(res);
    if (rc)
        return rc;
    /*
     * Either ran from the oldest candle at or after the mark, and open
     * times are unique and aligned: every candle before (mark + span) is
     * gone, and past it some may be, which the next search steps over
     * once.
     */
    done = counted ? *n < want : !*n;
    mark->from = !done && span < room ? mark->from + span : before;
    return 0;
}

int pg_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                             int64_t *deleted, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int64_t *ids = NULL;
    int nids;
    int rc = pg_ready(ps, err);

    *deleted = 0;
    if (rc)
        return rc;
    pg_param_text(&p, timeframe_name(tf));
    if (!limit) {
        pg_param_time(&p, before);
        rc = pg_run(ps, PG_DELETE_BEFORE, &p, &res, err, "delete %s candles", timeframe_name(tf));
        if (rc)
            return rc;
        rc = pg_deleted_count(ps, res, deleted, err);
        PQclear(res);
        return rc;
    }
    /*
     * A batch: series by series, windows of (what is left of the batch)
     * periods from the oldest candle, until the batch is full or the
     * series has nothing older: gaps make a window hold fewer, never more.
     * Listing the series also relaxes the batch's commit: a batch that a
     * crash loses is deleted again by the next run, so its commit need not
     * wait for the WAL to reach the disk, which is most of the time of a
     * small batch (synchronous_commit off for this transaction only;
     * nothing is at risk but the delete itself).
     *
     * Beyond the delete itself a batch costs round trips, and with the API
     * busy on the same machine each of them waits for a core: so a window
     * is found and deleted in one statement, what the gaps of a window
     * left of the batch goes in one more (the oldest so many, counted:
     * windows alone took some 30 statements a batch on a series with
     * weekends), the oldest candle is looked up once per series and run
     * (the mark says where the next window starts), and a series whose
     * mark says it has nothing older than the cutoff is not asked again in
     * the same run.
     */
    rc = pg_run(ps, PG_SERIES_OF_TF, &p, &res, err, "list %s series", timeframe_name(tf));
    if (rc)
        return rc;
    nids = PQntuples(res);
    ids = xcalloc(nids ? (size_t)nids : 1, sizeof(*ids));
    for (int r = 0; !rc && r < nids; r++)
        rc = pg_get_int(ps, res, r, 0, &ids[r], err);
    PQclear(res);
    for (int r = 0, tries = 0; !rc && r < nids && (size_t)*deleted < limit;) {
        struct pg_delete_mark *mark = pg_delete_mark(ps, ids[r], before);
        int64_t n = 0;

        if (mark->from == INT64_MIN)
            rc = pg_delete_start(ps, tf, ids[r], before, mark, err);
        /* A window first; what gaps left of the batch, counted. */
        if (!rc && mark->from < before)
            rc = pg_delete_some(ps, tf, ids[r], before, (int64_t)(limit - (size_t)*deleted),
                                tries++ > 0, mark, &n, err);
        if (rc)
            break;
        *deleted += n;
        if (mark->from >= before) {
            r++;
            tries = 0;
        }
    }
    free(ids);
    return rc;
}

int pg_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                            struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pg_param_text(&p, timeframe_name(tf));
    pg_param_time(&p, before);
    rc = pg_run(ps, PG_COUNT_BEFORE, &p, &res, err, "count %s candles", timeframe_name(tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, out, err);
    PQclear(res);
    return rc;
}

static int pg_series_info_cmp(const void *a, const void *b)
{
    const struct series_info *x = a, *y = b;
    int c = strcmp(x->source, y->source);
    if (!c)
        c = strcmp(x->symbol, y->symbol);
    if (!c)
        c = (x->tf > y->tf) - (x->tf < y->tf);
    return c;
}

int pg_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct series_info *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    rc = pg_run(ps, PG_LIST_SERIES, NULL, &res, err, "list series");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++) {
        v[r].source = xstrdup(PQgetvalue(res, r, 0));
        v[r].symbol = xstrdup(PQgetvalue(res, r, 1));
        rc = pg_get_tf(ps, res, r, 2, &v[r].tf, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 3, &v[r].count, err);
        if (!rc && v[r].count) {
            rc = pg_get_int(ps, res, r, 4, &v[r].first_time, err);
            if (!rc)
                rc = pg_get_int(ps, res, r, 5, &v[r].last_time, err);
        }
    }
    PQclear(res);
    if (rc) {
        series_info_free(v, (size_t)rows);
        return rc;
    }
    /*
     * Sorted here rather than by ORDER BY: byte order of the names (as
     * SQLite's BINARY collation) whatever the database's collation, and
     * timeframes in their natural order rather than alphabetical.
     */
    qsort(v, (size_t)rows, sizeof(*v), pg_series_info_cmp);
    *out = v;
    *n = (size_t)rows;
    return 0;
}
