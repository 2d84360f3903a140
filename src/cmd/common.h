/* SPDX-License-Identifier: MIT */
#ifndef CK_CMD_COMMON_H
#define CK_CMD_COMMON_H

#include "app/settings.h"
#include "market/timeframe.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

/*
 * What every subcommand shares: loading the configuration (reporting every
 * problem and mapping it to exit code 2), setting up logging and secret
 * redaction, and parsing common option values.
 */

/*
 * Load settings from `path` (NULL: the default search) and configure
 * logging. On problems prints them to stderr and returns CMD_USAGE; else
 * CMD_OK. The settings must be released either way.
 */
int cmd_setup(struct settings *s, const char *path, const char *cmdname);

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

/* Open the configured store; prints the (redacted) error and returns CMD_FAIL. */
struct store;
int cmd_open_store(const struct settings *s, const char *cmdname, struct store **out);

/* Output formats for records. */
enum out_format {
    OUT_TABLE,
    OUT_JSON,
    OUT_CSV,
};
int cmd_parse_format(const char *cmdname, const char *arg, enum out_format *out);

/*
 * The options every command shares: -c/--config FILE, -f/--format
 * table|json|csv and -h/--help. A command's getopt loop handles its own
 * options and hands every other answer of getopt to cmd_common_option(),
 * which returns CMD_CONTINUE when it took the option, else the code the
 * command exits with: CMD_OK after --help (usage on stdout), CMD_USAGE
 * after a bad --format or an option getopt did not know (usage on stderr).
 */
struct cmd_common {
    const char *name;        /* "alerts": messages say "candlekeep alerts: ..." */
    void (*usage)(FILE *fp); /* the command's usage text */
    const char *config;      /* --config; NULL when not given */
    enum out_format format;  /* --format; OUT_TABLE when not given */
};
#define CMD_COMMON_INIT(name_, usage_)                                                             \
    {                                                                                              \
        .name = (name_), .usage = (usage_), .format = OUT_TABLE                                    \
    }
#define CMD_CONTINUE (-1)
int cmd_common_option(struct cmd_common *cc, int c, const char *arg);

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
