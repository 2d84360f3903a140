/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_CONFIG_H
#define CK_UTIL_CONFIG_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The configuration loader. A file is read once (libinih) into a list of
 * entries (section, key, value, line) with ${ENV} and ${ENV:-default}
 * expanded. Subsystems then describe their settings declaratively, as a
 * `const struct config_option[]` of {key, type, offset, default, bounds,
 * environment override}, and config_apply() fills their struct from the
 * defaults, the file and the environment, in that order of precedence
 * (environment wins). Every problem is collected in a config_report as
 * `file:line: key 'x': reason`, so `candlekeep config check` can list them
 * all at once; unknown keys and sections are reported by
 * config_report_unused() after every subsystem has applied its table.
 */

enum config_type {
    CONFIG_STRING,   /* char *, owned by the settings struct (freed by config_release) */
    CONFIG_INT,      /* int64_t within [min, max] */
    CONFIG_DURATION, /* int64_t seconds; "90d", "15m", "30s", "4h", bare seconds */
    CONFIG_BOOL,     /* bool */
    CONFIG_SIZE,     /* int64_t bytes; "100MB", "512k", bare bytes */
};

/*
 * How `config show` prints a value. Secrets are never printed: a set
 * secret shows as "***", and URLs go through redact_url() (util/redact.h).
 */
enum config_show {
    CONFIG_SHOW_PLAIN = 0, /* as is */
    CONFIG_SHOW_SECRET,    /* "***" when set: API keys, tokens, webhook secrets */
    CONFIG_SHOW_URL,       /* a URL: its password masked */
    CONFIG_SHOW_URL_PATH,  /* a URL that is itself a credential (ping URLs, incoming
                              webhooks): its password, path and query masked */
};

/* Validate a string value; return 0, or non-zero with the reason in `why`. */
typedef int config_check_fn(const char *value, struct strbuf *why);

struct config_option {
    const char *key;
    enum config_type type;
    size_t offset;    /* offsetof() the field in the settings struct */
    const char *def;  /* default, as it would be written in the file; NULL = unset */
    int64_t min, max; /* bounds for INT and DURATION (both 0: unbounded) */
    const char *env;  /* environment variable overriding the file, or NULL */
    int64_t env_unit; /* DURATION from env: seconds per unit of a bare number (60 = minutes) */
    config_check_fn *check;
    enum config_show show;
};

struct config_entry {
    char *section;
    char *key;
    char *value;
    int line;
    bool used;
};

struct config_section {
    char *name;
    int line; /* of the [header] */
};

struct config_file {
    char *path; /* NULL when no file was read */
    struct config_entry *entries;
    size_t n, alloc;
    struct config_section *sections; /* every [header], in file order */
    size_t nsections, sections_alloc;
};
#define CONFIG_FILE_INIT                                                                           \
    {                                                                                              \
        0                                                                                          \
    }

/* Problems found while loading and applying; `count` of them, one per line in `text`. */
struct config_report {
    struct strbuf text;
    int count;
};
#define CONFIG_REPORT_INIT                                                                         \
    {                                                                                              \
        .text = STRBUF_INIT, .count = 0                                                            \
    }
void config_report_add(struct config_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_report_release(struct config_report *rep);

/*
 * Read `path`. A missing file is an error (the caller decides whether a
 * missing default file is fine). Syntax errors and unknown ${VARS} go to
 * `rep`; returns 0, or CK_EIO when the file cannot be read.
 */
int config_file_load(struct config_file *cf, const char *path, struct config_report *rep);
void config_file_release(struct config_file *cf);

/* Line of the first `[name]` header, 0 if the file has none. */
int config_section_line(const struct config_file *cf, const char *name);

/* Does the file have section `name`? */
bool config_has_section(const struct config_file *cf, const char *name);
/*
 * Names of sections that begin with `prefix` (e.g. "source." ->
 * "twelvedata"), each once, in file order. Returns the count; *out is an
 * array of borrowed pointers into `cf` (free the array only).
 */
size_t config_subsections(const struct config_file *cf, const char *prefix, const char ***out);

/*
 * Fill `dst` from `opts` (terminated by an entry with key NULL): defaults,
 * then the file's `section` (marking entries used), then the environment.
 * Bad values are reported and leave the default in place.
 */
void config_apply(struct config_file *cf, const char *section, const struct config_option *opts,
                  void *dst, struct config_report *rep);

/* Free the CONFIG_STRING fields of `dst` described by `opts`. */
void config_release(const struct config_option *opts, void *dst);

/* Report every entry no subsystem used: unknown keys and sections. */
void config_report_unused(const struct config_file *cf, struct config_report *rep);

/*
 * Append the value of option `o` of `src` (the struct its table describes)
 * as it would be written in the file, secrets masked as `o->show` says:
 * strings as they are ("" when unset), integers in decimal, durations in
 * the largest whole unit ("90d", "15m", "45s", "0"), booleans as true or
 * false.
 */
void config_format_value(const struct config_option *o, const void *src, struct strbuf *out);

/* Append a duration in seconds as the largest whole unit: "90d", "4h", "15m", "45s", "0". */
void config_format_duration(int64_t seconds, struct strbuf *out);
/* Append `bytes` as the loader reads it back: "100MB", "512kB", "1000". */
void config_format_size(int64_t bytes, struct strbuf *out);

/* Expand ${VAR} and ${VAR:-default} in `in`; 0 or CK_EPARSE with the reason in `why`. */
int config_expand_env(const char *in, struct strbuf *out, struct strbuf *why);

#endif
