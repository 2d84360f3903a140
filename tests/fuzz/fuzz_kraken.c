/* SPDX-License-Identifier: MIT */
/*
 * The Kraken response parser (kraken_parse()) on any body, the first
 * byte choosing the status and the request as venue.h says.
 */
#include "venue.h"

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    venue_fuzz(kraken_parse, "kraken", "BTC/USD", 1710245220, 1710504420, data, size);
    return 0;
}
