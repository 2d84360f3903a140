/* SPDX-License-Identifier: MIT */
/*
 * The Twelve Data response parser (twelvedata_parse()) on any body. The
 * first byte picks the HTTP status (its value modulo 10 indexes
 * `statuses`), the timeframe the request asked for (its value / 10, modulo
 * the number of timeframes) and whether it asked from a time (128 and
 * up), so error bodies (429, 401) are parsed as they would be; the rest is
 * the body.
 */
#include "fuzz.h"

#include "market/timeframe.h"
#include "source/source.h"
#include "source/source_internal.h"
#include "util/strbuf.h"

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 200, 400, 401, 404, 429, 500, 503};
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf err = STRBUF_INIT;
    uint8_t pick = size ? data[0] : 0;
    struct fetch_request req = {
        .symbol = "XAU/USD",
        .tf = (enum timeframe)(pick / 10 % TF_COUNT),
        .has_since = pick >= 128,
        .since = 1704207600,
        .count = 100,
        .now = 1704297600,
    };

    if (size)
        data++, size--;
    twelvedata_parse((const char *)data, size, statuses[pick % 10], &req, "twelvedata", &res, &err);
    fetch_result_release(&res);
    strbuf_release(&err);
    return 0;
}
