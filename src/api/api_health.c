/* SPDX-License-Identifier: MIT */
/*
 * GET /health: is this daemon doing its job?
 *
 *   {"status": "ok" | "degraded" | "unavailable", "version", "instance",
 *    "uptime_seconds",
 *    "database": {"reachable", "backend", "error"?},
 *    "scheduler": {"running"},
 *    "jobs": {"count", "paused", "overdue", "failing",
 *             "list": [{"id", "paused", "overdue", "streak", "next_run"}]},
 *    "series": [{"source", "symbol", "timeframe", "latest", "age_seconds"}],
 *    "providers": [{"source",
 *                   "circuit": {"state", "failures", "next_probe_seconds", "recovery_seconds"},
 *                   "credits": {"minute": {"used", "left", "limit"},
 *                               "day": {"used", "left", "limit"}},
 *                   "ban": null | {"until", "seconds_left", "reason"},
 *                   "deferred": [{"symbol", "timeframe", "since", "reason"}],
 *                   "skipped": [{"symbol", "timeframe", "streak", "last_error"}],
 *                   "failing": [{"symbol", "timeframe", "streak", "last_error"}]}]}
 *
 * "unavailable" (503) when the database cannot be reached or the scheduler
 * is not running (also when there is none, as in tests: a daemon without
 * a scheduler is not doing its job); "degraded" (200) when both are fine
 * but a job is overdue or failing (a streak of at least one failed run),
 * a provider's circuit is not closed, a provider's ban is in force or a
 * series is skipped for its failure streak; "ok" (200) otherwise. A load
 * balancer or systemd probe can therefore act on the status code alone.
 *
 * Providers are the enabled configured sources: the circuit breaker of
 * this process, and from the database (so the same for every instance)
 * the rate budget (credits used and left in the last minute and the UTC
 * day; "left" and "limit" null for a day without quota), a ban in force,
 * and the series that are deferred for want of budget, skipped for their
 * failure streak, or failing but not yet skipped.
 *
 * Reachability is a real round trip on this thread's connection that
 * also checks the database takes writes (store_check_writable(): an
 * SQLite file locked by another process past a second, a read-only
 * PostgreSQL standby); a connection that fails it is reopened once, so a
 * database restart shows as reachable again on the next probe.
 *
 * The series are the configured ones (each enabled source's symbols and
 * timeframes), so a series that never got a candle shows too, with
 * "latest" and "age_seconds" null; finding the newest candle of each is an
 * index probe, so a probe costs the same on a million candles as on ten.
 * Without settings (tests), every stored series is listed instead. A
 * series' age is the time since its newest stored candle closed (open time
 * plus one period), never negative.
 */
#include "api/api_internal.h"

#include "app/settings.h"
#include "market/timeframe.h"
#include "resilience/breaker.h"
#include "resilience/ratelimit.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static const char *backend_of_url(const char *url)
{
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
        return "postgresql";
    if (!strncmp(url, "sqlite:", 7) || (strlen(url) > 3 && !strcmp(url + strlen(url) - 3, ".db")))
        return "sqlite";
    return "unknown";
}

int64_t api_series_age(enum timeframe tf, int64_t latest, int64_t now)
{
    int64_t age = now - (latest + timeframe_seconds(tf));
    return age > 0 ? age : 0;
}

int api_series_collect(struct api_request *req, struct store *st, struct api_series_list *out,
                       struct strbuf *err)
{
    const struct settings *s = req->api->settings;
    size_t alloc = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!s) {
        rc = store_list_series(st, &out->stored, &out->nstored, err);
        for (size_t i = 0; !rc && i < out->nstored; i++) {
            const struct series_info *si = &out->stored[i];
            ALLOC_GROW(out->v, out->n + 1, alloc);
            out->v[out->n++] = (struct api_series){.source = si->source,
                                                   .symbol = si->symbol,
                                                   .tf = si->tf,
                                                   .has_latest = si->count > 0,
                                                   .latest = si->last_time};
        }
        return rc;
    }
    for (size_t i = 0; i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        if (!src->enabled)
            continue;
        for (size_t y = 0; y < src->nsymbols; y++) {
            for (size_t t = 0; t < src->ntimeframes; t++) {
                struct series_key k = {src->name, src->symbols[y], src->timeframes[t]};
                struct api_series *e;
                int64_t latest = 0;
                rc = store_latest_time(st, &k, &latest, err);
                if (rc && rc != CK_ENOTFOUND)
                    return rc;
                strbuf_reset(err);
                ALLOC_GROW(out->v, out->n + 1, alloc);
                e = &out->v[out->n++];
                *e = (struct api_series){.source = k.source,
                                         .symbol = k.symbol,
                                         .tf = k.tf,
                                         .has_latest = rc == 0,
                                         .latest = latest};
                rc = 0;
            }
        }
    }
    return 0;
}

void api_series_release(struct api_series_list *l)
{
    free(l->v);
    series_info_free(l->stored, l->nstored);
    memset(l, 0, sizeof(*l));
}

bool api_series_is_skipped(const struct source_settings *src, const struct series_state *s)
{
    return src->symbol_skip_after > 0 && s->streak >= src->symbol_skip_after;
}

/* Is (symbol, tf) one of the series `src` is configured for? */
static bool configured(const struct source_settings *src, const char *symbol, enum timeframe tf)
{
    bool tf_ok = false;
    for (size_t i = 0; i < src->ntimeframes; i++)
        tf_ok = tf_ok || src->timeframes[i] == tf;
    return tf_ok && source_settings_has_symbol(src, symbol);
}

int api_providers_collect(struct api_request *req, struct store *st, int64_t now_ms,
                          struct api_providers *out, struct strbuf *err)
{
    const struct settings *s = req->api->settings;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!s)
        return 0;
    out->v = xcalloc(s->nsources ? s->nsources : 1, sizeof(*out->v));
    for (size_t i = 0; i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        struct api_provider *p;
        if (!src->enabled)
            continue;
        p = &out->v[out->n++];
        p->src = src;
        if (req->api->breakers && req->api->breakers[i]) {
            p->has_circuit = true;
            breaker_info(req->api->breakers[i], now_ms, &p->circuit);
        }
        ratelimit_budget(&p->budget, src->name, src->rate_per_minute, src->daily_quota);
        if (st && !rc) {
            rc = store_rate_peek(st, &p->budget, now_ms, &p->rate, err);
            p->has_budget = !rc;
        }
    }
    if (!st || rc)
        return rc;
    rc = store_series_state_list(st, NULL, &out->states, &out->nstates, err);
    for (size_t i = 0; !rc && i < out->n; i++) {
        struct api_provider *p = &out->v[i];
        size_t alloc = 0;
        for (size_t j = 0; j < out->nstates; j++) {
            struct series_state *ss = &out->states[j];
            if (strcmp(ss->source, p->src->name) || !configured(p->src, ss->symbol, ss->tf))
                continue;
            ALLOC_GROW(p->series, p->nseries + 1, alloc);
            p->series[p->nseries++] = ss;
        }
    }
    return rc;
}

void api_providers_release(struct api_providers *p)
{
    for (size_t i = 0; p->v && i < p->n; i++)
        free(p->v[i].series);
    free(p->v);
    series_states_free(p->states, p->nstates);
    memset(p, 0, sizeof(*p));
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
    json_object_set_new_nocheck(o, "symbol", api_json_str(ss->symbol));
    json_object_set_new_nocheck(o, "timeframe", json_string(timeframe_name(ss->tf)));
    if (deferred) {
        json_object_set_new_nocheck(o, "since", api_json_time_or_null(ss->deferred_since));
        json_object_set_new_nocheck(o, "reason", api_json_str(ss->deferred_reason));
    } else {
        json_object_set_new_nocheck(o, "streak", json_integer(ss->streak));
        json_object_set_new_nocheck(o, "last_error", api_json_str(ss->last_error));
    }
    return o;
}

/* The "providers" array; `*out_degraded` is set when one needs attention. */
static json_t *providers_json(const struct api_providers *ps, int64_t now_ms, bool *out_degraded)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < ps->n; i++) {
        const struct api_provider *p = &ps->v[i];
        json_t *o = json_object(), *deferred = json_array(), *skipped = json_array(),
               *failing = json_array();

        json_object_set_new_nocheck(o, "source", api_json_str(p->src->name));
        if (p->has_circuit) {
            const struct breaker_info *bi = &p->circuit;
            int64_t wait = bi->next_probe_ms > now_ms ? bi->next_probe_ms - now_ms : 0;
            json_object_set_new_nocheck(
                o, "circuit",
                json_pack("{s:s, s:i, s:o, s:I}", "state", breaker_state_name(bi->state),
                          "failures", bi->failures, "next_probe_seconds",
                          bi->state == BREAKER_CLOSED ? json_null()
                                                      : json_integer((wait + 999) / 1000),
                          "recovery_seconds", (json_int_t)(bi->recovery_ms / 1000)));
            *out_degraded = *out_degraded || bi->state != BREAKER_CLOSED;
        } else {
            json_object_set_new_nocheck(o, "circuit", json_null());
        }
        if (p->has_budget) {
            const struct rate_state *r = &p->rate;
            json_object_set_new_nocheck(
                o, "credits",
                json_pack("{s:o, s:o}", "minute",
                          credits_json(r->window_used, p->budget.per_window), "day",
                          credits_json(r->day_used, p->budget.per_day)));
            if (r->banned_until_ms > now_ms) {
                json_object_set_new_nocheck(
                    o, "ban",
                    json_pack("{s:o, s:I, s:o}", "until", api_json_time(r->banned_until_ms / 1000),
                              "seconds_left",
                              (json_int_t)((r->banned_until_ms - now_ms + 999) / 1000), "reason",
                              api_json_str(r->ban_reason)));
                *out_degraded = true;
            } else {
                json_object_set_new_nocheck(o, "ban", json_null());
            }
        } else {
            json_object_set_new_nocheck(o, "credits", json_null());
            json_object_set_new_nocheck(o, "ban", json_null());
        }
        for (size_t j = 0; j < p->nseries; j++) {
            const struct series_state *ss = p->series[j];
            if (ss->deferred_since)
                json_array_append_new(deferred, series_state_json(ss, true));
            if (api_series_is_skipped(p->src, ss)) {
                json_array_append_new(skipped, series_state_json(ss, false));
                *out_degraded = true;
            } else if (ss->streak > 0) {
                json_array_append_new(failing, series_state_json(ss, false));
            }
        }
        json_object_set_new_nocheck(o, "deferred", deferred);
        json_object_set_new_nocheck(o, "skipped", skipped);
        json_object_set_new_nocheck(o, "failing", failing);
        json_array_append_new(arr, o);
    }
    return arr;
}

/*
 * This thread's store if the database answers and takes writes (what the
 * jobs need), else NULL with the reason in err.
 */
static struct store *reachable_store(struct api_request *req, struct strbuf *err)
{
    struct store *st = api_store(req, err);
    if (st && !store_check_writable(st, err))
        return st;
    if (st) {
        /* A connection that died (server restart): try a fresh one once. */
        strbuf_reset(err);
        api_store_reset(req);
        st = api_store(req, err);
        if (st && !store_check_writable(st, err))
            return st;
    }
    return NULL;
}

void api_health_get(struct api_request *req)
{
    struct api *a = req->api;
    struct strbuf err = STRBUF_INIT;
    struct api_series_list series = {0};
    struct api_providers providers = {0};
    struct api_jobs jobs = {0};
    size_t npaused = 0, noverdue = 0, nfailing = 0;
    struct store *st = reachable_store(req, &err);
    bool sched_running = a->sched && sched_is_running(a->sched);
    /* Ages by the pinnable clock (as /candles), budgets by the jobs' clock. */
    int64_t now = time_now(), now_ms = api_now_ms();
    json_t *db, *list, *arr, *prov;
    bool prov_degraded = false;
    const char *status;

    db = json_pack("{s:b, s:s}", "reachable", st != NULL, "backend",
                   st ? store_backend_name(st) : backend_of_url(a->store_url));
    if (!st) {
        json_t *e = json_string(err.buf);
        if (e)
            json_object_set_new_nocheck(db, "error", e);
    }

    /* A store error below only hides that part; the database check above decides. */
    strbuf_reset(&err);
    if (api_jobs_collect(req, st, &jobs, &err))
        strbuf_reset(&err);
    list = json_array();
    for (size_t i = 0; i < jobs.n; i++) {
        const struct api_job *j = &jobs.v[i];
        bool overdue = j->scheduled && j->info.overdue;
        json_t *o = json_object();
        npaused += j->paused;
        noverdue += overdue;
        nfailing += j->streak > 0;
        json_object_set_new_nocheck(o, "id", api_json_str(j->id));
        json_object_set_new_nocheck(o, "paused", json_boolean(j->paused));
        json_object_set_new_nocheck(o, "overdue", json_boolean(overdue));
        json_object_set_new_nocheck(o, "streak", json_integer(j->streak));
        json_object_set_new_nocheck(
            o, "next_run",
            j->scheduled && j->info.next_run >= 0 ? api_json_time(j->info.next_run) : json_null());
        json_array_append_new(list, o);
    }

    arr = json_array();
    strbuf_reset(&err);
    if (st && !api_series_collect(req, st, &series, &err)) {
        for (size_t i = 0; i < series.n; i++) {
            const struct api_series *se = &series.v[i];
            json_t *o = json_object();
            json_object_set_new_nocheck(o, "source", api_json_str(se->source));
            json_object_set_new_nocheck(o, "symbol", api_json_str(se->symbol));
            json_object_set_new_nocheck(o, "timeframe", json_string(timeframe_name(se->tf)));
            json_object_set_new_nocheck(o, "latest",
                                        se->has_latest ? api_json_time(se->latest) : json_null());
            json_object_set_new_nocheck(o, "age_seconds",
                                        se->has_latest
                                            ? json_integer(api_series_age(se->tf, se->latest, now))
                                            : json_null());
            json_array_append_new(arr, o);
        }
    }

    strbuf_reset(&err);
    if (api_providers_collect(req, st, now_ms, &providers, &err))
        strbuf_reset(&err);
    prov = providers_json(&providers, now_ms, &prov_degraded);

    if (!st || !sched_running)
        status = "unavailable";
    else if (noverdue || nfailing || prov_degraded)
        status = "degraded";
    else
        status = "ok";

    int64_t uptime = (api_now_ms() - a->started_ms) / 1000;
    json_t *body = json_object(), *jobs_o = json_object();
    json_object_set_new_nocheck(jobs_o, "count", json_integer((json_int_t)jobs.n));
    json_object_set_new_nocheck(jobs_o, "paused", json_integer((json_int_t)npaused));
    json_object_set_new_nocheck(jobs_o, "overdue", json_integer((json_int_t)noverdue));
    json_object_set_new_nocheck(jobs_o, "failing", json_integer((json_int_t)nfailing));
    json_object_set_new_nocheck(jobs_o, "list", list);
    json_object_set_new_nocheck(body, "status", json_string(status));
    json_object_set_new_nocheck(body, "version", json_string(CK_VERSION));
    json_object_set_new_nocheck(body, "instance", api_json_str(a->instance));
    json_object_set_new_nocheck(body, "uptime_seconds", json_integer(uptime > 0 ? uptime : 0));
    json_object_set_new_nocheck(body, "database", db);
    json_object_set_new_nocheck(body, "scheduler", json_pack("{s:b}", "running", sched_running));
    json_object_set_new_nocheck(body, "jobs", jobs_o);
    json_object_set_new_nocheck(body, "series", arr);
    json_object_set_new_nocheck(body, "providers", prov);
    api_reply_json(req, !strcmp(status, "unavailable") ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                   body);

    api_series_release(&series);
    api_providers_release(&providers);
    api_jobs_release(&jobs);
    strbuf_release(&err);
}
