/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_TIMEUTIL_H
#define CK_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * UTC time as Unix seconds (int64_t) everywhere. Parsing and formatting use
 * proleptic Gregorian civil-date arithmetic, so nothing here depends on the
 * process time zone or on the non-reentrant gmtime()/localtime().
 */

/* Buffer size for time_format_iso8601() / time_format_datetime(). */
#define TIME_BUFSZ 32

struct civil_time {
    int year, month, day; /* month 1..12, day 1..31 */
    int hour, min, sec;
    int wday; /* 0 = Sunday .. 6 = Saturday (output only) */
};

/* Days since 1970-01-01 for a civil date (any year, proleptic Gregorian). */
int64_t days_from_civil(int year, int month, int day);
/* Civil date for days since 1970-01-01. */
void civil_from_days(int64_t days, int *year, int *month, int *day);
/* Split Unix seconds into civil UTC fields (including wday). */
void time_to_civil(int64_t t, struct civil_time *out);
/* Unix seconds for civil UTC fields (wday ignored). */
int64_t time_from_civil(const struct civil_time *c);

/*
 * Parse a UTC time. Accepts ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]",
 * the same with a space instead of 'T' (Twelve Data intraday), a bare date
 * "YYYY-MM-DD" (Twelve Data daily; midnight). A numeric offset ("+05:30",
 * "-0400") is applied. Fields are range
 * checked. Returns 0 or CK_EPARSE.
 */
int time_parse(const char *s, int64_t *out);
/* As time_parse() for the first `len` bytes of `s`. */
int time_parse_n(const char *s, size_t len, int64_t *out);

/* "2024-01-02T15:00:00Z" */
void time_format_iso8601(int64_t t, char buf[TIME_BUFSZ]);
/* "2024-01-02 15:00:00" (Twelve Data's start_date form). */
void time_format_datetime(int64_t t, char buf[TIME_BUFSZ]);
/* "2024-01-02" */
void time_format_date(int64_t t, char buf[TIME_BUFSZ]);

/* Wall-clock now in Unix seconds; honours CANDLEKEEP_NOW (ISO 8601) for replay and tests. */
int64_t time_now(void);
/* time_now() in Unix milliseconds: the wall clock's, or CANDLEKEEP_NOW's whole second. */
int64_t time_now_ms(void);
/*
 * Wall-clock now in Unix milliseconds, never pinned: the time of leases,
 * budgets, bans, job runs and log lines, which must agree with other
 * processes and the database. The one place that reads the real-time clock
 * for a timestamp.
 */
int64_t time_wall_ms(void);
/* Monotonic milliseconds, for measuring durations. */
int64_t time_mono_ms(void);

#endif
