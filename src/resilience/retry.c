/* SPDX-License-Identifier: MIT */
/*
 * Retries with exponential backoff and jitter (see retry.h).
 *
 * The delay before retry k+1 is min(base * 2^k, max) plus a jitter of up
 * to a tenth of it, so that clients that failed together (every series of
 * a provider that went down at once) do not come back in lockstep. A wait
 * instruction from the other side (Retry-After, a "wait for the next
 * minute" rate limit) replaces the computed delay: the provider knows when
 * it will answer again, and guessing shorter only earns another refusal.
 *
 * A retry loop never starts a wait that would end past its deadline: a
 * scheduled job has a timeout, and a job abandoned by the scheduler in the
 * middle of a sleep would leave its run unrecorded. It gives up at once
 * instead, saying so, which leaves the rest of the job's time to the
 * series after it.
 *
 * Only the last attempt's message is kept; the final message adds the
 * operation and the number of attempts, which is what an operator needs
 * to tell a flapping provider from a dead one.
 */
#include "resilience/retry.h"

#include "util/error.h"
#include "util/metrics.h"
#include "util/strbuf.h"

#include <sys/random.h>

#include "util/banned.h"

#define RETRIES_METRIC "retries_total"

int64_t retry_delay_ms(const struct retry_policy *p, int attempt, uint64_t random)
{
    int64_t d, jitter, cap = p->max_ms > 0 ? p->max_ms : 0;
    uint64_t permille = random % 1001; /* 0..1000: 0% to 10% in tenths of a percent */

    if (p->base_ms <= 0 || attempt < 0)
        d = 0;
    else if (attempt >= 62 || p->base_ms > (INT64_MAX >> attempt))
        d = cap;
    else
        d = p->base_ms << attempt;
    if (d > cap)
        d = cap;
    if (d <= INT64_MAX / 1001)
        jitter = (int64_t)((uint64_t)d * permille / 10000);
    else
        jitter = (d / 10000) * (int64_t)permille;
    return d > INT64_MAX - jitter ? INT64_MAX : d + jitter;
}

bool retry_is_retryable(int rc, long status)
{
    if (!rc)
        return false;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return true;
    if (status >= 400 && status <= 499)
        return false;
    /* No usable status: the transport decides. */
    return rc == CK_EUPSTREAM || rc == CK_ETIMEDOUT;
}

uint64_t retry_random(const struct retry_clock *clock)
{
    uint64_t v = 0;

    if (clock && clock->random)
        return clock->random(clock->arg);
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    /* No entropy yet (early boot): any spread is better than none. */
    v = (uint64_t)(clock ? clock->now_ms(clock->arg) : 0) * 0x9E3779B97F4A7C15ULL;
    return v ^ (v >> 29);
}

bool retry_wait_until(const struct retry_clock *c, int64_t until_ms)
{
    for (;;) {
        int64_t now = c->now_ms(c->arg);
        if (now >= until_ms)
            return true;
        if (!c->sleep_ms(c->arg, until_ms - now))
            return false;
    }
}

int retry_run(const struct retry_policy *p, const struct retry_env *env, retry_attempt_fn *fn,
              void *arg, struct retry_stats *out, struct strbuf *err)
{
    const struct retry_clock *clock = env->clock;
    const char *op = env->operation && *env->operation ? env->operation : "call";
    int max = p->max_retries > 0 ? p->max_retries : 0;
    struct retry_stats st = {0};
    struct strbuf last = STRBUF_INIT, labels = STRBUF_INIT;
    int rc;

    for (int attempt = 0;; attempt++) {
        struct retry_verdict v = {.retryable = false, .wait_ms = -1};
        int64_t wait, now;

        strbuf_reset(&last);
        rc = fn(arg, attempt, &v, &last);
        st.attempts++;
        if (!rc)
            break;
        if (!v.retryable) {
            if (st.attempts == 1)
                strbuf_addbuf(err, &last);
            else
                strbuf_addf(err, "%s: failed after %d attempts: %s", op, st.attempts, last.buf);
            break;
        }
        if (attempt >= max) {
            st.exhausted = true;
            if (st.attempts == 1)
                strbuf_addbuf(err, &last);
            else
                strbuf_addf(err, "%s: gave up after %d attempts: %s", op, st.attempts, last.buf);
            break;
        }
        wait = v.wait_ms >= 0 ? v.wait_ms : retry_delay_ms(p, attempt, retry_random(clock));
        now = clock->now_ms(clock->arg);
        if (env->deadline_ms && now + wait > env->deadline_ms) {
            int64_t left = env->deadline_ms - now;
            st.deadline = true;
            st.next_wait_ms = wait;
            strbuf_addf(err,
                        "%s: retry budget exceeds the job's deadline (next wait %.1fs, %.1fs "
                        "left) after %d attempt%s: %s",
                        op, (double)wait / 1000.0, (double)(left > 0 ? left : 0) / 1000.0,
                        st.attempts, st.attempts == 1 ? "" : "s", last.buf);
            break;
        }
        if (!labels.len)
            metrics_labels(&labels, "operation", op, NULL);
        metrics_add(env->metrics, RETRIES_METRIC, labels.buf, 1);
        if (!retry_wait_until(clock, now + wait)) {
            st.interrupted = true;
            strbuf_addf(err, "%s: stopped while waiting to retry, after %d attempt%s: %s", op,
                        st.attempts, st.attempts == 1 ? "" : "s", last.buf);
            break;
        }
    }
    if (out)
        *out = st;
    strbuf_release(&last);
    strbuf_release(&labels);
    return rc;
}
