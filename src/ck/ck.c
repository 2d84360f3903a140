/* SPDX-License-Identifier: MIT */
/*
 * The process context (see ck.h): each part built once, on demand, in
 * the order the parts depend on one another, and released in reverse.
 */
#include "ck/ck.h"

#include "alert/alert.h"
#include "alert/notify.h"
#include "ingest/feed.h"
#include "market/calendar.h"
#include "net/http.h"
#include "resilience/breaker.h"
#include "store/store.h"
#include "util/config.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
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
                .symbol_map = src->symbol_map,
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
        .rate_per_minute = src->rate_per_window,
        .rate_window_ms = src->rate_window_ms,
        .daily_quota = src->daily_quota,
        .budget_key = src->budget_key,
        .symbols = src->symbols,
        .nsymbols = src->nsymbols,
        .timeframes = src->timeframes,
        .ntimeframes = src->ntimeframes,
        .derive = &src->derive,
        .backfill = (int)src->backfill,
        .symbol_skip_after = src->symbol_skip_after,
        .symbol_probe_every = src->symbol_probe_every,
        .enabled = src->enabled,
    };
}

void ck_init(struct ck *ck, const char *name, const char *config_path, enum out_format format,
             unsigned needs)
{
    memset(ck, 0, sizeof(*ck));
    ck->name = name;
    ck->config_path = config_path;
    ck->format = format;
    ck->needs = needs;
}

/* The settings, checked, and logging as they say. */
static int build_config(struct ck *ck, struct strbuf *err)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    enum log_level level = LOG_INFO;
    enum log_format fmt = LOG_FORMAT_LOGFMT;
    int rc = settings_load(&ck->settings, ck->config_path, &rep);

    if (rc) {
        strbuf_addbuf(err, &rep.text);
        ck->config_problems = rep.count;
        config_report_release(&rep);
        return CK_ECONFIG;
    }
    config_report_release(&rep);
    log_level_parse(ck->settings.log.level, &level);
    log_format_parse(ck->settings.log.format, &fmt);
    settings_register_secrets(&ck->settings);
    log_set_rotation(&(struct log_rotation){
        .max_size = ck->settings.log.max_size,
        .keep = ck->settings.log.keep,
        .compress = !strcmp(ck->settings.log.compress, "gzip"),
    });
    return log_setup(level, fmt, ck->settings.log.file, err);
}

/* Every enabled source has what its kind needs to be called. */
static int check_keys(struct ck *ck, struct strbuf *err)
{
    struct config_report rep = CONFIG_REPORT_INIT;

    for (size_t i = 0; i < ck->settings.nsources; i++)
        if (ck->settings.sources[i].enabled)
            source_settings_check_key(&ck->settings.sources[i], &rep);
    ck->config_problems = rep.count;
    strbuf_addbuf(err, &rep.text);
    config_report_release(&rep);
    return ck->config_problems ? CK_ECONFIG : 0;
}

static int build_feeds(struct ck *ck, struct strbuf *err)
{
    struct settings *s = &ck->settings;
    size_t n = s->nsources ? s->nsources : 1;

    ck->metrics = metrics_new();
    declare_metrics(ck->metrics);
    ck->feeds = xcalloc(n, sizeof(*ck->feeds));
    ck->breakers = xcalloc(n, sizeof(*ck->breakers));
    ck->calendars = xcalloc(n, sizeof(*ck->calendars));
    for (size_t i = 0; i < s->nsources; i++) {
        struct feed_config fc;
        feed_config_of(&s->sources[i], &fc);
        int rc = feed_open(&ck->feeds[i], &fc, err);
        if (rc)
            return rc;
        ck->breakers[i] = feed_breaker(ck->feeds[i]);
        ck->calendars[i] = feed_calendar(ck->feeds[i]);
    }
    return 0;
}

static int build_alerts(struct ck *ck, struct strbuf *err)
{
    int rc =
        notify_channels_new(&ck->settings.telegram, &ck->settings.alert_webhook,
                            &ck->settings.alert_email, NULL, &ck->channels, &ck->nchannels, err);
    if (rc)
        return rc;
    ck->alerts = alert_manager_new(&ck->settings.alerts, &ck->settings.retry, ck->channels,
                                   ck->nchannels, ck->metrics, NULL, ck->instance);
    return 0;
}

int ck_require(struct ck *ck, unsigned needs, struct strbuf *err)
{
    unsigned want = needs & ~ck->built;
    int rc = 0;

    if (want)
        want |= CK_NEEDS_CONFIG & ~ck->built;
    if (!rc && (want & CK_NEEDS_CONFIG))
        rc = build_config(ck, err);
    if (!rc && (want & CK_NEEDS_KEYS))
        rc = check_keys(ck, err);
    if (!rc && (want & CK_NEEDS_STORE))
        rc = store_open(&ck->store, ck->settings.storage.url, err);
    if (!rc && (want & CK_NEEDS_HTTP))
        rc = http_global_init(err);
    if (!rc && (want & CK_NEEDS_FEEDS))
        rc = build_feeds(ck, err);
    if (!rc && (want & CK_NEEDS_ALERTS))
        rc = build_alerts(ck, err);
    /* A part that failed half-way is released with the rest. */
    ck->built |= want;
    if (rc && rc != CK_ECONFIG)
        redact_message(err);
    return rc;
}

void ck_release(struct ck *ck)
{
    alert_manager_free(ck->alerts);
    ck->alerts = NULL;
    notify_channels_free(ck->channels, ck->nchannels);
    ck->channels = NULL;
    ck->nchannels = 0;
    for (size_t i = 0; ck->feeds && i < ck->settings.nsources; i++)
        feed_free(ck->feeds[i]);
    free(ck->feeds);
    ck->feeds = NULL;
    free(ck->breakers);
    ck->breakers = NULL;
    free(ck->calendars);
    ck->calendars = NULL;
    metrics_free(ck->metrics);
    ck->metrics = NULL;
    store_close(ck->store);
    ck->store = NULL;
    free(ck->job_args);
    ck->job_args = NULL;
    free(ck->instance);
    ck->instance = NULL;
    if (ck->built & CK_NEEDS_CONFIG)
        settings_release(&ck->settings);
    ck->built = 0;
}

const struct calendar *ck_calendar(const struct ck *ck, size_t i)
{
    return ck->calendars[i];
}

struct breaker *ck_breaker(const struct ck *ck, size_t i)
{
    return ck->breakers ? ck->breakers[i] : NULL;
}
