/* SPDX-License-Identifier: MIT */
/*
 * The Binance spot adapter: GET {base_url}/api/v3/klines, one symbol and
 * one interval per request, no key (the market-data host
 * data-api.binance.vision serves klines to anyone; limits are per IP).
 *
 * Request. Symbols are joined ("BTC/USDT" -> "BTCUSDT"). A first fetch asks
 * for the latest `count` klines (limit=count, no time); an incremental one
 * asks for the oldest 1000 klines from the first period opening after the
 * latest stored candle: startTime = (floor(since) + period) in milliseconds.
 * Binance answers a startTime with the klines whose open time is at or
 * after it, oldest first, so the first row is the one wanted and nothing
 * already stored is asked for again; flooring first keeps that true for a
 * `since` that is not itself an open time.
 *
 * Response. An array of rows, each an array: [0] open time (ms, integer),
 * [1..5] open, high, low, close, base volume (decimal strings), [6] close
 * time (ms, integer, open + interval - 1), then quote volume, trade count
 * and taker volumes, which are not read (a row must hold at least the seven
 * fields read). Prices are parsed from the strings' text as exact decimals.
 * The body is all or nothing, as for every adapter: one row that does not
 * parse (a price that is not a positive decimal, a time that is not aligned
 * to the timeframe or whose close time does not end the period, a repeated
 * open time) rejects the whole body. The last row is the kline still
 * forming (its close time is not yet past): it is dropped here, since the
 * row says so itself.
 *
 * Errors come with an HTTP 4xx/5xx status and a body {"code":-1121,
 * "msg":"Invalid symbol."}; the code decides where there is one:
 * -1121 is an unknown symbol (that series only, not retried), -1003 a rate
 * limit, -1000..-1099 other than those a failure on Binance's side, the
 * remaining -11xx a rejected request. Without a code the status decides:
 * 429 is the request-weight limit (wait for Retry-After, else the next
 * minute), 418 an IP ban for sending past 429s (wait for Retry-After, the
 * ban's end: the feed stores it, so every process and a restart respect
 * it), 403 the venue's firewall, 451 a refused location, 5xx a failure.
 *
 * Weight. Every answer carries X-MBX-USED-WEIGHT-1M, the weight this IP
 * has used in the current minute of Binance's clock (a klines request
 * costs 2 of 6,000). The header is the truth: it becomes the result's
 * credit counts, and when the next request would pass the limit the
 * result asks to wait until the minute ends, which the feed stores as a
 * ban on the budget. Binance's minutes start on the minute, in UTC.
 */
#include "source/source_internal.h"

#include "market/price.h"
#include "net/http.h"
#include "util/error.h"
#include "util/jsonutil.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define BN_MAX_ROWS 1000
/* The documented IP limit (REQUEST_WEIGHT per minute) and what one klines request costs. */
#define BN_WEIGHT_LIMIT  6000
#define BN_KLINES_WEIGHT 2
/*
 * A 418 without Retry-After (Binance always sends one): bans last from 2
 * minutes to 3 days and grow when requests keep coming, so guess long
 * rather than short.
 */
#define BN_BAN_DEFAULT_S 600
/* Fields of a row that are read: open time .. close time. */
#define BN_ROW_FIELDS 7
/* Longest provider text or value quoted in a message. */
#define BN_QUOTE_MAX 200
#define BN_VALUE_MAX 40

static const char *const bn_intervals[TF_COUNT] = {
    [TF_M1] = "1m", [TF_M5] = "5m", [TF_M15] = "15m", [TF_M30] = "30m",
    [TF_H1] = "1h", [TF_H4] = "4h", [TF_D1] = "1d",   [TF_W1] = "1w",
};

/* Seconds from `now` to the start of the next UTC minute (60 on the minute itself). */
static int64_t until_next_minute(int64_t now)
{
    int64_t r = now % 60;
    if (r < 0)
        r += 60;
    return 60 - r;
}

/*
 * Classify a refusal by HTTP status alone (a body without a code, or not
 * JSON): rate limit, ban, firewall, location, provider failure; false
 * for a status these do not cover.
 */
static bool status_error(long status, const struct fetch_request *req, struct fetch_result *res,
                         enum source_error *e, int *code, const char **what)
{
    if (status == 429) {
        *e = SRC_ERR_RATE_MINUTE, *code = CK_ELIMIT, *what = "request weight limit exceeded";
        res->retry_after = until_next_minute(req->now);
        snprintf(res->wait_reason, sizeof(res->wait_reason), "request weight limit exceeded (429)");
    } else if (status == 418) {
        *e = SRC_ERR_RATE_MINUTE, *code = CK_ELIMIT, *what = "IP banned";
        res->retry_after = BN_BAN_DEFAULT_S;
        snprintf(res->wait_reason, sizeof(res->wait_reason), "IP banned (418)");
    } else if (status == 403) {
        *e = SRC_ERR_PLAN, *code = CK_EAUTH, *what = "refused by the venue's firewall";
    } else if (status == 451) {
        *e = SRC_ERR_PLAN, *code = CK_EAUTH, *what = "refused for this location";
    } else if (status >= 500) {
        *e = SRC_ERR_SERVER, *code = CK_EUPSTREAM, *what = "provider failure";
    } else {
        return false;
    }
    return true;
}

/* A body that is not JSON: an HTML error page, a truncated document, nothing. */
static int non_json(const char *body, size_t len, long status, const json_error_t *jerr,
                    const struct fetch_request *req, const char *source_name,
                    struct fetch_result *res, struct strbuf *err)
{
    size_t skip = 0;
    enum source_error e = SRC_ERR_MALFORMED;
    int code = CK_EPARSE;
    const char *what;

    while (skip < len && isspace((unsigned char)body[skip]))
        skip++;
    source_msg_prefix(err, source_name, req);
    if (status_error(status, req, res, &e, &code, &what))
        strbuf_addf(err, "%s (HTTP %ld)", what, status);
    else if (!jerr)
        strbuf_addf(err, "HTTP %ld: body is neither a list of klines nor an error object", status);
    else
        strbuf_addf(err, "HTTP %ld: body is not JSON (%s)", status,
                    len == skip ? "empty body" : jerr->text);
    if (len > skip) {
        strbuf_addstr(err, ": '");
        strbuf_add_excerpt(err, body + skip, len - skip, 80, body[skip] == '<');
        strbuf_addch(err, '\'');
    }
    return source_fail(res, e, code);
}

/* {"code":-1121,"msg":"Invalid symbol."}: classify by code, else by HTTP status. */
static int error_body(json_t *root, long status, const struct fetch_request *req,
                      const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_t *jcode = json_object_get(root, "code");
    json_t *jmsg = json_object_get(root, "msg");
    const char *msg = json_is_string(jmsg) ? json_string_value(jmsg) : "";
    size_t msglen = json_is_string(jmsg) ? json_string_length(jmsg) : 0;
    long code = json_is_integer(jcode) ? (long)json_integer_value(jcode) : 0;
    const char *what = NULL;
    enum source_error e = SRC_ERR_MALFORMED;
    int rc = CK_EPARSE;

    if (code == -1121) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown symbol";
    } else if (code == -1003) {
        /* Too much request weight: a 429, or a 418 when it is a ban already. */
        if (!status_error(status == 418 ? 418 : 429, req, res, &e, &rc, &what))
            BUG("429 is a status error");
    } else if (status_error(status, req, res, &e, &rc, &what)) {
        /* The status says more than a code it does not know (or none). */
    } else if (code <= -1100 && code > -1200) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else if (code <= -1000 && code > -1100) {
        /* General server or network errors (-1000 unknown, -1007 timeout, -1008 busy). */
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    } else if (status >= 400) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: an error object without a known code", status);
        if (msglen) {
            strbuf_addstr(err, ": ");
            strbuf_add_excerpt(err, msg, msglen, BN_QUOTE_MAX, false);
        }
        return source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
    }
    source_msg_prefix(err, source_name, req);
    if (code)
        strbuf_addf(err, "%s (code %ld, HTTP %ld)", what, code, status);
    else
        strbuf_addf(err, "%s (HTTP %ld)", what, status);
    if (msglen) {
        strbuf_addstr(err, ": ");
        strbuf_add_excerpt(err, msg, msglen, BN_QUOTE_MAX, false);
    }
    return source_fail(res, e, rc);
}

/* Start "row <time>: " (or "row #<n>: " before the time is known). */
static void add_row(struct strbuf *err, const char *source_name, const struct fetch_request *req,
                    size_t idx, int64_t open_time, bool known)
{
    source_msg_prefix(err, source_name, req);
    if (known) {
        char t[TIME_BUFSZ];
        time_format_datetime(open_time, t);
        strbuf_addf(err, "row %s: ", t);
    } else {
        strbuf_addf(err, "row #%zu: ", idx + 1);
    }
}

/*
 * Read a millisecond time, field `idx` (named `name`) of `row`, as an
 * integer number of ms. 0, or the reason appended to `why` and CK_EPARSE.
 */
static int parse_ms(json_t *row, size_t idx, const char *name, int64_t *out, struct strbuf *why)
{
    json_t *v = json_array_get(row, idx);

    if (!json_is_integer(v)) {
        strbuf_addf(why, "%s is %s, not an integer", name, json_type_name(v));
        return CK_EPARSE;
    }
    *out = (int64_t)json_integer_value(v);
    if (*out < 0 || *out > INT64_MAX / 2) {
        strbuf_addf(why, "%s %lld is out of range", name, (long long)*out);
        return CK_EPARSE;
    }
    return 0;
}

/*
 * Parse the decimal string in field `idx` (named `name`). Prices must be
 * positive; a volume (`is_volume`) may be zero and may carry more than 8
 * decimals, which are dropped (a volume is a measure, not a price that
 * must round-trip). 0, or the reason appended to `why` and CK_EPARSE.
 */
static int parse_decimal(json_t *row, size_t idx, const char *name, bool is_volume, int64_t *out,
                         struct strbuf *why)
{
    json_t *v = json_array_get(row, idx);
    const char *s;
    size_t len, full;
    int rc;

    if (!json_is_string(v)) {
        strbuf_addf(why, "%s is %s, not a string", name, json_type_name(v));
        return CK_EPARSE;
    }
    s = json_string_value(v);
    len = full = json_string_length(v);
    if (is_volume) {
        const char *dot = memchr(s, '.', len);
        if (dot && (size_t)(s + len - dot - 1) > PRICE_DECIMALS) {
            bool digits = true;
            for (const char *q = dot + 1; q < s + len; q++)
                digits = digits && isdigit((unsigned char)*q);
            if (digits)
                len = (size_t)(dot - s) + 1 + PRICE_DECIMALS;
        }
    }
    rc = price_parse(s, len, out);
    if (!rc && (is_volume ? *out < 0 : *out <= 0))
        rc = 1;
    if (rc) {
        strbuf_addf(why, "%s '", name);
        strbuf_add_excerpt(why, s, full, BN_VALUE_MAX, false);
        strbuf_addf(why, "' %s",
                    rc == CK_ELIMIT ? "is out of range"
                    : rc == 1       ? (is_volume ? "is negative" : "is not positive")
                                    : "is not a decimal");
        return CK_EPARSE;
    }
    return 0;
}

static int cmp_open_time(const void *a, const void *b)
{
    const struct candle *x = a, *y = b;
    return (x->open_time > y->open_time) - (x->open_time < y->open_time);
}

/*
 * One row into `c`. Returns 0, 1 for the forming kline (not an error), or
 * CK_EPARSE with the message in `err`.
 */
static int parse_row(json_t *row, size_t i, const struct fetch_request *req,
                     const char *source_name, struct candle *c, struct strbuf *err)
{
    static const char *const names[] = {"open", "high", "low", "close"};
    const int64_t period = timeframe_seconds(req->tf);
    int64_t *prices[] = {&c->open, &c->high, &c->low, &c->close};
    struct strbuf why = STRBUF_INIT;
    int64_t open_ms, close_ms;
    int ret = CK_EPARSE;

    memset(c, 0, sizeof(*c));
    if (!json_is_array(row) || json_array_size(row) < BN_ROW_FIELDS) {
        add_row(err, source_name, req, i, 0, false);
        if (json_is_array(row))
            strbuf_addf(err, "has %zu fields, not at least %d", json_array_size(row),
                        BN_ROW_FIELDS);
        else
            strbuf_addf(err, "is %s, not an array", json_type_name(row));
        goto out;
    }
    if (parse_ms(row, 0, "open time", &open_ms, &why)) {
        add_row(err, source_name, req, i, 0, false);
        strbuf_addbuf(err, &why);
        goto out;
    }
    if (open_ms % 1000) {
        add_row(err, source_name, req, i, 0, false);
        strbuf_addf(err, "open time %lld is not a whole second", (long long)open_ms);
        goto out;
    }
    c->open_time = open_ms / 1000;
    if (!timeframe_is_aligned(req->tf, c->open_time)) {
        add_row(err, source_name, req, i, c->open_time, true);
        strbuf_addf(err, "open time is not aligned to %s", timeframe_name(req->tf));
        goto out;
    }
    if (parse_ms(row, 6, "close time", &close_ms, &why)) {
        add_row(err, source_name, req, i, c->open_time, true);
        strbuf_addbuf(err, &why);
        goto out;
    }
    if (close_ms != open_ms + period * 1000 - 1) {
        /* The answer is not of the interval asked for. */
        add_row(err, source_name, req, i, c->open_time, true);
        strbuf_addf(err, "close time %lld does not end a %s period", (long long)close_ms,
                    timeframe_name(req->tf));
        goto out;
    }
    for (size_t f = 0; f < ARRAY_SIZE(names); f++) {
        if (parse_decimal(row, 1 + f, names[f], false, prices[f], &why)) {
            add_row(err, source_name, req, i, c->open_time, true);
            strbuf_addbuf(err, &why);
            goto out;
        }
    }
    if (parse_decimal(row, 5, "volume", true, &c->volume, &why)) {
        add_row(err, source_name, req, i, c->open_time, true);
        strbuf_addbuf(err, &why);
        goto out;
    }
    c->has_volume = true;
    /* Still forming: its close time is not past (a row that checks out, all the same). */
    ret = close_ms >= req->now * 1000 ? 1 : 0;
out:
    strbuf_release(&why);
    return ret;
}

static int parse_rows(json_t *rows, const struct fetch_request *req, const char *source_name,
                      struct fetch_result *res, struct strbuf *err)
{
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        struct candle c;
        int rc = parse_row(row, i, req, source_name, &c, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            candle_vec_push(&res->candles, &c);
    }
    if (res->candles.n > 1)
        qsort(res->candles.v, res->candles.n, sizeof(*res->candles.v), cmp_open_time);
    for (i = 1; i < res->candles.n; i++) {
        if (res->candles.v[i].open_time == res->candles.v[i - 1].open_time) {
            add_row(err, source_name, req, i, res->candles.v[i].open_time, true);
            strbuf_addstr(err, "open time appears twice");
            return CK_EPARSE;
        }
    }
    return 0;
}

int binance_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                  const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_error_t jerr;
    json_t *root;
    int ret;

    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !(json_is_object(root) || json_is_array(root))) {
        ret = non_json(body, len, status, root ? NULL : &jerr, req, source_name, res, err);
        json_decref(root);
        return ret;
    }
    if (json_is_object(root)) {
        ret = error_body(root, status, req, source_name, res, err);
    } else if (status != 200) {
        /* Rows with an error status: the status is believed, not the rows. */
        ret = non_json(body, len, status, NULL, req, source_name, res, err);
    } else {
        ret = parse_rows(root, req, source_name, res, err);
        if (ret)
            ret = source_fail(res, SRC_ERR_MALFORMED, ret);
        else
            res->error = SRC_OK;
    }
    json_decref(root);
    return ret;
}

void binance_note_weight(const char *used, int64_t now, struct fetch_result *res)
{
    int64_t n;

    if (!used || parse_int64(used, 0, INT64_MAX / 2, &n))
        return;
    res->credits_used = n;
    res->credits_left = n < BN_WEIGHT_LIMIT ? BN_WEIGHT_LIMIT - n : 0;
    /* A wait the answer already asks for (Retry-After, a ban) stands. */
    if (n + BN_KLINES_WEIGHT <= BN_WEIGHT_LIMIT || res->retry_after >= 0)
        return;
    res->retry_after = until_next_minute(now);
    snprintf(res->wait_reason, sizeof(res->wait_reason), "X-MBX-USED-WEIGHT-1M is %lld of %d",
             (long long)n, BN_WEIGHT_LIMIT);
}

static int bn_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                    struct strbuf *err)
{
    const char *name = source_name(src);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT, used = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header hdrs[] = {{"Accept", "application/json"}};
    int ret;

    strbuf_addf(&url, "%s/api/v3/klines?symbol=", src->base_url);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "&interval=%s", bn_intervals[req->tf]);
    if (req->has_since) {
        int64_t start = timeframe_floor(req->tf, req->since) + timeframe_seconds(req->tf);
        strbuf_addf(&url, "&startTime=%lld&limit=%d", (long long)start * 1000, BN_MAX_ROWS);
    } else {
        strbuf_addf(&url, "&limit=%d", req->count);
    }

    ret = source_http_get(src, url.buf, hdrs, ARRAY_SIZE(hdrs), req, &resp, res, &msg);
    if (ret)
        goto out;
    ret = binance_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    /* An explicit Retry-After (a 429's wait, a 418 ban's end) outranks the computed wait. */
    if (ret && resp.retry_after >= 0 &&
        (res->error == SRC_ERR_RATE_MINUTE || res->error == SRC_ERR_SERVER))
        res->retry_after = resp.retry_after;
    if (!http_response_header(&resp, "X-MBX-USED-WEIGHT-1M", &used))
        binance_note_weight(used.buf, req->now, res);
out:
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&used);
    strbuf_release(&url);
    http_response_release(&resp);
    return ret;
}

static const struct source_kind bn_kind = {
    .name = "binance",
    .title = "Binance",
    .base_url = "https://data-api.binance.vision",
    .url_env = "CANDLEKEEP_BINANCE_URL",
    .needs_key = false,
    /*
     * Every timeframe: W1 too, since Binance's weeks start on Monday 00:00
     * UTC as candlekeep's do (market/timeframe.h).
     */
    .timeframes = SOURCE_TF(TF_M1) | SOURCE_TF(TF_M5) | SOURCE_TF(TF_M15) | SOURCE_TF(TF_M30) |
                  SOURCE_TF(TF_H1) | SOURCE_TF(TF_H4) | SOURCE_TF(TF_D1) | SOURCE_TF(TF_W1),
    .max_rows = BN_MAX_ROWS,
    .symbol_style = SYMBOL_JOINED,
    /* 6,000 request weight a minute per IP; a klines request weighs 2. */
    .rate_window_ms = 60000,
    .rate_per_window = BN_WEIGHT_LIMIT / BN_KLINES_WEIGHT,
    .daily_quota = 0,
    .calendar = "crypto",
    .symbols = "BTC/USDT",
};

const struct source_ops source_binance_ops = {
    .kind = &bn_kind,
    .fetch = bn_fetch,
};
