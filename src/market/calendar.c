/* SPDX-License-Identifier: MIT */
/*
 * Trading calendars: when a market is open, and so which candles should
 * exist.
 *
 * New York time. Forex and metals sessions are defined in New York local
 * time, so this file reads America/New_York from the system tz database
 * itself: a TZif file (RFC 8536). Only the 64-bit data block of a version 2+
 * file is used (a version 1 file falls back to its 32-bit block); the
 * transitions are kept as two parallel sorted arrays and searched by
 * bisection. Instants after the last transition (a "slim" file has none
 * after 2007, a "fat" one stops in 2037) follow the POSIX TZ rule in the
 * file's footer, e.g. "EST5EDT,M3.2.0,M11.1.0", evaluated per year. The C
 * library's localtime()/TZ machinery is not used: it is process-global state,
 * not thread-safe to switch, and banned in this code base.
 *
 * The trading day. Forex and metals are modelled as a sequence of trading
 * days: the trading day of New York date D runs from 17:00 New York on D-1
 * (18:00 for metals, whose daily pause is 17:00-18:00) to 17:00 New York on
 * D. Only Monday..Friday are trading days, so Monday's day opens on Sunday at
 * 17:00 (18:00 for metals) and Friday's closes the week at 17:00. A holiday D
 * removes trading day D. Forex days are back to back and merge into one
 * session per week; metals days are separated by the pause. For crypto the
 * unit is the UTC day and only holidays close it. 17:00 and 18:00 are never
 * skipped or repeated by a New York DST change (those happen at 02:00), so
 * local-to-UTC conversion of the boundaries is exact.
 *
 * Everything is derived from two primitives that share the trading-day
 * definition: the instant test (calendar_is_open) maps an instant to its
 * trading day; session enumeration (each_session) walks trading days and
 * converts their local boundaries to UTC. Enumeration costs a few tz lookups
 * per New York day, independent of the timeframe, which is what makes gap
 * detection over a year of M1 candles cheap.
 *
 * Invariants: a calendar is immutable after calendar_open(); holidays are
 * sorted and unique; tz transition times strictly increase. No function
 * here reads the clock or the environment except calendar_open() (TZDIR).
 */
#include "market/calendar.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define DAY            86400
#define HOUR           3600
#define NY_ZONE        "America/New_York"
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_FILE_MAX    (1 << 20) /* real TZif files are a few KiB */
#define TZ_HEADER_LEN  44
#define DAY_CLOSE      (17 * HOUR) /* forex and metals trading days end at 17:00 NY */
#define METALS_OPEN    (18 * HOUR) /* metals reopen after the daily pause */

/* A date of a POSIX TZ rule: "Jn", "n" or "Mm.w.d", plus "/time". */
enum tz_date_kind {
    TZ_JULIAN1, /* Jn: 1..365, February 29 never counted */
    TZ_JULIAN0, /* n: 0..365, February 29 counted */
    TZ_MWD,     /* Mm.w.d: day d (0 = Sunday) of week w (5 = last) of month m */
};

struct tz_date {
    enum tz_date_kind kind;
    int n, month, week, wday;
    int32_t time; /* local seconds after midnight; -167h..167h (RFC 8536) */
};

/* The footer rule. Offsets are seconds east of UTC (New York: -18000). */
struct tz_rule {
    bool has_dst;
    int32_t std_off, dst_off;
    struct tz_date start, end;
};

struct tz {
    int64_t *at;  /* transition instants, strictly increasing */
    int32_t *off; /* UTC offset in force from at[i] */
    size_t n;
    int32_t before_off; /* time type 0: before the first transition */
    bool has_rule;      /* the footer holds a rule for after the last transition */
    struct tz_rule rule;
};

struct calendar {
    enum calendar_kind kind;
    int64_t *holidays; /* days since the epoch, sorted, unique */
    size_t nholidays;
    struct tz tz;
};

static const char *const kind_names[] = {
    [CAL_CRYPTO] = "crypto",
    [CAL_FOREX] = "forex",
    [CAL_METALS] = "metals",
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* 0 = Sunday .. 6 = Saturday for days since the epoch (a Thursday). */
static int weekday(int64_t days)
{
    return (int)((days % 7 + 11) % 7);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- the POSIX TZ rule of the footer ---------------------------------- */

/* A zone abbreviation: three or more letters, or "<...>" (e.g. "<+10>"). */
static bool rule_name(const char **p)
{
    const char *s = *p, *b;

    if (*s == '<') {
        b = ++s;
        while (isalnum((unsigned char)*s) || *s == '+' || *s == '-')
            s++;
        if (*s != '>' || s - b < 3)
            return false;
        *p = s + 1;
        return true;
    }
    b = s;
    while (isalpha((unsigned char)*s))
        s++;
    if (s - b < 3)
        return false;
    *p = s;
    return true;
}

/* Up to `maxd` decimal digits, at least one; value into *out. */
static bool rule_num(const char **p, int maxd, int *out)
{
    const char *s = *p;
    int v = 0, nd = 0;

    while (isdigit((unsigned char)*s) && nd < maxd) {
        v = v * 10 + (*s++ - '0');
        nd++;
    }
    if (!nd || isdigit((unsigned char)*s))
        return false;
    *p = s;
    *out = v;
    return true;
}

/* "[+-]h[h[h]][:mm[:ss]]" with hours <= max_h, as signed seconds. */
static bool rule_hms(const char **p, int max_h, int32_t *out)
{
    const char *s = *p;
    int sign = 1, h, m = 0, sec = 0;

    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!rule_num(&s, 3, &h) || h > max_h)
        return false;
    if (*s == ':') {
        s++;
        if (!rule_num(&s, 2, &m) || m > 59)
            return false;
        if (*s == ':') {
            s++;
            if (!rule_num(&s, 2, &sec) || sec > 59)
                return false;
        }
    }
    *p = s;
    *out = sign * (h * HOUR + m * 60 + sec);
    return true;
}

static bool rule_date(const char **p, struct tz_date *d)
{
    const char *s = *p;

    memset(d, 0, sizeof(*d));
    if (*s == 'J') {
        s++;
        d->kind = TZ_JULIAN1;
        if (!rule_num(&s, 3, &d->n) || d->n < 1 || d->n > 365)
            return false;
    } else if (*s == 'M') {
        s++;
        d->kind = TZ_MWD;
        if (!rule_num(&s, 2, &d->month) || d->month < 1 || d->month > 12 || *s++ != '.' ||
            !rule_num(&s, 1, &d->week) || d->week < 1 || d->week > 5 || *s++ != '.' ||
            !rule_num(&s, 1, &d->wday) || d->wday > 6)
            return false;
    } else {
        d->kind = TZ_JULIAN0;
        if (!rule_num(&s, 3, &d->n) || d->n > 365)
            return false;
    }
    d->time = 2 * HOUR;
    if (*s == '/') {
        s++;
        if (!rule_hms(&s, 167, &d->time))
            return false;
    }
    *p = s;
    return true;
}

/*
 * Parse a POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0"). POSIX offsets count
 * west of Greenwich, so they are negated here. A DST zone without dates gets
 * the US rule, as glibc does; RFC 8536 footers always carry dates.
 */
static bool rule_parse(const char *s, struct tz_rule *r)
{
    int32_t v;

    memset(r, 0, sizeof(*r));
    if (!rule_name(&s) || !rule_hms(&s, 24, &v))
        return false;
    r->std_off = -v;
    if (!*s)
        return true;
    if (!rule_name(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + HOUR;
    if (*s && *s != ',') {
        if (!rule_hms(&s, 24, &v))
            return false;
        r->dst_off = -v;
    }
    if (!*s)
        s = ",M3.2.0,M11.1.0";
    if (*s++ != ',' || !rule_date(&s, &r->start) || *s++ != ',' || !rule_date(&s, &r->end))
        return false;
    return *s == '\0';
}

/* The day (since the epoch) on which `d` falls in `year`. */
static int64_t rule_day(const struct tz_date *d, int year)
{
    int64_t jan1 = days_from_civil(year, 1, 1), first, day, next;

    switch (d->kind) {
    case TZ_JULIAN1:
        return jan1 + d->n - 1 + (is_leap(year) && d->n >= 60);
    case TZ_JULIAN0:
        return jan1 + d->n;
    case TZ_MWD:
        break;
    }
    first = days_from_civil(year, d->month, 1);
    day = first + (d->wday - weekday(first) + 7) % 7 + 7 * (d->week - 1);
    next =
        d->month == 12 ? days_from_civil(year + 1, 1, 1) : days_from_civil(year, d->month + 1, 1);
    while (day >= next) /* week 5 means the last such weekday */
        day -= 7;
    return day;
}

/*
 * The offset the rule gives at `t`. The year is taken from standard local
 * time; DST starts at a local standard time and ends at a local daylight
 * time. When the end comes before the start in the year, DST spans the new
 * year (southern hemisphere). Rules whose times push a change into another
 * year (up to 167 hours) are treated as falling in the year they name.
 */
static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t start, end;
    int y, m, d;

    if (!r->has_dst)
        return r->std_off;
    civil_from_days(floor_div(t + r->std_off, DAY), &y, &m, &d);
    start = rule_day(&r->start, y) * DAY + r->start.time - r->std_off;
    end = rule_day(&r->end, y) * DAY + r->end.time - r->dst_off;
    if (start < end)
        return t >= start && t < end ? r->dst_off : r->std_off;
    return t >= end && t < start ? r->std_off : r->dst_off;
}

/* ---- TZif ------------------------------------------------------------- */

struct tzif_header {
    int version; /* 0 for version 1, else '2', '3', ... */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool tzif_header(const unsigned char *p, size_t len, struct tzif_header *h)
{
    if (len < TZ_HEADER_LEN || memcmp(p, "TZif", 4))
        return false;
    h->version = p[4];
    if (h->version != 0 && h->version < '2')
        return false;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return true;
}

/* Bytes of the data block after a header; `ts` is 4 (v1) or 8 (v2+). */
static uint64_t tzif_block_len(const struct tzif_header *h, unsigned ts)
{
    return (uint64_t)h->timecnt * ts + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (ts + 4) + h->isstdcnt + h->isutcnt;
}

static int tz_fail(struct strbuf *err, const char *path, const char *why)
{
    if (err)
        strbuf_addf(err, "calendar: tz file '%s': %s", path, why);
    return CK_EPARSE;
}

/* Decode the data block at `p` (length checked by the caller) into `tz`. */
static int tzif_data(struct tz *tz, const struct tzif_header *h, const unsigned char *p,
                     unsigned ts, const char *path, struct strbuf *err)
{
    const unsigned char *idx = p + (size_t)h->timecnt * ts;
    const unsigned char *types = idx + h->timecnt;

    if (!h->typecnt || !h->charcnt)
        return tz_fail(err, path, "no local time types");
    if (h->leapcnt)
        return tz_fail(err, path, "leap-second (\"right/\") zones are not supported");
    if ((h->isstdcnt && h->isstdcnt != h->typecnt) || (h->isutcnt && h->isutcnt != h->typecnt))
        return tz_fail(err, path, "inconsistent header counts");
    for (uint32_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        if (off <= -26 * HOUR || off >= 26 * HOUR)
            return tz_fail(err, path, "UTC offset out of range");
        if (types[6 * i + 4] > 1 || types[6 * i + 5] >= h->charcnt)
            return tz_fail(err, path, "bad local time type");
    }
    tz->n = h->timecnt;
    tz->at = xmalloc((tz->n ? tz->n : 1) * sizeof(*tz->at));
    tz->off = xmalloc((tz->n ? tz->n : 1) * sizeof(*tz->off));
    tz->before_off = (int32_t)be32(types);
    for (size_t i = 0; i < tz->n; i++) {
        tz->at[i] = ts == 8 ? be64(p + 8 * i) : (int64_t)(int32_t)be32(p + 4 * i);
        if (i && tz->at[i] <= tz->at[i - 1])
            return tz_fail(err, path, "transition times are not increasing");
        if (idx[i] >= h->typecnt)
            return tz_fail(err, path, "transition names a missing time type");
        tz->off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    return 0;
}

static int tz_parse(struct tz *tz, const unsigned char *buf, size_t len, const char *path,
                    struct strbuf *err)
{
    struct tzif_header h;
    size_t pos = TZ_HEADER_LEN;
    uint64_t blk;
    const unsigned char *foot, *nl;
    int rc;

    if (!tzif_header(buf, len, &h))
        return tz_fail(err, path, "not a TZif file");
    blk = tzif_block_len(&h, 4);
    if (blk > len - pos)
        return tz_fail(err, path, "truncated");
    if (h.version == 0) /* version 1: the 32-bit block is all there is */
        return tzif_data(tz, &h, buf + pos, 4, path, err);

    pos += (size_t)blk;
    if (!tzif_header(buf + pos, len - pos, &h) || h.version == 0)
        return tz_fail(err, path, "missing version 2+ header");
    pos += TZ_HEADER_LEN;
    blk = tzif_block_len(&h, 8);
    if (blk > len - pos)
        return tz_fail(err, path, "truncated");
    rc = tzif_data(tz, &h, buf + pos, 8, path, err);
    if (rc)
        return rc;

    pos += (size_t)blk;
    foot = buf + pos;
    if (pos >= len || *foot != '\n' || !(nl = memchr(foot + 1, '\n', len - pos - 1)))
        return tz_fail(err, path, "missing footer");
    if (nl > foot + 1) {
        char *s = xstrndup((const char *)foot + 1, (size_t)(nl - foot - 1));
        bool ok = rule_parse(s, &tz->rule);
        if (!ok && err)
            strbuf_addf(err, "calendar: tz file '%s': bad footer rule '%s'", path, s);
        free(s);
        if (!ok)
            return CK_EPARSE;
        tz->has_rule = true;
    }
    return 0;
}

static int tz_load(struct tz *tz, const char *tzdir, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    unsigned char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int rc = 0;

    if (!tzdir || !*tzdir)
        tzdir = getenv("TZDIR");
    if (!tzdir || !*tzdir)
        tzdir = TZ_DEFAULT_DIR;
    strbuf_addf(&path, "%s/%s", tzdir, NY_ZONE);

    f = fopen(path.buf, "rb");
    if (!f) {
        if (err)
            strbuf_addf(err, "calendar: cannot open tz file '%s': %s", path.buf, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    /* One byte more than the cap tells an oversized file from a full one. */
    buf = xmalloc(TZ_FILE_MAX + 1);
    len = fread(buf, 1, TZ_FILE_MAX + 1, f);
    if (ferror(f)) {
        if (err)
            strbuf_addf(err, "calendar: cannot read tz file '%s'", path.buf);
        rc = CK_EIO;
    } else if (len > TZ_FILE_MAX) {
        rc = tz_fail(err, path.buf, "too large");
    } else {
        rc = tz_parse(tz, buf, len, path.buf, err);
    }
    fclose(f);
out:
    free(buf);
    strbuf_release(&path);
    return rc;
}

static void tz_release(struct tz *tz)
{
    free(tz->at);
    free(tz->off);
    memset(tz, 0, sizeof(*tz));
}

/* UTC offset at instant `t`. */
static int32_t tz_offset(const struct tz *tz, int64_t t)
{
    size_t lo, hi;

    if (!tz->n)
        return tz->has_rule ? rule_offset(&tz->rule, t) : tz->before_off;
    if (t < tz->at[0])
        return tz->before_off;
    if (t > tz->at[tz->n - 1] && tz->has_rule)
        return rule_offset(&tz->rule, t);
    /* Largest i with at[i] <= t: invariant at[lo] <= t < at[hi] (at[n] = +inf). */
    lo = 0;
    hi = tz->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

/*
 * The instant at which the New York wall clock reads `local` (seconds since
 * the epoch as if local time were UTC). Two refinements settle any
 * unambiguous local time; the boundaries used here (17:00, 18:00) always are.
 */
static int64_t tz_from_local(const struct tz *tz, int64_t local)
{
    int64_t t = local - tz_offset(tz, local);
    t = local - tz_offset(tz, t);
    return local - tz_offset(tz, t);
}

/* ---- calendars -------------------------------------------------------- */

int calendar_kind_parse(const char *name, enum calendar_kind *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
        if (!strcasecmp(name, kind_names[i])) {
            *out = (enum calendar_kind)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *calendar_kind_name(enum calendar_kind kind)
{
    if ((unsigned)kind >= ARRAY_SIZE(kind_names))
        BUG("invalid calendar kind %d", (int)kind);
    return kind_names[kind];
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int calendar_open(struct calendar **out, enum calendar_kind kind, const int64_t *holidays,
                  size_t nholidays, const char *tzdir, struct strbuf *err)
{
    struct calendar *cal;
    size_t n = 0;
    int rc;

    if ((unsigned)kind >= ARRAY_SIZE(kind_names))
        BUG("invalid calendar kind %d", (int)kind);
    cal = xcalloc(1, sizeof(*cal));
    cal->kind = kind;
    if (nholidays) {
        cal->holidays = xmalloc(nholidays * sizeof(*cal->holidays));
        memcpy(cal->holidays, holidays, nholidays * sizeof(*cal->holidays));
        qsort(cal->holidays, nholidays, sizeof(*cal->holidays), cmp_int64);
        for (size_t i = 0; i < nholidays; i++)
            if (!n || cal->holidays[n - 1] != cal->holidays[i])
                cal->holidays[n++] = cal->holidays[i];
    }
    cal->nholidays = n;
    /*
     * Every kind loads the zone, crypto included, so calendar_ny_offset()
     * means the same thing for all calendars and a broken tz database is
     * reported at startup rather than at the first forex query.
     */
    rc = tz_load(&cal->tz, tzdir, err);
    if (rc) {
        calendar_free(cal);
        return rc;
    }
    *out = cal;
    return 0;
}

void calendar_free(struct calendar *cal)
{
    if (!cal)
        return;
    tz_release(&cal->tz);
    free(cal->holidays);
    free(cal);
}

enum calendar_kind calendar_get_kind(const struct calendar *cal)
{
    return cal->kind;
}

int calendar_ny_offset(const struct calendar *cal, int64_t t)
{
    return tz_offset(&cal->tz, t);
}

static bool is_holiday(const struct calendar *cal, int64_t day)
{
    return cal->nholidays &&
           bsearch(&day, cal->holidays, cal->nholidays, sizeof(day), cmp_int64) != NULL;
}

/* Is New York date `day` a forex/metals trading day? */
static bool is_trading_day(const struct calendar *cal, int64_t day)
{
    int wd = weekday(day);
    return wd >= 1 && wd <= 5 && !is_holiday(cal, day);
}

/* Local time of day at which the trading day opens (on the previous date). */
static int64_t day_open_sec(const struct calendar *cal)
{
    return cal->kind == CAL_METALS ? METALS_OPEN : DAY_CLOSE;
}

bool calendar_is_open(const struct calendar *cal, int64_t t)
{
    int64_t local, day, sec;

    if (cal->kind == CAL_CRYPTO)
        return !is_holiday(cal, floor_div(t, DAY));
    local = t + tz_offset(&cal->tz, t);
    day = floor_div(local, DAY);
    sec = local - day * DAY;
    if (sec >= DAY_CLOSE && sec < day_open_sec(cal))
        return false; /* the metals pause */
    /* From the evening open on, the time belongs to the next date's trading day. */
    return is_trading_day(cal, sec >= DAY_CLOSE ? day + 1 : day);
}

/* Called with each open piece in order; return false to stop. */
typedef bool session_fn(int64_t start, int64_t end, void *arg);

/*
 * Call `fn` for the open intervals within [from, to), in order, clipped to
 * the window, one per trading day (forex days touch and are not merged
 * here) or per stretch between crypto holidays.
 */
static void each_session(const struct calendar *cal, int64_t from, int64_t to, session_fn *fn,
                         void *arg)
{
    if (from >= to)
        return;
    if (cal->kind == CAL_CRYPTO) {
        int64_t first = floor_div(from, DAY), cur = from;
        /* lower bound: the first holiday on or after the day of `from` */
        size_t lo = 0, hi = cal->nholidays;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cal->holidays[mid] < first)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < cal->nholidays && cur < to; i++) {
            int64_t hs = cal->holidays[i] * DAY, he = hs + DAY;
            if (hs >= to)
                break;
            if (hs > cur && !fn(cur, hs, arg))
                return;
            if (he > cur)
                cur = he;
        }
        if (cur < to)
            fn(cur, to, arg);
        return;
    }

    /*
     * The trading day containing `from` is its New York date or the next
     * one; the one containing to - 1 is at most the day after its date.
     */
    int64_t d0 = floor_div(from + tz_offset(&cal->tz, from), DAY);
    int64_t d1 = floor_div(to + tz_offset(&cal->tz, to), DAY) + 1;
    int64_t open_sec = day_open_sec(cal);
    for (int64_t d = d0; d <= d1; d++) {
        int64_t s, e;
        if (!is_trading_day(cal, d))
            continue;
        s = tz_from_local(&cal->tz, (d - 1) * DAY + open_sec);
        e = tz_from_local(&cal->tz, d * DAY + DAY_CLOSE);
        if (s < from)
            s = from;
        if (e > to)
            e = to;
        if (s < e && !fn(s, e, arg))
            return;
    }
}

struct collect {
    struct calendar_session **out;
    size_t *n, *alloc;
    size_t first; /* merge only with sessions appended by this call */
};

static bool collect_session(int64_t start, int64_t end, void *arg)
{
    struct collect *c = arg;
    struct calendar_session *v = *c->out;

    if (*c->n > c->first && v[*c->n - 1].end >= start) {
        v[*c->n - 1].end = end;
        return true;
    }
    ALLOC_GROW(*c->out, *c->n + 1, *c->alloc);
    (*c->out)[*c->n].start = start;
    (*c->out)[*c->n].end = end;
    (*c->n)++;
    return true;
}

void calendar_sessions(const struct calendar *cal, int64_t from, int64_t to,
                       struct calendar_session **out, size_t *n, size_t *alloc)
{
    struct collect c = {.out = out, .n = n, .alloc = alloc, .first = *n};
    each_session(cal, from, to, collect_session, &c);
}

static bool found_session(int64_t start, int64_t end, void *arg)
{
    (void)start;
    (void)end;
    *(bool *)arg = true;
    return false;
}

bool calendar_expects(const struct calendar *cal, enum timeframe tf, int64_t open_time)
{
    bool any = false;
    each_session(cal, open_time, open_time + timeframe_seconds(tf), found_session, &any);
    return any;
}
