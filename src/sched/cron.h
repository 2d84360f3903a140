/* SPDX-License-Identifier: MIT */
#ifndef CK_SCHED_CRON_H
#define CK_SCHED_CRON_H

#include <stdbool.h>
#include <stdint.h>

struct strbuf;

/*
 * Cron expressions: the standard five fields
 *
 *   minute  hour  day-of-month  month  day-of-week
 *   0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)
 *
 * each a comma-separated list of items: `*`, a value `N` or a range `A-B`,
 * optionally followed by a step `/S` (every S-th value from the start;
 * `A/S` runs from A to the field's maximum, as in Vixie cron and
 * croniter). Months may be written JAN-DEC and weekdays SUN-SAT (any case,
 * also as range ends: MON-FRI). Instead of five fields an expression may be
 * one of the macros @hourly, @daily, @midnight, @weekly, @monthly, @yearly
 * and @annually. Expressions are always evaluated in UTC.
 *
 * Day matching follows the classic rule: when both day-of-month and
 * day-of-week are restricted, a day matching either fires; otherwise both
 * must match. A field is restricted when it does not cover every value of
 * its range, so a step of 2 over `*` (every other day) is restricted while
 * `1-31` is not (the decision croniter makes).
 *
 * Everything here is pure: no clock, no allocation, no global state; a
 * parsed expression may be shared by threads without locking.
 */

/* Longest expression text kept (and accepted), including the NUL. */
#define CRON_TEXT_MAX 256

/*
 * A parsed expression: the set of values that fire in each field, one bit
 * per value. The layout is public so that the struct can be embedded by
 * value (and inspected by tests); other code uses the functions below.
 * Plain data: copy it freely, nothing to release.
 */
struct cron_expr {
    uint64_t minutes;         /* bit m: minute m, 0-59 */
    uint32_t hours;           /* bit h: hour h, 0-23 */
    uint32_t mdays;           /* bit d: day of month d, 1-31 */
    uint16_t months;          /* bit m: month m, 1-12 */
    uint8_t wdays;            /* bit w: weekday w, 0 = Sunday .. 6 = Saturday */
    bool day_or;              /* both day fields restricted: either one fires */
    char text[CRON_TEXT_MAX]; /* the expression as written, trimmed */
};

/*
 * Parse `expr` into `out`. Returns 0, or CK_EINVAL with a message in `err`
 * (which may be NULL) naming the expression, the field and the bad token:
 *
 *   cron '61 * * * *': minute '61' is out of range 0-59
 *
 * `out` is written only on success. `err` is appended to, never reset.
 */
int cron_parse(struct cron_expr *out, const char *expr, struct strbuf *err);

/*
 * The first fire time strictly after `after` (Unix seconds, UTC). Fire
 * times are whole minutes. Returns -1 when the expression never fires
 * (such as "0 0 30 2 *"), when `after` lies outside years 1-9999, or when
 * the fire would (a time in year 0 or 10000 is never answered). The search
 * skips by month, day and hour, so any call costs at most a few thousand
 * steps.
 */
int64_t cron_next(const struct cron_expr *e, int64_t after);

/*
 * The last fire time strictly before `before` (Unix seconds, UTC), or -1
 * as for cron_next(). Used for catch-up after downtime: the newest fire
 * that was due.
 */
int64_t cron_prev(const struct cron_expr *e, int64_t before);

/* True when the minute containing `t` (seconds ignored) is a fire time. */
bool cron_matches(const struct cron_expr *e, int64_t t);

/*
 * The distance in seconds between the first two fire times after
 * `around`: "one period" for timeouts and grace times of schedules that are
 * not evenly spaced. Returns -1 when there are not two such fires.
 */
int64_t cron_period_hint(const struct cron_expr *e, int64_t around);

/* The expression as it was written (trimmed); borrowed from `e`. */
const char *cron_text(const struct cron_expr *e);

#endif
