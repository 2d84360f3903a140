/* SPDX-License-Identifier: MIT */
/*
 * Candles in the SQLite backend: upsert, range queries, counts,
 * retention deletes and the list of series.
 *
 * Prices are stored exactly as the scaled integers of market/price.h; the
 * view `candles_view` shows them as decimals, with ISO times, for people
 * using the sqlite3 shell. Volume is NULL when the candle has none.
 *
 * Speed. A batch is one step of one statement: INSERT ... SELECT FROM
 * ck_candle_batch(?), a virtual table over the caller's array (below),
 * whose DO UPDATE carries a WHERE that skips rows whose values are
 * unchanged, so re-fetching a range rewrites no page. Measured with
 * bench/ingest.c (1,000,000 M15 candles in batches of 5,000, one
 * transaction each) on the shared 2-core machine, in CPU seconds of the
 * process for the fresh pass (wall time there follows the machine's load):
 * one step per candle with seven bindings 1.25-1.43 s; the batch table
 * 0.63-0.65 s, so half the time had gone to running a statement per candle
 * (perf: entering and halting the VDBE, opening and closing its cursors,
 * malloc and its mutex, the bindings); without the foreign key check on
 * series as well (large batches only, see sqlite_put_candles) 0.52-0.59 s,
 * 1.0 to 1.8 million candles a second of wall time against 0.69 to 0.73
 * million before. What remains is the VDBE's insert program and the B-tree
 * (about two thirds) and the kernel copying pages into the WAL and the
 * checkpoints (about a quarter). A plain INSERT for a batch whose range is
 * new, instead of the upsert, gained nothing measurable, nor did pages
 * larger than 4 KiB, a cache larger than sqlite_pragmas sets, mmap or rarer
 * checkpoints. The candle query is prepared once per order and lent to one
 * iterator at a time.
 */
#include "store/sqlite/sqlite_internal.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/*
 * The candles of one put, read by SQL as the table-valued function
 * ck_candle_batch(?): an eponymous-only virtual table over the caller's
 * array, which the statement receives with sqlite3_bind_pointer() (a
 * pointer SQL text cannot forge). One step of one statement then stores a
 * whole batch, where binding seven values and stepping once per candle
 * spent more time in the statement's start, end and bindings than in the
 * B-tree.
 */
struct candle_batch {
    const struct candle *c;
    size_t n;
};

#define CANDLE_BATCH_POINTER "ck_candle_batch"

/* The columns, in the order of the CREATE TABLE below; `batch` is the hidden argument. */
enum { BATCH_OPEN_TIME, BATCH_OPEN, BATCH_HIGH, BATCH_LOW, BATCH_CLOSE, BATCH_VOLUME, BATCH_ARG };

struct batch_cursor {
    sqlite3_vtab_cursor base;
    const struct candle_batch *b;
    size_t i;
};

static int batch_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **errmsg)
{
    sqlite3_vtab *vt;
    int rc;

    (void)aux, (void)argc, (void)argv, (void)errmsg;
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(open_time, open, high, low, close, volume, "
                                  "batch HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
#ifdef SQLITE_VTAB_DIRECTONLY
    /* Only candlekeep's own statement reads it: no trigger or view of a file may. */
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
#endif
    vt = xcalloc(1, sizeof(*vt));
    *out = vt;
    return SQLITE_OK;
}

static int batch_disconnect(sqlite3_vtab *vt)
{
    free(vt);
    return SQLITE_OK;
}

/* The only plan: the batch argument given, rows in ascending open time as stored. */
static int batch_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        if (k->iColumn != BATCH_ARG || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (!k->usable)
            return SQLITE_CONSTRAINT;
        info->aConstraintUsage[i].argvIndex = 1;
        info->aConstraintUsage[i].omit = 1;
        info->estimatedCost = 1;
        return SQLITE_OK;
    }
    return SQLITE_CONSTRAINT; /* ck_candle_batch() without its argument */
}

static int batch_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct batch_cursor *cur = xcalloc(1, sizeof(*cur));
    (void)vt;
    *out = &cur->base;
    return SQLITE_OK;
}

static int batch_close(sqlite3_vtab_cursor *base)
{
    free(base);
    return SQLITE_OK;
}

static int batch_filter(sqlite3_vtab_cursor *base, int idx, const char *idxstr, int argc,
                        sqlite3_value **argv)
{
    struct batch_cursor *cur = (struct batch_cursor *)base;
    (void)idx, (void)idxstr;
    /* NULL (nothing bound, or not our pointer) reads as no rows. */
    cur->b = argc == 1 ? sqlite3_value_pointer(argv[0], CANDLE_BATCH_POINTER) : NULL;
    cur->i = 0;
    return SQLITE_OK;
}

static int batch_next(sqlite3_vtab_cursor *base)
{
    ((struct batch_cursor *)base)->i++;
    return SQLITE_OK;
}

static int batch_eof(sqlite3_vtab_cursor *base)
{
    struct batch_cursor *cur = (struct batch_cursor *)base;
    return !cur->b || cur->i >= cur->b->n;
}

static int batch_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    struct batch_cursor *cur = (struct batch_cursor *)base;
    const struct candle *k = &cur->b->c[cur->i];

    switch (col) {
    case BATCH_OPEN_TIME:
        sqlite3_result_int64(ctx, k->open_time);
        break;
    case BATCH_OPEN:
        sqlite3_result_int64(ctx, k->open);
        break;
    case BATCH_HIGH:
        sqlite3_result_int64(ctx, k->high);
        break;
    case BATCH_LOW:
        sqlite3_result_int64(ctx, k->low);
        break;
    case BATCH_CLOSE:
        sqlite3_result_int64(ctx, k->close);
        break;
    case BATCH_VOLUME:
        if (k->has_volume)
            sqlite3_result_int64(ctx, k->volume);
        else
            sqlite3_result_null(ctx);
        break;
    default:
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int batch_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *out)
{
    *out = (sqlite3_int64)((struct batch_cursor *)base)->i;
    return SQLITE_OK;
}

static const sqlite3_module candle_batch_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous-only: no CREATE VIRTUAL TABLE */
    .xConnect = batch_connect,
    .xBestIndex = batch_best_index,
    .xDisconnect = batch_disconnect,
    .xOpen = batch_open,
    .xClose = batch_close,
    .xFilter = batch_filter,
    .xNext = batch_next,
    .xEof = batch_eof,
    .xColumn = batch_column,
    .xRowid = batch_rowid,
};

int sqlite_register_candle_batch(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, "ck_candle_batch", &candle_batch_module, NULL, NULL);
}

/*
 * From this many candles on, a put turns foreign keys off while it runs.
 * With them on, SQLite opens a cursor on series and looks up the parent of
 * every candle it writes, 15% of the time of a large batch; the check can
 * never fail here, since the id comes from sqlite_series_id() in this
 * transaction and series rows are never deleted (series.c). Switching the
 * connection's flag expires its prepared statements, which SQLite then
 * prepares again on their next step (about 0.1 ms in all): worth it for a
 * backfill's batch, not for the few candles of a routine fetch.
 */
#define SQLITE_PUT_NOFK_MIN 1024

int sqlite_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                       size_t n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct candle_batch batch = {.c = c, .n = n};
    sqlite3_stmt *put;
    bool nofk;
    int64_t sid;
    int rc;

    rc = sqlite_series_id(ss, s, true, &sid, err);
    if (!rc)
        rc = sqlite_stmt(ss, STMT_PUT, &put, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(put, 1, sid);
    sqlite3_bind_pointer(put, 2, &batch, CANDLE_BATCH_POINTER, NULL);
    /* Not under a live iterator: expiring its statement could cut it short. */
    nofk = n >= SQLITE_PUT_NOFK_MIN && !ss->live_iters;
    if (nofk)
        sqlite3_db_config(ss->db, SQLITE_DBCONFIG_ENABLE_FKEY, 0, (int *)NULL);
    rc = sqlite3_step(put);
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot store candles", err);
    sqlite3_reset(put);
    if (nofk) {
        int on = 0;
        sqlite3_db_config(ss->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, &on);
        if (!on)
            BUG("foreign keys could not be turned back on");
    }
    /* The batch lives on this stack: the statement must not keep it. */
    sqlite3_bind_null(put, 2);
    return rc;
}

int sqlite_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                       struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int64_t sid;
    int rc = sqlite_series_id(ss, s, false, &sid, err);

    if (!rc)
        rc = sqlite_stmt(ss, STMT_LATEST, &q, err);
    if (!rc) {
        sqlite3_bind_int64(q, 1, sid);
        rc = sqlite_step(ss, q, true, "cannot read latest candle", err);
    }
    if (!rc) {
        /* max() of no rows is one NULL row. */
        if (sqlite3_column_type(q, 0) == SQLITE_NULL)
            rc = CK_ENOTFOUND;
        else
            *out = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
    }
    if (rc == CK_ENOTFOUND)
        strbuf_addf(err, "store: no candles for %s %s %s", s->source, s->symbol,
                    timeframe_name(s->tf));
    return rc;
}

static int64_t query_lo(const struct candle_query *q)
{
    return q->has_start ? q->start : INT64_MIN;
}

static int64_t query_hi(const struct candle_query *q)
{
    return q->has_end ? q->end : INT64_MAX;
}

static int sqlite_iter_next(struct candle_iter *base, struct candle *out, struct strbuf *err)
{
    struct sqlite_iter *it = (struct sqlite_iter *)base;
    int rc;

    /* Once done, stay done: stepping a finished statement would rerun it. */
    if (it->done || !it->stmt)
        return ITER_DONE;
    rc = sqlite3_step(it->stmt);
    if (rc == SQLITE_ROW) {
        out->open_time = sqlite3_column_int64(it->stmt, 0);
        out->open = sqlite3_column_int64(it->stmt, 1);
        out->high = sqlite3_column_int64(it->stmt, 2);
        out->low = sqlite3_column_int64(it->stmt, 3);
        out->close = sqlite3_column_int64(it->stmt, 4);
        out->has_volume = sqlite3_column_type(it->stmt, 5) != SQLITE_NULL;
        out->volume = out->has_volume ? sqlite3_column_int64(it->stmt, 5) : 0;
        return ITER_OK;
    }
    it->done = true;
    if (rc == SQLITE_DONE)
        return ITER_DONE;
    return sqlite_fail(it->ss, rc, "cannot read candles", err);
}

static void sqlite_iter_free(struct candle_iter *base)
{
    struct sqlite_iter *it = (struct sqlite_iter *)base;
    if (it->lent >= 0) {
        sqlite3_reset(it->stmt);
        it->ss->query_lent[it->lent] = false;
    } else {
        sqlite3_finalize(it->stmt);
    }
    it->ss->live_iters--;
    free(it);
}

int sqlite_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                         struct strbuf *err)
{
    static const char *const sql[] = {
        [STORE_ASC] = "SELECT open_time, open, high, low, close, volume FROM candles "
                      "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3 "
                      "ORDER BY open_time ASC LIMIT ?4",
        [STORE_DESC] = "SELECT open_time, open, high, low, close, volume FROM candles "
                       "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3 "
                       "ORDER BY open_time DESC LIMIT ?4",
    };
    struct sqlite_store *ss = sqlite_downcast(st);
    struct sqlite_iter *it;
    int64_t sid;
    int rc;

    if ((unsigned)q->order >= ARRAY_SIZE(sql))
        BUG("invalid store order %d", (int)q->order);
    rc = sqlite_series_id(ss, &q->series, false, &sid, err);
    if (rc && rc != CK_ENOTFOUND)
        return rc;

    it = xcalloc(1, sizeof(*it));
    it->base.next = sqlite_iter_next;
    it->base.free = sqlite_iter_free;
    it->ss = ss;
    it->lent = -1;
    if (!rc) {
        int o = (int)q->order;
        if (!ss->query_lent[o] && ss->query_stmts[o]) {
            it->stmt = ss->query_stmts[o];
            it->lent = o;
        } else {
            /* The cached one is in use (or not prepared yet): prepare. */
            rc = sqlite3_prepare_v3(ss->db, sql[o], -1, SQLITE_PREPARE_PERSISTENT, &it->stmt, NULL);
            if (rc != SQLITE_OK) {
                rc = sqlite_fail(ss, rc, "cannot prepare candle query", err);
                free(it);
                return rc;
            }
            if (!ss->query_stmts[o]) {
                ss->query_stmts[o] = it->stmt;
                it->lent = o;
            }
        }
        if (it->lent >= 0)
            ss->query_lent[o] = true;
        sqlite3_bind_int64(it->stmt, 1, sid);
        sqlite3_bind_int64(it->stmt, 2, query_lo(q));
        sqlite3_bind_int64(it->stmt, 3, query_hi(q));
        /* A negative LIMIT is no limit in SQLite. */
        sqlite3_bind_int64(it->stmt, 4,
                           q->limit && q->limit <= (size_t)INT64_MAX ? (int64_t)q->limit : -1);
    }
    ss->live_iters++;
    *out = &it->base;
    return 0;
}

int sqlite_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                         struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *cnt;
    int64_t sid;
    int rc = sqlite_series_id(ss, &q->series, false, &sid, err);

    if (rc == CK_ENOTFOUND) {
        *out = 0;
        return 0;
    }
    if (!rc)
        rc = sqlite_stmt(ss, STMT_COUNT, &cnt, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(cnt, 1, sid);
    sqlite3_bind_int64(cnt, 2, query_lo(q));
    sqlite3_bind_int64(cnt, 3, query_hi(q));
    rc = sqlite_step(ss, cnt, true, "cannot count candles", err);
    if (rc == CK_ENOTFOUND)
        BUG("count() returned no row");
    if (!rc) {
        *out = sqlite3_column_int64(cnt, 0);
        sqlite3_reset(cnt);
    }
    return rc;
}

int sqlite_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                         struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ext;
    int64_t sid;
    int rc = sqlite_series_id(ss, &q->series, false, &sid, err);

    if (rc == CK_ENOTFOUND)
        return 0;
    if (!rc)
        rc = sqlite_stmt(ss, STMT_EXTENT, &ext, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(ext, 1, sid);
    sqlite3_bind_int64(ext, 2, query_lo(q));
    sqlite3_bind_int64(ext, 3, query_hi(q));
    rc = sqlite_step(ss, ext, true, "cannot measure candles", err);
    if (rc == CK_ENOTFOUND)
        BUG("count() returned no row");
    if (!rc) {
        out->count = sqlite3_column_int64(ext, 0);
        /* NULL (no candle) reads as 0. */
        out->first = sqlite3_column_int64(ext, 1);
        out->last = sqlite3_column_int64(ext, 2);
        sqlite3_reset(ext);
    }
    return rc;
}

/*
 * The stamp is the whole database's, not the series': PRAGMA data_version
 * moves when any other connection commits to the file, and the count of
 * rows this connection changed covers its own writes. Both only grow, so
 * equal stamps mean nothing was committed in between. A write to another
 * table moves them too; the caller then compares the rows themselves.
 */
int sqlite_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *dv;
    int rc = sqlite_stmt(ss, STMT_DATA_VERSION, &dv, err);

    if (rc)
        return rc;
    rc = sqlite_step(ss, dv, true, "cannot read the data version", err);
    if (rc == CK_ENOTFOUND)
        BUG("PRAGMA data_version returned no row");
    if (!rc) {
        out->v[0] = (uint64_t)sqlite3_column_int64(dv, 0);
        out->v[1] = (uint64_t)sqlite3_total_changes64(ss->db);
        sqlite3_reset(dv);
    }
    return rc;
}

int sqlite_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                        struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *sel;
    size_t alloc = 0;
    int64_t sid;
    int rc = sqlite_series_id(ss, &q->series, false, &sid, err);

    if (rc == CK_ENOTFOUND)
        return 0;
    if (!rc)
        rc = sqlite_stmt(ss, STMT_TIMES, &sel, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(sel, 1, sid);
    sqlite3_bind_int64(sel, 2, query_lo(q));
    sqlite3_bind_int64(sel, 3, query_hi(q));
    while ((rc = sqlite_step(ss, sel, true, "cannot read open times", err)) == 0) {
        ALLOC_GROW(*out, *n + 1, alloc);
        (*out)[(*n)++] = sqlite3_column_int64(sel, 0);
    }
    return rc == CK_ENOTFOUND ? 0 : rc;
}

/* The ids of the series of timeframe `tf`, ascending. */
static int series_of_tf(struct sqlite_store *ss, enum timeframe tf, int64_t **out, size_t *n,
                        struct strbuf *err)
{
    sqlite3_stmt *sel;
    size_t alloc = 0;
    int rc = sqlite_stmt(ss, STMT_SERIES_OF_TF, &sel, err);

    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    sqlite3_bind_text(sel, 1, timeframe_name(tf), -1, SQLITE_STATIC);
    while ((rc = sqlite_step(ss, sel, true, "cannot list series", err)) == 0) {
        ALLOC_GROW(*out, *n + 1, alloc);
        (*out)[(*n)++] = sqlite3_column_int64(sel, 0);
    }
    if (rc == CK_ENOTFOUND)
        return 0;
    free(*out);
    *out = NULL;
    *n = 0;
    return rc;
}

int sqlite_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                 int64_t *deleted, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *del, *bound = NULL;
    int64_t *ids;
    size_t nids;
    int rc;

    *deleted = 0;
    if (!limit) {
        rc = sqlite_stmt(ss, STMT_DELETE_BEFORE, &del, err);
        if (rc)
            return rc;
        sqlite3_bind_text(del, 1, timeframe_name(tf), -1, SQLITE_STATIC);
        sqlite3_bind_int64(del, 2, before);
        rc = sqlite_step(ss, del, false, "cannot delete candles", err);
        if (!rc)
            *deleted = sqlite3_changes64(ss->db);
        return rc;
    }
    /*
     * A batch: series by series, each a range of the primary key, until
     * `limit` rows are gone. Foreign keys are off meanwhile: with them on,
     * SQLite looks up the parent series of every candle it deletes (to
     * keep its count of violations) and gives up the one-pass delete,
     * which measured 4 to 5 times the CPU; deleting candles can never
     * break the constraint (it guards the series that candles refer to).
     * PRAGMA foreign_keys is a no-op inside a transaction, the
     * connection's flag is not, and statements prepared under the other
     * setting are re-prepared by SQLite on their next step.
     */
    sqlite3_db_config(ss->db, SQLITE_DBCONFIG_ENABLE_FKEY, 0, (int *)NULL);
    rc = series_of_tf(ss, tf, &ids, &nids, err);
    if (!rc)
        rc = sqlite_stmt(ss, STMT_BATCH_BOUND, &bound, err);
    if (!rc)
        rc = sqlite_stmt(ss, STMT_DELETE_SERIES_BEFORE, &del, err);
    for (size_t i = 0; !rc && i < nids && (size_t)*deleted < limit; i++) {
        int64_t end = before;
        sqlite3_bind_int64(bound, 1, ids[i]);
        sqlite3_bind_int64(bound, 2, before);
        sqlite3_bind_int64(bound, 3, (int64_t)(limit - (size_t)*deleted));
        rc = sqlite_step(ss, bound, true, "cannot find a batch of candles", err);
        if (!rc) {
            end = sqlite3_column_int64(bound, 0);
            sqlite3_reset(bound);
        } else if (rc == CK_ENOTFOUND) {
            rc = 0; /* fewer than the rest of the batch: all of them go */
        }
        if (rc)
            break;
        sqlite3_bind_int64(del, 1, ids[i]);
        sqlite3_bind_int64(del, 2, end);
        rc = sqlite_step(ss, del, false, "cannot delete candles", err);
        if (!rc)
            *deleted += sqlite3_changes64(ss->db);
    }
    {
        int on = 0;
        sqlite3_db_config(ss->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, &on);
        if (!on)
            BUG("foreign keys could not be turned back on");
    }
    free(ids);
    return rc;
}

int sqlite_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                                struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *cnt;
    int rc = sqlite_stmt(ss, STMT_COUNT_BEFORE, &cnt, err);

    if (rc)
        return rc;
    sqlite3_bind_text(cnt, 1, timeframe_name(tf), -1, SQLITE_STATIC);
    sqlite3_bind_int64(cnt, 2, before);
    rc = sqlite_step(ss, cnt, true, "cannot count candles", err);
    if (rc == CK_ENOTFOUND)
        BUG("count() returned no row");
    if (!rc) {
        *out = sqlite3_column_int64(cnt, 0);
        sqlite3_reset(cnt);
    }
    return rc;
}

static int series_info_cmp(const void *a, const void *b)
{
    const struct series_info *x = a, *y = b;
    int c = strcmp(x->source, y->source);
    if (!c)
        c = strcmp(x->symbol, y->symbol);
    if (!c)
        c = (x->tf > y->tf) - (x->tf < y->tf);
    return c;
}

int sqlite_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err)
{
    /*
     * Correlated subqueries rather than a grouped join: min() and max()
     * then become single probes of the primary key.
     */
    static const char sql[] = "SELECT source, symbol, timeframe,"
                              " (SELECT count(*) FROM candles WHERE series_id = s.id),"
                              " (SELECT min(open_time) FROM candles WHERE series_id = s.id),"
                              " (SELECT max(open_time) FROM candles WHERE series_id = s.id)"
                              " FROM series s";
    struct sqlite_store *ss = sqlite_downcast(st);
    struct series_info *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &q, NULL);

    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, "cannot prepare series listing", err);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct series_info *si;
        ALLOC_GROW(v, nr + 1, alloc);
        si = &v[nr];
        memset(si, 0, sizeof(*si));
        if (sqlite_column_tf(ss, q, 2, &si->tf, err)) {
            rc = CK_EPARSE;
            goto out;
        }
        si->source = sqlite_column_strdup(q, 0);
        si->symbol = sqlite_column_strdup(q, 1);
        si->count = sqlite3_column_int64(q, 3);
        si->first_time = sqlite3_column_int64(q, 4); /* NULL reads as 0 */
        si->last_time = sqlite3_column_int64(q, 5);
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list series", err);
out:
    sqlite3_finalize(q);
    if (rc) {
        series_info_free(v, nr);
        return rc;
    }
    /* Sorted here so that timeframes come in their natural order, M1 first. */
    if (nr)
        qsort(v, nr, sizeof(*v), series_info_cmp);
    *out = v;
    *n = nr;
    return 0;
}
