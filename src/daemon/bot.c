/* SPDX-License-Identifier: MIT */
/*
 * The Telegram command bot (bot.h).
 *
 * One pass: hold the lease (else wait and try again), ask getUpdates for
 * what came after the last update seen (waiting up to [alerts.telegram]
 * poll_timeout), confirm the batch at once (a getUpdates with the next
 * offset and no wait: Telegram then forgets it, so no later poller, this
 * daemon restarted or another, gets it again), then handle each message
 * in order. Messages of other chats are ignored; their text is never
 * logged. A pause with a duration is resumed by the bot when it is due
 * (kept in the bot's memory: a restart leaves the job paused, which the
 * answer says).
 *
 * The pass runs on the service's thread with the service's own store
 * connection; nothing here is shared with another thread but the channel,
 * which serialises its own sends.
 */
#include "daemon/bot.h"

#include "alert/notify.h"
#include "ck/ck.h"
#include "jobs/backup.h"
#include "jobs/digest.h"
#include "jobs/reports.h"
#include "jobs/table.h"
#include "net/http.h"
#include "sched/sched.h"
#include "sched/service.h"
#include "store/alerts.h"
#include "store/gaps.h"
#include "store/jobs.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define BOT_LEASE      "telegram:commands"
#define BOT_RETRY_MS   5000
#define BOT_MAX_ANSWER ((size_t)4 << 20)
#define BOT_MAX_PAUSES 32

struct timed_pause {
    char job[32];
    int64_t until; /* Unix s */
};

struct bot {
    struct ck *app;
    struct notify_channel *tg;
    char *instance;
    char *url; /* {base}/bot{token}/getUpdates: holds the token, never logged */
    char *token;
    struct http_client *http;
    struct service *svc;
    int64_t offset; /* the next update_id wanted; 0: none seen yet */
    struct timed_pause pauses[BOT_MAX_PAUSES];
    size_t npauses;
};

/* --- the commands ------------------------------------------------------------- */

static const char help_text[] = "/status - the health digest now\n"
                                "/digest - the same\n"
                                "/jobs - the jobs: paused, failing\n"
                                "/alerts - the alerts firing\n"
                                "/gaps - open gaps per series\n"
                                "/report daily|weekly - the report's summary\n"
                                "/pause JOB [DURATION] - pause a job (for 2h, 30m...)\n"
                                "/resume JOB - resume it\n"
                                "/run JOB - run it now\n"
                                "/backup - back up now (the backup job)\n"
                                "/help - this list";

static bool known_job(const struct bot *b, const char *id)
{
    struct job_table t;
    bool found;
    job_table_build(&b->app->settings, NULL, &t);
    found = job_table_find(&t, id) != NULL;
    job_table_release(&t);
    return found;
}

static void list_jobs(struct store *st, struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;
    struct job_state *v = NULL;
    size_t n = 0;

    if (store_job_list(st, &v, &n, &err)) {
        strbuf_addf(out, "cannot list the jobs: %s", err.buf);
    } else {
        for (size_t i = 0; i < n; i++) {
            strbuf_addf(out, "%s%s", v[i].job_id, v[i].paused ? " (paused)" : "");
            if (v[i].streak)
                strbuf_addf(out, ", %" PRId64 " failures in a row", v[i].streak);
            strbuf_addch(out, '\n');
        }
        if (!n)
            strbuf_addstr(out, "no job has run yet");
    }
    job_states_free(v, n);
    strbuf_release(&err);
}

static void list_alerts(struct store *st, struct strbuf *out)
{
    struct alert_query q = {.state = "firing", .limit = 20};
    struct strbuf err = STRBUF_INIT;
    struct alert_row *v = NULL;
    size_t n = 0;

    if (store_alert_list(st, &q, &v, &n, &err)) {
        strbuf_addf(out, "cannot list the alerts: %s", err.buf);
    } else {
        for (size_t i = 0; i < n; i++)
            strbuf_addf(out, "[%s] %s: %s\n", v[i].severity, v[i].key, v[i].title);
        if (!n)
            strbuf_addstr(out, "no alert is firing");
    }
    alert_rows_free(v, n);
    strbuf_release(&err);
}

static void list_gaps(struct store *st, struct strbuf *out)
{
    struct gap_query q = {.has_state = true, .state = GAP_OPEN};
    struct strbuf err = STRBUF_INIT;
    struct gap_record *v = NULL;
    size_t n = 0;

    if (store_list_gaps(st, &q, &v, &n, &err)) {
        strbuf_addf(out, "cannot list the gaps: %s", err.buf);
    } else {
        for (size_t i = 0; i < n && i < 30; i++) {
            char from[TIME_BUFSZ];
            time_format_iso8601(v[i].first, from);
            strbuf_addf(out, "%s %s %s: %" PRId64 " candles from %s\n", v[i].source, v[i].symbol,
                        timeframe_name(v[i].tf), v[i].count, from);
        }
        if (!n)
            strbuf_addstr(out, "no open gap");
        else if (n > 30)
            strbuf_addf(out, "... and %zu more", n - 30);
    }
    gap_records_free(v, n);
    strbuf_release(&err);
}

static void digest(struct bot *b, struct store *st, struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;
    struct digest_report r;

    if (digest_collect(b->app, b->app->sched, st, time_wall_ms(), &r, &err)) {
        redact_message(&err);
        strbuf_addf(out, "cannot collect the digest: %s", err.buf);
    } else {
        digest_format(&r, out);
    }
    digest_report_release(&r);
    strbuf_release(&err);
}

static void report(struct bot *b, struct store *st, const char *arg, struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;
    enum report_type type;
    struct report r;

    if (report_type_parse(arg && *arg ? arg : "daily", &type)) {
        strbuf_addstr(out, "say /report daily or /report weekly");
        return;
    }
    if (reports_collect(&b->app->settings, st, type, time_now() + 1, &r, &err)) {
        redact_message(&err);
        strbuf_addf(out, "cannot make the report: %s", err.buf);
    } else {
        report_summary(&r, out);
        report_release(&r);
    }
    strbuf_release(&err);
}

static void pause_job(struct bot *b, struct store *st, const char *job, const char *dur,
                      struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;
    int64_t secs = 0, now = time_now();

    if (!job || !known_job(b, job)) {
        strbuf_addf(out, "no job '%s'; /jobs lists them", job ? job : "");
        return;
    }
    if (dur && (parse_duration(dur, &secs) || secs <= 0)) {
        strbuf_addf(out, "'%s' is not a duration (2h, 30m, 1d)", dur);
        return;
    }
    if (store_job_set_paused(st, job, true, now, &err)) {
        strbuf_addf(out, "cannot pause %s: %s", job, err.buf);
    } else if (!dur) {
        strbuf_addf(out, "%s paused; /resume %s to resume it", job, job);
    } else {
        char until[TIME_BUFSZ];
        size_t i = 0;
        while (i < b->npauses && strcmp(b->pauses[i].job, job))
            i++;
        if (i == b->npauses && b->npauses < BOT_MAX_PAUSES)
            b->npauses++;
        if (i < b->npauses) {
            snprintf(b->pauses[i].job, sizeof(b->pauses[i].job), "%s", job);
            b->pauses[i].until = now + secs;
        }
        time_format_iso8601(now + secs, until);
        strbuf_addf(out, "%s paused until %s (resumed by this daemon then)", job, until);
    }
    strbuf_release(&err);
}

static void forget_pause(struct bot *b, const char *job)
{
    for (size_t i = 0; i < b->npauses; i++) {
        if (!strcmp(b->pauses[i].job, job)) {
            b->pauses[i] = b->pauses[--b->npauses];
            return;
        }
    }
}

static void resume_job(struct bot *b, struct store *st, const char *job, struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;

    if (!job || !known_job(b, job)) {
        strbuf_addf(out, "no job '%s'; /jobs lists them", job ? job : "");
        return;
    }
    forget_pause(b, job);
    if (store_job_set_paused(st, job, false, time_now(), &err))
        strbuf_addf(out, "cannot resume %s: %s", job, err.buf);
    else
        strbuf_addf(out, "%s resumed", job);
    strbuf_release(&err);
}

static void run_job(struct bot *b, const char *job, struct strbuf *out)
{
    struct strbuf err = STRBUF_INIT;

    if (!job || !known_job(b, job)) {
        strbuf_addf(out, "no job '%s'; /jobs lists them", job ? job : "");
        return;
    }
    if (!b->app->sched || sched_run_now(b->app->sched, job, &err))
        strbuf_addf(out, "cannot run %s: %s", job, err.len ? err.buf : "no scheduler");
    else
        strbuf_addf(out, "%s started; /jobs shows how it went", job);
    strbuf_release(&err);
}

/* Split "/cmd@bot a b" into the command (without @bot) and up to two arguments, in `buf`. */
static void split(char *buf, char **cmd, char **a1, char **a2)
{
    char *p = buf, *at;
    char **slot[3] = {cmd, a1, a2};

    *cmd = *a1 = *a2 = NULL;
    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (!*p)
            break;
        *slot[i] = p;
        while (*p && *p != ' ' && *p != '\n' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (*cmd && (at = strchr(*cmd, '@')))
        *at = '\0';
}

static void answer(struct bot *b, struct store *st, const char *text, struct strbuf *out)
{
    char *buf = xstrdup(text), *cmd, *a1, *a2;

    split(buf, &cmd, &a1, &a2);
    if (!cmd || cmd[0] != '/')
        strbuf_addstr(out, "commands start with /; /help lists them");
    else if (!strcmp(cmd, "/help") || !strcmp(cmd, "/start"))
        strbuf_addstr(out, help_text);
    else if (!strcmp(cmd, "/status") || !strcmp(cmd, "/digest") || !strcmp(cmd, "/health"))
        digest(b, st, out);
    else if (!strcmp(cmd, "/jobs"))
        list_jobs(st, out);
    else if (!strcmp(cmd, "/alerts"))
        list_alerts(st, out);
    else if (!strcmp(cmd, "/gaps"))
        list_gaps(st, out);
    else if (!strcmp(cmd, "/report"))
        report(b, st, a1, out);
    else if (!strcmp(cmd, "/pause"))
        pause_job(b, st, a1, a2, out);
    else if (!strcmp(cmd, "/resume"))
        resume_job(b, st, a1, out);
    else if (!strcmp(cmd, "/run"))
        run_job(b, a1, out);
    else if (!strcmp(cmd, "/backup"))
        run_job(b, BACKUP_JOB_ID, out);
    else
        strbuf_addf(out, "unknown command %s; /help lists them", cmd);
    free(buf);
}

/* --- the poll ------------------------------------------------------------------- */

static void reply(struct bot *b, const char *command, const char *text)
{
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;
    struct notify_msg m = {.key = "",
                           .severity = NOTIFY_INFO,
                           .state = "reply",
                           .title = command,
                           .details = text,
                           .time = time_now()};

    if (notify_send(b->tg, &m, &res, &err)) {
        redact_message(&err);
        log_warn("bot: cannot answer: %s", err.buf);
    }
    strbuf_release(&err);
}

/* Call getUpdates from b->offset waiting `timeout` s; the result array (owned) or NULL. */
static json_t *get_updates(struct bot *b, int64_t timeout)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_request req = {
        .method = "GET", .timeout_ms = (long)(timeout * 1000 + 10000), .max_body = BOT_MAX_ANSWER};
    json_t *root = NULL, *result = NULL;

    strbuf_addf(&url, "%s?timeout=%" PRId64 "&allowed_updates=%%5B%%22message%%22%%5D", b->url,
                timeout);
    if (b->offset)
        strbuf_addf(&url, "&offset=%" PRId64, b->offset);
    req.url = url.buf;
    if (http_do(b->http, &req, &resp, &err)) {
        redact_value(&err, b->token);
        log_warn("bot: getUpdates: %s", err.buf);
        goto out;
    }
    root = json_loadb(resp.body.buf, resp.body.len, 0, NULL);
    if (resp.status != 200 || !json_is_true(json_object_get(root, "ok"))) {
        log_warn("bot: getUpdates answered HTTP %ld", resp.status);
        goto out;
    }
    result = json_incref(json_object_get(root, "result"));
    if (!json_is_array(result)) {
        json_decref(result);
        result = NULL;
    }
out:
    json_decref(root);
    http_response_release(&resp);
    strbuf_release(&url);
    strbuf_release(&err);
    return result;
}

/* Is `chat` (an update's chat object) the configured chat? */
static bool our_chat(const struct bot *b, json_t *chat)
{
    const char *want = b->app->settings.telegram.chat_id;
    json_t *id = json_object_get(chat, "id");
    const char *user = json_string_value(json_object_get(chat, "username"));
    int64_t n;

    if (want[0] == '@')
        return user && !strcmp(user, want + 1);
    return json_is_integer(id) && !parse_int64(want, INT64_MIN, INT64_MAX, &n) &&
           n == json_integer_value(id);
}

static void resume_due(struct bot *b, struct store *st)
{
    int64_t now = time_now();
    for (size_t i = 0; i < b->npauses;) {
        struct strbuf err = STRBUF_INIT;
        if (b->pauses[i].until > now) {
            i++;
            continue;
        }
        if (store_job_set_paused(st, b->pauses[i].job, false, now, &err)) {
            log_warn("bot: cannot resume %s: %s", b->pauses[i].job, err.buf);
            strbuf_release(&err);
            return;
        }
        log_info("bot: %s resumed at the end of its pause", b->pauses[i].job);
        b->pauses[i] = b->pauses[--b->npauses];
        strbuf_release(&err);
    }
}

static int64_t bot_pass(struct service *svc, void *arg)
{
    struct bot *b = arg;
    struct strbuf err = STRBUF_INIT, text = STRBUF_INIT;
    int64_t timeout = b->app->settings.telegram.poll_timeout, now_ms = time_wall_ms();
    struct store *st = service_store(svc, &err);
    json_t *updates, *u;
    size_t i;

    if (!st) {
        log_warn("bot: %s", err.buf);
        strbuf_release(&err);
        return BOT_RETRY_MS;
    }
    resume_due(b, st);
    if (store_lease_claim(st, BOT_LEASE, b->instance, now_ms, now_ms + (timeout * 2 + 15) * 1000,
                          &err)) {
        strbuf_release(&err);
        return BOT_RETRY_MS; /* another daemon answers (or the database is away) */
    }
    updates = get_updates(b, timeout);
    if (!updates) {
        if (service_stopping(svc))
            store_lease_release(st, BOT_LEASE, b->instance, &err);
        strbuf_release(&err);
        return BOT_RETRY_MS;
    }
    json_array_foreach(updates, i, u)
    {
        json_int_t id = json_integer_value(json_object_get(u, "update_id"));
        if (id >= b->offset)
            b->offset = id + 1;
    }
    /* Confirm before answering: a restart must not answer a command twice. */
    if (json_array_size(updates))
        json_decref(get_updates(b, 0));
    json_array_foreach(updates, i, u)
    {
        json_t *msg = json_object_get(u, "message");
        json_t *chat = json_object_get(msg, "chat");
        const char *t = json_string_value(json_object_get(msg, "text"));

        if (!json_is_object(msg))
            continue;
        if (!our_chat(b, chat)) {
            log_info("bot: ignored a message from chat %" JSON_INTEGER_FORMAT " (not the "
                     "configured chat)",
                     json_integer_value(json_object_get(chat, "id")));
            continue;
        }
        if (!t)
            continue;
        strbuf_reset(&text);
        answer(b, st, t, &text);
        reply(b, t, text.buf);
    }
    json_decref(updates);
    /* Stopping: let another daemon (or this one restarted) take over at once. */
    if (service_stopping(svc) && store_lease_release(st, BOT_LEASE, b->instance, &err))
        log_warn("bot: cannot release the lease: %s", err.buf);
    strbuf_release(&err);
    strbuf_release(&text);
    return 0;
}

int bot_start(struct bot **out, const struct bot_config *cfg, struct strbuf *err)
{
    const struct telegram_settings *tg = &cfg->app->settings.telegram;
    struct bot *b = xcalloc(1, sizeof(*b));
    struct strbuf url = STRBUF_INIT;
    struct service_config sc = {
        .name = "telegram bot",
        .pass = bot_pass,
        .arg = b,
        .store_url = cfg->app->settings.storage.url,
    };
    int rc;

    b->app = cfg->app;
    b->tg = cfg->tg;
    b->instance = xstrdup(cfg->instance);
    b->token = xstrdup(tg->bot_token);
    strbuf_addf(&url, "%s/bot%s/getUpdates", tg->base_url, tg->bot_token);
    b->url = strbuf_detach(&url, NULL);
    b->http = http_client_new();
    rc = service_start(&b->svc, &sc, err);
    if (rc) {
        http_client_free(b->http);
        free(b->url);
        free(b->token);
        free(b->instance);
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void bot_stop(struct bot *b)
{
    if (!b)
        return;
    service_stop(b->svc);
    http_client_free(b->http);
    free(b->url);
    free(b->token);
    free(b->instance);
    free(b);
}
