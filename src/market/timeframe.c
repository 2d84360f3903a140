/* SPDX-License-Identifier: MIT */
/* Timeframe names, lengths and alignment. */
#include "market/timeframe.h"

#include "util/error.h"
#include "util/xalloc.h"

#include <strings.h>

#include "util/banned.h"

static const struct {
    const char *name;
    int64_t seconds;
} timeframes[TF_COUNT] = {
    [TF_M1] = {"M1", 60},     [TF_M5] = {"M5", 300},    [TF_M15] = {"M15", 900},
    [TF_M30] = {"M30", 1800}, [TF_H1] = {"H1", 3600},   [TF_H4] = {"H4", 14400},
    [TF_D1] = {"D1", 86400},  [TF_W1] = {"W1", 604800},
};

/* 1970-01-05, the first Monday after the epoch: W1 periods start on Mondays. */
#define W1_ORIGIN (4 * 86400)

int timeframe_parse(const char *name, enum timeframe *out)
{
    for (int i = 0; i < TF_COUNT; i++) {
        if (!strcasecmp(name, timeframes[i].name)) {
            *out = (enum timeframe)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *timeframe_name(enum timeframe tf)
{
    if ((unsigned)tf >= TF_COUNT)
        BUG("invalid timeframe %d", (int)tf);
    return timeframes[tf].name;
}

int64_t timeframe_seconds(enum timeframe tf)
{
    if ((unsigned)tf >= TF_COUNT)
        BUG("invalid timeframe %d", (int)tf);
    return timeframes[tf].seconds;
}

int64_t timeframe_floor(enum timeframe tf, int64_t t)
{
    int64_t len = timeframe_seconds(tf);
    int64_t origin = tf == TF_W1 ? W1_ORIGIN : 0;
    int64_t r = (t - origin) % len;
    if (r < 0)
        r += len;
    return t - r;
}

bool timeframe_is_aligned(enum timeframe tf, int64_t t)
{
    return timeframe_floor(tf, t) == t;
}

const char *timeframe_all_names(void)
{
    return "M1 M5 M15 M30 H1 H4 D1 W1";
}
