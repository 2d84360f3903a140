/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_SQLITE_SQLITE_INTERNAL_H
#define CK_STORE_SQLITE_SQLITE_INTERNAL_H

/*
 * For the files of the SQLite backend only (store/sqlite/). The backend is
 * one `struct store_ops` (store_sqlite_ops, in conn.c) whose operations are
 * spread by concern: conn.c (open, migrate, transactions), series.c (the
 * series id cache), candles.c, gaps.c, jobs.c (jobs, runs and leases),
 * budget.c (rate budgets and series state) and sql.c (generic
 * statements); stmts.c holds the text of the cached statements. The
 * operations' contracts are those of store_internal.h; what is declared
 * here is shared between those files and nobody else.
 */
#include "store/store_internal.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* The cached statements, prepared on first use and kept until close. */
enum sqlite_stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_VERSION,
    STMT_VERSION_ADD,
    STMT_VERSION_TOUCH,
    STMT_SERIES_GET,
    STMT_SERIES_ADD,
    STMT_PUT,
    STMT_LATEST,
    STMT_COUNT,
    STMT_EXTENT,
    STMT_DATA_VERSION,
    STMT_TIMES,
    STMT_DELETE_BEFORE,
    STMT_SERIES_OF_TF,
    STMT_BATCH_BOUND,
    STMT_DELETE_SERIES_BEFORE,
    STMT_COUNT_BEFORE,
    STMT_GAP_INSERT,
    STMT_GAP_UPDATE,
    STMT_JOB_ENSURE,
    STMT_JOB_GET,
    STMT_JOB_LIST,
    STMT_JOB_PAUSE,
    STMT_JOB_LAST_FIRE,
    STMT_JOB_STREAK,
    STMT_RUN_INSERT,
    STMT_RUN_UPDATE,
    STMT_RUNS_OF_JOB,
    STMT_RUNS_ALL,
    STMT_RUNS_PRUNE,
    STMT_RUNS_FAIL_STALE,
    STMT_LEASES_PRUNE,
    STMT_LEASE_CLAIM,
    STMT_LEASE_HOLDER,
    STMT_LEASE_RELEASE,
    STMT_LEASE_LIST_FROM,
    STMT_LEASE_LIST_RANGE,
    STMT_RATE_ENSURE,
    STMT_RATE_GET,
    STMT_RATE_PUT,
    STMT_RATE_COUNT,
    STMT_RATE_NTH,
    STMT_RATE_LOG,
    STMT_RATE_PRUNE,
    STMT_SSTATE_GET,
    STMT_SSTATE_PUT,
    STMT_SSTATE_LIST,
    STMT_SSTATE_LIST_SOURCE,
    STMT_GAPS_EXPORT,
    STMT_GAP_IMPORT_NEW,
    STMT_RUNS_EXPORT,
    STMT_RUN_IMPORT_NEW,
    STMT_JOB_IMPORT,
    STMT_NR
};

/* The columns every job-run listing reads, in read_job_run()'s order. */
#define JOB_RUN_COLUMNS                                                                            \
    "id, job_id, instance, scheduled, started, finished, status, message, details"
#define LEASE_COLUMNS "name, holder, until_ms, created_ms"
/* The columns of a series_state row, in read_series_state()'s order. */
#define SSTATE_COLUMNS                                                                             \
    "source, symbol, timeframe, streak, skipped, last_error, last_failure, last_success, "         \
    "deferred_since, deferred_reason, updated_at"
/* The columns every gap listing reads, in read_gap()'s order (FROM gaps g JOIN series s). */
#define GAP_COLUMNS                                                                                \
    "g.id, s.source, s.symbol, s.timeframe, g.first_time, g.last_time, g.count, g.state, "         \
    "g.reason, g.first_seen, g.last_checked, g.attempts, g.first_attempt"

/*
 * Gap listing filters; each combination of present filters is its own
 * statement (so the planner can use the series key and the gaps index),
 * cached by the bit mask of the filters.
 */
enum gap_filter {
    GAPF_SOURCE = 1 << 0,
    GAPF_SYMBOL = 1 << 1,
    GAPF_TF = 1 << 2,
    GAPF_SINCE = 1 << 3,
    GAPF_STATE = 1 << 4,
    GAPF_LIMIT = 1 << 5,
    GAPF_NR = 1 << 6
};

/* One cached series id. An empty slot has source == NULL. */
struct series_slot {
    char *source;
    char *symbol;
    enum timeframe tf;
    uint32_t hash;
    bool tentative; /* created in the open transaction */
    int64_t id;
};

struct sqlite_store {
    struct store base; /* first: the store.c view of this connection */
    sqlite3 *db;
    char *path; /* for messages */
    sqlite3_stmt *stmts[STMT_NR];
    sqlite3_stmt *gap_stmts[GAPF_NR];
    /* Series id cache: open addressing, linear probing, power-of-two size. */
    struct series_slot *slots;
    size_t nslots, nused;
    bool has_tentative;
    size_t live_iters; /* iterators not yet freed */
    /*
     * The candle query, prepared once per order and lent to one iterator at
     * a time (the API runs it on every request); a second concurrent
     * iterator of the same order prepares its own.
     */
    sqlite3_stmt *query_stmts[2];
    bool query_lent[2];
    /* Generic statements (store_sql.c), prepared once, keyed by the address of their text. */
    struct sql_cached {
        const char *sql;
        sqlite3_stmt *stmt;
    } * sql_cache;
    size_t sql_ncache, sql_alloc;
};

struct sqlite_iter {
    struct candle_iter base; /* first: the store.c view of this iterator */
    struct sqlite_store *ss;
    sqlite3_stmt *stmt; /* NULL when the series does not exist */
    int lent;           /* index into ss->query_stmts when borrowed, else -1 */
    bool done;
};

/* The text of each cached statement (stmts.c). */
extern const char *const sqlite_stmt_sql[STMT_NR];

/* conn.c: the connection and its statements. */

/* The connection behind `st`; BUG() on another backend's store. */
struct sqlite_store *sqlite_downcast(struct store *st);
/*
 * Describe the failure `rc` of `what` in `err` and return its CK_E* code.
 * Call before resetting the failed statement so that SQLite's message is
 * still the one of this failure.
 */
int sqlite_fail(struct sqlite_store *ss, int rc, const char *what, struct strbuf *err);
/* Cached statement `id`, prepared on first use. */
int sqlite_stmt(struct sqlite_store *ss, enum sqlite_stmt_id id, sqlite3_stmt **out,
                struct strbuf *err);
/*
 * Step `st` once, expecting a row (want_row) or completion, and reset it
 * unless a row was returned and the caller will read it (then the caller
 * resets). Returns 0, CK_ENOTFOUND when a row was wanted and none came, or
 * the mapped error.
 */
int sqlite_step(struct sqlite_store *ss, sqlite3_stmt *st, bool want_row, const char *what,
                struct strbuf *err);
/*
 * End the use of a cached statement: reset it and drop its bindings, so
 * that no borrowed string bound with SQLITE_STATIC outlives the call.
 */
void sqlite_stmt_done(sqlite3_stmt *st);
/* Bind `s` (borrowed until sqlite_stmt_done()) to parameter `col`. */
void sqlite_bind_str(sqlite3_stmt *st, int col, const char *s);
/* The LIMIT of an export: SQLite reads a negative one as none. */
int64_t sqlite_export_limit(size_t limit);

/* series.c: the series id cache. */

/* The transaction ended: commit makes tentative ids permanent, rollback drops them. */
void sqlite_cache_end_transaction(struct sqlite_store *ss, bool committed);
/* Free the cache (at close). */
void sqlite_cache_free(struct sqlite_store *ss);
/* Bind source, symbol and timeframe of `k` to parameters 1..3 (borrowed). */
void sqlite_bind_series_key(sqlite3_stmt *st, const struct series_key *k);
/*
 * The id of series `k`. When it does not exist: CK_ENOTFOUND (no message)
 * unless `create`, which inserts it; `create` is only used by writes, which
 * run inside a transaction.
 */
int sqlite_series_id(struct sqlite_store *ss, const struct series_key *k, bool create, int64_t *out,
                     struct strbuf *err);
/* Parse a timeframe column; a bad value (CK_EPARSE) means the file was edited by hand. */
int sqlite_column_tf(struct sqlite_store *ss, sqlite3_stmt *st, int col, enum timeframe *out,
                     struct strbuf *err);
/* A copy of a text column ("" for NULL). */
char *sqlite_column_strdup(sqlite3_stmt *st, int col);

/* The operations of store_sqlite_ops, by file; their contracts are in store_internal.h. */

/* candles.c */
/* Makes ck_candle_batch(), which STMT_PUT reads, known to connection `db`. */
int sqlite_register_candle_batch(sqlite3 *db);
int sqlite_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                       size_t n, struct strbuf *err);
int sqlite_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                       struct strbuf *err);
int sqlite_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                         struct strbuf *err);
int sqlite_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                         struct strbuf *err);
int sqlite_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                 int64_t *deleted, struct strbuf *err);
int sqlite_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                         struct strbuf *err);
int sqlite_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err);
int sqlite_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                        struct strbuf *err);
int sqlite_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                                struct strbuf *err);
int sqlite_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err);

/* gaps.c */
int sqlite_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                     size_t *n, struct strbuf *err);
int sqlite_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                      struct strbuf *err);
int sqlite_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err);
int sqlite_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                       size_t *n, struct strbuf *err);
int sqlite_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err);

/* jobs.c */
int sqlite_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err);
/* upkeep.c (store/upkeep.h) */
int sqlite_check_integrity(struct store *st, bool full, bool *out_ok, struct strbuf *problems,
                           struct strbuf *err);
int sqlite_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err);

int sqlite_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err);
int sqlite_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err);
int sqlite_job_pause(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                     struct strbuf *err);
int sqlite_job_set_last_fire(struct store *st, const char *job_id, int64_t fire,
                             struct strbuf *err);
int sqlite_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err);
int sqlite_job_run_update(struct store *st, int64_t id, enum job_status status, int64_t finished,
                          const char *message, const char *details, struct strbuf *err);
int sqlite_job_streak_update(struct store *st, const char *job_id, bool reset, int64_t *out_streak,
                             struct strbuf *err);
int sqlite_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                         size_t *n, struct strbuf *err);
int sqlite_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted,
                          struct strbuf *err);
int sqlite_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                               int64_t *count, struct strbuf *err);
int sqlite_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                       int64_t until_ms, struct strbuf *err);
int sqlite_lease_release(struct store *st, const char *name, const char *instance,
                         struct strbuf *err);
int sqlite_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                      struct lease_info **out, size_t *n, struct strbuf *err);
int sqlite_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                           size_t *n, struct strbuf *err);
int sqlite_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                           size_t *added, struct strbuf *err);
int sqlite_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err);

/* budget.c */
int sqlite_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                    struct strbuf *err);
int sqlite_rate_put(struct store *st, const char *source, const struct rate_row *row,
                    int64_t now_ms, struct strbuf *err);
int sqlite_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                       int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err);
int sqlite_rate_log(struct store *st, const char *source, int64_t sent_ms, int64_t prune_before_ms,
                    struct strbuf *err);
int sqlite_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                            struct strbuf *err);
int sqlite_series_state_put(struct store *st, const struct series_state *s, struct strbuf *err);
int sqlite_series_state_list(struct store *st, const char *source, struct series_state **out,
                             size_t *n, struct strbuf *err);

/* sql.c */
int sqlite_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n,
               struct sql_rows *out, struct strbuf *err);

#endif
