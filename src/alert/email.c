/* SPDX-License-Identifier: MIT */
/*
 * The email channel: one MIME message per alert message, sent by SMTP
 * through libcurl (which speaks the protocol: EHLO, STARTTLS, AUTH, MAIL,
 * RCPT, DATA and the dot-stuffing of the body).
 *
 * What goes by email. Mailboxes are read later and less often than a
 * chat, so the channel takes fewer messages (notify_ops.accepts): the
 * firing and the resolved message of an alert episode at or above
 * [alerts.email] min_severity (default critical), the test message, and
 * the digest when digest = true; never reminders, signals or outcomes.
 * The outbox queues nothing for email otherwise.
 *
 * Messages. Each is RFC 5322 with CRLF line ends: Date, a fresh
 * Message-ID, From, To, a Subject that says what happened ("[candlekeep]
 * FIRING [critical] title", RFC 2047 encoded words when it is not ASCII),
 * Auto-Submitted (so that vacation responders stay quiet), References
 * (one stable id per alert key, so mail clients thread an episode's
 * firing and resolved messages) and a multipart/alternative body with the
 * plain text and an HTML rendering, both UTF-8 in base64 (no line of a
 * base64 body can be too long or start with a dot). Every value is made
 * valid UTF-8 without control characters and escaped in the HTML.
 *
 * Answers. libcurl reports the server's last reply code. A 4xx (451
 * "try again later", 421 "closing") is temporary: the outbox tries again
 * with its backoff. A 5xx (550 "no such mailbox", 554, 535 "bad
 * credentials") is permanent: retrying cannot help, so the message is
 * given up at once (and the outbox tells the other channels). Network
 * errors and timeouts are temporary. With tls = required, a server on
 * smtp:// that does not offer STARTTLS is a permanent error that says
 * so: the channel never falls back to sending the password and the alert
 * in clear text. tls = off is allowed only for a relay on the loopback.
 *
 * Pacing. A flapping alert must not fill a mailbox. The alert manager's
 * cooldown already folds flapping into episodes; on top of it this file
 * lets through at most per_key_per_hour messages about one alert key and
 * per_hour messages in all in any hour. A message over the limit is not
 * lost: send() answers CK_ELIMIT with the wait until a slot frees, and
 * the outbox sends it then. Only delivered messages count.
 *
 * Secrets. The password goes to libcurl as CURLOPT_PASSWORD, never in a
 * URL. No message quotes the smtp_url (only its host), and every error
 * has the password and the URL's secret parts masked before it leaves
 * this file.
 *
 * Threads. send() holds the channel's mutex for the whole conversation,
 * which also guards the pacing state; the clock is borrowed.
 */
#include "alert/notify_internal.h"

#include "resilience/retry.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define EM_CONNECT_TIMEOUT_MS 10000L
#define EM_TIMEOUT_MS         60000L
#define EM_PER_HOUR           30
#define EM_PER_KEY_PER_HOUR   4
#define EM_HOUR_MS            (3600 * 1000LL)
/* Alert keys whose recent messages are remembered for pacing; the oldest goes first. */
#define EM_PACE_KEYS 64
/* Longest header line before folding (RFC 5322 says 78 should not be exceeded). */
#define EM_LINE_MAX 76

/* The times of the latest messages, a ring of `cap` slots. */
struct pace_ring {
    int64_t *t;
    size_t cap, n, next; /* slots, filled slots, the slot written next (the oldest when full) */
};

struct pace_key {
    char *key;
    struct pace_ring ring;
    int64_t used_ms; /* latest use, to pick the one to forget */
};

struct email {
    struct notify_channel base; /* first */
    char *url;
    char *host; /* for messages: the URL is never quoted */
    bool tls_off;
    char *ca_file, *username, *password;
    char *from_header, *from_addr, *domain;
    char **to;
    size_t nto;
    enum notify_severity min_severity;
    bool digest, reports;
    long connect_timeout_ms, timeout_ms;
    struct retry_clock clock;
    struct redact_set secrets;

    /* Guards everything below and the SMTP conversation. */
    pthread_mutex_t lock;
    struct pace_ring all;
    struct pace_key keys[EM_PACE_KEYS];
    int per_key;
};

static struct email *em_downcast(struct notify_channel *ch)
{
    if (ch->ops != &notify_email_ops)
        BUG("channel '%s' is not an email channel", ch->ops->name);
    return (struct email *)ch;
}

/* ------------------------------------------------------------------ addresses */

static bool addr_char_ok(int c)
{
    return c > 0x20 && c < 0x7F && !strchr("<>()[]\\,;:\"", c);
}

int notify_email_address(const char *s, char **out)
{
    const char *lt = strchr(s, '<'), *start = s, *end, *at = NULL;

    *out = NULL;
    if (lt) {
        start = lt + 1;
        end = strchr(start, '>');
        if (!end || end[1 + strspn(end + 1, " \t")])
            return CK_EINVAL;
    } else {
        while (*start == ' ' || *start == '\t')
            start++;
        end = start + strlen(start);
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
    }
    for (const char *p = start; p < end; p++) {
        if (!addr_char_ok((unsigned char)*p))
            return CK_EINVAL;
        if (*p == '@') {
            if (at)
                return CK_EINVAL;
            at = p;
        }
    }
    if (!at || at == start || at + 1 == end)
        return CK_EINVAL;
    *out = xstrndup(start, (size_t)(end - start));
    return 0;
}

/* ------------------------------------------------------------------ MIME */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void add_base64(struct strbuf *out, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        strbuf_addch(out, b64[(v >> 18) & 63]);
        strbuf_addch(out, b64[(v >> 12) & 63]);
        strbuf_addch(out, i + 1 < len ? b64[(v >> 6) & 63] : '=');
        strbuf_addch(out, i + 2 < len ? b64[v & 63] : '=');
    }
}

/*
 * A text body in base64, 76 characters a line (RFC 2045), its line breaks
 * made CRLF first: the canonical form of text that base64 must carry.
 */
static void add_base64_lines(struct strbuf *out, const char *s)
{
    struct strbuf crlf = STRBUF_INIT;

    for (; *s; s++) {
        if (*s == '\n' && (!crlf.len || crlf.buf[crlf.len - 1] != '\r'))
            strbuf_addch(&crlf, '\r');
        strbuf_addch(&crlf, *s);
    }
    /* 57 bytes make 76 characters. */
    for (size_t i = 0; i < crlf.len; i += 57) {
        add_base64(out, (const unsigned char *)crlf.buf + i, crlf.len - i < 57 ? crlf.len - i : 57);
        strbuf_addstr(out, "\r\n");
    }
    strbuf_release(&crlf);
}

/* `s` as clean UTF-8 on one line: control characters (and line breaks) become spaces. */
static void add_one_line(struct strbuf *out, const char *s)
{
    struct strbuf clean = STRBUF_INIT;

    notify_add_text(&clean, s, NOTIFY_ESC_NONE);
    for (size_t i = 0; i < clean.len; i++)
        strbuf_addch(out, clean.buf[i] == '\n' || clean.buf[i] == '\t' ? ' ' : clean.buf[i]);
    strbuf_release(&clean);
}

static bool is_printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
            return false;
    return true;
}

void notify_email_add_header(struct strbuf *out, const char *name, const char *value)
{
    struct strbuf v = STRBUF_INIT;
    size_t col, i = 0;

    add_one_line(&v, value);
    strbuf_addf(out, "%s: ", name);
    col = strlen(name) + 2;
    if (is_printable_ascii(v.buf)) {
        strbuf_addbuf(out, &v);
        strbuf_addstr(out, "\r\n");
        strbuf_release(&v);
        return;
    }
    /*
     * Encoded words of at most 45 bytes of text (60 characters of base64,
     * 72 with the =?UTF-8?B? ?= frame; the first word less, to fit beside
     * the header's name), one to a line, cut between characters: RFC 2047
     * forbids splitting one across words.
     */
    while (i < v.len) {
        size_t room = col + 12 + 8 < EM_LINE_MAX ? (EM_LINE_MAX - col - 12) / 4 * 3 : 6;
        size_t take = 0;

        if (room > 45)
            room = 45;
        while (i + take < v.len) {
            uint32_t cp;
            size_t n = notify_utf8_next(v.buf + i + take, v.len - i - take, &cp);
            /* A character longer than the room still goes, alone: words make progress. */
            if (take + n > room && take)
                break;
            take += n;
        }
        strbuf_addstr(out, "=?UTF-8?B?");
        add_base64(out, (const unsigned char *)v.buf + i, take);
        strbuf_addstr(out, "?=");
        i += take;
        if (i < v.len) {
            strbuf_addstr(out, "\r\n ");
            col = 1;
        }
    }
    strbuf_addstr(out, "\r\n");
    strbuf_release(&v);
}

/* RFC 5322 date: "Sun, 06 Dec 2026 23:14:34 +0000". */
static void add_date(struct strbuf *out, int64_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct civil_time c;

    time_to_civil(t, &c);
    strbuf_addf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[c.wday % 7], c.day,
                months[(c.month - 1) % 12], c.year, c.hour, c.min, c.sec);
}

/* The From header: a display name goes encoded when not ASCII, quoted when it holds specials. */
static void add_from(struct strbuf *out, const char *from)
{
    const char *lt = strchr(from, '<');
    struct strbuf name = STRBUF_INIT;
    char *addr = NULL;

    if (notify_email_address(from, &addr))
        addr = xstrdup(from); /* checked by notify_email_new(); never for a configured channel */
    if (lt) {
        const char *s = from, *e = lt;
        while (*s == ' ' || *s == '\t')
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e - s >= 2 && *s == '"' && e[-1] == '"')
            s++, e--;
        strbuf_add(&name, s, (size_t)(e - s));
    }
    if (!name.len) {
        strbuf_addf(out, "From: %s\r\n", addr);
    } else if (!is_printable_ascii(name.buf)) {
        struct strbuf h = STRBUF_INIT;
        notify_email_add_header(&h, "From", name.buf);
        strbuf_setlen(&h, h.len - 2); /* the CRLF */
        strbuf_addbuf(out, &h);
        strbuf_addf(out, " <%s>\r\n", addr);
        strbuf_release(&h);
    } else {
        strbuf_addstr(out, "From: \"");
        for (size_t i = 0; i < name.len; i++) {
            if (name.buf[i] == '"' || name.buf[i] == '\\')
                strbuf_addch(out, '\\');
            strbuf_addch(out, name.buf[i]);
        }
        strbuf_addf(out, "\" <%s>\r\n", addr);
    }
    free(addr);
    strbuf_release(&name);
}

void notify_email_compose(const struct email_message *em, struct strbuf *out)
{
    struct strbuf boundary = STRBUF_INIT;
    size_t col;

    /* The bodies are base64, whose alphabet has no '=' followed by '_': no clash possible. */
    strbuf_addf(&boundary, "=_ck_%s", em->message_id + (em->message_id[0] == '<'));
    for (size_t i = 0; i < boundary.len; i++)
        if (!isalnum((unsigned char)boundary.buf[i]) && !strchr("=_.-", boundary.buf[i]))
            boundary.buf[i] = '_';

    add_date(out, em->date);
    strbuf_addf(out, "Message-ID: %s\r\n", em->message_id);
    add_from(out, em->from);
    strbuf_addstr(out, "To: ");
    col = 4;
    for (size_t i = 0; i < em->nto; i++) {
        size_t len = strlen(em->to[i]);
        if (i) {
            strbuf_addch(out, ',');
            col++;
            if (col + len + 1 > EM_LINE_MAX) {
                strbuf_addstr(out, "\r\n");
                col = 0;
            }
            strbuf_addch(out, ' ');
            col++;
        }
        strbuf_addstr(out, em->to[i]);
        col += len;
    }
    strbuf_addstr(out, "\r\n");
    notify_email_add_header(out, "Subject", em->subject);
    if (em->references)
        strbuf_addf(out, "References: %s\r\n", em->references);
    if (em->alert_key && *em->alert_key)
        notify_email_add_header(out, "X-Candlekeep-Alert", em->alert_key);
    if (em->kind && *em->kind)
        notify_email_add_header(out, "X-Candlekeep-State", em->kind);
    strbuf_addstr(out, "Auto-Submitted: auto-generated\r\n"
                       "MIME-Version: 1.0\r\n");
    strbuf_addf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
                boundary.buf);
    strbuf_addstr(out, "This is a message in MIME format.\r\n");
    strbuf_addf(out,
                "\r\n--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n",
                boundary.buf);
    add_base64_lines(out, em->text);
    strbuf_addf(out,
                "\r\n--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n",
                boundary.buf);
    add_base64_lines(out, em->html);
    strbuf_addf(out, "\r\n--%s--\r\n", boundary.buf);
    strbuf_release(&boundary);
}

/* ------------------------------------------------------------------ rendering */

/* The first line: "FIRING [critical] title" (plain, one line). */
static void add_headline(struct strbuf *out, const struct notify_msg *m)
{
    const char *label = notify_state_label(m->state);

    if (label) {
        strbuf_addstr(out, label);
    } else {
        char *up = xstrdup(m->state && *m->state ? m->state : "notice");
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        add_one_line(out, up);
        free(up);
    }
    if (notify_shows_severity(m->state))
        strbuf_addf(out, " [%s]", notify_severity_name(m->severity));
    if (m->title && *m->title) {
        strbuf_addch(out, ' ');
        add_one_line(out, m->title);
    }
}

/* The details without leading blank lines and trailing whitespace (a copy). */
static char *trimmed(const char *s)
{
    const char *p = s ? s : "", *q = p, *end;

    while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
        if (*q == '\n')
            p = q + 1;
        q++;
    }
    if (!*q)
        p = q;
    end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    return xstrndup(p, (size_t)(end - p));
}

void notify_email_render(const struct notify_msg *m, struct strbuf *subject, struct strbuf *text,
                         struct strbuf *html)
{
    struct strbuf head = STRBUF_INIT, body = STRBUF_INIT;
    char *details = trimmed(m->details);
    const char *colour;
    char t[TIME_BUFSZ];

    add_headline(&head, m);
    time_format_iso8601(m->time, t);
    strbuf_addstr(subject, "[candlekeep] ");
    strbuf_addbuf(subject, &head);

    strbuf_addbuf(text, &head);
    strbuf_addstr(text, "\n\n");
    if (*details) {
        notify_add_text(text, details, NOTIFY_ESC_NONE);
        strbuf_addstr(text, "\n\n");
    }
    if (m->key && *m->key) {
        strbuf_addstr(text, "key:  ");
        add_one_line(text, m->key);
        strbuf_addch(text, '\n');
    }
    strbuf_addf(text, "time: %s\n\n-- \ncandlekeep\n", t);

    switch (m->severity) {
    case NOTIFY_CRITICAL:
        colour = "#b00020";
        break;
    case NOTIFY_WARNING:
        colour = "#b36b00";
        break;
    default:
        colour = "#1f5fa8";
        break;
    }
    if (m->state && !strcmp(m->state, "resolved"))
        colour = "#1b7f3b";
    notify_add_text(&body, head.buf, NOTIFY_ESC_HTML);
    strbuf_addstr(html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    strbuf_addbuf(html, &body);
    strbuf_addstr(html, "</title></head>\n<body style=\"font-family:sans-serif\">\n");
    strbuf_addf(html, "<h2 style=\"color:%s\">", colour);
    strbuf_addbuf(html, &body);
    strbuf_addstr(html, "</h2>\n");
    if (*details) {
        strbuf_addstr(html, "<pre style=\"white-space:pre-wrap\">");
        notify_add_text(html, details, NOTIFY_ESC_HTML);
        strbuf_addstr(html, "</pre>\n");
    }
    strbuf_addstr(html, "<table>\n");
    if (m->key && *m->key) {
        strbuf_addstr(html, "<tr><th align=\"left\">key</th><td><code>");
        notify_add_text(html, m->key, NOTIFY_ESC_HTML);
        strbuf_addstr(html, "</code></td></tr>\n");
    }
    strbuf_addf(html, "<tr><th align=\"left\">time</th><td>%s</td></tr>\n</table>\n", t);
    strbuf_addstr(html, "<p style=\"color:#666\">candlekeep</p>\n</body></html>\n");
    strbuf_release(&head);
    strbuf_release(&body);
    free(details);
}

/* ------------------------------------------------------------------ the channel */

/* The host of `url` for messages (no userinfo, no path). Caller frees. */
static char *url_host(const char *url)
{
    const char *p = strstr(url, "://"), *end, *at;

    p = p ? p + 3 : url;
    end = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    return xstrndup(p, (size_t)(end - p));
}

/* Is `host` (maybe with :port, maybe [v6]) the loopback? */
static bool host_is_loopback(const char *host)
{
    size_t len = strlen(host);
    const char *colon = strrchr(host, ':');

    if (host[0] == '[')
        return !strncmp(host, "[::1]", 5);
    if (colon)
        len = (size_t)(colon - host);
    return (len == 9 && !strncmp(host, "localhost", 9)) || (len >= 4 && !strncmp(host, "127.", 4));
}

static int add_recipients(struct email *em, const char *to, struct strbuf *err)
{
    const char *p = to;
    size_t alloc = 0;

    while (*p) {
        size_t len;
        char *word, *addr;

        p += strspn(p, ", \t;");
        len = strcspn(p, ", \t;");
        if (!len)
            break;
        word = xstrndup(p, len);
        if (notify_email_address(word, &addr)) {
            strbuf_addstr(err, "[alerts.email] to: '");
            strbuf_add_excerpt(err, word, len, 60, false);
            strbuf_addstr(err, "' is not an email address");
            free(word);
            return CK_ECONFIG;
        }
        free(word);
        ALLOC_GROW(em->to, em->nto + 1, alloc);
        em->to[em->nto++] = addr;
        p += len;
    }
    if (!em->nto) {
        strbuf_addstr(err, "[alerts.email] to is empty: name at least one address (or "
                           "ALERT_EMAIL_TO)");
        return CK_ECONFIG;
    }
    return 0;
}

static void ring_init(struct pace_ring *r, size_t cap)
{
    r->t = xcalloc(cap, sizeof(*r->t));
    r->cap = cap;
    r->n = r->next = 0;
}

static void ring_release(struct pace_ring *r)
{
    free(r->t);
    memset(r, 0, sizeof(*r));
}

static void ring_push(struct pace_ring *r, int64_t t)
{
    r->t[r->next] = t;
    r->next = (r->next + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
}

/* When the ring lets another message through (`now` when it has room). */
static int64_t ring_free_at(const struct pace_ring *r, int64_t now)
{
    if (r->n < r->cap || r->t[r->next] + EM_HOUR_MS <= now)
        return now;
    return r->t[r->next] + EM_HOUR_MS;
}

static void em_free(struct notify_channel *ch);

int notify_email_new(const struct email_config *cfg, struct notify_channel **out,
                     struct strbuf *err)
{
    const char *url = cfg->smtp_url;
    bool smtps = url && !strncmp(url, "smtps://", 8);
    struct email *em;
    char *at;
    int rc;

    *out = NULL;
    if (!url || (!smtps && strncmp(url, "smtp://", 7))) {
        strbuf_addstr(err, "[alerts.email] smtp_url is not an smtp:// or smtps:// URL");
        return CK_ECONFIG;
    }
    if (strchr(url, '@')) {
        strbuf_addstr(err, "[alerts.email] smtp_url must not hold credentials: set username and "
                           "password instead");
        return CK_ECONFIG;
    }
    em = xcalloc(1, sizeof(*em));
    em->base.ops = &notify_email_ops;
    em->url = xstrdup(url);
    em->host = url_host(url);
    pthread_mutex_init(&em->lock, NULL);
    if (cfg->tls_off && smtps) {
        strbuf_addstr(err, "[alerts.email] tls = off contradicts an smtps:// smtp_url (use "
                           "smtp:// for a relay without TLS)");
        rc = CK_ECONFIG;
        goto fail;
    }
    if (cfg->tls_off && !host_is_loopback(em->host)) {
        strbuf_addf(err,
                    "[alerts.email] tls = off is only for a relay on the loopback, and the "
                    "smtp_url host is '%s': the password and the alerts would cross the "
                    "network in clear text",
                    em->host);
        rc = CK_ECONFIG;
        goto fail;
    }
    em->tls_off = cfg->tls_off;
    if (!cfg->from || !*cfg->from || notify_email_address(cfg->from, &em->from_addr)) {
        strbuf_addstr(err, "[alerts.email] from: '");
        strbuf_add_excerpt(err, cfg->from ? cfg->from : "", cfg->from ? strlen(cfg->from) : 0, 60,
                           false);
        strbuf_addstr(err, "' is not an address (\"alerts@example.org\" or \"Name "
                           "<alerts@example.org>\")");
        rc = CK_ECONFIG;
        goto fail;
    }
    if (strchr(cfg->from, '\r') || strchr(cfg->from, '\n')) {
        strbuf_addstr(err, "[alerts.email] from holds a line break");
        rc = CK_ECONFIG;
        goto fail;
    }
    em->from_header = xstrdup(cfg->from);
    at = strchr(em->from_addr, '@');
    em->domain = xstrdup(at + 1);
    rc = add_recipients(em, cfg->to ? cfg->to : "", err);
    if (rc)
        goto fail;
    if (cfg->username && *cfg->username)
        em->username = xstrdup(cfg->username);
    if (cfg->password && *cfg->password) {
        em->password = xstrdup(cfg->password);
        redact_set_add(&em->secrets, cfg->password, strlen(cfg->password));
    }
    redact_set_add_url(&em->secrets, url, 0);
    if (cfg->ca_file && *cfg->ca_file)
        em->ca_file = xstrdup(cfg->ca_file);
    em->min_severity = cfg->min_severity;
    em->digest = cfg->digest;
    em->reports = cfg->reports;
    em->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : EM_CONNECT_TIMEOUT_MS;
    em->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : EM_TIMEOUT_MS;
    em->clock = cfg->clock ? *cfg->clock : notify_real_clock;
    ring_init(&em->all, cfg->per_hour > 0 ? (size_t)cfg->per_hour : EM_PER_HOUR);
    em->per_key = cfg->per_key_per_hour > 0 ? cfg->per_key_per_hour : EM_PER_KEY_PER_HOUR;
    *out = &em->base;
    return 0;
fail:
    em_free(&em->base);
    return rc;
}

static void em_free(struct notify_channel *ch)
{
    struct email *em;

    if (!ch)
        return;
    em = em_downcast(ch);
    pthread_mutex_destroy(&em->lock);
    for (size_t i = 0; i < em->nto; i++)
        free(em->to[i]);
    free(em->to);
    for (size_t i = 0; i < EM_PACE_KEYS; i++) {
        free(em->keys[i].key);
        ring_release(&em->keys[i].ring);
    }
    ring_release(&em->all);
    if (em->password)
        memset(em->password, 0, strlen(em->password));
    redact_set_release(&em->secrets);
    free(em->url);
    free(em->host);
    free(em->ca_file);
    free(em->username);
    free(em->password);
    free(em->from_header);
    free(em->from_addr);
    free(em->domain);
    free(em);
}

static bool em_accepts(const struct notify_channel *ch, const char *kind,
                       enum notify_severity severity)
{
    const struct email *em = (const struct email *)ch;

    if (ch->ops != &notify_email_ops)
        BUG("channel '%s' is not an email channel", ch->ops->name);
    if (!kind)
        return false;
    if (!strcmp(kind, "test"))
        return true;
    if (!strcmp(kind, "digest"))
        return em->digest;
    if (!strcmp(kind, "firing") || !strcmp(kind, "resolved"))
        return severity >= em->min_severity;
    return false;
}

bool notify_email_wants_reports(const struct notify_channel *ch)
{
    return ch && ch->ops == &notify_email_ops && ((const struct email *)ch)->reports;
}

/* The pacing slot of `key` (found, a free one, or the least recently used one, reset). */
static struct pace_key *pace_slot(struct email *em, const char *key, int64_t now)
{
    struct pace_key *lru = &em->keys[0];

    for (size_t i = 0; i < EM_PACE_KEYS; i++) {
        struct pace_key *k = &em->keys[i];
        if (k->key && !strcmp(k->key, key))
            return k;
        if (!k->key || (lru->key && k->used_ms < lru->used_ms))
            lru = k;
    }
    free(lru->key);
    ring_release(&lru->ring);
    lru->key = xstrdup(key);
    ring_init(&lru->ring, (size_t)em->per_key);
    lru->used_ms = now;
    return lru;
}

/* How long `key` (may be "") must wait before its next message; 0 now. */
static int64_t pace_wait(struct email *em, const char *key, int64_t now)
{
    int64_t at = ring_free_at(&em->all, now);

    if (key && *key) {
        int64_t k = ring_free_at(&pace_slot(em, key, now)->ring, now);
        if (k > at)
            at = k;
    }
    return at - now;
}

static void pace_count(struct email *em, const char *key, int64_t now)
{
    ring_push(&em->all, now);
    if (key && *key) {
        struct pace_key *k = pace_slot(em, key, now);
        ring_push(&k->ring, now);
        k->used_ms = now;
    }
}

struct upload {
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct upload *u = arg;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;

    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/* How a failed conversation ends, in the terms of notify.h. */
static int classify(CURLcode cc, long code, const char *detail, struct notify_result *out,
                    struct strbuf *msg)
{
    const char *what;
    int rc;

    out->retryable = false;
    if (cc == CURLE_USE_SSL_FAILED) {
        rc = CK_ECONFIG;
        what = "the server does not offer STARTTLS, and [alerts.email] tls = required: the "
               "message was not sent in clear text";
    } else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        rc = CK_EAUTH;
        what = "the server's TLS certificate is not trusted (is ca_file right?)";
    } else if (cc == CURLE_LOGIN_DENIED || code == 530 || code == 535) {
        rc = CK_EAUTH;
        what = "the server refused the username and password";
    } else if (code >= 500 && code <= 599) {
        rc = CK_EINVAL;
        what = "permanent failure";
    } else if (code >= 400 && code <= 499) {
        rc = CK_EUPSTREAM;
        what = "temporary failure";
        out->retryable = true;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = CK_ETIMEDOUT;
        what = "timed out";
        out->retryable = true;
    } else {
        rc = CK_EUPSTREAM;
        what = "cannot talk to the server";
        out->retryable = true;
    }
    strbuf_addstr(msg, what);
    /* Only a refusal: the 250 of an EHLO or the 220 of a STARTTLS would mislead. */
    if (code >= 400)
        strbuf_addf(msg, " (SMTP %ld)", code);
    if (cc == CURLE_WEIRD_SERVER_REPLY && code > 0) {
        /* libcurl's words for a refused end of DATA. */
        strbuf_addstr(msg, ": the server did not take the message");
    } else if (detail && *detail) {
        strbuf_addstr(msg, ": ");
        strbuf_add_excerpt(msg, detail, strlen(detail), 160, false);
    } else {
        strbuf_addf(msg, ": %s", curl_easy_strerror(cc));
    }
    return rc;
}

/* One SMTP conversation delivering `data` to every recipient. The caller holds the lock. */
static int smtp_send(struct email *em, const struct strbuf *data, struct notify_result *out,
                     struct strbuf *msg)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    struct upload up = {.p = data->buf, .left = data->len};
    struct strbuf from = STRBUF_INIT;
    CURL *h = curl_easy_init();
    long code = 0;
    CURLcode cc;
    int rc = 0;

    /* curl_easy_init() only fails when out of memory, which aborts everywhere else too. */
    if (!h)
        BUG("curl_easy_init failed");
    strbuf_addf(&from, "<%s>", em->from_addr);
    for (size_t i = 0; i < em->nto; i++) {
        struct strbuf r = STRBUF_INIT;
        strbuf_addf(&r, "<%s>", em->to[i]);
        rcpt = curl_slist_append(rcpt, r.buf);
        strbuf_release(&r);
    }
    curl_easy_setopt(h, CURLOPT_URL, em->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     em->tls_off ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    if (em->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, em->ca_file);
    if (em->username) {
        curl_easy_setopt(h, CURLOPT_USERNAME, em->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, em->password ? em->password : "");
    }
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.buf);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)data->len);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, em->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, em->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);

    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    out->status = code;
    if (cc != CURLE_OK) {
        strbuf_addf(msg, "email: to %s: ", em->host);
        rc = classify(cc, code, ebuf, out, msg);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    strbuf_release(&from);
    return rc;
}

/* A fresh Message-ID at this channel's domain. */
static void make_message_id(struct email *em, struct strbuf *out)
{
    uint64_t r = retry_random(&em->clock);
    strbuf_addf(out, "<%" PRId64 ".%016" PRIx64 ".candlekeep@%s>", time_wall_ms(), r, em->domain);
}

/* A stable id per alert key, which every message about it refers to (threading). */
static void make_thread_id(struct email *em, const char *key, struct strbuf *out)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    strbuf_addf(out, "<alert.%016" PRIx64 ".candlekeep@%s>", h, em->domain);
}

/* Compose and send one message; the caller holds the lock. */
static int deliver(struct email *em, const char *subject, const char *text, const char *html,
                   const char *key, const char *kind, int64_t date, struct notify_result *out,
                   struct strbuf *err)
{
    struct strbuf data = STRBUF_INIT, id = STRBUF_INIT, thread = STRBUF_INIT, msg = STRBUF_INIT;
    struct email_message m = {
        .from = em->from_header,
        .to = (const char *const *)em->to,
        .nto = em->nto,
        .subject = subject,
        .text = text,
        .html = html,
        .alert_key = key,
        .kind = kind,
        .date = date,
    };
    int rc;

    make_message_id(em, &id);
    m.message_id = id.buf;
    if (key && *key) {
        make_thread_id(em, key, &thread);
        m.references = thread.buf;
    }
    notify_email_compose(&m, &data);
    rc = smtp_send(em, &data, out, &msg);
    if (rc) {
        redact_set_apply(&em->secrets, &msg);
        redact_value(&msg, em->password);
        strbuf_addbuf(err, &msg);
    } else {
        out->parts_done = 1;
    }
    strbuf_release(&data);
    strbuf_release(&id);
    strbuf_release(&thread);
    strbuf_release(&msg);
    return rc;
}

static int em_send(struct notify_channel *ch, const struct notify_msg *m, struct notify_result *out,
                   struct strbuf *err)
{
    struct email *em = em_downcast(ch);
    struct strbuf subject = STRBUF_INIT, text = STRBUF_INIT, html = STRBUF_INIT;
    int64_t now, wait;
    int rc = 0;

    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = 1};
    if (m->parts_done >= 1) {
        out->parts_done = 1; /* an earlier attempt delivered it */
        return 0;
    }
    notify_email_render(m, &subject, &text, &html);

    pthread_mutex_lock(&em->lock);
    now = em->clock.now_ms(em->clock.arg);
    wait = pace_wait(em, m->key, now);
    if (wait > 0) {
        rc = CK_ELIMIT;
        out->retryable = true;
        out->retry_after_ms = wait;
        strbuf_addf(
            err, "email: paced: the hour's messages%s are used up; the next goes in %" PRId64 "s",
            m->key && *m->key ? " about this alert" : "", (wait + 999) / 1000);
    } else {
        rc = deliver(em, subject.buf, text.buf, html.buf, m->key, m->state,
                     m->time > 0 ? m->time : time_wall_ms() / 1000, out, err);
        if (!rc)
            pace_count(em, m->key, em->clock.now_ms(em->clock.arg));
    }
    pthread_mutex_unlock(&em->lock);

    strbuf_release(&subject);
    strbuf_release(&text);
    strbuf_release(&html);
    return rc;
}

int notify_email_send_html(struct notify_channel *ch, const char *subject, const char *html,
                           const char *text, struct notify_result *out, struct strbuf *err)
{
    struct email *em;
    int rc;

    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = 1};
    if (!ch || ch->ops != &notify_email_ops) {
        strbuf_addstr(err, "email: not an email channel");
        return CK_EINVAL;
    }
    if (!subject || !*subject || !html) {
        strbuf_addstr(err, "email: an HTML message needs a subject and a body");
        return CK_EINVAL;
    }
    em = em_downcast(ch);
    pthread_mutex_lock(&em->lock);
    rc = deliver(em, subject, text ? text : "This message is an HTML document.\n", html, NULL,
                 "report", time_wall_ms() / 1000, out, err);
    pthread_mutex_unlock(&em->lock);
    return rc;
}

const struct notify_ops notify_email_ops = {
    .name = "email",
    .send = em_send,
    .free = em_free,
    .accepts = em_accepts,
};
