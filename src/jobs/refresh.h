/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_REFRESH_H
#define CK_JOBS_REFRESH_H

#include "market/timeframe.h"

struct ck;
struct job_ctx;

/*
 * The refresh_candles_<TF> job: one incremental fetch of every configured
 * symbol of every enabled source that lists timeframe `tf`. Each series is
 * fetched on its own; one failing series never stops the others, and the
 * run fails (with every failure named) if any series failed.
 */
struct refresh_job {
    const struct ck *app;
    enum timeframe tf;
};

/* A job_fn (sched.h); `arg` is a struct refresh_job. */
int refresh_job_run(struct job_ctx *ctx, void *arg);

#endif
