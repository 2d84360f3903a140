/* SPDX-License-Identifier: MIT */
/*
 * Cron expressions (sched/cron.h): the parser on any text, and for every
 * expression it accepts the next and previous fire times around the ends
 * of the supported range and a time in between, which must stay in range
 * (or be -1) and match the expression.
 */
#include "fuzz.h"

#include "sched/cron.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define FIRST_SECOND (-62135596800LL)
#define LAST_SECOND  253402300799LL

/* A fire time `t` found from `from` (after it when `next`, before it otherwise). */
static void check_fire(const struct cron_expr *e, int64_t from, int64_t t, bool next)
{
    if (t == -1)
        return;
    if (t < FIRST_SECOND || t > LAST_SECOND || !cron_matches(e, t) || t % 60 ||
        (next ? t <= from : t >= from))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t around[] = {FIRST_SECOND, FIRST_SECOND + 86400,      0,
                                     1704207600,   LAST_SECOND - 86400 * 400, LAST_SECOND};
    struct strbuf err = STRBUF_INIT;
    struct cron_expr e;
    char *text = xstrndup((const char *)data, size);

    if (!cron_parse(&e, text, &err)) {
        for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
            check_fire(&e, around[i], cron_next(&e, around[i]), true);
            check_fire(&e, around[i], cron_prev(&e, around[i]), false);
            (void)cron_period_hint(&e, around[i]);
        }
    }
    free(text);
    strbuf_release(&err);
    return 0;
}
