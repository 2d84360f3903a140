/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_PRICE_H
#define CK_MARKET_PRICE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Exact decimal prices: a price is an int64_t holding the value times 10^8
 * (PRICE_SCALE), so "2063.41" is 206341000000 and comes back out as
 * "2063.41", never 2063.4099999. The range is +-92,233,720,368.54775807.
 */
#define PRICE_SCALE    100000000LL
#define PRICE_DECIMALS 8
/* Room for "-92233720368.54775808" and the NUL. */
#define PRICE_BUFSZ 32

/*
 * Parse a plain decimal ("2063.41", "-1", "0.00000001", "+5.", ".5") from the
 * first `len` bytes of `s`. Rejects empty strings, exponents ("1e3"), "NaN",
 * "inf", more than 8 significant decimals (trailing zeros are fine), and
 * values out of range. Returns 0, CK_EPARSE or CK_ELIMIT (out of range).
 */
int price_parse(const char *s, size_t len, int64_t *out);

/*
 * Format `v` with as few decimals as are needed (at least none):
 * 206341000000 -> "2063.41", 200000000000 -> "2000". Returns the length.
 */
size_t price_format(int64_t v, char buf[PRICE_BUFSZ]);

/* Format with exactly 8 decimals ("2063.41000000"), as PostgreSQL NUMERIC(20,8) prints. */
size_t price_format_fixed(int64_t v, char buf[PRICE_BUFSZ]);

#endif
