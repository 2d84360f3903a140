/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_JOBS_H
#define CK_STORE_JOBS_H

/*
 * The store's jobs: each scheduled job's persistent state, its run
 * history, leases, and their bulk export and import (see store/tables.h).
 * Part of the store interface (store/store.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Scheduled jobs: the persistent part of a job's state (paused flag,
 * failure streak, the last fire time handled) and its run history. The
 * daemon and the CLI see the same rows, so `candlekeep jobs pause` works
 * whether or not a daemon runs, and state survives restarts.
 */
struct job_state {
    char *job_id;
    bool paused;          /* as set; job_state_paused() says whether it holds now */
    int64_t paused_until; /* Unix s: the pause ends by itself then; 0: when resumed */
    char *pause_reason;   /* "" when none given */
    char *paused_by;      /* who paused it ("cli:<user>", "api"); "" when unknown */
    int64_t streak;       /* consecutive failed or timed-out runs */
    int64_t last_fire;    /* newest scheduled time handled (run, skipped or missed); 0: none */
    int64_t updated_at;
};
void job_state_release(struct job_state *js);
void job_states_free(struct job_state *v, size_t n);
/*
 * Is the job paused at `now` (Unix s)? A pause past its paused_until has
 * ended, even before anyone cleared the flag: the one rule for the
 * scheduler, /health, status and the API.
 */
bool job_state_paused(const struct job_state *js, int64_t now);

/* Create the job's row if it has none (not paused, streak 0). */
int store_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err);
/* CK_ENOTFOUND when the job has no row. Release `out` with job_state_release(). */
int store_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err);
/* Every job row, ordered by id. */
int store_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err);
/* Set the paused flag (creating the row if needed). */
int store_job_set_paused(struct store *st, const char *job_id, bool paused, int64_t now,
                         struct strbuf *err);
/* A pause as set by store_job_pause(); strings borrowed. */
struct job_pause {
    bool paused;
    int64_t until;      /* Unix s; 0: until resumed */
    const char *reason; /* NULL or "": none */
    const char *by;     /* NULL or "": unknown */
};
/*
 * Pause (or with p->paused false, resume) the job with what `p` says,
 * creating the row if needed; updated_at becomes `now`. A resume clears
 * until, reason and who. store_job_set_paused() is this with no details.
 * CK_EINVAL for a pause that would end at or before `now`, or a reason
 * longer than JOB_PAUSE_REASON_MAX bytes.
 */
#define JOB_PAUSE_REASON_MAX 500
int store_job_pause(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                    struct strbuf *err);
/* Advance last_fire to `fire` if it is newer. */
int store_job_set_last_fire(struct store *st, const char *job_id, int64_t fire, struct strbuf *err);

enum job_status {
    JOB_RUNNING,
    JOB_OK,
    JOB_FAILED,
    JOB_SKIPPED,
    JOB_TIMED_OUT,
    JOB_MISSED,
};
const char *job_status_name(enum job_status s);
int job_status_parse(const char *name, enum job_status *out);

/* One row of job history. Strings are owned by the record. */
struct job_run {
    int64_t id;
    char *job_id;
    char *instance;    /* which daemon (or CLI) ran it */
    int64_t scheduled; /* the fire time (Unix s) */
    int64_t started;   /* Unix ms */
    int64_t finished;  /* Unix ms; 0 while running */
    enum job_status status;
    char *message; /* one line */
    char *details; /* JSON object text, "{}" when none */
};
void job_runs_free(struct job_run *v, size_t n);

/*
 * Insert a run row as given (status running for a run that starts now, or
 * a finished status — skipped, missed — recorded in one go). Sets r->id.
 * For a finished status the job's streak is not touched.
 */
int store_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err);
/*
 * Finish run r->id with r->status, r->finished, r->message, r->details; in
 * the same transaction update job r->job_id: its streak (failed and
 * timed_out add one, ok resets it to 0, others leave it) and its last_fire
 * (to r->scheduled if newer). `*out_streak` (may be NULL) gets the streak
 * after the update.
 */
int store_job_run_finish(struct store *st, const struct job_run *r, int64_t *out_streak,
                         struct strbuf *err);
/* Newest first; `job_id` NULL = every job; limit 0 = no limit. */
int store_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                        size_t *n, struct strbuf *err);
/* Delete finished runs that started before `before_ms`, and leases created before it. */
int store_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted, struct strbuf *err);
/*
 * Runs still marked running that started before `started_before_ms` (their
 * process died) are marked failed with `message`; returns how many.
 */
int store_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                              int64_t *count, struct strbuf *err);
/*
 * The same for the runs of job `job_id` only, so that each job is judged by
 * its own timeout; `now_ms` is their finish time (never before their start).
 */
int store_job_runs_fail_stale_job(struct store *st, const char *job_id, int64_t started_before_ms,
                                  const char *message, int64_t now_ms, int64_t *count,
                                  struct strbuf *err);
/*
 * Runs still marked running whose instance is neither `instance` nor starts
 * with `spare_prefix` (NULL or "": none spared) are marked failed with
 * `message`, finished at `now_ms` (never before their start); returns how
 * many. For a caller that knows every such process is dead (the one daemon
 * an SQLite file allows). Streaks are not touched.
 */
int store_job_runs_fail_others(struct store *st, const char *instance, const char *spare_prefix,
                               const char *message, int64_t now_ms, int64_t *count,
                               struct strbuf *err);
/*
 * Runs still marked running by `instance` (a daemon known to be dead: its
 * heartbeat stopped) are marked failed with `message`, finished at
 * `now_ms` (never before their start); returns how many. Streaks are not
 * touched.
 */
int store_job_runs_fail_instance(struct store *st, const char *instance, const char *message,
                                 int64_t now_ms, int64_t *count, struct strbuf *err);

/*
 * Leases: at most one holder of `name` at a time (a job's fire time, a
 * delivery, a migration...). Claiming succeeds (0) when nobody holds the
 * lease or the holder's expired (`until_ms` of the holder < now_ms), or the
 * holder is `instance` itself (which extends it); otherwise CK_EBUSY. A
 * crashed holder's lease simply lapses.
 */
int store_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                      int64_t until_ms, struct strbuf *err);
/* A lease as listed. */
struct lease_info {
    char *name;
    char *holder;
    int64_t until_ms;
    int64_t created_ms;
};
void lease_infos_free(struct lease_info *v, size_t n);
/* Leases whose name starts with `prefix` and whose until_ms >= `valid_at_ms`, by name. */
int store_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                     struct lease_info **out, size_t *n, struct strbuf *err);

/* Give up a lease held by `instance` (no-op if held by another). */
int store_lease_release(struct store *st, const char *name, const char *instance,
                        struct strbuf *err);

/* Job runs with id > after_id, by id, at most `limit` (0 = no limit). */
int store_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                          size_t *n, struct strbuf *err);
/* Insert runs v[0..n) as given (ids aside); `*added` as for store_import_gaps(). */
int store_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                          size_t *added, struct strbuf *err);

/*
 * Insert job rows v[0..n) as given: paused flag, streak, last fire and
 * update time. (store_job_list() exports them.)
 */
int store_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err);

#endif
