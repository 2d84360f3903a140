/* SPDX-License-Identifier: MIT */
/*
 * The secret redactor (see redact.h for what counts as a secret).
 *
 * Two mechanisms, used together by redact_message(): exact values, kept in
 * sets ordered longest first (a secret that contains another is masked
 * whole, not as "***" plus the tail of the longer one), and shapes, which
 * catch a credential nobody registered (a key in a URL the provider
 * echoes, a database password in a connection error). The process-wide
 * registry is a set behind a mutex; owners of a connection or a channel
 * keep their own set (the parts of their URL) and apply it to what their
 * peer says.
 *
 * A shape masks the value after a key word ("apikey=", "token:") only when
 * the key is a whole word, so "tokens=5" and "mytoken=1" stay as they are,
 * and never masks "***" again, so redacting twice changes nothing.
 */
#include "util/redact.h"

#include "util/strbuf.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define MASK "***"
/* Registered secrets and URL pieces shorter than this are ignored. */
#define MIN_SECRET 4
/* Path segments at least this long may be a token. */
#define SEGMENT_SECRET 8

/* ------------------------------------------------------------------ sets of values */

static void set_push(struct redact_set *set, char *s)
{
    size_t len = strlen(s), i;

    for (i = 0; i < set->n; i++) {
        if (!strcmp(set->v[i], s)) {
            free(s);
            return;
        }
    }
    ALLOC_GROW(set->v, set->n + 1, set->alloc);
    /* Longest first: insert before the first shorter value. */
    for (i = set->n; i > 0 && strlen(set->v[i - 1]) < len; i--)
        set->v[i] = set->v[i - 1];
    set->v[i] = s;
    set->n++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void redact_set_add(struct redact_set *set, const char *s, size_t len)
{
    if (len)
        set_push(set, xstrndup(s, len));
}

/* Add s[0..len) as written and, if different, percent-decoded. */
static void add_decoded(struct redact_set *set, const char *s, size_t len, size_t min)
{
    struct strbuf dec = STRBUF_INIT;

    if (!len || len < min)
        return;
    redact_set_add(set, s, len);
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            strbuf_addch(&dec, hi * 16 + lo);
            i += 2;
        } else {
            strbuf_addch(&dec, s[i]);
        }
    }
    if (dec.len)
        set_push(set, strbuf_detach(&dec, NULL));
    strbuf_release(&dec);
}

void redact_set_add_url(struct redact_set *set, const char *url, unsigned flags)
{
    const char *auth, *q;
    size_t min = (flags & REDACT_URL_PATH) ? MIN_SECRET : 1;

    if (!url || !*url)
        return;
    auth = strstr(url, "://");
    if (flags & REDACT_URL_PATH)
        add_decoded(set, url, strlen(url), min);
    if (auth) {
        const char *stop, *first = NULL, *last = NULL, *colon, *path;
        auth += 3;
        stop = auth + strcspn(auth, "?#");
        for (const char *c = auth; c < stop; c++) {
            if (*c != '@')
                continue;
            if (!first)
                first = c;
            last = c;
        }
        /*
         * A well-formed URL has its userinfo end at the first '@'; one with
         * an unencoded '@' in the password is malformed, and a parser may
         * then quote any part of it.
         */
        colon = first ? memchr(auth, ':', (size_t)(first - auth)) : NULL;
        if (colon)
            add_decoded(set, colon + 1, (size_t)(first - colon - 1), min);
        if (first && (flags & REDACT_URL_PATH))
            add_decoded(set, auth, (size_t)(first - auth), min);
        colon = last && last != first ? memchr(auth, ':', (size_t)(last - auth)) : NULL;
        if (colon) {
            const char *p = colon + 1;
            add_decoded(set, p, (size_t)(last - p), min);
            while (p < last) {
                size_t len = strcspn(p, "@");
                if (p + len > last)
                    len = (size_t)(last - p);
                if (len >= 3)
                    add_decoded(set, p, len, min);
                p += len + 1;
            }
        }
        path = (last ? last + 1 : auth);
        path += strcspn(path, "/?#");
        if ((flags & REDACT_URL_PATH) && *path == '/') {
            size_t plen = strcspn(path, "?#");
            add_decoded(set, path, plen, min);
            for (const char *s = path + 1; s < path + plen;) {
                size_t slen = strcspn(s, "/?#");
                if (slen >= SEGMENT_SECRET)
                    add_decoded(set, s, slen, min);
                s += slen + 1;
            }
        }
        q = path + strcspn(path, "?#");
        if ((flags & REDACT_URL_PATH) && *q)
            add_decoded(set, q + 1, strlen(q + 1), min);
        if ((flags & REDACT_URL_PATH) && *q) {
            /* Each value alone too: a receiver may echo one parameter. */
            for (const char *s = q + 1; *s;) {
                size_t plen = strcspn(s, "&;#");
                const char *eq = memchr(s, '=', plen);
                if (eq)
                    add_decoded(set, eq + 1, plen - (size_t)(eq + 1 - s), min);
                s += plen + (s[plen] ? 1 : 0);
            }
        }
    }
    for (q = strstr(url, "password="); q; q = strstr(q + 9, "password="))
        add_decoded(set, q + 9, strcspn(q + 9, "&# "), min);
}

void redact_set_apply(const struct redact_set *set, struct strbuf *sb)
{
    for (size_t i = 0; i < set->n; i++)
        redact_value(sb, set->v[i]);
}

void redact_set_release(struct redact_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof(*set));
}

void redact_value(struct strbuf *sb, const char *secret)
{
    struct strbuf out = STRBUF_INIT;
    size_t slen = secret ? strlen(secret) : 0;
    const char *p, *hit;

    if (!slen || !strstr(sb->buf, secret))
        return;
    for (p = sb->buf; (hit = strstr(p, secret)); p = hit + slen) {
        strbuf_add(&out, p, (size_t)(hit - p));
        strbuf_addstr(&out, MASK);
    }
    strbuf_addstr(&out, p);
    strbuf_release(sb);
    *sb = out;
}

void redact_value_fill(struct strbuf *sb, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0;
    char *p = sb->buf, *end = sb->buf + sb->len;

    if (!slen)
        return;
    while ((size_t)(end - p) >= slen) {
        char *hit = memmem(p, (size_t)(end - p), secret, slen);
        if (!hit)
            break;
        memset(hit, '*', slen);
        p = hit + slen;
    }
}

/* ------------------------------------------------------------------ shapes */

/* Replace sb[start, end) with "***". */
static void mask(struct strbuf *sb, size_t start, size_t end)
{
    struct strbuf out = STRBUF_INIT;
    strbuf_add(&out, sb->buf, start);
    strbuf_addstr(&out, MASK);
    strbuf_addstr(&out, sb->buf + end);
    strbuf_release(sb);
    *sb = out;
}

static bool is_value_char(char c)
{
    return c && !isspace((unsigned char)c) && c != '&' && c != '"' && c != '\'' && c != ',' &&
           c != ';' && c != ')' && c != '}' && c != '>';
}

/* Mask the value after each occurrence of `key` followed by '=' or ':' (case-insensitive). */
static void mask_after_key(struct strbuf *sb, const char *key)
{
    size_t klen = strlen(key);
    size_t pos = 0;
    while (pos < sb->len) {
        char *hit = strcasestr(sb->buf + pos, key);
        size_t i;
        if (!hit)
            return;
        i = (size_t)(hit - sb->buf) + klen;
        /* Only whole words: "xapikey" does not match "apikey". */
        if (hit > sb->buf && (isalnum((unsigned char)hit[-1]) || hit[-1] == '_')) {
            pos = i;
            continue;
        }
        while (i < sb->len && (sb->buf[i] == '"' || sb->buf[i] == '\''))
            i++;
        if (i >= sb->len || (sb->buf[i] != '=' && sb->buf[i] != ':')) {
            pos = i;
            continue;
        }
        i++;
        while (i < sb->len && (sb->buf[i] == ' ' || sb->buf[i] == '"' || sb->buf[i] == '\''))
            i++;
        size_t end = i;
        while (end < sb->len && is_value_char(sb->buf[end]))
            end++;
        if (end > i && strncmp(sb->buf + i, MASK, 3)) {
            mask(sb, i, end);
            pos = i + 3;
        } else {
            pos = end;
        }
    }
}

/* "Authorization: apikey X", "Authorization: Bearer X". */
static void mask_scheme(struct strbuf *sb, const char *scheme)
{
    size_t slen = strlen(scheme), pos = 0;
    while (pos < sb->len) {
        char *hit = strcasestr(sb->buf + pos, scheme);
        size_t i, end;
        if (!hit)
            return;
        i = (size_t)(hit - sb->buf) + slen;
        end = i;
        while (end < sb->len && is_value_char(sb->buf[end]))
            end++;
        if (end > i && strncmp(sb->buf + i, MASK, 3)) {
            mask(sb, i, end);
            pos = i + 3;
        } else {
            pos = end;
        }
    }
}

/* Telegram: ".../bot<token>/sendMessage" and user:password@ in URLs. */
static void mask_url_parts(struct strbuf *sb)
{
    size_t pos = 0;
    while (pos < sb->len) {
        char *hit = strstr(sb->buf + pos, "/bot");
        if (!hit)
            break;
        size_t i = (size_t)(hit - sb->buf) + 4, end = i;
        while (end < sb->len && sb->buf[end] != '/' && is_value_char(sb->buf[end]))
            end++;
        /* A bot token is "<digits>:<letters>": "//bot:pw@host" is a userinfo, not one. */
        if (end > i && isdigit((unsigned char)sb->buf[i]) && memchr(sb->buf + i, ':', end - i)) {
            mask(sb, i, end);
            pos = i + 3;
        } else {
            pos = end;
        }
    }
    pos = 0;
    while (pos < sb->len) {
        char *hit = strstr(sb->buf + pos, "://");
        if (!hit)
            break;
        size_t i = (size_t)(hit - sb->buf) + 3, end = i, colon = 0;
        while (end < sb->len && sb->buf[end] != '@' && sb->buf[end] != '/' &&
               is_value_char(sb->buf[end])) {
            if (sb->buf[end] == ':' && !colon)
                colon = end;
            end++;
        }
        if (end < sb->len && sb->buf[end] == '@' && colon &&
            strncmp(sb->buf + colon + 1, MASK, 3)) {
            mask(sb, colon + 1, end);
            pos = colon + 4;
        } else {
            pos = end;
        }
    }
}

static void redact_shapes(struct strbuf *sb)
{
    static const char *const keys[] = {"apikey",  "api_key",   "token",        "bot_token",
                                       "secret",  "password",  "passwd",       "access_token",
                                       "api-key", "x-api-key", "client_secret"};
    mask_scheme(sb, "apikey ");
    mask_scheme(sb, "bearer ");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        mask_after_key(sb, keys[i]);
    mask_url_parts(sb);
}

/* ------------------------------------------------------------------ the registry */

/* Guards `registry`. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redact_set registry;

void redact_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < MIN_SECRET)
        return;
    pthread_mutex_lock(&registry_lock);
    redact_set_add(&registry, secret, strlen(secret));
    pthread_mutex_unlock(&registry_lock);
}

void redact_add_url_secrets(const char *url, unsigned flags)
{
    struct redact_set set = REDACT_SET_INIT;

    redact_set_add_url(&set, url, flags);
    for (size_t i = 0; i < set.n; i++)
        redact_add_secret(set.v[i]);
    redact_set_release(&set);
}

void redact_clear_secrets(void)
{
    pthread_mutex_lock(&registry_lock);
    redact_set_release(&registry);
    pthread_mutex_unlock(&registry_lock);
}

void redact_message(struct strbuf *sb)
{
    pthread_mutex_lock(&registry_lock);
    redact_set_apply(&registry, sb);
    pthread_mutex_unlock(&registry_lock);
    redact_shapes(sb);
}

/* ------------------------------------------------------------------ URLs */

char *redact_url(const char *url, unsigned flags)
{
    struct strbuf sb = STRBUF_INIT;
    const char *auth, *end, *at = NULL, *colon = NULL, *host, *host_end;

    if (!url)
        return xstrdup("");
    auth = strstr(url, "://");
    if (!auth) {
        strbuf_addstr(&sb, url);
        goto shapes;
    }
    auth += 3;
    /*
     * The userinfo ends at the last '@' before the query: a password with an
     * unencoded '@' (a malformed URL) is then masked whole rather than
     * quoted from its '@' on.
     */
    end = auth + strcspn(auth, "?#");
    for (const char *c = auth; c < end; c++)
        if (*c == '@')
            at = c;
    if (at)
        colon = memchr(auth, ':', (size_t)(at - auth));
    host = at ? at + 1 : auth;
    host_end = host + strcspn(host, "/?#");
    if (colon) {
        strbuf_add(&sb, url, (size_t)(colon + 1 - url));
        strbuf_addstr(&sb, MASK);
        strbuf_add(&sb, at, (size_t)(host_end - at));
    } else {
        strbuf_add(&sb, url, (size_t)(host_end - url));
    }
    if (!(flags & REDACT_URL_PATH)) {
        strbuf_addstr(&sb, host_end);
    } else if (*host_end) {
        /* Keep the scheme and the host; everything after the host is the secret. */
        strbuf_addch(&sb, *host_end);
        if (host_end[1])
            strbuf_addstr(&sb, MASK);
    }
shapes:
    redact_shapes(&sb);
    return strbuf_detach(&sb, NULL);
}
