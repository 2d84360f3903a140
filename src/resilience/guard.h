/* SPDX-License-Identifier: MIT */
#ifndef CK_RESILIENCE_GUARD_H
#define CK_RESILIENCE_GUARD_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

struct breaker;
struct metrics;
struct retry_clock;
struct retry_policy;
struct strbuf;

/*
 * A guarded call to a provider: every attempt passes the provider's
 * circuit breaker, then takes a token of its rate budget, then goes out;
 * failures are retried by the retry policy, and a wait the provider asks
 * for is stored as a ban that every caller respects. Nothing waits past
 * the deadline: what cannot be sent in time is deferred.
 *
 * Attempt by attempt:
 *   breaker open          -> fail fast (nothing sent)        GUARD_REJECTED
 *   no token before the deadline -> nothing sent             GUARD_DEFERRED
 *   the call fails        -> its Retry-After stored as a ban; retried if retryable
 *   rate limited to the end -> the provider's own refusal     GUARD_DEFERRED
 *
 * With a store, every transition of the breaker (closed -> open, open ->
 * half-open, half-open -> closed or open again) is recorded there
 * (store_breaker_put()) as it happens, for every other process to report.
 */
struct guard {
    const char *operation;             /* e.g. "fetch:twelvedata": messages, retries_total */
    const char *source;                /* the provider key (budget and bans) */
    struct store *store;               /* MUST when `budget` is set */
    const struct rate_budget *budget;  /* NULL: calls are not rate limited */
    bool budget_nowait;                /* no token free now: deferred at once, without waiting */
    struct breaker *breaker;           /* NULL: no circuit breaker */
    const char *instance;              /* recorded with the breaker's transitions; NULL: "" */
    const struct retry_policy *policy; /* MUST */
    const struct retry_clock *clock;   /* MUST */
    int64_t deadline_ms;               /* Unix ms; 0: none */
    int64_t reserve_ms;                /* kept free before the deadline for the call itself */
    struct metrics *metrics;           /* may be NULL */
};

/* What one call says about its answer, for retries, bans and the breaker. */
struct guard_reply {
    long status;             /* HTTP status, or the status the provider's own error code stands
                                for (Twelve Data sends 429 bodies with HTTP 200); 0: no answer */
    int64_t retry_after;     /* seconds the provider asked to wait; -1: none */
    const char *wait_reason; /* why it asked (kept with the ban); NULL: said from the status */
};

/*
 * The call itself, made at `now_ms`: 0 on success, or a negative CK_E*
 * with the reason in `err`. `out` starts as {0, -1, NULL}.
 */
typedef int guard_call_fn(void *arg, int64_t now_ms, struct guard_reply *out, struct strbuf *err);

enum guard_outcome {
    GUARD_OK,       /* the call succeeded */
    GUARD_FAILED,   /* it failed, after the retries the policy allows or at once if not retryable */
    GUARD_DEFERRED, /* no request could go out in time for want of budget, or the provider
                       asked to wait past the deadline */
    GUARD_REJECTED, /* the circuit breaker is open: nothing was sent */
    GUARD_STOPPED,  /* the caller is stopping (shutdown) */
    GUARD_STORE,    /* the database failed: the budget could not be taken or the ban kept */
};
/* "ok", "failed", "deferred", "rejected", "stopped", "store". */
const char *guard_outcome_name(enum guard_outcome o);

struct guard_report {
    enum guard_outcome outcome;
    int sent;            /* requests that went out */
    int attempts;        /* attempts, including those that sent nothing */
    int64_t retry_at_ms; /* DEFERRED: when a request may go again; REJECTED: next probe */
    bool has_budget;     /* `budget` holds the last take's view */
    struct rate_state budget;
};

/*
 * Make the call under `g`. Returns 0, or the last failure's code with a
 * message naming the operation, attempts and last error (see retry_run());
 * `out` says which of the outcomes above it was. Thread-safe as far as the
 * breaker and the store connection are: one store per thread.
 */
int guard_call(const struct guard *g, guard_call_fn *fn, void *arg, struct guard_report *out,
               struct strbuf *err);

#endif
