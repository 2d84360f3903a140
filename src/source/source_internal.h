/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_SOURCE_INTERNAL_H
#define CK_SOURCE_SOURCE_INTERNAL_H

/* For source.c and the provider adapters only. */
#include "source/source.h"

struct http_client;
struct http_header;
struct http_response;
struct json_t;

struct source_ops {
    /* MUST. The adapter's name and what configuring it takes (see source.h). */
    const struct source_kind *kind;
    /*
     * MAY. Allocate the adapter's struct (embedding struct source first),
     * for an adapter that keeps more than the base URL (a key); NULL: a
     * plain struct source.
     */
    int (*open)(struct source **out, const struct source_config *cfg, struct strbuf *err);
    /* MUST with `open`: free the adapter's struct. */
    void (*free)(struct source *src);
    /* MUST. See source_fetch(). */
    int (*fetch)(struct source *src, const struct fetch_request *req, struct fetch_result *result,
                 struct strbuf *err);
};

struct source {
    const struct source_ops *ops;
    const struct source_config *cfg;
    struct http_client *http;
    char *base_url; /* source_base_url(): the configured or default URL, no trailing slash */
};

/*
 * The adapters' kit: what every adapter would otherwise write again.
 */

/* The base URL of `cfg` (the kind's default when none is set), without trailing slashes. */
char *source_base_url(const struct source_config *cfg, const struct source_kind *kind);
/* Append "NAME SYMBOL TF: ", the start of every message about a fetch. */
void source_msg_prefix(struct strbuf *err, const char *source_name,
                       const struct fetch_request *req);
/* Fail a parse with typed error `e`: drop the candles and the note, return `code`. */
int source_fail(struct fetch_result *res, enum source_error e, int code);
/*
 * GET `url` for `req` with the source's timeouts and body cap and the
 * `nheaders` headers. 0 with the answer in `resp` whatever its HTTP status
 * (res->http_status set); a transport failure (no answer, a body over the
 * cap, a bad URL) returns its CK_E*, sets res->error (network, malformed,
 * bad request) and appends "NAME SYMBOL TF: what failed" to `err`.
 */
int source_http_get(struct source *src, const char *url, const struct http_header *headers,
                    size_t nheaders, const struct fetch_request *req, struct http_response *resp,
                    struct fetch_result *res, struct strbuf *err);

extern const struct source_ops source_twelvedata_ops;
extern const struct source_ops source_binance_ops;
extern const struct source_ops source_bybit_ops;
extern const struct source_ops source_okx_ops;
extern const struct source_ops source_kraken_ops;
extern const struct source_ops source_coinbase_ops;

/*
 * Parse a venue's decimal text, the `len` bytes at `s` ("2063.41"), as a
 * price (`is_volume` false: it must be positive) or as a volume (true:
 * zero is allowed, and decimals beyond the 8 a price keeps are dropped, a
 * volume being a measure, not a price that must round-trip). Returns 0
 * with the value in `out`, or CK_EPARSE with why the text was refused
 * ("is not a decimal", "is out of range", "is not positive", "is
 * negative") appended to `why`.
 */
int source_parse_decimal(const char *s, size_t len, bool is_volume, int64_t *out,
                         struct strbuf *why);

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

/*
 * Turn one Binance /api/v3/klines response (`body`, `len` bytes, HTTP
 * `status`) for `req` into `res`, as twelvedata_parse() does: candles
 * ascending by open time without the forming kline (close time >= req->now),
 * or a typed error naming `source_name`, the symbol and the timeframe, with
 * no candles. Rate limits and bans set `res->retry_after` (the next minute
 * for a 429, a long guess for a 418) and `res->wait_reason`; the caller
 * replaces the wait with the answer's Retry-After when it has one. Returns
 * as source_fetch(). Exposed for table-driven tests over recorded payloads.
 */
int binance_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                  const char *source_name, struct fetch_result *res, struct strbuf *err);

/*
 * Note Binance's X-MBX-USED-WEIGHT-1M value `used` (the weight this IP has
 * used in the current minute; NULL or not a count: nothing happens) in
 * `res`: credits_used and credits_left (of 6,000). When one more klines
 * request (weight 2) would pass the limit and `res` asks no wait yet, it
 * asks to wait until the next UTC minute after `now` (retry_after,
 * wait_reason).
 */
void binance_note_weight(const char *used, int64_t now, struct fetch_result *res);

/*
 * Bybit's /v5/market/kline answer, as twelvedata_parse() (the body's
 * retCode decides, whatever the HTTP status, except that HTTP 403 is
 * Bybit's IP ban). Sets `res->retry_after` and `res->wait_reason` for rate
 * limits and bans; the caller refines the wait from Bybit's headers.
 */
int bybit_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                const char *source_name, struct fetch_result *res, struct strbuf *err);

/*
 * OKX's /api/v5/market/candles or history-candles answer, as
 * twelvedata_parse() (the body's `code` decides). Rows OKX marks
 * unconfirmed (confirm "0", the forming candle) are left out, and so are
 * rows at or before `req->since` of a fetch that has one.
 */
int okx_parse(const char *body, size_t len, long status, const struct fetch_request *req,
              const char *source_name, struct fetch_result *res, struct strbuf *err);

/*
 * Parse row `idx` of an answer whose rows are arrays of strings [open time
 * in Unix milliseconds, open, high, low, close, volume, ...] (Bybit, OKX)
 * into `*out`: prices exact and positive, the volume zero or more (its
 * decimals past the eighth dropped), the open time a whole second aligned
 * to `tf`. The row must hold at least `min_fields` (6 or more) values;
 * those past the volume are not read. Returns 0, or CK_EPARSE with
 * "row <open time>: <reason>" ("row #<idx + 1>: ..." while the time is not
 * known) appended to `why`.
 */
int source_row_parse(struct json_t *row, size_t idx, size_t min_fields, enum timeframe tf,
                     struct candle *out, struct strbuf *why);

/*
 * Sort `cv` by open time, ascending. CK_EPARSE with "row <open time>: open
 * time appears twice" appended to `why` when two rows share one.
 */
int source_rows_sort(struct candle_vec *cv, struct strbuf *why);

/*
 * Turn one Kraken /0/public/OHLC response for `req` into `res`, as
 * twelvedata_parse() does: errors come in the body's `error` array with
 * HTTP 200; the last row (the period still forming) is dropped, rows at or
 * before `since` are filtered out and, without `since`, only the latest
 * `count` are kept. When Kraken no longer serves the candles right after
 * `since` (it keeps only its 720 most recent rows), `res->note` says which
 * are lost. Sets `res->retry_after` for a rate limit.
 */
int kraken_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                 const char *source_name, struct fetch_result *res, struct strbuf *err);

/*
 * Turn one Coinbase Exchange /products/{id}/candles response for `req`
 * into `res`, as twelvedata_parse() does: rows of JSON numbers (read as
 * their exact decimal text), newest first, sorted here; rows at or before
 * `since` are filtered out and, without `since`, only the latest `count`
 * are kept. Errors are HTTP 4xx/5xx with {"message": ...}; a rate limit
 * sets `res->retry_after` to one second (the caller puts a Retry-After
 * header in its place).
 */
int coinbase_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                   const char *source_name, struct fetch_result *res, struct strbuf *err);

#endif
