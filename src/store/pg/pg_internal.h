/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_PG_PG_INTERNAL_H
#define CK_STORE_PG_PG_INTERNAL_H

/*
 * For the files of the PostgreSQL backend only (store/pg/). The backend is
 * one `struct store_ops` (store_pg_ops, in conn.c) whose operations are
 * spread by concern: conn.c (messages, the connection, statements and
 * their parameters, open, migrate, transactions, pipelined batches),
 * candles.c, gaps.c, jobs.c (jobs, runs and leases), budget.c (rate
 * budgets and series state) and sql.c (generic statements); stmts.c holds
 * the prepared statements' text and schema.c the migrations. The
 * operations' contracts are those of store_internal.h; what is declared
 * here is shared between those files and nobody else.
 */
#include "store/store_internal.h"
#include "util/redact.h"
#include "util/strbuf.h"

#include <libpq-fe.h>

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Statements of the connection, prepared on first use. */
enum pg_stmt {
    PG_SCHEMA_VERSION,
    PG_SERIES_GET,
    PG_SERIES_ADD,
    PG_RANGE_USED,
    PG_SERIES_STAMP,
    PG_SERIES_TOUCH,
    PG_SERIES_TOUCH_TF,
    PG_LATEST,
    PG_QUERY_ASC,
    PG_QUERY_DESC,
    PG_COUNT,
    PG_EXTENT,
    PG_TIMES,
    PG_DELETE_BEFORE,
    PG_SERIES_OF_TF,
    PG_SERIES_OLDEST,
    PG_DELETE_WINDOW,
    PG_DELETE_COUNTED,
    PG_COUNT_BEFORE,
    PG_LIST_SERIES,
    PG_LIST_GAPS,
    PG_INSERT_GAP,
    PG_UPDATE_GAP,
    PG_JOB_ENSURE,
    PG_JOB_GET,
    PG_JOB_LIST,
    PG_JOB_PAUSE,
    PG_JOB_LAST_FIRE,
    PG_JOB_STREAK,
    PG_RUN_INSERT,
    PG_RUN_UPDATE,
    PG_RUNS_OF_JOB,
    PG_RUNS_ALL,
    PG_RUNS_PRUNE,
    PG_RUNS_FAIL_STALE,
    PG_LEASES_PRUNE,
    PG_LEASE_CLAIM,
    PG_LEASE_HOLDER,
    PG_LEASE_RELEASE,
    PG_LEASE_LIST,
    PG_RATE_ENSURE,
    PG_RATE_LOCK,
    PG_RATE_GET,
    PG_RATE_PUT,
    PG_RATE_WINDOW,
    PG_RATE_LOG,
    PG_SSTATE_GET,
    PG_SSTATE_PUT,
    PG_SSTATE_LIST,
    PG_GAPS_EXPORT,
    PG_GAP_IMPORT_NEW,
    PG_RUNS_EXPORT,
    PG_RUN_IMPORT_NEW,
    PG_JOB_IMPORT,
    PG_STMT_COUNT
};

/* The series of parameters $1..$3 (source, symbol, timeframe). */
#define PG_SERIES_ID_OF                                                                            \
    "(SELECT id FROM series WHERE source = $1 AND symbol = $2 AND timeframe = $3)"

/* A timestamptz column as Unix milliseconds (NULL stays NULL). */
#define PG_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
/* The columns of a job row, in pg_read_job()'s order. */
#define PG_JOB_COLUMNS                                                                             \
    "job_id, paused, streak, coalesce(extract(epoch FROM last_fire)::bigint, 0), "                 \
    "extract(epoch FROM updated_at)::bigint, "                                                     \
    "coalesce(extract(epoch FROM paused_until)::bigint, 0), pause_reason, paused_by"
/* The columns of a gap record, in pg_read_gap()'s order (FROM gaps g JOIN series s). */
#define PG_GAP_COLUMNS                                                                             \
    "g.id, s.source, s.symbol, s.timeframe, extract(epoch FROM g.first_time)::bigint, "            \
    "extract(epoch FROM g.last_time)::bigint, g.count, g.state, g.reason, "                        \
    "extract(epoch FROM g.first_seen)::bigint, extract(epoch FROM g.last_checked)::bigint, "       \
    "g.attempts, coalesce(extract(epoch FROM g.first_attempt)::bigint, 0)"
/* The columns of a run row, in pg_read_run()'s order. */
#define PG_RUN_COLUMNS                                                                             \
    "id, job_id, instance, extract(epoch FROM scheduled)::bigint, " PG_MS(                         \
        "started") ", "                                                                            \
                   "coalesce(" PG_MS("finished") ", 0), status, message, details"

/* The columns of a rate budget, in pg_rate_get()'s order; times as Unix ms. */
#define PG_RATE_COLUMNS                                                                            \
    "(day - DATE '1970-01-01')::bigint, day_used, "                                                \
    "coalesce((extract(epoch FROM banned_until) * 1000)::bigint, 0), ban_reason"
/* The columns of a series_state row, in pg_read_sstate()'s order; times as Unix s, 0 for NULL. */
#define PG_SSTATE_COLUMNS                                                                          \
    "source, symbol, timeframe, streak, skipped, last_error, "                                     \
    "coalesce(extract(epoch FROM last_failure)::bigint, 0), "                                      \
    "coalesce(extract(epoch FROM last_success)::bigint, 0), "                                      \
    "coalesce(extract(epoch FROM deferred_since)::bigint, 0), deferred_reason, "                   \
    "extract(epoch FROM updated_at)::bigint"

/*
 * Key of the advisory lock that serialises migrations: an arbitrary
 * constant, fixed forever (processes of every version must agree on it).
 */
#define PG_MIGRATE_LOCK "7713666909727727988"

/* Candles per upsert statement, and per page of a query. */
#define PG_UPSERT_CHUNK 10000
#define PG_PAGE_ROWS    5000
/* Open times per page of store_candle_times() (8 bytes each on the wire). */
#define PG_TIMES_PAGE 65536
/* Candles a connection inserts before it looks at candles' statistics. */
#define PG_ANALYZE_ROWS 100000

/*
 * timestamptz's binary form counts microseconds from 2000-01-01 UTC. The
 * store keeps times of the years 1 to 9999 (which every client and text
 * format can spell); bounds outside them become -infinity/infinity
 * in comparisons, which selects the same rows.
 */
#define PG_EPOCH_UNIX 946684800LL
#define PG_TIME_MIN   (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define PG_TIME_END   253402300800LL   /* 10000-01-01T00:00:00Z */

struct pg_store {
    struct store base;
    PGconn *conn;
    char *redacted;            /* the URL with its password masked, for messages */
    struct redact_set secrets; /* the URL's passwords, scrubbed from what libpq says */
    bool ready[PG_STMT_COUNT];
    bool server_gone;      /* the server announced it is closing the connection */
    bool durable;          /* synchronous_commit is on for the session (set again on reset) */
    struct strbuf cols[6]; /* the upsert's arrays, COPY's data; kept between batches */
    struct strbuf scratch; /* what a failing statement was for */
    /*
     * Retention batches: per series, where the last batch of a delete with
     * cutoff `before` stopped (every older candle was deleted then; at
     * `before`: the series has nothing left to delete). Only a starting
     * point for the next batch of the same cutoff, forgotten when this
     * connection writes candles; one that another connection stores older
     * than it meanwhile is left for the next run. Room for the series of
     * a timeframe in most stores (a mark that is evicted only costs one
     * more search for the oldest candle): 256 of 32 bytes.
     */
    struct pg_delete_mark {
        bool set;
        int64_t series, before, from;
    } marks[256];
    unsigned next_mark;
    /*
     * Candles this connection inserted in the open transaction, and since
     * its last ANALYZE once committed; at `analyze_at` it looks whether
     * the planner's statistics of candles are due (pg_candles_committed()).
     */
    int64_t inserted_tx, inserted, analyze_at;
};
static_assert(offsetof(struct pg_store, base) == 0, "struct store must come first");

/* Parameters of one statement; strings are borrowed or kept in `text`. */
#define PG_MAX_PARAMS 12
struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char text[PG_MAX_PARAMS][24];
    char bin[PG_MAX_PARAMS][8];
};

#define PG_MS_MIN (PG_TIME_MIN * 1000)
#define PG_MS_END (PG_TIME_END * 1000)

/*
 * Executions of one statement in flight at once in pg_run_each(). The
 * server answers each (a few dozen bytes) while the client is still
 * sending; a client that only writes while the server's answers pile up
 * unread can deadlock with it once the socket buffers fill, and a few
 * hundred answers stay far below any buffer size.
 */
#define PG_PIPELINE_ROWS 256

/* A prepared statement: its name on the server and its text (stmts.c). */
struct pg_stmt_def {
    const char *name;
    const char *sql;
};
extern const struct pg_stmt_def pg_stmts[PG_STMT_COUNT];

/*
 * The migrations, in order (schema.c); migration i brings the schema to
 * version i + 1. pg_schema_latest is their number.
 */
extern const char *const pg_migrations[];
extern const int pg_schema_latest;

/* conn.c: messages, the connection, statements and their parameters. */

struct pg_store *pg_downcast(struct store *st);

/* The connection's own error text, scrubbed, or a fallback. */
void pg_add_conn_error(struct pg_store *ps, struct strbuf *err);

/*
 * Map a failed result to a CK_E* code and append the message. `res` may be
 * NULL (libpq could not even produce a result).
 */
int pg_result_error(struct pg_store *ps, const PGresult *res, const char *what, struct strbuf *err);

/*
 * Make the connection usable for an operation. Outside a transaction a
 * connection that broke while idle is reset once (see the top of the file).
 */
int pg_ready(struct pg_store *ps, struct strbuf *err);

/* The next parameter of `p`; BUG() past PG_MAX_PARAMS. */
int pg_param_slot(struct pg_params *p);

/* Append a text parameter (`s` borrowed until the statement ran). */
void pg_param_text(struct pg_params *p, const char *s);

/* Append a NULL parameter. */
void pg_param_null(struct pg_params *p);

/* Append an integer parameter (sent as text). */
void pg_param_int(struct pg_params *p, int64_t v);

/* Big-endian stores, for binary parameters and COPY. */
void pg_put_be64(char *out, uint64_t v);

void pg_put_be32(char *out, uint32_t v);

/* Can `t` be stored (as a candle or gap time)? */
bool pg_time_storable(int64_t t);

/* Unix seconds as timestamptz's binary value, outside the kept years +-infinity. */
int64_t pg_time_value(int64_t t);

/* Append Unix seconds `t` as a binary timestamptz. */
void pg_param_time(struct pg_params *p, int64_t t);

/* Append source, symbol and timeframe of `s` as $n..$n+2. */
void pg_param_series(struct pg_params *p, const struct series_key *s);

/*
 * Run prepared statement `id`. On success *out holds the result (the
 * caller clears it); on failure the error is reported, with what the
 * statement was for in `fmt`.
 */
int pg_run(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
           struct strbuf *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * pg_run() with every column of the result in binary format (read with
 * PQgetvalue() as the type's send function wrote it: big-endian).
 */
int pg_run_binary(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
                  struct strbuf *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A plain command without parameters (transaction control, DDL). */
int pg_command(struct pg_store *ps, const char *sql, const char *what, struct strbuf *err);

/* Parse a bigint column; NULL or junk is a CK_EPARSE. */
int pg_get_int(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
               struct strbuf *err);

/* Parse a numeric column as a scaled price; NULL or junk is a CK_EPARSE. */
int pg_get_price(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
                 struct strbuf *err);

/* Parse a timeframe column; an unknown one is a CK_EPARSE. */
int pg_get_tf(struct pg_store *ps, const PGresult *res, int row, int col, enum timeframe *out,
              struct strbuf *err);

/* Unix milliseconds as a binary timestamptz, outside the kept years +-infinity. */
void pg_param_ms(struct pg_params *p, int64_t ms);

/* Append a boolean parameter. */
void pg_param_bool(struct pg_params *p, bool v);

/* A time (in `unit`s per second) that is to be stored must lie in the kept years. */
int pg_check_time(int64_t t, int64_t unit, const char *what, struct strbuf *err);

/* The number of rows a command changed. */
int64_t pg_changed(PGresult *res);

/*
 * Run prepared statement `id` once for each parameter set p[0..n), n <=
 * PG_PIPELINE_ROWS, in libpq's pipeline mode: every execution is sent
 * before the first answer is read, so the batch costs one round trip
 * rather than n. `each` (may be NULL) gets the rows each execution
 * changed, and `*changed` grows by their sum. The first failure is
 * reported; the server skips the executions after it. Only inside a
 * transaction, which a failure leaves failed (the caller rolls back).
 */
int pg_run_each(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, size_t n,
                int64_t *each, size_t *changed, const char *what, struct strbuf *err);

/* The id and limit parameters of an export. */
void pg_param_page(struct pg_params *p, int64_t after_id, size_t limit);

/* candles.c: helpers the gap ledger shares. */

/* --- candles ----------------------------------------------------------- */
void pg_add_series_name(struct strbuf *sb, const struct series_key *s);

/*
 * The id of series `s`, which is added when missing, with the row locked
 * until the transaction ends. Only for writers.
 */
int pg_series_id(struct pg_store *ps, const struct series_key *s, int64_t *out, struct strbuf *err);

/*
 * After a commit: count the candles the transaction inserted, and analyze
 * candles when this connection's inserts have outgrown its statistics.
 */
void pg_candles_committed(struct pg_store *ps);

/* The operations of store_pg_ops, by file; their contracts are in store_internal.h. */

/* candles.c */
int pg_put_candles(struct store *st, const struct series_key *s, const struct candle *c, size_t n,
                   struct strbuf *err);
int pg_latest_time(struct store *st, const struct series_key *s, int64_t *out, struct strbuf *err);
int pg_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                     struct strbuf *err);
int pg_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                     struct strbuf *err);
int pg_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                             int64_t *deleted, struct strbuf *err);
int pg_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                     struct strbuf *err);
int pg_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err);
int pg_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                    struct strbuf *err);
int pg_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                            struct strbuf *err);
int pg_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err);

/* gaps.c */
int pg_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out, size_t *n,
                 struct strbuf *err);
int pg_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                  struct strbuf *err);
int pg_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err);
int pg_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                   size_t *n, struct strbuf *err);
int pg_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                   size_t *added, struct strbuf *err);

/* jobs.c */
int pg_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err);
/* upkeep.c (store/upkeep.h) */
int pg_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err);

int pg_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err);
int pg_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err);
int pg_job_pause(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                 struct strbuf *err);
int pg_job_set_last_fire(struct store *st, const char *job_id, int64_t fire, struct strbuf *err);
int pg_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err);
int pg_job_run_update(struct store *st, int64_t id, enum job_status status, int64_t finished,
                      const char *message, const char *details, struct strbuf *err);
int pg_job_streak_update(struct store *st, const char *job_id, bool reset, int64_t *out_streak,
                         struct strbuf *err);
int pg_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                     size_t *n, struct strbuf *err);
int pg_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted, struct strbuf *err);
int pg_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                           int64_t *count, struct strbuf *err);
int pg_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                   int64_t until_ms, struct strbuf *err);
int pg_lease_release(struct store *st, const char *name, const char *instance, struct strbuf *err);
int pg_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                  struct lease_info **out, size_t *n, struct strbuf *err);
int pg_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                       size_t *n, struct strbuf *err);
int pg_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err);
int pg_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                   size_t *added, struct strbuf *err);

/* budget.c */
int pg_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                struct strbuf *err);
int pg_rate_put(struct store *st, const char *source, const struct rate_row *row, int64_t now_ms,
                struct strbuf *err);
int pg_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                   int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err);
int pg_rate_log(struct store *st, const char *source, int64_t sent_ms, int64_t prune_before_ms,
                struct strbuf *err);
int pg_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                        struct strbuf *err);
int pg_series_state_put(struct store *st, const struct series_state *s, struct strbuf *err);
int pg_series_state_list(struct store *st, const char *source, struct series_state **out, size_t *n,
                         struct strbuf *err);

/* sql.c */
int pg_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n, struct sql_rows *out,
           struct strbuf *err);

#endif
