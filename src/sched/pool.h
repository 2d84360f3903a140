/* SPDX-License-Identifier: MIT */
#ifndef CK_SCHED_POOL_H
#define CK_SCHED_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf;

/*
 * A bounded worker pool (after libuv's uv_queue_work and curl's thrdpool):
 * pool_submit(pool, run, done, arg) queues an item; `run(local, arg)` runs
 * on a worker thread; `done(arg, abandoned)` runs later on the owner's
 * thread, inside pool_reap(), which is where `arg` is freed.
 *
 * Each worker has one `local` slot (NULL at start) for state it keeps
 * between items — the scheduler keeps the worker's database connection
 * there — freed with `local_free` when the worker exits.
 *
 * A running item can be abandoned (its timeout passed): its worker is
 * detached and a fresh worker takes its place, so the pool's capacity is
 * never lost to a stuck item. When the abandoned run finally returns, its
 * `done` is still delivered (with abandoned = true) and that thread exits.
 */
typedef void pool_run_fn(void **local, void *arg);
typedef void pool_done_fn(void *arg, bool abandoned);
typedef void pool_local_free_fn(void *local);
/* Called from a worker after it queued a completion (e.g. to wake the owner). */
typedef void pool_notify_fn(void *notify_arg);

struct pool;
struct pool_item;

struct pool *pool_new(size_t workers, pool_local_free_fn *local_free, pool_notify_fn *notify,
                      void *notify_arg);
/* Start the worker threads. 0 or CK_EIO (thread creation failed). */
int pool_start(struct pool *p, struct strbuf *err);
/*
 * Queue an item; the returned handle stays valid until its `done` has run.
 * Items queued after pool_stop() began are completed with abandoned = true
 * without running.
 */
struct pool_item *pool_submit(struct pool *p, pool_run_fn *run, pool_done_fn *done, void *arg);
/* Detach the worker running `it` and start a replacement. No-op if `it` is not running. */
void pool_abandon(struct pool *p, struct pool_item *it);
/* Run the `done` of every finished item on the calling thread; returns how many. */
size_t pool_reap(struct pool *p);
/* Items queued or running (abandoned ones excluded). */
size_t pool_busy(struct pool *p);
/* Items whose run is over but whose `done` has not run yet, plus running and queued ones. */
size_t pool_pending(struct pool *p);
/* Block until a completion is waiting or `timeout_ms` passed. */
void pool_wait(struct pool *p, long timeout_ms);
/*
 * Stop: no new items run; queued ones complete as abandoned; wait for
 * running workers to return (abandoned workers are not waited for).
 * pool_reap() must be called afterwards to deliver the last completions.
 */
void pool_stop(struct pool *p);
/*
 * Free (after pool_stop and pool_reap). An abandoned worker still running
 * is given two seconds; a run it completes meanwhile is delivered (its
 * `done` called) before the pool goes. Takes NULL.
 */
void pool_free(struct pool *p);

#endif
