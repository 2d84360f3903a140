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
 *    "series": [{"source", "symbol", "timeframe", "latest", "age_seconds"}]}
 *
 * "unavailable" (503) when the database cannot be reached or the scheduler
 * is not running (also when there is none, as in tests: a daemon without
 * a scheduler is not doing its job); "degraded" (200) when both are fine
 * but a job is overdue or failing (a streak of at least one failed run);
 * "ok" (200) otherwise. A load balancer or systemd probe can therefore act
 * on the status code alone.
 *
 * Reachability is a real round trip on this thread's connection; a
 * connection that fails it is reopened once, so a database restart shows
 * as reachable again on the next probe. A series' age is the time since
 * its newest stored candle closed (open time plus one period), never
 * negative.
 */
#include "api/api_internal.h"

#include "market/timeframe.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

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

/* This thread's store if the database answers, else NULL with the reason in err. */
static struct store *reachable_store(struct api_request *req, struct strbuf *err)
{
    struct store *st = api_store(req, err);
    if (st && store_ping(st))
        return st;
    if (st) {
        /* A connection that died (server restart): try a fresh one once. */
        api_store_reset(req);
        st = api_store(req, err);
        if (st && store_ping(st))
            return st;
        if (st)
            strbuf_addstr(err, "the database does not answer");
    }
    return NULL;
}

void api_health_get(struct api_request *req)
{
    struct api *a = req->api;
    struct strbuf err = STRBUF_INIT;
    struct series_info *series = NULL;
    struct api_jobs jobs = {0};
    size_t nseries = 0, npaused = 0, noverdue = 0, nfailing = 0;
    struct store *st = reachable_store(req, &err);
    bool sched_running = a->sched && sched_is_running(a->sched);
    int64_t now = time_now();
    json_t *db, *list, *arr;
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
        npaused += j->paused;
        noverdue += overdue;
        nfailing += j->streak > 0;
        json_array_append_new(
            list, json_pack("{s:o, s:b, s:b, s:I, s:o}", "id", api_json_str(j->id), "paused",
                            j->paused,
                            "overdue", overdue, "streak", (json_int_t)j->streak, "next_run",
                            j->scheduled && j->info.next_run >= 0
                                ? api_json_time(j->info.next_run)
                                : json_null()));
    }

    arr = json_array();
    if (st && !store_list_series(st, &series, &nseries, &err)) {
        for (size_t i = 0; i < nseries; i++) {
            const struct series_info *si = &series[i];
            json_t *src = json_string(si->source), *sym = json_string(si->symbol);
            int64_t age;
            if (!si->count || !src || !sym) {
                json_decref(src);
                json_decref(sym);
                continue;
            }
            age = now - (si->last_time + timeframe_seconds(si->tf));
            json_array_append_new(arr, json_pack("{s:o, s:o, s:s, s:o, s:I}", "source", src,
                                                 "symbol", sym, "timeframe",
                                                 timeframe_name(si->tf), "latest",
                                                 api_json_time(si->last_time), "age_seconds",
                                                 (json_int_t)(age > 0 ? age : 0)));
        }
    }

    if (!st || !sched_running)
        status = "unavailable";
    else if (noverdue || nfailing)
        status = "degraded";
    else
        status = "ok";

    int64_t uptime = (api_now_ms() - a->started_ms) / 1000;
    json_t *body = json_pack(
        "{s:s, s:s, s:o, s:I, s:o, s:{s:b}, s:{s:I, s:I, s:I, s:I, s:o}, s:o}", "status", status,
        "version", CK_VERSION, "instance", api_json_str(a->instance), "uptime_seconds",
        (json_int_t)(uptime > 0 ? uptime : 0), "database", db, "scheduler", "running",
        sched_running, "jobs", "count", (json_int_t)jobs.n, "paused", (json_int_t)npaused,
        "overdue", (json_int_t)noverdue, "failing", (json_int_t)nfailing, "list", list, "series",
        arr);
    api_reply_json(req, !strcmp(status, "unavailable") ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                   body);

    series_info_free(series, nseries);
    api_jobs_release(&jobs);
    strbuf_release(&err);
}
