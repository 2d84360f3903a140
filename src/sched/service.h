/* SPDX-License-Identifier: MIT */
#ifndef CK_SCHED_SERVICE_H
#define CK_SCHED_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * A background service: one thread that runs a pass now, then again when
 * the pass asks for it, when woken, until stopped (after redis' bio.c).
 * The alert sender, the database watch, the heartbeat and the signal
 * deliverer's dispatcher are services; nothing else in candlekeep starts
 * a thread but the worker pool (sched/pool.h).
 *
 * A pass returns how many milliseconds to wait before the next one (0:
 * run again at once). A service_wake() during a pass or a wait makes the
 * next pass start at once; wake-ups are not counted, so many become one
 * pass. service_stop() interrupts a wait, never a pass: it waits for the
 * pass in flight to return.
 *
 * A service may own a store connection: with `store_url` set,
 * service_store() opens it on first use and hands the same connection to
 * every later pass; service_store_drop() closes it after a failure, so the
 * next pass gets a fresh one. Only the service's own thread may use them.
 */
struct service;

typedef int64_t service_pass_fn(struct service *svc, void *arg);

struct service_config {
    const char *name;      /* in messages: "alert sender" (copied) */
    service_pass_fn *pass; /* runs on the service's thread */
    void *arg;             /* borrowed; must outlive the service */
    const char *store_url; /* NULL: no store (copied) */
};

/*
 * Start the thread; its first pass runs at once. `*out` is set before the
 * thread starts, so a pass may read it. 0, or CK_EIO with the reason in `err`.
 */
int service_start(struct service **out, const struct service_config *cfg, struct strbuf *err);

/* Ask for a pass now. Any thread; takes NULL. */
void service_wake(struct service *svc);

/* Has service_stop() been called? For a long pass that can end early. Any thread. */
bool service_stopping(struct service *svc);

/*
 * The service's store connection, opened on first use. NULL with the
 * reason in `err` (redacted) when it cannot be opened; the next call
 * tries again. The service's thread only.
 */
struct store *service_store(struct service *svc, struct strbuf *err);

/* Close the connection (it failed); the next service_store() opens a new one. */
void service_store_drop(struct service *svc);

/* Stop: wait for the pass in flight, join the thread, close the store, free. Takes NULL. */
void service_stop(struct service *svc);

#endif
