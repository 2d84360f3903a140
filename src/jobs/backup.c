/* SPDX-License-Identifier: MIT */
/*
 * The backup job (jobs/backup.h): the engine is backup/backup.c; this file
 * hands it the settings and the scheduler's clock and turns its result
 * into the run's message and details.
 */
#include "jobs/backup.h"

#include "backup/backup.h"
#include "ck/ck.h"
#include "sched/sched.h"
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
    if (rc)
        strbuf_addstr(&ctx->message, err.buf);
    else
        strbuf_addf(&ctx->message, "%s: %lld bytes in %.1f s, restored and verified in %.1f s%s",
                    strrchr(r.path, '/') ? strrchr(r.path, '/') + 1 : r.path, (long long)r.bytes,
                    (double)r.backup_ms / 1000.0, (double)r.drill_ms / 1000.0,
                    r.deleted ? "; older backups deleted by retention" : "");
    backup_result_release(&r);
    strbuf_release(&err);
    return rc;
}
