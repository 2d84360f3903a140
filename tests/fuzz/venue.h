/* SPDX-License-Identifier: MIT */
#ifndef CK_TESTS_FUZZ_VENUE_H
#define CK_TESTS_FUZZ_VENUE_H

/*
 * The body of every venue harness (fuzz_binance.c and the others): run
 * one venue's response parser (source_internal.h) on any body. The first
 * byte picks the HTTP status (its value modulo 10 indexes
 * venue_statuses), the timeframe (its value / 10, modulo the number of
 * timeframes), whether the request asked from a time (128 and up) and
 * how many rows it asked for (odd: 3, even: 100); the rest is the body.
 * A parse that succeeds must give candles in strictly ascending
 * open-time order; a failed one must give none.
 * The seed corpus is the venue's recorded bodies (tests/fixtures/<venue>)
 * behind such a byte: 40 + the status's index for an H1 answer.
 */
#include "fuzz.h"

#include "market/timeframe.h"
#include "source/source.h"
#include "source/source_internal.h"
#include "util/strbuf.h"

#include <stdlib.h>

typedef int venue_parse_fn(const char *body, size_t len, long status,
                           const struct fetch_request *req, const char *source_name,
                           struct fetch_result *res, struct strbuf *err);

static const long venue_statuses[] = {200, 400, 401, 403, 404, 418, 429, 451, 500, 502};

/*
 * Parse `data` with `parse` for `symbol` as the venue answering at `now`
 * (Unix seconds) would be, a fetch from `since` when the first byte asks.
 */
static inline void venue_fuzz(venue_parse_fn *parse, const char *name, const char *symbol,
                              int64_t since, int64_t now, const uint8_t *data, size_t size)
{
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    uint8_t pick = size ? data[0] : 0;
    struct fetch_request req = {
        .symbol = symbol,
        .tf = (enum timeframe)(pick / 10 % TF_COUNT),
        .has_since = pick >= 128,
        .since = since,
        .count = pick % 2 ? 3 : 100,
        .now = now,
    };
    int rc;

    if (size)
        data++, size--;
    rc = parse((const char *)data, size, venue_statuses[pick % 10], &req, name, &res, &err);
    if (rc && res.candles.n)
        abort();
    for (size_t i = 1; !rc && i < res.candles.n; i++)
        if (res.candles.v[i].open_time <= res.candles.v[i - 1].open_time)
            abort();
    fetch_result_release(&res);
    strbuf_release(&err);
}

#endif
