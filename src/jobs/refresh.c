/* SPDX-License-Identifier: MIT */
/*
 * refresh_candles_<TF>: the scheduled ingestion. For each enabled source
 * that lists the timeframe, a source adapter is opened for the run (an
 * adapter owns an HTTP handle and is not shared between threads), and each
 * symbol is refreshed through ingest_series() on the worker's own store
 * connection. Series are isolated: a failure is recorded and the loop goes
 * on. The run stops early (and fails) if the scheduler says so.
 */
#include "jobs/refresh.h"

#include "app/app.h"
#include "jobs/ingest.h"
#include "sched/sched.h"
#include "source/source.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

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
    size_t series, failed, fetched, stored, rejected, forming, gaps_open;
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

static void count_error(struct metrics *m, const char *source, int rc)
{
    struct strbuf lb = STRBUF_INIT;
    metrics_labels(&lb, "source", source, "kind", ck_strerror(rc), NULL);
    metrics_add(m, "fetch_errors_total", lb.buf, 1);
    strbuf_release(&lb);
}

int refresh_job_run(struct job_ctx *ctx, void *arg)
{
    const struct refresh_job *job = arg;
    const struct app *app = job->app;
    const struct settings *s = &app->settings;
    struct strbuf err = STRBUF_INIT, failures = STRBUF_INIT;
    struct totals t = {0};
    json_t *series = json_array();
    bool stopped = false;

    for (size_t i = 0; i < s->nsources && !stopped; i++) {
        const struct source_settings *src = &s->sources[i];
        struct source *source = NULL;
        if (!src->enabled || !lists_tf(src, job->tf))
            continue;
        struct source_config scfg = {
            .name = src->name,
            .kind = src->kind,
            .api_key = src->api_key,
            .base_url = src->base_url,
            .connect_timeout_ms = (long)src->connect_timeout * 1000,
            .timeout_ms = (long)src->timeout * 1000,
            .max_body = (size_t)src->max_body,
        };
        strbuf_reset(&err);
        if (source_open(&source, &scfg, &err)) {
            t.failed += src->nsymbols;
            t.series += src->nsymbols;
            strbuf_addf(&failures, "%s%s: %s", failures.len ? "; " : "", src->name, err.buf);
            continue;
        }
        struct ingest_ctx ic = {
            .store = ctx->store,
            .source = source,
            .source_name = src->name,
            .cal = app_calendar(app, i),
            .backfill = (int)src->backfill,
            .gap_window = s->ingest.gap_window,
        };
        for (size_t k = 0; k < src->nsymbols; k++) {
            struct ingest_stats st;
            int rc;
            if (job_should_stop(ctx)) {
                stopped = true;
                break;
            }
            t.series++;
            strbuf_reset(&err);
            rc = ingest_series(&ic, src->symbols[k], job->tf, ctx->now, &st, &err);
            json_t *o = json_pack("{s:s, s:s, s:b}", "source", src->name, "symbol",
                                  src->symbols[k], "ok", !rc);
            if (rc) {
                t.failed++;
                log_redact(&err);
                strbuf_addf(&failures, "%s%s", failures.len ? "; " : "", err.buf);
                json_object_set_new(o, "error", json_string(err.buf));
                count_error(ctx->metrics, src->name, rc);
            } else {
                t.fetched += st.fetched;
                t.stored += st.stored;
                t.rejected += st.rejected;
                t.forming += st.forming;
                t.gaps_open += st.gaps_open;
                json_object_set_new(o, "stored", json_integer((json_int_t)st.stored));
                json_object_set_new(o, "rejected", json_integer((json_int_t)st.rejected));
                json_object_set_new(o, "gaps_open", json_integer((json_int_t)st.gaps_open));
                count_series(ctx->metrics, src->name, src->symbols[k], job->tf, &st);
            }
            json_array_append_new(series, o);
        }
        source_free(source);
    }

    json_t *details = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "series",
                                (json_int_t)t.series, "failed", (json_int_t)t.failed, "fetched",
                                (json_int_t)t.fetched, "stored", (json_int_t)t.stored, "rejected",
                                (json_int_t)t.rejected, "forming_dropped", (json_int_t)t.forming,
                                "gaps_open", (json_int_t)t.gaps_open, "results", series);
    char *text = json_dumps(details, JSON_COMPACT);
    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);

    int rc = 0;
    if (stopped) {
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
    strbuf_release(&err);
    strbuf_release(&failures);
    return rc;
}
