/* SPDX-License-Identifier: MIT */
/*
 * The source registry and the public wrappers around the adapters' ops.
 *
 * Callers see only source.h; this file is the one place that dispatches
 * through `struct source_ops`. It owns what every adapter would otherwise
 * repeat: choosing the adapter for a configured kind, creating the HTTP
 * client the source owns, checking a fetch request before the adapter
 * sees it, and enforcing the result contract afterwards (a failure carries
 * a typed error and no candles; a success carries SRC_OK), so a buggy
 * adapter cannot hand half a response to the ingest job.
 */
#include "source/source.h"

#include "market/price.h"
#include "net/http.h"
#include "source/source_internal.h"
#include "source/source_settings.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <string.h>

#include "util/banned.h"

static const struct source_ops *const source_backends[] = {
    &source_twelvedata_ops, &source_binance_ops, &source_bybit_ops,
    &source_okx_ops,        &source_kraken_ops,  &source_coinbase_ops,
};

static const struct source_ops *find_backend(const char *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(source_backends); i++)
        if (!strcmp(source_backends[i]->kind->name, kind))
            return source_backends[i];
    return NULL;
}

bool source_kind_known(const char *kind)
{
    return kind && find_backend(kind);
}

const struct source_kind *source_kind_find(const char *name)
{
    const struct source_ops *ops = name ? find_backend(name) : NULL;
    return ops ? ops->kind : NULL;
}

void source_kind_names(struct strbuf *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(source_backends); i++)
        strbuf_addf(out, "%s%s", i ? ", " : "", source_backends[i]->kind->name);
}

const char *source_error_name(enum source_error e)
{
    switch (e) {
    case SRC_OK:
        return "ok";
    case SRC_ERR_NETWORK:
        return "network";
    case SRC_ERR_AUTH:
        return "auth";
    case SRC_ERR_PLAN:
        return "plan";
    case SRC_ERR_RATE_MINUTE:
        return "rate_minute";
    case SRC_ERR_RATE_DAY:
        return "rate_day";
    case SRC_ERR_BAD_SYMBOL:
        return "bad_symbol";
    case SRC_ERR_BAD_REQUEST:
        return "bad_request";
    case SRC_ERR_SERVER:
        return "server";
    case SRC_ERR_MALFORMED:
        return "malformed";
    }
    return "unknown";
}

void fetch_result_release(struct fetch_result *r)
{
    if (!r)
        return;
    candle_vec_release(&r->candles);
    r->error = SRC_OK;
    r->http_status = 0;
    r->retry_after = -1;
    r->credits_used = -1;
    r->credits_left = -1;
    r->wait_reason[0] = '\0';
    r->more = false;
    r->note[0] = '\0';
    r->window_end = 0;
}

long fetch_result_status(const struct fetch_result *r)
{
    long http = r->http_status;

    switch (r->error) {
    case SRC_OK:
        return 200;
    case SRC_ERR_NETWORK:
        return http >= 500 ? http : 0;
    case SRC_ERR_AUTH:
        return 401;
    case SRC_ERR_PLAN:
        return 403;
    case SRC_ERR_RATE_MINUTE:
    case SRC_ERR_RATE_DAY:
        return 429;
    case SRC_ERR_BAD_SYMBOL:
        return 404;
    case SRC_ERR_BAD_REQUEST:
        return http == 408 ? 408 : 400;
    case SRC_ERR_SERVER:
        return http >= 500 && http <= 599 ? http : 500;
    case SRC_ERR_MALFORMED:
        return http;
    }
    return http;
}

int source_open(struct source **out, const struct source_config *cfg, struct strbuf *err)
{
    const char *name = cfg->name && *cfg->name ? cfg->name : "?";
    /* A section [source.twelvedata] without `kind` means the adapter of that name. */
    const char *kind = cfg->kind && *cfg->kind ? cfg->kind : name;
    const struct source_ops *ops = find_backend(kind);
    struct source *src = NULL;
    int ret;

    *out = NULL;
    if (!ops) {
        strbuf_addf(err, "source '%s': unknown kind '%s' (known: ", name, kind);
        source_kind_names(err);
        strbuf_addch(err, ')');
        return CK_ECONFIG;
    }
    if (ops->open) {
        ret = ops->open(&src, cfg, err);
        if (ret)
            return ret;
    } else {
        src = xcalloc(1, sizeof(*src));
    }
    src->ops = ops;
    src->base_url = source_base_url(cfg, ops->kind);
    src->cfg = cfg;
    src->http = http_client_new();
    *out = src;
    return 0;
}

void source_free(struct source *src)
{
    if (!src)
        return;
    http_client_free(src->http);
    src->http = NULL;
    free(src->base_url);
    src->base_url = NULL;
    if (src->ops->free)
        src->ops->free(src);
    else
        free(src);
}

const struct source_kind *source_kind_of(const struct source *src)
{
    return src->ops->kind;
}

const char *source_name(const struct source *src)
{
    return src->cfg->name && *src->cfg->name ? src->cfg->name : src->ops->kind->name;
}

int source_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *result,
                 struct strbuf *err)
{
    int ret;

    fetch_result_release(result);
    if (!req->symbol || !*req->symbol || (unsigned)req->tf >= TF_COUNT) {
        strbuf_addf(err, "%s: fetch needs a symbol and a timeframe", source_name(src));
        result->error = SRC_ERR_BAD_REQUEST;
        return CK_EINVAL;
    }
    if (!req->has_since && (req->count < 1 || req->count > src->ops->kind->max_rows)) {
        strbuf_addf(err, "%s %s %s: count %d is outside 1..%d", source_name(src), req->symbol,
                    timeframe_name(req->tf), req->count, src->ops->kind->max_rows);
        result->error = SRC_ERR_BAD_REQUEST;
        return CK_EINVAL;
    }
    if (!source_kind_serves(src->ops->kind, req->tf)) {
        strbuf_addf(err, "%s %s %s: %s does not serve timeframe %s", source_name(src), req->symbol,
                    timeframe_name(req->tf), src->ops->kind->title, timeframe_name(req->tf));
        result->error = SRC_ERR_BAD_REQUEST;
        return CK_EINVAL;
    }
    /* The venue's name of the symbol, once for every adapter. */
    struct strbuf venue = STRBUF_INIT, why = STRBUF_INIT;
    struct fetch_request vreq = *req;
    if (source_venue_symbol(src->cfg, src->ops->kind, req->symbol, &venue, &why)) {
        source_msg_prefix(err, source_name(src), req);
        strbuf_addbuf(err, &why);
        strbuf_release(&why);
        strbuf_release(&venue);
        result->error = SRC_ERR_BAD_SYMBOL;
        return CK_EINVAL;
    }
    vreq.venue_symbol = venue.buf;
    ret = src->ops->fetch(src, &vreq, result, err);
    strbuf_release(&venue);
    if (ret < 0) {
        candle_vec_release(&result->candles);
        if (result->error == SRC_OK)
            result->error = SRC_ERR_MALFORMED;
    } else {
        ret = 0;
        result->error = SRC_OK;
    }
    return ret;
}

bool source_settings_has_symbol(const struct source_settings *src, const char *symbol)
{
    for (size_t i = 0; i < src->nsymbols; i++)
        if (!strcmp(src->symbols[i], symbol))
            return true;
    return false;
}

bool source_kind_serves(const struct source_kind *kind, enum timeframe tf)
{
    return (unsigned)tf < TF_COUNT && (kind->timeframes & SOURCE_TF(tf));
}

/* The next "CANONICAL:VENUE" pair of a symbol_map at `*p`; false at the end. */
static bool next_pair(const char **p, const char **pair, size_t *len)
{
    const char *s = *p;

    while (*s == ',' || isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    *pair = s;
    while (*s && *s != ',' && !isspace((unsigned char)*s))
        s++;
    *len = (size_t)(s - *pair);
    *p = s;
    return true;
}

int source_symbol_map_check(const char *map, struct strbuf *err)
{
    const char *p = map ? map : "", *pair;
    size_t len;

    while (next_pair(&p, &pair, &len)) {
        const char *colon = memchr(pair, ':', len);
        if (!colon || colon == pair || colon == pair + len - 1 ||
            memchr(colon + 1, ':', len - (size_t)(colon + 1 - pair))) {
            strbuf_addf(err, "'%.*s' is not CANONICAL:VENUE (e.g. BTC/USD:XBTUSD)", (int)len, pair);
            return CK_EINVAL;
        }
    }
    return 0;
}

/* Kraken's names for assets whose usual code differs. */
static const char *kraken_asset(const char *code, size_t len)
{
    if (len == 3 && !memcmp(code, "BTC", 3))
        return "XBT";
    if (len == 4 && !memcmp(code, "DOGE", 4))
        return "XDG";
    return NULL;
}

static void add_upper(struct strbuf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        strbuf_addch(out, (char)toupper((unsigned char)s[i]));
}

int source_venue_symbol(const struct source_config *cfg, const struct source_kind *kind,
                        const char *canonical, struct strbuf *out, struct strbuf *err)
{
    const char *p = cfg->symbol_map ? cfg->symbol_map : "", *pair, *slash;
    size_t len, clen = strlen(canonical);

    strbuf_reset(out);
    while (next_pair(&p, &pair, &len)) {
        const char *colon = memchr(pair, ':', len);
        if (colon && (size_t)(colon - pair) == clen && !memcmp(pair, canonical, clen)) {
            strbuf_add(out, colon + 1, len - clen - 1);
            return 0;
        }
    }
    if (kind->symbol_style == SYMBOL_AS_IS) {
        strbuf_addstr(out, canonical);
        return 0;
    }
    slash = strchr(canonical, '/');
    if (!slash || slash == canonical || !slash[1] || strchr(slash + 1, '/')) {
        strbuf_addf(err,
                    "symbol '%s' is not BASE/QUOTE (e.g. BTC/USDT), and symbol_map does not "
                    "name it for %s",
                    canonical, kind->title);
        return CK_EINVAL;
    }
    for (int part = 0; part < 2; part++) {
        const char *code = part ? slash + 1 : canonical;
        size_t n = part ? strlen(slash + 1) : (size_t)(slash - canonical);
        const char *alias = kind->symbol_style == SYMBOL_KRAKEN ? kraken_asset(code, n) : NULL;

        if (part && kind->symbol_style == SYMBOL_DASHED)
            strbuf_addch(out, '-');
        if (alias)
            strbuf_addstr(out, alias);
        else
            add_upper(out, code, n);
    }
    return 0;
}

/* Append 12 hex digits of SHA-256(`data`). */
static void add_digest(struct strbuf *out, const struct strbuf *data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(data->buf, data->len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6)
        BUG("SHA-256 is not available from OpenSSL");
    for (unsigned i = 0; i < 6; i++)
        strbuf_addf(out, "%02x", md[i]);
}

void source_budget_key(const struct source_kind *kind, const char *api_key, const char *base_url,
                       struct strbuf *out)
{
    bool keyed = api_key && *api_key;
    bool own_url = base_url && *base_url && (!kind->base_url || strcmp(base_url, kind->base_url));
    struct strbuf data = STRBUF_INIT;

    strbuf_reset(out);
    strbuf_addf(out, "%s:%s", kind->name, keyed ? "key" : "ip");
    if (keyed)
        strbuf_addstr(&data, api_key);
    if (own_url)
        strbuf_addf(&data, "\n%s", base_url);
    if (data.len) {
        strbuf_addch(out, ':');
        add_digest(out, &data);
    }
    strbuf_release(&data);
}

int source_parse_decimal(const char *s, size_t len, bool is_volume, int64_t *out,
                         struct strbuf *why)
{
    const char *dot = memchr(s, '.', len);
    int rc;

    if (is_volume && dot && (size_t)(s + len - dot - 1) > PRICE_DECIMALS) {
        bool digits = true;
        for (const char *q = dot + 1; q < s + len; q++)
            digits = digits && isdigit((unsigned char)*q);
        if (digits)
            len = (size_t)(dot - s) + 1 + PRICE_DECIMALS;
    }
    rc = price_parse(s, len, out);
    if (!rc && (is_volume ? *out < 0 : *out <= 0))
        rc = 1;
    if (!rc)
        return 0;
    strbuf_addstr(why, rc == CK_ELIMIT ? "is out of range"
                       : rc == 1       ? (is_volume ? "is negative" : "is not positive")
                                       : "is not a decimal");
    return CK_EPARSE;
}

char *source_base_url(const struct source_config *cfg, const struct source_kind *kind)
{
    const char *base = cfg->base_url && *cfg->base_url ? cfg->base_url : kind->base_url;
    size_t len = strlen(base);

    while (len > 0 && base[len - 1] == '/')
        len--;
    return xstrndup(base, len);
}

void source_msg_prefix(struct strbuf *err, const char *source_name, const struct fetch_request *req)
{
    strbuf_addf(err, "%s %s %s: ", source_name, req->symbol, timeframe_name(req->tf));
}

int source_fail(struct fetch_result *res, enum source_error e, int code)
{
    candle_vec_release(&res->candles);
    res->note[0] = '\0';
    res->error = e;
    return code;
}

int source_http_get(struct source *src, const char *url, const struct http_header *headers,
                    size_t nheaders, const struct fetch_request *req, struct http_response *resp,
                    struct fetch_result *res, struct strbuf *err)
{
    const struct source_config *cfg = src->cfg;
    const struct http_request hreq = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .nheaders = nheaders,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .timeout_ms = cfg->timeout_ms,
        .max_body = cfg->max_body,
    };
    struct strbuf msg = STRBUF_INIT;
    int ret = http_do(src->http, &hreq, resp, &msg);

    res->http_status = resp->status;
    if (ret) {
        source_msg_prefix(err, source_name(src), req);
        strbuf_addbuf(err, &msg);
        res->error = ret == CK_ELIMIT   ? SRC_ERR_MALFORMED
                     : ret == CK_EINVAL ? SRC_ERR_BAD_REQUEST
                                        : SRC_ERR_NETWORK;
    }
    strbuf_release(&msg);
    return ret;
}
