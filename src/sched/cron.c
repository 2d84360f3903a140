/* SPDX-License-Identifier: MIT */
/*
 * Cron expressions: parsing into bitsets, and the search for the next and
 * previous fire times.
 *
 * Representation. A parsed expression is five bitsets, one bit per value
 * that fires (minutes 0-59 in a uint64_t, hours, days of month 1-31,
 * months 1-12, weekdays 0-6), plus `day_or`, which records whether both
 * day fields are restricted. Day-of-week 7 is folded into 0 while parsing,
 * so every later step sees Sunday as 0 only. Every field of a parsed
 * expression has at least one bit set; the searches rely on that.
 *
 * "Restricted" means "does not cover its whole range", decided on the
 * expanded set rather than on the spelling: a step of 2 over `*` in the
 * day-of-month field is restricted, `1-31` and `*,5` are not. This is what
 * croniter does (it is the oracle of the tests), and it keeps a full field
 * neutral however it is spelled: under "either day field matches", a field
 * that allows every day would make every day fire.
 *
 * Searching. cron_next() walks forward from the first whole minute after
 * its argument: a month that is not in the set is skipped whole, a day
 * that does not match is skipped whole, and within a matching day the next
 * hour and minute come from the bitsets directly (find-first-set), so the
 * cost is bounded by the number of days inspected, never by minutes.
 * cron_prev() is the mirror image. Civil dates come from util/timeutil's
 * days_from_civil()/civil_from_days(), so nothing depends on the C
 * library's time zone state.
 *
 * Termination. Whether a date matches depends only on its month, day and
 * weekday, so a date that matches at all recurs within eight years: the
 * rarest case is 29 February, which skips century years such as 2100 that
 * are not leap years (2096 -> 2104). A search therefore stops after
 * CRON_HORIZON_DAYS (ten years) and reports -1: the expression never fires,
 * as with "0 0 30 2 *". Arguments and answers are limited to years
 * 1-9999, which keeps the date arithmetic far from int overflow: a search
 * also stops at 0001-01-01 or 9999-12-31, whichever comes first, so a
 * fire that would fall in year 0 or 10000 is none (-1). Both ends are
 * month boundaries, which the searches check exactly.
 *
 * Everything here is pure and thread-safe: no clock, no allocation, no
 * mutable state beyond the caller's own structs.
 */
#include "sched/cron.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define DAY_SECONDS       86400
#define CRON_HORIZON_DAYS (10 * 366)

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define CRON_TIME_MIN (-62135596800LL)
#define CRON_TIME_MAX (253402300799LL)
#define CRON_DAY_MIN  (CRON_TIME_MIN / DAY_SECONDS) /* day numbers of those dates */
#define CRON_DAY_MAX  (CRON_TIME_MAX / DAY_SECONDS)

#define MDAYS_ALL ((uint32_t)0xFFFFFFFEu) /* bits 1-31 */
#define WDAYS_ALL ((uint8_t)0x7Fu)        /* bits 0-6 */

enum cron_field_id { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/*
 * What a field accepts. `max` is the largest value that may be written;
 * for day-of-week that is 7 (Sunday again), which is also where `*` ends,
 * as in Vixie cron and croniter: a step of 2 over `*` there is 0,2,4,6.
 */
struct cron_field {
    const char *name;
    int min, max;
    const char *const *names; /* three-letter names of values names_base.., or NULL */
    int nnames, names_base;
    const char *what; /* for "is not ..." messages */
};

static const struct cron_field fields[F_COUNT] = {
    [F_MINUTE] = {.name = "minute", .min = 0, .max = 59, .what = "a number"},
    [F_HOUR] = {.name = "hour", .min = 0, .max = 23, .what = "a number"},
    [F_MDAY] = {.name = "day-of-month", .min = 1, .max = 31, .what = "a number"},
    [F_MONTH] = {.name = "month",
                 .min = 1,
                 .max = 12,
                 .names = month_names,
                 .nnames = 12,
                 .names_base = 1,
                 .what = "a number or month name (JAN-DEC)"},
    [F_WDAY] = {.name = "day-of-week",
                .min = 0,
                .max = 7,
                .names = wday_names,
                .nnames = 7,
                .names_base = 0,
                .what = "a number or weekday name (SUN-SAT)"},
};

static const struct {
    const char *name;
    const char *fields;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* ---- parsing ---- */

struct parse_ctx {
    const char *text; /* the trimmed expression, for messages */
    struct strbuf *err;
};

/* Append "cron 'TEXT': FIELD 'TOKEN' <reason>" to the caller's err; returns CK_EINVAL. */
static int token_error(const struct parse_ctx *pc, const struct cron_field *f, const char *tok,
                       size_t len, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int token_error(const struct parse_ctx *pc, const struct cron_field *f, const char *tok,
                       size_t len, const char *fmt, ...)
{
    va_list ap;
    if (!pc->err)
        return CK_EINVAL;
    strbuf_addf(pc->err, "cron '%s': %s '%.*s' ", pc->text, f->name, (int)len, tok);
    va_start(ap, fmt);
    strbuf_vaddf(pc->err, fmt, ap);
    va_end(ap);
    return CK_EINVAL;
}

/*
 * Digits only (leading zeros allowed, as in "05"); values past 9999 are
 * reported as 9999, which every range check rejects. False if `s` is not
 * a non-empty run of digits.
 */
static bool parse_digits(const char *s, size_t len, int *out)
{
    int v = 0;
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > 9999)
            v = 9999;
    }
    *out = v;
    return true;
}

/*
 * One value: digits or, where the field has them, a three-letter name.
 * `*out_named` tells the caller which (day-of-week SUN closes a range as 7).
 */
static int parse_value(const struct parse_ctx *pc, const struct cron_field *f, const char *s,
                       size_t len, int *out, bool *out_named)
{
    int v;
    *out_named = false;
    if (parse_digits(s, len, &v)) {
        if (v < f->min || v > f->max)
            return token_error(pc, f, s, len, "is out of range %d-%d", f->min, f->max);
        *out = v;
        return 0;
    }
    if (f->names && len == 3) {
        for (int i = 0; i < f->nnames; i++) {
            if (!strncasecmp(s, f->names[i], 3)) {
                *out = f->names_base + i;
                *out_named = true;
                return 0;
            }
        }
    }
    if (!len)
        return token_error(pc, f, s, len, "is empty");
    return token_error(pc, f, s, len, "is not %s", f->what);
}

/* One list item: `*`, N, A-B, each optionally with /S. Adds its values to *bits. */
static int parse_item(const struct parse_ctx *pc, const struct cron_field *f, const char *item,
                      size_t len, uint64_t *bits)
{
    const char *slash = memchr(item, '/', len);
    size_t base_len = slash ? (size_t)(slash - item) : len;
    int span = f->max - f->min + 1;
    int lo, hi, step = 1;
    bool named;
    int rc;

    if (slash) {
        if (!parse_digits(slash + 1, len - base_len - 1, &step))
            return token_error(pc, f, item, len, "has a bad step (expected a number 1-%d)", span);
        if (step < 1 || step > span)
            return token_error(pc, f, item, len, "has a step out of range 1-%d", span);
    }

    if (!base_len)
        return token_error(pc, f, item, len, "has nothing before its step");
    if (base_len == 1 && item[0] == '*') {
        lo = f->min;
        hi = f->max;
    } else {
        const char *dash = memchr(item, '-', base_len);
        if (dash) {
            size_t alen = (size_t)(dash - item);
            size_t blen = base_len - alen - 1;
            bool hi_named;
            if (!alen || !blen)
                return token_error(pc, f, item, len, "is not a valid range");
            if ((rc = parse_value(pc, f, item, alen, &lo, &named)) ||
                (rc = parse_value(pc, f, dash + 1, blen, &hi, &hi_named)))
                return rc;
            /* FRI-SUN: SUN closing a range is the 7 that ends the week. */
            if (lo > hi && f == &fields[F_WDAY] && hi == 0 && hi_named)
                hi = 7;
            if (lo > hi)
                return token_error(pc, f, item, len, "is a reversed range (start after end)");
        } else {
            if ((rc = parse_value(pc, f, item, base_len, &lo, &named)))
                return rc;
            hi = slash ? f->max : lo;
        }
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << v;
    return 0;
}

static int parse_field(const struct parse_ctx *pc, enum cron_field_id id, const char *s, size_t len,
                       uint64_t *out)
{
    const struct cron_field *f = &fields[id];
    uint64_t bits = 0;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (i == start)
            return token_error(pc, f, s, len, "has an empty list item");
        int rc = parse_item(pc, f, s + start, i - start, &bits);
        if (rc)
            return rc;
        start = i + 1;
    }
    if (id == F_WDAY && (bits & (1u << 7))) {
        bits &= ~(uint64_t)(1u << 7);
        bits |= 1;
    }
    *out = bits;
    return 0;
}

int cron_parse(struct cron_expr *out, const char *expr, struct strbuf *err)
{
    struct cron_expr e = {0};
    struct parse_ctx pc = {.text = e.text, .err = err};
    const char *tok[F_COUNT];
    size_t toklen[F_COUNT];
    uint64_t bits[F_COUNT];
    const char *body, *p;
    size_t len;
    int n = 0;

    while (isspace((unsigned char)*expr))
        expr++;
    len = strlen(expr);
    while (len && isspace((unsigned char)expr[len - 1]))
        len--;
    if (len >= CRON_TEXT_MAX) {
        if (err)
            strbuf_addf(err, "cron '%.40s...': expression is longer than %d characters", expr,
                        CRON_TEXT_MAX - 1);
        return CK_EINVAL;
    }
    memcpy(e.text, expr, len);
    e.text[len] = '\0';

    body = e.text;
    if (e.text[0] == '@') {
        body = NULL;
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
            if (!strcasecmp(e.text, macros[i].name))
                body = macros[i].fields;
        if (!body) {
            if (err)
                strbuf_addf(err,
                            "cron '%s': unknown macro (expected @hourly, @daily, @midnight, "
                            "@weekly, @monthly, @yearly or @annually)",
                            e.text);
            return CK_EINVAL;
        }
    }

    for (p = body; *p;) {
        const char *start;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (n < F_COUNT) {
            tok[n] = start;
            toklen[n] = (size_t)(p - start);
        }
        n++;
    }
    if (n != F_COUNT) {
        if (err)
            strbuf_addf(err,
                        "cron '%s': expected 5 fields (minute hour day-of-month month "
                        "day-of-week), found %d",
                        e.text, n);
        return CK_EINVAL;
    }
    for (int i = 0; i < F_COUNT; i++) {
        int rc = parse_field(&pc, (enum cron_field_id)i, tok[i], toklen[i], &bits[i]);
        if (rc)
            return rc;
    }

    e.minutes = bits[F_MINUTE];
    e.hours = (uint32_t)bits[F_HOUR];
    e.mdays = (uint32_t)bits[F_MDAY];
    e.months = (uint16_t)bits[F_MONTH];
    e.wdays = (uint8_t)bits[F_WDAY];
    e.day_or = e.mdays != MDAYS_ALL && e.wdays != WDAYS_ALL;
    *out = e;
    return 0;
}

const char *cron_text(const struct cron_expr *e)
{
    return e->text;
}

/* ---- searching ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0 = Sunday; 1970-01-01 (day 0) was a Thursday. */
static int weekday_of(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static int days_in_month(int year, int month)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return 29;
    return len[month - 1];
}

/* Smallest set bit >= from, or -1. */
static int bit_next(uint64_t bits, int from)
{
    if (from > 63)
        return -1;
    bits &= ~(uint64_t)0 << from;
    return bits ? __builtin_ctzll(bits) : -1;
}

/* Largest set bit <= from, or -1. */
static int bit_prev(uint64_t bits, int from)
{
    if (from < 0)
        return -1;
    if (from < 63)
        bits &= ((uint64_t)1 << (from + 1)) - 1;
    return bits ? 63 - __builtin_clzll(bits) : -1;
}

static bool day_matches(const struct cron_expr *e, int mday, int wday)
{
    bool dom = (e->mdays >> mday) & 1;
    bool dow = (e->wdays >> wday) & 1;
    return e->day_or ? dom || dow : dom && dow;
}

/* The first (hour, minute) at or after *h:*m on a matching day; false if none. */
static bool time_next(const struct cron_expr *e, int *h, int *m)
{
    for (int hh = bit_next(e->hours, *h); hh >= 0; hh = bit_next(e->hours, hh + 1)) {
        int mm = bit_next(e->minutes, hh == *h ? *m : 0);
        if (mm >= 0) {
            *h = hh;
            *m = mm;
            return true;
        }
    }
    return false;
}

/* The last (hour, minute) at or before *h:*m on a matching day; false if none. */
static bool time_prev(const struct cron_expr *e, int *h, int *m)
{
    for (int hh = bit_prev(e->hours, *h); hh >= 0; hh = bit_prev(e->hours, hh - 1)) {
        int mm = bit_prev(e->minutes, hh == *h ? *m : 59);
        if (mm >= 0) {
            *h = hh;
            *m = mm;
            return true;
        }
    }
    return false;
}

/* Split whole-minute time `t` into its day number and civil fields. */
static void split_minute(int64_t t, int64_t *day, int *y, int *mon, int *d, int *h, int *m)
{
    int sod;
    *day = floor_div(t, DAY_SECONDS);
    sod = (int)(t - *day * DAY_SECONDS);
    *h = sod / 3600;
    *m = sod % 3600 / 60;
    civil_from_days(*day, y, mon, d);
}

int64_t cron_next(const struct cron_expr *e, int64_t after)
{
    int64_t day, limit;
    int y, mon, d, h, m;

    if (after < CRON_TIME_MIN || after > CRON_TIME_MAX)
        return -1;
    split_minute(floor_div(after, 60) * 60 + 60, &day, &y, &mon, &d, &h, &m);
    limit = day + CRON_HORIZON_DAYS;
    if (limit > CRON_DAY_MAX)
        limit = CRON_DAY_MAX;

    for (;;) {
        int64_t first = days_from_civil(y, mon, 1);
        if (first + d - 1 > limit)
            return -1;
        if ((e->months >> mon) & 1) {
            int ndays = days_in_month(y, mon);
            int wday1 = weekday_of(first);
            for (; d <= ndays; d++, h = 0, m = 0) {
                if (!day_matches(e, d, (wday1 + d - 1) % 7))
                    continue;
                if (time_next(e, &h, &m))
                    return (first + d - 1) * DAY_SECONDS + h * 3600 + m * 60;
            }
        }
        /* Nothing left this month: the first minute of the next one. */
        if (++mon > 12) {
            mon = 1;
            y++;
        }
        d = 1;
        h = 0;
        m = 0;
    }
}

int64_t cron_prev(const struct cron_expr *e, int64_t before)
{
    int64_t day, limit;
    int y, mon, d, h, m;

    if (before <= CRON_TIME_MIN || before > CRON_TIME_MAX)
        return -1;
    /* The last whole minute strictly before `before`. */
    split_minute(floor_div(before - 1, 60) * 60, &day, &y, &mon, &d, &h, &m);
    limit = day - CRON_HORIZON_DAYS;
    if (limit < CRON_DAY_MIN)
        limit = CRON_DAY_MIN;

    for (;;) {
        int64_t first = days_from_civil(y, mon, 1);
        if (first + d - 1 < limit)
            return -1;
        if ((e->months >> mon) & 1) {
            int wday1 = weekday_of(first);
            for (; d >= 1; d--, h = 23, m = 59) {
                if (!day_matches(e, d, (wday1 + d - 1) % 7))
                    continue;
                if (time_prev(e, &h, &m))
                    return (first + d - 1) * DAY_SECONDS + h * 3600 + m * 60;
            }
        }
        /* Nothing earlier this month: the last minute of the previous one. */
        if (--mon < 1) {
            mon = 12;
            y--;
        }
        d = days_in_month(y, mon);
        h = 23;
        m = 59;
    }
}

bool cron_matches(const struct cron_expr *e, int64_t t)
{
    struct civil_time c;

    if (t < CRON_TIME_MIN || t > CRON_TIME_MAX)
        return false;
    time_to_civil(t, &c);
    return ((e->months >> c.month) & 1) && day_matches(e, c.day, c.wday) &&
           ((e->hours >> c.hour) & 1) && ((e->minutes >> c.min) & 1);
}

int64_t cron_period_hint(const struct cron_expr *e, int64_t around)
{
    int64_t a = cron_next(e, around);
    int64_t b = a < 0 ? -1 : cron_next(e, a);
    return b < 0 ? -1 : b - a;
}
