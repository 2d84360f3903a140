/* SPDX-License-Identifier: MIT */
/*
 * The refresh of a feed's series in one timeframe (see refresh.h), shared
 * by the scheduled job and `candlekeep fetch`.
 *
 * A source adapter is opened for the refresh (an adapter owns an HTTP
 * handle and is not shared between threads), and the series are fetched
 * one by one through ingest_series(), whose fetch hook is feed_fetch():
 * the feed's circuit breaker, a token of its rate budget (shared through
 * the database by every job, command and instance), and the retry policy,
 * within the caller's deadline.
 *
 * Order. When a source has more series than its budget allows before the
 * deadline, what gets fetched first matters: the scheduled refresh takes
 * the series in order of urgency, the one whose newest candle is the
 * oldest relative to its timeframe first (a series with no candle at all
 * before any other). Once one request is deferred for want of budget, the
 * rest of the series are deferred too without asking again: the budget
 * will not have a token before the deadline for them either.
 *
 * Isolation. A series that fails is recorded (series_state) and the loop
 * goes on. A series that has failed `symbol_skip_after` times in a row is
 * skipped, and probed every `symbol_probe_every` cycles (streak.h). Calls
 * refused by an open circuit and deferrals are not failures of the
 * series: they say nothing about the symbol, and counting them would skip
 * every series of a provider that was down for an hour. A manual fetch
 * neither skips nor records: the user asked for the series.
 *
 * The database failing stops the refresh at once: every further series
 * would fail the same way.
 */
#include "ingest/refresh.h"

#include "ingest/derive.h"
#include "market/resample.h"
#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "resilience/streak.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

const char *series_outcome_name(enum series_outcome o)
{
    switch (o) {
    case SERIES_RUN_OK:
        return "ok";
    case SERIES_RUN_FAILED:
        return "failed";
    case SERIES_RUN_DEFERRED:
        return "deferred";
    case SERIES_RUN_SKIPPED:
        return "skipped";
    case SERIES_RUN_REJECTED:
        return "rejected";
    }
    return "unknown";
}

void refresh_result_release(struct refresh_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        strbuf_release(&r->v[i].message);
    free(r->v);
    r->v = NULL;
    r->n = r->alloc = 0;
    strbuf_release(&r->db_error);
}

void refresh_result_take(struct refresh_result *dst, struct refresh_result *src)
{
    for (size_t i = 0; i < src->n; i++) {
        ALLOC_GROW(dst->v, dst->n + 1, dst->alloc);
        dst->v[dst->n++] = src->v[i];
    }
    src->n = 0;
    if (src->db_failed && !dst->db_failed) {
        dst->db_failed = true;
        strbuf_reset(&dst->db_error);
        strbuf_addbuf(&dst->db_error, &src->db_error);
    }
    dst->stopped = dst->stopped || src->stopped;
}

/* Add `v` to the counter `name`{source}. */
static void count_source(struct metrics *m, const char *name, const char *source, double v)
{
    struct strbuf lb = STRBUF_INIT;

    if (!m)
        return;
    metrics_labels(&lb, "source", source, NULL);
    metrics_add(m, name, lb.buf, v);
    strbuf_release(&lb);
}

static void count_series(struct metrics *m, const struct series_run *r)
{
    struct strbuf lb = STRBUF_INIT;

    if (!m)
        return;
    metrics_labels(&lb, "source", r->source, "symbol", r->symbol, "timeframe",
                   timeframe_name(r->tf), NULL);
    metrics_add(m, "candles_ingested_total", lb.buf, (double)r->stats.stored);
    metrics_add(m, "candles_rejected_total", lb.buf, (double)r->stats.rejected);
    metrics_set(m, "gaps_open", lb.buf, (double)r->stats.gaps_open);
    strbuf_release(&lb);
}

static void count_error(struct metrics *m, const char *source, int rc)
{
    struct strbuf lb = STRBUF_INIT;

    if (!m)
        return;
    metrics_labels(&lb, "source", source, "kind", ck_strerror(rc), NULL);
    metrics_add(m, "fetch_errors_total", lb.buf, 1);
    strbuf_release(&lb);
}

/* The fetch hook of ingest_series(). */
struct hook {
    struct feed *feed;
    const struct feed_env *env;
    struct guard_report report; /* of the last fetch */
    bool called;
};

static int hooked_fetch(void *arg, struct source *src, const struct fetch_request *req,
                        struct fetch_result *res, struct strbuf *err)
{
    struct hook *h = arg;

    h->called = true;
    return feed_fetch(h->feed, src, h->env, req, res, &h->report, err);
}

/* One series of the feed, as the refresh sees it before fetching. */
struct series_plan {
    size_t symbol;           /* index in the feed's symbols */
    int64_t streak, skipped; /* from its series_state row; 0 without one */
};

/* What a refresh keeps while it goes through the series. */
struct run {
    struct feed *feed;
    const struct refresh_opts *o;
    struct refresh_result *out;
    struct series_plan *plan;
    struct ratelimit_item *items;
    size_t nplan;
    struct strbuf deferred_why; /* the reason the series after a deferral share */
    int64_t deferred_until_ms;
    bool budget_out;
};

static struct series_run *add(struct run *r, const char *symbol, enum series_outcome outcome)
{
    struct refresh_result *out = r->out;
    struct series_run *s;

    ALLOC_GROW(out->v, out->n + 1, out->alloc);
    s = &out->v[out->n++];
    memset(s, 0, sizeof(*s));
    s->source = feed_name(r->feed);
    s->symbol = symbol;
    s->tf = r->o->tf;
    s->outcome = outcome;
    strbuf_init(&s->message, 0);
    return s;
}

static void db_failed(struct run *r, const char *what)
{
    r->out->db_failed = true;
    strbuf_reset(&r->out->db_error);
    strbuf_addstr(&r->out->db_error, what);
    redact_message(&r->out->db_error);
}

/* Record `event` for a series (scheduled refreshes only); a database failure ends the refresh. */
static void record(struct run *r, const char *symbol, enum series_event event, const char *message)
{
    struct series_key key = {.source = feed_name(r->feed), .symbol = symbol, .tf = r->o->tf};
    struct strbuf err = STRBUF_INIT;

    if (r->o->scheduled &&
        store_series_record(r->o->env.store, &key, event, message, r->o->now, NULL, &err))
        db_failed(r, err.buf);
    strbuf_release(&err);
}

/*
 * Which series, in which order, with their failure streaks: every listed
 * symbol (or the one asked for); the scheduled refresh orders them by
 * urgency and reads the streaks.
 */
static int plan(struct run *r, struct strbuf *err)
{
    const struct feed_config *fc = feed_config(r->feed);
    const struct refresh_opts *o = r->o;

    r->plan = xcalloc(fc->nsymbols ? fc->nsymbols : 1, sizeof(*r->plan));
    r->items = xcalloc(fc->nsymbols ? fc->nsymbols : 1, sizeof(*r->items));
    for (size_t k = 0; k < fc->nsymbols; k++) {
        struct series_key key = {
            .source = feed_name(r->feed), .symbol = fc->symbols[k], .tf = o->tf};
        struct series_state ss;
        int64_t latest = 0;
        size_t n = r->nplan;
        int rc;

        if (o->symbol && strcmp(o->symbol, fc->symbols[k]))
            continue;
        r->nplan++;
        r->plan[n] = (struct series_plan){.symbol = k};
        r->items[n] = (struct ratelimit_item){.index = n};
        if (!o->scheduled)
            continue;
        rc = store_latest_time(o->env.store, &key, &latest, err);
        if (rc && rc != CK_ENOTFOUND)
            return rc;
        strbuf_reset(err);
        r->items[n].urgency = ratelimit_urgency(o->tf, rc == 0, latest, o->now);
        rc = store_series_state_get(o->env.store, &key, &ss, err);
        if (rc && rc != CK_ENOTFOUND)
            return rc;
        strbuf_reset(err);
        if (!rc) {
            r->plan[n].streak = ss.streak;
            r->plan[n].skipped = ss.skipped;
        }
        series_state_release(&ss);
    }
    if (o->scheduled)
        ratelimit_order(r->items, r->nplan);
    return 0;
}

static void defer(struct run *r, const char *symbol)
{
    struct series_run *s = add(r, symbol, SERIES_RUN_DEFERRED);

    s->rc = CK_ELIMIT;
    s->retry_at_ms = r->deferred_until_ms;
    strbuf_addbuf(&s->message, &r->deferred_why);
    count_source(r->o->env.metrics, "series_deferred_total", feed_name(r->feed), 1);
    record(r, symbol, SERIES_DEFERRED, r->deferred_why.buf);
}

/* False when the series was skipped for its failure streak. */
static bool take_series(struct run *r, const struct series_plan *p, const char *symbol)
{
    const struct feed_config *fc = feed_config(r->feed);
    enum streak_action action;

    if (!r->o->scheduled)
        return true;
    action = streak_decide(p->streak, p->skipped, fc->symbol_skip_after, fc->symbol_probe_every);
    if (action == STREAK_SKIP) {
        int64_t left = fc->symbol_probe_every - 1 - p->skipped;
        struct series_run *s = add(r, symbol, SERIES_RUN_SKIPPED);
        s->streak = p->streak;
        log_info("refresh: %s %s %s: skipped after %lld failures in a row (next probe in "
                 "%lld cycle%s)",
                 feed_name(r->feed), symbol, timeframe_name(r->o->tf), (long long)p->streak,
                 (long long)left, left == 1 ? "" : "s");
        count_source(r->o->env.metrics, "series_skipped_total", feed_name(r->feed), 1);
        record(r, symbol, SERIES_SKIPPED, NULL);
        return false;
    }
    if (action == STREAK_PROBE)
        log_info("refresh: %s %s %s: probing after %lld failures in a row", feed_name(r->feed),
                 symbol, timeframe_name(r->o->tf), (long long)p->streak);
    return true;
}

/* Sort out a failed ingest_series() of `symbol`. */
static void failed(struct run *r, const char *symbol, int rc, const struct hook *h,
                   const struct ingest_stats *st, struct strbuf *err)
{
    const struct feed_env *env = &r->o->env;
    struct series_run *s;

    if (st->store_failed || (h->called && h->report.outcome == GUARD_STORE)) {
        db_failed(r, err->buf);
        return;
    }
    switch (h->report.outcome) {
    case GUARD_DEFERRED:
        /*
         * No token in time: none for the series after it either. The
         * reason they share is the budget's state, not this series'
         * message (which names this series); a refusal by the provider
         * itself has only the message.
         */
        r->budget_out = true;
        r->deferred_until_ms = h->report.retry_at_ms;
        strbuf_reset(&r->deferred_why);
        if (!feed_describe_deferral(r->feed, &h->report, env->clock->now_ms(env->clock->arg),
                                    &r->deferred_why))
            strbuf_addbuf(&r->deferred_why, err);
        defer(r, symbol);
        return;
    case GUARD_STOPPED:
        r->out->stopped = true;
        return;
    case GUARD_REJECTED:
        s = add(r, symbol, SERIES_RUN_REJECTED);
        s->rc = rc;
        s->retry_at_ms = h->report.retry_at_ms;
        strbuf_addbuf(&s->message, err);
        count_source(env->metrics, "circuit_rejected_total", feed_name(r->feed), 1);
        return;
    default:
        break;
    }
    s = add(r, symbol, SERIES_RUN_FAILED);
    s->rc = rc;
    strbuf_addbuf(&s->message, err);
    count_error(env->metrics, feed_name(r->feed), rc);
    record(r, symbol, SERIES_FAILED, err->buf);
}

static void fetch_series(struct run *r, struct ingest_ctx *ic, struct hook *h, const char *symbol)
{
    struct strbuf err = STRBUF_INIT;
    struct ingest_stats st;
    int rc;

    h->called = false;
    memset(&h->report, 0, sizeof(h->report));
    memset(&st, 0, sizeof(st));
    /* A timeframe the source derives is built from a fetched one, never asked of the venue. */
    if (ic->derive && ic->derive->derived[r->o->tf])
        rc = derive_refresh(ic, symbol, r->o->tf, r->o->now, &st.stored, &err);
    else
        rc = ingest_series(ic, symbol, r->o->tf, r->o->now, &st, &err);
    redact_message(&err);
    if (!rc) {
        struct series_run *s = add(r, symbol, SERIES_RUN_OK);
        s->stats = st;
        count_series(r->o->env.metrics, s);
        record(r, symbol, SERIES_OK, NULL);
    } else {
        size_t before = r->out->n;
        failed(r, symbol, rc, h, &st, &err);
        /*
         * Pages before the failure were stored, and what was not fetched
         * yet may have opened a gap: the run reports both.
         */
        if (r->out->n > before)
            r->out->v[before].stats = st;
    }
    strbuf_release(&err);
}

/* Every series fails the same way when the adapter cannot be opened. */
static void all_failed(struct run *r, int rc, const struct strbuf *err)
{
    const struct feed_config *fc = feed_config(r->feed);

    for (size_t n = 0; n < r->nplan; n++) {
        struct series_run *s = add(r, fc->symbols[r->plan[n].symbol], SERIES_RUN_FAILED);
        s->rc = rc;
        strbuf_addf(&s->message, "%s: %s", feed_name(r->feed), err->buf);
    }
}

void ingest_refresh(struct feed *f, const struct refresh_opts *o, struct refresh_result *out)
{
    const struct feed_config *fc = feed_config(f);
    struct run r = {.feed = f, .o = o, .out = out, .deferred_why = STRBUF_INIT};
    struct strbuf err = STRBUF_INIT;
    struct source *source = NULL;
    struct hook h = {.feed = f, .env = &o->env};
    int rc;

    rc = plan(&r, &err);
    if (rc) {
        db_failed(&r, err.buf);
        goto out;
    }
    if (!o->source)
        rc = feed_source_open(f, &source, &err);
    if (rc) {
        all_failed(&r, rc, &err);
        goto out;
    }
    struct ingest_ctx ic = {
        .store = o->env.store,
        .source = o->source ? o->source : source,
        .source_name = feed_name(f),
        .cal = feed_calendar(f),
        .backfill = fc->backfill,
        .gap_window = o->gap_window,
        .refetch = o->refetch,
        .fetch = hooked_fetch,
        .fetch_arg = &h,
        .derive = fc->derive,
    };
    for (size_t n = 0; n < r.nplan && !out->db_failed && !out->stopped; n++) {
        const struct series_plan *p = &r.plan[r.items[n].index];
        const char *symbol = fc->symbols[p->symbol];

        if (o->should_stop && o->should_stop(o->stop_arg)) {
            out->stopped = true;
            break;
        }
        if (!take_series(&r, p, symbol))
            continue;
        if (r.budget_out)
            defer(&r, symbol);
        else
            fetch_series(&r, &ic, &h, symbol);
    }
out:
    source_free(source);
    free(r.plan);
    free(r.items);
    strbuf_release(&r.deferred_why);
    strbuf_release(&err);
}

size_t ingest_fetch(struct feed *const *feeds, size_t nfeeds, const struct fetch_selection *sel,
                    const struct refresh_opts *o, struct refresh_result *out)
{
    size_t selected = 0;

    for (size_t i = 0; i < nfeeds && !out->db_failed && !out->stopped; i++) {
        const struct feed_config *fc = feed_config(feeds[i]);

        if (!fc->enabled || (sel->source && strcmp(sel->source, feed_name(feeds[i]))) ||
            (sel->symbol && !feed_lists_symbol(feeds[i], sel->symbol)))
            continue;
        for (size_t j = 0; j < fc->ntimeframes && !out->db_failed && !out->stopped; j++) {
            struct refresh_opts one = *o;

            if (sel->has_tf && sel->tf != fc->timeframes[j])
                continue;
            one.tf = fc->timeframes[j];
            one.symbol = sel->symbol;
            selected += sel->symbol ? 1 : fc->nsymbols;
            ingest_refresh(feeds[i], &one, out);
        }
    }
    return selected;
}
