/* SPDX-License-Identifier: MIT */
#ifndef CK_SIGNAL_SIGNAL_H
#define CK_SIGNAL_SIGNAL_H

/*
 * Signal requests and backtest results as the HTTP API and the CLI take
 * them: validation against the configuration, the canonical form whose
 * SHA-256 is the request hash of idempotency, creation with one delivery
 * per configured receiver, and the JSON objects both print (prices as
 * exact strings, times ISO 8601 UTC).
 *
 * A request is validated field by field; every error names the field
 * ("entry: ...", "stop_loss: ..."). The rules: symbol and timeframe name
 * a configured series (a source listing both; without `source`, the first
 * enabled source listing the symbol); direction is "long" or "short";
 * entry, stop_loss and take_profit are exact decimals > 0 with at most 8
 * decimals, and for a long stop_loss < entry < take_profit (a short
 * mirrors it); expires_at (ISO 8601, after now) or ttl ("4h", "90m") but
 * not both; note at most 500 characters; no other field.
 *
 * JSON numbers are read from their literal text, never through a double:
 * after jansson has checked the body, a small scanner finds the text of
 * each top-level member that is a number, and price_parse() reads that
 * text, so 2063.41 is 2063.41 and 0.1 + 0.2 never enters the picture;
 * 2.06341e3 is refused (exponents are not prices). Strings work the same
 * way and are what the API itself answers with.
 *
 * The JSON builders return jansson values (`json_t`, forward-declared so
 * this header does not include jansson.h); the caller owns them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct source_settings;
struct signal;
struct store;
struct strbuf;
struct backtest;

/* One `[webhook.NAME]` signal receiver. */
struct receiver_settings {
    char *name;
    char *url;
    char *secret;
};

/*
 * What signals are checked against and delivered to: the configured
 * sources (a signal names a series one of them lists) and the receivers
 * (each gets one delivery). Borrowed; ck/settings.h builds one.
 */
struct signal_config {
    const struct source_settings *sources;
    size_t nsources;
    const struct receiver_settings *receivers;
    size_t nreceivers;
};

/* Longest note, in characters (UTF-8 code points). */
#define SIGNAL_NOTE_MAX 500
/* Longest idempotency key, in bytes. */
#define SIGNAL_KEY_MAX 200
/* Longest ttl accepted, in seconds (a year). */
#define SIGNAL_TTL_MAX (366LL * 86400)

/*
 * The fields of a request as text, NULL when absent: what the CLI's
 * options give, and what the JSON parser extracts (numbers as their
 * literal text).
 */
struct signal_fields {
    const char *source;
    const char *symbol;
    const char *timeframe;
    const char *direction;
    const char *entry;
    const char *stop_loss;
    const char *take_profit;
    const char *expires_at;
    const char *ttl;
    const char *note;
};

/*
 * Validate `f` against the configuration `cfg` at `now_ms` and fill `out`
 * (released by the caller with signal_release() on any return): source,
 * symbol, timeframe, direction, prices, expires_ms, note, request_hash and
 * status active; id, idempotency key and times are left to the caller.
 * Returns 0, or CK_EINVAL with "FIELD: reason" in `err`.
 */
int signal_validate(const struct signal_fields *f, const struct signal_config *cfg, int64_t now_ms,
                    struct signal *out, struct strbuf *err);

/*
 * Parse the JSON body of a request (`len` bytes, not NUL-terminated) and
 * validate it as signal_validate() does. CK_EPARSE when the body is not
 * a JSON object (the message gives line, column and byte position);
 * CK_EINVAL when a field is missing, of the wrong type, unknown or breaks
 * a rule (the message names the field).
 */
int signal_parse_request(const char *body, size_t len, const struct signal_config *cfg,
                         int64_t now_ms, struct signal *out, struct strbuf *err);

/*
 * Check an idempotency key: 1 to SIGNAL_KEY_MAX printable ASCII
 * characters. CK_EINVAL with a message naming `what` otherwise.
 */
int signal_check_key(const char *key, const char *what, struct strbuf *err);

/*
 * Store validated signal `s` with one pending delivery per configured
 * receiver ([webhook.NAME] of `cfg`), due at `now_ms`: s->id is made here
 * and `key` (may be NULL) becomes its idempotency key. With a stored key,
 * see store_signal_create(): `*existed` and `*s` replaced, or
 * CK_ECONFLICT. Other errors are the store's.
 */
int signal_create(struct store *st, const struct signal_config *cfg, struct signal *s,
                  const char *key, int64_t now_ms, bool *existed, struct strbuf *err);

/* The JSON object of a signal. */
struct json_t *signal_json(const struct signal *s);

/*
 * The JSON object of signal `id` with its deliveries (each with its
 * attempts) and its outcome (null when none) read from `st`. CK_ENOTFOUND
 * when there is no such signal, or the store's error.
 */
int signal_detail_json(struct store *st, const char *id, struct json_t **out, struct strbuf *err);

/*
 * Parse the JSON body of a backtest result {"name", "params", "metrics"}
 * into b->name, b->params and b->metrics (malloc'd, the caller frees them;
 * params and metrics are the text of the objects as sent); nothing to free
 * on failure. CK_EPARSE for a body that is not a JSON object, CK_EINVAL
 * naming the field otherwise (unknown fields included).
 */
int backtest_parse_request(const char *body, size_t len, struct backtest *b, struct strbuf *err);
/*
 * The same from the CLI's text: params and metrics are JSON object texts,
 * named `params_opt` / `metrics_opt` in errors.
 */
int backtest_from_text(const char *name, const char *params, const char *metrics,
                       const char *params_opt, const char *metrics_opt, struct backtest *b,
                       struct strbuf *err);
/* The JSON object of a backtest result (params and metrics as objects). */
struct json_t *backtest_json(const struct backtest *b);

/*
 * Dump `j` (compact, or indented by 2 when `pretty`) with a final newline
 * into a malloc'd buffer (the caller's). Reals are printed with the fewest
 * significant digits that give every real of the document back exactly,
 * so a metric sent as 1.42 reads 1.42, not 1.4199999999999999.
 */
char *signal_dump_json(const struct json_t *j, bool pretty, size_t *out_len);

#endif
