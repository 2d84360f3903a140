/* SPDX-License-Identifier: MIT */
/*
 * The retention job (rules in retention.h).
 *
 * Each category is pruned on its own: the candles of each timeframe that
 * has a threshold, then backtest results. A category is deleted in
 * batches of [retention] batch rows, each one store call and so one
 * transaction, until a batch comes back short; between batches the job
 * asks whether it should stop (its deadline, a shutdown), so a backlog of
 * millions of rows neither holds a write lock for seconds nor outlives
 * the job's timeout: what is left goes at the next run.
 *
 * The cutoffs are computed once, from the run's `now`, so every batch of a
 * run deletes against the same line and the counts of a dry run are the
 * counts the real run would delete at the same instant.
 */
#include "jobs/retention.h"

#include "ck/settings.h"
#include "sched/sched.h"
#include "store/alerts.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* One batch of a category: at most `batch` rows older than `cutoff`. */
typedef int delete_batch_fn(struct store *st, const void *what, int64_t cutoff, size_t batch,
                            int64_t *deleted, struct strbuf *err);

static int delete_candle_batch(struct store *st, const void *what, int64_t cutoff, size_t batch,
                               int64_t *deleted, struct strbuf *err)
{
    const enum timeframe *tf = what;
    return store_delete_candles_before(st, *tf, cutoff, batch, deleted, err);
}

static int delete_backtest_batch(struct store *st, const void *what, int64_t cutoff, size_t batch,
                                 int64_t *deleted, struct strbuf *err)
{
    (void)what;
    return store_backtest_delete_before(st, cutoff, batch, deleted, err);
}

static int delete_alert_message_batch(struct store *st, const void *what, int64_t cutoff,
                                      size_t batch, int64_t *deleted, struct strbuf *err)
{
    (void)what;
    return store_alert_outbox_prune(st, cutoff, batch, deleted, err);
}

/* Delete by `del` in batches until one comes back short; counts into *total. */
static int delete_in_batches(struct store *st, delete_batch_fn *del, const void *what,
                             int64_t cutoff, size_t batch, retention_stop_fn *stop, void *stop_arg,
                             struct retention_result *out, int64_t *total, struct strbuf *err)
{
    for (;;) {
        int64_t n = 0;
        int rc;

        if (stop && stop(stop_arg)) {
            out->stopped = true;
            return 0;
        }
        rc = del(st, what, cutoff, batch, &n, err);
        if (rc)
            return rc;
        out->batches++;
        *total += n;
        if (n < (int64_t)batch)
            return 0;
    }
}

int retention_run(struct store *st, const struct retention_settings *rs, int64_t now, bool dry_run,
                  retention_stop_fn *stop, void *stop_arg, struct retention_result *out,
                  struct strbuf *err)
{
    size_t batch = rs->batch > 0 ? (size_t)rs->batch : 10000;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->dry_run = dry_run;
    for (int tf = 0; tf < TF_COUNT; tf++) {
        if (rs->keep[tf] <= 0)
            continue;
        out->prune[tf] = true;
        out->cutoff[tf] = now - rs->keep[tf];
    }
    if (rs->backtests > 0) {
        out->prune_backtests = true;
        out->backtest_cutoff_ms = (now - rs->backtests) * 1000;
    }
    if (rs->alert_messages > 0) {
        out->prune_alert_messages = true;
        out->alert_message_cutoff_ms = (now - rs->alert_messages) * 1000;
    }

    for (int i = 0; i < TF_COUNT && !rc && !out->stopped; i++) {
        enum timeframe tf = (enum timeframe)i;
        if (!out->prune[i])
            continue;
        if (dry_run)
            rc = store_count_candles_before(st, tf, out->cutoff[i], &out->deleted[i], err);
        else
            rc = delete_in_batches(st, delete_candle_batch, &tf, out->cutoff[i], batch, stop,
                                   stop_arg, out, &out->deleted[i], err);
        if (rc)
            strbuf_addf(err, " (%s candles)", timeframe_name(tf));
    }
    /* A cutoff at or before 1970 has nothing older (and 0 would read as "all" to the store). */
    if (!rc && !out->stopped && out->prune_backtests && out->backtest_cutoff_ms > 0) {
        if (dry_run)
            rc = store_backtest_count_before(st, out->backtest_cutoff_ms, &out->backtests, err);
        else
            rc = delete_in_batches(st, delete_backtest_batch, NULL, out->backtest_cutoff_ms, batch,
                                   stop, stop_arg, out, &out->backtests, err);
        if (rc)
            strbuf_addstr(err, " (backtest results)");
    }
    if (!rc && !out->stopped && out->prune_alert_messages && out->alert_message_cutoff_ms > 0) {
        if (dry_run)
            rc = store_alert_outbox_count_done(st, out->alert_message_cutoff_ms,
                                               &out->alert_messages, err);
        else
            rc = delete_in_batches(st, delete_alert_message_batch, NULL,
                                   out->alert_message_cutoff_ms, batch, stop, stop_arg, out,
                                   &out->alert_messages, err);
        if (rc)
            strbuf_addstr(err, " (alert messages)");
    }
    return rc;
}

void retention_details_json(const struct retention_result *r, struct strbuf *out)
{
    json_t *counts = json_object(), *cutoffs = json_object();
    char when[TIME_BUFSZ];

    for (int i = 0; i < TF_COUNT; i++) {
        if (!r->prune[i])
            continue;
        const char *name = timeframe_name((enum timeframe)i);
        time_format_iso8601(r->cutoff[i], when);
        json_object_set_new(counts, name, json_integer((json_int_t)r->deleted[i]));
        json_object_set_new(cutoffs, name, json_string(when));
    }
    if (r->prune_backtests) {
        time_format_iso8601(r->backtest_cutoff_ms / 1000, when);
        json_object_set_new(counts, "backtests", json_integer((json_int_t)r->backtests));
        json_object_set_new(cutoffs, "backtests", json_string(when));
    }
    if (r->prune_alert_messages) {
        time_format_iso8601(r->alert_message_cutoff_ms / 1000, when);
        json_object_set_new(counts, "alert_messages", json_integer((json_int_t)r->alert_messages));
        json_object_set_new(cutoffs, "alert_messages", json_string(when));
    }
    json_t *o = json_pack("{s:o, s:o, s:I}", r->dry_run ? "would_delete" : "deleted", counts,
                          "cutoff", cutoffs, "batches", (json_int_t)r->batches);
    if (r->stopped)
        json_object_set_new(o, "stopped", json_true());
    char *text = json_dumps(o, JSON_COMPACT);
    strbuf_addstr(out, text ? text : "{}");
    free(text);
    json_decref(o);
}

void retention_summary(const struct retention_result *r, struct strbuf *out)
{
    const char *sep = "";
    size_t mark = out->len;

    strbuf_addstr(out, r->dry_run ? "would delete " : "deleted ");
    for (int i = 0; i < TF_COUNT; i++) {
        if (!r->prune[i])
            continue;
        strbuf_addf(out, "%s%s %lld", sep, timeframe_name((enum timeframe)i),
                    (long long)r->deleted[i]);
        sep = ", ";
    }
    if (r->prune_backtests) {
        strbuf_addf(out, "%sbacktests %lld", sep, (long long)r->backtests);
        sep = ", ";
    }
    if (r->prune_alert_messages) {
        strbuf_addf(out, "%salert messages %lld", sep, (long long)r->alert_messages);
        sep = ", ";
    }
    if (!*sep) {
        strbuf_setlen(out, mark);
        strbuf_addstr(out, "nothing to prune: every category is kept for ever");
        return;
    }
    if (!r->dry_run)
        strbuf_addf(out, " in %lld batch%s", (long long)r->batches, r->batches == 1 ? "" : "es");
    if (r->stopped)
        strbuf_addstr(out, ", stopped early (deadline or shutdown): the rest goes next run");
}

static bool job_stop(void *arg)
{
    return job_should_stop(arg);
}

int retention_job_run(struct job_ctx *ctx, void *arg)
{
    const struct retention_settings *rs = arg;
    struct retention_result r;
    struct strbuf err = STRBUF_INIT;
    int rc = retention_run(ctx->store, rs, ctx->now, false, job_stop, ctx, &r, &err);

    retention_details_json(&r, &ctx->details);
    if (rc) {
        strbuf_addf(&ctx->message, "%s; before that ", err.buf);
        retention_summary(&r, &ctx->message);
    } else {
        retention_summary(&r, &ctx->message);
        if (r.stopped)
            rc = CK_ETIMEDOUT;
    }
    strbuf_release(&err);
    return rc;
}

int retention_last_run(struct store *st, struct job_run **out, struct strbuf *err)
{
    struct job_run *v;
    size_t n;
    int rc = store_job_runs_list(st, RETENTION_JOB_ID, 0, &v, &n, err);

    *out = NULL;
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (v[i].status != JOB_OK && v[i].status != JOB_FAILED && v[i].status != JOB_TIMED_OUT)
            continue;
        /* Hand out row i alone; the strings moved to it are not freed with the rest. */
        struct job_run *one = xcalloc(1, sizeof(*one));
        *one = v[i];
        memset(&v[i], 0, sizeof(v[i]));
        job_runs_free(v, n);
        *out = one;
        return 0;
    }
    job_runs_free(v, n);
    strbuf_addstr(err, "the retention job has not finished a run yet");
    return CK_ENOTFOUND;
}
