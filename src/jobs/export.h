/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_EXPORT_H
#define CK_JOBS_EXPORT_H

struct job_ctx;

/*
 * The tradenote_export job ([export] tradenote, 18:00 UTC): the TradeNote
 * file of every finished day not exported yet, into [export] dir
 * (export_tradenote_days() of export/export.h says which days). `arg` is
 * the struct ck.
 */
int tradenote_job_run(struct job_ctx *ctx, void *arg);

#endif
