/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_MAINTENANCE_H
#define CK_JOBS_MAINTENANCE_H

#include "sched/sched.h"

#include <stddef.h>
#include <stdint.h>

struct ck;
struct maint_result;
struct settings;
struct store;
struct strbuf;

/*
 * The maintenance tasks as jobs (maint/maint.h says what each does): the
 * rows the job table adds with kind "maintenance", and the one job body
 * they share, which runs the task, times it and keeps its result (message,
 * details with "duration_ms") in the job history.
 */

/* A task body: fill `out`; 0 or CK_E* with the reason in `err`. */
typedef int maint_task_fn(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                          struct strbuf *err);

struct maint_task {
    const char *id;
    const char *name;
    size_t cron_offset; /* offsetof() its schedule in struct maint_settings */
    maint_task_fn *fn;
};

/* At most this many tasks (the job table keeps their arguments in an array). */
#define MAINT_TASKS_MAX 16

/* Every task, in the order the job table lists them; `*n` gets the count. */
const struct maint_task *maint_tasks(size_t *n);

/* What the table binds each task's job to. */
struct maint_job {
    const struct maint_task *task;
    struct ck *app;
};

/* The job body of every task (sched.h job_fn); `arg` is a struct maint_job. */
int maint_job_run(struct job_ctx *ctx, void *arg);

/* The schedule of `task` in `s` (borrowed). */
const char *maint_task_cron(const struct maint_task *task, const struct settings *s);

/*
 * The run history of the maintenance tasks of `t` (of task `task` alone
 * when not NULL), newest first, at most `limit` runs (0: no limit). `*out`
 * is the caller's: job_runs_free(*out, *n). 0 or the store's error.
 */
struct job_run;
struct job_table;
int maint_history(struct store *st, const struct job_table *t, const char *task, size_t limit,
                  struct job_run **out, size_t *n, struct strbuf *err);

/*
 * The directories candlekeep writes (the SQLite database's, the log
 * file's), each once, as a NULL-terminated array of copies; returns the
 * count. Free with maint_dirs_free().
 */
size_t maint_dirs(const struct settings *s, char ***out);
void maint_dirs_free(char **v);

#endif
