/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_SOURCE_INTERNAL_H
#define CK_SOURCE_SOURCE_INTERNAL_H

/* For source.c and the provider adapters only. */
#include "source/source.h"

struct http_client;

struct source_ops {
    /* MUST. The adapter's name and what configuring it takes (see source.h). */
    const struct source_kind *kind;
    /* MUST. Allocate the adapter's struct (embedding struct source first). */
    int (*open)(struct source **out, const struct source_config *cfg, struct strbuf *err);
    /* MUST. */
    void (*free)(struct source *src);
    /* MUST. See source_fetch(). */
    int (*fetch)(struct source *src, const struct fetch_request *req, struct fetch_result *result,
                 struct strbuf *err);
};

struct source {
    const struct source_ops *ops;
    const struct source_config *cfg;
    struct http_client *http;
};

extern const struct source_ops source_twelvedata_ops;

/*
 * Turn one Twelve Data /time_series response (`body`, `len` bytes, HTTP
 * `status`) for `req` into `res`: candles sorted by open time with
 * SRC_OK, or a typed error with the reason in `err`, naming `source_name`,
 * the symbol and the timeframe. `res` must be initialised
 * (FETCH_RESULT_INIT) and hold no candles; on failure it holds none
 * again, so a rejected body yields nothing. Sets `res->retry_after` for
 * rate limits; leaves `http_status` and the credit counts to the caller.
 * Returns as source_fetch(). Exposed for table-driven tests over recorded
 * payloads.
 */
int twelvedata_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                     const char *source_name, struct fetch_result *res, struct strbuf *err);

#endif
