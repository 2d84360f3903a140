/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_PARSE_H
#define CK_UTIL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Checked number parsing (never atoi): the whole string must be consumed,
 * the value must lie in [min, max]. Return 0 or CK_EINVAL / CK_ELIMIT.
 */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* "30s", "15m", "4h", "7d", or a bare number of seconds. Out: seconds. */
int parse_duration(const char *s, int64_t *out_seconds);
/*
 * A size in bytes: a bare number, or one with a suffix k, M, G (powers of
 * 1024), optionally followed by B and in either case: "100MB", "512k",
 * "1g", "4096". Out: bytes.
 */
int parse_size(const char *s, int64_t *out_bytes);
/* true/false, yes/no, on/off, 1/0 (case-insensitive). */
int parse_bool(const char *s, bool *out);

/*
 * Split `s` on spaces and commas into words; calls `fn(word, len, arg)` for
 * each non-empty word and stops at the first non-zero return, which it
 * returns.
 */
typedef int parse_word_fn(const char *word, size_t len, void *arg);
int parse_words(const char *s, parse_word_fn *fn, void *arg);

#endif
