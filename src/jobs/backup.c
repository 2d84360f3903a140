/* SPDX-License-Identifier: MIT */
/*
 * The backup job (jobs/backup.h): the engine is backup/backup.c; this file
 * hands it the settings and the scheduler's clock, turns its result into
 * the run's message and details, and tells the operators at once (where
 * the process has an alert manager) when a backup or its drill failed and
 * when no backup has been verified within [backup] max_age: a backup is
 * not a job whose failures may wait for a streak.
 */
#include "jobs/backup.h"

#include "alert/alert.h"
#include "backup/backup.h"
#include "ck/ck.h"
#include "sched/sched.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void details(const struct backup_result *r, struct strbuf *out)
{
    const char *slash = r->path ? strrchr(r->path, '/') : NULL;
    json_t *o =
        json_pack("{s:s?, s:I, s:I, s:s?, s:I, s:i, s:s?}", "file", slash ? slash + 1 : r->path,
                  "bytes", (json_int_t)r->bytes, "backup_ms", (json_int_t)r->backup_ms, "drill",
                  !r->drilled   ? NULL
                  : r->drill_ok ? "ok"
                                : "failed",
                  "drill_ms", (json_int_t)r->drill_ms, "deleted", r->deleted, "copy", r->copy);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    strbuf_addstr(out, text ? text : "{}");
    free(text);
    json_decref(o);
}

/* Fire `key` (critical) when `bad`, clear it otherwise; a failure to record is logged. */
static void tell(struct job_ctx *ctx, struct alert_manager *am, const char *key, bool bad,
                 const char *title, const char *details)
{
    struct strbuf err = STRBUF_INIT;
    struct alert_event ev = {
        .key = key,
        .severity = NOTIFY_CRITICAL,
        .title = title,
        .details = details,
        .now_ms = ctx->now * 1000,
    };
    int rc = bad ? alert_fire(am, ctx->store, &ev, &err)
                 : alert_clear(am, ctx->store, key, details, ctx->now * 1000, &err);
    if (rc) {
        redact_message(&err);
        log_warn("backup: cannot record the alert '%s': %s", key, err.buf);
    }
    strbuf_release(&err);
}

static void alerts(struct job_ctx *ctx, struct ck *app, int rc, const struct strbuf *why)
{
    const struct backup_settings *bs = &app->settings.backup;
    char *dir = backup_dir(bs, app->settings.storage.url);
    struct strbuf err = STRBUF_INIT, msg = STRBUF_INIT;
    int64_t last = 0;

    tell(ctx, app->alerts, "backup:failed", rc != 0, "Backup failed",
         rc ? why->buf : "a backup was written and its restore drill passed");
    /* A directory that cannot be read holds no verified backup either. */
    bool stale =
        backup_last_verified(dir, &last, &err) || backup_is_stale(last, bs->max_age, ctx->now);
    strbuf_addf(&msg, "no backup in '%s' has passed its restore drill in the last %lld h", dir,
                (long long)(bs->max_age / 3600));
    tell(ctx, app->alerts, "backup:stale", stale, "No verified backup",
         stale ? msg.buf : "a verified backup is recent");
    strbuf_release(&err);
    strbuf_release(&msg);
    free(dir);
}

/*
 * Check every backup in the directory again (its SHA-256 over the whole
 * file), so that one damaged after it was written is found on the next run
 * rather than on the day it is needed. The damaged ones are named in
 * `damaged` (", "-separated); returns how many there are.
 */
static size_t recheck(const char *dir, struct strbuf *damaged)
{
    struct backup_info *v = NULL;
    size_t n = 0, bad = 0;
    struct strbuf err = STRBUF_INIT;

    if (backup_list(dir, &v, &n, &err)) {
        log_warn("backup: cannot list '%s' to check the backups again: %s", dir, err.buf);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct backup_manifest m;
        strbuf_reset(&err);
        if (!backup_verify_file(v[i].path, &m, &err)) {
            backup_manifest_release(&m);
            continue;
        }
        bad++;
        strbuf_addf(damaged, "%s%s (%s)", damaged->len ? ", " : "", v[i].name, err.buf);
    }
    backup_infos_free(v, n);
    strbuf_release(&err);
    return bad;
}

int backup_job_run(struct job_ctx *ctx, void *arg)
{
    struct ck *app = arg;
    struct backup_opts o = {
        .url = app->settings.storage.url,
        .set = &app->settings.backup,
        .now = ctx->now,
    };
    struct backup_result r;
    struct strbuf err = STRBUF_INIT;
    int rc = backup_run(&o, &r, &err);

    details(&r, &ctx->details);
    if (app->alerts)
        alerts(ctx, app, rc, &err);
    /* The backups already kept are checked again, whatever this run did. */
    char *dir = backup_dir(&app->settings.backup, app->settings.storage.url);
    struct strbuf damaged = STRBUF_INIT;
    size_t nbad = recheck(dir, &damaged);
    if (app->alerts)
        tell(ctx, app->alerts, "backup:damaged", nbad > 0, "Backup damaged after it was written",
             nbad ? damaged.buf : "every backup's checksum matches");
    free(dir);
    if (rc)
        strbuf_addstr(&ctx->message, err.buf);
    else
        strbuf_addf(&ctx->message, "%s: %lld bytes in %.1f s, restored and verified in %.1f s%s",
                    strrchr(r.path, '/') ? strrchr(r.path, '/') + 1 : r.path, (long long)r.bytes,
                    (double)r.backup_ms / 1000.0, (double)r.drill_ms / 1000.0,
                    r.deleted ? "; older backups deleted by retention" : "");
    if (nbad) {
        strbuf_addf(&ctx->message, "; %zu damaged: %s", nbad, damaged.buf);
        if (!rc)
            rc = CK_EIO;
    }
    strbuf_release(&damaged);
    backup_result_release(&r);
    strbuf_release(&err);
    return rc;
}
