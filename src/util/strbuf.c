/* SPDX-License-Identifier: MIT */
/*
 * strbuf: the one growable string type of candlekeep. The empty buffer points
 * at a shared static byte so that `buf` is never NULL and an untouched strbuf
 * needs no allocation and no release.
 */
#include "util/strbuf.h"

#include "util/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char strbuf_slopbuf[1];

void strbuf_init(struct strbuf *sb, size_t hint)
{
    sb->alloc = sb->len = 0;
    sb->buf = strbuf_slopbuf;
    if (hint)
        strbuf_grow(sb, hint);
}

void strbuf_release(struct strbuf *sb)
{
    if (!sb)
        return;
    if (sb->alloc)
        free(sb->buf);
    strbuf_init(sb, 0);
}

char *strbuf_detach(struct strbuf *sb, size_t *out_len)
{
    char *res;
    strbuf_grow(sb, 0);
    res = sb->buf;
    if (out_len)
        *out_len = sb->len;
    strbuf_init(sb, 0);
    return res;
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
    bool fresh = !sb->alloc;
    size_t want = sb->len + extra + 1;
    if (want < sb->len)
        BUG("strbuf_grow: size overflow");
    if (want <= sb->alloc)
        return;
    if (fresh)
        sb->buf = NULL;
    size_t na = sb->alloc ? sb->alloc : 32;
    while (na < want)
        na = na * 3 / 2 + 16;
    sb->buf = xrealloc(sb->buf, na);
    sb->alloc = na;
    if (fresh)
        sb->buf[0] = '\0';
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
    if (len > (sb->alloc ? sb->alloc - 1 : 0))
        BUG("strbuf_setlen: %zu beyond allocated %zu", len, sb->alloc);
    sb->len = len;
    if (sb->alloc)
        sb->buf[len] = '\0';
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    if (!len)
        return;
    strbuf_grow(sb, len);
    memcpy(sb->buf + sb->len, data, len);
    strbuf_setlen(sb, sb->len + len);
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, int c)
{
    strbuf_grow(sb, 1);
    sb->buf[sb->len++] = (char)c;
    sb->buf[sb->len] = '\0';
}

void strbuf_addbuf(struct strbuf *sb, const struct strbuf *other)
{
    strbuf_add(sb, other->buf, other->len);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    strbuf_grow(sb, 64);
    va_copy(cp, ap);
    n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        BUG("vsnprintf failed for format '%s'", fmt);
    if ((size_t)n >= sb->alloc - sb->len) {
        strbuf_grow(sb, (size_t)n);
        n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
    }
    strbuf_setlen(sb, sb->len + (size_t)n);
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_setf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    strbuf_reset(sb);
    va_start(ap, fmt);
    strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_add_json_escaped(struct strbuf *sb, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            strbuf_addstr(sb, "\\\"");
            break;
        case '\\':
            strbuf_addstr(sb, "\\\\");
            break;
        case '\n':
            strbuf_addstr(sb, "\\n");
            break;
        case '\r':
            strbuf_addstr(sb, "\\r");
            break;
        case '\t':
            strbuf_addstr(sb, "\\t");
            break;
        default:
            if (c < 0x20)
                strbuf_addf(sb, "\\u%04x", c);
            else
                strbuf_addch(sb, c);
        }
    }
}

void strbuf_trim(struct strbuf *sb)
{
    size_t start = 0, end = sb->len;
    while (end > 0 && isspace((unsigned char)sb->buf[end - 1]))
        end--;
    while (start < end && isspace((unsigned char)sb->buf[start]))
        start++;
    if (start)
        memmove(sb->buf, sb->buf + start, end - start);
    if (sb->alloc)
        strbuf_setlen(sb, end - start);
}

bool strbuf_starts_with(const struct strbuf *sb, const char *prefix)
{
    size_t n = strlen(prefix);
    return sb->len >= n && !memcmp(sb->buf, prefix, n);
}

void strbuf_add_excerpt(struct strbuf *sb, const char *s, size_t len, size_t max, bool strip_tags)
{
    size_t start = sb->len, i = 0;
    bool in_tag = false, space = false;

    for (; i < len && sb->len - start < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (strip_tags && c == '<') {
            in_tag = true;
            space = true;
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            space = true;
            continue;
        }
        if (space && sb->len > start)
            strbuf_addch(sb, ' ');
        space = false;
        strbuf_addch(sb, c >= 0x20 && c < 0x7f ? (char)c : '?');
    }
    if (i < len)
        strbuf_addstr(sb, "...");
}
