/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_FEED_H
#define CK_INGEST_FEED_H

#include "market/calendar.h"
#include "market/timeframe.h"
#include "resilience/breaker.h"
#include "resilience/guard.h"
#include "source/source.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;
struct resample_plan;
struct retry_clock;
struct retry_policy;
struct strbuf;

/*
 * A feed is one configured provider section (`[source.NAME]`) at run
 * time: what every caller of that provider shares. It owns the trading
 * calendar of its series, the circuit breaker of the provider and the
 * description of its rate budget (whose counters and bans live in the
 * database, so that every thread and process shares them too).
 *
 * feed_fetch() is the only way the program calls a provider: the
 * scheduled refresh, `candlekeep fetch` and every later path that asks a
 * provider for candles go through it, so none of them can spend the
 * provider's budget behind the others' backs or walk into a ban.
 *
 * A feed is built before threads start and shared by them afterwards: the
 * calendar is immutable, the breaker internally locked, the budget
 * description read-only. The source adapter (one HTTP handle) is not
 * shared: each thread opens its own with feed_source_open().
 */
struct feed;

/* What a feed is made of, from `[source.NAME]`. Strings and arrays are borrowed. */
struct feed_config {
    struct source_config source; /* name, adapter kind, key, URL, timeouts, body cap */
    enum calendar_kind calendar;
    const int64_t *holidays; /* days since the epoch */
    size_t nholidays;
    struct breaker_config breaker;
    int64_t rate_per_minute; /* >= 1; the budget's requests per window */
    int64_t rate_window_ms;  /* the window; 0: a minute */
    int64_t daily_quota;     /* 0: no daily limit */
    /* The budget's identity (source_budget_key()); NULL: the source's name. */
    const char *budget_key;
    char *const *symbols;
    size_t nsymbols;
    const enum timeframe *timeframes;
    size_t ntimeframes;
    /* The timeframes built from a fetched one (ingest/derive.h); NULL: none. */
    const struct resample_plan *derive;
    int backfill;               /* candles asked for when a series is new */
    int64_t symbol_skip_after;  /* failures in a row before a series is skipped; 0: never */
    int64_t symbol_probe_every; /* a skipped series is probed every this many cycles */
    bool enabled;               /* false: configured, but no refresh or fetch touches it */
};

/*
 * Build the feed of `cfg` (copied; the strings and arrays it points to are
 * borrowed and must outlive the feed). 0, or CK_E* with a message naming
 * the source (a calendar that cannot be built).
 */
int feed_open(struct feed **out, const struct feed_config *cfg, struct strbuf *err);
/* Takes NULL. No thread may be using it. */
void feed_free(struct feed *f);

const char *feed_name(const struct feed *f);
const struct feed_config *feed_config(const struct feed *f);
const struct calendar *feed_calendar(const struct feed *f);
struct breaker *feed_breaker(const struct feed *f);
const struct rate_budget *feed_budget(const struct feed *f);
/* Does the feed list timeframe `tf`? */
bool feed_lists_timeframe(const struct feed *f, enum timeframe tf);
/* Does the feed list `symbol`? */
bool feed_lists_symbol(const struct feed *f, const char *symbol);

/*
 * Open the provider adapter of the feed for the calling thread (it owns an
 * HTTP handle; free it with source_free()). CK_ECONFIG for an unknown kind.
 */
int feed_source_open(const struct feed *f, struct source **out, struct strbuf *err);

/* Where a fetch runs: the caller's connection, policy, clock and limits. */
struct feed_env {
    struct store *store;               /* MUST: the budget's counters and the bans */
    const struct retry_policy *policy; /* MUST */
    const struct retry_clock *clock;   /* MUST */
    int64_t deadline_ms;               /* no wait ends after it (Unix ms); 0: none */
    bool no_budget_wait;     /* no token free now: defer at once instead of waiting for one */
    struct metrics *metrics; /* provider_requests_total, retries_total; may be NULL */
    const char *instance;    /* this process, recorded with the breaker's transitions; may be
                                NULL */
};

/*
 * Fetch `req` from the provider through `src` (opened by
 * feed_source_open()), in this order for every attempt: the circuit
 * breaker (open: nothing is sent), a token of the rate budget (none in
 * time: nothing is sent, deferred), the request, and on failure the retry
 * policy, a wait the provider asked for (Retry-After, a rate limit's
 * reset) being stored as a ban in the database first so that every other
 * caller respects it. A request that goes out leaves room before the
 * deadline for the source's timeout.
 *
 * Returns 0 with the candles in `res`, or a negative CK_E* with the
 * reason in `err`; `out` (may be NULL) says how it went (guard.h:
 * GUARD_DEFERRED, GUARD_REJECTED ... and how many requests went out).
 * Thread-safe as far as `src` and `env->store` belong to the calling thread.
 */
int feed_fetch(struct feed *f, struct source *src, const struct feed_env *env,
               const struct fetch_request *req, struct fetch_result *res, struct guard_report *out,
               struct strbuf *err);

/*
 * Take back the state of the feed's circuit breaker that `st` recorded
 * (store_breaker_get()), before the feed's first fetch: an open circuit
 * stays open until its retry time, a half-open one lets the next caller
 * probe, a closed one leaves the breaker as it is. When nothing is
 * recorded, record the breaker's fresh (closed) state at `now_ms` as
 * `instance` (may be NULL), so that every process reports the circuit
 * from the start. 0, or a negative CK_E* with the reason in `err` (the
 * breaker then stays closed).
 */
int feed_restore(struct feed *f, struct store *st, const char *instance, int64_t now_ms,
                 struct strbuf *err);

/*
 * Why a deferred fetch was deferred, for messages: the budget's state
 * ("rate budget: 8 of 8 requests of the last minute are used ...") when
 * the budget refused, else nothing (the caller's error says it). Appends
 * to `sb`; returns whether it appended.
 */
bool feed_describe_deferral(const struct feed *f, const struct guard_report *r, int64_t now_ms,
                            struct strbuf *sb);

#endif
