/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_CALENDAR_H
#define CK_MARKET_CALENDAR_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * Trading calendars: which candles should exist.
 *
 *  - crypto: open 24/7.
 *  - forex:  Sunday 17:00 to Friday 17:00 America/New_York.
 *  - metals: as forex, plus a daily pause 17:00-18:00 New York.
 *
 * New York local time comes from the system tz database
 * (/usr/share/zoneinfo/America/New_York, TZif format, including its POSIX
 * rule footer for times past the last transition), so both DST switches are
 * right without hand-written rules. Holidays are New York calendar dates on
 * which a forex/metals market is closed for the whole trading day that ends
 * at 17:00 New York on that date. (For crypto, a holiday closes the UTC day.)
 *
 * A candle period [open, open + tf) is expected when the market is open for
 * any part of it.
 *
 * A calendar is immutable after calendar_open() and safe to share between
 * threads.
 */
enum calendar_kind {
    CAL_CRYPTO,
    CAL_FOREX,
    CAL_METALS,
};

struct calendar;

/* "crypto" | "forex" | "metals" -> kind. Returns 0 or CK_EINVAL. */
int calendar_kind_parse(const char *name, enum calendar_kind *out);
const char *calendar_kind_name(enum calendar_kind kind);

/*
 * Build a calendar. `holidays` are days since 1970-01-01 (a civil date, see
 * days_from_civil()), `nholidays` of them; copied. `tzdir` is the tz
 * database root, NULL for the default (TZDIR env or /usr/share/zoneinfo).
 * Returns 0, or CK_EIO/CK_EPARSE with the reason in `err` when the tz file
 * cannot be read.
 */
int calendar_open(struct calendar **out, enum calendar_kind kind, const int64_t *holidays,
                  size_t nholidays, const char *tzdir, struct strbuf *err);
void calendar_free(struct calendar *cal);
enum calendar_kind calendar_get_kind(const struct calendar *cal);

/* Is the market open at instant `t`? */
bool calendar_is_open(const struct calendar *cal, int64_t t);

/* Should a candle of timeframe `tf` opening at `open_time` exist? */
bool calendar_expects(const struct calendar *cal, enum timeframe tf, int64_t open_time);

/*
 * The open sessions overlapping [from, to) as half-open UTC intervals
 * [start, end), merged and in order, appended to *out (grown with
 * ALLOC_GROW; *n and *alloc updated). Useful to enumerate expected candles
 * quickly.
 */
struct calendar_session {
    int64_t start, end;
};
void calendar_sessions(const struct calendar *cal, int64_t from, int64_t to,
                       struct calendar_session **out, size_t *n, size_t *alloc);

/* UTC offset of America/New_York at `t` in seconds (e.g. -18000 or -14400). */
int calendar_ny_offset(const struct calendar *cal, int64_t t);

#endif
