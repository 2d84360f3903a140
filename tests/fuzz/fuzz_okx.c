/* SPDX-License-Identifier: MIT */
/*
 * The OKX response parser (okx_parse()) on any body, the first
 * byte choosing the status and the request as venue.h says.
 */
#include "venue.h"

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    venue_fuzz(okx_parse, "okx", "BTC/USDT", 1710246645, 1710505845, data, size);
    return 0;
}
