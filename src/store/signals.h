/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_SIGNALS_H
#define CK_STORE_SIGNALS_H

/*
 * The store's signal tables (schema 5): signals, their deliveries to the
 * configured receivers (the outbox) with every attempt, outcomes and
 * backtest results. Same conventions as store.h: 0 or CK_E* with a message
 * in `err`; writes run in their own transaction unless the caller has
 * one. Times are Unix ms; prices are the scaled integers of market/price.h.
 * The values read and written are those of market/signal.h.
 */
#include "market/signal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/* A new, time-ordered, unique signal id for `now_ms`. */
void signal_new_id(char out[SIGNAL_ID_MAX], int64_t now_ms);

/*
 * Create `s` (s->id set by the caller with signal_new_id) and one pending
 * delivery per receiver name, due at `now_ms`, with webhook_id
 * "<signal id>.<receiver>" — all in one transaction; s->created_ms and
 * s->updated_ms become `now_ms`. With an idempotency key that is already
 * stored: when its request_hash equals s->request_hash, `*s` is released
 * and replaced by the stored signal and *existed set (nothing written);
 * otherwise CK_ECONFLICT naming the key. Concurrent creators of one key
 * agree on one signal (INSERT ... ON CONFLICT DO NOTHING). `existed` may
 * be NULL.
 */
int store_signal_create(struct store *st, struct signal *s, const char *const *receivers,
                        size_t nreceivers, int64_t now_ms, bool *existed, struct strbuf *err);
/* CK_ENOTFOUND when there is no such signal. */
int store_signal_get(struct store *st, const char *id, struct signal *out, struct strbuf *err);

struct signal_query {
    const enum signal_status *status; /* NULL: any */
    int64_t since_ms;                 /* created at or after; 0: any */
    int64_t until_ms;                 /* created before; 0: any */
    size_t limit;                     /* 0: all */
    bool oldest_first;                /* default newest first */
};
int store_signal_list(struct store *st, const struct signal_query *q, struct signal **out,
                      size_t *n, struct strbuf *err);
/*
 * Move signal `id` from `from` to `to` (cancel: active -> cancelled).
 * CK_ENOTFOUND without the signal, CK_ECONFLICT when it is not in `from`.
 */
int store_signal_set_status(struct store *st, const char *id, enum signal_status from,
                            enum signal_status to, int64_t now_ms, struct strbuf *err);

/* --- deliveries ------------------------------------------------------ */

/*
 * Lease up to `max` pending deliveries due at `now_ms` (next_at <= now)
 * whose lease is free or lapsed (lease_until <= now), oldest due first
 * (then by id), to `holder` until `lease_until_ms` (> now_ms, else
 * CK_EINVAL); only those of `receiver` when not NULL. Atomic: two
 * claimers never get the same delivery while a lease holds. `*out` is
 * released with deliveries_free().
 */
int store_delivery_claim(struct store *st, const char *receiver, int64_t now_ms, const char *holder,
                         int64_t lease_until_ms, size_t max, struct delivery **out, size_t *n,
                         struct strbuf *err);
/*
 * When the next pending delivery is due: max(next_at, lease_until) of the
 * earliest; CK_ENOTFOUND (no message: not a failure) when none is pending.
 */
int store_delivery_next_due(struct store *st, int64_t *out_ms, struct strbuf *err);

/*
 * Record attempt `a` of delivery `id` held by `holder` and set its new
 * status: delivered (delivered_at = a->started_ms + a->duration_ms),
 * pending again at `next_ms` (ignored otherwise), or dead; attempts + 1,
 * last_status and last_error from `a`; the lease is released — all in one
 * transaction. CK_ECONFLICT when `holder` no longer holds the lease (it
 * lapsed and another took it over) or the delivery is no longer pending:
 * nothing is written. CK_ENOTFOUND without the delivery.
 */
int store_delivery_record(struct store *st, int64_t id, const char *holder,
                          const struct delivery_attempt *a, enum delivery_status status,
                          int64_t next_ms, struct strbuf *err);
/* Deliveries of one signal, by receiver name. */
int store_delivery_list(struct store *st, const char *signal_id, struct delivery **out, size_t *n,
                        struct strbuf *err);
int store_delivery_attempts(struct store *st, int64_t delivery_id, struct delivery_attempt **out,
                            size_t *n, struct strbuf *err);
/*
 * Re-queue the dead deliveries of signal `signal_id` (all receivers, or
 * only `receiver`): pending, due now, attempts kept in history but the
 * count restarted. `*requeued` gets how many; 0 is not an error.
 */
int store_delivery_requeue(struct store *st, const char *signal_id, const char *receiver,
                           int64_t now_ms, size_t *requeued, struct strbuf *err);
/* Count deliveries by status (for /metrics and the digest). */
int store_delivery_counts(struct store *st, int64_t out[3], struct strbuf *err);
/*
 * When the oldest pending delivery was created (Unix ms); CK_ENOTFOUND (no
 * message: not a failure) when none is pending.
 */
int store_delivery_oldest_pending(struct store *st, int64_t *out_ms, struct strbuf *err);

/* --- outcomes ------------------------------------------------------- */

/*
 * Record the outcome of an active signal and set its status to the result
 * (updated_at = o->created_ms, which defaults to o->decided_ms when 0), in
 * one transaction. CK_ECONFLICT when the signal is no longer active,
 * CK_ENOTFOUND without it, CK_EINVAL for a result other than won, lost or
 * expired.
 */
int store_outcome_record(struct store *st, const struct outcome *o, struct strbuf *err);
int store_outcome_get(struct store *st, const char *signal_id, struct outcome *out,
                      struct strbuf *err);

/* For the digest: signals active now, created in [since, until), and outcomes decided then. */
struct signal_counts {
    int64_t active;
    int64_t created;
    int64_t won, lost, expired;
};
int store_signal_counts(struct store *st, int64_t since_ms, int64_t until_ms,
                        struct signal_counts *out, struct strbuf *err);

/* --- backtests ------------------------------------------------------ */

int store_backtest_add(struct store *st, struct backtest *b, struct strbuf *err); /* sets b->id */
int store_backtest_list(struct store *st, int64_t since_ms, size_t limit, struct backtest **out,
                        size_t *n, struct strbuf *err);
/*
 * Delete up to `batch` (0: no limit) results created before `before_ms`
 * (0: all), oldest first; `*deleted` gets how many. Call again until it
 * is 0.
 */
int store_backtest_delete_before(struct store *st, int64_t before_ms, size_t batch,
                                 int64_t *deleted, struct strbuf *err);
int store_backtest_count_before(struct store *st, int64_t before_ms, int64_t *out,
                                struct strbuf *err);

#endif
