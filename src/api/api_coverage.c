/* SPDX-License-Identifier: MIT */
/*
 * GET /coverage[?source=NAME&symbol=S&timeframe=TF]: the coverage map of
 * the configured series (health/coverage.h), as `candlekeep coverage
 * --format json` prints it.
 */
#include "api/api_internal.h"

#include "ck/settings.h"
#include "health/coverage.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <string.h>

#include "util/banned.h"

/* Longest source or symbol name accepted in a query. */
#define NAME_MAX_LEN 64

/* A source or symbol parameter: short UTF-8 text (it reaches the database); replies if not. */
static int check_name(struct api_request *req, const char *param, const char *v)
{
    json_t *probe = v ? json_string(v) : NULL; /* NULL unless valid UTF-8 */

    if (!v)
        return 0;
    if (probe && *v && strlen(v) <= NAME_MAX_LEN) {
        json_decref(probe);
        return 0;
    }
    json_decref(probe);
    api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                    "parameter '%s' must be 1 to %d bytes of UTF-8", param, NAME_MAX_LEN);
    return -1;
}

/* The filter from the query; replies and returns -1 on a bad parameter. */
static int parse_filter(struct api_request *req, struct coverage_filter *f)
{
    const char *tf = api_query(req, "timeframe");
    char ebuf[80];

    f->source = api_query(req, "source");
    f->symbol = api_query(req, "symbol");
    if (check_name(req, "source", f->source) || check_name(req, "symbol", f->symbol))
        return -1;
    if (!tf)
        return 0;
    if (!timeframe_parse(tf, &f->tf)) {
        f->has_tf = true;
        return 0;
    }
    api_echo(ebuf, sizeof(ebuf), tf);
    api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                    "parameter 'timeframe' must be one of %s (got '%s')", timeframe_all_names(),
                    ebuf);
    return -1;
}

void api_coverage_get(struct api_request *req)
{
    const struct api *a = req->api;
    struct coverage_filter f = {0};
    struct strbuf err = STRBUF_INIT;
    struct coverage cov = {0};
    int64_t now = time_now();
    struct store *st;
    int rc;

    if (parse_filter(req, &f))
        goto out;
    if (!a->settings || !a->calendars) {
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                        "the coverage map needs the sources' calendars, which this server lacks");
        goto out;
    }
    st = api_store(req, &err);
    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = coverage_build(st, a->settings->sources, a->settings->nsources, a->calendars,
                        a->settings->retention.keep, &f, now, &cov, &err);
    if (rc) {
        api_store_error(req, rc, "measuring coverage", &err);
        goto out;
    }
    api_reply_json(req, MHD_HTTP_OK, coverage_json(&cov, now));
out:
    coverage_release(&cov);
    strbuf_release(&err);
}
