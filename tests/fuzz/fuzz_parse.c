/* SPDX-License-Identifier: MIT */
/*
 * The checked parsers of util/parse.h on any text: a duration, an
 * integer in a range, a boolean and a word list. A duration read is
 * never negative, and one small enough reads again the same from its
 * count of seconds; an integer read lies in its range and reads again
 * the same from its decimal form; the words found are non-empty and lie
 * inside the text.
 */
#include "fuzz.h"

#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct words {
    const char *text;
    size_t len;
    size_t n;
};

static int on_word(const char *word, size_t len, void *arg)
{
    struct words *w = arg;
    if (!len || word < w->text || word + len > w->text + w->len || memchr(word, ' ', len) ||
        memchr(word, ',', len))
        abort();
    return ++w->n == 1000; /* stops the walk early once, as a caller may */
}

/* `v` printed and read back with parse_int64() in [min, max] must be `v`. */
static void reread(int64_t v, int64_t min, int64_t max)
{
    struct strbuf sb = STRBUF_INIT;
    int64_t again;

    strbuf_addf(&sb, "%" PRId64, v);
    if (parse_int64(sb.buf, min, max, &again) || again != v)
        abort();
    strbuf_release(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t bounds[][2] = {
        {0, INT64_MAX}, {INT64_MIN, INT64_MAX}, {-5, 5}, {1, 65535}};
    char *text = xstrndup((const char *)data, size);
    struct words w = {text, strlen(text), 0};
    int64_t v;
    bool b;

    if (!parse_duration(text, &v)) {
        if (v < 0)
            abort();
        if (v <= INT64_MAX / (7 * 86400))
            reread(v, 0, INT64_MAX / (7 * 86400));
    }
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        if (!parse_int64(text, bounds[i][0], bounds[i][1], &v)) {
            if (v < bounds[i][0] || v > bounds[i][1])
                abort();
            reread(v, bounds[i][0], bounds[i][1]);
        }
    }
    (void)parse_bool(text, &b);
    (void)parse_words(text, on_word, &w);
    free(text);
    return 0;
}
