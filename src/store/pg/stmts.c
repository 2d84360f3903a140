/* SPDX-License-Identifier: MIT */
/*
 * The prepared statements of the PostgreSQL backend, indexed by
 * `enum pg_stmt`: each one's name on the server and its text. pg_run()
 * prepares a statement on its first use by a connection.
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

const struct pg_stmt_def pg_stmts[PG_STMT_COUNT] = {
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
    /*
     * The candles' stamp (migration 10): every committed write adds one to
     * the sum; the count and the largest id catch a series added or
     * removed. A scan of the series table, a row per series.
     */
    [PG_SERIES_STAMP] = {"ck_series_stamp",
                         "SELECT coalesce(sum(gen), 0)::bigint, count(*), coalesce(max(id), 0) "
                         "FROM series"},
    [PG_SERIES_TOUCH] = {"ck_series_touch",
                         "UPDATE series SET gen = gen + 1 WHERE id = $1::bigint"},
    [PG_SERIES_TOUCH_TF] = {"ck_series_touch_tf",
                            "UPDATE series SET gen = gen + 1 WHERE timeframe = $1::text"},
    [PG_RANGE_USED] = {"ck_range_used",
                       "SELECT EXISTS (SELECT 1 FROM candles WHERE series_id = $1::bigint "
                       "AND open_time BETWEEN $2::timestamptz AND $3::timestamptz)"},
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
    /* As SQLite's: min() and max() alone are probes of the primary key's index. */
    [PG_EXTENT] = {"ck_extent",
                   "SELECT (SELECT count(*) FROM candles WHERE series_id = " PG_SERIES_ID_OF
                   " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz), "
                   "(SELECT extract(epoch FROM min(open_time))::bigint FROM candles "
                   "WHERE series_id = " PG_SERIES_ID_OF
                   " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz), "
                   "(SELECT extract(epoch FROM max(open_time))::bigint FROM candles "
                   "WHERE series_id = " PG_SERIES_ID_OF
                   " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz)"},
    /*
     * Only the primary key's column, read in binary (microseconds since
     * 2000): an index-only scan wherever the visibility map allows, and
     * 8 bytes per candle on the wire. $4 and $5 are binary timestamptz
     * bounds, inclusive; the next page starts after the last time seen.
     */
    [PG_TIMES] = {"ck_times", "SELECT open_time FROM candles WHERE series_id = " PG_SERIES_ID_OF
                              " AND open_time >= $4::timestamptz AND open_time <= $5::timestamptz "
                              "ORDER BY open_time ASC LIMIT $6::bigint"},
    [PG_DELETE_BEFORE] = {"ck_delete_before", "DELETE FROM candles WHERE series_id IN "
                                              "(SELECT id FROM series WHERE timeframe = $1::text) "
                                              "AND open_time < $2::timestamptz"},
    /*
     * The series of a retention batch. The FROM item relaxes the batch's
     * commit as SET LOCAL would (set_config(..., true): for this
     * transaction only), in the same round trip: see pg_delete_candles_before.
     */
    [PG_SERIES_OF_TF] = {"ck_series_of_tf",
                         "SELECT s.id FROM (SELECT set_config('synchronous_commit', 'off', true)) "
                         "AS relax, series s WHERE s.timeframe = $1::text ORDER BY s.id"},
    /*
     * A retention batch, series by series: the oldest candle of a series,
     * then windows of its candles from there, each a plain range of the
     * primary key from the mark $2 to (its oldest candle + $4 seconds) or
     * the cutoff $3, whichever comes first, found and deleted in one
     * statement (the count is the command's). Open times are unique and
     * aligned, so a window of n periods holds at most n candles, and the
     * window starting at the oldest holds at least one. The rows of the
     * batches before are dead in the index until the next vacuum, so
     * every search starts where the previous batch of the same run stopped
     * (pg_store.marks): min() or an OFFSET from the series' first candle
     * would step over every entry deleted so far, batch after batch (a
     * million rows in batches of 10,000 took three times as long). No
     * RETURNING of what went either: it reads each deleted row once more.
     */
    [PG_SERIES_OLDEST] = {"ck_series_oldest", "SELECT extract(epoch FROM min(open_time))::bigint "
                                              "FROM candles WHERE series_id = $1::bigint "
                                              "AND open_time >= $2::timestamptz"},
    [PG_DELETE_WINDOW] = {"ck_delete_window",
                          "DELETE FROM candles WHERE series_id = $1::bigint "
                          "AND open_time >= $2::timestamptz AND open_time < least($3::timestamptz, "
                          "(SELECT min(open_time) FROM candles WHERE series_id = $1::bigint "
                          "AND open_time >= $2::timestamptz) + $4::bigint * interval '1 second')"},
    /*
     * The rest of a batch after a window that gaps left short: the oldest
     * $4 candles from the mark $2 before the cutoff $3, up to the next one
     * (found by an OFFSET from the mark, which the window has just moved
     * past the dead entries). The count is the command's.
     */
    [PG_DELETE_COUNTED] = {"ck_delete_counted",
                           "DELETE FROM candles WHERE series_id = $1::bigint "
                           "AND open_time >= $2::timestamptz AND open_time < coalesce("
                           "(SELECT open_time FROM candles WHERE series_id = $1::bigint "
                           "AND open_time >= $2::timestamptz AND open_time < $3::timestamptz "
                           "ORDER BY open_time OFFSET $4::bigint LIMIT 1), $3::timestamptz)"},
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
                       "first_seen, last_checked, attempts, first_attempt) VALUES ($1::bigint, "
                       "$2::timestamptz, $3::timestamptz, $4::bigint, $5::text, $6::text, "
                       "$7::timestamptz, $8::timestamptz, $9::bigint, $10::timestamptz) "
                       "RETURNING id"},
    [PG_UPDATE_GAP] = {"ck_update_gap",
                       "UPDATE gaps SET first_time = $2::timestamptz, last_time = $3::timestamptz, "
                       "count = $4::bigint, state = $5::text, reason = coalesce($6::text, reason), "
                       "last_checked = $7::timestamptz, attempts = $8::bigint, "
                       "first_attempt = $9::timestamptz WHERE id = $1::bigint"},
    [PG_JOB_ENSURE] = {"ck_job_ensure", "INSERT INTO jobs (job_id, updated_at) "
                                        "VALUES ($1::text, $2::timestamptz) "
                                        "ON CONFLICT (job_id) DO NOTHING"},
    [PG_JOB_GET] = {"ck_job_get", "SELECT " PG_JOB_COLUMNS " FROM jobs WHERE job_id = $1::text"},
    [PG_JOB_LIST] = {"ck_job_list", "SELECT " PG_JOB_COLUMNS " FROM jobs ORDER BY job_id"},
    [PG_JOB_PAUSE] = {"ck_job_pause", "UPDATE jobs SET paused = $2::boolean, "
                                      "updated_at = $3::timestamptz, "
                                      "paused_until = $4::timestamptz, pause_reason = $5::text, "
                                      "paused_by = $6::text WHERE job_id = $1::text"},
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
                           "reason, first_seen, last_checked, attempts, first_attempt) SELECT "
                           "$1::bigint, $2::timestamptz, $3::timestamptz, $4::bigint, $5::text, "
                           "$6::text, $7::timestamptz, $8::timestamptz, $9::bigint, "
                           "$10::timestamptz WHERE NOT EXISTS (SELECT 1 FROM gaps WHERE "
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
                       "INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at, "
                       "paused_until, pause_reason, paused_by) "
                       "VALUES ($1::text, $2::boolean, $3::bigint, $4::timestamptz, "
                       "$5::timestamptz, $6::timestamptz, $7::text, $8::text) "
                       "ON CONFLICT (job_id) DO NOTHING"},
};
