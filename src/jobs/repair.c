/* SPDX-License-Identifier: MIT */
/*
 * repair_gaps and scan_history (see repair.h): the jobs around the gap
 * repair and the whole-history scan of the candle path.
 *
 * The repair job takes the scheduler's clock, deadline and stop signal
 * into the repair's feed environment, so that its requests wait for the
 * shared rate budget like a refresh's and give up at the job's deadline;
 * what is left is taken by the next run. The run fails only when the
 * database fails or a gap's fetch failed; gaps deferred for want of
 * budget, or not due yet, are counted, not failures.
 *
 * Telling an unfillable gap is the watch_alerts job's (jobs/watch.c): it
 * raises one `gap-unfillable:` alert per unfillable record, once, however
 * the record got there.
 *
 * The scan job goes through every stored series of a configured source,
 * with its source's calendar, on the worker's connection; when it opens a
 * gap, it asks for a repair run.
 */
#include "jobs/repair.h"

#include "ck/ck.h"
#include "ck/settings.h"
#include "ingest/feed.h"
#include "ingest/ingest.h"
#include "ingest/repair.h"
#include "jobs/table.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void repair_gaps_now(const struct ck *app, struct store *st, const struct repair_filter *f,
                     int64_t now, const struct retry_clock *clock, int64_t deadline_ms,
                     bool (*should_stop)(void *arg), void *stop_arg, struct repair_result *out)
{
    const struct settings *s = &app->settings;
    const struct retry_policy policy = {
        .max_retries = (int)s->retry.max_retries,
        .base_ms = s->retry.base_delay * 1000,
        .max_ms = s->retry.max_delay * 1000,
    };
    const struct repair_opts o = {
        .now = now,
        .attempts = s->ingest.repair_attempts,
        .min_age = s->ingest.repair_min_age,
        .source = f->source,
        .symbol = f->symbol,
        .has_tf = f->has_tf,
        .tf = f->tf,
        .env = {.store = st,
                .policy = &policy,
                .clock = clock,
                .deadline_ms = deadline_ms,
                .metrics = app->metrics,
                .instance = app->instance},
        .should_stop = should_stop,
        .stop_arg = stop_arg,
    };

    ingest_repair(app->feeds, s->nsources, &o, out);
}

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

int repair_job_run(struct job_ctx *ctx, void *arg)
{
    const struct ck *app = arg;
    const struct retry_clock clock = {
        .now_ms = job_clock_now, .sleep_ms = job_clock_sleep, .arg = ctx};
    const struct repair_filter all = {0};
    struct repair_result r = REPAIR_RESULT_INIT;
    json_t *details;
    char *text;
    int rc = 0;

    repair_gaps_now(app, ctx->store, &all, ctx->now, &clock, ctx->deadline_ms, job_stop, ctx, &r);
    details = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "gaps", (json_int_t)r.gaps,
                        "filled", (json_int_t)r.filled, "open", (json_int_t)r.open, "unfillable",
                        (json_int_t)r.unfillable, "failed", (json_int_t)r.failed, "deferred",
                        (json_int_t)r.deferred, "not_due", (json_int_t)r.not_due, "requests",
                        (json_int_t)r.requests, "stored", (json_int_t)r.stored);
    text = json_dumps(details, JSON_COMPACT);
    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);

    if (r.db_failed) {
        strbuf_addf(&ctx->message, "database unavailable after %zu gaps: %s", r.gaps, r.error.buf);
        rc = CK_EIO;
    } else if (r.stopped) {
        strbuf_addf(&ctx->message, "stopped early (deadline or shutdown) after %zu gaps", r.gaps);
        rc = CK_ETIMEDOUT;
    } else {
        strbuf_addf(&ctx->message,
                    "%zu gaps: filled %zu, still open %zu, unfillable %zu, failed %zu, deferred "
                    "%zu, not due %zu",
                    r.gaps, r.filled, r.open, r.unfillable, r.failed, r.deferred, r.not_due);
        if (r.failed) {
            strbuf_addf(&ctx->message, ": %s", r.error.buf);
            rc = CK_EUPSTREAM;
        }
    }
    repair_result_release(&r);
    return rc;
}

int scan_history_job_run(struct job_ctx *ctx, void *arg)
{
    const struct ck *app = arg;
    const struct settings *s = &app->settings;
    struct series_info *series = NULL;
    struct strbuf err = STRBUF_INIT;
    size_t n = 0, scanned = 0, opened = 0, open = 0, filled = 0;
    json_t *details;
    char *text;
    int rc = store_list_series(ctx->store, &series, &n, &err);

    for (size_t i = 0; !rc && i < n; i++) {
        size_t src = s->nsources;
        struct ingest_stats st = {0};

        for (size_t j = 0; j < s->nsources && src == s->nsources; j++)
            if (!strcmp(s->sources[j].name, series[i].source))
                src = j;
        if (src == s->nsources || !series[i].count)
            continue; /* no calendar to judge it by, or nothing stored */
        if (job_should_stop(ctx)) {
            rc = CK_ETIMEDOUT;
            strbuf_addf(&err, "stopped early (deadline or shutdown) after %zu series", scanned);
            break;
        }
        struct ingest_ctx ic = {
            .store = ctx->store,
            .source_name = series[i].source,
            .cal = ck_calendar(app, src),
            .gap_window = s->ingest.gap_window,
        };
        rc = ingest_scan_history(&ic, series[i].symbol, series[i].tf, ctx->now, &st, &err);
        scanned++;
        opened += st.gaps_opened;
        open += st.gaps_open;
        filled += st.gaps_filled;
    }
    series_info_free(series, n);
    if (rc)
        strbuf_addf(&ctx->message, "%s", err.buf);
    else
        strbuf_addf(&ctx->message, "%zu series scanned: %zu open gaps, %zu new, %zu filled",
                    scanned, open, opened, filled);
    details = json_pack("{s:I, s:I, s:I, s:I}", "series", (json_int_t)scanned, "gaps_open",
                        (json_int_t)open, "gaps_opened", (json_int_t)opened, "gaps_filled",
                        (json_int_t)filled);
    text = json_dumps(details, JSON_COMPACT);
    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);
    if (opened)
        repair_job_request(app);
    strbuf_release(&err);
    return rc;
}

void repair_job_request(const struct ck *app)
{
    struct strbuf err = STRBUF_INIT;
    int rc;

    if (!app->sched)
        return;
    rc = sched_run_now_as(app->sched, JOB_REPAIR, SCHED_TRIGGER_AUTO, &err);
    if (rc && rc != CK_EBUSY)
        log_debug("repair: cannot start %s now: %s", JOB_REPAIR, err.buf);
    strbuf_release(&err);
}
