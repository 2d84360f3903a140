/* SPDX-License-Identifier: MIT */
/*
 * refresh_candles_<TF>: the scheduled ingestion. The refresh itself is
 * the candle path's (ingest/refresh.h): for each enabled feed that lists
 * the timeframe, its series are fetched through the feed's guard on the
 * worker's own store connection, within the job's deadline, the most
 * overdue first, with failing series skipped and probed.
 *
 * This file is the job around it: the scheduler's clock and stop signal
 * go in; the run's message, its details (JSON) and the log line about
 * deferred series come out.
 *
 * The run fails if a series failed (each named; series refused by an open
 * circuit are summed up per source), or if the database failed: then the
 * run stops at once and the scheduler records what it can; the next tick
 * tries again. Deferred and skipped series alone do not fail the run; they
 * are logged, counted, and shown in /health. The run stops early (and
 * fails) if the scheduler says so.
 */
#include "jobs/refresh.h"

#include "ck/ck.h"
#include "ingest/feed.h"
#include "ingest/refresh.h"
#include "jobs/repair.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <pthread.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct totals {
    size_t series, failed, fetched, stored, rejected, forming, gaps_open, gaps_opened, deferred,
        skipped;
};

/* The job's clock, for the feed's waits. */
static int64_t job_clock_now(void *arg)
{
    return job_now_ms(arg);
}

static bool job_clock_sleep(void *arg, int64_t ms)
{
    return job_sleep(arg, ms);
}

static bool job_stop(void *arg)
{
    return job_should_stop(arg);
}

static json_t *series_json(const struct series_run *s)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "source", s->source, "symbol", s->symbol, "ok",
                          s->outcome == SERIES_RUN_OK, "status", series_outcome_name(s->outcome));

    switch (s->outcome) {
    case SERIES_RUN_OK:
        json_object_set_new(o, "stored", json_integer((json_int_t)s->stats.stored));
        json_object_set_new(o, "rejected", json_integer((json_int_t)s->stats.rejected));
        json_object_set_new(o, "gaps_open", json_integer((json_int_t)s->stats.gaps_open));
        break;
    case SERIES_RUN_SKIPPED:
        json_object_set_new(o, "streak", json_integer((json_int_t)s->streak));
        break;
    case SERIES_RUN_DEFERRED:
        json_object_set_new(o, "reason", json_string(s->message.buf));
        break;
    case SERIES_RUN_FAILED:
    case SERIES_RUN_REJECTED:
        json_object_set_new(o, "error", json_string(s->message.buf));
        break;
    }
    return o;
}

/* Sum up the series from index `from` on (one feed's), into totals, details and messages. */
static void tally(const struct refresh_result *res, size_t from, struct totals *t, json_t *results,
                  struct strbuf *failures)
{
    struct strbuf deferred = STRBUF_INIT;
    const char *refused = NULL, *why = NULL, *source = NULL;
    size_t nrefused = 0, ndeferred = 0;

    for (size_t i = from; i < res->n; i++) {
        const struct series_run *s = &res->v[i];

        source = s->source;
        t->series++;
        /* A series that failed or was deferred after some pages stored them too. */
        t->fetched += s->stats.fetched;
        t->stored += s->stats.stored;
        t->rejected += s->stats.rejected;
        t->forming += s->stats.forming;
        t->gaps_opened += s->stats.gaps_opened;
        json_array_append_new(results, series_json(s));
        switch (s->outcome) {
        case SERIES_RUN_OK:
            t->gaps_open += s->stats.gaps_open;
            break;
        case SERIES_RUN_SKIPPED:
            t->skipped++;
            break;
        case SERIES_RUN_DEFERRED:
            t->deferred++;
            ndeferred++;
            strbuf_addf(&deferred, "%s%s", deferred.len ? ", " : "", s->symbol);
            if (!why)
                why = s->message.buf;
            break;
        case SERIES_RUN_REJECTED:
            t->failed++;
            nrefused++;
            if (!refused)
                refused = s->message.buf;
            break;
        case SERIES_RUN_FAILED:
            t->failed++;
            strbuf_addf(failures, "%s%s", failures->len ? "; " : "", s->message.buf);
            break;
        }
    }
    if (nrefused)
        strbuf_addf(failures, "%s%zu series of %s not sent: %s", failures->len ? "; " : "",
                    nrefused, source, refused);
    if (ndeferred)
        log_warn("refresh: %s %s: %zu series deferred (%s): %s", source,
                 timeframe_name(res->v[from].tf), ndeferred, deferred.buf, why);
    strbuf_release(&deferred);
}

static void set_details(struct job_ctx *ctx, const struct totals *t, json_t *results)
{
    json_t *details = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "series", (json_int_t)t->series,
        "failed", (json_int_t)t->failed, "fetched", (json_int_t)t->fetched, "stored",
        (json_int_t)t->stored, "rejected", (json_int_t)t->rejected, "forming_dropped",
        (json_int_t)t->forming, "gaps_open", (json_int_t)t->gaps_open, "deferred",
        (json_int_t)t->deferred, "skipped", (json_int_t)t->skipped, "results", results);
    char *text = json_dumps(details, JSON_COMPACT);

    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);
}

static int set_message(struct job_ctx *ctx, const struct refresh_result *res,
                       const struct totals *t, const struct strbuf *failures)
{
    int rc = 0;

    if (res->db_failed) {
        strbuf_addf(&ctx->message, "database unavailable, the run stopped after %zu series: %s%s%s",
                    t->series, failures->buf, failures->len ? "; " : "", "database: ");
        strbuf_addbuf(&ctx->message, &res->db_error);
        rc = CK_EIO;
    } else if (res->stopped) {
        strbuf_addf(&ctx->message, "stopped early (deadline or shutdown) after %zu series",
                    t->series);
        rc = CK_ETIMEDOUT;
    } else if (t->failed) {
        strbuf_addf(&ctx->message, "%zu of %zu series failed: %s", t->failed, t->series,
                    failures->buf);
        rc = CK_EUPSTREAM;
    } else {
        strbuf_addf(&ctx->message,
                    "%zu series: fetched %zu, stored %zu, rejected %zu, open gaps %zu", t->series,
                    t->fetched, t->stored, t->rejected, t->gaps_open);
    }
    if (!rc && (t->deferred || t->skipped))
        strbuf_addf(&ctx->message, ", deferred %zu, skipped %zu", t->deferred, t->skipped);
    return rc;
}

/* One feed's refresh on a thread of its own, with a store connection of its own. */
struct feed_run {
    pthread_t thread;
    bool started;
    struct feed *feed;
    const char *store_url;
    struct refresh_opts o;
    struct refresh_result res;
};

static void *feed_thread(void *arg)
{
    struct feed_run *fr = arg;
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;

    if (store_open(&st, fr->store_url, &err)) {
        fr->res.db_failed = true;
        strbuf_addbuf(&fr->res.db_error, &err);
    } else {
        fr->o.env.store = st;
        ingest_refresh(fr->feed, &fr->o, &fr->res);
    }
    store_close(st);
    strbuf_release(&err);
    return NULL;
}

/*
 * Refresh every enabled feed that lists the timeframe. With more than one,
 * each fetches on a thread of its own, so that a venue retrying, banned or
 * hanging does not hold up the others' refresh; the results are tallied
 * in the configured order afterwards.
 */
static void refresh_feeds(const struct ck *app, struct job_ctx *ctx, const struct refresh_opts *o,
                          struct refresh_result *res, struct totals *t, json_t *results,
                          struct strbuf *failures)
{
    const struct settings *s = &app->settings;
    struct feed_run *runs = xcalloc(s->nsources ? s->nsources : 1, sizeof(*runs));
    size_t n = 0;

    for (size_t i = 0; i < s->nsources; i++) {
        if (!s->sources[i].enabled || !feed_lists_timeframe(app->feeds[i], o->tf))
            continue;
        runs[n] = (struct feed_run){.feed = app->feeds[i],
                                    .store_url = s->storage.url,
                                    .o = *o,
                                    .res = REFRESH_RESULT_INIT};
        n++;
    }
    if (n == 1) {
        size_t from = res->n;
        ingest_refresh(runs[0].feed, o, res);
        tally(res, from, t, results, failures);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = pthread_create(&runs[i].thread, NULL, feed_thread, &runs[i]);
        runs[i].started = !rc;
        if (rc) /* no thread: this one runs here, after the others have started */
            runs[i].o.env.store = ctx->store;
    }
    for (size_t i = 0; i < n; i++) {
        size_t from = res->n;
        if (runs[i].started)
            pthread_join(runs[i].thread, NULL);
        else
            ingest_refresh(runs[i].feed, &runs[i].o, &runs[i].res);
        refresh_result_take(res, &runs[i].res);
        tally(res, from, t, results, failures);
        refresh_result_release(&runs[i].res);
    }
    free(runs);
}

int refresh_job_run(struct job_ctx *ctx, void *arg)
{
    const struct refresh_job *job = arg;
    const struct ck *app = job->app;
    const struct settings *s = &app->settings;
    struct refresh_result res = REFRESH_RESULT_INIT;
    struct strbuf failures = STRBUF_INIT;
    struct totals t = {0};
    json_t *results = json_array();
    const struct retry_policy policy = {
        .max_retries = (int)s->retry.max_retries,
        .base_ms = s->retry.base_delay * 1000,
        .max_ms = s->retry.max_delay * 1000,
    };
    const struct retry_clock clock = {
        .now_ms = job_clock_now, .sleep_ms = job_clock_sleep, .arg = ctx};
    struct refresh_opts o = {
        .tf = job->tf,
        .now = ctx->now,
        .gap_window = s->ingest.gap_window,
        .scheduled = true,
        .env = {.store = ctx->store,
                .policy = &policy,
                .clock = &clock,
                .deadline_ms = ctx->deadline_ms,
                .metrics = ctx->metrics,
                .instance = app->instance},
        .should_stop = job_stop,
        .stop_arg = ctx,
    };

    refresh_feeds(app, ctx, &o, &res, &t, results, &failures);
    set_details(ctx, &t, results);
    int rc = set_message(ctx, &res, &t, &failures);
    /* A new gap is repaired now rather than at the repair job's next tick. */
    if (t.gaps_opened)
        repair_job_request(app);
    refresh_result_release(&res);
    strbuf_release(&failures);
    return rc;
}
