/* SPDX-License-Identifier: MIT */
/*
 * refresh_candles_<TF>: the scheduled ingestion, under the provider's
 * guard (resilience/guard.h).
 *
 * For each enabled source that lists the timeframe, a source adapter is
 * opened for the run (an adapter owns an HTTP handle and is not shared
 * between threads), and the source's series are refreshed one by one
 * through ingest_series() on the worker's own store connection. Every
 * fetch goes through the guard: the source's circuit breaker (shared by
 * the daemon's jobs), a token of its rate budget (shared through the
 * database by every job and instance), and the retry policy, all within
 * the job's deadline.
 *
 * Order. When a source has more series than its budget allows before the
 * deadline, what gets fetched first matters: the series are taken in
 * order of urgency, the one whose newest candle is the oldest relative to
 * its timeframe first (a series with no candle at all before any other).
 * Once one request of a source is deferred for want of budget, the rest
 * of that source's series are deferred too without asking again: the
 * budget will not have a token before the deadline for them either.
 *
 * Isolation. A series that fails is recorded (series_state) and the loop
 * goes on. A series that has failed `symbol_skip_after` times in a row is
 * skipped, and probed every `symbol_probe_every` cycles (streak.h). Calls
 * refused by an open circuit and deferrals are not failures of the
 * series: they say nothing about the symbol, and counting them would skip
 * every series of a provider that was down for an hour.
 *
 * The run fails if a series failed (each named), or if the database
 * failed: then the run stops at once (every further series would fail the
 * same way) and the scheduler records what it can; the next tick tries
 * again. Deferred and skipped series alone do not fail the run; they are
 * logged, counted, and shown in /health. The run stops early (and fails)
 * if the scheduler says so.
 */
#include "jobs/refresh.h"

#include "app/app.h"
#include "jobs/ingest.h"
#include "resilience/breaker.h"
#include "resilience/guard.h"
#include "resilience/ratelimit.h"
#include "resilience/retry.h"
#include "resilience/streak.h"
#include "sched/sched.h"
#include "source/source.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static bool lists_tf(const struct source_settings *src, enum timeframe tf)
{
    for (size_t i = 0; i < src->ntimeframes; i++)
        if (src->timeframes[i] == tf)
            return true;
    return false;
}

struct totals {
    size_t series, failed, fetched, stored, rejected, forming, gaps_open, deferred, skipped;
    size_t refused; /* by an open circuit */
};

static void count_series(struct metrics *m, const char *source, const char *symbol,
                         enum timeframe tf, const struct ingest_stats *st)
{
    struct strbuf lb = STRBUF_INIT;
    metrics_labels(&lb, "source", source, "symbol", symbol, "timeframe", timeframe_name(tf), NULL);
    metrics_add(m, "candles_ingested_total", lb.buf, (double)st->stored);
    metrics_add(m, "candles_rejected_total", lb.buf, (double)st->rejected);
    metrics_set(m, "gaps_open", lb.buf, (double)st->gaps_open);
    strbuf_release(&lb);
}

/* Add `v` to the counter `name`{source}. */
static void count_source(struct metrics *m, const char *name, const char *source, double v)
{
    struct strbuf lb = STRBUF_INIT;
    metrics_labels(&lb, "source", source, NULL);
    metrics_add(m, name, lb.buf, v);
    strbuf_release(&lb);
}

static void count_error(struct metrics *m, const char *source, int rc)
{
    struct strbuf lb = STRBUF_INIT;
    metrics_labels(&lb, "source", source, "kind", ck_strerror(rc), NULL);
    metrics_add(m, "fetch_errors_total", lb.buf, 1);
    strbuf_release(&lb);
}

/* The job's clock, for the guard's waits. */
static int64_t job_clock_now(void *arg)
{
    return job_now_ms(arg);
}

static bool job_clock_sleep(void *arg, int64_t ms)
{
    return job_sleep(arg, ms);
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
        if (fc->res->error == SRC_ERR_RATE_DAY)
            out->wait_reason = "the provider's daily credits are used up (429)";
        else if (fc->res->error == SRC_ERR_RATE_MINUTE)
            out->wait_reason = "the provider's per-minute credits are used up (429)";
    }
    return rc;
}

/* The fetch hook of ingest_series(): `arg` is the source's guard context. */
struct source_guard {
    struct guard guard;
    struct guard_report report; /* of the last fetch */
    bool called;
};

static int guarded_fetch(void *arg, struct source *src, const struct fetch_request *req,
                         struct fetch_result *res, struct strbuf *err)
{
    struct source_guard *sg = arg;
    struct fetch_call fc = {.src = src, .req = req, .res = res};

    sg->called = true;
    return guard_call(&sg->guard, call_source, &fc, &sg->report, err);
}

/* One series of a source, as the run sees it before fetching. */
struct series_plan {
    size_t symbol;           /* index in the source's symbols */
    int64_t streak, skipped; /* from its series_state row; 0 without one */
};

/*
 * Read what ordering and skipping need: each series' newest candle and
 * its failure streak. `items` gets the series in order of urgency.
 */
static int plan_source(struct job_ctx *ctx, const struct source_settings *src, enum timeframe tf,
                       struct series_plan *plan, struct ratelimit_item *items, struct strbuf *err)
{
    for (size_t k = 0; k < src->nsymbols; k++) {
        struct series_key key = {.source = src->name, .symbol = src->symbols[k], .tf = tf};
        struct series_state ss;
        int64_t latest = 0;
        int rc = store_latest_time(ctx->store, &key, &latest, err);

        if (rc && rc != CK_ENOTFOUND)
            return rc;
        strbuf_reset(err);
        items[k].urgency = ratelimit_urgency(tf, rc == 0, latest, ctx->now);
        items[k].index = k;
        plan[k] = (struct series_plan){.symbol = k};
        rc = store_series_state_get(ctx->store, &key, &ss, err);
        if (rc && rc != CK_ENOTFOUND)
            return rc;
        strbuf_reset(err);
        if (!rc) {
            plan[k].streak = ss.streak;
            plan[k].skipped = ss.skipped;
        }
        series_state_release(&ss);
    }
    ratelimit_order(items, src->nsymbols);
    return 0;
}

/* What the run keeps while it goes through one source. */
struct source_run {
    struct job_ctx *ctx;
    const struct refresh_job *job;
    const struct source_settings *src;
    struct totals *t;
    json_t *results;
    struct strbuf *failures;
    struct strbuf deferred_names; /* for the log line */
    struct strbuf deferred_why;
    size_t ndeferred;
    bool db_failed;
    bool stopped;
};

static json_t *series_json(const struct source_run *sr, const char *symbol, const char *status)
{
    return json_pack("{s:s, s:s, s:b, s:s}", "source", sr->src->name, "symbol", symbol, "ok",
                     !strcmp(status, "ok"), "status", status);
}

/* Record `event` for a series; a database failure ends the run. */
static void record(struct source_run *sr, const char *symbol, enum series_event event,
                   const char *message)
{
    struct series_key key = {.source = sr->src->name, .symbol = symbol, .tf = sr->job->tf};
    struct strbuf err = STRBUF_INIT;

    if (store_series_record(sr->ctx->store, &key, event, message, sr->ctx->now, NULL, &err)) {
        redact_message(&err);
        strbuf_addf(sr->failures, "%sdatabase: %s", sr->failures->len ? "; " : "", err.buf);
        sr->db_failed = true;
    }
    strbuf_release(&err);
}

static void defer(struct source_run *sr, const char *symbol, const char *why)
{
    json_t *o = series_json(sr, symbol, "deferred");

    sr->t->deferred++;
    sr->ndeferred++;
    strbuf_addf(&sr->deferred_names, "%s%s", sr->deferred_names.len ? ", " : "", symbol);
    if (!sr->deferred_why.len)
        strbuf_addstr(&sr->deferred_why, why);
    json_object_set_new(o, "reason", json_string(why));
    json_array_append_new(sr->results, o);
    count_source(sr->ctx->metrics, "series_deferred_total", sr->src->name, 1);
    record(sr, symbol, SERIES_DEFERRED, why);
}

static void refresh_source(struct source_run *sr, size_t src_index)
{
    struct job_ctx *ctx = sr->ctx;
    const struct app *app = sr->job->app;
    const struct settings *s = &app->settings;
    const struct source_settings *src = sr->src;
    enum timeframe tf = sr->job->tf;
    struct strbuf err = STRBUF_INIT, op = STRBUF_INIT, refused = STRBUF_INIT;
    struct series_plan *plan = xcalloc(src->nsymbols ? src->nsymbols : 1, sizeof(*plan));
    struct ratelimit_item *items = xcalloc(src->nsymbols ? src->nsymbols : 1, sizeof(*items));
    struct source *source = NULL;
    struct rate_budget budget;
    bool budget_out = false;
    size_t nrefused = 0;
    int rc;

    struct source_config scfg = {
        .name = src->name,
        .kind = src->kind,
        .api_key = src->api_key,
        .base_url = src->base_url,
        .connect_timeout_ms = (long)src->connect_timeout * 1000,
        .timeout_ms = (long)src->timeout * 1000,
        .max_body = (size_t)src->max_body,
    };
    if (source_open(&source, &scfg, &err)) {
        sr->t->failed += src->nsymbols;
        sr->t->series += src->nsymbols;
        strbuf_addf(sr->failures, "%s%s: %s", sr->failures->len ? "; " : "", src->name, err.buf);
        goto out;
    }
    rc = plan_source(ctx, src, tf, plan, items, &err);
    if (rc) {
        redact_message(&err);
        strbuf_addf(sr->failures, "%sdatabase: %s", sr->failures->len ? "; " : "", err.buf);
        sr->db_failed = true;
        goto out;
    }

    ratelimit_budget(&budget, src->name, src->rate_per_minute, src->daily_quota);
    struct retry_policy policy = {
        .max_retries = (int)s->retry.max_retries,
        .base_ms = s->retry.base_delay * 1000,
        .max_ms = s->retry.max_delay * 1000,
    };
    struct retry_clock clock = {.now_ms = job_clock_now, .sleep_ms = job_clock_sleep, .arg = ctx};
    strbuf_addf(&op, "fetch:%s", src->name);
    struct source_guard sg = {
        .guard =
            {
                .operation = op.buf,
                .source = src->name,
                .store = ctx->store,
                .budget = &budget,
                .breaker = app_breaker(app, src_index),
                .policy = &policy,
                .clock = &clock,
                .deadline_ms = ctx->deadline_ms,
                /* A request that starts must be able to finish before the deadline. */
                .reserve_ms = src->timeout * 1000,
                .metrics = ctx->metrics,
            },
    };
    struct ingest_ctx ic = {
        .store = ctx->store,
        .source = source,
        .source_name = src->name,
        .cal = app_calendar(app, src_index),
        .backfill = (int)src->backfill,
        .gap_window = s->ingest.gap_window,
        .fetch = guarded_fetch,
        .fetch_arg = &sg,
    };

    for (size_t n = 0; n < src->nsymbols && !sr->db_failed; n++) {
        const struct series_plan *p = &plan[items[n].index];
        const char *symbol = src->symbols[p->symbol];
        enum streak_action action;
        struct ingest_stats st;
        json_t *o;

        if (job_should_stop(ctx)) {
            sr->stopped = true;
            break;
        }
        sr->t->series++;
        action =
            streak_decide(p->streak, p->skipped, src->symbol_skip_after, src->symbol_probe_every);
        if (action == STREAK_SKIP) {
            int64_t left = src->symbol_probe_every - 1 - p->skipped;
            sr->t->skipped++;
            o = series_json(sr, symbol, "skipped");
            json_object_set_new(o, "streak", json_integer((json_int_t)p->streak));
            json_array_append_new(sr->results, o);
            log_info("refresh: %s %s %s: skipped after %lld failures in a row (next probe in "
                     "%lld cycle%s)",
                     src->name, symbol, timeframe_name(tf), (long long)p->streak, (long long)left,
                     left == 1 ? "" : "s");
            count_source(ctx->metrics, "series_skipped_total", src->name, 1);
            record(sr, symbol, SERIES_SKIPPED, NULL);
            continue;
        }
        if (budget_out) {
            defer(sr, symbol, sr->deferred_why.buf);
            continue;
        }
        if (action == STREAK_PROBE)
            log_info("refresh: %s %s %s: probing after %lld failures in a row", src->name, symbol,
                     timeframe_name(tf), (long long)p->streak);

        strbuf_reset(&err);
        sg.called = false;
        memset(&sg.report, 0, sizeof(sg.report));
        rc = ingest_series(&ic, symbol, tf, ctx->now, &st, &err);
        if (sg.report.sent)
            count_source(ctx->metrics, "provider_requests_total", src->name, sg.report.sent);
        redact_message(&err);
        if (!rc) {
            sr->t->fetched += st.fetched;
            sr->t->stored += st.stored;
            sr->t->rejected += st.rejected;
            sr->t->forming += st.forming;
            sr->t->gaps_open += st.gaps_open;
            o = series_json(sr, symbol, "ok");
            json_object_set_new(o, "stored", json_integer((json_int_t)st.stored));
            json_object_set_new(o, "rejected", json_integer((json_int_t)st.rejected));
            json_object_set_new(o, "gaps_open", json_integer((json_int_t)st.gaps_open));
            json_array_append_new(sr->results, o);
            count_series(ctx->metrics, src->name, symbol, tf, &st);
            record(sr, symbol, SERIES_OK, NULL);
            continue;
        }
        if (st.store_failed || (sg.called && sg.report.outcome == GUARD_STORE)) {
            strbuf_addf(sr->failures, "%sdatabase: %s", sr->failures->len ? "; " : "", err.buf);
            sr->db_failed = true;
            break;
        }
        switch (sg.report.outcome) {
        case GUARD_DEFERRED:
            /*
             * No token before the deadline: none for the series after it
             * either. The reason they share is the budget's state, not
             * this series' message (which names this series); a refusal
             * by the provider itself has only the message.
             */
            budget_out = true;
            strbuf_reset(&sr->deferred_why);
            if (sg.report.has_budget && sg.report.budget.refusal != RATE_FREE) {
                strbuf_addstr(&sr->deferred_why, "rate budget: ");
                ratelimit_describe(&budget, &sg.report.budget, job_now_ms(ctx), &sr->deferred_why);
            } else {
                strbuf_addbuf(&sr->deferred_why, &err);
            }
            defer(sr, symbol, sr->deferred_why.buf);
            continue;
        case GUARD_STOPPED:
            sr->stopped = true;
            break;
        case GUARD_REJECTED:
            sr->t->failed++;
            sr->t->refused++;
            nrefused++;
            if (!refused.len)
                strbuf_addbuf(&refused, &err);
            o = series_json(sr, symbol, "rejected");
            json_object_set_new(o, "error", json_string(err.buf));
            json_array_append_new(sr->results, o);
            count_source(ctx->metrics, "circuit_rejected_total", src->name, 1);
            continue;
        default:
            break;
        }
        if (sr->stopped)
            break;
        sr->t->failed++;
        strbuf_addf(sr->failures, "%s%s", sr->failures->len ? "; " : "", err.buf);
        o = series_json(sr, symbol, "failed");
        json_object_set_new(o, "error", json_string(err.buf));
        json_array_append_new(sr->results, o);
        count_error(ctx->metrics, src->name, rc);
        record(sr, symbol, SERIES_FAILED, err.buf);
    }
    if (refused.len)
        strbuf_addf(sr->failures, "%s%zu series of %s not sent: %s", sr->failures->len ? "; " : "",
                    nrefused, src->name, refused.buf);
out:
    source_free(source);
    free(plan);
    free(items);
    strbuf_release(&err);
    strbuf_release(&op);
    strbuf_release(&refused);
}

int refresh_job_run(struct job_ctx *ctx, void *arg)
{
    const struct refresh_job *job = arg;
    const struct settings *s = &job->app->settings;
    struct strbuf failures = STRBUF_INIT;
    struct totals t = {0};
    json_t *series = json_array();
    bool stopped = false, db_failed = false;

    for (size_t i = 0; i < s->nsources && !stopped && !db_failed; i++) {
        const struct source_settings *src = &s->sources[i];
        if (!src->enabled || !lists_tf(src, job->tf))
            continue;
        struct source_run sr = {
            .ctx = ctx,
            .job = job,
            .src = src,
            .t = &t,
            .results = series,
            .failures = &failures,
            .deferred_names = STRBUF_INIT,
            .deferred_why = STRBUF_INIT,
        };
        refresh_source(&sr, i);
        if (sr.ndeferred)
            log_warn("refresh: %s %s: %zu series deferred (%s): %s", src->name,
                     timeframe_name(job->tf), sr.ndeferred, sr.deferred_names.buf,
                     sr.deferred_why.buf);
        stopped = sr.stopped;
        db_failed = sr.db_failed;
        strbuf_release(&sr.deferred_names);
        strbuf_release(&sr.deferred_why);
    }

    json_t *details = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "series", (json_int_t)t.series,
        "failed", (json_int_t)t.failed, "fetched", (json_int_t)t.fetched, "stored",
        (json_int_t)t.stored, "rejected", (json_int_t)t.rejected, "forming_dropped",
        (json_int_t)t.forming, "gaps_open", (json_int_t)t.gaps_open, "deferred",
        (json_int_t)t.deferred, "skipped", (json_int_t)t.skipped, "results", series);
    char *text = json_dumps(details, JSON_COMPACT);
    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);

    int rc = 0;
    if (db_failed) {
        strbuf_addf(&ctx->message, "database unavailable, the run stopped after %zu series: %s",
                    t.series, failures.buf);
        rc = CK_EIO;
    } else if (stopped) {
        strbuf_addf(&ctx->message, "stopped early (deadline or shutdown) after %zu series",
                    t.series);
        rc = CK_ETIMEDOUT;
    } else if (t.failed) {
        strbuf_addf(&ctx->message, "%zu of %zu series failed: %s", t.failed, t.series,
                    failures.buf);
        rc = CK_EUPSTREAM;
    } else {
        strbuf_addf(&ctx->message,
                    "%zu series: fetched %zu, stored %zu, rejected %zu, open gaps %zu", t.series,
                    t.fetched, t.stored, t.rejected, t.gaps_open);
    }
    if (!rc && (t.deferred || t.skipped))
        strbuf_addf(&ctx->message, ", deferred %zu, skipped %zu", t.deferred, t.skipped);
    strbuf_release(&failures);
    return rc;
}
