/* SPDX-License-Identifier: MIT */
#ifndef CK_SIGNAL_DELIVER_H
#define CK_SIGNAL_DELIVER_H

#include "market/signal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alert_manager;
struct metrics;
struct receiver_settings;
struct retry_clock;
struct strbuf;

/*
 * The signal deliverer of `candlekeep run`: every pending delivery (one
 * per signal and configured receiver, written with the signal) is POSTed
 * to its receiver as a Standard Webhooks message until the receiver
 * answers 2xx (delivered), the receiver refuses it for good (a 4xx other
 * than 408/429) or the attempts run out; the last two leave it dead, with
 * a critical alert, until `candlekeep signals redeliver` queues it again.
 *
 * Threads: one dispatcher that sleeps until the next delivery is due
 * (store_delivery_next_due, re-read at least every second so that signals
 * created by the CLI or another daemon leave within a second) or until
 * deliver_wake(), and one worker per receiver, so that a receiver that
 * hangs or is down never holds up another. Each thread has its own store
 * connection and a worker its own HTTP client. A worker claims one
 * delivery at a time under a lease ([deliver] lease, longer than the HTTP
 * timeout): two threads or two daemons never send the same delivery at
 * once, and a delivery whose holder died is taken over when the lease
 * lapses, and sent again with the same webhook-id, which receivers use to
 * drop the duplicate.
 */

/*
 * [deliver]: the signal deliverer. attempts counts the first one; the
 * delays default to [retry]'s when the section does not set them.
 */
struct deliver_settings {
    int64_t attempts;
    int64_t base_delay;      /* seconds */
    int64_t max_delay;       /* seconds */
    int64_t lease;           /* seconds a claimed delivery is held; longer than timeout */
    int64_t connect_timeout; /* seconds */
    int64_t timeout;         /* seconds, the whole request */
    bool telegram;           /* a short notice to the operators for each new signal */
};

struct deliver_config {
    const struct deliver_settings *deliver; /* borrowed */
    /* The [webhook.NAME] receivers, one worker each; borrowed. */
    const struct receiver_settings *receivers;
    size_t nreceivers;
    /* [alerts] failure_threshold: failed attempts in a row that fire the streak alert; <= 0: 3. */
    int64_t failure_threshold;
    const char *store_url;
    const char *instance; /* this process, the lease holder; copied */
    /* Alerts and the new-signal notice; NULL: none (nothing else changes). */
    struct alert_manager *alerts;
    /* deliveries_total{receiver,result}, delivery_dead_total{receiver}, retries_total. May be
     * NULL. */
    struct metrics *metrics;
    /* Wall time and randomness; NULL: the real ones. Waits are always real. */
    const struct retry_clock *clock;
};

struct deliverer;

/*
 * Start the threads (none when no receiver is configured: the deliverer
 * then only answers deliver_wake() by doing nothing). Every secret has
 * been checked by settings_load(). CK_EIO with the reason in `err` when a
 * store connection cannot be opened; nothing to release then.
 */
int deliver_start(struct deliverer **out, const struct deliver_config *cfg, struct strbuf *err);

/* A signal was created: look now. Thread-safe, never blocks on I/O. NULL is ignored. */
void deliver_wake(struct deliverer *d);

/*
 * Stop: no new attempt starts; an attempt in flight finishes (at most the
 * HTTP timeout) and is recorded. Joins the threads and frees everything.
 * Takes NULL.
 */
void deliver_stop(struct deliverer *d);

/* --- the rules, exposed for tests ---------------------------------- */

struct deliver_policy {
    int attempts;    /* in total, the first included */
    int64_t base_ms; /* the wait after the first failure, before jitter */
    int64_t max_ms;  /* cap of the computed wait, before jitter */
};

/*
 * What attempt number `attempt` (1-based) leads to. `rc` is http_do()'s
 * result and `http_status` the answer's status (0: none); `retry_after_s`
 * the answer's Retry-After in seconds (-1: none). A 2xx status: delivered
 * (even when the rest of the answer failed).
 * Network errors, timeouts, 3xx, 5xx, 408 and 429 are worth another
 * attempt while attempts remain: pending at now + the backoff (min(base *
 * 2^(attempt-1), max) plus up to 10% jitter from `random`), or at now +
 * Retry-After when that is later. Anything else, or the last attempt:
 * dead. `*out_next_ms` is only set for pending.
 */
enum delivery_status deliver_decide(const struct deliver_policy *p, int64_t attempt, int rc,
                                    long http_status, int64_t retry_after_s, int64_t now_ms,
                                    uint64_t random, int64_t *out_next_ms);

/*
 * The body sent for signal `s`: signal_json(), the object GET /signals/{id}
 * serves without its deliveries (prices as exact decimal strings, times
 * ISO 8601 UTC), compact. Appends.
 */
void deliver_signal_body(const struct signal *s, struct strbuf *out);

#endif
