/* SPDX-License-Identifier: MIT */
/*
 * backfill: the scheduled carrying forward of backfills (see backfill.h).
 * The paging itself is the candle path's (ingest/backfill.h); this file
 * is the job around it: the backfills not done are taken oldest first on
 * the worker's store connection with the scheduler's clock, deadline and
 * stop signal, and the run's message and details (JSON) come out.
 *
 * A backfill deferred for the budget's reserve or a ban, or stopped at
 * the deadline, is carried on at the next run; one paged by another
 * process (its lease) is left to it. The run fails when a backfill failed
 * in it or the database did; deferrals alone do not fail it.
 */
#include "jobs/backfill.h"

#include "ck/ck.h"
#include "ingest/backfill.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int64_t job_clock_now(void *arg)
{
    return job_now_ms(arg);
}

static bool job_clock_sleep(void *arg, int64_t ms)
{
    return job_sleep(arg, ms);
}

/* The run and the deadline it keeps: a little before the scheduler's, so the next fire finds it
 * finished. */
struct job_run_ctx {
    struct job_ctx *ctx;
    int64_t soft_deadline_ms;
};

static bool job_stop(void *arg)
{
    const struct job_run_ctx *jr = arg;
    return job_should_stop(jr->ctx) || job_now_ms(jr->ctx) >= jr->soft_deadline_ms;
}

struct tally {
    size_t taken, done, deferred, failed, busy;
    int64_t candles, requests;
    struct strbuf failures;
};

/* The enabled feed of `source`; NULL when there is none. */
static struct feed *feed_of(const struct ck *app, const char *source)
{
    for (size_t i = 0; i < app->settings.nsources; i++)
        if (app->settings.sources[i].enabled && !strcmp(app->settings.sources[i].name, source))
            return app->feeds[i];
    return NULL;
}

/* Mark a backfill whose source is gone as failed. */
static int orphaned(struct job_ctx *ctx, struct backfill_row *b, struct tally *t,
                    struct strbuf *err)
{
    free(b->error);
    b->error = xstrdup("its source is not configured (or is disabled)");
    b->state = BACKFILL_FAILED;
    b->updated_at = ctx->now;
    t->failed++;
    strbuf_addf(&t->failures, "%sbackfill %lld (%s): %s", t->failures.len ? "; " : "",
                (long long)b->id, b->source, b->error);
    return store_backfill_update(ctx->store, b, err);
}

static void count(struct tally *t, const struct backfill_report *r)
{
    t->candles += r->candles;
    t->requests += r->requests;
    switch (r->outcome) {
    case BACKFILL_RUN_DONE:
        t->done++;
        break;
    case BACKFILL_RUN_DEFERRED:
        t->deferred++;
        log_info("backfill: %lld %s %s %s deferred: %s", (long long)r->row.id, r->row.source,
                 r->row.symbol, timeframe_name(r->row.tf), r->message.buf);
        break;
    case BACKFILL_RUN_BUSY:
        t->busy++;
        break;
    case BACKFILL_RUN_FAILED:
        t->failed++;
        strbuf_addf(&t->failures, "%sbackfill %lld (%s %s %s): %s", t->failures.len ? "; " : "",
                    (long long)r->row.id, r->row.source, r->row.symbol, timeframe_name(r->row.tf),
                    r->message.buf);
        break;
    }
}

static void set_details(struct job_ctx *ctx, const struct tally *t)
{
    json_t *d = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "backfills", (json_int_t)t->taken,
                          "done", (json_int_t)t->done, "deferred", (json_int_t)t->deferred,
                          "failed", (json_int_t)t->failed, "busy", (json_int_t)t->busy, "candles",
                          (json_int_t)t->candles, "requests", (json_int_t)t->requests);
    char *text = json_dumps(d, JSON_COMPACT);

    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(d);
}

int backfill_job_run(struct job_ctx *ctx, void *arg)
{
    const struct ck *app = arg;
    const struct settings *s = &app->settings;
    const struct retry_policy policy = {.max_retries = (int)s->retry.max_retries,
                                        .base_ms = s->retry.base_delay * 1000,
                                        .max_ms = s->retry.max_delay * 1000};
    const struct retry_clock clock = {
        .now_ms = job_clock_now, .sleep_ms = job_clock_sleep, .arg = ctx};
    int64_t start_ms = job_now_ms(ctx), margin = (ctx->deadline_ms - start_ms) / 10;
    struct job_run_ctx jr = {
        .ctx = ctx, .soft_deadline_ms = ctx->deadline_ms - (margin < 5000 ? 5000 : margin)};
    /* The daemon's instance holds the leases; under `jobs run` (no daemon) a command's does. */
    struct strbuf err = STRBUF_INIT, inst = STRBUF_INIT;
    char *id = app->instance ? NULL : sched_make_instance_id();

    if (id)
        strbuf_addf(&inst, SCHED_CLI_PREFIX "%s", id);
    free(id);
    const struct backfill_opts o = {
        .env = {.store = ctx->store,
                .policy = &policy,
                .clock = &clock,
                .deadline_ms = jr.soft_deadline_ms,
                .metrics = ctx->metrics,
                .instance = app->instance ? app->instance : inst.buf},
        .reserve_pct = s->ingest.backfill_reserve,
        .wait = true,
        .should_stop = job_stop,
        .stop_arg = &jr,
    };
    struct tally t = {.failures = STRBUF_INIT};
    struct backfill_row *v = NULL;
    size_t n = 0;
    int rc = store_backfill_list(ctx->store, true, &v, &n, &err);

    for (size_t i = 0; !rc && i < n && !job_stop(&jr); i++) {
        struct feed *f;
        struct backfill_report rep;

        if (v[i].state == BACKFILL_FAILED)
            continue;
        t.taken++;
        if (!(f = feed_of(app, v[i].source))) {
            rc = orphaned(ctx, &v[i], &t, &err);
            continue;
        }
        backfill_report_init(&rep);
        rc = backfill_run(f, v[i].id, &o, &rep, &err);
        if (!rc)
            count(&t, &rep);
        backfill_report_release(&rep);
    }
    set_details(ctx, &t);
    if (rc) {
        strbuf_addf(&ctx->message, "database: %s", err.buf);
    } else if (t.failed) {
        strbuf_addf(&ctx->message, "%zu of %zu backfills failed: %s", t.failed, t.taken,
                    t.failures.buf);
        rc = CK_EUPSTREAM;
    } else {
        strbuf_addf(&ctx->message,
                    "%zu backfills: %lld candles stored in %lld requests; done %zu, deferred %zu, "
                    "busy %zu",
                    t.taken, (long long)t.candles, (long long)t.requests, t.done, t.deferred,
                    t.busy);
    }
    backfill_rows_free(v, n);
    strbuf_release(&t.failures);
    strbuf_release(&err);
    strbuf_release(&inst);
    return rc;
}
