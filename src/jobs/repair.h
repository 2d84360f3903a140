/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_REPAIR_H
#define CK_JOBS_REPAIR_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stdint.h>

struct ck;
struct job_ctx;
struct repair_result;
struct retry_clock;
struct store;

/*
 * The gap jobs around the candle path's repair (ingest/repair.h) and its
 * scan (ingest/ingest.h):
 *
 *   repair_gaps   [jobs] repair_gaps (every 15 minutes), and at once after
 *                 a refresh or a scan that opened a gap: the open gaps of
 *                 every enabled feed, window by window
 *   scan_history  [jobs] scan_history (weekly): every stored series' whole
 *                 range against its calendar, into the ledger
 *
 * `candlekeep gaps repair` runs the same repair as the job, narrowed to
 * the series it names.
 */

/* Which gaps a repair takes; NULL / false: any. */
struct repair_filter {
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
};

/*
 * Repair the open gaps `f` selects with the feeds of `app` on store
 * connection `st` at `now` (Unix s), waiting on `clock` until `deadline_ms`
 * (0: none) at most. `out` (REPAIR_RESULT_INIT) gets what happened.
 */
void repair_gaps_now(const struct ck *app, struct store *st, const struct repair_filter *f,
                     int64_t now, const struct retry_clock *clock, int64_t deadline_ms,
                     bool (*should_stop)(void *arg), void *stop_arg, struct repair_result *out);

/* Job bodies (sched.h); `arg` is the app (struct ck). */
int repair_job_run(struct job_ctx *ctx, void *arg);
int scan_history_job_run(struct job_ctx *ctx, void *arg);

/*
 * Ask the daemon's scheduler to run repair_gaps now (after a refresh that
 * found a new gap). A no-op without a scheduler (a command) or while the
 * repair runs already.
 */
void repair_job_request(const struct ck *app);

#endif
