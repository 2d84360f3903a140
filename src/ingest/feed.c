/* SPDX-License-Identifier: MIT */
/*
 * Feeds (see feed.h): one per configured provider section, and the one
 * guarded path to a provider.
 *
 * The guard (resilience/guard.h) decides the order of breaker, budget,
 * request and retry; this file binds it to a provider: the call it makes
 * is one source_fetch(), and what the source says about the answer
 * (its status as the body states it, the wait it asked for and why) is
 * what the guard needs for retries, bans and the breaker.
 *
 * The breaker's transitions are recorded in the database by the guard;
 * feed_restore() takes the record back when a daemon starts.
 *
 * Ownership. The feed owns its calendar and breaker; its configuration and
 * the budget's source name are borrowed from the settings, which outlive
 * it. Nothing here keeps per-call state: a fetch's state is on the
 * caller's stack, so threads share a feed freely.
 */
#include "ingest/feed.h"

#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct feed {
    struct feed_config cfg;
    struct calendar *cal;
    struct breaker *breaker;
    struct rate_budget budget;
    struct strbuf operation; /* "fetch:NAME", for messages and retries_total */
};

int feed_open(struct feed **out, const struct feed_config *cfg, struct strbuf *err)
{
    struct feed *f = xcalloc(1, sizeof(*f));
    int rc;

    *out = NULL;
    f->cfg = *cfg;
    rc = calendar_open(&f->cal, cfg->calendar, cfg->holidays, cfg->nholidays, NULL, err);
    if (rc) {
        strbuf_addf(err, " (calendar of source '%s')", cfg->source.name);
        free(f);
        return rc;
    }
    f->breaker = breaker_new(cfg->source.name, &cfg->breaker);
    ratelimit_budget_window(&f->budget, cfg->budget_key ? cfg->budget_key : cfg->source.name,
                            cfg->rate_window_ms, cfg->rate_per_minute, cfg->daily_quota);
    strbuf_init(&f->operation, 0);
    strbuf_addf(&f->operation, "fetch:%s", cfg->source.name);
    *out = f;
    return 0;
}

void feed_free(struct feed *f)
{
    if (!f)
        return;
    calendar_free(f->cal);
    breaker_free(f->breaker);
    strbuf_release(&f->operation);
    free(f);
}

const char *feed_name(const struct feed *f)
{
    return f->cfg.source.name;
}

const struct feed_config *feed_config(const struct feed *f)
{
    return &f->cfg;
}

const struct calendar *feed_calendar(const struct feed *f)
{
    return f->cal;
}

struct breaker *feed_breaker(const struct feed *f)
{
    return f->breaker;
}

const struct rate_budget *feed_budget(const struct feed *f)
{
    return &f->budget;
}

bool feed_lists_timeframe(const struct feed *f, enum timeframe tf)
{
    for (size_t i = 0; i < f->cfg.ntimeframes; i++)
        if (f->cfg.timeframes[i] == tf)
            return true;
    return false;
}

bool feed_lists_symbol(const struct feed *f, const char *symbol)
{
    for (size_t i = 0; i < f->cfg.nsymbols; i++)
        if (!strcmp(f->cfg.symbols[i], symbol))
            return true;
    return false;
}

int feed_source_open(const struct feed *f, struct source **out, struct strbuf *err)
{
    return source_open(out, &f->cfg.source, err);
}

/* One fetch under the guard: the call the guard makes, possibly several times. */
struct fetch_call {
    struct source *src;
    const struct fetch_request *req;
    struct fetch_result *res;
};

static int call_source(void *arg, int64_t now_ms, struct guard_reply *out, struct strbuf *err)
{
    struct fetch_call *fc = arg;
    struct fetch_request req = *fc->req;
    int rc;

    /* The provider's "next minute" is measured from when the request goes out. */
    req.now = now_ms / 1000;
    rc = source_fetch(fc->src, &req, fc->res, err);
    out->status = fetch_result_status(fc->res);
    if (rc) {
        out->retry_after = fc->res->retry_after;
        if (fc->res->wait_reason[0])
            out->wait_reason = fc->res->wait_reason;
        else if (fc->res->error == SRC_ERR_RATE_DAY)
            out->wait_reason = "the provider's daily credits are used up (429)";
        else if (fc->res->error == SRC_ERR_RATE_MINUTE)
            out->wait_reason = "the provider's per-minute credits are used up (429)";
    }
    return rc;
}

int feed_fetch(struct feed *f, struct source *src, const struct feed_env *env,
               const struct fetch_request *req, struct fetch_result *res, struct guard_report *out,
               struct strbuf *err)
{
    struct fetch_call fc = {.src = src, .req = req, .res = res};
    struct guard_report report;
    const struct guard g = {
        .operation = f->operation.buf,
        .source = f->cfg.source.name,
        .store = env->store,
        .budget = &f->budget,
        .budget_nowait = env->no_budget_wait,
        .breaker = f->breaker,
        .instance = env->instance,
        .policy = env->policy,
        .clock = env->clock,
        .deadline_ms = env->deadline_ms,
        /* A request that starts must be able to finish before the deadline. */
        .reserve_ms = f->cfg.source.timeout_ms,
        .metrics = env->metrics,
    };
    int rc = guard_call(&g, call_source, &fc, &report, err);

    if (!rc && res->retry_after > 0) {
        /*
         * The answer is good, but the provider's usage header says the
         * budget is spent: every caller waits until it is free again.
         */
        struct strbuf why = STRBUF_INIT;
        int64_t now_ms = env->clock->now_ms(env->clock->arg);
        if (store_rate_ban(env->store, f->budget.source, now_ms + res->retry_after * 1000,
                           res->wait_reason[0] ? res->wait_reason
                                               : "the provider reported its budget used up",
                           now_ms, &why))
            log_warn("%s: the provider's wait could not be stored: %s", feed_name(f), why.buf);
        strbuf_release(&why);
    }

    if (report.sent && env->metrics) {
        struct strbuf lb = STRBUF_INIT;
        metrics_labels(&lb, "source", f->cfg.source.name, NULL);
        metrics_add(env->metrics, "provider_requests_total", lb.buf, report.sent);
        strbuf_release(&lb);
    }
    if (out)
        *out = report;
    return rc;
}

int feed_restore(struct feed *f, struct store *st, const char *instance, int64_t now_ms,
                 struct strbuf *err)
{
    struct breaker_row row;
    enum breaker_state state;
    size_t mark = err->len;
    int rc = store_breaker_get(st, f->cfg.source.name, &row, err);

    if (rc == CK_ENOTFOUND) {
        struct breaker_info bi;
        strbuf_setlen(err, mark);
        breaker_info(f->breaker, now_ms, &bi);
        row = (struct breaker_row){
            .source = (char *)f->cfg.source.name,
            .state = (char *)breaker_state_name(bi.state),
            .failures = bi.failures,
            .updated_ms = now_ms,
            .instance = (char *)instance,
        };
        /* Another process may record a transition meanwhile: its record wins. */
        return store_breaker_add(st, &row, NULL, err);
    }
    if (rc)
        return rc;
    if (!breaker_state_parse(row.state, &state)) {
        strbuf_addf(err, "circuit breaker of source '%s': unknown recorded state '%s'",
                    f->cfg.source.name, row.state);
        rc = CK_EPARSE;
    } else {
        breaker_restore(f->breaker, state, row.failures > INT32_MAX ? INT32_MAX : (int)row.failures,
                        row.opened_at_ms, row.retry_at_ms);
    }
    breaker_row_release(&row);
    return rc;
}

bool feed_describe_deferral(const struct feed *f, const struct guard_report *r, int64_t now_ms,
                            struct strbuf *sb)
{
    if (!r->has_budget || r->budget.refusal == RATE_FREE)
        return false;
    strbuf_addstr(sb, "rate budget: ");
    ratelimit_describe(&f->budget, &r->budget, now_ms, sb);
    return true;
}
