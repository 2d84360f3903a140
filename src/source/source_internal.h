/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_SOURCE_INTERNAL_H
#define CK_SOURCE_SOURCE_INTERNAL_H

/* For source.c and the provider adapters only. */
#include "source/source.h"

struct http_client;

struct source_ops {
    const char *kind;
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

#endif
