/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_STORE_INTERNAL_H
#define CK_STORE_STORE_INTERNAL_H

/*
 * For store.c and the backends only. A backend is one directory
 * (store/sqlite/, store/pg/) that fills one `struct store_ops` and embeds
 * `struct store` as the first member of its own connection struct; its
 * files share a header of their own (sqlite_internal.h, pg_internal.h).
 * store.c owns the registry, the public wrappers (which validate
 * arguments, manage implicit transactions and implement the
 * backend-independent logic such as gap reconciliation) and never lets
 * callers see `ops`.
 */
#include "store/store.h"

struct strbuf;

/*
 * The stored row of a rate budget. With `lock`, rate_get() is called
 * inside a transaction, creates the row when it is missing (all zero) and
 * locks it until the transaction ends, so that concurrent takers of one
 * budget queue up; without, it only reads (CK_ENOTFOUND when missing).
 */
struct rate_row {
    int64_t day; /* UTC day (days since 1970-01-01) that day_used counts */
    int64_t day_used;
    int64_t banned_until_ms; /* 0: no ban */
    char ban_reason[RATE_REASON_MAX];
};

/*
 * Generic statements, for tables whose few, small statements are written
 * once for both backends (store_sql.c and the store_<area>.c files on top
 * of it: alerts, outboxes, signals, deliveries, backtests). Placeholders
 * are $1..$N in both dialects. A parameter carries its kind so that each
 * backend binds it natively: SQLite binds integers (prices scaled as in
 * market/price.h, times as Unix ms) and text; PostgreSQL sends text with
 * the parameter's type (int8, text, boolean, numeric as the exact
 * decimal, timestamptz), so its SQL needs no casts.
 */
enum sqlv_kind {
    SQLV_NULL,
    SQLV_INT,
    SQLV_TEXT,
    SQLV_BOOL,
    SQLV_PRICE,   /* i: a price scaled by 1e8 */
    SQLV_TIME_MS, /* i: Unix ms (PostgreSQL: timestamptz) */
};

struct sqlv {
    enum sqlv_kind kind;
    int64_t i;
    const char *s;
};
#define SQLV_I(v)  ((struct sqlv){.kind = SQLV_INT, .i = (v)})
#define SQLV_S(v)  ((struct sqlv){.kind = SQLV_TEXT, .s = (v)})
#define SQLV_B(v)  ((struct sqlv){.kind = SQLV_BOOL, .i = (v) ? 1 : 0})
#define SQLV_P(v)  ((struct sqlv){.kind = SQLV_PRICE, .i = (v)})
#define SQLV_MS(v) ((struct sqlv){.kind = SQLV_TIME_MS, .i = (v)})
#define SQLV_N()   ((struct sqlv){.kind = SQLV_NULL})

/*
 * The rows of a statement, every cell as text (NULL for SQL NULL), read
 * with the sql_rows_* accessors of store_sql.c, which know how the backend
 * spells each kind.
 */
struct sql_rows {
    size_t nrows, ncols;
    char **cells;       /* nrows * ncols */
    int64_t changed;    /* rows inserted, updated or deleted */
    bool scaled_prices; /* prices are the integers of price.h (SQLite), else decimals */
};
#define SQL_ROWS_INIT                                                                              \
    {                                                                                              \
        0                                                                                          \
    }

/*
 * One statement in both dialects. The SQLite text reads times as the
 * stored Unix ms; the PostgreSQL text must select a timestamptz column as
 * Unix ms (SQL_PG_MS(col)) and a boolean as-is ("t"/"f").
 */
struct sql_stmt {
    const char *sqlite;
    const char *pg;
};
#define SQL_SAME(text)                                                                             \
    {                                                                                              \
        .sqlite = (text), .pg = (text)                                                             \
    }
#define SQL_PG_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

struct store_ops {
    /* Backend name, "sqlite" / "postgresql". */
    const char *name;
    /*
     * MUST. Connect to `url` (the full URL as given) and migrate the schema
     * to the newest version, applying missing migrations in order, each in
     * its own transaction, recording the version in the database. A
     * database whose version is newer than the backend knows is refused
     * with CK_ECONFIG (and left untouched).
     */
    int (*open)(struct store **out, const char *url, struct strbuf *err);
    /* MUST. Close the connection and free everything; rolls back. */
    void (*close)(struct store *st);
    /* MUST. */
    int (*schema_version)(struct store *st, int *out, struct strbuf *err);
    /* MUST. A trivial round trip. */
    bool (*ping)(struct store *st);
    /*
     * MAY (store_upkeep.c: "not checked" / nothing done without them). See
     * store/upkeep.h; called outside a transaction.
     */
    int (*check_integrity)(struct store *st, bool full, bool *out_ok, struct strbuf *problems,
                           struct strbuf *err);
    int (*upkeep)(struct store *st, struct store_upkeep *u, struct strbuf *err);
    /* MAY (store.c falls back to ping). See store_check_writable(); outside a transaction. */
    int (*check_writable)(struct store *st, struct strbuf *err);
    /*
     * MAY (NULL: every commit of the backend already is). From now on a
     * commit on this connection returns only once it would survive a power
     * loss, not only a crash of the process (SQLite: synchronous=FULL;
     * PostgreSQL: synchronous_commit on, also after a reconnection);
     * outside a transaction. See store_durable().
     */
    int (*set_durable)(struct store *st, struct strbuf *err);
    /* MUST. Plain transaction control; store.c tracks nesting. */
    int (*begin)(struct store *st, struct strbuf *err);
    int (*commit)(struct store *st, struct strbuf *err);
    int (*rollback)(struct store *st, struct strbuf *err);
    /*
     * MUST. Upsert candles; always called inside a transaction (store.c
     * opens one when the caller did not), so the backend does not begin or
     * commit here. `n` may be large (the benchmark uses batches of 5,000).
     */
    int (*put_candles)(struct store *st, const struct series_key *s, const struct candle *c,
                       size_t n, struct strbuf *err);
    /* MUST. CK_ENOTFOUND when the series has no candles. */
    int (*latest_time)(struct store *st, const struct series_key *s, int64_t *out,
                       struct strbuf *err);
    /* MUST. The iterator may hold a prepared statement / result. */
    int (*query_candles)(struct store *st, const struct candle_query *q, struct candle_iter **out,
                         struct strbuf *err);
    /* MUST. */
    int (*count_candles)(struct store *st, const struct candle_query *q, int64_t *out,
                         struct strbuf *err);
    /* MUST. count, min and max of open_time in the bounds; *out is zeroed by the caller. */
    int (*candle_extent)(struct store *st, const struct candle_query *q, struct candle_extent *out,
                         struct strbuf *err);
    /* MUST. See store_candle_stamp(); `out` is zeroed first. */
    int (*candle_stamp)(struct store *st, struct store_stamp *out, struct strbuf *err);
    /* The stamp is the same on every connection (store_stamp_shared()). */
    bool stamp_shared;
    /*
     * MUST. The open times in the bounds, ascending, into a new array
     * (*out NULL when none); *out and *n are zeroed by the caller.
     */
    int (*candle_times)(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                        struct strbuf *err);
    /*
     * MUST. Called inside a transaction. `limit` 0: every candle of `tf`
     * before `before`; otherwise at most `limit` of them, oldest of each
     * series first (a batch of the retention job, which calls again until
     * fewer come back). `*deleted` is the number removed.
     */
    int (*delete_candles_before)(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                 int64_t *deleted, struct strbuf *err);
    /* MUST. How many candles delete_candles_before() would remove without a limit. */
    int (*count_candles_before)(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                                struct strbuf *err);
    /* MUST. */
    int (*list_series)(struct store *st, struct series_info **out, size_t *n, struct strbuf *err);
    /* MUST. Select gap records matching `q`, newest first. */
    int (*list_gaps)(struct store *st, const struct gap_query *q, struct gap_record **out,
                     size_t *n, struct strbuf *err);
    /*
     * MUST. Insert a gap record for series `s` (g->source/symbol/tf are
     * ignored; g->id is ignored and set on return). Inside a transaction.
     */
    int (*insert_gap)(struct store *st, const struct series_key *s, struct gap_record *g,
                      struct strbuf *err);
    /*
     * MUST. Update first, last, count, state, reason, last_checked of g->id;
     * CK_ENOTFOUND (with a message) when there is no such record.
     */
    int (*update_gap)(struct store *st, const struct gap_record *g, struct strbuf *err);
    /*
     * MUST (jobs). See store.h for the semantics of each; writes are called
     * inside a transaction opened by store.c.
     */
    int (*job_ensure)(struct store *st, const char *job_id, int64_t now, struct strbuf *err);
    int (*job_get)(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err);
    int (*job_list)(struct store *st, struct job_state **out, size_t *n, struct strbuf *err);
    int (*job_pause)(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                     struct strbuf *err);
    int (*job_set_last_fire)(struct store *st, const char *job_id, int64_t fire,
                             struct strbuf *err);
    int (*job_run_insert)(struct store *st, struct job_run *r, struct strbuf *err);
    /* Update the run row only (status, finished, message, details); CK_ENOTFOUND. */
    int (*job_run_update)(struct store *st, int64_t id, enum job_status status, int64_t finished,
                          const char *message, const char *details, struct strbuf *err);
    /* Adjust the streak of the run's job (+1, or reset when `reset`); return the new value. */
    int (*job_streak_update)(struct store *st, const char *job_id, bool reset, int64_t *out_streak,
                             struct strbuf *err);
    int (*job_runs_list)(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                         size_t *n, struct strbuf *err);
    int (*job_runs_prune)(struct store *st, int64_t before_ms, int64_t *deleted,
                          struct strbuf *err);
    int (*job_runs_fail_stale)(struct store *st, int64_t started_before_ms, const char *message,
                               int64_t *count, struct strbuf *err);
    /* Atomically: insert, or take over an expired/own lease; CK_EBUSY otherwise. */
    int (*lease_claim)(struct store *st, const char *name, const char *instance, int64_t now_ms,
                       int64_t until_ms, struct strbuf *err);
    int (*lease_release)(struct store *st, const char *name, const char *instance,
                         struct strbuf *err);
    int (*lease_list)(struct store *st, const char *prefix, int64_t valid_at_ms,
                      struct lease_info **out, size_t *n, struct strbuf *err);
    /*
     * MUST (rate budgets; store.c has the logic). The stored part of a
     * budget: the UTC day `day_used` counts, and the ban.
     */
    int (*rate_get)(struct store *st, const char *source, bool lock, struct rate_row *out,
                    struct strbuf *err);
    int (*rate_put)(struct store *st, const char *source, const struct rate_row *row,
                    int64_t now_ms, struct strbuf *err);
    /*
     * Count the requests of `source` logged after `since_ms` (`*out_count`)
     * and give the send time of the `nth` newest of them (`*out_nth_ms`, 0
     * when there are fewer).
     */
    int (*rate_window)(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                       int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err);
    /* Log a request of `source` sent at `sent_ms`; forget those sent before `prune_before_ms`. */
    int (*rate_log)(struct store *st, const char *source, int64_t sent_ms, int64_t prune_before_ms,
                    struct strbuf *err);
    /* MUST (series state). get: CK_ENOTFOUND without a row; put: insert or replace. */
    int (*series_state_get)(struct store *st, const struct series_key *k, struct series_state *out,
                            struct strbuf *err);
    int (*series_state_put)(struct store *st, const struct series_state *s, struct strbuf *err);
    int (*series_state_list)(struct store *st, const char *source, struct series_state **out,
                             size_t *n, struct strbuf *err);
    /*
     * MUST (bulk copy; see store.h). The exports select rows with id > after_id by id, at
     * most `limit` (0 = all), with every field. The imports write rows as
     * given, ids aside, called inside a transaction; with
     * STORE_IMPORT_SKIP_EXISTING a gap record or run equal in every other
     * field to a stored one, or a job whose id is stored, is left out,
     * and without it a stored job id is a CK_ECONFLICT naming the job.
     * `*added` (never NULL here) gets the number of rows inserted.
     */
    int (*export_gaps)(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                       size_t *n, struct strbuf *err);
    int (*import_gaps)(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err);
    int (*export_job_runs)(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                           size_t *n, struct strbuf *err);
    int (*import_job_runs)(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                           size_t *added, struct strbuf *err);
    int (*import_jobs)(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err);
    /*
     * MUST (generic statements). Run `sql` (of this backend's dialect) with
     * p[0..n) and collect every row into `out` (released by the caller with
     * sql_rows_release, also on failure). The backend may cache the
     * prepared statement by the address of `sql`, which is therefore a
     * string with static storage. Errors: CK_ECONFLICT for a constraint,
     * CK_EBUSY, CK_EIO, as everywhere.
     */
    int (*sql)(struct store *st, const char *sql, const struct sqlv *p, size_t n,
               struct sql_rows *out, struct strbuf *err);
};

/* Embedded as the first member of every backend's connection. */
struct store {
    const struct store_ops *ops;
    bool in_tx;
    bool durable; /* store_durable() has made every commit durable */
};

/* Backend iterators embed this as their first member. */
struct candle_iter {
    int (*next)(struct candle_iter *it, struct candle *out, struct strbuf *err);
    void (*free)(struct candle_iter *it);
};

/*
 * Make every later commit on `st` durable (set_durable); for the writes
 * candlekeep acknowledges to someone else: a signal answered 201, a
 * delivery's new state, a cancel. Once per connection is enough; later
 * calls cost nothing. Must not be called inside a transaction (SQLite
 * cannot change it there): it returns 0 without changing anything then,
 * and the caller's transaction commits as the connection is set.
 */
int store_durable(struct store *st, struct strbuf *err);

/* Implicit transactions (store.c): begin one when the caller has none; end it. */
int store_implicit_begin(struct store *st, bool *owned, struct strbuf *err);
int store_implicit_end(struct store *st, bool owned, int rc, struct strbuf *err);

/*
 * store_sql.c. Run `stmt` in the store's dialect; `what` says what it was
 * for in the error ("record alert 'job:x'"). `out` may be NULL when no rows
 * are wanted (the changed count is then returned through `changed`, which
 * may be NULL too).
 */
int store_sql(struct store *st, const struct sql_stmt *stmt, const struct sqlv *p, size_t n,
              struct sql_rows *out, int64_t *changed, const char *what, struct strbuf *err);
void sql_rows_release(struct sql_rows *r);
/* Cell (row, col): NULL for SQL NULL. BUG() when out of range. */
const char *sql_rows_text(const struct sql_rows *r, size_t row, size_t col);
bool sql_rows_null(const struct sql_rows *r, size_t row, size_t col);
/* Typed reads: 0, or CK_EPARSE naming the column when the cell is NULL or malformed. */
int sql_rows_int(const struct sql_rows *r, size_t row, size_t col, int64_t *out,
                 struct strbuf *err);
int sql_rows_bool(const struct sql_rows *r, size_t row, size_t col, bool *out, struct strbuf *err);
int sql_rows_price(const struct sql_rows *r, size_t row, size_t col, int64_t *out,
                   struct strbuf *err);
/* A copy of the cell ("" for NULL). */
char *sql_rows_strdup(const struct sql_rows *r, size_t row, size_t col);
/*
 * Define `static int name(const struct sql_rows *r, type **out, size_t *n,
 * struct strbuf *err)`: every row read by `read_one(r, i, &v[i], err)` into
 * a new array. When a row fails, the rows before it and what the failing
 * one left (readers leave an element releasable) are freed with
 * `free_all(v, count)` and nothing is returned.
 */
#define SQL_ROWS_READ_ALL(name, type, read_one, free_all)                                          \
    static int name(const struct sql_rows *r, type **out, size_t *n, struct strbuf *err)           \
    {                                                                                              \
        type *v = xcalloc(r->nrows ? r->nrows : 1, sizeof(*v));                                    \
        for (size_t i = 0; i < r->nrows; i++) {                                                    \
            int rc = read_one(r, i, &v[i], err);                                                   \
            if (rc) {                                                                              \
                free_all(v, i + 1);                                                                \
                return rc;                                                                         \
            }                                                                                      \
        }                                                                                          \
        *out = v;                                                                                  \
        *n = r->nrows;                                                                             \
        return 0;                                                                                  \
    }

/* Integer or 0 when NULL (times that may be absent). */
int sql_rows_int_or0(const struct sql_rows *r, size_t row, size_t col, int64_t *out,
                     struct strbuf *err);

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
