/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_BACKFILL_H
#define CK_JOBS_BACKFILL_H

struct job_ctx;

/*
 * The `backfill` job ([jobs] backfill, every minute by default): carries
 * forward the backfills that are not done (queued by POST /backfills, or
 * left by a `candlekeep backfill` that was stopped or killed), oldest
 * first, within the run's deadline and the budget's reserve (ingest/
 * backfill.h). A backfill that failed waits for `candlekeep backfill` to
 * be run again (the same failure would repeat every minute); one whose
 * source is no longer configured is marked failed. `arg` is the process
 * context (struct ck); a job_fn (sched.h).
 */
int backfill_job_run(struct job_ctx *ctx, void *arg);

#endif
