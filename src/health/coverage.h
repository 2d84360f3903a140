/* SPDX-License-Identifier: MIT */
#ifndef CK_HEALTH_COVERAGE_H
#define CK_HEALTH_COVERAGE_H

/*
 * The coverage map: for every configured series, how much of its history
 * is stored. Read by `candlekeep coverage` and GET /coverage.
 *
 * Per series: the first and last stored candle, the candles the calendar
 * expects between them and how many are stored (so the percentage
 * complete), the candles expected after the last one up to now (behind),
 * the open and unfillable gaps of the ledger with the candles they miss,
 * and the retention horizon (candles older are pruned).
 */
#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct candle_extent;
struct json_t;
struct source_settings;
struct store;
struct strbuf;

/* Which series to show: NULL strings and has_tf false mean "all". */
struct coverage_filter {
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
};

struct coverage_row {
    const char *source; /* borrowed from the sources given to coverage_build() */
    const char *symbol;
    enum timeframe tf;
    bool derived; /* built from a lower timeframe, not fetched */
    const char *calendar;
    int64_t stored;          /* candles stored */
    int64_t first, last;     /* open times; 0 when none is stored */
    int64_t expected;        /* candles the calendar expects in [first, last] */
    int64_t missing;         /* expected - stored, at least 0 */
    int64_t behind;          /* expected candles after `last` that are final at `now` */
    int64_t complete_bp;     /* stored / expected in hundredths of a percent (10000 = all) */
    int64_t open_gaps;       /* ledger records open or being repaired */
    int64_t open_missing;    /* candles they miss */
    int64_t unfillable_gaps; /* ledger records the venue never serves */
    int64_t unfillable_missing;
    int64_t keep;    /* retention in seconds; 0: kept forever */
    int64_t horizon; /* now - keep: older candles are pruned (when keep > 0) */
};

struct coverage {
    struct coverage_row *v;
    size_t n, alloc;
};
void coverage_release(struct coverage *c);

/*
 * The arithmetic of one row from the series' extent: expected, missing,
 * behind and complete_bp, by calendar `cal` at `now`. Pure.
 */
void coverage_measure(const struct calendar *cal, const struct candle_extent *ext, int64_t now,
                      struct coverage_row *row);

/*
 * Build the map of the series of `src[0..n)` (each symbol in each listed
 * or derived timeframe) that `f` selects, with `cals[i]` the calendar of
 * src[i] and `keep` the retention per timeframe (seconds, 0 = forever).
 * One extent query per series (store_candle_extent()) and one ledger
 * listing per gap state for them all. Returns 0 or CK_E* with the reason
 * in `err`; `out` is overwritten and must be released either way.
 */
int coverage_build(struct store *st, const struct source_settings *src, size_t n,
                   const struct calendar *const *cals, const int64_t keep[TF_COUNT],
                   const struct coverage_filter *f, int64_t now, struct coverage *out,
                   struct strbuf *err);

/*
 * The map as JSON: {"series": [{source, symbol, timeframe, derived,
 * calendar, first, last, stored, expected, missing, behind, complete
 * ("99.87", a string like prices), open_gaps, open_missing,
 * unfillable_gaps, unfillable_missing, retention, horizon}], "generated"}.
 * A new reference.
 */
struct json_t *coverage_json(const struct coverage *c, int64_t now);

/* A retention in seconds as the configuration writes it ("90d", "12h"); 0: "forever". */
void coverage_format_retention(int64_t keep, char *buf, size_t len);

/* complete_bp as text: "99.87". */
void coverage_format_percent(int64_t bp, char *buf, size_t len);

#endif
