/* SPDX-License-Identifier: MIT */
/*
 * The tradenote_export job (export.h). The files in the export directory
 * are the record of which days were exported, so the job needs no state
 * of its own: a day with a file is never written again, whichever daemon
 * runs the job.
 */
#include "jobs/export.h"

#include "ck/ck.h"
#include "export/export.h"
#include "sched/sched.h"
#include "util/redact.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <stdlib.h>

#include "util/banned.h"

int tradenote_job_run(struct job_ctx *ctx, void *arg)
{
    struct ck *app = arg;
    const struct export_settings *s = &app->settings.export_;
    char *dir = export_dir(s, app->settings.storage.url);
    struct strbuf err = STRBUF_INIT;
    struct export_query q = {.kind = EXPORT_SIGNALS, .tradenote_qty = s->tradenote_qty};
    size_t days = 0;
    int rc = export_tradenote_days(ctx->store, &q, dir, job_now_ms(ctx) / 1000, &days, &err);

    if (rc) {
        redact_message(&err);
        strbuf_addf(&ctx->message, "cannot export to TradeNote: %s", err.buf);
    } else {
        strbuf_addf(&ctx->message, "%zu day%s exported to %s", days, days == 1 ? "" : "s", dir);
        json_t *details = json_pack("{s:I}", "days", (json_int_t)days);
        char *text = json_dumps(details, JSON_COMPACT);
        strbuf_addstr(&ctx->details, text ? text : "{}");
        free(text);
        json_decref(details);
    }
    strbuf_release(&err);
    free(dir);
    return rc;
}
