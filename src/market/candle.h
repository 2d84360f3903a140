/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_CANDLE_H
#define CK_MARKET_CANDLE_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * One OHLCV candle of a series. Prices are exact scaled integers
 * (market/price.h); volume uses the same scale and is absent (has_volume
 * false, NULL in the database and JSON) for instruments that have none.
 * open_time is UTC Unix seconds, aligned to the series' timeframe.
 */
struct candle {
    int64_t open_time;
    int64_t open, high, low, close;
    int64_t volume;
    bool has_volume;
};

/*
 * The identity of a series: (source, symbol, timeframe). The strings are
 * borrowed.
 */
struct series_key {
    const char *source;
    const char *symbol;
    enum timeframe tf;
};

/*
 * Check one candle: all prices > 0, high >= max(open, close),
 * low <= min(open, close), high >= low, volume >= 0 when present, open_time
 * aligned to `tf`. Returns true if valid; otherwise false with the reason
 * appended to `why` (e.g. "high 2060.5 is below close 2061").
 */
bool candle_validate(const struct candle *c, enum timeframe tf, struct strbuf *why);

/* A candle is final once its period has closed: open_time + period <= now. */
bool candle_is_final(const struct candle *c, enum timeframe tf, int64_t now);

/* A growable array of candles. */
struct candle_vec {
    struct candle *v;
    size_t n, alloc;
};
#define CANDLE_VEC_INIT                                                                            \
    {                                                                                              \
        0                                                                                          \
    }
void candle_vec_push(struct candle_vec *cv, const struct candle *c);
void candle_vec_release(struct candle_vec *cv);

#endif
