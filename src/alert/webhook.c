/* SPDX-License-Identifier: MIT */
/*
 * The generic webhook channel: one JSON POST per message to
 * [alerts.webhook] url.
 *
 * The body serves two kinds of receivers at once. Chat incoming webhooks
 * (Slack, Mattermost, Rocket.Chat and the many that copy Slack's format)
 * show the "text" field: one plain rendering of the message, the state
 * line and the title, then the details, with & < > escaped as Slack
 * requires of message text. Programs read the structured fields, which
 * carry the values as they are: key, severity, state, title, details and
 * time (ISO 8601 UTC, "2024-01-02T15:00:00Z"). Every string is made valid
 * UTF-8 without control characters first, since a JSON parser refuses the
 * rest.
 *
 * Answers. Any 2xx is delivered. 5xx, 408, 429, network errors and
 * timeouts are worth another attempt, after the receiver's Retry-After
 * when it sends one; other 4xx (and a redirect, which is not followed)
 * say the request or the URL is wrong and are not retried.
 *
 * Secrets. Incoming-webhook URLs carry their secret in the path (Slack),
 * the query or the userinfo. Messages never quote the URL (http_do() names
 * only the host); a short excerpt of the receiver's answer is quoted,
 * with every part of the URL that may hold a secret masked (userinfo and
 * password, path and its long segments, query and each of its values) in
 * case the receiver echoes it.
 *
 * Threads: send() holds the channel's mutex, which guards the HTTP client.
 */
#include "alert/notify_internal.h"

#include "net/http.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define WH_CONNECT_TIMEOUT_MS 10000L
#define WH_TIMEOUT_MS         20000L
#define WH_MAX_ANSWER         ((size_t)64 << 10)
#define WH_QUOTE_MAX          120

struct webhook {
    struct notify_channel base; /* first */
    char *url;
    struct redact_set secrets; /* parts of the URL that may be secret */
    long connect_timeout_ms, timeout_ms;
    /* Guards `http`. */
    pthread_mutex_t lock;
    struct http_client *http;
};

static struct webhook *wh_downcast(struct notify_channel *ch)
{
    if (ch->ops != &notify_webhook_ops)
        BUG("channel '%s' is not a webhook channel", ch->ops->name);
    return (struct webhook *)ch;
}

int notify_webhook_new(const struct webhook_config *cfg, struct notify_channel **out,
                       struct strbuf *err)
{
    struct webhook *wh;

    if (!cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8))) {
        strbuf_addstr(err, "[alerts.webhook] url is not an http:// or https:// URL");
        return CK_ECONFIG;
    }
    wh = xcalloc(1, sizeof(*wh));
    wh->base.ops = &notify_webhook_ops;
    wh->url = xstrdup(cfg->url);
    redact_set_add_url(&wh->secrets, cfg->url, REDACT_URL_PATH);
    wh->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : WH_CONNECT_TIMEOUT_MS;
    wh->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : WH_TIMEOUT_MS;
    pthread_mutex_init(&wh->lock, NULL);
    wh->http = http_client_new();
    *out = &wh->base;
    return 0;
}

static void wh_free(struct notify_channel *ch)
{
    struct webhook *wh;

    if (!ch)
        return;
    wh = wh_downcast(ch);
    pthread_mutex_destroy(&wh->lock);
    http_client_free(wh->http);
    redact_set_release(&wh->secrets);
    free(wh->url);
    free(wh);
}

/* `s` without trailing whitespace (a copy; caller frees). */
static char *rstrip(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    return xstrndup(s ? s : "", len);
}

char *notify_webhook_body(const struct notify_msg *m)
{
    struct strbuf text = STRBUF_INIT, key = STRBUF_INIT, state = STRBUF_INIT, title = STRBUF_INIT,
                  details = STRBUF_INIT;
    const char *label = notify_state_label(m->state);
    char *d = rstrip(m->details), *out;
    char t[TIME_BUFSZ];
    json_t *body;

    strbuf_addstr(&text, notify_state_emoji(m));
    strbuf_addch(&text, ' ');
    if (label) {
        strbuf_addstr(&text, label);
    } else {
        char *up = xstrdup(m->state && *m->state ? m->state : "notice");
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        notify_add_text(&text, up, NOTIFY_ESC_SLACK);
        free(up);
    }
    if (notify_shows_severity(m->state))
        strbuf_addf(&text, " [%s]", notify_severity_name(m->severity));
    if (m->title && *m->title) {
        strbuf_addch(&text, ' ');
        notify_add_text(&text, m->title, NOTIFY_ESC_SLACK);
    }
    if (*d) {
        strbuf_addch(&text, '\n');
        notify_add_text(&text, d, NOTIFY_ESC_SLACK);
    }
    notify_add_text(&key, m->key, NOTIFY_ESC_NONE);
    notify_add_text(&state, m->state, NOTIFY_ESC_NONE);
    notify_add_text(&title, m->title, NOTIFY_ESC_NONE);
    notify_add_text(&details, d, NOTIFY_ESC_NONE);
    time_format_iso8601(m->time, t);

    body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "text", text.buf, "key", key.buf,
                     "severity", notify_severity_name(m->severity), "state", state.buf, "title",
                     title.buf, "details", details.buf, "time", t);
    /* notify_add_text() writes valid UTF-8 only, which is all jansson could refuse. */
    if (!body)
        BUG("webhook: cannot build the JSON body");
    out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(d);
    strbuf_release(&text);
    strbuf_release(&key);
    strbuf_release(&state);
    strbuf_release(&title);
    strbuf_release(&details);
    return out;
}

/* A non-2xx answer in the terms of notify.h. */
static int classify(const struct http_response *resp, struct notify_result *out, struct strbuf *msg)
{
    long status = resp->status;
    const char *what;
    int rc;

    if (status == 429) {
        rc = CK_ELIMIT, what = "rate limited";
    } else if (status == 408) {
        rc = CK_ETIMEDOUT, what = "request timeout";
    } else if (status == 401 || status == 403) {
        rc = CK_EAUTH, what = "refused";
    } else if (status >= 500 && status <= 599) {
        rc = CK_EUPSTREAM, what = "receiver failure";
    } else if (status >= 300 && status <= 399) {
        rc = CK_EINVAL, what = "redirect not followed; check the url";
    } else if (status >= 400 && status <= 499) {
        rc = CK_EINVAL, what = "request refused";
    } else {
        rc = CK_EUPSTREAM, what = "unexpected status";
    }
    out->retryable = retry_is_retryable(rc, status);
    if (out->retryable && resp->retry_after >= 0)
        out->retry_after_ms = resp->retry_after * 1000;
    strbuf_addf(msg, "HTTP %ld (%s)", status, what);
    if (resp->body.len) {
        size_t skip = 0;
        while (skip < resp->body.len && isspace((unsigned char)resp->body.buf[skip]))
            skip++;
        if (skip < resp->body.len) {
            strbuf_addstr(msg, ": '");
            strbuf_add_excerpt(msg, resp->body.buf + skip, resp->body.len - skip, WH_QUOTE_MAX,
                               resp->body.buf[skip] == '<');
            strbuf_addch(msg, '\'');
        }
    }
    return rc;
}

/* POST `body` (JSON) to the webhook; the answer classified as notify.h says. */
static int wh_post(struct webhook *wh, const char *body, size_t len, struct notify_result *out,
                   struct strbuf *err)
{
    static const struct http_header hdrs[] = {{"Content-Type", "application/json"}};
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf msg = STRBUF_INIT;
    struct http_request req = {
        .method = "POST",
        .url = wh->url,
        .headers = hdrs,
        .nheaders = ARRAY_SIZE(hdrs),
        .body = body,
        .body_len = len,
        .connect_timeout_ms = wh->connect_timeout_ms,
        .timeout_ms = wh->timeout_ms,
        .max_body = WH_MAX_ANSWER,
    };
    int rc;

    pthread_mutex_lock(&wh->lock);
    rc = http_do(wh->http, &req, &resp, &msg);
    pthread_mutex_unlock(&wh->lock);
    out->status = resp.status;
    if (rc)
        out->retryable = retry_is_retryable(rc, 0);
    else if (resp.status >= 200 && resp.status <= 299)
        out->parts_done = 1;
    else
        rc = classify(&resp, out, &msg);

    if (rc) {
        redact_set_apply(&wh->secrets, &msg);
        strbuf_addstr(err, "webhook: ");
        strbuf_addbuf(err, &msg);
    }
    strbuf_release(&msg);
    http_response_release(&resp);
    return rc;
}

static int wh_send(struct notify_channel *ch, const struct notify_msg *m, struct notify_result *out,
                   struct strbuf *err)
{
    struct webhook *wh = wh_downcast(ch);
    char *body;
    int rc;

    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = 1};
    if (m->parts_done >= 1) {
        out->parts_done = 1; /* an earlier attempt delivered it */
        return 0;
    }
    body = notify_webhook_body(m);
    rc = wh_post(wh, body, strlen(body), out, err);
    free(body);
    return rc;
}

/* A JSON document of the caller's (a report), POSTed as it is. */
static int wh_send_json(struct notify_channel *ch, const char *json, size_t len,
                        struct notify_result *out, struct strbuf *err)
{
    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = 1};
    return wh_post(wh_downcast(ch), json, len, out, err);
}

const struct notify_ops notify_webhook_ops = {
    .name = "webhook",
    .send = wh_send,
    .send_json = wh_send_json,
    .free = wh_free,
};
