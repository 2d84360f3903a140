/* SPDX-License-Identifier: MIT */
/*
 * The coverage map (see coverage.h).
 *
 * Cost. A series costs one statement, store_candle_extent(): count, min
 * and max over the primary key's range, answered by the database without
 * a candle row coming into the program. What the calendar expects between
 * the first and the last candle is counted per trading session
 * (gaps_count_expected()), not per candle, so ten series of a million
 * candles each take about as long as the database needs for the counts.
 * The gap ledger is listed once per state for all the series together.
 *
 * Arithmetic. `expected` counts the candles the calendar expects with open
 * time in [first, last]; `stored` may exceed it when a venue sent a candle
 * in hours the calendar calls closed, so `missing` is clamped at zero and
 * the percentage at 100. The candles after the last one are not missing
 * from the history but not fetched yet: they are `behind`, apart.
 */
#include "health/coverage.h"

#include "market/calendar.h"
#include "market/gaps.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void coverage_release(struct coverage *c)
{
    free(c->v);
    memset(c, 0, sizeof(*c));
}

void coverage_measure(const struct calendar *cal, const struct candle_extent *ext, int64_t now,
                      struct coverage_row *row)
{
    int64_t len = timeframe_seconds(row->tf);
    int64_t final_end = timeframe_floor(row->tf, now); /* open times before it are final */

    row->stored = ext->count;
    row->first = ext->count ? ext->first : 0;
    row->last = ext->count ? ext->last : 0;
    row->expected = row->missing = row->behind = row->complete_bp = 0;
    if (!ext->count)
        return;
    row->expected = gaps_count_expected(cal, row->tf, ext->first, ext->last + len);
    row->missing = row->expected > ext->count ? row->expected - ext->count : 0;
    if (ext->last + len < final_end)
        row->behind = gaps_count_expected(cal, row->tf, ext->last + len, final_end);
    if (!row->expected || !row->missing)
        row->complete_bp = 10000;
    else
        /* Rounded down: 99.999% of a million candles is not 100%. */
        row->complete_bp = (row->expected - row->missing) * 10000 / row->expected;
}

void coverage_format_percent(int64_t bp, char *buf, size_t len)
{
    int bounded = (int)(bp < 0 ? 0 : bp > 10000 ? 10000 : bp);

    snprintf(buf, len, "%d.%02d", bounded / 100, bounded % 100);
}

static bool selected(const struct coverage_filter *f, const char *source, const char *symbol,
                     enum timeframe tf)
{
    return (!f->source || !strcmp(f->source, source)) &&
           (!f->symbol || !strcmp(f->symbol, symbol)) && (!f->has_tf || f->tf == tf);
}

/* The timeframes of `src` in the map: listed or derived, shortest first. */
static size_t series_timeframes(const struct source_settings *src, enum timeframe out[TF_COUNT])
{
    bool on[TF_COUNT] = {0};
    size_t n = 0;

    for (size_t i = 0; i < src->ntimeframes; i++)
        on[src->timeframes[i]] = true;
    for (int tf = 0; tf < TF_COUNT; tf++)
        if (on[tf] || src->derive.derived[tf])
            out[n++] = (enum timeframe)tf;
    return n;
}

static struct coverage_row *find_row(struct coverage *c, const struct gap_record *g)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].tf == g->tf && !strcmp(c->v[i].source, g->source) &&
            !strcmp(c->v[i].symbol, g->symbol))
            return &c->v[i];
    return NULL;
}

/* Add the ledger's records in `state` to the rows they belong to. */
static int add_gaps(struct store *st, const struct coverage_filter *f, enum gap_state state,
                    struct coverage *c, struct strbuf *err)
{
    struct gap_query q = {
        .source = f->source,
        .symbol = f->symbol,
        .has_tf = f->has_tf,
        .tf = f->tf,
        .has_state = true,
        .state = state,
    };
    struct gap_record *g = NULL;
    size_t n = 0;
    int rc = store_list_gaps(st, &q, &g, &n, err);

    for (size_t i = 0; !rc && i < n; i++) {
        struct coverage_row *row = find_row(c, &g[i]);
        if (!row)
            continue; /* a series no longer configured */
        if (state == GAP_UNFILLABLE) {
            row->unfillable_gaps++;
            row->unfillable_missing += g[i].count;
        } else {
            row->open_gaps++;
            row->open_missing += g[i].count;
        }
    }
    gap_records_free(g, n);
    return rc;
}

int coverage_build(struct store *st, const struct source_settings *src, size_t n,
                   const struct calendar *const *cals, const int64_t keep[TF_COUNT],
                   const struct coverage_filter *f, int64_t now, struct coverage *out,
                   struct strbuf *err)
{
    static const enum gap_state states[] = {GAP_OPEN, GAP_REPAIRING, GAP_UNFILLABLE};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n && !rc; i++) {
        enum timeframe tfs[TF_COUNT];
        size_t ntf = series_timeframes(&src[i], tfs);

        for (size_t s = 0; s < src[i].nsymbols && !rc; s++) {
            for (size_t t = 0; t < ntf && !rc; t++) {
                struct candle_query q = {
                    .series = {.source = src[i].name, .symbol = src[i].symbols[s], .tf = tfs[t]}};
                struct candle_extent ext;
                struct coverage_row *row;

                if (!selected(f, q.series.source, q.series.symbol, tfs[t]))
                    continue;
                rc = store_candle_extent(st, &q, &ext, err);
                if (rc)
                    break;
                ALLOC_GROW(out->v, out->n + 1, out->alloc);
                row = &out->v[out->n++];
                *row = (struct coverage_row){
                    .source = src[i].name,
                    .symbol = src[i].symbols[s],
                    .tf = tfs[t],
                    .derived = src[i].derive.derived[tfs[t]],
                    .calendar = calendar_kind_name(src[i].calendar),
                    .keep = keep[tfs[t]],
                    .horizon = keep[tfs[t]] ? now - keep[tfs[t]] : 0,
                };
                coverage_measure(cals[i], &ext, now, row);
            }
        }
    }
    for (size_t k = 0; k < sizeof(states) / sizeof(states[0]) && !rc; k++)
        rc = add_gaps(st, f, states[k], out, err);
    return rc;
}

void coverage_format_retention(int64_t s, char *buf, size_t len)
{
    if (!s)
        snprintf(buf, len, "forever");
    else if (s % 86400 == 0)
        snprintf(buf, len, "%" PRId64 "d", s / 86400);
    else if (s % 3600 == 0)
        snprintf(buf, len, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, len, "%" PRId64 "s", s);
}

static json_t *time_or_null(bool has, int64_t t)
{
    char buf[TIME_BUFSZ];

    if (!has)
        return json_null();
    time_format_iso8601(t, buf);
    return json_string(buf);
}

json_t *coverage_json(const struct coverage *c, int64_t now)
{
    json_t *series = json_array();

    for (size_t i = 0; i < c->n; i++) {
        const struct coverage_row *r = &c->v[i];
        char pct[32], keep[32];
        json_t *o;

        coverage_format_percent(r->complete_bp, pct, sizeof(pct));
        coverage_format_retention(r->keep, keep, sizeof(keep));
        o = json_pack(
            "{s:s, s:s, s:s, s:b, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "source", r->source,
            "symbol", r->symbol, "timeframe", timeframe_name(r->tf), "derived", r->derived,
            "calendar", r->calendar, "first", time_or_null(r->stored > 0, r->first), "last",
            time_or_null(r->stored > 0, r->last), "stored", (json_int_t)r->stored, "expected",
            (json_int_t)r->expected, "missing", (json_int_t)r->missing, "behind",
            (json_int_t)r->behind, "complete", r->stored ? json_string(pct) : json_null());
        json_object_set_new_nocheck(o, "open_gaps", json_integer(r->open_gaps));
        json_object_set_new_nocheck(o, "open_missing", json_integer(r->open_missing));
        json_object_set_new_nocheck(o, "unfillable_gaps", json_integer(r->unfillable_gaps));
        json_object_set_new_nocheck(o, "unfillable_missing", json_integer(r->unfillable_missing));
        json_object_set_new_nocheck(o, "retention", r->keep ? json_string(keep) : json_null());
        json_object_set_new_nocheck(o, "horizon", time_or_null(r->keep > 0, r->horizon));
        json_array_append_new(series, o);
    }
    return json_pack("{s:o, s:o}", "generated", time_or_null(true, now), "series", series);
}
