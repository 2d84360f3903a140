/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_REDACT_H
#define CK_UTIL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The one secret redactor. Every message, URL and value that candlekeep
 * prints, logs, stores as a run message or sends to an operator passes
 * through one of these functions, so what counts as a secret is decided
 * here only:
 *
 *  - known values: API keys, bot tokens, the API token, webhook secrets and
 *    the passwords of configured URLs, registered once at start-up
 *    (redact_add_secret()) and masked wherever they occur;
 *  - the shapes of credentials: "apikey=X", "token: X", "password=X" (also
 *    quoted, as JSON), "Authorization: Bearer X" / "apikey X", Telegram's
 *    "/bot<token>/" URL path and "user:password@" in URLs;
 *  - for URLs, the parts that may carry a secret: the password always, and
 *    the path and query of URLs that are themselves the credential (a
 *    heartbeat ping URL, a chat incoming webhook).
 *
 * A mask is always "***" (except redact_set_fill(), which keeps lengths).
 * Thread-safety: the registry is guarded by its own mutex; a `struct
 * redact_set` belongs to its owner.
 */

struct strbuf;

enum redact_url_flags {
    /*
     * The URL is the credential: its path and query are masked too (ping
     * URLs carry their secret in the path, incoming webhooks in the path or
     * the query).
     */
    REDACT_URL_PATH = 1 << 0,
};

/*
 * A set of secret values, kept longest first so that a secret containing
 * another is masked whole. Values are copies owned by the set.
 */
struct redact_set {
    char **v;
    size_t n, alloc;
};
#define REDACT_SET_INIT                                                                            \
    {                                                                                              \
        0                                                                                          \
    }

/* Add s[0..len) (copied); empty values and values already present are ignored. */
void redact_set_add(struct redact_set *set, const char *s, size_t len);

/*
 * Add the parts of `url` that may be secret, as written and percent-decoded:
 * the password of the userinfo and of any password= parameter (for a URL
 * with an unencoded '@' in its password, also everything up to the last '@'
 * and its pieces of three characters or more, since a URL parser may quote
 * any of them). With REDACT_URL_PATH also the whole URL, the userinfo, the
 * path, its segments of 8 characters or more, the query and each query
 * value (pieces shorter than 4 characters are left out).
 */
void redact_set_add_url(struct redact_set *set, const char *url, unsigned flags);

/* Replace every occurrence of every value of `set` in `sb` with "***". */
void redact_set_apply(const struct redact_set *set, struct strbuf *sb);

/* Free the values; the set is empty and reusable. */
void redact_set_release(struct redact_set *set);

/* Replace every occurrence of `secret` (NULL or "" : none) in `sb` with "***". */
void redact_value(struct strbuf *sb, const char *secret);

/*
 * Overwrite every occurrence of `secret` in `sb` with '*', keeping the
 * length: for a body that will be quoted in pieces later, where a mask
 * applied to the finished quote would miss a secret cut in half.
 */
void redact_value_fill(struct strbuf *sb, const char *secret);

/*
 * Register a secret (copied) to be masked by redact_message() everywhere.
 * Values shorter than 4 characters are ignored (masking them would garble
 * ordinary text). Thread-safe.
 */
void redact_add_secret(const char *secret);
/* Register the secret parts of `url` (see redact_set_add_url()). Thread-safe. */
void redact_add_url_secrets(const char *url, unsigned flags);
/* Forget every registered secret (tests). Thread-safe. */
void redact_clear_secrets(void);

/*
 * Mask, in place, the registered secrets and the shapes of credentials in
 * `sb`: what every log line, error message and stored run message goes
 * through. Thread-safe.
 */
void redact_message(struct strbuf *sb);

/*
 * A copy of `url` fit to print: the password masked ("postgresql://ck:***@db/ck",
 * "?password=***"), the shapes of credentials masked, and with
 * REDACT_URL_PATH the path and query (a ping URL prints as "https://hc-ping.com/"
 * followed by the mask). The
 * registered secrets are not consulted: the result depends on `url` only.
 * Returns memory the caller frees; "" for NULL.
 */
char *redact_url(const char *url, unsigned flags);

#endif
