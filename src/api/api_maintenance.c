/* SPDX-License-Identifier: MIT */
/*
 * The maintenance resources. The tasks are jobs of kind "maintenance" of
 * the one job table (jobs/table.h), so these are views of the job
 * resources (api_jobs.c) restricted to that kind, and share their code:
 *
 *   GET  /maintenance/status                 counts: tasks, running, paused, failing
 *   GET  /maintenance/tasks                  every task as GET /jobs/{id} shows a job
 *   POST /maintenance/tasks/{task}/run       run it now (202; 409 running; 503 no scheduler)
 *   POST /maintenance/run-all                run every task now (202, with what was queued)
 *   GET  /maintenance/history?task=&limit=   their runs, newest first (limit 20, 1..1000)
 *   GET  /maintenance/schedule               schedule, next run and pause of each task
 *   POST /maintenance/schedule/{task}/pause  set its paused flag (200)
 *   POST /maintenance/schedule/{task}/resume clear it (200)
 *   POST /maintenance/emergency?task_name=T  run T now, out of schedule (as .../run)
 *   GET  /maintenance/metrics?task_name=T    runs by status, durations, last success
 *
 * A task name that is not a maintenance task's is 404, even when it is the
 * id of another job. POSTs are authorized by api.c before these run.
 */
#include "api/api_internal.h"

#include "jobs/maintenance.h"
#include "jobs/table.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* The runs GET /maintenance/metrics reads per task. */
#define METRICS_RUNS 1000

/* The job table of the API's settings, for listing (no bodies). */
static void tasks_table(struct api_request *req, struct job_table *t)
{
    memset(t, 0, sizeof(*t));
    if (req->api->settings)
        job_table_build(req->api->settings, NULL, t);
}

static bool is_task(const struct job_table *t, const char *id)
{
    const struct job_entry *e = id ? job_table_find(t, id) : NULL;
    return e && job_entry_is(e, JOB_KIND_MAINTENANCE);
}

/* `id` when it names a task of `t`; else answers 404 (400 when absent) and returns NULL. */
static const char *task_or_reply(struct api_request *req, const struct job_table *t, const char *id,
                                 const char *param)
{
    char ebuf[80];
    if (!id || !*id) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "query parameter '%s' is required", param);
        return NULL;
    }
    if (is_task(t, id))
        return id;
    api_echo(ebuf, sizeof(ebuf), id);
    api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no maintenance task '%s'", ebuf);
    return NULL;
}

static struct store *store_or_reply(struct api_request *req, struct strbuf *err)
{
    struct store *st = api_store(req, err);
    if (!st)
        api_store_unavailable(req, err);
    return st;
}

/* The schedule part of a task's JSON (GET /maintenance/schedule). */
static json_t *schedule_of(json_t *o)
{
    static const char *const keys[] = {"id",     "name",         "schedule",     "next_run",
                                       "paused", "paused_until", "pause_reason", "paused_by"};
    json_t *s = json_object();
    for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
        json_object_set(s, keys[k], json_object_get(o, keys[k]));
    return s;
}

/*
 * The tasks as the job resources see them, in the table's order, into
 * `arr`: each job's JSON (with its last run) when `full`, else its
 * schedule alone. Counts go to `counts` when not NULL. 0 or the store's
 * error (already answered).
 */
static int collect(struct api_request *req, struct store *st, const struct job_table *t, bool full,
                   json_t *arr, json_t *counts)
{
    struct strbuf err = STRBUF_INIT;
    struct api_jobs jobs = {0};
    int64_t n = 0, running = 0, paused = 0, failing = 0;
    int rc = api_jobs_collect(req, st, &jobs, &err);

    if (rc) {
        api_store_error(req, rc, "listing maintenance tasks", &err);
        goto out;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct api_job *j = NULL;
        struct api_job blank = {.id = t->v[i].id};
        struct job_run *runs = NULL;
        size_t nruns = 0;
        if (!job_entry_is(&t->v[i], JOB_KIND_MAINTENANCE))
            continue;
        for (size_t k = 0; k < jobs.n && !j; k++)
            if (!strcmp(jobs.v[k].id, t->v[i].id))
                j = &jobs.v[k];
        if (!j)
            j = &blank; /* configured, never seen by a scheduler or the database */
        rc = store_job_runs_list(st, t->v[i].id, 1, &runs, &nruns, &err);
        if (rc) {
            api_store_error(req, rc, "reading task history", &err);
            goto out;
        }
        json_t *o = api_job_json(j, nruns ? &runs[0] : NULL);
        json_object_set_new(o, "kind", json_string(JOB_KIND_MAINTENANCE));
        if (!j->scheduled) { /* no scheduler here: the table knows the schedule */
            json_object_set_new(o, "name", api_json_str(t->v[i].name));
            json_object_set_new(o, "schedule", api_json_str(t->v[i].cron));
        }
        if (!full) {
            json_t *sch = schedule_of(o);
            json_decref(o);
            o = sch;
        }
        json_array_append_new(arr, o);
        n++;
        running += j->scheduled && j->info.running;
        paused += j->paused;
        failing += j->streak > 0; /* as /health counts a failing job */
        job_runs_free(runs, nruns);
    }
    if (counts) {
        json_object_set_new(counts, "tasks", json_integer(n));
        json_object_set_new(counts, "running", json_integer(running));
        json_object_set_new(counts, "paused", json_integer(paused));
        json_object_set_new(counts, "failing", json_integer(failing));
    }
out:
    api_jobs_release(&jobs);
    strbuf_release(&err);
    return rc;
}

/* GET /maintenance/tasks, /schedule and /status share this. */
static void list(struct api_request *req, bool full, bool status)
{
    struct strbuf err = STRBUF_INIT;
    struct job_table t;
    json_t *arr = json_array(), *counts = json_object();
    struct store *st = store_or_reply(req, &err);

    tasks_table(req, &t);
    if (!st || collect(req, st, &t, full, arr, counts))
        goto out;
    if (status) {
        struct sched *s = req->api->sched;
        json_object_set_new(counts, "scheduler", json_boolean(s && sched_is_running(s)));
        json_object_set_new(counts, "list", arr);
        arr = NULL;
        api_reply_json(req, MHD_HTTP_OK, counts);
        counts = NULL;
    } else {
        api_reply_json(req, MHD_HTTP_OK,
                       json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(arr),
                                 full ? "tasks" : "schedule", arr));
        arr = NULL;
    }
out:
    json_decref(arr);
    json_decref(counts);
    job_table_release(&t);
    strbuf_release(&err);
}

void api_maint_status(struct api_request *req)
{
    list(req, false, true);
}

void api_maint_tasks(struct api_request *req)
{
    list(req, true, false);
}

void api_maint_schedule(struct api_request *req)
{
    list(req, false, false);
}

/* Run the task named by path argument 0 (or query parameter `param`) now, for `trigger`. */
static void start(struct api_request *req, const char *param, const char *trigger)
{
    struct job_table t;
    const char *id;

    tasks_table(req, &t);
    id = task_or_reply(req, &t, param ? api_query(req, param) : req->args[0], param);
    if (id)
        api_job_start(req, id, trigger);
    job_table_release(&t);
}

void api_maint_task_run(struct api_request *req)
{
    start(req, NULL, "manual");
}

void api_maint_emergency(struct api_request *req)
{
    start(req, "task_name", "emergency");
}

void api_maint_run_all(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct sched *s = req->api->sched;
    json_t *queued = json_array(), *busy = json_array();
    struct job_table t;

    tasks_table(req, &t);
    if (!s || !sched_is_running(s)) {
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                        "scheduler not running: tasks cannot be started from here");
        goto out;
    }
    for (size_t i = 0; i < t.n; i++) {
        if (!job_entry_is(&t.v[i], JOB_KIND_MAINTENANCE))
            continue;
        strbuf_reset(&err);
        int rc = sched_run_now(s, t.v[i].id, &err);
        if (rc && rc != CK_EBUSY) {
            log_warn("api: cannot start task '%s': %s", t.v[i].id, err.buf);
            api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, err.buf, "cannot start task '%s'",
                            t.v[i].id);
            goto out;
        }
        json_array_append_new(rc ? busy : queued, json_string(t.v[i].id));
    }
    log_info("api: every maintenance task started on request (%zu queued, %zu running already)",
             json_array_size(queued), json_array_size(busy));
    api_reply_json(req, MHD_HTTP_ACCEPTED,
                   json_pack("{s:O, s:O}", "queued", queued, "already_running", busy));
out:
    json_decref(queued);
    json_decref(busy);
    job_table_release(&t);
    strbuf_release(&err);
}

void api_maint_history(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *task = api_query(req, "task");
    struct job_run *runs = NULL;
    size_t n = 0;
    struct job_table t;
    struct store *st;
    int64_t limit;
    int rc;

    tasks_table(req, &t);
    if ((task && !task_or_reply(req, &t, task, "task")) ||
        api_param_int(req, "limit", 20, 1, 1000, &limit) || !(st = store_or_reply(req, &err)))
        goto out;
    rc = maint_history(st, &t, task, (size_t)limit, &runs, &n, &err);
    if (rc) {
        api_store_error(req, rc, "reading task history", &err);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_run_json(&runs[i]));
    api_reply_json(req, MHD_HTTP_OK, json_pack("{s:I, s:o}", "count", (json_int_t)n, "runs", arr));
out:
    job_runs_free(runs, n);
    job_table_release(&t);
    strbuf_release(&err);
}

/* Set the paused flag of the task of path argument 0. */
static void pause_task(struct api_request *req, bool paused)
{
    struct job_table t;
    const char *id;

    tasks_table(req, &t);
    id = task_or_reply(req, &t, req->args[0], NULL);
    if (id)
        api_job_set_paused(req, id, paused);
    job_table_release(&t);
}

void api_maint_pause(struct api_request *req)
{
    pause_task(req, true);
}

void api_maint_resume(struct api_request *req)
{
    pause_task(req, false);
}

/* The figures of one task from its newest METRICS_RUNS runs. */
static json_t *task_metrics(const char *id, const struct job_run *v, size_t n)
{
    json_t *by = json_object();
    int64_t done = 0, total_ms = 0, max_ms = 0, last_ok = 0;

    for (size_t i = 0; i < n; i++) {
        const char *name = job_status_name(v[i].status);
        json_t *c = json_object_get(by, name);
        json_object_set_new(by, name, json_integer(c ? json_integer_value(c) + 1 : 1));
        if (v[i].finished && v[i].status != JOB_SKIPPED && v[i].status != JOB_MISSED) {
            int64_t ms = v[i].finished - v[i].started;
            done++;
            total_ms += ms;
            if (ms > max_ms)
                max_ms = ms;
        }
        if (v[i].status == JOB_OK && !last_ok)
            last_ok = v[i].finished / 1000;
    }
    return json_pack("{s:s, s:I, s:o, s:o, s:I, s:o}", "task", id, "runs", (json_int_t)n,
                     "by_status", by, "avg_duration_ms",
                     done ? json_integer(total_ms / done) : json_null(), "max_duration_ms",
                     (json_int_t)max_ms, "last_success", api_json_time_or_null(last_ok));
}

void api_maint_metrics(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *task = api_query(req, "task_name");
    json_t *arr = json_array();
    struct job_table t;
    struct store *st;

    tasks_table(req, &t);
    if ((task && !task_or_reply(req, &t, task, "task_name")) || !(st = store_or_reply(req, &err)))
        goto out;
    for (size_t i = 0; i < t.n; i++) {
        struct job_run *runs = NULL;
        size_t n = 0;
        if (!job_entry_is(&t.v[i], JOB_KIND_MAINTENANCE) || (task && strcmp(task, t.v[i].id)))
            continue;
        int rc = store_job_runs_list(st, t.v[i].id, METRICS_RUNS, &runs, &n, &err);
        if (rc) {
            api_store_error(req, rc, "reading task history", &err);
            goto out;
        }
        json_array_append_new(arr, task_metrics(t.v[i].id, runs, n));
        job_runs_free(runs, n);
    }
    api_reply_json(req, MHD_HTTP_OK, json_pack("{s:O}", "tasks", arr));
out:
    json_decref(arr);
    job_table_release(&t);
    strbuf_release(&err);
}
