/* SPDX-License-Identifier: MIT */
/*
 * GET /health: is this daemon doing its job?
 *
 *   {"status": "ok" | "degraded" | "unavailable", "version", "instance",
 *    "uptime_seconds",
 *    "database": {"reachable", "backend", "error"?},
 *    "scheduler": {"running"},
 *    "daemons": [instance, ...],
 *    "jobs": {"count", "paused", "overdue", "failing",
 *             "list": [{"id", "schedule", "paused", "overdue", "streak", "last_fire",
 *                       "next_run"}]},
 *    "series": [{"source", "symbol", "timeframe", "latest", "age_seconds",
 *                "missing_periods", "open_gaps"}],
 *    "providers": [{"source",
 *                   "circuit": {"state", "failures", "next_probe_seconds", "recovery_seconds"}
 *                              | {"state": "unknown", "reason"} (none here, none recorded),
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
 * this process once it has seen traffic, else the circuit last recorded
 * in the database (health/health.h), and from the database (so the same for every instance)
 * the rate budget (credits used and left in the last minute and the UTC
 * day; "left" and "limit" null for a day without quota), a ban in force,
 * and the series that are deferred for want of budget, skipped for their
 * failure streak, or failing but not yet skipped.
 *
 * Reachability is a real round trip on this thread's connection that
 * also checks the database takes writes (store_check_writable(): an
 * SQLite file locked by another process past a second, made read-only,
 * or on a full disk; a read-only PostgreSQL standby); a connection that
 * fails it is reopened once, so a database restart shows as reachable
 * again on the next probe. On SQLite that check is one committed write
 * of a page to the write-ahead log, without a sync, per probe.
 *
 * The series are the configured ones (each enabled source's symbols and
 * timeframes), so a series that never got a candle shows too, with
 * "latest" and "age_seconds" null; finding the newest candle of each is an
 * index probe, so a probe costs the same on a million candles as on ten.
 * Without settings (tests), every stored series is listed instead. A
 * series' age is the time since its newest stored candle closed (open time
 * plus one period), never negative.
 *
 * All of it but "status", "version", "instance", "uptime_seconds" and
 * "scheduler" is the health report (health/health.h), which `candlekeep
 * status --format json` prints in the same shape from the same rules.
 */
#include "api/api_internal.h"

#include "ck/settings.h"
#include "health/health.h"
#include "jobs/table.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

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

int api_health_collect(struct api_request *req, struct store *st, const char *db_error,
                       struct health_report *out, struct strbuf *err)
{
    struct api *a = req->api;
    struct job_table table = {0};
    struct health_config cfg = {
        .sources = a->settings->sources,
        .nsources = a->settings->nsources,
        .sched = a->sched,
        .breakers = a->breakers,
        .calendars = a->calendars,
        .store_url = a->store_url,
        .backup = &a->settings->backup,
    };
    int rc;

    /* Without a scheduler here, the jobs are the table's (the scheduler's are the same). */
    if (!a->sched && a->settings) {
        job_table_build(a->settings, NULL, &table);
        cfg.jobs = job_table_specs(&table);
        cfg.njobs = table.n;
    }
    rc = health_collect(&cfg, st, db_error, time_now(), time_wall_ms(), out, err);
    free((void *)cfg.jobs);
    job_table_release(&table);
    return rc;
}

void api_health_get(struct api_request *req)
{
    struct api *a = req->api;
    struct strbuf err = STRBUF_INIT, ignored = STRBUF_INIT;
    struct health_report r;
    struct store *st = reachable_store(req, &err);
    bool sched_running = a->sched && sched_is_running(a->sched);
    const char *status;

    /* A store error while collecting only hides that part; the check above decides. */
    api_health_collect(req, st, err.buf, &r, &ignored);
    if (!st || !sched_running)
        status = "unavailable";
    else if (health_degraded(&r))
        status = "degraded";
    else
        status = "ok";

    int64_t uptime = (time_wall_ms() - a->started_ms) / 1000;
    json_t *body = json_object(), *rep = health_report_json(&r);
    json_object_set_new_nocheck(body, "status", json_string(status));
    json_object_set_new_nocheck(body, "version", json_string(CK_VERSION));
    json_object_set_new_nocheck(body, "instance", api_json_str(a->instance));
    json_object_set_new_nocheck(body, "uptime_seconds", json_integer(uptime > 0 ? uptime : 0));
    json_object_set_new_nocheck(body, "scheduler", json_pack("{s:b}", "running", sched_running));
    json_object_update(body, rep);
    json_decref(rep);
    api_reply_json(req, !strcmp(status, "unavailable") ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                   body);
    health_report_release(&r);
    strbuf_release(&err);
    strbuf_release(&ignored);
}
