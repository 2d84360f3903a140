/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_CSV_IMPORT_H
#define CK_SOURCE_CSV_IMPORT_H

#include "market/candle.h"
#include "market/timeframe.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Candles from a CSV file: bytes in, candles or one typed error out. The
 * parser reads no file and no clock (the caller passes the bytes and `now`),
 * so the same input always gives the same answer.
 *
 * Two formats:
 *
 *  - Binance's public kline files (data.binance.vision): 12 columns,
 *    open_time,open,high,low,close,volume,close_time,quote_volume,count,
 *    taker_buy_volume,taker_buy_quote_volume,ignore; with or without that
 *    header row. Times are Unix milliseconds, or microseconds (the spot
 *    files from 2025 on), told apart by magnitude (>= 10^14 is
 *    microseconds). close_time must be open_time + the period - 1 unit,
 *    which catches a file of another timeframe than the one asked for.
 *  - A generic file with a header naming its columns in any order: time
 *    (or timestamp, date, datetime, open_time), open, high, low, close and
 *    optionally volume (an empty volume cell: no volume); other columns are
 *    ignored. Times are ISO 8601 ("2024-01-02T15:00:00Z", an offset, or a
 *    date alone: midnight UTC) or Unix seconds, milliseconds or
 *    microseconds (by magnitude: < 10^11 seconds, < 10^14 milliseconds).
 *
 * Both: prices are exact decimals (market/price.h; volume decimals beyond
 * the 8 kept are dropped), lines end in LF or CRLF, the last may lack its
 * line end, blank lines and a UTF-8 byte order mark are skipped, cells may
 * be double-quoted and surrounded by blanks. Every candle is validated as
 * provider data is (candle_validate(): prices, OHLC, alignment to the
 * timeframe); one whose period has not closed at `now` is refused, and so
 * is an open time that appears twice. The first problem ends the parse:
 * nothing is returned but the error.
 */

enum csv_format {
    CSV_AUTO,    /* Binance if line 1 is a 12-column kline row or header, else generic */
    CSV_BINANCE, /* Binance kline file */
    CSV_GENERIC, /* header naming time, open, high, low, close[, volume] */
};
/* "auto", "binance", "generic" -> the format. 0 or CK_EINVAL. */
int csv_format_parse(const char *name, enum csv_format *out);
const char *csv_format_name(enum csv_format f);

/* What went wrong, for callers that act on the kind of problem. */
enum csv_problem {
    CSV_OK,
    CSV_EMPTY,      /* no candle in the file */
    CSV_BAD_HEADER, /* the format cannot be told, or the header lacks a column */
    CSV_BAD_ROW,    /* wrong number of columns, an unterminated quote */
    CSV_BAD_VALUE,  /* a cell is not a time or a decimal, or out of range */
    CSV_INVALID,    /* a candle fails validation (OHLC, alignment, close time) */
    CSV_FORMING,    /* a candle whose period has not closed at `now` */
    CSV_DUPLICATE,  /* an open time seen on an earlier line */
    CSV_TOO_MANY,   /* more lines than the parser counts (2^32 - 1) */
};

/*
 * Where and why a parse failed. `line` and `column` are 1-based (0: about
 * the whole file / the whole line); `column_name` is the header's name for
 * the column, or the Binance one ("" when none); `value` an excerpt of the
 * offending cell (or line); `reason` what is wrong with it. Initialise with
 * CSV_IMPORT_ERROR_INIT, release with csv_import_error_release().
 */
struct csv_import_error {
    enum csv_problem problem;
    size_t line;
    size_t column;
    char column_name[24];
    struct strbuf value;
    struct strbuf reason;
};
#define CSV_IMPORT_ERROR_INIT                                                                      \
    {                                                                                              \
        .value = STRBUF_INIT, .reason = STRBUF_INIT                                                \
    }
void csv_import_error_release(struct csv_import_error *e);
/*
 * Append the error as one line for a person: "FILE:LINE: column N (name)
 * 'value': reason" (the parts that apply), `file` naming the input.
 */
void csv_import_error_format(const struct csv_import_error *e, const char *file,
                             struct strbuf *out);

/* Called now and then while parsing: `done` of `total` bytes read. */
typedef void csv_import_progress_fn(void *arg, size_t done, size_t total);

struct csv_import_opts {
    enum csv_format format;
    enum timeframe tf;
    int64_t now;                      /* Unix seconds: later-closing candles are forming */
    csv_import_progress_fn *progress; /* may be NULL */
    void *progress_arg;
};

/*
 * What a parse returns. `candles` are in the file's order (not sorted);
 * `first` and `last` are the smallest and largest open times.
 */
struct csv_import_result {
    struct candle_vec candles;
    enum csv_format format; /* the one read (never CSV_AUTO) */
    bool header;            /* the file had a header row */
    size_t lines;           /* lines read, header and blank ones included */
    int64_t first, last;
};
#define CSV_IMPORT_RESULT_INIT                                                                     \
    {                                                                                              \
        .candles = CANDLE_VEC_INIT                                                                 \
    }
void csv_import_result_release(struct csv_import_result *r);

/*
 * Parse buf[0..len). Returns 0 with every candle in `out` (which must be
 * empty), or CK_EPARSE with `out` emptied and the first problem in `err`.
 * Memory: the candles, and a line number for each (4 bytes) while parsing.
 */
int csv_import_parse(const char *buf, size_t len, const struct csv_import_opts *o,
                     struct csv_import_result *out, struct csv_import_error *err);

#endif
