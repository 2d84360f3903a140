/* SPDX-License-Identifier: MIT */
/*
 * Candles in the PostgreSQL backend: writing, range queries in pages,
 * counts, retention deletes and the list of series.
 *
 * Writing candles. The series row is locked (FOR NO KEY UPDATE) for the
 * rest of the transaction, so candlekeep's writers of one series take
 * turns. A chunk of candles whose time range holds no stored candle (a
 * backfill, the candles after the newest, a gap repair: nearly every
 * write) is then loaded with a binary COPY straight into candles; any
 * other chunk goes through one statement over binary arrays that updates
 * the candles whose values differ (a join on a range of the primary key)
 * and inserts those not stored yet (pg_upsert). Measured with
 * bench_ingest's workload (1,000,000 M15 candles in batches of 5,000, one
 * transaction each: a fresh, an unchanged and a changed pass) on the
 * 2-core development machine, PostgreSQL 15, a new
 * tests/helpers/pg_cluster.sh cluster for every run, two runs each, in
 * thousands of candles per second:
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
 *   (c)                                        356-361  229-232    103-137
 *
 * and on a warm cluster already holding 3,000,000 candles, the three
 * taking turns (fresh only): (a) 110-131, (b) 100-160, (c) 215-273. The
 * staging table never pays for its extra round trips; COPY straight into
 * the table does, because it inserts a page of rows at a time, but only
 * without the foreign key, which PostgreSQL checks row by row at a cost
 * larger than the insert itself. So candles.series_id is not declared one
 * (migration 1 says how integrity is kept instead).
 *
 * Later, with the machine shared and loaded (wall figures move with the
 * load, so the CPU seconds of the server's backend and of the client are
 * given too), three runs each, taking turns:
 *
 *                           fresh             unchanged          changed
 *   (c) with text COPY and  202-285           162-214            85-104
 *   text numeric[] arrays   2.3-3.5 s + 0.8   3.9-4.9 s + 0.6    7.6-8.6 s + 0.6
 *   (d) UPDATE ... FROM     253-263           321-393            120-148
 *   + INSERT anti-join,     2.2-2.7 s + 0.8   2.0-2.1 s + 0.15   6.1-6.2 s + 0.2
 *   binary arrays
 *   (e) (d) with binary     181-397           356-389            119-130
 *   COPY (kept)             1.7-1.75 s + 0.2  2.0-2.2 s + 0.15   5.8-6.0 s + 0.2
 *
 * ((e): four runs of the fresh pass, two of the others; (c), run in turn
 * with the last two, made 152-175, 103-207 and 61-89 then.)
 *
 * perf on the backend, changed pass: with (c), 30% went to inserting the
 * new versions' index entries, 19% to the arbiter's probe of the primary
 * key for every row, 12% to heap_update, 9% to parsing the text arrays,
 * 3% to locking each conflicting row (which ON CONFLICT DO UPDATE does
 * even when its WHERE then skips the row: the unchanged pass wrote WAL for
 * every row). (d) reads the range once per join instead of probing per
 * row, locks only the rows it changes and receives binary numerics; what
 * is left is mostly the update itself: every new version goes to another
 * page (COPY fills pages, so no update is HOT) and needs an index entry,
 * 37% of the time, which no form of the statement avoids. Deleting the
 * changed rows and copying them in again cost more than updating them
 * (server time 0.66 s against 0.58 s per 100,000). A fillfactor of 50
 * lets updates be HOT (no new index entry) and took the changed pass's
 * backend time from 6.9 to 4.1 s, but doubles the table and slowed the
 * fresh pass (3.1 s against 2.4 s), so the table keeps the default.
 */
#include "store/pg/pg_internal.h"

#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/*
 * Advance the generation of series `id` (migration 10): every transaction
 * that writes or deletes candles of a series does, so that a reader who
 * saw one sum of the generations knows no candle changed while it still
 * reads the same (pg_candle_stamp). The writers hold the row already.
 */
static int pg_series_touch(struct pg_store *ps, int64_t id, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_int(&p, id);
    rc = pg_run(ps, PG_SERIES_TOUCH, &p, &res, err, "advance the generation of series %lld",
                (long long)id);
    PQclear(res);
    return rc;
}

int pg_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    rc = pg_run(ps, PG_SERIES_STAMP, NULL, &res, err, "read the candles' generation");
    if (rc)
        return rc;
    for (int col = 0; !rc && col < 3; col++) {
        int64_t v = 0;
        rc = pg_get_int(ps, res, 0, col, &v, err);
        out->v[col] = (uint64_t)v;
    }
    PQclear(res);
    return rc;
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

/* The element types of the upsert's arrays: timestamptz and numeric. */
enum { PG_TIME_OID = 1184, PG_PRICE_OID = 1700 };

static void pg_put_be16(char *out, uint16_t v)
{
    out[0] = (char)(v >> 8);
    out[1] = (char)v;
}

/*
 * The header of a one-dimensional binary array of `n` elements of type
 * `oid`, lower bound 1; each element follows as a 32-bit length (-1:
 * NULL) and its bytes.
 */
static void pg_add_array_header(struct strbuf *sb, uint32_t oid, size_t n, bool has_null)
{
    char hdr[20];
    pg_put_be32(hdr, 1);
    pg_put_be32(hdr + 4, has_null);
    pg_put_be32(hdr + 8, oid);
    pg_put_be32(hdr + 12, (uint32_t)n);
    pg_put_be32(hdr + 16, 1);
    strbuf_add(sb, hdr, sizeof(hdr));
}

/*
 * An element of a binary numeric[]: the price `v` (v / 10^8 exactly, the
 * scale of market/price.h) in numeric's wire form, base-10000 digits
 * with a weight, a sign and the display scale 8. int64 holds at most
 * three digits of integer part and the eight decimals make two.
 */
static void pg_add_numeric(struct strbuf *sb, int64_t v)
{
    uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = a / 100000000u, frac = a % 100000000u;
    uint16_t d[5];
    int first = 0, last = 5, weight = 2;
    char buf[4 + 8 + 2 * 5];

    d[0] = (uint16_t)(whole / 100000000u);
    d[1] = (uint16_t)(whole / 10000u % 10000u);
    d[2] = (uint16_t)(whole % 10000u);
    d[3] = (uint16_t)(frac / 10000u);
    d[4] = (uint16_t)(frac % 10000u);
    /* No leading or trailing zero digits, as PostgreSQL writes them. */
    while (first < last && !d[first]) {
        first++;
        weight--;
    }
    while (last > first && !d[last - 1])
        last--;
    if (first == last)
        weight = 0;
    pg_put_be32(buf, (uint32_t)(8 + 2 * (last - first)));
    pg_put_be16(buf + 4, (uint16_t)(last - first));
    pg_put_be16(buf + 6, (uint16_t)(int16_t)weight);
    pg_put_be16(buf + 8, v < 0 ? 0x4000 : 0x0000);
    pg_put_be16(buf + 10, 8);
    for (int i = first; i < last; i++)
        pg_put_be16(buf + 12 + 2 * (i - first), d[i]);
    strbuf_add(sb, buf, (size_t)(12 + 2 * (last - first)));
}

/*
 * Upsert c[0..n) (ascending, distinct times) with one statement whose
 * rows come from unnest() of binary arrays: the changed candles are
 * updated through a join on a range of the primary key, and the candles
 * not stored yet are inserted (see the measurements at the top). Both
 * parts run on the snapshot the statement starts with: a candle stored
 * then is left to the UPDATE, which skips it when its values are the
 * same, and the INSERT adds the others. The series lock keeps
 * candlekeep's other writers of the series out meanwhile. A retention
 * delete (which takes no series lock) of a stored candle that commits
 * while the statement runs wins: the candle is neither updated nor
 * inserted again, as if the delete had come after this write, which it
 * was free to do.
 *
 * Sent unnamed, so planned each time with the arrays in hand: prepared,
 * it would soon get a generic plan that guesses ten rows in the arrays
 * and probes the index once per candle.
 */
static const char pg_upsert_sql[] =
    "WITH t AS (SELECT * FROM unnest($2::timestamptz[], $3::numeric[], $4::numeric[], "
    "$5::numeric[], $6::numeric[], $7::numeric[]) AS t (open_time, open, high, low, close, "
    "volume)), "
    "u AS (UPDATE candles c SET open = t.open, high = t.high, low = t.low, close = t.close, "
    "volume = t.volume FROM t WHERE c.series_id = $1::bigint "
    "AND c.open_time BETWEEN $8::timestamptz AND $9::timestamptz "
    "AND c.open_time = t.open_time AND (c.open, c.high, c.low, c.close, c.volume) "
    "IS DISTINCT FROM (t.open, t.high, t.low, t.close, t.volume)) "
    "INSERT INTO candles (series_id, open_time, open, high, low, close, volume) "
    "SELECT $1::bigint, t.* FROM t WHERE NOT EXISTS (SELECT 1 FROM candles c "
    "WHERE c.series_id = $1::bigint AND c.open_time BETWEEN $8::timestamptz AND $9::timestamptz "
    "AND c.open_time = t.open_time)";

static int pg_upsert(struct pg_store *ps, int64_t series_id, const struct series_key *s,
                     const struct candle *c, size_t n, struct strbuf *err)
{
    struct strbuf *times = &ps->cols[0];
    struct pg_params p = {0};
    bool no_volume = false;
    PGresult *res;
    int rc;

    for (size_t i = 0; i < n && !no_volume; i++)
        no_volume = !c[i].has_volume;
    for (int k = 0; k < 6; k++) {
        strbuf_reset(&ps->cols[k]);
        pg_add_array_header(&ps->cols[k], k ? PG_PRICE_OID : PG_TIME_OID, n, k == 5 && no_volume);
        strbuf_grow(&ps->cols[k], n * (k ? 24 : 12));
    }
    for (size_t i = 0; i < n; i++) {
        char elem[12];
        pg_put_be32(elem, 8);
        pg_put_be64(elem + 4, (uint64_t)pg_time_value(c[i].open_time));
        strbuf_add(times, elem, sizeof(elem));
        pg_add_numeric(&ps->cols[1], c[i].open);
        pg_add_numeric(&ps->cols[2], c[i].high);
        pg_add_numeric(&ps->cols[3], c[i].low);
        pg_add_numeric(&ps->cols[4], c[i].close);
        if (c[i].has_volume) {
            pg_add_numeric(&ps->cols[5], c[i].volume);
        } else {
            pg_put_be32(elem, UINT32_MAX); /* -1: NULL */
            strbuf_add(&ps->cols[5], elem, 4);
        }
    }

    pg_param_int(&p, series_id);
    for (int k = 0; k < 6; k++) {
        int slot = pg_param_slot(&p);
        p.values[slot] = ps->cols[k].buf;
        p.lengths[slot] = (int)ps->cols[k].len;
        p.formats[slot] = 1;
    }
    pg_param_time(&p, c[0].open_time);
    pg_param_time(&p, c[n - 1].open_time);
    res = PQexecParams(ps->conn, pg_upsert_sql, p.n, NULL, p.values, p.lengths, p.formats, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        int64_t inserted;
        rc = 0;
        if (!parse_int64(PQcmdTuples(res), 0, INT64_MAX, &inserted))
            ps->inserted_tx += inserted;
    } else {
        strbuf_reset(&ps->scratch);
        strbuf_addf(&ps->scratch, "upsert candles of '%s %s %s'", s->source, s->symbol,
                    timeframe_name(s->tf));
        rc = pg_result_error(ps, res, ps->scratch.buf, err);
    }
    PQclear(res);
    return rc;
}

/*
 * Insert c[0..n), none of which exists yet, with COPY straight into
 * candles: COPY inserts rows a page at a time, which makes it the fastest
 * way in (see the measurements at the top). The binary format spares
 * both sides the text of times and prices.
 */
static int pg_insert_copy(struct pg_store *ps, int64_t series_id, const struct series_key *s,
                          const struct candle *c, size_t n, struct strbuf *err)
{
    static const char signature[11] = "PGCOPY\n\377\r\n";
    struct strbuf *data = &ps->cols[0];
    char row[2 + 3 * 12], trailer[2];
    PGresult *res;
    int rc = 0;

    strbuf_reset(data);
    strbuf_grow(data, 19 + n * 120 + 2);
    /* The signature (with its NUL), no flags, no header extension. */
    strbuf_add(data, signature, sizeof(signature));
    memset(row, 0, 8);
    strbuf_add(data, row, 8);
    /* Each row: the number of fields, then each as a length and its bytes. */
    pg_put_be16(row, 7);
    pg_put_be32(row + 2, 8);
    pg_put_be64(row + 6, (uint64_t)series_id);
    pg_put_be32(row + 14, 8);
    for (size_t i = 0; i < n; i++) {
        pg_put_be64(row + 18, (uint64_t)pg_time_value(c[i].open_time));
        strbuf_add(data, row, 26);
        pg_add_numeric(data, c[i].open);
        pg_add_numeric(data, c[i].high);
        pg_add_numeric(data, c[i].low);
        pg_add_numeric(data, c[i].close);
        if (c[i].has_volume) {
            pg_add_numeric(data, c[i].volume);
        } else {
            pg_put_be32(row + 26, UINT32_MAX); /* -1: NULL */
            strbuf_add(data, row + 26, 4);
        }
    }
    pg_put_be16(trailer, UINT16_MAX); /* -1: the end */
    strbuf_add(data, trailer, sizeof(trailer));

    strbuf_reset(&ps->scratch);
    strbuf_addf(&ps->scratch, "insert candles of '%s %s %s'", s->source, s->symbol,
                timeframe_name(s->tf));
    res = PQexec(ps->conn, "COPY candles (series_id, open_time, open, high, low, close, volume) "
                           "FROM STDIN (FORMAT binary)");
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
    if (!rc)
        ps->inserted_tx += (int64_t)n;
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
    if (!rc && n)
        rc = pg_series_touch(ps, series_id, err);
    free(owned);
    return rc;
}

/*
 * The planner's statistics after a bulk write. While candles has none
 * (never analyzed, or analyzed nearly empty) the planner guesses a dozen
 * rows for any series, and for the ordered LIMIT queries of the iterator
 * and the API it then prefers a bitmap scan of the whole series and a
 * sort to the walk down the primary key: 600-770 ms for a page of a series
 * of 1,000,000 candles instead of 2 ms. Autovacuum analyzes the table,
 * but only on its next round (autovacuum_naptime, a minute by default,
 * later when it is busy), and a daemon reads and a backfill pages on
 * through that minute. So a connection that has inserted PG_ANALYZE_ROWS
 * candles, and at least as many as the statistics counted (the table
 * has doubled or was never analyzed), analyzes it once its transaction
 * has committed: 0.1 s for 1,000,000 rows, log2 times while a table
 * fills. SKIP_LOCKED: when autovacuum or another daemon is at it, that
 * will do. The write has committed, so nothing here fails it; a failure
 * leaves the statistics to autovacuum.
 */
void pg_candles_committed(struct pg_store *ps)
{
    PGresult *res;
    int64_t counted;
    bool known;

    ps->inserted += ps->inserted_tx;
    ps->inserted_tx = 0;
    if (ps->inserted < PG_ANALYZE_ROWS || ps->inserted < ps->analyze_at)
        return;
    res =
        PQexec(ps->conn, "SELECT reltuples::bigint FROM pg_class WHERE oid = 'candles'::regclass");
    known = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
            !parse_int64(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, &counted);
    PQclear(res);
    if (known && counted > ps->inserted) {
        ps->analyze_at = counted; /* look again once this connection alone doubled it */
        return;
    }
    ps->inserted = 0;
    ps->analyze_at = 0;
    if (known)
        PQclear(PQexec(ps->conn, "ANALYZE (SKIP_LOCKED) candles"));
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
        if (!rc && *deleted) {
            p = (struct pg_params){0};
            pg_param_text(&p, timeframe_name(tf));
            rc = pg_run(ps, PG_SERIES_TOUCH_TF, &p, &res, err,
                        "advance the generation of the %s series", timeframe_name(tf));
            PQclear(res);
        }
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
        if (n && (rc = pg_series_touch(ps, ids[r], err)))
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
