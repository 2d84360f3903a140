/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_TIMEFRAME_H
#define CK_MARKET_TIMEFRAME_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Candle timeframes. Every period is a fixed number of seconds and aligned
 * to the Unix epoch in UTC, except W1, which starts on Monday 00:00 UTC.
 */
enum timeframe { TF_M1, TF_M5, TF_M15, TF_M30, TF_H1, TF_H4, TF_D1, TF_W1, TF_COUNT };

/* "M15" -> TF_M15 (case-insensitive). Returns 0 or CK_EINVAL. */
int timeframe_parse(const char *name, enum timeframe *out);
/* "M15"; BUG()s on an invalid value. */
const char *timeframe_name(enum timeframe tf);
/* Length of one period in seconds. */
int64_t timeframe_seconds(enum timeframe tf);
/* Open time of the period containing `t`. */
int64_t timeframe_floor(enum timeframe tf, int64_t t);
bool timeframe_is_aligned(enum timeframe tf, int64_t t);
/* Comma-free list of all names, "M1 M5 M15 M30 H1 H4 D1 W1", for messages. */
const char *timeframe_all_names(void);

#endif
