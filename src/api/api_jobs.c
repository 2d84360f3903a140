/* SPDX-License-Identifier: MIT */
/*
 * The job resources:
 *
 *   GET  /jobs                 every job with its schedule, state and last run
 *   GET  /jobs/{id}            one job
 *   GET  /jobs/{id}/runs       its run history, newest first (?limit=20, 1..1000)
 *   POST /jobs/{id}/run        run it now (202; 409 when running; 503 without scheduler)
 *   POST /jobs/{id}/pause      set its paused flag in the database (200)
 *   POST /jobs/{id}/resume     clear it (200)
 *
 * A job is what the scheduler runs merged with the job's database row: the
 * scheduler knows the schedule, the next run and whether it runs right
 * now; the database knows the paused flag, the failure streak and the
 * history, and is shared with the CLI and other daemons. Without a
 * scheduler (cfg->sched NULL) the database rows alone are listed. A job is
 * unknown (404) when neither knows it.
 *
 * The paused flag is written to the database and nowhere else, so a pause
 * survives restarts and every daemon sharing the database sees it; the
 * scheduler reads it before each fire. POSTs are authorized by api.c
 * before these handlers run.
 */
#include "api/api_internal.h"

#include "health/rules.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define JOB_ID_MAX_LEN 128

/* ---- collecting jobs ---- */

static size_t sched_snapshot(struct sched *s, struct sched_job_info **out)
{
    size_t cap = 32, n;
    *out = NULL;
    if (!s)
        return 0;
    for (;;) {
        *out = xrealloc(*out, cap * sizeof(**out));
        n = sched_jobs(s, *out, cap);
        if (n <= cap)
            return n;
        cap = n;
    }
}

/* The pause of `row` as it holds now (job_state_paused()). */
static void set_pause(struct api_job *j, const struct job_state *row)
{
    j->paused = job_state_paused(row, time_now());
    if (j->paused) {
        j->paused_until = row->paused_until;
        j->pause_reason = row->pause_reason;
        j->paused_by = row->paused_by;
    }
}

int api_jobs_collect(struct api_request *req, struct store *st, struct api_jobs *out,
                     struct strbuf *err)
{
    struct sched_job_info *infos;
    size_t ninfos = sched_snapshot(req->api->sched, &infos), alloc = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (st)
        rc = store_job_list(st, &out->rows, &out->nrows, err);
    for (size_t i = 0; i < ninfos; i++) {
        struct api_job *j;
        ALLOC_GROW(out->v, out->n + 1, alloc);
        j = &out->v[out->n++];
        memset(j, 0, sizeof(*j));
        j->id = infos[i].id;
        j->scheduled = true;
        j->info = infos[i];
        j->last_fire = infos[i].last_fire;
    }
    for (size_t r = 0; r < out->nrows; r++) {
        const struct job_state *row = &out->rows[r];
        struct api_job *j = NULL;
        for (size_t i = 0; i < ninfos && !j; i++)
            if (!strcmp(out->v[i].id, row->job_id))
                j = &out->v[i];
        if (!j) {
            ALLOC_GROW(out->v, out->n + 1, alloc);
            j = &out->v[out->n++];
            memset(j, 0, sizeof(*j));
            j->id = row->job_id;
        }
        j->has_row = true;
        set_pause(j, row);
        j->streak = row->streak;
        if (row->last_fire > j->last_fire)
            j->last_fire = row->last_fire;
    }
    free(infos);
    return rc;
}

void api_jobs_release(struct api_jobs *jobs)
{
    free(jobs->v);
    job_states_free(jobs->rows, jobs->nrows);
    memset(jobs, 0, sizeof(*jobs));
}

/*
 * One job by id: fills `j` (strings borrowed from the scheduler or from
 * `*row`, which the caller releases). Returns 0, CK_ENOTFOUND, or the
 * store's error.
 */
static int job_find(struct api_request *req, struct store *st, const char *id, struct api_job *j,
                    struct job_state *row, struct strbuf *err)
{
    int rc;
    memset(j, 0, sizeof(*j));
    memset(row, 0, sizeof(*row));
    if (req->api->sched && !sched_job(req->api->sched, id, &j->info)) {
        j->scheduled = true;
        j->id = j->info.id;
        j->last_fire = j->info.last_fire;
    }
    rc = store_job_get(st, id, row, err);
    if (rc == CK_ENOTFOUND) {
        strbuf_reset(err);
        return j->scheduled ? 0 : CK_ENOTFOUND;
    }
    if (rc)
        return rc;
    if (!j->id)
        j->id = row->job_id;
    j->has_row = true;
    set_pause(j, row);
    j->streak = row->streak;
    if (row->last_fire > j->last_fire)
        j->last_fire = row->last_fire;
    return 0;
}

/* ---- JSON ---- */

json_t *api_run_json(const struct job_run *r)
{
    json_t *o = json_object(), *details = NULL;
    json_object_set_new_nocheck(o, "id", json_integer(r->id));
    json_object_set_new_nocheck(o, "job_id", api_json_str(r->job_id));
    json_object_set_new_nocheck(o, "status", json_string_nocheck(job_status_name(r->status)));
    json_object_set_new_nocheck(o, "scheduled", api_json_time_or_null(r->scheduled));
    json_object_set_new_nocheck(o, "started", api_json_time_or_null(r->started / 1000));
    json_object_set_new_nocheck(o, "finished",
                                r->finished ? api_json_time(r->finished / 1000) : json_null());
    json_object_set_new_nocheck(o, "duration_ms",
                                r->finished ? json_integer(r->finished - r->started) : json_null());
    json_object_set_new_nocheck(o, "message", api_json_str(r->message));
    /* details is JSON text written by the job; anything else is shown as text. */
    if (r->details && *r->details) {
        details = json_loads(r->details, 0, NULL);
        if (details && !json_is_object(details)) {
            json_decref(details);
            details = NULL;
        }
        if (!details)
            details = json_pack("{s:o}", "text", api_json_str(r->details));
    }
    json_object_set_new_nocheck(o, "details", details ? details : json_object());
    json_object_set_new_nocheck(o, "instance", api_json_str(r->instance));
    return o;
}

json_t *api_job_json(const struct api_job *j, const struct job_run *last)
{
    json_t *o = json_object();
    const struct sched_job_info *in = j->scheduled ? &j->info : NULL;
    json_object_set_new_nocheck(o, "id", api_json_str(j->id));
    json_object_set_new_nocheck(o, "name", api_json_str(in ? in->name : NULL));
    json_object_set_new_nocheck(o, "schedule", api_json_str(in ? in->cron : NULL));
    json_object_set_new_nocheck(o, "scheduled", json_boolean(j->scheduled));
    json_object_set_new_nocheck(o, "paused", json_boolean(j->paused));
    json_object_set_new_nocheck(o, "paused_until", api_json_time_or_null(j->paused_until));
    json_object_set_new_nocheck(o, "pause_reason",
                                j->pause_reason && *j->pause_reason ? api_json_str(j->pause_reason)
                                                                    : json_null());
    json_object_set_new_nocheck(
        o, "paused_by", j->paused_by && *j->paused_by ? api_json_str(j->paused_by) : json_null());
    json_object_set_new_nocheck(o, "running", json_boolean(in && in->running));
    json_object_set_new_nocheck(o, "running_since",
                                in && in->running ? api_json_time(in->running_since / 1000)
                                                  : json_null());
    /* One definition of overdue, the health report's (health/rules.h). */
    json_object_set_new_nocheck(
        o, "overdue",
        json_boolean(in && health_job_overdue(in->next_run, in->period, j->paused, time_now())));
    json_object_set_new_nocheck(o, "streak", json_integer(j->streak));
    json_object_set_new_nocheck(
        o, "next_run", in && in->next_run >= 0 ? api_json_time(in->next_run) : json_null());
    json_object_set_new_nocheck(o, "period_seconds", in ? json_integer(in->period) : json_null());
    json_object_set_new_nocheck(o, "timeout_seconds", in ? json_integer(in->timeout) : json_null());
    json_object_set_new_nocheck(o, "last_fire", api_json_time_or_null(j->last_fire));
    json_object_set_new_nocheck(o, "last_run", last ? api_run_json(last) : json_null());
    return o;
}

/* ---- handlers ---- */

/* The {id} of the path, or NULL after answering 404 for one that cannot be a job id. */
static const char *job_id_arg(struct api_request *req)
{
    const char *id = req->args[0];
    char ebuf[80];
    bool ok = strlen(id) <= JOB_ID_MAX_LEN;
    for (const char *p = id; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '-' || *p == '.' || *p == ':';
    if (ok)
        return id;
    api_echo(ebuf, sizeof(ebuf), id);
    api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no job '%s'", ebuf);
    return NULL;
}

static struct store *store_or_reply(struct api_request *req, struct strbuf *err)
{
    struct store *st = api_store(req, err);
    if (!st)
        api_store_unavailable(req, err);
    return st;
}

/* The newest run of `id` into *out (owned by the caller), or *n = 0. */
static int last_run(struct store *st, const char *id, struct job_run **out, size_t *n,
                    struct strbuf *err)
{
    return store_job_runs_list(st, id, 1, out, n, err);
}

void api_jobs_list(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct api_jobs jobs = {0};
    struct store *st = store_or_reply(req, &err);
    json_t *arr = NULL;
    int rc;

    if (!st)
        goto out;
    rc = api_jobs_collect(req, st, &jobs, &err);
    if (rc) {
        api_store_error(req, rc, "listing jobs", &err);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < jobs.n; i++) {
        struct job_run *runs = NULL;
        size_t nruns = 0;
        rc = last_run(st, jobs.v[i].id, &runs, &nruns, &err);
        if (rc) {
            api_store_error(req, rc, "reading job history", &err);
            goto out;
        }
        json_array_append_new(arr, api_job_json(&jobs.v[i], nruns ? &runs[0] : NULL));
        job_runs_free(runs, nruns);
    }
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:I, s:o}", "count", (json_int_t)jobs.n, "jobs", arr));
    arr = NULL;
out:
    json_decref(arr);
    api_jobs_release(&jobs);
    strbuf_release(&err);
}

void api_job_get(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *id = job_id_arg(req);
    struct job_run *runs = NULL;
    struct job_state row = {0};
    struct api_job j;
    size_t nruns = 0;
    struct store *st;
    int rc;

    if (!id || !(st = store_or_reply(req, &err)))
        goto out;
    rc = job_find(req, st, id, &j, &row, &err);
    if (rc == CK_ENOTFOUND) {
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no job '%s'", id);
        goto out;
    }
    if (!rc)
        rc = last_run(st, id, &runs, &nruns, &err);
    if (rc) {
        api_store_error(req, rc, "reading the job", &err);
        goto out;
    }
    api_reply_json(req, MHD_HTTP_OK, api_job_json(&j, nruns ? &runs[0] : NULL));
out:
    job_runs_free(runs, nruns);
    job_state_release(&row);
    strbuf_release(&err);
}

void api_job_runs(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *id = job_id_arg(req);
    struct job_run *runs = NULL;
    struct job_state row = {0};
    struct api_job j;
    size_t nruns = 0;
    struct store *st;
    int64_t limit;
    int rc;

    if (!id || api_param_int(req, "limit", 20, 1, 1000, &limit) ||
        !(st = store_or_reply(req, &err)))
        goto out;
    rc = job_find(req, st, id, &j, &row, &err);
    if (rc == CK_ENOTFOUND) {
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no job '%s'", id);
        goto out;
    }
    if (!rc)
        rc = store_job_runs_list(st, id, (size_t)limit, &runs, &nruns, &err);
    if (rc) {
        api_store_error(req, rc, "reading job history", &err);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < nruns; i++)
        json_array_append_new(arr, api_run_json(&runs[i]));
    api_reply_json(
        req, MHD_HTTP_OK,
        json_pack("{s:s, s:I, s:o}", "job_id", id, "count", (json_int_t)nruns, "runs", arr));
out:
    job_runs_free(runs, nruns);
    job_state_release(&row);
    strbuf_release(&err);
}

void api_job_run(struct api_request *req)
{
    const char *id = job_id_arg(req);
    if (id)
        api_job_start(req, id, "manual");
}

void api_job_start(struct api_request *req, const char *id, const char *trigger)
{
    struct strbuf err = STRBUF_INIT;
    struct sched *s = req->api->sched;
    int rc;

    if (!s || !sched_is_running(s)) {
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                        "scheduler not running: job '%s' cannot be started from here", id);
        goto out;
    }
    rc = sched_run_now_as(s, id, trigger, &err);
    switch (rc) {
    case 0:
        log_info("api: job '%s' started on request (%s)", id, trigger);
        api_reply_json(req, MHD_HTTP_ACCEPTED,
                       json_pack("{s:s, s:s}", "id", id, "status", "queued"));
        break;
    case CK_ENOTFOUND:
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no job '%s'", id);
        break;
    case CK_EBUSY:
        api_reply_error(req, MHD_HTTP_CONFLICT, NULL, "job '%s' is already running", id);
        break;
    default:
        log_warn("api: cannot start job '%s': %s", id, err.buf);
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, err.buf, "cannot start job '%s'", id);
    }
out:
    strbuf_release(&err);
}

static void set_paused(struct api_request *req, bool paused)
{
    const char *id = job_id_arg(req);
    if (id)
        api_job_set_paused(req, id, paused);
}

/*
 * The body of a pause: {"until": "<ISO 8601>" | "for": "2h", "reason": "..."},
 * every member optional; none or an empty body is a pause until resumed.
 * Fills `p` (strings borrowed from `*json`, which the caller decrefs).
 * On bad input answers 400 and returns -1.
 */
static int parse_pause(struct api_request *req, json_t **json, struct job_pause *p)
{
    const char *until = NULL, *dur = NULL, *reason = NULL;
    json_error_t jerr;
    int64_t t;

    *json = NULL;
    if (!req->body || !req->body_len)
        return 0;
    *json = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!*json || !json_is_object(*json) ||
        json_unpack_ex(*json, &jerr, JSON_STRICT, "{s?s, s?s, s?s}", "until", &until, "for", &dur,
                       "reason", &reason)) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, jerr.text,
                        "the body of a pause is {\"until\": TIME, \"for\": DURATION, "
                        "\"reason\": TEXT}, each optional");
        return -1;
    }
    if (until && dur) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "a pause takes 'until' or 'for', not both");
        return -1;
    }
    if (until && time_parse(until, &t)) {
        char ebuf[80];
        api_echo(ebuf, sizeof(ebuf), until);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "'until': '%s' is not a time (2024-01-02T15:00:00Z)", ebuf);
        return -1;
    }
    if (dur && (parse_duration(dur, &t) || t <= 0)) {
        char ebuf[80];
        api_echo(ebuf, sizeof(ebuf), dur);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "'for': '%s' is not a duration above 0 (e.g. 30m, 2h, 1d)", ebuf);
        return -1;
    }
    p->until = until ? t : dur ? time_now() + t : 0;
    p->reason = reason;
    return 0;
}

void api_job_set_paused(struct api_request *req, const char *id, bool paused)
{
    struct strbuf err = STRBUF_INIT;
    struct job_state row = {0};
    struct job_pause p = {.paused = paused, .by = "api"};
    json_t *body = NULL;
    bool pending = false;
    struct api_job j;
    struct store *st;
    int rc;

    if ((paused && parse_pause(req, &body, &p)) || !(st = store_or_reply(req, &err)))
        goto out;
    rc = job_find(req, st, id, &j, &row, &err);
    if (rc == CK_ENOTFOUND) {
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no job '%s'", id);
        goto out;
    }
    if (!rc)
        rc = paused ? store_job_pause(st, id, &p, time_now(), &err)
                    : sched_job_resume(st, id, time_now(), &pending, &err);
    if (rc) {
        api_store_error(req, rc, paused ? "pausing the job" : "resuming the job", &err);
        goto out;
    }
    log_info("api: job '%s' %s", id, paused ? "paused" : "resumed");
    json_t *o = json_pack("{s:s, s:b}", "id", id, "paused", paused);
    if (paused) {
        json_object_set_new(o, "paused_until", api_json_time_or_null(p.until));
        json_object_set_new(o, "pause_reason", p.reason ? api_json_str(p.reason) : json_null());
    } else {
        /* A fire skipped during the pause is run once by the scheduler. */
        json_object_set_new(o, "missed_run_pending", json_boolean(pending));
    }
    api_reply_json(req, MHD_HTTP_OK, o);
out:
    json_decref(body);
    job_state_release(&row);
    strbuf_release(&err);
}

void api_job_pause(struct api_request *req)
{
    set_paused(req, true);
}

void api_job_resume(struct api_request *req)
{
    set_paused(req, false);
}
