/* SPDX-License-Identifier: MIT */
/*
 * The schema of the PostgreSQL backend: its migrations, oldest first.
 * pg_migrate() (conn.c) applies the missing ones at open, each in its own
 * transaction under an advisory lock, and refuses a database newer than
 * pg_schema_latest.
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

/*
 * The migrations, in order; migration i brings the schema to version i + 1.
 * Never edit one that has shipped: add another.
 */
const char *const pg_migrations[] = {
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
    /*
     * 6: circuit breakers, as in the SQLite schema: the state of each
     * provider's breaker as its holder last recorded it (times NULL for
     * none).
     */
    "CREATE TABLE breakers ("
    "  source text COLLATE \"C\" PRIMARY KEY,"
    "  state text NOT NULL CHECK (state IN ('closed', 'half_open', 'open')),"
    "  failures bigint NOT NULL DEFAULT 0,"
    "  opened_at timestamptz,"
    "  retry_at timestamptz,"
    "  updated_at timestamptz NOT NULL,"
    "  instance text NOT NULL DEFAULT '');",
    /* 7: gap repair, as in the SQLite schema (first_attempt NULL: never asked). */
    "ALTER TABLE gaps ADD COLUMN attempts bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE gaps ADD COLUMN first_attempt timestamptz;"
    "CREATE INDEX gaps_state ON gaps (state, series_id);",
    /* 8: backfills, as in the SQLite schema (until_at and first_at NULL for none). */
    "CREATE TABLE backfills ("
    "  id bigserial PRIMARY KEY,"
    "  source text COLLATE \"C\" NOT NULL,"
    "  symbol text COLLATE \"C\" NOT NULL,"
    "  timeframe text NOT NULL,"
    "  since_at timestamptz NOT NULL,"
    "  until_at timestamptz,"
    "  position timestamptz NOT NULL,"
    "  state text NOT NULL CHECK (state IN ('queued', 'running', 'deferred', 'done', 'failed')),"
    "  candles bigint NOT NULL DEFAULT 0,"
    "  requests bigint NOT NULL DEFAULT 0,"
    "  first_at timestamptz,"
    "  note text NOT NULL DEFAULT '',"
    "  error text NOT NULL DEFAULT '',"
    "  created_at timestamptz NOT NULL,"
    "  updated_at timestamptz NOT NULL);"
    "CREATE INDEX backfills_series ON backfills (source, symbol, timeframe);",
    /* 9: what a pause says, as in the SQLite schema (paused_until NULL: until resumed). */
    "ALTER TABLE jobs ADD COLUMN paused_until timestamptz,"
    "  ADD COLUMN pause_reason text NOT NULL DEFAULT '',"
    "  ADD COLUMN paused_by text NOT NULL DEFAULT '';",
    /*
     * 10: a series' generation, advanced by every transaction that writes
     * or deletes its candles (pg_series_touch), so that what was made from
     * them (an API response) can be known current by reading one row.
     */
    "ALTER TABLE series ADD COLUMN gen bigint NOT NULL DEFAULT 0;",
};
const int pg_schema_latest = (int)ARRAY_SIZE(pg_migrations);
