/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_GAPS_H
#define CK_MARKET_GAPS_H

#include "market/timeframe.h"

#include <stddef.h>
#include <stdint.h>

struct calendar;

/* A run of missing candles: open times first..last inclusive, `count` of them. */
struct gap_range {
    int64_t first;
    int64_t last;
    int64_t count;
};

/*
 * Find the expected candles of timeframe `tf` with open time in [from, to)
 * that are not in `have` (open times, sorted ascending, duplicates allowed,
 * values outside the window ignored), according to `cal`.
 *
 * Missing candles that are consecutive in the sequence of *expected* open
 * times form one range: a weekend or a daily pause between two missing
 * candles does not split a gap, and `count` counts only expected candles
 * (so last - first may span closed hours).
 *
 * Ranges are appended to *out (ALLOC_GROW; *n, *alloc updated) in order.
 * Returns the number of ranges appended.
 */
size_t gaps_find(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                 const int64_t *have, size_t nhave, struct gap_range **out, size_t *n,
                 size_t *alloc);

/*
 * The number of candles of timeframe `tf` with open time in [from, to) that
 * `cal` expects: the same candles gaps_find() walks, counted per session
 * without visiting each one (O(sessions)).
 */
int64_t gaps_count_expected(const struct calendar *cal, enum timeframe tf, int64_t from,
                            int64_t to);

#endif
