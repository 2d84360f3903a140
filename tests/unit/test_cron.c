/* SPDX-License-Identifier: MIT */
/*
 * Cron expressions, checked three ways:
 *
 *  - tables of expressions with their expanded fields written out by hand,
 *    and of bad expressions with the message each must produce;
 *  - fire times worked out by hand: the schedules DESIGN.md fixes (M15,
 *    H1, H4, D1 refreshes, the 06:00 digest) and the corners of the
 *    calendar (29 February across 2100, 30 February, the day-of-month /
 *    day-of-week "either" rule, years and month ends);
 *  - an oracle: thousands of random expressions and start times from a
 *    fixed seed are answered by croniter (tests/helpers/cron_oracle.py,
 *    which must be installed: `make test` installs python3-croniter) and
 *    every answer of cron_next() and cron_prev() must agree; plus
 *    relations the functions must keep with each other and with
 *    cron_matches(), down to a minute-by-minute scan where the gap is
 *    short.
 *
 * CK_CRON_ORACLE_CASES sets the number of cron_next() oracle cases
 * (default 4000; a quarter as many cron_prev() cases are added), so that
 * a run under valgrind can use fewer and a deeper check more (12000 or so
 * takes half a minute here).
 */
#include "testutil.h"

#include "sched/cron.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MINUTE 60
#define HOUR   3600
#define DAY    86400

#define PYTHON "/usr/bin/python3"

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static struct cron_expr must_parse(const char *expr)
{
    struct cron_expr e;
    struct strbuf err = STRBUF_INIT;
    if (cron_parse(&e, expr, &err) != 0)
        fail_msg("cron_parse('%s') failed: %s", expr, err.buf);
    strbuf_release(&err);
    return e;
}

/* "2024-01-02T15:00:00Z", or "-1" (none); in a rotating static buffer for messages. */
static const char *iso(int64_t t)
{
    static char bufs[8][TIME_BUFSZ];
    static unsigned next;
    char *b = bufs[next++ % 8];
    if (t == -1)
        snprintf(b, TIME_BUFSZ, "-1 (none)");
    else
        time_format_iso8601(t, b);
    return b;
}

/* ---- parsing: expanded fields ---- */

/* Values set in `bits` between lo and hi as "a,b,c", or "*" when all are. */
static void fmt_bits(struct strbuf *sb, uint64_t bits, int lo, int hi)
{
    bool all = true;
    for (int v = lo; v <= hi; v++)
        if (!((bits >> v) & 1))
            all = false;
    strbuf_reset(sb);
    if (all) {
        strbuf_addstr(sb, "*");
        return;
    }
    for (int v = lo; v <= hi; v++)
        if ((bits >> v) & 1)
            strbuf_addf(sb, "%s%d", sb->len ? "," : "", v);
}

struct valid_case {
    const char *expr;
    const char *minutes, *hours, *mdays, *months, *wdays;
    bool day_or;
};

static const struct valid_case valid_cases[] = {
    {"* * * * *", "*", "*", "*", "*", "*", false},
    {"*/15 * * * *", "0,15,30,45", "*", "*", "*", "*", false},
    {"0-30/5 * * * *", "0,5,10,15,20,25,30", "*", "*", "*", "*", false},
    {"5/15 * * * *", "5,20,35,50", "*", "*", "*", "*", false},
    {"58/1 * * * *", "58,59", "*", "*", "*", "*", false},
    {"*/60 * * * *", "0", "*", "*", "*", "*", false},
    {"1,16,31,46 * * * *", "1,16,31,46", "*", "*", "*", "*", false},
    {"1 * * * *", "1", "*", "*", "*", "*", false},
    {"1 */4 * * *", "1", "0,4,8,12,16,20", "*", "*", "*", false},
    {"1 0,4,8,12,16,20 * * *", "1", "0,4,8,12,16,20", "*", "*", "*", false},
    {"1 0 * * *", "1", "0", "*", "*", "*", false},
    {"0 6 * * *", "0", "6", "*", "*", "*", false},
    {"05 07 * * *", "5", "7", "*", "*", "*", false},
    {"0-59 0-23 1-31 1-12 0-6", "*", "*", "*", "*", "*", false},
    {"1,2-4,*/20 9-17/4 * * *", "0,1,2,3,4,20,40", "9,13,17", "*", "*", "*", false},
    {"0 0 * JAN-MAR,dec *", "0", "0", "*", "1,2,3,12", "*", false},
    {"0 0 * feb/3 *", "0", "0", "*", "2,5,8,11", "*", false},
    {"0 0 * Jun-Aug/2 *", "0", "0", "*", "6,8", "*", false},
    {"0 0 * * MON-FRI", "0", "0", "*", "*", "1,2,3,4,5", false},
    {"0 0 * * 7", "0", "0", "*", "*", "0", false},
    {"0 0 * * 5-7", "0", "0", "*", "*", "0,5,6", false},
    {"0 0 * * FRI-SUN", "0", "0", "*", "*", "0,5,6", false},
    {"0 0 * * SUN-SAT", "0", "0", "*", "*", "*", false},
    {"0 0 * * 1-7", "0", "0", "*", "*", "*", false},
    {"0 0 * * 0-7", "0", "0", "*", "*", "*", false},
    {"0 0 * * */2", "0", "0", "*", "*", "0,2,4,6", false},
    {"0 0 * * */7", "0", "0", "*", "*", "0", false},
    {"0 0 * * sun/3", "0", "0", "*", "*", "0,3,6", false},
    {"0 0 * * 1/2", "0", "0", "*", "*", "0,1,3,5", false},
    /* The day rule: both restricted means either; a full field is not restricted. */
    {"0 0 13 * fri", "0", "0", "13", "*", "5", true},
    {"0 0 */2 * MON", "0", "0", "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31", "*", "1", true},
    {"0 0 1-31 * MON", "0", "0", "*", "*", "1", false},
    {"0 0 *,5 * MON", "0", "0", "*", "*", "1", false},
    {"0 0 1 * 0-6", "0", "0", "1", "*", "*", false},
    {"0 0 1,15 * 1-5", "0", "0", "1,15", "*", "1,2,3,4,5", true},
    {"@hourly", "0", "*", "*", "*", "*", false},
    {"@daily", "0", "0", "*", "*", "*", false},
    {"@MIDNIGHT", "0", "0", "*", "*", "*", false},
    {"@weekly", "0", "0", "*", "*", "0", false},
    {"@Monthly", "0", "0", "1", "*", "*", false},
    {"@yearly", "0", "0", "1", "1", "*", false},
    {"@annually", "0", "0", "1", "1", "*", false},
    {"  0\t6  * *   *  ", "0", "6", "*", "*", "*", false},
};

static void test_parse_valid(void **state)
{
    (void)state;
    struct strbuf got = STRBUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
        const struct valid_case *c = &valid_cases[i];
        struct cron_expr e = must_parse(c->expr);
        const struct {
            const char *what, *want;
            uint64_t bits;
            int lo, hi;
        } f[] = {
            {"minute", c->minutes, e.minutes, 0, 59},   {"hour", c->hours, e.hours, 0, 23},
            {"day-of-month", c->mdays, e.mdays, 1, 31}, {"month", c->months, e.months, 1, 12},
            {"day-of-week", c->wdays, e.wdays, 0, 6},
        };
        for (size_t j = 0; j < ARRAY_SIZE(f); j++) {
            fmt_bits(&got, f[j].bits, f[j].lo, f[j].hi);
            if (strcmp(got.buf, f[j].want))
                fail_msg("'%s': %s is {%s}, expected {%s}", c->expr, f[j].what, got.buf, f[j].want);
        }
        /* Nothing outside the ranges: no bit 0 in days/months, none above the maximum. */
        assert_int_equal(e.minutes >> 60, 0);
        assert_int_equal(e.hours >> 24, 0);
        assert_int_equal(e.mdays & 1, 0);
        assert_int_equal(e.months & 1, 0);
        assert_int_equal(e.months >> 13, 0);
        assert_int_equal(e.wdays >> 7, 0);
        if (e.day_or != c->day_or)
            fail_msg("'%s': day_or is %d, expected %d", c->expr, e.day_or, c->day_or);
    }
    strbuf_release(&got);
}

static void test_parse_keeps_text(void **state)
{
    (void)state;
    struct cron_expr e = must_parse("  0\t6  * *   *  ");
    assert_string_equal(cron_text(&e), "0\t6  * *   *");
    e = must_parse("@Daily");
    assert_string_equal(cron_text(&e), "@Daily");

    /* The longest accepted text is kept whole. */
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "0");
    while (sb.len < CRON_TEXT_MAX - 1 - 8)
        strbuf_addstr(&sb, ",0");
    strbuf_addstr(&sb, " * * * *");
    assert_int_equal(sb.len, CRON_TEXT_MAX - 1);
    e = must_parse(sb.buf);
    assert_string_equal(cron_text(&e), sb.buf);
    assert_int_equal(e.minutes, 1);
    strbuf_release(&sb);
}

struct invalid_case {
    const char *expr;
    const char *message; /* a fragment of the expected message */
};

static const struct invalid_case invalid_cases[] = {
    {"61 * * * *", "cron '61 * * * *': minute '61' is out of range 0-59"},
    {"1,61 * * * *", "cron '1,61 * * * *': minute '61' is out of range 0-59"},
    {"5-70 * * * *", "minute '70' is out of range 0-59"},
    {"99999999999 * * * *", "minute '99999999999' is out of range 0-59"},
    {"* 24 * * *", "hour '24' is out of range 0-23"},
    {"* * 0 * *", "day-of-month '0' is out of range 1-31"},
    {"* * 32 * *", "day-of-month '32' is out of range 1-31"},
    {"* * * 0 *", "month '0' is out of range 1-12"},
    {"* * * 13 *", "month '13' is out of range 1-12"},
    {"* * * * 8", "day-of-week '8' is out of range 0-7"},
    {"* * * FOO *", "month 'FOO' is not a number or month name (JAN-DEC)"},
    {"* * * MON *", "month 'MON' is not a number or month name"},
    {"* * * * MONDAY", "day-of-week 'MONDAY' is not a number or weekday name (SUN-SAT)"},
    {"* * * * JAN", "day-of-week 'JAN' is not a number or weekday name"},
    {"MON * * * *", "minute 'MON' is not a number"},
    {"? * * * *", "minute '?' is not a number"},
    {"* * L * *", "day-of-month 'L' is not a number"},
    {"* * * * 1#2", "day-of-week '1#2' is not a number or weekday name"},
    {"*/0 * * * *", "minute '*/0' has a step out of range 1-60"},
    {"*/61 * * * *", "minute '*/61' has a step out of range 1-60"},
    {"* */25 * * *", "hour '*/25' has a step out of range 1-24"},
    {"*/x * * * *", "minute '*/x' has a bad step (expected a number 1-60)"},
    {"*/ * * * *", "minute '*/' has a bad step"},
    {"1/2/3 * * * *", "minute '1/2/3' has a bad step"},
    {"5-2 * * * *", "minute '5-2' is a reversed range (start after end)"},
    {"* * * DEC-JAN *", "month 'DEC-JAN' is a reversed range"},
    {"* * * * 5-0", "day-of-week '5-0' is a reversed range"},
    {"-5 * * * *", "minute '-5' is not a valid range"},
    {"5- * * * *", "minute '5-' is not a valid range"},
    {"/5 * * * *", "minute '/5' has nothing before its step"},
    {"1-2-3 * * * *", "minute '2-3' is not a number"},
    {"1,,2 * * * *", "minute '1,,2' has an empty list item"},
    {"1, * * * *", "minute '1,' has an empty list item"},
    {"* * * * ,", "day-of-week ',' has an empty list item"},
    {"* * * *", "cron '* * * *': expected 5 fields (minute hour day-of-month month day-of-week), "
                "found 4"},
    {"0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"},
    {"", "cron '': expected 5 fields"},
    {"   ", "cron '': expected 5 fields"},
    {"@reboot", "cron '@reboot': unknown macro (expected @hourly, @daily"},
    {"@daily 5", "cron '@daily 5': unknown macro"},
    {"@", "unknown macro"},
};

static void test_parse_invalid(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
        const struct invalid_case *c = &invalid_cases[i];
        struct cron_expr e;
        strbuf_reset(&err);
        int rc = cron_parse(&e, c->expr, &err);
        if (rc != CK_EINVAL)
            fail_msg("'%s': cron_parse returned %d, expected CK_EINVAL", c->expr, rc);
        if (!strstr(err.buf, c->message))
            fail_msg("'%s': message \"%s\" lacks \"%s\"", c->expr, err.buf, c->message);
    }

    /* Too long to keep: rejected with a shortened quote. */
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "0");
    while (sb.len < CRON_TEXT_MAX + 10)
        strbuf_addstr(&sb, ",0");
    strbuf_addstr(&sb, " * * * *");
    strbuf_reset(&err);
    struct cron_expr e;
    assert_int_equal(cron_parse(&e, sb.buf, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "longer than 255 characters"));
    assert_true(err.len < 120);
    strbuf_release(&sb);

    /* A NULL err is allowed; a failed parse leaves `out` as it was. */
    struct cron_expr before = must_parse("0 6 * * *");
    e = before;
    assert_int_equal(cron_parse(&e, "61 * * * *", NULL), CK_EINVAL);
    assert_int_equal(cron_parse(&e, "0 6 * * MONDAY", &err), CK_EINVAL);
    assert_memory_equal(&e, &before, sizeof(e));
    strbuf_release(&err);
}

/* ---- hand-checked fire times ---- */

struct fire_case {
    const char *expr;
    const char *from;
    const char *next; /* NULL: none */
    const char *prev; /* NULL: none; "" = not checked */
};

static const struct fire_case fire_cases[] = {
    /* DESIGN.md: M15 refresh one minute after each candle closes. */
    {"1,16,31,46 * * * *", "2024-01-02T15:00:00Z", "2024-01-02T15:01:00Z", "2024-01-02T14:46:00Z"},
    {"1,16,31,46 * * * *", "2024-01-02T15:01:00Z", "2024-01-02T15:16:00Z", "2024-01-02T14:46:00Z"},
    {"1,16,31,46 * * * *", "2024-01-02T15:00:59Z", "2024-01-02T15:01:00Z", "2024-01-02T14:46:00Z"},
    {"1,16,31,46 * * * *", "2024-01-02T15:01:01Z", "2024-01-02T15:16:00Z", "2024-01-02T15:01:00Z"},
    {"1,16,31,46 * * * *", "2024-12-31T23:46:00Z", "2025-01-01T00:01:00Z", "2024-12-31T23:31:00Z"},
    {"1,16,31,46 * * * *", "2025-01-01T00:01:00Z", "2025-01-01T00:16:00Z", "2024-12-31T23:46:00Z"},
    /* H1 at minute 1. */
    {"1 * * * *", "2024-01-02T15:00:00Z", "2024-01-02T15:01:00Z", "2024-01-02T14:01:00Z"},
    {"1 * * * *", "2024-01-02T15:01:00Z", "2024-01-02T16:01:00Z", "2024-01-02T14:01:00Z"},
    {"1 * * * *", "2024-02-29T23:30:00Z", "2024-03-01T00:01:00Z", "2024-02-29T23:01:00Z"},
    /* H4 at 00:01, 04:01, ..., 20:01, both spellings. */
    {"1 0,4,8,12,16,20 * * *", "2024-01-02T04:01:00Z", "2024-01-02T08:01:00Z",
     "2024-01-02T00:01:00Z"},
    {"1 */4 * * *", "2024-01-02T04:01:00Z", "2024-01-02T08:01:00Z", "2024-01-02T00:01:00Z"},
    {"1 */4 * * *", "2024-01-02T20:01:00Z", "2024-01-03T00:01:00Z", "2024-01-02T16:01:00Z"},
    {"1 */4 * * *", "2024-01-03T00:00:30Z", "2024-01-03T00:01:00Z", "2024-01-02T20:01:00Z"},
    /* D1 at 00:01. */
    {"1 0 * * *", "2024-12-31T00:01:00Z", "2025-01-01T00:01:00Z", "2024-12-30T00:01:00Z"},
    {"1 0 * * *", "2024-03-01T00:00:00Z", "2024-03-01T00:01:00Z", "2024-02-29T00:01:00Z"},
    /* The digest at 06:00. */
    {"0 6 * * *", "2024-01-02T05:59:59Z", "2024-01-02T06:00:00Z", "2024-01-01T06:00:00Z"},
    {"0 6 * * *", "2024-01-02T06:00:00Z", "2024-01-03T06:00:00Z", "2024-01-01T06:00:00Z"},
    {"0 6 * * *", "2024-01-02T06:00:01Z", "2024-01-03T06:00:00Z", "2024-01-02T06:00:00Z"},
    /* Retention at 03:00. */
    {"0 3 * * *", "2024-06-30T03:00:00Z", "2024-07-01T03:00:00Z", "2024-06-29T03:00:00Z"},
    /* 29 February: every fourth year, and not in 2100. */
    {"0 0 29 2 *", "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z", "2020-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2024-06-01T00:00:00Z", "2028-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z", "2096-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2104-01-01T00:00:00Z", "2104-02-29T00:00:00Z", "2096-02-29T00:00:00Z"},
    {"0 0 29 * *", "2100-02-01T00:00:00Z", "2100-03-29T00:00:00Z", "2100-01-29T00:00:00Z"},
    /* Days that never come. */
    {"0 0 30 2 *", "2024-01-01T00:00:00Z", NULL, NULL},
    {"0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z", NULL, NULL},
    {"0 0 31 2,4 *", "2024-01-01T00:00:00Z", NULL, NULL},
    /* Short months: day 31 skips them. */
    {"0 12 31 * *", "2024-04-01T00:00:00Z", "2024-05-31T12:00:00Z", "2024-03-31T12:00:00Z"},
    {"0 0 1,30 * *", "2023-02-15T00:00:00Z", "2023-03-01T00:00:00Z", "2023-02-01T00:00:00Z"},
    {"0 0 20,29 * *", "2024-03-15T00:00:00Z", "2024-03-20T00:00:00Z", "2024-02-29T00:00:00Z"},
    /* Either day rule: Friday the 13th fires on every 13th and every Friday. */
    {"0 0 13 * FRI", "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z", "2024-08-30T00:00:00Z"},
    {"0 0 13 * FRI", "2024-09-07T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-06T00:00:00Z"},
    {"0 0 13 * FRI", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-06T00:00:00Z"},
    {"0 0 13 * FRI", "2024-10-12T00:00:00Z", "2024-10-13T00:00:00Z", "2024-10-11T00:00:00Z"},
    /* A step over * restricts the day of month: odd days or Mondays. */
    {"0 0 */2 * MON", "2024-09-01T00:00:00Z", "2024-09-02T00:00:00Z", "2024-08-31T00:00:00Z"},
    {"0 0 */2 * MON", "2024-09-02T00:00:00Z", "2024-09-03T00:00:00Z", "2024-09-01T00:00:00Z"},
    {"0 0 */2 * MON", "2024-09-15T00:00:00Z", "2024-09-16T00:00:00Z", "2024-09-13T00:00:00Z"},
    {"0 0 1 * MON", "2024-04-02T00:00:00Z", "2024-04-08T00:00:00Z", "2024-04-01T00:00:00Z"},
    /* A full day of month is not restricted: Mondays only. */
    {"0 0 1-31 * MON", "2024-09-03T00:00:00Z", "2024-09-09T00:00:00Z", "2024-09-02T00:00:00Z"},
    /* Only one restricted: it decides. */
    {"0 0 1 * *", "2024-04-02T00:00:00Z", "2024-05-01T00:00:00Z", "2024-04-01T00:00:00Z"},
    {"0 9 * * MON-FRI", "2024-09-06T09:00:00Z", "2024-09-09T09:00:00Z", "2024-09-05T09:00:00Z"},
    {"30 8 * * 7", "2024-09-01T08:30:00Z", "2024-09-08T08:30:00Z", "2024-08-25T08:30:00Z"},
    /* Macros. */
    {"@hourly", "2024-01-02T15:00:00Z", "2024-01-02T16:00:00Z", "2024-01-02T14:00:00Z"},
    {"@weekly", "2024-09-04T00:00:00Z", "2024-09-08T00:00:00Z", "2024-09-01T00:00:00Z"},
    {"@monthly", "2024-12-15T00:00:00Z", "2025-01-01T00:00:00Z", "2024-12-01T00:00:00Z"},
    {"@yearly", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2023-01-01T00:00:00Z"},
    /* Before 1970 and across the epoch. */
    {"0 0 * * *", "1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z", "1969-12-31T00:00:00Z"},
    {"59 23 31 12 *", "1969-12-31T23:59:30Z", "1970-12-31T23:59:00Z", "1969-12-31T23:59:00Z"},
    {"*/5 * * * *", "1969-12-31T23:57:13Z", "1970-01-01T00:00:00Z", "1969-12-31T23:55:00Z"},
    /* Months skipped whole; the last minute of a year. */
    {"59 23 31 DEC *", "2024-01-01T00:00:00Z", "2024-12-31T23:59:00Z", "2023-12-31T23:59:00Z"},
    {"0 0 1 JAN,JUL *", "2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z", "2024-01-01T00:00:00Z"},
};

static void test_fire_times(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(fire_cases); i++) {
        const struct fire_case *c = &fire_cases[i];
        struct cron_expr e = must_parse(c->expr);
        int64_t from = T(c->from);
        int64_t want = c->next ? T(c->next) : -1;
        int64_t got = cron_next(&e, from);
        if (got != want)
            fail_msg("cron_next('%s', %s) = %s, expected %s", c->expr, c->from, iso(got),
                     iso(want));
        if (c->prev && !*c->prev)
            continue;
        want = c->prev ? T(c->prev) : -1;
        got = cron_prev(&e, from);
        if (got != want)
            fail_msg("cron_prev('%s', %s) = %s, expected %s", c->expr, c->from, iso(got),
                     iso(want));
    }
}

static void test_h4_spellings_agree(void **state)
{
    (void)state;
    struct cron_expr a = must_parse("1 0,4,8,12,16,20 * * *");
    struct cron_expr b = must_parse("1 */4 * * *");
    assert_true(a.minutes == b.minutes && a.hours == b.hours && a.mdays == b.mdays &&
                a.months == b.months && a.wdays == b.wdays && a.day_or == b.day_or);
    /* Six fires a day, every day of a year. */
    int64_t t = T("2024-01-01T00:00:00Z") - 1;
    int n = 0;
    while ((t = cron_next(&b, t)) < T("2025-01-01T00:00:00Z")) {
        assert_int_equal(t % (4 * HOUR), MINUTE);
        n++;
    }
    assert_int_equal(n, 366 * 6);
}

static void test_matches_and_period(void **state)
{
    (void)state;
    struct cron_expr e = must_parse("1,16,31,46 * * * *");
    assert_true(cron_matches(&e, T("2024-01-02T15:16:00Z")));
    assert_true(cron_matches(&e, T("2024-01-02T15:16:59Z")));
    assert_false(cron_matches(&e, T("2024-01-02T15:17:00Z")));
    assert_false(cron_matches(&e, T("2024-01-02T15:15:59Z")));
    assert_int_equal(cron_period_hint(&e, T("2024-01-02T15:00:00Z")), 15 * MINUTE);

    e = must_parse("0 0 13 * FRI");
    assert_true(cron_matches(&e, T("2024-10-13T00:00:00Z")));  /* a Sunday the 13th */
    assert_true(cron_matches(&e, T("2024-10-11T00:00:00Z")));  /* a Friday */
    assert_false(cron_matches(&e, T("2024-10-12T00:00:00Z"))); /* neither */
    e = must_parse("0 0 1 * MON");
    assert_true(cron_matches(&e, T("2024-05-01T00:00:00Z")));  /* a Wednesday the 1st */
    assert_true(cron_matches(&e, T("2024-04-08T00:00:00Z")));  /* a Monday the 8th */
    assert_false(cron_matches(&e, T("2024-04-09T00:00:00Z"))); /* a Tuesday the 9th */
    e = must_parse("0 0 1-31 * MON"); /* day of month not restricted: Mondays only */
    assert_false(cron_matches(&e, T("2024-05-01T00:00:00Z")));
    assert_true(cron_matches(&e, T("2024-04-08T00:00:00Z")));
    e = must_parse("0 0 13 * *"); /* day of week not restricted: the 13th only */
    assert_true(cron_matches(&e, T("2024-10-13T00:00:00Z")));
    assert_false(cron_matches(&e, T("2024-10-11T00:00:00Z")));

    e = must_parse("1 */4 * * *");
    assert_int_equal(cron_period_hint(&e, T("2024-01-02T03:00:00Z")), 4 * HOUR);
    e = must_parse("0 6 * * *");
    assert_int_equal(cron_period_hint(&e, T("2024-01-02T03:00:00Z")), DAY);
    e = must_parse("0 9 * * MON-FRI"); /* from Friday 08:00: Friday 09:00, then Monday 09:00 */
    assert_int_equal(cron_period_hint(&e, T("2024-09-06T08:00:00Z")), 3 * DAY);
    e = must_parse("0 0 29 2 *");
    assert_int_equal(cron_period_hint(&e, T("2096-03-01T00:00:00Z")),
                     T("2108-02-29T00:00:00Z") - T("2104-02-29T00:00:00Z"));
    e = must_parse("0 0 30 2 *");
    assert_int_equal(cron_period_hint(&e, T("2024-01-01T00:00:00Z")), -1);
}

static void test_time_limits(void **state)
{
    (void)state;
    struct cron_expr e = must_parse("* * * * *");
    int64_t last = T("9999-12-31T23:59:00Z");
    assert_int_equal(cron_next(&e, last - MINUTE), last);
    assert_int_equal(cron_next(&e, last + 60), -1);
    assert_int_equal(cron_prev(&e, T("0001-01-01T00:01:00Z")), T("0001-01-01T00:00:00Z"));
    assert_int_equal(cron_prev(&e, T("0001-01-01T00:00:00Z")), -1);
    assert_int_equal(cron_next(&e, INT64_MIN), -1);
    assert_int_equal(cron_prev(&e, INT64_MAX), -1);
    assert_false(cron_matches(&e, INT64_MAX));
}

/*
 * The ends of the range, 0001-01-01 to 9999-12-31: an answer that would
 * fall in year 0 or 10000 is none (-1), and one just inside still comes.
 */
struct range_case {
    const char *expr;
    bool prev; /* cron_prev(), else cron_next() */
    const char *from;
    const char *want; /* NULL: none */
};

static const struct range_case range_cases[] = {
    /* 0001-01-01 is a Monday: the Tuesday before it is in year 0. */
    {"2 * * * 2", true, "0001-01-02T00:00:00Z", NULL},
    {"2 * * * 2", true, "0001-01-02T00:03:00Z", "0001-01-02T00:02:00Z"},
    {"2 * * * 1", true, "0001-01-02T00:00:00Z", "0001-01-01T23:02:00Z"},
    {"59 23 * * *", true, "0001-01-01T23:58:00Z", NULL},
    {"59 23 * * *", true, "0001-01-02T00:00:00Z", "0001-01-01T23:59:00Z"},
    {"0 0 2 1 *", true, "0001-01-01T12:00:00Z", NULL},
    {"@yearly", true, "0001-01-01T00:00:01Z", "0001-01-01T00:00:00Z"},
    {"@yearly", true, "0001-01-01T00:00:00Z", NULL},
    /* Year 0 is a leap year of the proleptic calendar; it is still out. */
    {"0 0 29 2 *", true, "0004-03-01T00:00:00Z", "0004-02-29T00:00:00Z"},
    {"0 0 29 2 *", true, "0004-02-28T00:00:00Z", NULL},
    /* 9996 is the last leap year in range: the next 29 February is in 10000. */
    {"0 0 29 2 *", false, "9998-11-26T00:00:00Z", NULL},
    {"0 0 29 2 *", false, "9996-03-01T00:00:00Z", NULL},
    {"0 0 29 2 *", false, "9995-06-01T00:00:00Z", "9996-02-29T00:00:00Z"},
    {"@yearly", false, "9999-06-01T00:00:00Z", NULL},
    {"@yearly", false, "9998-06-01T00:00:00Z", "9999-01-01T00:00:00Z"},
    /* 9999-12-31 is a Friday: the Monday after it is in year 10000. */
    {"0 0 * * MON", false, "9999-12-28T00:00:00Z", NULL},
    {"0 0 * * MON", false, "9999-12-26T00:00:00Z", "9999-12-27T00:00:00Z"},
    {"59 23 31 12 *", false, "9999-01-01T00:00:00Z", "9999-12-31T23:59:00Z"},
    {"* * * * *", false, "9999-12-31T23:58:59Z", "9999-12-31T23:59:00Z"},
    {"* * * * *", false, "9999-12-31T23:59:00Z", NULL},
    {"* * * * *", false, "9999-12-31T23:59:59Z", NULL},
};

static void test_no_answer_outside_years_1_to_9999(void **state)
{
    int wrong = 0;
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(range_cases); i++) {
        const struct range_case *c = &range_cases[i];
        struct cron_expr e = must_parse(c->expr);
        int64_t from = T(c->from);
        int64_t want = c->want ? T(c->want) : -1;
        int64_t got = c->prev ? cron_prev(&e, from) : cron_next(&e, from);
        if (got != want) {
            print_error("%s('%s', %s) = %s, expected %s\n", c->prev ? "cron_prev" : "cron_next",
                        c->expr, c->from, iso(got), iso(want));
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
    /* The second fire after 9996-02-29 would be in 10000: no period. */
    struct cron_expr e = must_parse("0 0 29 2 *");
    assert_int_equal(cron_period_hint(&e, T("9995-06-01T00:00:00Z")), -1);
}

/* ---- random expressions ---- */

struct rng {
    uint64_t s;
};

static uint64_t rng_u64(struct rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rnd(struct rng *r, int n)
{
    return (int)(rng_u64(r) % (uint64_t)n);
}

static int64_t rnd64(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_u64(r) % (uint64_t)(hi - lo));
}

struct gen_field {
    int min, max; /* max as written: 7 for day-of-week */
    const char *const *names;
    int names_base;
};

static const char *const g_months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const g_wdays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct gen_field gen_fields[5] = {
    {0, 59, NULL, 0}, {0, 23, NULL, 0}, {1, 31, NULL, 0}, {1, 12, g_months, 1}, {0, 7, g_wdays, 0},
};

/* A value, biased towards the edges: month ends for days, February for months. */
static int gen_number(struct rng *r, int fi)
{
    const struct gen_field *f = &gen_fields[fi];
    if (fi == 2 && rnd(r, 3) == 0)
        return 28 + rnd(r, 4);
    if (fi == 3 && rnd(r, 4) == 0)
        return 2 + rnd(r, 2);
    if (rnd(r, 8) == 0)
        return rnd(r, 2) ? f->min : f->max;
    return f->min + rnd(r, f->max - f->min + 1);
}

static void add_value(struct strbuf *sb, struct rng *r, int fi, int v)
{
    const struct gen_field *f = &gen_fields[fi];
    int idx = v - f->names_base;
    if (f->names && idx >= 0 && idx < (fi == 3 ? 12 : 7) && rnd(r, 3) == 0) {
        const char *n = f->names[idx];
        int style = rnd(r, 3);
        for (int i = 0; i < 3; i++) {
            char ch = n[i];
            if (style == 1 || (style == 2 && i > 0))
                ch = (char)(ch - 'A' + 'a');
            strbuf_addch(sb, ch);
        }
        return;
    }
    if (rnd(r, 20) == 0 && v < 10)
        strbuf_addch(sb, '0'); /* "05" */
    strbuf_addf(sb, "%d", v);
}

static void gen_item(struct strbuf *sb, struct rng *r, int fi)
{
    const struct gen_field *f = &gen_fields[fi];
    int span = f->max - f->min + 1;
    int a = gen_number(r, fi), b = gen_number(r, fi), k = rnd(r, 100);
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    /* Steps are mostly small so that they select several values. */
    int step = rnd(r, 4) ? 1 + rnd(r, span / 3 + 1) : 1 + rnd(r, span);
    if (k < 35) {
        add_value(sb, r, fi, a);
    } else if (k < 55) {
        if (fi == 4 && rnd(r, 6) == 0) {
            /* FRI-SUN: Sunday closing a range. */
            add_value(sb, r, fi, 1 + rnd(r, 6));
            strbuf_addstr(sb, rnd(r, 2) ? "-SUN" : "-sun");
            return;
        }
        add_value(sb, r, fi, a);
        strbuf_addch(sb, '-');
        add_value(sb, r, fi, b);
    } else if (k < 70) {
        strbuf_addf(sb, "*/%d", step);
    } else if (k < 82) {
        add_value(sb, r, fi, a);
        strbuf_addch(sb, '-');
        add_value(sb, r, fi, b);
        strbuf_addf(sb, "/%d", step);
    } else if (k < 94) {
        add_value(sb, r, fi, a);
        strbuf_addf(sb, "/%d", step);
    } else {
        strbuf_addch(sb, '*');
    }
}

/* A field: `*` (unless `restricted`), one item, or a list. */
static void gen_field(struct strbuf *sb, struct rng *r, int fi, bool restricted)
{
    int k = rnd(r, 10);
    if (!restricted && k < 3) {
        strbuf_addch(sb, '*');
        return;
    }
    int n = k < 7 ? 1 : 2 + rnd(r, 3);
    for (int i = 0; i < n; i++) {
        if (i)
            strbuf_addch(sb, ',');
        gen_item(sb, r, fi);
    }
}

static const char *const gen_macros[] = {"@hourly", "@daily",    "@midnight", "@weekly", "@monthly",
                                         "@yearly", "@annually", "@Daily",    "@WEEKLY"};

static const char *const gen_fixed[] = {
    "1,16,31,46 * * * *", "1 * * * *",  "1 0,4,8,12,16,20 * * *",
    "1 */4 * * *",        "1 0 * * *",  "0 6 * * *",
    "0 3 * * *",          "0 0 29 2 *", "0 0 30 2 *",
    "0 0 13 * 5",         "0 0 31 * *", "59 23 31 12 *",
};

/*
 * A random expression: mostly fields at random, a good share with both
 * day fields restricted (the "either" rule), some rare dates (a month with
 * a day at its end, possibly one that never comes), macros and fixed ones.
 */
static void gen_expr(struct strbuf *sb, struct rng *r)
{
    int mode = rnd(r, 100);
    strbuf_reset(sb);
    if (mode < 4) {
        strbuf_addstr(sb, gen_macros[rnd(r, (int)ARRAY_SIZE(gen_macros))]);
        return;
    }
    if (mode < 7) {
        strbuf_addstr(sb, gen_fixed[rnd(r, (int)ARRAY_SIZE(gen_fixed))]);
        return;
    }
    if (mode < 15) {
        /* A rare date: minute, hour, a day near a month end, one or two months. */
        gen_field(sb, r, 0, true);
        strbuf_addch(sb, ' ');
        gen_field(sb, r, 1, true);
        strbuf_addf(sb, " %d ", 28 + rnd(r, 4));
        add_value(sb, r, 3, 1 + rnd(r, 12));
        if (rnd(r, 2)) {
            strbuf_addch(sb, ',');
            add_value(sb, r, 3, 2);
        }
        strbuf_addstr(sb, rnd(r, 4) ? " *" : " 1-5");
        return;
    }
    bool both_days = mode < 45;
    for (int fi = 0; fi < 5; fi++) {
        if (fi)
            strbuf_addstr(sb, rnd(r, 15) ? " " : "  ");
        gen_field(sb, r, fi, both_days && (fi == 2 || fi == 4));
    }
}

/* A start time between 1970 and 2100, often on a minute, a month boundary or a fire. */
static int64_t gen_start(struct rng *r, const struct cron_expr *e)
{
    const int64_t lo = 0, hi = 4102444800; /* 2100-01-01 */
    int k = rnd(r, 10);
    if (k < 4)
        return rnd64(r, lo, hi);
    if (k < 6)
        return rnd64(r, lo, hi) / MINUTE * MINUTE;
    if (k < 8) {
        int y = 1970 + rnd(r, 130), m = 1 + rnd(r, 12);
        int64_t first = days_from_civil(y, m, 1) * DAY;
        int64_t t = first + (rnd(r, 2) ? rnd64(r, 0, 2 * DAY) : -rnd64(r, 0, 3 * DAY));
        return t < lo ? lo : t;
    }
    int64_t t = cron_next(e, rnd64(r, lo, hi));
    if (t < 0 || t >= hi)
        return rnd64(r, lo, hi);
    return k == 8 ? t : t + rnd(r, 2 * MINUTE) - MINUTE;
}

/* ---- the croniter oracle ---- */

struct oracle_case {
    char *expr;
    int64_t start;
    bool prev;
    int64_t got;
};

static size_t oracle_cases_wanted(void)
{
    const char *s = getenv("CK_CRON_ORACLE_CASES");
    int64_t n = 4000;
    if (s && *s && parse_int64(s, 1, 10000000, &n) != 0)
        fail_msg("CK_CRON_ORACLE_CASES='%s' is not a positive number", s);
    return (size_t)n;
}

/*
 * Run the oracle over `path`; fills want[0..n) (-1 for "none"). Fails the
 * test when python3 or croniter is missing, or when the output is short
 * or malformed.
 */
static void run_oracle(const char *path, int64_t *want, size_t n)
{
    struct strbuf cmd = STRBUF_INIT;
    char line[512];
    size_t got = 0;
    FILE *p;
    int status;

    if (access(PYTHON, X_OK) != 0)
        fail_msg(PYTHON " is missing: the cron oracle needs python3 and python3-croniter "
                        "(`make test` installs them; or apt-get install python3-croniter)");
    strbuf_addf(&cmd, "'%s' '%s/tests/helpers/cron_oracle.py' '%s'", PYTHON, test_source_dir(),
                path);
    fflush(stdout);
    p = popen(cmd.buf, "r");
    if (!p)
        fail_msg("cannot run %s", cmd.buf);
    while (fgets(line, sizeof(line), p)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (got >= n) {
            got++;
            continue;
        }
        if (!strcmp(line, "none")) {
            want[got++] = -1;
        } else if (parse_int64(line, INT64_MIN, INT64_MAX, &want[got]) == 0) {
            got++;
        } else {
            pclose(p);
            fail_msg("cron oracle: line %zu: unexpected answer \"%s\"", got + 1, line);
        }
    }
    status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        fail_msg("python3-croniter is missing: the cron oracle needs it (`make test` installs "
                 "it; or apt-get install python3-croniter)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("cron oracle failed (%s, status %d)", cmd.buf, status);
    if (got != n)
        fail_msg("cron oracle answered %zu of %zu cases", got, n);
    strbuf_release(&cmd);
}

static void test_oracle(void **state)
{
    (void)state;
    size_t nnext = oracle_cases_wanted();
    size_t nprev = nnext / 4 < 1 ? 1 : nnext / 4;
    size_t n = nnext + nprev, mismatches = 0, dayor = 0, never = 0;
    struct oracle_case *cases = xcalloc(n, sizeof(*cases));
    int64_t *want = xcalloc(n, sizeof(*want));
    struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
    struct rng r = {.s = 0x43524f4e2d303031ull};
    char *path = test_tmpfile(".tsv");
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        struct cron_expr e;
        gen_expr(&sb, &r);
        strbuf_reset(&err);
        if (cron_parse(&e, sb.buf, &err) != 0)
            fail_msg("generated expression rejected: %s", err.buf);
        cases[i].expr = xstrdup(sb.buf);
        cases[i].start = gen_start(&r, &e);
        cases[i].prev = i >= nnext;
        cases[i].got =
            cases[i].prev ? cron_prev(&e, cases[i].start) : cron_next(&e, cases[i].start);
        dayor += e.day_or;
        never += cases[i].got == -1;
        fprintf(f, "%s\t%" PRId64 "\t%s\n", cases[i].expr, cases[i].start,
                cases[i].prev ? "prev" : "next");
    }
    assert_int_equal(fclose(f), 0);

    run_oracle(path, want, n);

    for (size_t i = 0; i < n; i++) {
        if (cases[i].got == want[i])
            continue;
        if (++mismatches <= 10)
            print_error("mismatch: cron_%s('%s', %s) = %s, croniter says %s\n",
                        cases[i].prev ? "prev" : "next", cases[i].expr, iso(cases[i].start),
                        iso(cases[i].got), iso(want[i]));
    }
    print_message("cron oracle: %zu cases (%zu cron_next, %zu cron_prev; %zu with the day "
                  "\"either\" rule, %zu without a fire), %zu mismatches\n",
                  n, nnext, nprev, dayor, never, mismatches);
    /* The generator must cover what it claims to. */
    assert_true(dayor > n / 5);
    if (n >= 2000)
        assert_true(never > 0);
    assert_int_equal(mismatches, 0);

    for (size_t i = 0; i < n; i++)
        free(cases[i].expr);
    free(cases);
    free(want);
    free(path);
    strbuf_release(&sb);
    strbuf_release(&err);
}

/* ---- self-consistency ---- */

static void check_next(const struct cron_expr *e, const char *text, int64_t t)
{
    int64_t n = cron_next(e, t);
    if (n == -1) {
        /* No fire for ten years: there is none before either. */
        if (cron_prev(e, t) != -1)
            fail_msg("'%s': a fire before %s but none after", text, iso(t));
        return;
    }
    if (n <= t || n % MINUTE != 0 || !cron_matches(e, n))
        fail_msg("'%s': cron_next(%s) = %s is not a later fire", text, iso(t), iso(n));
    /* No fire in (t, n): the one before n is at or before t. */
    int64_t p = cron_prev(e, n);
    if (p > t)
        fail_msg("'%s': cron_next(%s) = %s skips %s", text, iso(t), iso(n), iso(p));
    if (p != -1 && cron_next(e, p) != n)
        fail_msg("'%s': cron_next(cron_prev(%s)) = %s", text, iso(n), iso(cron_next(e, p)));
    /* Where the gap is short, scan it minute by minute through cron_matches(). */
    if (n - t <= 2 * DAY) {
        for (int64_t m = (t / MINUTE + 1) * MINUTE; m < n; m += MINUTE)
            if (cron_matches(e, m))
                fail_msg("'%s': cron_next(%s) = %s, but %s matches", text, iso(t), iso(n), iso(m));
    }
    /* Seconds within a fire minute do not matter to cron_matches(). */
    assert_true(cron_matches(e, n + 59));
}

static void check_prev(const struct cron_expr *e, const char *text, int64_t t)
{
    int64_t p = cron_prev(e, t);
    if (p == -1)
        return;
    if (p >= t || p % MINUTE != 0 || !cron_matches(e, p))
        fail_msg("'%s': cron_prev(%s) = %s is not an earlier fire", text, iso(t), iso(p));
    /* No fire in (p, t). */
    int64_t n = cron_next(e, p);
    if (n < t)
        fail_msg("'%s': cron_prev(%s) = %s skips %s", text, iso(t), iso(p), iso(n));
    if (t % MINUTE == 0 && cron_matches(e, t) && n != t)
        fail_msg("'%s': cron_next(cron_prev(%s)) = %s", text, iso(t), iso(n));
    if (t - p <= 2 * DAY) {
        for (int64_t m = p + MINUTE; m < t; m += MINUTE)
            if (cron_matches(e, m))
                fail_msg("'%s': cron_prev(%s) = %s, but %s matches", text, iso(t), iso(p), iso(m));
    }
}

static void test_self_consistency(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    struct rng r = {.s = 20240102};
    size_t n = oracle_cases_wanted() / 4;

    for (size_t i = 0; i < n; i++) {
        struct cron_expr e;
        gen_expr(&sb, &r);
        e = must_parse(sb.buf);
        int64_t t = gen_start(&r, &e);
        check_next(&e, sb.buf, t);
        check_prev(&e, sb.buf, t);
        /* Walking forward fire by fire and back again retraces the same times. */
        int64_t f[4];
        f[0] = cron_next(&e, t);
        for (int k = 1; k < 4; k++)
            f[k] = f[k - 1] < 0 ? -1 : cron_next(&e, f[k - 1]);
        for (int k = 3; k > 0; k--)
            if (f[k] >= 0 && cron_prev(&e, f[k]) != f[k - 1])
                fail_msg("'%s': cron_prev(%s) = %s, expected %s", sb.buf, iso(f[k]),
                         iso(cron_prev(&e, f[k])), iso(f[k - 1]));
        if (f[1] >= 0 && cron_period_hint(&e, t) != f[1] - f[0])
            fail_msg("'%s': cron_period_hint(%s) = %" PRId64 ", expected %" PRId64, sb.buf, iso(t),
                     cron_period_hint(&e, t), f[1] - f[0]);
    }
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_keeps_text),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_fire_times),
        cmocka_unit_test(test_h4_spellings_agree),
        cmocka_unit_test(test_matches_and_period),
        cmocka_unit_test(test_time_limits),
        cmocka_unit_test(test_no_answer_outside_years_1_to_9999),
        cmocka_unit_test(test_self_consistency),
        cmocka_unit_test(test_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
