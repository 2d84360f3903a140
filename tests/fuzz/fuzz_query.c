/* SPDX-License-Identifier: MIT */
/*
 * What the API reads from a request line: the route table's path matching
 * (api_route_match(), with its captured segments and 405 Allow list) and
 * the parsers of query parameters: integers (limit, days), durations
 * (ttl), booleans, ISO 8601 times (start, end, since), exact prices,
 * timeframe names and word lists. The input is split at newlines: the
 * first line is the method, the second the path, each later line is given
 * to every parameter parser.
 */
#include "fuzz.h"

#include "api/api_internal.h"
#include "market/price.h"
#include "market/timeframe.h"
#include "util/parse.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int count_word(const char *word, size_t len, void *arg)
{
    (void)word;
    *(size_t *)arg += len;
    return 0;
}

static void parse_value(const char *v)
{
    int64_t n, secs, t, p;
    enum timeframe tf;
    size_t words = 0;
    bool b;
    char buf[PRICE_BUFSZ];

    (void)parse_int64(v, 1, 5000, &n);
    (void)parse_int64(v, INT64_MIN, INT64_MAX, &n);
    (void)parse_duration(v, &secs);
    (void)parse_bool(v, &b);
    if (!time_parse(v, &t)) {
        char tb[TIME_BUFSZ];
        time_format_iso8601(t, tb);
    }
    if (!price_parse(v, strlen(v), &p))
        price_format(p, buf);
    (void)timeframe_parse(v, &tf);
    (void)parse_words(v, count_word, &words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    char *line = text, *method = NULL, *path = NULL;

    for (int i = 0; line; i++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (i == 0)
            method = line;
        else if (i == 1)
            path = line;
        else
            parse_value(line);
        line = nl ? nl + 1 : NULL;
    }
    if (method && path) {
        struct api_request req = {.method = method, .path = path};
        const struct api_route *r = api_route_match(&req, method, path);
        if (r && req.nargs > API_MAX_ARGS)
            abort();
        if (!r && req.allow && strlen(req.allow) >= sizeof(req.allowbuf))
            abort();
    }
    free(text);
    return 0;
}
