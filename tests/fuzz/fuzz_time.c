/* SPDX-License-Identifier: MIT */
/*
 * UTC times (util/timeutil.h) on any text: a time read within years
 * 1-9999 prints (ISO 8601 and the date-time form) as text that reads back
 * as the same second, and goes to civil fields and back unchanged; its
 * date reads back as its midnight.
 */
#include "fuzz.h"

#include "util/timeutil.h"

#include <stdlib.h>

#include "util/banned.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define FIRST_SECOND (-62135596800LL)
#define LAST_SECOND  253402300799LL

static void reread(int64_t want, const char *buf)
{
    int64_t again;
    if (time_parse(buf, &again) || again != want)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[TIME_BUFSZ];
    struct civil_time c;
    int64_t t;

    if (time_parse_n((const char *)data, size, &t) || t < FIRST_SECOND || t > LAST_SECOND)
        return 0;
    time_format_iso8601(t, buf);
    reread(t, buf);
    time_format_datetime(t, buf);
    reread(t, buf);
    time_format_date(t, buf);
    reread(t - ((t % 86400) + 86400) % 86400, buf);
    time_to_civil(t, &c);
    if (time_from_civil(&c) != t || c.wday < 0 || c.wday > 6)
        abort();
    return 0;
}
