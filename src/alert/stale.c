/* SPDX-License-Identifier: MIT */
/*
 * When is a series stale? Counted in the periods its market's calendar
 * expects, so that a weekend, a daily pause or a holiday never makes a
 * series look late. Kept apart from the watch job (watch.c) because it is
 * pure: a calendar, a timeframe and two times.
 */
#include "alert/watch.h"

#include "market/calendar.h"
#include "market/gaps.h"

#include <stdlib.h>

#include "util/banned.h"

int64_t watch_missing_periods(const struct calendar *cal, enum timeframe tf, int64_t latest,
                              int64_t now, int64_t cap)
{
    int64_t p = timeframe_seconds(tf);
    int64_t from = latest + p;
    /* Periods opening before the one in progress have closed. */
    int64_t to = timeframe_floor(tf, now);
    struct gap_range *ranges = NULL;
    size_t n = 0, alloc = 0;
    int64_t missing = 0;

    if (cap <= 0 || from >= to)
        return 0;
    /* gaps_find() starts at the first period opening at or after `from`. */
    if ((to - from) / p > cap)
        from = to - cap * p;
    gaps_find(cal, tf, from, to, NULL, 0, &ranges, &n, &alloc);
    for (size_t i = 0; i < n; i++)
        missing += ranges[i].count;
    free(ranges);
    return missing < cap ? missing : cap;
}
