/* SPDX-License-Identifier: MIT */
/*
 * The CSV candle parser (see csv_import.h for the formats it reads).
 *
 * One pass over the bytes: a line is found with memchr(), split into cells
 * in place (a cell is a pointer and a length into the caller's buffer, so
 * nothing is copied), and the cells the format names are parsed straight
 * into a candle: times as digits or ISO 8601, prices with price_parse(),
 * never through a double. The first problem stops the parse with its line,
 * column and cell; the caller then stores nothing.
 *
 * Duplicates. Files are nearly always in time order, so a running "newer
 * than the previous row" check finds a repeated time on the spot. Once a
 * row goes back in time the file is out of order, and the check is made at
 * the end instead, on the open times sorted with their line numbers (kept
 * for every candle for this purpose); the offending line is then read again
 * to show its cell.
 */
#include "source/csv_import.h"

#include "market/candle.h"
#include "market/price.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

/* Cells of a line beyond this many are an error (Binance has 12). */
#define CSV_MAX_COLUMNS 64
/* Bytes of a cell shown in an error. */
#define CSV_VALUE_MAX 40
/* Lines between progress reports. */
#define CSV_PROGRESS_EVERY 65536
/* Unix times from this value up are milliseconds (generic files), ... */
#define CSV_MS_FROM 100000000000LL
/* ... and from this one up microseconds (both formats). */
#define CSV_US_FROM 100000000000000LL
/* 9999-12-31T23:59:59Z: later open times are refused as out of range. */
#define CSV_TIME_MAX    253402300799LL
#define BINANCE_COLUMNS 12

static const char *const binance_names[BINANCE_COLUMNS] = {
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
};

/* Names a generic header may give its time column. */
static const char *const time_names[] = {"time", "timestamp", "date", "datetime", "open_time"};

enum field { F_TIME, F_OPEN, F_HIGH, F_LOW, F_CLOSE, F_VOLUME, F_CLOSE_TIME, F_COUNT };
static const char *const field_names[F_COUNT] = {"time",  "open",   "high",      "low",
                                                 "close", "volume", "close_time"};

struct cell {
    const char *p;
    size_t len;
};

struct parser {
    const char *buf, *end, *pos;
    const struct csv_import_opts *o;
    struct csv_import_error *err;
    enum csv_format format;
    size_t line;      /* number of the line in `cells` */
    struct cell text; /* that line */
    struct cell cells[CSV_MAX_COLUMNS];
    size_t ncells;
    size_t ncolumns;  /* cells every row must have */
    int col[F_COUNT]; /* cell index of each field; -1: absent */
    char names[CSV_MAX_COLUMNS][sizeof(((struct csv_import_error *)0)->column_name)];
    uint32_t *lines; /* line of each candle */
    size_t lines_alloc;
};

int csv_format_parse(const char *name, enum csv_format *out)
{
    static const struct {
        const char *name;
        enum csv_format f;
    } table[] = {{"auto", CSV_AUTO}, {"binance", CSV_BINANCE}, {"generic", CSV_GENERIC}};

    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        if (!strcasecmp(name, table[i].name)) {
            *out = table[i].f;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *csv_format_name(enum csv_format f)
{
    switch (f) {
    case CSV_AUTO:
        return "auto";
    case CSV_BINANCE:
        return "binance";
    case CSV_GENERIC:
        return "generic";
    }
    BUG("csv: format %d", (int)f);
}

void csv_import_error_release(struct csv_import_error *e)
{
    strbuf_release(&e->value);
    strbuf_release(&e->reason);
    e->problem = CSV_OK;
    e->line = e->column = 0;
    e->column_name[0] = '\0';
}

void csv_import_error_format(const struct csv_import_error *e, const char *file, struct strbuf *out)
{
    strbuf_addstr(out, file);
    if (e->line)
        strbuf_addf(out, ":%zu", e->line);
    strbuf_addstr(out, ": ");
    if (e->column) {
        strbuf_addf(out, "column %zu", e->column);
        if (e->column_name[0])
            strbuf_addf(out, " (%s)", e->column_name);
        strbuf_addch(out, ' ');
    }
    if (e->column || e->value.len)
        strbuf_addf(out, "'%s': ", e->value.buf);
    strbuf_addbuf(out, &e->reason);
}

void csv_import_result_release(struct csv_import_result *r)
{
    candle_vec_release(&r->candles);
    r->header = false;
    r->lines = 0;
    r->first = r->last = 0;
}

/*
 * Record a problem with cell `ci` of the current line (ci < 0: the whole
 * line, shown as the value; none on line 0). Returns CK_EPARSE.
 */
static int fail(struct parser *p, enum csv_problem k, int ci, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct parser *p, enum csv_problem k, int ci, const char *fmt, ...)
{
    struct csv_import_error *e = p->err;
    va_list ap;

    e->problem = k;
    e->line = p->line;
    e->column = ci >= 0 ? (size_t)ci + 1 : 0;
    e->column_name[0] = '\0';
    strbuf_reset(&e->value);
    strbuf_reset(&e->reason);
    if (ci >= 0) {
        memcpy(e->column_name, p->names[ci], sizeof(e->column_name));
        strbuf_add_excerpt(&e->value, p->cells[ci].p, p->cells[ci].len, CSV_VALUE_MAX, false);
    } else if (p->line) {
        strbuf_add_excerpt(&e->value, p->text.p, p->text.len, CSV_VALUE_MAX * 2, false);
    }
    va_start(ap, fmt);
    strbuf_vaddf(&e->reason, fmt, ap);
    va_end(ap);
    return CK_EPARSE;
}

/*
 * The next line into [*out, *out + *len), its line end (LF or CRLF) not
 * included; false at the end of the buffer.
 */
static bool next_line(struct parser *p, const char **out, size_t *len)
{
    const char *s = p->pos, *nl;

    if (s >= p->end)
        return false;
    nl = memchr(s, '\n', (size_t)(p->end - s));
    if (!nl)
        nl = p->end;
    p->pos = nl < p->end ? nl + 1 : nl;
    p->line++;
    *out = s;
    *len = (size_t)(nl - s);
    if (*len && s[*len - 1] == '\r')
        (*len)--;
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool line_is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank(s[i]))
            return false;
    return true;
}

/*
 * Split a line into p->cells: cells are separated by commas, trimmed of
 * blanks; a cell that starts with a double quote runs to the next quote
 * (its content is the cell; a doubled quote inside is not supported, no
 * field of a candle needs one).
 */
static int split(struct parser *p, const char *s, size_t len)
{
    const char *q = s, *end = s + len;

    p->ncells = 0;
    p->text = (struct cell){s, len};
    for (;;) {
        struct cell c;
        size_t rest;
        while (q < end && is_blank(*q))
            q++;
        rest = (size_t)(end - q); /* q never passes end */
        if (rest && *q == '"') {
            const char *close = memchr(q + 1, '"', rest - 1);
            if (!close)
                return fail(p, CSV_BAD_ROW, -1, "the quote opening column %zu is not closed",
                            p->ncells + 1);
            c = (struct cell){q + 1, (size_t)(close - q - 1)};
            q = close + 1;
            while (q < end && is_blank(*q))
                q++;
            if (q < end && *q != ',')
                return fail(p, CSV_BAD_ROW, -1, "text after the closing quote of column %zu",
                            p->ncells + 1);
        } else {
            const char *comma = rest ? memchr(q, ',', rest) : NULL;
            const char *e = comma ? comma : end;
            c.p = q;
            while (e > q && is_blank(e[-1]))
                e--;
            c.len = (size_t)(e - q);
            q = comma ? comma : end;
        }
        if (p->ncells == CSV_MAX_COLUMNS)
            return fail(p, CSV_BAD_ROW, -1, "more than %d columns", CSV_MAX_COLUMNS);
        p->cells[p->ncells++] = c;
        if (q >= end)
            return 0;
        q++; /* the comma */
    }
}

static bool all_digits(const struct cell *c)
{
    if (!c->len)
        return false;
    for (size_t i = 0; i < c->len; i++)
        if (c->p[i] < '0' || c->p[i] > '9')
            return false;
    return true;
}

static bool cell_is(const struct cell *c, const char *name)
{
    return strlen(name) == c->len && !strncasecmp(c->p, name, c->len);
}

/* Digits to a non-negative integer; false when not all digits or past INT64_MAX. */
static bool parse_digits(const struct cell *c, int64_t *out)
{
    uint64_t v = 0;

    if (!c->len || c->len > 19)
        return false;
    for (size_t i = 0; i < c->len; i++) {
        unsigned d = (unsigned)(c->p[i] - '0');
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

/* A Binance time (ms or µs) to seconds; `*unit` gets its units per second. */
static int binance_time(struct parser *p, int ci, int64_t *out, int64_t *unit)
{
    const struct cell *c = &p->cells[ci];
    int64_t v;

    if (!parse_digits(c, &v))
        return fail(p, CSV_BAD_VALUE, ci, "%s",
                    all_digits(c) ? "is out of range"
                                  : "is not a Unix time in milliseconds or microseconds");
    *unit = v >= CSV_US_FROM ? 1000000 : 1000;
    if (v % *unit)
        return fail(p, CSV_INVALID, ci, "is not on a whole second (%s)",
                    *unit == 1000 ? "milliseconds" : "microseconds");
    *out = v / *unit;
    if (*out > CSV_TIME_MAX)
        return fail(p, CSV_BAD_VALUE, ci, "is out of range");
    return 0;
}

/* A generic time: ISO 8601, or Unix seconds, milliseconds or microseconds. */
static int generic_time(struct parser *p, int ci, int64_t *out)
{
    const struct cell *c = &p->cells[ci];
    int64_t v, unit;

    if (all_digits(c)) {
        if (!parse_digits(c, &v))
            return fail(p, CSV_BAD_VALUE, ci, "is out of range");
        unit = v >= CSV_US_FROM ? 1000000 : v >= CSV_MS_FROM ? 1000 : 1;
        if (v % unit)
            return fail(p, CSV_INVALID, ci, "is not on a whole second (%s)",
                        unit == 1000 ? "milliseconds" : "microseconds");
        v /= unit;
    } else if (c->len < 10 || time_parse_n(c->p, c->len, &v)) {
        return fail(p, CSV_BAD_VALUE, ci,
                    "is not a time (ISO 8601 such as 2024-01-02T15:00:00Z, a date, or Unix "
                    "seconds or milliseconds)");
    }
    if (v < 0 || v > CSV_TIME_MAX)
        return fail(p, CSV_BAD_VALUE, ci, "is out of range");
    *out = v;
    return 0;
}

/* A price (> 0 is checked by validation) or a volume (>= 0; decimals past 8 dropped). */
static int parse_decimal(struct parser *p, int ci, bool is_volume, int64_t *out)
{
    const struct cell *c = &p->cells[ci];
    size_t len = c->len;
    int rc;

    if (!len)
        return fail(p, CSV_BAD_VALUE, ci, "is empty");
    if (is_volume) {
        const char *dot = memchr(c->p, '.', len);
        if (dot && (size_t)(c->p + len - dot - 1) > PRICE_DECIMALS) {
            bool digits = true;
            for (const char *q = dot + 1; q < c->p + len; q++)
                digits = digits && *q >= '0' && *q <= '9';
            if (digits)
                len = (size_t)(dot - c->p) + 1 + PRICE_DECIMALS;
        }
    }
    rc = price_parse(c->p, len, out);
    if (rc == CK_ELIMIT)
        return fail(p, CSV_BAD_VALUE, ci, "is out of range (at most 92233720368.54775807)");
    if (rc)
        return fail(p, CSV_BAD_VALUE, ci, "is not a decimal number%s",
                    is_volume ? "" : " with at most 8 decimals");
    if (is_volume && *out < 0)
        return fail(p, CSV_INVALID, ci, "volume is negative");
    return 0;
}

/* The timeframe whose period is `seconds`, or NULL. */
static const char *timeframe_of_period(int64_t seconds)
{
    for (int tf = 0; tf < TF_COUNT; tf++)
        if (timeframe_seconds((enum timeframe)tf) == seconds)
            return timeframe_name((enum timeframe)tf);
    return NULL;
}

/*
 * Binance's close_time is the last unit of the period: open + period - 1.
 * Another value means the file is of another timeframe (said when known).
 */
static int check_close_time(struct parser *p, const struct candle *c, int64_t unit)
{
    int ci = p->col[F_CLOSE_TIME];
    int64_t ct, period = timeframe_seconds(p->o->tf);

    if (!parse_digits(&p->cells[ci], &ct))
        return fail(p, CSV_BAD_VALUE, ci, "is not a Unix time in the open time's units");
    if (ct == (c->open_time + period) * unit - 1)
        return 0;
    int64_t span = ct + 1 - c->open_time * unit;
    const char *tf = span > 0 && span % unit == 0 ? timeframe_of_period(span / unit) : NULL;
    if (tf)
        return fail(p, CSV_INVALID, ci,
                    "the candle spans %s, not %s: the file is of another "
                    "timeframe",
                    tf, timeframe_name(p->o->tf));
    return fail(p, CSV_INVALID, ci, "is not the end of the %s period opening at the open time",
                timeframe_name(p->o->tf));
}

/* The cell index of the field candle_validate() names first in `why`. */
static int column_of_reason(const struct parser *p, const struct strbuf *why)
{
    static const enum field order[] = {F_OPEN, F_HIGH, F_LOW, F_CLOSE, F_VOLUME};

    if (strbuf_starts_with(why, "open time"))
        return p->col[F_TIME];
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        size_t n = strlen(field_names[order[i]]);
        if (!strncmp(why->buf, field_names[order[i]], n) && why->buf[n] == ' ')
            return p->col[order[i]];
    }
    return -1;
}

/* Parse and check the row in p->cells into `c`. */
static int parse_row(struct parser *p, struct candle *c)
{
    static const enum field prices[] = {F_OPEN, F_HIGH, F_LOW, F_CLOSE};
    int64_t *dst[] = {&c->open, &c->high, &c->low, &c->close};
    int64_t unit = 1;
    int rc;

    if (p->ncells != p->ncolumns)
        return fail(p, CSV_BAD_ROW, -1, "the line has %zu columns, not %zu", p->ncells,
                    p->ncolumns);
    memset(c, 0, sizeof(*c));
    rc = p->format == CSV_BINANCE ? binance_time(p, p->col[F_TIME], &c->open_time, &unit)
                                  : generic_time(p, p->col[F_TIME], &c->open_time);
    if (rc)
        return rc;
    for (size_t i = 0; i < ARRAY_SIZE(prices); i++)
        if ((rc = parse_decimal(p, p->col[prices[i]], false, dst[i])))
            return rc;
    if (p->col[F_VOLUME] >= 0 && (p->format == CSV_BINANCE || p->cells[p->col[F_VOLUME]].len)) {
        if ((rc = parse_decimal(p, p->col[F_VOLUME], true, &c->volume)))
            return rc;
        c->has_volume = true;
    }
    if (p->col[F_CLOSE_TIME] >= 0 && (rc = check_close_time(p, c, unit)))
        return rc;

    struct strbuf why = STRBUF_INIT;
    if (!candle_validate(c, p->o->tf, &why))
        rc = fail(p, CSV_INVALID, column_of_reason(p, &why), "%s", why.buf);
    strbuf_release(&why);
    if (rc)
        return rc;
    if (!candle_is_final(c, p->o->tf, p->o->now)) {
        char closes[TIME_BUFSZ], now[TIME_BUFSZ];
        time_format_iso8601(c->open_time + timeframe_seconds(p->o->tf), closes);
        time_format_iso8601(p->o->now, now);
        return fail(p, CSV_FORMING, p->col[F_TIME],
                    "the candle is still forming (it closes at %s, now is %s)", closes, now);
    }
    return 0;
}

static void set_name(struct parser *p, size_t i, const char *s, size_t len)
{
    size_t max = sizeof(p->names[i]) - 1;
    if (len > max)
        len = max;
    memcpy(p->names[i], s, len);
    p->names[i][len] = '\0';
}

static void setup_binance(struct parser *p)
{
    p->format = CSV_BINANCE;
    p->ncolumns = BINANCE_COLUMNS;
    for (size_t i = 0; i < BINANCE_COLUMNS; i++)
        set_name(p, i, binance_names[i], strlen(binance_names[i]));
    for (int f = 0; f < F_COUNT; f++)
        p->col[f] = f; /* Binance's first seven columns are the fields, in order */
}

/* Map a generic header (in p->cells) to the fields. */
static int setup_generic(struct parser *p)
{
    struct strbuf missing = STRBUF_INIT;

    p->format = CSV_GENERIC;
    p->ncolumns = p->ncells;
    for (int f = 0; f < F_COUNT; f++)
        p->col[f] = -1;
    for (size_t i = 0; i < p->ncells; i++) {
        const struct cell *c = &p->cells[i];
        int f = -1;
        set_name(p, i, c->p, c->len);
        for (size_t k = 0; k < ARRAY_SIZE(time_names) && f < 0; k++)
            if (cell_is(c, time_names[k]))
                f = F_TIME;
        for (int k = F_OPEN; k <= F_VOLUME && f < 0; k++)
            if (cell_is(c, field_names[k]))
                f = k;
        if (f < 0)
            continue; /* a column candlekeep does not keep */
        if (p->col[f] >= 0)
            return fail(p, CSV_BAD_HEADER, (int)i, "a second %s column (column %d is one)",
                        field_names[f], p->col[f] + 1);
        p->col[f] = (int)i;
    }
    for (int f = F_TIME; f <= F_CLOSE; f++)
        if (p->col[f] < 0)
            strbuf_addf(&missing, "%s%s", missing.len ? ", " : "", field_names[f]);
    if (missing.len) {
        fail(p, CSV_BAD_HEADER, -1,
             "the header lacks %s (a generic CSV names time, open, high, low, close and "
             "optionally volume)",
             missing.buf);
        strbuf_release(&missing);
        return CK_EPARSE;
    }
    strbuf_release(&missing);
    return 0;
}

/*
 * Decide the format from the first non-blank line (in p->cells) and whether
 * it is a header. *is_header is set.
 */
static int setup_format(struct parser *p, bool *is_header)
{
    bool numeric = all_digits(&p->cells[0]);
    bool binance_header = cell_is(&p->cells[0], "open_time") && p->ncells == BINANCE_COLUMNS;
    enum csv_format f = p->o->format;

    for (size_t i = 0; i < p->ncells; i++)
        p->names[i][0] = '\0';
    if (f == CSV_AUTO) {
        if (p->ncells == BINANCE_COLUMNS && (numeric || binance_header))
            f = CSV_BINANCE;
        else if (numeric)
            return fail(p, CSV_BAD_HEADER, -1,
                        "cannot tell the format: the line has %zu columns and no header (a "
                        "Binance kline row has 12; a generic CSV starts with a header naming "
                        "time, open, high, low, close)",
                        p->ncells);
        else
            f = CSV_GENERIC;
    }
    if (f == CSV_BINANCE) {
        setup_binance(p);
        *is_header = cell_is(&p->cells[0], "open_time");
        if (*is_header && p->ncells != BINANCE_COLUMNS)
            return fail(p, CSV_BAD_HEADER, -1, "the header has %zu columns, not Binance's 12",
                        p->ncells);
        return 0;
    }
    *is_header = true;
    if (numeric)
        return fail(p, CSV_BAD_HEADER, 0,
                    "a generic CSV starts with a header naming time, open, high, low, close "
                    "(and optionally volume)");
    return setup_generic(p);
}

struct time_line {
    int64_t t;
    uint32_t line;
};

static int cmp_time_line(const void *a, const void *b)
{
    const struct time_line *x = a, *y = b;
    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return (x->line > y->line) - (x->line < y->line);
}

/* Read line `n` again into p->cells (it was split without error once). */
static void reread_line(struct parser *p, size_t n)
{
    const char *s;
    size_t len;

    p->pos = p->buf;
    p->line = 0;
    while (next_line(p, &s, &len) && p->line < n)
        ;
    split(p, s, len);
}

/* The duplicate check of an out-of-order file (see the top of the file). */
static int check_duplicates(struct parser *p, const struct candle_vec *cv)
{
    struct time_line *v = xmalloc(cv->n * sizeof(*v));
    size_t dup = 0, first = 0;

    for (size_t i = 0; i < cv->n; i++)
        v[i] = (struct time_line){cv->v[i].open_time, p->lines[i]};
    qsort(v, cv->n, sizeof(*v), cmp_time_line);
    for (size_t i = 1; i < cv->n; i++) {
        if (v[i].t == v[i - 1].t && (!dup || v[i].line < dup)) {
            dup = v[i].line;
            first = v[i - 1].line;
        }
    }
    free(v);
    if (!dup)
        return 0;
    reread_line(p, dup);
    return fail(p, CSV_DUPLICATE, p->col[F_TIME], "the same open time is on line %zu", first);
}

static void keep(struct parser *p, struct csv_import_result *out, const struct candle *c)
{
    struct candle_vec *cv = &out->candles;

    ALLOC_GROW(cv->v, cv->n + 1, cv->alloc);
    ALLOC_GROW(p->lines, cv->n + 1, p->lines_alloc);
    cv->v[cv->n] = *c;
    p->lines[cv->n] = (uint32_t)p->line;
    cv->n++;
}

int csv_import_parse(const char *buf, size_t len, const struct csv_import_opts *o,
                     struct csv_import_result *out, struct csv_import_error *err)
{
    struct parser *p = xcalloc(1, sizeof(*p));
    bool header = false, have_row, sorted = true;
    size_t llen = 0;
    const char *l = NULL;
    int rc = 0;

    if (out->candles.n)
        BUG("csv: the result is not empty");
    p->buf = p->pos = buf;
    p->end = buf + len;
    p->o = o;
    p->err = err;
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        p->pos += 3;

    while ((have_row = next_line(p, &l, &llen)) && line_is_blank(l, llen))
        ;
    if (!have_row) {
        p->line = 0;
        rc = fail(p, CSV_EMPTY, -1, "the file holds no candles");
        goto out;
    }
    if ((rc = split(p, l, llen)) || (rc = setup_format(p, &header)))
        goto out;
    out->format = p->format;
    out->header = header;
    if (header)
        have_row = false;

    for (;;) {
        struct candle c;
        if (!have_row) {
            if (!next_line(p, &l, &llen))
                break;
            if (line_is_blank(l, llen))
                continue;
            if (p->line > UINT32_MAX) {
                rc = fail(p, CSV_TOO_MANY, -1, "more than %u lines", (unsigned)UINT32_MAX);
                goto out;
            }
            if ((rc = split(p, l, llen)))
                goto out;
        }
        have_row = false;
        if ((rc = parse_row(p, &c)))
            goto out;
        if (out->candles.n) {
            int64_t prev = out->candles.v[out->candles.n - 1].open_time;
            if (c.open_time == prev && sorted) {
                rc = fail(p, CSV_DUPLICATE, p->col[F_TIME], "the same open time is on line %u",
                          p->lines[out->candles.n - 1]);
                goto out;
            }
            sorted = sorted && c.open_time > prev;
            if (c.open_time < out->first)
                out->first = c.open_time;
            if (c.open_time > out->last)
                out->last = c.open_time;
        } else {
            out->first = out->last = c.open_time;
        }
        keep(p, out, &c);
        if (o->progress && p->line % CSV_PROGRESS_EVERY == 0)
            o->progress(o->progress_arg, (size_t)(p->pos - buf), len);
    }
    out->lines = p->line;
    if (!out->candles.n) {
        p->line = 0;
        rc = fail(p, CSV_EMPTY, -1, "the file holds no candles, only a header");
        goto out;
    }
    if (!sorted && (rc = check_duplicates(p, &out->candles)))
        goto out;
    if (o->progress)
        o->progress(o->progress_arg, len, len);

out:
    if (rc) {
        csv_import_result_release(out);
        out->format = CSV_AUTO;
    }
    free(p->lines);
    free(p);
    return rc;
}
