/* SPDX-License-Identifier: MIT */
/*
 * The security_audit task (maint.h): what candlekeep itself may have left
 * open. Each check adds findings {check, severity, subject, detail}; a
 * finding never quotes the secret it found, only where it is.
 *
 * Logs: every line of the log file and of its rotations (gzip read
 * transparently) goes through the one redactor (util/redact.h); a line
 * the redactor would change holds a registered secret or the shape of a
 * credential. Two shapes the redactor leaves alone in free text are looked
 * for as well: a Telegram bot token (digits, a colon, 35 characters) and a
 * Standard Webhooks secret ("whsec_...").
 *
 * Files: a configuration file holding secrets, the SQLite database and
 * the logs must not be readable by group or others; no directory
 * candlekeep writes may be writable by others.
 *
 * Exposure: an API listening off loopback without a token; a provider,
 * channel or receiver reached over plain http:// to a host that is not
 * loopback.
 */
#include "maint/maint.h"

#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <zlib.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/banned.h"

/* Lines of one file reported at most (the count says how many there were). */
#define LOG_FINDINGS_MAX 5

static const char *const severities[] = {"low", "medium", "high"};

static void finding(json_t *arr, int sev, const char *check, const char *subject,
                    const char *detail)
{
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "check", check, "severity",
                                         severities[sev], "subject", subject, "detail", detail));
}

/* A Telegram bot token: 6-12 digits, ':', 35 of [A-Za-z0-9_-]. */
static bool has_bot_token(const char *s)
{
    for (const char *p = s; (p = strchr(p, ':')); p++) {
        const char *d = p;
        size_t digits = 0, tail = 0;
        while (d > s && isdigit((unsigned char)d[-1]) && digits < 13)
            d--, digits++;
        for (const char *t = p + 1; isalnum((unsigned char)*t) || *t == '_' || *t == '-'; t++)
            tail++;
        if (digits >= 6 && digits <= 12 && tail >= 35)
            return true;
    }
    return false;
}

static bool has_whsec(const char *s)
{
    const char *p = strstr(s, "whsec_");
    size_t n = 0;
    if (!p)
        return false;
    for (p += 6; isalnum((unsigned char)*p) || *p == '+' || *p == '/' || *p == '='; p++)
        n++;
    return n >= 10;
}

/* Scan one log file; findings for its lines that carry a secret. */
static void scan_log(const char *path, json_t *arr, int64_t *lines_out)
{
    struct strbuf line = STRBUF_INIT, red = STRBUF_INIT, where = STRBUF_INIT;
    char buf[8192];
    int64_t lineno = 0, hits = 0;
    gzFile gz = gzopen(path, "rb");

    if (!gz)
        return;
    while (gzgets(gz, buf, sizeof(buf))) {
        size_t len = strlen(buf);
        strbuf_add(&line, buf, len);
        if (len && buf[len - 1] != '\n' && !gzeof(gz))
            continue; /* the rest of a long line */
        lineno++;
        strbuf_reset(&red);
        strbuf_addbuf(&red, &line);
        redact_message(&red);
        const char *kind = strcmp(red.buf, line.buf) ? "a secret or the shape of a credential"
                           : has_bot_token(line.buf) ? "the shape of a Telegram bot token"
                           : has_whsec(line.buf)     ? "a webhook signing secret (whsec_)"
                                                     : NULL;
        if (kind && hits++ < LOG_FINDINGS_MAX) {
            strbuf_reset(&where);
            strbuf_addf(&where, "%s:%lld", path, (long long)lineno);
            strbuf_reset(&red);
            strbuf_addf(&red, "line %lld holds %s", (long long)lineno, kind);
            finding(arr, 2, "secret_in_log", where.buf, red.buf);
        }
        strbuf_reset(&line);
    }
    gzclose(gz);
    if (hits > LOG_FINDINGS_MAX) {
        strbuf_reset(&red);
        strbuf_addf(&red, "%lld lines hold secrets; the first %d are listed", (long long)hits,
                    LOG_FINDINGS_MAX);
        finding(arr, 2, "secret_in_log", path, red.buf);
    }
    *lines_out += lineno;
    strbuf_release(&line);
    strbuf_release(&red);
    strbuf_release(&where);
}

/* Is one of secrets[0..n) written in file `path` (rather than taken from the environment)? */
static bool file_holds_secret(const char *path, const char *const *secrets, size_t n)
{
    struct strbuf text = STRBUF_INIT;
    char buf[4096];
    size_t got;
    bool found = false;
    FILE *fp = path && *path ? fopen(path, "r") : NULL;

    if (!fp)
        return false;
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0 && text.len < 1024 * 1024)
        strbuf_add(&text, buf, got);
    fclose(fp);
    for (size_t i = 0; i < n && !found; i++)
        found = secrets[i] && strlen(secrets[i]) >= 4 && strstr(text.buf, secrets[i]);
    strbuf_release(&text);
    return found;
}

/* `path` readable by group or others: a finding of severity `sev`. */
static void check_private(json_t *arr, int sev, const char *what, const char *path)
{
    struct stat sb;
    char detail[200];
    if (!path || !*path || stat(path, &sb) || !(sb.st_mode & 044))
        return;
    snprintf(detail, sizeof(detail), "%s is readable by %s (mode %04o); chmod go-rwx", what,
             (sb.st_mode & 004) ? "everyone" : "its group", (unsigned)(sb.st_mode & 07777));
    finding(arr, sev, "file_permissions", path, detail);
}

static bool is_loopback_host(const char *h, size_t n)
{
    return (n == 9 && !strncmp(h, "localhost", 9)) || (n >= 4 && !strncmp(h, "127.", 4)) ||
           (n == 5 && !strncmp(h, "[::1]", 5)) || (n == 3 && !strncmp(h, "::1", 3));
}

/* The host part of an http:// URL, or NULL for another scheme. */
static const char *http_host(const char *url, size_t *len)
{
    const char *h, *end;
    if (!url || strncmp(url, "http://", 7))
        return NULL;
    h = url + 7;
    end = h + strcspn(h, "/?#");
    const char *at = memchr(h, '@', (size_t)(end - h));
    if (at)
        h = at + 1;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        *len = rb ? (size_t)(rb - h + 1) : (size_t)(end - h);
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        *len = (size_t)((colon ? colon : end) - h);
    }
    return h;
}

int maint_audit_run(const struct maint_audit *a, struct maint_result *out, struct strbuf *err)
{
    json_t *arr = json_array();
    int64_t lines = 0, files = 0, high = 0, medium = 0;
    char **rot = NULL;
    (void)err;

    /* Logs, current and rotated. */
    if (a->log_file && *a->log_file) {
        size_t n = log_rotations(a->log_file, &rot);
        scan_log(a->log_file, arr, &lines);
        files++;
        for (size_t i = 0; i < n; i++, files++) {
            scan_log(rot[i], arr, &lines);
            check_private(arr, 1, "a rotated log", rot[i]);
        }
        log_rotations_free(rot);
        check_private(arr, 1, "the log", a->log_file);
    }
    /* Files and directories. */
    if (file_holds_secret(a->config_path, a->secrets, a->nsecrets))
        check_private(arr, 2, "the configuration file, which holds secrets,", a->config_path);
    check_private(arr, 1, "the database", a->db_file);
    for (size_t i = 0; i < a->ndirs; i++) {
        struct stat sb;
        char detail[200];
        if (stat(a->dirs[i], &sb) || !(sb.st_mode & 002) || (sb.st_mode & S_ISVTX))
            continue;
        snprintf(detail, sizeof(detail),
                 "a directory candlekeep writes is writable by everyone (mode %04o)",
                 (unsigned)(sb.st_mode & 07777));
        finding(arr, 2, "dir_permissions", a->dirs[i], detail);
    }
    /* Exposure. */
    if (a->api_listen && *a->api_listen && !a->api_token_set) {
        size_t n = strcspn(a->api_listen, "");
        const char *colon = strrchr(a->api_listen, ':');
        if (colon)
            n = (size_t)(colon - a->api_listen);
        if (!is_loopback_host(a->api_listen, n))
            finding(arr, 2, "api_exposed", a->api_listen,
                    "the API listens off loopback and no token guards its changes "
                    "([api] token / CANDLEKEEP_API_TOKEN)");
    }
    for (size_t i = 0; i < a->nurls; i++) {
        size_t n;
        const char *h = http_host(a->urls[i].url, &n);
        char *shown;
        if (!h || is_loopback_host(h, n))
            continue;
        shown = redact_url(a->urls[i].url, REDACT_URL_PATH);
        struct strbuf d = STRBUF_INIT;
        strbuf_addf(&d, "%s is reached over plain http:// (%s): use https://", a->urls[i].what,
                    shown);
        finding(arr, 1, "plain_http", a->urls[i].what, d.buf);
        strbuf_release(&d);
        free(shown);
    }

    json_t *f;
    size_t i;
    json_array_foreach(arr, i, f)
    {
        const char *s = json_string_value(json_object_get(f, "severity"));
        high += !strcmp(s, "high");
        medium += !strcmp(s, "medium");
    }
    json_object_set_new(out->details, "findings", arr);
    maint_detail_int(out, "log_files", files);
    maint_detail_int(out, "log_lines", lines);
    maint_detail_int(out, "high", high);
    maint_detail_int(out, "medium", medium);
    strbuf_addf(&out->message,
                "%zu findings (%lld high, %lld medium) in %lld log files, "
                "permissions and exposure",
                json_array_size(arr), (long long)high, (long long)medium, (long long)files);
    if (high) {
        struct strbuf d = STRBUF_INIT;
        json_array_foreach(arr, i, f)
        {
            if (strcmp(json_string_value(json_object_get(f, "severity")), "high"))
                continue;
            strbuf_addf(&d, "%s%s: %s", d.len ? "\n" : "",
                        json_string_value(json_object_get(f, "subject")),
                        json_string_value(json_object_get(f, "detail")));
        }
        maint_alert_fire(out, MAINT_ALERT_SECURITY, NOTIFY_CRITICAL,
                         "Security audit: high findings", d.buf);
        strbuf_release(&d);
        out->failed = true;
    } else {
        maint_alert_clear(out, MAINT_ALERT_SECURITY, "The security audit has no high finding");
    }
    return 0;
}
