/* SPDX-License-Identifier: MIT */
/*
 * The maintenance tasks as jobs (maintenance.h). Each task's body lives in
 * maint/ and takes only the settings it reads; here each is bound to the
 * process context, and one job body runs them all alike: a result is
 * made, the task fills it, and the message and details (with the run's
 * duration) become the run's record in the job history, so that
 * `maintenance history`, /maintenance/history and /jobs show the same.
 */
#include "jobs/maintenance.h"

#include "alert/alert.h"
#include "ck/ck.h"
#include "ck/settings.h"
#include "health/host.h"
#include "jobs/table.h"
#include "maint/maint.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int task_data_cleanup(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                             struct strbuf *err)
{
    char **dirs;
    size_t n = maint_dirs(&app->settings, &dirs);
    struct maint_cleanup c = {
        .history_keep = app->settings.scheduler.history_keep,
        .tmp_max_age = app->settings.maintenance.tmp_max_age,
        .dirs = (const char *const *)dirs,
        .ndirs = n,
    };
    int rc = maint_cleanup_run(ctx->store, &c, ctx->now, out, err);
    maint_dirs_free(dirs);
    return rc;
}

static int task_log_rotation(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                             struct strbuf *err)
{
    (void)ctx;
    return maint_log_rotation_run(app->settings.log.file, out, err);
}

static int db_task(struct ck *app, struct job_ctx *ctx, struct maint_result *out, bool full,
                   struct strbuf *err)
{
    struct maint_db c = {
        .full = full,
        .vacuum_min_free = app->settings.maintenance.vacuum_min_free,
    };
    return maint_db_run(ctx->store, &c, out, err);
}

static int task_db_quick_check(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                               struct strbuf *err)
{
    return db_task(app, ctx, out, false, err);
}

static int task_db_maintenance(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                               struct strbuf *err)
{
    return db_task(app, ctx, out, true, err);
}

/* The host rules of [maintenance] (validated by the loader). */
static void host_config_of(const struct maint_settings *m, struct host_config *out)
{
    struct strbuf why = STRBUF_INIT;
    host_thresholds_parse(m->cpu_thresholds, &out->cpu, &why);
    host_thresholds_parse(m->memory_thresholds, &out->memory, &why);
    host_thresholds_parse(m->disk_thresholds, &out->disk, &why);
    host_thresholds_parse(m->load_thresholds, &out->load, &why);
    host_thresholds_parse(m->files_thresholds, &out->files, &why);
    out->forecast_window = m->forecast_window;
    out->forecast_warn = m->forecast_warn;
    out->forecast_critical = m->forecast_critical;
    strbuf_release(&why);
}

/*
 * Below [maintenance] emergency_score: free what can be freed now, the
 * data cleanup, a log rotation and a checkpoint of the database's log,
 * recorded in the health_check run's details under "emergency".
 */
static void emergency(struct ck *app, struct job_ctx *ctx, int score, struct maint_result *out)
{
    struct maint_result sub;
    struct strbuf err = STRBUF_INIT;
    struct store_upkeep u = {.vacuum_min_free = INT64_MAX};
    json_t *e = json_pack("{s:i}", "score", score);

    log_warn("maintenance: host score %d is below %lld: emergency cleanup", score,
             (long long)app->settings.maintenance.emergency_score);
    maint_result_init(&sub);
    if (task_data_cleanup(app, ctx, &sub, &err))
        maint_detail_str(&sub, "error", err.buf);
    json_object_set(e, "data_cleanup", sub.details);
    maint_result_release(&sub);
    strbuf_reset(&err);
    maint_result_init(&sub);
    if (task_log_rotation(app, ctx, &sub, &err))
        maint_detail_str(&sub, "error", err.buf);
    json_object_set(e, "log_rotation", sub.details);
    maint_result_release(&sub);
    strbuf_reset(&err);
    json_object_set_new(e, "checkpoint",
                        json_boolean(!store_upkeep(ctx->store, &u, &err) && u.checkpointed));
    store_upkeep_release(&u);
    json_object_set_new(out->details, "emergency", e);
    strbuf_addstr(&out->message, "; emergency cleanup run");
    strbuf_release(&err);
}

/*
 * Does a disk take part in the low score (a disk component or the
 * forecast among the deductions)? The emergency cleanup frees disk space;
 * a busy CPU would only get a log rotated every five minutes, and the
 * oldest logs deleted, for nothing.
 */
static bool disk_trouble(const struct maint_result *out)
{
    json_t *d;
    size_t i;
    json_array_foreach(json_object_get(out->details, "deductions"), i, d)
    {
        const char *c = json_string_value(json_object_get(d, "component"));
        if (c && !strncmp(c, "disk", 4))
            return true;
    }
    return false;
}

static int task_health_check(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                             struct strbuf *err)
{
    const struct maint_settings *m = &app->settings.maintenance;
    struct host_config cfg;
    char **dirs;
    size_t n = maint_dirs(&app->settings, &dirs);
    int score = 100, rc;

    host_config_of(m, &cfg);
    struct maint_host c = {
        .cfg = &cfg, .dirs = (const char *const *)dirs, .ndirs = n, .now = ctx->now};
    host_probe_real(&c.probe, m->proc_root);
    rc = maint_host_run(ctx->store, ctx, &c, out, &score, err);
    if (!rc && score < m->emergency_score && disk_trouble(out))
        emergency(app, ctx, score, out);
    maint_dirs_free(dirs);
    return rc;
}

static int task_security_audit(struct ck *app, struct job_ctx *ctx, struct maint_result *out,
                               struct strbuf *err)
{
    const struct settings *s = &app->settings;
    struct maint_audit_url *urls = xcalloc(s->nsources + s->nreceivers + 3, sizeof(*urls));
    struct strbuf names = STRBUF_INIT;
    size_t nurls = 0, *offs = xcalloc(s->nsources + s->nreceivers + 1, sizeof(*offs));
    char **dirs;
    size_t ndirs = maint_dirs(s, &dirs);
    const char **secrets = xcalloc(s->nsources + s->nreceivers + 3, sizeof(*secrets));
    size_t nsecrets = 0;
    int rc;

    (void)ctx;
    /* Names first (the buffer may move), pointers after. */
    for (size_t i = 0; i < s->nsources; i++) {
        offs[i] = names.len;
        strbuf_addf(&names, "source '%s'", s->sources[i].name);
        strbuf_addch(&names, '\0');
        secrets[nsecrets++] = s->sources[i].api_key;
    }
    for (size_t i = 0; i < s->nreceivers; i++) {
        offs[s->nsources + i] = names.len;
        strbuf_addf(&names, "receiver '%s'", s->receivers[i].name);
        strbuf_addch(&names, '\0');
        secrets[nsecrets++] = s->receivers[i].secret;
    }
    for (size_t i = 0; i < s->nsources; i++)
        urls[nurls++] = (struct maint_audit_url){names.buf + offs[i], s->sources[i].base_url};
    for (size_t i = 0; i < s->nreceivers; i++)
        urls[nurls++] =
            (struct maint_audit_url){names.buf + offs[s->nsources + i], s->receivers[i].url};
    secrets[nsecrets++] = s->api.token;
    secrets[nsecrets++] = s->telegram.bot_token;
    urls[nurls++] = (struct maint_audit_url){"the Telegram channel", s->telegram.base_url};
    urls[nurls++] = (struct maint_audit_url){"the alert webhook", s->alert_webhook.url};
    urls[nurls++] = (struct maint_audit_url){"the heartbeat", s->heartbeat.url};

    struct maint_audit a = {
        .log_file = s->log.file,
        .config_path = s->path,
        .secrets = secrets,
        .nsecrets = nsecrets,
        .db_file = store_sqlite_file(s->storage.url),
        .dirs = (const char *const *)dirs,
        .ndirs = ndirs,
        .api_listen = s->api.listen,
        .api_token_set = s->api.token && *s->api.token,
        .urls = urls,
        .nurls = nurls,
    };
    rc = maint_audit_run(&a, out, err);
    maint_dirs_free(dirs);
    strbuf_release(&names);
    free(urls);
    free(offs);
    free(secrets);
    return rc;
}

#define TASK(id_, name_, field, fn_)                                                               \
    {                                                                                              \
        .id = (id_), .name = (name_), .cron_offset = offsetof(struct maint_settings, field),       \
        .fn = (fn_)                                                                                \
    }

static const struct maint_task tasks[] = {
    TASK(MAINT_HEALTH_CHECK, "Host health check", health_check, task_health_check),
    TASK(MAINT_DATA_CLEANUP, "Data cleanup", data_cleanup, task_data_cleanup),
    TASK(MAINT_LOG_ROTATION, "Log rotation", log_rotation, task_log_rotation),
    TASK(MAINT_DB_QUICK_CHECK, "Database quick check", db_quick_check, task_db_quick_check),
    TASK(MAINT_DB_MAINTENANCE, "Database maintenance", db_maintenance, task_db_maintenance),
    TASK(MAINT_SECURITY_AUDIT, "Security audit", security_audit, task_security_audit),
};

const struct maint_task *maint_tasks(size_t *n)
{
    *n = ARRAY_SIZE(tasks);
    return tasks;
}

const char *maint_task_cron(const struct maint_task *task, const struct settings *s)
{
    return *(char *const *)((const char *)&s->maintenance + task->cron_offset);
}

/*
 * The conditions the task found, told to the alert manager (once per
 * episode, as every alert). Without one (a command that built none) they
 * are only in the run's details.
 */
static void tell_alerts(struct ck *app, struct job_ctx *ctx, const struct maint_result *res)
{
    struct strbuf err = STRBUF_INIT;
    int64_t now_ms = job_now_ms(ctx);

    for (size_t i = 0; app->alerts && i < res->nalerts; i++) {
        const struct maint_alert *a = &res->alerts[i];
        struct alert_event ev = {
            .key = a->key,
            .severity = a->severity,
            .title = a->title,
            .details = a->details,
            .now_ms = now_ms,
        };
        strbuf_reset(&err);
        if (a->firing ? alert_fire(app->alerts, ctx->store, &ev, &err)
                      : alert_clear(app->alerts, ctx->store, a->key, a->details, now_ms, &err))
            log_warn("maintenance: %s: cannot record alert '%s': %s", ctx->job_id, a->key, err.buf);
    }
    strbuf_release(&err);
}

int maint_job_run(struct job_ctx *ctx, void *arg)
{
    struct maint_job *mj = arg;
    struct maint_result res;
    struct strbuf err = STRBUF_INIT;
    int64_t t0 = job_now_ms(ctx);
    int rc;

    maint_result_init(&res);
    rc = mj->task->fn(mj->app, ctx, &res, &err);
    tell_alerts(mj->app, ctx, &res);
    maint_detail_int(&res, "duration_ms", job_now_ms(ctx) - t0);
    if (ctx->trigger)
        maint_detail_str(&res, "trigger", ctx->trigger);
    maint_details_text(&res, &ctx->details);
    if (rc) {
        strbuf_addbuf(&ctx->message, &err);
        if (res.message.len)
            strbuf_addf(&ctx->message, "; %s", res.message.buf);
    } else {
        strbuf_addbuf(&ctx->message, &res.message);
        if (res.failed)
            rc = CK_EINVAL;
    }
    maint_result_release(&res);
    strbuf_release(&err);
    return rc;
}

/* Newest first: by start, then by id. */
static int cmp_runs(const void *a, const void *b)
{
    const struct job_run *x = a, *y = b;
    if (x->started != y->started)
        return x->started < y->started ? 1 : -1;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

int maint_history(struct store *st, const struct job_table *t, const char *task, size_t limit,
                  struct job_run **out, size_t *n, struct strbuf *err)
{
    struct job_run *all = NULL;
    size_t nall = 0, alloc = 0;
    int rc = 0;

    for (size_t i = 0; !rc && i < t->n; i++) {
        struct job_run *v;
        size_t nv;
        if (!job_entry_is(&t->v[i], JOB_KIND_MAINTENANCE) || (task && strcmp(task, t->v[i].id)))
            continue;
        rc = store_job_runs_list(st, t->v[i].id, limit, &v, &nv, err);
        if (rc)
            break;
        ALLOC_GROW(all, nall + nv, alloc);
        memcpy(all + nall, v, nv * sizeof(*v));
        nall += nv;
        free(v); /* the strings moved to `all` */
    }
    if (rc) {
        job_runs_free(all, nall);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (nall)
        qsort(all, nall, sizeof(*all), cmp_runs);
    for (; limit && nall > limit; nall--) {
        struct job_run *r = &all[nall - 1];
        free(r->job_id);
        free(r->instance);
        free(r->message);
        free(r->details);
    }
    *out = all;
    *n = nall;
    return 0;
}

static void add_dir(char ***v, size_t *n, size_t *alloc, const char *file)
{
    char *copy = xstrdup(file);
    const char *dir = dirname(copy);

    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*v)[i], dir)) {
            free(copy);
            return;
        }
    }
    ALLOC_GROW(*v, *n + 2, *alloc);
    (*v)[(*n)++] = xstrdup(dir);
    (*v)[*n] = NULL;
    free(copy);
}

size_t maint_dirs(const struct settings *s, char ***out)
{
    const char *db = store_sqlite_file(s->storage.url);
    char **v = NULL;
    size_t n = 0, alloc = 0;

    ALLOC_GROW(v, 1, alloc);
    v[0] = NULL;
    if (db && *db && strcmp(db, ":memory:"))
        add_dir(&v, &n, &alloc, db);
    if (s->log.file && *s->log.file)
        add_dir(&v, &n, &alloc, s->log.file);
    *out = v;
    return n;
}

void maint_dirs_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
