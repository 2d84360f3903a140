/* SPDX-License-Identifier: MIT */
/*
 * The shared state of a candlekeep process: settings, feeds, metrics,
 * and the job table. Everything here is built before any thread starts and
 * read-only afterwards (the metrics registry is internally locked).
 */
#include "app/app.h"

#include "ingest/feed.h"
#include "jobs/table.h"
#include "market/calendar.h"
#include "resilience/breaker.h"
#include "sched/sched.h"
#include "util/error.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void declare_metrics(struct metrics *m)
{
    metrics_declare(m, "candles_ingested_total", METRIC_COUNTER,
                    "Candles stored by refreshes, by series.");
    metrics_declare(m, "candles_rejected_total", METRIC_COUNTER,
                    "Invalid candles rejected by validation, by series.");
    metrics_declare(m, "fetch_errors_total", METRIC_COUNTER,
                    "Failed provider fetches by source and error kind.");
    metrics_declare(m, "gaps_open", METRIC_GAUGE, "Open gaps in the recent window, by series.");
    metrics_declare(m, "retries_total", METRIC_COUNTER, "Retries of outbound calls, by operation.");
    metrics_declare(m, "provider_requests_total", METRIC_COUNTER,
                    "Requests sent to providers, by source.");
    metrics_declare(m, "series_deferred_total", METRIC_COUNTER,
                    "Series fetches deferred for want of rate budget, by source.");
    metrics_declare(m, "series_skipped_total", METRIC_COUNTER,
                    "Series fetches skipped because of a failure streak, by source.");
    metrics_declare(m, "circuit_rejected_total", METRIC_COUNTER,
                    "Calls refused by an open circuit breaker (nothing sent), by source.");
}

/* The feed configuration of `src` (borrowing its strings and arrays). */
static void feed_config_of(const struct source_settings *src, struct feed_config *out)
{
    *out = (struct feed_config){
        .source =
            {
                .name = src->name,
                .kind = src->kind,
                .api_key = src->api_key,
                .base_url = src->base_url,
                .connect_timeout_ms = (long)src->connect_timeout * 1000,
                .timeout_ms = (long)src->timeout * 1000,
                .max_body = (size_t)src->max_body,
            },
        .calendar = src->calendar,
        .holidays = src->holidays,
        .nholidays = src->nholidays,
        .breaker =
            {
                .failures = (int)src->breaker_failures,
                .recovery_ms = src->breaker_recovery * 1000,
                .max_recovery_ms = src->breaker_max_recovery * 1000,
            },
        .rate_per_minute = src->rate_per_minute,
        .daily_quota = src->daily_quota,
        .symbols = src->symbols,
        .nsymbols = src->nsymbols,
        .timeframes = src->timeframes,
        .ntimeframes = src->ntimeframes,
        .backfill = (int)src->backfill,
        .symbol_skip_after = src->symbol_skip_after,
        .symbol_probe_every = src->symbol_probe_every,
        .enabled = src->enabled,
    };
}

int app_init(struct app *app, struct strbuf *err)
{
    struct settings *s = &app->settings;
    size_t n = s->nsources ? s->nsources : 1;

    app->feeds = xcalloc(n, sizeof(*app->feeds));
    app->breakers = xcalloc(n, sizeof(*app->breakers));
    app->calendars = xcalloc(n, sizeof(*app->calendars));
    for (size_t i = 0; i < s->nsources; i++) {
        struct feed_config fc;
        feed_config_of(&s->sources[i], &fc);
        int rc = feed_open(&app->feeds[i], &fc, err);
        if (rc)
            return rc;
        app->breakers[i] = feed_breaker(app->feeds[i]);
        app->calendars[i] = feed_calendar(app->feeds[i]);
    }
    app->metrics = metrics_new();
    declare_metrics(app->metrics);
    for (int tf = 0; tf < TF_COUNT; tf++)
        app->refresh[tf] = (struct refresh_job){.app = app, .tf = (enum timeframe)tf};
    app->outcomes = (struct outcomes_job){.settings = &app->settings};
    return 0;
}

void app_release(struct app *app)
{
    for (size_t i = 0; app->feeds && i < app->settings.nsources; i++)
        feed_free(app->feeds[i]);
    free(app->feeds);
    app->feeds = NULL;
    free(app->breakers);
    app->breakers = NULL;
    free(app->calendars);
    app->calendars = NULL;
    metrics_free(app->metrics);
    app->metrics = NULL;
    settings_release(&app->settings);
}

const struct calendar *app_calendar(const struct app *app, size_t i)
{
    return app->calendars[i];
}

struct breaker *app_breaker(const struct app *app, size_t i)
{
    return app->breakers ? app->breakers[i] : NULL;
}

int app_register_jobs(struct app *app, struct sched *s, struct strbuf *err)
{
    struct job_table t;
    int rc;

    job_table_build(&app->settings, app, &t);
    rc = job_table_register(&t, s, err);
    job_table_release(&t);
    return rc;
}
