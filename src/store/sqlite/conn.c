/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of the store: candlekeep's embedded default. This
 * file holds the connection; the operations live by concern next to it
 * (sqlite_internal.h lists them) and store_sqlite_ops at the end of this
 * file gathers them.
 *
 * A connection (`struct sqlite_store`) wraps one sqlite3 handle opened in
 * multi-thread mode: the store contract gives each thread its own
 * connection, so SQLite's per-connection mutex would only cost time. The
 * database runs in WAL mode with synchronous=NORMAL, which lets readers in
 * other processes (the CLI next to the daemon) proceed during a write and
 * makes a commit an append to the log rather than an fsync; a crash of the
 * process loses nothing, a power loss can lose the last commits but never
 * corrupts the file. A connection that acknowledges writes to someone
 * else (a signal answered 201, a delivery recorded) switches itself to
 * synchronous=FULL (sqlite_set_durable()): its commits sync the log before
 * they return. That costs a commit up to a few milliseconds (bench_signals:
 * 0.15 ms at NORMAL, 0.5 to 3.5 ms at FULL on a shared virtual disk); ingest,
 * which commits thousands of candles at a time, keeps NORMAL.
 *
 * Schema. Migrations are an ordered array of SQL scripts; migration i
 * brings the schema to version i + 1 and is applied in its own IMMEDIATE
 * transaction that re-reads the version first, so two processes opening a
 * fresh file at once apply each step exactly once. The applied versions
 * are rows of `schema_version`. A database with a version newer than the
 * array knows is refused rather than misread.
 *
 * Every fixed statement is prepared once per connection and kept (the
 * texts are sqlite_stmt_sql[] in stmts.c) until the connection closes.
 *
 * Invariants: iterators hold their own statements and must be freed before
 * the connection is closed (closing with one outstanding is a BUG()).
 * Nothing in the backend logs: errors go to the caller's strbuf as
 * "store: sqlite 'PATH': what: sqlite's message".
 */
#include "store/sqlite/sqlite_internal.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    /*
     * 6: circuit breakers. The state of each provider's breaker as its
     * holder last recorded it (on every transition), so that every process
     * reports the same circuit and a restart keeps an open one open. Times
     * are Unix ms, NULL for none.
     */
    "CREATE TABLE breakers ("
    "  source TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('closed', 'half_open', 'open')),"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  opened_at INTEGER,"
    "  retry_at INTEGER,"
    "  updated_at INTEGER NOT NULL,"
    "  instance TEXT NOT NULL DEFAULT '');",
    /*
     * 7: gap repair. How many times a repair asked the provider for a
     * gap's window and got nothing, and when it first did (Unix s, 0:
     * never), which together decide when a gap is unfillable.
     */
    "ALTER TABLE gaps ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE gaps ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX gaps_state ON gaps (state, series_id);",
    /*
     * 8: backfills. The deep history of a series fetched page by page: what
     * was asked for (open times from since_at, before until_at or up to
     * the present when NULL), where it stands (the next request asks for
     * candles after `position`), and what the venue said (`first_at`, its
     * first candle in the range; a note when it has or serves nothing
     * before). Times are Unix ms.
     */
    "CREATE TABLE backfills ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL,"
    "  symbol TEXT NOT NULL,"
    "  timeframe TEXT NOT NULL,"
    "  since_at INTEGER NOT NULL,"
    "  until_at INTEGER,"
    "  position INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'deferred', 'done', 'failed')),"
    "  candles INTEGER NOT NULL DEFAULT 0,"
    "  requests INTEGER NOT NULL DEFAULT 0,"
    "  first_at INTEGER,"
    "  note TEXT NOT NULL DEFAULT '',"
    "  error TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX backfills_series ON backfills (source, symbol, timeframe);",
    /*
     * 9: what a pause says: when it ends by itself (Unix s, 0: when
     * resumed), why, and who set it.
     */
    "ALTER TABLE jobs ADD COLUMN paused_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN pause_reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN paused_by TEXT NOT NULL DEFAULT '';",
};
#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

struct sqlite_store *sqlite_downcast(struct store *st)
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
int sqlite_fail(struct sqlite_store *ss, int rc, const char *what, struct strbuf *err)
{
    const char *msg = ss->db ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc);
    strbuf_addf(err, "store: sqlite '%s': %s: %s", ss->path, what, msg);
    return sqlite_code(rc);
}

int sqlite_stmt(struct sqlite_store *ss, enum sqlite_stmt_id id, sqlite3_stmt **out,
                struct strbuf *err)
{
    *out = NULL;
    if (!ss->stmts[id]) {
        int rc = sqlite3_prepare_v3(ss->db, sqlite_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
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
int sqlite_step(struct sqlite_store *ss, sqlite3_stmt *st, bool want_row, const char *what,
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

/*
 * End the use of a cached statement: reset it and drop its bindings, so
 * that no borrowed string bound with SQLITE_STATIC outlives the call.
 */
void sqlite_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void sqlite_bind_str(sqlite3_stmt *st, int col, const char *s)
{
    sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
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
    sqlite_cache_free(ss);
    free(ss->path);
    free(ss);
}

/*
 * Process-wide settings, made once before SQLite initialises, at the
 * first open (which comes before a process starts its threads: the daemon
 * and the commands open their store first). By default every connection
 * allocates its first 20 pages of cache in one block and touches all of it
 * at once (some 70 KB resident); a daemon keeps a connection per thread,
 * most of which read a few pages. Without that block a connection's cache
 * grows a page at a time as it reads, up to the same cache_size.
 */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void configure_library(void)
{
    /* SQLITE_MISUSE when another part of the process initialised SQLite first: harmless. */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
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

    pthread_once(&library_once, configure_library);
    rc = sqlite3_open_v2(path, &ss->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite_fail(ss, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_busy_timeout(ss->db, SQLITE_BUSY_TIMEOUT_MS);
    rc = sqlite_register_candle_batch(ss->db);
    if (rc != SQLITE_OK) {
        rc = sqlite_fail(ss, rc, "cannot register ck_candle_batch", err);
        goto fail;
    }
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

/* synchronous=FULL on this connection (see the top of this file); outside a transaction. */
static int sqlite_set_durable(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    char *msg = NULL;
    if (sqlite3_exec(ss->db, "PRAGMA synchronous=FULL", NULL, NULL, &msg) != SQLITE_OK) {
        strbuf_addf(err, "store: sqlite '%s': cannot set synchronous=FULL: %s", ss->path,
                    msg ? msg : sqlite3_errmsg(ss->db));
        sqlite3_free(msg);
        return CK_EIO;
    }
    return 0;
}

/* How long the writability check waits for another connection's write lock. */
#define SQLITE_CHECK_TIMEOUT_MS 1000

/*
 * A committed write, as small as one can be. In WAL mode reads go on while
 * another process holds the write lock, and taking the lock writes
 * nothing, so neither says whether the jobs can write; this does, and
 * waits a second at most for the lock.
 *
 * Before it, the file itself must be writable: a connection opened before
 * the file was made read-only keeps its descriptor and goes on writing to
 * the write-ahead log, while every connection opened since (a worker's
 * after a failure, the next daemon's) is refused. access() asks without
 * opening a descriptor, which would drop this process's locks on the file.
 * It also answers for root when the file is immutable or on a read-only
 * mount.
 *
 * The commit appends one page to the write-ahead log (no sync at
 * synchronous=NORMAL); a full disk shows once the log has to grow.
 */
static int sqlite_check_writable(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    const char *file;
    int version, rc;

    rc = read_version(ss, &version, err);
    if (rc)
        return rc;
    /* The absolute name SQLite resolved at open: the working directory may have changed. */
    file = sqlite3_db_filename(ss->db, "main");
    if (file && *file && access(file, W_OK)) {
        strbuf_addf(err, "store: sqlite '%s': read-only: the database file is not writable (%s)",
                    ss->path, strerror(errno));
        return CK_EIO;
    }
    sqlite3_busy_timeout(ss->db, SQLITE_CHECK_TIMEOUT_MS);
    rc = sqlite_run(ss, STMT_BEGIN, "cannot take the write lock", err);
    sqlite3_busy_timeout(ss->db, SQLITE_BUSY_TIMEOUT_MS);
    if (rc)
        return rc;
    rc = sqlite_run(ss, STMT_VERSION_TOUCH, "cannot write", err);
    if (!rc)
        rc = sqlite_run(ss, STMT_COMMIT, "cannot write", err);
    /* SQLite rolls back by itself on some errors (disk full, I/O errors). */
    if (rc && !sqlite3_get_autocommit(ss->db))
        sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
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
        sqlite_cache_end_transaction(ss, true);
    return rc;
}

static int sqlite_rollback(struct store *st, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite_cache_end_transaction(ss, false);
    /* SQLite rolls back by itself on some errors (disk full, I/O errors). */
    if (sqlite3_get_autocommit(ss->db))
        return 0;
    return sqlite_run(ss, STMT_ROLLBACK, "cannot roll back", err);
}

/* The LIMIT of an export: SQLite reads a negative one as none. */
int64_t sqlite_export_limit(size_t limit)
{
    return limit && limit <= (size_t)INT64_MAX ? (int64_t)limit : -1;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .ping = sqlite_ping,
    .check_writable = sqlite_check_writable,
    .set_durable = sqlite_set_durable,
    .check_integrity = sqlite_check_integrity,
    .upkeep = sqlite_upkeep,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .put_candles = sqlite_put_candles,
    .latest_time = sqlite_latest_time,
    .query_candles = sqlite_query_candles,
    .count_candles = sqlite_count_candles,
    .candle_extent = sqlite_candle_extent,
    .candle_stamp = sqlite_candle_stamp,
    .candle_times = sqlite_candle_times,
    .delete_candles_before = sqlite_delete_candles_before,
    .count_candles_before = sqlite_count_candles_before,
    .list_series = sqlite_list_series,
    .list_gaps = sqlite_list_gaps,
    .insert_gap = sqlite_insert_gap,
    .update_gap = sqlite_update_gap,
    .job_ensure = sqlite_job_ensure,
    .job_get = sqlite_job_get,
    .job_list = sqlite_job_list,
    .job_pause = sqlite_job_pause,
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
