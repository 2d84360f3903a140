/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_BACKUP_H
#define CK_JOBS_BACKUP_H

struct job_ctx;

/*
 * The scheduled `backup` job ([jobs] backup, daily at 01:30 UTC by
 * default): `candlekeep backup` as a job (backup/backup.h) of the
 * configured database into [backup] dir, drilled, copied and kept. The
 * run's message names the file and the drill's verdict; its details are
 * {"file", "bytes", "backup_ms", "drill", "drill_ms", "deleted",
 * "copy"}. A backup that cannot be made or whose drill fails fails the
 * run. Where the process has an alert manager (the daemon, `jobs run`),
 * the critical alert "backup:failed" fires at once on such a run and
 * clears on the next good one, and "backup:stale" fires while no backup
 * has passed its drill within [backup] max_age.
 */
#define BACKUP_JOB_ID "backup"

/* The job body (sched.h job_fn); `arg` is the process context (struct ck). */
int backup_job_run(struct job_ctx *ctx, void *arg);

#endif
