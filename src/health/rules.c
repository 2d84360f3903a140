/* SPDX-License-Identifier: MIT */
/*
 * The rules of the health report (rules.h). Everything here is pure: a
 * schedule or a calendar, a timeframe and times in, a number out.
 *
 * A series' missing periods are counted in the periods its market's
 * calendar expects, so that a weekend, a daily pause or a holiday never
 * makes a series look late.
 */
#include "health/rules.h"

#include "market/calendar.h"
#include "market/gaps.h"
#include "sched/cron.h"
#include "util/strbuf.h"

#include <stdlib.h>

#include "util/banned.h"

int64_t health_job_next_run(const char *cron, int64_t last_fire, int64_t now)
{
    struct strbuf err = STRBUF_INIT;
    struct cron_expr ce;
    int64_t next = -1;

    if (cron && !cron_parse(&ce, cron, &err))
        next = cron_next(&ce, last_fire > 0 ? last_fire : now);
    strbuf_release(&err);
    return next > 0 ? next : -1;
}

int64_t health_job_period(const char *cron, int64_t now)
{
    struct strbuf err = STRBUF_INIT;
    struct cron_expr ce;
    int64_t p = -1;

    if (cron && !cron_parse(&ce, cron, &err))
        p = cron_period_hint(&ce, now);
    strbuf_release(&err);
    /* As the scheduler counts it for a schedule without two fires in sight. */
    return p > 0 ? p : 86400;
}

bool health_job_overdue(int64_t next_run, int64_t period, bool paused, int64_t now)
{
    return !paused && next_run > 0 && now > next_run + period;
}

int64_t health_series_age(enum timeframe tf, int64_t latest, int64_t now)
{
    int64_t age = now - (latest + timeframe_seconds(tf));
    return age > 0 ? age : 0;
}

int64_t health_missing_periods(const struct calendar *cal, enum timeframe tf, int64_t latest,
                               int64_t now, int64_t cap)
{
    int64_t p = timeframe_seconds(tf);
    int64_t from = latest + p;
    /* Periods opening before the one in progress have closed. */
    int64_t to = timeframe_floor(tf, now);
    struct gap_range *ranges = NULL;
    size_t n = 0, alloc = 0;
    int64_t missing = 0;

    if (cap <= 0 || from >= to)
        return 0;
    /* gaps_find() starts at the first period opening at or after `from`. */
    if ((to - from) / p > cap)
        from = to - cap * p;
    gaps_find(cal, tf, from, to, NULL, 0, &ranges, &n, &alloc);
    for (size_t i = 0; i < n; i++)
        missing += ranges[i].count;
    free(ranges);
    return missing < cap ? missing : cap;
}
