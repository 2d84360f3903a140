/* SPDX-License-Identifier: MIT */
#ifndef CK_ALERT_NOTIFY_H
#define CK_ALERT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;
struct retry_clock;

/*
 * Channels to the operators: Telegram, a generic webhook and email, each
 * one file that fills one `struct notify_ops`. A channel turns one message into
 * one or more HTTP requests and says how it went; it never retries on its
 * own (the alert outbox does, with the retry policy) and never logs.
 *
 * Errors go to `err` without secrets: the Telegram token is part of the
 * URL path, so no URL is ever put in a message.
 *
 * A channel may be shared between threads: send() serialises its own
 * requests (which also keeps the parts of a message in order).
 */

enum notify_severity {
    NOTIFY_INFO,
    NOTIFY_WARNING,
    NOTIFY_CRITICAL,
};
const char *notify_severity_name(enum notify_severity s);
int notify_severity_parse(const char *name, enum notify_severity *out);

/* One message. Every string is plain text; channels escape what they must. */
struct notify_msg {
    const char *key; /* alert key ("job:refresh_candles_M15"), "" for none */
    enum notify_severity severity;
    const char *state; /* "firing", "resolved", "reminder", "test", "digest", "signal", "outcome",
                          "report", "reply" (an answer to a command) */
    const char *title;
    const char *details; /* may span lines; may be "" */
    int64_t time;        /* Unix seconds the condition was seen */
    /*
     * Parts already delivered by an earlier attempt of the same message
     * (a long Telegram message goes out in several parts); 0 normally.
     */
    int parts_done;
};

struct notify_result {
    long status;            /* HTTP status of the last request, 0 when none arrived */
    bool retryable;         /* worth trying again later (network, timeout, 5xx, 408, 429) */
    int64_t retry_after_ms; /* the peer's own wait (Telegram parameters.retry_after, Retry-After);
                               -1 none */
    int parts_done;         /* parts delivered so far, counting msg->parts_done */
    int parts_total;
};

struct notify_channel;

/* A file for send_document(). Every field is borrowed for the call. */
struct notify_document {
    const char *filename; /* the name the chat shows: "daily-20240315T1800Z.html" */
    const char *mime;     /* "text/html" */
    const char *data;
    size_t len;
    const char *caption; /* plain text; NULL: none */
};

struct notify_ops {
    const char *name; /* "telegram", "webhook": the label of alerts_sent_total{channel} */
    /*
     * MUST. Deliver `m` (from part m->parts_done on). 0 when every part
     * arrived; otherwise CK_EUPSTREAM / CK_ETIMEDOUT / CK_ELIMIT (429) /
     * CK_EAUTH / CK_EINVAL (refused as malformed) with the reason in `err`
     * and `out` filled.
     */
    int (*send)(struct notify_channel *ch, const struct notify_msg *m, struct notify_result *out,
                struct strbuf *err);
    /*
     * MAY. Send a file to the chat as a document (Telegram sendDocument),
     * with `d->caption` (plain text, may be NULL) under it. Errors as send().
     */
    int (*send_document)(struct notify_channel *ch, const struct notify_document *d,
                         struct notify_result *out, struct strbuf *err);
    /*
     * MAY. POST the JSON document `json` (`len` bytes) as it is, not as a
     * message (a report to a webhook). Errors as send().
     */
    int (*send_json)(struct notify_channel *ch, const char *json, size_t len,
                     struct notify_result *out, struct strbuf *err);
    /* MUST. */
    void (*free)(struct notify_channel *ch);
    /*
     * MAY (NULL: every message). Whether the channel wants messages of
     * state `kind` ("firing", "digest", ...) and `severity` at all: the
     * outbox queues nothing for it otherwise. Email takes fewer messages
     * than a chat (no reminders, a minimum severity, the digest by choice).
     */
    bool (*accepts)(const struct notify_channel *ch, const char *kind,
                    enum notify_severity severity);
};

/* Channels embed this first. */
struct notify_channel {
    const struct notify_ops *ops;
};

/* [alerts.telegram]: the operators' chat. */
struct telegram_settings {
    char *bot_token;
    char *chat_id;
    char *base_url;
    bool commands;        /* answer the chat's commands (getUpdates long polling) */
    int64_t poll_timeout; /* seconds a getUpdates call waits for a message */
};

/* [alerts.webhook]: a Slack-compatible incoming webhook. */
struct alert_webhook_settings {
    char *url;
};

/*
 * [alerts.email]: SMTP through libcurl. Strings are owned by the settings;
 * `tls` is "required" or "off", `min_severity` a severity name, `to` one or
 * more addresses separated by commas or spaces. On when `enabled` and
 * smtp_url is set.
 */
struct email_settings {
    bool enabled;
    char *smtp_url; /* smtp://host:587 (STARTTLS) or smtps://host:465 */
    char *tls;
    char *ca_file; /* "" : the system's trust store */
    char *username;
    char *password; /* a secret: never in a message */
    char *from;     /* "alerts@example.org" or "Name <alerts@example.org>" */
    char *to;
    char *min_severity;
    bool digest;  /* the daily digest by email too */
    bool reports; /* the reports by email (notify_email_send_html) */
};

/*
 * The channels configured in `tg` ([alerts.telegram] with bot_token and
 * chat_id), `wh` ([alerts.webhook] with url) and `em` ([alerts.email], may
 * be NULL: off); one not configured is off, so `*n` may be 0. `clock` (may be NULL: the real clock)
 * paces Telegram (about one message a second per chat, 20 a minute per group chat) by sleeping in
 * send(); it is borrowed and must outlive the channels. Returns 0, or CK_ECONFIG with the reason in
 * `err` (e.g. a bot_token without a chat_id, naming the missing key) and nothing to free. Free with
 * notify_channels_free(), which takes the array and accepts NULL.
 */
int notify_channels_new(const struct telegram_settings *tg, const struct alert_webhook_settings *wh,
                        const struct email_settings *em, const struct retry_clock *clock,
                        struct notify_channel ***out, size_t *n, struct strbuf *err);
void notify_channels_free(struct notify_channel **v, size_t n);

/* The channel named `name` ("email") among `v[0..n)`, or NULL. Borrowed. */
struct notify_channel *notify_channels_find(struct notify_channel *const *v, size_t n,
                                            const char *name);

/*
 * Whether `ch` wants a message of state `kind` and `severity` (see
 * notify_ops.accepts); true for channels that take everything.
 */
bool notify_accepts(const struct notify_channel *ch, const char *kind,
                    enum notify_severity severity);

/*
 * Reports by email: whether the email channel `ch` is set to send them
 * ([alerts.email] reports = true). False for any other channel.
 */
bool notify_email_wants_reports(const struct notify_channel *ch);

/*
 * Send one HTML document (a report) by the email channel `ch` now, as a
 * multipart/alternative message with `subject`, `html` inline and `text`
 * (may be NULL: a short note that the message is HTML) as the plain
 * alternative. Not paced and not queued: the caller (the report job)
 * retries when out->retryable. Returns as notify_ops.send (an SMTP 4xx
 * is retryable, a 5xx is not); CK_EINVAL when `ch` is not an email
 * channel. Thread-safe like send().
 */
int notify_email_send_html(struct notify_channel *ch, const char *subject, const char *html,
                           const char *text, struct notify_result *out, struct strbuf *err);

static inline const char *notify_channel_name(const struct notify_channel *ch)
{
    return ch->ops->name;
}

static inline int notify_send(struct notify_channel *ch, const struct notify_msg *m,
                              struct notify_result *out, struct strbuf *err)
{
    return ch->ops->send(ch, m, out, err);
}

/* Does the channel send documents / JSON documents? */
static inline bool notify_can_send_document(const struct notify_channel *ch)
{
    return ch->ops->send_document != NULL;
}
static inline bool notify_can_send_json(const struct notify_channel *ch)
{
    return ch->ops->send_json != NULL;
}
/* The channel's send_document(); it must have one (notify_can_send_document()). */
int notify_send_document(struct notify_channel *ch, const struct notify_document *d,
                         struct notify_result *out, struct strbuf *err);
/* The channel's send_json(); it must have one (notify_can_send_json()). */
int notify_send_json(struct notify_channel *ch, const char *json, size_t len,
                     struct notify_result *out, struct strbuf *err);

#endif
