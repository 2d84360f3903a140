/* SPDX-License-Identifier: MIT */
#ifndef CK_ALERT_NOTIFY_INTERNAL_H
#define CK_ALERT_NOTIFY_INTERNAL_H

#include "alert/notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Between notify.c and the channel files (telegram.c, webhook.c, email.c), and for
 * tests: the constructors with every knob (timeouts the configuration
 * does not expose), the renderings, and the text helpers they share.
 */

struct strbuf;
struct retry_clock;

/* Longest Telegram message, in UTF-16 code units of its text (Bot API sendMessage). */
#define TELEGRAM_MAX_TEXT 4096

struct telegram_config {
    const char *bot_token;   /* MUST: "123456:ABC..." */
    const char *chat_id;     /* MUST: an integer (negative for groups) or "@channel" */
    const char *base_url;    /* NULL or "": https://api.telegram.org */
    long connect_timeout_ms; /* 0: 10 s */
    long timeout_ms;         /* 0: 20 s, each request */
    /* Paces the messages; NULL: the real clock. Borrowed: must outlive the channel. */
    const struct retry_clock *clock;
};

/*
 * A Telegram channel. CK_ECONFIG with the reason in `err` (never quoting
 * the token) when the token or the chat id cannot be right.
 */
int notify_telegram_new(const struct telegram_config *cfg, struct notify_channel **out,
                        struct strbuf *err);

struct webhook_config {
    const char *url;         /* MUST: http:// or https:// */
    long connect_timeout_ms; /* 0: 10 s */
    long timeout_ms;         /* 0: 20 s */
};

/* A webhook channel. CK_ECONFIG when the URL is not http(s) (the URL is not quoted). */
int notify_webhook_new(const struct webhook_config *cfg, struct notify_channel **out,
                       struct strbuf *err);

struct email_config {
    const char *smtp_url; /* MUST: smtp:// (STARTTLS) or smtps:// */
    bool tls_off;         /* smtp:// without STARTTLS: only for a relay on loopback */
    const char *ca_file;  /* NULL or "": the system's trust store */
    const char *username; /* NULL or "": no AUTH */
    const char *password;
    const char *from; /* MUST: "addr" or "Name <addr>" */
    const char *to;   /* MUST: addresses separated by commas or whitespace */
    enum notify_severity min_severity;
    bool digest, reports;
    long connect_timeout_ms; /* 0: 10 s */
    long timeout_ms;         /* 0: 60 s, the whole SMTP conversation */
    int per_hour;            /* messages in any hour, all keys together; 0: 30 */
    int per_key_per_hour;    /* messages about one alert key in any hour; 0: 4 */
    /* Paces the messages and names them; NULL: the real clock. Borrowed. */
    const struct retry_clock *clock;
};

/*
 * An email channel. CK_ECONFIG with the reason in `err` (never quoting the
 * password) when the URL, the TLS choice or an address cannot be right.
 */
int notify_email_new(const struct email_config *cfg, struct notify_channel **out,
                     struct strbuf *err);

extern const struct notify_ops notify_telegram_ops;
extern const struct notify_ops notify_webhook_ops;
extern const struct notify_ops notify_email_ops;

/*
 * The parts of the email about `m`: the subject (one line, plain UTF-8,
 * "[candlekeep] FIRING [critical] title"), the plain text and the HTML
 * document. Each is appended to its buffer.
 */
void notify_email_render(const struct notify_msg *m, struct strbuf *subject, struct strbuf *text,
                         struct strbuf *html);

/* A whole message for notify_email_compose(). */
struct email_message {
    const char *from;      /* the From header as configured ("Name <addr>" or "addr") */
    const char *const *to; /* the addresses */
    size_t nto;
    const char *subject;          /* UTF-8; RFC 2047 encoded when not ASCII */
    const char *text, *html;      /* UTF-8 bodies */
    const char *message_id;       /* "<...@...>" */
    const char *references;       /* NULL, or a "<...@...>" the message threads under */
    const char *alert_key, *kind; /* NULL, or X-Candlekeep-Alert / X-Candlekeep-State */
    int64_t date;                 /* Unix seconds */
};

/*
 * The RFC 5322 message (CRLF line ends): Date, Message-ID, From, To,
 * Subject (RFC 2047 encoded words where not ASCII), MIME-Version,
 * Auto-Submitted and a multipart/alternative body with text/plain and
 * text/html, both UTF-8 in base64. Appended to `out`.
 */
void notify_email_compose(const struct email_message *em, struct strbuf *out);

/*
 * Append header `name` with the UTF-8 text `value` (control characters
 * become spaces): as it is when printable ASCII, else as RFC 2047
 * encoded words ("=?UTF-8?B?...?=") folded onto lines under 78
 * characters, never cutting a character. Ends with CRLF.
 */
void notify_email_add_header(struct strbuf *out, const char *name, const char *value);

/*
 * The bare address of "Name <addr>" or "addr", checked: one '@' with
 * something on both sides, printable ASCII without spaces or specials.
 * 0 and the address (caller frees) in `*out`, or CK_EINVAL.
 */
int notify_email_address(const char *s, char **out);

/*
 * `m` as one Telegram HTML document (appended to `out`), before any
 * splitting: a first line with a marker of the state and severity and the
 * title, then the details (in a <pre> block when they span lines), the key
 * and the time. Every value is escaped; only b, i, code and pre are used.
 */
void notify_telegram_render(const struct notify_msg *m, struct strbuf *out);

/*
 * Split `html` (well-formed: tags balanced, entities complete) into parts
 * of at most `limit` UTF-16 code units each, counting the markup too (so
 * the text Telegram measures is shorter still). Parts end at line breaks
 * where possible (the break itself is dropped); a line longer than the
 * limit is cut between two code points, never inside a tag or an entity.
 * Tags open at a cut are closed at the end of the part and reopened, with
 * their attributes, at the start of the next, so each part is well-formed
 * on its own. Parts with only whitespace in their text are left out.
 * Returns the number of parts; `*out` is an array of that many strings
 * (caller frees each and the array; NULL when there are none).
 */
size_t notify_telegram_split(const char *html, size_t len, size_t limit, char ***out);

/* The JSON body sent by the webhook channel (caller frees). */
char *notify_webhook_body(const struct notify_msg *m);

/* --- shared text helpers (notify.c) --- */

/*
 * Decode the code point at `s` (at most `len` bytes, len > 0) into `*cp`;
 * returns the bytes it takes (1 to 4). A byte that does not start a valid,
 * shortest-form sequence gives U+FFFD and 1.
 */
size_t notify_utf8_next(const char *s, size_t len, uint32_t *cp);

/* UTF-16 code units of the UTF-8 text `s` (invalid bytes count one each). */
size_t notify_utf16_len(const char *s, size_t len);

/* How notify_add_text() writes special characters. */
enum notify_escape {
    NOTIFY_ESC_NONE,  /* as they are */
    NOTIFY_ESC_HTML,  /* & < > " as &amp; &lt; &gt; &quot; (Telegram HTML) */
    NOTIFY_ESC_SLACK, /* & < > as &amp; &lt; &gt; (Slack message text) */
};

/*
 * Append `s` as clean UTF-8 text: invalid bytes become U+FFFD, CR is
 * dropped, other control characters but LF and TAB become U+FFFD, and
 * special characters are escaped as `esc` says. NULL appends nothing.
 */
void notify_add_text(struct strbuf *sb, const char *s, enum notify_escape esc);

/* The marker of a message's state: "FIRING", "RESOLVED", ..., and its emoji. */
const char *notify_state_label(const char *state);
const char *notify_state_emoji(const struct notify_msg *m);
/* Whether the first line shows the severity ("[critical]"): not for resolved, digests... */
bool notify_shows_severity(const char *state);

/* The real clock (monotonic milliseconds, nanosleep). */
extern const struct retry_clock notify_real_clock;

#endif
