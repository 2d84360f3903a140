/* SPDX-License-Identifier: MIT */
/*
 * The reports (reports.h): what the configuration gives the engine, and
 * the scheduled jobs that write and send them.
 *
 * The jobs send directly through the process's channels rather than
 * through the alert outbox: a document is not a message the outbox can
 * hold, and a report that could not be sent is still on disk, named in
 * the run's message, for GET /reports/{id} or the next run. A channel
 * that refuses fails the run, so the failure shows in the job history and
 * in the job-failure alert like any other.
 */
#include "jobs/reports.h"

#include "alert/notify.h"
#include "ck/ck.h"
#include "ck/settings.h"
#include "jobs/table.h"
#include "sched/sched.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int reports_collect(const struct settings *s, struct store *st, enum report_type type, int64_t to,
                    struct report *out, struct strbuf *err)
{
    char *backups = backup_dir(&s->backup, s->storage.url);
    struct report_config cfg = {
        .type = type,
        .to = to,
        .sources = s->sources,
        .nsources = s->nsources,
        .backup_dir = backups,
        .duration_target = s->report.duration_target,
        .job_tf = job_is_refresh,
    };
    int rc = report_collect(&cfg, st, out, err);

    free(backups);
    return rc;
}

int reports_generate(const struct settings *s, struct store *st, enum report_type type, int64_t to,
                     int64_t now, struct report *out, struct strbuf *err)
{
    char *dir;
    int rc = reports_collect(s, st, type, to, out, err);

    if (rc)
        return rc;
    dir = report_dir(&s->report, s->storage.url);
    rc = report_write(out, dir, s->report.keep, now, err);
    free(dir);
    if (rc)
        report_release(out);
    return rc;
}

/*
 * What the alert webhook gets: the report's JSON with a "text" member
 * holding the summary, which chat webhooks (Slack and its kin) require and
 * show; programs read the rest.
 */
static void webhook_body(const struct strbuf *json, const struct strbuf *summary,
                         struct strbuf *out)
{
    json_t *root = json_loadb(json->buf, json->len, 0, NULL);
    char *text;

    json_object_set_new(root, "text", json_string(summary->buf));
    text = json_dumps(root, JSON_COMPACT);
    strbuf_addstr(out, text ? text : "{}");
    free(text);
    json_decref(root);
}

/* Send `r` through every channel that takes it; the failures go to `failures`. */
static size_t send_report(struct ck *app, const struct report *r, int64_t now,
                          struct strbuf *failures)
{
    struct strbuf summary = STRBUF_INIT, html = STRBUF_INIT, json = STRBUF_INIT, hook = STRBUF_INIT,
                  name = STRBUF_INIT, title = STRBUF_INIT;
    size_t sent = 0;

    report_summary(r, &summary);
    report_render(r, REPORT_HTML, &html);
    report_render(r, REPORT_JSON, &json);
    webhook_body(&json, &summary, &hook);
    strbuf_addf(&name, "%s.html", r->id);
    strbuf_addf(&title, "candlekeep %s report %s", report_type_name(r->type), r->id);
    for (size_t i = 0; i < app->nchannels; i++) {
        struct notify_channel *ch = app->channels[i];
        struct notify_result res;
        struct strbuf err = STRBUF_INIT;
        int rc = 0;

        if (notify_can_send_document(ch)) {
            struct notify_msg m = {.key = "",
                                   .severity = NOTIFY_INFO,
                                   .state = "report",
                                   .title = title.buf,
                                   .details = summary.buf,
                                   .time = now};
            struct notify_document d = {.filename = name.buf,
                                        .mime = "text/html",
                                        .data = html.buf,
                                        .len = html.len,
                                        .caption = title.buf};
            rc = notify_send(ch, &m, &res, &err);
            if (!rc)
                rc = notify_send_document(ch, &d, &res, &err);
        } else if (notify_can_send_json(ch)) {
            rc = notify_send_json(ch, hook.buf, hook.len, &res, &err);
        } else {
            continue;
        }
        if (rc) {
            redact_message(&err);
            strbuf_addf(failures, "%s%s", failures->len ? "; " : "", err.buf);
        } else {
            sent++;
        }
        strbuf_release(&err);
    }
    strbuf_release(&summary);
    strbuf_release(&html);
    strbuf_release(&json);
    strbuf_release(&hook);
    strbuf_release(&name);
    strbuf_release(&title);
    return sent;
}

int reports_job_run(struct job_ctx *ctx, void *arg)
{
    struct reports_job *job = arg;
    struct ck *app = job->app;
    struct strbuf err = STRBUF_INIT, failures = STRBUF_INIT;
    int64_t now = job_now_ms(ctx) / 1000;
    /* The fire time, so that the 18:00 report covers 18:00 to 18:00 however late it starts. */
    int64_t to = ctx->scheduled > 0 && ctx->scheduled <= now ? ctx->scheduled : now;
    struct report r;
    json_t *details;
    char *text;
    size_t sent;
    int rc = reports_generate(&app->settings, ctx->store, job->type, to, now, &r, &err);

    if (rc) {
        redact_message(&err);
        strbuf_addf(&ctx->message, "cannot make the %s report: %s", report_type_name(job->type),
                    err.buf);
        goto out;
    }
    sent = send_report(app, &r, now, &failures);
    if (failures.len) {
        strbuf_addf(&ctx->message, "report %s written; not sent: %s", r.id, failures.buf);
        rc = CK_EUPSTREAM;
    } else {
        strbuf_addf(&ctx->message, "report %s written and sent to %zu channel%s", r.id, sent,
                    sent == 1 ? "" : "s");
    }
    details = json_pack("{s:s, s:I}", "report", r.id, "channels", (json_int_t)sent);
    text = json_dumps(details, JSON_COMPACT);
    strbuf_addstr(&ctx->details, text ? text : "{}");
    free(text);
    json_decref(details);
    report_release(&r);
out:
    strbuf_release(&err);
    strbuf_release(&failures);
    return rc;
}
