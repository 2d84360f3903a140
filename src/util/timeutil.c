/* SPDX-License-Identifier: MIT */
/*
 * UTC time parsing and formatting without the C library's time zone state.
 * days_from_civil()/civil_from_days() are Howard Hinnant's algorithms
 * (public domain, "chrono-Compatible Low-Level Date Algorithms"); they are
 * exact for every date representable in int64 days.
 */
#include "util/timeutil.h"

#include "util/error.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

int64_t days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

void time_to_civil(int64_t t, struct civil_time *out)
{
    int64_t days = floor_div(t, 86400);
    int64_t rem = t - days * 86400;
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(rem / 3600);
    out->min = (int)(rem % 3600 / 60);
    out->sec = (int)(rem % 60);
    out->wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
}

int64_t time_from_civil(const struct civil_time *c)
{
    return days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->min * 60 +
           c->sec;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Read exactly `n` digits at *p into *out; advance. */
static bool digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    if (end - *p < n)
        return false;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (!isdigit((unsigned char)c))
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int time_parse_n(const char *s, size_t len, int64_t *out)
{
    const char *p = s, *end = s + len;
    struct civil_time c = {0};
    int offset = 0;

    if (!len)
        return CK_EPARSE;
    if (!digits(&p, end, 4, &c.year) || p >= end || *p++ != '-' || !digits(&p, end, 2, &c.month) ||
        p >= end || *p++ != '-' || !digits(&p, end, 2, &c.day))
        return CK_EPARSE;
    if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > days_in_month(c.year, c.month))
        return CK_EPARSE;
    if (p < end) {
        if (*p != 'T' && *p != ' ' && *p != 't')
            return CK_EPARSE;
        p++;
        if (!digits(&p, end, 2, &c.hour) || p >= end || *p++ != ':' || !digits(&p, end, 2, &c.min))
            return CK_EPARSE;
        if (p < end && *p == ':') {
            p++;
            if (!digits(&p, end, 2, &c.sec))
                return CK_EPARSE;
            if (p < end && *p == '.') {
                p++;
                if (p >= end || !isdigit((unsigned char)*p))
                    return CK_EPARSE;
                while (p < end && isdigit((unsigned char)*p))
                    p++; /* sub-second precision is dropped */
            }
        }
        if (c.hour > 23 || c.min > 59 || c.sec > 59)
            return CK_EPARSE;
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&p, end, 2, &oh))
                return CK_EPARSE;
            if (p < end && *p == ':') {
                p++;
                if (!digits(&p, end, 2, &om))
                    return CK_EPARSE;
            } else if (p < end && !digits(&p, end, 2, &om)) {
                return CK_EPARSE;
            }
            if (oh > 23 || om > 59)
                return CK_EPARSE;
            offset = sign * (oh * 3600 + om * 60);
        }
    }
    if (p != end)
        return CK_EPARSE;
    *out = time_from_civil(&c) - offset;
    return 0;
}

int time_parse(const char *s, int64_t *out)
{
    return time_parse_n(s, strlen(s), out);
}

void time_format_iso8601(int64_t t, char buf[TIME_BUFSZ])
{
    struct civil_time c;
    time_to_civil(t, &c);
    snprintf(buf, TIME_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour,
             c.min, c.sec);
}

void time_format_datetime(int64_t t, char buf[TIME_BUFSZ])
{
    struct civil_time c;
    time_to_civil(t, &c);
    snprintf(buf, TIME_BUFSZ, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour,
             c.min, c.sec);
}

void time_format_date(int64_t t, char buf[TIME_BUFSZ])
{
    struct civil_time c;
    time_to_civil(t, &c);
    snprintf(buf, TIME_BUFSZ, "%04d-%02d-%02d", c.year, c.month, c.day);
}

int64_t time_now(void)
{
    return time_now_ms() / 1000;
}

/* The one place that reads CANDLEKEEP_NOW. */
int64_t time_now_ms(void)
{
    const char *fake = getenv("CANDLEKEEP_NOW");
    int64_t t;
    if (fake && *fake && !time_parse(fake, &t))
        return t * 1000;
    return time_wall_ms();
}

int64_t time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
