/* SPDX-License-Identifier: MIT */
/*
 * The log backend. A line is built completely in a strbuf (timestamp,
 * level, message), redacted, and written with a single fwrite under a mutex,
 * so lines from several threads never interleave.
 *
 * Redaction happens at the one place every line passes through. It masks
 * (1) registered secret values wherever they occur, longest first so a
 * secret containing another is masked whole, and (2) credential shapes:
 * "apikey=X", "api_key=X", "token=X", "secret=X", "password=X" (also with
 * ':' and quotes), "Authorization: apikey X" / "Bearer X", Telegram's
 * "/bot<token>/" URL path, and "user:pass@" in URLs.
 */
#include "util/log.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/banned.h"

enum log_level log_level_current = LOG_INFO;

/* Guards everything below. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static FILE *log_fp;
static char *log_path;
static char **secrets;
static size_t nsecrets, secrets_alloc;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcasecmp(s, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (!strcasecmp(s, "warning")) {
        *out = LOG_WARN;
        return 0;
    }
    return CK_EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (!strcasecmp(s, "logfmt") || !strcasecmp(s, "text")) {
        *out = LOG_FORMAT_LOGFMT;
        return 0;
    }
    if (!strcasecmp(s, "json")) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return CK_EINVAL;
}

static int open_locked(struct strbuf *err)
{
    FILE *fp;
    if (!log_path)
        return 0;
    fp = fopen(log_path, "a");
    if (!fp) {
        strbuf_addf(err, "log: cannot open '%s': %s", log_path, strerror(errno));
        return CK_EIO;
    }
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    return 0;
}

int log_setup(enum log_level level, enum log_format format, const char *path, struct strbuf *err)
{
    int rc = 0;
    pthread_mutex_lock(&log_lock);
    log_level_current = level;
    log_fmt = format;
    free(log_path);
    log_path = path && *path ? xstrdup(path) : NULL;
    if (log_fp) {
        fclose(log_fp);
        log_fp = NULL;
    }
    rc = open_locked(err);
    pthread_mutex_unlock(&log_lock);
    return rc;
}

int log_reopen(struct strbuf *err)
{
    int rc;
    pthread_mutex_lock(&log_lock);
    rc = open_locked(err);
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void log_shutdown(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_lock);
}

void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (!strcmp(secrets[i], secret)) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    ALLOC_GROW(secrets, nsecrets + 1, secrets_alloc);
    secrets[nsecrets++] = xstrdup(secret);
    /* Longest first, so that a secret containing another is masked whole. */
    for (size_t i = nsecrets - 1; i > 0 && strlen(secrets[i]) > strlen(secrets[i - 1]); i--) {
        char *t = secrets[i];
        secrets[i] = secrets[i - 1];
        secrets[i - 1] = t;
    }
    pthread_mutex_unlock(&log_lock);
}

void log_clear_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    nsecrets = secrets_alloc = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Replace sb[start, end) with "***". */
static void mask(struct strbuf *sb, size_t start, size_t end)
{
    struct strbuf out = STRBUF_INIT;
    strbuf_add(&out, sb->buf, start);
    strbuf_addstr(&out, "***");
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
        if (end > i && strncmp(sb->buf + i, "***", 3)) {
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
        if (end > i && strncmp(sb->buf + i, "***", 3)) {
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
        if (end > i && memchr(sb->buf + i, ':', end - i) && strncmp(sb->buf + i, "***", 3)) {
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
            strncmp(sb->buf + colon + 1, "***", 3)) {
            mask(sb, colon + 1, end);
            pos = colon + 4;
        } else {
            pos = end;
        }
    }
}

static void redact_locked(struct strbuf *sb)
{
    static const char *const keys[] = {"apikey",  "api_key",   "token",        "bot_token",
                                       "secret",  "password",  "passwd",       "access_token",
                                       "api-key", "x-api-key", "client_secret"};
    for (size_t i = 0; i < nsecrets; i++) {
        size_t slen = strlen(secrets[i]);
        char *hit;
        while ((hit = strstr(sb->buf, secrets[i])) != NULL) {
            size_t start = (size_t)(hit - sb->buf);
            mask(sb, start, start + slen);
        }
    }
    mask_scheme(sb, "apikey ");
    mask_scheme(sb, "bearer ");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        mask_after_key(sb, keys[i]);
    mask_url_parts(sb);
}

void log_redact(struct strbuf *sb)
{
    pthread_mutex_lock(&log_lock);
    redact_locked(sb);
    pthread_mutex_unlock(&log_lock);
}

static void add_logfmt_value(struct strbuf *line, const char *s, size_t len)
{
    strbuf_addch(line, '"');
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"' || c == '\\')
            strbuf_addch(line, '\\');
        if (c == '\n') {
            strbuf_addstr(line, "\\n");
            continue;
        }
        strbuf_addch(line, c);
    }
    strbuf_addch(line, '"');
}

void log_write(enum log_level level, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT, line = STRBUF_INIT;
    char ts[TIME_BUFSZ];
    struct timespec now;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    time_format_iso8601((int64_t)now.tv_sec, ts);
    /* Milliseconds make the order of lines within a second visible. */
    ts[19] = '\0';

    pthread_mutex_lock(&log_lock);
    redact_locked(&msg);
    if (log_fmt == LOG_FORMAT_JSON) {
        strbuf_addf(&line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", ts,
                    now.tv_nsec / 1000000, level_names[level]);
        strbuf_add_json_escaped(&line, msg.buf, msg.len);
        strbuf_addstr(&line, "\"}\n");
    } else {
        strbuf_addf(&line, "ts=%s.%03ldZ level=%s msg=", ts, now.tv_nsec / 1000000,
                    level_names[level]);
        add_logfmt_value(&line, msg.buf, msg.len);
        strbuf_addch(&line, '\n');
    }
    FILE *fp = log_fp ? log_fp : stderr;
    fwrite(line.buf, 1, line.len, fp);
    fflush(fp);
    pthread_mutex_unlock(&log_lock);
    strbuf_release(&msg);
    strbuf_release(&line);
}
