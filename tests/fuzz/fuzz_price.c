/* SPDX-License-Identifier: MIT */
/*
 * Exact decimal prices (market/price.h) on any text: a price read prints
 * (shortest and fixed forms) as text that reads back as the same price,
 * within the buffer price.h promises.
 */
#include "fuzz.h"

#include "market/price.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void reread(int64_t v, const char *buf, size_t len)
{
    int64_t again;
    if (len >= PRICE_BUFSZ || strlen(buf) != len || price_parse(buf, len, &again) || again != v)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[PRICE_BUFSZ];
    int64_t v;

    if (price_parse((const char *)data, size, &v))
        return 0;
    reread(v, buf, price_format(v, buf));
    reread(v, buf, price_format_fixed(v, buf));
    return 0;
}
