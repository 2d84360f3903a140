/* SPDX-License-Identifier: MIT */
/*
 * The Binance response parser (binance_parse()) on any body, the first
 * byte choosing the status and the request as venue.h says; and the
 * start of the body (up to its first NUL, 32 bytes at most) as the
 * X-MBX-USED-WEIGHT-1M header binance_note_weight() reads.
 */
#include "venue.h"

#include <string.h>

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fetch_result res = FETCH_RESULT_INIT;
    char used[33] = "";

    venue_fuzz(binance_parse, "binance", "BTC/USDT", 1706378430, 1706637630, data, size);
    if (size > 1)
        memcpy(used, data + 1, size - 1 < 32 ? size - 1 : 32);
    binance_note_weight(used, 1706637630, &res);
    if (res.retry_after != -1 && (res.retry_after < 1 || res.retry_after > 60))
        abort();
    fetch_result_release(&res);
    return 0;
}
