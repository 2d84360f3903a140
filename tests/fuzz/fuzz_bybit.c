/* SPDX-License-Identifier: MIT */
/*
 * The Bybit response parser (bybit_parse()) on any body, the first
 * byte choosing the status and the request as venue.h says.
 */
#include "venue.h"

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    venue_fuzz(bybit_parse, "bybit", "BTC/USDT", 1706378430, 1706637630, data, size);
    return 0;
}
