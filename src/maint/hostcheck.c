/* SPDX-License-Identifier: MIT */
/*
 * The health_check task (maint.h): read the host, judge it against the
 * previous runs (health/host.h holds the rules), keep the result as the
 * run's details, and tell the alert manager of each component that
 * crossed into or out of trouble, so that each is told once per episode.
 *
 * The CPU share needs two readings: the previous run's counters when that
 * run is recent (the share is then the average over the five minutes
 * between them), else a second reading a second after the first.
 */
#include "maint/maint.h"

#include "health/host.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Runs read for hysteresis and the forecast (an hour of five-minute runs is 12). */
#define HISTORY_RUNS 200
/* The previous run's CPU counters serve when it is at most this old (s). */
#define CPU_WINDOW_MAX 900

static const char *title_of(const char *name, bool critical)
{
    if (!strcmp(name, "cpu"))
        return critical ? "Host CPU critical" : "Host CPU busy";
    if (!strcmp(name, "memory"))
        return critical ? "Host memory critical" : "Host memory low";
    if (!strcmp(name, "load"))
        return critical ? "Host load critical" : "Host load high";
    if (!strcmp(name, "open_files"))
        return critical ? "Open files near the limit" : "Many open files";
    return critical ? "Disk almost full" : "Disk filling up";
}

/* Fire or clear host:<component> by the levels just assessed. */
static void component_alerts(json_t *details, struct maint_result *out)
{
    struct strbuf key = STRBUF_INIT, text = STRBUF_INIT;
    json_t *c, *f;
    size_t i;

    json_array_foreach(json_object_get(details, "components"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        enum host_level l = HOST_UNKNOWN;
        host_level_parse(json_string_value(json_object_get(c, "level")), &l);
        if (!name || l == HOST_UNKNOWN)
            continue;
        strbuf_reset(&key);
        strbuf_addf(&key, "host:%s", name);
        strbuf_reset(&text);
        strbuf_addf(&text, "%s at %.1f%% (%s)", name,
                    json_number_value(json_object_get(c, "value")), host_level_name(l));
        if (l == HOST_OK)
            maint_alert_clear(out, key.buf, text.buf);
        else
            maint_alert_fire(out, key.buf, l == HOST_CRITICAL ? NOTIFY_CRITICAL : NOTIFY_WARNING,
                             title_of(name, l == HOST_CRITICAL), text.buf);
    }
    f = json_object_get(details, "forecast");
    enum host_level fl = HOST_OK;
    if (json_is_object(f))
        host_level_parse(json_string_value(json_object_get(f, "level")), &fl);
    strbuf_reset(&text);
    if (fl == HOST_WARN || fl == HOST_CRITICAL) {
        strbuf_addf(&text,
                    "The disk of '%s' is full in about %.1f hours at the rate of the last "
                    "samples",
                    json_string_value(json_object_get(f, "path")),
                    json_number_value(json_object_get(f, "hours")));
        maint_alert_fire(out, "host:disk_forecast",
                         fl == HOST_CRITICAL ? NOTIFY_CRITICAL : NOTIFY_WARNING,
                         "Disk forecast to fill", text.buf);
    } else {
        maint_alert_clear(out, "host:disk_forecast", "No disk is forecast to fill");
    }
    strbuf_release(&key);
    strbuf_release(&text);
}

static void summary(json_t *details, struct maint_result *out)
{
    json_t *c;
    size_t i;
    const char *sep = ": ";

    strbuf_addf(&out->message, "score %lld",
                (long long)json_integer_value(json_object_get(details, "score")));
    json_array_foreach(json_object_get(details, "components"), i, c)
    {
        json_t *v = json_object_get(c, "value");
        strbuf_addf(&out->message, "%s%s ", sep, json_string_value(json_object_get(c, "name")));
        if (json_is_number(v))
            strbuf_addf(&out->message, "%.1f%%", json_number_value(v));
        else
            strbuf_addstr(&out->message, "unknown");
        sep = ", ";
    }
    json_t *f = json_object_get(details, "forecast");
    if (json_is_object(f))
        strbuf_addf(&out->message, "; '%s' full in %.1f h",
                    json_string_value(json_object_get(f, "path")),
                    json_number_value(json_object_get(f, "hours")));
}

int maint_host_run(struct store *st, struct job_ctx *ctx, const struct maint_host *c,
                   struct maint_result *out, int *out_score, struct strbuf *err)
{
    struct host_reading r, first;
    struct job_run *runs = NULL;
    size_t n = 0, nh = 0;
    const char **details;
    int64_t *at;
    bool have_first = false;
    int rc = store_job_runs_list(st, HOST_CHECK_JOB, HISTORY_RUNS, &runs, &n, err);

    if (rc)
        return rc;
    details = xcalloc(n ? n : 1, sizeof(*details));
    at = xcalloc(n ? n : 1, sizeof(*at));
    for (size_t i = 0; i < n; i++) {
        if (runs[i].status != JOB_OK && runs[i].status != JOB_FAILED)
            continue;
        details[nh] = runs[i].details;
        at[nh++] = runs[i].started / 1000;
    }
    /* Without recent counters, the window is one second from now. */
    if (!nh || c->now - at[0] > CPU_WINDOW_MAX) {
        host_read(&c->probe, c->dirs, c->ndirs, &first);
        have_first = true;
        if (ctx)
            job_sleep(ctx, 1000);
    }
    host_read(&c->probe, c->dirs, c->ndirs, &r);
    struct host_history h = {.details = details, .at = at, .n = nh};
    *out_score = host_assess(c->cfg, &r, have_first ? &first : NULL, &h, c->now, out->details);
    component_alerts(out->details, out);
    summary(out->details, out);
    if (have_first)
        host_reading_release(&first);
    host_reading_release(&r);
    free(details);
    free(at);
    job_runs_free(runs, n);
    return 0;
}
