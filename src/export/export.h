/* SPDX-License-Identifier: MIT */
#ifndef CK_EXPORT_EXPORT_H
#define CK_EXPORT_EXPORT_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Exports: what the database holds, written out for other tools: candles,
 * signals, outcomes, backtest results and job runs as CSV or JSON, and
 * settled signals as executions in TradeNote's import template.
 *
 * Candles are streamed: a series is read through the store's iterator
 * and written row by row, so any number of candles goes out in constant
 * memory. The other kinds are bounded by retention and read whole.
 *
 * An export goes to a `struct export_out`: a file or stdout, plain or
 * gzip-compressed. Nothing here reads the clock; nothing prints but to
 * the output.
 */

/* [export] */
struct export_settings {
    char *dir;             /* "": "exports" beside a SQLite database, ./exports otherwise */
    char *tradenote;       /* cron of tradenote_export, "0 18 * * *" */
    int64_t tradenote_qty; /* the quantity of each execution */
};

enum export_kind {
    EXPORT_CANDLES,
    EXPORT_SIGNALS,
    EXPORT_OUTCOMES,
    EXPORT_BACKTESTS,
    EXPORT_JOBS,
};
/* "candles", "signals", "outcomes", "backtests", "jobs"; parse: 0 or CK_EINVAL. */
const char *export_kind_name(enum export_kind k);
int export_kind_parse(const char *name, enum export_kind *out);

enum export_format {
    EXPORT_CSV,
    EXPORT_JSON,
    EXPORT_TRADENOTE, /* signals and outcomes only */
};
const char *export_format_name(enum export_format f);
int export_format_parse(const char *name, enum export_format *out);

/* What to export. NULL strings and a zero time mean "any". */
struct export_query {
    enum export_kind kind;
    int64_t since, until; /* Unix s, [since, until): the candle's open time, a signal's creation,
                             an outcome's decision, a result's creation, a run's start */
    const char *source, *symbol;
    bool has_tf;
    enum timeframe tf;
    int64_t tradenote_qty; /* 0: 1 */
};

struct export_out;
/*
 * Open `path` for writing (NULL: stdout), gzip-compressed when `gzip`. 0,
 * or CK_EIO naming the file. Close with export_close().
 */
int export_open(struct export_out **out, const char *path, bool gzip, struct strbuf *err);
/* Flush and close; 0, or CK_EIO when a write failed. Takes NULL. */
int export_close(struct export_out *o, struct strbuf *err);

/*
 * Write the rows `q` selects from `st` to `o` in format `f`; `*rows`
 * (may be NULL) gets how many. CK_EINVAL for tradenote of a kind other
 * than signals and outcomes; the store's error; CK_EIO.
 */
int export_write(struct store *st, const struct export_query *q, enum export_format f,
                 struct export_out *o, int64_t *rows, struct strbuf *err);

/* The header line of TradeNote's import template, with its "\n". */
extern const char export_tradenote_header[];

/*
 * The TradeNote files of `dir`, one per UTC trade date,
 * "tradenote-YYYY-MM-DD.csv", of the signals `q` selects (its source,
 * symbol and timeframe; its times are ignored) with q->tradenote_qty:
 * every day before the day of `now` that has executions of settled (won
 * or lost) signals and no file yet, and on which no still-active signal
 * was opened (its exit would come later, and TradeNote imports a date
 * once), is written; a day that has a file is never written again.
 * `*days` (may be NULL) gets how many were written. 0, the store's error
 * or CK_EIO.
 */
int export_tradenote_days(struct store *st, const struct export_query *q, const char *dir,
                          int64_t now, size_t *days, struct strbuf *err);

/* The export directory: `s->dir` when set, else "exports" beside a SQLite database. Caller frees.
 */
char *export_dir(const struct export_settings *s, const char *store_url);

#endif
