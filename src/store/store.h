/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_STORE_H
#define CK_STORE_STORE_H

#include "market/candle.h"
#include "market/gaps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * The store: candlekeep's one interface to its database. A store is opened
 * from a URL, "sqlite:PATH" (or a bare path ending in .db) or
 * "postgresql://..." / "postgres://...", and its schema is migrated to the
 * current version at open.
 *
 * A `struct store` is one connection and is not thread-safe: each thread
 * (each worker of the pool) opens its own.
 *
 * All fallible functions return 0 or a negative CK_E* code with a message in
 * `err` (which never contains a password). CK_EIO means the database failed
 * (unreachable, disk full, read-only); CK_EBUSY that it stayed locked by
 * another connection past the busy timeout (worth retrying later);
 * CK_ECONFLICT that a constraint refused a write; CK_EINVAL means bad
 * arguments.
 */
struct store;

/*
 * Open and migrate. On failure nothing needs to be released. A database
 * whose schema is newer than this program knows is refused with
 * CK_ECONFIG; an unreachable or unwritable one gives CK_EIO.
 */
int store_open(struct store **out, const char *url, struct strbuf *err);
/* Close; takes NULL. Rolls back an open transaction. */
void store_close(struct store *st);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *st);
/* The schema version now in the database. */
int store_schema_version(struct store *st, int *out, struct strbuf *err);
/* Is the database reachable right now (a trivial query succeeds)? */
bool store_ping(struct store *st);
/*
 * Can the database take a write right now? Quicker to give up than a
 * write: it waits about a second at most for another writer. SQLite: the
 * write lock can be taken (not held by another process past that second,
 * the file not read-only); PostgreSQL: the server answers and is not a
 * read-only standby. 0, or CK_EIO / CK_EBUSY with the reason in `err`.
 * For health checks; nothing is written.
 */
int store_check_writable(struct store *st, struct strbuf *err);
/*
 * The size of the database in bytes, for reports: SQLite, its main file's
 * pages (page_count * page_size; the write-ahead log aside); PostgreSQL,
 * pg_database_size() of the connected database.
 */
int store_database_size(struct store *st, int64_t *out, struct strbuf *err);

/*
 * Transactions. store_begin() starts one; store_commit()/store_rollback()
 * end it. Calls do not nest: beginning inside a transaction is a BUG().
 * Functions below that write run in their own transaction when called
 * outside one, and join the caller's otherwise.
 */
int store_begin(struct store *st, struct strbuf *err);
int store_commit(struct store *st, struct strbuf *err);
int store_rollback(struct store *st, struct strbuf *err);
bool store_in_transaction(const struct store *st);

/*
 * Upsert `n` candles of series `s` (all in one transaction): a candle whose
 * (source, symbol, timeframe, open_time) exists replaces the stored values;
 * re-upserting identical values is harmless. The caller has validated them.
 */
int store_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                      size_t n, struct strbuf *err);

/* Open time of the newest stored candle of `s`; CK_ENOTFOUND if it has none. */
int store_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                      struct strbuf *err);

enum store_order {
    STORE_ASC,
    STORE_DESC,
};

/*
 * A range query: candles of `series` with start <= open_time <= end (each
 * bound only when its has_ flag is set), in `order`, at most `limit` (0 = no
 * limit).
 */
struct candle_query {
    struct series_key series;
    bool has_start, has_end;
    int64_t start, end;
    size_t limit;
    enum store_order order;
};

/* Iterators return ITER_OK with a value, ITER_DONE at the end, or a negative CK_E*. */
#define ITER_OK 0
#define ITER_DONE 1

struct candle_iter;
int store_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                        struct strbuf *err);
int candle_iter_next(struct candle_iter *it, struct candle *out, struct strbuf *err);
/* Takes NULL. Must be called before the store is closed. */
void candle_iter_free(struct candle_iter *it);
/* Convenience: run the query and append every candle to `out`. */
int store_query_candles_vec(struct store *st, const struct candle_query *q,
                            struct candle_vec *out, struct strbuf *err);

/* Number of candles of `q->series` in the query's bounds (limit and order ignored). */
int store_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                        struct strbuf *err);

/*
 * Delete candles of timeframe `tf` with open_time < `before`, for every
 * source and symbol (retention). `limit` 0 deletes them all; otherwise at
 * most `limit` go, the oldest of each series first, so that a caller can
 * delete a large backlog in batches of one transaction each (calling
 * again until fewer than `limit` come back) and never hold the database
 * for long. The commit of a batch may not wait for the disk (PostgreSQL:
 * synchronous_commit off for that transaction), so a crash can undo the
 * last batches, which the next run deletes again; a caller that joins
 * other writes to a batch's transaction shares that. `*deleted` (may be
 * NULL) gets the number removed.
 */
int store_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                int64_t *deleted, struct strbuf *err);
/* How many candles store_delete_candles_before(tf, before, 0) would delete. */
int store_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                               struct strbuf *err);

/* A stored series and its extent. Strings are owned by the record. */
struct series_info {
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t count;
    int64_t first_time, last_time; /* 0 when count is 0 */
};
/* All series, ordered by source, symbol, timeframe. Free with series_info_free(). */
int store_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err);
void series_info_free(struct series_info *v, size_t n);

/*
 * The gap ledger. A gap is a run of missing candles of one series with a
 * state and a reason; the same hole seen again updates its record instead
 * of adding one.
 */
enum gap_state {
    GAP_OPEN,
    GAP_REPAIRING,
    GAP_FILLED,
    GAP_UNFILLABLE,
};
const char *gap_state_name(enum gap_state s);
int gap_state_parse(const char *name, enum gap_state *out);

struct gap_record {
    int64_t id;
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t first, last, count;
    enum gap_state state;
    char *reason;
    int64_t first_seen, last_checked;
};
void gap_records_free(struct gap_record *v, size_t n);

/* Which gaps to list. NULL strings and has_ flags off mean "any". */
struct gap_query {
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
    bool has_since; /* gaps whose last >= since */
    int64_t since;
    bool has_state;
    enum gap_state state;
    size_t limit; /* 0 = no limit */
};
/* Newest first (by first open time). */
int store_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                    size_t *n, struct strbuf *err);

struct gap_sync_result {
    size_t opened;  /* new records */
    size_t updated; /* open records seen again (possibly narrowed) */
    size_t filled;  /* open records no longer missing */
    size_t open;    /* open gaps in the window after the sync */
};

/*
 * Reconcile the ledger of series `s` with a fresh scan of [from, to):
 * `found` are the gaps the scan found. In one transaction: a found gap that
 * overlaps an open (or repairing) record updates that record (first, last,
 * count, last_checked); one that overlaps none opens a new record with
 * `reason`; an open record inside the window that no found gap overlaps is
 * marked filled. Records in other states are left alone, and a found gap
 * overlapping an unfillable record is not reopened.
 */
int store_sync_gaps(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                    const struct gap_range *found, size_t nfound, const char *reason,
                    int64_t now, struct gap_sync_result *out, struct strbuf *err);

/* Set the state (and reason, if not NULL) of gap `id`. CK_ENOTFOUND if none. */
int store_set_gap_state(struct store *st, int64_t id, enum gap_state state, const char *reason,
                        int64_t now, struct strbuf *err);

/*
 * Scheduled jobs: the persistent part of a job's state (paused flag,
 * failure streak, the last fire time handled) and its run history. The
 * daemon and the CLI see the same rows, so `candlekeep jobs pause` works
 * whether or not a daemon runs, and state survives restarts.
 */
struct job_state {
    char *job_id;
    bool paused;
    int64_t streak;      /* consecutive failed or timed-out runs */
    int64_t last_fire;   /* newest scheduled time handled (run, skipped or missed); 0: none */
    int64_t updated_at;
};
void job_state_release(struct job_state *js);
void job_states_free(struct job_state *v, size_t n);

/* Create the job's row if it has none (not paused, streak 0). */
int store_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err);
/* CK_ENOTFOUND when the job has no row. Release `out` with job_state_release(). */
int store_job_get(struct store *st, const char *job_id, struct job_state *out,
                  struct strbuf *err);
/* Every job row, ordered by id. */
int store_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err);
/* Set the paused flag (creating the row if needed). */
int store_job_set_paused(struct store *st, const char *job_id, bool paused, int64_t now,
                         struct strbuf *err);
/* Advance last_fire to `fire` if it is newer. */
int store_job_set_last_fire(struct store *st, const char *job_id, int64_t fire,
                            struct strbuf *err);

enum job_status {
    JOB_RUNNING,
    JOB_OK,
    JOB_FAILED,
    JOB_SKIPPED,
    JOB_TIMED_OUT,
    JOB_MISSED,
};
const char *job_status_name(enum job_status s);
int job_status_parse(const char *name, enum job_status *out);

/* One row of job history. Strings are owned by the record. */
struct job_run {
    int64_t id;
    char *job_id;
    char *instance;    /* which daemon (or CLI) ran it */
    int64_t scheduled; /* the fire time (Unix s) */
    int64_t started;   /* Unix ms */
    int64_t finished;  /* Unix ms; 0 while running */
    enum job_status status;
    char *message;     /* one line */
    char *details;     /* JSON object text, "{}" when none */
};
void job_runs_free(struct job_run *v, size_t n);

/*
 * Insert a run row as given (status running for a run that starts now, or
 * a finished status — skipped, missed — recorded in one go). Sets r->id.
 * For a finished status the job's streak is not touched.
 */
int store_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err);
/*
 * Finish run r->id with r->status, r->finished, r->message, r->details; in
 * the same transaction update job r->job_id: its streak (failed and
 * timed_out add one, ok resets it to 0, others leave it) and its last_fire
 * (to r->scheduled if newer). `*out_streak` (may be NULL) gets the streak
 * after the update.
 */
int store_job_run_finish(struct store *st, const struct job_run *r, int64_t *out_streak,
                         struct strbuf *err);
/* Newest first; `job_id` NULL = every job; limit 0 = no limit. */
int store_job_runs_list(struct store *st, const char *job_id, size_t limit,
                        struct job_run **out, size_t *n, struct strbuf *err);
/* Delete finished runs that started before `before_ms`, and leases created before it. */
int store_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted,
                         struct strbuf *err);
/*
 * Runs still marked running that started before `started_before_ms` (their
 * process died) are marked failed with `message`; returns how many.
 */
int store_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                              int64_t *count, struct strbuf *err);
/*
 * The same for the runs of job `job_id` only, so that each job is judged by
 * its own timeout; `now_ms` is their finish time (never before their start).
 */
int store_job_runs_fail_stale_job(struct store *st, const char *job_id, int64_t started_before_ms,
                                  const char *message, int64_t now_ms, int64_t *count,
                                  struct strbuf *err);

/*
 * Leases: at most one holder of `name` at a time (a job's fire time, a
 * delivery, a migration...). Claiming succeeds (0) when nobody holds the
 * lease or the holder's expired (`until_ms` of the holder < now_ms), or the
 * holder is `instance` itself (which extends it); otherwise CK_EBUSY. A
 * crashed holder's lease simply lapses.
 */
int store_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                      int64_t until_ms, struct strbuf *err);
/* A lease as listed. */
struct lease_info {
    char *name;
    char *holder;
    int64_t until_ms;
    int64_t created_ms;
};
void lease_infos_free(struct lease_info *v, size_t n);
/* Leases whose name starts with `prefix` and whose until_ms >= `valid_at_ms`, by name. */
int store_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                     struct lease_info **out, size_t *n, struct strbuf *err);

/* Give up a lease held by `instance` (no-op if held by another). */
int store_lease_release(struct store *st, const char *name, const char *instance,
                        struct strbuf *err);

/*
 * Rate budgets, one per provider key (a source name): the send times of
 * the requests of the last window (so that a per-minute limit holds in
 * every 60-second span, not only in aligned minutes, whatever the
 * provider's clock), a count of requests per UTC day, and a ban the
 * provider imposed (Retry-After, a daily 429, an exchange's ban) with its
 * end time. Every process sharing the database draws from the same
 * budget: a take is atomic, so of two takers of the last token exactly
 * one gets it.
 */
struct rate_budget {
    const char *source;
    int64_t window_ms;  /* the sliding window, 60,000 for a per-minute limit */
    int64_t per_window; /* requests allowed in any window (>= 1) */
    int64_t per_day;    /* requests allowed per UTC day; 0: no daily limit */
};

/* What keeps a take from succeeding. */
enum rate_refusal {
    RATE_FREE,   /* nothing: granted (or would be) */
    RATE_BANNED, /* the provider's ban is in force */
    RATE_DAY,    /* the daily quota is used up */
    RATE_WINDOW, /* the window is full */
};
const char *rate_refusal_name(enum rate_refusal r);

#define RATE_REASON_MAX 96

/* A budget as one take (or a look) found it at `now_ms`. */
struct rate_state {
    bool granted;              /* store_rate_take(): a token was taken */
    enum rate_refusal refusal; /* RATE_FREE when granted or grantable */
    int64_t retry_at_ms;       /* refused: the earliest time a take can succeed */
    int64_t window_used;       /* requests in the window ending now, a grant included */
    int64_t day_used;          /* requests this UTC day, a grant included */
    int64_t banned_until_ms;   /* a ban in force at now, else 0 */
    char ban_reason[RATE_REASON_MAX];
};

/*
 * Take one token of budget `b` at `now_ms` if the budget has one: no ban
 * in force, the day's count below per_day, fewer than per_window requests
 * sent in (now - window, now]. The request is then logged as sent at
 * `now_ms`. Atomic across connections and processes (a write transaction
 * on SQLite, a row lock on PostgreSQL); joins the caller's transaction if
 * there is one. Returns 0 whether or not a token was granted (see
 * out->granted); an error only when the database failed.
 */
int store_rate_take(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err);
/* As store_rate_take() without taking anything or locking (for /health and /metrics). */
int store_rate_peek(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err);
/*
 * Ban `source` until `until_ms` with `reason` (cut to RATE_REASON_MAX - 1
 * bytes). A ban never shortens one in force: the later end wins.
 */
int store_rate_ban(struct store *st, const char *source, int64_t until_ms, const char *reason,
                   int64_t now_ms, struct strbuf *err);

/*
 * The health of each series the refresh jobs fetch, kept across restarts:
 * consecutive failures (a series failing `symbol_skip_after` times in a
 * row is skipped and only probed now and then), the cycles skipped since
 * the last attempt, the last error, and whether the series is waiting for
 * the rate budget. A series has a row once something happened to it.
 */
struct series_state {
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t streak;         /* consecutive failed fetches */
    int64_t skipped;        /* refresh cycles skipped since the last attempt */
    char *last_error;       /* "" when none */
    int64_t last_failure;   /* Unix s; 0 none */
    int64_t last_success;   /* Unix s; 0 none */
    int64_t deferred_since; /* waiting for the rate budget since (Unix s); 0: not waiting */
    char *deferred_reason;  /* "" when not waiting */
    int64_t updated_at;     /* Unix s */
};
void series_state_release(struct series_state *s);
void series_states_free(struct series_state *v, size_t n);

/* What happened to a series in a refresh cycle. */
enum series_event {
    SERIES_OK,       /* fetched: streak, skips and deferral cleared */
    SERIES_FAILED,   /* an attempt failed: streak + 1, skips cleared, the error kept */
    SERIES_SKIPPED,  /* not attempted because of its streak: skips + 1 */
    SERIES_DEFERRED, /* not attempted for want of budget: deferred since (kept if set) */
};

/*
 * Record `event` for series `k` at `now` (Unix s); `message` is the error
 * or the reason for a deferral (NULL: ""). `out` (may be NULL) gets the
 * row after; release it with series_state_release().
 */
int store_series_record(struct store *st, const struct series_key *k, enum series_event event,
                        const char *message, int64_t now, struct series_state *out,
                        struct strbuf *err);
/* The row of `k`; CK_ENOTFOUND when it has none. */
int store_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                           struct strbuf *err);
/* Every row (of `source` only, when not NULL), by source, symbol, timeframe. */
int store_series_state_list(struct store *st, const char *source, struct series_state **out,
                            size_t *n, struct strbuf *err);

/*
 * Bulk export and import, for copying one store into another (`candlekeep
 * migrate`). Exports read rows with every field as stored, in id order and
 * in pages (keyset paging: pass the last id seen as `after_id`, 0 to
 * start); imports write them back as given, without the side effects of
 * the functions above (importing a run neither creates its job nor moves
 * its last fire). A row copied from one backend to another through these
 * reads back identical, except that gap records and job runs get ids of
 * the target's own. Each import call is one transaction, or joins the
 * caller's.
 */
enum store_table {
    STORE_TABLE_SERIES,
    STORE_TABLE_CANDLES,
    STORE_TABLE_GAPS,
    STORE_TABLE_JOBS,
    STORE_TABLE_JOB_RUNS,
    STORE_TABLE_LEASES,
    /* Tables copied row by row through store_rows_export/import (store_tables.c). */
    STORE_TABLE_ALERTS,
    STORE_TABLE_ALERT_OUTBOX,
    STORE_TABLE_SIGNALS,
    STORE_TABLE_DELIVERIES,
    STORE_TABLE_DELIVERY_ATTEMPTS,
    STORE_TABLE_OUTCOMES,
    STORE_TABLE_BACKTESTS,
    STORE_TABLE_COUNT
};
/* The table's name in the schema ("candles", "job_runs", ...). */
const char *store_table_name(enum store_table t);
/* Number of rows in table `t`. */
int store_count_rows(struct store *st, enum store_table t, int64_t *out, struct strbuf *err);

enum store_import_flags {
    /*
     * Leave what is stored alone: a gap record or job run equal in every
     * field but its id to a stored one is skipped, and a job whose id is
     * stored keeps its stored state. Without the flag every gap record and
     * run is inserted, and a job whose id is stored is a CK_ECONFLICT.
     */
    STORE_IMPORT_SKIP_EXISTING = 1 << 0,
};

/*
 * Gap records with id > after_id, by id, at most `limit` (0 = no limit).
 * Free with gap_records_free().
 */
int store_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                      size_t *n, struct strbuf *err);
/*
 * Insert v[0..n): each names its series by v[i].source, symbol and tf
 * (created when missing) and keeps every field but its id. `*added` (may be
 * NULL) gets the number inserted, less than n only with
 * STORE_IMPORT_SKIP_EXISTING.
 */
int store_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err);

/*
 * Generic copying of the tables from STORE_TABLE_ALERTS on: rows in
 * canonical text, one cell per column in the table's fixed order, the
 * primary key first; NULL for SQL NULL. Integers and times (Unix ms) in
 * decimal, prices with exactly eight decimals, booleans "t"/"f", text as
 * stored. Ids are kept, so rows that refer to each other (a delivery's
 * attempts) still do after a copy.
 */
struct store_rows {
    size_t nrows, ncols;
    char **cells; /* nrows * ncols */
};
void store_rows_release(struct store_rows *r);
/* Is `t` copied by store_rows_export/import? */
bool store_table_is_generic(enum store_table t);
/* Column names of generic table `t`, NULL-terminated. */
const char *const *store_table_columns(enum store_table t);
/*
 * Rows whose key follows `after` (NULL: from the first), in key order, at
 * most `limit` (> 0).
 */
int store_rows_export(struct store *st, enum store_table t, const char *after, size_t limit,
                      struct store_rows *out, struct strbuf *err);
/*
 * Insert the rows as given; with STORE_IMPORT_SKIP_EXISTING a row whose
 * key is stored is left out, without it the copy fails with CK_ECONFLICT.
 * `*added` (may be NULL) gets the number inserted.
 */
int store_rows_import(struct store *st, enum store_table t, const struct store_rows *rows,
                      unsigned flags, size_t *added, struct strbuf *err);

/* Job runs with id > after_id, by id, at most `limit` (0 = no limit). */
int store_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                          size_t *n, struct strbuf *err);
/* Insert runs v[0..n) as given (ids aside); `*added` as for store_import_gaps(). */
int store_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                          size_t *added, struct strbuf *err);

/*
 * Insert job rows v[0..n) as given: paused flag, streak, last fire and
 * update time. (store_job_list() exports them.)
 */
int store_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err);

/*
 * URLs. store_url_backend() names the backend a URL selects ("sqlite",
 * "postgresql") or returns NULL for a URL no backend takes.
 * store_sqlite_file() returns the file of a SQLite URL (a pointer into
 * `url`), NULL for another backend's. store_same_database() is true when
 * both URLs certainly name one database: equal strings, PostgreSQL URLs
 * that differ only in the scheme's spelling, or SQLite URLs of one file
 * (the same file by device and inode when both exist).
 */
const char *store_url_backend(const char *url);
const char *store_sqlite_file(const char *url);
bool store_same_database(const char *a, const char *b);

#endif
