/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_BUDGET_H
#define CK_STORE_BUDGET_H

/*
 * The store's provider-facing state: rate budgets shared by every process
 * on the database, the state of each provider's circuit breaker, and the
 * health of each fetched series. Part of the store interface
 * (store/store.h).
 */
#include "market/candle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Rate budgets, one per provider key (a source name): the send times of
 * the requests of the last window (so that a per-minute limit holds in
 * every 60-second span, not only in aligned minutes, whatever the
 * provider's clock), a count of requests per UTC day, and a ban the
 * provider imposed (Retry-After, a daily 429, an exchange's ban) with its
 * end time. Every process sharing the database draws from the same
 * budget: a take is atomic, so of two takers of the last token exactly
 * one gets it.
 */
struct rate_budget {
    const char *source;
    int64_t window_ms;  /* the sliding window, 61,000 for a per-minute limit (margin included) */
    int64_t period_ms;  /* the provider's window, without the margin; 0: a minute */
    int64_t per_window; /* requests allowed in any window (>= 1) */
    int64_t per_day;    /* requests allowed per UTC day; 0: no daily limit */
};

/* What keeps a take from succeeding. */
enum rate_refusal {
    RATE_FREE,   /* nothing: granted (or would be) */
    RATE_BANNED, /* the provider's ban is in force */
    RATE_DAY,    /* the daily quota is used up */
    RATE_WINDOW, /* the window is full */
};
const char *rate_refusal_name(enum rate_refusal r);

#define RATE_REASON_MAX 96

/* A budget as one take (or a look) found it at `now_ms`. */
struct rate_state {
    bool granted;              /* store_rate_take(): a token was taken */
    enum rate_refusal refusal; /* RATE_FREE when granted or grantable */
    int64_t retry_at_ms;       /* refused: the earliest time a take can succeed */
    int64_t window_used;       /* requests in the window ending now, a grant included */
    int64_t day_used;          /* requests this UTC day, a grant included */
    int64_t banned_until_ms;   /* a ban in force at now, else 0 */
    char ban_reason[RATE_REASON_MAX];
};

/*
 * Take one token of budget `b` at `now_ms` if the budget has one: no ban
 * in force, the day's count below per_day, fewer than per_window requests
 * sent in (now - window, now]. The request is then logged as sent at
 * `now_ms`. Atomic across connections and processes (a write transaction
 * on SQLite, a row lock on PostgreSQL); joins the caller's transaction if
 * there is one. Returns 0 whether or not a token was granted (see
 * out->granted); an error only when the database failed.
 */
int store_rate_take(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err);
/* As store_rate_take() without taking anything or locking (for /health and /metrics). */
int store_rate_peek(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err);
/*
 * Ban `source` until `until_ms` with `reason` (cut to RATE_REASON_MAX - 1
 * bytes). A ban never shortens one in force: the later end wins.
 */
int store_rate_ban(struct store *st, const char *source, int64_t until_ms, const char *reason,
                   int64_t now_ms, struct strbuf *err);

/*
 * The circuit breaker of each provider key (a source name) as the process
 * holding it last recorded it: the guard (resilience/guard.h) writes a row
 * on every transition, so that a command reading the database reports the
 * circuit the daemon sees, and a daemon starting up can take the state
 * back (an open circuit stays open across a restart until its retry time).
 * The state is stored by the names of resilience/breaker.h ("closed",
 * "half_open", "open"); the store does not interpret it.
 */
struct breaker_row {
    char *source;
    char *state;
    int64_t failures;     /* consecutive failed calls counted */
    int64_t opened_at_ms; /* when it last opened (Unix ms); 0: never */
    int64_t retry_at_ms;  /* open: when the next probe may go (Unix ms); 0: none */
    int64_t updated_ms;   /* when this was recorded (Unix ms) */
    char *instance;       /* the process that recorded it; "" unknown */
};
/* Free the strings of `r` and zero it. Takes NULL. */
void breaker_row_release(struct breaker_row *r);
/* Release `n` rows and the array. Takes NULL. */
void breaker_rows_free(struct breaker_row *v, size_t n);

/*
 * Record `r` as the state of the breaker of r->source, replacing what was
 * recorded before (the last write wins: transitions of one breaker are
 * written by the process holding it, in order). NULL strings are "".
 */
int store_breaker_put(struct store *st, const struct breaker_row *r, struct strbuf *err);
/*
 * As store_breaker_put() when nothing is recorded for r->source; else
 * nothing changes. `*added` (may be NULL) says which.
 */
int store_breaker_add(struct store *st, const struct breaker_row *r, bool *added,
                      struct strbuf *err);
/* The row of `source`; CK_ENOTFOUND when nothing was recorded. Release `out` on success. */
int store_breaker_get(struct store *st, const char *source, struct breaker_row *out,
                      struct strbuf *err);
/* Every row, by source. Free with breaker_rows_free(). */
int store_breaker_list(struct store *st, struct breaker_row **out, size_t *n, struct strbuf *err);

/*
 * The health of each series the refresh jobs fetch, kept across restarts:
 * consecutive failures (a series failing `symbol_skip_after` times in a
 * row is skipped and only probed now and then), the cycles skipped since
 * the last attempt, the last error, and whether the series is waiting for
 * the rate budget. A series has a row once something happened to it.
 */
struct series_state {
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t streak;         /* consecutive failed fetches */
    int64_t skipped;        /* refresh cycles skipped since the last attempt */
    char *last_error;       /* "" when none */
    int64_t last_failure;   /* Unix s; 0 none */
    int64_t last_success;   /* Unix s; 0 none */
    int64_t deferred_since; /* waiting for the rate budget since (Unix s); 0: not waiting */
    char *deferred_reason;  /* "" when not waiting */
    int64_t updated_at;     /* Unix s */
};
void series_state_release(struct series_state *s);
void series_states_free(struct series_state *v, size_t n);

/* What happened to a series in a refresh cycle. */
enum series_event {
    SERIES_OK,       /* fetched: streak, skips and deferral cleared */
    SERIES_FAILED,   /* an attempt failed: streak + 1, skips cleared, the error kept */
    SERIES_SKIPPED,  /* not attempted because of its streak: skips + 1 */
    SERIES_DEFERRED, /* not attempted for want of budget: deferred since (kept if set) */
};

/*
 * Record `event` for series `k` at `now` (Unix s); `message` is the error
 * or the reason for a deferral (NULL: ""). `out` (may be NULL) gets the
 * row after; release it with series_state_release().
 */
int store_series_record(struct store *st, const struct series_key *k, enum series_event event,
                        const char *message, int64_t now, struct series_state *out,
                        struct strbuf *err);
/* The row of `k`; CK_ENOTFOUND when it has none. */
int store_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                           struct strbuf *err);
/* Every row (of `source` only, when not NULL), by source, symbol, timeframe. */
int store_series_state_list(struct store *st, const char *source, struct series_state **out,
                            size_t *n, struct strbuf *err);

#endif
