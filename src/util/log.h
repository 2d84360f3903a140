/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_LOG_H
#define CK_UTIL_LOG_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Logging: one line per event, logfmt (default) or JSON, UTC timestamps:
 *
 *   ts=2024-01-02T15:00:01Z level=info msg="ingest: stored 4 candles of 'XAU/USD' M15"
 *   {"ts":"2024-01-02T15:00:01Z","level":"info","msg":"..."}
 *
 * Secrets never reach the output: every message passes through
 * redact_message() (util/redact.h), which masks the registered secret
 * values and the usual shapes of credentials.
 *
 * The level is the one mutable global besides the signal flag; the macros
 * test it before evaluating their arguments. Writing is thread-safe: each
 * line is formatted first and written with one call under a mutex.
 */
enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

enum log_format {
    LOG_FORMAT_LOGFMT,
    LOG_FORMAT_JSON,
};

extern enum log_level log_level_current;

int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

/*
 * Configure: level, format, and an output file path (NULL or "" = stderr).
 * Returns 0 or CK_EIO with the reason in `err` when the file cannot be
 * opened (logging then stays on stderr).
 */
struct strbuf;
int log_setup(enum log_level level, enum log_format format, const char *path, struct strbuf *err);
/* Reopen the log file (after rotation; SIGHUP). */
int log_reopen(struct strbuf *err);
/* Close the log file; output returns to stderr. */
void log_shutdown(void);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at_(lvl, ...)                                                                          \
    do {                                                                                           \
        if ((lvl) >= log_level_current)                                                            \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_debug(...) log_at_(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at_(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at_(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at_(LOG_ERROR, __VA_ARGS__)

#endif
