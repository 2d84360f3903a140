/* SPDX-License-Identifier: MIT */
/*
 * Exact decimal prices as scaled 64-bit integers. Parsing works on the
 * decimal digits directly (no strtod), which is what makes "2063.41" exact:
 * binary floating point cannot represent most decimal fractions.
 */
#include "market/price.h"

#include "util/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

int price_parse(const char *s, size_t len, int64_t *out)
{
    const char *p = s, *end = s + len;
    bool neg = false, any = false;
    uint64_t ip = 0, fp = 0;
    int fdig = 0;

    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        any = true;
        if (ip > (uint64_t)(INT64_MAX / PRICE_SCALE))
            return CK_ELIMIT;
        ip = ip * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        p++;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            any = true;
            if (fdig < PRICE_DECIMALS) {
                fp = fp * 10 + (uint64_t)(*p - '0');
                fdig++;
            } else if (*p != '0') {
                return CK_EPARSE; /* cannot be represented exactly */
            }
        }
    }
    if (!any || p != end)
        return CK_EPARSE;
    for (; fdig < PRICE_DECIMALS; fdig++)
        fp *= 10;
    if (ip > (uint64_t)(INT64_MAX / PRICE_SCALE))
        return CK_ELIMIT;
    uint64_t v = ip * (uint64_t)PRICE_SCALE + fp;
    if (v > (uint64_t)INT64_MAX)
        return CK_ELIMIT;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

size_t price_format_fixed(int64_t v, char buf[PRICE_BUFSZ])
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(buf, PRICE_BUFSZ, "%s%llu.%08llu", v < 0 ? "-" : "",
                     (unsigned long long)(a / PRICE_SCALE), (unsigned long long)(a % PRICE_SCALE));
    return (size_t)n;
}

size_t price_format(int64_t v, char buf[PRICE_BUFSZ])
{
    size_t n = price_format_fixed(v, buf);
    while (buf[n - 1] == '0')
        n--;
    if (buf[n - 1] == '.')
        n--;
    buf[n] = '\0';
    return n;
}
