/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_XALLOC_H
#define CK_UTIL_XALLOC_H

#include <stddef.h>

/*
 * Allocation that never fails: running out of memory is not an error the
 * caller can handle, so these abort with a message instead of returning NULL.
 * Callers never check their result.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xstrdup() that maps NULL to NULL. */
char *xstrdup_or_null(const char *s);

/* Abort with file:line for a programmer error (never for bad input). */
#define BUG(...) bug_fl(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void bug_fl(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Grow `x` (an array of `nr` used and `alloc` allocated elements) so that it
 * holds at least `want` elements, doubling to amortise. Like git's ALLOC_GROW.
 */
#define ALLOC_GROW(x, want, alloc)                                                                 \
    do {                                                                                           \
        if ((size_t)(want) > (alloc)) {                                                            \
            size_t ag_new_ = (alloc) ? (alloc)*2 : 16;                                             \
            if (ag_new_ < (size_t)(want))                                                          \
                ag_new_ = (size_t)(want);                                                          \
            (x) = xrealloc((x), ag_new_ * sizeof(*(x)));                                           \
            (alloc) = ag_new_;                                                                     \
        }                                                                                          \
    } while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
