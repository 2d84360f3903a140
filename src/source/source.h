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
struct source_kind;

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
    /*
     * Explicit symbol names for the venue, "CANONICAL:VENUE" pairs
     * separated by commas or spaces ("BTC/USD:XBTUSD"); NULL or "" for
     * none. A symbol not listed here takes the kind's symbol style.
     */
    const char *symbol_map;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body;
};

/*
 * One fetch, one request to the provider. With `since` set, the oldest
 * candles with open_time > since are wanted, as many as one request of the
 * venue returns (the kind's max_rows; a venue that keeps only recent
 * history returns its oldest rows after `since` that it still has); the
 * adapter may return older ones too (the caller filters). Without it, the
 * latest `count` candles. `now` is the caller's clock. Paging over more
 * than one request is the caller's (ingest/ingest.c), so that every
 * request draws from the rate budget. `until` (with `since`; 0: none) is
 * the open time of the last candle wanted, for a repair of one window: an
 * adapter that can bound its request by time asks for no later candle,
 * the others may return later ones (the caller drops them).
 */
struct fetch_request {
    const char *symbol;       /* canonical, "BTC/USDT": what messages name */
    const char *venue_symbol; /* set by source_fetch(): the venue's name of it (symbol_map) */
    enum timeframe tf;
    bool has_since;
    int64_t since;
    int64_t until;
    int count; /* 1..the kind's max_rows */
    int64_t now;
};

struct fetch_result {
    struct candle_vec candles; /* ascending open_time, unvalidated */
    enum source_error error;   /* SRC_OK on success */
    long http_status;          /* 0 if no response */
    /*
     * Seconds the provider asked to wait, -1 if none. On a success too: a
     * venue whose usage header says its budget is spent (Binance's used
     * weight) sets it, and the caller stores it as a ban.
     */
    int64_t retry_after;
    int64_t credits_used; /* provider's usage headers, -1 if absent */
    int64_t credits_left;
    /* Why the provider wants the wait of a success (the usage it reported); "" if none. */
    char wait_reason[96];
    /*
     * The answer stopped at the request's limit short of the present, so
     * later candles may follow: set by an adapter whose page can be
     * shorter than max_rows and still not the last (a window of buckets
     * some of which had no trades). A page of max_rows candles says so
     * by itself.
     */
    bool more;
    /*
     * What the caller should know of a success, for its log; "" if
     * nothing: candles after `since` the venue no longer serves (Kraken
     * keeps only its most recent rows), so the series has a hole there.
     */
    char note[160];
    /*
     * A venue asked for a window of periods (Bybit's start/end, OKX's
     * `after`, Coinbase's start/end): the open time of the window's last
     * period, whether or not it held candles; 0 otherwise. Paging goes on
     * from there, so that a window with no trades at all (an exchange's
     * maintenance) is passed over instead of asked for again and again.
     */
    int64_t window_end;
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
/* The adapter's description of an open source. */
const struct source_kind *source_kind_of(const struct source *src);

/* How a venue spells a canonical symbol ("BTC/USDT") when no symbol_map entry names it. */
enum symbol_style {
    SYMBOL_AS_IS,  /* "BTC/USDT" (Twelve Data) */
    SYMBOL_JOINED, /* "BTCUSDT" (Binance, Bybit) */
    SYMBOL_DASHED, /* "BTC-USDT" (Coinbase, OKX) */
    SYMBOL_KRAKEN, /* "XBTUSDT": joined, with Kraken's XBT for BTC and XDG for DOGE */
};

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
    /* Environment variable overriding the default base_url (not a configured one); or NULL. */
    const char *url_env;
    bool needs_key;       /* refuses to run without an api_key */
    const char *key_env;  /* environment variable supplying the key, overriding the file; or NULL */
    const char *key_help; /* where a key is obtained, for messages; or NULL */
    /* Timeframes the venue serves, a bit per enum timeframe (SOURCE_TF_ALL: every one). */
    unsigned timeframes;
    /* Most candles one request returns. */
    int max_rows;
    /* Only about the most recent max_rows candles are served, whatever `since` asks. */
    bool recent_only;
    enum symbol_style symbol_style;
    /*
     * The documented free rate limit, the default of the source's budget:
     * `rate_per_window` requests in any `rate_window_ms`, `daily_quota` a
     * UTC day (0: none).
     */
    int64_t rate_window_ms;
    int64_t rate_per_window;
    int64_t daily_quota;
    /* The calendar of the venue's markets, the default of `calendar`: "crypto", "metals". */
    const char *calendar;
    /* The default of `symbols`, canonical ("BTC/USDT"). */
    const char *symbols;
};
#define SOURCE_TF_ALL ((1u << TF_COUNT) - 1)
#define SOURCE_TF(tf) (1u << (tf))

/* Does `kind` serve timeframe `tf`? */
bool source_kind_serves(const struct source_kind *kind, enum timeframe tf);

/*
 * The symbol `canonical` as the venue of `cfg` names it: its symbol_map
 * entry, else the kind's symbol style (upper-cased). Replaces `out`'s
 * contents. CK_EINVAL (with the reason in `err`) for a symbol the style
 * cannot spell ("BTCUSDT" for a dashed venue needs a symbol_map entry).
 */
int source_venue_symbol(const struct source_config *cfg, const struct source_kind *kind,
                        const char *canonical, struct strbuf *out, struct strbuf *err);

/*
 * Check a symbol_map value: "CANONICAL:VENUE" pairs separated by commas or
 * blanks. 0, or CK_EINVAL with the offending pair named in `err`.
 */
int source_symbol_map_check(const char *map, struct strbuf *err);

/*
 * The identity of the rate budget a source draws from: one per provider
 * key, shared by every section, job, command and daemon using it. A
 * keyless venue is limited per IP address: "KIND:ip". A key is named by a
 * digest of it, never the key itself: "KIND:key:<12 hex digits of
 * SHA-256(key)>". A base_url other than the kind's default is another
 * provider (a fake, a proxy with its own limits): its digest is part of
 * the identity ("KIND:ip:<hex>", the key's digest taken over the URL too).
 * Replaces `out`'s contents.
 */
void source_budget_key(const struct source_kind *kind, const char *api_key, const char *base_url,
                       struct strbuf *out);

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
