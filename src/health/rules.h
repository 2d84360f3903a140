/* SPDX-License-Identifier: MIT */
#ifndef CK_HEALTH_RULES_H
#define CK_HEALTH_RULES_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stdint.h>

struct calendar;

/*
 * The rules behind the facts the health report (health.h) states, each
 * defined once here: when a job runs next and when it is overdue, how old
 * a series is, how many periods a series misses. Pure functions of their
 * arguments (times are Unix seconds), so that every face that shows a
 * fact (/health, /metrics, `candlekeep status` and `jobs`, the digest,
 * the alert watch) shows the same one.
 */

/*
 * When a job runs next, from its schedule and the newest fire handled
 * (`last_fire` as the database keeps it; 0: none): the fire after it, or
 * the first fire after `now` for a job that never fired. It may lie in
 * the past: a fire nobody has handled yet. -1 when `cron` does not parse
 * or has no such fire.
 */
int64_t health_job_next_run(const char *cron, int64_t last_fire, int64_t now);

/* One period of `cron` around `now` in seconds: a day when it has none or does not parse. */
int64_t health_job_period(const char *cron, int64_t now);

/*
 * Overdue: a job that is not paused whose next run is more than one
 * period in the past (so a fire that should have been handled a whole
 * period ago was not). False when there is no next run (-1).
 */
bool health_job_overdue(int64_t next_run, int64_t period, bool paused, int64_t now);

/*
 * The age of a series: seconds since its newest candle (opened at
 * `latest`) closed, never negative (a candle still forming, or one from a
 * clock ahead of ours, is 0 seconds old).
 */
int64_t health_series_age(enum timeframe tf, int64_t latest, int64_t now);

/*
 * The periods of `tf` that calendar `cal` expects after the candle opening
 * at `latest`, up to the last one closed at `now`: the candles that should
 * be stored and are not. Only expected periods count, so a weekend or a
 * daily pause of the market adds nothing. Counting stops at `cap` (the
 * window scanned is the last `cap` periods at most).
 */
int64_t health_missing_periods(const struct calendar *cal, enum timeframe tf, int64_t latest,
                               int64_t now, int64_t cap);

#endif
