/* SPDX-License-Identifier: MIT */
/*
 * The operator channels as a set: which ones the configuration turns on,
 * and what the channel files share (severity names, the state markers of
 * a message's first line, clean UTF-8 text with the escaping each peer
 * needs, redaction of secrets from messages, the real clock).
 *
 * A channel is on when its section names where to send: [alerts.telegram]
 * with both bot_token and chat_id, [alerts.webhook] with a url,
 * [alerts.email] with an smtp_url (and enabled, the default). Telegram
 * with one of the two is a configuration error, never a silently dead
 * channel: an operator who set a token expects messages.
 *
 * Text from the rest of candlekeep is plain and may be anything (a
 * provider's error message quoted in an alert's details): the channels
 * send it as valid UTF-8 without control characters, because Telegram and
 * JSON parsers refuse the rest, and a refused alert is a lost alert.
 */
#include "alert/notify.h"

#include "alert/notify_internal.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/banned.h"

static const char *const severity_names[] = {
    [NOTIFY_INFO] = "info",
    [NOTIFY_WARNING] = "warning",
    [NOTIFY_CRITICAL] = "critical",
};

const char *notify_severity_name(enum notify_severity s)
{
    if ((unsigned)s < ARRAY_SIZE(severity_names))
        return severity_names[s];
    return "unknown";
}

int notify_severity_parse(const char *name, enum notify_severity *out)
{
    if (!name)
        return CK_EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(severity_names); i++) {
        if (!strcasecmp(name, severity_names[i])) {
            *out = (enum notify_severity)i;
            return 0;
        }
    }
    if (!strcasecmp(name, "warn")) {
        *out = NOTIFY_WARNING;
        return 0;
    }
    return CK_EINVAL;
}

/* ------------------------------------------------------------------ the set */

/* The email channel of [alerts.email] `em` (on: enabled with an smtp_url). */
static int new_email(const struct email_settings *em, const struct retry_clock *clock,
                     struct notify_channel **out, struct strbuf *err)
{
    struct email_config cfg = {
        .smtp_url = em->smtp_url,
        .ca_file = em->ca_file,
        .username = em->username,
        .password = em->password,
        .from = em->from,
        .to = em->to,
        .min_severity = NOTIFY_CRITICAL,
        .digest = em->digest,
        .reports = em->reports,
        .clock = clock,
    };

    if (em->tls && *em->tls && strcmp(em->tls, "required") && strcmp(em->tls, "off")) {
        strbuf_addstr(err, "[alerts.email] tls must be 'required' or 'off'");
        return CK_ECONFIG;
    }
    cfg.tls_off = em->tls && !strcmp(em->tls, "off");
    if (em->min_severity && *em->min_severity &&
        notify_severity_parse(em->min_severity, &cfg.min_severity)) {
        strbuf_addstr(err, "[alerts.email] min_severity must be info, warning or critical");
        return CK_ECONFIG;
    }
    return notify_email_new(&cfg, out, err);
}

int notify_channels_new(const struct telegram_settings *tg, const struct alert_webhook_settings *wh,
                        const struct email_settings *em, const struct retry_clock *clock,
                        struct notify_channel ***out, size_t *n, struct strbuf *err)
{
    bool has_token = tg->bot_token && *tg->bot_token;
    bool has_chat = tg->chat_id && *tg->chat_id;
    struct notify_channel **v = xcalloc(3, sizeof(*v));
    size_t count = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (has_token != has_chat) {
        strbuf_addf(err,
                    "[alerts.telegram] %s is missing: %s is set, and Telegram alerts need both "
                    "(or neither, to turn them off)",
                    has_token ? "chat_id" : "bot_token", has_token ? "bot_token" : "chat_id");
        rc = CK_ECONFIG;
        goto fail;
    }
    if (has_token) {
        struct telegram_config cfg = {
            .bot_token = tg->bot_token,
            .chat_id = tg->chat_id,
            .base_url = tg->base_url,
            .clock = clock,
        };
        rc = notify_telegram_new(&cfg, &v[count], err);
        if (rc)
            goto fail;
        count++;
    }
    if (wh->url && *wh->url) {
        struct webhook_config cfg = {.url = wh->url};
        rc = notify_webhook_new(&cfg, &v[count], err);
        if (rc)
            goto fail;
        count++;
    }
    if (em && em->enabled && em->smtp_url && *em->smtp_url) {
        rc = new_email(em, clock, &v[count], err);
        if (rc)
            goto fail;
        count++;
    }
    *out = v;
    *n = count;
    return 0;
fail:
    notify_channels_free(v, count);
    return rc;
}

void notify_channels_free(struct notify_channel **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i])
            v[i]->ops->free(v[i]);
    free(v);
}

struct notify_channel *notify_channels_find(struct notify_channel *const *v, size_t n,
                                            const char *name)
{
    for (size_t i = 0; v && i < n; i++)
        if (!strcmp(v[i]->ops->name, name))
            return v[i];
    return NULL;
}

bool notify_accepts(const struct notify_channel *ch, const char *kind,
                    enum notify_severity severity)
{
    return !ch->ops->accepts || ch->ops->accepts(ch, kind, severity);
}

/* ------------------------------------------------------------------ text */

size_t notify_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c = p[0], min;
    size_t need;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        need = 1, c &= 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, c &= 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, c &= 0x07, min = 0x10000;
    else
        goto bad;
    if (len < need + 1)
        goto bad;
    for (size_t i = 1; i <= need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return need + 1;
bad:
    *cp = 0xFFFD;
    return 1;
}

size_t notify_utf16_len(const char *s, size_t len)
{
    size_t units = 0, i = 0;

    while (i < len) {
        uint32_t cp;
        i += notify_utf8_next(s + i, len - i, &cp);
        units += cp >= 0x10000 ? 2 : 1;
    }
    return units;
}

static void add_utf8(struct strbuf *sb, uint32_t cp)
{
    char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    strbuf_add(sb, b, n);
}

void notify_add_text(struct strbuf *sb, const char *s, enum notify_escape esc)
{
    size_t len = s ? strlen(s) : 0, i = 0;

    while (i < len) {
        uint32_t cp;
        size_t n = notify_utf8_next(s + i, len - i, &cp);

        if (cp == '\r') {
            /* CRLF becomes LF; a lone CR would be a line break in some clients only. */
        } else if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F) {
            add_utf8(sb, 0xFFFD);
        } else if (esc != NOTIFY_ESC_NONE && cp == '&') {
            strbuf_addstr(sb, "&amp;");
        } else if (esc != NOTIFY_ESC_NONE && cp == '<') {
            strbuf_addstr(sb, "&lt;");
        } else if (esc != NOTIFY_ESC_NONE && cp == '>') {
            strbuf_addstr(sb, "&gt;");
        } else if (esc == NOTIFY_ESC_HTML && cp == '"') {
            strbuf_addstr(sb, "&quot;");
        } else if (cp == 0xFFFD && n == 1) {
            add_utf8(sb, cp);
        } else {
            strbuf_add(sb, s + i, n);
        }
        i += n;
    }
}

/* The states notify.h lists, their first-line label and emoji. */
static const struct state_marker {
    const char *state, *label, *emoji;
    bool severity;
} markers[] = {
    {"firing", "FIRING", NULL, true},
    {"reminder", "STILL FIRING", "\xF0\x9F\x94\x81", true}, /* U+1F501 */
    {"resolved", "RESOLVED", "\xE2\x9C\x85", false},        /* U+2705 */
    {"test", "TEST", "\xF0\x9F\xA7\xAA", true},             /* U+1F9EA */
    {"digest", "DIGEST", "\xF0\x9F\x93\x8B", false},        /* U+1F4CB */
    {"signal", "SIGNAL", "\xF0\x9F\x93\x88", false},        /* U+1F4C8 */
    {"outcome", "OUTCOME", "\xF0\x9F\x8F\x81", false},      /* U+1F3C1 */
    {"report", "REPORT", "\xF0\x9F\x93\x8A", false},        /* U+1F4CA */
    {"reply", "REPLY", "\xF0\x9F\x92\xAC", false},          /* U+1F4AC */
};

static const struct state_marker *find_marker(const char *state)
{
    for (size_t i = 0; state && i < ARRAY_SIZE(markers); i++)
        if (!strcmp(state, markers[i].state))
            return &markers[i];
    return NULL;
}

const char *notify_state_label(const char *state)
{
    const struct state_marker *mk = find_marker(state);
    return mk ? mk->label : NULL;
}

const char *notify_state_emoji(const struct notify_msg *m)
{
    const struct state_marker *mk = find_marker(m->state);

    if (mk && mk->emoji)
        return mk->emoji;
    /* Firing, and states this file does not know: the colour of the severity. */
    switch (m->severity) {
    case NOTIFY_CRITICAL:
        return "\xF0\x9F\x94\xB4"; /* U+1F534 red circle */
    case NOTIFY_WARNING:
        return "\xF0\x9F\x9F\xA0"; /* U+1F7E0 orange circle */
    case NOTIFY_INFO:
        break;
    }
    return "\xF0\x9F\x94\xB5"; /* U+1F535 blue circle */
}

bool notify_shows_severity(const char *state)
{
    const struct state_marker *mk = find_marker(state);
    return mk ? mk->severity : true;
}

/* ------------------------------------------------------------------ the real clock */

static int64_t real_now_ms(void *arg)
{
    struct timespec ts;

    (void)arg;
    /* Pacing measures intervals: a monotonic clock does not jump with NTP. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool real_sleep_ms(void *arg, int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

    (void)arg;
    /* An interrupted sleep returns early; retry_wait_until() sleeps the rest. */
    if (ms > 0 && nanosleep(&ts, NULL) && errno != EINTR)
        return false;
    return true;
}

const struct retry_clock notify_real_clock = {
    .now_ms = real_now_ms,
    .sleep_ms = real_sleep_ms,
};

int notify_send_document(struct notify_channel *ch, const struct notify_document *d,
                         struct notify_result *out, struct strbuf *err)
{
    if (!ch->ops->send_document)
        BUG("channel '%s' sends no documents", ch->ops->name);
    return ch->ops->send_document(ch, d, out, err);
}

int notify_send_json(struct notify_channel *ch, const char *json, size_t len,
                     struct notify_result *out, struct strbuf *err)
{
    if (!ch->ops->send_json)
        BUG("channel '%s' sends no JSON documents", ch->ops->name);
    return ch->ops->send_json(ch, json, len, out, err);
}
