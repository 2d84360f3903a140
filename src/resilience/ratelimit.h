/* SPDX-License-Identifier: MIT */
#ifndef CK_RESILIENCE_RATELIMIT_H
#define CK_RESILIENCE_RATELIMIT_H

#include "market/timeframe.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct retry_clock;
struct strbuf;

/*
 * One rate budget per provider key, shared through the database by every
 * job, thread and process that calls the provider (the counters and the
 * atomic take are the store's: store_rate_take()). This module decides
 * what a caller does with the answer: wait for a token when the wait fits
 * its deadline, or give up and report the request as deferred. A request
 * without a token is never sent.
 *
 * It also orders the work when there is more of it than the budget: the
 * series whose newest candle is the oldest relative to its timeframe goes
 * first.
 */

/*
 * The per-minute window, and the margin added to it: a request is counted
 * when its token is taken, a little before the provider sees it, and the
 * provider's clock is not ours. With a window of 61 seconds no 60-second
 * span of the provider's, aligned or not, can see more than `per_minute`
 * requests, for the price of a minute being one second longer.
 */
#define RATELIMIT_WINDOW_MS 60000
#define RATELIMIT_MARGIN_MS 1000

/*
 * The budget of source `source` (borrowed): `per_minute` requests in any
 * window of RATELIMIT_WINDOW_MS + RATELIMIT_MARGIN_MS, `per_day` per UTC
 * day (0: no daily limit).
 */
void ratelimit_budget(struct rate_budget *out, const char *source, int64_t per_minute,
                      int64_t per_day);
/*
 * The budget of provider key `key` (borrowed; see source_budget_key()):
 * `per_window` requests in any window of `window_ms` plus a margin in
 * proportion (a second on a minute), `per_day` per UTC day (0: none).
 */
void ratelimit_budget_window(struct rate_budget *out, const char *key, int64_t window_ms,
                             int64_t per_window, int64_t per_day);

/*
 * Take one token of `b`, waiting through `clock` while a token will be
 * free before `deadline_ms` (0: no deadline). Returns 0 with the token
 * taken; CK_ELIMIT when none is free in time (the request is deferred; the
 * message says why and until when, `out` has the details); CK_ETIMEDOUT
 * when the clock's sleep said stop; or the store's error. `out` holds the
 * budget as the last take found it.
 */
int ratelimit_acquire(struct store *st, const struct rate_budget *b,
                      const struct retry_clock *clock, int64_t deadline_ms, struct rate_state *out,
                      struct strbuf *err);

/* The budget's window for messages: "minute", "5s", "1s". Appends to `out`. */
void ratelimit_window_name(const struct rate_budget *b, struct strbuf *out);

/* Describe why `s` refuses a take ("banned until ...: reason"); appends to `sb`. */
void ratelimit_describe(const struct rate_budget *b, const struct rate_state *s, int64_t now_ms,
                        struct strbuf *sb);

/*
 * How overdue a series is, in periods of its timeframe: the time since its
 * newest candle closed divided by the timeframe's length. A series with no
 * candle at all is the most overdue there is (+infinity).
 */
double ratelimit_urgency(enum timeframe tf, bool has_latest, int64_t latest, int64_t now);

/* One unit of work to order: its urgency and the caller's index. */
struct ratelimit_item {
    double urgency;
    size_t index;
};

/*
 * Sort `v` by urgency, most urgent first; equal urgencies keep their order
 * (the configured order), so the result is deterministic.
 */
void ratelimit_order(struct ratelimit_item *v, size_t n);

#endif
