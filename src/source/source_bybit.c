/* SPDX-License-Identifier: MIT */
/*
 * The Bybit adapter: GET {base_url}/v5/market/kline, spot candles, no key.
 *
 * Request. `category=spot` is always sent (Bybit's default is linear
 * perpetuals, a different market with different prices). The symbol is
 * joined ("BTCUSDT"). A fetch of the latest `count` candles asks for
 * `limit=count`. A fetch after `since` must get the OLDEST rows after it,
 * but Bybit answers a window with its newest rows first and cuts at
 * `limit` from the newest end: so the window is made to hold at most
 * `limit` rows, start = the period after `since` and end = start +
 * (limit - 1) periods, both in milliseconds.
 *
 * Response. {"retCode":0,"retMsg":"OK","result":{"list":[[startTime ms,
 * open, high, low, close, volume, turnover], ...]}}, every value a string,
 * newest first (rows are sorted here). The newest row of a window that
 * reaches now is the forming candle, its close the last trade: it is
 * passed on like the others, and the ingest job's forming-bar rule drops
 * it (so its count shows in `fetch`'s "forming dropped"). Errors arrive in
 * the body with HTTP 200: retCode 10001 is a parameter error ("Not
 * supported symbols" when the symbol does not exist), 170121 "Invalid
 * symbol", 10006 "Too many visits!" the per-second limit (its reset time
 * in X-Bapi-Limit-Reset-Timestamp), 10000/10016 Bybit's own failures.
 * HTTP 403 ("access too frequent") is different: Bybit bans the IP
 * address for at least 10 minutes after a breach of its 600 requests per
 * 5 s, and asking again during the ban may lengthen it, so a 403 is a wait
 * of at least 600 s, which the feed stores as a ban every process obeys.
 *
 * W1 is asked as "W". Bybit's documentation does not say on which day its
 * weeks start; they are read as Monday 00:00 UTC, as candlekeep's W1 is.
 * Should Bybit's weeks start on another day, every row fails the alignment
 * check and the answer is rejected as a whole, never stored.
 *
 * The answer is all or nothing, as for every adapter (source.h).
 */
#include "source/source_internal.h"

#include "net/http.h"
#include "util/error.h"
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

#define BYBIT_MAX_LIMIT 1000
/* Values of a kline row: startTime, open, high, low, close, volume, turnover. */
#define BYBIT_ROW_FIELDS 7
/* The shortest IP ban Bybit documents for HTTP 403, in seconds. */
#define BYBIT_BAN_SECONDS 600
/* Bybit's rate window: a limit reached frees within it. */
#define BYBIT_WINDOW_SECONDS 5
#define BYBIT_QUOTE_MAX      200

static const char *const bybit_intervals[TF_COUNT] = {
    [TF_M1] = "1",  [TF_M5] = "5",   [TF_M15] = "15", [TF_M30] = "30",
    [TF_H1] = "60", [TF_H4] = "240", [TF_D1] = "D",   [TF_W1] = "W",
};

static void add_quote(struct strbuf *err, const char *s, size_t len, bool html)
{
    size_t skip = 0;

    while (skip < len && isspace((unsigned char)s[skip]))
        skip++;
    if (len > skip) {
        strbuf_addstr(err, ": '");
        strbuf_add_excerpt(err, s + skip, len - skip, BYBIT_QUOTE_MAX, html && s[skip] == '<');
        strbuf_addch(err, '\'');
    }
}

/* HTTP 403: Bybit's IP ban, whatever the body says. */
static int ip_ban(const char *body, size_t len, const struct fetch_request *req,
                  const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err,
                "Bybit banned this IP address for too frequent requests (HTTP 403); "
                "nothing is sent for at least %d s",
                BYBIT_BAN_SECONDS);
    add_quote(err, body, len, true);
    res->retry_after = BYBIT_BAN_SECONDS;
    snprintf(res->wait_reason, sizeof(res->wait_reason),
             "Bybit banned the IP address (HTTP 403, access too frequent)");
    return source_fail(res, SRC_ERR_RATE_MINUTE, CK_ELIMIT);
}

/* A body that is not a JSON object: an HTML error page, a truncated document, nothing. */
static int non_json(const char *body, size_t len, long status, const json_error_t *jerr,
                    const struct fetch_request *req, const char *source_name,
                    struct fetch_result *res, struct strbuf *err)
{
    enum source_error e = SRC_ERR_MALFORMED;
    int code = CK_EPARSE;
    size_t skip = 0;

    while (skip < len && isspace((unsigned char)body[skip]))
        skip++;
    source_msg_prefix(err, source_name, req);
    if (status >= 500) {
        e = SRC_ERR_SERVER, code = CK_EUPSTREAM;
        strbuf_addf(err, "provider failure (HTTP %ld)", status);
    } else if (status == 429) {
        e = SRC_ERR_RATE_MINUTE, code = CK_ELIMIT;
        res->retry_after = BYBIT_WINDOW_SECONDS;
        strbuf_addf(err, "rate limited (HTTP %ld)", status);
    } else if (!jerr) {
        strbuf_addf(err, "HTTP %ld: body is not a JSON object", status);
    } else {
        strbuf_addf(err, "HTTP %ld: body is not JSON (%s)", status,
                    len == skip ? "empty body" : jerr->text);
    }
    add_quote(err, body, len, true);
    return source_fail(res, e, code);
}

/* retCode != 0: classify by code, whatever the HTTP status. */
static int error_body(long ret_code, json_t *root, long status, const struct fetch_request *req,
                      const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_t *jmsg = json_object_get(root, "retMsg");
    const char *msg = json_is_string(jmsg) ? json_string_value(jmsg) : "";
    size_t msglen = json_is_string(jmsg) ? json_string_length(jmsg) : 0;
    enum source_error e;
    const char *what;
    int rc;

    if (ret_code == 170121 || (ret_code == 10001 && strcasestr(msg, "symbol"))) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown symbol";
    } else if (ret_code == 10006 || ret_code == 10018 || ret_code == 170222) {
        e = SRC_ERR_RATE_MINUTE, rc = CK_ELIMIT, what = "rate limited";
        res->retry_after = BYBIT_WINDOW_SECONDS;
        snprintf(res->wait_reason, sizeof(res->wait_reason), "Bybit's rate limit (retCode %ld)",
                 ret_code);
    } else if (ret_code == 10001 || ret_code == 170130 || ret_code == 170105) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else if (ret_code == 10003 || ret_code == 10004 || ret_code == 10005 || ret_code == 10010) {
        e = SRC_ERR_AUTH, rc = CK_EAUTH, what = "access refused";
    } else {
        /* 10000, 10016, 170001 and anything undocumented: Bybit's side, worth retrying. */
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    }
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err, "%s (retCode %ld, HTTP %ld)", what, ret_code, status);
    if (msglen) {
        strbuf_addstr(err, ": ");
        strbuf_add_excerpt(err, msg, msglen, BYBIT_QUOTE_MAX, false);
    }
    return source_fail(res, e, rc);
}

int bybit_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    struct strbuf why = STRBUF_INIT;
    json_error_t jerr;
    json_t *root, *jcode, *result, *list, *row;
    size_t i;
    int ret;

    if (status == 403)
        return ip_ban(body ? body : "", len, req, source_name, res, err);
    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        ret = non_json(body ? body : "", len, status, root ? NULL : &jerr, req, source_name, res,
                       err);
        json_decref(root);
        return ret;
    }
    jcode = json_object_get(root, "retCode");
    if (!json_is_integer(jcode)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: response has no numeric \"retCode\"", status);
        add_quote(err, body, len, false);
        ret = status >= 500 ? source_fail(res, SRC_ERR_SERVER, CK_EUPSTREAM)
                            : source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    if (json_integer_value(jcode) != 0) {
        ret = error_body((long)json_integer_value(jcode), root, status, req, source_name, res, err);
        goto out;
    }
    if (status != 200) {
        /* retCode 0 with an error status: not an answer to trust. */
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld with retCode 0", status);
        ret = status >= 500 ? source_fail(res, SRC_ERR_SERVER, CK_EUPSTREAM)
                            : source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    result = json_object_get(root, "result");
    list = json_object_get(result, "list");
    if (!json_is_array(list)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addstr(err, "response has no \"result\".\"list\" array");
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    ret = 0;
    json_array_foreach(list, i, row)
    {
        struct candle c;
        ret = source_row_parse(row, i, BYBIT_ROW_FIELDS, req->tf, &c, &why);
        if (ret)
            break;
        candle_vec_push(&res->candles, &c);
    }
    if (!ret)
        ret = source_rows_sort(&res->candles, &why);
    if (ret) {
        source_msg_prefix(err, source_name, req);
        strbuf_addbuf(err, &why);
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    res->error = SRC_OK;
out:
    strbuf_release(&why);
    json_decref(root);
    return ret;
}

static bool header_int(const struct http_response *resp, const char *name, int64_t *out)
{
    struct strbuf v = STRBUF_INIT;
    bool ok = !http_response_header(resp, name, &v) && !parse_int64(v.buf, 0, INT64_MAX, out);

    strbuf_release(&v);
    return ok;
}

/* Seconds from `now` until Bybit's reset time (Unix ms), at least 1, at most the ban length. */
static int64_t until_reset(int64_t reset_ms, int64_t now)
{
    int64_t wait = (reset_ms - now * 1000 + 999) / 1000;

    if (wait < 1)
        wait = 1;
    return wait > BYBIT_BAN_SECONDS ? BYBIT_BAN_SECONDS : wait;
}

/*
 * Bybit's usage headers (sent with its per-UID limits): X-Bapi-Limit (the
 * limit), X-Bapi-Limit-Status (what is left) and
 * X-Bapi-Limit-Reset-Timestamp (when it is whole again, Unix ms).
 */
static void read_usage(const struct http_response *resp, const struct fetch_request *req,
                       struct fetch_result *res)
{
    int64_t limit = -1, left = -1, reset_ms = -1;
    bool has_reset = header_int(resp, "X-Bapi-Limit-Reset-Timestamp", &reset_ms);

    header_int(resp, "X-Bapi-Limit", &limit);
    if (header_int(resp, "X-Bapi-Limit-Status", &left)) {
        res->credits_left = left;
        if (limit >= left)
            res->credits_used = limit - left;
    }
    if (res->error == SRC_ERR_RATE_MINUTE && res->http_status != 403) {
        /* Bybit's own reset time outranks a Retry-After and the default window. */
        if (has_reset)
            res->retry_after = until_reset(reset_ms, req->now);
        else if (resp->retry_after >= 0)
            res->retry_after = resp->retry_after;
    } else if (res->error == SRC_ERR_RATE_MINUTE) {
        /* A ban is never shorter than Bybit's documented 10 minutes. */
        if (resp->retry_after > res->retry_after)
            res->retry_after = resp->retry_after;
    } else if (res->error == SRC_OK && left == 0 && has_reset) {
        res->retry_after = until_reset(reset_ms, req->now);
        snprintf(res->wait_reason, sizeof(res->wait_reason),
                 "Bybit's X-Bapi-Limit-Status says none of %lld requests is left",
                 (long long)limit);
    }
}

static int bybit_fetch(struct source *src, const struct fetch_request *req,
                       struct fetch_result *res, struct strbuf *err)
{
    const char *name = source_name(src);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header hdrs[] = {{"Accept", "application/json"}};
    int limit = req->count >= 1 && req->count <= BYBIT_MAX_LIMIT ? req->count : BYBIT_MAX_LIMIT;
    int ret;

    strbuf_addf(&url, "%s/v5/market/kline?category=spot&symbol=", src->base_url);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "&interval=%s", bybit_intervals[req->tf]);
    if (req->has_since) {
        int64_t period = timeframe_seconds(req->tf);
        int64_t start = (req->since + period) * 1000;
        int64_t end = start + (int64_t)(limit - 1) * period * 1000;
        strbuf_addf(&url, "&start=%lld&end=%lld", (long long)start, (long long)end);
        res->window_end = end / 1000;
    }
    strbuf_addf(&url, "&limit=%d", limit);

    ret = source_http_get(src, url.buf, hdrs, ARRAY_SIZE(hdrs), req, &resp, res, &msg);
    if (ret)
        goto out;
    ret = bybit_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    read_usage(&resp, req, res);
out:
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&url);
    http_response_release(&resp);
    return ret;
}

static const struct source_kind bybit_kind = {
    .name = "bybit",
    .title = "Bybit",
    .base_url = "https://api.bybit.com",
    .url_env = "CANDLEKEEP_BYBIT_URL",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = BYBIT_MAX_LIMIT,
    .symbol_style = SYMBOL_JOINED,
    /* Bybit's limit per IP address: 600 requests in any 5 seconds. */
    .rate_window_ms = 5000,
    .rate_per_window = 600,
    .calendar = "crypto",
    .symbols = "BTC/USDT",
};

const struct source_ops source_bybit_ops = {
    .kind = &bybit_kind,
    .fetch = bybit_fetch,
};
