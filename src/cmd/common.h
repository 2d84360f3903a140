/* SPDX-License-Identifier: MIT */
#ifndef CK_CMD_COMMON_H
#define CK_CMD_COMMON_H

#include "ck/ck.h"
#include "market/timeframe.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

/*
 * What every subcommand shares: building its context (reporting every
 * configuration problem and mapping it to exit code 2), parsing common
 * option values, and printing records.
 */

/*
 * Build what the command declared it needs (ck->needs), once its
 * arguments are parsed: prints what went wrong, as "candlekeep NAME: ..."
 * (configuration problems each on its own line, as `config check` says
 * them), and returns the exit code: CMD_USAGE for a configuration problem,
 * CMD_FAIL when a part cannot be built (the store, say), CMD_OK when all
 * is ready. cmd_need() does the same for more than the declared needs
 * (`jobs run` needs the alert manager that `jobs list` does not).
 */
int cmd_ready(struct ck *ck);
int cmd_need(struct ck *ck, unsigned needs);

/* Parse a timeframe argument; prints a usage error naming `what`. */
int cmd_parse_timeframe(const char *cmdname, const char *arg, enum timeframe *out);
/* Parse a time argument (ISO 8601 or a date); prints a usage error. */
int cmd_parse_time(const char *cmdname, const char *opt, const char *arg, int64_t *out);
/* Parse a non-negative integer within [min, max]; prints a usage error. */
int cmd_parse_int(const char *cmdname, const char *opt, const char *arg, int64_t min, int64_t max,
                  int64_t *out);

/*
 * Resolve the series a command is about: `symbol` NULL means the first
 * symbol of the first enabled source; `source` NULL means the source that
 * lists the symbol. Prints a usage error and returns CMD_USAGE when nothing
 * matches. Outputs are borrowed from `s`.
 */
int cmd_resolve_series(struct settings *s, const char *cmdname, const char *source,
                       const char *symbol, const char **out_source, const char **out_symbol);

/*
 * Refuse, before touching anything, a source whose provider needs a key it
 * lacks: prints the problem as `config check` does (file:line: key
 * 'api_key': ..., naming the environment variable) and returns CMD_USAGE;
 * CMD_OK otherwise.
 */
int cmd_check_credentials(const struct source_settings *src, const char *cmdname);

/* Parse a --format value (table, json or csv); prints a usage error. */
int cmd_parse_format(const char *cmdname, const char *arg, enum out_format *out);

/*
 * A simple record printer: set the columns, add rows of strings (NULL =
 * null/empty), then flush. Tables are aligned; CSV quotes as RFC 4180; JSON
 * prints an array of objects (values as JSON strings, NULL as null, and
 * columns marked numeric as raw numbers).
 */
struct out_table;
struct out_table *out_table_new(enum out_format fmt, const char *const *columns, size_t ncols);
/* Mark column `i` numeric (JSON number instead of string). */
void out_table_numeric(struct out_table *t, size_t i);
void out_table_row(struct out_table *t, const char *const *values);
/* Print everything to stdout and free the table. */
void out_table_flush(struct out_table *t);

#endif
