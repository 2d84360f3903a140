/* SPDX-License-Identifier: MIT */
/*
 * The log backend. A line is built completely in a strbuf (timestamp,
 * level, message), redacted, and written with a single fwrite under a mutex,
 * so lines from several threads never interleave.
 *
 * Every message passes through the secret redactor (util/redact.c) before
 * it is formatted, so no line can carry a registered secret or the shape
 * of a credential, whoever wrote it.
 */
#include "util/log.h"

#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

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

    redact_message(&msg);
    pthread_mutex_lock(&log_lock);
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
