/* SPDX-License-Identifier: MIT */
/*
 * The health report as JSON, one shape for GET /health and `candlekeep
 * status --format json` (api_health.c documents it), so that the two can
 * be compared field by field. Times are ISO 8601 UTC strings; what is not
 * known is null, never a made-up value: a circuit that no process here
 * holds and none recorded is {"state": "unknown"}, the age of a series
 * without a candle is null.
 */
#include "health/health.h"

#include "util/timeutil.h"

#include <jansson.h>

#include "util/banned.h"

static json_t *time_json(int64_t t)
{
    char buf[TIME_BUFSZ];
    if (t <= 0)
        return json_null();
    time_format_iso8601(t, buf);
    return json_string(buf);
}

static json_t *str_json(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *jobs_json(const struct health_report *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->njobs; i++) {
        const struct health_job *j = &r->jobs[i];
        json_t *o = json_object();
        json_object_set_new_nocheck(o, "id", str_json(j->id));
        json_object_set_new_nocheck(o, "schedule", str_json(j->cron));
        json_object_set_new_nocheck(o, "paused", json_boolean(j->paused));
        if (j->paused) {
            json_object_set_new_nocheck(o, "paused_until", time_json(j->paused_until));
            json_object_set_new_nocheck(o, "pause_reason", str_json(j->pause_reason));
        }
        json_object_set_new_nocheck(o, "overdue", json_boolean(j->overdue));
        json_object_set_new_nocheck(o, "streak", json_integer(j->streak));
        json_object_set_new_nocheck(o, "last_fire", time_json(j->last_fire));
        json_object_set_new_nocheck(o, "next_run", time_json(j->next_run));
        json_array_append_new(list, o);
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o}", "count", (json_int_t)r->njobs, "paused",
                     (json_int_t)r->paused, "overdue", (json_int_t)r->overdue, "failing",
                     (json_int_t)r->failing, "list", list);
}

/* The last backup and the last one a restore proved; null when not looked at. */
static json_t *backups_json(const struct health_report *r)
{
    const struct health_backups *b = &r->backups;
    if (!b->known)
        return json_null();
    return json_pack("{s:I, s:o, s:b, s:o, s:I, s:b}", "count", (json_int_t)b->count, "last",
                     b->last ? time_json(b->last) : json_null(), "last_verified_ok",
                     b->last_verified_ok, "last_verified",
                     b->last_verified ? time_json(b->last_verified) : json_null(), "max_age",
                     (json_int_t)b->max_age, "stale", b->stale);
}

/* The newest host assessment: score, parts, forecast; null when none was made. */
static json_t *host_json(const struct host_summary *h)
{
    json_t *parts = json_array(), *o;
    if (!h->known) {
        json_decref(parts);
        return json_null();
    }
    for (size_t i = 0; i < h->nparts; i++)
        json_array_append_new(
            parts, json_pack("{s:s, s:o, s:s}", "name", h->parts[i].name, "value",
                             h->parts[i].known ? json_real(h->parts[i].value) : json_null(),
                             "level", host_level_name(h->parts[i].level)));
    o = json_pack("{s:i, s:o, s:o}", "score", h->score, "at", time_json(h->at), "components",
                  parts);
    json_object_set_new_nocheck(
        o, "forecast",
        h->forecast ? json_pack("{s:s, s:f}", "path", h->forecast_path, "hours", h->forecast_hours)
                    : json_null());
    return o;
}

static json_t *series_json(const struct health_report *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->nseries; i++) {
        const struct health_series *e = &r->series[i];
        json_t *o = json_object();
        json_object_set_new_nocheck(o, "source", str_json(e->source));
        json_object_set_new_nocheck(o, "symbol", str_json(e->symbol));
        json_object_set_new_nocheck(o, "timeframe", json_string(timeframe_name(e->tf)));
        json_object_set_new_nocheck(o, "latest",
                                    e->has_latest ? time_json(e->latest) : json_null());
        json_object_set_new_nocheck(o, "age_seconds",
                                    e->has_latest ? json_integer(e->age) : json_null());
        json_object_set_new_nocheck(o, "missing_periods",
                                    e->has_latest && e->missing >= 0 ? json_integer(e->missing)
                                                                     : json_null());
        json_object_set_new_nocheck(o, "open_gaps", json_integer(e->open_gaps));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* {"used", "left", "limit"}; without a limit "left" and "limit" are null. */
static json_t *credits_json(int64_t used, int64_t limit)
{
    int64_t left = limit - used;
    return json_pack("{s:I, s:o, s:o}", "used", (json_int_t)used, "left",
                     limit > 0 ? json_integer(left > 0 ? left : 0) : json_null(), "limit",
                     limit > 0 ? json_integer(limit) : json_null());
}

static json_t *series_state_json(const struct series_state *ss, bool deferred)
{
    json_t *o = json_object();
    json_object_set_new_nocheck(o, "symbol", str_json(ss->symbol));
    json_object_set_new_nocheck(o, "timeframe", json_string(timeframe_name(ss->tf)));
    if (deferred) {
        json_object_set_new_nocheck(o, "since", time_json(ss->deferred_since));
        json_object_set_new_nocheck(o, "reason", str_json(ss->deferred_reason));
    } else {
        json_object_set_new_nocheck(o, "streak", json_integer(ss->streak));
        json_object_set_new_nocheck(o, "last_error", str_json(ss->last_error));
    }
    return o;
}

static json_t *circuit_json(const struct health_provider *p, int64_t now_ms)
{
    const struct breaker_info *bi = &p->circuit;
    int64_t wait = bi->next_probe_ms > now_ms ? bi->next_probe_ms - now_ms : 0;
    if (!p->circuit_known)
        return json_pack("{s:s, s:s}", "state", "unknown", "reason",
                         "no circuit state was recorded for this provider");
    return json_pack("{s:s, s:i, s:o, s:I}", "state", breaker_state_name(bi->state), "failures",
                     bi->failures, "next_probe_seconds",
                     bi->state == BREAKER_CLOSED ? json_null() : json_integer((wait + 999) / 1000),
                     "recovery_seconds", (json_int_t)(bi->recovery_ms / 1000));
}

static json_t *provider_json(const struct health_provider *p, int64_t now_ms)
{
    json_t *o = json_object(), *deferred = json_array(), *skipped = json_array(),
           *failing = json_array();
    const struct rate_state *rs = &p->rate;

    json_object_set_new_nocheck(o, "source", str_json(p->source));
    json_object_set_new_nocheck(o, "circuit", circuit_json(p, now_ms));
    if (p->has_budget) {
        /* "minute" is the budget's window, a minute unless the venue counts per second. */
        json_object_set_new_nocheck(o, "budget", str_json(p->budget_key));
        json_object_set_new_nocheck(
            o, "window_seconds",
            json_integer((json_int_t)((p->budget.period_ms ? p->budget.period_ms : 60000) / 1000)));
        json_object_set_new_nocheck(
            o, "credits",
            json_pack("{s:o, s:o}", "minute", credits_json(rs->window_used, p->budget.per_window),
                      "day", credits_json(rs->day_used, p->budget.per_day)));
        json_object_set_new_nocheck(
            o, "ban",
            rs->banned_until_ms > now_ms
                ? json_pack("{s:o, s:I, s:o}", "until", time_json(rs->banned_until_ms / 1000),
                            "seconds_left",
                            (json_int_t)((rs->banned_until_ms - now_ms + 999) / 1000), "reason",
                            str_json(rs->ban_reason))
                : json_null());
    } else {
        json_object_set_new_nocheck(o, "credits", json_null());
        json_object_set_new_nocheck(o, "ban", json_null());
    }
    for (size_t j = 0; j < p->nseries; j++) {
        const struct series_state *ss = p->series[j];
        if (ss->deferred_since)
            json_array_append_new(deferred, series_state_json(ss, true));
        if (health_series_skipped(p, ss))
            json_array_append_new(skipped, series_state_json(ss, false));
        else if (ss->streak > 0)
            json_array_append_new(failing, series_state_json(ss, false));
    }
    json_object_set_new_nocheck(o, "deferred", deferred);
    json_object_set_new_nocheck(o, "skipped", skipped);
    json_object_set_new_nocheck(o, "failing", failing);
    return o;
}

json_t *health_report_json(const struct health_report *r)
{
    json_t *root = json_object(), *db, *daemons = json_array(), *prov = json_array();

    db = json_pack("{s:b, s:s}", "reachable", r->reachable, "backend", r->backend);
    if (!r->reachable && r->db_error)
        json_object_set_new_nocheck(db, "error", str_json(r->db_error));
    for (size_t i = 0; i < r->ndaemons; i++)
        json_array_append_new(daemons, str_json(r->daemons[i]));
    for (size_t i = 0; i < r->nproviders; i++)
        json_array_append_new(prov, provider_json(&r->providers[i], r->now_ms));
    json_object_set_new_nocheck(root, "database", db);
    json_object_set_new_nocheck(root, "daemons", daemons);
    json_object_set_new_nocheck(root, "jobs", jobs_json(r));
    json_object_set_new_nocheck(root, "series", series_json(r));
    json_object_set_new_nocheck(root, "providers", prov);
    json_object_set_new_nocheck(root, "host", host_json(&r->host));
    json_object_set_new_nocheck(root, "backups", backups_json(r));
    return root;
}
