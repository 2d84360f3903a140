/* SPDX-License-Identifier: MIT */
/*
 * Trading calendars against facts that do not come from calendar.c:
 *
 *  - New York offsets are checked against the US rule in force since 2007
 *    (DST from the second Sunday of March 02:00 EST = 07:00 UTC to the first
 *    Sunday of November 02:00 EDT = 06:00 UTC), written out independently
 *    below, hour by hour from 2007 to 2060, so both the file's transition
 *    table and its footer rule (a Debian "fat" file stops in 2037) are
 *    covered; plus a few historical instants from the tz database's own
 *    history (1970, 2006).
 *  - Session boundaries are checked at instants written by hand from the
 *    trading rules (forex Sunday open 22:00 UTC in winter, 21:00 in summer,
 *    metals pause 22:00-23:00 / 21:00-22:00 UTC).
 *  - calendar_sessions() is checked minute by minute against
 *    calendar_is_open() over whole years (two separate code paths).
 *  - Small TZif files written here exercise the parser: a slim file whose
 *    only rule is its footer, a version 1 block that must be skipped, other
 *    footer forms (southern hemisphere, last-week, Julian days), and broken
 *    files.
 */
#include "testutil.h"

#include "market/calendar.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOUR 3600
#define DAY  86400

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static int64_t D(const char *date)
{
    return T(date) / DAY;
}

static struct calendar *cal_open(enum calendar_kind kind, const int64_t *hol, size_t nhol,
                                 const char *tzdir)
{
    struct calendar *cal = NULL;
    struct strbuf err = STRBUF_INIT;
    int rc = calendar_open(&cal, kind, hol, nhol, tzdir, &err);
    if (rc)
        fail_msg("calendar_open: %s", err.buf);
    strbuf_release(&err);
    return cal;
}

/* ---- an independent oracle for New York's UTC offset (2007 onwards) ---- */

static int64_t nth_sunday(int year, int month, int n)
{
    int64_t first = days_from_civil(year, month, 1);
    int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    return first + (7 - wd) % 7 + 7 * (n - 1);
}

static int us_offset(int64_t t)
{
    struct civil_time c;
    time_to_civil(t, &c);
    int64_t start = nth_sunday(c.year, 3, 2) * DAY + 7 * HOUR;
    int64_t end = nth_sunday(c.year, 11, 1) * DAY + 6 * HOUR;
    return t >= start && t < end ? -4 * HOUR : -5 * HOUR;
}

/* ---- TZif fixtures ---- */

struct fx_type {
    int32_t off;
    uint8_t isdst;
};

static void put32(struct strbuf *sb, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    strbuf_add(sb, b, 4);
}

static void put64(struct strbuf *sb, int64_t v)
{
    put32(sb, (uint32_t)((uint64_t)v >> 32));
    put32(sb, (uint32_t)v);
}

/* One header plus data block; `ts` is the time size (4 or 8). */
static void fx_block(struct strbuf *sb, char version, unsigned ts, const int64_t *at,
                     const uint8_t *idx, size_t n, const struct fx_type *types, size_t ntypes)
{
    static const char zeros[15];
    strbuf_add(sb, "TZif", 4);
    strbuf_addch(sb, version);
    strbuf_add(sb, zeros, 15);
    put32(sb, 0);                /* isutcnt */
    put32(sb, 0);                /* isstdcnt */
    put32(sb, 0);                /* leapcnt */
    put32(sb, (uint32_t)n);      /* timecnt */
    put32(sb, (uint32_t)ntypes); /* typecnt */
    put32(sb, 4);                /* charcnt */
    for (size_t i = 0; i < n; i++) {
        if (ts == 8)
            put64(sb, at[i]);
        else
            put32(sb, (uint32_t)(int32_t)at[i]);
    }
    strbuf_add(sb, idx, n);
    for (size_t i = 0; i < ntypes; i++) {
        put32(sb, (uint32_t)types[i].off);
        strbuf_addch(sb, types[i].isdst);
        strbuf_addch(sb, 0);
    }
    strbuf_add(sb, "XXX", 4);
}

/* Write `content` as <new dir>/America/New_York; returns the new tz root (caller frees). */
static char *fx_install(const struct strbuf *content)
{
    char *root = test_tmpfile("-tz");
    struct strbuf path = STRBUF_INIT;
    FILE *f;

    strbuf_addf(&path, "%s/America", root);
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(mkdir(path.buf, 0700), 0);
    strbuf_addstr(&path, "/New_York");
    f = fopen(path.buf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content->buf, 1, content->len, f), content->len);
    assert_int_equal(fclose(f), 0);
    strbuf_release(&path);
    return root;
}

/*
 * A slim version 2 file: no transitions, one type, `footer`. Its version 1
 * block says UTC-03:00, which is wrong on purpose: a reader that used the
 * 32-bit block would be caught.
 */
static char *fx_slim(const char *footer, int32_t v2_type_off)
{
    struct strbuf sb = STRBUF_INIT;
    const struct fx_type v1type = {-3 * HOUR, 0};
    const struct fx_type v2type = {v2_type_off, 0};
    char *root;

    fx_block(&sb, '2', 4, NULL, NULL, 0, &v1type, 1);
    fx_block(&sb, '2', 8, NULL, NULL, 0, &v2type, 1);
    strbuf_addf(&sb, "\n%s\n", footer);
    root = fx_install(&sb);
    strbuf_release(&sb);
    return root;
}

static int open_rc(const char *tzdir, struct strbuf *err)
{
    struct calendar *cal = NULL;
    int rc = calendar_open(&cal, CAL_FOREX, NULL, 0, tzdir, err);
    calendar_free(cal);
    return rc;
}

/* ---- tests ---- */

static void test_kind_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int rc;
        enum calendar_kind kind;
    } cases[] = {
        {"crypto", 0, CAL_CRYPTO}, {"forex", 0, CAL_FOREX},  {"metals", 0, CAL_METALS},
        {"FOREX", 0, CAL_FOREX},   {"stocks", CK_EINVAL, 0}, {"", CK_EINVAL, 0},
        {"forex ", CK_EINVAL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        enum calendar_kind k = CAL_CRYPTO;
        assert_int_equal(calendar_kind_parse(cases[i].name, &k), cases[i].rc);
        if (!cases[i].rc)
            assert_int_equal(k, cases[i].kind);
    }
    assert_string_equal(calendar_kind_name(CAL_CRYPTO), "crypto");
    assert_string_equal(calendar_kind_name(CAL_FOREX), "forex");
    assert_string_equal(calendar_kind_name(CAL_METALS), "metals");

    struct calendar *cal = cal_open(CAL_METALS, NULL, 0, NULL);
    assert_int_equal(calendar_get_kind(cal), CAL_METALS);
    calendar_free(cal);
    calendar_free(NULL);
}

static void test_ny_offset_known_instants(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, NULL);
    static const struct {
        const char *t;
        int off;
    } cases[] = {
        /* 2024: DST from 2024-03-10 02:00 EST to 2024-11-03 02:00 EDT */
        {"2024-03-10T06:59:59Z", -18000},
        {"2024-03-10T07:00:00Z", -14400},
        {"2024-11-03T05:59:59Z", -14400},
        {"2024-11-03T06:00:00Z", -18000},
        {"2023-03-12T06:59:59Z", -18000},
        {"2023-03-12T07:00:00Z", -14400},
        {"2023-11-05T05:59:59Z", -14400},
        {"2023-11-05T06:00:00Z", -18000},
        /* Before the 2007 rule change: first Sunday of April, last of October. */
        {"2006-04-02T06:59:59Z", -18000},
        {"2006-04-02T07:00:00Z", -14400},
        {"2006-10-29T05:59:59Z", -14400},
        {"2006-10-29T06:00:00Z", -18000},
        {"2006-03-15T12:00:00Z", -18000}, /* would be DST under today's rule */
        {"1970-07-01T00:00:00Z", -14400},
        {"1970-01-01T00:00:00Z", -18000},
        /* Past the last transition of a fat file: the footer rule decides. */
        {"2045-07-15T12:00:00Z", -14400},
        {"2045-01-15T12:00:00Z", -18000},
        {"2045-03-12T06:59:59Z", -18000},
        {"2045-03-12T07:00:00Z", -14400},
        {"2045-11-05T05:59:59Z", -14400},
        {"2045-11-05T06:00:00Z", -18000},
        {"2040-07-01T00:00:00Z", -14400},
        {"2099-12-31T23:00:00Z", -18000},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int got = calendar_ny_offset(cal, T(cases[i].t));
        if (got != cases[i].off)
            fail_msg("offset at %s: got %d want %d", cases[i].t, got, cases[i].off);
    }
    calendar_free(cal);
}

/* Every hour from 2007 to 2060 against the US rule (transitions fall on whole hours). */
static void check_offsets_against_rule(struct calendar *cal, int from_year, int to_year)
{
    int64_t end = days_from_civil(to_year, 1, 1) * DAY;
    for (int64_t t = days_from_civil(from_year, 1, 1) * DAY; t < end; t += HOUR) {
        int got = calendar_ny_offset(cal, t), want = us_offset(t);
        if (got != want) {
            char buf[TIME_BUFSZ];
            time_format_iso8601(t, buf);
            fail_msg("offset at %s: got %d want %d", buf, got, want);
        }
        /* and one second before each hour, where a transition would just not have happened */
        if (calendar_ny_offset(cal, t - 1) != us_offset(t - 1))
            fail_msg("offset one second before %" PRId64, t);
    }
}

static void test_ny_offset_sweep_system_file(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, NULL);
    check_offsets_against_rule(cal, 2007, 2061);
    calendar_free(cal);
}

static void test_slim_file_footer_only(void **state)
{
    (void)state;
    char *root = fx_slim("EST5EDT,M3.2.0,M11.1.0", -5 * HOUR);
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, root);
    check_offsets_against_rule(cal, 2015, 2031);
    /* Trading follows: Sunday open 21:00 UTC in summer, 22:00 in winter. */
    assert_false(calendar_is_open(cal, T("2024-07-07T20:59:00Z")));
    assert_true(calendar_is_open(cal, T("2024-07-07T21:00:00Z")));
    assert_false(calendar_is_open(cal, T("2024-01-07T21:59:00Z")));
    assert_true(calendar_is_open(cal, T("2024-01-07T22:00:00Z")));
    calendar_free(cal);
    free(root);
}

/* A DST zone without dates gets the US rule (as glibc reads "EST5EDT"). */
static void test_footer_default_dates(void **state)
{
    (void)state;
    char *root = fx_slim("EST5EDT", -5 * HOUR);
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, root);
    check_offsets_against_rule(cal, 2023, 2026);
    calendar_free(cal);
    free(root);
}

static void test_footer_rule_forms(void **state)
{
    (void)state;
    static const struct {
        const char *footer;
        const char *t;
        int off;
    } cases[] = {
        /* no DST, quoted name, minutes */
        {"<+0530>-5:30", "2024-01-01T00:00:00Z", 19800},
        {"<+0530>-5:30", "2024-07-01T00:00:00Z", 19800},
        /* southern hemisphere: DST spans the new year (Sydney) */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-01-15T00:00:00Z", 39600},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-07-15T00:00:00Z", 36000},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-04-06T15:59:59Z", 39600}, /* 02:59:59 AEDT */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-04-06T16:00:00Z", 36000}, /* 03:00 AEDT */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-10-05T15:59:59Z", 36000}, /* 01:59:59 AEST */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2024-10-05T16:00:00Z", 39600}, /* 02:00 AEST */
        /* week 5 = last: Europe/Berlin, changes at 01:00 UTC on the last Sundays */
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2024-03-31T00:59:59Z", 3600},
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2024-03-31T01:00:00Z", 7200},
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2024-10-27T00:59:59Z", 7200},
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2024-10-27T01:00:00Z", 3600},
        /* Aug 2024: the fifth Sunday would be September 1, so the last is August 25 */
        {"AAA3BBB,M8.5.0/0,M11.1.0", "2024-08-25T02:59:59Z", -10800},
        {"AAA3BBB,M8.5.0/0,M11.1.0", "2024-08-25T03:00:00Z", -7200},
        /* Jn never counts February 29: J60 is March 1 in every year */
        {"AAA3BBB,J60/0,J300/0", "2024-03-01T02:59:59Z", -10800},
        {"AAA3BBB,J60/0,J300/0", "2024-03-01T03:00:00Z", -7200},
        {"AAA3BBB,J60/0,J300/0", "2023-03-01T03:00:00Z", -7200},
        /* n counts it: day 59 is February 29 in 2024, March 1 in 2023 */
        {"AAA3BBB,59/0,299/0", "2024-02-29T02:59:59Z", -10800},
        {"AAA3BBB,59/0,299/0", "2024-02-29T03:00:00Z", -7200},
        {"AAA3BBB,59/0,299/0", "2023-02-28T12:00:00Z", -10800},
        {"AAA3BBB,59/0,299/0", "2023-03-01T03:00:00Z", -7200},
        /* explicit DST offset and negative transition time (RFC 8536 extension) */
        {"AAA3BBB1:30,M3.2.0/-1,M11.1.0", "2024-03-10T01:59:59Z", -10800},
        {"AAA3BBB1:30,M3.2.0/-1,M11.1.0", "2024-03-10T02:00:00Z", -5400}, /* Mar 9 23:00 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *root = fx_slim(cases[i].footer, -3 * HOUR);
        struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, root);
        int got = calendar_ny_offset(cal, T(cases[i].t));
        if (got != cases[i].off)
            fail_msg("'%s' at %s: got %d want %d", cases[i].footer, cases[i].t, got, cases[i].off);
        calendar_free(cal);
        free(root);
    }
}

/* A file with transitions and a footer: the table first, the rule after it. */
static void test_transitions_then_footer(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    const struct fx_type types[] = {{-5 * HOUR, 0}, {-4 * HOUR, 1}, {-2 * HOUR, 1}};
    /* 2020: a made-up 2h offset in the table that no rule would give. */
    const int64_t at[] = {T("2020-03-08T07:00:00Z"), T("2020-11-01T06:00:00Z"),
                          T("2021-03-14T07:00:00Z"), T("2021-11-07T06:00:00Z")};
    const uint8_t idx[] = {2, 0, 1, 0};
    char *root;
    struct calendar *cal;

    fx_block(&sb, '2', 4, NULL, NULL, 0, types, 1);
    fx_block(&sb, '3', 8, at, idx, 4, types, 3);
    strbuf_addstr(&sb, "\nEST5EDT,M3.2.0,M11.1.0\n");
    root = fx_install(&sb);
    cal = cal_open(CAL_FOREX, NULL, 0, root);
    assert_int_equal(calendar_ny_offset(cal, T("2019-07-01T00:00:00Z")), -5 * HOUR); /* type 0 */
    assert_int_equal(calendar_ny_offset(cal, T("2020-03-08T06:59:59Z")), -5 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2020-03-08T07:00:00Z")), -2 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2020-07-01T00:00:00Z")), -2 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2021-07-01T00:00:00Z")), -4 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2021-12-01T00:00:00Z")), -5 * HOUR);
    check_offsets_against_rule(cal, 2022, 2030);
    calendar_free(cal);
    free(root);
    strbuf_release(&sb);
}

/* A version 1 file has only 32-bit data and no footer. */
static void test_version1_file(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    const struct fx_type types[] = {{-5 * HOUR, 0}, {-4 * HOUR, 1}};
    const int64_t at[] = {T("2024-03-10T07:00:00Z"), T("2024-11-03T06:00:00Z")};
    const uint8_t idx[] = {1, 0};
    char *root;
    struct calendar *cal;

    fx_block(&sb, '\0', 4, at, idx, 2, types, 2);
    root = fx_install(&sb);
    cal = cal_open(CAL_FOREX, NULL, 0, root);
    assert_int_equal(calendar_ny_offset(cal, T("2024-03-10T06:59:59Z")), -5 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2024-07-01T00:00:00Z")), -4 * HOUR);
    assert_int_equal(calendar_ny_offset(cal, T("2025-07-01T00:00:00Z")), -5 * HOUR);
    calendar_free(cal);
    free(root);
    strbuf_release(&sb);
}

static void test_bad_tz_files(void **state)
{
    (void)state;
    struct strbuf err = STRBUF_INIT;
    static const char *const bad_footers[] = {
        "EST",                        /* no offset */
        "5EDT",                       /* no name */
        "ES5",                        /* name too short */
        "EST5EDT,M13.1.0,M11.1.0",    /* month 13 */
        "EST5EDT,M3.6.0,M11.1.0",     /* week 6 */
        "EST5EDT,M3.2.7,M11.1.0",     /* weekday 7 */
        "EST5EDT,M3.2.0",             /* no end */
        "EST5EDT,J0,J100",            /* J starts at 1 */
        "EST5EDT,M3.2.0/200,M11.1.0", /* beyond 167 hours */
        "EST5EDT,M3.2.0,M11.1.0x",    /* trailing junk */
        "<+05>",                      /* quoted name without offset */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_footers); i++) {
        char *root = fx_slim(bad_footers[i], -5 * HOUR);
        strbuf_reset(&err);
        int rc = open_rc(root, &err);
        if (rc != CK_EPARSE)
            fail_msg("footer '%s' accepted (rc %d)", bad_footers[i], rc);
        assert_non_null(strstr(err.buf, "footer"));
        free(root);
    }

    /* Missing directory: CK_EIO naming the path. */
    strbuf_reset(&err);
    assert_int_equal(open_rc("/nonexistent/zoneinfo", &err), CK_EIO);
    assert_non_null(strstr(err.buf, "/nonexistent/zoneinfo/America/New_York"));

    /* Garbage, truncation, a missing footer, a bad type index, unsorted times. */
    struct strbuf sb = STRBUF_INIT;
    const struct fx_type types[] = {{-5 * HOUR, 0}, {-4 * HOUR, 1}};
    const int64_t at[] = {T("2024-03-10T07:00:00Z"), T("2024-11-03T06:00:00Z")};
    const int64_t at_unsorted[] = {T("2024-11-03T06:00:00Z"), T("2024-03-10T07:00:00Z")};
    const uint8_t idx[] = {1, 0}, idx_bad[] = {1, 2};
    struct {
        const char *what;
        size_t cut; /* bytes to drop from the end */
        const int64_t *at;
        const uint8_t *idx;
        const char *footer;
    } files[] = {
        {"truncated", 30, at, idx, "\nEST5EDT,M3.2.0,M11.1.0\n"},
        {"no footer", 0, at, idx, ""},
        {"bad type index", 0, at, idx_bad, "\nEST5EDT,M3.2.0,M11.1.0\n"},
        {"unsorted", 0, at_unsorted, idx, "\nEST5EDT,M3.2.0,M11.1.0\n"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        strbuf_reset(&sb);
        fx_block(&sb, '2', 4, NULL, NULL, 0, types, 1);
        fx_block(&sb, '2', 8, files[i].at, files[i].idx, 2, types, 2);
        strbuf_addstr(&sb, files[i].footer);
        strbuf_setlen(&sb, sb.len - files[i].cut);
        char *root = fx_install(&sb);
        strbuf_reset(&err);
        if (open_rc(root, &err) != CK_EPARSE)
            fail_msg("%s file accepted", files[i].what);
        assert_true(err.len > 0);
        free(root);
    }
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "this is not a tz file at all, just text that is long enough\n");
    char *root = fx_install(&sb);
    strbuf_reset(&err);
    assert_int_equal(open_rc(root, &err), CK_EPARSE);
    assert_non_null(strstr(err.buf, "not a TZif file"));
    free(root);

    strbuf_release(&sb);
    strbuf_release(&err);
}

static void test_tzdir_from_environment(void **state)
{
    (void)state;
    char *root = fx_slim("<+0530>-5:30", 19800);
    assert_int_equal(setenv("TZDIR", root, 1), 0);
    struct calendar *cal = cal_open(CAL_CRYPTO, NULL, 0, NULL);
    assert_int_equal(calendar_ny_offset(cal, T("2024-07-01T00:00:00Z")), 19800);
    calendar_free(cal);
    /* An explicit directory wins over TZDIR. */
    cal = cal_open(CAL_CRYPTO, NULL, 0, "/usr/share/zoneinfo");
    assert_int_equal(calendar_ny_offset(cal, T("2024-07-01T00:00:00Z")), -4 * HOUR);
    calendar_free(cal);
    assert_int_equal(unsetenv("TZDIR"), 0);
    free(root);
}

struct open_case {
    const char *t;
    bool open;
};

static void check_open(const struct calendar *cal, const struct open_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (calendar_is_open(cal, T(c[i].t)) != c[i].open)
            fail_msg("%s %s: expected %s", calendar_kind_name(calendar_get_kind(cal)), c[i].t,
                     c[i].open ? "open" : "closed");
    }
}

static void test_forex_week_across_dst(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, NULL);
    static const struct open_case cases[] = {
        /* winter: Sunday 17:00 EST = 22:00 UTC, Friday 17:00 EST = 22:00 UTC */
        {"2024-01-07T21:59:59Z", false},
        {"2024-01-07T22:00:00Z", true},
        {"2024-01-10T22:00:00Z", true},
        {"2024-01-10T22:30:00Z", true}, /* no forex pause */
        {"2024-01-12T21:59:59Z", true},
        {"2024-01-12T22:00:00Z", false},
        {"2024-01-13T12:00:00Z", false}, /* Saturday */
        /* summer: 17:00 EDT = 21:00 UTC */
        {"2024-07-07T20:59:59Z", false},
        {"2024-07-07T21:00:00Z", true},
        {"2024-07-12T20:59:59Z", true},
        {"2024-07-12T21:00:00Z", false},
        /* DST begins Sunday 2024-03-10 at 02:00: that evening opens on EDT */
        {"2024-03-08T21:59:59Z", true},
        {"2024-03-08T22:00:00Z", false},
        {"2024-03-10T20:59:59Z", false},
        {"2024-03-10T21:00:00Z", true},
        /* DST ends Sunday 2024-11-03 at 02:00: Friday before on EDT, Sunday on EST */
        {"2024-11-01T20:59:59Z", true},
        {"2024-11-01T21:00:00Z", false},
        {"2024-11-03T21:59:59Z", false},
        {"2024-11-03T22:00:00Z", true},
        /* 2023 */
        {"2023-03-10T21:59:59Z", true},
        {"2023-03-10T22:00:00Z", false},
        {"2023-03-12T20:59:59Z", false},
        {"2023-03-12T21:00:00Z", true},
        {"2023-11-03T20:59:59Z", true},
        {"2023-11-03T21:00:00Z", false},
        {"2023-11-05T21:59:59Z", false},
        {"2023-11-05T22:00:00Z", true},
        /* 2045: past a fat file's last transition */
        {"2045-07-09T20:59:59Z", false},
        {"2045-07-09T21:00:00Z", true},
        {"2045-01-08T21:59:59Z", false},
        {"2045-01-08T22:00:00Z", true},
    };
    check_open(cal, cases, ARRAY_SIZE(cases));
    calendar_free(cal);
}

static void test_metals_daily_pause(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_METALS, NULL, 0, NULL);
    static const struct open_case cases[] = {
        /* winter: pause 17:00-18:00 EST = 22:00-23:00 UTC */
        {"2024-01-10T21:59:59Z", true},
        {"2024-01-10T22:00:00Z", false},
        {"2024-01-10T22:59:59Z", false},
        {"2024-01-10T23:00:00Z", true},
        /* summer: 21:00-22:00 UTC */
        {"2024-07-10T20:59:59Z", true},
        {"2024-07-10T21:00:00Z", false},
        {"2024-07-10T21:59:59Z", false},
        {"2024-07-10T22:00:00Z", true},
        /* the week opens after the pause: Sunday 18:00 New York */
        {"2024-01-07T22:30:00Z", false},
        {"2024-01-07T23:00:00Z", true},
        {"2024-07-07T21:30:00Z", false},
        {"2024-07-07T22:00:00Z", true},
        /* and closes Friday 17:00 */
        {"2024-01-12T21:59:59Z", true},
        {"2024-01-12T22:00:00Z", false},
        {"2024-01-12T23:30:00Z", false},
        /* the first Monday on EDT and the first on EST */
        {"2024-03-11T20:59:59Z", true},
        {"2024-03-11T21:00:00Z", false},
        {"2024-03-11T22:00:00Z", true},
        {"2024-11-04T21:30:00Z", true},
        {"2024-11-04T22:00:00Z", false},
        {"2024-11-04T23:00:00Z", true},
    };
    check_open(cal, cases, ARRAY_SIZE(cases));
    calendar_free(cal);
}

struct expect_case {
    enum timeframe tf;
    const char *t;
    bool expected;
};

static void check_expects(const struct calendar *cal, const struct expect_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (calendar_expects(cal, c[i].tf, T(c[i].t)) != c[i].expected)
            fail_msg("%s %s %s: expected %s", calendar_kind_name(calendar_get_kind(cal)),
                     timeframe_name(c[i].tf), c[i].t, c[i].expected ? "true" : "false");
    }
}

static void test_expects_metals(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_METALS, NULL, 0, NULL);
    static const struct expect_case cases[] = {
        /* H1 at the pause is not expected; around it, it is */
        {TF_H1, "2024-01-10T21:00:00Z", true},
        {TF_H1, "2024-01-10T22:00:00Z", false},
        {TF_H1, "2024-01-10T23:00:00Z", true},
        {TF_H1, "2024-07-10T20:00:00Z", true},
        {TF_H1, "2024-07-10T21:00:00Z", false},
        {TF_H1, "2024-07-10T22:00:00Z", true},
        /* M15 inside the pause */
        {TF_M15, "2024-01-10T21:45:00Z", true},
        {TF_M15, "2024-01-10T22:00:00Z", false},
        {TF_M15, "2024-01-10T22:15:00Z", false},
        {TF_M15, "2024-01-10T22:30:00Z", false},
        {TF_M15, "2024-01-10T22:45:00Z", false},
        {TF_M15, "2024-01-10T23:00:00Z", true},
        {TF_M15, "2024-07-10T20:45:00Z", true},
        {TF_M15, "2024-07-10T21:00:00Z", false},
        {TF_M15, "2024-07-10T21:45:00Z", false},
        {TF_M15, "2024-07-10T22:00:00Z", true},
        /* H4 containing the pause is expected */
        {TF_H4, "2024-01-10T20:00:00Z", true},
        {TF_H4, "2024-07-10T20:00:00Z", true},
        /* Sunday: H1 before the open is not, H4 that reaches it is */
        {TF_H1, "2024-01-07T22:00:00Z", false},
        {TF_H1, "2024-01-07T23:00:00Z", true},
        {TF_H4, "2024-01-07T16:00:00Z", false},
        {TF_H4, "2024-01-07T20:00:00Z", true},
        /* Friday: the last H1 is the one that ends at the close */
        {TF_H1, "2024-01-12T21:00:00Z", true},
        {TF_H1, "2024-01-12T22:00:00Z", false},
        {TF_H1, "2024-07-12T20:00:00Z", true},
        {TF_H1, "2024-07-12T21:00:00Z", false},
        /* days and weeks */
        {TF_D1, "2024-01-13T00:00:00Z", false}, /* Saturday */
        {TF_D1, "2024-01-14T00:00:00Z", true},  /* Sunday: opens 23:00 UTC */
        {TF_D1, "2024-01-12T00:00:00Z", true},
        {TF_W1, "2024-01-08T00:00:00Z", true},
    };
    check_expects(cal, cases, ARRAY_SIZE(cases));
    calendar_free(cal);
}

static void test_expects_forex(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, NULL);
    static const struct expect_case cases[] = {
        {TF_H1, "2024-01-10T22:00:00Z", true}, /* forex has no pause */
        {TF_M15, "2024-01-10T22:15:00Z", true}, {TF_H1, "2024-01-07T21:00:00Z", false},
        {TF_H1, "2024-01-07T22:00:00Z", true},  {TF_H1, "2024-07-07T20:00:00Z", false},
        {TF_H1, "2024-07-07T21:00:00Z", true},  {TF_M15, "2024-03-10T20:45:00Z", false},
        {TF_M15, "2024-03-10T21:00:00Z", true}, {TF_M15, "2024-11-03T21:45:00Z", false},
        {TF_M15, "2024-11-03T22:00:00Z", true}, {TF_H4, "2024-01-07T20:00:00Z", true},
        {TF_H4, "2024-01-12T20:00:00Z", true},  {TF_H4, "2024-01-13T00:00:00Z", false},
        {TF_D1, "2024-01-13T00:00:00Z", false}, {TF_D1, "2024-01-14T00:00:00Z", true},
    };
    check_expects(cal, cases, ARRAY_SIZE(cases));
    calendar_free(cal);
}

static void test_holidays(void **state)
{
    (void)state;
    /* unsorted, duplicated on purpose */
    const int64_t hol[] = {D("2024-12-25"), D("2024-01-01"), D("2024-12-25")};
    struct calendar *fx = cal_open(CAL_FOREX, hol, ARRAY_SIZE(hol), NULL);
    struct calendar *mt = cal_open(CAL_METALS, hol, ARRAY_SIZE(hol), NULL);
    struct calendar *cr = cal_open(CAL_CRYPTO, hol, ARRAY_SIZE(hol), NULL);
    struct calendar *cr_plain = cal_open(CAL_CRYPTO, NULL, 0, NULL);
    static const struct open_case fx_cases[] = {
        /* 2024-12-25 (Wednesday) closes 12-24 17:00 EST .. 12-25 17:00 EST */
        {"2024-12-24T21:59:59Z", true},
        {"2024-12-24T22:00:00Z", false},
        {"2024-12-25T12:00:00Z", false},
        {"2024-12-25T21:59:59Z", false},
        {"2024-12-25T22:00:00Z", true},
        /* 2024-01-01 is a Monday: the week opens Monday evening, not Sunday */
        {"2023-12-31T22:00:00Z", false},
        {"2024-01-01T21:59:59Z", false},
        {"2024-01-01T22:00:00Z", true},
        {"2023-12-29T21:59:59Z", true},
    };
    static const struct open_case mt_cases[] = {
        {"2024-12-24T21:59:59Z", true},  {"2024-12-24T23:00:00Z", false},
        {"2024-12-25T21:59:59Z", false}, {"2024-12-25T22:30:00Z", false},
        {"2024-12-25T23:00:00Z", true},  {"2024-01-01T23:00:00Z", true},
        {"2024-01-01T12:00:00Z", false},
    };
    static const struct open_case cr_cases[] = {
        {"2024-12-24T23:59:59Z", true},  {"2024-12-25T00:00:00Z", false},
        {"2024-12-25T23:59:59Z", false}, {"2024-12-26T00:00:00Z", true},
        {"2024-01-06T12:00:00Z", true}, /* crypto trades on Saturday */
    };
    check_open(fx, fx_cases, ARRAY_SIZE(fx_cases));
    check_open(mt, mt_cases, ARRAY_SIZE(mt_cases));
    check_open(cr, cr_cases, ARRAY_SIZE(cr_cases));
    assert_true(calendar_is_open(cr_plain, T("2024-12-25T12:00:00Z")));
    assert_false(calendar_expects(fx, TF_H1, T("2024-12-25T12:00:00Z")));
    assert_true(calendar_expects(fx, TF_H1, T("2024-12-24T21:00:00Z")));
    assert_false(calendar_expects(fx, TF_H1, T("2024-12-24T22:00:00Z")));
    assert_false(calendar_expects(cr, TF_D1, T("2024-12-25T00:00:00Z")));
    assert_true(calendar_expects(cr, TF_D1, T("2024-12-26T00:00:00Z")));
    /* The Wednesday holiday still leaves the week's D1 on 12-25 expected: 22:00-24:00 trade. */
    assert_true(calendar_expects(fx, TF_D1, T("2024-12-25T00:00:00Z")));
    calendar_free(fx);
    calendar_free(mt);
    calendar_free(cr);
    calendar_free(cr_plain);
}

/* Sessions: ordered, merged, inside the window, and equal to is_open minute by minute. */
static void check_sessions_year(const struct calendar *cal, int64_t from, int64_t to)
{
    struct calendar_session *s = NULL;
    size_t n = 0, alloc = 0, k = 0;

    calendar_sessions(cal, from, to, &s, &n, &alloc);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        assert_true(s[i].start < s[i].end);
        assert_true(s[i].start >= from && s[i].end <= to);
        if (i)
            assert_true(s[i - 1].end < s[i].start); /* merged: no touching neighbours */
    }
    for (int64_t t = from; t < to; t += 60) {
        while (k < n && s[k].end <= t)
            k++;
        bool in = k < n && s[k].start <= t;
        if (in != calendar_is_open(cal, t)) {
            char buf[TIME_BUFSZ];
            time_format_iso8601(t, buf);
            fail_msg("%s at %s: sessions say %d", calendar_kind_name(calendar_get_kind(cal)), buf,
                     in);
        }
    }
    free(s);
}

static void test_sessions_match_is_open(void **state)
{
    (void)state;
    const int64_t hol[] = {D("2023-07-04"), D("2023-12-25"), D("2024-01-01"), D("2024-07-04"),
                           D("2024-12-25")};
    for (int k = CAL_CRYPTO; k <= CAL_METALS; k++) {
        struct calendar *cal = cal_open((enum calendar_kind)k, hol, ARRAY_SIZE(hol), NULL);
        check_sessions_year(cal, T("2023-01-01T00:00:00Z"), T("2024-01-01T00:00:00Z"));
        check_sessions_year(cal, T("2024-01-01T00:00:00Z"), T("2025-01-01T00:00:00Z"));
        /* a window that starts and ends mid-session, and one past the fat file */
        check_sessions_year(cal, T("2024-03-06T13:17:00Z"), T("2024-03-13T09:41:00Z"));
        check_sessions_year(cal, T("2045-01-01T00:00:00Z"), T("2045-03-31T00:00:00Z"));
        calendar_free(cal);
    }
}

/* Forex weeks: Sunday 17:00 to Friday 17:00 New York, in UTC per the US rule. */
static void test_forex_sessions_are_weeks(void **state)
{
    (void)state;
    struct calendar *cal = cal_open(CAL_FOREX, NULL, 0, NULL);
    struct calendar_session *s = NULL;
    size_t n = 0, alloc = 0;
    int64_t from = T("2023-01-01T00:00:00Z"), to = T("2025-01-01T00:00:00Z");

    calendar_sessions(cal, from, to, &s, &n, &alloc);
    assert_int_equal(n, 105); /* 2023-01-01 and 2024-12-29 are Sundays: 104 full weeks + 1 cut */
    for (size_t i = 0; i < n; i++) {
        struct civil_time a, b;
        time_to_civil(s[i].start, &a);
        time_to_civil(s[i].end, &b);
        assert_int_equal(a.wday, 0);
        assert_int_equal(a.min, 0);
        assert_int_equal(a.hour, 17 - us_offset(s[i].start) / HOUR);
        if (s[i].end == to)
            continue;
        assert_int_equal(b.wday, 5);
        assert_int_equal(b.hour, 17 - us_offset(s[i].end) / HOUR);
        assert_int_equal(b.min, 0);
    }

    /* Appending never merges into what the caller already had. */
    struct calendar *cr = cal_open(CAL_CRYPTO, NULL, 0, NULL);
    size_t before = n;
    calendar_sessions(cr, to, to + DAY, &s, &n, &alloc);
    assert_int_equal(n, before + 1);
    assert_int_equal(s[before - 1].end, to);
    assert_int_equal(s[before].start, to);
    assert_int_equal(s[before].end, to + DAY);
    /* An empty window appends nothing. */
    calendar_sessions(cr, to, to, &s, &n, &alloc);
    calendar_sessions(cal, T("2024-01-13T00:00:00Z"), T("2024-01-14T00:00:00Z"), &s, &n, &alloc);
    assert_int_equal(n, before + 1);
    free(s);
    calendar_free(cr);
    calendar_free(cal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_ny_offset_known_instants),
        cmocka_unit_test(test_ny_offset_sweep_system_file),
        cmocka_unit_test(test_slim_file_footer_only),
        cmocka_unit_test(test_footer_default_dates),
        cmocka_unit_test(test_footer_rule_forms),
        cmocka_unit_test(test_transitions_then_footer),
        cmocka_unit_test(test_version1_file),
        cmocka_unit_test(test_bad_tz_files),
        cmocka_unit_test(test_tzdir_from_environment),
        cmocka_unit_test(test_forex_week_across_dst),
        cmocka_unit_test(test_metals_daily_pause),
        cmocka_unit_test(test_expects_metals),
        cmocka_unit_test(test_expects_forex),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_sessions_match_is_open),
        cmocka_unit_test(test_forex_sessions_are_weeks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
