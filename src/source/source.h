/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_SOURCE_H
#define CK_SOURCE_SOURCE_H

#include "market/candle.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Market data sources. A source is one configured provider section
 * (`[source.NAME]`), backed by a provider adapter (`kind`, "twelvedata").
 * Adapters turn the provider's documented wire format into candles and
 * typed errors; they do not validate OHLC relationships or drop forming
 * bars (the ingest job does both, so every provider behaves the same).
 *
 * A `struct source` owns an HTTP client and is not thread-safe.
 */
struct source;

/* What a provider said went wrong; lets the caller decide about retries. */
enum source_error {
    SRC_OK,
    SRC_ERR_NETWORK,     /* connection failed, reset, timed out */
    SRC_ERR_AUTH,        /* key missing or invalid */
    SRC_ERR_PLAN,        /* the key's plan does not cover this */
    SRC_ERR_RATE_MINUTE, /* per-minute budget exhausted */
    SRC_ERR_RATE_DAY,    /* daily budget exhausted */
    SRC_ERR_BAD_SYMBOL,  /* unknown symbol */
    SRC_ERR_BAD_REQUEST, /* other invalid parameter */
    SRC_ERR_SERVER,      /* provider-side failure (5xx) */
    SRC_ERR_MALFORMED,   /* the body could not be understood */
};
const char *source_error_name(enum source_error e);

/* Settings of one source, from `[source.NAME]`. Strings are owned by the config. */
struct source_config {
    const char *name;     /* section suffix, e.g. "twelvedata" */
    const char *kind;     /* adapter, e.g. "twelvedata" */
    const char *api_key;  /* may be NULL or "" */
    const char *base_url; /* e.g. "https://api.twelvedata.com" */
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body;
};

/*
 * One fetch. With `since` set, only candles with open_time > since are
 * wanted (the adapter may return older ones; the caller filters); without
 * it, the latest `count` candles. `now` is the caller's clock.
 */
struct fetch_request {
    const char *symbol;
    enum timeframe tf;
    bool has_since;
    int64_t since;
    int count; /* 1..5000 */
    int64_t now;
};

struct fetch_result {
    struct candle_vec candles; /* ascending open_time, unvalidated */
    enum source_error error;   /* SRC_OK on success */
    long http_status;          /* 0 if no response */
    int64_t retry_after;       /* seconds the provider asked to wait, -1 if none */
    int64_t credits_used;      /* provider's usage headers, -1 if absent */
    int64_t credits_left;
};
#define FETCH_RESULT_INIT                                                                          \
    {                                                                                              \
        .candles = CANDLE_VEC_INIT, .retry_after = -1, .credits_used = -1, .credits_left = -1      \
    }
void fetch_result_release(struct fetch_result *r);

/*
 * The HTTP status a fetch's outcome stands for, whatever status the
 * answer carried: providers that report errors in the body (Twelve Data,
 * often with HTTP 200) are judged by what the body said, so that retries
 * and the circuit breaker treat every provider alike. 200 for success, 0
 * for no answer (network, timeout), 429 for rate limits, 401/403/404/400
 * for refusals, 5xx for provider failures; a malformed body keeps the
 * status it came with.
 */
long fetch_result_status(const struct fetch_result *r);

/* Create a source for `cfg` (borrowed; must outlive the source). CK_ECONFIG for an unknown kind. */
int source_open(struct source **out, const struct source_config *cfg, struct strbuf *err);
void source_free(struct source *src);
const char *source_name(const struct source *src);
/* Is `kind` a known adapter? */
bool source_kind_known(const char *kind);

/*
 * What the configuration must know of a provider adapter (a `kind`) before
 * any source is opened. Each adapter describes itself with one of these in
 * its ops, and source.c's registry lists the adapters: a new provider adds
 * one line there, and `config check`, the settings loader and every
 * command learn of it.
 */
struct source_kind {
    const char *name;     /* the `kind` of [source.NAME], e.g. "twelvedata" */
    const char *title;    /* the provider's name in messages, e.g. "Twelve Data" */
    const char *base_url; /* the default base_url */
    bool needs_key;       /* refuses to run without an api_key */
    const char *key_env;  /* environment variable supplying the key, overriding the file; or NULL */
    const char *key_help; /* where a key is obtained, for messages; or NULL */
};

/* The kind called `name` (case-sensitive); NULL when no adapter has that name. */
const struct source_kind *source_kind_find(const char *name);
/* Append the known kinds' names to `out`, ", "-separated, in registry order. */
void source_kind_names(struct strbuf *out);

/*
 * Fetch candles. Returns 0 with result->error == SRC_OK, including "no new
 * data" (zero candles). On failure returns a negative CK_E* (CK_EUPSTREAM,
 * CK_ETIMEDOUT, CK_EAUTH, CK_ELIMIT for rate limits, CK_ENOTFOUND for a bad
 * symbol, CK_EPARSE for a malformed body, CK_EINVAL for a rejected request),
 * sets result->error, and writes a message naming the series and what was
 * wrong to `err`. A malformed body yields no candles at all.
 */
int source_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *result,
                 struct strbuf *err);

#endif
