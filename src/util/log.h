/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_LOG_H
#define CK_UTIL_LOG_H

#include <stdbool.h>
#include <stdint.h>
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
/*
 * Close the log file; output returns to stderr. Waits for the compressor
 * to finish the file it is on.
 */
void log_shutdown(void);

/*
 * Rotation of the log file ([log] max_size, keep, compress). When a line
 * takes the file to `max_size` bytes or more, the file is renamed to
 * FILE.YYYYmmddTHHMMSS.mmmZ (UTC) and a new FILE opened, between two
 * lines; a background thread then gzips the rotated file (to
 * FILE.<time>.gz) when `compress` is set, and deletes the oldest
 * rotations so that at most `keep` remain beside FILE.
 */
struct log_rotation {
    int64_t max_size; /* bytes; 0: no rotation on size */
    int64_t keep;     /* rotated files kept (>= 1) */
    bool compress;    /* gzip rotated files */
};
/* Set the rotation rules (default: none on size, keep 5, no compression). Thread-safe. */
void log_set_rotation(const struct log_rotation *rot);
/*
 * Rotate now (the daily log_rotation task), whatever the size, when the
 * file holds anything; its new name is appended to `out_name` (may be
 * NULL; nothing appended when the file was empty or another process had
 * rotated it). 0; CK_ENOTFOUND when logging goes to stderr; CK_EIO when
 * the rename or the reopen failed. Thread-safe.
 */
int log_rotate(struct strbuf *out_name, struct strbuf *err);
/* Wait until the compressor has handled every rotation made so far. */
void log_rotation_wait(void);
/*
 * The rotations of log file `path` (FILE.<time>, FILE.<time>.gz), oldest
 * first, as full paths in a NULL-terminated array; returns their number.
 * Free with log_rotations_free().
 */
size_t log_rotations(const char *path, char ***out);
void log_rotations_free(char **v);
/* Bytes the compressor has saved (compression) and freed (deletion) in this process. */
int64_t log_rotation_bytes_freed(void);

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
