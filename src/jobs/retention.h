/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_RETENTION_H
#define CK_JOBS_RETENTION_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stdint.h>

struct job_ctx;
struct job_run;
struct retention_settings;
struct store;
struct strbuf;

/*
 * Retention: what is old enough to go, and going. Candles of a timeframe
 * with a threshold ([retention] M15 = 90d, H1 = 365d by default; a
 * timeframe not listed, or listed as 0, is kept for ever) are deleted when
 * open_time < now - threshold: exactly at the threshold they stay, one
 * second older they go. Backtest results are deleted when created_at <
 * now - [retention] backtests. Signals and outcomes are never deleted.
 *
 * Deletes run in batches of [retention] batch rows, one transaction each,
 * so that the API, the refresh jobs and other daemons get the database
 * between batches instead of waiting for one long transaction.
 */

/* A category whose cutoff is set is pruned; counts are of rows deleted, or to delete. */
struct retention_result {
    bool dry_run;
    bool prune[TF_COUNT];
    int64_t cutoff[TF_COUNT]; /* Unix s: candles opening before it go */
    int64_t deleted[TF_COUNT];
    bool prune_backtests;
    int64_t backtest_cutoff_ms; /* Unix ms: results created before it go */
    int64_t backtests;
    bool prune_alert_messages;       /* sent and failed messages of the alert outbox */
    int64_t alert_message_cutoff_ms; /* Unix ms: messages created before it go */
    int64_t alert_messages;
    int64_t batches; /* transactions used (0 in a dry run) */
    bool stopped;    /* the run stopped early when asked; counts are of what was done */
};

/* Asked between batches: true stops the run. */
typedef bool retention_stop_fn(void *arg);

/*
 * Prune (or with `dry_run`, only count) by `rs` at `now` (Unix s). `stop`
 * (may be NULL) is asked between batches. `*out` is filled with what was
 * done even on failure. 0, or the store's error.
 */
int retention_run(struct store *st, const struct retention_settings *rs, int64_t now, bool dry_run,
                  retention_stop_fn *stop, void *stop_arg, struct retention_result *out,
                  struct strbuf *err);

/*
 * The run's details as a JSON object, appended to `out`:
 * {"deleted":{"M15":N,"H1":N,"backtests":N},"cutoff":{"M15":"<ISO 8601>",...}}
 * with one key per pruned category ("would_delete" instead of "deleted" in
 * a dry run), plus "batches", and "stopped" when it stopped early.
 */
void retention_details_json(const struct retention_result *r, struct strbuf *out);

/* One line: "deleted M15 1200, H1 30, backtests 0 in 2 batches". */
void retention_summary(const struct retention_result *r, struct strbuf *out);

/* The `retention` job (sched.h job_fn); `arg` is the struct retention_settings to apply. */
int retention_job_run(struct job_ctx *ctx, void *arg);

/* The id of the job. */
#define RETENTION_JOB_ID "retention"

/*
 * The newest finished run of the retention job (ok or failed; not one
 * still running or skipped), for the digest: its details hold the
 * counts. CK_ENOTFOUND when it never finished one. `*out` is the
 * caller's: job_runs_free(*out, 1).
 */
int retention_last_run(struct store *st, struct job_run **out, struct strbuf *err);

#endif
