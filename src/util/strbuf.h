/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_STRBUF_H
#define CK_UTIL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * A growable string buffer (after git's strbuf).
 *
 * Invariants: `buf` is never NULL and always NUL-terminated; `len` is the
 * length of the content, `alloc` the bytes allocated (0 while `buf` points at
 * the shared empty string). Appends never fail (allocation aborts on OOM).
 * A strbuf may hold binary data; `len` is authoritative.
 *
 * Lifecycle: initialise with STRBUF_INIT or strbuf_init(); strbuf_release()
 * frees and leaves it empty and reusable; strbuf_detach() hands the memory to
 * the caller.
 */
struct strbuf {
    size_t alloc;
    size_t len;
    char *buf;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT                                                                                \
    {                                                                                              \
        .alloc = 0, .len = 0, .buf = strbuf_slopbuf                                                \
    }

void strbuf_init(struct strbuf *sb, size_t hint);
/* Free the buffer; `sb` is left as STRBUF_INIT. Accepts NULL. */
void strbuf_release(struct strbuf *sb);
/* Return the buffer (caller frees) and reset `sb`. Never returns NULL. */
char *strbuf_detach(struct strbuf *sb, size_t *out_len);
/* Ensure room for `extra` more bytes (plus the NUL). */
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
#define strbuf_reset(sb) strbuf_setlen((sb), 0)

void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addbuf(struct strbuf *sb, const struct strbuf *other);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Replace the content with the formatted string. */
void strbuf_setf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `s` (up to `len` bytes) with control characters and quotes escaped as in JSON. */
void strbuf_add_json_escaped(struct strbuf *sb, const char *s, size_t len);
/* Remove whitespace at both ends. */
void strbuf_trim(struct strbuf *sb);
bool strbuf_starts_with(const struct strbuf *sb, const char *prefix);

/*
 * Append at most `max` bytes of s[0..len) for a message: printable ASCII
 * kept, runs of white space collapsed to one space, any other byte shown
 * as '?', and "..." when it was cut. With `strip_tags`, <...> markup is
 * dropped, so an HTML error page shows its text.
 */
void strbuf_add_excerpt(struct strbuf *sb, const char *s, size_t len, size_t max, bool strip_tags);

#endif
