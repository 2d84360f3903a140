/* SPDX-License-Identifier: MIT */
/*
 * The guarded call (see guard.h): breaker, budget, call, retry, in that
 * order for every attempt.
 *
 * Order. The breaker is asked first, so that a provider known to be down
 * costs neither a token of the budget nor a database round trip. The
 * token is taken next, immediately before the request, so that a token
 * stands for a request that really went out (the budget counts what the
 * provider counts). A probe that then finds no token is handed back to
 * the breaker unused, and the next caller probes.
 *
 * What counts against the breaker. Only answers that say the provider is
 * not working: no answer (network, timeout), 5xx, 408, a body that cannot
 * be understood. A 4xx (an unknown symbol, a refused key) and a 429 are
 * answers of a working provider; counting them would open the breaker for
 * every symbol because of one bad symbol, or because of our own rate.
 *
 * Waits. A provider's wait instruction (Retry-After, "wait for the next
 * minute", "come back tomorrow") is stored as a ban on the budget before
 * anything else happens, so that every other caller, thread and process
 * respects it too, and a restart does not walk back into it; the retry
 * loop then waits for it like any other delay, within the deadline. A
 * call still rate limited when the retries end is a deferral, not a
 * failure of the series: it will be fetched when the budget allows.
 *
 * Breaker transitions are logged here, once per transition, because this
 * is where they are noticed; errors are returned, never logged. For the
 * same reason they are recorded in the database here (when the guard has
 * a store), so that `candlekeep status` and every other process report
 * the circuit this one sees. That record is a report, not part of the
 * call: a failure to write it is logged as a warning and the call goes on
 * (its own outcome is what the caller decides on), and the next
 * transition writes the whole state again.
 */
#include "resilience/guard.h"

#include "resilience/breaker.h"
#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <string.h>

#include "util/banned.h"

const char *guard_outcome_name(enum guard_outcome o)
{
    switch (o) {
    case GUARD_OK:
        return "ok";
    case GUARD_FAILED:
        return "failed";
    case GUARD_DEFERRED:
        return "deferred";
    case GUARD_REJECTED:
        return "rejected";
    case GUARD_STOPPED:
        return "stopped";
    case GUARD_STORE:
        return "store";
    }
    return "unknown";
}

struct attempt_ctx {
    const struct guard *g;
    guard_call_fn *fn;
    void *arg;
    int64_t wait_deadline_ms; /* waits must end by then (0: none) */
    struct guard_report *report;
    bool decided;      /* an attempt set report->outcome itself */
    bool rate_limited; /* the last answer was a rate limit (429, 418) */
};

static bool is_failure_for_breaker(int rc, long status)
{
    if (!rc)
        return false;
    return !(status >= 400 && status <= 499 && status != 408);
}

static void note_transition(const struct guard *g, enum breaker_state state, int64_t now_ms)
{
    struct breaker_info bi;

    breaker_info(g->breaker, now_ms, &bi);
    if (state == BREAKER_OPEN)
        log_warn("%s: circuit opened after %d consecutive failures; next probe in %.0fs",
                 breaker_name(g->breaker), bi.failures,
                 (double)(bi.next_probe_ms - now_ms) / 1000.0);
    else if (state == BREAKER_CLOSED)
        log_info("%s: circuit closed: the probe succeeded", breaker_name(g->breaker));
}

/* Record the breaker's state as it is after a transition at `now_ms`. */
static void keep_circuit(const struct guard *g, int64_t now_ms)
{
    struct strbuf why = STRBUF_INIT;
    struct breaker_info bi;
    struct breaker_row row;

    if (!g->store)
        return;
    breaker_info(g->breaker, now_ms, &bi);
    row = (struct breaker_row){
        .source = (char *)g->source,
        .state = (char *)breaker_state_name(bi.state),
        .failures = bi.failures,
        .opened_at_ms = bi.opened_at_ms,
        /* Half-open: when it turned so, which keeps the recovery time for a restore. */
        .retry_at_ms = bi.state == BREAKER_CLOSED ? 0 : bi.opened_at_ms + bi.recovery_ms,
        .updated_ms = now_ms,
        .instance = (char *)(g->instance ? g->instance : ""),
    };
    if (store_breaker_put(g->store, &row, &why))
        log_warn("%s: the circuit's state could not be recorded: %s", breaker_name(g->breaker),
                 why.buf);
    strbuf_release(&why);
}

static void decide(struct attempt_ctx *c, enum guard_outcome o, int64_t retry_at_ms)
{
    c->decided = true;
    c->report->outcome = o;
    c->report->retry_at_ms = retry_at_ms;
}

/* Store the provider's wait instruction as a ban on the budget. */
static int keep_wait(struct attempt_ctx *c, const struct guard_reply *reply, int64_t now_ms,
                     struct strbuf *err)
{
    const struct guard *g = c->g;
    struct strbuf reason = STRBUF_INIT, why = STRBUF_INIT;
    int rc;

    if (reply->wait_reason && *reply->wait_reason)
        strbuf_addstr(&reason, reply->wait_reason);
    else
        strbuf_addf(&reason, "Retry-After %llds (HTTP %ld)", (long long)reply->retry_after,
                    reply->status);
    rc = store_rate_ban(g->store, g->budget ? g->budget->source : g->source,
                        now_ms + reply->retry_after * 1000, reason.buf, now_ms, &why);
    if (rc) {
        strbuf_addf(err, "; the provider's wait could not be stored: %s", why.buf);
        decide(c, GUARD_STORE, 0);
    }
    strbuf_release(&reason);
    strbuf_release(&why);
    return rc;
}

static int attempt(void *arg, int n, struct retry_verdict *verdict, struct strbuf *err)
{
    struct attempt_ctx *c = arg;
    const struct guard *g = c->g;
    const struct retry_clock *clock = g->clock;
    struct guard_reply reply = {.status = 0, .retry_after = -1, .wait_reason = NULL};
    enum breaker_pass pass = BREAKER_ADMITTED;
    enum breaker_state state;
    int64_t now = clock->now_ms(clock->arg);
    int rc;

    (void)n;
    c->report->attempts++;
    if (g->breaker) {
        int64_t probe_at = 0;
        pass = breaker_allow(g->breaker, now, &probe_at);
        if (pass == BREAKER_REJECTED) {
            strbuf_addf(err,
                        "%s: circuit open after repeated failures: not sent (next probe in "
                        "%.0fs)",
                        g->operation, (double)(probe_at > now ? probe_at - now : 0) / 1000.0);
            decide(c, GUARD_REJECTED, probe_at);
            return CK_EUPSTREAM;
        }
        if (pass == BREAKER_PROBE) {
            log_info("%s: circuit half-open: this request is the probe", breaker_name(g->breaker));
            keep_circuit(g, now);
        }
    }
    if (g->budget) {
        /* Without waiting, a token must be free now: the deadline is now. */
        rc = ratelimit_acquire(g->store, g->budget, clock,
                               g->budget_nowait ? now : c->wait_deadline_ms, &c->report->budget,
                               err);
        c->report->has_budget = true;
        if (rc) {
            if (g->breaker)
                breaker_record(g->breaker, pass, BREAKER_UNUSED, now, NULL);
            decide(c,
                   rc == CK_ELIMIT      ? GUARD_DEFERRED
                   : rc == CK_ETIMEDOUT ? GUARD_STOPPED
                                        : GUARD_STORE,
                   c->report->budget.retry_at_ms);
            return rc;
        }
        now = clock->now_ms(clock->arg);
    }

    rc = c->fn(c->arg, now, &reply, err);
    c->report->sent++;
    now = clock->now_ms(clock->arg);
    if (g->breaker &&
        breaker_record(g->breaker, pass,
                       is_failure_for_breaker(rc, reply.status) ? BREAKER_FAILURE : BREAKER_SUCCESS,
                       now, &state)) {
        note_transition(g, state, now);
        keep_circuit(g, now);
    }
    if (!rc) {
        c->rate_limited = false;
        return 0;
    }
    c->rate_limited = reply.status == 429 || reply.status == 418;
    if (reply.retry_after >= 0) {
        verdict->wait_ms = reply.retry_after * 1000;
        if (g->store && keep_wait(c, &reply, now, err))
            return rc;
        if (c->rate_limited)
            c->report->retry_at_ms = now + reply.retry_after * 1000;
    }
    verdict->retryable = retry_is_retryable(rc, reply.status);
    return rc;
}

int guard_call(const struct guard *g, guard_call_fn *fn, void *arg, struct guard_report *out,
               struct strbuf *err)
{
    struct guard_report report;
    struct attempt_ctx c = {.g = g, .fn = fn, .arg = arg, .report = &report};
    struct retry_env env = {
        .operation = g->operation,
        .clock = g->clock,
        .metrics = g->metrics,
    };
    int rc;

    memset(&report, 0, sizeof(report));
    if (g->deadline_ms) {
        c.wait_deadline_ms = g->deadline_ms - (g->reserve_ms > 0 ? g->reserve_ms : 0);
        /* 0 would mean "no deadline". */
        if (c.wait_deadline_ms == 0)
            c.wait_deadline_ms = -1;
    }
    env.deadline_ms = c.wait_deadline_ms;
    rc = retry_run(g->policy, &env, attempt, &c, NULL, err);
    if (!rc)
        report.outcome = GUARD_OK;
    else if (!c.decided)
        report.outcome = c.rate_limited ? GUARD_DEFERRED : GUARD_FAILED;
    if (out)
        *out = report;
    return rc;
}
