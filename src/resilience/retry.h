/* SPDX-License-Identifier: MIT */
#ifndef CK_RESILIENCE_RETRY_H
#define CK_RESILIENCE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* [retry]: the policy of outbound calls, as configured (seconds). */
struct retry_settings {
    int64_t max_retries;
    int64_t base_delay; /* seconds */
    int64_t max_delay;  /* seconds */
};

struct metrics;
struct strbuf;

/*
 * Retries of outbound calls (providers now; alert channels and webhooks
 * later): exponential backoff with jitter, a provider's own wait
 * instruction taking precedence, and never a wait that ends past the
 * caller's deadline.
 *
 * Nothing here reads the clock, sleeps or draws random numbers by itself:
 * a `struct retry_clock` supplies all three, so tests run a whole retry
 * sequence in microseconds with a fake clock.
 */

/* From [retry]: max_retries, base_delay, max_delay (MAX_RETRIES, RETRY_DELAY_SECONDS). */
struct retry_policy {
    int max_retries; /* attempts after the first; 0: a single attempt */
    int64_t base_ms; /* the computed delay before the first retry */
    int64_t max_ms;  /* cap of a computed delay, before jitter */
};

/*
 * The delay before retry number `attempt` + 1 (attempt 0 is the wait after
 * the first failure): min(base * 2^attempt, max), plus a jitter of 0 to 10%
 * of that, chosen by `random` (any 64-bit value; uniform in, uniform out).
 * Never negative; overflow saturates at the cap.
 */
int64_t retry_delay_ms(const struct retry_policy *p, int attempt, uint64_t random);

/*
 * Is a failed call worth another attempt? `rc` is its CK_E* code and
 * `status` the HTTP status of the answer or, when the provider reports
 * errors in the body, the status its error code stands for (0: no answer).
 * Yes for network errors and timeouts (no answer), 5xx, 408 and 429; no
 * for other 4xx, for malformed content (CK_EPARSE), for a body over the
 * size cap and for success.
 */
bool retry_is_retryable(int rc, long status);

/*
 * Time, sleep and randomness for code that waits. `now_ms` and `sleep_ms`
 * are mandatory; `random` may be NULL (the kernel's getrandom() is used).
 * sleep_ms() may return early; it returns false when the caller should
 * stop waiting altogether (shutdown), true otherwise.
 */
struct retry_clock {
    int64_t (*now_ms)(void *arg);
    bool (*sleep_ms)(void *arg, int64_t ms);
    uint64_t (*random)(void *arg);
    void *arg;
};

/* A random 64-bit value from `clock` (its `random`, else getrandom()). */
uint64_t retry_random(const struct retry_clock *clock);

/*
 * Sleep through `clock` until its time is `until_ms` (at once when that
 * has passed). False when the clock's sleep said stop.
 */
bool retry_wait_until(const struct retry_clock *clock, int64_t until_ms);

/* Where a retry loop runs. */
struct retry_env {
    const char *operation;           /* e.g. "fetch:twelvedata": messages and the metric label */
    int64_t deadline_ms;             /* no wait may end after this (Unix ms); 0: none */
    const struct retry_clock *clock; /* MUST */
    struct metrics *metrics;         /* retries_total{operation}; may be NULL */
};

/* How one attempt went, as the attempt function judges it. */
struct retry_verdict {
    bool retryable;  /* another attempt may succeed (see retry_is_retryable()) */
    int64_t wait_ms; /* the other side's own wait instruction, -1 for none */
};

/*
 * One attempt (`attempt` counts from 0). Returns 0 on success, or a
 * negative CK_E* with the reason in `err` and `out` filled in (it starts
 * as {false, -1}).
 */
typedef int retry_attempt_fn(void *arg, int attempt, struct retry_verdict *out, struct strbuf *err);

/* What a retry loop did. */
struct retry_stats {
    int attempts;         /* attempts made */
    bool exhausted;       /* stopped because max_retries were used up */
    bool deadline;        /* stopped because the next wait would end past the deadline */
    bool interrupted;     /* stopped because the clock's sleep said stop */
    int64_t next_wait_ms; /* with `deadline`: the wait that did not fit */
};

/*
 * Run `fn` until it succeeds, fails in a way that is not retryable, or the
 * policy, the deadline or the clock says stop. Between attempts it waits
 * the attempt's own instruction when it gave one, else retry_delay_ms(),
 * and counts one retry in retries_total{operation}.
 *
 * Returns 0, or the last attempt's code with a message in `err` that
 * names the operation, the number of attempts and the last error (an
 * exhausted retry: "OP: gave up after N attempts: ERR"; a wait that would
 * pass the deadline: "OP: retry budget exceeds the job's deadline (next
 * wait Ws, Ls left) after N attempts: ERR"). A failure of the first and
 * only attempt is passed on as it is. `out` may be NULL.
 */
int retry_run(const struct retry_policy *p, const struct retry_env *env, retry_attempt_fn *fn,
              void *arg, struct retry_stats *out, struct strbuf *err);

#endif
