/* SPDX-License-Identifier: MIT */
/* Checked parsing of integers, durations, booleans and word lists. */
#include "util/parse.h"

#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return CK_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end)
        return CK_EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return CK_ELIMIT;
    *out = v;
    return 0;
}

int parse_duration(const char *s, int64_t *out_seconds)
{
    char num[32];
    size_t len;
    int64_t mult = 1, v;
    int rc;

    if (!s)
        return CK_EINVAL;
    len = strlen(s);
    if (!len || len >= sizeof(num))
        return CK_EINVAL;
    memcpy(num, s, len + 1);
    switch (num[len - 1]) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    case 'w':
        mult = 7 * 86400;
        break;
    default:
        if (!isdigit((unsigned char)num[len - 1]))
            return CK_EINVAL;
        len++;
    }
    num[len - 1] = '\0';
    rc = parse_int64(num, 0, INT64_MAX / (7 * 86400), &v);
    if (rc)
        return rc;
    *out_seconds = v * mult;
    return 0;
}

int parse_size(const char *s, int64_t *out_bytes)
{
    char num[32];
    size_t len;
    int64_t mult = 1, v;
    int rc;

    if (!s)
        return CK_EINVAL;
    len = strlen(s);
    if (!len || len >= sizeof(num))
        return CK_EINVAL;
    memcpy(num, s, len + 1);
    if (len > 1 && (num[len - 1] == 'b' || num[len - 1] == 'B'))
        num[--len] = '\0';
    switch (num[len - 1]) {
    case 'k':
    case 'K':
        mult = 1024;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        if (!isdigit((unsigned char)num[len - 1]))
            return CK_EINVAL;
        len++;
    }
    num[len - 1] = '\0';
    rc = parse_int64(num, 0, INT64_MAX / (1024 * 1024 * 1024), &v);
    if (rc)
        return rc;
    *out_bytes = v * mult;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return CK_EINVAL;
}

int parse_words(const char *s, parse_word_fn *fn, void *arg)
{
    while (s && *s) {
        size_t n;
        int rc;
        s += strspn(s, " \t,");
        n = strcspn(s, " \t,");
        if (!n)
            break;
        rc = fn(s, n, arg);
        if (rc)
            return rc;
        s += n;
    }
    return 0;
}
