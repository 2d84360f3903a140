/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL store backend, on libpq.
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
 *
 * Jobs and leases (migration 2) are plain rows, their times timestamptz to
 * the millisecond. A lease claim is one INSERT ... ON CONFLICT DO UPDATE
 * whose WHERE decides whether an expired lease may be taken over or the
 * claimant's own extended; PostgreSQL evaluates it on the locked, latest
 * version of the row, so of several instances sharing the database that
 * claim at once exactly one succeeds, whatever their transactions.
 *
 * Statements are prepared once per connection, on first use; a reconnect
 * forgets them and they are prepared again. Query results are read in
 * pages (keyset paging), so an iterator holds at most one page.
 *
 * Connection loss. Before an operation that runs outside a transaction,
 * the connection is checked: input the server sent while we were idle is
 * consumed (a backend that was terminated or a server that restarted has
 * said so and hung up), and a broken connection is reset once. A
 * statement that fails because the server went away returns CK_EIO; the
 * transaction it belonged to is lost, and nothing is retried behind the
 * caller's back (the job fails and runs again at its next tick). Inside a
 * transaction the connection is never reset, which would silently run the
 * rest of the caller's transaction outside one.
 *
 * Messages. Every message names the database by its redacted URL, and
 * text that comes from libpq or the server is scrubbed of the password as
 * well, since libpq echoes parts of a malformed URL verbatim. libpq's
 * notices (and the FATAL message of a terminated backend, which arrives
 * while the connection is idle) are discarded instead of printed: the
 * store never logs.
 *
 * A pg_store is one connection and is used by one thread at a time.
 */
#include "store/store_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <assert.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Statements of the connection, prepared on first use. */
enum pg_stmt {
    PG_SCHEMA_VERSION,
    PG_SERIES_GET,
    PG_SERIES_ADD,
    PG_RANGE_USED,
    PG_UPSERT,
    PG_LATEST,
    PG_QUERY_ASC,
    PG_QUERY_DESC,
    PG_COUNT,
    PG_DELETE_BEFORE,
    PG_SERIES_OF_TF,
    PG_SERIES_OLDEST,
    PG_DELETE_SERIES_BEFORE,
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
    "extract(epoch FROM updated_at)::bigint"
/* The columns of a gap record, in pg_read_gap()'s order (FROM gaps g JOIN series s). */
#define PG_GAP_COLUMNS                                                                             \
    "g.id, s.source, s.symbol, s.timeframe, extract(epoch FROM g.first_time)::bigint, "            \
    "extract(epoch FROM g.last_time)::bigint, g.count, g.state, g.reason, "                        \
    "extract(epoch FROM g.first_seen)::bigint, extract(epoch FROM g.last_checked)::bigint"
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

static const struct {
    const char *name;
    const char *sql;
} pg_stmts[PG_STMT_COUNT] = {
    [PG_SCHEMA_VERSION] = {"ck_schema_version",
                           "SELECT coalesce(max(version), 0) FROM schema_version"},
    /*
     * Writers hold the series row (FOR NO KEY UPDATE) until their
     * transaction ends: candlekeep's writers of one series take turns (see
     * pg_put_candles), and a concurrent DELETE of the series waits and
     * then finds the candles (see migration 1).
     */
    [PG_SERIES_GET] = {"ck_series_get",
                       "SELECT id FROM series WHERE source = $1::text AND symbol = $2::text "
                       "AND timeframe = $3::text FOR NO KEY UPDATE"},
    [PG_SERIES_ADD] = {"ck_series_add",
                       "INSERT INTO series (source, symbol, timeframe) "
                       "VALUES ($1::text, $2::text, $3::text) "
                       "ON CONFLICT (source, symbol, timeframe) DO NOTHING RETURNING id"},
    [PG_RANGE_USED] = {"ck_range_used",
                       "SELECT EXISTS (SELECT 1 FROM candles WHERE series_id = $1::bigint "
                       "AND open_time BETWEEN $2::timestamptz AND $3::timestamptz)"},
    /*
     * A candle that exists is updated only when a value differs, so that
     * re-ingesting an unchanged range writes nothing.
     */
    [PG_UPSERT] =
        {"ck_upsert",
         "INSERT INTO candles AS c (series_id, open_time, open, high, low, close, volume) "
         "SELECT $1::bigint, t.* FROM unnest($2::timestamptz[], $3::numeric[], "
         "$4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[]) AS t "
         "ON CONFLICT (series_id, open_time) DO UPDATE SET open = EXCLUDED.open, "
         "high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, "
         "volume = EXCLUDED.volume "
         "WHERE (c.open, c.high, c.low, c.close, c.volume) IS DISTINCT FROM "
         "(EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)"},
    [PG_LATEST] = {"ck_latest", "SELECT extract(epoch FROM max(open_time))::bigint FROM candles "
                                "WHERE series_id = " PG_SERIES_ID_OF},
    [PG_QUERY_ASC] =
        {"ck_query_asc",
         "SELECT extract(epoch FROM open_time)::bigint, open, high, low, close, volume "
         "FROM candles WHERE series_id = " PG_SERIES_ID_OF
         " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz "
         "ORDER BY open_time ASC LIMIT $6::bigint"},
    [PG_QUERY_DESC] =
        {"ck_query_desc",
         "SELECT extract(epoch FROM open_time)::bigint, open, high, low, close, volume "
         "FROM candles WHERE series_id = " PG_SERIES_ID_OF
         " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz "
         "ORDER BY open_time DESC LIMIT $6::bigint"},
    [PG_COUNT] = {"ck_count", "SELECT count(*) FROM candles WHERE series_id = " PG_SERIES_ID_OF
                              " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz"},
    [PG_DELETE_BEFORE] = {"ck_delete_before", "DELETE FROM candles WHERE series_id IN "
                                              "(SELECT id FROM series WHERE timeframe = $1::text) "
                                              "AND open_time < $2::timestamptz"},
    [PG_SERIES_OF_TF] = {"ck_series_of_tf",
                         "SELECT id FROM series WHERE timeframe = $1::text ORDER BY id"},
    /*
     * A retention batch: the oldest candle of a series, then its candles
     * before (the oldest + n periods), a plain range of the primary key. Open times are unique and
     * aligned, so a window of n periods holds at most n candles, and the window starting at the
     * oldest holds at least one. Not an OFFSET from the oldest: the rows of the batches before are
     * dead in the index until the next vacuum, and an OFFSET walks them all again, batch after
     * batch (a million rows in batches of 10,000 took three times as long).
     * For the same reason the search for the oldest starts where the
     * previous batch of the same run stopped (pg_store.marks): min() over
     * the index would otherwise step over every entry deleted so far.
     */
    [PG_SERIES_OLDEST] = {"ck_series_oldest", "SELECT extract(epoch FROM min(open_time))::bigint "
                                              "FROM candles WHERE series_id = $1::bigint "
                                              "AND open_time >= $2::timestamptz"},
    [PG_DELETE_SERIES_BEFORE] = {"ck_delete_series_before",
                                 "DELETE FROM candles WHERE series_id = $1::bigint "
                                 "AND open_time >= $2::timestamptz AND open_time < $3::timestamptz"},
    [PG_COUNT_BEFORE] = {"ck_count_before", "SELECT count(*) FROM candles WHERE series_id IN "
                                            "(SELECT id FROM series WHERE timeframe = $1::text) "
                                            "AND open_time < $2::timestamptz"},
    [PG_LIST_SERIES] = {"ck_list_series",
                        "SELECT s.source, s.symbol, s.timeframe, x.n, "
                        "extract(epoch FROM x.first)::bigint, extract(epoch FROM x.last)::bigint "
                        "FROM series s CROSS JOIN LATERAL (SELECT count(*) AS n, "
                        "min(open_time) AS first, max(open_time) AS last "
                        "FROM candles c WHERE c.series_id = s.id) AS x"},
    [PG_LIST_GAPS] = {"ck_list_gaps",
                      "SELECT " PG_GAP_COLUMNS " FROM gaps g JOIN series s ON s.id = g.series_id "
                      "WHERE ($1::text IS NULL OR s.source = $1) "
                      "AND ($2::text IS NULL OR s.symbol = $2) "
                      "AND ($3::text IS NULL OR s.timeframe = $3) "
                      "AND ($4::timestamptz IS NULL OR g.last_time >= $4) "
                      "AND ($5::text IS NULL OR g.state = $5) "
                      "ORDER BY g.first_time DESC, g.id DESC LIMIT $6::bigint"},
    [PG_INSERT_GAP] = {"ck_insert_gap",
                       "INSERT INTO gaps (series_id, first_time, last_time, count, state, reason, "
                       "first_seen, last_checked) VALUES ($1::bigint, $2::timestamptz, "
                       "$3::timestamptz, $4::bigint, $5::text, $6::text, $7::timestamptz, "
                       "$8::timestamptz) RETURNING id"},
    [PG_UPDATE_GAP] = {"ck_update_gap",
                       "UPDATE gaps SET first_time = $2::timestamptz, last_time = $3::timestamptz, "
                       "count = $4::bigint, state = $5::text, reason = coalesce($6::text, reason), "
                       "last_checked = $7::timestamptz WHERE id = $1::bigint"},
    [PG_JOB_ENSURE] = {"ck_job_ensure", "INSERT INTO jobs (job_id, updated_at) "
                                        "VALUES ($1::text, $2::timestamptz) "
                                        "ON CONFLICT (job_id) DO NOTHING"},
    [PG_JOB_GET] = {"ck_job_get", "SELECT " PG_JOB_COLUMNS " FROM jobs WHERE job_id = $1::text"},
    [PG_JOB_LIST] = {"ck_job_list", "SELECT " PG_JOB_COLUMNS " FROM jobs ORDER BY job_id"},
    [PG_JOB_PAUSE] = {"ck_job_pause", "UPDATE jobs SET paused = $2::boolean, "
                                      "updated_at = $3::timestamptz WHERE job_id = $1::text"},
    /* greatest() ignores the NULL of a job that has handled no fire yet. */
    [PG_JOB_LAST_FIRE] = {"ck_job_last_fire",
                          "UPDATE jobs SET last_fire = greatest(last_fire, $2::timestamptz) "
                          "WHERE job_id = $1::text"},
    [PG_JOB_STREAK] = {"ck_job_streak",
                       "UPDATE jobs SET streak = CASE WHEN $2::boolean THEN 0 ELSE streak + 1 END "
                       "WHERE job_id = $1::text RETURNING streak"},
    [PG_RUN_INSERT] = {"ck_run_insert",
                       "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, "
                       "status, message, details) VALUES ($1::text, $2::text, $3::timestamptz, "
                       "$4::timestamptz, $5::timestamptz, $6::text, $7::text, $8::text) "
                       "RETURNING id"},
    [PG_RUN_UPDATE] = {"ck_run_update",
                       "UPDATE job_runs SET status = $2::text, finished = $3::timestamptz, "
                       "message = $4::text, details = $5::text WHERE id = $1::bigint"},
    /* A NULL limit is no limit. */
    [PG_RUNS_OF_JOB] = {"ck_runs_of_job", "SELECT " PG_RUN_COLUMNS " FROM job_runs "
                                          "WHERE job_id = $1::text ORDER BY id DESC "
                                          "LIMIT $2::bigint"},
    [PG_RUNS_ALL] = {"ck_runs_all",
                     "SELECT " PG_RUN_COLUMNS " FROM job_runs ORDER BY id DESC LIMIT $1::bigint"},
    /* The finished statuses are spelled out so that the (status, started) index serves. */
    [PG_RUNS_PRUNE] = {"ck_runs_prune",
                       "DELETE FROM job_runs WHERE status IN ('ok', 'failed', 'skipped', "
                       "'timed_out', 'missed') AND started < $1::timestamptz"},
    /*
     * When such a run really ended is unknown: it is marked finished when
     * the sweep noticed, by the database's clock (in whole milliseconds,
     * as the store reads them), and never before it started.
     */
    [PG_RUNS_FAIL_STALE] = {"ck_runs_fail_stale",
                            "UPDATE job_runs SET status = 'failed', message = $2::text, "
                            "finished = greatest(started, "
                            "date_trunc('milliseconds', statement_timestamp())) "
                            "WHERE status = 'running' AND started < $1::timestamptz"},
    [PG_LEASES_PRUNE] = {"ck_leases_prune",
                         "DELETE FROM leases WHERE created_at < $1::timestamptz"},
    /*
     * The whole claim is this statement. ON CONFLICT locks the existing
     * row and evaluates the WHERE on its latest committed version, so of
     * two instances claiming at once exactly one inserts or takes over;
     * the other waits for it and then changes nothing. The SET sees the
     * old row, so created_at moves only with the holder.
     */
    [PG_LEASE_CLAIM] = {"ck_lease_claim",
                        "INSERT INTO leases AS l (name, holder, valid_until, created_at) "
                        "VALUES ($1::text, $2::text, $4::timestamptz, $3::timestamptz) "
                        "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
                        "valid_until = EXCLUDED.valid_until, created_at = CASE WHEN "
                        "l.holder = EXCLUDED.holder THEN l.created_at ELSE EXCLUDED.created_at "
                        "END WHERE l.valid_until < $3::timestamptz OR l.holder = EXCLUDED.holder"},
    [PG_LEASE_HOLDER] = {"ck_lease_holder",
                         "SELECT holder, " PG_MS(
                             "valid_until") " FROM leases WHERE name = $1::text"},
    [PG_LEASE_RELEASE] = {"ck_lease_release",
                          "DELETE FROM leases WHERE name = $1::text AND holder = $2::text"},
    /* name >= prefix lets the primary key serve; starts_with() takes '_' and '%' literally. */
    [PG_LEASE_LIST] = {"ck_lease_list", "SELECT name, holder, " PG_MS("valid_until") ", " PG_MS(
                                            "created_at") " FROM leases WHERE name >= $1::text "
                                                          "AND starts_with(name, $1::text) AND "
                                                          "valid_until >= $2::timestamptz "
                                                          "ORDER BY name"},
    [PG_RATE_ENSURE] = {"ck_rate_ensure", "INSERT INTO rate_budgets (source) VALUES ($1::text) "
                                          "ON CONFLICT (source) DO NOTHING"},
    /*
     * Takers of one budget queue up on this row lock until the taker
     * before them commits; in READ COMMITTED each statement after it then
     * sees that taker's logged request.
     */
    [PG_RATE_LOCK] = {"ck_rate_lock", "SELECT " PG_RATE_COLUMNS " FROM rate_budgets "
                                      "WHERE source = $1::text FOR UPDATE"},
    [PG_RATE_GET] = {"ck_rate_get",
                     "SELECT " PG_RATE_COLUMNS " FROM rate_budgets WHERE source = $1::text"},
    [PG_RATE_PUT] = {"ck_rate_put",
                     "INSERT INTO rate_budgets AS r (source, day, day_used, banned_until, "
                     "ban_reason, updated_at) VALUES ($1::text, DATE '1970-01-01' + $2::integer, "
                     "$3::bigint, $4::timestamptz, $5::text, $6::timestamptz) "
                     "ON CONFLICT (source) DO UPDATE SET day = EXCLUDED.day, "
                     "day_used = EXCLUDED.day_used, banned_until = EXCLUDED.banned_until, "
                     "ban_reason = EXCLUDED.ban_reason, updated_at = EXCLUDED.updated_at"},
    [PG_RATE_WINDOW] = {"ck_rate_window",
                        "SELECT (SELECT count(*) FROM rate_log WHERE source = $1::text "
                        "AND sent_at > $2::timestamptz), "
                        "coalesce((SELECT (extract(epoch FROM sent_at) * 1000)::bigint "
                        "FROM rate_log WHERE source = $1::text AND sent_at > $2::timestamptz "
                        "ORDER BY sent_at DESC OFFSET $3::bigint LIMIT 1), 0)"},
    [PG_RATE_LOG] = {"ck_rate_log",
                     "WITH pruned AS (DELETE FROM rate_log WHERE source = $1::text "
                     "AND sent_at < $3::timestamptz) "
                     "INSERT INTO rate_log (source, sent_at) VALUES ($1::text, $2::timestamptz)"},
    [PG_SSTATE_GET] = {"ck_sstate_get", "SELECT " PG_SSTATE_COLUMNS " FROM series_state "
                                        "WHERE source = $1::text AND symbol = $2::text "
                                        "AND timeframe = $3::text"},
    [PG_SSTATE_PUT] =
        {"ck_sstate_put",
         "INSERT INTO series_state AS s (source, symbol, timeframe, streak, skipped, "
         "last_error, last_failure, last_success, deferred_since, deferred_reason, "
         "updated_at) VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint, "
         "$6::text, $7::timestamptz, $8::timestamptz, $9::timestamptz, $10::text, "
         "$11::timestamptz) ON CONFLICT (source, symbol, timeframe) DO UPDATE SET "
         "streak = EXCLUDED.streak, skipped = EXCLUDED.skipped, "
         "last_error = EXCLUDED.last_error, last_failure = EXCLUDED.last_failure, "
         "last_success = EXCLUDED.last_success, "
         "deferred_since = EXCLUDED.deferred_since, "
         "deferred_reason = EXCLUDED.deferred_reason, updated_at = EXCLUDED.updated_at"},
    /* A NULL source lists every row. */
    [PG_SSTATE_LIST] = {"ck_sstate_list", "SELECT " PG_SSTATE_COLUMNS " FROM series_state "
                                          "WHERE $1::text IS NULL OR source = $1::text "
                                          "ORDER BY source, symbol, timeframe"},
    /* Exports page by id; a NULL limit is no limit. */
    [PG_GAPS_EXPORT] = {"ck_gaps_export", "SELECT " PG_GAP_COLUMNS " FROM gaps g JOIN series s "
                                          "ON s.id = g.series_id WHERE g.id > $1::bigint "
                                          "ORDER BY g.id LIMIT $2::bigint"},
    /*
     * Imports that leave identical rows alone. The NOT EXISTS probes the
     * (series_id, last_time) index for gaps and the (status, started)
     * index for runs, so it stays cheap however long the history.
     */
    [PG_GAP_IMPORT_NEW] = {"ck_gap_import_new",
                           "INSERT INTO gaps (series_id, first_time, last_time, count, state, "
                           "reason, first_seen, last_checked) SELECT $1::bigint, $2::timestamptz, "
                           "$3::timestamptz, $4::bigint, $5::text, $6::text, $7::timestamptz, "
                           "$8::timestamptz WHERE NOT EXISTS (SELECT 1 FROM gaps WHERE "
                           "series_id = $1 AND last_time = $3 AND first_time = $2 AND count = $4 "
                           "AND state = $5 AND reason = $6 AND first_seen = $7 AND "
                           "last_checked = $8) RETURNING id"},
    [PG_RUNS_EXPORT] = {"ck_runs_export", "SELECT " PG_RUN_COLUMNS " FROM job_runs "
                                          "WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint"},
    [PG_RUN_IMPORT_NEW] = {"ck_run_import_new",
                           "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, "
                           "status, message, details) SELECT $1::text, $2::text, "
                           "$3::timestamptz, $4::timestamptz, $5::timestamptz, $6::text, $7::text, "
                           "$8::text WHERE NOT EXISTS (SELECT 1 FROM job_runs WHERE status = $6 "
                           "AND started = $4 AND job_id = $1 AND instance = $2 AND "
                           "scheduled = $3 AND finished IS NOT DISTINCT FROM $5 AND "
                           "message = $7 AND details = $8) RETURNING id"},
    /* last_fire NULL stands for "none yet" (0 in the store's terms). */
    [PG_JOB_IMPORT] = {"ck_job_import",
                       "INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at) "
                       "VALUES ($1::text, $2::boolean, $3::bigint, $4::timestamptz, "
                       "$5::timestamptz) ON CONFLICT (job_id) DO NOTHING"},
};

/*
 * The migrations, in order; migration i brings the schema to version i + 1.
 * Never edit one that has shipped: add another.
 */
static const char *const pg_migrations[] = {
    /* 1: series, candles, the gap ledger and the candles view. */
    "CREATE TABLE series ("
    "  id bigserial PRIMARY KEY,"
    "  source text NOT NULL,"
    "  symbol text NOT NULL,"
    "  timeframe text NOT NULL"
    "    CHECK (timeframe IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1')),"
    "  UNIQUE (source, symbol, timeframe)"
    ");"
    /*
     * candles.series_id is not declared a foreign key: PostgreSQL checks
     * one row at a time, which more than halves the speed of a backfill
     * (see the measurements at the top). The store only writes ids that
     * it has just read, and locked, from series in the same transaction,
     * and the trigger below keeps the other direction: a series that still
     * has candles cannot be deleted or renumbered, as with a foreign key.
     */
    "CREATE TABLE candles ("
    "  series_id bigint NOT NULL,"
    "  open_time timestamptz NOT NULL,"
    "  open NUMERIC(20,8) NOT NULL,"
    "  high NUMERIC(20,8) NOT NULL,"
    "  low NUMERIC(20,8) NOT NULL,"
    "  close NUMERIC(20,8) NOT NULL,"
    "  volume NUMERIC(28,8),"
    "  PRIMARY KEY (series_id, open_time)"
    ");"
    "CREATE TABLE gaps ("
    "  id bigserial PRIMARY KEY,"
    "  series_id bigint NOT NULL REFERENCES series (id),"
    "  first_time timestamptz NOT NULL,"
    "  last_time timestamptz NOT NULL,"
    "  count bigint NOT NULL,"
    "  state text NOT NULL DEFAULT 'open'"
    "    CHECK (state IN ('open', 'repairing', 'filled', 'unfillable')),"
    "  reason text NOT NULL DEFAULT '',"
    "  first_seen timestamptz NOT NULL,"
    "  last_checked timestamptz NOT NULL"
    ");"
    "CREATE INDEX gaps_series_last ON gaps (series_id, last_time);"
    "CREATE FUNCTION series_keep_candles() RETURNS trigger LANGUAGE plpgsql"
    "  SET search_path FROM CURRENT AS $$"
    "BEGIN"
    "  IF (TG_OP = 'DELETE' OR NEW.id <> OLD.id)"
    "     AND EXISTS (SELECT 1 FROM candles WHERE series_id = OLD.id) THEN"
    "    RAISE EXCEPTION 'series % (% % %) still has candles', OLD.id, OLD.source,"
    "      OLD.symbol, OLD.timeframe USING ERRCODE = 'foreign_key_violation';"
    "  END IF;"
    "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;"
    "  RETURN NEW;"
    "END $$;"
    "CREATE TRIGGER series_keep_candles BEFORE DELETE OR UPDATE OF id ON series"
    "  FOR EACH ROW EXECUTE FUNCTION series_keep_candles();"
    "CREATE VIEW candles_view AS"
    "  SELECT s.source, s.symbol, s.timeframe, c.open_time,"
    "         c.open, c.high, c.low, c.close, c.volume"
    "  FROM candles c JOIN series s ON s.id = c.series_id;",
    /*
     * 2: scheduled jobs (paused flag, failure streak, last fire handled),
     * their run history and leases, as in the SQLite schema but with
     * timestamptz times (runs and leases to the millisecond; a job's
     * last_fire and a run's finished are NULL until there is one). Names
     * that are listed in order or matched by prefix are byte-ordered
     * (COLLATE "C"), whatever the database's collation. details is JSON
     * kept as text, exactly as given, so that recording a run never fails
     * on it; details::jsonb reads it in SQL.
     */
    "CREATE TABLE jobs ("
    "  job_id text COLLATE \"C\" PRIMARY KEY,"
    "  paused boolean NOT NULL DEFAULT false,"
    "  streak bigint NOT NULL DEFAULT 0,"
    "  last_fire timestamptz,"
    "  updated_at timestamptz NOT NULL"
    ");"
    "CREATE TABLE job_runs ("
    "  id bigserial PRIMARY KEY,"
    "  job_id text COLLATE \"C\" NOT NULL,"
    "  instance text NOT NULL,"
    "  scheduled timestamptz NOT NULL,"
    "  started timestamptz NOT NULL,"
    "  finished timestamptz,"
    "  status text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped',"
    "                                         'timed_out', 'missed')),"
    "  message text NOT NULL,"
    "  details text NOT NULL"
    ");"
    "CREATE INDEX job_runs_job ON job_runs (job_id, id DESC);"
    "CREATE INDEX job_runs_status_started ON job_runs (status, started);"
    "CREATE TABLE leases ("
    "  name text COLLATE \"C\" PRIMARY KEY,"
    "  holder text NOT NULL,"
    "  valid_until timestamptz NOT NULL,"
    "  created_at timestamptz NOT NULL"
    ");",
    /*
     * 3: resilience, as in the SQLite schema: a rate budget per provider
     * key (the UTC date its count is for; a ban's end, NULL when none), the
     * log of requests sent in the last window, and the state of each
     * fetched series (times NULL until there is one).
     */
    "CREATE TABLE rate_budgets ("
    "  source text COLLATE \"C\" PRIMARY KEY,"
    "  day date NOT NULL DEFAULT DATE '1970-01-01',"
    "  day_used bigint NOT NULL DEFAULT 0,"
    "  banned_until timestamptz,"
    "  ban_reason text NOT NULL DEFAULT '',"
    "  updated_at timestamptz NOT NULL DEFAULT now()"
    ");"
    "CREATE TABLE rate_log ("
    "  id bigserial PRIMARY KEY,"
    "  source text COLLATE \"C\" NOT NULL,"
    "  sent_at timestamptz NOT NULL"
    ");"
    "CREATE INDEX rate_log_source_sent ON rate_log (source, sent_at);"
    "CREATE TABLE series_state ("
    "  source text COLLATE \"C\" NOT NULL,"
    "  symbol text COLLATE \"C\" NOT NULL,"
    "  timeframe text COLLATE \"C\" NOT NULL"
    "    CHECK (timeframe IN ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1')),"
    "  streak bigint NOT NULL DEFAULT 0,"
    "  skipped bigint NOT NULL DEFAULT 0,"
    "  last_error text NOT NULL DEFAULT '',"
    "  last_failure timestamptz,"
    "  last_success timestamptz,"
    "  deferred_since timestamptz,"
    "  deferred_reason text NOT NULL DEFAULT '',"
    "  updated_at timestamptz NOT NULL,"
    "  PRIMARY KEY (source, symbol, timeframe)"
    ");",
    /*
     * 4: alerts. One row per alert key with its state and what operators
     * were last told of it, and the outbox of messages to the channels
     * (one row per channel and message). Times are timestamptz; a lease on an
     * outbox row (holder, until) keeps two senders off one message.
     */
    "CREATE TABLE alerts ("
    "  key text COLLATE \"C\" PRIMARY KEY,"
    "  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),"
    "  state text NOT NULL CHECK (state IN ('firing', 'resolved')),"
    "  title text NOT NULL,"
    "  details text NOT NULL,"
    "  inhibited_by text NOT NULL DEFAULT '',"
    "  first_seen timestamptz NOT NULL,"
    "  last_seen timestamptz NOT NULL,"
    "  resolved_at timestamptz,"
    "  last_notified timestamptz,"
    "  notified_state text NOT NULL DEFAULT '',"
    "  times_sent bigint NOT NULL DEFAULT 0,"
    "  updated_at timestamptz NOT NULL);"
    "CREATE INDEX alerts_state ON alerts (state, last_seen);"
    "CREATE TABLE alert_outbox ("
    "  id bigserial PRIMARY KEY,"
    "  channel text NOT NULL,"
    "  alert_key text NOT NULL,"
    "  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),"
    "  kind text NOT NULL,"
    "  title text NOT NULL,"
    "  details text NOT NULL,"
    "  event_time timestamptz NOT NULL,"
    "  created_at timestamptz NOT NULL,"
    "  due_at timestamptz NOT NULL,"
    "  attempts bigint NOT NULL DEFAULT 0,"
    "  parts_done bigint NOT NULL DEFAULT 0,"
    "  status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),"
    "  last_error text NOT NULL DEFAULT '',"
    "  sent_at timestamptz,"
    "  lease_holder text NOT NULL DEFAULT '',"
    "  lease_until timestamptz NOT NULL DEFAULT 'epoch');"
    "CREATE INDEX alert_outbox_due ON alert_outbox (status, due_at);",
    /*
     * 5: signals, their deliveries to receivers (the outbox, leased like
     * the alert outbox) with every attempt, outcomes and backtest results.
     * Prices NUMERIC(20,8) as in candles; times timestamptz.
     */
    "CREATE TABLE signals ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  idempotency_key text UNIQUE,"
    "  request_hash text NOT NULL,"
    "  source text NOT NULL,"
    "  symbol text NOT NULL,"
    "  timeframe text NOT NULL,"
    "  direction text NOT NULL CHECK (direction IN ('long', 'short')),"
    "  entry NUMERIC(20,8) NOT NULL,"
    "  stop_loss NUMERIC(20,8) NOT NULL,"
    "  take_profit NUMERIC(20,8) NOT NULL,"
    "  created_at timestamptz NOT NULL,"
    "  expires_at timestamptz,"
    "  status text NOT NULL CHECK (status IN ('active', 'won', 'lost', 'expired', 'cancelled')),"
    "  note text NOT NULL DEFAULT '',"
    "  updated_at timestamptz NOT NULL);"
    "CREATE INDEX signals_status_created ON signals (status, created_at);"
    "CREATE INDEX signals_created ON signals (created_at);"
    "CREATE TABLE deliveries ("
    "  id bigserial PRIMARY KEY,"
    "  signal_id text NOT NULL REFERENCES signals (id),"
    "  receiver text NOT NULL,"
    "  webhook_id text NOT NULL UNIQUE,"
    "  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),"
    "  attempts bigint NOT NULL DEFAULT 0,"
    "  next_at timestamptz NOT NULL,"
    "  last_error text NOT NULL DEFAULT '',"
    "  last_status bigint NOT NULL DEFAULT 0,"
    "  created_at timestamptz NOT NULL,"
    "  delivered_at timestamptz,"
    "  lease_holder text NOT NULL DEFAULT '',"
    "  lease_until timestamptz NOT NULL DEFAULT 'epoch',"
    "  UNIQUE (signal_id, receiver));"
    "CREATE INDEX deliveries_due ON deliveries (status, next_at);"
    "CREATE TABLE delivery_attempts ("
    "  id bigserial PRIMARY KEY,"
    "  delivery_id bigint NOT NULL REFERENCES deliveries (id),"
    "  attempt bigint NOT NULL,"
    "  started_at timestamptz NOT NULL,"
    "  duration_ms bigint NOT NULL,"
    "  http_status bigint NOT NULL,"
    "  error text NOT NULL,"
    "  instance text NOT NULL);"
    "CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);"
    "CREATE TABLE outcomes ("
    "  signal_id text PRIMARY KEY REFERENCES signals (id),"
    "  result text NOT NULL CHECK (result IN ('won', 'lost', 'expired')),"
    "  price NUMERIC(20,8),"
    "  decided_at timestamptz NOT NULL,"
    "  timeframe text NOT NULL DEFAULT '',"
    "  candle_time timestamptz,"
    "  ambiguous boolean NOT NULL DEFAULT false,"
    "  created_at timestamptz NOT NULL);"
    "CREATE INDEX outcomes_created ON outcomes (created_at);"
    "CREATE TABLE backtests ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL,"
    "  created_at timestamptz NOT NULL,"
    "  params text NOT NULL,"
    "  metrics text NOT NULL);"
    "CREATE INDEX backtests_created ON backtests (created_at);",
};
#define PG_SCHEMA_LATEST ((int)ARRAY_SIZE(pg_migrations))

/*
 * Key of the advisory lock that serialises migrations: an arbitrary
 * constant, fixed forever (processes of every version must agree on it).
 */
#define PG_MIGRATE_LOCK "7713666909727727988"

/* Candles per upsert statement, and per page of a query. */
#define PG_UPSERT_CHUNK 10000
#define PG_PAGE_ROWS    5000

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
    struct strbuf cols[6]; /* the upsert's arrays, COPY's data; kept between batches */
    struct strbuf scratch; /* what a failing statement was for */
    /*
     * Retention batches: per series, where the last batch of a delete with
     * cutoff `before` stopped (every older candle was deleted then). Only
     * a starting point for the next batch of the same cutoff, forgotten when
     * this connection writes candles; one that another connection stores
     * older than it meanwhile is left for the next run.
     */
    struct pg_delete_mark {
        int64_t series, before, from;
    } marks[32];
    unsigned next_mark;
};
static_assert(offsetof(struct pg_store, base) == 0, "struct store must come first");

static struct pg_store *pg_downcast(struct store *st)
{
    if (st->ops != &store_pg_ops)
        BUG("store: a %s store passed to the postgresql backend", st->ops->name);
    return (struct pg_store *)st;
}

/* --- messages --------------------------------------------------------- */

/* Append `text` to `err` with every occurrence of a secret replaced by "***". */
static void pg_add_scrubbed(struct strbuf *err, const char *text, const struct redact_set *sec)
{
    size_t start = err->len;

    /*
     * One line: libpq ends its messages with a newline and continues some
     * on an indented next line ("\n\tIs the server running...").
     */
    for (const char *c = text; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            while (c[1] == '\n' || c[1] == '\r' || c[1] == '\t' || c[1] == ' ')
                c++;
            if (c[1])
                strbuf_addch(err, ' ');
        } else {
            strbuf_addch(err, *c);
        }
    }
    /* Scrub only what was appended: the text before is the caller's. */
    struct strbuf tail = STRBUF_INIT;
    strbuf_addstr(&tail, err->buf + start);
    redact_set_apply(sec, &tail);
    strbuf_setlen(err, start);
    strbuf_addbuf(err, &tail);
    strbuf_release(&tail);
}

/* The connection's own error text, scrubbed, or a fallback. */
static void pg_add_conn_error(struct pg_store *ps, struct strbuf *err)
{
    const char *m = ps->conn ? PQerrorMessage(ps->conn) : NULL;
    pg_add_scrubbed(err, m && *m ? m : "no further detail", &ps->secrets);
}

/*
 * Map a failed result to a CK_E* code and append the message. `res` may be
 * NULL (libpq could not even produce a result).
 */
static int pg_result_error(struct pg_store *ps, const PGresult *res, const char *what,
                           struct strbuf *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool lost = PQstatus(ps->conn) == CONNECTION_BAD;
    int rc = CK_EIO;

    if (!state)
        state = "";
    if (!strcmp(state, "23505"))
        rc = CK_ECONFLICT;
    else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        rc = CK_EBUSY;
    else if (!strcmp(state, "57014"))
        rc = CK_ETIMEDOUT;
    else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
        rc = CK_EINVAL;
    if (lost || !strncmp(state, "08", 2) || !strncmp(state, "57P0", 4))
        rc = CK_EIO;

    strbuf_addf(err, "store: cannot %s: ", what);
    if (lost)
        strbuf_addf(err, "lost the connection to '%s': ", ps->redacted);
    if (msg && *msg)
        pg_add_scrubbed(err, msg, &ps->secrets);
    else
        pg_add_conn_error(ps, err);
    if (*state)
        strbuf_addf(err, " (SQLSTATE %s)", state);
    return rc;
}

/* --- connection and statements --------------------------------------- */

/*
 * libpq hands messages that arrive outside a query to the notice receiver.
 * They are not printed (the store never logs), but a FATAL one is the
 * server saying that it is closing this connection.
 */
static void pg_notice(void *arg, const PGresult *res)
{
    struct pg_store *ps = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
        ps->server_gone = true;
}

/*
 * A backend that was terminated (or a server that shut down) sends a FATAL
 * message and closes the socket while we are idle. Reading and parsing
 * what is pending (poll() says whether anything is, so this never blocks)
 * finds either the message or the closed stream before a statement is
 * wasted on a dead connection.
 */
static bool pg_idle_conn_dead(struct pg_store *ps)
{
    for (int i = 0; i < 4 && PQstatus(ps->conn) == CONNECTION_OK && !ps->server_gone; i++) {
        struct pollfd pfd = {.fd = PQsocket(ps->conn), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(ps->conn))
            break;
        (void)PQisBusy(ps->conn); /* parses the input: a FATAL reaches pg_notice() */
    }
    return PQstatus(ps->conn) == CONNECTION_BAD || ps->server_gone;
}

/*
 * Make the connection usable for an operation. Outside a transaction a
 * connection that broke while idle is reset once (see the top of the file).
 */
static int pg_ready(struct pg_store *ps, struct strbuf *err)
{
    if (ps->base.in_tx) {
        if (PQstatus(ps->conn) != CONNECTION_BAD)
            return 0;
        strbuf_addf(err, "store: lost the connection to '%s' inside a transaction: ", ps->redacted);
        pg_add_conn_error(ps, err);
        return CK_EIO;
    }
    if (!pg_idle_conn_dead(ps))
        return 0;
    PQreset(ps->conn);
    ps->server_gone = false;
    memset(ps->ready, 0, sizeof(ps->ready));
    if (PQstatus(ps->conn) != CONNECTION_OK) {
        strbuf_addf(err, "store: cannot reconnect to '%s': ", ps->redacted);
        pg_add_conn_error(ps, err);
        return CK_EIO;
    }
    return 0;
}

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

static int pg_param_slot(struct pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS)
        BUG("too many statement parameters");
    return p->n++;
}

static void pp_text(struct pg_params *p, const char *s)
{
    int i = pg_param_slot(p);
    p->values[i] = s;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

static void pp_null(struct pg_params *p)
{
    pp_text(p, NULL);
}

static void pp_int(struct pg_params *p, int64_t v)
{
    int i = pg_param_slot(p);
    snprintf(p->text[i], sizeof(p->text[i]), "%lld", (long long)v);
    p->values[i] = p->text[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

static void pg_put_be64(char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static void pg_put_be32(char *out, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        out[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

/* Can `t` be stored (as a candle or gap time)? */
static bool pg_time_storable(int64_t t)
{
    return t >= PG_TIME_MIN && t < PG_TIME_END;
}

/* Unix seconds as timestamptz's binary value, outside the kept years +-infinity. */
static int64_t pg_time_value(int64_t t)
{
    if (t < PG_TIME_MIN)
        return INT64_MIN;
    if (t >= PG_TIME_END)
        return INT64_MAX;
    return (t - PG_EPOCH_UNIX) * 1000000;
}

static void pp_time(struct pg_params *p, int64_t t)
{
    int i = pg_param_slot(p);
    pg_put_be64(p->bin[i], (uint64_t)pg_time_value(t));
    p->values[i] = p->bin[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

static void pp_series(struct pg_params *p, const struct series_key *s)
{
    pp_text(p, s->source);
    pp_text(p, s->symbol);
    pp_text(p, timeframe_name(s->tf));
}

static int pg_prepare(struct pg_store *ps, enum pg_stmt id, struct strbuf *err)
{
    PGresult *res;
    int rc = 0;

    if (ps->ready[id])
        return 0;
    res = PQprepare(ps->conn, pg_stmts[id].name, pg_stmts[id].sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        strbuf_reset(&ps->scratch);
        strbuf_addf(&ps->scratch, "prepare statement %s", pg_stmts[id].name);
        rc = pg_result_error(ps, res, ps->scratch.buf, err);
    } else {
        ps->ready[id] = true;
    }
    PQclear(res);
    return rc;
}

/*
 * Run prepared statement `id`. On success *out holds the result (the
 * caller clears it); on failure the error is reported, with what the
 * statement was for in `fmt`.
 */
static int pg_run(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
                  struct strbuf *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int pg_run(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
                  struct strbuf *err, const char *fmt, ...)
{
    PGresult *res;
    ExecStatusType status;
    int rc;

    *out = NULL;
    rc = pg_prepare(ps, id, err);
    if (rc)
        return rc;
    res = PQexecPrepared(ps->conn, pg_stmts[id].name, p ? p->n : 0, p ? p->values : NULL,
                         p ? p->lengths : NULL, p ? p->formats : NULL, 0);
    status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        *out = res;
        return 0;
    }
    {
        va_list ap;
        strbuf_reset(&ps->scratch);
        va_start(ap, fmt);
        strbuf_vaddf(&ps->scratch, fmt, ap);
        va_end(ap);
    }
    rc = pg_result_error(ps, res, ps->scratch.buf, err);
    PQclear(res);
    return rc;
}

/* A plain command without parameters (transaction control, DDL). */
static int pg_command(struct pg_store *ps, const char *sql, const char *what, struct strbuf *err)
{
    PGresult *res = PQexec(ps->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_result_error(ps, res, what, err);
    PQclear(res);
    return rc;
}

/* Parse a bigint column; NULL or junk is a CK_EPARSE. */
static int pg_get_int(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
                      struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || parse_int64(v, INT64_MIN, INT64_MAX, out)) {
        strbuf_addf(err, "store: unexpected value '%s' in column %s from '%s'", v,
                    PQfname(res, col), ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

static int pg_get_price(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
                        struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || price_parse(v, (size_t)PQgetlength(res, row, col), out)) {
        strbuf_addf(err, "store: unexpected price '%s' in column %s from '%s'", v,
                    PQfname(res, col), ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

static int pg_get_tf(struct pg_store *ps, const PGresult *res, int row, int col,
                     enum timeframe *out, struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (timeframe_parse(v, out)) {
        strbuf_addf(err, "store: unknown timeframe '%s' in '%s'", v, ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

/* --- open, migrate, close --------------------------------------------- */

/*
 * The version the database is at, 0 when it has no schema_version table yet.
 * The table is looked for in pg_class with the statement's snapshot rather
 * than with to_regclass(): the catalog caches of a session that waited for
 * the migration lock may still remember the table as missing.
 */
static int pg_read_version(struct pg_store *ps, int *out, struct strbuf *err)
{
    PGresult *res;
    int64_t v;
    int rc;

    res = PQexec(ps->conn, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                           "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relname = 'schema_version' AND n.nspname = current_schema())");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "read the schema version", err);
        PQclear(res);
        return rc;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t")) {
        PQclear(res);
        *out = 0;
        return 0;
    }
    PQclear(res);
    /* Not prepared: the table may have been created since this session began. */
    res = PQexec(ps->conn, pg_stmts[PG_SCHEMA_VERSION].sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "read the schema version", err);
        PQclear(res);
        return rc;
    }
    rc = pg_get_int(ps, res, 0, 0, &v, err);
    PQclear(res);
    if (!rc)
        *out = (int)v;
    return rc;
}

/*
 * Bring the schema up to date. The version is read without a lock first
 * (the common case: nothing to do); otherwise each step takes the advisory
 * lock, reads the version again (another process may have migrated in the
 * meantime) and applies the next migration in the same transaction.
 */
static int pg_migrate(struct pg_store *ps, struct strbuf *err)
{
    int version, rc;

    rc = pg_read_version(ps, &version, err);
    while (!rc && version < PG_SCHEMA_LATEST) {
        struct strbuf sql = STRBUF_INIT;

        rc = pg_command(ps, "BEGIN", "begin a migration", err);
        if (rc)
            break;
        rc = pg_command(ps, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")",
                        "lock the schema for migration", err);
        if (!rc)
            rc = pg_read_version(ps, &version, err);
        if (!rc && version == 0)
            rc = pg_command(ps,
                            "CREATE TABLE IF NOT EXISTS schema_version ("
                            "version integer PRIMARY KEY, "
                            "applied_at timestamptz NOT NULL DEFAULT now())",
                            "create the schema_version table", err);
        if (!rc && version < PG_SCHEMA_LATEST) {
            strbuf_reset(&ps->scratch);
            strbuf_addf(&ps->scratch, "apply migration %d", version + 1);
            strbuf_addstr(&sql, pg_migrations[version]);
            strbuf_addf(&sql, ";INSERT INTO schema_version (version) VALUES (%d)", version + 1);
            rc = pg_command(ps, sql.buf, ps->scratch.buf, err);
            if (!rc)
                version++;
        }
        strbuf_release(&sql);
        if (!rc) {
            rc = pg_command(ps, "COMMIT", "commit a migration", err);
        } else {
            PQclear(PQexec(ps->conn, "ROLLBACK"));
        }
    }
    if (!rc && version > PG_SCHEMA_LATEST) {
        strbuf_addf(err,
                    "store: the database '%s' has schema version %d, newer than this "
                    "candlekeep knows (%d); upgrade candlekeep",
                    ps->redacted, version, PG_SCHEMA_LATEST);
        rc = CK_ECONFIG;
    }
    return rc;
}

static void pg_free(struct pg_store *ps)
{
    if (!ps)
        return;
    if (ps->conn)
        PQfinish(ps->conn);
    free(ps->redacted);
    redact_set_release(&ps->secrets);
    for (size_t i = 0; i < ARRAY_SIZE(ps->cols); i++)
        strbuf_release(&ps->cols[i]);
    strbuf_release(&ps->scratch);
    free(ps);
}

static int pg_open(struct store **out, const char *url, struct strbuf *err)
{
    /*
     * The URL is passed through as libpq's dbname (expanded), so every
     * libpq parameter works; the defaults before it are overridden by the
     * URL, the ones after it (none) would override the URL. Strings are
     * UTF-8 in candlekeep.
     */
    const char *const keys[] = {"connect_timeout", "client_encoding", "fallback_application_name",
                                "dbname", NULL};
    const char *const vals[] = {"10", "UTF8", "candlekeep", url, NULL};
    struct pg_store *ps = xcalloc(1, sizeof(*ps));
    int rc = 0;

    *out = NULL;
    ps->base.ops = &store_pg_ops;
    /*
     * The passwords as written and percent-decoded; for a malformed URL
     * (an unencoded '@' in the password) libpq may quote any piece of it.
     */
    redact_set_add_url(&ps->secrets, url, 0);
    {
        /* Redacted, and scrubbed too in case the URL is malformed. */
        char *red = redact_url(url, 0);
        struct strbuf sb = STRBUF_INIT;
        pg_add_scrubbed(&sb, red, &ps->secrets);
        ps->redacted = strbuf_detach(&sb, NULL);
        free(red);
    }
    for (size_t i = 0; i < ARRAY_SIZE(ps->cols); i++)
        strbuf_init(&ps->cols[i], 0);
    strbuf_init(&ps->scratch, 0);

    ps->conn = PQconnectdbParams(keys, vals, 1);
    if (!ps->conn || PQstatus(ps->conn) != CONNECTION_OK) {
        strbuf_addf(err, "store: cannot connect to '%s': ", ps->redacted);
        pg_add_conn_error(ps, err);
        rc = CK_EIO;
        goto out;
    }
    PQsetNoticeReceiver(ps->conn, pg_notice, ps);
    {
        /* Binary timestamps are 64-bit microseconds only with integer datetimes. */
        const char *idt = PQparameterStatus(ps->conn, "integer_datetimes");
        if (!idt || strcmp(idt, "on")) {
            strbuf_addf(err, "store: '%s' uses floating-point timestamps, which are not supported",
                        ps->redacted);
            rc = CK_ECONFIG;
            goto out;
        }
    }
    rc = pg_migrate(ps, err);
out:
    if (rc) {
        pg_free(ps);
        return rc;
    }
    *out = &ps->base;
    return 0;
}

static void pg_close(struct store *st)
{
    pg_free(pg_downcast(st));
}

static int pg_schema_version(struct store *st, int *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res;
    int64_t v;
    int rc = pg_ready(ps, err);

    if (!rc)
        rc = pg_run(ps, PG_SCHEMA_VERSION, NULL, &res, err, "read the schema version");
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &v, err);
    PQclear(res);
    if (!rc)
        *out = (int)v;
    return rc;
}

static bool pg_ping(struct store *st)
{
    struct pg_store *ps = pg_downcast(st);
    struct strbuf ignored = STRBUF_INIT;
    bool ok = false;

    /* Outside a transaction, a connection lost mid-query gets one more chance. */
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        PGresult *res;
        if (pg_ready(ps, &ignored))
            break;
        res = PQexec(ps->conn, "SELECT 1");
        ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (ps->base.in_tx || PQstatus(ps->conn) != CONNECTION_BAD)
            break;
    }
    strbuf_release(&ignored);
    return ok;
}

/*
 * The server answers (a broken idle connection is reset first, as for any
 * operation) and takes writes: a hot standby, or a database set read-only,
 * would fail every job.
 */
static int pg_check_writable(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    res = PQexec(ps->conn, "SELECT pg_is_in_recovery() OR "
                           "current_setting('default_transaction_read_only')::boolean");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "check the database", err);
    } else if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
        strbuf_addf(err, "store: '%s' is read-only (a standby, or transactions are read-only)",
                    ps->redacted);
        rc = CK_EIO;
    }
    PQclear(res);
    return rc;
}

/* --- transactions ------------------------------------------------------ */

static int pg_begin(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);
    if (!rc)
        rc = pg_command(ps, "BEGIN", "begin a transaction", err);
    return rc;
}

static int pg_commit(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res = PQexec(ps->conn, "COMMIT");
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_result_error(ps, res, "commit", err);
    } else if (strcmp(PQcmdStatus(res), "COMMIT")) {
        /* COMMIT of a transaction in which a statement failed rolls it back. */
        strbuf_addstr(err, "store: cannot commit: the transaction had failed and was rolled back");
        rc = CK_EIO;
    }
    PQclear(res);
    return rc;
}

static int pg_rollback(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    /* With the connection gone the server has rolled the transaction back. */
    if (PQstatus(ps->conn) == CONNECTION_BAD)
        return 0;
    return pg_command(ps, "ROLLBACK", "roll back", err);
}

/* --- candles ----------------------------------------------------------- */

static void pg_add_series_name(struct strbuf *sb, const struct series_key *s)
{
    strbuf_addf(sb, "%s %s %s", s->source, s->symbol, timeframe_name(s->tf));
}

/*
 * The id of series `s`, which is added when missing, with the row locked
 * until the transaction ends. Only for writers.
 */
static int pg_series_id(struct pg_store *ps, const struct series_key *s, int64_t *out,
                        struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pp_series(&p, s);
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

    pp_int(&p, series_id);
    slot = pg_param_slot(&p);
    p.values[slot] = times->buf;
    p.lengths[slot] = (int)times->len;
    p.formats[slot] = 1;
    for (int k = 1; k < 6; k++)
        pp_text(&p, ps->cols[k].buf);
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

    pp_int(&p, id);
    pp_time(&p, first);
    pp_time(&p, last);
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
static int pg_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                          size_t n, struct strbuf *err)
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

static int pg_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                          struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_series(&p, s);
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
    pp_series(&p, &s);
    pp_time(&p, it->has_lo ? it->lo : INT64_MIN);
    pp_time(&p, it->has_hi ? it->hi : INT64_MAX);
    pp_int(&p, (int64_t)want);
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

static int pg_query_candles(struct store *st, const struct candle_query *q,
                            struct candle_iter **out, struct strbuf *err)
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

static int pg_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                            struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_series(&p, &q->series);
    pp_time(&p, q->has_start ? q->start : INT64_MIN);
    pp_time(&p, q->has_end ? q->end : INT64_MAX);
    rc = pg_run(ps, PG_COUNT, &p, &res, err, "count candles of '%s %s %s'", q->series.source,
                q->series.symbol, timeframe_name(q->series.tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, out, err);
    PQclear(res);
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
        if (m->series == series && m->before == before && m->from)
            return m;
    }
    m = &ps->marks[ps->next_mark++ % ARRAY_SIZE(ps->marks)];
    *m = (struct pg_delete_mark){.series = series, .before = before, .from = INT64_MIN};
    return m;
}

static int pg_delete_candles_before(struct store *st, enum timeframe tf, int64_t before,
                                    size_t limit, int64_t *deleted, struct strbuf *err)
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
    pp_text(&p, timeframe_name(tf));
    if (!limit) {
        pp_time(&p, before);
        rc = pg_run(ps, PG_DELETE_BEFORE, &p, &res, err, "delete %s candles", timeframe_name(tf));
        if (rc)
            return rc;
        rc = pg_deleted_count(ps, res, deleted, err);
        PQclear(res);
        return rc;
    }
    /* A batch: series by series, each a range of the primary key, until `limit` rows are gone. */
    rc = pg_run(ps, PG_SERIES_OF_TF, &p, &res, err, "list %s series", timeframe_name(tf));
    if (rc)
        return rc;
    nids = PQntuples(res);
    ids = xcalloc(nids ? (size_t)nids : 1, sizeof(*ids));
    for (int r = 0; !rc && r < nids; r++)
        rc = pg_get_int(ps, res, r, 0, &ids[r], err);
    PQclear(res);
    /*
     * Windows of (what is left of the batch) periods from the oldest
     * candle, until the batch is full or the series has nothing older:
     * gaps make a window hold fewer, never more.
     */
    /*
     * A batch that a crash loses is deleted again by the next run: its
     * commit need not wait for the WAL to reach the disk, which is most of
     * the time of a small batch (synchronous_commit off for this
     * transaction only; nothing is at risk but the delete itself).
     */
    if (!rc)
        rc = pg_command(ps, "SET LOCAL synchronous_commit TO off", "relax the batch's commit", err);
    for (int r = 0; !rc && r < nids && (size_t)*deleted < limit;) {
        int64_t n = 0, oldest = 0, end;
        struct pg_params q = {0};
        struct pg_delete_mark *mark = pg_delete_mark(ps, ids[r], before);
        pp_int(&q, ids[r]);
        pp_time(&q, mark->from);
        rc = pg_run(ps, PG_SERIES_OLDEST, &q, &res, err, "find the oldest %s candle",
                    timeframe_name(tf));
        if (rc)
            break;
        if (PQgetisnull(res, 0, 0)) {
            PQclear(res);
            r++;
            continue;
        }
        rc = pg_get_int(ps, res, 0, 0, &oldest, err);
        PQclear(res);
        if (rc)
            break;
        end = oldest + (int64_t)(limit - (size_t)*deleted) * timeframe_seconds(tf);
        if (end > before)
            end = before;
        q = (struct pg_params){0};
        pp_int(&q, ids[r]);
        pp_time(&q, oldest);
        pp_time(&q, end);
        rc = pg_run(ps, PG_DELETE_SERIES_BEFORE, &q, &res, err, "delete %s candles",
                    timeframe_name(tf));
        if (rc)
            break;
        rc = pg_deleted_count(ps, res, &n, err);
        PQclear(res);
        if (!rc)
            mark->from = end;
        *deleted += n;
        if (!n)
            r++;
    }
    free(ids);
    return rc;
}

static int pg_count_candles_before(struct store *st, enum timeframe tf, int64_t before,
                                   int64_t *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, timeframe_name(tf));
    pp_time(&p, before);
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

static int pg_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err)
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

/* --- the gap ledger ---------------------------------------------------- */

/* The gap records of a result of PG_GAP_COLUMNS, all or nothing. */
static int pg_read_gaps(struct pg_store *ps, const PGresult *res, struct gap_record **out,
                        size_t *n, struct strbuf *err)
{
    int rows = PQntuples(res), rc = 0;
    struct gap_record *v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));

    for (int r = 0; r < rows && !rc; r++) {
        struct gap_record *g = &v[r];
        g->source = xstrdup(PQgetvalue(res, r, 1));
        g->symbol = xstrdup(PQgetvalue(res, r, 2));
        g->reason = xstrdup(PQgetvalue(res, r, 8));
        rc = pg_get_int(ps, res, r, 0, &g->id, err);
        if (!rc)
            rc = pg_get_tf(ps, res, r, 3, &g->tf, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 4, &g->first, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 5, &g->last, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 6, &g->count, err);
        if (!rc && gap_state_parse(PQgetvalue(res, r, 7), &g->state)) {
            strbuf_addf(err, "store: unknown gap state '%s' in '%s'", PQgetvalue(res, r, 7),
                        ps->redacted);
            rc = CK_EPARSE;
        }
        if (!rc)
            rc = pg_get_int(ps, res, r, 9, &g->first_seen, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 10, &g->last_checked, err);
    }
    if (rc) {
        gap_records_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                        size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, q->source);
    pp_text(&p, q->symbol);
    if (q->has_tf)
        pp_text(&p, timeframe_name(q->tf));
    else
        pp_null(&p);
    if (q->has_since)
        pp_time(&p, q->since);
    else
        pp_null(&p);
    if (q->has_state)
        pp_text(&p, gap_state_name(q->state));
    else
        pp_null(&p);
    if (q->limit)
        pp_int(&p, (int64_t)q->limit);
    else
        pp_null(&p);
    rc = pg_run(ps, PG_LIST_GAPS, &p, &res, err, "list gaps");
    if (rc)
        return rc;
    rc = pg_read_gaps(ps, res, out, n, err);
    PQclear(res);
    return rc;
}

static int pg_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                         struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    int64_t series_id;
    PGresult *res;
    int rc;

    if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
        !pg_time_storable(g->first_seen) || !pg_time_storable(g->last_checked)) {
        strbuf_addstr(err, "store: a time of a gap record is outside the years 1 to 9999");
        return CK_EINVAL;
    }
    rc = pg_ready(ps, err);
    if (!rc)
        rc = pg_series_id(ps, s, &series_id, err);
    if (rc)
        return rc;
    pp_int(&p, series_id);
    pp_time(&p, g->first);
    pp_time(&p, g->last);
    pp_int(&p, g->count);
    pp_text(&p, gap_state_name(g->state));
    pp_text(&p, g->reason ? g->reason : "");
    pp_time(&p, g->first_seen);
    pp_time(&p, g->last_checked);
    rc = pg_run(ps, PG_INSERT_GAP, &p, &res, err, "record a gap of '%s %s %s'", s->source,
                s->symbol, timeframe_name(s->tf));
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &g->id, err);
    PQclear(res);
    return rc;
}

static int pg_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
        !pg_time_storable(g->last_checked)) {
        strbuf_addf(err, "store: a time of gap %lld is outside the years 1 to 9999",
                    (long long)g->id);
        return CK_EINVAL;
    }
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_int(&p, g->id);
    pp_time(&p, g->first);
    pp_time(&p, g->last);
    pp_int(&p, g->count);
    pp_text(&p, gap_state_name(g->state));
    pp_text(&p, g->reason);
    pp_time(&p, g->last_checked);
    rc = pg_run(ps, PG_UPDATE_GAP, &p, &res, err, "update gap %lld", (long long)g->id);
    if (rc)
        return rc;
    if (strcmp(PQcmdTuples(res), "1")) {
        strbuf_addf(err, "store: no gap with id %lld", (long long)g->id);
        rc = CK_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

/* --- jobs, runs and leases ---------------------------------------------- */

#define PG_MS_MIN (PG_TIME_MIN * 1000)
#define PG_MS_END (PG_TIME_END * 1000)

/* Unix milliseconds as a binary timestamptz, outside the kept years +-infinity. */
static void pp_ms(struct pg_params *p, int64_t ms)
{
    int i = pg_param_slot(p);
    int64_t v = ms < PG_MS_MIN    ? INT64_MIN
                : ms >= PG_MS_END ? INT64_MAX
                                  : (ms - PG_EPOCH_UNIX * 1000) * 1000;
    pg_put_be64(p->bin[i], (uint64_t)v);
    p->values[i] = p->bin[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

static void pp_bool(struct pg_params *p, bool v)
{
    pp_text(p, v ? "t" : "f");
}

/* A time (in `unit`s per second) that is to be stored must lie in the kept years. */
static int pg_check_time(int64_t t, int64_t unit, const char *what, struct strbuf *err)
{
    if (t >= PG_TIME_MIN * unit && t < PG_TIME_END * unit)
        return 0;
    strbuf_addf(err, "store: %s %lld is outside the years 1 to 9999", what, (long long)t);
    return CK_EINVAL;
}

static int pg_no_job(const char *job_id, struct strbuf *err)
{
    strbuf_addf(err, "store: no job '%s'", job_id);
    return CK_ENOTFOUND;
}

/* The number of rows a command changed. */
static int64_t pg_changed(PGresult *res)
{
    int64_t n = 0;
    if (parse_int64(PQcmdTuples(res), 0, INT64_MAX, &n))
        n = 0;
    return n;
}

static int pg_read_job(struct pg_store *ps, const PGresult *res, int r, struct job_state *js,
                       struct strbuf *err)
{
    int rc;

    memset(js, 0, sizeof(*js));
    js->job_id = xstrdup(PQgetvalue(res, r, 0));
    js->paused = !strcmp(PQgetvalue(res, r, 1), "t");
    rc = pg_get_int(ps, res, r, 2, &js->streak, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &js->last_fire, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &js->updated_at, err);
    return rc;
}

static int pg_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now, 1, "time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, job_id);
    pp_time(&p, now);
    rc = pg_run(ps, PG_JOB_ENSURE, &p, &res, err, "add job '%s'", job_id);
    PQclear(res);
    return rc;
}

static int pg_job_get(struct store *st, const char *job_id, struct job_state *out,
                      struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, job_id);
    rc = pg_run(ps, PG_JOB_GET, &p, &res, err, "read job '%s'", job_id);
    if (rc)
        return rc;
    if (PQntuples(res) != 1)
        rc = pg_no_job(job_id, err);
    else if ((rc = pg_read_job(ps, res, 0, out, err)))
        job_state_release(out);
    PQclear(res);
    return rc;
}

static int pg_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct job_state *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    rc = pg_run(ps, PG_JOB_LIST, NULL, &res, err, "list jobs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_job(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_states_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_job_set_paused(struct store *st, const char *job_id, bool paused, int64_t now,
                             struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now, 1, "time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, job_id);
    pp_bool(&p, paused);
    pp_time(&p, now);
    rc =
        pg_run(ps, PG_JOB_PAUSE, &p, &res, err, "%s job '%s'", paused ? "pause" : "resume", job_id);
    if (!rc && !pg_changed(res))
        rc = pg_no_job(job_id, err);
    PQclear(res);
    return rc;
}

static int pg_job_set_last_fire(struct store *st, const char *job_id, int64_t fire,
                                struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(fire, 1, "fire time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, job_id);
    pp_time(&p, fire);
    rc = pg_run(ps, PG_JOB_LAST_FIRE, &p, &res, err, "record the last fire of job '%s'", job_id);
    if (!rc && !pg_changed(res))
        rc = pg_no_job(job_id, err);
    PQclear(res);
    return rc;
}

/* A run's finish time: NULL while it runs (or when none is given). */
static void pp_finished(struct pg_params *p, enum job_status status, int64_t finished)
{
    if (status == JOB_RUNNING || !finished)
        pp_null(p);
    else
        pp_ms(p, finished);
}

static int pg_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(r->scheduled, 1, "scheduled time", err);

    if (!rc)
        rc = pg_check_time(r->started, 1000, "start time (ms)", err);
    if (!rc && r->status != JOB_RUNNING && r->finished)
        rc = pg_check_time(r->finished, 1000, "finish time (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, r->job_id);
    pp_text(&p, r->instance ? r->instance : "");
    pp_time(&p, r->scheduled);
    pp_ms(&p, r->started);
    pp_finished(&p, r->status, r->finished);
    pp_text(&p, job_status_name(r->status));
    pp_text(&p, r->message ? r->message : "");
    pp_text(&p, r->details ? r->details : "{}");
    rc = pg_run(ps, PG_RUN_INSERT, &p, &res, err, "record a run of job '%s'", r->job_id);
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &r->id, err);
    PQclear(res);
    return rc;
}

static int pg_job_run_update(struct store *st, int64_t id, enum job_status status, int64_t finished,
                             const char *message, const char *details, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = 0;

    if (status != JOB_RUNNING && finished)
        rc = pg_check_time(finished, 1000, "finish time (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_int(&p, id);
    pp_text(&p, job_status_name(status));
    pp_finished(&p, status, finished);
    pp_text(&p, message ? message : "");
    pp_text(&p, details ? details : "{}");
    rc = pg_run(ps, PG_RUN_UPDATE, &p, &res, err, "update job run %lld", (long long)id);
    if (!rc && !pg_changed(res)) {
        strbuf_addf(err, "store: no job run with id %lld", (long long)id);
        rc = CK_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

static int pg_job_streak_update(struct store *st, const char *job_id, bool reset,
                                int64_t *out_streak, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, job_id);
    pp_bool(&p, reset);
    rc = pg_run(ps, PG_JOB_STREAK, &p, &res, err, "update the failure streak of job '%s'", job_id);
    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        rc = pg_no_job(job_id, err);
    } else {
        int64_t streak;
        rc = pg_get_int(ps, res, 0, 0, &streak, err);
        if (!rc && out_streak)
            *out_streak = streak;
    }
    PQclear(res);
    return rc;
}

static int pg_read_run(struct pg_store *ps, const PGresult *res, int r, struct job_run *run,
                       struct strbuf *err)
{
    const char *status = PQgetvalue(res, r, 6);
    int rc;

    memset(run, 0, sizeof(*run));
    run->job_id = xstrdup(PQgetvalue(res, r, 1));
    run->instance = xstrdup(PQgetvalue(res, r, 2));
    run->message = xstrdup(PQgetvalue(res, r, 7));
    run->details = xstrdup(PQgetvalue(res, r, 8));
    if (job_status_parse(status, &run->status)) {
        strbuf_addf(err, "store: unknown job status '%s' in '%s'", status, ps->redacted);
        return CK_EPARSE;
    }
    rc = pg_get_int(ps, res, r, 0, &run->id, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &run->scheduled, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &run->started, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 5, &run->finished, err);
    return rc;
}

static int pg_job_runs_list(struct store *st, const char *job_id, size_t limit,
                            struct job_run **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct job_run *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    if (job_id)
        pp_text(&p, job_id);
    if (limit && limit <= (size_t)INT64_MAX)
        pp_int(&p, (int64_t)limit);
    else
        pp_null(&p);
    rc = pg_run(ps, job_id ? PG_RUNS_OF_JOB : PG_RUNS_ALL, &p, &res, err, "list job runs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_run(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_runs_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* Run statement `id` with one time parameter (ms); `*changed` (may be NULL) gets the row count. */
static int pg_run_cut(struct pg_store *ps, enum pg_stmt id, int64_t ms, const char *text,
                      int64_t *changed, const char *what, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pp_ms(&p, ms);
    if (text)
        pp_text(&p, text);
    rc = pg_run(ps, id, &p, &res, err, "%s", what);
    if (!rc && changed)
        *changed = pg_changed(res);
    PQclear(res);
    return rc;
}

static int pg_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted,
                             struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);

    /* `*deleted` counts runs, the history the caller reports on; leases go quietly. */
    if (!rc)
        rc = pg_run_cut(ps, PG_RUNS_PRUNE, before_ms, NULL, deleted, "prune job runs", err);
    if (!rc)
        rc = pg_run_cut(ps, PG_LEASES_PRUNE, before_ms, NULL, NULL, "prune leases", err);
    return rc;
}

static int pg_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                                  int64_t *count, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);

    if (!rc)
        rc = pg_run_cut(ps, PG_RUNS_FAIL_STALE, started_before_ms, message ? message : "", count,
                        "mark stale job runs failed", err);
    return rc;
}

/* The claim of `name` was refused: say who holds it. */
static int pg_lease_busy(struct pg_store *ps, const char *name, struct strbuf *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int64_t until = 0;
    int rc;

    pp_text(&p, name);
    rc = pg_run(ps, PG_LEASE_HOLDER, &p, &res, err, "read lease '%s'", name);
    if (rc)
        return rc;
    if (PQntuples(res) == 1 && !pg_get_int(ps, res, 0, 1, &until, err)) {
        char when[TIME_BUFSZ];
        time_format_iso8601(until / 1000, when);
        strbuf_addf(err, "store: lease '%s' is held by '%s' until %s", name, PQgetvalue(res, 0, 0),
                    when);
    } else if (PQntuples(res) != 1) {
        /* Released in the meantime by its holder; it was busy when claimed. */
        strbuf_addf(err, "store: lease '%s' is held by another instance", name);
    }
    PQclear(res);
    return CK_EBUSY;
}

static int pg_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                          int64_t until_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int64_t changed;
    int rc = pg_check_time(now_ms, 1000, "lease time (ms)", err);

    if (!rc)
        rc = pg_check_time(until_ms, 1000, "lease end (ms)", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, name);
    pp_text(&p, instance);
    pp_ms(&p, now_ms);
    pp_ms(&p, until_ms);
    rc = pg_run(ps, PG_LEASE_CLAIM, &p, &res, err, "claim lease '%s'", name);
    if (rc)
        return rc;
    changed = pg_changed(res);
    PQclear(res);
    /* An upsert whose WHERE refused the update changed no row. */
    return changed ? 0 : pg_lease_busy(ps, name, err);
}

static int pg_lease_release(struct store *st, const char *name, const char *instance,
                            struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, name);
    pp_text(&p, instance);
    rc = pg_run(ps, PG_LEASE_RELEASE, &p, &res, err, "release lease '%s'", name);
    PQclear(res);
    return rc;
}

static int pg_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                         struct lease_info **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct lease_info *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, prefix);
    pp_ms(&p, valid_at_ms);
    rc = pg_run(ps, PG_LEASE_LIST, &p, &res, err, "list leases");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++) {
        v[r].name = xstrdup(PQgetvalue(res, r, 0));
        v[r].holder = xstrdup(PQgetvalue(res, r, 1));
        rc = pg_get_int(ps, res, r, 2, &v[r].until_ms, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 3, &v[r].created_ms, err);
    }
    PQclear(res);
    if (rc) {
        lease_infos_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* --- bulk export and import -------------------------------------------- */

/*
 * Executions of one statement in flight at once in pg_run_each(). The
 * server answers each (a few dozen bytes) while the client is still
 * sending; a client that only writes while the server's answers pile up
 * unread can deadlock with it once the socket buffers fill, and a few
 * hundred answers stay far below any buffer size.
 */
#define PG_PIPELINE_ROWS 256

/*
 * Run prepared statement `id` once for each parameter set p[0..n), n <=
 * PG_PIPELINE_ROWS, in libpq's pipeline mode: every execution is sent
 * before the first answer is read, so the batch costs one round trip
 * rather than n. `each` (may be NULL) gets the rows each execution
 * changed, and `*changed` grows by their sum. The first failure is
 * reported; the server skips the executions after it. Only inside a
 * transaction, which a failure leaves failed (the caller rolls back).
 */
static int pg_run_each(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, size_t n,
                       int64_t *each, size_t *changed, const char *what, struct strbuf *err)
{
    size_t sent = 0;
    bool synced;
    int rc;

    if (n > PG_PIPELINE_ROWS)
        BUG("pipeline of %zu statements", n);
    rc = pg_prepare(ps, id, err);
    if (rc)
        return rc;
    if (!PQenterPipelineMode(ps->conn))
        return pg_result_error(ps, NULL, what, err);
    for (; sent < n; sent++) {
        const struct pg_params *q = &p[sent];
        if (!PQsendQueryPrepared(ps->conn, pg_stmts[id].name, q->n, q->values, q->lengths,
                                 q->formats, 0)) {
            rc = pg_result_error(ps, NULL, what, err);
            break;
        }
    }
    synced = PQpipelineSync(ps->conn) == 1;
    if (!synced && !rc)
        rc = pg_result_error(ps, NULL, what, err);
    for (size_t i = 0; i < sent; i++) {
        PGresult *res;
        int64_t rows = 0;
        /* The answers to one execution end with a NULL. */
        while ((res = PQgetResult(ps->conn))) {
            ExecStatusType status = PQresultStatus(res);
            if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
                rows += pg_changed(res);
            else if (status != PGRES_PIPELINE_ABORTED && !rc)
                rc = pg_result_error(ps, res, what, err);
            PQclear(res);
        }
        if (each)
            each[i] = rows;
        *changed += (size_t)rows;
        if (PQstatus(ps->conn) == CONNECTION_BAD)
            break;
    }
    if (synced && PQstatus(ps->conn) != CONNECTION_BAD) {
        PGresult *res = PQgetResult(ps->conn);
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !rc)
            rc = pg_result_error(ps, res, what, err);
        PQclear(res);
    }
    if (!PQexitPipelineMode(ps->conn) && !rc)
        rc = pg_result_error(ps, NULL, what, err);
    if (!rc && PQstatus(ps->conn) == CONNECTION_BAD)
        rc = pg_result_error(ps, NULL, what, err);
    return rc;
}


/* The id and limit parameters of an export. */
static void pp_page(struct pg_params *p, int64_t after_id, size_t limit)
{
    pp_int(p, after_id);
    if (limit && limit <= (size_t)INT64_MAX)
        pp_int(p, (int64_t)limit);
    else
        pp_null(p);
}

static int pg_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                          size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_page(&p, after_id, limit);
    rc = pg_run(ps, PG_GAPS_EXPORT, &p, &res, err, "export gaps");
    if (rc)
        return rc;
    rc = pg_read_gaps(ps, res, out, n, err);
    PQclear(res);
    return rc;
}

static int pg_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                          size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    enum pg_stmt id = flags & STORE_IMPORT_SKIP_EXISTING ? PG_GAP_IMPORT_NEW : PG_INSERT_GAP;
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    const struct gap_record *prev = NULL;
    int64_t series_id = 0;
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct gap_record *g = &v[off + i];
            struct series_key k = {.source = g->source, .symbol = g->symbol, .tf = g->tf};
            if (!pg_time_storable(g->first) || !pg_time_storable(g->last) ||
                !pg_time_storable(g->first_seen) || !pg_time_storable(g->last_checked)) {
                strbuf_addstr(err, "store: a time of a gap record of '");
                pg_add_series_name(err, &k);
                strbuf_addstr(err, "' is outside the years 1 to 9999");
                rc = CK_EINVAL;
                break;
            }
            /* Records come grouped by series more often than not. */
            if (!prev || prev->tf != g->tf || strcmp(prev->source, g->source) ||
                strcmp(prev->symbol, g->symbol)) {
                rc = pg_series_id(ps, &k, &series_id, err);
                if (rc)
                    break;
                prev = g;
            }
            p[i] = (struct pg_params){0};
            pp_int(&p[i], series_id);
            pp_time(&p[i], g->first);
            pp_time(&p[i], g->last);
            pp_int(&p[i], g->count);
            pp_text(&p[i], gap_state_name(g->state));
            pp_text(&p[i], g->reason ? g->reason : "");
            pp_time(&p[i], g->first_seen);
            pp_time(&p[i], g->last_checked);
        }
        if (!rc)
            rc = pg_run_each(ps, id, p, m, NULL, added, "import gap records", err);
    }
    free(p);
    return rc;
}

static int pg_export_job_runs(struct store *st, int64_t after_id, size_t limit,
                              struct job_run **out, size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct job_run *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_page(&p, after_id, limit);
    rc = pg_run(ps, PG_RUNS_EXPORT, &p, &res, err, "export job runs");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_run(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        job_runs_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                              size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    enum pg_stmt id = flags & STORE_IMPORT_SKIP_EXISTING ? PG_RUN_IMPORT_NEW : PG_RUN_INSERT;
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct job_run *r = &v[off + i];
            rc = pg_check_time(r->scheduled, 1, "scheduled time", err);
            if (!rc)
                rc = pg_check_time(r->started, 1000, "start time (ms)", err);
            if (!rc && r->status != JOB_RUNNING && r->finished)
                rc = pg_check_time(r->finished, 1000, "finish time (ms)", err);
            if (rc)
                break;
            /* The parameters of PG_RUN_INSERT, which both statements take. */
            p[i] = (struct pg_params){0};
            pp_text(&p[i], r->job_id);
            pp_text(&p[i], r->instance ? r->instance : "");
            pp_time(&p[i], r->scheduled);
            pp_ms(&p[i], r->started);
            pp_finished(&p[i], r->status, r->finished);
            pp_text(&p[i], job_status_name(r->status));
            pp_text(&p[i], r->message ? r->message : "");
            pp_text(&p[i], r->details ? r->details : "{}");
        }
        if (!rc)
            rc = pg_run_each(ps, id, p, m, NULL, added, "import job runs", err);
    }
    free(p);
    return rc;
}

static int pg_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                          size_t *added, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params *p = xcalloc(n < PG_PIPELINE_ROWS ? n : PG_PIPELINE_ROWS, sizeof(*p));
    int64_t each[PG_PIPELINE_ROWS];
    int rc = pg_ready(ps, err);

    for (size_t off = 0; off < n && !rc; off += PG_PIPELINE_ROWS) {
        size_t m = n - off < PG_PIPELINE_ROWS ? n - off : PG_PIPELINE_ROWS;
        for (size_t i = 0; i < m && !rc; i++) {
            const struct job_state *js = &v[off + i];
            rc = pg_check_time(js->updated_at, 1, "job update time", err);
            if (!rc && js->last_fire)
                rc = pg_check_time(js->last_fire, 1, "fire time", err);
            if (rc)
                break;
            p[i] = (struct pg_params){0};
            pp_text(&p[i], js->job_id);
            pp_bool(&p[i], js->paused);
            pp_int(&p[i], js->streak);
            if (js->last_fire)
                pp_time(&p[i], js->last_fire);
            else
                pp_null(&p[i]);
            pp_time(&p[i], js->updated_at);
        }
        if (!rc)
            rc = pg_run_each(ps, PG_JOB_IMPORT, p, m, each, added, "import jobs", err);
        for (size_t i = 0; i < m && !rc; i++) {
            if (each[i] || (flags & STORE_IMPORT_SKIP_EXISTING))
                continue;
            strbuf_addf(err, "store: job '%s' exists already in '%s'", v[off + i].job_id,
                        ps->redacted);
            rc = CK_ECONFLICT;
        }
    }
    free(p);
    return rc;
}

/* --- rate budgets and series state -------------------------------------- */

static void pg_copy_reason(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int pg_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                       struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    pp_text(&p, source);
    if (lock) {
        rc = pg_run(ps, PG_RATE_ENSURE, &p, &res, err, "add the rate budget of '%s'", source);
        PQclear(res);
        if (rc)
            return rc;
    }
    rc = pg_run(ps, lock ? PG_RATE_LOCK : PG_RATE_GET, &p, &res, err,
                "read the rate budget of '%s'", source);
    if (rc)
        return rc;
    if (PQntuples(res) != 1) {
        rc = CK_ENOTFOUND;
    } else {
        rc = pg_get_int(ps, res, 0, 0, &out->day, err);
        if (!rc)
            rc = pg_get_int(ps, res, 0, 1, &out->day_used, err);
        if (!rc)
            rc = pg_get_int(ps, res, 0, 2, &out->banned_until_ms, err);
        if (!rc)
            pg_copy_reason(out->ban_reason, sizeof(out->ban_reason), PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

static int pg_rate_put(struct store *st, const char *source, const struct rate_row *row,
                       int64_t now_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(now_ms, 1000, "time (ms)", err);

    if (!rc && row->banned_until_ms)
        rc = pg_check_time(row->banned_until_ms, 1000, "ban end (ms)", err);
    if (!rc)
        rc = pg_check_time(row->day * 86400, 1, "day", err);
    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, source);
    pp_int(&p, row->day);
    pp_int(&p, row->day_used);
    if (row->banned_until_ms)
        pp_ms(&p, row->banned_until_ms);
    else
        pp_null(&p);
    pp_text(&p, row->ban_reason);
    pp_ms(&p, now_ms);
    rc = pg_run(ps, PG_RATE_PUT, &p, &res, err, "write the rate budget of '%s'", source);
    PQclear(res);
    return rc;
}

static int pg_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                          int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    *out_count = 0;
    *out_nth_ms = 0;
    if (rc)
        return rc;
    pp_text(&p, source);
    pp_ms(&p, since_ms);
    pp_int(&p, nth > 0 ? nth - 1 : 0);
    rc = pg_run(ps, PG_RATE_WINDOW, &p, &res, err, "count the requests sent to '%s'", source);
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, out_count, err);
    if (!rc && nth > 0)
        rc = pg_get_int(ps, res, 0, 1, out_nth_ms, err);
    PQclear(res);
    return rc;
}

static int pg_rate_log(struct store *st, const char *source, int64_t sent_ms,
                       int64_t prune_before_ms, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(sent_ms, 1000, "send time (ms)", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, source);
    pp_ms(&p, sent_ms);
    pp_ms(&p, prune_before_ms);
    rc = pg_run(ps, PG_RATE_LOG, &p, &res, err, "log a request sent to '%s'", source);
    PQclear(res);
    return rc;
}

static int pg_read_sstate(struct pg_store *ps, const PGresult *res, int r, struct series_state *s,
                          struct strbuf *err)
{
    int rc;

    memset(s, 0, sizeof(*s));
    s->source = xstrdup(PQgetvalue(res, r, 0));
    s->symbol = xstrdup(PQgetvalue(res, r, 1));
    s->last_error = xstrdup(PQgetvalue(res, r, 5));
    s->deferred_reason = xstrdup(PQgetvalue(res, r, 9));
    rc = pg_get_tf(ps, res, r, 2, &s->tf, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 3, &s->streak, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 4, &s->skipped, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 6, &s->last_failure, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 7, &s->last_success, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 8, &s->deferred_since, err);
    if (!rc)
        rc = pg_get_int(ps, res, r, 10, &s->updated_at, err);
    return rc;
}

static int pg_series_state_get(struct store *st, const struct series_key *k,
                               struct series_state *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_ready(ps, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    pp_series(&p, k);
    rc = pg_run(ps, PG_SSTATE_GET, &p, &res, err, "read the state of series '%s %s %s'", k->source,
                k->symbol, timeframe_name(k->tf));
    if (rc)
        return rc;
    if (PQntuples(res) != 1)
        rc = CK_ENOTFOUND;
    else if ((rc = pg_read_sstate(ps, res, 0, out, err)))
        series_state_release(out);
    PQclear(res);
    return rc;
}

/* A time that is 0 for none: NULL, else the timestamptz. */
static void pp_time0(struct pg_params *p, int64_t t)
{
    if (t)
        pp_time(p, t);
    else
        pp_null(p);
}

static int pg_series_state_put(struct store *st, const struct series_state *s, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    PGresult *res;
    int rc = pg_check_time(s->updated_at, 1, "time", err);

    if (!rc)
        rc = pg_ready(ps, err);
    if (rc)
        return rc;
    pp_text(&p, s->source);
    pp_text(&p, s->symbol);
    pp_text(&p, timeframe_name(s->tf));
    pp_int(&p, s->streak);
    pp_int(&p, s->skipped);
    pp_text(&p, s->last_error ? s->last_error : "");
    pp_time0(&p, s->last_failure);
    pp_time0(&p, s->last_success);
    pp_time0(&p, s->deferred_since);
    pp_text(&p, s->deferred_reason ? s->deferred_reason : "");
    pp_time(&p, s->updated_at);
    rc = pg_run(ps, PG_SSTATE_PUT, &p, &res, err, "write the state of series '%s %s %s'", s->source,
                s->symbol, timeframe_name(s->tf));
    PQclear(res);
    return rc;
}

static int pg_series_state_list(struct store *st, const char *source, struct series_state **out,
                                size_t *n, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct pg_params p = {0};
    struct series_state *v;
    PGresult *res;
    int rows, rc = pg_ready(ps, err);

    if (rc)
        return rc;
    pp_text(&p, source); /* NULL: every source */
    rc = pg_run(ps, PG_SSTATE_LIST, &p, &res, err, "list series state");
    if (rc)
        return rc;
    rows = PQntuples(res);
    v = xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    for (int r = 0; r < rows && !rc; r++)
        rc = pg_read_sstate(ps, res, r, &v[r], err);
    PQclear(res);
    if (rc) {
        series_states_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* --- generic statements ------------------------------------------------ */

/* Type oids of the parameters the generic statements send (pg_type.h). */
enum {
    PG_OID_BOOL = 16,
    PG_OID_INT8 = 20,
    PG_OID_TEXT = 25,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_NUMERIC = 1700,
};

#define PG_SQL_MAX_PARAMS 24

static int pg_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n,
                  struct sql_rows *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    Oid types[PG_SQL_MAX_PARAMS];
    const char *values[PG_SQL_MAX_PARAMS];
    int lengths[PG_SQL_MAX_PARAMS], formats[PG_SQL_MAX_PARAMS];
    char text[PG_SQL_MAX_PARAMS][PRICE_BUFSZ > 24 ? PRICE_BUFSZ : 24];
    PGresult *res;
    ExecStatusType status;
    int rc;

    sql_rows_release(out);
    if (n > PG_SQL_MAX_PARAMS)
        BUG("pg: %zu statement parameters", n);
    for (size_t i = 0; i < n; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        values[i] = text[i];
        switch (p[i].kind) {
        case SQLV_NULL:
            types[i] = 0;
            values[i] = NULL;
            break;
        case SQLV_TEXT:
            types[i] = PG_OID_TEXT;
            values[i] = p[i].s;
            break;
        case SQLV_BOOL:
            types[i] = PG_OID_BOOL;
            values[i] = p[i].i ? "t" : "f";
            break;
        case SQLV_INT:
            types[i] = PG_OID_INT8;
            snprintf(text[i], sizeof(text[i]), "%lld", (long long)p[i].i);
            break;
        case SQLV_PRICE:
            types[i] = PG_OID_NUMERIC;
            price_format(p[i].i, text[i]);
            break;
        case SQLV_TIME_MS: {
            /* Binary timestamptz: microseconds since 2000-01-01, exact to the ms. */
            int64_t us = (p[i].i - PG_EPOCH_UNIX * 1000) * 1000;
            types[i] = PG_OID_TIMESTAMPTZ;
            pg_put_be64(text[i], (uint64_t)us);
            lengths[i] = 8;
            formats[i] = 1;
            break;
        }
        }
    }
    rc = pg_ready(ps, err);
    if (rc)
        return rc;
    res = PQexecParams(ps->conn, sql, (int)n, types, values, lengths, formats, 0);
    status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        rc = pg_result_error(ps, res, "statement failed", err);
        PQclear(res);
        return rc;
    }
    out->scaled_prices = false;
    out->nrows = (size_t)PQntuples(res);
    out->ncols = (size_t)PQnfields(res);
    out->cells = xcalloc(out->nrows * out->ncols + 1, sizeof(*out->cells));
    for (size_t r = 0; r < out->nrows; r++)
        for (size_t c = 0; c < out->ncols; c++)
            if (!PQgetisnull(res, (int)r, (int)c))
                out->cells[r * out->ncols + c] = xstrdup(PQgetvalue(res, (int)r, (int)c));
    {
        const char *tuples = PQcmdTuples(res);
        int64_t v = 0;
        if (tuples && *tuples && !parse_int64(tuples, 0, INT64_MAX, &v))
            out->changed = v;
    }
    PQclear(res);
    return 0;
}

const struct store_ops store_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .ping = pg_ping,
    .check_writable = pg_check_writable,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_candles = pg_put_candles,
    .latest_time = pg_latest_time,
    .query_candles = pg_query_candles,
    .count_candles = pg_count_candles,
    .delete_candles_before = pg_delete_candles_before,
    .count_candles_before = pg_count_candles_before,
    .list_series = pg_list_series,
    .list_gaps = pg_list_gaps,
    .insert_gap = pg_insert_gap,
    .update_gap = pg_update_gap,
    .job_ensure = pg_job_ensure,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_set_paused = pg_job_set_paused,
    .job_set_last_fire = pg_job_set_last_fire,
    .job_run_insert = pg_job_run_insert,
    .job_run_update = pg_job_run_update,
    .job_streak_update = pg_job_streak_update,
    .job_runs_list = pg_job_runs_list,
    .job_runs_prune = pg_job_runs_prune,
    .job_runs_fail_stale = pg_job_runs_fail_stale,
    .lease_claim = pg_lease_claim,
    .lease_release = pg_lease_release,
    .lease_list = pg_lease_list,
    .rate_get = pg_rate_get,
    .rate_put = pg_rate_put,
    .rate_window = pg_rate_window,
    .rate_log = pg_rate_log,
    .series_state_get = pg_series_state_get,
    .series_state_put = pg_series_state_put,
    .series_state_list = pg_series_state_list,
    .export_gaps = pg_export_gaps,
    .import_gaps = pg_import_gaps,
    .export_job_runs = pg_export_job_runs,
    .import_job_runs = pg_import_job_runs,
    .import_jobs = pg_import_jobs,
    .sql = pg_sql,
};
