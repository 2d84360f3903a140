/* SPDX-License-Identifier: MIT */
/*
 * The text of the SQLite backend's fixed statements, indexed by
 * `enum sqlite_stmt_id`. sqlite_stmt() prepares each on first use with
 * SQLITE_PREPARE_PERSISTENT and keeps it for the life of the connection.
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

/* The cached statements, prepared on first use and kept until close. */
const char *const sqlite_stmt_sql[STMT_NR] = {
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads and then writes can fail with SQLITE_BUSY without waiting when
     * another process committed in between. */
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_VERSION] = "SELECT max(version) FROM schema_version",
    [STMT_VERSION_ADD] = "INSERT INTO schema_version (version) VALUES (?1)",
    /* Rewrites the rows as they are: a committed write that changes nothing. */
    [STMT_VERSION_TOUCH] = "UPDATE schema_version SET version = version",
    [STMT_SERIES_GET] =
        "SELECT id FROM series WHERE source = ?1 AND symbol = ?2 AND timeframe = ?3",
    [STMT_SERIES_ADD] = "INSERT INTO series (source, symbol, timeframe) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT (source, symbol, timeframe) DO NOTHING",
    /*
     * A whole batch (see ck_candle_batch in candles.c); the WHERE true
     * tells the parser that ON CONFLICT is not a join's ON.
     */
    [STMT_PUT] = "INSERT INTO candles (series_id, open_time, open, high, low, close, volume) "
                 "SELECT ?1, open_time, open, high, low, close, volume "
                 "FROM ck_candle_batch(?2) WHERE true "
                 "ON CONFLICT (series_id, open_time) DO UPDATE SET "
                 "open = excluded.open, high = excluded.high, low = excluded.low, "
                 "close = excluded.close, volume = excluded.volume "
                 "WHERE candles.open <> excluded.open OR candles.high <> excluded.high "
                 "OR candles.low <> excluded.low OR candles.close <> excluded.close "
                 "OR candles.volume IS NOT excluded.volume",
    [STMT_LATEST] = "SELECT max(open_time) FROM candles WHERE series_id = ?1",
    [STMT_COUNT] = "SELECT count(*) FROM candles "
                   "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3",
    /*
     * Three subqueries rather than one aggregate: alone, min() and max()
     * are single probes of the primary key, and count(*) steps over the
     * range without decoding a column (a third of the CPU time of the
     * three aggregates in one pass, measured over a million rows).
     */
    /* Only the primary key's column: no price is decoded. */
    [STMT_TIMES] = "SELECT open_time FROM candles "
                   "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3 "
                   "ORDER BY open_time ASC",
    [STMT_EXTENT] = "SELECT (SELECT count(*) FROM candles "
                    "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3), "
                    "(SELECT min(open_time) FROM candles "
                    "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3), "
                    "(SELECT max(open_time) FROM candles "
                    "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3)",
    /* Moves when another connection (or process) commits to the file. */
    [STMT_DATA_VERSION] = "PRAGMA data_version",
    [STMT_DELETE_BEFORE] = "DELETE FROM candles WHERE open_time < ?2 AND series_id IN "
                           "(SELECT id FROM series WHERE timeframe = ?1)",
    [STMT_SERIES_OF_TF] = "SELECT id FROM series WHERE timeframe = ?1 ORDER BY id",
    /*
     * A batch of retention is the oldest ?3 candles of series ?1 before
     * ?2: the open time of the (?3 + 1)-th oldest bounds them, and they
     * go as one plain range of the primary key. Two statements, because a
     * DELETE whose WHERE reads the table it deletes from is run in two
     * passes (collect the keys, then seek each one), which measured 3.5
     * times slower than this one-pass range delete.
     */
    [STMT_BATCH_BOUND] = "SELECT open_time FROM candles WHERE series_id = ?1 AND open_time < ?2 "
                         "ORDER BY open_time LIMIT 1 OFFSET ?3",
    [STMT_DELETE_SERIES_BEFORE] = "DELETE FROM candles WHERE series_id = ?1 AND open_time < ?2",
    [STMT_COUNT_BEFORE] = "SELECT count(*) FROM candles WHERE open_time < ?2 AND series_id IN "
                          "(SELECT id FROM series WHERE timeframe = ?1)",
    [STMT_GAP_INSERT] = "INSERT INTO gaps (series_id, first_time, last_time, count, state, "
                        "reason, first_seen, last_checked, attempts, first_attempt) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [STMT_GAP_UPDATE] = "UPDATE gaps SET first_time = ?2, last_time = ?3, count = ?4, "
                        "state = ?5, reason = coalesce(?6, reason), last_checked = ?7, "
                        "attempts = ?8, first_attempt = ?9 WHERE id = ?1",
    [STMT_JOB_ENSURE] = "INSERT INTO jobs (job_id, updated_at) VALUES (?1, ?2) "
                        "ON CONFLICT (job_id) DO NOTHING",
    [STMT_JOB_GET] = "SELECT job_id, paused, streak, last_fire, updated_at, paused_until, "
                     "pause_reason, paused_by FROM jobs "
                     "WHERE job_id = ?1",
    [STMT_JOB_LIST] = "SELECT job_id, paused, streak, last_fire, updated_at, paused_until, "
                      "pause_reason, paused_by FROM jobs "
                      "ORDER BY job_id",
    [STMT_JOB_PAUSE] = "UPDATE jobs SET paused = ?2, updated_at = ?3, paused_until = ?4, "
                       "pause_reason = ?5, paused_by = ?6 WHERE job_id = ?1",
    /* max() rather than a WHERE on last_fire, so that changes() tells a
     * missing job from an older fire. */
    [STMT_JOB_LAST_FIRE] = "UPDATE jobs SET last_fire = max(last_fire, ?2) WHERE job_id = ?1",
    [STMT_JOB_STREAK] = "UPDATE jobs SET streak = CASE WHEN ?2 THEN 0 ELSE streak + 1 END "
                        "WHERE job_id = ?1 RETURNING streak",
    [STMT_RUN_INSERT] = "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, "
                        "status, message, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_RUN_UPDATE] = "UPDATE job_runs SET status = ?2, finished = ?3, message = ?4, "
                        "details = ?5 WHERE id = ?1",
    /* A negative LIMIT is no limit. */
    [STMT_RUNS_OF_JOB] = "SELECT " JOB_RUN_COLUMNS " FROM job_runs WHERE job_id = ?1 "
                         "ORDER BY id DESC LIMIT ?2",
    [STMT_RUNS_ALL] = "SELECT " JOB_RUN_COLUMNS " FROM job_runs ORDER BY id DESC LIMIT ?2",
    /* The finished statuses are spelled out so that the (status, started)
     * index serves the sweep. */
    [STMT_RUNS_PRUNE] = "DELETE FROM job_runs WHERE status IN ('ok', 'failed', 'skipped', "
                        "'timed_out', 'missed') AND started < ?1",
    /*
     * The op has no clock argument, and when such a run really ended is
     * unknown: it is marked finished at the moment the sweep noticed,
     * read from the database's clock (as schema_version.applied_at is),
     * never before it started.
     */
    [STMT_RUNS_FAIL_STALE] =
        "UPDATE job_runs SET status = 'failed', message = ?2, finished = max(started, "
        "CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)) "
        "WHERE status = 'running' AND started < ?1",
    [STMT_LEASES_PRUNE] = "DELETE FROM leases WHERE created_ms < ?1",
    /*
     * The whole claim is this one statement: it inserts a free lease, and
     * its WHERE lets it take over only an expired lease or extend one the
     * claimant holds already; otherwise it changes nothing. The SET
     * expressions see the old row, so created_ms moves only with the
     * holder.
     */
    [STMT_LEASE_CLAIM] =
        "INSERT INTO leases (name, holder, until_ms, created_ms) VALUES (?1, ?2, ?4, ?3) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
        "until_ms = excluded.until_ms, created_ms = CASE WHEN leases.holder = excluded.holder "
        "THEN leases.created_ms ELSE excluded.created_ms END "
        "WHERE leases.until_ms < ?3 OR leases.holder = excluded.holder",
    [STMT_LEASE_HOLDER] = "SELECT holder, until_ms FROM leases WHERE name = ?1",
    [STMT_LEASE_RELEASE] = "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
    /* Prefix matches as a range of the primary key (see lease_prefix_end()). */
    [STMT_LEASE_LIST_FROM] = "SELECT " LEASE_COLUMNS " FROM leases "
                             "WHERE name >= ?1 AND until_ms >= ?3 ORDER BY name",
    [STMT_LEASE_LIST_RANGE] = "SELECT " LEASE_COLUMNS " FROM leases "
                              "WHERE name >= ?1 AND name < ?2 AND until_ms >= ?3 ORDER BY name",
    /* The write lock of the IMMEDIATE transaction is the budget's lock. */
    [STMT_RATE_ENSURE] = "INSERT INTO rate_budgets (source) VALUES (?1) "
                         "ON CONFLICT (source) DO NOTHING",
    [STMT_RATE_GET] = "SELECT day, day_used, banned_until, ban_reason FROM rate_budgets "
                      "WHERE source = ?1",
    [STMT_RATE_PUT] = "INSERT INTO rate_budgets (source, day, day_used, banned_until, ban_reason, "
                      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source) DO UPDATE "
                      "SET day = excluded.day, day_used = excluded.day_used, "
                      "banned_until = excluded.banned_until, ban_reason = excluded.ban_reason, "
                      "updated_at = excluded.updated_at",
    [STMT_RATE_COUNT] = "SELECT count(*) FROM rate_log WHERE source = ?1 AND sent_ms > ?2",
    [STMT_RATE_NTH] = "SELECT sent_ms FROM rate_log WHERE source = ?1 AND sent_ms > ?2 "
                      "ORDER BY sent_ms DESC LIMIT 1 OFFSET ?3",
    [STMT_RATE_LOG] = "INSERT INTO rate_log (source, sent_ms) VALUES (?1, ?2)",
    [STMT_RATE_PRUNE] = "DELETE FROM rate_log WHERE source = ?1 AND sent_ms < ?2",
    [STMT_SSTATE_GET] = "SELECT " SSTATE_COLUMNS " FROM series_state "
                        "WHERE source = ?1 AND symbol = ?2 AND timeframe = ?3",
    [STMT_SSTATE_PUT] = "INSERT OR REPLACE INTO series_state (" SSTATE_COLUMNS ") "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STMT_SSTATE_LIST] = "SELECT " SSTATE_COLUMNS " FROM series_state "
                         "ORDER BY source, symbol, timeframe",
    [STMT_SSTATE_LIST_SOURCE] = "SELECT " SSTATE_COLUMNS " FROM series_state WHERE source = ?1 "
                                "ORDER BY source, symbol, timeframe",
    /* Exports page by id; a negative LIMIT is no limit. */
    [STMT_GAPS_EXPORT] = "SELECT " GAP_COLUMNS " FROM gaps g JOIN series s ON s.id = g.series_id "
                         "WHERE g.id > ?1 ORDER BY g.id LIMIT ?2",
    /*
     * An import that leaves identical rows alone: the NOT EXISTS probes
     * the (series_id, last_time) index for gaps and the (status, started)
     * index for runs, so it stays cheap however long the history.
     */
    [STMT_GAP_IMPORT_NEW] =
        "INSERT INTO gaps (series_id, first_time, last_time, count, state, reason, first_seen, "
        "last_checked, attempts, first_attempt) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 "
        "WHERE NOT EXISTS (SELECT 1 FROM gaps "
        "WHERE series_id = ?1 AND last_time = ?3 AND first_time = ?2 AND count = ?4 AND "
        "state = ?5 AND reason = ?6 AND first_seen = ?7 AND last_checked = ?8)",
    [STMT_RUNS_EXPORT] = "SELECT " JOB_RUN_COLUMNS " FROM job_runs WHERE id > ?1 ORDER BY id "
                         "LIMIT ?2",
    [STMT_RUN_IMPORT_NEW] =
        "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, status, message, "
        "details) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS (SELECT 1 FROM job_runs "
        "WHERE status = ?6 AND started = ?4 AND job_id = ?1 AND instance = ?2 AND "
        "scheduled = ?3 AND finished IS ?5 AND message = ?7 AND details = ?8)",
    [STMT_JOB_IMPORT] = "INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at, "
                        "paused_until, pause_reason, paused_by) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (job_id) DO NOTHING",
};
