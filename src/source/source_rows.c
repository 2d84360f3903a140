/* SPDX-License-Identifier: MIT */
/*
 * Rows of strings, the shape several crypto venues answer candles in: a
 * JSON array per candle, [open time in Unix milliseconds, open, high, low,
 * close, volume, ...], every value a JSON string (Bybit, OKX). The
 * adapters that receive them share this reader, so a price is read one
 * way (market/price.h: the string's exact decimal text, never a double),
 * a bad row is described one way, and every row's open time is checked
 * against the timeframe the same way.
 *
 * Volumes may carry more decimals than a price holds; the ones past the
 * eighth are dropped (a volume is a measure, not a price that must
 * round-trip). Anything else that does not read as a positive decimal
 * rejects the row, and the adapter rejects the whole answer with it.
 */
#include "source/source_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/jsonutil.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Longest value quoted in a message. */
#define ROW_VALUE_MAX 40

static const char *const row_fields[] = {"open time", "open", "high", "low", "close", "volume"};

static void add_label(struct strbuf *why, size_t idx, int64_t open_time, bool known)
{
    if (known) {
        char t[TIME_BUFSZ];
        time_format_iso8601(open_time, t);
        strbuf_addf(why, "row %s: ", t);
    } else {
        strbuf_addf(why, "row #%zu: ", idx + 1);
    }
}

/* The string at row[i], or NULL with the reason appended after the label. */
static const char *field_string(json_t *row, size_t i, size_t *len, struct strbuf *why)
{
    json_t *v = json_array_get(row, i);

    if (!json_is_string(v)) {
        strbuf_addf(why, "%s is %s, not a string", row_fields[i], json_type_name(v));
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

static int parse_decimal(json_t *row, size_t i, int64_t *out, struct strbuf *why)
{
    bool is_volume = i == 5;
    const char *s;
    size_t len, used;
    int rc;

    s = field_string(row, i, &len, why);
    if (!s)
        return CK_EPARSE;
    used = len;
    if (is_volume) {
        const char *dot = memchr(s, '.', len);
        if (dot && (size_t)(s + len - dot - 1) > PRICE_DECIMALS) {
            bool digits = true;
            for (const char *q = dot + 1; q < s + len; q++)
                digits = digits && isdigit((unsigned char)*q);
            if (digits)
                used = (size_t)(dot - s) + 1 + PRICE_DECIMALS;
        }
    }
    rc = price_parse(s, used, out);
    if (!rc && (is_volume ? *out < 0 : *out <= 0))
        rc = 1;
    if (!rc)
        return 0;
    strbuf_addf(why, "%s '", row_fields[i]);
    strbuf_add_excerpt(why, s, len, ROW_VALUE_MAX, false);
    strbuf_addf(why, "' %s",
                rc == CK_ELIMIT ? "is out of range"
                : rc == 1       ? (is_volume ? "is negative" : "is not positive")
                                : "is not a decimal");
    return CK_EPARSE;
}

int source_row_parse(struct json_t *row, size_t idx, size_t min_fields, enum timeframe tf,
                     struct candle *out, struct strbuf *why)
{
    struct candle c = {0};
    int64_t *values[] = {&c.open, &c.high, &c.low, &c.close, &c.volume};
    struct strbuf reason = STRBUF_INIT;
    bool known = false;
    const char *s;
    size_t len;
    int64_t ms;
    int rc = CK_EPARSE;

    if (min_fields < ARRAY_SIZE(row_fields))
        BUG("a row of candles has at least %zu fields", ARRAY_SIZE(row_fields));
    if (!json_is_array(row)) {
        strbuf_addf(&reason, "is %s, not an array", json_type_name(row));
        goto out;
    }
    if (json_array_size(row) < min_fields) {
        strbuf_addf(&reason, "has %zu fields, not %zu", json_array_size(row), min_fields);
        goto out;
    }
    s = field_string(row, 0, &len, &reason);
    if (!s)
        goto out;
    if (len > 20 || parse_int64(s, 0, INT64_MAX, &ms) || ms % 1000) {
        strbuf_addstr(&reason, "open time '");
        strbuf_add_excerpt(&reason, s, len, ROW_VALUE_MAX, false);
        strbuf_addstr(&reason, "' is not a whole second in Unix milliseconds");
        goto out;
    }
    /* From here on the row is named by its time rather than its position. */
    c.open_time = ms / 1000;
    known = true;
    if (!timeframe_is_aligned(tf, c.open_time)) {
        strbuf_addf(&reason, "open time is not aligned to %s", timeframe_name(tf));
        goto out;
    }
    for (size_t f = 0; f < ARRAY_SIZE(values); f++)
        if (parse_decimal(row, f + 1, values[f], &reason))
            goto out;
    c.has_volume = true;
    *out = c;
    rc = 0;
out:
    if (rc) {
        add_label(why, idx, c.open_time, known);
        strbuf_addbuf(why, &reason);
    }
    strbuf_release(&reason);
    return rc;
}

static int cmp_open_time(const void *a, const void *b)
{
    const struct candle *x = a, *y = b;
    return (x->open_time > y->open_time) - (x->open_time < y->open_time);
}

int source_rows_sort(struct candle_vec *cv, struct strbuf *why)
{
    if (cv->n > 1)
        qsort(cv->v, cv->n, sizeof(*cv->v), cmp_open_time);
    for (size_t i = 1; i < cv->n; i++) {
        if (cv->v[i].open_time == cv->v[i - 1].open_time) {
            add_label(why, i, cv->v[i].open_time, true);
            strbuf_addstr(why, "open time appears twice");
            return CK_EPARSE;
        }
    }
    return 0;
}
