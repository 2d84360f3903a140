/* SPDX-License-Identifier: MIT */
#ifndef CK_ALERT_NOTIFY_INTERNAL_H
#define CK_ALERT_NOTIFY_INTERNAL_H

#include "alert/notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Between notify.c and the channel files (telegram.c, webhook.c), and for
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

extern const struct notify_ops notify_telegram_ops;
extern const struct notify_ops notify_webhook_ops;

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
