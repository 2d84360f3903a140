/* SPDX-License-Identifier: MIT */
#ifndef CK_CMD_JOBVIEW_H
#define CK_CMD_JOBVIEW_H

#include "ck/ck.h"

#include <stdbool.h>
#include <stddef.h>

struct job_run;
struct job_table;
struct store;

/*
 * The front-end machinery of the jobs, shared by `candlekeep jobs` and
 * `candlekeep maintenance` (whose tasks are jobs of kind "maintenance"):
 * listing rows of the job table with their state, printing run history,
 * running jobs now in this process, pausing and resuming. `cmdname` is
 * the command in messages ("jobs", "maintenance"). Each returns an exit
 * code (CMD_OK, CMD_FAIL) after printing what went wrong.
 */

/*
 * The rows of `t` of kind `kind` (NULL: all) with their schedule, next
 * run, paused flag (with its end and reason), streak and last run, from
 * the health report (no scheduler needed). With `schedule_only`, the
 * schedule columns alone (id, name, schedule, next_run, paused,
 * paused_until, pause_reason).
 */
int jobview_list(struct ck *ck, const struct job_table *t, const char *kind, bool schedule_only);

/* Print runs v[0..n) (newest first) as `jobs runs` does. */
void jobview_print_runs(const struct job_run *v, size_t n, enum out_format fmt);

/*
 * Run jobs ids[0..n) now in this process, one after the other, under the
 * same leases and history as the daemon, and print each outcome as
 * "ID STATUS: message". CMD_FAIL when one did not end ok (or could not
 * start). Needs ck's alert manager built (CK_NEEDS_ALERTS...), as `jobs run`.
 */
int jobview_run(struct ck *ck, const char *cmdname, const char *const *ids, size_t n);

/*
 * Pause job `id` in the database as `p` says (p->by NULL: "cli:<user>");
 * prints "ID paused[ until TIME][: reason]".
 */
struct job_pause;
int jobview_pause(struct store *st, const char *cmdname, const char *id, const struct job_pause *p);
/*
 * Resume job `id` (sched_job_resume()): prints "ID resumed", and when a
 * fire was skipped during the pause, that the scheduler runs it once.
 */
int jobview_resume(struct store *st, const char *cmdname, const char *id);

/* "candlekeep CMD: no job 'ID'; configured: ..." for the rows of `kind`; returns CMD_USAGE. */
int jobview_unknown(const char *cmdname, const struct job_table *t, const char *kind,
                    const char *id);

#endif
