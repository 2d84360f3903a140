/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_WATCH_H
#define CK_JOBS_WATCH_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ck;
struct calendar;
struct job_ctx;
struct sched_run_end;
struct store;

/*
 * What candlekeep watches and tells its operators about: the conditions
 * behind each alert key, turned into alert_fire() / alert_clear() calls on
 * the alert manager of `struct ck` (app->alerts). The keys:
 *
 *   job:<job_id>          a job's failure streak reached [alerts]
 *                         failure_threshold; cleared by its next ok run
 *   timeout:<job_id>      a run timed out; cleared by the next ok run
 *   overdue:<job_id>      a job should have run more than a period ago
 *   breaker:<source>      the provider's circuit breaker is not closed
 *   stale:<source>:<symbol>:<TF>
 *                         WATCH_STALE_PERIODS or more closed periods the
 *                         calendar expects have no candle after the newest
 *                         (health_missing_periods(), health/rules.h)
 *   gap:<source>:<symbol>:<TF>:<first>
 *                         an open gap of the ledger (first = its first open
 *                         time, ISO 8601); cleared when no longer open
 *   gap-unfillable:<source>:<symbol>:<TF>:<first>
 *                         a gap the provider cannot fill, raised once
 *   quota:<source>        90% of the provider's daily quota is used
 *
 * (the "database" key is the database watch's, daemon/dbwatch.h). Per-job
 * and per-series alerts that a provider causes name its breaker key as
 * inhibited_by, so an open circuit is one message, not one per symbol.
 *
 * The polled conditions read the health report (health/health.h), so an
 * alert says what /health says. Breaker state and overdue jobs are facts
 * of the running daemon (its breakers, its scheduler); they are evaluated
 * only where the scheduler runs (app->sched running), never by a one-off
 * command.
 */

/* Closed periods without a candle from which a series is stale. */
#define WATCH_STALE_PERIODS 3
/* Share of a daily quota (percent) from which quota:<source> fires. */
#define WATCH_QUOTA_PERCENT 90

/*
 * The sched_run_end_fn of the daemon (`arg` is the struct ck): streaks,
 * timeouts and recoveries of every job, and the breakers of the providers
 * a refresh job calls (synced first, so that inhibition sees them).
 * Failures to record an alert are logged.
 */
void watch_on_run_end(void *arg, struct store *st, const struct sched_run_end *e);

/* The job_fn of `watch_alerts` (`arg` is the struct ck): every polled condition above. */
int watch_job_run(struct job_ctx *ctx, void *arg);

#endif
