/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of the store: candlekeep's embedded default.
 *
 * A connection (`struct sqlite_store`) wraps one sqlite3 handle opened in
 * multi-thread mode: the store contract gives each thread its own
 * connection, so SQLite's per-connection mutex would only cost time. The
 * database runs in WAL mode with synchronous=NORMAL, which lets readers in
 * other processes (the CLI next to the daemon) proceed during a write and
 * makes a commit an append to the log rather than an fsync; a crash can lose
 * the last commits but never corrupt the file.
 *
 * Schema. Migrations are an ordered array of SQL scripts; migration i
 * brings the schema to version i + 1 and is applied in its own IMMEDIATE
 * transaction that re-reads the version first, so two processes opening a
 * fresh file at once apply each step exactly once. The applied versions
 * are rows of `schema_version`. A database with a version newer than the
 * array knows is refused rather than misread.
 *
 * Prices are stored exactly as the scaled integers of market/price.h; the
 * view `candles_view` shows them as decimals, with ISO times, for people
 * using the sqlite3 shell. Volume is NULL when the candle has none.
 *
 * Speed. Every fixed statement is prepared once per connection and kept
 * (see stmt_sql[]); the upsert binds integers only, rebinds nothing that
 * does not change within a batch, and its DO UPDATE carries a WHERE that
 * skips rows whose values are unchanged, so re-fetching a range rewrites no
 * page. Series ids are cached in a small open-addressing hash keyed by
 * (source, symbol, timeframe); a miss costs one SELECT, or one INSERT when
 * a write creates the series. What remains is SQLite's own B-tree work per
 * row: pages larger than 4 KiB, a cache larger than sqlite_pragmas sets or
 * rarer checkpoints made no difference measurable with bench/ingest.c.
 *
 * Jobs and leases (migration 2) are plain rows read and written by cached
 * statements. A lease claim is a single upsert whose WHERE decides whether
 * an existing lease may be taken over or extended; it runs under the write
 * lock of the IMMEDIATE transaction store.c opens, so two processes
 * claiming one lease cannot both succeed, and changes() says which one did.
 *
 * Invariants: series rows are never deleted, so a cached id stays valid;
 * it names a committed row or one created in the open transaction. Ids
 * created in a transaction are marked tentative and dropped if it rolls
 * back, so a rollback never leaves the cache pointing at a row that does
 * not exist. Iterators hold their own statements and must be freed before
 * the connection is closed (closing with one outstanding is a BUG()).
 * Nothing here logs: errors go to the caller's strbuf as
 * "store: sqlite 'PATH': what: sqlite's message".
 */
#include "store/store_internal.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <assert.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* How long a statement waits for another connection's write lock. */
#define SQLITE_BUSY_TIMEOUT_MS 5000

/*
 * Applied at every open. cache_size is negative: KiB, here 16 MiB, enough
 * to keep the hot right edge of the candle tree and the series table
 * resident during a large backfill.
 */
static const char sqlite_pragmas[] = "PRAGMA journal_mode=WAL;"
                                     "PRAGMA synchronous=NORMAL;"
                                     "PRAGMA foreign_keys=ON;"
                                     "PRAGMA temp_store=MEMORY;"
                                     "PRAGMA cache_size=-16384;";

/*
 * The migrations, oldest first; never edit one that has shipped, append a
 * new one. Each runs inside the transaction that records its version.
 */
static const char *const migrations[] = {
    /* 1: series, candles, the gap ledger and a view for humans. */
    "CREATE TABLE series ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL,"
    "  symbol TEXT NOT NULL,"
    "  timeframe TEXT NOT NULL,"
    "  UNIQUE (source, symbol, timeframe));"
    "CREATE TABLE candles ("
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  open_time INTEGER NOT NULL,"
    "  open INTEGER NOT NULL,"
    "  high INTEGER NOT NULL,"
    "  low INTEGER NOT NULL,"
    "  close INTEGER NOT NULL,"
    "  volume INTEGER,"
    "  PRIMARY KEY (series_id, open_time)) WITHOUT ROWID;"
    "CREATE TABLE gaps ("
    "  id INTEGER PRIMARY KEY,"
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  first_time INTEGER NOT NULL,"
    "  last_time INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('open', 'repairing', 'filled', 'unfillable')),"
    "  reason TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_checked INTEGER NOT NULL);"
    "CREATE INDEX gaps_series_last ON gaps (series_id, last_time);"
    "CREATE VIEW candles_view AS"
    "  SELECT s.source AS source, s.symbol AS symbol, s.timeframe AS timeframe,"
    "         strftime('%Y-%m-%dT%H:%M:%SZ', c.open_time, 'unixepoch') AS time,"
    "         c.open / 1e8 AS open, c.high / 1e8 AS high, c.low / 1e8 AS low,"
    "         c.close / 1e8 AS close, c.volume / 1e8 AS volume"
    "  FROM candles c JOIN series s ON s.id = c.series_id;",
    /*
     * 2: scheduled jobs (paused flag, failure streak, last fire handled),
     * their run history and leases. Times of runs and leases are Unix ms;
     * a run's `finished` is NULL while it runs. Runs are listed newest
     * first per job and swept by status and start time, hence the indexes.
     */
    "CREATE TABLE jobs ("
    "  job_id TEXT PRIMARY KEY,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  streak INTEGER NOT NULL DEFAULT 0,"
    "  last_fire INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE job_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id TEXT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  scheduled INTEGER NOT NULL,"
    "  started INTEGER NOT NULL,"
    "  finished INTEGER,"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped',"
    "                                         'timed_out', 'missed')),"
    "  message TEXT NOT NULL,"
    "  details TEXT NOT NULL);"
    "CREATE INDEX job_runs_job ON job_runs (job_id, id DESC);"
    "CREATE INDEX job_runs_status_started ON job_runs (status, started);"
    "CREATE TABLE leases ("
    "  name TEXT PRIMARY KEY,"
    "  holder TEXT NOT NULL,"
    "  until_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL);",
    /*
     * 3: resilience. A rate budget per provider key (the UTC day its count
     * is for, as days since 1970-01-01, and a ban with its end in Unix ms),
     * the log of requests sent in the last window (Unix ms), and the state
     * of each fetched series (times in Unix s, 0 for none).
     */
    "CREATE TABLE rate_budgets ("
    "  source TEXT PRIMARY KEY,"
    "  day INTEGER NOT NULL DEFAULT 0,"
    "  day_used INTEGER NOT NULL DEFAULT 0,"
    "  banned_until INTEGER NOT NULL DEFAULT 0,"
    "  ban_reason TEXT NOT NULL DEFAULT '',"
    "  updated_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE rate_log ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL,"
    "  sent_ms INTEGER NOT NULL);"
    "CREATE INDEX rate_log_source_sent ON rate_log (source, sent_ms);"
    "CREATE TABLE series_state ("
    "  source TEXT NOT NULL,"
    "  symbol TEXT NOT NULL,"
    "  timeframe TEXT NOT NULL,"
    "  streak INTEGER NOT NULL DEFAULT 0,"
    "  skipped INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  last_failure INTEGER NOT NULL DEFAULT 0,"
    "  last_success INTEGER NOT NULL DEFAULT 0,"
    "  deferred_since INTEGER NOT NULL DEFAULT 0,"
    "  deferred_reason TEXT NOT NULL DEFAULT '',"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (source, symbol, timeframe)) WITHOUT ROWID;",
    /*
     * 4: alerts. One row per alert key with its state and what operators
     * were last told of it, and the outbox of messages to the channels
     * (one row per channel and message). Times are Unix ms; a lease on an
     * outbox row (holder, until) keeps two senders off one message.
     */
    "CREATE TABLE alerts ("
    "  key TEXT PRIMARY KEY,"
    "  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),"
    "  state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),"
    "  title TEXT NOT NULL,"
    "  details TEXT NOT NULL,"
    "  inhibited_by TEXT NOT NULL DEFAULT '',"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  resolved_at INTEGER,"
    "  last_notified INTEGER,"
    "  notified_state TEXT NOT NULL DEFAULT '',"
    "  times_sent INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX alerts_state ON alerts (state, last_seen);"
    "CREATE TABLE alert_outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  channel TEXT NOT NULL,"
    "  alert_key TEXT NOT NULL,"
    "  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),"
    "  kind TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  details TEXT NOT NULL,"
    "  event_time INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  due_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  parts_done INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  sent_at INTEGER,"
    "  lease_holder TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX alert_outbox_due ON alert_outbox (status, due_at);",
    /*
     * 5: signals, their deliveries to receivers (the outbox, leased like
     * the alert outbox) with every attempt, outcomes and backtest results.
     * Prices are scaled integers as in candles; times Unix ms.
     */
    "CREATE TABLE signals ("
    "  id TEXT PRIMARY KEY,"
    "  idempotency_key TEXT UNIQUE,"
    "  request_hash TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  symbol TEXT NOT NULL,"
    "  timeframe TEXT NOT NULL,"
    "  direction TEXT NOT NULL CHECK (direction IN ('long', 'short')),"
    "  entry INTEGER NOT NULL,"
    "  stop_loss INTEGER NOT NULL,"
    "  take_profit INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER,"
    "  status TEXT NOT NULL CHECK (status IN ('active', 'won', 'lost', 'expired', 'cancelled')),"
    "  note TEXT NOT NULL DEFAULT '',"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX signals_status_created ON signals (status, created_at);"
    "CREATE INDEX signals_created ON signals (created_at);"
    "CREATE TABLE deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  signal_id TEXT NOT NULL REFERENCES signals (id),"
    "  receiver TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  last_status INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  lease_holder TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (signal_id, receiver));"
    "CREATE INDEX deliveries_due ON deliveries (status, next_at);"
    "CREATE TABLE delivery_attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  delivery_id INTEGER NOT NULL REFERENCES deliveries (id),"
    "  attempt INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  http_status INTEGER NOT NULL,"
    "  error TEXT NOT NULL,"
    "  instance TEXT NOT NULL);"
    "CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);"
    "CREATE TABLE outcomes ("
    "  signal_id TEXT PRIMARY KEY REFERENCES signals (id),"
    "  result TEXT NOT NULL CHECK (result IN ('won', 'lost', 'expired')),"
    "  price INTEGER,"
    "  decided_at INTEGER NOT NULL,"
    "  timeframe TEXT NOT NULL DEFAULT '',"
    "  candle_time INTEGER,"
    "  ambiguous INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX outcomes_created ON outcomes (created_at);"
    "CREATE TABLE backtests ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  params TEXT NOT NULL,"
    "  metrics TEXT NOT NULL);"
    "CREATE INDEX backtests_created ON backtests (created_at);",
};
#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

/* The cached statements, prepared on first use and kept until close. */
enum sqlite_stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_VERSION,
    STMT_VERSION_ADD,
    STMT_SERIES_GET,
    STMT_SERIES_ADD,
    STMT_PUT,
    STMT_LATEST,
    STMT_COUNT,
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
    "g.reason, g.first_seen, g.last_checked"

static const char *const stmt_sql[STMT_NR] = {
    /* IMMEDIATE takes the write lock up front: a deferred transaction that
     * reads and then writes can fail with SQLITE_BUSY without waiting when
     * another process committed in between. */
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_VERSION] = "SELECT max(version) FROM schema_version",
    [STMT_VERSION_ADD] = "INSERT INTO schema_version (version) VALUES (?1)",
    [STMT_SERIES_GET] =
        "SELECT id FROM series WHERE source = ?1 AND symbol = ?2 AND timeframe = ?3",
    [STMT_SERIES_ADD] = "INSERT INTO series (source, symbol, timeframe) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT (source, symbol, timeframe) DO NOTHING",
    [STMT_PUT] = "INSERT INTO candles (series_id, open_time, open, high, low, close, volume) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                 "ON CONFLICT (series_id, open_time) DO UPDATE SET "
                 "open = excluded.open, high = excluded.high, low = excluded.low, "
                 "close = excluded.close, volume = excluded.volume "
                 "WHERE candles.open <> excluded.open OR candles.high <> excluded.high "
                 "OR candles.low <> excluded.low OR candles.close <> excluded.close "
                 "OR candles.volume IS NOT excluded.volume",
    [STMT_LATEST] = "SELECT max(open_time) FROM candles WHERE series_id = ?1",
    [STMT_COUNT] = "SELECT count(*) FROM candles "
                   "WHERE series_id = ?1 AND open_time >= ?2 AND open_time <= ?3",
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
                        "reason, first_seen, last_checked) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_GAP_UPDATE] = "UPDATE gaps SET first_time = ?2, last_time = ?3, count = ?4, "
                        "state = ?5, reason = coalesce(?6, reason), last_checked = ?7 "
                        "WHERE id = ?1",
    [STMT_JOB_ENSURE] = "INSERT INTO jobs (job_id, updated_at) VALUES (?1, ?2) "
                        "ON CONFLICT (job_id) DO NOTHING",
    [STMT_JOB_GET] = "SELECT job_id, paused, streak, last_fire, updated_at FROM jobs "
                     "WHERE job_id = ?1",
    [STMT_JOB_LIST] = "SELECT job_id, paused, streak, last_fire, updated_at FROM jobs "
                      "ORDER BY job_id",
    [STMT_JOB_PAUSE] = "UPDATE jobs SET paused = ?2, updated_at = ?3 WHERE job_id = ?1",
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
        "last_checked) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS (SELECT 1 FROM gaps "
        "WHERE series_id = ?1 AND last_time = ?3 AND first_time = ?2 AND count = ?4 AND "
        "state = ?5 AND reason = ?6 AND first_seen = ?7 AND last_checked = ?8)",
    [STMT_RUNS_EXPORT] = "SELECT " JOB_RUN_COLUMNS " FROM job_runs WHERE id > ?1 ORDER BY id "
                         "LIMIT ?2",
    [STMT_RUN_IMPORT_NEW] =
        "INSERT INTO job_runs (job_id, instance, scheduled, started, finished, status, message, "
        "details) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS (SELECT 1 FROM job_runs "
        "WHERE status = ?6 AND started = ?4 AND job_id = ?1 AND instance = ?2 AND "
        "scheduled = ?3 AND finished IS ?5 AND message = ?7 AND details = ?8)",
    [STMT_JOB_IMPORT] = "INSERT INTO jobs (job_id, paused, streak, last_fire, updated_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_id) DO NOTHING",
};

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
    } *sql_cache;
    size_t sql_ncache, sql_alloc;
};

struct sqlite_iter {
    struct candle_iter base; /* first: the store.c view of this iterator */
    struct sqlite_store *ss;
    sqlite3_stmt *stmt; /* NULL when the series does not exist */
    int lent;           /* index into ss->query_stmts when borrowed, else -1 */
    bool done;
};

static struct sqlite_store *sqlite_downcast(struct store *st)
{
    if (st->ops != &store_sqlite_ops)
        BUG("store: %s store passed to the sqlite backend", st->ops->name);
    return (struct sqlite_store *)((char *)st - offsetof(struct sqlite_store, base));
}

/* Translate an SQLite result code into the project's code space. */
static int sqlite_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CK_EBUSY;
    case SQLITE_CONSTRAINT:
        return CK_ECONFLICT;
    default:
        return CK_EIO;
    }
}

/*
 * Describe the failure `rc` of `what` and return its code. Call before
 * resetting the failed statement so that SQLite's message is still the
 * one of this failure.
 */
static int sqlite_fail(struct sqlite_store *ss, int rc, const char *what, struct strbuf *err)
{
    const char *msg = ss->db ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc);
    strbuf_addf(err, "store: sqlite '%s': %s: %s", ss->path, what, msg);
    return sqlite_code(rc);
}

static int sqlite_stmt(struct sqlite_store *ss, enum sqlite_stmt_id id, sqlite3_stmt **out,
                       struct strbuf *err)
{
    *out = NULL;
    if (!ss->stmts[id]) {
        int rc = sqlite3_prepare_v3(ss->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &ss->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            ss->stmts[id] = NULL;
            return sqlite_fail(ss, rc, "cannot prepare statement", err);
        }
    }
    *out = ss->stmts[id];
    return 0;
}

/*
 * Step `st` once, expecting a row (want_row) or completion, and reset it
 * unless a row was returned and the caller will read it (then the caller
 * resets). Returns 0, CK_ENOTFOUND when a row was wanted and none came, or
 * the mapped error.
 */
static int sqlite_step(struct sqlite_store *ss, sqlite3_stmt *st, bool want_row, const char *what,
                       struct strbuf *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && want_row)
        return 0;
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(st);
        return want_row ? CK_ENOTFOUND : 0;
    }
    rc = sqlite_fail(ss, rc, what, err);
    sqlite3_reset(st);
    return rc;
}

/* Run a fixed statement that returns nothing. */
static int sqlite_run(struct sqlite_store *ss, enum sqlite_stmt_id id, const char *what,
                      struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, id, &st, err);
    if (rc)
        return rc;
    return sqlite_step(ss, st, false, what, err);
}

/* Run a script (several statements, no parameters), e.g. a migration. */
static int sqlite_exec(struct sqlite_store *ss, const char *sql, const char *what,
                       struct strbuf *err)
{
    int rc = sqlite3_exec(ss->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sqlite_fail(ss, rc, what, err);
}

/* The series id cache. */

static uint32_t series_hash(const char *source, const char *symbol, enum timeframe tf)
{
    /* FNV-1a over "source\0symbol\0" and the timeframe; the NULs keep
     * ("ab", "c") and ("a", "bc") apart. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)source; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    for (const unsigned char *p = (const unsigned char *)symbol; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    return (h ^ (uint32_t)tf) * 16777619u;
}

static struct series_slot *cache_find(struct sqlite_store *ss, const struct series_key *k,
                                      uint32_t hash)
{
    if (!ss->nslots)
        return NULL;
    for (size_t i = hash & (ss->nslots - 1);; i = (i + 1) & (ss->nslots - 1)) {
        struct series_slot *e = &ss->slots[i];
        if (!e->source)
            return NULL;
        if (e->hash == hash && e->tf == k->tf && !strcmp(e->source, k->source) &&
            !strcmp(e->symbol, k->symbol))
            return e;
    }
}

/* Place `e` (whose strings the table takes over) into a table with room. */
static void cache_place(struct series_slot *slots, size_t nslots, const struct series_slot *e)
{
    size_t i = e->hash & (nslots - 1);
    while (slots[i].source)
        i = (i + 1) & (nslots - 1);
    slots[i] = *e;
}

/* Rebuild with `nslots` slots, leaving out tentative entries if `drop_tentative`. */
static void cache_rebuild(struct sqlite_store *ss, size_t nslots, bool drop_tentative)
{
    struct series_slot *slots = xcalloc(nslots, sizeof(*slots));
    size_t nused = 0;
    for (size_t i = 0; i < ss->nslots; i++) {
        struct series_slot *e = &ss->slots[i];
        if (!e->source)
            continue;
        if (drop_tentative && e->tentative) {
            free(e->source);
            free(e->symbol);
            continue;
        }
        cache_place(slots, nslots, e);
        nused++;
    }
    free(ss->slots);
    ss->slots = slots;
    ss->nslots = nslots;
    ss->nused = nused;
}

static void cache_add(struct sqlite_store *ss, const struct series_key *k, uint32_t hash,
                      int64_t id, bool tentative)
{
    struct series_slot e = {
        .source = xstrdup(k->source),
        .symbol = xstrdup(k->symbol),
        .tf = k->tf,
        .hash = hash,
        .tentative = tentative,
        .id = id,
    };
    /* Keep the load at or below one half so that probes stay short. */
    if ((ss->nused + 1) * 2 > ss->nslots)
        cache_rebuild(ss, ss->nslots ? ss->nslots * 2 : 16, false);
    cache_place(ss->slots, ss->nslots, &e);
    ss->nused++;
    if (tentative)
        ss->has_tentative = true;
}

/* The transaction ended: commit makes tentative ids permanent, rollback drops them. */
static void cache_end_transaction(struct sqlite_store *ss, bool committed)
{
    if (!ss->has_tentative)
        return;
    if (committed) {
        for (size_t i = 0; i < ss->nslots; i++)
            ss->slots[i].tentative = false;
    } else {
        cache_rebuild(ss, ss->nslots, true);
    }
    ss->has_tentative = false;
}

static void cache_free(struct sqlite_store *ss)
{
    for (size_t i = 0; i < ss->nslots; i++) {
        free(ss->slots[i].source);
        free(ss->slots[i].symbol);
    }
    free(ss->slots);
    ss->slots = NULL;
    ss->nslots = ss->nused = 0;
}

static void bind_series_key(sqlite3_stmt *st, const struct series_key *k)
{
    sqlite3_bind_text(st, 1, k->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, timeframe_name(k->tf), -1, SQLITE_STATIC);
}

static int series_select(struct sqlite_store *ss, const struct series_key *k, int64_t *out,
                         struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, STMT_SERIES_GET, &st, err);
    if (rc)
        return rc;
    bind_series_key(st, k);
    rc = sqlite_step(ss, st, true, "cannot look up series", err);
    if (!rc) {
        *out = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return rc;
}

/*
 * The id of series `k`. When it does not exist: CK_ENOTFOUND (no message)
 * unless `create`, which inserts it; `create` is only used by writes, which
 * run inside a transaction.
 */
static int series_id(struct sqlite_store *ss, const struct series_key *k, bool create, int64_t *out,
                     struct strbuf *err)
{
    uint32_t hash = series_hash(k->source, k->symbol, k->tf);
    struct series_slot *e = cache_find(ss, k, hash);
    sqlite3_stmt *st;
    bool created = false;
    int rc;

    if (e) {
        *out = e->id;
        return 0;
    }
    rc = series_select(ss, k, out, err);
    if (rc == CK_ENOTFOUND && create) {
        rc = sqlite_stmt(ss, STMT_SERIES_ADD, &st, err);
        if (rc)
            return rc;
        bind_series_key(st, k);
        rc = sqlite_step(ss, st, false, "cannot add series", err);
        if (rc)
            return rc;
        /* DO NOTHING leaves changes() at 0 if a concurrent writer won. */
        created = sqlite3_changes(ss->db) > 0;
        rc = series_select(ss, k, out, err);
    }
    if (rc)
        return rc;
    cache_add(ss, k, hash, *out, created && !sqlite3_get_autocommit(ss->db));
    return 0;
}

/* Parse a timeframe column; a bad value means the file was edited by hand. */
static int column_tf(struct sqlite_store *ss, sqlite3_stmt *st, int col, enum timeframe *out,
                     struct strbuf *err)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s && !timeframe_parse(s, out))
        return 0;
    strbuf_addf(err, "store: sqlite '%s': unknown timeframe '%s' in the database", ss->path,
                s ? s : "(null)");
    return CK_EPARSE;
}

static char *column_strdup(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return xstrdup(s ? s : "");
}

/* Open, configure and migrate. */

/* The file path of a sqlite URL: "sqlite:PATH", "sqlite://PATH" or a bare "PATH.db". */
static const char *url_path(const char *url)
{
    if (!strncmp(url, "sqlite://", 9))
        return url + 9;
    if (!strncmp(url, "sqlite:", 7))
        return url + 7;
    return url;
}

static int read_version(struct sqlite_store *ss, int *out, struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, STMT_VERSION, &st, err);
    if (rc)
        return rc;
    rc = sqlite_step(ss, st, true, "cannot read schema version", err);
    if (rc == CK_ENOTFOUND)
        BUG("max() returned no row");
    if (rc)
        return rc;
    *out = sqlite3_column_int(st, 0); /* NULL (no rows) reads as 0 */
    sqlite3_reset(st);
    return 0;
}

/* The version without taking a lock: 0 for a file that has no schema_version yet. */
static int peek_version(struct sqlite_store *ss, int *out, struct strbuf *err)
{
    sqlite3_stmt *st;
    bool exists;
    int rc = sqlite3_prepare_v2(ss->db,
                                "SELECT 1 FROM sqlite_master "
                                "WHERE type = 'table' AND name = 'schema_version'",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, "cannot read schema", err);
    rc = sqlite3_step(st);
    exists = rc == SQLITE_ROW;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot read schema", err);
    sqlite3_finalize(st);
    if (rc)
        return rc;
    *out = 0;
    return exists ? read_version(ss, out, err) : 0;
}

static int refuse_newer(struct sqlite_store *ss, int version, struct strbuf *err)
{
    strbuf_addf(err,
                "store: sqlite '%s': database schema version %d is newer than the newest "
                "this candlekeep knows (%d); upgrade candlekeep",
                ss->path, version, SCHEMA_VERSION);
    return CK_ECONFIG;
}

/*
 * One migration step in its own transaction: read the version under the
 * write lock (another process may have migrated meanwhile) and apply the
 * migration that follows it, if any. `*version` gets the version after.
 */
static int migrate_step(struct sqlite_store *ss, int *version, struct strbuf *err)
{
    sqlite3_stmt *add;
    int rc = sqlite_run(ss, STMT_BEGIN, "cannot begin migration", err);
    if (rc)
        return rc;
    rc = sqlite_exec(ss,
                     "CREATE TABLE IF NOT EXISTS schema_version ("
                     "  version INTEGER PRIMARY KEY,"
                     "  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
                     "cannot create schema_version", err);
    if (!rc)
        rc = read_version(ss, version, err);
    if (!rc && *version > SCHEMA_VERSION)
        rc = refuse_newer(ss, *version, err);
    if (!rc && *version < SCHEMA_VERSION) {
        struct strbuf what = STRBUF_INIT;
        strbuf_addf(&what, "migration to version %d failed", *version + 1);
        rc = sqlite_exec(ss, migrations[*version], what.buf, err);
        strbuf_release(&what);
        if (!rc)
            rc = sqlite_stmt(ss, STMT_VERSION_ADD, &add, err);
        if (!rc) {
            sqlite3_bind_int(add, 1, *version + 1);
            rc = sqlite_step(ss, add, false, "cannot record schema version", err);
        }
        if (!rc)
            ++*version;
    }
    if (!rc)
        rc = sqlite_run(ss, STMT_COMMIT, "cannot commit migration", err);
    if (rc && !sqlite3_get_autocommit(ss->db))
        sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int migrate(struct sqlite_store *ss, struct strbuf *err)
{
    int version;
    int rc = peek_version(ss, &version, err);

    /* The common case, an up-to-date file, takes no write lock. */
    while (!rc && version < SCHEMA_VERSION)
        rc = migrate_step(ss, &version, err);
    if (!rc && version > SCHEMA_VERSION)
        rc = refuse_newer(ss, version, err);
    return rc;
}

/* The longest pause between two attempts of configure(). */
#define SQLITE_OPEN_PAUSE_MAX_MS 32

/*
 * Apply the pragmas and migrate, trying again while another connection
 * holds the file, for as long as the busy timeout would wait. Connections
 * opening a new file at once race to switch it to WAL, and SQLite answers
 * the losers' journal_mode pragma with SQLITE_BUSY at once: the busy
 * handler is not called for it (nor for a read that meets the file midway
 * through the switch), so the busy timeout alone does not cover a first
 * open. Every step is safe to repeat: the pragmas set the same values
 * again and each migration step rolls back whole and re-reads the version.
 * The pause grows from 1 ms so that the usual race costs a millisecond or
 * two. A file locked for the whole timeout still gives CK_EBUSY, with the
 * message of the last attempt only.
 */
static int configure(struct sqlite_store *ss, struct strbuf *err)
{
    int64_t deadline = time_mono_ms() + SQLITE_BUSY_TIMEOUT_MS;
    struct strbuf attempt = STRBUF_INIT; /* what the latest attempt said */
    int pause_ms = 1;
    int rc;

    for (;;) {
        strbuf_reset(&attempt);
        rc = sqlite_exec(ss, sqlite_pragmas, "cannot configure", &attempt);
        if (!rc)
            rc = migrate(ss, &attempt);
        if (rc != CK_EBUSY || time_mono_ms() + pause_ms > deadline)
            break;
        sqlite3_sleep(pause_ms);
        if (pause_ms < SQLITE_OPEN_PAUSE_MAX_MS)
            pause_ms *= 2;
    }
    /* Only a failure writes to `err`: callers need not release it after a success. */
    if (rc)
        strbuf_addbuf(err, &attempt);
    strbuf_release(&attempt);
    return rc;
}

static void sqlite_free(struct sqlite_store *ss)
{
    for (size_t i = 0; i < STMT_NR; i++)
        sqlite3_finalize(ss->stmts[i]);
    for (size_t i = 0; i < GAPF_NR; i++)
        sqlite3_finalize(ss->gap_stmts[i]);
    for (size_t i = 0; i < ARRAY_SIZE(ss->query_stmts); i++)
        sqlite3_finalize(ss->query_stmts[i]);
    for (size_t i = 0; i < ss->sql_ncache; i++)
        sqlite3_finalize(ss->sql_cache[i].stmt);
    free(ss->sql_cache);
    sqlite3_close(ss->db);
    cache_free(ss);
    free(ss->path);
    free(ss);
}

static int sqlite_open(struct store **out, const char *url, struct strbuf *err)
{
    const char *path = url_path(url);
    struct sqlite_store *ss;
    int rc;

    *out = NULL;
    if (!*path) {
        strbuf_addf(err, "store: sqlite URL '%s' has no file path", url);
        return CK_ECONFIG;
    }
    ss = xcalloc(1, sizeof(*ss));
    ss->base.ops = &store_sqlite_ops;
    ss->path = xstrdup(path);

    rc = sqlite3_open_v2(path, &ss->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite_fail(ss, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_busy_timeout(ss->db, SQLITE_BUSY_TIMEOUT_MS);
    /* SQLite quietly falls back to read-only when the file is not writable. */
    if (sqlite3_db_readonly(ss->db, "main") == 1) {
        strbuf_addf(err, "store: sqlite '%s': cannot open: the database file is read-only", path);
        rc = CK_EIO;
        goto fail;
    }
    rc = configure(ss, err);
    if (rc)
        goto fail;
    *out = &ss->base;
    return 0;
fail:
    sqlite_free(ss);
    return rc;
}

static void sqlite_close(struct store *st)
{
    struct sqlite_store *ss;
    if (!st)
        return;
    ss = sqlite_downcast(st);
    if (ss->live_iters)
        BUG("store: closing '%s' with %zu candle iterator(s) not freed", ss->path, ss->live_iters);
    if (!sqlite3_get_autocommit(ss->db))
        sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite_free(ss);
}

static int sqlite_schema_version(struct store *st, int *out, struct strbuf *err)
{
    return read_version(sqlite_downcast(st), out, err);
}

static bool sqlite_ping(struct store *st)
{
    struct strbuf ignored = STRBUF_INIT;
    int version;
    /* Reading the version table touches the file, unlike SELECT 1. */
    int rc = read_version(sqlite_downcast(st), &version, &ignored);
    strbuf_release(&ignored);
    return !rc;
}

/* How long the writability check waits for another connection's write lock. */
#define SQLITE_CHECK_TIMEOUT_MS 1000

/*
 * Take the write lock and give it back at once. In WAL mode reads go on
 * while another process holds the lock, so a read says nothing about
 * whether the jobs can write; this does, and waits a second at most.
 */
static int sqlite_check_writable(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    int version, rc;

    rc = read_version(ss, &version, err);
    if (rc)
        return rc;
    sqlite3_busy_timeout(ss->db, SQLITE_CHECK_TIMEOUT_MS);
    rc = sqlite_run(ss, STMT_BEGIN, "cannot take the write lock", err);
    sqlite3_busy_timeout(ss->db, SQLITE_BUSY_TIMEOUT_MS);
    if (rc)
        return rc;
    return sqlite_run(ss, STMT_ROLLBACK, "cannot roll back", err);
}

/* Transactions. */

static int sqlite_begin(struct store *st, struct strbuf *err)
{
    return sqlite_run(sqlite_downcast(st), STMT_BEGIN, "cannot begin transaction", err);
}

static int sqlite_commit(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    int rc = sqlite_run(ss, STMT_COMMIT, "cannot commit", err);
    if (!rc)
        cache_end_transaction(ss, true);
    return rc;
}

static int sqlite_rollback(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    cache_end_transaction(ss, false);
    /* SQLite rolls back by itself on some errors (disk full, I/O errors). */
    if (sqlite3_get_autocommit(ss->db))
        return 0;
    return sqlite_run(ss, STMT_ROLLBACK, "cannot roll back", err);
}

/* Candles. */

static int sqlite_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                              size_t n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *put;
    int64_t sid;
    int rc;

    rc = series_id(ss, s, true, &sid, err);
    if (!rc)
        rc = sqlite_stmt(ss, STMT_PUT, &put, err);
    if (rc)
        return rc;
    /*
     * Bindings survive sqlite3_reset(), so the series id is bound once and
     * every parameter that varies is rebound on each row.
     */
    sqlite3_bind_int64(put, 1, sid);
    for (size_t i = 0; i < n; i++) {
        const struct candle *k = &c[i];
        sqlite3_bind_int64(put, 2, k->open_time);
        sqlite3_bind_int64(put, 3, k->open);
        sqlite3_bind_int64(put, 4, k->high);
        sqlite3_bind_int64(put, 5, k->low);
        sqlite3_bind_int64(put, 6, k->close);
        if (k->has_volume)
            sqlite3_bind_int64(put, 7, k->volume);
        else
            sqlite3_bind_null(put, 7);
        rc = sqlite3_step(put);
        if (rc != SQLITE_DONE) {
            rc = sqlite_fail(ss, rc, "cannot store candles", err);
            sqlite3_reset(put);
            return rc;
        }
        sqlite3_reset(put);
    }
    return 0;
}

static int sqlite_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                              struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int64_t sid;
    int rc = series_id(ss, s, false, &sid, err);

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

static int sqlite_query_candles(struct store *st, const struct candle_query *q,
                                struct candle_iter **out, struct strbuf *err)
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
    rc = series_id(ss, &q->series, false, &sid, err);
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
            rc = sqlite3_prepare_v3(ss->db, sql[o], -1, SQLITE_PREPARE_PERSISTENT, &it->stmt,
                                    NULL);
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

static int sqlite_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                                struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *cnt;
    int64_t sid;
    int rc = series_id(ss, &q->series, false, &sid, err);

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

static int sqlite_delete_candles_before(struct store *st, enum timeframe tf, int64_t before,
                                        size_t limit, int64_t *deleted, struct strbuf *err)
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

static int sqlite_count_candles_before(struct store *st, enum timeframe tf, int64_t before,
                                       int64_t *out, struct strbuf *err)
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

static int sqlite_list_series(struct store *st, struct series_info **out, size_t *n,
                              struct strbuf *err)
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
        if (column_tf(ss, q, 2, &si->tf, err)) {
            rc = CK_EPARSE;
            goto out;
        }
        si->source = column_strdup(q, 0);
        si->symbol = column_strdup(q, 1);
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

/* The gap ledger. */

static unsigned gap_filters(const struct gap_query *q)
{
    return (q->source ? GAPF_SOURCE : 0) | (q->symbol ? GAPF_SYMBOL : 0) |
           (q->has_tf ? GAPF_TF : 0) | (q->has_since ? GAPF_SINCE : 0) |
           (q->has_state ? GAPF_STATE : 0) | (q->limit ? GAPF_LIMIT : 0);
}

/* The statement for a combination of filters; parameters are numbered by filter. */
static int gap_list_stmt(struct sqlite_store *ss, unsigned mask, sqlite3_stmt **out,
                         struct strbuf *err)
{
    struct strbuf sql = STRBUF_INIT;
    int rc;

    *out = NULL;
    if (ss->gap_stmts[mask]) {
        *out = ss->gap_stmts[mask];
        return 0;
    }
    strbuf_addstr(&sql, "SELECT " GAP_COLUMNS " FROM gaps g JOIN series s ON s.id = g.series_id "
                        "WHERE 1");
    if (mask & GAPF_SOURCE)
        strbuf_addstr(&sql, " AND s.source = ?1");
    if (mask & GAPF_SYMBOL)
        strbuf_addstr(&sql, " AND s.symbol = ?2");
    if (mask & GAPF_TF)
        strbuf_addstr(&sql, " AND s.timeframe = ?3");
    if (mask & GAPF_SINCE)
        strbuf_addstr(&sql, " AND g.last_time >= ?4");
    if (mask & GAPF_STATE)
        strbuf_addstr(&sql, " AND g.state = ?5");
    strbuf_addstr(&sql, " ORDER BY g.first_time DESC, g.id DESC");
    if (mask & GAPF_LIMIT)
        strbuf_addstr(&sql, " LIMIT ?6");
    rc = sqlite3_prepare_v3(ss->db, sql.buf, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
                            &ss->gap_stmts[mask], NULL);
    strbuf_release(&sql);
    if (rc != SQLITE_OK) {
        ss->gap_stmts[mask] = NULL;
        return sqlite_fail(ss, rc, "cannot prepare gap listing", err);
    }
    *out = ss->gap_stmts[mask];
    return 0;
}

static int read_gap(struct sqlite_store *ss, sqlite3_stmt *q, struct gap_record *g,
                    struct strbuf *err)
{
    const char *state = (const char *)sqlite3_column_text(q, 7);

    memset(g, 0, sizeof(*g));
    if (column_tf(ss, q, 3, &g->tf, err))
        return CK_EPARSE;
    if (!state || gap_state_parse(state, &g->state)) {
        strbuf_addf(err, "store: sqlite '%s': unknown gap state '%s' in the database", ss->path,
                    state ? state : "(null)");
        return CK_EPARSE;
    }
    g->id = sqlite3_column_int64(q, 0);
    g->source = column_strdup(q, 1);
    g->symbol = column_strdup(q, 2);
    g->first = sqlite3_column_int64(q, 4);
    g->last = sqlite3_column_int64(q, 5);
    g->count = sqlite3_column_int64(q, 6);
    g->reason = column_strdup(q, 8);
    g->first_seen = sqlite3_column_int64(q, 9);
    g->last_checked = sqlite3_column_int64(q, 10);
    return 0;
}

static int sqlite_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                            size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    unsigned mask = gap_filters(q);
    struct gap_record *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = gap_list_stmt(ss, mask, &sel, err);

    if (rc)
        return rc;
    if (mask & GAPF_SOURCE)
        sqlite3_bind_text(sel, 1, q->source, -1, SQLITE_STATIC);
    if (mask & GAPF_SYMBOL)
        sqlite3_bind_text(sel, 2, q->symbol, -1, SQLITE_STATIC);
    if (mask & GAPF_TF)
        sqlite3_bind_text(sel, 3, timeframe_name(q->tf), -1, SQLITE_STATIC);
    if (mask & GAPF_SINCE)
        sqlite3_bind_int64(sel, 4, q->since);
    if (mask & GAPF_STATE)
        sqlite3_bind_text(sel, 5, gap_state_name(q->state), -1, SQLITE_STATIC);
    if (mask & GAPF_LIMIT)
        sqlite3_bind_int64(sel, 6, q->limit <= (size_t)INT64_MAX ? (int64_t)q->limit : -1);

    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_gap(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list gaps", err);
out:
    /* The borrowed strings bound above must not outlive this call. */
    sqlite3_reset(sel);
    sqlite3_clear_bindings(sel);
    if (rc) {
        gap_records_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

static int sqlite_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                             struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int64_t sid;
    int rc = series_id(ss, s, true, &sid, err);

    if (!rc)
        rc = sqlite_stmt(ss, STMT_GAP_INSERT, &ins, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(ins, 1, sid);
    sqlite3_bind_int64(ins, 2, g->first);
    sqlite3_bind_int64(ins, 3, g->last);
    sqlite3_bind_int64(ins, 4, g->count);
    sqlite3_bind_text(ins, 5, gap_state_name(g->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, g->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 7, g->first_seen);
    sqlite3_bind_int64(ins, 8, g->last_checked);
    rc = sqlite_step(ss, ins, false, "cannot record gap", err);
    if (!rc)
        g->id = sqlite3_last_insert_rowid(ss->db);
    return rc;
}

static int sqlite_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_GAP_UPDATE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, g->id);
    sqlite3_bind_int64(upd, 2, g->first);
    sqlite3_bind_int64(upd, 3, g->last);
    sqlite3_bind_int64(upd, 4, g->count);
    sqlite3_bind_text(upd, 5, gap_state_name(g->state), -1, SQLITE_STATIC);
    /* NULL keeps the stored reason. */
    sqlite3_bind_text(upd, 6, g->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upd, 7, g->last_checked);
    rc = sqlite_step(ss, upd, false, "cannot update gap", err);
    if (!rc && sqlite3_changes(ss->db) == 0) {
        strbuf_addf(err, "store: no gap with id %lld", (long long)g->id);
        rc = CK_ENOTFOUND;
    }
    return rc;
}

/* Jobs, their runs and leases. */

/*
 * End the use of a cached statement: reset it and drop its bindings, so
 * that no borrowed string bound with SQLITE_STATIC outlives the call.
 */
static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_str(sqlite3_stmt *st, int col, const char *s)
{
    sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

/* A run's `finished` column: NULL while it runs (or when no end time is given). */
static void bind_finished(sqlite3_stmt *st, int col, enum job_status status, int64_t finished)
{
    if (status == JOB_RUNNING || !finished)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_int64(st, col, finished);
}

static int no_job(const char *job_id, struct strbuf *err)
{
    strbuf_addf(err, "store: no job '%s'", job_id);
    return CK_ENOTFOUND;
}

static void read_job_state(sqlite3_stmt *q, struct job_state *js)
{
    js->job_id = column_strdup(q, 0);
    js->paused = sqlite3_column_int64(q, 1) != 0;
    js->streak = sqlite3_column_int64(q, 2);
    js->last_fire = sqlite3_column_int64(q, 3);
    js->updated_at = sqlite3_column_int64(q, 4);
}

static int sqlite_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_JOB_ENSURE, &ins, err);

    if (rc)
        return rc;
    bind_str(ins, 1, job_id);
    sqlite3_bind_int64(ins, 2, now);
    rc = sqlite_step(ss, ins, false, "cannot add job", err);
    stmt_done(ins);
    return rc;
}

static int sqlite_job_get(struct store *st, const char *job_id, struct job_state *out,
                          struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_JOB_GET, &sel, err);

    if (rc)
        return rc;
    bind_str(sel, 1, job_id);
    rc = sqlite_step(ss, sel, true, "cannot read job", err);
    if (!rc)
        read_job_state(sel, out);
    stmt_done(sel);
    return rc == CK_ENOTFOUND ? no_job(job_id, err) : rc;
}

static int sqlite_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_state *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_JOB_LIST, &sel, err);

    if (rc)
        return rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        read_job_state(sel, &v[nr++]);
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list jobs", err);
    stmt_done(sel);
    if (rc) {
        job_states_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

static int sqlite_job_set_paused(struct store *st, const char *job_id, bool paused, int64_t now,
                                 struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_PAUSE, &upd, err);

    if (rc)
        return rc;
    bind_str(upd, 1, job_id);
    sqlite3_bind_int(upd, 2, paused ? 1 : 0);
    sqlite3_bind_int64(upd, 3, now);
    rc = sqlite_step(ss, upd, false, "cannot pause or resume job", err);
    stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0)
        rc = no_job(job_id, err);
    return rc;
}

static int sqlite_job_set_last_fire(struct store *st, const char *job_id, int64_t fire,
                                    struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_LAST_FIRE, &upd, err);

    if (rc)
        return rc;
    bind_str(upd, 1, job_id);
    sqlite3_bind_int64(upd, 2, fire);
    rc = sqlite_step(ss, upd, false, "cannot record the job's last fire", err);
    stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0)
        rc = no_job(job_id, err);
    return rc;
}

static int sqlite_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_RUN_INSERT, &ins, err);

    if (rc)
        return rc;
    bind_str(ins, 1, r->job_id);
    bind_str(ins, 2, r->instance ? r->instance : "");
    sqlite3_bind_int64(ins, 3, r->scheduled);
    sqlite3_bind_int64(ins, 4, r->started);
    bind_finished(ins, 5, r->status, r->finished);
    bind_str(ins, 6, job_status_name(r->status));
    bind_str(ins, 7, r->message ? r->message : "");
    bind_str(ins, 8, r->details ? r->details : "{}");
    rc = sqlite_step(ss, ins, false, "cannot record job run", err);
    stmt_done(ins);
    if (!rc)
        r->id = sqlite3_last_insert_rowid(ss->db);
    return rc;
}

static int sqlite_job_run_update(struct store *st, int64_t id, enum job_status status,
                                 int64_t finished, const char *message, const char *details,
                                 struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_RUN_UPDATE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, id);
    bind_str(upd, 2, job_status_name(status));
    bind_finished(upd, 3, status, finished);
    bind_str(upd, 4, message ? message : "");
    bind_str(upd, 5, details ? details : "{}");
    rc = sqlite_step(ss, upd, false, "cannot update job run", err);
    stmt_done(upd);
    if (!rc && sqlite3_changes(ss->db) == 0) {
        strbuf_addf(err, "store: no job run with id %lld", (long long)id);
        rc = CK_ENOTFOUND;
    }
    return rc;
}

static int sqlite_job_streak_update(struct store *st, const char *job_id, bool reset,
                                    int64_t *out_streak, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_JOB_STREAK, &upd, err);

    if (rc)
        return rc;
    bind_str(upd, 1, job_id);
    sqlite3_bind_int(upd, 2, reset ? 1 : 0);
    /* The update is done by the first step; resetting after reading the
     * RETURNING row keeps it. */
    rc = sqlite_step(ss, upd, true, "cannot update the job's failure streak", err);
    if (!rc && out_streak)
        *out_streak = sqlite3_column_int64(upd, 0);
    stmt_done(upd);
    return rc == CK_ENOTFOUND ? no_job(job_id, err) : rc;
}

static int read_job_run(struct sqlite_store *ss, sqlite3_stmt *q, struct job_run *r,
                        struct strbuf *err)
{
    const char *status = (const char *)sqlite3_column_text(q, 6);

    memset(r, 0, sizeof(*r));
    if (!status || job_status_parse(status, &r->status)) {
        strbuf_addf(err, "store: sqlite '%s': unknown job status '%s' in the database", ss->path,
                    status ? status : "(null)");
        return CK_EPARSE;
    }
    r->id = sqlite3_column_int64(q, 0);
    r->job_id = column_strdup(q, 1);
    r->instance = column_strdup(q, 2);
    r->scheduled = sqlite3_column_int64(q, 3);
    r->started = sqlite3_column_int64(q, 4);
    r->finished = sqlite3_column_int64(q, 5); /* NULL reads as 0 */
    r->message = column_strdup(q, 7);
    r->details = column_strdup(q, 8);
    return 0;
}

static int sqlite_job_runs_list(struct store *st, const char *job_id, size_t limit,
                                struct job_run **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_run *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, job_id ? STMT_RUNS_OF_JOB : STMT_RUNS_ALL, &sel, err);

    if (rc)
        return rc;
    if (job_id)
        bind_str(sel, 1, job_id);
    sqlite3_bind_int64(sel, 2, limit && limit <= (size_t)INT64_MAX ? (int64_t)limit : -1);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_job_run(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list job runs", err);
out:
    stmt_done(sel);
    if (rc) {
        job_runs_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

/* Run a cached statement that takes one integer; `*changed` (may be NULL) gets its row count. */
static int run_counted(struct sqlite_store *ss, enum sqlite_stmt_id id, int64_t arg,
                       const char *what, int64_t *changed, struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, id, &st, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, arg);
    rc = sqlite_step(ss, st, false, what, err);
    stmt_done(st);
    if (!rc && changed)
        *changed = sqlite3_changes64(ss->db);
    return rc;
}

static int sqlite_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted,
                                 struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    /* `*deleted` counts runs, the history the caller reports on; leases go quietly. */
    int rc = run_counted(ss, STMT_RUNS_PRUNE, before_ms, "cannot prune job runs", deleted, err);

    if (!rc)
        rc = run_counted(ss, STMT_LEASES_PRUNE, before_ms, "cannot prune leases", NULL, err);
    return rc;
}

static int sqlite_job_runs_fail_stale(struct store *st, int64_t started_before_ms,
                                      const char *message, int64_t *count, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_RUNS_FAIL_STALE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, started_before_ms);
    bind_str(upd, 2, message ? message : "");
    rc = sqlite_step(ss, upd, false, "cannot mark stale job runs", err);
    stmt_done(upd);
    if (!rc)
        *count = sqlite3_changes64(ss->db);
    return rc;
}

/* The claim of `name` was refused: say who holds it. */
static int lease_busy(struct sqlite_store *ss, const char *name, struct strbuf *err)
{
    sqlite3_stmt *sel;
    char until[TIME_BUFSZ];
    int rc = sqlite_stmt(ss, STMT_LEASE_HOLDER, &sel, err);

    if (rc)
        return rc;
    bind_str(sel, 1, name);
    rc = sqlite_step(ss, sel, true, "cannot read lease", err);
    if (!rc) {
        time_format_iso8601(sqlite3_column_int64(sel, 1) / 1000, until);
        strbuf_addf(err, "store: lease '%s' is held by '%s' until %s", name,
                    (const char *)sqlite3_column_text(sel, 0), until);
        rc = CK_EBUSY;
    } else if (rc == CK_ENOTFOUND) {
        /* Not reachable inside the claim's transaction; said plainly all the same. */
        strbuf_addf(err, "store: lease '%s' is held by another instance", name);
        rc = CK_EBUSY;
    }
    stmt_done(sel);
    return rc;
}

static int sqlite_lease_claim(struct store *st, const char *name, const char *instance,
                              int64_t now_ms, int64_t until_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_LEASE_CLAIM, &ins, err);

    if (rc)
        return rc;
    bind_str(ins, 1, name);
    bind_str(ins, 2, instance);
    sqlite3_bind_int64(ins, 3, now_ms);
    sqlite3_bind_int64(ins, 4, until_ms);
    rc = sqlite_step(ss, ins, false, "cannot claim lease", err);
    stmt_done(ins);
    if (rc)
        return rc;
    /* An upsert whose WHERE refused the update changed no row. */
    return sqlite3_changes(ss->db) > 0 ? 0 : lease_busy(ss, name, err);
}

static int sqlite_lease_release(struct store *st, const char *name, const char *instance,
                                struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *del;
    int rc = sqlite_stmt(ss, STMT_LEASE_RELEASE, &del, err);

    if (rc)
        return rc;
    bind_str(del, 1, name);
    bind_str(del, 2, instance);
    rc = sqlite_step(ss, del, false, "cannot release lease", err);
    stmt_done(del);
    return rc;
}

/*
 * The least string above every string that starts with `prefix`, in the
 * byte order of SQLite's BINARY collation (memcmp): the prefix without
 * its trailing 0xff bytes, with its last byte plus one. A range scan of
 * the primary key then replaces LIKE, whose '_' and '%' would need
 * escaping. False when there is no such string (an empty prefix, or one
 * of 0xff bytes only): every name >= `prefix` then starts with it.
 */
static bool lease_prefix_end(const char *prefix, struct strbuf *out)
{
    size_t len = strlen(prefix);

    while (len && (unsigned char)prefix[len - 1] == 0xff)
        len--;
    if (!len)
        return false;
    strbuf_add(out, prefix, len);
    out->buf[len - 1] = (char)((unsigned char)out->buf[len - 1] + 1);
    return true;
}

static int sqlite_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                             struct lease_info **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct strbuf end = STRBUF_INIT;
    bool bounded = lease_prefix_end(prefix, &end);
    struct lease_info *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, bounded ? STMT_LEASE_LIST_RANGE : STMT_LEASE_LIST_FROM, &sel, err);

    if (rc)
        goto out;
    bind_str(sel, 1, prefix);
    if (bounded)
        bind_str(sel, 2, end.buf);
    sqlite3_bind_int64(sel, 3, valid_at_ms);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct lease_info *li;
        ALLOC_GROW(v, nr + 1, alloc);
        li = &v[nr++];
        li->name = column_strdup(sel, 0);
        li->holder = column_strdup(sel, 1);
        li->until_ms = sqlite3_column_int64(sel, 2);
        li->created_ms = sqlite3_column_int64(sel, 3);
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list leases", err);
    stmt_done(sel);
out:
    strbuf_release(&end);
    if (rc) {
        lease_infos_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

/* Bulk export and import. */


/* The LIMIT of an export: SQLite reads a negative one as none. */
static int64_t export_limit(size_t limit)
{
    return limit && limit <= (size_t)INT64_MAX ? (int64_t)limit : -1;
}

static int sqlite_export_gaps(struct store *st, int64_t after_id, size_t limit,
                              struct gap_record **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct gap_record *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_GAPS_EXPORT, &sel, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(sel, 1, after_id);
    sqlite3_bind_int64(sel, 2, export_limit(limit));
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_gap(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot export gaps", err);
out:
    stmt_done(sel);
    if (rc) {
        gap_records_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

static int sqlite_import_gaps(struct store *st, const struct gap_record *v, size_t n,
                              unsigned flags, size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    bool skip = flags & STORE_IMPORT_SKIP_EXISTING;
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, skip ? STMT_GAP_IMPORT_NEW : STMT_GAP_INSERT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct gap_record *g = &v[i];
        struct series_key k = {.source = g->source, .symbol = g->symbol, .tf = g->tf};
        int64_t sid;

        rc = series_id(ss, &k, true, &sid, err);
        if (rc)
            break;
        /* Both statements take the same parameters. */
        sqlite3_bind_int64(ins, 1, sid);
        sqlite3_bind_int64(ins, 2, g->first);
        sqlite3_bind_int64(ins, 3, g->last);
        sqlite3_bind_int64(ins, 4, g->count);
        bind_str(ins, 5, gap_state_name(g->state));
        bind_str(ins, 6, g->reason ? g->reason : "");
        sqlite3_bind_int64(ins, 7, g->first_seen);
        sqlite3_bind_int64(ins, 8, g->last_checked);
        rc = sqlite_step(ss, ins, false, "cannot import a gap record", err);
        if (!rc)
            *added += (size_t)sqlite3_changes(ss->db);
    }
    if (ins)
        stmt_done(ins);
    return rc;
}

static int sqlite_export_job_runs(struct store *st, int64_t after_id, size_t limit,
                                  struct job_run **out, size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct job_run *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_RUNS_EXPORT, &sel, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(sel, 1, after_id);
    sqlite3_bind_int64(sel, 2, export_limit(limit));
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_job_run(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot export job runs", err);
out:
    stmt_done(sel);
    if (rc) {
        job_runs_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

static int sqlite_import_job_runs(struct store *st, const struct job_run *v, size_t n,
                                  unsigned flags, size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    bool skip = flags & STORE_IMPORT_SKIP_EXISTING;
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, skip ? STMT_RUN_IMPORT_NEW : STMT_RUN_INSERT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct job_run *r = &v[i];
        /* Both statements take the parameters of STMT_RUN_INSERT. */
        bind_str(ins, 1, r->job_id);
        bind_str(ins, 2, r->instance ? r->instance : "");
        sqlite3_bind_int64(ins, 3, r->scheduled);
        sqlite3_bind_int64(ins, 4, r->started);
        bind_finished(ins, 5, r->status, r->finished);
        bind_str(ins, 6, job_status_name(r->status));
        bind_str(ins, 7, r->message ? r->message : "");
        bind_str(ins, 8, r->details ? r->details : "{}");
        rc = sqlite_step(ss, ins, false, "cannot import a job run", err);
        if (!rc)
            *added += (size_t)sqlite3_changes(ss->db);
    }
    if (ins)
        stmt_done(ins);
    return rc;
}

static int sqlite_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                              size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, STMT_JOB_IMPORT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct job_state *js = &v[i];
        bind_str(ins, 1, js->job_id);
        sqlite3_bind_int(ins, 2, js->paused ? 1 : 0);
        sqlite3_bind_int64(ins, 3, js->streak);
        sqlite3_bind_int64(ins, 4, js->last_fire);
        sqlite3_bind_int64(ins, 5, js->updated_at);
        rc = sqlite_step(ss, ins, false, "cannot import a job", err);
        if (rc)
            break;
        if (sqlite3_changes(ss->db) > 0) {
            ++*added;
        } else if (!(flags & STORE_IMPORT_SKIP_EXISTING)) {
            strbuf_addf(err, "store: sqlite '%s': job '%s' exists already", ss->path, js->job_id);
            rc = CK_ECONFLICT;
        }
    }
    if (ins)
        stmt_done(ins);
    return rc;
}

/* Rate budgets and series state. */

static int sqlite_rate_get(struct store *st, const char *source, bool lock, struct rate_row *out,
                           struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc;

    memset(out, 0, sizeof(*out));
    if (lock) {
        /* The caller's IMMEDIATE transaction holds the write lock: the row is ours. */
        rc = sqlite_stmt(ss, STMT_RATE_ENSURE, &q, err);
        if (rc)
            return rc;
        bind_str(q, 1, source);
        rc = sqlite_step(ss, q, false, "cannot add rate budget", err);
        stmt_done(q);
        if (rc)
            return rc;
    }
    rc = sqlite_stmt(ss, STMT_RATE_GET, &q, err);
    if (rc)
        return rc;
    bind_str(q, 1, source);
    rc = sqlite_step(ss, q, true, "cannot read rate budget", err);
    if (!rc) {
        const char *reason = (const char *)sqlite3_column_text(q, 3);
        size_t n = reason ? strlen(reason) : 0;
        out->day = sqlite3_column_int64(q, 0);
        out->day_used = sqlite3_column_int64(q, 1);
        out->banned_until_ms = sqlite3_column_int64(q, 2);
        if (n >= sizeof(out->ban_reason))
            n = sizeof(out->ban_reason) - 1;
        memcpy(out->ban_reason, reason ? reason : "", n);
        out->ban_reason[n] = '\0';
    }
    stmt_done(q);
    return rc;
}

static int sqlite_rate_put(struct store *st, const char *source, const struct rate_row *row,
                           int64_t now_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_PUT, &q, err);

    if (rc)
        return rc;
    bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, row->day);
    sqlite3_bind_int64(q, 3, row->day_used);
    sqlite3_bind_int64(q, 4, row->banned_until_ms);
    bind_str(q, 5, row->ban_reason);
    sqlite3_bind_int64(q, 6, now_ms);
    rc = sqlite_step(ss, q, false, "cannot write rate budget", err);
    stmt_done(q);
    return rc;
}

static int sqlite_rate_window(struct store *st, const char *source, int64_t since_ms, int64_t nth,
                              int64_t *out_count, int64_t *out_nth_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_COUNT, &q, err);

    *out_count = 0;
    *out_nth_ms = 0;
    if (rc)
        return rc;
    bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, since_ms);
    rc = sqlite_step(ss, q, true, "cannot count sent requests", err);
    if (!rc)
        *out_count = sqlite3_column_int64(q, 0);
    stmt_done(q);
    if (rc || *out_count < nth || nth < 1)
        return rc;
    rc = sqlite_stmt(ss, STMT_RATE_NTH, &q, err);
    if (rc)
        return rc;
    bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, since_ms);
    sqlite3_bind_int64(q, 3, nth - 1);
    rc = sqlite_step(ss, q, true, "cannot read sent requests", err);
    if (!rc)
        *out_nth_ms = sqlite3_column_int64(q, 0);
    stmt_done(q);
    return rc == CK_ENOTFOUND ? 0 : rc;
}

static int sqlite_rate_log(struct store *st, const char *source, int64_t sent_ms,
                           int64_t prune_before_ms, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_RATE_LOG, &q, err);

    if (rc)
        return rc;
    bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, sent_ms);
    rc = sqlite_step(ss, q, false, "cannot log a sent request", err);
    stmt_done(q);
    if (rc)
        return rc;
    rc = sqlite_stmt(ss, STMT_RATE_PRUNE, &q, err);
    if (rc)
        return rc;
    bind_str(q, 1, source);
    sqlite3_bind_int64(q, 2, prune_before_ms);
    rc = sqlite_step(ss, q, false, "cannot prune the request log", err);
    stmt_done(q);
    return rc;
}

static int read_series_state(struct sqlite_store *ss, sqlite3_stmt *q, struct series_state *s,
                             struct strbuf *err)
{
    memset(s, 0, sizeof(*s));
    s->source = column_strdup(q, 0);
    s->symbol = column_strdup(q, 1);
    s->streak = sqlite3_column_int64(q, 3);
    s->skipped = sqlite3_column_int64(q, 4);
    s->last_error = column_strdup(q, 5);
    s->last_failure = sqlite3_column_int64(q, 6);
    s->last_success = sqlite3_column_int64(q, 7);
    s->deferred_since = sqlite3_column_int64(q, 8);
    s->deferred_reason = column_strdup(q, 9);
    s->updated_at = sqlite3_column_int64(q, 10);
    return column_tf(ss, q, 2, &s->tf, err);
}

static int sqlite_series_state_get(struct store *st, const struct series_key *k,
                                   struct series_state *out, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = sqlite_stmt(ss, STMT_SSTATE_GET, &q, err);
    if (rc)
        return rc;
    bind_series_key(q, k);
    rc = sqlite_step(ss, q, true, "cannot read series state", err);
    if (!rc && (rc = read_series_state(ss, q, out, err)))
        series_state_release(out);
    stmt_done(q);
    return rc;
}

static int sqlite_series_state_put(struct store *st, const struct series_state *s,
                                   struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, STMT_SSTATE_PUT, &q, err);

    if (rc)
        return rc;
    bind_str(q, 1, s->source);
    bind_str(q, 2, s->symbol);
    bind_str(q, 3, timeframe_name(s->tf));
    sqlite3_bind_int64(q, 4, s->streak);
    sqlite3_bind_int64(q, 5, s->skipped);
    bind_str(q, 6, s->last_error ? s->last_error : "");
    sqlite3_bind_int64(q, 7, s->last_failure);
    sqlite3_bind_int64(q, 8, s->last_success);
    sqlite3_bind_int64(q, 9, s->deferred_since);
    bind_str(q, 10, s->deferred_reason ? s->deferred_reason : "");
    sqlite3_bind_int64(q, 11, s->updated_at);
    rc = sqlite_step(ss, q, false, "cannot write series state", err);
    stmt_done(q);
    return rc;
}

static int sqlite_series_state_list(struct store *st, const char *source, struct series_state **out,
                                    size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct series_state *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *q;
    int rc = sqlite_stmt(ss, source ? STMT_SSTATE_LIST_SOURCE : STMT_SSTATE_LIST, &q, err);

    if (rc)
        return rc;
    if (source)
        bind_str(q, 1, source);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_series_state(ss, q, &v[nr], err);
        nr++;
        if (rc)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list series state", err);
out:
    stmt_done(q);
    if (rc) {
        series_states_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

/* --- generic statements ------------------------------------------------ */

static int sqlite_sql_prepare(struct sqlite_store *ss, const char *sql, sqlite3_stmt **out,
                              struct strbuf *err)
{
    sqlite3_stmt *stmt;
    int rc;

    for (size_t i = 0; i < ss->sql_ncache; i++) {
        if (ss->sql_cache[i].sql == sql) {
            *out = ss->sql_cache[i].stmt;
            return 0;
        }
    }
    rc = sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, "cannot prepare statement", err);
    ALLOC_GROW(ss->sql_cache, ss->sql_ncache + 1, ss->sql_alloc);
    ss->sql_cache[ss->sql_ncache++] = (struct sql_cached){sql, stmt};
    *out = stmt;
    return 0;
}

static int sqlite_sql_bind(struct sqlite_store *ss, sqlite3_stmt *stmt, const struct sqlv *p,
                           size_t n, struct strbuf *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[24];
        int idx, rc;

        snprintf(name, sizeof(name), "$%zu", i + 1);
        idx = sqlite3_bind_parameter_index(stmt, name);
        if (!idx)
            continue; /* a parameter this dialect's text does not use */
        switch (p[i].kind) {
        case SQLV_NULL:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        case SQLV_TEXT:
            rc = p[i].s ? sqlite3_bind_text(stmt, idx, p[i].s, -1, SQLITE_STATIC)
                        : sqlite3_bind_null(stmt, idx);
            break;
        default:
            rc = sqlite3_bind_int64(stmt, idx, p[i].i);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_fail(ss, rc, "cannot bind a parameter", err);
    }
    if ((size_t)sqlite3_bind_parameter_count(stmt) > n)
        BUG("sqlite: statement wants %d parameters, %zu given", sqlite3_bind_parameter_count(stmt),
            n);
    return 0;
}

static int sqlite_sql(struct store *st, const char *sql, const struct sqlv *p, size_t n,
                      struct sql_rows *out, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *stmt = NULL;
    size_t alloc = 0;
    int rc;

    sql_rows_release(out);
    out->scaled_prices = true;
    rc = sqlite_sql_prepare(ss, sql, &stmt, err);
    if (rc)
        return rc;
    rc = sqlite_sql_bind(ss, stmt, p, n, err);
    if (rc) {
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    out->ncols = (size_t)sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ALLOC_GROW(out->cells, (out->nrows + 1) * out->ncols, alloc);
        for (size_t c = 0; c < out->ncols; c++) {
            const unsigned char *v = sqlite3_column_text(stmt, (int)c);
            out->cells[out->nrows * out->ncols + c] = v ? xstrdup((const char *)v) : NULL;
        }
        out->nrows++;
    }
    if (rc != SQLITE_DONE) {
        rc = sqlite_fail(ss, rc, "statement failed", err);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    out->changed = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(ss->db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .ping = sqlite_ping,
    .check_writable = sqlite_check_writable,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .put_candles = sqlite_put_candles,
    .latest_time = sqlite_latest_time,
    .query_candles = sqlite_query_candles,
    .count_candles = sqlite_count_candles,
    .delete_candles_before = sqlite_delete_candles_before,
    .count_candles_before = sqlite_count_candles_before,
    .list_series = sqlite_list_series,
    .list_gaps = sqlite_list_gaps,
    .insert_gap = sqlite_insert_gap,
    .update_gap = sqlite_update_gap,
    .job_ensure = sqlite_job_ensure,
    .job_get = sqlite_job_get,
    .job_list = sqlite_job_list,
    .job_set_paused = sqlite_job_set_paused,
    .job_set_last_fire = sqlite_job_set_last_fire,
    .job_run_insert = sqlite_job_run_insert,
    .job_run_update = sqlite_job_run_update,
    .job_streak_update = sqlite_job_streak_update,
    .job_runs_list = sqlite_job_runs_list,
    .job_runs_prune = sqlite_job_runs_prune,
    .job_runs_fail_stale = sqlite_job_runs_fail_stale,
    .lease_claim = sqlite_lease_claim,
    .lease_release = sqlite_lease_release,
    .lease_list = sqlite_lease_list,
    .rate_get = sqlite_rate_get,
    .rate_put = sqlite_rate_put,
    .rate_window = sqlite_rate_window,
    .rate_log = sqlite_rate_log,
    .series_state_get = sqlite_series_state_get,
    .series_state_put = sqlite_series_state_put,
    .series_state_list = sqlite_series_state_list,
    .export_gaps = sqlite_export_gaps,
    .import_gaps = sqlite_import_gaps,
    .export_job_runs = sqlite_export_job_runs,
    .import_job_runs = sqlite_import_job_runs,
    .import_jobs = sqlite_import_jobs,
    .sql = sqlite_sql,
};
