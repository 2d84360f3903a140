/* SPDX-License-Identifier: MIT */
/*
 * Waiting for the rate budget, and the order of work when the budget is
 * short (see ratelimit.h).
 *
 * The budget lives in the database (store_rate_take()), so that a CLI job
 * run, the daemon's jobs and other daemons on the same PostgreSQL draw
 * from one budget and a restart forgets nothing. Each take is one short
 * write transaction; a refused take says when a token will be free (the
 * oldest request leaving the minute window, the next UTC day, the end of
 * a ban), and the caller sleeps until then and takes again rather than
 * holding a lock while it waits, since another process may take that
 * token first. A wait that would end past the deadline is not started:
 * the request is deferred, and the message says what refused it and for
 * how long, which is what /health and the job's history show.
 */
#include "resilience/ratelimit.h"

#include "resilience/retry.h"
#include "util/config.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void ratelimit_budget(struct rate_budget *out, const char *source, int64_t per_minute,
                      int64_t per_day)
{
    ratelimit_budget_window(out, source, RATELIMIT_WINDOW_MS, per_minute, per_day);
}

void ratelimit_budget_window(struct rate_budget *out, const char *key, int64_t window_ms,
                             int64_t per_window, int64_t per_day)
{
    int64_t margin;

    if (window_ms <= 0)
        window_ms = RATELIMIT_WINDOW_MS;
    /* A second on a minute, proportionally less on shorter windows. */
    margin = window_ms * RATELIMIT_MARGIN_MS / RATELIMIT_WINDOW_MS;
    out->source = key;
    out->period_ms = window_ms;
    out->window_ms = window_ms + (margin > 0 ? margin : 1);
    out->per_window = per_window > 0 ? per_window : 1;
    out->per_day = per_day > 0 ? per_day : 0;
}

void ratelimit_window_name(const struct rate_budget *b, struct strbuf *out)
{
    int64_t ms = b->period_ms ? b->period_ms : RATELIMIT_WINDOW_MS;

    if (ms == RATELIMIT_WINDOW_MS)
        strbuf_addstr(out, "minute");
    else if (ms % 1000)
        strbuf_addf(out, "%lldms", (long long)ms);
    else
        config_format_duration(ms / 1000, out);
}

void ratelimit_describe(const struct rate_budget *b, const struct rate_state *s, int64_t now_ms,
                        struct strbuf *sb)
{
    char when[TIME_BUFSZ];
    double wait = (double)(s->retry_at_ms > now_ms ? s->retry_at_ms - now_ms : 0) / 1000.0;
    struct strbuf window = STRBUF_INIT;

    ratelimit_window_name(b, &window);
    switch (s->refusal) {
    case RATE_FREE:
        strbuf_addf(sb, "a token is free (%lld of %lld used in the last %s)",
                    (long long)s->window_used, (long long)b->per_window, window.buf);
        break;
    case RATE_BANNED:
        time_format_iso8601(s->banned_until_ms / 1000, when);
        strbuf_addf(sb, "the provider asked to wait until %s (%s)", when,
                    *s->ban_reason ? s->ban_reason : "no reason given");
        break;
    case RATE_DAY:
        strbuf_addf(sb,
                    "the daily quota of %lld requests is used up (it resets at 00:00 UTC, in "
                    "%.0fs)",
                    (long long)b->per_day, wait);
        break;
    case RATE_WINDOW:
        strbuf_addf(sb,
                    "%lld of %lld requests of the last %s are used (a token is free in "
                    "%.1fs)",
                    (long long)s->window_used, (long long)b->per_window, window.buf, wait);
        break;
    }
    strbuf_release(&window);
}

int ratelimit_acquire(struct store *st, const struct rate_budget *b,
                      const struct retry_clock *clock, int64_t deadline_ms, struct rate_state *out,
                      struct strbuf *err)
{
    for (;;) {
        int64_t now = clock->now_ms(clock->arg);
        int rc = store_rate_take(st, b, now, out, err);

        if (rc)
            return rc;
        if (out->granted)
            return 0;
        if (deadline_ms && out->retry_at_ms > deadline_ms) {
            strbuf_addf(err, "%s: request deferred: ", b->source);
            ratelimit_describe(b, out, now, err);
            strbuf_addstr(err, ", past the job's deadline");
            return CK_ELIMIT;
        }
        if (!retry_wait_until(clock, out->retry_at_ms)) {
            strbuf_addf(err, "%s: stopped while waiting for the rate budget", b->source);
            return CK_ETIMEDOUT;
        }
    }
}

double ratelimit_urgency(enum timeframe tf, bool has_latest, int64_t latest, int64_t now)
{
    int64_t period = timeframe_seconds(tf);

    if (!has_latest)
        return INFINITY;
    return (double)(now - (latest + period)) / (double)period;
}

static int item_cmp(const void *a, const void *b)
{
    const struct ratelimit_item *x = a, *y = b;

    if (x->urgency != y->urgency)
        return x->urgency > y->urgency ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

void ratelimit_order(struct ratelimit_item *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), item_cmp);
}
