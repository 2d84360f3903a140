/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_RESAMPLE_H
#define CK_MARKET_RESAMPLE_H

/*
 * Derived timeframes: building candles of a higher timeframe from stored
 * candles of a lower one, by the series' trading calendar.
 *
 * A derived candle covers a bucket of time: H4 and D1 are the fixed UTC
 * periods (D1 starts at 00:00 UTC); W1 starts on Monday 00:00 UTC for
 * crypto, and for forex and metals at the calendar's weekly open (Sunday
 * 17:00 New York), with the open time of the Monday 00:00 UTC that follows
 * as its label (the week's candle is aligned like every stored W1 candle).
 *
 * A derived candle exists only when its bucket has closed and every lower
 * candle the calendar expects in it is present: a hole in the lower
 * timeframe gives no candle, never a wrong one. Values are exact (scaled
 * integers, market/price.h): the open of the first lower candle, the close
 * of the last, the highest high, the lowest low and the sum of the volumes
 * (no volume when a lower candle has none).
 */
#include "market/calendar.h"
#include "market/candle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * Can candles of `lower` build candles of `upper` under calendar `kind`:
 * is `lower` shorter and does every bucket of `upper` start on a `lower`
 * boundary? (W1 of forex and metals starts on a whole New York hour: H1 or
 * shorter.)
 */
bool resample_fits(enum calendar_kind kind, enum timeframe lower, enum timeframe upper);

/*
 * Which timeframes a source derives, and from which of the timeframes it
 * fetches. Plain data; zeroed means "derives nothing".
 */
struct resample_plan {
    bool derived[TF_COUNT];        /* built here, never asked of the venue */
    enum timeframe from[TF_COUNT]; /* for a derived timeframe: the one that builds it */
};

/*
 * Plan the timeframes `derive[0..nd)` of a source whose calendar is `kind`
 * and whose listed timeframes are `tfs[0..n)` (those not derived are the
 * fetched ones): each derived timeframe is built from the longest fetched
 * one that fits (resample_fits()). Returns 0, or CK_EINVAL with the reason
 * in `why` when a derived timeframe has no fetched one to build it from.
 */
int resample_plan_init(struct resample_plan *p, enum calendar_kind kind, const enum timeframe *tfs,
                       size_t n, const enum timeframe *derive, size_t nd, struct strbuf *why);

/* The bucket of `upper` that the instant `t` falls in: its label and span [start, end). */
struct resample_bucket {
    int64_t label; /* the derived candle's open time */
    int64_t start, end;
};
void resample_bucket_of(const struct calendar *cal, enum timeframe upper, int64_t t,
                        struct resample_bucket *out);

struct resample_stats {
    size_t built;      /* derived candles appended */
    size_t incomplete; /* buckets with lower candles, but not every expected one */
    size_t forming;    /* buckets not closed at `now` */
};

/*
 * Build the candles of `upper` from `c[0..n)`, candles of `lower` in
 * ascending open time without duplicates, and append them to `out` in
 * order. A bucket only partly inside the input counts as incomplete, so a
 * caller passes whole buckets (from resample_bucket_of()'s start).
 * `stats` (may be NULL) is overwritten. Returns 0, or CK_ELIMIT when a sum
 * of volumes overflows (the bucket named in `err`); BUG()s unless
 * resample_fits(). Thread-safe.
 */
int resample(const struct calendar *cal, enum timeframe lower, enum timeframe upper,
             const struct candle *c, size_t n, int64_t now, struct candle_vec *out,
             struct resample_stats *stats, struct strbuf *err);

#endif
